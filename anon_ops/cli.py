"""The ``anon-ops`` command line.

Exit codes: 0 success, 2 invalid configuration or data (the reason on stderr, naming the field or
value), 1 any other failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from anon_ops import __version__
from anon_ops.config import DataStore, FileStore, JobConfig
from anon_ops.errors import AnonOpsError, ConfigError, DataError

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
def cmd_anonymize(args: argparse.Namespace) -> int:
    from anon_ops.engine.anonymizer import anonymize
    from anon_ops.io import read_table, write_table

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
    started = time.perf_counter()
    df = read_table(config.source, config.resolve_path)
    result = anonymize(df, config, progress=ProgressBar("anonymizing"))
    where = write_table(result.data, config.target, config.resolve_path,
                        single_file=config.additional_properties.single_file == "yes")
    if args.stats:
        write_json_atomic(args.stats, result.statistics)
    stats = result.statistics
    summary = {
        "output": where,
        "transformation": stats["transformation"],
        "rows": stats["rows"],
        "equivalence_classes": stats["equivalence_classes"],
        "information_loss": stats["information_loss"],
        "prosecutor_highest_risk": stats["risk"]["target"]["prosecutor"]["highest_risk"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    if not args.quiet:
        print(json.dumps(summary, indent=2, default=_json_default))
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

    out = Path(args.output_dir)
    return cmd_anonymize(argparse.Namespace(
        config=str(ADULT_JOB), input=None, sep=None, output=str(out / "adult_anonymized.csv"),
        stats=str(out / "adult_statistics.json"), seed=args.seed, quiet=False,
    ))


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anon-ops", description="Data anonymization for data pipelines.")
    parser.add_argument("--version", action="version", version=f"anon-ops {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("anonymize", help="run one anonymization job")
    p.add_argument("config", help="job configuration (YAML or JSON)")
    p.add_argument("--input", help="read the data from this file instead of the configured source")
    p.add_argument("--sep", help="CSV separator of --input (sniffed when omitted)")
    p.add_argument("--output", help="write the anonymized table here instead of the configured target")
    p.add_argument("--stats", help="write the statistics document (JSON) here")
    p.add_argument("--seed", type=int, help="seed of the row shuffle (random when omitted)")
    p.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    p.set_defaults(handler=cmd_anonymize)

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

    p = sub.add_parser("demo", help="anonymize the shipped Adult sample (k=5, 5 %% suppression)")
    p.add_argument("--output-dir", default="out", help="folder for the anonymized table and statistics")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(handler=cmd_demo)
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
    except AnonOpsError as exc:
        print(f"anon-ops: failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
