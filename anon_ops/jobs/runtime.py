"""The job runtime shared by the embedded SDK connection and the REST service.

Submitting snapshots the input into the job's folder (so a job always runs on the data it was
given, can be re-run after a crash, and is identified by its content for idempotency) and records
the job as queued. A scheduler thread starts one worker *process* per running job, up to
``settings.workers``: abort kills that process for real, and a crash of the runtime's own process
loses nothing, because every state lives in the store and the worker writes its outputs atomically.
After a restart, running jobs whose worker died are re-queued (up to ``max_attempts`` runs) or failed
with the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from anon_ops.config import JobConfig
from anon_ops.errors import ConfigError, DataError
from anon_ops.jobs.errors import (
    IdempotencyConflictError,
    JobNotFoundError,
    JobStateError,
    QueueFullError,
    RateLimitedError,
)
from anon_ops.jobs.files import JobFiles, read_frame, write_frame
from anon_ops.jobs.status import TERMINAL_STATES, JobStatus
from anon_ops.jobs.store import JobRecord, JobStore
from anon_ops.settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_STALE_SECONDS = 15.0
_KILL_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class Submission:
    """A submitted job and whether this call created it (False: an identical job already existed)."""

    job: JobRecord
    created: bool


def data_fingerprint(df: pd.DataFrame) -> str:
    """A content hash of a table: column names, dtypes and every value (row order included)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    if len(df):
        digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def job_fingerprint(kind: str, config: JobConfig, data_hash: str, parent_id: str | None) -> str:
    canonical = json.dumps(config.to_dict(), sort_keys=True)
    return hashlib.sha256(f"{kind}\n{parent_id}\n{data_hash}\n{canonical}".encode()).hexdigest()


def auto_complete(config: JobConfig, df: pd.DataFrame) -> JobConfig:
    """``mode="auto"``: infer what the user did not set (attribute types, hierarchies, the privacy
    model) from the data, keeping everything the user did set."""
    from anon_ops.infer import infer_config

    return infer_config(df, base=config).config.with_base_dir(config.base_dir)


class JobRuntime:
    """Submit, monitor, abort and delete jobs; run them in worker processes."""

    def __init__(self, settings: Settings | None = None, *, run_scheduler: bool = True) -> None:
        self.settings = settings or Settings.from_env()
        self.settings.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.store = JobStore(self.settings.store_url)
        self._workers: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_recovery = 0.0
        if run_scheduler:
            self.start()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self.recover(sweep=True)
            self._thread = threading.Thread(target=self._schedule, name="anon-ops-scheduler", daemon=True)
            self._thread.start()

    def close(self, abort_running: bool = False) -> None:
        """Stop scheduling. Running workers go on (their jobs finish) unless ``abort_running``."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if abort_running:
            for job_id in list(self._workers):
                self.abort(job_id)

    def __enter__(self) -> JobRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def files(self, job_id: str) -> JobFiles:
        return JobFiles(self.settings.jobs_dir / job_id)

    # ------------------------------------------------------------------ submit
    def submit(
        self,
        config: JobConfig | dict[str, Any] | str | Path,
        data: pd.DataFrame | None = None,
        *,
        force: bool = False,
        mode: str | None = None,
        pty_storage: bool = True,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        kind: str = "anonymize",
        parent_id: str | None = None,
        base_dir: str | Path | None = None,
        source_description: str | None = None,
    ) -> Submission:
        """Queue a job, or return the existing one for the same request (unless ``force``)."""
        if mode not in (None, "auto"):
            raise ConfigError(f"mode: unknown mode {mode!r} (use 'auto' or nothing)")
        config = JobConfig.load(config, base_dir)
        if base_dir is not None and config.base_dir is None:
            config.with_base_dir(base_dir)
        if idempotency_key:
            known = self.store.idempotency(idempotency_key)
            if known is not None:
                return Submission(self._replayed(idempotency_key, known, request_hash), False)
        if data is None:
            if config.source is None:
                raise ConfigError("source: give the data or a source in the configuration")
            from anon_ops.io import read_table

            data = read_table(config.source, config.resolve_path)
            source_description = source_description or _describe_store(config)
        if mode == "auto":
            config = auto_complete(config, data)
        missing = [a.name for a in config.attributes if a.name not in data.columns]
        if missing:
            raise DataError(f"attributes: column(s) {missing} not found in the data (columns: {list(data.columns)})")
        fingerprint = job_fingerprint(kind, config, data_fingerprint(data), parent_id)
        request_hash = request_hash or fingerprint
        existing = None if force else next(
            (job for job in self.store.find(fingerprint=fingerprint)
             if job.status not in (JobStatus.FAILED, JobStatus.ABORTED)), None)
        submission = Submission(existing, False) if existing is not None else self._create(
            kind, config, data, fingerprint, parent_id, pty_storage, mode, force, source_description)
        if idempotency_key and not self.store.remember_idempotency(idempotency_key, request_hash,
                                                                   submission.job.id):
            known = self.store.idempotency(idempotency_key)
            assert known is not None
            if known[1] != submission.job.id and submission.created:
                self.delete(submission.job.id)  # a concurrent duplicate won the key: ours is not wanted
            return Submission(self._replayed(idempotency_key, known, request_hash), False)
        return submission

    def _replayed(self, key: str, known: tuple[str, str], request_hash: str | None) -> JobRecord:
        """The job an Idempotency-Key already stands for, if this request is the same one."""
        known_hash, job_id = known
        if request_hash is not None and known_hash != request_hash:
            raise IdempotencyConflictError("Idempotency-Key: this key was already used with a different request")
        return self.get(job_id)

    def _create(
        self,
        kind: str,
        config: JobConfig,
        data: pd.DataFrame,
        fingerprint: str,
        parent_id: str | None,
        pty_storage: bool,
        mode: str | None,
        force: bool,
        source_description: str | None,
    ) -> Submission:
        self._check_limits()
        job_id = uuid.uuid4().hex
        files = self.files(job_id)
        files.folder.mkdir(parents=True, exist_ok=True)
        write_frame(data, files.input)
        record = JobRecord(
            id=job_id,
            kind=kind,
            fingerprint=fingerprint,
            parent_id=parent_id,
            config=config.to_dict(),
            pty_storage=pty_storage,
            info={
                "source": source_description or "uploaded table",
                "rows": len(data),
                "columns": [str(c) for c in data.columns],
                "quasi_identifiers": config.quasi_identifiers,
                "mode": mode,
                "force": force,
                "base_dir": str(config.base_dir) if config.base_dir else None,
            },
        )
        try:
            self.store.create(record)
        except Exception:
            shutil.rmtree(files.folder, ignore_errors=True)
            raise
        log.info("job %s queued (%s, %d rows)", job_id, kind, len(data))
        self._wake.set()
        return Submission(record, True)

    def apply(
        self,
        parent_id: str,
        data: pd.DataFrame | None,
        *,
        target: dict[str, Any] | None = None,
        force: bool = False,
        pty_storage: bool = True,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> Submission:
        """Apply a completed job's transformation to new rows, as a new job."""
        parent = self.get(parent_id)
        if parent.status != JobStatus.COMPLETED or parent.kind != "anonymize":
            raise JobStateError(f"job {parent_id}: only a completed anonymization can be applied (is {parent.status})")
        config = dict(parent.config)
        config.pop("target", None)
        if target is not None:
            config["target"] = target
        if data is not None:
            config.pop("source", None)
        return self.submit(
            config, data, force=force, pty_storage=pty_storage, idempotency_key=idempotency_key,
            request_hash=request_hash, kind="apply", parent_id=parent_id,
            base_dir=parent.info.get("base_dir"),
        )

    def _check_limits(self) -> None:
        if self.store.count(JobStatus.QUEUED) >= self.settings.max_queue:
            raise QueueFullError(f"the queue is full ({self.settings.max_queue} jobs); try again later")
        now = time.time()
        recent = self.store.created_since(now - 60)
        if len(recent) >= self.settings.rate_limit_per_minute:
            retry_after = max(1.0, 60 - (now - recent[0]))
            raise RateLimitedError(
                f"rate limit of {self.settings.rate_limit_per_minute} submissions per minute reached",
                retry_after,
            )

    # ------------------------------------------------------------------ queries
    def get(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record is None:
            raise JobNotFoundError(job_id)
        return record

    def list(self, limit: int = 20) -> list[JobRecord]:
        return self.store.newest(limit)

    def metadata(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        return {"id": job.id, "kind": job.kind, "parent_id": job.parent_id, "fields": job.info.get("columns", []),
                "configuration": job.config, "data": {k: job.info.get(k) for k in ("source", "rows")},
                "mode": job.info.get("mode"), "pty_storage": job.pty_storage}

    def statistics(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job.status != JobStatus.COMPLETED:
            raise JobStateError(f"job {job_id} is {job.status.value}: statistics exist once it is completed")
        return json.loads(self.files(job_id).statistics.read_text(encoding="utf-8"))

    def result(self, job_id: str) -> pd.DataFrame | None:
        """The anonymized table; None when it went to a target and was not kept in storage.
        With ``pty_storage=False`` the stored copy is handed out once and then removed."""
        job = self.get(job_id)
        if job.status != JobStatus.COMPLETED:
            raise JobStateError(f"job {job_id} is {job.status.value}: the result exists once it is completed")
        path = self.files(job_id).result
        if not path.exists():
            if job.summary and job.summary.get("result_stored"):
                raise JobStateError(f"job {job_id}: the result was already streamed back (pty_storage=False)")
            return None
        frame = read_frame(path)
        if not job.pty_storage:
            path.unlink(missing_ok=True)
        return frame

    def wait(self, job_id: str, timeout: float | None = None, poll_interval: float = 0.2) -> JobRecord:
        """Block until the job is terminal (TimeoutError after ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.status.is_terminal:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {job.status.value} after {timeout} s")
            time.sleep(poll_interval)

    # ------------------------------------------------------------------ abort / delete
    def abort(self, job_id: str) -> JobRecord:
        """Stop a queued or running job; its worker process is killed and nothing partial is left."""
        job = self.get(job_id)
        if job.status.is_terminal:
            return job
        now = time.time()
        if self.store.transition(job_id, JobStatus.QUEUED, status=JobStatus.ABORTED, finished_at=now,
                                 error="aborted on request"):
            self._discard_input(job_id)
            return self.get(job_id)
        self.store.update(job_id, abort_requested=True)
        job = self.get(job_id)
        self._kill_worker(job)
        self.store.transition(job_id, JobStatus.RUNNING, status=JobStatus.ABORTED, finished_at=time.time(),
                              error="aborted on request")
        self._discard_input(job_id)
        log.info("job %s aborted", job_id)
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        """Remove the job and everything it stored (input snapshot, result, statistics)."""
        job = self.get(job_id)
        if job.status.is_active:
            self.abort(job_id)
        shutil.rmtree(self.files(job_id).folder, ignore_errors=True)
        self.store.delete(job_id)
        log.info("job %s deleted", job_id)

    def _kill_worker(self, job: JobRecord) -> None:
        with self._lock:
            process = self._workers.pop(job.id, None)
        pid = process.pid if process is not None else job.worker_pid
        if pid is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + _KILL_GRACE_SECONDS
            while time.monotonic() < deadline:
                if process is not None and process.poll() is not None:
                    return
                if process is None and not _alive(pid):
                    return
                time.sleep(0.05)

    def _discard_input(self, job_id: str) -> None:
        """An uploaded table holds personal data: it does not outlive its job. Temporaries of an
        interrupted write (in the job folder and beside a file target) go too."""
        files = self.files(job_id)
        job = self.store.get(job_id)
        if job is None or not _keeps_source(job):
            files.input.unlink(missing_ok=True)
        for partial in files.folder.glob(".*tmp*"):
            partial.unlink(missing_ok=True)
        if job is not None and job.status != JobStatus.COMPLETED:
            from anon_ops.io import discard_partial_output

            config = JobConfig.load(job.config, job.info.get("base_dir"))
            discard_partial_output(config.target, config.resolve_path)

    # ------------------------------------------------------------------ scheduling
    def _schedule(self) -> None:
        while not self._stop.is_set():
            try:
                self._reap()
                if time.monotonic() - self._last_recovery > 2.0:
                    self.recover()
                self._start_queued()
            except Exception:  # the scheduler must survive a transient store error
                log.exception("scheduler iteration failed")
            self._wake.wait(self.settings.poll_seconds)
            self._wake.clear()
        self._reap()

    def _start_queued(self) -> None:
        # count every running job of the store, not only this runtime's children: after a restart
        # the workers of the previous process may still be finishing theirs
        running = self.store.count(JobStatus.RUNNING)
        while running < self.settings.workers and not self._stop.is_set():
            running += 1
            job = self.store.claim_next()
            if job is None:
                return
            command = [sys.executable, "-m", "anon_ops.jobs.worker", "--home", str(self.settings.home),
                       "--database-url", self.settings.store_url, job.id]
            process = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL)
            with self._lock:
                self._workers[job.id] = process
            self.store.update(job.id, worker_pid=process.pid)
            log.info("job %s started in worker %d (attempt %d)", job.id, process.pid, job.attempts)

    def _reap(self) -> None:
        with self._lock:
            finished = {job_id: p for job_id, p in self._workers.items() if p.poll() is not None}
            for job_id in finished:
                del self._workers[job_id]
        for job_id, process in finished.items():
            job = self.store.get(job_id)
            if job is None or job.status.is_terminal:
                continue
            if job.abort_requested:
                self.store.transition(job_id, JobStatus.RUNNING, status=JobStatus.ABORTED,
                                      finished_at=time.time(), error="aborted on request")
            elif process.returncode < 0 and self._retry(job, f"worker killed by signal {-process.returncode}"):
                continue
            else:
                self.store.transition(job_id, JobStatus.RUNNING, status=JobStatus.FAILED, finished_at=time.time(),
                                      error=f"worker exited unexpectedly (code {process.returncode})")
            self._discard_input(job_id)

    def _retry(self, job: JobRecord, reason: str) -> bool:
        """Re-queue a job whose worker was killed, while runs are left and its input still exists."""
        if job.attempts >= self.settings.max_attempts or not self.files(job.id).input.exists():
            return False
        requeued = self.store.transition(job.id, JobStatus.RUNNING, status=JobStatus.QUEUED, progress=0.0,
                                         worker_pid=None, error=f"interrupted ({reason}); re-queued")
        if requeued:
            from anon_ops.io import discard_partial_output

            config = JobConfig.load(job.config, job.info.get("base_dir"))
            discard_partial_output(config.target, config.resolve_path)
            log.warning("job %s was interrupted (%s); re-queued", job.id, reason)
        return requeued

    def recover(self, sweep: bool = False) -> None:
        """Re-queue (or fail) running jobs whose worker is gone — after a crash or a restart.
        ``sweep`` also removes inputs that ended jobs left behind (done once, at start)."""
        self._last_recovery = time.monotonic()
        now = time.time()
        for job in self.store.in_states(JobStatus.RUNNING):
            if job.id in self._workers:
                continue
            alive = job.worker_pid is not None and _alive(job.worker_pid)
            stale = (job.heartbeat or 0) < now - HEARTBEAT_STALE_SECONDS
            starting = job.worker_pid is None  # claimed a moment ago; its worker is being started
            if (alive or starting) and not stale:
                continue
            if alive:  # hung worker: stop it before its job runs again
                self._kill_worker(job)
            if self._retry(job, "worker gone"):
                continue
            failed = self.store.transition(
                job.id, JobStatus.RUNNING, status=JobStatus.FAILED, finished_at=now,
                error=f"interrupted: the worker stopped during attempt {job.attempts} and no retry is left",
            )
            if failed:
                self._discard_input(job.id)
                log.warning("job %s failed after an interruption", job.id)
        if sweep:
            for job in self.store.in_states(*TERMINAL_STATES):
                if self.files(job.id).input.exists() and not _keeps_source(job):
                    self._discard_input(job.id)


def _keeps_source(job: JobRecord) -> bool:
    return bool(job.config.get("additional_properties", {}).get("keep_source", False))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        if stat.read().split(") ", 1)[1].startswith("Z"):  # a zombie is dead for our purposes
            return False
    return True


def _describe_store(config: JobConfig) -> str:
    source = config.source
    if source is None:
        return "uploaded table"
    if source.type == "file" and source.file is not None:
        return f"file {source.file.name}"
    if source.type == "sql" and source.sql is not None:
        return f"sql table {source.sql.table}" if source.sql.table else "sql query"
    return "inline rows"
