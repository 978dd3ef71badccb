"""The search for the optimal full-domain generalization under a suppression limit.

``Checker`` evaluates one transformation (node): it rolls the frequency set up from the most
specific cached node below it, groups it into equivalence classes, applies the privacy models and
the metric. ``optimal_search`` visits the lattice best-first by the metric's lower bound (or
bottom-up when a metric has none), tags whole regions with the monotone models (an invalid node
makes all its specializations invalid), prunes generalizations of a valid node where the metric is
monotone, and stops once no unvisited node can beat the best one. Ties: equal loss (±1e-9) → the
smaller lattice level wins, then the lexicographically smaller level vector.
For lattices too large to enumerate, ``greedy_search`` descends from the top within a time budget.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from anon_ops.engine.criteria import ClassTable, Criterion
from anon_ops.engine.encoding import EncodedData
from anon_ops.engine.frequency import FrequencySet, aggregate
from anon_ops.engine.metrics import Evaluation, InformationLoss
from anon_ops.errors import AbortedError

log = logging.getLogger(__name__)

TOLERANCE = 1e-9
_PINNED = np.iinfo(np.int64).max
Progress = Callable[[float], None]
AbortCheck = Callable[[], bool]


@dataclass
class NodeCheck:
    """The outcome of checking one transformation."""

    levels: tuple[int, ...]
    valid: bool
    monotone_valid: bool
    outliers: int
    loss: float | None
    table: ClassTable
    outlier: np.ndarray  # per class
    generalization_bound: float | None = None  # lower bound of the loss of every generalization


class RollupCache:
    """Frequency sets of checked nodes, kept in fixed slots so that finding the smallest cached
    specialization of a node is one vectorized comparison; least recently used slots are reused."""

    def __init__(self, n_qis: int, slots: int = 256, max_cells: int = 40_000_000) -> None:
        self.keys = np.full((slots, n_qis), np.iinfo(np.int64).max, dtype=np.int64)
        self.rows = np.zeros(slots, dtype=np.int64)
        self.used = np.zeros(slots, dtype=np.int64)
        self.sets: list[FrequencySet | None] = [None] * slots
        self.slot_of: dict[tuple[int, ...], int] = {}
        self.max_cells = max_cells
        self.cells = 0
        self.clock = 0

    def get(self, levels: tuple[int, ...]) -> FrequencySet | None:
        slot = self.slot_of.get(levels)
        if slot is None:
            return None
        self._touch(slot)
        return self.sets[slot]

    def smallest_below(self, levels: tuple[int, ...]) -> FrequencySet:
        below = np.flatnonzero((self.keys <= np.asarray(levels)).all(axis=1))
        slot = int(below[np.argmin(self.rows[below])])
        self._touch(slot)
        found = self.sets[slot]
        assert found is not None
        return found

    def _touch(self, slot: int) -> None:
        """Mark a slot recently used; a pinned slot (the base) keeps its never-evict stamp."""
        if self.used[slot] != _PINNED:
            self.clock += 1
            self.used[slot] = self.clock

    def put(self, fs: FrequencySet, pinned: bool = False) -> None:
        cells = fs.n_rows * (fs.qi.shape[1] + fs.extra.shape[1] + 2)
        if fs.levels in self.slot_of or (cells > self.max_cells and not pinned):
            return
        while True:
            free = np.flatnonzero(self.rows == 0)
            if (free.size and self.cells + cells <= self.max_cells) or (pinned and free.size):
                break
            evictable = np.flatnonzero((self.rows > 0) & (self.used != _PINNED))
            if not evictable.size:
                return
            self._evict(int(evictable[np.argmin(self.used[evictable])]))
        slot = int(free[0])
        self.keys[slot] = fs.levels
        self.rows[slot] = max(fs.n_rows, 1)
        self.clock += 1
        self.used[slot] = _PINNED if pinned else self.clock
        self.sets[slot] = fs
        self.slot_of[fs.levels] = slot
        self.cells += cells

    def _evict(self, slot: int) -> None:
        fs = self.sets[slot]
        assert fs is not None
        self.cells -= fs.n_rows * (fs.qi.shape[1] + fs.extra.shape[1] + 2)
        del self.slot_of[fs.levels]
        self.sets[slot] = None
        self.rows[slot] = 0
        self.keys[slot] = np.iinfo(np.int64).max


class Checker:
    """Checks transformations, reusing the class lists of already-checked, more specific ones."""

    def __init__(
        self,
        encoded: EncodedData,
        criteria: list[Criterion],
        metric: InformationLoss,
        max_outliers: int,
        cache: RollupCache | None = None,
        validity: dict[tuple[object, ...], dict[tuple[int, ...], bool]] | None = None,
    ) -> None:
        self.encoded = encoded
        self.monotone = [c for c in criteria if c.monotone]
        self.others = [c for c in criteria if not c.monotone]
        self.metric = metric
        self.max_outliers = max_outliers
        if cache is None:
            cache = RollupCache(len(encoded.qis))
        self.cache = cache
        self.cache.put(encoded.base, pinned=True)  # every node can roll up from the base
        # which nodes pass the monotone models depends only on them and the suppression limit:
        # configurations that differ in metric alone share these answers
        signature = (tuple(c.describe() for c in self.monotone), max_outliers)
        self._validity = (validity if validity is not None else {}).setdefault(signature, {})
        self.checked = 0

    @property
    def all_monotone(self) -> bool:
        return not self.others

    def frequency_set(self, levels: tuple[int, ...]) -> FrequencySet:
        """The frequency set at ``levels``, rolled up from the smallest cached specialization."""
        cached = self.cache.get(levels)
        if cached is not None:
            return cached
        source = self.cache.smallest_below(levels)
        qi = source.qi.copy()
        for i, (a, b) in enumerate(zip(source.levels, levels, strict=True)):
            if a != b:
                qi[:, i] = self.encoded.qis[i].up_map(a, b)[source.qi[:, i]]
        rolled, _ = aggregate(levels, qi, source.extra, source.counts, source.pcounts,
                              self.encoded.radices(levels), self.encoded.extra_radices)
        self.cache.put(rolled)
        return rolled

    def classes(self, levels: tuple[int, ...]) -> ClassTable:
        return ClassTable.from_frequency_set(self.frequency_set(levels), self.encoded.radices(levels))

    def monotone_valid(self, levels: tuple[int, ...]) -> bool:
        """Only the monotone models: does this node suppress few enough records for them?"""
        if not self.monotone:
            return True
        known = self._validity.get(levels)
        if known is not None:
            return known
        self.checked += 1
        table = self.classes(levels)
        outlier = np.zeros(table.n_classes, dtype=bool)
        for criterion in self.monotone:
            outlier |= criterion.failing(table)
        valid = int(table.sizes[outlier].sum()) <= self.max_outliers
        self._validity[levels] = valid
        return valid

    def check(self, levels: tuple[int, ...]) -> NodeCheck:
        self.checked += 1
        table = self.classes(levels)
        outlier = np.zeros(table.n_classes, dtype=bool)
        for criterion in self.monotone:
            outlier |= criterion.failing(table)
        outliers = int(table.sizes[outlier].sum())
        if outliers > self.max_outliers:
            return NodeCheck(levels, False, False, outliers, None, table, outlier)
        for criterion in self.others:
            outlier |= criterion.failing(table)
        outliers = int(table.sizes[outlier].sum())
        valid = outliers <= self.max_outliers
        evaluation = Evaluation(levels, table, outlier)
        loss = self.metric.evaluate(evaluation) if valid else None
        return NodeCheck(levels, valid, True, outliers, loss, table, outlier,
                         self.metric.generalization_bound(evaluation))


@dataclass
class SearchResult:
    levels: tuple[int, ...] | None
    loss: float | None
    algorithm: str
    lattice_size: int
    checked: int
    seconds: float


def lattice_nodes(heights: list[int]) -> np.ndarray:
    """Every level vector of the lattice, in lexicographic order (rows)."""
    dims = [h + 1 for h in heights]
    grids = np.indices(dims, dtype=np.int16).reshape(len(dims), -1)
    return grids.T.copy()


def _better(loss: float, level: int, index: int, best: tuple[float, int, int] | None) -> bool:
    if best is None:
        return True
    best_loss, best_level, best_index = best
    if loss < best_loss - TOLERANCE:
        return True
    if loss > best_loss + TOLERANCE:
        return False
    return (level, index) < (best_level, best_index)


def optimal_search(
    checker: Checker,
    heights: list[int],
    progress: Progress | None = None,
    should_abort: AbortCheck | None = None,
) -> SearchResult:
    """The exact optimum over the whole lattice (see the module docstring)."""
    started = time.perf_counter()
    nodes = lattice_nodes(heights)
    size = len(nodes)
    dims = np.array(heights, dtype=np.int64) + 1
    strides = np.array([math.prod(int(d) for d in dims[i + 1:]) for i in range(len(dims))], dtype=np.int64)
    level = nodes.sum(axis=1, dtype=np.int64)
    index = np.arange(size)
    metric = checker.metric
    bounds = metric.lower_bounds(nodes)
    order = np.lexsort((index, level, bounds)) if bounds is not None else np.lexsort((index, level))
    learnt = np.full(size, -np.inf)  # lower bounds learnt from checked specializations
    invalid = np.zeros(size, dtype=bool)  # fails the monotone models: so do all its specializations
    known_valid = np.zeros(size, dtype=bool)  # passes them: so do all its generalizations
    dominated = np.zeros(size, dtype=bool)
    prune_up = metric.monotone and (checker.max_outliers == 0 or metric.ignores_suppression)

    # at_most[i][v]: nodes whose level in QI i is ≤ v (and at_least likewise): region masks are ANDs
    at_most = [[nodes[:, i] <= v for v in range(h + 1)] for i, h in enumerate(heights)]
    at_least = [[nodes[:, i] >= v for v in range(h + 1)] for i, h in enumerate(heights)]

    def specializations(n: int) -> np.ndarray:
        return np.logical_and.reduce([at_most[i][v] for i, v in enumerate(nodes[n])])

    def generalizations(n: int) -> np.ndarray:
        return np.logical_and.reduce([at_least[i][v] for i, v in enumerate(nodes[n])])

    def tag_invalid(n: int) -> None:
        invalid[specializations(n)] = True

    def tag_valid(n: int) -> None:
        known_valid[generalizations(n)] = True

    def upward_path(n: int) -> list[int]:
        """Flash's binary phase path: climb through successors of unknown validity."""
        path = [n]
        current = n
        while True:
            step = next((current + int(strides[i]) for i in np.argsort(nodes[current] / dims, kind="stable")
                         if nodes[current, i] + 1 < dims[i]
                         and not known_valid[current + int(strides[i])]), None)
            if step is None:
                return path
            path.append(step)
            current = step

    def classify(n: int) -> None:
        path = upward_path(n)
        low, high = 0, len(path) - 1
        while low <= high:
            mid = (low + high) // 2
            node = path[mid]
            if checker.monotone_valid(tuple(int(x) for x in nodes[node])):
                tag_valid(node)
                high = mid - 1
            else:
                tag_invalid(node)
                low = mid + 1

    best: tuple[float, int, int] | None = None
    for position, n in enumerate(order):
        if should_abort is not None and should_abort():
            raise AbortedError("search aborted")
        if progress is not None and position % 64 == 0:
            progress(position / size)
        if best is not None and bounds is not None:
            if bounds[n] > best[0] + TOLERANCE:
                break
            if bounds[n] >= best[0] - TOLERANCE and (level[n], n) > best[1:]:
                continue
        if invalid[n] or dominated[n]:
            continue
        if best is not None and (learnt[n] > best[0] + TOLERANCE
                                 or (learnt[n] >= best[0] - TOLERANCE and (level[n], n) > best[1:])):
            continue
        if checker.monotone and not known_valid[n]:
            classify(int(n))
            if invalid[n]:
                continue
        result = checker.check(tuple(int(x) for x in nodes[n]))
        if result.generalization_bound is not None:
            region = generalizations(int(n))
            learnt[region] = np.maximum(learnt[region], result.generalization_bound)
        if not result.valid:
            continue
        if prune_up:
            dominated |= generalizations(int(n))
        assert result.loss is not None
        if _better(result.loss, int(level[n]), int(n), best):
            best = (result.loss, int(level[n]), int(n))
    if progress is not None:
        progress(1.0)
    seconds = time.perf_counter() - started
    if best is None:
        return SearchResult(None, None, "optimal", size, checker.checked, seconds)
    return SearchResult(tuple(int(x) for x in nodes[best[2]]), best[0], "optimal", size, checker.checked, seconds)


def greedy_search(
    checker: Checker,
    heights: list[int],
    time_budget: float,
    progress: Progress | None = None,
    should_abort: AbortCheck | None = None,
) -> SearchResult:
    """Heuristic for huge lattices: start at the top and repeatedly move to the best valid
    specialization (one QI one level down) while that lowers the loss, within a time budget."""
    started = time.perf_counter()
    size = math.prod(h + 1 for h in heights)
    current = tuple(heights)
    top = checker.check(current)
    if not top.valid:
        return SearchResult(None, None, "greedy-top-down", size, checker.checked, time.perf_counter() - started)
    best_loss = top.loss
    assert best_loss is not None
    steps, max_steps = 0, sum(heights)
    while time.perf_counter() - started < time_budget:
        if should_abort is not None and should_abort():
            raise AbortedError("search aborted")
        candidates = []
        for i, lv in enumerate(current):
            if lv == 0:
                continue
            child = (*current[:i], lv - 1, *current[i + 1:])
            result = checker.check(child)
            if result.valid and result.loss is not None:
                candidates.append((result.loss, sum(child), child))
            if time.perf_counter() - started >= time_budget:
                break
        if not candidates:
            break
        loss, _, child = min(candidates)
        if loss > best_loss + TOLERANCE:
            break
        current, best_loss = child, loss
        steps += 1
        if progress is not None:
            progress(min(steps / max(max_steps, 1), 1.0))
    if progress is not None:
        progress(1.0)
    return SearchResult(current, best_loss, "greedy-top-down", size, checker.checked, time.perf_counter() - started)
