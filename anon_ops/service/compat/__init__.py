"""Compatibility routes: the REST API of the ``protegrity-anonymization-sdk`` package
(base ``/pty/anonymization/v3``) over anon-ops' job runtime, so that package, unchanged, can drive
anon-ops. Requests are translated into the one job configuration (`JobConfig`) and run by the same
runtime and engine as every other job (see ``translate`` for the translation decisions).

Tables travel as CSV text and are read as text, like any uploaded CSV (``"01234"`` stays a zip code),
so the records of a result hold text values. Auth is the service's: the SDK's ``headers=`` carries
``Authorization: Bearer <ANON_OPS_TOKEN>``.
"""

from anon_ops.service.compat.routes import COMPAT_PREFIX, IMPLEMENTED, router

__all__ = ["COMPAT_PREFIX", "IMPLEMENTED", "router"]
