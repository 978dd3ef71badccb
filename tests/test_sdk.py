"""The SDK contract of sdk.md, run the same way on both backends: the embedded runtime and a real
service process. The transport (retries, error mapping, the async client) is tested against a
scripted local HTTP server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

import anon_ops as asdk
from anon_ops.config import JobConfig
from anon_ops.data import adult_hierarchy
from anon_ops.settings import Settings
from tests.live_service import LiveService, free_port, live_service  # noqa: F401

QIS = ["age", "sex", "race"]
K = 5
WAIT = 90.0  # seconds any job of this suite may take at most (they take a few)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", params=["embedded", "remote"])
def conn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[asdk.Connection]:
    if request.param == "embedded":
        connection = asdk.Connection(settings=Settings(home=tmp_path_factory.mktemp("embedded_home")))
    else:
        service: LiveService = request.getfixturevalue("live_service")
        connection = asdk.Connection(service.url)
    yield connection
    connection.close()


def element(conn: asdk.Connection, df: pd.DataFrame, seed: int, qis: list[str] = QIS) -> asdk.AnonElement:
    """k=5 over a few Adult QIs with ARX's hierarchies; the seed keeps each test's job its own."""
    e = asdk.AnonElement(conn, df)
    for qi in qis:
        e.quasi_identifier(qi, hierarchy=asdk.HierarchyFile(adult_hierarchy(qi)))
    return e.k_anonymity(K).max_suppression(0.02).additional_properties(seed=seed)


@pytest.fixture(scope="module")
def submitted(conn: asdk.Connection, adult: pd.DataFrame,
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The jobs of the read-only tests, submitted at once so that they run side by side."""
    folder = tmp_path_factory.mktemp("sdk")
    source = folder / "small.csv"
    adult.head(3000).to_csv(source, sep=";", index=False)
    base = element(conn, adult, seed=1)
    target = folder / "out" / "adult.csv"
    return {
        "element": base,
        "base": asdk.anonymize(base),
        "target": asdk.anonymize(element(conn, adult, seed=6), target_datastore=str(target),
                                 additional_properties={"single_file": "no"}),
        "target_path": target,
        "auto": asdk.anonymize(asdk.AnonElement(conn, source=str(source)).quasi_identifier("sex", "race")
                               .additional_properties(seed=9), mode="auto", pty_storage=False),
        "failed": asdk.anonymize(asdk.AnonElement(conn, adult.head(1000)).quasi_identifier(
            "sex", hierarchy=asdk.Tree({"Male": ["*"]})).k_anonymity(2)),
        "to_delete": asdk.anonymize(element(conn, adult.head(2000), seed=5)),
    }


@pytest.fixture(scope="module")
def base(submitted: dict[str, Any]) -> tuple[asdk.AnonElement, asdk.AnonJob]:
    """One completed job per backend, shared by the read-only tests."""
    job = submitted["base"]
    job.result(timeout=WAIT)
    return submitted["element"], job


def assert_k_anonymous(df: pd.DataFrame, qis: list[str], k: int) -> None:
    sizes = df.groupby(qis).size()
    suppressed = tuple("*" for _ in qis)
    published = sizes[[key != suppressed for key in sizes.index]]
    assert len(published) > 1
    assert published.min() >= k


# --------------------------------------------------------------------------- the flow
def test_anonymize_returns_a_k_anonymous_result(conn: asdk.Connection, base, adult: pd.DataFrame) -> None:
    _, job = base
    assert isinstance(job.id(), str) and job.id()
    assert job.created is True
    res = job.result()
    assert isinstance(res, asdk.AnonResult)
    assert res.df is not None and res.target is None
    assert len(res.df) == len(adult) == 30162
    assert list(res.df.columns) == list(adult.columns)
    assert_k_anonymous(res.df, QIS, K)
    assert not res.df[QIS].equals(adult[QIS]), "the QIs must have been generalized or shuffled"


def test_status_document_and_state(conn: asdk.Connection, base) -> None:
    _, job = base
    document = job.status()
    assert {"id", "status", "running", "completed", "info"} <= set(document)
    assert document["id"] == job.id()
    assert document["status"] == "completed" and job.state() is asdk.JobStatus.COMPLETED
    assert job.state().is_terminal
    assert document["running"] == 100.0
    assert document["completed"]["rows"]["input"] == 30162
    assert set(document["completed"]["transformation"]) == set(QIS)
    assert document["info"]["rows"] == 30162
    assert document["info"]["quasi_identifiers"] == QIS
    assert job.wait(timeout=1) == document


def test_metadata(conn: asdk.Connection, base, adult: pd.DataFrame) -> None:
    _, job = base
    metadata = job.metadata()
    assert metadata["id"] == job.id()
    assert metadata["fields"] == list(adult.columns)
    configuration = metadata["configuration"]
    assert [a["name"] for a in configuration["attributes"]] == QIS
    assert configuration["privacy_models"] == [{"model_type": "k-anonymity", "params": {"k": K}}]
    assert configuration["max_suppression"] == 0.02
    assert metadata["data"]["rows"] == 30162


def test_statistics_and_its_parts(conn: asdk.Connection, base) -> None:
    _, job = base
    statistics = job.statistics()
    assert set(statistics["transformation"]) == set(QIS)
    assert statistics["transformation"] == job.status()["completed"]["transformation"]
    risk = job.risk_stats()
    assert risk == statistics["risk"]
    assert risk["target"]["prosecutor"]["highest_risk"] <= 1 / K + 1e-9
    assert risk["source"]["prosecutor"]["highest_risk"] == 1.0
    assert {"prosecutor", "journalist", "marketer"} <= set(risk["target"])
    utility = job.utility_stats()
    assert utility == statistics["utility"]
    assert {"granularity", "discernibility", "aecs"} <= set(utility)
    exploratory = job.exploratory_stats()
    assert exploratory == statistics["exploratory"]
    assert set(exploratory["target"]) >= set(QIS)
    assert job.result().statistics == statistics


def test_resubmit_returns_the_same_job_and_force_a_new_one(conn: asdk.Connection, base) -> None:
    e, job = base
    again = asdk.anonymize(e)
    assert again.id() == job.id()
    assert again.created is False
    forced = asdk.anonymize(e, force=True)
    assert forced.id() != job.id()
    assert forced.created is True
    assert forced.wait(timeout=WAIT)["status"] == "completed"
    assert forced.statistics()["transformation"] == job.statistics()["transformation"]
    ids = asdk.job_ids(conn)
    assert ids.index(forced.id()) < ids.index(job.id()), "newest first"
    assert asdk.job_ids(conn, limit=1) == [ids[0]]
    assert len(ids) <= 20


def test_apply_anonymize_on_new_rows(conn: asdk.Connection, base, adult: pd.DataFrame) -> None:
    _, job = base
    new_rows = adult.sample(500, random_state=3).reset_index(drop=True)
    applied = asdk.apply_anonymize(job, new_rows)
    assert isinstance(applied, asdk.AnonJob) and applied.id() != job.id()
    res = applied.result(timeout=WAIT)
    assert res.df is not None and len(res.df) == 500
    document = applied.status()
    assert document["kind"] == "apply" and document["parent_id"] == job.id()
    assert applied.statistics()["transformation"] == job.statistics()["transformation"]
    assert_k_anonymous(res.df, QIS, K)


def test_abort_a_queued_and_a_running_job(conn: asdk.Connection, adult: pd.DataFrame) -> None:
    from anon_ops.data import ADULT_QIS

    e = element(conn, adult, seed=4, qis=list(ADULT_QIS))
    at_once = asdk.anonymize(e, force=True)
    assert at_once.abort()["status"] == "aborted"
    running = asdk.anonymize(e, force=True)
    deadline = time.monotonic() + WAIT
    while running.state() is asdk.JobStatus.QUEUED and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.state() is asdk.JobStatus.RUNNING
    document = running.abort()
    assert document["status"] == "aborted"
    for job in (at_once, running):
        assert job.state() is asdk.JobStatus.ABORTED
        with pytest.raises(asdk.JobFailedError, match="aborted"):
            job.result(timeout=5)
    assert running.abort()["status"] == "aborted", "aborting an ended job leaves it as it is"


def test_delete_removes_the_job(conn: asdk.Connection, submitted: dict[str, Any], adult: pd.DataFrame) -> None:
    job = submitted["to_delete"]
    assert job.wait(timeout=WAIT)["status"] == "completed"
    job.delete()
    assert job.id() not in asdk.job_ids(conn)
    with pytest.raises(asdk.JobNotFoundError):
        job.status()
    with pytest.raises(asdk.JobNotFoundError):
        job.delete()
    active = asdk.anonymize(element(conn, adult.head(2000), seed=5), force=True)
    active.delete()  # a queued or running job is aborted first
    with pytest.raises(asdk.JobNotFoundError):
        active.status()


def test_target_datastore_path_writes_the_file(submitted: dict[str, Any]) -> None:
    job, out = submitted["target"], submitted["target_path"]
    res = job.result(timeout=WAIT)
    assert res.df is None
    assert res.target is not None and Path(res.target) == out
    parts = sorted(out.glob("part-*.csv"))
    assert parts, "single_file 'no' writes a folder of part files"
    written = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts])
    assert len(written) == 30162
    assert_k_anonymous(written, QIS, K)
    assert job.metadata()["configuration"]["additional_properties"]["single_file"] == "no"


def test_source_path_mode_auto_and_pty_storage_off(conn: asdk.Connection, submitted: dict[str, Any]) -> None:
    job = submitted["auto"]
    res = job.result(timeout=WAIT)
    assert res.df is not None and len(res.df) == 3000, "the source file was read"
    assert job.result() is res, "the result is kept on the job object"
    with pytest.raises(asdk.JobStateError, match="already"):
        conn.backend.result(job.id())  # pty_storage=False: handed out once, then gone from storage
    metadata = job.metadata()
    configuration = metadata["configuration"]
    attributes = {a["name"]: a for a in configuration["attributes"]}
    assert attributes["sex"]["type"] == attributes["race"]["type"] == "quasi_identifier", "what was set is kept"
    assert all("hierarchy" in a for a in attributes.values() if a["type"] == "quasi_identifier"), "auto fills in"
    assert configuration["privacy_models"], "auto fills in a privacy model"
    assert configuration["additional_properties"]["seed"] == 9
    assert metadata["mode"] == "auto" and metadata["pty_storage"] is False


# --------------------------------------------------------------------------- errors
def test_invalid_configuration_names_the_field(conn: asdk.Connection, adult: pd.DataFrame) -> None:
    with pytest.raises(asdk.ConfigError, match=r"privacy_models\.0\.params\.k"):
        asdk.AnonElement(conn, adult, config={"privacy_models": [{"model_type": "k-anonymity", "params": {"k": 0}}]})
    with pytest.raises(asdk.ConfigError, match=r"privacy_models\.k-anonymity\.params\.k"):
        asdk.AnonElement(conn, adult).k_anonymity(0)
    with pytest.raises(asdk.ConfigError, match=r"attributes\.age\.hierarchy\.params"):
        asdk.AnonElement(conn, adult).quasi_identifier("age", hierarchy={"type": "interval",
                                                                         "params": {"intervals": [10, 15]}})
    with pytest.raises(asdk.ConfigError, match=r"privacy_models\.0\.params\.attribute"):
        asdk.anonymize(asdk.AnonElement(conn, adult).quasi_identifier("sex").l_diversity("sex", 2))
    with pytest.raises(asdk.ConfigError, match="mode"):  # checked by the runtime, here or on the service
        asdk.anonymize(element(conn, adult, seed=10), mode="bogus")


def test_a_job_the_data_does_not_fit_fails_with_the_reason(submitted: dict[str, Any]) -> None:
    job = submitted["failed"]
    with pytest.raises(asdk.JobFailedError, match="'sex'") as failure:
        job.result(timeout=WAIT)
    assert failure.value.state == "failed"
    assert job.state() is asdk.JobStatus.FAILED
    with pytest.raises(asdk.JobFailedError):
        job.risk_stats(timeout=1)


def test_unknown_job_is_not_found(conn: asdk.Connection) -> None:
    job = conn.job("0" * 32)
    for call in (job.status, job.metadata, job.abort, job.delete, lambda: job.result(timeout=1)):
        with pytest.raises(asdk.JobNotFoundError):
            call()
    with pytest.raises(asdk.JobNotFoundError):
        asdk.apply_anonymize(job, pd.DataFrame({"sex": ["Male"]}))


# --------------------------------------------------------------------------- the configuration round trip
def test_to_config_round_trips(conn: asdk.Connection, adult: pd.DataFrame, tmp_path: Path) -> None:
    e = (asdk.AnonElement(conn, adult)
         .identifier("ssn")
         .quasi_identifier("age", hierarchy=asdk.Interval([5, 10, 20]), weight=2.0)
         .quasi_identifier("zip", hierarchy=asdk.Masking(max_level=3))
         .quasi_identifier("education", hierarchy=asdk.HierarchyFile(adult_hierarchy("education")))
         .quasi_identifier("sex", hierarchy=asdk.Tree({"Male": ["*"], "Female": ["*"]}))
         .quasi_identifier("birth", hierarchy=asdk.DateLevels(["year", "decade"]))
         .quasi_identifier("race", hierarchy={"type": "auto"})
         .sensitive("disease", "income")
         .insensitive("workclass")
         .k_anonymity(3).k_anonymity(K)
         .l_diversity("disease", 2)
         .t_closeness("income", 0.2, distance_metric="ordered")
         .delta_presence(0.0, 0.5, adult.head(10))
         .max_suppression(0.05)
         .metric("loss", gs_factor=0.3)
         .additional_properties(single_file="no", seed=11))
    config = e.to_config()
    assert isinstance(config, JobConfig)
    assert config.k() == K and len(config.privacy_models) == 4, "k_anonymity replaces, does not add"
    assert config.attribute("age").hierarchy.params.intervals == [5, 10, 20]
    assert config.attribute("age").weight == 2.0
    assert config.attribute("disease").type == "sensitive"
    assert config.metric.params.gs_factor == 0.3
    assert config.additional_properties.single_file == "no"
    assert asdk.AnonElement(conn, adult, config=config).to_config() == config
    assert asdk.AnonElement(conn, adult, config=config.to_dict()).to_config() == config
    saved = tmp_path / "job.yaml"
    saved.write_text(config.to_yaml())
    assert asdk.AnonElement(conn, adult, config=str(saved)).to_config().to_dict() == config.to_dict()
    changed = asdk.AnonElement(conn, adult, config=config).insensitive("age").to_config()
    assert [a.name for a in changed.attributes] == [a.name for a in config.attributes], "a role change keeps order"
    assert changed.attribute("age").type == "insensitive" and changed.attribute("age").hierarchy is None


def test_the_spec_example_round_trips(conn: asdk.Connection) -> None:
    example = {
        "target": {"type": "file", "file": {"name": "out/customers_anon.parquet", "format": "parquet"}},
        "attributes": [
            {"name": "ssn", "type": "identifier"},
            {"name": "age", "type": "quasi_identifier", "hierarchy": {"type": "interval",
                                                                       "params": {"intervals": [5, 10, 20]}}},
            {"name": "zip", "type": "quasi_identifier", "hierarchy": {"type": "masking",
                                                                       "params": {"max_level": 5, "mask_char": "*"}}},
            {"name": "disease", "type": "sensitive"},
            {"name": "income", "type": "insensitive"},
        ],
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 5}},
                           {"model_type": "l-diversity",
                            "params": {"l": 2, "diversity_type": "distinct", "attribute": "disease"}}],
        "max_suppression": 0.05,
        "metric": {"name": "loss"},
        "additional_properties": {"single_file": "yes"},
    }
    built = (asdk.AnonElement(conn)
             .identifier("ssn")
             .quasi_identifier("age", hierarchy=asdk.Interval([5, 10, 20]))
             .quasi_identifier("zip", hierarchy=asdk.Masking(max_level=5))
             .sensitive("disease")
             .insensitive("income")
             .k_anonymity(5)
             .l_diversity("disease", 2)
             .max_suppression(0.05)
             .metric("loss"))
    loaded = asdk.AnonElement(conn, config=example)
    assert loaded.to_config() == JobConfig.load(example)
    assert built.to_config().model_dump(exclude={"target"}) == loaded.to_config().model_dump(exclude={"target"})


# --------------------------------------------------------------------------- connections
def test_default_connection_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ANON_OPS_URL", raising=False)
    monkeypatch.setenv("ANON_OPS_HOME", str(tmp_path / "home"))
    first, second = asdk.Connection(), asdk.Connection()
    assert not first.is_remote and first.location == str(tmp_path / "home")
    assert first.backend.runtime is second.backend.runtime, "one runtime per home in a process"
    assert asdk.job_ids(first) == []
    monkeypatch.setenv("ANON_OPS_URL", "http://127.0.0.1:1")
    remote = asdk.Connection()
    assert remote.is_remote and remote.location == "http://127.0.0.1:1"


def test_token_is_sent_and_a_wrong_one_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANON_OPS_TOKEN", raising=False)
    with LiveService(tmp_path / "home", token="s3cret") as service:
        with pytest.raises(asdk.AuthenticationError, match="401"):
            asdk.job_ids(asdk.Connection(service.url, token="wrong"))
        with pytest.raises(asdk.AuthenticationError):
            asdk.job_ids(asdk.Connection(service.url))
        assert asdk.job_ids(asdk.Connection(service.url, token="s3cret")) == []


def test_async_client_status_wait_abort(live_service: LiveService, adult: pd.DataFrame) -> None:  # noqa: F811
    conn = asdk.Connection(live_service.url)
    job = asdk.anonymize(element(conn, adult.head(2000), seed=12))

    async def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with asdk.AsyncRemoteClient(live_service.url) as client:
            first = await client.get_status(job.id())
            final = await client.wait(job.id(), poll_interval=0.2, timeout=WAIT)
            aborted = await client.abort(job.id())
            with pytest.raises(asdk.JobNotFoundError):
                await client.get_status("0" * 32)
            return first, final, aborted

    first, final, aborted = asyncio.run(run())
    assert first["id"] == job.id() and first["status"] in ("queued", "running", "completed")
    assert final["status"] == "completed"
    assert aborted["status"] == "completed", "abort leaves an ended job as it is"


# --------------------------------------------------------------------------- transport: retries and errors
@dataclass
class Scripted:
    """A local HTTP server answering with the scripted (status, headers, body) replies in turn."""

    replies: list[tuple[int, dict[str, str], Any]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    script = Scripted([])

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            script.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                    "body": self.rfile.read(length)})
            status, headers, body = script.replies.pop(0) if script.replies else (500, {}, {"detail": "unscripted"})
            content = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    script.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=script.server.serve_forever, daemon=True)
    thread.start()
    yield script
    script.server.shutdown()
    script.server.server_close()


FAST = asdk.RetryPolicy(max_retries=3, backoff=0.01, cap=0.05)
DOC = {"id": "abc", "status": "queued", "running": 0.0, "completed": None, "info": {}}


def test_the_retry_predicate() -> None:
    import httpx

    assert all(asdk.is_retryable(status=s) for s in (429, 500, 502, 503, 504))
    assert not any(asdk.is_retryable(status=s) for s in (200, 400, 401, 404, 409, 422))
    assert asdk.is_retryable(error=requests.ConnectionError())
    assert asdk.is_retryable(error=requests.ReadTimeout())
    assert asdk.is_retryable(error=httpx.ConnectError("refused"))
    assert asdk.is_retryable(error=httpx.ReadTimeout("slow"))
    assert not asdk.is_retryable(error=ValueError("bug"))
    policy = asdk.RetryPolicy(backoff=1.0, cap=4.0, jitter=0.0, max_retries=10)
    assert [policy.delay(a) for a in range(4)] == [1.0, 2.0, 4.0, 4.0]
    assert policy.delay(0, "7") == 7.0
    assert policy.delay(0, "3600") is None, "a Retry-After beyond max_retry_after gives up at once"
    assert policy.delay(10) is None


def test_5xx_and_429_are_retried_honouring_retry_after(scripted: Scripted) -> None:
    scripted.replies = [(503, {"Retry-After": "0"}, {"detail": "queue full"}), (502, {}, None),
                        (429, {"Retry-After": "0"}, {"detail": "slow down"}), (200, {}, DOC)]
    backend = asdk.RemoteBackend(scripted.url, token="t", retry=FAST)
    started = time.monotonic()
    assert backend.status("abc") == DOC
    assert len(scripted.requests) == 4
    assert time.monotonic() - started < 2
    assert all(r["headers"]["Authorization"] == "Bearer t" for r in scripted.requests)


def test_a_retried_submit_sends_the_same_body_and_idempotency_key(scripted: Scripted, adult: pd.DataFrame) -> None:
    in_progress = "Idempotency-Key: another request with this key was being processed at the same time; retry"
    scripted.replies = [(500, {}, {"detail": "internal error"}), (409, {}, {"detail": in_progress}),
                        (202, {}, {**DOC, "created": True})]
    conn = asdk.Connection(backend=asdk.RemoteBackend(scripted.url, retry=FAST))
    job = asdk.anonymize(element(conn, adult.head(100), seed=13), force=True, mode="auto")
    assert job.id() == "abc" and job.created is True
    first, *others = scripted.requests
    assert len(others) == 2
    assert first["path"].startswith("/api/v1/jobs?") and "force=true" in first["path"] and "mode=auto" in first["path"]
    assert all(r["headers"]["Idempotency-Key"] == first["headers"]["Idempotency-Key"] for r in others)
    assert all(r["body"] == first["body"] for r in others)
    assert b'name="data"; filename="data.parquet"' in first["body"]
    assert b'"type": "tree"' in first["body"], "file hierarchies are sent inline"


def test_errors_are_mapped_and_not_retried(scripted: Scripted) -> None:
    scripted.replies = [(401, {}, {"detail": "Authorization: a valid bearer token is required"}),
                        (404, {}, {"detail": "job 'abc' not found"}),
                        (409, {}, {"detail": "job abc is running"}),
                        (422, {}, {"detail": "attributes.0.name: unknown column"}),
                        (429, {"Retry-After": "3600"}, {"detail": "rate limit"})]
    backend = asdk.RemoteBackend(scripted.url, retry=FAST)
    with pytest.raises(asdk.AuthenticationError, match="token"):
        backend.status("abc")
    with pytest.raises(asdk.JobNotFoundError):
        backend.status("abc")
    with pytest.raises(asdk.JobStateError, match="running"):
        backend.statistics("abc")
    with pytest.raises(asdk.ConfigError, match=r"attributes\.0\.name"):
        backend.status("abc")
    with pytest.raises(asdk.RateLimitedError) as limited:
        backend.status("abc")
    assert limited.value.retry_after == 3600
    assert len(scripted.requests) == 5


def test_retries_end_in_the_matching_error(scripted: Scripted) -> None:
    scripted.replies = [(503, {"Retry-After": "0"}, {"detail": "the queue is full"})] * 4
    with pytest.raises(asdk.QueueFullError, match="queue is full"):
        asdk.RemoteBackend(scripted.url, retry=FAST).status("abc")
    assert len(scripted.requests) == 4, "the first try and max_retries=3 retries"
    with pytest.raises(asdk.ServiceError, match="not reachable"):
        asdk.RemoteBackend(f"http://127.0.0.1:{free_port()}", retry=FAST).status("abc")


def test_async_client_retries_with_the_same_predicate(scripted: Scripted) -> None:
    scripted.replies = [(503, {"Retry-After": "0"}, {"detail": "busy"}), (200, {}, DOC),
                        (200, {}, {**DOC, "status": "running"}), (200, {}, {**DOC, "status": "completed"}),
                        (404, {}, {"detail": "nope"})]

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        async with asdk.AsyncRemoteClient(scripted.url, token="t", retry=FAST) as client:
            first = await client.get_status("abc")
            final = await client.wait("abc", poll_interval=0.01, timeout=5)
            with pytest.raises(asdk.JobNotFoundError):
                await client.abort("abc")
            return first, final

    first, final = asyncio.run(run())
    assert first == DOC and final["status"] == "completed"
    assert [r["method"] for r in scripted.requests] == ["GET", "GET", "GET", "GET", "POST"]
    assert scripted.requests[-1]["path"] == "/api/v1/jobs/abc/abort"
    assert scripted.requests[0]["headers"]["Authorization"] == "Bearer t"
