"""What the hook, operators, sensor and trigger share: the clock, idempotency keys, event checks,
the small metrics dict that goes to XCom, and self-contained configurations.

Kept free of pandas and of the SDK at import time: DAG files import the operators, and the
scheduler parses DAG files often.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    import pandas as pd

    from anon_ops.config import JobConfig

#: XCom keys every job operator pushes before it waits.
XCOM_JOB_ID = "job_id"
XCOM_JOB_URL = "job_url"
#: Key of the job id in Airflow 3.3's task_state_store (kept across tries of one task instance).
STATE_JOB_ID = "anon_ops_job_id"

EVENT_STATUSES = frozenset({"completed", "failed", "aborted", "timeout", "error"})
"""Every status a trigger event may carry; anything else is a failure, never a success."""


class AnonJobFailedError(AirflowException):
    """The job ended failed or aborted, or the trigger reported an error."""


class AnonJobTimeoutError(AirflowException):
    """The job was still running at the task's own deadline (it has been aborted)."""


# --------------------------------------------------------------------------- the clock
def now() -> float:
    """Wall-clock seconds; deadlines cross processes (worker → triggerer), so not monotonic.
    Tests replace this function to move time."""
    return time.time()


def sleep(seconds: float) -> None:
    """Blocking wait of the synchronous poll loop (replaced in tests together with ``now``)."""
    time.sleep(seconds)


# --------------------------------------------------------------------------- idempotency
def idempotency_key(context: Mapping[str, Any], generation: int = 1) -> str:
    """The submit key of one logical task run: dag_id, task_id, run_id and map_index — not the try
    number, so a retry replays the submission and gets the job the first try started.

    ``generation`` > 1 names a fresh job for the same task run, used only after the previous one
    ended failed or aborted (re-running a dead job is the point of a retry).
    """
    ti = context["ti"]
    parts = [ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1)]
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:40]
    return f"airflow-{digest}" if generation == 1 else f"airflow-{digest}-{generation}"


# --------------------------------------------------------------------------- trigger events
def validate_event(event: Any, expected_job_id: str | None) -> str:
    """The job id of a trigger event that reports a completed job; raise for anything else.

    An event that is not a dict, names another job, or carries a status outside
    :data:`EVENT_STATUSES` is a failure: a malformed event must never pass as a success.
    """
    if not isinstance(event, Mapping):
        raise AnonJobFailedError(f"malformed trigger event {event!r}: expected a dict")
    job_id = event.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        raise AnonJobFailedError(f"trigger event without a job id: {dict(event)!r}")
    if expected_job_id is not None and job_id != expected_job_id:
        raise AnonJobFailedError(f"trigger event for job {job_id}, but this task waits for job {expected_job_id}")
    status = event.get("status")
    message = event.get("message") or ""
    if status == "completed":
        return job_id
    if status in ("failed", "aborted"):
        raise AnonJobFailedError(f"anon-ops job {job_id} ended {status}" + (f": {message}" if message else ""))
    if status == "timeout":
        raise AnonJobTimeoutError(f"anon-ops job {job_id}: {message or 'timed out'}")
    if status == "error":
        raise AnonJobFailedError(f"anon-ops job {job_id}: the trigger failed: {message}")
    raise AnonJobFailedError(f"anon-ops job {job_id}: unknown status {status!r} in the trigger event "
                             "(treated as a failure)")


# --------------------------------------------------------------------------- XCom payloads
def small_metrics(statistics: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers worth showing in XCom and the UI — never rows or distributions."""
    target = (statistics.get("risk") or {}).get("target") or {}
    rows = statistics.get("rows") or {}
    return {
        "rows_input": rows.get("input"),
        "rows_output": rows.get("output"),
        "rows_suppressed": rows.get("suppressed"),
        "equivalence_classes": statistics.get("equivalence_classes"),
        "information_loss": (statistics.get("information_loss") or {}).get("value"),
        "prosecutor_highest_risk": (target.get("prosecutor") or {}).get("highest_risk"),
        "records_at_risk": (target.get("prosecutor") or {}).get("records_at_risk"),
        "marketer_success_rate": (target.get("marketer") or {}).get("success_rate"),
        "granularity": (statistics.get("utility") or {}).get("granularity"),
        "transformation": dict(statistics.get("transformation") or {}),
    }


def self_contained(config: JobConfig) -> dict[str, Any]:
    """The configuration as a dict whose file names are absolute.

    A dict in XCom loses the folder a YAML file was loaded from, so relative hierarchy files would
    no longer resolve in the next task; this makes the document mean the same thing anywhere on
    the worker.
    """
    document = config.to_dict()
    for i, attribute in enumerate(config.attributes):
        if attribute.hierarchy is not None and attribute.hierarchy.type == "file":
            document["attributes"][i]["hierarchy"]["name"] = _absolute(config, attribute.hierarchy.name)
    for key in ("source", "target"):
        store = getattr(config, key)
        if store is not None and store.type == "file" and store.file is not None:
            document[key]["file"]["name"] = _absolute(config, store.file.name)
    for i, model in enumerate(config.privacy_models):
        subset = getattr(model.params, "subset", None)
        if subset is not None and subset.type == "file" and subset.file is not None:
            document["privacy_models"][i]["params"]["subset"]["file"]["name"] = _absolute(config, subset.file.name)
    return document


def _absolute(config: JobConfig, name: str) -> str:
    resolved = config.resolve_path(name)
    return resolved if "://" in resolved else str(Path(resolved).expanduser().resolve())


def load_config(value: Any) -> JobConfig:
    """A JobConfig from what an operator was given (path, YAML/JSON text, dict or JobConfig)."""
    from anon_ops.config import JobConfig

    if isinstance(value, Mapping) and not isinstance(value, dict):
        value = dict(value)
    return JobConfig.load(value)


# --------------------------------------------------------------------------- input data
DataCallable = Callable[[Mapping[str, Any]], "pd.DataFrame"]


def check_data_args(source: Any, data_callable: DataCallable | None, *, required: bool) -> None:
    """At most one of ``source`` / ``data_callable`` (exactly one when ``required``); checked at DAG
    parse time, so a wrong DAG fails when it is loaded, not at 3 a.m."""
    if source is not None and data_callable is not None:
        raise ValueError("give either source or data_callable, not both")
    if required and source is None and data_callable is None:
        raise ValueError("give source (a data store) or data_callable (context -> DataFrame)")
    if data_callable is not None and not callable(data_callable):
        raise ValueError("data_callable must be callable: context -> pandas DataFrame")


def read_input(source: Any, data_callable: DataCallable | None, context: Mapping[str, Any]) -> pd.DataFrame:
    """The table to process, read here in the worker (XCom never carries it)."""
    import pandas as pd

    if data_callable is not None:
        df = data_callable(context)
        where = "data_callable"
    else:
        from anon_ops.io import read_table
        from anon_ops.sdk.element import as_datastore

        df = read_table(as_datastore(source, "source"))
        where = "source"
    if not isinstance(df, pd.DataFrame):
        raise AirflowFailException(f"{where}: expected a pandas DataFrame, got {type(df).__name__}")
    return df
