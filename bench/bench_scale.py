"""Scale benchmark: pandas in-process vs Dask LocalCluster on Adult resampled to 100 k, 1 M and 10 M rows.

Run ``python bench/bench_scale.py`` (``--help`` for the options). The data are generated on first use
into ``bench/data/adult_<rows>/`` (git-ignored): Parquet part files of at most one million rows,
Adult's 9 columns resampled with replacement (numpy ``default_rng([20240601, part])``). Every run is
a child process doing what a job does — read the partitioned source, anonymize (ARX's hierarchies,
k=5, 5 % suppression, loss), write a partitioned Parquet target — and is measured from outside:

* wall clock of the child (Python start-up, imports and the LocalCluster's start included);
* peak memory: the child's ``ru_maxrss`` (``os.wait4``) — for the Dask runs, whose LocalCluster
  workers are processes of their own, also the peak of the summed RSS of the child's process tree
  (sampled every 0.1 s with psutil), which is the number that counts there.

It also reports the size of each table in pandas (``memory_usage(deep=True)`` after reading it as
the engine does) — the yardstick of "peak memory well below the size of the data in pandas".
See ``bench/README.md`` ("Scale: pandas vs Dask") for the numbers and the sizing guide.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"  # git-ignored
SEED = 20_240_601
ROWS_PER_FILE = 1_000_000
OUTPUT_SEED = 1
RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
GIB = 1024**3


# =========================================================================== data
def dataset(rows: int) -> Path:
    """The folder of Parquet parts of Adult resampled to ``rows`` rows (generated once)."""
    folder = DATA_DIR / f"adult_{rows}"
    if (folder / "_SUCCESS").exists():
        return folder
    import numpy as np

    from anon_ops.data import ADULT_CSV
    from anon_ops.io import read_csv_text

    adult = read_csv_text(ADULT_CSV, sep=";")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for part, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        size = min(ROWS_PER_FILE, rows - start)
        picks = np.random.default_rng([SEED, part]).integers(0, len(adult), size)
        adult.iloc[picks].to_parquet(folder / f"part-{part:05d}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")  # skipped by the readers (a name starting with _)
    print(f"generated {rows:,} rows into {folder}", file=sys.stderr)
    return folder


def job_config(source: Path, target: Path, n_qis: int, backend: str) -> dict[str, Any]:
    """ARX's hierarchies on the first ``n_qis`` Adult columns (the others insensitive), k=5, 5 %."""
    from anon_ops.data import ADULT_QIS, adult_hierarchy

    attributes = [{"name": c, "type": "quasi_identifier",
                   "hierarchy": {"type": "file", "name": str(adult_hierarchy(c))}} for c in ADULT_QIS[:n_qis]]
    attributes += [{"name": c, "type": "insensitive"} for c in ADULT_QIS[n_qis:]]
    return {
        "source": {"type": "file", "file": {"name": str(source)}},
        "target": {"type": "file", "file": {"name": str(target)}},
        "attributes": attributes,
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 5}}],
        "max_suppression": 0.05,
        "metric": {"name": "loss"},
        "additional_properties": {"seed": OUTPUT_SEED, "single_file": "no"},
        "execution": {"backend": "dask" if backend == "dask" else "pandas"},
    }


# =========================================================================== the child
def child(backend: str, rows: int, n_qis: int, threads: bool) -> None:
    """One measured run (in its own process); prints one JSON line."""
    from anon_ops.config import JobConfig

    source = dataset(rows)
    target = DATA_DIR / f"out-{os.getpid()}.parquet"
    config = JobConfig.load(job_config(source, target, n_qis, backend))
    started = time.perf_counter()
    facts: dict[str, Any] = {}
    try:
        if backend == "size":
            from anon_ops.io import read_table

            df = read_table(config.source)  # type: ignore[arg-type]
            facts["pandas_bytes"] = int(df.memory_usage(deep=True).sum())
            # the same table with Python str objects (pandas < 3, or future.infer_string off)
            head = df.iloc[:ROWS_PER_FILE].astype(object)
            facts["object_bytes"] = int(head.memory_usage(deep=True).sum() * len(df) / max(len(head), 1))
            facts["parquet_bytes"] = sum(p.stat().st_size for p in source.glob("*.parquet"))
        elif backend == "pandas":
            from anon_ops.engine.anonymizer import anonymize
            from anon_ops.io import read_table, write_table

            df = read_table(config.source)  # type: ignore[arg-type]
            facts["read_s"] = time.perf_counter() - started
            result = anonymize(df, config)
            facts["anonymize_s"] = time.perf_counter() - started - facts["read_s"]
            write_table(result.data, config.target, single_file="no")  # type: ignore[arg-type]
            statistics = result.statistics
        else:
            from anon_ops.engine.distributed import anonymize_distributed, dask_client

            with dask_client(config, processes=not threads) as client:
                facts["cluster_s"] = time.perf_counter() - started
                result = anonymize_distributed(config.source, config, target=config.target,  # type: ignore[arg-type]
                                               client=client)
            statistics = result.statistics
        if backend != "size":
            facts.update(transformation=statistics["transformation"], rows_out=statistics["rows"]["output"],
                         suppressed=statistics["rows"]["suppressed"], loss=statistics["information_loss"]["value"],
                         search_s=statistics["search"]["seconds"], checked=statistics["search"]["checked"])
    finally:
        shutil.rmtree(target, ignore_errors=True)
    facts["seconds_inside"] = time.perf_counter() - started
    print("RESULT " + json.dumps(facts))


# =========================================================================== measuring
@dataclass
class Run:
    backend: str
    rows: int
    n_qis: int
    wall_s: float
    maxrss_gib: float
    tree_peak_gib: float
    facts: dict[str, Any]


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(backend: str, rows: int, n_qis: int, threads: bool = False) -> Run:
    """Run one child and measure it alone (wall clock, ru_maxrss, sampled process-tree RSS)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", backend, str(rows), str(n_qis)]
    if threads:
        command.append("--threads")
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=REPO_DIR)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.1):
            peak = max(peak, _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read().decode() if proc.stdout is not None else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{backend} {rows} rows {n_qis} QIs failed (exit {os.waitstatus_to_exitcode(status)})")
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    maxrss = usage.ru_maxrss * RSS_UNIT / GIB
    return Run(backend + ("-threads" if threads else ""), rows, n_qis, wall, maxrss, max(peak / GIB, maxrss),
               json.loads(line.removeprefix("RESULT ")))


# =========================================================================== the tables
def print_table(title: str, runs: list[Run], sizes: dict[int, float]) -> None:
    print(f"\n{title}")
    print("| backend | rows | QIs | wall s | peak RSS GiB (process tree) | max one process GiB | data in pandas GiB "
          "| transformation (levels) | rows suppressed | loss |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in runs:
        levels = ",".join(str(v) for v in r.facts.get("transformation", {}).values())
        print(f"| {r.backend} | {r.rows:,} | {r.n_qis} | {r.wall_s:.1f} | {r.tree_peak_gib:.2f} | {r.maxrss_gib:.2f} "
              f"| {sizes.get(r.rows, float('nan')):.2f} | {levels} | {r.facts.get('suppressed', 0):,} "
              f"| {r.facts.get('loss', float('nan')):.6f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, metavar=("BACKEND", "ROWS", "QIS"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="rows of the row-growth series")
    parser.add_argument("--qi-rows", type=int, default=1_000_000, help="rows of the QI-growth series (3/6/9 QIs)")
    parser.add_argument("--pandas-max-rows", type=int, default=1_000_000,
                        help="largest table run in-process (10 M rows in pandas needs well over 10 GB)")
    parser.add_argument("--skip-qis", action="store_true", help="skip the 3/6/9 QI series")
    parser.add_argument("--threads-too", action="store_true", help="also run Dask with a threads-only LocalCluster")
    parser.add_argument("--json", type=Path, help="also save every run as JSON")
    args = parser.parse_args(argv)
    if args.child:
        backend, rows, n_qis = args.child
        child(backend, int(rows), int(n_qis), args.threads)
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"# {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, {sys.version.split()[0]}", flush=True)
    for rows in sorted(set([*sizes, args.qi_rows])):
        dataset(rows)
    sized = {rows: measure("size", rows, 9).facts for rows in sorted(set(sizes))}
    data_size = {rows: facts["pandas_bytes"] / GIB for rows, facts in sized.items()}
    runs: list[Run] = []
    for rows in sizes:
        backends = ["pandas"] if rows <= args.pandas_max_rows else []
        backends.append("dask")
        for backend in backends:
            runs.append(measure(backend, rows, 9))
            print(f"  {backend:6} {rows:>10,} rows 9 QIs: {runs[-1].wall_s:7.1f} s, "
                  f"peak {runs[-1].tree_peak_gib:.2f} GiB", flush=True)
        if args.threads_too:
            runs.append(measure("dask", rows, 9, threads=True))
    print_table("Growth with rows (9 QIs, k=5, 5 % suppression, loss)", runs, data_size)
    largest = max(sizes)
    on_dask = next((r for r in runs if r.backend == "dask" and r.rows == largest), None)
    in_pandas = next((r for r in runs if r.backend == "pandas" and r.rows == largest), None)
    if on_dask is not None:
        print(f"\nmust hold — {largest:,} rows x 9 QIs, k=5, 5 % suppression on Dask: "
              f"completed in {on_dask.wall_s:.1f} s, peak {on_dask.tree_peak_gib:.2f} GiB (all processes); "
              "the table in pandas: "
              f"{data_size[largest]:.2f} GiB with Arrow strings, {sized[largest]['object_bytes'] / GIB:.2f} GiB with "
              "str objects" + (f"; pandas in-process peak {in_pandas.tree_peak_gib:.2f} GiB" if in_pandas else ""))
    qi_runs: list[Run] = []
    if not args.skip_qis:
        for n_qis in (3, 6, 9):
            for backend in ("pandas", "dask"):
                done = next((r for r in runs if r.backend == backend and r.rows == args.qi_rows and r.n_qis == n_qis),
                            None)
                qi_runs.append(done or measure(backend, args.qi_rows, n_qis))
                print(f"  {backend:6} {args.qi_rows:>10,} rows {n_qis} QIs: {qi_runs[-1].wall_s:7.1f} s", flush=True)
        print_table(f"Growth with QIs ({args.qi_rows:,} rows)", qi_runs, data_size)
    if args.json:
        args.json.write_text(json.dumps({"data": sized, "runs": [asdict(r) for r in runs + qi_runs]}, indent=1))
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RSS_UNIT / GIB
    print(f"\n(benchmark driver itself: {peak_self:.2f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
