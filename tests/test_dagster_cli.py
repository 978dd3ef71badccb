"""``dagster_defs`` through Dagster's own command line, as a user runs it.

* ``dagster asset materialize -m dagster_defs --select '*'`` from a fresh ``DAGSTER_HOME`` and
  ``ANON_OPS_HOME`` (the sample is loaded into a new DuckDB warehouse, the job runs embedded, the
  published table is checked for k-anonymity with pycanon);
* ``dagster dev -m dagster_defs`` started once, in its own process group on a free port: its
  GraphQL API lists the assets and the blocking gate checks, then the group is stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pycanon import anonymity

from anon_ops import warehouse as wh
from anon_ops.data import ADULT_QIS
from tests.live_service import free_port

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
DEV_START_SECONDS = 120.0
STOP_SECONDS = 30.0


def fresh_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a new checkout: tmp homes, no anon-ops settings of the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANON_OPS_", "DAGSTER_"))}
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    env["ANON_OPS_HOME"] = str(tmp_path / "anon_ops_home")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    Path(env["DAGSTER_HOME"]).mkdir()
    return env


def test_asset_materialize_select_all_from_fresh_homes(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    done = subprocess.run([DAGSTER, "asset", "materialize", "-m", "dagster_defs", "--select", "*"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=420, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-4000:]
    url = f"duckdb:///{Path(env['ANON_OPS_HOME']) / 'warehouse.duckdb'}"  # the default warehouse
    published = wh.read(url, wh.PUBLISHED_TABLE)
    kept = published[~(published[ADULT_QIS].astype(str) == "*").all(axis=1)].reset_index(drop=True)
    assert len(kept) > 0.9 * len(published) > 0
    assert anonymity.k_anonymity(kept, ADULT_QIS) >= 5
    runs = wh.read(url, wh.RUNS_TABLE)
    assert runs["orchestrator"].tolist() == ["dagster:published/adult"] and runs["verdict"].tolist() == ["publish"]


# --------------------------------------------------------------------------- dagster dev
def _reset_signals_and_exec(argv: list[str]) -> list[str]:
    """A command that resets SIGINT/SIGTERM to their defaults, then execs ``argv``.

    A background process inherits ignored signals from whoever started it (a shell without job
    control ignores SIGINT for ``&`` jobs); ``dagster dev`` then ignores the signals it is stopped
    with, and only SIGKILL, which allows no clean shutdown, would end it.
    """
    code = ("import os, signal, sys; [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)]; "
            "os.execv(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", code, *argv]


@contextlib.contextmanager
def dagster_dev(env: dict[str, str], log: Path) -> Iterator[str]:
    """``dagster dev -m dagster_defs`` in its own process group; yields its URL; stops the group.

    Stopping sends SIGINT to the whole group, as Ctrl-C in a terminal does (``dagster dev`` shuts
    its webserver, daemon and code servers down on it), then SIGKILL to what is left.
    """
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            _reset_signals_and_exec([DAGSTER, "dev", "-m", "dagster_defs", "-h", "127.0.0.1", "-p", str(port)]),
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=STOP_SECONDS)
                    pytest.fail(f"dagster dev did not stop on SIGINT within {STOP_SECONDS} s")
            # nothing of the group may outlive the leader (a code server would hold on to the port)
            deadline = time.monotonic() + STOP_SECONDS
            while _live_members(process.pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            left = _live_members(process.pid)
            if left:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                pytest.fail(f"processes {left} of dagster dev's group outlived it")


def _live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (an orphaned zombie waits for init to
    reap it, and is no longer running)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp…
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


ASSET_QUERY = """{ assetNodes { assetKey { path } groupName
  assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } } } }"""


def _graphql(url: str, query: str) -> dict[str, Any]:
    response = requests.post(f"{url}/graphql", json={"query": query}, timeout=10)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_dagster_dev_lists_the_assets_and_blocking_checks(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    log = tmp_path / "dagster_dev.log"
    with dagster_dev(env, log) as url:
        deadline = time.monotonic() + DEV_START_SECONDS
        nodes: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not nodes:
            with contextlib.suppress(requests.RequestException):
                nodes = _graphql(url, ASSET_QUERY)["assetNodes"]  # empty until the code location loaded
            if not nodes:
                time.sleep(1)
        assert nodes, f"dagster dev did not list assets within {DEV_START_SECONDS} s:\n{log.read_text()[-3000:]}"
        assets = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        assert set(assets) == {"raw/adult", "raw/adult_increments", "anonymized/adult", "published/adult",
                               "published/anonymization_runs"}
        gate = assets["anonymized/adult"]["assetChecksOrError"]["checks"]
        assert sorted((c["name"], c["blocking"]) for c in gate) == [("risk_gate", True), ("utility_gate", True)]
        assert requests.get(url, timeout=10).status_code == 200  # the UI itself
