"""A worker process: runs exactly one job and records its outcome in the store.

Started by the runtime's scheduler in its own process group, so that abort can kill it (and
anything it started) for real. Outputs are written under temporary names and renamed when complete,
before the job is marked completed: an aborted or failed job never leaves partial output visible.
Logs name jobs, counts and error kinds — never a data value.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from anon_ops.config import JobConfig
from anon_ops.errors import AbortedError, AnonOpsError
from anon_ops.jobs.files import JobFiles, read_frame, write_frame, write_json
from anon_ops.jobs.status import JobStatus
from anon_ops.jobs.store import JobRecord, JobStore

log = logging.getLogger("anon_ops.worker")

_HEARTBEAT_SECONDS = 1.0
_PROGRESS_SECONDS = 0.25


class _Reporter:
    """Throttled progress writes, abort polling and a heartbeat thread."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store, self.job_id = store, job_id
        self._last_progress = 0.0
        self._last_abort_check = 0.0
        self._aborted = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(_HEARTBEAT_SECONDS):
            try:
                self.store.update(self.job_id, heartbeat=time.time())
            except Exception:  # a busy store must not kill the job
                log.warning("job %s: heartbeat not recorded", self.job_id)

    def progress(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last_progress >= _PROGRESS_SECONDS or fraction >= 1.0:
            self._last_progress = now
            self.store.update(self.job_id, progress=min(0.95, 0.05 + 0.9 * fraction))

    def should_abort(self) -> bool:
        now = time.monotonic()
        if not self._aborted and now - self._last_abort_check >= _PROGRESS_SECONDS:
            self._last_abort_check = now
            job = self.store.get(self.job_id)
            self._aborted = job is None or job.abort_requested or job.status != JobStatus.RUNNING
        return self._aborted

    def close(self) -> None:
        self._stop.set()


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwind: finally blocks remove temporary files


def run(store: JobStore, files: JobFiles, job: JobRecord) -> dict[str, Any]:
    """Run the job's engine call and write its outputs; returns the completion summary."""
    from anon_ops.engine.anonymizer import anonymize, apply_transformation
    from anon_ops.engine.distributed import use_dask
    from anon_ops.io import write_table

    started = time.perf_counter()
    config = JobConfig.load(job.config, job.info.get("base_dir"))
    if use_dask(config, job.info.get("rows")):
        return _run_on_dask(store, files, job, config, started)
    data = read_frame(files.input)
    reporter = _Reporter(store, job.id)
    try:
        if job.kind == "apply":
            result = apply_transformation(data, config, _parent_transformation(files, job))
        else:
            result = anonymize(data, config, progress=reporter.progress, should_abort=reporter.should_abort)
        if reporter.should_abort():
            raise AbortedError("aborted on request")
        target = None
        if config.target is not None:
            target = write_table(result.data, config.target, config.resolve_path,
                                 single_file=config.additional_properties.single_file == "yes")
        store_result = job.pty_storage or config.target is None
        if store_result:
            write_frame(result.data, files.result)
        write_json(files.statistics, result.statistics)
    finally:
        reporter.close()
    return _summary(result.statistics, target, store_result, started)


def _run_on_dask(store: JobStore, files: JobFiles, job: JobRecord, config: JobConfig, started: float) -> dict[str, Any]:
    """The job on Dask (``execution`` in its configuration; the scheduler from there or from
    ANON_OPS_DASK_SCHEDULER, else a LocalCluster for this job): the cluster's workers read the input
    snapshot by row groups and write the outputs part by part, the job's own copy of the result as
    one Parquet file; progress and abort work as in-process."""
    from anon_ops.config import DataStore, FileStore
    from anon_ops.engine.distributed import anonymize_distributed

    with open(files.input, "rb") as handle:
        pickled = handle.read(4) == b"PKL1"  # mixed-type columns: a pickle, read here and scattered
    source = read_frame(files.input) if pickled else DataStore(
        type="file", file=FileStore(name=str(files.input), format="parquet"))
    transformation = _parent_transformation(files, job) if job.kind == "apply" else None
    store_result = job.pty_storage or config.target is None
    reporter = _Reporter(store, job.id)
    try:
        result = anonymize_distributed(source, config, transformation=transformation, target=config.target,
                                       result_file=files.result if store_result else None,
                                       progress=reporter.progress, should_abort=reporter.should_abort)
        write_json(files.statistics, result.statistics)
    finally:
        reporter.close()
    return _summary(result.statistics, result.location, store_result, started)


def _parent_transformation(files: JobFiles, job: JobRecord) -> dict[str, int]:
    parent = files.folder.parent / str(job.parent_id) / "statistics.json"
    return json.loads(parent.read_text(encoding="utf-8"))["transformation"]


def _summary(stats: dict[str, Any], target: str | None, store_result: bool, started: float) -> dict[str, Any]:
    return {
        "rows": stats["rows"],
        "transformation": stats["transformation"],
        "equivalence_classes": stats["equivalence_classes"],
        "information_loss": stats["information_loss"],
        "prosecutor_highest_risk": stats["risk"]["target"]["prosecutor"]["highest_risk"],
        "target": target,
        "result_stored": store_result,
        "seconds": round(time.perf_counter() - started, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="anon-ops-worker")
    parser.add_argument("--home", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    store = JobStore(args.database_url)
    job = store.get(args.job_id)
    if job is None or job.status != JobStatus.RUNNING:
        log.warning("job %s is not running; nothing to do", args.job_id)
        return 0
    files = JobFiles(Path(args.home) / "jobs" / job.id)
    keep_source = bool(job.config.get("additional_properties", {}).get("keep_source", False))
    try:
        summary = run(store, files, job)
        store.transition(job.id, JobStatus.RUNNING, status=JobStatus.COMPLETED, progress=1.0,
                         finished_at=time.time(), summary=summary, error=None, error_type=None)
        log.info("job %s completed in %.3f s", job.id, summary["seconds"])
    except AbortedError:
        store.transition(job.id, JobStatus.RUNNING, status=JobStatus.ABORTED, finished_at=time.time(),
                         error="aborted on request", error_type=AbortedError.__name__)
        log.info("job %s aborted", job.id)
    except AnonOpsError as exc:
        # The class name travels with the message, so clients can tell a data problem from a
        # configuration problem (the CLI exits 2 for both) without parsing the message.
        store.transition(job.id, JobStatus.RUNNING, status=JobStatus.FAILED, finished_at=time.time(), error=str(exc),
                         error_type=type(exc).__name__)
        log.info("job %s failed: %s", job.id, type(exc).__name__)
    except SystemExit:
        log.info("job %s: worker terminated", job.id)
        raise
    except Exception as exc:
        store.transition(job.id, JobStatus.RUNNING, status=JobStatus.FAILED,
                         finished_at=time.time(), error=f"internal error: {type(exc).__name__}",
                         error_type=type(exc).__name__)
        log.error("job %s failed with %s", job.id, type(exc).__name__)
        return 1
    finally:
        final = store.get(job.id)
        if final is not None and final.status.is_terminal and not keep_source:
            files.input.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
