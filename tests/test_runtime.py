"""The job runtime on its own: persistence, idempotency, limits, abort, delete, crash recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from anon_ops.jobs import JobRuntime, JobStatus
from anon_ops.jobs.errors import (
    IdempotencyConflictError,
    JobNotFoundError,
    JobStateError,
    QueueFullError,
    RateLimitedError,
)
from anon_ops.settings import Settings
from tests.conftest import adult_config

QIS = ["sex", "age", "race", "education"]


@pytest.fixture
def runtime(tmp_path):
    rt = JobRuntime(Settings.from_env(home=tmp_path / "home", workers=2))
    yield rt
    rt.close(abort_running=True)


def small_config(k: int = 5, **extra) -> dict:
    return adult_config(qis=QIS, k=k, **extra)


def slow_data(adult: pd.DataFrame, copies: int = 12) -> pd.DataFrame:
    """Enough rows and QIs (with suppression) that the job runs for a few seconds."""
    return pd.concat([adult] * copies, ignore_index=True)


def test_submit_runs_and_stores_result_and_statistics(runtime, adult):
    submission = runtime.submit(small_config(), adult.head(2000))
    assert submission.created
    job = runtime.wait(submission.job.id, timeout=120)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.progress == 1.0
    assert job.summary["rows"]["input"] == 2000
    df = runtime.result(job.id)
    assert len(df) == 2000
    assert runtime.statistics(job.id)["transformation"].keys() == set(QIS)
    # the uploaded table (personal data) does not outlive its job
    assert not runtime.files(job.id).input.exists()
    assert runtime.list()[0].id == job.id


def test_identical_submit_returns_the_same_job_unless_forced(runtime, adult):
    first = runtime.submit(small_config(), adult.head(500))
    second = runtime.submit(small_config(), adult.head(500))
    assert second.job.id == first.job.id and not second.created
    forced = runtime.submit(small_config(), adult.head(500), force=True)
    assert forced.created and forced.job.id != first.job.id
    other_data = runtime.submit(small_config(), adult.head(501))
    assert other_data.job.id != first.job.id


def test_idempotency_key(runtime, adult):
    first = runtime.submit(small_config(), adult.head(300), idempotency_key="run-1", request_hash="a")
    replay = runtime.submit(small_config(), adult.head(300), idempotency_key="run-1", request_hash="a", force=True)
    assert replay.job.id == first.job.id and not replay.created
    with pytest.raises(IdempotencyConflictError):
        runtime.submit(small_config(k=3), adult.head(300), idempotency_key="run-1", request_hash="b")


def test_abort_kills_the_worker_and_leaves_no_output(runtime, adult, tmp_path):
    target = tmp_path / "out" / "big.csv"
    config = adult_config(k=5, suppression=0.1, target={"type": "file", "file": {"name": str(target)}})
    job = runtime.submit(config, slow_data(adult)).job
    deadline = time.monotonic() + 60
    while runtime.get(job.id).worker_pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = runtime.get(job.id).worker_pid
    assert pid is not None
    aborted = runtime.abort(job.id)
    assert aborted.status == JobStatus.ABORTED
    time.sleep(0.3)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not target.exists()
    assert not any(p.name.startswith(".") for p in target.parent.glob("*")) if target.parent.exists() else True
    assert not runtime.files(job.id).input.exists()
    with pytest.raises(JobStateError):
        runtime.result(job.id)


def test_abort_queued_job_and_delete(runtime, adult):
    runtime.settings.workers = 1
    busy = runtime.submit(adult_config(k=5, suppression=0.1), slow_data(adult, 6)).job
    queued = runtime.submit(small_config(), adult.head(100)).job
    assert runtime.abort(queued.id).status == JobStatus.ABORTED
    runtime.delete(busy.id)
    with pytest.raises(JobNotFoundError):
        runtime.get(busy.id)
    assert not runtime.files(busy.id).folder.exists()


def test_queue_and_rate_limits(tmp_path, adult):
    rt = JobRuntime(Settings.from_env(home=tmp_path / "h", max_queue=2, rate_limit_per_minute=100),
                    run_scheduler=False)
    rt.submit(small_config(), adult.head(10))
    rt.submit(small_config(), adult.head(11))
    with pytest.raises(QueueFullError):
        rt.submit(small_config(), adult.head(12))
    rt2 = JobRuntime(Settings.from_env(home=tmp_path / "h2", max_queue=50, rate_limit_per_minute=2),
                     run_scheduler=False)
    rt2.submit(small_config(), adult.head(10))
    rt2.submit(small_config(), adult.head(11))
    with pytest.raises(RateLimitedError) as info:
        rt2.submit(small_config(), adult.head(12))
    assert 1 <= info.value.retry_after <= 60


def test_apply_runs_the_parent_transformation(runtime, adult):
    parent = runtime.wait(runtime.submit(small_config(), adult.head(3000)).job.id, timeout=120)
    applied = runtime.apply(parent.id, adult.iloc[3000:6000])
    child = runtime.wait(applied.job.id, timeout=120)
    assert child.status == JobStatus.COMPLETED, child.error
    assert child.kind == "apply" and child.parent_id == parent.id
    assert runtime.statistics(child.id)["transformation"] == runtime.statistics(parent.id)["transformation"]
    with pytest.raises(JobStateError):
        runtime.apply(child.id, adult.head(10))


def test_a_dead_worker_is_recovered_after_restart(tmp_path, adult):
    settings = Settings.from_env(home=tmp_path / "home", workers=1, max_attempts=2)
    first = JobRuntime(settings, run_scheduler=False)
    job = first.submit(small_config(), adult.head(1000)).job
    claimed = first.store.claim_next()
    assert claimed is not None and claimed.id == job.id
    # a worker that died: its pid no longer exists
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    first.store.update(job.id, worker_pid=dead.pid)
    second = JobRuntime(settings)  # the restart: recovery re-queues, the scheduler re-runs it
    try:
        done = second.wait(job.id, timeout=120)
        assert done.status == JobStatus.COMPLETED, done.error
        assert done.attempts == 2
    finally:
        second.close()


def test_no_retry_left_fails_with_the_reason(tmp_path, adult):
    settings = Settings.from_env(home=tmp_path / "home", max_attempts=1)
    rt = JobRuntime(settings, run_scheduler=False)
    job = rt.submit(small_config(), adult.head(100)).job
    rt.store.claim_next()
    rt.store.update(job.id, worker_pid=None, heartbeat=0.0)
    rt.recover()
    failed = rt.get(job.id)
    assert failed.status == JobStatus.FAILED
    assert "interrupted" in failed.error
    assert not rt.files(job.id).input.exists()


def test_failed_job_reports_the_error(runtime, adult):
    broken = adult.head(200).copy()
    broken.loc[5, "education"] = "Unknown-school"
    job = runtime.wait(runtime.submit(small_config(), broken).job.id, timeout=120)
    assert job.status == JobStatus.FAILED
    assert "education" in job.error


def test_worker_sigterm_cleans_up(runtime, adult):
    config = adult_config(k=5, suppression=0.1, metric="entropy")
    job = runtime.submit(config, slow_data(adult, 20)).job
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        current = runtime.get(job.id)
        if current.worker_pid is not None and current.progress > 0.05:  # inside the search
            break
        time.sleep(0.02)
    assert current.status == JobStatus.RUNNING
    os.killpg(current.worker_pid, signal.SIGTERM)
    done = runtime.wait(job.id, timeout=60)
    assert done.status == JobStatus.FAILED
    assert "exited" in done.error
    leftovers = [p for p in Path(runtime.files(job.id).folder).glob("*") if p.name != "input.table"]
    assert leftovers == []
