"""Benchmark of the anon-ops engine: search time, whole-process time and memory on the Adult data.

Run ``python bench/bench_engine.py`` (``--help`` for the options); it prints tables of measured
numbers to stdout. See ``bench/README.md`` for what each case measures.

Cases
  1. Adult, 9 QIs, k=5, 0 % suppression, loss — in-process ``anonymize()``.
  2. Adult, 9 QIs, k=5, 5 % suppression, loss — in-process (target: search ≤ 1 s).
  3. Case 2 with the other metrics, and with l-diversity / t-closeness on ``occupation``.
  4. The whole ``anon-ops anonymize`` process on the demo job (target: wall ≤ 2 s).
  5. Adult resampled to 1 M rows, k=100, 5 % suppression, loss — whole run in a subprocess
     (targets: wall ≤ 15 s, peak RSS ≤ 3 GB) and the time of each stage.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from anon_ops.data import ADULT_CSV, ADULT_JOB, ADULT_QIS, adult_hierarchy
from anon_ops.engine.anonymizer import anonymize
from anon_ops.io import read_csv_text

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"  # git-ignored
#: Bytecode cache of the child processes (``PYTHONPYCACHEPREFIX``), kept out of the source tree.
PYCACHE_DIR = DATA_DIR / "pycache"
LARGE_SEED = 20_240_601
LARGE_K = 100
SENSITIVE = "occupation"
#: Fixed shuffle seed so repeated runs do identical work.
OUTPUT_SEED = 1
#: ``ru_maxrss`` unit: kilobytes on Linux, bytes on macOS.
RSS_UNIT = 1 if sys.platform == "darwin" else 1024
#: anonymizer-module functions timed by the stage worker, and the stage each one is counted in.
STAGE_HOOKS: dict[str, str] = {
    "encode": "encode",
    "build_criteria": "setup (criteria, metric, checker)",
    "build_metric": "setup (criteria, metric, checker)",
    "Checker": "setup (criteria, metric, checker)",
    "optimal_search": "search",
    "greedy_search": "search",
    "_outcome": "final grouping (_outcome)",
    "_publish": "publish: output table",
    "source_risk": "statistics: risk",
    "risk_statistics": "statistics: risk",
    "utility_statistics": "statistics: utility",
    "exploratory_statistics": "statistics: exploratory",
}


# =========================================================================== job configurations
def job_config(
    *,
    k: int = 5,
    suppression: float = 0.05,
    metric: str = "loss",
    sensitive: str | None = None,
    extra_models: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A job on the Adult columns: every column a QI with ARX's hierarchy, except ``sensitive``."""
    attributes: list[dict[str, Any]] = []
    for column in ADULT_QIS:
        if column == sensitive:
            attributes.append({"name": column, "type": "sensitive"})
        else:
            attributes.append({"name": column, "type": "quasi_identifier",
                               "hierarchy": {"type": "file", "name": str(adult_hierarchy(column))}})
    return {
        "attributes": attributes,
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": k}}, *extra_models],
        "max_suppression": suppression,
        "metric": {"name": metric},
        "additional_properties": {"seed": OUTPUT_SEED},
    }


@dataclass(frozen=True)
class Case:
    """One in-process benchmark case: a label and the job configuration it runs."""

    key: str
    label: str
    config: dict[str, Any]
    target_search_seconds: float | None = None


def in_process_cases() -> list[Case]:
    """Cases 1–3: everything run through ``anonymize()`` on the shipped Adult table."""
    cases = [
        Case("1", "k=5, 0% supp, loss", job_config(suppression=0.0)),
        Case("2", "k=5, 5% supp, loss", job_config(), target_search_seconds=1.0),
    ]
    for metric in ("entropy", "discernibility", "aecs", "precision", "height", "ambiguity"):
        cases.append(Case(f"3-{metric}", f"k=5, 5% supp, {metric}", job_config(metric=metric)))
    diversity = [("distinct", 2), ("entropy", 2)]
    for kind, ell in diversity:
        model = {"model_type": "l-diversity", "params": {"l": ell, "diversity_type": kind, "attribute": SENSITIVE}}
        cases.append(Case(f"3-{kind}-l", f"k=5 + {kind}-{ell}-div(occ), 8 QIs, 5%, loss",
                          job_config(sensitive=SENSITIVE, extra_models=[model])))
    closeness = {"model_type": "t-closeness", "params": {"t": 0.2, "distance_metric": "equal", "attribute": SENSITIVE}}
    cases.append(Case("3-t-close", "k=5 + equal-0.2-close(occ), 8 QIs, 5%, loss",
                      job_config(sensitive=SENSITIVE, extra_models=[closeness])))
    return cases


# =========================================================================== in-process runs
@dataclass
class InProcessResult:
    """Repeated ``anonymize()`` runs of one case."""

    key: str
    label: str
    runs: int
    search_seconds: list[float]
    total_seconds: list[float]
    checked: int
    lattice_size: int
    loss: float
    classes: int
    transformation: dict[str, int]
    target_search_seconds: float | None
    consistent: bool = True


def run_in_process(df: pd.DataFrame, case: Case, repeat: int) -> InProcessResult:
    """Run ``anonymize(df, case.config)`` ``repeat`` times and collect its search facts."""
    searches: list[float] = []
    totals: list[float] = []
    outcomes: set[tuple[int, float, str]] = set()
    stats: dict[str, Any] = {}
    for _ in range(repeat):
        started = time.perf_counter()
        result = anonymize(df, case.config)
        totals.append(time.perf_counter() - started)
        stats = result.statistics
        searches.append(float(stats["search"]["seconds"]))
        outcomes.add((int(stats["search"]["checked"]), round(float(stats["information_loss"]["value"]), 12),
                      json.dumps(result.transformation, sort_keys=True)))
    return InProcessResult(
        key=case.key, label=case.label, runs=repeat, search_seconds=searches, total_seconds=totals,
        checked=int(stats["search"]["checked"]), lattice_size=int(stats["search"]["lattice_size"]),
        loss=float(stats["information_loss"]["value"]), classes=int(stats["equivalence_classes"]),
        transformation=dict(stats["transformation"]), target_search_seconds=case.target_search_seconds,
        consistent=len(outcomes) == 1,
    )


# =========================================================================== subprocess runs
@dataclass
class ProcessRun:
    """Wall clock and peak resident memory of one child process."""

    wall_seconds: float
    max_rss_bytes: int
    returncode: int
    stderr: str


def child_env(bytecode_cache: bool) -> dict[str, str]:
    """Environment of a child process: as inherited, or with a writable bytecode cache.

    Without ``.pyc`` files (``PYTHONDONTWRITEBYTECODE`` set and none shipped in site-packages),
    every process compiles pandas & co. from source: seconds of start-up that a normal install
    (pip compiles bytecode) does not pay. The cache lives in ``bench/data/pycache``."""
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE_DIR)
    return env


IMPORTS = "import anon_ops.cli, anon_ops.engine.anonymizer, anon_ops.io"


def warm_bytecode_cache() -> None:
    """Fill ``bench/data/pycache`` by importing what the CLI imports, once."""
    subprocess.run([sys.executable, "-c", IMPORTS], env=child_env(True), cwd=REPO_DIR, check=True)


def run_process(cmd: Sequence[str], cwd: Path = REPO_DIR, bytecode_cache: bool = True) -> ProcessRun:
    """Run ``cmd`` and measure it alone: ``os.wait4`` gives this child's own ``ru_maxrss``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=out, stderr=err, env=child_env(bytecode_cache))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{stderr}")
    return ProcessRun(wall, usage.ru_maxrss * RSS_UNIT, proc.returncode, stderr)


def anon_ops_command() -> list[str]:
    """The ``anon-ops`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "anon-ops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "anon_ops.cli"]


@dataclass
class CliResult:
    """Repeated whole-process ``anon-ops anonymize`` runs."""

    label: str
    runs: list[ProcessRun]
    checked: int | None
    search_seconds: float | None
    target_wall_seconds: float | None = None
    target_rss_bytes: int | None = None


def run_cli(label: str, job: Path, repeat: int, *, bytecode_cache: bool = True, target_wall: float | None = None,
            target_rss: int | None = None) -> CliResult:
    """``anon-ops anonymize JOB --output … --stats … -q``, ``repeat`` times, each a fresh process."""
    runs: list[ProcessRun] = []
    stats: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="anon-ops-bench-") as tmp:
        out, stats_path = Path(tmp) / "out.csv", Path(tmp) / "s.json"
        for _ in range(repeat):
            runs.append(run_process([*anon_ops_command(), "anonymize", str(job), "--output", str(out),
                                     "--stats", str(stats_path), "-q", "--seed", str(OUTPUT_SEED)],
                                    bytecode_cache=bytecode_cache))
            stats = json.loads(stats_path.read_text(encoding="utf-8"))
    return CliResult(label, runs, int(stats["search"]["checked"]), float(stats["search"]["seconds"]),
                     target_wall, target_rss)


def run_imports(label: str, repeat: int, bytecode_cache: bool) -> CliResult:
    """Start-up alone: a fresh interpreter importing what ``anon-ops anonymize`` imports."""
    runs = [run_process([sys.executable, "-c", IMPORTS], bytecode_cache=bytecode_cache) for _ in range(repeat)]
    return CliResult(label, runs, None, None)


# =========================================================================== 1 M rows
def large_csv(rows: int) -> tuple[Path, float]:
    """Adult resampled with replacement to ``rows`` rows (fixed seed), written once and reused.

    Returns the path and the seconds spent generating it (0 when it already existed)."""
    path = DATA_DIR / f"adult_{rows}_seed{LARGE_SEED}.csv"
    if path.exists():
        return path, 0.0
    started = time.perf_counter()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    adult = read_csv_text(ADULT_CSV, sep=";")
    picks = np.random.default_rng(LARGE_SEED).integers(0, len(adult), size=rows)
    tmp = path.with_name(f".{path.name}.tmp")
    adult.iloc[picks].to_csv(tmp, sep=";", index=False)
    os.replace(tmp, path)
    return path, time.perf_counter() - started


def large_job(data: Path, rows: int) -> Path:
    """A job YAML for the large table: the demo job's attributes, with k=100."""
    config = job_config(k=LARGE_K)
    config["source"] = {"type": "file", "file": {"name": str(data), "props": {"sep": ";"}}}
    config["target"] = {"type": "file", "file": {"name": str(DATA_DIR / "large_out.csv")}}
    path = DATA_DIR / f"adult_{rows}_job.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class StageClock:
    """Exclusive wall time per stage: a nested stage pauses its parent, so the stages add up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss: dict[str, int] = {}
        self._stack: list[list[Any]] = []  # [name, start of its current slice]

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        now = time.perf_counter()
        if self._stack:
            parent = self._stack[-1]
            self.seconds[parent[0]] += now - parent[1]
        self.seconds.setdefault(name, 0.0)
        self._stack.append([name, now])
        try:
            yield
        finally:
            end = time.perf_counter()
            self.seconds[name] += end - self._stack.pop()[1]
            if self._stack:
                self._stack[-1][1] = end
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RSS_UNIT
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` timed as stage ``name``."""

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return function(*args, **kwargs)

        return timed


def stage_worker(job: Path, out_json: Path, profile_path: Path | None) -> None:
    """Child process of case 5: what ``anon-ops anonymize`` does, with each stage timed."""
    from anon_ops.cli import write_json_atomic
    from anon_ops.config import DataStore, FileStore, JobConfig
    from anon_ops.engine import anonymizer
    from anon_ops.io import read_table, write_table

    clock = StageClock()
    profiler = cProfile.Profile() if profile_path else None
    if profiler is None:  # a profiled run is not split into stages: no wrapper frames in its profile
        for attribute, stage in STAGE_HOOKS.items():
            if hasattr(anonymizer, attribute):
                setattr(anonymizer, attribute, clock.wrap(stage, getattr(anonymizer, attribute)))
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    with tempfile.TemporaryDirectory(prefix="anon-ops-bench-") as tmp:
        with clock.stage("read"):
            config = JobConfig.load(str(job))
            assert config.source is not None
            df = read_table(config.source, config.resolve_path)
        with clock.stage("anonymize(): config, checks, rest"):
            result = anonymizer.anonymize(df, config)
        with clock.stage("write output"):
            target = DataStore(type="file", file=FileStore(name=str(Path(tmp) / "out.csv")))
            write_table(result.data, target, single_file=config.additional_properties.single_file == "yes")
        with clock.stage("write statistics"):
            write_json_atomic(Path(tmp) / "s.json", result.statistics)
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile_path))
    report = {
        "seconds": time.perf_counter() - started,
        "rows": len(df),
        "stages": [{"stage": name, "seconds": seconds, "peak_rss_bytes": clock.peak_rss[name]}
                   for name, seconds in clock.seconds.items()],
        "search": result.statistics["search"],
        "information_loss": result.statistics["information_loss"],
        "equivalence_classes": result.statistics["equivalence_classes"],
        "transformation": result.statistics["transformation"],
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RSS_UNIT,
    }
    out_json.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")


@dataclass
class StagedRun:
    """The stage worker's report plus what the parent measured of that child."""

    process: ProcessRun
    report: dict[str, Any]


def run_stage_worker(job: Path, profile_path: Path | None = None) -> StagedRun:
    """Run :func:`stage_worker` in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="anon-ops-bench-") as tmp:
        out = Path(tmp) / "stages.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--stage-worker", str(job), "--worker-out", str(out)]
        if profile_path is not None:
            cmd += ["--worker-profile", str(profile_path)]
        process = run_process(cmd)
        return StagedRun(process, json.loads(out.read_text(encoding="utf-8")))


# =========================================================================== profiles
def profile_entries(stats: pstats.Stats, sort: str, limit: int, only: str = "") -> list[dict[str, Any]]:
    """The top ``limit`` functions of a profile by ``tottime`` or ``cumtime``, optionally only those
    whose file name contains ``only``."""
    rows = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if only not in filename:
            continue
        rows.append({"function": f"{short_path(filename)}:{line}({name})", "ncalls": ncalls,
                     "tottime": tottime, "cumtime": cumtime})
    rows.sort(key=lambda row: row[sort], reverse=True)
    return rows[:limit]


def short_path(filename: str) -> str:
    """A file name without the repository or site-packages prefix."""
    for marker in ("site-packages/", f"{REPO_DIR}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def profile_in_process(df: pd.DataFrame, case: Case) -> pstats.Stats:
    """cProfile of one ``anonymize()`` run of ``case``."""
    profiler = cProfile.Profile()
    profiler.runcall(anonymize, df, case.config)
    return pstats.Stats(profiler)


# =========================================================================== printing
def fmt_s(values: Sequence[float]) -> str:
    """Median / min of a list of seconds."""
    return f"{statistics.median(values):.3f} / {min(values):.3f}"


def fmt_bytes(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"≤ {target:g}: {'ok' if value <= target else 'MISSED'}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table; the first column is left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def print_in_process(results: Sequence[InProcessResult]) -> None:
    headers = ["case", "runs", "search s med/min", "anonymize() s med/min", "checked", "lattice", "loss",
               "classes", "target (search s)"]
    rows = []
    for r in results:
        note = "" if r.consistent else " (runs differ!)"
        rows.append([f"{r.key} {r.label}", r.runs, fmt_s(r.search_seconds), fmt_s(r.total_seconds),
                     f"{r.checked}{note}", r.lattice_size, f"{r.loss:.6g}", r.classes,
                     verdict(statistics.median(r.search_seconds), r.target_search_seconds)])
    print("\nIn-process anonymize() on Adult (30,162 rows); median / min over the runs")
    print(table(headers, rows))


def print_processes(results: Sequence[CliResult]) -> None:
    headers = ["case", "runs", "wall s med/min", "search s", "checked", "peak RSS (max)", "target wall",
               "target RSS"]
    rows = []
    for r in results:
        walls = [run.wall_seconds for run in r.runs]
        rss = max(run.max_rss_bytes for run in r.runs)
        rss_note = "" if r.target_rss_bytes is None else f"≤ {fmt_bytes(r.target_rss_bytes)}: " + (
            "ok" if rss <= r.target_rss_bytes else "MISSED")
        search = "" if r.search_seconds is None else f"{r.search_seconds:.3f}"
        rows.append([r.label, len(r.runs), fmt_s(walls), search, r.checked or "", fmt_bytes(rss),
                     verdict(statistics.median(walls), r.target_wall_seconds), rss_note])
    print("\nWhole process: `anon-ops anonymize` in a subprocess (wall clock incl. interpreter start-up)")
    print(table(headers, rows))


def print_stages(staged: StagedRun) -> None:
    report = staged.report
    total_wall = staged.process.wall_seconds
    inside = sum(stage["seconds"] for stage in report["stages"])
    rows = [["start-up + imports + exit", f"{total_wall - inside:.3f}", f"{(total_wall - inside) / total_wall:.0%}",
             ""]]
    for stage in report["stages"]:
        rows.append([stage["stage"], f"{stage['seconds']:.3f}", f"{stage['seconds'] / total_wall:.0%}",
                     fmt_bytes(stage["peak_rss_bytes"])])
    rows.append(["total (subprocess wall)", f"{total_wall:.3f}", "100%", fmt_bytes(staged.process.max_rss_bytes)])
    search = report["search"]
    print(f"\nCase 5 stages ({report['rows']:,} rows, k={LARGE_K}, 5% supp, loss; {search['checked']} nodes checked, "
          f"{report['equivalence_classes']} classes, loss {report['information_loss']['value']:.6g})")
    print(table(["stage (exclusive time)", "seconds", "share", "peak RSS so far"], rows))


def print_profile(title: str, stats: pstats.Stats, limit: int) -> dict[str, Any]:
    by_tottime = profile_entries(stats, "tottime", limit)
    by_cumtime = profile_entries(stats, "cumtime", limit, only=f"{os.sep}anon_ops{os.sep}")
    for sort, entries in (("tottime", by_tottime), ("cumtime, anon_ops functions only", by_cumtime)):
        print(f"\nProfile of {title}: top {limit} by {sort}")
        print(table(["function", "ncalls", "tottime", "cumtime"],
                    [[e["function"], e["ncalls"], f"{e['tottime']:.3f}", f"{e['cumtime']:.3f}"] for e in entries]))
    return {"tottime": by_tottime, "cumtime": by_cumtime}


# =========================================================================== main
@dataclass
class Report:
    """Everything measured, as saved by ``--json``."""

    environment: dict[str, Any]
    in_process: list[dict[str, Any]] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, Any] | None = None
    profiles: dict[str, Any] = field(default_factory=dict)


def environment() -> dict[str, Any]:
    """Interpreter, library versions, machine and the repository commit."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_DIR, capture_output=True,
                                text=True, check=False).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_DIR,
                                 capture_output=True, text=True, check=False).stdout.strip()
        commit += " + uncommitted changes" if changed else ""
    except OSError:
        commit = ""
    return {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
            "platform": platform.platform(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
            "commit": commit, "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the anon-ops engine (prints a table of numbers).")
    parser.add_argument("--quick", action="store_true", help="skip the large (1 M row) case")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the large case (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each fast case (default 5)")
    parser.add_argument("--large-repeat", type=int, default=1, help="runs of the large case (default 1)")
    parser.add_argument("--only", help="comma-separated case keys to run, e.g. 1,2,4,5 or 3-entropy")
    parser.add_argument("--profile", action="store_true", help="also print cProfile top entries of cases 2 and 5")
    parser.add_argument("--profile-limit", type=int, default=20, help="entries per profile (default 20)")
    parser.add_argument("--json", type=Path, help="also save the results as JSON here")
    parser.add_argument("--stage-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-profile", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def selected(key: str, only: set[str] | None) -> bool:
    """Is case ``key`` selected by ``--only`` (``3`` selects every ``3-…`` case)?"""
    return only is None or key in only or key.split("-", 1)[0] in only


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stage_worker is not None:
        stage_worker(args.stage_worker, args.worker_out, args.worker_profile)
        return 0
    only = {part.strip() for part in args.only.split(",")} if args.only else None
    report = Report(environment())
    print(f"anon-ops engine benchmark — commit {report.environment['commit'] or '?'}, "
          f"Python {report.environment['python']}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"{os.cpu_count()} CPUs, load average {report.environment['load_average'][0]:.2f}")

    adult = read_csv_text(ADULT_CSV, sep=";")
    cases = [case for case in in_process_cases() if selected(case.key, only)]
    if cases:
        anonymize(adult, cases[0].config)  # warm-up: imports, numpy/pandas first-call costs
    results = []
    for case in cases:
        results.append(run_in_process(adult, case, args.repeat))
        print(f"  measured {case.key}: {case.label}", file=sys.stderr, flush=True)
    if results:
        print_in_process(results)
    report.in_process = [asdict(r) for r in results]

    processes: list[CliResult] = []
    if selected("4", only) or (not args.quick and selected("5", only)):
        warm_bytecode_cache()
    if selected("4", only):
        for cache, note in ((False, "env as is"), (True, "bytecode cached")):
            processes.append(run_imports(f"4 imports only ({note})", args.repeat, cache))
            processes.append(run_cli(f"4 demo job ({note})", ADULT_JOB, args.repeat, bytecode_cache=cache,
                                     target_wall=2.0))
    staged: StagedRun | None = None
    if not args.quick and selected("5", only):
        data, generated = large_csv(args.rows)
        if generated:
            print(f"  generated {data} in {generated:.1f} s", file=sys.stderr)
        job = large_job(data, args.rows)
        processes.append(run_cli(f"5 {args.rows:,} rows, k={LARGE_K}, 5% (bytecode cached)", job, args.large_repeat,
                                 target_wall=15.0, target_rss=3 * 2**30))
        staged = run_stage_worker(job)
    if processes:
        print_processes(processes)
    report.processes = [asdict(p) for p in processes]
    if staged is not None:
        print_stages(staged)
        report.stages = {"process": asdict(staged.process), **staged.report}

    if args.profile:
        case2 = next(case for case in in_process_cases() if case.key == "2")
        report.profiles["case 2"] = print_profile("case 2 (in-process anonymize())",
                                                  profile_in_process(adult, case2), args.profile_limit)
        if not args.quick and selected("5", only):
            with tempfile.TemporaryDirectory(prefix="anon-ops-bench-") as tmp:
                path = Path(tmp) / "case5.prof"
                run_stage_worker(large_job(large_csv(args.rows)[0], args.rows), profile_path=path)
                report.profiles["case 5"] = print_profile("case 5 (whole run, in the stage worker)",
                                                          pstats.Stats(str(path)), args.profile_limit)

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(report), indent=2, default=float), encoding="utf-8")
        print(f"\nresults saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
