"""The compatibility routes, driven by the ``protegrity-anonymization-sdk`` package itself (unchanged)
against a real ``anon-ops serve`` process (``tests/live_service``).

The package's documented flow — detect QIs, risk, anonymize with k-anonymity and interval / masking
hierarchies, metrics, list jobs, apply to new data — must return the figures anon-ops' own engine
computes on the same data (``measure_risk``, ``anonymize``, ``apply_transformation``, ``infer_config``),
and the output must be k-anonymous by an independent checker (pycanon). The oracle configuration is
written by hand in anon-ops' own format, not produced by the translator under test.

One service and one anonymization per module keep the run short (each job starts a worker process).
"""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from anonymization_sdk import (
    AnonymizationClient,
    AnonymizeResult,
    APIError,
    JobStatus,
    RiskLevel,
    ValidationError,
)
from pycanon import anonymity

from anon_ops.data import ADULT_CSV, ADULT_DIR, ADULT_QIS
from anon_ops.engine.anonymizer import anonymize, apply_transformation, measure_risk
from anon_ops.errors import ConfigError
from anon_ops.infer import infer_config
from anon_ops.io import read_csv_text
from anon_ops.service.compat import COMPAT_PREFIX
from anon_ops.service.compat.routes import _wait_seconds
from anon_ops.service.compat.translate import privacy_settings, translate_attributes, translate_hierarchy
from anon_ops.service.compat.wire import PrivacyModelIn
from tests.live_service import LiveService, live_service  # noqa: F401

QIS = ["age", "zipcode", "sex"]
K = 5
# What an SDK user sends: anon-ops hierarchies with their parameters inlined beside the type; a
# quasi-identifier without a hierarchy (sex) gets an automatic one.
SDK_ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "patient_id", "type": "identifier"},
    {"name": "age", "type": "quasi_identifier", "hierarchy": {"type": "interval", "intervals": [5, 10, 20, 40]}},
    {"name": "zipcode", "type": "quasi_identifier", "hierarchy": {"type": "masking", "max_level": 5}},
    {"name": "sex", "type": "quasi_identifier"},
    {"name": "disease", "type": "sensitive"},
]
# The same job in anon-ops' own configuration format: the oracle.
NATIVE_CONFIG: dict[str, Any] = {
    "attributes": [
        {"name": "patient_id", "type": "identifier"},
        {"name": "age", "type": "quasi_identifier",
         "hierarchy": {"type": "interval", "params": {"intervals": [5, 10, 20, 40]}}},
        {"name": "zipcode", "type": "quasi_identifier", "hierarchy": {"type": "masking", "params": {"max_level": 5}}},
        {"name": "sex", "type": "quasi_identifier", "hierarchy": {"type": "auto"}},
        {"name": "disease", "type": "sensitive"},
    ],
    "privacy_models": [{"model_type": "k-anonymity", "params": {"k": K}}],
    "max_suppression": 0.0,
}


def patients(n: int, seed: int) -> pd.DataFrame:
    """Synthetic patients: a record id, age, zip code, sex and a disease."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "patient_id": [f"P{seed}{i:05d}" for i in range(n)],
        "age": rng.integers(18, 90, n),
        "zipcode": [f"13{a}{b:02d}" for a, b in zip(rng.integers(0, 4, n), rng.integers(0, 100, n), strict=True)],
        "sex": rng.choice(["Male", "Female"], n),
        "disease": rng.choice(["flu", "cold", "asthma", "diabetes", "migraine"], n),
    })


def as_received(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as the service parses it: the SDK sends CSV text (pandas' ``to_csv``)."""
    return read_csv_text(io.StringIO(frame.to_csv(index=False)))


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order (anon-ops shuffles its output)."""
    frame = frame.astype(str)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def service(live_service: LiveService) -> LiveService:  # noqa: F811 - the imported fixture
    """The module's service, with the Adult hierarchies in its data root (for the cancel test)."""
    for q in ADULT_QIS:
        shutil.copy(ADULT_DIR / f"adult_hierarchy_{q}.csv", live_service.home / "data")
    return live_service


@pytest.fixture(scope="module")
def base_url(service: LiveService) -> str:
    return f"{service.url}{COMPAT_PREFIX}"


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[AnonymizationClient]:
    with AnonymizationClient(base_url=base_url, timeout=60) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return patients(400, seed=7)


@pytest.fixture(scope="module")
def records(data: pd.DataFrame) -> list[dict[str, Any]]:
    return data.to_dict("records")


@pytest.fixture(scope="module")
def anonymized(base_url: str, records: list[dict[str, Any]]) -> AnonymizeResult:
    """The flow's anonymization, through the synchronous mode (``Prefer: wait``) the SDK's custom
    headers can ask for: the service answers with the result, and the SDK reads it unchanged."""
    with AnonymizationClient(base_url=base_url, timeout=90, headers={"Prefer": "wait=60"}) as sdk:
        return sdk.anonymize(records, k=K, attributes=SDK_ATTRIBUTES, max_suppression=0.0)


@pytest.fixture(scope="module")
def oracle(data: pd.DataFrame) -> Any:
    """anon-ops' engine on the same table and configuration."""
    return anonymize(as_received(data), NATIVE_CONFIG)


# --------------------------------------------------------------------------- the documented flow
def test_health_and_routes_outside_the_list_answer_501(client: AnonymizationClient,
                                                       records: list[dict[str, Any]]) -> None:
    assert client.is_healthy()
    assert client.get_health()["status"] == "healthy"
    for call in (lambda: client.dp_compute(records, column="age", bounds=(0, 100)),
                 client.list_patterns, client.list_models, client.audit_list):
        with pytest.raises(APIError) as raised:
            call()
        assert raised.value.status_code == 501
        assert "not implemented by anon-ops" in raised.value.detail and "/anonymize" in raised.value.detail


def test_detect_qi_is_anon_ops_inference(client: AnonymizationClient, data: pd.DataFrame,
                                         records: list[dict[str, Any]]) -> None:
    detection = client.detect_qi(records)
    inferred = infer_config(as_received(data))
    assert detection.quasi_identifiers == inferred.config.quasi_identifiers == QIS
    assert detection.direct_identifiers == ["patient_id"]
    assert detection.sensitive_attributes == ["disease"]
    assert detection.total_records == len(data)
    by_name = {a.name: a for a in detection.attributes}
    assert by_name["patient_id"].classification == "identifier"
    assert by_name["patient_id"].unique_ratio == 1.0
    assert all(a.reasoning and 0 < a.confidence <= 1 for a in detection.attributes)

    known = client.detect_qi(records, known_sensitive=["sex"], ignore_columns=["disease"])
    assert "sex" in known.sensitive_attributes and "sex" not in known.quasi_identifiers
    assert "disease" not in {a.name for a in known.attributes}
    capped = client.detect_qi(records, max_quasi_identifiers=1)
    assert capped.quasi_identifiers == ["zipcode"]  # the QI that tells records apart most


def test_risk_equals_measure_risk(client: AnonymizationClient, data: pd.DataFrame,
                                  records: list[dict[str, Any]]) -> None:
    for qis in (QIS, ["age", "sex"]):
        risk = client.calculate_risk(records, qis, risk_threshold=0.1)
        expected = measure_risk(as_received(data), qis, threshold=0.1)
        assert risk.prosecutor is not None and risk.journalist is not None and risk.marketer is not None
        for model in ("prosecutor", "journalist"):
            for figure in ("highest_risk", "records_at_risk", "success_rate"):
                assert getattr(getattr(risk, model), figure) == pytest.approx(expected[model][figure], abs=1e-12)
        assert risk.marketer.success_rate == pytest.approx(expected["marketer"]["success_rate"], abs=1e-12)
        sizes = as_received(data).groupby(qis).size()
        assert (risk.num_records, risk.num_equivalence_classes) == (len(data), expected["classes"])
        assert (risk.k_anonymity, risk.smallest_class_size, risk.largest_class_size) == (
            sizes.min(), sizes.min(), sizes.max())
    raw = client.calculate_risk(records, QIS, include_journalist=False)
    assert raw.journalist is None and raw.highest_risk_level == RiskLevel.VERY_HIGH


def test_anonymize_k_anonymity_with_interval_and_masking(anonymized: AnonymizeResult, oracle: Any) -> None:
    result = pd.DataFrame(anonymized.data)
    assert "patient_id" not in result.columns
    assert (anonymized.row_count, anonymized.suppressed_count) == (400, 0)
    assert anonymity.k_anonymity(result, QIS) >= K
    assert anonymized.job_id
    levels = anonymized.metrics.metrics["transformation"]
    assert levels == oracle.transformation and levels["age"] > 0 and levels["zipcode"] > 0
    assert anonymized.metrics.information_loss == pytest.approx(oracle.statistics["information_loss"]["value"])
    assert anonymized.metrics.metrics["utility"] == pytest.approx(oracle.statistics["utility"])
    pd.testing.assert_frame_equal(sorted_rows(result), sorted_rows(oracle.data))
    assert result["zipcode"].str.endswith("*").all()
    assert result["age"].str.startswith("[").all()  # intervals


def test_risk_metrics_and_validation_of_the_output(client: AnonymizationClient, anonymized: AnonymizeResult,
                                                   records: list[dict[str, Any]], oracle: Any) -> None:
    output = pd.DataFrame(anonymized.data)
    risk = client.calculate_risk(anonymized.data, QIS)
    expected = measure_risk(output, QIS)
    assert risk.prosecutor is not None
    assert risk.prosecutor.highest_risk == pytest.approx(expected["prosecutor"]["highest_risk"])
    assert risk.prosecutor.highest_risk <= 1 / K
    assert risk.prosecutor.success_rate == pytest.approx(oracle.statistics["risk"]["target"]["prosecutor"]
                                                         ["success_rate"])
    assert risk.k_anonymity >= K and risk.is_k_anonymous(K)

    metrics = client.measure(records, anonymized.data, QIS)
    utility = oracle.statistics["utility"]
    for figure in ("discernibility", "aecs", "non_uniform_entropy"):
        assert metrics.metrics[figure] == pytest.approx(utility[figure], abs=1e-9)
    assert metrics.information_loss == pytest.approx(1 - utility["non_uniform_entropy"], abs=1e-9)
    assert metrics.metrics["equivalence_classes"] == oracle.statistics["equivalence_classes"]

    assert client.validate(anonymized.data, QIS, k=K).is_valid
    raw = client.validate(records, QIS, k=K)
    assert not raw.is_valid and raw.violations[0]["records"] == len(records)
    l_valid = client.validate(anonymized.data, QIS, privacy_model="l-diversity", l=2,
                              sensitive_attributes=["disease"])
    assert l_valid.is_valid == (anonymity.l_diversity(output, QIS, ["disease"]) >= 2)


def test_jobs_list_status_history_and_cancel(client: AnonymizationClient, base_url: str,
                                             records: list[dict[str, Any]], anonymized: AnonymizeResult) -> None:
    submitted = client.submit_job(records, k=3, attributes=SDK_ATTRIBUTES)
    assert submitted.status in (JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED)
    done = client.wait_for_job(submitted.job_id, poll_interval=0.2, timeout=60)
    assert done.status == JobStatus.COMPLETED and done.progress == 100.0
    assert done.context is not None and done.context["result"]["row_count"] == len(records)
    assert anonymity.k_anonymity(pd.DataFrame(done.context["result"]["data"]), QIS) >= 3

    listed = client.list_jobs(limit=50)
    ids = [job.job_id for job in listed.jobs]
    assert {submitted.job_id, anonymized.job_id} <= set(ids) and listed.total >= 2
    assert ids.index(submitted.job_id) < ids.index(anonymized.job_id)  # newest first
    completed = client.list_jobs(status=JobStatus.COMPLETED, limit=50)
    assert all(job.status == JobStatus.COMPLETED for job in completed.jobs)
    assert client.list_jobs(limit=1, offset=1).jobs[0].job_id == ids[1]

    trail = client.get_job_history(submitted.job_id)
    assert [e.status for e in trail] == [JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED]
    assert [e.sequence for e in trail] == [1, 2, 3]

    with pytest.raises(APIError) as finished:
        client.cancel_job(submitted.job_id)
    assert finished.value.status_code == 409 and "only queued or running" in finished.value.detail
    with pytest.raises(APIError) as unknown:
        client.get_job_status("no-such-job")
    assert unknown.value.status_code == 404

    # The same request without and with `Prefer: wait`: a job document, or the result itself.
    csv = pd.DataFrame(records).to_csv(index=False).encode()
    payload = {"privacy_model": {"model_type": "k-anonymity", "params": {"k": K, "max_suppression": 0.0}},
               "attributes": SDK_ATTRIBUTES, "input_data": {"inline": base64.b64encode(csv).decode()}}
    plain = requests.post(f"{base_url}/anonymize", json=payload, timeout=60).json()
    assert plain["job_id"] == anonymized.job_id and "data" not in plain
    synchronous = requests.post(f"{base_url}/anonymize", json=payload, headers={"Prefer": "wait=30"}, timeout=60)
    assert synchronous.status_code == 200 and len(synchronous.json()["data"]) == len(records)


def test_apply_to_new_data(client: AnonymizationClient, anonymized: AnonymizeResult, oracle: Any) -> None:
    new = patients(400, seed=8)
    applied = client.apply_anon(anonymized.job_id, new.to_dict("records"))
    expected = apply_transformation(as_received(new), NATIVE_CONFIG, oracle.transformation)
    assert applied.source_job_id == anonymized.job_id and applied.privacy_model == "k-anonymity"
    assert applied.row_count == len(new)
    assert applied.suppressed_count == expected.statistics["rows"]["suppressed"]
    output = pd.DataFrame(applied.data)
    pd.testing.assert_frame_equal(sorted_rows(output), sorted_rows(expected.data))
    published = output[~(output[QIS] == "*").all(axis=1)]
    assert anonymity.k_anonymity(published, QIS) >= K


def test_generate_config_and_auto_anonymize(client: AnonymizationClient, data: pd.DataFrame,
                                            records: list[dict[str, Any]]) -> None:
    generated = client.generate_config(records, k=K)
    request = generated.anonymize_request
    assert generated.detection.quasi_identifiers == QIS
    assert request["privacy_model"] == {"model_type": "k-anonymity", "params": {"k": K, "max_suppression": 0.0}}
    types = {a["name"]: a["type"] for a in request["attributes"]}
    assert types == {"patient_id": "identifier", "age": "quasi_identifier", "zipcode": "quasi_identifier",
                     "sex": "quasi_identifier", "disease": "sensitive"}

    auto = client.auto_anonymize(records, k=K)
    assert auto.detection.quasi_identifiers == QIS
    output = pd.DataFrame(auto.anonymization.data)
    assert auto.anonymization.row_count == len(data) and "patient_id" not in output.columns
    published = output[~(output[QIS] == "*").all(axis=1)]
    assert anonymity.k_anonymity(published, QIS) >= K
    # The generated request, sent back as is, is the same job.
    again = client.anonymize(records, privacy_model=request["privacy_model"]["model_type"], k=K,
                             attributes=request["attributes"])
    assert again.job_id == auto.anonymization.job_id


def test_cancel_a_running_job(client: AnonymizationClient) -> None:
    adult = read_csv_text(ADULT_CSV, sep=";")
    attributes = [{"name": q, "type": "quasi_identifier", "hierarchy": {"type": "file",
                                                                        "name": f"adult_hierarchy_{q}.csv"}}
                  for q in ADULT_QIS]
    job = client.submit_job(adult.to_dict("records"), k=10, attributes=attributes, max_suppression=0.05)
    client.cancel_job(job.job_id)  # seconds before its worker could finish (start-up alone takes that)
    status = client.get_job_status(job.job_id)
    assert status.status == JobStatus.CANCELLED and status.completed_at is not None
    assert client.get_job_history(job.job_id)[-1].status == JobStatus.CANCELLED


def test_errors_name_the_field(client: AnonymizationClient, records: list[dict[str, Any]]) -> None:
    without_sensitive = [a for a in SDK_ATTRIBUTES if a["type"] != "sensitive"]
    with pytest.raises(ValidationError, match="no attribute has type 'sensitive'"):
        client.anonymize(records, privacy_model="l-diversity", l=2, attributes=without_sensitive)
    with pytest.raises(ValidationError, match=r"attributes\.0\.type"):
        client.anonymize(records, attributes=[{"name": "age", "type": "secret"}])
    with pytest.raises(ValidationError, match=r"attributes\.1\.hierarchy\.params\.intervals"):
        client.anonymize(records, attributes=[SDK_ATTRIBUTES[0], {"name": "age", "type": "quasi_identifier",
                                                                  "hierarchy": {"type": "interval", "intervals": []}}])
    with pytest.raises(ValidationError, match=r"quasi_identifiers: column\(s\) \['height'\]"):
        client.calculate_risk(records, ["height"])
    with pytest.raises(APIError) as outside:
        client.anonymize("s3://bucket/patients.csv", attributes=SDK_ATTRIBUTES)
    assert outside.value.status_code == 403 and "input_data.uri" in outside.value.detail


def test_the_token_travels_in_the_sdks_headers(tmp_path_factory: pytest.TempPathFactory,
                                               records: list[dict[str, Any]]) -> None:
    home = tmp_path_factory.mktemp("compat_secured")
    with LiveService(home, token="c0mpat-token") as secured:
        url = f"{secured.url}{COMPAT_PREFIX}"
        with AnonymizationClient(base_url=url) as anonymous, pytest.raises(APIError) as refused:
            anonymous.calculate_risk(records, QIS)
        assert refused.value.status_code == 401
        with AnonymizationClient(base_url=url, headers=secured.headers) as sdk:
            assert sdk.is_healthy()
            assert sdk.calculate_risk(records, QIS).num_records == len(records)


# --------------------------------------------------------------------------- translation rules (no service)
def test_attributes_and_hierarchies_translate_to_the_job_configuration() -> None:
    assert translate_attributes([{"name": "a", "type": "QI"}, {"name": "b", "type": "NSI"},
                                 {"name": "c", "type": "DI"}, {"name": "d", "type": "SA", "weight": 2}]) == [
        {"name": "a", "type": "quasi_identifier", "hierarchy": {"type": "auto"}},
        {"name": "b", "type": "insensitive"},
        {"name": "c", "type": "identifier"},
        {"name": "d", "type": "sensitive", "weight": 2},
    ]
    nested = {"type": "interval", "params": {"intervals": [5, 10]}}
    assert translate_hierarchy(nested, "h") == nested
    assert translate_hierarchy({"type": "Masking", "max_level": 2, "mask_char": "#"}, "h") == {
        "type": "masking", "params": {"max_level": 2, "mask_char": "#"}}
    assert translate_hierarchy({"type": "file", "name": "h.csv"}, "h") == {"type": "file", "name": "h.csv"}
    with pytest.raises(ConfigError, match=r"attributes\.0\.colour: unknown field"):
        translate_attributes([{"name": "a", "type": "qi", "colour": "red"}])


def test_privacy_models_translate_to_anon_ops_models() -> None:
    frame = pd.DataFrame({"income": ["10", "20"], "disease": ["flu", "cold"]})
    attributes = [{"name": "income", "type": "sensitive"}, {"name": "disease", "type": "sensitive"}]
    models, suppression = privacy_settings(
        PrivacyModelIn(model_type="t-closeness", params={"t": 0.3, "distance_metric": "emd", "k": 2,
                                                          "max_suppression": 0.1}), attributes, frame)
    assert suppression == 0.1
    assert models == [
        {"model_type": "k-anonymity", "params": {"k": 2}},
        {"model_type": "t-closeness", "params": {"t": 0.3, "attribute": "income", "distance_metric": "ordered"}},
        {"model_type": "t-closeness", "params": {"t": 0.3, "attribute": "disease", "distance_metric": "equal"}},
    ]
    models, _ = privacy_settings(PrivacyModelIn(model_type="l-diversity", params={"l": 3, "attribute": "disease"}),
                                 attributes, frame)
    assert models == [{"model_type": "l-diversity", "params": {"l": 3, "attribute": "disease",
                                                               "diversity_type": "distinct"}}]
    with pytest.raises(ConfigError, match=r"privacy_model\.params\.epsilon: unknown parameter"):
        privacy_settings(PrivacyModelIn(model_type="k-anonymity", params={"k": 2, "epsilon": 1}), [], frame)
    assert (_wait_seconds("respond-async, wait=15"), _wait_seconds(None), _wait_seconds("wait=999")) == (15, 0, 120)
