"""The privacy report: one self-contained HTML page for one anonymization job.

Self-contained because it is archived with the job, attached to pipeline runs and opened offline:
no network, no CDN — inline CSS, inline SVG charts drawn in Python, and one small inline script
that only checks the charts laid out (``data-rendered="ok"``) and records script errors
(``data-errors``), so a headless browser can verify the page. A Content-Security-Policy pins the
style sheet and the scripts by hash, so even a value that escaped escaping could not run script or
fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from anon_ops import __version__
from anon_ops.config import AttributeType, JobConfig
from anon_ops.report import facts
from anon_ops.report.facts import fmt_count, fmt_share, fmt_value, get, number
from anon_ops.report.svg import Series, column_chart, distribution_chart, hbar_chart

log = logging.getLogger(__name__)

MEDIA_TYPE = "text/html; charset=utf-8"

BEFORE = Series("Before (source)", "s-before")
AFTER = Series("After (target)", "s-after")

_CSS = """
:root{--ink:#1d2733;--muted:#5b6775;--line:#d9dee5;--card:#f6f8fa;--before:#c2410c;--after:#1d6fb8;
--other:#b8c0ca;--supp:#7a8591;--ok:#1a7f37;--warn:#b45309}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);
background:#fff}
header{padding:20px 32px 12px;border-bottom:1px solid var(--line)}
h1{margin:0 0 4px;font-size:24px}
h2{font-size:18px;margin:0 0 10px;padding-top:6px}
h3{font-size:15px;margin:0 0 4px}
nav a{margin-right:14px;color:var(--after);text-decoration:none}
main{padding:8px 32px 24px;max-width:1280px}
section{margin:18px 0 26px}
.sub,.note{color:var(--muted)}
.note{font-size:12.5px;margin:6px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:200px}
.card .k{font-size:12px;color:var(--muted)}
.card .v{font-size:20px;font-weight:600}
.cols{display:flex;flex-wrap:wrap;gap:20px 40px;align-items:flex-start}
.cols>div{flex:0 1 auto;max-width:660px}
.cols>div:first-child{max-width:520px}
table{border-collapse:collapse;margin:4px 0 8px}
th,td{border-bottom:1px solid var(--line);padding:4px 12px 4px 0;text-align:left;vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12.5px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;font-size:11px;padding:0 6px;border-radius:8px;background:#e6ebf1;color:var(--muted)}
.ok{color:var(--ok)}.warn{color:var(--warn)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:14px;align-items:start}
.attr{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
svg.chart{display:block;max-width:100%;height:auto;margin:6px 0}
svg text{font:12px system-ui,"DejaVu Sans",sans-serif;fill:var(--ink)}
svg text.label{text-anchor:end}
svg text.small{font-size:11px}
svg text.tick{fill:var(--muted);font-size:11px;text-anchor:middle}
svg text.tick.end{text-anchor:end}
svg text.tick.sub{font-size:10px}
svg text.value{fill:var(--muted);font-size:11px}
svg text.value.mid{text-anchor:middle}
svg text.na{font-style:italic}
svg text.panel-title{font-weight:600}
svg text.axis-title{fill:var(--muted);text-anchor:middle;font-size:11px}
svg line.grid{stroke:var(--line);stroke-width:1}
svg .s-before{fill:var(--before)}
svg .s-after{fill:var(--after)}
svg .other{fill:var(--other)}
svg .suppressed{fill:var(--supp)}
footer{padding:12px 32px 28px;border-top:1px solid var(--line);color:var(--muted);font-size:12.5px}
"""

# Runs first: collect script errors and blocked resources (CSP) into data-errors.
_HEAD_JS = (
    "window.reportErrors=[];function reportError(m){reportErrors.push(String(m));"
    "if(document.body){document.body.setAttribute('data-errors',reportErrors.join(' | '));}}"
    "addEventListener('error',function(e){reportError(e.message||'resource failed to load');},true);"
    "addEventListener('securitypolicyviolation',function(e){reportError('blocked by CSP: '+e.violatedDirective);});"
)

# Runs last: every chart must have a laid-out box; the verdict goes to data-rendered.
_BODY_JS = (
    "(function(){var b=document.body;try{var c=document.querySelectorAll('svg.chart'),d=0;"
    "for(var i=0;i<c.length;i++){var r=c[i].getBBox();if(r.width>0&&r.height>0){d++;}}"
    "b.setAttribute('data-charts',String(c.length));b.setAttribute('data-charts-drawn',String(d));"
    "if(window.reportErrors.length){b.setAttribute('data-errors',window.reportErrors.join(' | '));}"
    "b.setAttribute('data-rendered',c.length>0&&d===c.length?'ok':'incomplete');"
    "}catch(e){reportError(e);b.setAttribute('data-rendered','error');}})();"
)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


_CSP = (
    f"default-src 'none'; style-src {_sha256(_CSS)}; script-src {_sha256(_HEAD_JS)} {_sha256(_BODY_JS)}; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)

_UTILITY_NAMES = {
    "granularity": "Granularity",
    "generalization_intensity": "Generalization intensity",
    "non_uniform_entropy": "Non-uniform entropy",
    "discernibility": "Discernibility",
    "aecs": "Average class size",
    "ambiguity": "Ambiguity",
}

_TYPE_NAMES = {
    AttributeType.IDENTIFIER: ("Identifiers", "removed from the output; never described in this report"),
    AttributeType.QUASI_IDENTIFIER: ("Quasi-identifiers", "generalized by their hierarchies"),
    AttributeType.SENSITIVE: ("Sensitive", "kept as is; protected by the privacy models"),
    AttributeType.INSENSITIVE: ("Insensitive", "kept as is"),
}


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """A table of already-escaped cells; columns in ``numeric`` align right."""
    numeric = numeric or set()
    th = "".join(f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{_e(title)}</h2>{body}</section>'


# --------------------------------------------------------------------------- sections
def _summary(stats: Mapping[str, Any]) -> str:
    def card(key: str, value: str, cls: str = "") -> str:
        return f'<div class="card"><div class="k">{_e(key)}</div><div class="v {cls}">{value}</div></div>'

    before = get(stats, "risk", "source", "prosecutor", "records_at_risk")
    after = get(stats, "risk", "target", "prosecutor", "records_at_risk")
    after_v = number(after)
    rows_in, supp = number(get(stats, "rows", "input")), number(get(stats, "rows", "suppressed"))
    supp_share = f" ({fmt_share(supp / rows_in)})" if rows_in and supp is not None else ""
    metric = get(stats, "information_loss", "metric")
    cards = [
        card("Records at risk (prosecutor)", f"{_e(fmt_share(before))} → {_e(fmt_share(after))}",
             "" if after_v is None else ("ok" if after_v == 0 else "warn")),
        card("Highest risk", f"{_e(fmt_share(get(stats, 'risk', 'source', 'prosecutor', 'highest_risk')))} → "
                             f"{_e(fmt_share(get(stats, 'risk', 'target', 'prosecutor', 'highest_risk')))}"),
        card("Suppressed records", _e(fmt_count(supp) + supp_share)),
        card(f"Information loss ({metric})" if isinstance(metric, str) else "Information loss",
             _e(fmt_value(get(stats, "information_loss", "value")))),
        card("Equivalence classes", f"{_e(fmt_count(get(stats, 'risk', 'source', 'classes')))} → "
                                    f"{_e(fmt_count(stats.get('equivalence_classes')))}"),
    ]
    return f'<section id="summary" class="cards">{"".join(cards)}</section>'


def _configuration(stats: Mapping[str, Any], config: JobConfig | None) -> str:
    parts: list[str] = []
    if config is not None:
        for kind, attributes in facts.attributes_by_type(config).items():
            if not attributes:
                continue
            name, what = _TYPE_NAMES[kind]
            if kind == AttributeType.QUASI_IDENTIFIER or any(a.hierarchy for a in attributes):
                rows = []
                for a in attributes:
                    h = facts.hierarchy_facts(a.hierarchy, config)
                    weight = ("" if a.weight == 1
                              else f' <span class="badge">weight {_e(facts.fmt_param(a.weight))}</span>')
                    rows.append([_e(a.name) + weight, _e(h.kind), _e(h.summary),
                                 _e(h.height) if h.height is not None else "—"])
                listing = _table(["Attribute", "Hierarchy", "Summary", "Height"], rows, {3})
            else:
                listing = "<p>" + ", ".join(f"<code>{_e(a.name)}</code>" for a in attributes) + "</p>"
            parts.append(f'<div class="attrtype" data-type="{_e(kind.value)}"><h3>{_e(name)} '
                         f'<span class="badge">{len(attributes)}</span></h3><p class="note">{_e(what)}</p>'
                         f"{listing}</div>")
    else:
        qis = list(stats.get("transformation") or {})
        parts.append('<p class="note">The job configuration was not given: only what the statistics state is shown.'
                     "</p>")
        if qis:
            parts.append("<h3>Quasi-identifiers</h3><p>" + ", ".join(f"<code>{_e(q)}</code>" for q in qis) + "</p>")

    models = ([m.model_dump(mode="json", exclude_none=True) for m in config.privacy_models] if config is not None
              else [m for m in stats.get("privacy_models") or [] if isinstance(m, Mapping)])
    suppression = config.max_suppression if config is not None else stats.get("max_suppression")
    settings = [
        ["Privacy models", "<br>".join(_e(facts.model_text(m)) for m in models) or "—"],
        ["Suppression limit", _e(fmt_share(suppression))],
    ]
    if config is not None:
        metric = config.metric
        settings += [
            ["Metric", _e(f"{metric.name} (gs-factor {facts.fmt_param(metric.params.gs_factor)}, "
                          f"{'monotone' if metric.params.monotonic else 'non-monotone'})")],
            ["Risk threshold", _e(fmt_share(config.risk.threshold))],
            ["Population size", _e(fmt_count(config.risk.population_size))],
            ["Search algorithm (configured)", _e(config.search.algorithm)],
            ["Source", _e(facts.store_text(config.source))],
            ["Target", _e(facts.store_text(config.target))],
            ["Suppressed rows", "dropped" if config.additional_properties.drop_suppressed else "masked"],
        ]
    else:
        metric_name = get(stats, "information_loss", "metric")
        settings.append(["Metric", _e(metric_name) if isinstance(metric_name, str) else "—"])
    output = stats.get("output")
    if isinstance(output, Mapping) and "shuffled" in output:
        settings.append(["Row order", "shuffled (seed not shown)" if output.get("shuffled") else "kept"])
    settings_html = "<h3>Privacy settings</h3>" + _table(["Setting", "Value"], settings)
    return _section("configuration", "Configuration",
                    f'<div class="cols"><div>{settings_html}</div><div>{"".join(parts)}</div></div>')


def _transformation(stats: Mapping[str, Any], config: JobConfig | None) -> str:
    transformation = stats.get("transformation")
    if not isinstance(transformation, Mapping) or not transformation:
        return _section("transformation", "Transformation", '<p class="note">Not reported.</p>')
    known = facts.heights(stats, config)
    rows, bars = [], []
    for qi, level in transformation.items():
        height = known.get(str(qi))
        lv = number(level)
        rows.append([_e(qi), _e(fmt_count(level)), _e(height) if height is not None else "—",
                     _e(fmt_share(lv / height)) if height and lv is not None else "—"])
        if height and lv is not None:
            bars.append((str(qi), [lv / height]))
    table = _table(["Quasi-identifier", "Level", "Height", "Generalization"], rows, {1, 2, 3})
    chart = hbar_chart(bars, [AFTER], title="Generalization level per quasi-identifier (level / height)",
                       width=520, label_width=160) if bars else ""
    note = '<p class="note">Level 0 keeps the original values; the height is the top level (all values "*").</p>'
    return _section("transformation", "Transformation", f'<div class="cols"><div>{table}{note}</div>{chart}</div>')


def _records(stats: Mapping[str, Any]) -> str:
    rows_in = number(get(stats, "rows", "input"))
    supp = number(get(stats, "rows", "suppressed"))
    kept = number(get(stats, "risk", "target", "records"))
    classes = number(stats.get("equivalence_classes"))
    limit = number(stats.get("max_suppression"))
    suppressed = _e(fmt_count(supp))
    if rows_in and supp is not None:
        limit_text = f", limit {fmt_share(limit)}" if limit is not None else ""
        suppressed += _e(f" ({fmt_share(supp / rows_in)} of the input{limit_text})")
    rows = [
        ["Input records", _e(fmt_count(rows_in))],
        ["Output records", _e(fmt_count(get(stats, "rows", "output")))],
        ["Suppressed records", suppressed],
        ["Equivalence classes (before)", _e(fmt_count(get(stats, "risk", "source", "classes")))],
        ["Equivalence classes (after)", _e(fmt_count(classes))],
        ["Average class size (after)", _e(f"{kept / classes:,.1f}") if kept and classes else "—"],
    ]
    loss = stats.get("information_loss")
    loss_rows = []
    if isinstance(loss, Mapping):
        loss_rows.append(["Metric", _e(loss.get("metric", "—"))])
        loss_rows.append(["Value", _e(fmt_value(loss.get("value")))])
    search = stats.get("search")
    if isinstance(search, Mapping):
        loss_rows += [
            ["Search", _e(search.get("algorithm", "—"))],
            ["Lattice size", _e(fmt_count(search.get("lattice_size")))],
            ["Transformations checked", _e(fmt_count(search.get("checked")))],
            ["Search time", _e(f"{number(search.get('seconds')):.3f} s") if number(search.get("seconds")) is not None
             else "—"],
        ]
    body = (f'<div class="cols"><div><h3>Rows and classes</h3>{_table(["", ""], rows, {1})}</div>'
            f'<div id="information-loss"><h3>Information loss</h3>'
            f'{_table(["", ""], loss_rows, {1}) if loss_rows else "<p class=note>Not reported.</p>"}</div></div>')
    return _section("records", "Rows, classes and information loss", body)


_RISK_MEASURES = (
    ("Prosecutor: highest risk", ("prosecutor", "highest_risk")),
    ("Prosecutor: records at risk", ("prosecutor", "records_at_risk")),
    ("Prosecutor: success rate", ("prosecutor", "success_rate")),
    ("Journalist: highest risk", ("journalist", "highest_risk")),
    ("Journalist: records at risk", ("journalist", "records_at_risk")),
    ("Journalist: success rate", ("journalist", "success_rate")),
    ("Marketer: success rate", ("marketer", "success_rate")),
    ("Sample uniqueness", ("sample_uniqueness",)),
    ("Population uniqueness", ("population_uniqueness",)),
)


def _risk(stats: Mapping[str, Any], risk_distribution: Mapping[str, Any] | None) -> str:
    source, target = get(stats, "risk", "source"), get(stats, "risk", "target")
    if not isinstance(source, Mapping) and not isinstance(target, Mapping):
        return _section("risk", "Re-identification risk", '<p class="note">Not reported.</p>')
    rows, bars = [], []
    for label, path in _RISK_MEASURES:
        b, a = number(get(source, *path)), number(get(target, *path))
        text = label
        if path == ("population_uniqueness",):
            models = [m for m in (get(source, "population_model"), get(target, "population_model"))
                      if isinstance(m, str) and m != "none"]
            text += f" ({', '.join(dict.fromkeys(models))})" if models else ""
        rows.append([_e(text), _e(fmt_share(b)), _e(fmt_share(a))])
        bars.append((label, [b, a]))
    threshold = number(get(target, "threshold")) or number(get(source, "threshold"))
    table = _table(["Measure", "Before", "After"], rows, {1, 2})
    note = (f'<p class="note">Over the non-suppressed records; a record is at risk when its risk 1/(class size) '
            f"exceeds the threshold {_e(fmt_share(threshold))}.</p>" if threshold is not None else "")
    chart = hbar_chart(bars, [BEFORE, AFTER], title="Risk before vs after anonymization", width=600)
    buckets = facts.risk_buckets(stats, risk_distribution)
    if buckets is None:
        dist = '<p class="note">Records-at-risk distribution: not reported.</p>'
    else:
        how = ("Share of the non-suppressed records per class size (a record's risk is 1/class size)."
               if buckets.exact else
               "Derived from sample uniqueness and records at risk: unique records, other records above the "
               "threshold, and the rest.")
        dist = ('<div id="risk-distribution"><h3>Records by re-identification risk</h3>'
                + column_chart(buckets.labels, [buckets.source, buckets.target], [BEFORE, AFTER],
                               title="Distribution of records by re-identification risk, before vs after",
                               x_title="class size (risk = 1 / class size)" if buckets.exact else "risk bucket")
                + f'<p class="note">{_e(how)}</p></div>')
    body = f'<div class="cols"><div>{table}{note}</div>{chart}</div>{dist}'
    return _section("risk", "Re-identification risk", body)


def _utility(stats: Mapping[str, Any]) -> str:
    utility = stats.get("utility")
    if not isinstance(utility, Mapping) or not utility:
        return _section("utility", "Utility", '<p class="note">Not reported.</p>')
    bars = [(_UTILITY_NAMES.get(str(k), str(k).replace("_", " ").capitalize()), [number(v)])
            for k, v in utility.items() if number(v) is not None]
    if not bars:
        return _section("utility", "Utility", '<p class="note">Not reported.</p>')
    chart = hbar_chart(bars, [AFTER], title="Utility of the published table (1 = as useful as the input)")
    note = '<p class="note">Each figure is in [0, 1]; higher is better (1 − normalized loss, see metrics.md).</p>'
    return _section("utility", "Utility", chart + note)


def _distributions(stats: Mapping[str, Any], config: JobConfig | None) -> str:
    exploratory = stats.get("exploratory")
    if not isinstance(exploratory, Mapping):
        return _section("distributions", "Attribute distributions", '<p class="note">Not reported.</p>')
    source, target = exploratory.get("source") or {}, exploratory.get("target") or {}
    identifiers = ({a.name for a in config.attributes_of(AttributeType.IDENTIFIER)} if config is not None else set())
    types = {a.name: a.type.value for a in config.attributes} if config is not None else {}
    min_count = max(facts.k_of(stats, config), 2)
    char = config.additional_properties.suppression_char if config is not None else "*"
    transformation = stats.get("transformation") if isinstance(stats.get("transformation"), Mapping) else {}
    names = [n for n in dict.fromkeys([*source, *target]) if n not in identifiers]
    if len(names) < len(set(source) | set(target)):
        log.info("report: identifier columns left out of the distributions")
    cards = []
    for name in names:
        panels, details = [], []
        for series, side, dist in ((BEFORE, "source", source.get(name)), (AFTER, "target", target.get(name))):
            p = facts.panel(dist, min_count, char)
            if p is not None:
                panels.append((Series(f"{'Source' if side == 'source' else 'Target'}", series.css), p.total, p.bars))
                if p.distinct is not None:
                    details.append(f"{side}: {p.distinct:,} distinct values")
        summary = facts.numeric_summary(source.get(name))
        if summary:
            details.append(f"source {summary}")
        kind = types.get(name) or ("quasi_identifier" if name in transformation else "")
        level = f", level {fmt_count(transformation[name])}" if name in transformation else ""
        badge = f' <span class="badge">{_e(kind.replace("_", "-") + level)}</span>' if kind else ""
        chart = distribution_chart(name, panels) if panels else '<p class="note">No values reported.</p>'
        cards.append(f'<div class="attr" data-attribute="{_e(name)}"><h3>{_e(name)}{badge}</h3>'
                     f'<p class="note">{_e("; ".join(details))}</p>{chart}</div>')
    note = (f'<p class="note">Shares of all records. Values seen fewer than {min_count} times are counted in '
            '"other values", as are values beyond the '
            f"{facts.TOP_VALUES} most frequent; \"*\" marks suppressed or fully generalized values. "
            "Identifiers are never described.</p>")
    return _section("distributions", "Attribute distributions: source vs target",
                    note + f'<div class="grid">{"".join(cards)}</div>')


# --------------------------------------------------------------------------- the page
def render_report(
    statistics: Mapping[str, Any],
    config: JobConfig | Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
    risk_distribution: Mapping[str, Any] | None = None,
) -> str:
    """One self-contained HTML page describing a job's privacy outcome.

    ``statistics`` is the statistics document (spec/sdk.md); partial documents render with the
    missing parts marked "not reported". ``config`` (model or dict) adds the attributes and
    hierarchies. ``risk_distribution`` — ``{"source": H, "target": H}`` with
    ``H = {"class_size": [1, 2, 3, 4, 5, 10, 20, 50, 100], "records": [...]}`` (records per
    class-size bucket, bucket i = sizes from class_size[i] up to the next start) — gives the exact
    records-at-risk chart; else ``risk.<side>.distribution`` in the statistics is used, else a
    coarse one derived from uniqueness and records at risk.
    """
    if not isinstance(statistics, Mapping):
        raise TypeError("statistics must be the statistics document (a mapping)")
    job_config = facts.load_config(config)
    heading = title or "Privacy report"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{i}">{t}</a>' for i, t in (
        ("configuration", "Configuration"), ("transformation", "Transformation"), ("records", "Rows & loss"),
        ("risk", "Risk"), ("utility", "Utility"), ("distributions", "Distributions")))
    body = "".join([
        _summary(statistics),
        _configuration(statistics, job_config),
        _transformation(statistics, job_config),
        _records(statistics),
        _risk(statistics, risk_distribution),
        _utility(statistics),
        _distributions(statistics, job_config),
    ])
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="anon-ops {_e(__version__)}">'
        f"<title>{_e(heading)}</title><style>{_CSS}</style><script>{_HEAD_JS}</script></head>"
        f'<body data-rendered="pending"><header><h1>{_e(heading)}</h1>'
        f'<p class="sub">Generated {_e(generated)} by anon-ops {_e(__version__)}. '
        "Risk, utility and distributions of the published table against its input.</p>"
        f"<nav>{nav}</nav></header><main>{body}</main>"
        "<footer>This report holds aggregate figures only: no record, no identifier value, no value seen fewer "
        "than k times. Definitions follow ARX (see metrics.md).</footer>"
        f"<script>{_BODY_JS}</script></body></html>\n"
    )
    log.info("privacy report rendered: %d bytes, %d charts", len(page), page.count('<svg class="chart'))
    return page


def write_report(
    path: str | os.PathLike[str],
    statistics: Mapping[str, Any],
    config: JobConfig | Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
    risk_distribution: Mapping[str, Any] | None = None,
) -> Path:
    """Render and write the report atomically (a temporary file renamed over ``path``), so a
    reader — the service, an Airflow task, a browser — never sees a half-written page.
    The file is private to the owner (0600), like the statistics document."""
    target = Path(path)
    page = render_report(statistics, config, title=title, risk_distribution=risk_distribution)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("privacy report written to %s", target)
    return target
