"""Run the service with uvicorn (``anon-ops serve`` and ``python -m anon_ops.service``)."""

from __future__ import annotations

import logging

from anon_ops.service.app import create_app
from anon_ops.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090
#: In-flight requests get this long to finish on SIGTERM; running jobs are not affected.
GRACEFUL_SHUTDOWN_SECONDS = 10


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, settings: Settings | None = None,
          *, log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM. Binds to localhost by default: exposing the service is a choice
    (set ANON_OPS_TOKEN first)."""
    import uvicorn

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings or Settings.from_env())
    uvicorn.run(app, host=host, port=port, log_level=log_level,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
