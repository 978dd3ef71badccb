"""``anon-ops gate STATS [--policy POLICY.yaml]``: the quality gate on the command line.

``gate_command`` does the work and returns the verdict document; ``add_gate_parser`` registers the
sub-command on the CLI's sub-parsers (``anon_ops.cli`` wires it). The verdict is printed as JSON on
stdout; the exit code is 0 whatever the verdict (the verdict is the output), or with
``--exit-code`` 0 publish / 3 resubmit / 4 fail, for pipelines that branch on it. Invalid input
(a missing file, a bad policy) raises ConfigError / DataError, which the CLI maps to exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from anon_ops.errors import DataError

VERDICT_EXIT_CODES = {"publish": 0, "resubmit": 3, "fail": 4}


def _read_statistics(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise DataError(f"STATS: statistics file not found: {path}")
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"STATS: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DataError("STATS: expected a statistics document (a JSON object)")
    return document


def _read_table(path: str, where: str) -> Any:
    from anon_ops.config import DataStore, FileStore
    from anon_ops.io import read_table

    if "://" not in path and not Path(path).exists():
        raise DataError(f"{where}: file not found: {path}")
    name = path if "://" in path else str(Path(path).resolve())
    return read_table(DataStore(type="file", file=FileStore(name=name)), where=where)


def gate_command(
    stats_path: str,
    policy_path: str | None = None,
    config_path: str | None = None,
    table_path: str | None = None,
    *,
    history_paths: list[str] | None = None,
    attempt: int = 0,
) -> dict[str, Any]:
    """Gate the release whose statistics document is at ``stats_path``; return the verdict document.

    ``config_path``: the job configuration that produced it (else one is derived from the
    statistics); ``table_path``: the anonymized table (CSV/Parquet/JSON) for the table checks;
    ``history_paths``: tables published before, for the union check of incremental releases;
    ``attempt``: the previous verdict's ``next_attempt``.
    """
    from anon_ops.quality.gate import evaluate_gate
    from anon_ops.quality.policy import load_policy

    statistics = _read_statistics(stats_path)
    policy = load_policy(policy_path)
    table = _read_table(table_path, "--table") if table_path else None
    history = [_read_table(p, f"--history.{i}") for i, p in enumerate(history_paths)] if history_paths else None
    verdict = evaluate_gate(statistics, policy, config=config_path, table=table, attempt=attempt,
                            published_history=history)
    return verdict.to_dict()


def add_gate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gate`` on the CLI's sub-parsers (``parser.add_subparsers(...)``)."""
    p = subparsers.add_parser("gate", help="quality gate: publish / resubmit / fail for a statistics document")
    p.add_argument("stats", metavar="STATS", help="statistics document (JSON) of the release")
    p.add_argument("--policy", help="gate policy (YAML or JSON; default thresholds and ladder when omitted)")
    p.add_argument("--config", help="job configuration that produced the release (the ladder adjusts it)")
    p.add_argument("--table", help="the anonymized table, for the identifier and k-anonymity checks")
    p.add_argument("--history", action="append", metavar="TABLE",
                   help="a table published before (repeat): checks the union of all releases")
    p.add_argument("--attempt", type=int, default=0, help="ladder position reached (the last verdict's next_attempt)")
    p.add_argument("--exit-code", action="store_true", help="exit 0 publish / 3 resubmit / 4 fail")
    p.set_defaults(handler=cmd_gate)
    return p


def cmd_gate(args: argparse.Namespace) -> int:
    document = gate_command(args.stats, args.policy, args.config, args.table, history_paths=args.history,
                            attempt=args.attempt)
    print(json.dumps(document, indent=2, default=_json_default))
    return VERDICT_EXIT_CODES[document["verdict"]] if args.exit_code else 0


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    return str(value)
