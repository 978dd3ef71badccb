"""Deciding before (and after) a job: ``AnonElement.measure`` / ``infer`` on both backends, the REST
routes ``POST /api/v1/measure`` and ``/infer``, the CLI's ``measure``, ``infer`` and ``gate``, and
the error kinds (ConfigError vs DataError) across the wire and through failed jobs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
import sqlalchemy as sa
import yaml

import anon_ops as asdk
from anon_ops.config import JobConfig
from anon_ops.data import ADULT_CSV, ADULT_DIR, adult_hierarchy
from anon_ops.engine.measure import measure as engine_measure
from anon_ops.jobs.store import JobStore, jobs_table
from anon_ops.sdk.errors import JobFailedError, error_kind
from anon_ops.settings import Settings
from tests.live_service import LiveService, live_service  # noqa: F401

API = "/api/v1"
ANON_OPS = str(Path(sys.executable).parent / "anon-ops")
QIS = ["age", "sex", "race"]
COLUMNS = ["age", "sex", "race", "education", "salary-class"]
WAIT = 90.0
CONTRACT_COLUMNS = ("information_loss", "suppressed", "prosecutor_highest_risk", "prosecutor_records_at_risk",
                    "marketer_success_rate", "granularity")


# --------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def small(adult: pd.DataFrame) -> pd.DataFrame:
    return adult[COLUMNS].head(2000).reset_index(drop=True)


@pytest.fixture(scope="module", params=["embedded", "remote"])
def conn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[asdk.Connection]:
    if request.param == "embedded":
        connection = asdk.Connection(settings=Settings(home=tmp_path_factory.mktemp("decide_home")))
    else:
        service: LiveService = request.getfixturevalue("live_service")
        connection = asdk.Connection(service.url)
    yield connection
    connection.close()


def element(conn: asdk.Connection, df: pd.DataFrame) -> asdk.AnonElement:
    """QIs with ARX's hierarchy files: the remote backend must send them inline."""
    e = asdk.AnonElement(conn, df)
    for qi in QIS:
        e.quasi_identifier(qi, hierarchy=asdk.HierarchyFile(adult_hierarchy(qi)))
    return e.additional_properties(seed=3)


def run(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANON_OPS_URL", "ANON_OPS_TOKEN", "ANON_OPS_HOME")}
    env["PYTHONWARNINGS"] = "ignore"
    if home is not None:
        env["ANON_OPS_HOME"] = str(home)
    return subprocess.run([ANON_OPS, *args], capture_output=True, text=True, timeout=180, env=env)


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_typed_error(response: requests.Response, status: int, error_type: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "type"} and body["type"] == error_type, body
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    assert "Traceback" not in response.text


# --------------------------------------------------------------------------- SDK: measure
def test_measure_equals_the_engine_and_a_separate_job(conn: asdk.Connection, small: pd.DataFrame) -> None:
    e = element(conn, small)
    table = e.measure(k=[2, 5, 5000], max_suppression=[0, 0.05])
    assert len(table) == 6 and set(CONTRACT_COLUMNS) <= set(table.columns)
    assert list(table["valid"]) == [True, True, True, True, False, False], "k above the row count: invalid, no error"
    # the same table as the engine's, over the wire too (full float precision, NaN where nothing was found)
    expected = engine_measure(small, e.to_config(), {"k": [2, 5, 5000], "max_suppression": [0, 0.05]})
    pd.testing.assert_frame_equal(table.drop(columns="seconds"), expected.drop(columns="seconds"),
                                  check_dtype=False)

    row = table[(table["k"] == 5) & (table["max_suppression"] == 0.05)].iloc[0]
    stats = asdk.anonymize(element(conn, small).k_anonymity(5).max_suppression(0.05)).statistics(timeout=WAIT)
    target = stats["risk"]["target"]
    assert row["information_loss"] == pytest.approx(stats["information_loss"]["value"], abs=1e-12)
    assert row["suppressed"] == stats["rows"]["suppressed"]
    assert row["transformation"] == stats["transformation"]
    assert row["prosecutor_highest_risk"] == target["prosecutor"]["highest_risk"]
    assert row["prosecutor_records_at_risk"] == target["prosecutor"]["records_at_risk"]
    assert row["marketer_success_rate"] == pytest.approx(target["marketer"]["success_rate"], abs=1e-12)
    assert row["granularity"] == pytest.approx(stats["utility"]["granularity"], abs=1e-12)


def test_measure_errors_keep_their_kind(conn: asdk.Connection, small: pd.DataFrame) -> None:
    with pytest.raises(asdk.ConfigError, match="measure: unknown grid field"):
        element(conn, small).measure(colour=["red"])
    with pytest.raises(asdk.DataError, match="salary") as missing:
        element(conn, small).insensitive("salary").measure(k=[2])
    assert not isinstance(missing.value, asdk.ConfigError), "a data problem is not a configuration problem"


# --------------------------------------------------------------------------- SDK: infer
def test_infer_returns_an_element_that_runs_and_round_trips(conn: asdk.Connection, small: pd.DataFrame,
                                                             tmp_path: Path) -> None:
    base = (asdk.AnonElement(conn, small)
            .quasi_identifier("sex", hierarchy=asdk.HierarchyFile(adult_hierarchy("sex")))
            .max_suppression(0.02).additional_properties(seed=4))
    inferred = base.infer(targetVariable="salary-class")
    assert isinstance(inferred, asdk.AnonElement) and inferred is not base
    assert inferred.connection is conn and inferred.df is small
    assert [p.name for p in inferred.profiles] == COLUMNS
    assert inferred.inference is not None and inferred.inference.accuracy_input is not None
    assert "Inferred configuration" in inferred.inference.report()
    config = inferred.to_config()
    assert config.attribute("sex").hierarchy is not None and config.attribute("sex").hierarchy.type == "file"
    assert config.attribute("salary-class").type.value == "insensitive"
    assert config.max_suppression == 0.02 and config.k() == 5, "what the user set is kept, the rest inferred"
    assert base.to_config().attributes[0].name == "sex" and len(base.to_config().attributes) == 1

    path = tmp_path / "inferred.yaml"
    path.write_text(config.to_yaml())
    reloaded = asdk.AnonElement(conn, small, config=path)
    assert reloaded.to_config().to_dict() == config.to_dict()
    result = asdk.anonymize(reloaded).result(timeout=WAIT)
    assert result.df is not None and len(result.df) == len(small)
    qis = config.quasi_identifiers
    published = result.df[~(result.df[qis] == "*").all(axis=1)]
    assert published.groupby(qis).size().min() >= 5


def test_infer_fills_in_only_what_the_user_left_open(conn: asdk.Connection, small: pd.DataFrame) -> None:
    bare = asdk.AnonElement(conn, small)
    assert bare.to_config().model_fields_set == set(), "an element's defaults do not look user-set"
    inferred = bare.infer(k=3, max_suppression=0.1).to_config()
    assert inferred.k() == 3 and inferred.max_suppression == 0.1
    explicit = asdk.AnonElement(conn, small, config={"max_suppression": 0.0}).infer().to_config()
    assert explicit.max_suppression == 0.0, "a value equal to the default but set by the user is kept"
    with pytest.raises(asdk.DataError, match="target_variable"):
        bare.infer(targetVariable="no-such-column")


# --------------------------------------------------------------------------- error kinds through jobs
def test_a_data_error_in_a_remote_job_is_a_data_error(live_service: LiveService, small: pd.DataFrame,  # noqa: F811
                                                      tmp_path: Path) -> None:
    with asdk.Connection(live_service.url) as remote:
        job = asdk.anonymize(asdk.AnonElement(remote, small).quasi_identifier(
            "sex", hierarchy=asdk.Tree({"Male": ["*"]})).k_anonymity(2))
        with pytest.raises(asdk.DataError, match="'sex'") as failure:
            job.result(timeout=WAIT)
    assert isinstance(failure.value, asdk.JobFailedError) and failure.value.state == "failed"
    assert failure.value.error_type == "DataError" and job.status()["error_type"] == "DataError"

    data, config = tmp_path / "data.csv", tmp_path / "job.yaml"
    small.to_csv(data, index=False)
    config.write_text("attributes: [{name: sex, type: quasi_identifier, "
                      "hierarchy: {type: tree, params: {mapping: {Male: ['*']}}}}]\n"
                      "privacy_models: [{model_type: k-anonymity, params: {k: 2}}]\n")
    done = run("anonymize", str(config), "--connection", live_service.url, "--input", str(data),
               "--output", str(tmp_path / "out.csv"))
    assert done.returncode == 2, done.stderr
    assert "failed" in done.stderr and "'sex'" in done.stderr and "Traceback" not in done.stderr


def test_error_kinds_by_name() -> None:
    assert error_kind("DataError") is asdk.DataError and error_kind("ConfigError") is asdk.ConfigError
    assert error_kind("NoSolutionError") is asdk.DataError, "subclasses count, even if not imported yet"
    assert error_kind("JobNotFoundError") is None and error_kind("Nonsense") is None and error_kind(None) is None
    failed = JobFailedError.of({"id": "j", "status": "failed", "error": "bad", "error_type": "ConfigError"})
    assert isinstance(failed, asdk.ConfigError) and isinstance(failed, asdk.JobFailedError)
    other = JobFailedError.of({"id": "j", "status": "failed", "error": "x", "error_type": "RuntimeError"})
    assert not isinstance(other, asdk.ConfigError | asdk.DataError)


def test_an_old_job_store_gains_the_error_type_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    old = sa.MetaData()
    sa.Table(jobs_table.name, old, *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                     for c in jobs_table.columns if c.name != "error_type"))
    engine = sa.create_engine(url)
    old.create_all(engine)
    with engine.begin() as c:
        c.execute(sa.text(f"INSERT INTO {jobs_table.name} (id, kind, status, progress, created_at, config, info, "
                          "error, pty_storage, attempts, abort_requested) VALUES ('old', 'anonymize', 'failed', 0, "
                          "1.0, '{}', '{}', 'boom', 1, 1, 0)"))
    engine.dispose()

    store = JobStore(url)
    job = store.get("old")
    assert job is not None and job.error == "boom" and job.error_type is None
    assert job.status_document()["error_type"] is None
    store.update("old", error_type="DataError")
    assert JobStore(url).get("old").error_type == "DataError", "a second open leaves the migrated store as it is"


# --------------------------------------------------------------------------- REST
@pytest.fixture(scope="module")
def data_root(live_service: LiveService) -> Path:  # noqa: F811
    root = live_service.home / "data"
    for qi in QIS:
        shutil.copy(ADULT_DIR / f"adult_hierarchy_{qi}.csv", root)
    shutil.copy(ADULT_CSV, root / "adult.csv")
    return root


def rest_config(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "attributes": [{"name": q, "type": "quasi_identifier",
                        "hierarchy": {"type": "file", "name": f"adult_hierarchy_{q}.csv"}} for q in QIS],
    }
    config.update(extra)
    return config


def test_rest_measure_and_infer(live_service: LiveService, data_root: Path, small: pd.DataFrame) -> None:  # noqa: F811
    url = f"{live_service.url}{API}"
    source = {"type": "file", "file": {"name": "adult.csv", "props": {"sep": ";"}}}
    measured = requests.post(f"{url}/measure", json={"config": rest_config(source=source),
                                                     "grid": {"k": [2, 10], "metric": ["loss", "entropy"]}}, timeout=60)
    assert measured.status_code == 200, measured.text
    rows = measured.json()["candidates"]
    assert [(r["k"], r["metric"]) for r in rows] == [(2, "loss"), (2, "entropy"), (10, "loss"), (10, "entropy")]
    assert all(r["valid"] and set(CONTRACT_COLUMNS) <= set(r) for r in rows)

    csv = small.to_csv(index=False).encode()
    inferred = requests.post(f"{url}/infer", data={"target": "salary-class", "k": "4", "max_suppression": "0.02",
                                                  "config": json.dumps({"attributes": [{"name": "age",
                                                                                        "type": "insensitive"}]})},
                             files={"data": ("small.csv", csv)}, timeout=120)
    assert inferred.status_code == 200, inferred.text
    document = inferred.json()
    config = JobConfig.parse(document["config"])
    assert config.k() == 4 and config.max_suppression == 0.02 and config.attribute("age").type.value == "insensitive"
    assert [p["name"] for p in document["profiles"]] == COLUMNS and document["target_variable"] == "salary-class"


def test_rest_errors_carry_their_type(live_service: LiveService, data_root: Path) -> None:  # noqa: F811
    url = f"{live_service.url}{API}"
    csv = ADULT_CSV.read_bytes()

    def measure(config: dict[str, Any], grid: dict[str, Any], data: bytes = csv, name: str = "a.csv") -> Any:
        return requests.post(f"{url}/measure", data={"config": json.dumps(config), "grid": json.dumps(grid)},
                             files={"data": (name, data)}, timeout=60)

    assert_typed_error(measure(rest_config(), {"k": [0]}), 422, "ConfigError", "privacy_models.0.params.k")
    assert_typed_error(measure(rest_config(), {"colour": [1]}), 422, "ConfigError", "grid field")
    assert_typed_error(measure(rest_config(), {"k": [2]}, b"\x00garbage", "a.parquet"), 422, "DataError", "data")
    missing = rest_config(attributes=[*rest_config()["attributes"], {"name": "salary", "type": "insensitive"}])
    assert_typed_error(measure(missing, {"k": [2]}), 422, "DataError", "salary")
    outside = rest_config(source={"type": "file", "file": {"name": "/etc/hosts"}})
    assert_typed_error(requests.post(f"{url}/measure", json={"config": outside}, timeout=30), 403,
                       "PathNotAllowedError", "source.file.name")
    assert_typed_error(requests.post(f"{url}/measure", json={"grid": {}}, timeout=30), 422, "ConfigError", "config")

    def infer(**fields: str) -> Any:
        return requests.post(f"{url}/infer", data=fields, files={"data": ("a.csv", csv)}, timeout=60)

    assert_typed_error(infer(target="nope"), 422, "DataError", "target_variable")
    assert_typed_error(infer(k="many"), 422, "ConfigError", "k")
    assert_typed_error(infer(colour="red"), 422, "ConfigError", "colour")
    assert_typed_error(requests.post(f"{url}/infer", json={}, timeout=30), 422, "ConfigError", "data")
    bad_job = requests.post(f"{url}/jobs", data={"config": json.dumps(rest_config(max_suppression=2))},
                            files={"data": ("a.csv", csv)}, timeout=60)
    assert_typed_error(bad_job, 422, "ConfigError", "max_suppression")
    assert_typed_error(requests.get(f"{url}/jobs/nope", timeout=30), 404, "JobNotFoundError", "nope")
    assert_typed_error(requests.get(f"{url}/jobs", params={"limit": 0}, timeout=30), 422, "ConfigError", "limit")


# --------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, small: pd.DataFrame) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("decide_cli")
    data = folder / "small.csv"
    small.to_csv(data, index=False)
    config = folder / "job.yaml"
    config.write_text(JobConfig.parse(rest_config()).to_yaml().replace(
        "name: adult_hierarchy_", f"name: {ADULT_DIR}/adult_hierarchy_"))
    return {"folder": folder, "data": data, "config": config}


def test_cli_measure_embedded_and_remote(files: dict[str, Path], live_service: LiveService) -> None:  # noqa: F811
    grid = ("--grid", "k=2,5", "--grid", "max_suppression=0,0.05", "--grid", "metric=loss")
    home, out = files["folder"] / "home", files["folder"] / "table.csv"
    args = ("measure", str(files["config"]), "--input", str(files["data"]), *grid)
    table = run(*args, "--output", str(out), home=home)
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header[:3] == ["k", "max_suppression", "metric"] and set(CONTRACT_COLUMNS) <= set(header)
    assert len(table.stdout.splitlines()) == 5
    written = pd.read_csv(out)
    assert len(written) == 4 and json.loads(written["transformation"][0]).keys() == set(QIS)
    assert not (home / "jobs.db").exists(), "measuring is not a job: the embedded runtime is not started"

    remote = ok(run(*args, "--json", "--connection", live_service.url))
    local = written.drop(columns=["transformation", "seconds"]).to_dict(orient="records")
    assert [{k: r[k] for k in local[0]} for r in remote] == local

    bad = run("measure", str(files["config"]), "--input", str(files["data"]), "--grid", "k", home=home)
    assert bad.returncode == 2 and "--grid" in bad.stderr
    assert run("measure", str(files["config"]), home=home).returncode == 2, "no source and no --input"


def test_cli_infer_writes_a_configuration(files: dict[str, Path], live_service: LiveService) -> None:  # noqa: F811
    out = files["folder"] / "inferred.yaml"
    done = run("infer", str(files["data"]), "--target", "salary-class", "--output", str(out),
               home=files["folder"] / "home")
    assert done.returncode == 0, done.stderr
    assert "Inferred configuration for 5 column(s)" in done.stdout and "salary-class" in done.stdout
    config = JobConfig.load(out)
    assert config.attribute("salary-class").type.value == "insensitive" and config.k() == 5
    assert config.source is not None and config.source.file is not None
    assert Path(config.source.file.name) == files["data"].resolve(), "the configuration runs on DATA as is"

    remote = run("infer", str(files["data"]), "--config", str(files["config"]), "--connection", live_service.url)
    assert remote.returncode == 0, remote.stderr
    inferred = JobConfig.parse(yaml.safe_load(remote.stdout))  # the YAML on stdout, the report on stderr
    assert inferred.attribute("age").hierarchy is not None and inferred.attribute("age").hierarchy.type == "file"
    assert "Inferred configuration" in remote.stderr
    missing = run("infer", str(files["folder"] / "missing.csv"), home=files["folder"] / "home")
    assert missing.returncode == 2 and "missing.csv" in missing.stderr and "Traceback" not in missing.stderr


def test_cli_gate_publish_and_resubmit(tmp_path: Path) -> None:
    def stats(highest: float, at_risk: float) -> dict[str, Any]:
        risk = {"highest_risk": highest, "records_at_risk": at_risk, "success_rate": 0.05}
        return {
            "transformation": {"age": 1, "sex": 0},
            "rows": {"input": 1000, "output": 1000, "suppressed": 10},
            "equivalence_classes": 42,
            "risk": {"target": {"threshold": 0.2, "prosecutor": dict(risk), "journalist": dict(risk),
                                "marketer": {"success_rate": 0.05}, "sample_uniqueness": 0.0,
                                "population_uniqueness": 0.0}},
            "utility": {"granularity": 0.7, "generalization_intensity": 0.6, "non_uniform_entropy": 0.4,
                        "discernibility": 0.9, "aecs": 0.99, "ambiguity": 0.95},
            "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 5}}],
            "max_suppression": 0.02,
            "information_loss": {"metric": "loss", "value": 0.3},
        }

    good, risky, policy = tmp_path / "good.json", tmp_path / "risky.json", tmp_path / "policy.yaml"
    good.write_text(json.dumps(stats(0.2, 0.0)))
    risky.write_text(json.dumps(stats(0.5, 0.2)))
    policy.write_text("ladder: [{raise_k: {to: 10}}]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANON_OPS_")}
    processes = [subprocess.Popen([ANON_OPS, "gate", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)
                 for args in ([str(good)], [str(risky), "--policy", str(policy)])]  # side by side: GX loads slowly
    (published, _), (resubmit, _) = (p.communicate(timeout=180) for p in processes)
    assert [p.returncode for p in processes] == [0, 0]
    published, resubmit = json.loads(published), json.loads(resubmit)
    assert published["verdict"] == "publish" and published["next_config"] is None
    assert resubmit["verdict"] == "resubmit" and JobConfig.parse(resubmit["next_config"]).k() == 10
    assert any("prosecutor_highest_risk" in reason for reason in resubmit["reasons"])
    missing = run("gate", str(tmp_path / "missing.json"))
    assert missing.returncode == 2 and "STATS" in missing.stderr
