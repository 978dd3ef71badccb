"""An independent brute-force reference for the optimal full-domain generalization.

Written straight from the definitions in the spec (``shared/spec/metrics.md`` beside the repository) with plain
Python: no code of ``anon_ops`` is imported. It enumerates every level vector of the lattice,
generalizes the rows, groups them into equivalence classes, suppresses the classes that violate a
privacy model, decides validity (suppressed records ≤ floor(s·N)), computes the information loss
and picks the optimum with the tie rule (loss within 1e-9 → smaller lattice level → the
lexicographically smaller level vector).

Inputs use the job-configuration vocabulary (privacy models and metric as the dicts of
``privacy_models`` / ``metric``), so a test can feed one description to both this module and the
engine. Hierarchies are tree mappings ``leaf -> [level 1, ..., top]``.

Where a rational computation is cheap (Loss, Precision, the suppression limit, t-closeness EMDs) it
is done exactly with ``fractions.Fraction``; logarithms are computed in floating point.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import pandas as pd

TOLERANCE = 1e-9
"""Loss comparison tolerance (metrics.md: 'compare losses with a 1e-9 tolerance')."""

MODEL_TOLERANCE = 1e-9
"""Slack for floating-point thresholds of entropy l-diversity (ln l) and t-closeness (t)."""

Tree = Mapping[str, Sequence[str]]


# --------------------------------------------------------------------------- hierarchies
def height(tree: Tree) -> int:
    return len(next(iter(tree.values())))


def generalize(tree: Tree, value: str, level: int) -> str:
    """The value of leaf ``value`` at ``level`` (level 0 is the leaf itself)."""
    return value if level == 0 else tree[value][level - 1]


def leaves_below(tree: Tree, level: int) -> Counter[str]:
    """Number of hierarchy leaves under each value of ``level``."""
    return Counter(generalize(tree, leaf, level) for leaf in tree)


def floor10(x: float | Fraction) -> float:
    """Round down to 10 decimals (exact for a Fraction)."""
    if isinstance(x, Fraction):
        return float(Fraction(math.floor(x * 10**10), 10**10))
    return math.floor(x * 1e10) / 1e10


def gs_factors(gs_factor: float) -> tuple[Fraction, Fraction]:
    """(g_f, s_f) as metrics.md defines them, exactly."""
    g = Fraction(str(gs_factor))
    s_f = 2 * g if g < Fraction(1, 2) else Fraction(1)
    g_f = Fraction(1) if g <= Fraction(1, 2) else 1 - 2 * (g - Fraction(1, 2))
    return g_f, s_f


# --------------------------------------------------------------------------- privacy models
def _counts(values: Sequence[str]) -> list[int]:
    return sorted(Counter(values).values(), reverse=True)


def _sensitive_order(values: Sequence[str]) -> list[str]:
    """Order of an attribute's values for the ordered distance: numeric when every value is a number."""
    distinct = sorted(set(values))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def _scaled_diff(cls: Sequence[str], table: Sequence[str], domain: Sequence[str]) -> dict[str, int]:
    """(p_s − q_s)·|E|·N per value s, as integers: p_s = c_s/|E|, q_s = Q_s/N."""
    p, q = Counter(cls), Counter(table)
    return {s: p[s] * len(table) - q[s] * len(cls) for s in domain}


def emd_equal(cls: Sequence[str], table: Sequence[str]) -> Fraction:
    """½ Σ_s |p_s − q_s| over the values s of the whole table."""
    diff = _scaled_diff(cls, table, sorted(set(table)))
    return Fraction(sum(abs(d) for d in diff.values()), 2 * len(cls) * len(table))


def emd_ordered(cls: Sequence[str], table: Sequence[str]) -> Fraction:
    """(1/(m−1)) Σ_i |Σ_{j≤i} (p_j − q_j)| over the m values of the table in their order."""
    order = _sensitive_order(table)
    m = len(order)
    if m < 2:
        return Fraction(0)
    diff = _scaled_diff(cls, table, order)
    running, total = 0, 0
    for s in order:
        running += diff[s]
        total += abs(running)
    return Fraction(total, (m - 1) * len(cls) * len(table))


def emd_hierarchical(cls: Sequence[str], table: Sequence[str], tree: Tree) -> Fraction:
    """Σ over inner nodes n at level ℓ of (ℓ/H)·min(extra⁺(n), extra⁻(n)); a child's extra is the net
    (p − q) of the leaves below it (flows inside the child are settled first)."""
    h = height(tree)
    diff = _scaled_diff(cls, table, list(tree))
    cost = Fraction(0)
    for level in range(1, h + 1):
        net_of_child: dict[str, int] = defaultdict(int)
        parent_of_child: dict[str, str] = {}
        for leaf, d in diff.items():
            child = generalize(tree, leaf, level - 1)
            net_of_child[child] += d
            parent_of_child[child] = generalize(tree, leaf, level)
        positive: dict[str, int] = defaultdict(int)
        negative: dict[str, int] = defaultdict(int)
        for child, net in net_of_child.items():
            parent = parent_of_child[child]
            if net > 0:
                positive[parent] += net
            else:
                negative[parent] -= net
        for parent in set(parent_of_child.values()):
            cost += Fraction(level, h) * min(positive[parent], negative[parent])
    return cost / (len(cls) * len(table))


def satisfies(model: Mapping[str, Any], rows: Sequence[int], columns: Mapping[str, Sequence[str]],
              sensitive_trees: Mapping[str, Tree]) -> bool:
    """Does the class made of ``rows`` satisfy one privacy model (metrics.md, 'Privacy models')?
    ``columns`` holds the whole input's sensitive columns (the table distribution of t-closeness)."""
    kind, params = model["model_type"], model["params"]
    if kind == "k-anonymity":
        return len(rows) >= params["k"]
    attribute = params["attribute"]
    column = columns[attribute]
    values = [column[r] for r in rows]
    if kind == "l-diversity":
        kind_l = params.get("diversity_type", "distinct")
        l_value = params["l"]
        counts = _counts(values)
        if kind_l == "distinct":
            return len(counts) >= l_value
        if kind_l == "entropy":
            entropy = -sum((c / len(values)) * math.log(c / len(values)) for c in counts)
            return len(counts) >= math.ceil(l_value) and entropy >= math.log(l_value) - MODEL_TOLERANCE
        if kind_l == "recursive":
            l_int = int(l_value)
            if len(counts) < l_int:
                return False
            return Fraction(counts[0]) < Fraction(str(params["c"])) * sum(counts[l_int - 1:])
        raise ValueError(f"unknown l-diversity type {kind_l}")
    if kind == "t-closeness":
        distance = params.get("distance_metric", "equal")
        if distance == "equal":
            emd = emd_equal(values, column)
        elif distance == "ordered":
            emd = emd_ordered(values, column)
        else:
            emd = emd_hierarchical(values, column, sensitive_trees[attribute])
        return float(emd) <= params["t"] + MODEL_TOLERANCE
    raise ValueError(f"model {kind} is not covered by the brute force")


# --------------------------------------------------------------------------- one transformation
@dataclass
class Node:
    """One transformation: its classes, which are suppressed, validity and loss (None if invalid)."""

    levels: tuple[int, ...]
    classes: dict[tuple[str, ...], list[int]]
    suppressed: set[tuple[str, ...]]
    suppressed_records: int
    valid: bool
    loss: float | None = None
    row_values: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def lattice_level(self) -> int:
        return sum(self.levels)


class BruteForce:
    """Everything about one anonymization problem, evaluated node by node without shortcuts."""

    def __init__(
        self,
        df: pd.DataFrame,
        hierarchies: Mapping[str, Tree],
        privacy_models: Sequence[Mapping[str, Any]],
        max_suppression: float,
        metric: Mapping[str, Any],
        sensitive_trees: Mapping[str, Tree] | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.df = df.reset_index(drop=True)
        self.qis = list(hierarchies)
        self.trees = dict(hierarchies)
        self.weights = [float((weights or {}).get(q, 1.0)) for q in self.qis]
        self.models = list(privacy_models)
        self.sensitive_trees = dict(sensitive_trees or {})
        self.n = len(self.df)
        self.max_outliers = math.floor(Fraction(str(max_suppression)) * self.n)
        self.metric_name = metric.get("name", "loss")
        params = metric.get("params", {})
        self.g_f, self.s_f = gs_factors(params.get("gs_factor", 0.5))
        self.monotonic = bool(params.get("monotonic", False))
        self.columns = {q: self.df[q].astype(str).tolist() for q in self.qis}
        self.sensitive_columns = {
            m["params"]["attribute"]: self.df[m["params"]["attribute"]].astype(str).tolist()
            for m in self.models if "attribute" in m["params"]
        }
        self.heights = [height(self.trees[q]) for q in self.qis]
        self.domain = [len(self.trees[q]) for q in self.qis]
        self.below = [[leaves_below(self.trees[q], lv) for lv in range(h + 1)]
                      for q, h in zip(self.qis, self.heights, strict=True)]
        # generalized[i][lv]: column of QI i at level lv
        self.generalized = [[[generalize(self.trees[q], v, lv) for v in self.columns[q]] for lv in range(h + 1)]
                            for q, h in zip(self.qis, self.heights, strict=True)]

    # ------------------------------------------------------------------ lattice
    def lattice(self) -> list[tuple[int, ...]]:
        return list(itertools.product(*(range(h + 1) for h in self.heights)))

    def evaluate(self, levels: Sequence[int]) -> Node:
        levels = tuple(levels)
        row_values = list(zip(*(self.generalized[i][lv] for i, lv in enumerate(levels)), strict=True))
        classes: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for r, key in enumerate(row_values):
            classes[key].append(r)
        suppressed = {
            key for key, rows in classes.items()
            if not all(satisfies(m, rows, self.sensitive_columns, self.sensitive_trees) for m in self.models)
        }
        n_supp = sum(len(classes[key]) for key in suppressed)
        node = Node(levels, dict(classes), suppressed, n_supp, n_supp <= self.max_outliers, row_values=row_values)
        if node.valid:
            node.loss = self.loss(node)
        return node

    def solve(self) -> tuple[Node | None, list[Node]]:
        """(the optimum or None when no node is valid, every node of the lattice)."""
        nodes = [self.evaluate(levels) for levels in self.lattice()]
        valid = [node for node in nodes if node.valid]
        if not valid:
            return None, nodes
        best_loss = min(node.loss for node in valid if node.loss is not None)
        near = [node for node in valid if node.loss is not None and node.loss <= best_loss + TOLERANCE]
        return min(near, key=lambda node: (node.lattice_level, node.levels)), nodes

    # ------------------------------------------------------------------ published table
    def uninformative(self, node: Node) -> set[tuple[str, ...]]:
        """Non-suppressed classes generalized to the top value of every QI (metrics.md: reported as
        suppressed). With full-domain generalization that is every class of the all-top node."""
        at_top = all(lv == len(self.below[i]) - 1 for i, lv in enumerate(node.levels))
        return {key for key in node.classes if key not in node.suppressed} if at_top else set()

    def published(self, node: Node, suppression_char: str = "*") -> pd.DataFrame:
        """The output table in input order: generalized QIs, '*' in every QI of a suppressed record."""
        out = self.df.copy()
        for i, q in enumerate(self.qis):
            out[q] = [
                suppression_char if key in node.suppressed else key[i] for key in node.row_values
            ]
        return out

    # ------------------------------------------------------------------ metrics
    def loss(self, node: Node) -> float:
        name = self.metric_name
        if name == "loss":
            return self._loss(node)
        if name == "discernibility":
            return self._discernibility(node)
        if name == "entropy":
            return self._entropy(node)
        if name == "aecs":
            kept = sum(1 for key in node.classes if key not in node.suppressed)
            return self.n / (kept + (1 if node.suppressed_records else 0))
        if name == "precision":
            return self._precision(node)
        if name == "height":
            return float(sum(node.levels))
        if name == "ambiguity":
            return self._ambiguity(node)
        if name == "kl":
            return self._kl(node)
        raise ValueError(f"unknown metric {name}")

    def _loss(self, node: Node) -> float:
        values = []
        for i, lv in enumerate(node.levels):
            domain = self.domain[i]
            total = Fraction(0)
            for key, rows in node.classes.items():
                share = Fraction(self.below[i][lv][key[i]], domain)
                if key in node.suppressed:  # ARX: share + s_f·(1 − share) per suppressed record
                    total += len(rows) * (share + self.s_f * (1 - share))
                else:
                    total += len(rows) * self.g_f * share
            minimum = self.g_f * Fraction(self.n, domain)
            span = self.n - minimum
            normalized = (total - minimum) / span if span > 0 else Fraction(0)
            values.append(floor10(max(normalized, Fraction(0))))
        product = math.prod(w * v + 1.0 for w, v in zip(self.weights, values, strict=True))
        return product ** (1.0 / len(values)) - 1.0

    def _discernibility(self, node: Node) -> float:
        total = 0
        for key, rows in node.classes.items():
            if key in node.suppressed and not self.monotonic:
                total += self.n * len(rows)
            else:
                total += len(rows) ** 2
        return float(total)

    def _entropy(self, node: Node) -> float:
        supp_rows = [r for key in node.suppressed for r in node.classes[key]]
        total = 0.0
        for i, q in enumerate(self.qis):
            original = Counter(self.columns[q])
            general = Counter(row[i] for row in node.row_values)
            pairs = Counter((self.columns[q][r], node.row_values[r][i]) for r in range(self.n))
            # Σ over records −log2 P(original | generalized) = Σ log2(#generalized / #original)
            value = math.fsum(count * math.log2(general[g] / original[o]) for (o, g), count in pairs.items())
            if supp_rows and not self.monotonic:
                c = Counter(node.row_values[r][i] for r in supp_rows)
                n_supp = len(supp_rows)
                value += math.fsum(cw * math.log2(n_supp / cw) for cw in c.values()) * float(self.s_f)
            total += floor10(value)
        return total

    def _precision(self, node: Node) -> float:
        n_supp = node.suppressed_records
        n_kept = self.n - n_supp
        values = [
            floor10((n_kept * Fraction(lv, h) * self.g_f + n_supp * self.s_f) / self.n)
            for lv, h in zip(node.levels, self.heights, strict=True)
        ]
        return sum(values) / len(values)

    def _ambiguity(self, node: Node) -> float:
        full = math.prod(self.domain)
        total = 0
        for key, rows in node.classes.items():
            if key in node.suppressed:
                total += len(rows) * full
            else:
                total += len(rows) * math.prod(self.below[i][lv][key[i]] for i, lv in enumerate(node.levels))
        return float(total)

    def _kl(self, node: Node) -> float:
        """Σ over the distinct input QI tuples r of p(r)·log2(p(r)/q(r))."""
        tuples = Counter(tuple(self.columns[q][r] for q in self.qis) for r in range(self.n))
        first_row: dict[tuple[str, ...], int] = {}
        for r in range(self.n):
            first_row.setdefault(tuple(self.columns[q][r] for q in self.qis), r)
        full = math.prod(self.domain)
        total = 0.0
        for original, count in tuples.items():
            key = node.row_values[first_row[original]]
            if key in node.suppressed:
                size, spread = node.suppressed_records, full
            else:
                size = len(node.classes[key])
                spread = math.prod(self.below[i][lv][key[i]] for i, lv in enumerate(node.levels))
            p = count / self.n
            q = (size / self.n) / spread
            total += p * math.log2(p / q)
        return total
