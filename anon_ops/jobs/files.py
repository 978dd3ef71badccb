"""The files of one job in the runtime's home, written atomically (temporary name, then rename)."""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class JobFiles:
    folder: Path

    @property
    def input(self) -> Path:
        return self.folder / "input.table"

    @property
    def result(self) -> Path:
        return self.folder / "result.table"

    @property
    def statistics(self) -> Path:
        return self.folder / "statistics.json"


def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_frame(df: pd.DataFrame, path: Path) -> None:
    """Parquet when the columns allow it (portable, compact); a pickle for mixed-type columns."""

    def write(tmp: str) -> None:
        try:
            df.to_parquet(tmp, index=False)
        except (pa.ArrowException, TypeError, ValueError):
            with open(tmp, "wb") as out:
                out.write(b"PKL1")
                pickle.dump(df.reset_index(drop=True), out, protocol=pickle.HIGHEST_PROTOCOL)

    _atomic(path, write)


def read_frame(path: Path) -> pd.DataFrame:
    with open(path, "rb") as handle:
        if handle.read(4) == b"PKL1":
            return pickle.load(handle)
    return pd.read_parquet(path)


def write_json(path: Path, document: Any) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(document, out, default=_plain)

    _atomic(path, write)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
