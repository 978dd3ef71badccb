"""Small typed helpers that build the job configuration's hierarchy models.

They exist so that ``e.quasi_identifier("age", hierarchy=Interval([5, 10, 20]))`` reads like the
YAML it stands for, and so that a typo is a ConfigError at the call rather than at submit. Each
returns the very model ``JobConfig`` holds, so nothing needs converting later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from anon_ops.config import (
    AutoHierarchy,
    DateHierarchy,
    FileHierarchy,
    HierarchySpec,
    IntervalHierarchy,
    MaskingHierarchy,
    TreeHierarchy,
    format_validation_error,
)
from anon_ops.errors import ConfigError

__all__ = ["Auto", "DateLevels", "HierarchyFile", "Interval", "Masking", "Tree", "as_hierarchy"]

M = TypeVar("M", bound=BaseModel)
DateLevel = Literal["month", "year", "decade"]

_HIERARCHY_TYPES: dict[str, type[BaseModel]] = {
    "file": FileHierarchy,
    "interval": IntervalHierarchy,
    "masking": MaskingHierarchy,
    "date": DateHierarchy,
    "tree": TreeHierarchy,
    "auto": AutoHierarchy,
}


def validated(model: type[M], data: Any, where: str) -> M:
    """Validate one piece of a configuration; the ConfigError names ``where`` and the field inside it."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = format_validation_error(exc).removeprefix("invalid configuration:\n  ").split("\n  ")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(f"{where}.{line}" for line in lines)) from None


def Interval(intervals: Sequence[float], start: float | None = None, top: str = "*") -> IntervalHierarchy:
    """Numeric bins whose width grows level by level, e.g. ``[5, 10, 20]``."""
    params: dict[str, Any] = {"intervals": list(intervals), "top": top}
    if start is not None:
        params["start"] = start
    return validated(IntervalHierarchy, {"type": "interval", "params": params}, "hierarchy")


def Masking(max_level: int | None = None, mask_char: str = "*") -> MaskingHierarchy:
    """Mask characters from the right, one more per level (zip codes, phone numbers)."""
    params: dict[str, Any] = {"mask_char": mask_char}
    if max_level is not None:
        params["max_level"] = max_level
    return validated(MaskingHierarchy, {"type": "masking", "params": params}, "hierarchy")


def HierarchyFile(path: str | Path, sep: str = ";", encoding: str = "utf-8") -> FileHierarchy:
    """An ARX hierarchy CSV. A local path is made absolute now: it means the caller's folder, not
    the folder of whatever configuration it is later saved in."""
    name = str(path)
    if "://" not in name:
        name = str(Path(name).expanduser().resolve())
    return validated(FileHierarchy, {"type": "file", "name": name, "props": {"sep": sep, "encoding": encoding}},
                     "hierarchy")


def Tree(mapping: Mapping[str, Sequence[str]]) -> TreeHierarchy:
    """An inline hierarchy: each leaf → its generalizations, most specific first, top last."""
    tree = {str(leaf): [str(g) for g in generalizations] for leaf, generalizations in mapping.items()}
    return validated(TreeHierarchy, {"type": "tree", "params": {"mapping": tree}}, "hierarchy")


def DateLevels(levels: Sequence[DateLevel] = ("month", "year", "decade"), format: str | None = None) -> DateHierarchy:
    """Dates generalized to month, year, decade (or a subsequence of those)."""
    params: dict[str, Any] = {"levels": list(levels)}
    if format is not None:
        params["format"] = format
    return validated(DateHierarchy, {"type": "date", "params": params}, "hierarchy")


def Auto(max_levels: int = 4) -> AutoHierarchy:
    """Let the engine build a hierarchy from the values (intervals for numbers, masking for codes…)."""
    return validated(AutoHierarchy, {"type": "auto", "params": {"max_levels": max_levels}}, "hierarchy")


def as_hierarchy(value: HierarchySpec | Mapping[str, Any] | str | Path, where: str = "hierarchy") -> HierarchySpec:
    """Accept a helper's model, the configuration's dict form, or a path (an ARX file)."""
    if isinstance(value, tuple(_HIERARCHY_TYPES.values())):
        return value  # type: ignore[return-value]
    if isinstance(value, str | Path):
        return HierarchyFile(value)
    if isinstance(value, Mapping):
        kind = value.get("type")
        model = _HIERARCHY_TYPES.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise ConfigError(f"{where}.type: expected one of {sorted(_HIERARCHY_TYPES)}, got {kind!r}")
        return validated(model, dict(value), where)  # type: ignore[return-value]
    raise ConfigError(f"{where}: expected a hierarchy dict, a helper such as Interval(...), or a file path; "
                      f"got {type(value).__name__}")

