"""Crash safety of the service: SIGKILL it (and its workers) mid-job, restart it on the same home.

Every submitted job must reach a terminal state after the restart — completed, or failed with a
reason — none may disappear, and a job that did not complete must leave no file at its target.
The service runs one worker (ANON_OPS_WORKERS=1), so at the crash one job runs and the rest wait.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from anon_ops.data import ADULT_CSV, ADULT_DIR, ADULT_QIS
from anon_ops.io import read_csv_text
from anon_ops.jobs.store import JobRecord, JobStore
from tests.live_service import LiveService

API = "/api/v1"
TERMINAL = ("completed", "failed", "aborted")


def config(k: int, target: str, suppression: float = 0.05) -> dict[str, Any]:
    return {
        "attributes": [
            {"name": q, "type": "quasi_identifier", "hierarchy": {"type": "file", "name": f"adult_hierarchy_{q}.csv"}}
            for q in ADULT_QIS
        ],
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": k}}],
        "max_suppression": suppression,
        "target": {"type": "file", "file": {"name": target}},
    }


@pytest.fixture(scope="module")
def tables() -> dict[str, bytes]:
    """The Adult sample as CSV, and repeated 10x as Parquet (a job of a few seconds)."""
    frame = read_csv_text(ADULT_CSV, sep=";")
    buffer = io.BytesIO()
    pd.concat([frame] * 10, ignore_index=True).to_parquet(buffer, index=False)
    return {"csv": ADULT_CSV.read_bytes(), "parquet": buffer.getvalue()}


def start_service(home: Path) -> LiveService:
    root = home / "data"
    root.mkdir(parents=True)
    for q in ADULT_QIS:
        shutil.copy(ADULT_DIR / f"adult_hierarchy_{q}.csv", root)
    env = {"ANON_OPS_DATA_ROOTS": str(root), "ANON_OPS_WORKERS": "1"}
    return LiveService(home, env=env).start()


def submit_jobs(service: LiveService, tables: dict[str, bytes]) -> dict[str, str]:
    """One slow job (it will be running at the crash) and three queued behind it; id → target."""
    jobs = {}
    specs = [(50, "out/slow.parquet", tables["parquet"], "big.parquet", 0.1)]
    specs += [(k, f"out/adult_k{k}.parquet", tables["csv"], "adult.csv", 0.05) for k in (3, 4, 6)]
    for k, target, data, filename, suppression in specs:
        body = {"config": json.dumps(config(k, target, suppression))}
        response = requests.post(f"{service.url}{API}/jobs", data=body, files={"data": (filename, data)}, timeout=60)
        assert response.status_code == 202, response.text
        jobs[response.json()["id"]] = target
    return jobs


def store_of(home: Path) -> JobStore:
    return JobStore(f"sqlite:///{home / 'jobs.db'}")


def wait_running_with_worker(store: JobStore, job_id: str, attempt: int, timeout: float = 30) -> JobRecord:
    """The job once it runs its ``attempt``-th time in a worker process whose pid is recorded."""
    deadline = time.monotonic() + timeout
    while True:
        job = store.get(job_id)
        assert job is not None, f"job {job_id} disappeared"
        if job.status.value == "running" and job.attempts == attempt and job.worker_pid is not None:
            return job
        assert job.status.value not in TERMINAL, f"job {job_id} ended ({job.status.value}) before the crash"
        assert time.monotonic() < deadline, f"job {job_id} not running (attempt {attempt}) after {timeout} s"
        time.sleep(0.05)


def wait_all_terminal(service: LiveService, job_ids: list[str], timeout: float = 120) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    documents: dict[str, dict] = {}
    while True:
        for job_id in job_ids:
            response = requests.get(f"{service.url}{API}/jobs/{job_id}", timeout=10)
            assert response.status_code == 200, f"job {job_id} disappeared: {response.text}"
            documents[job_id] = response.json()
        if all(doc["status"] in TERMINAL for doc in documents.values()):
            return documents
        assert time.monotonic() < deadline, {i: d["status"] for i, d in documents.items()}
        time.sleep(0.2)


def kill_worker(pid: int, job_id: str) -> None:
    """SIGKILL the job's worker and its process group (it runs in its own session) — after checking
    that the pid still is that worker, not a reused pid."""
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        arguments = cmdline.read().split(b"\0")
    assert b"anon_ops.jobs.worker" in arguments and job_id.encode() in arguments, arguments
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return not stat.read().split(") ", 1)[1].startswith("Z")
    return True


def _errors(documents: dict[str, dict]) -> dict[str, tuple[str, int, str | None]]:
    return {job_id: (doc["status"], doc["attempts"], doc["error"]) for job_id, doc in documents.items()}


def assert_outputs(root: Path, jobs: dict[str, str], documents: dict[str, dict]) -> None:
    """A completed job's target exists; any other job has no file at its target; nothing else is left."""
    expected = set()
    for job_id, target in jobs.items():
        path = root / target
        if documents[job_id]["status"] == "completed":
            assert path.is_file(), f"{target} missing for completed job {job_id}"
            expected.add(path)
        else:
            assert not path.exists(), f"partial output {target} of {documents[job_id]['status']} job"
    assert set((root / "out").iterdir()) == expected  # no temporary or partial files either


def test_service_crash_loses_no_job(tmp_path: Path, tables: dict[str, bytes]) -> None:
    """SIGKILL of the service process only: its worker goes on, queued jobs run after the restart."""
    home = tmp_path / "home"
    service = start_service(home)
    try:
        jobs = submit_jobs(service, tables)
        slow_id = next(iter(jobs))
        running = wait_running_with_worker(store_of(home), slow_id, attempt=1)
        assert all(store_of(home).get(i).status.value == "queued" for i in list(jobs)[1:])  # type: ignore[union-attr]

        service.kill_leader()
        assert service.process is not None and service.process.returncode == -signal.SIGKILL
        service.restart()

        documents = wait_all_terminal(service, list(jobs))
        assert {doc["status"] for doc in documents.values()} == {"completed"}, (
            _errors(documents), service.stderr_text()[-6000:])
        assert documents[slow_id]["attempts"] == 1  # the surviving worker finished it: not run twice
        assert running.worker_pid is not None and not alive(running.worker_pid)
        listed = requests.get(f"{service.url}{API}/jobs", params={"limit": 100}, timeout=10).json()["jobs"]
        assert set(jobs) <= {job["id"] for job in listed}
        assert_outputs(home / "data", jobs, documents)
    finally:
        service.stop()


def test_service_and_worker_crash_reruns_then_fails_with_a_reason(tmp_path: Path, tables: dict[str, bytes]) -> None:
    """SIGKILL of the service and of the running job's worker: the job is re-queued and run again;
    killed again on its last allowed attempt, it fails with the reason. The others complete."""
    home = tmp_path / "home"
    service = start_service(home)
    store = store_of(home)
    try:
        jobs = submit_jobs(service, tables)
        slow_id = next(iter(jobs))

        first = wait_running_with_worker(store, slow_id, attempt=1)
        service.kill_leader()  # first the service, so that it cannot reap the worker itself
        assert first.worker_pid is not None
        kill_worker(first.worker_pid, slow_id)
        service.restart()

        second = wait_running_with_worker(store, slow_id, attempt=2)  # re-queued and re-run
        assert second.worker_pid != first.worker_pid
        service.kill_leader()
        assert second.worker_pid is not None
        kill_worker(second.worker_pid, slow_id)
        service.restart()

        documents = wait_all_terminal(service, list(jobs))
        slow = documents.pop(slow_id)
        assert slow["status"] == "failed", slow
        assert slow["error"] and "interrupted" in slow["error"]
        assert slow["attempts"] == 2
        assert {doc["status"] for doc in documents.values()} == {"completed"}, (
            _errors(documents), service.stderr_text()[-6000:])
        documents[slow_id] = slow
        assert_outputs(home / "data", jobs, documents)
        assert not (home / "jobs" / slow_id / "input.table").exists()  # personal data does not outlive its job
    finally:
        service.stop()
