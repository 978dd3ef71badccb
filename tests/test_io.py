"""Tests of anon_ops.io: round trips, separator sniffing, atomic output and error messages."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest
import sqlalchemy as sa

from anon_ops import io as aio
from anon_ops.config import DataStore, JobConfig
from anon_ops.errors import AnonOpsError, ConfigError, DataError
from anon_ops.io import read_csv_text, read_table, write_table

ADULT = Path(aio.__file__).parent / "data" / "adult" / "adult.csv"
ADULT_COLUMNS = [
    "sex", "age", "race", "marital-status", "education",
    "native-country", "workclass", "occupation", "salary-class",
]  # fmt: skip


def file_store(name: str | Path, **file: Any) -> DataStore:
    return DataStore(type="file", file={"name": str(name), **file})


def sql_store(url: str, table: str | None = None, query: str | None = None) -> DataStore:
    return DataStore(type="sql", sql={"url": url, "table": table, "query": query})


def text_frame() -> pd.DataFrame:
    """Values that a type-guessing reader would damage: leading zeros, 'NA', empty, separators."""
    return pd.DataFrame(
        {
            "zip": ["01234", "NA", "99999", ""],
            "age": ["39", "50", "", "7"],
            "note": ["a,b", "c;d", 'say "hi"', "null"],
        }
    )


def typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"zip": ["01234", "NA", "10115"], "n": [1, 2, 3], "x": [1.5, 2.25, -3.0], "flag": [True, False, True]}
    )


def leftovers(folder: Path) -> list[str]:
    """Temporary or aside names that atomic writing must never leave behind."""
    return sorted(p.name for p in folder.rglob("*") if ".tmp-" in p.name or ".old-" in p.name)


@pytest.fixture
def memory_root() -> Any:
    """A private folder in fsspec's process-wide memory filesystem, removed afterwards."""
    root = f"/anon-ops-test-{uuid.uuid4().hex}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


# =========================================================================== CSV as text, sniffing
def test_adult_sample_reads_as_text_with_semicolons_and_crlf() -> None:
    df = read_table(file_store(ADULT))
    assert df.shape == (30162, 9)
    assert list(df.columns) == ADULT_COLUMNS  # no "salary-class\r": CRLF handled
    assert all(isinstance(value, str) for value in df.to_numpy().ravel())
    assert df.iloc[0].tolist() == [
        "Male", "39", "White", "Never-married", "Bachelors",
        "United-States", "State-gov", "Adm-clerical", "<=50K",
    ]  # fmt: skip
    assert not df["salary-class"].str.endswith("\r").any()
    assert not df.isna().any().any()


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_separator_is_sniffed_from_the_header(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "data.csv"
    path.write_text(sep.join(["a", "b", "c"]) + "\n" + sep.join(["1", "x y", "003"]) + "\n", encoding="utf-8")
    df = read_table(file_store(path))
    assert list(df.columns) == ["a", "b", "c"]
    assert df.iloc[0].tolist() == ["1", "x y", "003"]


def test_sniffing_ignores_separators_inside_quotes(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('"last, first";"city, country"\n"Doe, J";"Rome, IT"\n', encoding="utf-8")
    df = read_csv_text(path)
    assert list(df.columns) == ["last, first", "city, country"]
    assert df.iloc[0].tolist() == ["Doe, J", "Rome, IT"]


def test_sniffing_falls_back_to_comma_for_a_single_column(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("zip\n01234\n", encoding="utf-8")
    assert read_csv_text(path)["zip"].tolist() == ["01234"]


def test_explicit_sep_overrides_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a;b,c\n1;2,3\n", encoding="utf-8")  # a sniffer would pick either; the user decides
    assert list(read_table(file_store(path, props={"sep": ","})).columns) == ["a;b", "c"]
    assert list(read_table(file_store(path, props={"sep": ";"})).columns) == ["a", "b,c"]


def test_csv_values_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("zip,code,empty\n01234,NA,\n00100,null,x\n", encoding="utf-8")
    df = read_csv_text(path)
    assert df.to_dict("list") == {"zip": ["01234", "00100"], "code": ["NA", "null"], "empty": ["", "x"]}


def test_read_csv_text_from_buffers_keeps_the_header() -> None:
    text = "a|b\n1|NA\n"
    assert read_csv_text(io.StringIO(text)).to_dict("list") == {"a": ["1"], "b": ["NA"]}
    assert read_csv_text(io.BytesIO(text.encode())).to_dict("list") == {"a": ["1"], "b": ["NA"]}


def test_read_csv_text_passes_other_props_to_pandas(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name;city\nJosé;Zürich\n".encode("latin-1"))
    df = read_table(file_store(path, props={"encoding": "latin-1"}))
    assert df.iloc[0].tolist() == ["José", "Zürich"]


# =========================================================================== file round trips
def test_csv_round_trip(tmp_path: Path) -> None:
    df = text_frame()
    target = tmp_path / "out" / "deep" / "t.csv"  # parent folders are created
    where = write_table(df, file_store(target))
    assert where == str(target)
    assert target.read_text(encoding="utf-8").splitlines()[0] == "zip,age,note"  # no index column
    pd.testing.assert_frame_equal(read_table(file_store(target)), df)


def test_csv_round_trip_with_a_written_separator(tmp_path: Path) -> None:
    df = text_frame()
    target = tmp_path / "t.csv"
    write_table(df, file_store(target, props={"sep": ";"}))
    assert target.read_text(encoding="utf-8").splitlines()[0] == "zip;age;note"
    pd.testing.assert_frame_equal(read_table(file_store(target)), df)  # sniffed back


def test_parquet_round_trip_keeps_types_and_drops_the_index(tmp_path: Path) -> None:
    df = typed_frame()
    df.index = [10, 20, 30]
    target = tmp_path / "t.parquet"
    write_table(df, file_store(target))
    back = read_table(file_store(target))
    assert list(back.columns) == ["zip", "n", "x", "flag"]
    assert back.index.tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True))


def test_json_round_trip_as_records(tmp_path: Path) -> None:
    df = typed_frame()
    target = tmp_path / "t.json"
    write_table(df, file_store(target))
    records = json.loads(target.read_text(encoding="utf-8"))
    assert records[0] == {"zip": "01234", "n": 1, "x": 1.5, "flag": True}
    back = read_table(file_store(target))
    assert back["zip"].tolist() == ["01234", "NA", "10115"]  # not turned into numbers or NaN
    pd.testing.assert_frame_equal(back, df)


def test_format_given_explicitly_wins_over_the_suffix(tmp_path: Path) -> None:
    df = typed_frame()
    target = tmp_path / "data.bin"
    write_table(df, file_store(target, format="parquet"))
    assert target.read_bytes()[:4] == b"PAR1"
    pd.testing.assert_frame_equal(read_table(file_store(target, format="parquet")), df)


def test_relative_names_are_resolved_with_the_job_configuration(tmp_path: Path) -> None:
    config = JobConfig.parse(
        {
            "source": {"type": "file", "file": {"name": "in/data.csv"}},
            "target": {"type": "file", "file": {"name": "out/data.parquet"}},
        },
        base_dir=tmp_path,
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("a;b\n1;2\n", encoding="utf-8")
    assert config.source is not None and config.target is not None
    df = read_table(config.source, config.resolve_path)
    where = write_table(df, config.target, config.resolve_path)
    assert where == str(tmp_path / "out" / "data.parquet")
    assert read_table(file_store(where)).to_dict("list") == {"a": ["1"], "b": ["2"]}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_part_files_round_trip(tmp_path: Path, fmt: str) -> None:
    df = text_frame()
    target = tmp_path / f"out.{fmt}"
    where = write_table(df, file_store(target, props={"rows_per_part": 3}), single_file=False)
    assert where == str(target)
    assert sorted(os.listdir(target)) == [f"part-00000.{fmt}", f"part-00001.{fmt}"]
    pd.testing.assert_frame_equal(read_table(file_store(target)), df)


def test_single_file_accepts_the_configuration_strings(tmp_path: Path) -> None:
    df = text_frame()
    write_table(df, file_store(tmp_path / "parts.csv"), single_file="no")
    write_table(df, file_store(tmp_path / "one.csv"), single_file="yes")
    assert (tmp_path / "parts.csv").is_dir()
    assert (tmp_path / "one.csv").is_file()
    with pytest.raises(ConfigError, match="single_file"):
        write_table(df, file_store(tmp_path / "x.csv"), single_file="maybe")


def test_parts_default_to_one_part_for_small_tables_and_an_empty_table_keeps_its_columns(
    tmp_path: Path,
) -> None:
    target = tmp_path / "empty"
    write_table(text_frame().iloc[0:0], file_store(target, format="parquet"), single_file=False)
    assert os.listdir(target) == ["part-00000.parquet"]
    back = read_table(file_store(target))  # format taken from the part files
    assert list(back.columns) == ["zip", "age", "note"]
    assert len(back) == 0


def test_parts_are_read_in_name_order_skipping_hidden_and_marker_files(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-00010.csv").write_text("v\nthird\n", encoding="utf-8")  # created first
    (folder / "part-00002.csv").write_text("v\nsecond\n", encoding="utf-8")
    (folder / "part-00001.csv").write_text("v\nfirst\n", encoding="utf-8")
    (folder / "_SUCCESS").write_text("", encoding="utf-8")
    (folder / ".part-00003.csv.tmp-abcd").write_text("v\nunfinished\n", encoding="utf-8")
    assert read_table(file_store(folder))["v"].tolist() == ["first", "second", "third"]
    assert read_table(file_store(folder / "part-0000*.csv"))["v"].tolist() == ["first", "second"]


def test_rewriting_parts_leaves_no_stale_parts(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    write_table(text_frame(), file_store(target, props={"rows_per_part": 1}), single_file=False)
    assert len(os.listdir(target)) == 4
    write_table(text_frame().head(2), file_store(target, props={"rows_per_part": 1}), single_file=False)
    assert sorted(os.listdir(target)) == ["part-00000.csv", "part-00001.csv"]
    assert read_table(file_store(target))["zip"].tolist() == ["01234", "NA"]
    assert leftovers(tmp_path) == []


def test_a_single_file_can_replace_a_folder_of_parts_and_back(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    write_table(typed_frame(), file_store(target), single_file=False)
    write_table(typed_frame().head(1), file_store(target), single_file=True)
    assert target.is_file()
    write_table(typed_frame(), file_store(target), single_file=False)
    assert target.is_dir()
    assert len(read_table(file_store(target))) == 3
    assert leftovers(tmp_path) == []


def test_parts_with_different_columns_are_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-00000.csv").write_text("a\n1\n", encoding="utf-8")
    (folder / "part-00001.csv").write_text("b\n2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"part .*part-00001\.csv has other columns"):
        read_table(file_store(folder))


# =========================================================================== fsspec URLs
@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_memory_url_round_trip(memory_root: str, fmt: str) -> None:
    df = text_frame()
    url = f"{memory_root}/sub/t.{fmt}"
    assert write_table(df, file_store(url)) == url
    pd.testing.assert_frame_equal(read_table(file_store(url)), df)
    fs = fsspec.filesystem("memory")
    assert [p for p in fs.find(memory_root.removeprefix("memory://")) if ".tmp-" in p] == []


def test_memory_url_parts_round_trip(memory_root: str) -> None:
    df = text_frame()
    url = f"{memory_root}/parts.parquet"
    write_table(df, file_store(url, props={"rows_per_part": 3}), single_file=False)
    fs = fsspec.filesystem("memory")
    names = [posix.rsplit("/", 1)[1] for posix in fs.find(url.removeprefix("memory://"))]
    assert names == ["part-00000.parquet", "part-00001.parquet"]
    pd.testing.assert_frame_equal(read_table(file_store(url)), df)
    write_table(df.head(1), file_store(url), single_file=False)  # replace: old parts go
    assert len(fs.find(url.removeprefix("memory://"))) == 1
    pd.testing.assert_frame_equal(read_table(file_store(url)), df.head(1))


def test_file_url_is_a_local_path(tmp_path: Path) -> None:
    df = text_frame()
    url = (tmp_path / "t.csv").as_uri()
    write_table(df, file_store(url))
    assert (tmp_path / "t.csv").is_file()
    pd.testing.assert_frame_equal(read_table(file_store(url)), df)


def test_unknown_url_protocol_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"source\.file\.name: cannot open nosuchfs://bucket/t\.csv"):
        read_table(file_store("nosuchfs://bucket/t.csv"))


def test_missing_memory_file_names_the_url(memory_root: str) -> None:
    with pytest.raises(DataError, match=r"file not found: memory://.*/missing\.csv"):
        read_table(file_store(f"{memory_root}/missing.csv"))


# =========================================================================== SQL (DuckDB)
def test_sql_round_trip_with_schema_and_replacement(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh' / 'warehouse.duckdb'}"  # the folder is created
    store = sql_store(url, table="raw.adult")
    adult = read_table(file_store(ADULT)).head(100)
    assert write_table(adult, store) == f"{url}#raw.adult"
    pd.testing.assert_frame_equal(read_table(store), adult)

    smaller = typed_frame()
    write_table(smaller, store)  # replaces the table, columns and all
    pd.testing.assert_frame_equal(read_table(store), smaller)

    query = sql_store(url, query="select zip, n from raw.adult where n >= 2 order by n")
    assert read_table(query).to_dict("list") == {"zip": ["NA", "10115"], "n": [2, 3]}

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names(schema="raw") == ["adult"]  # no temporary left
    finally:
        engine.dispose()


def test_sql_table_without_schema(tmp_path: Path) -> None:
    store = sql_store(f"duckdb:///{tmp_path / 'w.duckdb'}", table="people")
    write_table(text_frame(), store)
    pd.testing.assert_frame_equal(read_table(store), text_frame())


def test_duckdb_failure_during_write_keeps_the_old_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    store = sql_store(url, table="published.adult")
    old = typed_frame()
    write_table(old, store)
    real_connect = duckdb.connect

    class DiesBeforeTheSwap:
        """The temporary table is complete… and then the job dies before the rename."""

        def __init__(self, database: str) -> None:
            self.inner = real_connect(database)

        def execute(self, statement: str, *args: Any) -> Any:
            if statement.startswith("ALTER TABLE"):
                raise duckdb.IOException("disk gone")
            return self.inner.execute(statement, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    monkeypatch.setattr(duckdb, "connect", DiesBeforeTheSwap)
    with pytest.raises(DataError, match=r"target\.sql: cannot write table 'published\.adult'.*disk gone"):
        write_table(text_frame(), store)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(read_table(store), old)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names(schema="published") == ["adult"]
    finally:
        engine.dispose()


def test_sql_failure_during_write_keeps_the_old_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    store = sql_store(url, table="adult")
    old = typed_frame()
    write_table(old, store)

    original_to_sql = pd.DataFrame.to_sql

    def to_sql_then_fail(self: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        original_to_sql(self, *args, **kwargs)  # the temporary table is complete…
        raise RuntimeError("connection lost")  # …and then the job dies before the swap

    monkeypatch.setattr(pd.DataFrame, "to_sql", to_sql_then_fail)
    with pytest.raises(RuntimeError, match="connection lost"):
        write_table(text_frame(), store)
    monkeypatch.undo()

    pd.testing.assert_frame_equal(read_table(store), old.assign(flag=old["flag"].astype("int64")))  # SQLite: 0/1
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == ["adult"]
    finally:
        engine.dispose()


def test_sql_missing_table_names_the_table(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write_table(text_frame(), sql_store(url, table="raw.other"))
    with pytest.raises(DataError, match=r"source\.sql\.table: table 'raw\.adult' not found"):
        read_table(sql_store(url, table="raw.adult"))


def test_sql_missing_database_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nope.duckdb"
    with pytest.raises(DataError, match=r"database file not found: .*nope\.duckdb"):
        read_table(sql_store(f"duckdb:///{path}", table="t"))
    assert not path.exists()


def test_sql_bad_url_and_bad_query_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"source\.sql\.url: cannot use nosuchdialect://u:\*\*\*@h/db"):
        read_table(sql_store("nosuchdialect://u:secret@h/db", table="t"))
    with pytest.raises(DataError, match=r"source\.sql\.url"):
        read_table(sql_store("not a url", table="t"))
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write_table(text_frame(), sql_store(url, table="t"))
    with pytest.raises(DataError, match=r"source\.sql: cannot read query from duckdb:///"):
        read_table(sql_store(url, query="select * from no_such_table"))


def test_sql_target_needs_a_table_and_a_valid_name(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with pytest.raises(ConfigError, match=r"target\.sql\.table: writing needs a table"):
        write_table(text_frame(), sql_store(url, query="select 1"))
    with pytest.raises(ConfigError, match=r"target\.sql\.table: expected 'table' or 'schema\.table'"):
        write_table(text_frame(), sql_store(url, table="a.b.c"))


def test_importing_io_does_not_import_sqlalchemy() -> None:
    code = "import sys, anon_ops.io; print('sqlalchemy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# =========================================================================== inline
def test_inline_records_are_read() -> None:
    store = DataStore(type="inline", inline={"records": [{"a": "1", "b": 2}, {"a": "NA", "b": 3}]})
    assert read_table(store).to_dict("list") == {"a": ["1", "NA"], "b": [2, 3]}


def test_writing_inline_is_a_clear_error() -> None:
    store = DataStore(type="inline", inline={"records": []})
    with pytest.raises(ConfigError, match=r"target\.type: cannot write to 'inline'"):
        write_table(text_frame(), store)


# =========================================================================== atomic output
def _failing_writer(original_name: str, fail_on_call: int = 1) -> Any:
    """A DataFrame writer that writes some bytes to its target and then fails (disk full, kill…)."""
    calls = {"n": 0}
    original = getattr(pd.DataFrame, original_name)

    def writer(self: pd.DataFrame, target: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] < fail_on_call:
            return original(self, target, *args, **kwargs)
        Path(target).write_bytes(b"zip,age\n0123")  # half a file
        raise RuntimeError("writer died midway")

    return writer


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pd.DataFrame, "to_csv", _failing_writer("to_csv"))
    target = tmp_path / "out" / "t.csv"
    with pytest.raises(RuntimeError, match="writer died midway"):
        write_table(text_frame(), file_store(target))
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_write_keeps_the_existing_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "t.csv"
    write_table(text_frame(), file_store(target))
    before = target.read_bytes()
    monkeypatch.setattr(pd.DataFrame, "to_csv", _failing_writer("to_csv"))
    with pytest.raises(RuntimeError):
        write_table(text_frame().head(1), file_store(target))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_disk_errors_become_data_errors_and_clean_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(self: pd.DataFrame, target: Any, *args: Any, **kwargs: Any) -> None:
        Path(target).write_bytes(b"PAR1 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    target = tmp_path / "t.parquet"
    with pytest.raises(DataError, match=r"target\.file\.name: cannot write parquet to .*t\.parquet"):
        write_table(typed_frame(), file_store(target))
    assert list(tmp_path.iterdir()) == []


def test_failure_on_a_later_part_keeps_the_existing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.parquet"
    write_table(typed_frame(), file_store(target), single_file=False)
    before = sorted(os.listdir(target))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _failing_writer("to_parquet", fail_on_call=2))
    with pytest.raises(RuntimeError):
        write_table(typed_frame(), file_store(target, props={"rows_per_part": 1}), single_file=False)
    monkeypatch.undo()
    assert sorted(os.listdir(target)) == before
    pd.testing.assert_frame_equal(read_table(file_store(target)), typed_frame())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


def test_failed_memory_write_leaves_nothing(memory_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_then_fail(self: pd.DataFrame, target: Any, *args: Any, **kwargs: Any) -> None:
        target.write(b'[{"zip":')
        raise RuntimeError("killed")

    monkeypatch.setattr(pd.DataFrame, "to_json", half_then_fail)
    with pytest.raises(RuntimeError):
        write_table(text_frame(), file_store(f"{memory_root}/t.json"))
    fs = fsspec.filesystem("memory")
    assert fs.find(memory_root.removeprefix("memory://")) == []


# =========================================================================== error messages
def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"source\.file\.name: file not found: .*nope\.csv"):
        read_table(file_store(missing))
    with pytest.raises(DataError, match=r"file not found: .*nope\.csv"):
        read_csv_text(missing)


def test_empty_folder_and_unmatched_glob_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"folder .*empty has no part files"):
        read_table(file_store(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"pattern .*part-\*\.csv matches no files"):
        read_table(file_store(tmp_path / "part-*.csv"))


def test_unreadable_content_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"cannot read parquet from .*bad\.parquet"):
        read_table(file_store(bad))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"cannot read csv from .*empty\.csv"):
        read_table(file_store(empty))


def test_unknown_csv_option_names_the_props_field(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"source\.file\.props: unknown CSV reading option\(s\) \['sepp'\]"):
        read_table(file_store(path, props={"sepp": ";"}))
    with pytest.raises(AnonOpsError, match=r"source\.file\.props") as info:
        read_csv_text(path, bogus=1)
    assert not isinstance(info.value, TypeError)


def test_unknown_write_options_name_the_target_props(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"target\.file\.props: unknown CSV writing option\(s\) \['colour'\]"):
        write_table(text_frame(), file_store(tmp_path / "t.csv", props={"colour": "red"}))
    with pytest.raises(ConfigError, match=r"target\.file\.props: invalid option for writing parquet"):
        write_table(typed_frame(), file_store(tmp_path / "t.parquet", props={"colour": "red"}))
    with pytest.raises(ConfigError, match=r"target\.file\.props\.rows_per_part"):
        write_table(text_frame(), file_store(tmp_path / "p", props={"rows_per_part": 0}), single_file=False)
    assert list(tmp_path.iterdir()) == []


def test_parquet_read_option_errors_name_the_props_field(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    write_table(typed_frame(), file_store(target))
    with pytest.raises(ConfigError, match=r"source\.file\.props"):
        read_table(file_store(target, props={"colour": "red"}))
    assert read_table(file_store(target, props={"columns": ["zip"]})).columns.tolist() == ["zip"]


def test_where_prefixes_the_messages(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^privacy_models\.0\.params\.subset\.file\.name: file not found"):
        read_table(file_store(tmp_path / "subset.csv"), where="privacy_models.0.params.subset")


# =========================================================================== logging
def test_logs_say_what_happened_without_data_values(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    df = pd.DataFrame({"name": ["SECRET-VALUE-4711"], "zip": ["01234"]})
    caplog.set_level(logging.DEBUG, logger="anon_ops.io")
    target = tmp_path / "t.csv"
    write_table(df, file_store(target))
    read_table(file_store(target))
    messages = [r.getMessage() for r in caplog.records if r.name == "anon_ops.io"]
    assert any("wrote 1 rows x 2 columns" in m for m in messages)
    assert any("read 1 rows x 2 columns" in m for m in messages)
    assert not any("SECRET-VALUE-4711" in m or "01234" in m for m in messages)
