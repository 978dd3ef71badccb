"""The ``anon-ops`` command line.

Exit codes: 0 success, 2 invalid configuration or data (the reason on stderr, naming the field or
value) — also when a job failed on its configuration or data, wherever it ran — 1 any other failure.

The job commands (jobs, status, abort, delete, apply, result) work through the SDK on the embedded
runtime of ANON_OPS_HOME, or on the service of --connection / ANON_OPS_URL; so does ``anonymize``
when a service is given (it uploads the table and writes the result and statistics locally).
``measure`` and ``infer`` decide before a job (in this process, or on the service); ``gate`` judges
a job's statistics afterwards.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anon_ops import __version__
from anon_ops.config import DataStore, FileStore, JobConfig
from anon_ops.errors import AnonOpsError, ConfigError, DataError

if TYPE_CHECKING:
    from anon_ops.sdk import AnonJob, Connection

log = logging.getLogger("anon_ops.cli")


class ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, stream: Any = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.label, self.width, self._last = label, width, -1

    def __call__(self, fraction: float) -> None:
        percent = int(max(0.0, min(1.0, fraction)) * 100)
        if not self.enabled or percent == self._last:
            return
        self._last = percent
        filled = self.width * percent // 100
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}%")
        if percent == 100:
            self.stream.write("\n")
        self.stream.flush()


def _file_store(path: str, sep: str | None = None) -> DataStore:
    props = {"sep": sep} if sep else {}
    return DataStore(type="file", file=FileStore(name=str(Path(path).resolve()), props=props))


def write_json_atomic(path: str | Path, document: Any) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, default=_json_default)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# --------------------------------------------------------------------------- commands
def _job_config(args: argparse.Namespace) -> JobConfig:
    """The configuration of ``anonymize`` with the command line's overrides applied."""
    config = JobConfig.load(args.config)
    if args.input:
        config.source = _file_store(args.input, args.sep)
    if args.output:
        config.target = _file_store(args.output)
    if args.seed is not None:
        config.additional_properties.seed = args.seed
    if config.source is None:
        raise ConfigError("source: give a source in the configuration or --input")
    if config.target is None:
        raise ConfigError("target: give a target in the configuration or --output")
    return config


def _summary(stats: dict[str, Any], where: str | None, seconds: float) -> dict[str, Any]:
    return {
        "output": where,
        "transformation": stats["transformation"],
        "rows": stats["rows"],
        "equivalence_classes": stats["equivalence_classes"],
        "information_loss": stats["information_loss"],
        "prosecutor_highest_risk": stats["risk"]["target"]["prosecutor"]["highest_risk"],
        "seconds": round(seconds, 3),
    }


def _write_report(args: argparse.Namespace, statistics: dict[str, Any], config: JobConfig) -> None:
    if getattr(args, "report", None):
        from anon_ops.report import write_report

        write_report(args.report, statistics, config)


def cmd_anonymize(args: argparse.Namespace) -> int:
    if getattr(args, "connection", None) or getattr(args, "as_job", False):
        return _anonymize_as_job(args)
    from anon_ops.engine.anonymizer import anonymize
    from anon_ops.io import read_table, write_table

    config = _job_config(args)
    assert config.source is not None and config.target is not None
    started = time.perf_counter()
    df = read_table(config.source, config.resolve_path)
    result = anonymize(df, config, progress=ProgressBar("anonymizing"))
    where = write_table(result.data, config.target, config.resolve_path,
                        single_file=config.additional_properties.single_file == "yes")
    if args.stats:
        write_json_atomic(args.stats, result.statistics)
    _write_report(args, result.statistics, config)
    if not args.quiet:
        summary = _summary(result.statistics, where, time.perf_counter() - started)
        print(json.dumps(summary, indent=2, default=_json_default))
    return 0


def _anonymize_as_job(args: argparse.Namespace) -> int:
    """The same work as a job through the SDK — on a service (the table is uploaded, the result
    downloaded and written to the target here) or on the embedded job runtime (--job)."""
    from anon_ops.sdk import AnonElement, anonymize

    config = _job_config(args)
    started = time.perf_counter()
    with _connect(args) as conn:
        job = anonymize(AnonElement(conn, config=config))
        log.info("job %s submitted to %s", job.id(), conn.location)
        _follow(job, ProgressBar("anonymizing"))
        result = job.result()
        stats = job.statistics()
    if args.stats:
        write_json_atomic(args.stats, stats)
    _write_report(args, stats, config)
    if not args.quiet:
        summary = {**_summary(stats, result.target, time.perf_counter() - started), "job": job.id()}
        print(json.dumps(summary, indent=2, default=_json_default))
    return 0


# --------------------------------------------------------------------------- job commands
def _connect(args: argparse.Namespace) -> Connection:
    """The service of --connection / ANON_OPS_URL, or the embedded runtime on ANON_OPS_HOME."""
    from anon_ops.sdk import Connection

    return Connection(args.connection or None, token=args.token or None)


def _follow(job: AnonJob, bar: ProgressBar, timeout: float | None = None, poll_interval: float = 0.5) -> dict[str, Any]:
    """Wait for a job, drawing its progress; the final status document."""
    from anon_ops.jobs.status import JobStatus

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        document = job.status()
        bar(float(document.get("running") or 0.0) / 100)
        if JobStatus(document["status"]).is_terminal:
            return document
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"job {job.id()} still {document['status']} after {timeout} s")
        time.sleep(poll_interval)


def _print(document: Any) -> int:
    print(json.dumps(document, indent=2, default=_json_default))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        return _print({"jobs": conn.jobs(args.limit)})


def cmd_status(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        return _print(conn.job(args.job_id).status())


def cmd_abort(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        return _print(conn.job(args.job_id).abort())


def cmd_delete(args: argparse.Namespace) -> int:
    with _connect(args) as conn:
        conn.job(args.job_id).delete()
    return _print({"id": args.job_id, "deleted": True})


def cmd_apply(args: argparse.Namespace) -> int:
    """Apply a completed job's transformation to the rows of DATA, as a new job."""
    from anon_ops.io import read_table
    from anon_ops.jobs.status import JobStatus
    from anon_ops.sdk import JobFailedError, apply_anonymize

    data = read_table(_file_store(args.data, args.sep))
    with _connect(args) as conn:
        job = apply_anonymize(conn.job(args.job_id), data, target_datastore=args.output)
        if not (args.wait or args.output):
            if not conn.is_remote:
                # The embedded runtime lives in this process: hand the job to its worker process
                # before exiting, so that it runs on without us.
                _until(lambda: job.state() != JobStatus.QUEUED, 10.0)
            return _print(job.status())
        document = _follow(job, ProgressBar("applying"), args.timeout)
        if document["status"] != JobStatus.COMPLETED:
            raise JobFailedError.of(document)
        if args.output:
            document = {**document, "output": job.result().target}
    return _print(document)


def _until(condition: Callable[[], bool], timeout: float, poll_interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_interval)
    return True


def cmd_result(args: argparse.Namespace) -> int:
    """Download a job's result (waiting for it) and write it to --output."""
    from anon_ops.io import write_table
    from anon_ops.jobs.status import JobStatus
    from anon_ops.sdk import JobFailedError

    with _connect(args) as conn:
        job = conn.job(args.job_id)
        document = _follow(job, ProgressBar("waiting"), args.timeout)
        if document["status"] != JobStatus.COMPLETED:
            raise JobFailedError.of(document)
        df = conn.backend.result(job.id())
    if df is None:
        raise AnonOpsError(f"job {args.job_id}: the result was not kept in storage (it went to the job's target)")
    where = write_table(df, _file_store(args.output))
    return _print({"id": args.job_id, "output": where, "rows": len(df)})


# --------------------------------------------------------------------------- deciding before a job
#: Columns of the measure table printed for people (``--json`` and ``--output`` have them all).
MEASURE_COLUMNS = ("valid", "information_loss", "suppressed", "prosecutor_highest_risk",
                   "prosecutor_records_at_risk", "marketer_success_rate", "granularity")


def parse_grid(items: Sequence[str] | None) -> dict[str, list[Any]]:
    """``["k=2,5,10", "metric=loss,entropy"]`` → ``{"k": [2, 5, 10], "metric": ["loss", "entropy"]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items or ():
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ConfigError(f"--grid: expected FIELD=VALUE,VALUE,… (e.g. k=2,5,10), got {item!r}")
        grid.setdefault(name, []).extend(_grid_value(v.strip()) for v in values.split(",") if v.strip())
    return grid


def _grid_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _data_element(args: argparse.Namespace, conn: Connection, config: JobConfig | None) -> Any:
    """An AnonElement over --input / DATA (read here, so a service gets it uploaded) or the source."""
    from anon_ops.io import read_table
    from anon_ops.sdk import AnonElement

    path = getattr(args, "input", None) or getattr(args, "data", None)
    df = read_table(_file_store(path, args.sep)) if path else None
    return AnonElement(conn, df, config=config)


def cmd_measure(args: argparse.Namespace) -> int:
    """Measure candidate configurations (the grid over CONFIG) and print them as a table or JSON."""
    config = JobConfig.load(args.config)
    if not args.input and config.source is None:
        raise ConfigError("source: give a source in the configuration or --input")
    grid = parse_grid(args.grid)
    with _connect(args) as conn:
        table = _data_element(args, conn, config).measure(**grid)
    if args.output:
        _write_measure_table(table, Path(args.output))
    if args.json:
        return _print(_records(table))
    shown = [c for c in (*grid, *MEASURE_COLUMNS) if c in table.columns]
    print(table[shown].to_string(index=False, float_format=lambda x: f"{x:.6g}"))
    return 0


def _records(table: Any) -> list[dict[str, Any]]:
    """The rows as JSON records: numbers exact (as Python writes them), missing values null."""
    from anon_ops.sdk.wire import plain

    return [{str(k): None if isinstance(v, float) and math.isnan(v) else plain(v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


def _write_measure_table(table: Any, path: Path) -> None:
    """CSV (the transformation as JSON text) or, for a .json name, JSON records."""
    if path.suffix.lower() == ".json":
        write_json_atomic(path, _records(table))
        return
    out = table.copy()
    if "transformation" in out.columns:
        out["transformation"] = [json.dumps(t) if isinstance(t, dict) else "" for t in out["transformation"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)


def cmd_infer(args: argparse.Namespace) -> int:
    """Infer a configuration for DATA; write it as YAML (--output, else stdout) and print the report."""
    config = JobConfig.load(args.config) if args.config else JobConfig()
    config.source = _file_store(args.data, args.sep)  # the written configuration runs on DATA as is
    with _connect(args) as conn:
        inferred = _data_element(args, conn, config).infer(targetVariable=args.target, k=args.k,
                                                           max_suppression=args.max_suppression)
    text = inferred.to_config().to_yaml()
    assert inferred.inference is not None
    if args.output:
        _write_text_atomic(Path(args.output), text)
    elif not args.json:
        print(text, end="")
    if args.json:
        return _print({**inferred.inference.to_dict(), "config": inferred.to_config().to_dict()})
    print(inferred.inference.report(), file=sys.stdout if args.output else sys.stderr)
    return 0


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_serve(args: argparse.Namespace) -> int:
    from anon_ops.service.server import serve

    serve(args.host, args.port)
    return 0


def cmd_risk(args: argparse.Namespace) -> int:
    from anon_ops.engine.anonymizer import measure_risk
    from anon_ops.io import read_table

    df = read_table(_file_store(args.data, args.sep))
    qis = [q.strip() for q in args.qi.split(",") if q.strip()]
    stats = measure_risk(df, qis, threshold=args.threshold, population_size=args.population_size)
    print(json.dumps(stats, indent=2, default=_json_default))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    config = JobConfig.load(args.config)
    print(f"valid configuration: {len(config.quasi_identifiers)} quasi-identifier(s), "
          f"{len(config.privacy_models)} privacy model(s), metric {config.metric.name}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from anon_ops.data import ADULT_JOB

    out = Path(args.output_dir).resolve()
    return cmd_anonymize(argparse.Namespace(
        config=str(ADULT_JOB), input=None, sep=None, output=str(out / "adult_anonymized.csv"),
        stats=str(out / "adult_statistics.json"), report=str(out / "adult_report.html"), seed=args.seed,
        quiet=False, connection=args.connection, token=args.token, as_job=True,
    ))


def cmd_sample_warehouse(args: argparse.Namespace) -> int:
    from anon_ops.warehouse import INCREMENTS_TABLE, RAW_TABLE, load_sample, safe_url

    url = load_sample(args.url)
    print(json.dumps({"warehouse": safe_url(url), "tables": [RAW_TABLE, INCREMENTS_TABLE]}, indent=2))
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from anon_ops.quality.cli import add_gate_parser  # here: importing anon_ops.cli stays light

    parser = argparse.ArgumentParser(prog="anon-ops", description="Data anonymization for data pipelines.")
    parser.add_argument("--version", action="version", version=f"anon-ops {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("--connection", metavar="URL", default=os.environ.get("ANON_OPS_URL") or None,
                        help="URL of an anon-ops service (default: ANON_OPS_URL; unset: the embedded runtime)")
    remote.add_argument("--token", default=os.environ.get("ANON_OPS_TOKEN") or None,
                        help="bearer token of the service (default: ANON_OPS_TOKEN)")

    p = sub.add_parser("anonymize", help="run one anonymization job", parents=[remote])
    p.add_argument("config", help="job configuration (YAML or JSON)")
    p.add_argument("--input", help="read the data from this file instead of the configured source")
    p.add_argument("--sep", help="CSV separator of --input (sniffed when omitted)")
    p.add_argument("--output", help="write the anonymized table here instead of the configured target")
    p.add_argument("--stats", help="write the statistics document (JSON) here")
    p.add_argument("--report", help="write the privacy report (self-contained HTML) here")
    p.add_argument("--seed", type=int, help="seed of the row shuffle (random when omitted)")
    p.add_argument("--job", dest="as_job", action="store_true",
                   help="run as a job of the embedded runtime (ANON_OPS_HOME) instead of in this process")
    p.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    p.set_defaults(handler=cmd_anonymize)

    p = sub.add_parser("measure", help="compare candidate configurations before a job (risk, utility)",
                       parents=[remote])
    p.add_argument("config", help="job configuration (YAML or JSON) the candidates vary")
    p.add_argument("--input", help="read the data from this file instead of the configured source")
    p.add_argument("--sep", help="CSV separator of --input (sniffed when omitted)")
    p.add_argument("--grid", action="append", metavar="FIELD=V1,V2",
                   help="candidate values of a field: k, max_suppression, metric, l, t (repeat for a grid)")
    p.add_argument("--output", help="write the full table here (CSV, or JSON for a .json name)")
    p.add_argument("--json", action="store_true", help="print every column as JSON records instead of a table")
    p.set_defaults(handler=cmd_measure)

    p = sub.add_parser("infer", help="infer a job configuration for a table (types, hierarchies, privacy)",
                       parents=[remote])
    p.add_argument("data", metavar="DATA", help="CSV, Parquet or JSON file")
    p.add_argument("--sep", help="CSV separator of DATA (sniffed when omitted)")
    p.add_argument("--target", metavar="COL", help="column whose predictive value the result should keep")
    p.add_argument("--config", metavar="BASE", help="configuration whose settings are kept (YAML or JSON)")
    p.add_argument("--output", metavar="CONFIG", help="write the configuration (YAML) here; else to stdout")
    p.add_argument("--k", type=int, default=5, help="k when the base sets no privacy model (default 5)")
    p.add_argument("--max-suppression", type=float, default=0.05,
                   help="suppression limit when the base sets none (default 0.05)")
    p.add_argument("--json", action="store_true", help="print the whole inference as JSON instead of the report")
    p.set_defaults(handler=cmd_infer)

    add_gate_parser(sub)

    p = sub.add_parser("risk", help="measure the re-identification risk of a table without anonymizing it")
    p.add_argument("data", help="CSV, Parquet or JSON file")
    p.add_argument("--qi", required=True, help="comma-separated quasi-identifier columns")
    p.add_argument("--sep", help="CSV separator (sniffed when omitted)")
    p.add_argument("--threshold", type=float, default=0.2, help="risk threshold for records at risk")
    p.add_argument("--population-size", type=int, default=317_238_626)
    p.set_defaults(handler=cmd_risk)

    p = sub.add_parser("validate", help="check a job configuration")
    p.add_argument("config")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("demo", help="anonymize the shipped Adult sample as a job (k=5, 5 %% suppression)",
                       parents=[remote])
    p.add_argument("--output-dir", default="out", help="folder for the anonymized table, statistics and report")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("jobs", help="list the newest jobs (JSON)", parents=[remote])
    p.add_argument("--limit", type=int, default=20, help="how many jobs, newest first")
    p.set_defaults(handler=cmd_jobs)

    for name, handler, what in (("status", cmd_status, "print the status document of a job"),
                                ("abort", cmd_abort, "abort a queued or running job"),
                                ("delete", cmd_delete, "delete a job and everything it stored")):
        p = sub.add_parser(name, help=what, parents=[remote])
        p.add_argument("job_id", metavar="ID")
        p.set_defaults(handler=handler)

    p = sub.add_parser("apply", help="apply a completed job's transformation to new rows", parents=[remote])
    p.add_argument("job_id", metavar="ID", help="the completed anonymization job")
    p.add_argument("data", metavar="DATA", help="CSV, Parquet or JSON file of new rows")
    p.add_argument("--sep", help="CSV separator of DATA (sniffed when omitted)")
    p.add_argument("--output", help="write the result here (waits for the job)")
    p.add_argument("--wait", action="store_true", help="wait for the job and print its final status")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait at most")
    p.set_defaults(handler=cmd_apply)

    p = sub.add_parser("result", help="download a job's result (waits for the job)", parents=[remote])
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--output", required=True, help="file to write (format from the suffix)")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait at most")
    p.set_defaults(handler=cmd_result)

    p = sub.add_parser("sample-warehouse", help="load the shipped Adult sample into a warehouse (raw.adult)")
    p.add_argument("url", nargs="?", default=None,
                   help="SQLAlchemy URL (default: ANON_OPS_WAREHOUSE, else a DuckDB file in ANON_OPS_HOME)")
    p.set_defaults(handler=cmd_sample_warehouse)

    p = sub.add_parser("serve", help="run the REST service")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost only)")
    p.add_argument("--port", type=int, default=8090)
    p.set_defaults(handler=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, DataError) as exc:
        print(f"anon-ops: error: {exc}", file=sys.stderr)
        return 2
    except (AnonOpsError, TimeoutError) as exc:  # TimeoutError: --timeout of a job that goes on
        print(f"anon-ops: failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
