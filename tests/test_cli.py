"""The anon-ops command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from anon_ops.data import ADULT_CSV, ADULT_JOB

ANON_OPS = str(Path(sys.executable).parent / "anon-ops")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ANON_OPS, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_anonymize_writes_output_and_statistics(tmp_path):
    out, stats = tmp_path / "out" / "adult.csv", tmp_path / "stats.json"
    done = run("anonymize", str(ADULT_JOB), "--output", str(out), "--stats", str(stats), "--seed", "5")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    document = json.loads(stats.read_text())
    assert summary["transformation"] == document["transformation"]
    assert document["output"]["seed"] == 5
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(table) == document["rows"]["output"] == 30162
    published = table[~(table == "*").all(axis=1)]
    assert published.groupby(list(table.columns)).size().min() >= 5
    assert not list(tmp_path.glob("out/.*")), "no temporary file may be left behind"


def test_input_override_and_parquet_output(tmp_path):
    small = pd.read_csv(ADULT_CSV, sep=";", dtype=str, keep_default_na=False).head(3000)
    source = tmp_path / "small.csv"
    small.to_csv(source, index=False)
    out = tmp_path / "small.parquet"
    done = run("anonymize", str(ADULT_JOB), "--input", str(source), "--output", str(out), "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert len(pd.read_parquet(out)) == 3000


def test_invalid_configuration_exits_2_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("attributes: [{name: age, type: quasi_identifier}]\nprivacy_models: "
                   "[{model_type: k-anonymity, params: {k: -1}}]\n")
    done = run("anonymize", str(bad), "--input", str(ADULT_CSV), "--output", str(tmp_path / "o.csv"))
    assert done.returncode == 2
    assert "privacy_models.0.params.k" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o.csv").exists()


def test_invalid_data_exits_2_and_writes_nothing(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("sex;age;race;marital-status;education;native-country;workclass;occupation;salary-class\n"
                    "Robot;39;White;Never-married;Bachelors;United-States;State-gov;Adm-clerical;<=50K\n")
    out = tmp_path / "o.csv"
    done = run("anonymize", str(ADULT_JOB), "--input", str(data), "--output", str(out))
    assert done.returncode == 2
    assert "'sex'" in done.stderr and "Robot" in done.stderr
    assert not out.exists()


def test_risk_command_measures_raw_adult():
    done = run("risk", str(ADULT_CSV), "--qi",
               "sex,age,race,marital-status,education,native-country,workclass,occupation,salary-class")
    assert done.returncode == 0, done.stderr
    risk = json.loads(done.stdout)
    assert risk["classes"] == 19502
    assert abs(risk["sample_uniqueness"] - 0.514290) < 1e-6
    missing = run("risk", str(ADULT_CSV), "--qi", "sex,shoe")
    assert missing.returncode == 2 and "shoe" in missing.stderr


def test_demo_runs_the_shipped_job(tmp_path):
    done = run("demo", "--output-dir", str(tmp_path / "demo"), "--seed", "1")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo" / "adult_anonymized.csv").exists()
    stats = json.loads((tmp_path / "demo" / "adult_statistics.json").read_text())
    assert stats["max_suppression"] == 0.05
