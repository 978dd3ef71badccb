"""The REST service, end to end over HTTP against a real service process (``tests/live_service``).

One service per module (no token, data root ``<home>/data``, two workers) runs the job flows; a
second one with a token and a 1 MiB upload limit covers authentication and body limits. A few
routing rules that need a failing runtime (500, 409 on a concurrent key, 429/503 headers) are
tested in-process with FastAPI's TestClient and a stub runtime.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from anon_ops.data import ADULT_CSV, ADULT_DIR, ADULT_QIS
from anon_ops.io import read_csv_text
from anon_ops.jobs.errors import JobNotFoundError, QueueFullError, RateLimitedError
from anon_ops.jobs.runtime import JobRuntime
from anon_ops.service import create_app
from anon_ops.settings import Settings
from tests.live_service import LiveService, live_service  # noqa: F401

API = "/api/v1"
TERMINAL = ("completed", "failed", "aborted")
STACK_TRACE_MARKERS = ("Traceback", 'File "')


# --------------------------------------------------------------------------- helpers
def adult_config(k: int = 5, suppression: float = 0.05, metric: str = "loss", **extra: Any) -> dict[str, Any]:
    """The demo job (9 QIs, ARX hierarchies) with hierarchy names relative to the data root."""
    config: dict[str, Any] = {
        "attributes": [
            {"name": q, "type": "quasi_identifier", "hierarchy": {"type": "file", "name": f"adult_hierarchy_{q}.csv"}}
            for q in ADULT_QIS
        ],
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": k}}],
        "max_suppression": suppression,
        "metric": {"name": metric},
    }
    config.update(extra)
    return config


def post_job(
    service: LiveService,
    config: dict[str, Any] | str,
    data: bytes | None = None,
    *,
    filename: str = "adult.csv",
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """Multipart with ``config`` and (optionally) the ``data`` file."""
    text = config if isinstance(config, str) else json.dumps(config)
    files = {"data": (filename, data)} if data is not None else None
    return requests.post(f"{service.url}{API}/jobs", data={"config": text}, files=files, params=params,
                         headers={**service.headers, **(headers or {})}, timeout=60)


def get(service: LiveService, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(f"{service.url}{API}{path}", headers=service.headers, timeout=60, **kwargs)


def wait_for(service: LiveService, job_id: str, states: tuple[str, ...] = TERMINAL, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        document = get(service, f"/jobs/{job_id}").json()
        if document["status"] in states:
            return cast(dict, document)
        assert time.monotonic() < deadline, f"job {job_id} still {document['status']} after {timeout} s"
        time.sleep(0.1)


def assert_error(response: requests.Response | Any, status: int, *fragments: str) -> str:
    """The status, a ``{"detail": str, "type": str}`` body (``type`` names the error class; a 404 of a
    missing statistics part has none) whose detail contains every fragment, and no stack trace."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) in ({"detail", "type"}, {"detail"}) and isinstance(body["detail"], str), body
    assert isinstance(body.get("type", ""), str), body
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    for marker in STACK_TRACE_MARKERS:
        assert marker not in response.text
    return cast(str, body["detail"])


def read_parquet(content: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(content))


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def service(live_service: LiveService) -> LiveService:  # noqa: F811 - the imported fixture
    """The module's service, with the Adult hierarchies and sample in its data root."""
    root = live_service.home / "data"
    for q in ADULT_QIS:
        shutil.copy(ADULT_DIR / f"adult_hierarchy_{q}.csv", root)
    shutil.copy(ADULT_CSV, root / "adult.csv")
    return live_service


@pytest.fixture(scope="module")
def data_root(service: LiveService) -> Path:
    return service.home / "data"


@pytest.fixture(scope="module")
def adult_bytes() -> bytes:
    return ADULT_CSV.read_bytes()


@pytest.fixture(scope="module")
def adult_frame() -> pd.DataFrame:
    return read_csv_text(ADULT_CSV, sep=";")


@pytest.fixture(scope="module")
def adult_job(service: LiveService, adult_bytes: bytes) -> dict[str, Any]:
    """The demo job, submitted once and completed (the 'full flow')."""
    response = post_job(service, adult_config(), adult_bytes)
    assert response.status_code in (200, 202), response.text
    return wait_for(service, response.json()["id"])


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A service with a token and a 1 MiB body limit."""
    home = tmp_path_factory.mktemp("secured_home")
    (home / "data").mkdir()
    env = {"ANON_OPS_DATA_ROOTS": str(home / "data"), "ANON_OPS_MAX_UPLOAD_MB": "1"}
    with LiveService(home, token="s3cret-token", env=env) as svc:
        yield svc


# --------------------------------------------------------------------------- health & docs
def test_health_and_openapi(service: LiveService) -> None:
    health = requests.get(f"{service.url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["version"]
    assert requests.get(f"{service.url}/docs", timeout=10).status_code == 200
    spec = requests.get(f"{service.url}/openapi.json", timeout=10).json()
    expected = {
        ("post", "/api/v1/jobs"), ("get", "/api/v1/jobs"), ("get", "/api/v1/jobs/{job_id}"),
        ("get", "/api/v1/jobs/{job_id}/metadata"), ("get", "/api/v1/jobs/{job_id}/result"),
        ("get", "/api/v1/jobs/{job_id}/statistics"), ("get", "/api/v1/jobs/{job_id}/statistics/risk"),
        ("get", "/api/v1/jobs/{job_id}/statistics/utility"), ("get", "/api/v1/jobs/{job_id}/statistics/exploratory"),
        ("post", "/api/v1/jobs/{job_id}/abort"), ("delete", "/api/v1/jobs/{job_id}"),
        ("post", "/api/v1/jobs/{job_id}/apply"), ("get", "/health"),
    }
    found = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert expected <= found
    for method, path in expected:
        operation = spec["paths"][path][method]
        assert operation.get("summary") and operation.get("tags"), (method, path)
    submit_body = spec["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(submit_body)


# --------------------------------------------------------------------------- the full flow
def test_full_flow_on_adult(service: LiveService, adult_job: dict[str, Any], adult_frame: pd.DataFrame) -> None:
    assert adult_job["status"] == "completed", adult_job
    assert adult_job["running"] == 100.0
    summary = adult_job["completed"]
    assert summary["rows"]["input"] == len(adult_frame)

    result = get(service, f"/jobs/{adult_job['id']}/result")
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/vnd.apache.parquet"
    table = read_parquet(result.content)
    assert list(table.columns) == list(adult_frame.columns)
    assert len(table) == len(adult_frame)
    suppressed = (table[ADULT_QIS] == "*").all(axis=1)
    assert int(suppressed.sum()) == summary["rows"]["suppressed"] > 0
    assert int(suppressed.sum()) <= 0.05 * len(table)
    class_sizes = table.loc[~suppressed].groupby(ADULT_QIS).size()
    assert class_sizes.min() >= 5
    assert len(class_sizes) == summary["equivalence_classes"]

    csv = get(service, f"/jobs/{adult_job['id']}/result", params={"format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(pd.read_csv(io.StringIO(csv.text), dtype=str, keep_default_na=False)) == len(adult_frame)

    statistics = get(service, f"/jobs/{adult_job['id']}/statistics").json()
    assert statistics["transformation"] == summary["transformation"]
    for part in ("risk", "utility", "exploratory"):
        response = get(service, f"/jobs/{adult_job['id']}/statistics/{part}")
        assert response.status_code == 200
        assert response.json() == statistics[part] and response.json()
    assert statistics["risk"]["target"]["prosecutor"]["highest_risk"] <= 1 / 5

    metadata = get(service, f"/jobs/{adult_job['id']}/metadata").json()
    assert metadata["fields"] == list(adult_frame.columns)
    assert metadata["data"]["rows"] == len(adult_frame)
    assert metadata["configuration"]["privacy_models"][0]["params"]["k"] == 5


def test_identical_submit_returns_the_same_job_and_force_makes_a_new_one(
    service: LiveService, adult_job: dict[str, Any], adult_bytes: bytes
) -> None:
    again = post_job(service, adult_config(), adult_bytes)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == adult_job["id"] and again.json()["created"] is False
    assert "location" not in again.headers

    forced = post_job(service, adult_config(), adult_bytes, params={"force": "true"})
    assert forced.status_code == 202, forced.text
    assert forced.json()["created"] is True and forced.json()["id"] != adult_job["id"]
    assert forced.headers["location"] == f"/api/v1/jobs/{forced.json()['id']}"

    listed = get(service, "/jobs", params={"limit": 2}).json()["jobs"]
    assert listed[0]["id"] == forced.json()["id"]  # newest first
    assert len(listed) == 2
    assert requests.post(f"{service.url}{API}/jobs/{forced.json()['id']}/abort", timeout=30).status_code == 200


def test_submit_from_a_source_inside_the_data_root(service: LiveService, adult_frame: pd.DataFrame) -> None:
    config = adult_config(k=3, source={"type": "file", "file": {"name": "adult.csv", "props": {"sep": ";"}}})
    response = requests.post(f"{service.url}{API}/jobs", json={"config": config}, timeout=60)
    assert response.status_code == 202, response.text
    assert response.json()["info"]["source"] == "file adult.csv"
    done = wait_for(service, response.json()["id"])
    assert done["status"] == "completed", done
    assert done["completed"]["rows"]["input"] == len(adult_frame)


def test_mode_auto_fills_in_hierarchies_and_the_model(service: LiveService, adult_bytes: bytes) -> None:
    rows = adult_bytes[: adult_bytes.index(b"\n", 100_000) + 1]
    config = {"attributes": [{"name": "age", "type": "quasi_identifier"}, {"name": "sex", "type": "quasi_identifier"}]}
    response = post_job(service, config, rows, params={"mode": "auto"})
    assert response.status_code == 202, response.text
    done = wait_for(service, response.json()["id"])
    assert done["status"] == "completed", done
    metadata = get(service, f"/jobs/{done['id']}/metadata").json()
    assert metadata["mode"] == "auto"
    configuration = metadata["configuration"]
    attributes = {a["name"]: a for a in configuration["attributes"]}
    for name in ("age", "sex"):  # what the user set is kept; the hierarchy is filled in
        assert attributes[name]["type"] == "quasi_identifier" and attributes[name].get("hierarchy"), attributes[name]
    assert configuration["privacy_models"], configuration


def test_idempotency_key(service: LiveService, adult_bytes: bytes) -> None:
    key = {"Idempotency-Key": "idem-test-1"}
    first = post_job(service, adult_config(k=4), adult_bytes, headers=key)
    assert first.status_code == 202, first.text
    replay = post_job(service, adult_config(k=4), adult_bytes, headers=key)
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    assert replay.json()["created"] is False
    other_body = post_job(service, adult_config(k=6), adult_bytes, headers=key)
    assert_error(other_body, 422, "Idempotency-Key")
    other_params = post_job(service, adult_config(k=4), adult_bytes, headers=key, params={"force": "true"})
    assert_error(other_params, 422, "Idempotency-Key")


def test_concurrent_submits_with_one_key_create_one_job(service: LiveService, adult_bytes: bytes) -> None:
    small = adult_bytes[: adult_bytes.index(b"\n", 200_000) + 1]
    key = {"Idempotency-Key": "idem-concurrent"}

    def submit(_: int) -> requests.Response:
        return post_job(service, adult_config(k=2), small, headers=key, params={"force": "true"})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(submit, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(202) == 1, [r.text for r in responses]
    assert set(statuses) <= {200, 202, 409}
    created_id = next(r.json()["id"] for r in responses if r.status_code == 202)
    assert all(r.json()["id"] == created_id for r in responses if r.status_code == 200)
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "Idempotency-Key")


# --------------------------------------------------------------------------- errors
def test_invalid_configurations_are_422_naming_the_field(service: LiveService, adult_bytes: bytes) -> None:
    bad_k = adult_config()
    bad_k["privacy_models"][0]["params"]["k"] = 0
    assert_error(post_job(service, bad_k, adult_bytes), 422, "privacy_models.0.params.k")
    assert_error(post_job(service, adult_config(colour="blue"), adult_bytes), 422, "colour", "unknown field")
    assert_error(post_job(service, "{not json", adult_bytes), 422, "config", "not valid JSON")
    missing = adult_config()
    missing["attributes"].append({"name": "salary", "type": "insensitive"})
    assert_error(post_job(service, missing, adult_bytes), 422, "attributes", "salary")
    assert_error(post_job(service, adult_config(), adult_bytes, params={"mode": "magic"}), 422, "mode")
    assert_error(post_job(service, adult_config(), b"\x00\x01garbage", filename="t.parquet"), 422, "data")
    assert_error(requests.post(f"{service.url}{API}/jobs", json={"config": adult_config()}, timeout=30),
                 422, "source")
    assert_error(requests.post(f"{service.url}{API}/jobs", json={"config": {}, "extra": 1}, timeout=30),
                 422, "extra")
    assert_error(requests.post(f"{service.url}{API}/jobs", data=b"x", headers={"Content-Type": "text/plain"},
                               timeout=30), 415, "Content-Type")
    assert_error(get(service, "/jobs", params={"limit": 0}), 422, "limit")
    assert_error(get(service, "/jobs", params={"limit": 1001}), 422, "limit")
    assert_error(get(service, "/jobs/no-such-job"), 404, "no-such-job")
    assert_error(requests.delete(f"{service.url}{API}/jobs/no-such-job", timeout=30), 404)


def test_paths_outside_the_data_roots_are_403(service: LiveService, adult_bytes: bytes, tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    shutil.copy(ADULT_CSV, outside)
    cases = {
        "source.file.name": adult_config(source={"type": "file", "file": {"name": str(outside)}}),
        "target.file.name": adult_config(target={"type": "file", "file": {"name": "../escaped.csv"}}),
        "privacy_models.1.params.subset.file.name": adult_config(privacy_models=[
            {"model_type": "k-anonymity", "params": {"k": 5}},
            {"model_type": "delta-presence", "params": {"delta_min": 0.0, "delta_max": 0.5,
                                                        "subset": {"type": "file", "file": {"name": "/etc/hosts"}}}},
        ]),
    }
    for field, config in cases.items():
        assert_error(post_job(service, config, adult_bytes), 403, field)
    hierarchy_outside = adult_config()
    hierarchy_outside["attributes"][1]["hierarchy"]["name"] = str(ADULT_DIR / "adult_hierarchy_age.csv")
    assert_error(post_job(service, hierarchy_outside, adult_bytes), 403, "attributes.1.hierarchy.name")
    sqlite = adult_config(source={"type": "sql", "sql": {"url": f"sqlite:///{tmp_path / 'x.db'}", "table": "t"}})
    assert_error(requests.post(f"{service.url}{API}/jobs", json={"config": sqlite}, timeout=30),
                 403, "source.sql.url")
    remote = adult_config(target={"type": "file", "file": {"name": "s3://bucket/out.csv"}})
    assert_error(post_job(service, remote, adult_bytes), 403, "target.file.name", "s3://")
    assert not (service.home / "escaped.csv").exists()


def test_unexpected_errors_are_500_without_details(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = str(4700 + 11)  # a "data value" that must reach neither the client nor the log

    class Broken:
        def get(self, job_id: str) -> None:
            raise RuntimeError(f"cell value {secret}")

    settings = Settings(home=tmp_path, data_roots=[tmp_path])
    app = create_app(settings, runtime=cast(JobRuntime, Broken()))
    with caplog.at_level(logging.INFO), TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(f"{API}/jobs/abc")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "RuntimeError" in caplog.text
    assert secret not in caplog.text and secret not in response.text


def test_runtime_errors_map_to_status_codes(tmp_path: Path) -> None:
    class Stub:
        error: Exception

        def submit(self, *args: Any, **kwargs: Any) -> None:
            raise self.error

        def get(self, job_id: str) -> None:
            raise JobNotFoundError(job_id)

    stub = Stub()
    settings = Settings(home=tmp_path, data_roots=[tmp_path])
    body = {"config": {"attributes": [{"name": "a", "type": "insensitive"}],
                       "source": {"type": "inline", "inline": {"records": [{"a": "1"}]}}}}
    with TestClient(create_app(settings, runtime=cast(JobRuntime, stub))) as client:
        stub.error = IntegrityError("INSERT …", {}, Exception("UNIQUE constraint failed"))
        assert_error(client.post(f"{API}/jobs", json=body, headers={"Idempotency-Key": "k"}), 409, "Idempotency-Key")
        stub.error = RateLimitedError("rate limit of 2 submissions per minute reached", 2.1)
        limited = client.post(f"{API}/jobs", json=body)
        assert_error(limited, 429, "rate limit")
        assert limited.headers["retry-after"] == "3"
        stub.error = QueueFullError("the queue is full (1 jobs); try again later")
        full = client.post(f"{API}/jobs", json=body)
        assert_error(full, 503, "queue is full")
        assert int(full.headers["retry-after"]) >= 1
        assert_error(client.get(f"{API}/jobs/nope"), 404, "nope")


def test_chunked_body_over_the_limit_is_413_in_process(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, data_roots=[tmp_path], max_upload_bytes=1000)

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 300

    class Unused:
        pass

    with TestClient(create_app(settings, runtime=cast(JobRuntime, Unused()))) as client:
        response = client.post(f"{API}/jobs", content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "limit")


# --------------------------------------------------------------------------- running jobs
@pytest.fixture(scope="module")
def slow_parquet(adult_frame: pd.DataFrame) -> bytes:
    """Adult repeated 10x (301,620 rows) as Parquet: small to upload, seconds to anonymize."""
    buffer = io.BytesIO()
    pd.concat([adult_frame] * 10, ignore_index=True).to_parquet(buffer, index=False)
    return buffer.getvalue()


def slow_config(target: str) -> dict[str, Any]:
    """9 QIs, k=100, 5 % suppression by discernibility: ~6 s of search on the 10x table."""
    return adult_config(k=100, suppression=0.05, metric="discernibility",
                        target={"type": "file", "file": {"name": target}})


def test_result_while_running_is_409_and_abort_leaves_nothing(
    service: LiveService, data_root: Path, slow_parquet: bytes
) -> None:
    submitted = post_job(service, slow_config("out/slow.parquet"), slow_parquet, filename="big.parquet")
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    running = wait_for(service, job_id, states=("running", *TERMINAL))
    assert running["status"] == "running", running
    assert_error(get(service, f"/jobs/{job_id}/result"), 409, "completed")
    assert_error(get(service, f"/jobs/{job_id}/statistics/risk"), 409)

    aborted = requests.post(f"{service.url}{API}/jobs/{job_id}/abort", timeout=30)
    assert aborted.status_code == 200
    assert aborted.json()["status"] == "aborted"
    time.sleep(0.5)
    assert get(service, f"/jobs/{job_id}").json()["status"] == "aborted"
    assert not (data_root / "out" / "slow.parquet").exists()
    leftovers = list((data_root / "out").iterdir()) if (data_root / "out").exists() else []
    assert leftovers == []
    assert_error(get(service, f"/jobs/{job_id}/result"), 409)
    again = requests.post(f"{service.url}{API}/jobs/{job_id}/abort", timeout=30)
    assert again.status_code == 200 and again.json()["status"] == "aborted"

    apply_on_aborted = requests.post(f"{service.url}{API}/jobs/{job_id}/apply",
                                     files={"data": ("new.csv", b"sex;age\nMale;39\n")}, timeout=30)
    assert_error(apply_on_aborted, 409, "completed")


def test_apply_to_new_rows(service: LiveService, adult_job: dict[str, Any], adult_bytes: bytes) -> None:
    new_rows = adult_bytes[: adult_bytes.index(b"\n", 50_000) + 1]
    expected_rows = new_rows.count(b"\n") - 1
    response = requests.post(f"{service.url}{API}/jobs/{adult_job['id']}/apply",
                             files={"data": ("new.csv", new_rows)}, timeout=60)
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "apply" and response.json()["parent_id"] == adult_job["id"]
    done = wait_for(service, response.json()["id"])
    assert done["status"] == "completed", done
    assert done["completed"]["transformation"] == adult_job["completed"]["transformation"]
    table = read_parquet(get(service, f"/jobs/{done['id']}/result").content)
    assert len(table) == expected_rows
    replay = requests.post(f"{service.url}{API}/jobs/{adult_job['id']}/apply",
                           files={"data": ("new.csv", new_rows)}, timeout=60)
    assert replay.status_code == 200 and replay.json()["id"] == done["id"]
    escape = requests.post(f"{service.url}{API}/jobs/{adult_job['id']}/apply",
                           files={"data": ("new.csv", new_rows)},
                           data={"target": json.dumps({"type": "file", "file": {"name": "/tmp/out.csv"}})},
                           timeout=60)
    assert_error(escape, 403, "target.file.name")


def test_target_only_result_is_204(service: LiveService, data_root: Path, adult_bytes: bytes) -> None:
    config = adult_config(k=7, target={"type": "file", "file": {"name": "published/adult_k7.parquet"}})
    response = post_job(service, config, adult_bytes, params={"pty_storage": "false"})
    assert response.status_code == 202, response.text
    done = wait_for(service, response.json()["id"])
    assert done["status"] == "completed", done
    assert (data_root / "published" / "adult_k7.parquet").is_file()
    result = get(service, f"/jobs/{done['id']}/result")
    assert result.status_code == 204 and result.content == b""

    once = post_job(service, adult_config(k=8), adult_bytes, params={"pty_storage": "false"})
    done = wait_for(service, once.json()["id"])
    first = get(service, f"/jobs/{done['id']}/result", params={"format": "csv"})
    assert first.status_code == 200 and first.text.startswith("sex,age")
    assert_error(get(service, f"/jobs/{done['id']}/result"), 409, "already")


def test_delete(service: LiveService, adult_bytes: bytes) -> None:
    response = post_job(service, adult_config(k=9), adult_bytes)
    job_id = response.json()["id"]
    assert wait_for(service, job_id)["status"] == "completed"
    folder = service.home / "jobs" / job_id
    assert folder.is_dir()
    deleted = requests.delete(f"{service.url}{API}/jobs/{job_id}", timeout=30)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(get(service, f"/jobs/{job_id}"), 404, job_id)
    assert_error(get(service, f"/jobs/{job_id}/result"), 404)
    assert not folder.exists()
    assert job_id not in [job["id"] for job in get(service, "/jobs", params={"limit": 1000}).json()["jobs"]]


# --------------------------------------------------------------------------- auth & limits
def test_token_is_required_except_for_health(secured: LiveService) -> None:
    assert requests.get(f"{secured.url}/health", timeout=10).status_code == 200
    for path in (f"{API}/jobs", f"{API}/jobs/x", "/openapi.json", "/no-such-route"):
        assert_error(requests.get(f"{secured.url}{path}", timeout=10), 401, "Authorization")
    wrong = requests.get(f"{secured.url}{API}/jobs", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert_error(wrong, 401)
    assert wrong.headers["www-authenticate"] == "Bearer"
    basic = requests.get(f"{secured.url}{API}/jobs", headers={"Authorization": "Basic czNjcmV0LXRva2Vu"}, timeout=10)
    assert_error(basic, 401)
    assert_error(requests.post(f"{secured.url}{API}/jobs", json={"config": {}}, timeout=10), 401)
    ok = requests.get(f"{secured.url}{API}/jobs", headers=secured.headers, timeout=10)
    assert ok.status_code == 200 and ok.json() == {"jobs": []}
    spec = requests.get(f"{secured.url}/openapi.json", headers=secured.headers, timeout=10).json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_oversized_uploads_are_413(secured: LiveService, adult_bytes: bytes) -> None:
    limit = 1024 * 1024
    # Declared too large: refused from the headers alone, before any byte of the body.
    connection = http.client.HTTPConnection("127.0.0.1", secured.port, timeout=10)
    connection.putrequest("POST", f"{API}/jobs")
    for name, value in {**secured.headers, "Content-Type": "application/json", "Content-Length": str(10**9)}.items():
        connection.putheader(name, value)
    connection.endheaders()
    declared = connection.getresponse()
    assert declared.status == 413
    assert "limit" in json.loads(declared.read())["detail"]
    connection.close()
    assert_error(post_job(secured, adult_config(), adult_bytes[: limit + 400_000]), 413, str(limit))

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for start in range(0, limit + 150_000, 1 << 16):
            yield adult_bytes[start : start + (1 << 16)]

    chunked = requests.post(f"{secured.url}{API}/jobs", data=chunks(), timeout=30,
                            headers={**secured.headers, "Content-Type": "application/json"})
    assert_error(chunked, 413, "limit")
    assert requests.get(f"{secured.url}{API}/jobs", headers=secured.headers, timeout=10).json() == {"jobs": []}


def test_measure_and_infer_have_the_job_routes_auth_and_limits(secured: LiveService, adult_bytes: bytes) -> None:
    """The decide routes sit behind the same token and body limit; error bodies name the class."""
    for route in ("measure", "infer"):
        refused = requests.post(f"{secured.url}{API}/{route}", json={"config": {}}, timeout=10)
        assert_error(refused, 401, "Authorization")
        assert refused.json()["type"] == "AuthenticationError"
        too_big = requests.post(f"{secured.url}{API}/{route}", headers=secured.headers, timeout=30,
                                data={"config": json.dumps(adult_config())},
                                files={"data": ("adult.csv", adult_bytes[: 1024 * 1024 + 400_000])})
        assert_error(too_big, 413, "limit")
        assert too_big.json()["type"] == "DataError"
    small = adult_bytes[:20_000].rsplit(b"\n", 1)[0]
    measured = requests.post(f"{secured.url}{API}/measure", headers=secured.headers, timeout=60,
                             data={"config": json.dumps({"attributes": [{"name": "sex", "type": "quasi_identifier"}]}),
                                   "grid": json.dumps({"k": [2]})}, files={"data": ("adult.csv", small)})
    assert measured.status_code == 422 and measured.json()["type"] == "ConfigError", measured.text  # no hierarchy


def test_privacy_report_route(service: LiveService, adult_job: dict[str, Any]) -> None:
    """The report of a completed job is served as one self-contained HTML page."""
    job_id = adult_job["id"]
    page = get(service, f"/jobs/{job_id}/report")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text and job_id in page.text
    assert_error(get(service, "/jobs/nope/report"), 404, "nope")
