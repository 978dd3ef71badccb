"""The privacy report: content, privacy (no identifier or rare values, no data from the
configuration), escaping, atomic writing, and a real headless-Chromium load with a screenshot."""

from __future__ import annotations

import copy
import html as html_module
import os
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from anon_ops.config import JobConfig
from anon_ops.engine.anonymizer import anonymize
from anon_ops.report import MEDIA_TYPE, SIZE_BUCKETS, render_report, write_report
from tests import browser
from tests.conftest import adult_config

ARTIFACTS = Path(os.environ.get("ANON_OPS_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "test-artifacts")
PLANTED_ID = "PLANTED-ID-"
PLANTED_MAIL = "@planted-mail.example"
UNIQUE_TEXT = "UNIQ-TEXT-"
COMMON_TEXT = "COMMON-NOTE"


@pytest.fixture(scope="module")
def job(adult: pd.DataFrame) -> tuple[dict[str, Any], JobConfig]:
    """A real job on Adult with planted identifiers and a per-record free-text column."""
    df = adult.copy()
    n = len(df)
    df["customer_ref"] = [f"{PLANTED_ID}{i:06d}-ZQX" for i in range(n)]
    df["email"] = [f"person{i}{PLANTED_MAIL}" for i in range(n)]
    df["free_text"] = [COMMON_TEXT if i % 2 else f"{UNIQUE_TEXT}{i}" for i in range(n)]
    raw = adult_config(suppression=0.05)
    raw["attributes"] += [
        {"name": "customer_ref", "type": "identifier"},
        {"name": "email", "type": "identifier"},
        {"name": "free_text", "type": "insensitive"},
    ]
    result = anonymize(df, raw)
    return result.statistics, result.config


@pytest.fixture(scope="module")
def page(job: tuple[dict[str, Any], JobConfig]) -> str:
    statistics, config = job
    return render_report(statistics, config, title="Adult job")


# --------------------------------------------------------------------------- content
def test_sections_and_figures(page: str, job: tuple[dict[str, Any], JobConfig]) -> None:
    statistics, _ = job
    for section in ("summary", "configuration", "transformation", "records", "information-loss", "risk",
                    "risk-distribution", "utility", "distributions"):
        assert f'id="{section}"' in page, section
    assert page.startswith("<!DOCTYPE html>") and "<title>Adult job</title>" in page
    rows = statistics["rows"]
    assert f"{rows['input']:,}" in page and f"{rows['suppressed']:,}" in page
    assert f"{statistics['equivalence_classes']:,}" in page
    assert f"{statistics['risk']['source']['classes']:,}" in page  # 19,502 classes before
    assert "77.81%" in page  # prosecutor records at risk of raw Adult (metrics.md reference 0.778131)
    assert "51.43%" in page  # sample uniqueness before (0.514290)
    assert f"{statistics['information_loss']['value']:.6f}".rstrip("0") in page
    assert "k-anonymity (k = 5)" in page and "Suppression limit" in page and "5.00%" in page
    assert "loss (gs-factor 0.5, non-monotone)" in page
    # every QI with its level; Adult's ARX files give the heights (age: 5 columns → height 4)
    age_row = re.search(r"<tr><td>age</td><td class=\"n\">(\d+)</td><td class=\"n\">(\d+)</td>", page)
    assert age_row and int(age_row.group(1)) == statistics["transformation"]["age"] and age_row.group(2) == "4"
    for name in ("granularity", "generalization_intensity", "non_uniform_entropy", "discernibility", "aecs"):
        assert f"{100 * statistics['utility'][name]:.2f}%" in page, name
    assert "Population uniqueness (pitman)" in page
    assert page.count('<svg class="chart') == 4 + len(statistics["transformation"]) + 1  # + free_text


def test_no_identifier_or_rare_values(page: str) -> None:
    """Identifiers are listed by name only; values seen fewer than k times never appear."""
    assert PLANTED_ID not in page and PLANTED_MAIL not in page and "ZQX" not in page
    assert UNIQUE_TEXT not in page  # the engine lists target values unfolded; the report folds them
    assert COMMON_TEXT in page  # a frequent value of a non-QI column is shown
    assert 'data-type="identifier"' in page and "<code>customer_ref</code>" in page
    assert 'data-attribute="customer_ref"' not in page and 'data-attribute="email"' not in page


def test_identifier_in_statistics_is_still_left_out(job: tuple[dict[str, Any], JobConfig]) -> None:
    """Even a statistics document that (wrongly) describes an identifier does not leak it."""
    statistics, config = copy.deepcopy(job[0]), job[1]
    leaked = {"count": 10, "distinct": 1, "values": {f"{PLANTED_ID}LEAK": 10}, "other": 0}
    statistics["exploratory"]["source"]["customer_ref"] = leaked
    statistics["exploratory"]["target"]["customer_ref"] = leaked
    assert PLANTED_ID not in render_report(statistics, config)


def test_configuration_values_that_may_be_data_are_not_printed() -> None:
    config = {
        "source": {"type": "inline", "inline": {"records": [{"zip": "PLANTED-ROW-1", "disease": "x"}]}},
        "target": {"type": "sql", "sql": {"url": "postgresql://u:PLANTED-SECRET@db/x", "table": "out"}},
        "attributes": [
            {"name": "zip", "type": "quasi_identifier",
             "hierarchy": {"type": "tree", "params": {"mapping": {"PLANTED-LEAF-1": ["PLANTED-UP", "*"]}}}},
            {"name": "city", "type": "quasi_identifier",
             "hierarchy": {"type": "file", "name": "/home/PLANTED-USER/cities.csv"}},
            {"name": "disease", "type": "sensitive"},
        ],
        "privacy_models": [
            {"model_type": "k-anonymity", "params": {"k": 3}},
            {"model_type": "delta-presence", "params": {"delta_min": 0.1, "delta_max": 0.5, "subset": {
                "type": "inline", "inline": {"records": [{"zip": "PLANTED-SUBSET-ROW"}]}}}},
        ],
        "additional_properties": {"seed": 987654321},
    }
    statistics = {"transformation": {"zip": 1, "city": 0}, "output": {"shuffled": True, "seed": 987654321}}
    html = render_report(statistics, config)
    assert "PLANTED" not in html and "987654321" not in html
    assert "inline mapping of 1 values, 2 level(s)" in html and "ARX CSV file cities.csv" in html
    assert "δ-presence (0.1 ≤ δ ≤ 0.5; research subset: inline)" in html
    assert "SQL table or query" in html and "inline records" in html


def test_everything_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    config = {
        "attributes": [{"name": evil, "type": "quasi_identifier"}, {"name": "a&b", "type": "insensitive"}],
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 2}}],
    }
    statistics = {
        "transformation": {evil: 1},
        "utility": {"<img src=x onerror=alert(1)>": 0.5},
        "information_loss": {"metric": "<b>loss</b>", "value": 0.1},
        "exploratory": {"source": {"a&b": {"count": 4, "distinct": 1, "values": {"<i>v</i>": 4}, "other": 0}},
                        "target": {evil: {"count": 4, "distinct": 1, "values": {'"><svg onload=alert(2)>': 4},
                                          "other": 0}}},
    }
    html = render_report(statistics, config, title="<h1>t</h1> & more")
    assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
    assert "<b>loss</b>" not in html and "<i>v</i>" not in html and "<h1>t</h1>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;h1&gt;t&lt;/h1&gt; &amp; more" in html and "a&amp;b" in html
    assert html.count("<script>") == 2  # only the report's own two scripts


def test_self_contained(page: str) -> None:
    html = page
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"')]*", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace only: nothing is fetched
    assert "<link" not in html and "@import" not in html and "url(" not in html and " src=" not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    policy = html_module.unescape(csp.group(1)) if csp else ""
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "unsafe-inline" not in policy
    assert MEDIA_TYPE == "text/html; charset=utf-8"


def test_partial_statistics_render() -> None:
    html = render_report({})
    assert html.count("Not reported") >= 4 and 'id="risk"' in html
    with pytest.raises(TypeError):
        render_report([])  # type: ignore[arg-type]


def test_records_at_risk_distribution(job: tuple[dict[str, Any], JobConfig]) -> None:
    statistics, config = job
    # the engine reports a class-size histogram per side: the chart is exact
    assert statistics["risk"]["source"]["distribution"]["class_size"] == list(SIZE_BUCKETS)
    assert "Derived from" not in render_report(statistics, config)
    # without it, the chart is derived from the uniqueness and records-at-risk figures
    statistics = copy.deepcopy(statistics)
    for side in ("source", "target"):
        del statistics["risk"][side]["distribution"]
    derived = render_report(statistics, config)
    assert "Derived from sample uniqueness" in derived and "not at risk" in derived
    source = statistics["risk"]["source"]
    unique, at_risk = source["sample_uniqueness"], source["prosecutor"]["records_at_risk"]
    assert f"{100 * unique:.2f}% of the records" in derived  # bar tooltip of the "unique" bucket
    assert f"{100 * (at_risk - unique):.2f}% of the records" in derived

    sizes = list(SIZE_BUCKETS)
    hist = {"source": {"class_size": sizes, "records": [5, 4, 3, 0, 0, 0, 0, 0, 88]},
            "target": {"class_size": sizes, "records": [0, 0, 0, 0, 10, 0, 0, 0, 90]}}
    exact = render_report(statistics, config, risk_distribution=hist)
    assert "class size (risk = 1 / class size)" in exact and "5–9" in exact and "≥100" in exact
    assert "88.00% of the records" in exact and "Derived from" not in exact
    in_stats = copy.deepcopy(statistics)
    for side in ("source", "target"):
        in_stats["risk"][side]["distribution"] = hist[side]
    assert "5–9" in render_report(in_stats, config)
    broken = render_report(statistics, config, risk_distribution={"source": {"class_size": [3, 1], "records": [1]}})
    assert "Derived from sample uniqueness" in broken


def test_config_forms(job: tuple[dict[str, Any], JobConfig]) -> None:
    statistics, config = job
    assert render_report(statistics, config.to_dict()).count("ARX CSV file") == len(statistics["transformation"])
    bare = render_report(statistics)
    assert "The job configuration was not given" in bare and "k-anonymity (k = 5)" in bare
    assert UNIQUE_TEXT not in bare  # k from the statistics' privacy models still folds rare values


def test_write_report_is_atomic(tmp_path: Path, job: tuple[dict[str, Any], JobConfig],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    statistics, config = job
    target = tmp_path / "reports" / "job.html"
    assert write_report(target, statistics, config, title="first") == target
    assert "<title>first</title>" in target.read_text(encoding="utf-8")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(target, statistics, config, title="second")
    assert "<title>first</title>" in target.read_text(encoding="utf-8")  # the old report is intact
    assert [p.name for p in target.parent.iterdir()] == ["job.html"]  # no temporary file left


# --------------------------------------------------------------------------- real browser
@pytest.fixture(scope="module")
def browser_binary() -> Path:
    try:
        return browser.chromium()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def test_report_renders_in_headless_chromium(browser_binary: Path, page: str,
                                             job: tuple[dict[str, Any], JobConfig]) -> None:
    """The page loads without script errors or blocked resources and every chart lays out; the
    screenshot is kept as an artifact for people to look at."""
    started = time.perf_counter()
    report = write_report(ARTIFACTS / "privacy_report.html", job[0], job[1], title="Adult job")
    run = browser.load_page(report, screenshot=ARTIFACTS / "privacy_report.png")
    (ARTIFACTS / "privacy_report.dom.html").write_text(run.dom, encoding="utf-8")

    body = run.body_attributes()
    assert body.get("data-rendered") == "ok", body
    assert "data-errors" not in body, body["data-errors"]
    assert run.console == [], run.console
    charts = page.count('<svg class="chart')
    assert body["data-charts"] == body["data-charts-drawn"] == str(charts)
    assert run.count_tags("svg", "chart") == charts
    assert run.count_tags("rect", "bar") > 100
    assert run.screenshot is not None
    png = browser.png_facts(run.screenshot)
    assert (png.width, png.height) == (1280, 2400)
    assert png.distinct_bytes > 100, "the screenshot looks blank"
    assert time.perf_counter() - started < 30


def test_headless_check_catches_foreign_script_and_resources(browser_binary: Path, page: str,
                                                             tmp_path: Path) -> None:
    """Control: what the browser test checks does fail on a broken page (CSP blocks both)."""
    tampered = page.replace("</main>", '<img src="http://127.0.0.1:9/x.png"><script>undefinedFn()</script></main>')
    path = tmp_path / "tampered.html"
    path.write_text(tampered, encoding="utf-8")
    run = browser.load_page(path)
    errors = run.body_attributes().get("data-errors", "")
    assert "blocked by CSP: script-src" in errors and "blocked by CSP: img-src" in errors
    assert run.console
