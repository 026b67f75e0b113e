"""The Dask cluster every parallel step runs on: a local one, or one that is already running.

Building datasets (:mod:`napari_mousestop.datasets.build`), generating recordings
(:mod:`napari_mousestop.synthetic.generate`) and training folds
(:mod:`napari_mousestop.learning.parallel`) all open their workers with :func:`dask_client`:

* ``scheduler=None``: a ``dask.distributed.LocalCluster`` of ``n_workers`` worker processes of
  one thread each, started for the job and closed after it (closing it ends the processes);
* ``scheduler="tcp://host:8786"``: the workers of a running ``dask scheduler`` (see
  ``docs/datasets.md`` for the ``dask scheduler`` / ``dask worker`` commands). Those workers must
  have napari-mousestop installed, in the same version, and see the same file paths.

Nothing here imports torch: workers that only build datasets never load it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from napari_mousestop.errors import ClusterError

SCHEDULER_TIMEOUT = "20s"
"""How long to try reaching a ``scheduler`` address before giving up."""

__all__ = ["SCHEDULER_TIMEOUT", "dask_client", "local_workers"]


def local_workers(n_workers: int | None, n_tasks: int) -> int:
    """Worker processes of a local cluster: ``n_workers``, or by default one per CPU core and
    at most one per task (never fewer than one)."""
    if n_workers:
        return int(n_workers)
    return max(1, min(os.cpu_count() or 1, int(n_tasks)))


@contextmanager
def dask_client(
    scheduler: str | None = None, n_workers: int = 1, plugins: Iterable[Any] = ()
) -> Iterator[Any]:
    """A ``dask.distributed.Client`` on a local cluster or on a running scheduler.

    Parameters
    ----------
    scheduler
        Address of a running ``dask scheduler`` (``tcp://host:8786``); None starts a local
        cluster of ``n_workers`` processes of one thread each, closed (its processes ended) when
        the ``with`` block ends, whether it ended normally, by an error or by a cancellation.
    n_workers
        Worker processes of the local cluster.
    plugins
        ``distributed`` worker plugins to register (each worker runs their ``setup`` once,
        before any task: per-process settings belong there, never in the caller's process).

    Raises
    ------
    ClusterError
        If the scheduler cannot be reached within :data:`SCHEDULER_TIMEOUT`.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, ValueError) as exc:
            raise ClusterError(f"cannot reach the dask scheduler {scheduler!r} ({exc})") from None
    else:
        # The workers' statistical profiler (a stack sample every 10 ms, for the dashboard,
        # which is off) holds the GIL often enough to slow a training job; workers copy the
        # configuration they are started with.
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = LocalCluster(
                n_workers=int(n_workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,  # task failures are reported by the caller
            )
        client = Client(cluster)
    try:
        for plugin in plugins:
            client.register_plugin(plugin)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
