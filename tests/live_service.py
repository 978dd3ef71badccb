"""Start a REAL anon-ops service process for end-to-end tests and benchmarks.

Tests that only use an in-process app would miss what matters for a service: the process model
(uvicorn, worker subprocesses, signals), the real socket and crash recovery. ``LiveService`` runs
``python -m anon_ops.service`` on a free local port with its own ``ANON_OPS_HOME``, in its own
process group so it can be killed as a whole (or only its leader, to simulate a crash).

Usage::

    with LiveService(tmp_path / "home", token="secret") as service:
        requests.get(f"{service.url}/health")

or, in a test module::

    from tests.live_service import live_service  # noqa: F401

    def test_something(live_service: LiveService) -> None: ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

import pytest
import requests

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
PORT_ATTEMPTS = 3
REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now (bound and released by the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServiceError(RuntimeError):
    """The service process did not come up (its stderr is in the message)."""


class LiveService:
    """A real service process on 127.0.0.1; a context manager that starts and stops it.

    ``env`` adds variables such as ``ANON_OPS_DATA_ROOTS`` or ``ANON_OPS_WORKERS``; ``token`` sets
    ``ANON_OPS_TOKEN``. ``restart()`` starts a new process on the same home (a new port).
    """

    def __init__(self, home: str | Path, token: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.home = Path(home)
        self.token = token
        self.extra_env = dict(env or {})
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._stdout: IO[bytes] | None = None

    # ------------------------------------------------------------------ properties
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of the configured token (empty without one)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def pid(self) -> int:
        if self.process is None:
            raise LiveServiceError("the service is not started")
        return self.process.pid

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LiveService:
        """Start the process and wait until ``GET /health`` answers (a new port if one was taken)."""
        if self.process is not None and self.process.poll() is None:
            raise LiveServiceError("the service is already running")
        self.home.mkdir(parents=True, exist_ok=True)
        for attempt in range(PORT_ATTEMPTS):
            self._spawn()
            try:
                self._wait_healthy()
                return self
            except LiveServiceError as exc:
                if "address already in use" not in str(exc).lower() or attempt == PORT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        self.port = free_port()
        # Only the settings given here: an ANON_OPS_DATABASE_URL of the developer's shell must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANON_OPS_")}
        env["ANON_OPS_HOME"] = str(self.home)
        if self.token:
            env["ANON_OPS_TOKEN"] = self.token
        env.update(self.extra_env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        # Logs go to files, not pipes: a full pipe would block the server.
        self._close_logs()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "anon_ops.service", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            cwd=str(REPO_ROOT),
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            start_new_session=True,
        )

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.stderr_text()
                self._close_logs()
                code = self.process.returncode
                raise LiveServiceError(f"the service exited with code {code} while starting:\n{stderr}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        stderr = self.stderr_text()
        self.stop()
        raise LiveServiceError(f"the service did not answer /health within {START_TIMEOUT_SECONDS} s:\n{stderr}")

    def stderr_text(self) -> str:
        """What the server wrote to stderr so far (its log), for failure messages."""
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", errors="replace")

    def stop(self) -> None:
        """SIGTERM the process group (graceful shutdown), then SIGKILL it if it does not exit in time.

        Signals go to the group only while its leader is not yet reaped: once reaped, its pid (the
        group id) may belong to an unrelated process.
        """
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_logs()

    def kill(self) -> None:
        """SIGKILL the whole process group at once (no graceful shutdown)."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def kill_leader(self) -> None:
        """SIGKILL only the service process (a crash); worker processes live in their own sessions."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def restart(self) -> LiveService:
        """Stop the process if it still runs, and start a new one on the same home."""
        self.stop()
        return self.start()

    def abort_active_jobs(self) -> None:
        """Abort queued and running jobs (best effort): workers run in their own sessions and would
        otherwise outlive the service and the test's temporary home."""
        with contextlib.suppress(requests.RequestException, ValueError, KeyError):
            jobs = requests.get(f"{self.url}/api/v1/jobs", params={"limit": 1000}, headers=self.headers,
                                timeout=10).json()["jobs"]
            for job in jobs:
                if job["status"] in ("queued", "running"):
                    requests.post(f"{self.url}/api/v1/jobs/{job['id']}/abort", headers=self.headers, timeout=30)

    def _close_logs(self) -> None:
        for log_file in (self._stdout, self._stderr):
            if log_file is not None:
                with contextlib.suppress(OSError):
                    log_file.close()
        self._stdout = self._stderr = None

    def __enter__(self) -> LiveService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """One real service per test module: no token, data root ``<home>/data``, two workers."""
    home = tmp_path_factory.mktemp("anon_ops_home")
    (home / "data").mkdir()
    with LiveService(home, env={"ANON_OPS_DATA_ROOTS": str(home / "data")}) as service:
        yield service
        service.abort_active_jobs()
