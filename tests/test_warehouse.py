"""The example warehouse: sample load, daily increments, publishing and the run log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from anon_ops import warehouse


def test_sample_warehouse_command_loads_raw_tables(tmp_path):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    done = subprocess.run([str(Path(sys.executable).parent / "anon-ops"), "sample-warehouse", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(warehouse.read(url, warehouse.RAW_TABLE)) == 30162
    day = warehouse.increment(url, "2026-01-02")
    assert len(day) == warehouse.SAMPLE_BATCH_ROWS
    assert "batch_date" not in day.columns


def test_default_url_lives_in_the_home(tmp_path, monkeypatch):
    monkeypatch.delenv("ANON_OPS_WAREHOUSE", raising=False)
    monkeypatch.setenv("ANON_OPS_HOME", str(tmp_path))
    assert warehouse.warehouse_url() == f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("ANON_OPS_WAREHOUSE", "sqlite:///x.db")
    assert warehouse.warehouse_url() == "sqlite:///x.db"


def test_publish_replaces_and_runs_append(tmp_path, adult):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    warehouse.publish(adult.head(10), url)
    warehouse.publish(adult.head(4), url)
    assert len(warehouse.read(url, warehouse.PUBLISHED_TABLE)) == 4
    stats = {"rows": {"input": 4, "output": 4, "suppressed": 0}, "transformation": {"age": 1},
             "risk": {"target": {"prosecutor": {"highest_risk": 0.2}}}}
    warehouse.record_run(url, stats, job_id="a", orchestrator="test")
    warehouse.record_run(url, stats, job_id="b", verdict="resubmit", attempt=1)
    runs = warehouse.read(url, warehouse.RUNS_TABLE)
    assert list(runs["job_id"]) == ["a", "b"]
    assert list(runs["verdict"]) == ["publish", "resubmit"]
    assert runs["prosecutor_highest_risk"].iloc[0] == 0.2
