"""The anon-ops REST service: a FastAPI app over the job runtime (``pip install anon-ops[service]``)."""

from anon_ops.service.app import create_app
from anon_ops.service.server import serve

__all__ = ["create_app", "serve"]
