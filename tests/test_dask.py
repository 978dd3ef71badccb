"""The Dask backend against the in-process engine: same transformation, same statistics and — up to
row order — the same output; partitioned sources and targets; abort and progress, in-process and
through the job runtime. One small LocalCluster (2 workers × 1 thread, threads, TCP so that job
worker processes can use it too) serves the whole module."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster

from anon_ops.config import DataStore, JobConfig
from anon_ops.engine import dask_backend
from anon_ops.engine.anonymizer import anonymize, apply_transformation
from anon_ops.engine.distributed import SCHEDULER_ENV, anonymize_distributed, use_dask
from anon_ops.engine.encoding import encode
from anon_ops.errors import AbortedError, ConfigError
from anon_ops.io import read_table
from anon_ops.jobs import JobRuntime, JobStatus
from anon_ops.settings import Settings
from tests.conftest import adult_config

RESAMPLED_ROWS = 200_000
# dask's own Parquet reader still calls reset_index(inplace=True)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                           dashboard_address=None)
    with Client(cluster) as c:  # the current client: anonymize() with backend dask runs on it
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def resampled(adult) -> pd.DataFrame:
    rows = np.random.default_rng(20240601).integers(0, len(adult), RESAMPLED_ROWS)
    return adult.iloc[rows].reset_index(drop=True)


def on_dask(config: dict[str, Any], partition_rows: int) -> dict[str, Any]:
    return {**config, "execution": {"backend": "dask", "partition_rows": partition_rows}}


def mixed_config() -> dict[str, Any]:
    """Generated hierarchies (built from the distinct values), sensitive attributes, l-diversity,
    t-closeness, the entropy metric and dropped suppressed rows: everything the passes handle."""
    config = adult_config(qis=["sex", "race", "marital-status", "native-country"],
                          sensitive=["occupation", "salary-class"], suppression=0.05, metric="entropy")
    config["attributes"] = [a for a in config["attributes"] if a["name"] not in ("age", "education")] + [
        {"name": "age", "type": "quasi_identifier",
         "hierarchy": {"type": "interval", "params": {"intervals": [5, 10]}}},
        {"name": "education", "type": "quasi_identifier", "hierarchy": {"type": "auto"}},
    ]
    config["privacy_models"] += [
        {"model_type": "l-diversity", "params": {"attribute": "occupation", "l": 2, "diversity_type": "entropy"}},
        {"model_type": "t-closeness", "params": {"attribute": "salary-class", "t": 0.3}},
    ]
    config["additional_properties"]["drop_suppressed"] = True
    return config


def comparable(statistics: dict[str, Any]) -> dict[str, Any]:
    """The statistics document without what legitimately differs: timing, backend, shuffle seed."""
    document = json.loads(json.dumps(statistics, default=lambda v: v.item()))
    for key in ("search", "execution"):
        document.pop(key, None)
    document["output"].pop("seed")
    return document


def sorted_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), kind="stable").reset_index(drop=True)


def assert_same_run(df: pd.DataFrame, config: dict[str, Any], partition_rows: int) -> None:
    local = anonymize(df, config)
    distributed = anonymize(df, on_dask(config, partition_rows))
    assert distributed.statistics["execution"]["partitions"] > 1
    assert distributed.transformation == local.transformation
    assert comparable(distributed.statistics) == comparable(local.statistics)
    pd.testing.assert_frame_equal(sorted_rows(distributed.data), sorted_rows(local.data))


# --------------------------------------------------------------------------- same results
def test_adult_on_dask_equals_in_process(client, adult):
    assert_same_run(adult, adult_config(suppression=0.05), partition_rows=7_000)


def test_resampled_table_on_dask_equals_in_process(client, resampled):
    assert_same_run(resampled, adult_config(k=5, suppression=0.05), partition_rows=45_000)


def test_generated_hierarchies_and_sensitive_attributes_on_dask(client, adult, resampled):
    assert_same_run(adult, mixed_config(), partition_rows=8_000)
    assert_same_run(resampled.head(60_000), mixed_config(), partition_rows=25_000)


def test_combined_frequency_set_is_the_in_process_one(client, adult):
    """Row for row, in the same order: the search and every float sum then cannot differ."""
    config = JobConfig.load(mixed_config())
    expected = encode(adult, config).base
    frame, _parts = dask_backend.as_dask(adult, config.model_copy(update={"execution": config.execution.model_copy(
        update={"partition_rows": 5_000})}), client)
    encoded, rows, _, _ = dask_backend._frequency_set(client, frame, config, dask_backend._Watch(None, None))
    assert rows == len(adult) and frame.npartitions == 7
    for name in ("qi", "extra", "counts"):
        np.testing.assert_array_equal(getattr(encoded.base, name), getattr(expected, name))


def test_search_does_not_depend_on_row_order(adult):
    config = adult_config(suppression=0.05)
    shuffled = adult.sample(frac=1.0, random_state=11).reset_index(drop=True)
    first, second = anonymize(adult, config), anonymize(shuffled, config)
    assert first.transformation == second.transformation
    assert first.statistics["information_loss"]["value"] == pytest.approx(
        second.statistics["information_loss"]["value"], rel=1e-12)
    assert first.statistics["search"]["checked"] == second.statistics["search"]["checked"]


def test_apply_transformation_on_dask(client, adult):
    config = adult_config(k=10)
    transformation = anonymize(adult.head(10_000), config).transformation
    local = apply_transformation(adult.iloc[10_000:], config, transformation)
    distributed = anonymize_distributed(adult.iloc[10_000:], on_dask(config, 6_000), transformation=transformation,
                                        client=client)
    assert comparable(distributed.statistics) == comparable(local.statistics)
    pd.testing.assert_frame_equal(sorted_rows(distributed.data), sorted_rows(local.data))


def test_shuffle_is_seeded_across_and_within_partitions(client, adult):
    sample = adult.head(12_000)
    config = on_dask(adult_config(qis=["sex", "age", "race"], k=3, suppression=0.02), 3_000)
    first = anonymize(sample, config).data
    pd.testing.assert_frame_equal(first, anonymize(sample, config).data)  # the recorded seed reproduces it
    other = anonymize(sample, {**config, "additional_properties": {"seed": 8}}).data
    assert not first.equals(other)
    pd.testing.assert_frame_equal(sorted_rows(first), sorted_rows(other))
    # without the shuffle the order is the input's, exactly as in-process
    unshuffled = anonymize(sample, {**config, "additional_properties": {"shuffle": False}})
    assert unshuffled.statistics["output"]["seed"] is None
    local = anonymize(sample, {**adult_config(qis=["sex", "age", "race"], k=3, suppression=0.02),
                               "additional_properties": {"shuffle": False}})
    pd.testing.assert_frame_equal(unshuffled.data, local.data)
    assert not first.equals(unshuffled.data)
    # rows leave their partition: the first output partition's rows come from all input partitions
    assert first.head(3_000).equals(first.head(3_000)) and not first.head(3_000).equals(unshuffled.data.head(3_000))


# --------------------------------------------------------------------------- data stores
def test_partitioned_parquet_in_and_out(client, adult, tmp_path):
    source = tmp_path / "adult.parquet"
    source.mkdir()
    for i, start in enumerate(range(0, len(adult), 10_000)):
        adult.iloc[start:start + 10_000].to_parquet(source / f"part-{i:05d}.parquet", index=False)
    (source / "_SUCCESS").write_text("")
    target = tmp_path / "out" / "anonymized.parquet"
    config = adult_config(suppression=0.05)
    config.update(source={"type": "file", "file": {"name": str(source)}},
                  target={"type": "file", "file": {"name": str(target), "props": {"rows_per_part": 8_000}}})
    config["additional_properties"]["single_file"] = "no"
    store = DataStore.model_validate(config["source"])
    result = anonymize_distributed(store, on_dask(config, 100_000), target=DataStore.model_validate(config["target"]),
                                   client=client)
    assert result.data is None and result.location == str(target)
    assert result.statistics["execution"]["partitions"] == 4
    assert sorted(p.name for p in target.iterdir()) == [f"part-{i:05d}.parquet" for i in range(4)]
    assert [p.name for p in target.parent.iterdir()] == ["anonymized.parquet"]  # no temporaries left
    local = anonymize(read_table(store), adult_config(suppression=0.05))
    written = read_table(DataStore.model_validate(config["target"]))
    assert comparable(result.statistics) == comparable(local.statistics)
    pd.testing.assert_frame_equal(sorted_rows(written), sorted_rows(local.data))


def test_csv_source_and_single_file_targets(client, adult, tmp_path):
    source = tmp_path / "adult.csv"
    adult.to_csv(source, sep=";", index=False)
    config = adult_config(k=5)
    config["source"] = {"type": "file", "file": {"name": str(source)}}  # the separator is sniffed
    local = anonymize(read_table(DataStore.model_validate(config["source"])), config)
    for name in ("out.csv", "out.parquet"):
        target = DataStore.model_validate({"type": "file", "file": {"name": str(tmp_path / name)}})
        result = anonymize_distributed(DataStore.model_validate(config["source"]), on_dask(config, 100_000),
                                       target=target, client=client)
        assert comparable(result.statistics) == comparable(local.statistics)
        pd.testing.assert_frame_equal(sorted_rows(read_table(target)), sorted_rows(local.data))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adult.csv", "out.csv", "out.parquet"]


def test_delta_presence_is_refused_and_thresholds_choose_dask(client, adult, tmp_path):
    subset = tmp_path / "subset.csv"
    adult.head(100).to_csv(subset, index=False)
    config = adult_config(qis=["sex", "age"], k=2)
    config["privacy_models"].append({"model_type": "delta-presence", "params": {
        "delta_min": 0.0, "delta_max": 1.0, "subset": {"type": "file", "file": {"name": str(subset)}}}})
    with pytest.raises(ConfigError, match="δ-presence"):
        anonymize(adult, on_dask(config, 10_000))
    threshold = JobConfig.load({**adult_config(), "execution": {"dask_threshold_rows": 1_000}})
    assert use_dask(threshold, 1_001) and not use_dask(threshold, 1_000)
    assert not use_dask(JobConfig.load({**config, "execution": {"dask_threshold_rows": 1_000}}), 10**6)
    assert not use_dask(JobConfig.load(adult_config()), 10**9)


def test_abort_stops_the_run_and_leaves_nothing(client, adult, tmp_path):
    target = tmp_path / "out.parquet"
    seen: list[float] = []
    calls = {"n": 0}

    def should_abort() -> bool:
        calls["n"] += 1
        return bool(seen) and max(seen) >= 0.6  # once the search is done: during the apply stage

    config = on_dask(adult_config(suppression=0.05), 3_000)
    with pytest.raises(AbortedError):
        anonymize_distributed(adult, config, target=DataStore.model_validate(
            {"type": "file", "file": {"name": str(target)}}), client=client, progress=seen.append,
            should_abort=should_abort)
    assert list(tmp_path.iterdir()) == []
    assert seen == sorted(seen) and seen[0] < 0.35 < seen[-1]
    time.sleep(0.5)
    assert not client.has_what() or all(not keys for keys in client.has_what().values())


# --------------------------------------------------------------------------- the job runtime
@pytest.fixture
def runtime(tmp_path):
    rt = JobRuntime(Settings.from_env(home=tmp_path / "home", workers=1, poll_seconds=0.05))
    yield rt
    rt.close(abort_running=True)


def test_dask_job_reports_progress_and_completes(client, runtime, adult, monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, client.scheduler.address)  # the worker process inherits it
    config = on_dask(adult_config(k=5, suppression=0.05), 10_000)
    job = runtime.submit(config, pd.concat([adult] * 4, ignore_index=True)).job
    progress = []
    deadline = time.monotonic() + 60
    while not (current := runtime.get(job.id)).status.is_terminal and time.monotonic() < deadline:
        progress.append(current.progress)
        time.sleep(0.05)
    assert current.status == JobStatus.COMPLETED, current.error
    assert len({p for p in progress if 0.0 < p < 1.0}) >= 2 and progress == sorted(progress)
    statistics = runtime.statistics(job.id)
    assert statistics["execution"]["backend"] == "dask"
    local = anonymize(pd.concat([adult] * 4, ignore_index=True), adult_config(k=5, suppression=0.05))
    assert comparable(statistics) == comparable(local.statistics)
    pd.testing.assert_frame_equal(sorted_rows(runtime.result(job.id)), sorted_rows(local.data))
    leftovers = [p.name for p in runtime.files(job.id).folder.iterdir()]
    assert sorted(leftovers) == ["result.table", "statistics.json"]


def test_dask_job_abort_leaves_no_output(client, runtime, adult, tmp_path):
    target = tmp_path / "out" / "anonymized.csv"
    config = adult_config(k=5, suppression=0.1, metric="entropy",
                          target={"type": "file", "file": {"name": str(target)}})
    config["execution"] = {"backend": "dask", "scheduler": client.scheduler.address}
    job = runtime.submit(config, pd.concat([adult] * 10, ignore_index=True)).job
    deadline = time.monotonic() + 60
    while (current := runtime.get(job.id)).progress <= 0.05 and time.monotonic() < deadline:
        assert not current.status.is_terminal, current.error
        time.sleep(0.02)
    assert current.status == JobStatus.RUNNING  # the frequency set is counted: search or apply under way
    assert runtime.abort(job.id).status == JobStatus.ABORTED
    time.sleep(0.5)
    assert not target.exists()
    assert not target.parent.exists() or list(target.parent.iterdir()) == []
    assert not runtime.files(job.id).input.exists()
    assert not any(Path(runtime.files(job.id).folder).glob("*result*"))


def test_missing_values_and_other_dtypes_on_dask(client):
    """Numbers, booleans, nullable integers and text with missing values: the hierarchies built from
    the distinct values, the masked output and every distribution equal the in-process run."""
    rng = np.random.default_rng(5)
    n = 20_000
    df = pd.DataFrame({
        "ssn": [f"{i:09d}" for i in range(n)],
        "zip": pd.Series(rng.choice(np.array(["10115", "10117", "20095", "20097", "80331", None], dtype=object), n),
                         dtype="str"),
        "age": rng.integers(18, 90, n),
        "gender": pd.Series(rng.choice(["f", "m"], n), dtype="str"),
        "score": rng.normal(size=n).round(1),
        "member": rng.random(n) < 0.3,
        "note": pd.Series(rng.choice(np.array(["a", "b", None], dtype=object), n), dtype="str"),
        "visits": pd.array(rng.choice(np.array([1, 2, 3, None], dtype=object), n), dtype="Int64"),
    })
    config = {
        "attributes": [{"name": "ssn", "type": "identifier"}]
        + [{"name": q, "type": "quasi_identifier", "hierarchy": {"type": "auto"}} for q in ("zip", "age", "gender")]
        + [{"name": c, "type": "insensitive"} for c in ("score", "member", "note", "visits")],
        "privacy_models": [{"model_type": "k-anonymity", "params": {"k": 5}}],
        "max_suppression": 0.02,
        "additional_properties": {"seed": 3},
    }
    assert_same_run(df, config, partition_rows=6_000)
