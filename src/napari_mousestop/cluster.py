"""The Dask cluster every parallel step runs on: a local one, or one that is already running.

Building datasets (:mod:`napari_mousestop.datasets.build`), generating recordings
(:mod:`napari_mousestop.synthetic.generate`) and training folds
(:mod:`napari_mousestop.learning.parallel`) all open their workers with :func:`dask_client`:

* ``scheduler=None``: a ``dask.distributed.LocalCluster`` of ``n_workers`` worker processes of
  one thread each, started for the job and closed after it (closing it ends the processes);
  Dask's nanny starts every worker with ``OMP_NUM_THREADS=1``, so torch trains with one thread
  in each (the fastest for this small model, and the same numbers in every process);
* ``scheduler="tcp://host:8786"``: the workers of a running ``dask scheduler`` (see
  ``docs/datasets.md`` for the ``dask scheduler`` / ``dask worker`` commands). Those workers must
  have napari-mousestop installed, in the same version, and see the same file paths.

Nothing here imports torch: workers that only build datasets never load it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from napari_mousestop.errors import ClusterError

SCHEDULER_TIMEOUT = "20s"
"""How long to try reaching a ``scheduler`` address before giving up."""

__all__ = ["SCHEDULER_TIMEOUT", "dask_client", "local_workers", "untrim_malloc"]


def untrim_malloc() -> bool:
    """Give glibc malloc large thresholds in a process started with ``MALLOC_TRIM_THRESHOLD_``.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand memory back to
    the system sooner), and leaves the variable in the environment of the process that
    started it, so later workers inherit it too. Setting it fixes glibc's otherwise adaptive
    thresholds: every array over 128 kB is then mapped and unmapped each time, and a training
    job made millions of page faults and ran 1.8x slower (``docs/training.md``). This sets the
    trim threshold to 256 MB and the mmap threshold to 32 MB (glibc's largest), close to what
    an ordinary process reaches. Returns whether it did: only with glibc and the variable set.
    """
    import ctypes
    import ctypes.util

    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc: nothing to undo
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_trim_threshold, 256 << 20) and mallopt(m_mmap_threshold, 32 << 20))


def _malloc_plugin() -> Any:
    """A worker plugin that runs :func:`untrim_malloc` in every worker before any task (a
    setting of each worker process, never of the caller's)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class MallocThresholds(WorkerPlugin):
        name = "napari-mousestop-malloc"

        def setup(self, worker: Any) -> None:
            untrim_malloc()

    return MallocThresholds()


def local_workers(n_workers: int | None, n_tasks: int) -> int:
    """Worker processes of a local cluster: ``n_workers``, or by default one per CPU core and
    at most one per task (never fewer than one)."""
    if n_workers:
        return int(n_workers)
    return max(1, min(os.cpu_count() or 1, int(n_tasks)))


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 1) -> Iterator[Any]:
    """A ``dask.distributed.Client`` on a local cluster or on a running scheduler.

    Every worker runs :func:`untrim_malloc` once, before any task (a worker plugin).

    Parameters
    ----------
    scheduler
        Address of a running ``dask scheduler`` (``tcp://host:8786``); None starts a local
        cluster of ``n_workers`` processes of one thread each, closed (its processes ended) when
        the ``with`` block ends, whether it ended normally, by an error or by a cancellation.
    n_workers
        Worker processes of the local cluster.

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
        # Workers copy the configuration they are started with: no statistical profiler (a
        # stack sample every 10 ms, for the dashboard, which is off here), and no
        # MALLOC_TRIM_THRESHOLD_ from the nanny (see :func:`untrim_malloc`).
        settings = {
            "distributed.worker.profile.enabled": False,
            "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        }
        with dask.config.set(settings):
            cluster = LocalCluster(
                n_workers=int(n_workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,  # task failures are reported by the caller
            )
        client = Client(cluster)
    try:
        client.register_plugin(_malloc_plugin())
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
