"""Run the warehouse-refresh DAG end to end on this machine: no server, no network, no set-up.

``python -m anon_ops.airflow.demo`` points Airflow at a temporary ``AIRFLOW_HOME`` (unless one is
set; removed at exit), creates or migrates its metadata database (SQLite), loads the Adult sample into a DuckDB
warehouse when ``raw.adult`` is missing, and runs ``anon_ops_warehouse_refresh`` in this process
with ``dag.test()`` on the embedded anon-ops runtime (``ANON_OPS_URL``, ``ANON_OPS_WAREHOUSE`` and an
``anon_ops_default`` connection in the environment are ignored: the demo needs no server). It
prints what was published: the table, its smallest class of non-suppressed rows (k) and the
statistics recorded in ``published.anonymization_runs``. Exit code 0 when the run succeeded.

Environment variables must be set before Airflow is imported, so this module imports Airflow only
inside :func:`main` / :func:`run`.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

DAG_ID = "anon_ops_warehouse_refresh"
DEFAULT_DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


def _prepare_environment(home: Path | None, dags_folder: Path, verbose: bool) -> None:
    """Settings Airflow and anon-ops read at import: a private Airflow home unless one is given."""
    if not os.environ.get("AIRFLOW_HOME"):  # a throw-away metadata database, removed at exit
        airflow_home = tempfile.mkdtemp(prefix="anon_ops_airflow_")
        os.environ["AIRFLOW_HOME"] = airflow_home
        atexit.register(shutil.rmtree, airflow_home, ignore_errors=True)
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(dags_folder))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if not verbose:
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    if home is not None:
        os.environ["ANON_OPS_HOME"] = str(home.resolve())
    elif not os.environ.get("ANON_OPS_HOME"):
        os.environ["ANON_OPS_HOME"] = tempfile.mkdtemp(prefix="anon_ops_home_")
    # the demo is self-contained: the embedded runtime and its own warehouse, whatever the shell says
    for name in ("ANON_OPS_URL", "AIRFLOW_CONN_ANON_OPS_DEFAULT", "ANON_OPS_WAREHOUSE"):
        os.environ.pop(name, None)


def _load_dag(dags_folder: Path) -> Any:
    import importlib.util

    path = dags_folder / f"{DAG_ID}.py"
    if not path.is_file():
        raise SystemExit(f"{path} not found: run from the repository or pass --dags-folder")
    spec = importlib.util.spec_from_file_location(DAG_ID, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def smallest_class(df: Any, quasi_identifiers: list[str], suppression_char: str = "*") -> int | None:
    """k of the non-suppressed rows (rows whose QIs are all ``*`` are suppressed)."""
    text = df[quasi_identifiers].astype(str)
    kept = text[~(text == suppression_char).all(axis=1)]
    return int(kept.value_counts().min()) if len(kept) else None


def run(warehouse_url: str | None = None, policy: dict[str, Any] | None = None,
        dags_folder: Path = DEFAULT_DAGS_FOLDER, migrate: bool = True) -> dict[str, Any]:
    """Migrate the metadata DB, load the sample if needed, run the DAG once; a summary dict."""
    from anon_ops import warehouse
    from anon_ops.airflow.warehouse_tasks import _count_rows
    from anon_ops.config import JobConfig
    from anon_ops.data import ADULT_JOB

    if migrate:
        from airflow.utils import db

        db.initdb()
    url = warehouse.warehouse_url(warehouse_url)
    if not _count_rows(url, warehouse.RAW_TABLE)[0]:
        warehouse.load_sample(url)
    dag = _load_dag(dags_folder)
    dag_run = dag.test(run_conf={"warehouse_url": warehouse_url or "", "policy": policy or {}})
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}
    summary: dict[str, Any] = {
        "dag_id": DAG_ID,
        "run_id": dag_run.run_id,
        "state": str(getattr(dag_run.state, "value", dag_run.state)),
        "tasks": states,
        "warehouse": warehouse.safe_url(url),
        "anon_ops_home": os.environ.get("ANON_OPS_HOME"),
        "airflow_home": os.environ.get("AIRFLOW_HOME"),
        "run": dag_run,
    }
    if summary["state"] == "success":
        published = warehouse.read(url, warehouse.PUBLISHED_TABLE)
        quasi_identifiers = JobConfig.load(ADULT_JOB).quasi_identifiers
        runs = warehouse.read(url, warehouse.RUNS_TABLE)
        last = runs.iloc[-1]
        summary["published"] = {
            "table": warehouse.PUBLISHED_TABLE,
            "rows": len(published),
            "suppressed_rows": int((published[quasi_identifiers].astype(str) == "*").all(axis=1).sum()),
            "smallest_class": smallest_class(published, quasi_identifiers),
        }
        summary["recorded"] = {
            "table": warehouse.RUNS_TABLE,
            "runs": len(runs),
            "last": {key: _plain(last[key]) for key in ("job_id", "verdict", "attempt", "prosecutor_highest_risk",
                                                        "information_loss", "granularity", "rows_suppressed")},
        }
    return summary


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anon_ops.airflow.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="ANON_OPS_HOME (default: $ANON_OPS_HOME, else a new temporary "
                                                  "folder); the warehouse is a DuckDB file in it")
    parser.add_argument("--warehouse", help="SQLAlchemy URL of the warehouse (default: <home>/warehouse.duckdb)")
    parser.add_argument("--policy", type=json.loads, default=None,
                        help='quality-gate policy as JSON, e.g. \'{"prosecutor_highest_risk_max": 0.1}\'')
    parser.add_argument("--dags-folder", type=Path, default=DEFAULT_DAGS_FOLDER)
    parser.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
    args = parser.parse_args(argv)
    _prepare_environment(args.home, args.dags_folder, args.verbose)
    if not args.verbose:
        import logging

        import airflow.sdk  # noqa: F401  - configures logging; then quiet dag.test's once-a-second wait notes

        logging.getLogger("airflow.sdk.definitions.dag").setLevel(logging.ERROR)
    summary = run(args.warehouse, args.policy, args.dags_folder)
    summary.pop("run")
    print(json.dumps(summary, indent=2, default=str))
    if summary["state"] != "success":
        print(f"the DAG run {summary['run_id']} ended {summary['state']}", file=sys.stderr)
        return 1
    published = summary["published"]
    print(f"\n{DAG_ID}: published {published['rows']} rows to {published['table']} "
          f"(smallest class of non-suppressed rows: {published['smallest_class']}); "
          f"statistics recorded in {summary['recorded']['table']} ({summary['recorded']['runs']} run(s)) "
          f"in {summary['warehouse']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
