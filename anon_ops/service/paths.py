"""The service reads and writes only inside its data roots.

A configuration names files (source, target, hierarchies, a delta-presence subset, SQLite/DuckDB
database files). A client must not make the service read ``/etc/…`` or overwrite files elsewhere,
so every such name is resolved the way the runtime will resolve it (relative names against the
configuration's folder, ``~`` expanded, symlinks followed) and must fall inside a data root.
Remote file URLs (s3://, http://…) are refused as well: the service would read them with its own
credentials. SQL server URLs carry their own credentials and are allowed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from anon_ops.config import DataStore, DeltaPresence, FileHierarchy, JobConfig
from anon_ops.service.errors import PathNotAllowedError

_LOCAL_PROTOCOLS = ("file", "local")
_FILE_DATABASES = ("sqlite", "duckdb")


class DataRoots:
    """The folders the service may use; the first one is where relative names are resolved."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Path(os.path.expanduser(root)).resolve() for root in roots]

    @property
    def base_dir(self) -> Path | None:
        return self.roots[0] if self.roots else None

    def contains(self, path: Path) -> bool:
        return any(path.is_relative_to(root) for root in self.roots)

    def check_config(self, config: JobConfig) -> None:
        """Raise PathNotAllowedError naming the first field whose file lies outside the roots."""
        for field, name in _file_names(config):
            self._check_file(field, name, config.base_dir)
        for field, url in _sql_urls(config):
            self._check_database(field, url)

    def _check_file(self, field: str, name: str, base_dir: Path | None) -> None:
        if "://" in name:
            protocol, _, rest = name.partition("://")
            if protocol.lower() not in _LOCAL_PROTOCOLS:
                raise PathNotAllowedError(
                    f"{field}: the service reads and writes only local files inside its data roots "
                    f"(not {protocol}:// URLs)"
                )
            name = rest
        path = Path(os.path.expanduser(name))
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        if not self.contains(path.resolve()):
            raise PathNotAllowedError(f"{field}: {name!r} is outside the service's data roots")

    def _check_database(self, field: str, url: str) -> None:
        database = _database_file(url)
        if database is not None and not self.contains(Path(os.path.expanduser(database)).resolve()):
            raise PathNotAllowedError(f"{field}: the database file {database!r} is outside the service's data roots")


def _stores(config: JobConfig) -> Iterator[tuple[str, DataStore]]:
    if config.source is not None:
        yield "source", config.source
    if config.target is not None:
        yield "target", config.target
    for i, model in enumerate(config.privacy_models):
        if isinstance(model, DeltaPresence):
            yield f"privacy_models.{i}.params.subset", model.params.subset


def _file_names(config: JobConfig) -> Iterator[tuple[str, str]]:
    for field, store in _stores(config):
        if store.type == "file" and store.file is not None:
            yield f"{field}.file.name", store.file.name
    for i, attribute in enumerate(config.attributes):
        if isinstance(attribute.hierarchy, FileHierarchy):
            yield f"attributes.{i}.hierarchy.name", attribute.hierarchy.name


def _sql_urls(config: JobConfig) -> Iterator[tuple[str, str]]:
    for field, store in _stores(config):
        if store.type == "sql" and store.sql is not None:
            yield f"{field}.sql.url", store.sql.url


def _database_file(url: str) -> str | None:
    """The local file of a SQLite/DuckDB URL; None for servers and in-memory databases."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # the runtime reports an unparseable URL with the field's name
        return None
    database = parsed.database
    if parsed.get_backend_name() not in _FILE_DATABASES or not database or database.startswith(":"):
        return None
    if database.startswith(("md:", "motherduck:")):  # MotherDuck: a remote service
        return None
    if database.startswith("file:"):  # SQLite URI filename: file:path?mode=ro
        database = database.removeprefix("file:").split("?", 1)[0].removeprefix("//")
    return database
