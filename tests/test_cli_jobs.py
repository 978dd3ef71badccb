"""The job sub-commands of the CLI (jobs, status, abort, delete, apply, result, serve) and
``anonymize --connection``, run as real processes on an embedded home and on a live service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from anon_ops.data import ADULT_JOB
from anon_ops.jobs.runtime import JobRuntime
from anon_ops.jobs.status import JobStatus
from anon_ops.jobs.store import JobStore
from anon_ops.settings import Settings
from tests.conftest import adult_config
from tests.live_service import LiveService, free_port, live_service  # noqa: F401

ANON_OPS = str(Path(sys.executable).parent / "anon-ops")
QIS = ["age", "sex"]


def run(*args: str, home: Path | None = None, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANON_OPS_URL", "ANON_OPS_TOKEN", "ANON_OPS_HOME")}
    env["PYTHONWARNINGS"] = "ignore"
    if home is not None:
        env["ANON_OPS_HOME"] = str(home)
    if url is not None:
        env["ANON_OPS_URL"] = url
    return subprocess.run([ANON_OPS, *args], capture_output=True, text=True, timeout=120, env=env)


def ok(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, adult: pd.DataFrame) -> tuple[Path, str]:
    """An embedded home holding one completed job, made by a runtime that is closed again: every
    job the commands below start must run without the test process's help."""
    folder = tmp_path_factory.mktemp("cli_home")
    with JobRuntime(Settings(home=folder)) as runtime:
        job_id = runtime.submit(adult_config(qis=QIS), adult).job.id
        assert runtime.wait(job_id, timeout=90, poll_interval=0.1).status == JobStatus.COMPLETED
    return folder, job_id


def new_rows(adult: pd.DataFrame, folder: Path, name: str, seed: int) -> Path:
    path = folder / name
    adult.sample(300, random_state=seed).to_csv(path, sep=";", index=False)
    return path


# --------------------------------------------------------------------------- embedded
def test_jobs_and_status(home: tuple[Path, str]) -> None:
    folder, job_id = home
    listed = ok(run("jobs", "--limit", "5", home=folder))
    assert [j["id"] for j in listed["jobs"]][-1] == job_id
    status = ok(run("status", job_id, home=folder))
    assert status["id"] == job_id and status["status"] == "completed" and status["running"] == 100.0
    assert set(status["completed"]["transformation"]) == set(QIS)


def test_result_downloads_the_table(home: tuple[Path, str], tmp_path: Path) -> None:
    folder, job_id = home
    out = tmp_path / "result.parquet"
    printed = ok(run("result", job_id, "--output", str(out), home=folder))
    assert printed == {"id": job_id, "output": str(out), "rows": 30162}
    assert len(pd.read_parquet(out)) == 30162


def test_apply_with_output_waits_and_writes(home: tuple[Path, str], adult: pd.DataFrame, tmp_path: Path) -> None:
    folder, job_id = home
    out = tmp_path / "applied.csv"
    done = ok(run("apply", job_id, str(new_rows(adult, tmp_path, "new.csv", 1)), "--output", str(out),
                  home=folder))
    assert done["status"] == "completed" and done["parent_id"] == job_id and done["kind"] == "apply"
    assert done["output"] == str(out)
    assert len(pd.read_csv(out, dtype=str)) == 300


def test_apply_without_wait_runs_on_after_the_command(home: tuple[Path, str], adult: pd.DataFrame,
                                                      tmp_path: Path) -> None:
    folder, job_id = home
    queued = ok(run("apply", job_id, str(new_rows(adult, tmp_path, "new.csv", 2)), home=folder))
    assert queued["status"] in ("queued", "running")
    store = JobStore(Settings(home=folder).store_url)  # no runtime here: nothing in this process runs jobs
    deadline = time.monotonic() + 90
    while (job := store.get(queued["id"])) is not None and not job.status.is_terminal:
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(0.2)
    assert job is not None and job.status == JobStatus.COMPLETED
    assert job.summary is not None and job.summary["rows"]["input"] == 300

    aborted = ok(run("abort", queued["id"], home=folder))
    assert aborted["status"] == "completed", "aborting an ended job leaves it as it is"
    assert ok(run("delete", queued["id"], home=folder)) == {"id": queued["id"], "deleted": True}
    assert store.get(queued["id"]) is None
    assert not (folder / "jobs" / queued["id"]).exists(), "delete removes what the job stored"


def test_errors_exit_with_a_message(home: tuple[Path, str], tmp_path: Path) -> None:
    folder, job_id = home
    unknown = run("status", "nope", home=folder)
    assert unknown.returncode == 1 and "'nope' not found" in unknown.stderr and "Traceback" not in unknown.stderr
    missing = run("apply", job_id, str(tmp_path / "missing.csv"), home=folder)
    assert missing.returncode == 2 and "missing.csv" in missing.stderr and "Traceback" not in missing.stderr
    assert run("result", job_id, home=folder).returncode == 2, "--output is required"


# --------------------------------------------------------------------------- on a service
def test_anonymize_on_a_service_writes_output_and_statistics_locally(
    live_service: LiveService, adult: pd.DataFrame, tmp_path: Path  # noqa: F811
) -> None:
    source = tmp_path / "small.csv"
    adult.head(3000).to_csv(source, sep=";", index=False)
    out, stats = tmp_path / "out" / "small_anon.csv", tmp_path / "stats.json"
    summary = ok(run("anonymize", str(ADULT_JOB), "--connection", live_service.url, "--input", str(source),
                     "--output", str(out), "--stats", str(stats), "--seed", "5"))
    document = json.loads(stats.read_text())
    assert summary["transformation"] == document["transformation"]
    assert summary["output"] == str(out)
    assert document["output"]["seed"] == 5
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(table) == document["rows"]["output"] == 3000
    published = table[~(table == "*").all(axis=1)]
    assert published.groupby(list(table.columns)).size().min() >= 5

    job_id = summary["job"]
    listed = ok(run("jobs", url=live_service.url))  # ANON_OPS_URL instead of --connection
    assert job_id in [j["id"] for j in listed["jobs"]]
    assert ok(run("status", job_id, "--connection", live_service.url))["info"]["rows"] == 3000

    bad = tmp_path / "bad.yaml"
    bad.write_text("attributes: [{name: age, type: quasi_identifier}]\n"
                   "privacy_models: [{model_type: k-anonymity, params: {k: -1}}]\n")
    invalid = run("anonymize", str(bad), "--connection", live_service.url, "--input", str(source),
                  "--output", str(tmp_path / "o.csv"))
    assert invalid.returncode == 2 and "privacy_models.0.params.k" in invalid.stderr
    assert not (tmp_path / "o.csv").exists()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``anon-ops serve`` on a free port, stopped with SIGTERM."""
    port = free_port()
    env = {**os.environ, "ANON_OPS_HOME": str(tmp_path / "served"), "PYTHONWARNINGS": "ignore"}
    env.pop("ANON_OPS_TOKEN", None)
    process = subprocess.Popen([ANON_OPS, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "anon-ops serve exited"
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "anon-ops serve did not come up"
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_starts_the_service(served: str) -> None:
    assert requests.get(f"{served}/health", timeout=5).json()["status"] == "ok"
    assert ok(run("jobs", "--connection", served)) == {"jobs": []}
    unknown = run("abort", "nope", "--connection", served)
    assert unknown.returncode == 1 and "not found" in unknown.stderr
