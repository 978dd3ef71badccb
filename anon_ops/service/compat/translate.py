"""Translators between the SDK's wire format and anon-ops' one job configuration (`JobConfig`).

The SDK's requests become ordinary `JobConfig` documents that run on the same runtime and engine as
every other job; nothing here anonymizes. The decisions, field by field:

* ``attributes[i]``: ``{name, type, hierarchy?, weight?}``. ``type`` is anon-ops' own vocabulary
  (``identifier``, ``quasi_identifier``, ``sensitive``, ``insensitive`` — the words the SDK's docstring
  uses), with the detection short forms DI / QI / SI (SA) / NSI accepted too. A quasi-identifier
  without a hierarchy gets ``{type: auto}`` (built from the data), since the engine needs one.
* ``hierarchy``: an anon-ops hierarchy (``interval``, ``masking``, ``date``, ``tree``, ``file``,
  ``auto``) with its ``params`` nested as in the job configuration, or inlined beside ``type``
  (``{"type": "interval", "intervals": [5, 10, 20]}``, ``{"type": "masking", "max_level": 3}``).
* ``privacy_model``: ``k-anonymity`` → k-anonymity with ``params.k``; ``params.max_suppression`` →
  the job's ``max_suppression`` (whatever the model, since the SDK only sends it for k-anonymity).
  ``l-diversity`` / ``t-closeness`` protect ``params.attribute`` when given, else every attribute of
  type sensitive (one model per attribute, as ARX does); ``params.k`` adds k-anonymity to them.
  ``distance_metric: emd`` (the SDK's default) is the earth mover's distance with the *ordered*
  ground distance for a numeric attribute and the *equal* one otherwise; ``equal`` / ``ordered`` /
  ``hierarchical`` are taken as they are. Recursive (c,l)-diversity needs ``params.c``.
* ``use_lattice_search`` / ``lattice_strategy``: accepted and not needed — anon-ops always searches
  the generalization lattice for the transformation of least information loss (its own ``search``
  settings decide optimal vs heuristic); there is no "level 1 of every hierarchy" mode.
* ``output.uri`` + ``output_format`` → the job's ``target`` (a file inside the data roots).
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from anon_ops.config import AttributeType, DataStore, FileStore, JobConfig
from anon_ops.errors import AnonOpsError, ConfigError, DataError
from anon_ops.service.compat.wire import DataInput, OutputIn, PrivacyModelIn
from anon_ops.service.errors import PathNotAllowedError, ServiceError
from anon_ops.service.paths import DataRoots

_TYPE_ALIASES = {
    "identifier": AttributeType.IDENTIFIER, "direct_identifier": AttributeType.IDENTIFIER,
    "di": AttributeType.IDENTIFIER,
    "quasi_identifier": AttributeType.QUASI_IDENTIFIER, "quasi-identifier": AttributeType.QUASI_IDENTIFIER,
    "qi": AttributeType.QUASI_IDENTIFIER,
    "sensitive": AttributeType.SENSITIVE, "sensitive_attribute": AttributeType.SENSITIVE,
    "si": AttributeType.SENSITIVE, "sa": AttributeType.SENSITIVE,
    "insensitive": AttributeType.INSENSITIVE, "non_sensitive": AttributeType.INSENSITIVE,
    "non-sensitive": AttributeType.INSENSITIVE, "nsi": AttributeType.INSENSITIVE,
}
_ATTRIBUTE_KEYS = ("name", "type", "hierarchy", "weight")
_HIERARCHY_OWN_KEYS = ("type", "params", "name", "props")
_MODEL_PARAMS = {
    "k-anonymity": ("k", "max_suppression", "use_lattice_search", "lattice_strategy"),
    "l-diversity": ("l", "diversity_type", "c", "attribute", "k", "max_suppression"),
    "t-closeness": ("t", "distance_metric", "attribute", "k", "max_suppression"),
}
_DISTANCES = ("equal", "ordered", "hierarchical")


class NotImplementedInCompatError(ServiceError):
    """A part of the SDK's API that anon-ops does not serve (→ 501)."""

    status_code = 501


# --------------------------------------------------------------------------- tables
def load_frame(data: DataInput, field: str, roots: DataRoots) -> tuple[pd.DataFrame, str]:
    """The table of one ``DataInput`` and a description of where it came from (for the job's info).

    Inline CSV is read as text, exactly like an uploaded CSV file; a ``uri`` must name a file inside
    the service's data roots (the service never reads remote storage with its own credentials).
    """
    if data.inline_tables is not None or data.uri_tables is not None:
        raise NotImplementedInCompatError(f"{field}: multi-table inputs are not supported by anon-ops; "
                                          "send one table as inline or uri")
    if data.inline is not None:
        try:
            raw = base64.b64decode(data.inline, validate=True)
        except (binascii.Error, ValueError):
            raise DataError(f"{field}.inline: not valid base64") from None
        from anon_ops.io import read_csv_text

        try:
            frame = read_csv_text(io.BytesIO(raw))
        except AnonOpsError as exc:
            raise DataError(f"{field}.inline: cannot read the CSV text: {_first_line(exc)}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"{field}.inline: cannot read the CSV text: {type(exc).__name__}") from None
        description = "inline csv table (compatibility API)"
    else:
        assert data.uri is not None
        store = DataStore(type="file", file=FileStore(name=data.uri))
        config = JobConfig(source=store).with_base_dir(roots.base_dir)
        try:
            roots.check_config(config)
            from anon_ops.io import read_table

            frame = read_table(store, config.resolve_path)
        except PathNotAllowedError as exc:
            raise PathNotAllowedError(_renamed(exc, "source.file.name", f"{field}.uri")) from None
        except AnonOpsError as exc:
            raise DataError(_renamed(exc, "source.file.name", f"{field}.uri")) from None
        description = f"file {Path(data.uri).name} (compatibility API)"
    if frame.shape[1] == 0 or len(frame) == 0:
        raise DataError(f"{field}: the table has no columns or no rows")
    return frame, description


def _renamed(exc: BaseException, old: str, new: str) -> str:
    return str(exc).replace(old, new, 1)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def check_columns(frame: pd.DataFrame, names: Iterable[str], field: str) -> None:
    """Every named column must exist (422 naming the request field)."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataError(f"{field}: column(s) {missing} not found in the data (columns: {list(frame.columns)})")


def is_numeric(values: pd.Series) -> bool:
    """True when every non-empty value reads as a number (text columns of CSV included)."""
    present = values[values.astype(str).str.strip() != ""]
    return len(present) > 0 and bool(pd.to_numeric(present, errors="coerce").notna().all())


# --------------------------------------------------------------------------- attributes
def attribute_type(value: Any, field: str) -> AttributeType:
    key = str(value).strip().lower().replace(" ", "_")
    if key not in _TYPE_ALIASES:
        raise ConfigError(f"{field}: unknown attribute type {value!r} (use identifier, quasi_identifier, "
                          "sensitive or insensitive)")
    return _TYPE_ALIASES[key]


def translate_attributes(attributes: list[dict[str, Any]], field: str = "attributes") -> list[dict[str, Any]]:
    """The SDK's attribute list as anon-ops attribute documents (validated later, with the config)."""
    result = []
    for i, spec in enumerate(attributes):
        where = f"{field}.{i}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected an object with name and type")
        unknown = sorted(set(spec) - set(_ATTRIBUTE_KEYS))
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown field (expected {', '.join(_ATTRIBUTE_KEYS)})")
        if "name" not in spec or "type" not in spec:
            raise ConfigError(f"{where}: name and type are required")
        kind = attribute_type(spec["type"], f"{where}.type")
        document: dict[str, Any] = {"name": spec["name"], "type": kind.value}
        if spec.get("hierarchy") is not None:
            document["hierarchy"] = translate_hierarchy(spec["hierarchy"], f"{where}.hierarchy")
        elif kind == AttributeType.QUASI_IDENTIFIER:
            document["hierarchy"] = {"type": "auto"}
        if "weight" in spec:
            document["weight"] = spec["weight"]
        result.append(document)
    return result


def translate_hierarchy(spec: Any, field: str) -> dict[str, Any]:
    """An anon-ops hierarchy spec; parameters given beside ``type`` are moved under ``params``."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"{field}: expected an object with a type (interval, masking, date, tree, file, auto)")
    kind = str(spec["type"]).strip().lower()
    if kind == "file" or "params" in spec:
        return {**spec, "type": kind}
    inlined = {k: v for k, v in spec.items() if k not in _HIERARCHY_OWN_KEYS}
    document: dict[str, Any] = {"type": kind}
    if inlined:
        document["params"] = inlined
    return document


# --------------------------------------------------------------------------- privacy models
def privacy_settings(
    model: PrivacyModelIn, attributes: list[dict[str, Any]], frame: pd.DataFrame, field: str = "privacy_model"
) -> tuple[list[dict[str, Any]], float]:
    """The anon-ops privacy models and the job's max_suppression for the SDK's privacy model."""
    params = dict(model.params)
    allowed = _MODEL_PARAMS[model.model_type]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"{field}.params.{unknown[0]}: unknown parameter of {model.model_type} "
                          f"(expected {', '.join(allowed)})")
    suppression = params.get("max_suppression", 0.0)
    models: list[dict[str, Any]] = []
    if model.model_type == "k-anonymity" or "k" in params:
        if "k" not in params:
            raise ConfigError(f"{field}.params.k: required for k-anonymity")
        models.append({"model_type": "k-anonymity", "params": {"k": params["k"]}})
    if model.model_type == "k-anonymity":
        return models, suppression
    if params.get("diversity_type") == "recursive" and params.get("c") is None:
        raise ConfigError(f"{field}.params.c: required for recursive (c,l)-diversity")
    targets = _protected_attributes(params.get("attribute"), attributes, model.model_type, field)
    for name in targets:
        if model.model_type == "l-diversity":
            model_params: dict[str, Any] = {"l": params.get("l", 2), "attribute": name,
                                            "diversity_type": params.get("diversity_type", "distinct")}
            if params.get("c") is not None:
                model_params["c"] = params["c"]
        else:
            model_params = {"t": params.get("t", 0.2), "attribute": name,
                            "distance_metric": _distance(params.get("distance_metric", "emd"), name, frame, field)}
        models.append({"model_type": model.model_type, "params": model_params})
    return models, suppression


def _protected_attributes(
    attribute: Any, attributes: list[dict[str, Any]], model_type: str, field: str
) -> list[str]:
    sensitive = [a["name"] for a in attributes if a["type"] == AttributeType.SENSITIVE.value]
    if attribute is not None:
        return [str(attribute)]
    if not sensitive:
        raise ConfigError(f"{field}: {model_type} protects a sensitive attribute, but no attribute has type "
                          "'sensitive' (set one in attributes, or params.attribute)")
    return sensitive


def _distance(value: Any, attribute: str, frame: pd.DataFrame, field: str) -> str:
    name = str(value).strip().lower()
    if name == "emd":
        numeric = attribute in frame.columns and is_numeric(frame[attribute])
        return "ordered" if numeric else "equal"
    if name not in _DISTANCES:
        raise ConfigError(f"{field}.params.distance_metric: unknown distance {value!r} "
                          f"(use emd, {', '.join(_DISTANCES)})")
    return name


def sdk_privacy_model(config: JobConfig, requested: PrivacyModelIn) -> dict[str, Any]:
    """The SDK-form privacy model of a configuration (for ``anonymize_request`` and results)."""
    params = {k: v for k, v in requested.params.items() if k not in ("use_lattice_search", "lattice_strategy")}
    if requested.model_type == "k-anonymity" or "k" in params:
        params["k"] = config.k()
    params["max_suppression"] = config.max_suppression
    return {"model_type": requested.model_type, "params": params}


def model_names(config: dict[str, Any]) -> str:
    """``k-anonymity``, ``k-anonymity+l-diversity``… of a stored configuration."""
    names: list[str] = []
    for model in config.get("privacy_models", []):
        if model.get("model_type") not in names:
            names.append(model.get("model_type"))
    return "+".join(names)


# --------------------------------------------------------------------------- the job configuration
def job_config(
    attributes: list[dict[str, Any]],
    model: PrivacyModelIn,
    frame: pd.DataFrame,
    base_dir: Path | None,
    output: OutputIn | None = None,
    output_format: str | None = None,
) -> JobConfig:
    """The one job configuration an SDK anonymization request stands for."""
    documents = translate_attributes(attributes)
    if not any(a["type"] == AttributeType.QUASI_IDENTIFIER.value for a in documents):
        raise ConfigError("attributes: at least one attribute must have type 'quasi_identifier'")
    models, suppression = privacy_settings(model, documents, frame)
    document: dict[str, Any] = {"attributes": documents, "privacy_models": models, "max_suppression": suppression}
    if output is not None:
        file = {"name": output.uri, **({"format": output_format} if output_format else {})}
        document["target"] = {"type": "file", "file": file}
    config = JobConfig.parse(document, base_dir)
    check_columns(frame, [a.name for a in config.attributes], "attributes")
    return config
