"""Reading and writing the tables of anonymization jobs: files (local or fsspec URLs), SQL, inline rows.

Two rules shape this module:

* CSV is read as text (``dtype=str, keep_default_na=False``): the engine matches values against
  hierarchy leaves as strings, so ``"01234"`` must not become ``1234`` nor ``"NA"`` become NaN.
* Output is never visible half-written: files and part folders are built under a temporary name in
  the target folder and renamed into place when complete; SQL tables are written to a temporary table
  and swapped in one transaction. A failed job leaves the previous output intact.

Every problem with a location (missing file or table, bad URL, unreadable content) raises
:class:`~anon_ops.errors.DataError`, and every bad option :class:`~anon_ops.errors.ConfigError`; both
name the configuration field and the path or table at fault.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import inspect
import io
import logging
import math
import os
import posixpath
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import pandas as pd

from anon_ops.config import DataStore, FileStore, InlineData, SqlStore
from anon_ops.errors import AnonOpsError, ConfigError, DataError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem
    from sqlalchemy.engine import Engine

__all__ = ["DEFAULT_ROWS_PER_PART", "SNIFF_SEPARATORS", "read_csv_text", "read_table", "write_table"]

logger = logging.getLogger(__name__)

#: Separators tried, in order of preference on a tie, when a CSV source gives no ``sep``.
SNIFF_SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")
#: Rows per part file when ``single_file`` is off and the props give no ``rows_per_part``.
DEFAULT_ROWS_PER_PART = 1_000_000

_HEADER_PEEK_BYTES = 1 << 16
_GLOB_CHARS = frozenset("*?[")
_FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
}
# Props that anon-ops itself consumes; they are never passed on to pandas.
_OWN_PROPS = ("rows_per_part", "storage_options")


# =========================================================================== public API
def read_table(store: DataStore, resolve_path: Callable[[str], str] = str, *, where: str = "source") -> pd.DataFrame:
    """Read the whole table a data store points to.

    ``resolve_path`` maps a relative local file name to a real path (``JobConfig.resolve_path``
    resolves it against the configuration's folder); URLs are used as they are. ``where`` is the
    configuration field of ``store`` and prefixes every error message.
    """
    if store.type == "inline":
        return _read_inline(_section(store.inline, where, "inline"))
    if store.type == "sql":
        return _read_sql(_section(store.sql, where, "sql"), where)
    return _read_file(_section(store.file, where, "file"), resolve_path, where)


def write_table(
    df: pd.DataFrame,
    store: DataStore,
    resolve_path: Callable[[str], str] = str,
    single_file: bool | str = True,
    *,
    where: str = "target",
) -> str:
    """Write ``df`` to a file, a folder of part files or a SQL table, atomically; return where it went.

    ``single_file`` is the configuration's ``additional_properties.single_file`` (a bool, or the
    ``"yes"``/``"no"`` of the configuration, so that ``"no"`` is never mistaken for true). When off,
    a file store's ``name`` becomes a folder of ``part-00000.<format>`` files of ``rows_per_part``
    rows each (a props entry, default one million). The returned location is the resolved path or
    URL, or for SQL ``<url without password>#<table>``.
    """
    single = _single_file_flag(single_file)
    if store.type == "inline":
        raise ConfigError(
            f"{where}.type: cannot write to 'inline' data; use a file or sql target "
            "(or no target to get the DataFrame back)"
        )
    if store.type == "sql":
        return _write_sql(df, _section(store.sql, where, "sql"), where)
    return _write_file(df, _section(store.file, where, "file"), resolve_path, single, where)


def read_csv_text(path_or_buffer: Any, sep: str | None = None, **props: Any) -> pd.DataFrame:
    """Read a CSV file, URL or buffer with every column as text (see the module docstring for why).

    Without ``sep`` the separator is sniffed from the header line among ``, ; \\t |``. ``props`` are
    passed on to :func:`pandas.read_csv`; an option pandas does not know is a ConfigError naming
    ``source.file.props`` rather than a bare TypeError.
    """
    display = _display_of(path_or_buffer)
    with _reading_errors("source", display, "csv"):
        return _read_csv(path_or_buffer, sep, dict(props), "source")


# =========================================================================== files: reading
def _read_file(file: FileStore, resolve_path: Callable[[str], str], where: str) -> pd.DataFrame:
    props = dict(file.props)
    storage_options = _storage_options(props, where)
    fs, path = _locate(file.name, resolve_path, storage_options, where)
    parts = _list_parts(fs, path, where)
    fmt = file.format or _format_of(path, parts[0])
    frames = [_read_part(fs, part, fmt, props, where) for part in parts]
    columns = list(frames[0].columns)
    for part, frame in zip(parts[1:], frames[1:], strict=True):
        if list(frame.columns) != columns:
            first, other = _display(fs, parts[0]), _display(fs, part)
            raise DataError(f"{where}.file.name: part {other} has other columns than {first}")
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    logger.info(
        "read %d rows x %d columns of %s from %s (%d part(s))",
        len(df),
        df.shape[1],
        fmt,
        _display(fs, path),
        len(parts),
    )
    return df


def _list_parts(fs: AbstractFileSystem | None, path: str, where: str) -> list[str]:
    """The files making up the table: the file itself, a folder's part files, or a glob's matches.

    Hidden and ``_``-prefixed names (temporaries, ``_SUCCESS`` markers) are skipped; parts are read
    in name order so that ``part-00000`` … comes back in the order it was written.
    """
    display = _display(fs, path)
    try:
        if fs is None:
            if os.path.isdir(path):
                names = sorted(os.listdir(path))
                parts = [os.path.join(path, n) for n in names if _is_part_name(n)]
                parts = [p for p in parts if os.path.isfile(p)]
                kind = "folder"
            elif os.path.isfile(path):
                return [path]
            elif _GLOB_CHARS & set(path):
                parts = sorted(p for p in glob.glob(path) if os.path.isfile(p) and _is_part_name(os.path.basename(p)))
                kind = "pattern"
            else:
                raise DataError(f"{where}.file.name: file not found: {display}")
        else:
            if fs.isdir(path):
                entries = fs.ls(path, detail=True)
                parts = sorted(e["name"] for e in entries if e.get("type") == "file")
                parts = [p for p in parts if _is_part_name(posixpath.basename(p))]
                kind = "folder"
            elif fs.isfile(path):
                return [path]
            elif _GLOB_CHARS & set(path):
                parts = sorted(p for p in fs.glob(path) if fs.isfile(p) and _is_part_name(posixpath.basename(p)))
                kind = "pattern"
            else:
                raise DataError(f"{where}.file.name: file not found: {display}")
    except AnonOpsError:
        raise
    except (OSError, ValueError) as exc:
        raise DataError(f"{where}.file.name: cannot list {display}: {exc}") from exc
    if not parts:
        what = "has no part files" if kind == "folder" else "matches no files"
        raise DataError(f"{where}.file.name: {kind} {display} {what}")
    return parts


def _read_part(fs: AbstractFileSystem | None, part: str, fmt: str, props: dict[str, Any], where: str) -> pd.DataFrame:
    """Read one file; a local path goes to pandas as is, a remote file as an fsspec handle."""
    display = _display(fs, part)
    with _reading_errors(where, display, fmt):
        if fs is None:
            return _READERS[fmt](part, props, where)
        with fs.open(part, "rb", compression="infer") as handle:
            return _READERS[fmt](handle, props, where)


def _read_csv_part(source: Any, props: dict[str, Any], where: str) -> pd.DataFrame:
    options = dict(props)
    sep = options.pop("sep", None)
    return _read_csv(source, sep, options, where)


def _read_csv(source: Any, sep: str | None, props: dict[str, Any], where: str) -> pd.DataFrame:
    props.pop("rows_per_part", None)  # a writing option; harmless when a target is read back
    # Explicit props win over the text defaults: a user who sets dtype or na_values means it.
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False, **props}
    _check_options(pd.read_csv, options, f"{where}.file.props", "CSV reading")
    if sep is None and options.get("delimiter") is None:
        source, header = _peek_header(source, options)
        sep = _sniff_separator(header, options.get("quotechar") or '"')
        logger.debug("sniffed CSV separator %r", sep)
    if sep is not None:
        options["sep"] = sep
    return pd.read_csv(source, **options)


def _read_parquet_part(source: Any, props: dict[str, Any], where: str) -> pd.DataFrame:
    options = {k: v for k, v in props.items() if k not in _OWN_PROPS}
    return pd.read_parquet(source, **{"engine": "pyarrow", **options})


def _read_json_part(source: Any, props: dict[str, Any], where: str) -> pd.DataFrame:
    # dtype off: pandas would otherwise turn "01234" into 1234 and "date" columns into timestamps
    # (pandas ≥ 3 includes date conversion in dtype); JSON's own types are kept as they are.
    options: dict[str, Any] = {"orient": "records", "dtype": False}
    if int(pd.__version__.split(".")[0]) < 3:
        options["convert_dates"] = False
    options.update({k: v for k, v in props.items() if k not in _OWN_PROPS})
    _check_options(pd.read_json, options, f"{where}.file.props", "JSON reading")
    return pd.read_json(source, **options)


_READERS: dict[str, Callable[[Any, dict[str, Any], str], pd.DataFrame]] = {
    "csv": _read_csv_part,
    "parquet": _read_parquet_part,
    "json": _read_json_part,
}


@contextlib.contextmanager
def _reading_errors(where: str, display: str, fmt: str) -> Iterator[None]:
    """Turn what pandas, pyarrow and fsspec raise into errors that name the field and the file."""
    try:
        yield
    except AnonOpsError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{where}.file.name: file not found: {display}") from exc
    except TypeError as exc:  # pandas/pyarrow reject an option (unknown keyword or wrong kind of value)
        raise ConfigError(f"{where}.file.props: invalid option for reading {fmt} from {display}: {exc}") from exc
    except (OSError, ValueError, NotImplementedError) as exc:  # ParserError, ArrowInvalid, decode errors…
        raise DataError(f"{where}.file.name: cannot read {fmt} from {display}: {_first_line(exc)}") from exc


# --------------------------------------------------------------------------- CSV sniffing
def _sniff_separator(header: str, quotechar: str) -> str:
    """The candidate separator occurring most often outside quotes; ',' when none occurs (one column)."""
    q = re.escape(quotechar)
    unquoted = re.sub(f"{q}[^{q}]*{q}", "", header)
    best = max(SNIFF_SEPARATORS, key=unquoted.count)  # max keeps the first candidate on a tie
    return best if unquoted.count(best) else ","


def _peek_header(source: Any, options: dict[str, Any]) -> tuple[Any, str]:
    """The first line of a CSV without consuming it; returns the source to read from afterwards."""
    encoding = options.get("encoding") or "utf-8"
    if hasattr(source, "read"):
        if _seekable(source):
            position = source.tell()
            line = source.readline(_HEADER_PEEK_BYTES)
            source.seek(position)
        else:  # a stream can be read only once: keep its content in memory
            content = source.read()
            source = io.BytesIO(content) if isinstance(content, bytes) else io.StringIO(content)
            line = source.readline(_HEADER_PEEK_BYTES)
            source.seek(0)
    else:
        import fsspec

        compression = options.get("compression", "infer")
        if isinstance(compression, dict):
            compression = compression.get("method", "infer")
        storage_options = options.get("storage_options") or {}
        with fsspec.open(os.fspath(source), "rb", compression=compression, **storage_options) as handle:
            line = handle.readline(_HEADER_PEEK_BYTES)
    if isinstance(line, bytes):
        line = line.decode(encoding, errors="replace")
    return source, line.lstrip("\ufeff")


def _seekable(handle: Any) -> bool:
    try:
        return bool(handle.seekable())
    except (AttributeError, OSError, ValueError):
        return False


# =========================================================================== files: writing
def _write_file(df: pd.DataFrame, file: FileStore, resolve_path: Callable[[str], str], single: bool, where: str) -> str:
    props = dict(file.props)
    rows_per_part = _rows_per_part(props.pop("rows_per_part", None), where)
    storage_options = _storage_options(props, where)
    fmt = file.resolved_format()
    fs, path = _locate(file.name, resolve_path, storage_options, where)
    path = path.rstrip("/") or path

    if single:

        def build(tmp: str) -> None:
            _write_part(df, fs, tmp, fmt, props, where, _display(fs, path))
    else:

        def build(tmp: str) -> None:
            # An empty table still gets one part: it carries the columns.
            count = max(1, math.ceil(len(df) / rows_per_part))
            for i in range(count):
                part = _join(fs, tmp, f"part-{i:05d}.{fmt}")
                chunk = df.iloc[i * rows_per_part : (i + 1) * rows_per_part]
                _write_part(chunk, fs, part, fmt, props, where, _display(fs, path))

    _atomic_write(fs, path, build, is_dir=not single, where=where)
    location = _display(fs, path)
    logger.info(
        "wrote %d rows x %d columns as %s to %s (%s)",
        len(df),
        df.shape[1],
        fmt,
        location,
        "single file" if single else "part files",
    )
    return location


def _write_part(
    df: pd.DataFrame,
    fs: AbstractFileSystem | None,
    target: str,
    fmt: str,
    props: dict[str, Any],
    where: str,
    display: str,
) -> None:
    try:
        if fs is None:
            _WRITERS[fmt](df, target, props, where)
        else:
            with fs.open(target, "wb") as handle:
                _WRITERS[fmt](df, handle, props, where)
    except AnonOpsError:
        raise
    except TypeError as exc:
        if "keyword argument" in str(exc):
            raise ConfigError(f"{where}.file.props: invalid option for writing {fmt}: {exc}") from exc
        raise DataError(f"{where}.file.name: cannot write {fmt} to {display}: {_first_line(exc)}") from exc
    except (OSError, ValueError, NotImplementedError) as exc:  # disk full, ArrowInvalid, …
        raise DataError(f"{where}.file.name: cannot write {fmt} to {display}: {_first_line(exc)}") from exc


def _write_csv(df: pd.DataFrame, target: Any, props: dict[str, Any], where: str) -> None:
    options = {**props, "index": False}
    _check_options(pd.DataFrame.to_csv, options, f"{where}.file.props", "CSV writing")
    df.to_csv(target, **options)


def _write_parquet(df: pd.DataFrame, target: Any, props: dict[str, Any], where: str) -> None:
    # The index is dropped: a shuffled or filtered frame's index would otherwise leak row positions.
    df.to_parquet(target, **{"engine": "pyarrow", **props, "index": False})


def _write_json(df: pd.DataFrame, target: Any, props: dict[str, Any], where: str) -> None:
    options = {"orient": "records", "date_format": "iso", **props}
    _check_options(pd.DataFrame.to_json, options, f"{where}.file.props", "JSON writing")
    df.to_json(target, **options)


_WRITERS: dict[str, Callable[[pd.DataFrame, Any, dict[str, Any], str], None]] = {
    "csv": _write_csv,
    "parquet": _write_parquet,
    "json": _write_json,
}


def _atomic_write(
    fs: AbstractFileSystem | None, path: str, build: Callable[[str], None], *, is_dir: bool, where: str
) -> None:
    """Build the output under a temporary name next to ``path``, then move it into place.

    On any exception (including KeyboardInterrupt) the temporary is removed and ``path`` is left as it
    was. Locally a file replaces a file with one atomic ``os.replace``; a folder (or a file replacing a
    folder) moves the old one aside first and back if the swap fails.
    """
    display = _display(fs, path)
    parent = posixpath.dirname(path) if fs is not None else os.path.dirname(os.path.abspath(path))
    name = posixpath.basename(path) if fs is not None else os.path.basename(path)
    tmp = _join(fs, parent, f".{name}.tmp-{secrets.token_hex(4)}")
    try:
        _makedirs(fs, parent)
        if is_dir:
            _makedirs(fs, tmp)
    except OSError as exc:
        raise DataError(f"{where}.file.name: cannot create the folder of {display}: {exc}") from exc
    try:
        build(tmp)
        _move_into_place(fs, tmp, path, parent, name, is_dir)
    except BaseException:
        _remove_quietly(fs, tmp)
        raise


def discard_partial_output(store: DataStore | None, resolve_path: Callable[[str], str] = str) -> int:
    """Remove what an interrupted write (a killed process) left beside a local target file: its
    hidden temporaries. The target itself is never touched. Returns how many were removed."""
    if store is None or store.type != "file" or store.file is None or "://" in store.file.name:
        return 0
    path = os.path.abspath(resolve_path(store.file.name))
    parent, name = os.path.dirname(path), os.path.basename(path)
    if not os.path.isdir(parent):
        return 0
    removed = 0
    for entry in os.listdir(parent):
        if entry.startswith(f".{name}.tmp-"):
            _remove_quietly(None, os.path.join(parent, entry))
            removed += 1
    return removed


def _move_into_place(fs: AbstractFileSystem | None, tmp: str, path: str, parent: str, name: str, is_dir: bool) -> None:
    if fs is None:
        if not os.path.lexists(path) or (not is_dir and not os.path.isdir(path)):
            os.replace(tmp, path)  # atomic: readers see the old file or the new one, never a mix
            return
        aside = os.path.join(parent, f".{name}.old-{secrets.token_hex(4)}")
        os.replace(path, aside)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(aside, path)
            raise
        _remove_quietly(None, aside)
        return
    # Object stores have no atomic rename; a move there is copy + delete of a complete object.
    if not fs.exists(path) or (not is_dir and not fs.isdir(path)):
        fs.mv(tmp, path, recursive=is_dir)
        return
    aside = _join(fs, parent, f".{name}.old-{secrets.token_hex(4)}")
    fs.mv(path, aside, recursive=True)
    try:
        fs.mv(tmp, path, recursive=is_dir)
    except BaseException:
        fs.mv(aside, path, recursive=True)
        raise
    _remove_quietly(fs, aside)


def _makedirs(fs: AbstractFileSystem | None, folder: str) -> None:
    if not folder:
        return
    if fs is None:
        os.makedirs(folder, exist_ok=True)
        return
    try:
        fs.makedirs(folder, exist_ok=True)
    except OSError:  # object stores need no folders (and may refuse to create a bucket): let the write tell
        logger.debug("could not create folder %s; writing anyway", folder, exc_info=True)


def _remove_quietly(fs: AbstractFileSystem | None, path: str) -> None:
    """Best-effort clean-up; it must never hide the error that made it necessary."""
    try:
        if fs is None:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
        elif fs.exists(path):
            fs.rm(path, recursive=True)
    except Exception:  # clean-up only
        logger.warning("could not remove temporary output %s", path, exc_info=True)


# =========================================================================== SQL
def _read_sql(sql: SqlStore, where: str) -> pd.DataFrame:
    import sqlalchemy as sa

    safe_url = _safe_url(sql.url)
    label = "query" if sql.query else f"table {sql.table!r}"
    database = _local_database(sql.url)
    if database is not None and not os.path.exists(database):  # connecting would create an empty one
        raise DataError(f"{where}.sql.url: database file not found: {database}")
    engine = _engine(sql, where)
    try:
        with engine.connect() as conn:
            if sql.query:  # a query is the more specific request when both are given
                statement: Any = sa.text(sql.query)
            else:
                schema, name = _split_table(sql.table or "", f"{where}.sql.table")
                if not sa.inspect(conn).has_table(name, schema=schema):
                    raise DataError(f"{where}.sql.table: table {sql.table!r} not found in {safe_url}")
                statement = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema))
            df = pd.read_sql_query(statement, conn)
    except AnonOpsError:
        raise
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        # pandas ≥ 3 wraps the driver's error (and the SQL text) in its own DatabaseError
        cause = exc.__cause__ if isinstance(exc.__cause__, sa.exc.SQLAlchemyError) else exc
        raise DataError(f"{where}.sql: cannot read {label} from {safe_url}: {_sql_reason(cause)}") from exc
    finally:
        engine.dispose()
    logger.info("read %d rows x %d columns from %s (%s)", len(df), df.shape[1], safe_url, label)
    return df


def _write_sql(df: pd.DataFrame, sql: SqlStore, where: str) -> str:
    """Replace the table: write a temporary table, then drop the old one and rename, in one transaction."""
    import sqlalchemy as sa

    if not sql.table:
        raise ConfigError(f"{where}.sql.table: writing needs a table (a query cannot be written to)")
    schema, name = _split_table(sql.table, f"{where}.sql.table")
    safe_url = _safe_url(sql.url)
    tmp = f"{name[:40]}__anon_ops_tmp_{secrets.token_hex(4)}"
    database = _local_database(sql.url)
    if database is not None:
        os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
        if sql.url.startswith("duckdb:"):
            import duckdb

            try:
                _write_duckdb(df, database, schema, name)
            except duckdb.Error as exc:
                raise DataError(f"{where}.sql: cannot write table {sql.table!r} to {safe_url}: "
                                f"{_first_line(exc)}") from exc
            logger.info("wrote %d rows x %d columns to %s table %s", len(df), df.shape[1], safe_url, sql.table)
            return f"{safe_url}#{sql.table}"
    engine = _engine(sql, where)
    started = False
    try:
        with engine.begin() as conn:
            if schema and not sa.inspect(conn).has_schema(schema):
                conn.execute(sa.schema.CreateSchema(schema))
            started = True
            df.to_sql(tmp, conn, schema=schema, index=False)
            conn.execute(sa.schema.DropTable(sa.Table(name, sa.MetaData(), schema=schema), if_exists=True))
            quote = conn.dialect.identifier_preparer
            old = quote.format_table(sa.Table(tmp, sa.MetaData(), schema=schema))
            conn.execute(sa.text(f"ALTER TABLE {old} RENAME TO {quote.quote(name)}"))
    except BaseException as exc:
        if started:  # only needed where DDL is not transactional (MySQL); elsewhere the rollback did it
            _drop_table_quietly(engine, tmp, schema)
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise DataError(f"{where}.sql: cannot write table {sql.table!r} to {safe_url}: {_sql_reason(exc)}") from exc
        raise
    finally:
        engine.dispose()
    logger.info("wrote %d rows x %d columns to %s table %s", len(df), df.shape[1], safe_url, sql.table)
    return f"{safe_url}#{sql.table}"


def _write_duckdb(df: pd.DataFrame, database: str, schema: str | None, name: str) -> None:
    """DuckDB scans the frame natively in one statement (pandas' generic ``to_sql`` inserts there row
    by row: minutes for a million rows); the swap happens in one transaction as for other databases."""
    import duckdb

    def ident(part: str) -> str:
        return '"' + part.replace('"', '""') + '"'

    qualified = f"{ident(schema)}.{ident(name)}" if schema else ident(name)
    tmp = f"{name[:40]}__anon_ops_tmp_{secrets.token_hex(4)}"
    tmp_qualified = f"{ident(schema)}.{ident(tmp)}" if schema else ident(tmp)
    connection = duckdb.connect(database)
    try:
        connection.execute("BEGIN TRANSACTION")
        if schema:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
        connection.register("__anon_ops_frame", df)
        connection.execute(f"CREATE TABLE {tmp_qualified} AS SELECT * FROM __anon_ops_frame")
        connection.execute(f"DROP TABLE IF EXISTS {qualified}")
        connection.execute(f"ALTER TABLE {tmp_qualified} RENAME TO {ident(name)}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


def _engine(sql: SqlStore, where: str) -> Engine:
    import sqlalchemy as sa

    try:
        return sa.create_engine(sql.url)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise DataError(f"{where}.sql.url: cannot use {_safe_url(sql.url)}: {_first_line(exc)}") from exc


def _drop_table_quietly(engine: Engine, table: str, schema: str | None) -> None:
    import sqlalchemy as sa

    try:
        with engine.begin() as conn:
            conn.execute(sa.schema.DropTable(sa.Table(table, sa.MetaData(), schema=schema), if_exists=True))
    except Exception:  # clean-up only
        logger.warning("could not drop temporary table %s", table, exc_info=True)


def _local_database(url: str) -> str | None:
    """The database file of a SQLite/DuckDB URL (None for servers, memory and special URIs)."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # _engine reports a bad URL
        return None
    database = parsed.database
    if parsed.get_backend_name() not in ("sqlite", "duckdb") or not database:
        return None
    if database.startswith((":", "file:", "md:", "motherduck:")):
        return None
    return os.path.expanduser(database)


def _split_table(table: str, field: str) -> tuple[str | None, str]:
    parts = table.split(".")
    if len(parts) > 2 or not all(parts):
        raise ConfigError(f"{field}: expected 'table' or 'schema.table', got {table!r}")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def _safe_url(url: str) -> str:
    """The URL with its password hidden: locations end up in logs, messages and job metadata."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is shown with a regex mask instead
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _sql_reason(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's statement and parameters (which may hold data values)."""
    orig = getattr(exc, "orig", None)
    return _first_line(orig if orig is not None else exc)


# =========================================================================== inline
def _read_inline(inline: InlineData) -> pd.DataFrame:
    df = pd.DataFrame(inline.records)
    logger.info("read %d rows x %d columns from inline records", len(df), df.shape[1])
    return df


# =========================================================================== helpers
def _section(section: Any, where: str, kind: str) -> Any:
    if section is None:  # DataStore's validator prevents this; kept for hand-built models
        raise ConfigError(f"{where}.{kind}: the {kind!r} section is missing")
    return section


def _locate(
    name: str, resolve_path: Callable[[str], str], storage_options: dict[str, Any], where: str
) -> tuple[AbstractFileSystem | None, str]:
    """(None, local path) for local files, (fsspec filesystem, path) for URLs.

    ``file://`` URLs are treated as local paths so that they get the atomic ``os.replace``.
    """
    if "://" not in name:
        return None, resolve_path(os.path.expanduser(name))
    import fsspec.core

    protocol = name.split("://", 1)[0].lower()
    try:
        fs, path = fsspec.core.url_to_fs(name, **storage_options)
    except (ImportError, ValueError, TypeError, OSError) as exc:
        raise DataError(f"{where}.file.name: cannot open {name}: {_first_line(exc)}") from exc
    if protocol in ("file", "local"):
        return None, path
    return fs, path


def _storage_options(props: dict[str, Any], where: str) -> dict[str, Any]:
    """fsspec options (credentials, endpoint…) from the props; removed so pandas does not see them twice."""
    options = props.pop("storage_options", None) or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{where}.file.props.storage_options: expected a mapping")
    return options


def _rows_per_part(value: Any, where: str) -> int:
    if value is None:
        return DEFAULT_ROWS_PER_PART
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}.file.props.rows_per_part: expected a whole number >= 1, got {value!r}")
    return value


def _single_file_flag(value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "no"):
        return value.lower() == "yes"
    raise ConfigError(f"additional_properties.single_file: expected 'yes' or 'no', got {value!r}")


def _format_of(path: str, first_part: str) -> str:
    """Format from the name's suffix (``out.parquet`` folder, ``*.json`` glob), else from the parts'."""
    for candidate in (path, first_part):
        fmt = _FORMAT_BY_SUFFIX.get(PurePosixPath(candidate).suffix.lower())
        if fmt:
            return fmt
    return "csv"


@functools.cache
def _accepted_options(func: Callable[..., Any]) -> frozenset[str] | None:
    """Keyword options a pandas function takes (None when it forwards **kwargs to another library)."""
    params = [p for p in inspect.signature(func).parameters.values() if p.name != "self"]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params[1:])  # the first one is the path or buffer


def _check_options(func: Callable[..., Any], options: dict[str, Any], field: str, what: str) -> None:
    accepted = _accepted_options(func)
    unknown = sorted(set(options) - accepted) if accepted is not None else []
    if unknown:
        raise ConfigError(f"{field}: unknown {what} option(s) {unknown}")


def _is_part_name(name: str) -> bool:
    return not name.startswith((".", "_"))


def _join(fs: AbstractFileSystem | None, folder: str, name: str) -> str:
    return os.path.join(folder, name) if fs is None else posixpath.join(folder, name)


def _display(fs: AbstractFileSystem | None, path: str) -> str:
    return path if fs is None else str(fs.unstrip_protocol(path))


def _display_of(path_or_buffer: Any) -> str:
    if isinstance(path_or_buffer, str | os.PathLike):
        return os.fspath(path_or_buffer)
    return str(getattr(path_or_buffer, "name", None) or f"<{type(path_or_buffer).__name__}>")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
