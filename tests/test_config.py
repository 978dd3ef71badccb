"""The job configuration: one pydantic model, loaded from YAML/JSON, errors that name the field."""

from __future__ import annotations

import json

import pytest

from anon_ops.config import JobConfig
from anon_ops.errors import ConfigError

BASE = {
    "attributes": [
        {"name": "ssn", "type": "identifier"},
        {"name": "age", "type": "quasi_identifier",
         "hierarchy": {"type": "interval", "params": {"intervals": [5, 10]}}},
        {"name": "disease", "type": "sensitive"},
    ],
    "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 5}}],
}


def _error(data) -> str:
    with pytest.raises(ConfigError) as info:
        JobConfig.load(data)
    return str(info.value)


def test_spec_example_loads_from_yaml(tmp_path):
    text = """
source: {type: file, file: {name: customers.csv, format: csv, props: {sep: ","}}}
target: {type: file, file: {name: out/customers_anon.parquet, format: parquet}}
attributes:
  - {name: ssn,       type: identifier}
  - {name: age,       type: quasi_identifier, hierarchy: {type: interval, params: {intervals: [5, 10, 20]}}}
  - {name: zip,       type: quasi_identifier, hierarchy: {type: masking, params: {max_level: 5, mask_char: "*"}}}
  - {name: education, type: quasi_identifier, hierarchy: {type: file, name: edu.csv, props: {sep: ";"}}}
  - {name: disease,   type: sensitive}
  - {name: income,    type: insensitive}
privacy_models:
  - {model_type: k-anonymity, params: {k: 5}}
  - {model_type: l-diversity, params: {l: 2, diversity_type: distinct, attribute: disease}}
max_suppression: 0.05
metric: {name: loss}
additional_properties: {single_file: "yes"}
"""
    path = tmp_path / "job.yaml"
    path.write_text(text)
    config = JobConfig.load(path)
    assert config.quasi_identifiers == ["age", "zip", "education"]
    assert config.k() == 5
    assert config.max_suppression == 0.05
    # relative names resolve against the configuration's folder
    assert config.resolve_path("edu.csv") == str(tmp_path / "edu.csv")
    assert config.resolve_path("s3://bucket/x.csv") == "s3://bucket/x.csv"
    # JSON round trip gives the same model
    again = JobConfig.load(json.dumps(config.to_dict()))
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["attributes"][1].update(type="quasi"), "attributes.1.type"),
        (lambda d: d["attributes"][1]["hierarchy"]["params"].update(intervals=[5, 7]), "attributes.1.hierarchy.params"),
        (lambda d: d["privacy_models"][0]["params"].update(k=0), "privacy_models.0.params.k"),
        (lambda d: d.update(max_suppression=1.5), "max_suppression"),
        (lambda d: d.update(metric={"name": "lossy"}), "metric.name"),
        (lambda d: d.update(metric={"name": "loss", "params": {"gsfactor": 1}}), "metric.params.gsfactor"),
        (lambda d: d.update(colour="blue"), "colour: unknown field"),
        (lambda d: d.update(source={"type": "file", "file": {}}), "source.file.name"),
        (lambda d: d.update(source={"type": "sql"}), "source"),
    ],
)
def test_invalid_fields_are_named(change, field):
    data = json.loads(json.dumps(BASE))
    change(data)
    assert field in _error(data)


def test_model_attribute_must_be_a_sensitive_attribute():
    data = json.loads(json.dumps(BASE))
    data["privacy_models"].append({"model_type": "l-diversity", "params": {"l": 2, "attribute": "age"}})
    assert "privacy_models.1.params.attribute" in _error(data)
    data["privacy_models"][1]["params"]["attribute"] = "nope"
    assert "'nope' is not one of the attributes" in _error(data)


def test_recursive_diversity_needs_c_and_hierarchical_t_needs_a_hierarchy():
    data = json.loads(json.dumps(BASE))
    data["privacy_models"].append({"model_type": "l-diversity",
                                   "params": {"l": 2, "diversity_type": "recursive", "attribute": "disease"}})
    assert "c is required" in _error(data)
    data["privacy_models"][1] = {"model_type": "t-closeness",
                                 "params": {"t": 0.2, "distance_metric": "hierarchical", "attribute": "disease"}}
    assert "needs a hierarchy" in _error(data)


def test_duplicate_attributes_and_missing_files():
    data = json.loads(json.dumps(BASE))
    data["attributes"].append({"name": "age", "type": "insensitive"})
    assert "duplicate names ['age']" in _error(data)
    assert "not found" in _error("no/such/job.yaml")
    assert "not valid JSON/YAML" in _error("{not json")
