"""Settings every component reads from the environment (flags and arguments may override them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


def _env(name: str, default: Any = None) -> Any:
    value = os.environ.get(name)
    return default if value in (None, "") else value


class Settings(BaseModel):
    """Where the runtime keeps its jobs, and the limits of the service."""

    home: Path = Field(description="Folder of the job store and results (ANON_OPS_HOME).")
    token: str | None = Field(default=None, description="Bearer token the service requires (ANON_OPS_TOKEN).")
    url: str | None = Field(default=None, description="Service URL clients use by default (ANON_OPS_URL).")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL of the job store; SQLite in home.")
    workers: int = Field(default=2, ge=1, description="Jobs run at once (ANON_OPS_WORKERS).")
    max_queue: int = Field(default=100, ge=1, description="Queued jobs at most (ANON_OPS_MAX_QUEUE).")
    rate_limit_per_minute: int = Field(default=120, ge=1, description="Submissions per minute (ANON_OPS_RATE_LIMIT).")
    max_attempts: int = Field(default=2, ge=1, description="Runs of a job interrupted by a crash, at most.")
    data_roots: list[Path] = Field(default_factory=list, description="Folders the service may read and write.")
    max_upload_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="Largest uploaded table.")
    poll_seconds: float = Field(default=0.2, gt=0, description="How often the scheduler looks at the queue.")

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        home = Path(overrides.pop("home", None) or _env("ANON_OPS_HOME", Path.home() / ".anon_ops")).expanduser()
        roots = _env("ANON_OPS_DATA_ROOTS")
        values: dict[str, Any] = {
            "home": home,
            "token": _env("ANON_OPS_TOKEN"),
            "url": _env("ANON_OPS_URL"),
            "database_url": _env("ANON_OPS_DATABASE_URL"),
            "workers": int(_env("ANON_OPS_WORKERS", 2)),
            "max_queue": int(_env("ANON_OPS_MAX_QUEUE", 100)),
            "rate_limit_per_minute": int(_env("ANON_OPS_RATE_LIMIT", 120)),
            "data_roots": [Path(p) for p in roots.split(os.pathsep)] if roots else [home / "data"],
            "max_upload_bytes": int(float(_env("ANON_OPS_MAX_UPLOAD_MB", 256)) * 1024 * 1024),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'jobs.db'}"

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"
