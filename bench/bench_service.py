"""Benchmark of the REST service under many status pollers (what SDK clients and DAG sensors do).

Starts a real service process on 127.0.0.1 (``tests/live_service.LiveService``), submits one job
(the Adult demo job, which runs in a worker process meanwhile), then starts ``--pollers`` threads
at once, each with its own ``requests.Session``, each issuing ``--polls`` ``GET`` requests of the
job's status (and, for comparison, of ``/health``, which touches no store). Every run is bounded by
a count and by ``--max-seconds``. Prints a table of latency percentiles and throughput to stdout.

    .venv/bin/python bench/bench_service.py                      # 100 pollers x 50 polls
    .venv/bin/python bench/bench_service.py --pollers 20 --polls 200

The client threads share one Python process (and its GIL) with each other, on the same machine as
the service: the numbers are a floor of what the service does, not a ceiling.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `tests.live_service` importable
    sys.path.insert(0, str(REPO_ROOT))

from anon_ops.data import ADULT_CSV, ADULT_DIR, ADULT_QIS  # noqa: E402
from tests.live_service import LiveService  # noqa: E402

log = logging.getLogger("bench_service")


@dataclass
class Run:
    """The outcome of one polling run."""

    name: str
    pollers: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def poll(url: str, pollers: int, polls: int, max_seconds: float, name: str) -> Run:
    """``pollers`` threads start together (a barrier) and GET ``url`` ``polls`` times each."""
    run = Run(name, pollers)
    lock = threading.Lock()
    barrier = threading.Barrier(pollers + 1)
    deadline = 0.0

    def worker() -> None:
        latencies: list[float] = []
        errors = 0
        stopped = False
        with requests.Session() as session:
            barrier.wait()
            for _ in range(polls):
                if time.monotonic() > deadline:
                    stopped = True
                    break
                start = time.perf_counter()
                try:
                    ok = session.get(url, timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok
        with lock:
            run.latencies.extend(latencies)
            run.errors += errors
            run.stopped_early = run.stopped_early or stopped

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(pollers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + max_seconds
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join(max_seconds + 60)
    run.seconds = time.perf_counter() - started
    return run


def submit_demo_job(service: LiveService) -> str:
    config = {
        "attributes": [
            {"name": q, "type": "quasi_identifier", "hierarchy": {"type": "file", "name": f"adult_hierarchy_{q}.csv"}}
            for q in ADULT_QIS
        ],
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 5}}],
        "max_suppression": 0.05,
    }
    response = requests.post(f"{service.url}/api/v1/jobs", data={"config": json.dumps(config)},
                             files={"data": ("adult.csv", ADULT_CSV.read_bytes())}, timeout=60)
    response.raise_for_status()
    return str(response.json()["id"])


def table(runs: list[Run]) -> str:
    header = ("endpoint", "pollers", "requests", "errors", "seconds", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
    rows = [header]
    for run in runs:
        count = len(run.latencies)
        rows.append((
            run.name + (" (time-bounded)" if run.stopped_early else ""), str(run.pollers), str(count),
            str(run.errors), f"{run.seconds:.2f}", f"{count / run.seconds:.0f}" if run.seconds else "-",
            *(f"{1000 * run.percentile(q):.1f}" for q in (50, 95, 99)),
            f"{1000 * max(run.latencies):.1f}" if run.latencies else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in
                       enumerate(zip(row, widths, strict=True))) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pollers", type=int, default=100, help="concurrent polling threads (default 100)")
    parser.add_argument("--polls", type=int, default=50, help="requests per poller (default 50)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time bound of each run (default 60)")
    parser.add_argument("--no-health", action="store_true", help="skip the /health comparison run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory(prefix="anon-ops-bench-") as tmp:
        home = Path(tmp)
        (home / "data").mkdir()
        for q in ADULT_QIS:
            name = f"adult_hierarchy_{q}.csv"
            (home / "data" / name).write_bytes((ADULT_DIR / name).read_bytes())
        with LiveService(home, env={"ANON_OPS_DATA_ROOTS": str(home / "data")}) as service:
            job_id = submit_demo_job(service)
            log.info("service at %s; job %s submitted; %d pollers x %d polls", service.url, job_id,
                     args.pollers, args.polls)
            # Warm-up: connections, imports and the store's first queries are not what we measure.
            poll(f"{service.url}/api/v1/jobs/{job_id}", 4, 10, 10, "warm-up")
            runs = [poll(f"{service.url}/api/v1/jobs/{job_id}", args.pollers, args.polls, args.max_seconds,
                         "GET /api/v1/jobs/{id}")]
            state = requests.get(f"{service.url}/api/v1/jobs/{job_id}", timeout=10).json()["status"]
            if not args.no_health:
                runs.append(poll(f"{service.url}/health", args.pollers, args.polls, args.max_seconds, "GET /health"))
            service.abort_active_jobs()
    mean = statistics.fmean(runs[0].latencies) * 1000 if runs[0].latencies else float("nan")
    sys.stdout.write(table(runs) + "\n")
    sys.stdout.write(f"\njob state after the status run: {state}; mean status latency {mean:.1f} ms\n")
    return 1 if any(run.errors for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
