"""Distributed execution: when a job runs on Dask, and the client it runs with.

The engine's two heavy passes — building the frequency set of the QI combinations (a group-by over
partitions) and applying the chosen transformation to every row (a map over partitions) — run on
``dask.dataframe`` when the configuration asks for it (``execution.backend: dask``) or when the
input has more rows than ``execution.dask_threshold_rows``; the lattice search in between runs here,
on the small frequency set, unchanged. The work itself is in `anon_ops.engine.dask_backend`; this
module stays free of Dask imports, so that choosing the in-process backend costs nothing.

The cluster is the scheduler of ``execution.scheduler``, else of ``ANON_OPS_DASK_SCHEDULER``, else
the client already current in this process (a notebook, a test), else a ``LocalCluster`` started
for the job and closed after it. A remote cluster's workers read the input and write the output
themselves, so both must be reachable from them (a shared folder or an object store URL).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from anon_ops.config import DataStore, DeltaPresence, JobConfig
from anon_ops.errors import ConfigError

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

    from anon_ops.engine.anonymizer import AbortCheck, Progress

log = logging.getLogger(__name__)

SCHEDULER_ENV = "ANON_OPS_DASK_SCHEDULER"
"""Environment variable with the address of the Dask scheduler jobs run on (``tcp://host:8786``)."""

_MAX_LOCAL_WORKERS = 4
_P2P_BUFFER = "128 MiB"


@dataclass
class DistributedResult:
    """What a Dask run produced: the statistics document, and the output table when it was
    collected (no target) or where it was written."""

    statistics: dict[str, Any]
    transformation: dict[str, int]
    data: pd.DataFrame | None
    location: str | None


def use_dask(config: JobConfig, n_rows: int | None) -> bool:
    """Whether a job runs on Dask: asked for, or larger than ``execution.dask_threshold_rows``.

    δ-presence matches the research subset against the whole table, which the partitioned passes
    do not do: a threshold never moves such a job to Dask (an explicit ``backend: dask`` is refused
    with a ConfigError when the run starts)."""
    execution = config.execution
    if execution.backend == "dask":
        return True
    threshold = execution.dask_threshold_rows
    if threshold is None or n_rows is None or n_rows <= threshold:
        return False
    return not any(isinstance(m, DeltaPresence) for m in config.privacy_models)


def scheduler_address(config: JobConfig | None = None) -> str | None:
    """The scheduler to connect to: the configuration's, else ``ANON_OPS_DASK_SCHEDULER``, else None."""
    if config is not None and config.execution.scheduler:
        return config.execution.scheduler
    return os.environ.get(SCHEDULER_ENV) or None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "execution.backend: running on Dask needs the dask extra (pip install 'anon-ops[dask]')"
        ) from None
    return distributed


@contextmanager
def dask_client(config: JobConfig | None = None, *, processes: bool = True) -> Iterator[Client]:
    """A Dask client for one job (see the module docstring for which cluster). A LocalCluster
    started here has one single-threaded worker per core (at most four), processes by default
    (the passes are mostly Python-level pandas work, which threads would serialize)."""
    distributed = _import_distributed()
    address = scheduler_address(config)
    if address:
        log.info("connecting to the Dask scheduler %s", address)
        client = distributed.Client(address, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
        return
    current = current_client()
    if current is not None:
        yield current
        return
    import dask

    workers = max(1, min(os.cpu_count() or 1, _MAX_LOCAL_WORKERS))
    log.info("starting a Dask LocalCluster of %d worker(s)", workers)
    # the workers inherit this configuration: strings stay the dtype pandas reads them as, and the
    # shuffle's send buffer is capped (its default allows 1 GiB per worker)
    logging.getLogger("distributed.shuffle._scheduler_plugin").setLevel(logging.ERROR)  # a warning per shuffle
    with dask.config.set({"dataframe.convert-string": False, "distributed.p2p.comm.buffer": _P2P_BUFFER}):
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                           dashboard_address=None)
    try:
        client = distributed.Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def current_client() -> Client | None:
    """The Dask client already current in this process, if any."""
    distributed = _import_distributed()
    try:
        return distributed.Client.current()
    except ValueError:
        return None


def anonymize_distributed(
    source: pd.DataFrame | dd.DataFrame | DataStore,
    config: JobConfig | dict[str, Any],
    *,
    transformation: dict[str, int] | None = None,
    target: DataStore | None = None,
    result_file: str | Path | None = None,
    client: Client | None = None,
    progress: Progress | None = None,
    should_abort: AbortCheck | None = None,
) -> DistributedResult:
    """Anonymize ``source`` on Dask — or, with ``transformation``, apply that one without a search.

    ``source``: a pandas or Dask DataFrame, or a data store (Parquet and CSV files and folders of
    part files are read by the workers partition by partition). The output goes to ``target``
    (written by the workers; a folder of part files when ``single_file`` is ``no``) and/or to
    ``result_file`` (one Parquet file); with neither it is collected into ``data``. The search,
    the transformation and the statistics equal those of the in-process run; the output rows equal
    them up to their order (the shuffle differs, see `anon_ops.engine.dask_backend`).
    """
    from anon_ops.engine.anonymizer import _validate_for_anonymization

    config = JobConfig.load(config)
    _validate_for_anonymization(config)
    if any(isinstance(m, DeltaPresence) for m in config.privacy_models):
        raise ConfigError(
            "privacy_models: δ-presence is not supported on the Dask backend (it matches the research "
            "subset against the whole table); use execution.backend: pandas"
        )
    _import_distributed()
    from anon_ops.engine import dask_backend

    if client is not None:
        return dask_backend.run(source, config, client, transformation=transformation, target=target,
                                result_file=result_file, progress=progress, should_abort=should_abort)
    with dask_client(config) as own:
        return dask_backend.run(source, config, own, transformation=transformation, target=target,
                                result_file=result_file, progress=progress, should_abort=should_abort)
