"""Airflow for the tests of the anon-ops provider: a private AIRFLOW_HOME, one metadata database per
test session, DAG runs with ``dag.test()``, a stand-in task instance for operator unit tests, and
an independent k-anonymity check (pycanon).

Import this module before anything that imports Airflow: Airflow reads ``AIRFLOW_HOME`` once, at
import. Importing Airflow also installs a root logging handler at INFO; this module removes what
Airflow adds, so the other test modules of the session log as before.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = REPO_ROOT / "dags"


@contextlib.contextmanager
def airflow_logging_contained() -> Iterator[None]:
    """Undo what Airflow does to the root logger (handlers it adds, the level it sets)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


if "airflow" not in sys.modules:
    _home = tempfile.mkdtemp(prefix="anon_ops_airflow_home_")
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = _home
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "120")

with airflow_logging_contained():
    import airflow.sdk  # noqa: F401  - configure Airflow now, with the settings above

_db_lock = threading.Lock()
_db_ready = False


def airflow_db() -> None:
    """Create the metadata database once per process (``resetdb``: a fresh SQLite, ~8 s)."""
    global _db_ready
    with _db_lock:
        if _db_ready:
            return
        from airflow.utils import db

        with airflow_logging_contained():
            db.resetdb()
        _db_ready = True


def load_dag(dag_id: str) -> Any:
    """The DAG object of ``dags/<dag_id>.py`` (imported from the file, as the DagBag does)."""
    path = DAGS_FOLDER / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"dags_{dag_id}", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


@dataclass
class DagResult:
    """A finished DAG run: its state and the state of every task instance."""

    state: str
    states: dict[str, str]
    run: Any

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = session.scalars(XComModel.get_many(run_id=self.run.run_id, dag_ids=self.run.dag_id,
                                                     task_ids=task_id, key=key)).first()
            return None if row is None else XComModel.deserialize_value(row)


def run_dag(dag_id: str, conf: dict[str, Any] | None = None, **kwargs: Any) -> DagResult:
    """Run one DAG in this process with ``dag.test()`` (triggers run inline)."""
    airflow_db()
    dag = load_dag(dag_id)
    with airflow_logging_contained():
        run = dag.test(run_conf=conf, **kwargs)
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    return DagResult(str(getattr(run.state, "value", run.state)), states, run)


# --------------------------------------------------------------------------- unit-test context
@dataclass
class FakeTaskInstance:
    """The parts of a running task instance the operators use: identity and XCom."""

    dag_id: str = "test_dag"
    task_id: str = "task"
    run_id: str = "manual__2026-01-02T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[(self.task_id, key)] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get((task_ids or self.task_id, key))

    def get_first_reschedule_date(self, context: Any) -> None:
        return None


class FakeTaskStateStore:
    """Airflow 3.3's task_state_store: values kept across tries of one task instance."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def task_context(operator: Any, ti: FakeTaskInstance | None = None, **extra: Any) -> dict[str, Any]:
    """A minimal context for ``operator.execute`` outside a DAG run."""
    ti = ti or FakeTaskInstance()
    ti.task_id = operator.task_id
    return {"ti": ti, "task_instance": ti, "run_id": ti.run_id, "ds": "2026-01-02", "params": {}, **extra}


# --------------------------------------------------------------------------- checks
def k_of(df: Any, quasi_identifiers: list[str], suppression_char: str = "*") -> int:
    """k of the non-suppressed rows, computed by pycanon (independent of anon-ops)."""
    from pycanon import anonymity

    text = df[quasi_identifiers].astype(str)
    kept = df[~(text == suppression_char).all(axis=1)].astype(str).reset_index(drop=True)
    return int(anonymity.k_anonymity(kept, quasi_identifiers))


def paused_runtime(home: Path) -> Any:
    """Register, as the shared embedded runtime of ``home``, one without a scheduler: its jobs stay
    queued until ``runtime.start()``, so a test decides when a job is "still running"."""
    from anon_ops.jobs.runtime import JobRuntime
    from anon_ops.sdk import embedded
    from anon_ops.settings import Settings

    settings = Settings.from_env(home=str(home))
    runtime = JobRuntime(settings, run_scheduler=False)
    with embedded._runtimes_lock:
        embedded._runtimes[(str(settings.home.expanduser().resolve()), settings.store_url)] = runtime
    return runtime


def close_runtimes_under(folder: Path) -> None:
    """Stop the embedded runtimes (scheduler threads) whose home is inside ``folder``."""
    from anon_ops.sdk import embedded

    prefix = str(folder.resolve())
    with embedded._runtimes_lock:
        keys = [key for key in embedded._runtimes if key[0].startswith(prefix)]
        runtimes = [embedded._runtimes.pop(key) for key in keys]
    for runtime in runtimes:
        runtime.close(abort_running=True)
