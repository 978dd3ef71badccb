"""Reading a submission: the configuration and the uploaded table of a multipart or JSON request.

The async part (receiving the form) runs on the event loop; hashing and parsing the table are
synchronous and run in a worker thread (see ``routes``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
from fastapi import Request
from starlette.datastructures import UploadFile

from anon_ops.errors import ConfigError, DataError
from anon_ops.service.errors import UnsupportedMediaTypeError

_FORMAT_BY_SUFFIX = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
_FORMATS = ("csv", "parquet")
_CHUNK = 1 << 20
_MAX_FORM_FIELDS = 16


@dataclass
class Payload:
    """What a submit or apply request carries; ``fields`` are the JSON/form values by name."""

    fields: dict[str, Any] = field(default_factory=dict)
    upload: UploadFile | None = None
    data_format: str | None = None

    async def close(self) -> None:
        if self.upload is not None:
            await self.upload.close()


async def read_payload(
    request: Request, max_part_size: int, json_fields: tuple[str, ...], text_fields: tuple[str, ...] = ()
) -> Payload:
    """Parse a multipart/url-encoded form or a JSON object; an empty body is an empty payload.
    In a form, ``json_fields`` hold JSON objects and ``text_fields`` plain text (kept stripped)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _read_form(request, max_part_size, json_fields, text_fields)
    if content_type == "application/json" or content_type.endswith("+json"):
        return _read_json(await request.body(), (*json_fields, *text_fields))
    if not content_type and not await request.body():
        return Payload()
    raise UnsupportedMediaTypeError("Content-Type: send multipart/form-data or application/json")


async def _read_form(
    request: Request, max_part_size: int, json_fields: tuple[str, ...], text_fields: tuple[str, ...]
) -> Payload:
    form = await request.form(max_files=1, max_fields=_MAX_FORM_FIELDS, max_part_size=max_part_size)
    payload = Payload()
    for name, value in form.multi_items():
        if name == "data":
            if not isinstance(value, UploadFile):
                raise DataError("data: expected a file upload (multipart file field)")
            payload.upload = value
        elif name == "data_format":
            payload.data_format = _text(value, name).strip().lower() or None
        elif name in json_fields or name in text_fields:
            text = _text(value, name) if isinstance(value, str) else \
                (await value.read()).decode("utf-8", errors="replace")
            payload.fields[name] = json_object(text, name) if name in json_fields else text.strip()
        else:
            expected = ", ".join((*json_fields, *text_fields, "data", "data_format"))
            raise ConfigError(f"{name}: unknown form field (expected {expected})")
    return payload


def _read_json(body: bytes, json_fields: tuple[str, ...]) -> Payload:
    document = json_object(body.decode("utf-8", errors="replace"), "body")
    unknown = sorted(set(document) - set(json_fields))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown field (expected {', '.join(json_fields)})")
    return Payload(fields=dict(document))


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a text field, not a file")
    return value


def json_object(text: str, name: str) -> dict[str, Any]:
    """A form field or body that must be a JSON object; errors name the field."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a JSON object")
    return value


# --------------------------------------------------------------------------- the table
def upload_format(upload: UploadFile, declared: str | None) -> str:
    """``data_format`` when given, else the file name's suffix; CSV by default (as for file sources)."""
    if declared is not None:
        if declared not in _FORMATS:
            raise ConfigError(f"data_format: expected one of {list(_FORMATS)}, got {declared!r}")
        return declared
    return _FORMAT_BY_SUFFIX.get(Path(upload.filename or "").suffix.lower(), "csv")


def hash_file(handle: IO[bytes]) -> str:
    """sha256 of the whole upload; the handle is rewound for reading afterwards."""
    digest = hashlib.sha256()
    handle.seek(0)
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def read_upload(upload: UploadFile, fmt: str) -> pd.DataFrame:
    """The uploaded table: CSV as text with a sniffed separator (as file sources), or Parquet."""
    from anon_ops.io import read_csv_text

    handle = upload.file
    handle.seek(0)
    what = f"data: cannot read the uploaded {fmt} file"
    try:
        if fmt == "csv":
            return read_csv_text(handle)
        return pd.read_parquet(handle, engine="pyarrow")
    except (ConfigError, DataError) as exc:  # io names 'source.file.name'; the upload's field is 'data'
        raise DataError(f"{what}: {_reason(exc)}") from None
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{what}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """The first line of an error message without io's ``source.file.name: cannot read … from X:`` prefix."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    line = lines[0]
    if line.startswith("source.file."):
        parts = line.split(": ", 2)
        line = parts[-1] if len(parts) == 3 else line
    return line[:300]


def request_hash(kind: str, document: Any, data_hash: str, params: dict[str, Any]) -> str:
    """What makes two requests 'the same' for Idempotency-Key: body, uploaded bytes and parameters."""
    canonical = json.dumps({"kind": kind, "document": document, "data": data_hash, "params": params},
                           sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
