"""Folds in worker processes: on a local Dask cluster, or on a running one.

Training jobs (:class:`~napari_mousestop.learning.jobs.FoldJob`: every fold of every
repeat, the final model, the folds of the permutation test) are independent, so they can train
at the same time. :func:`fold_client` opens the workers with the same cluster code that builds
datasets (:func:`napari_mousestop.cluster.dask_client`): ``workers=N`` starts a local cluster
of N single-threaded processes, ``scheduler="tcp://host:8786"`` uses the workers of a running
``dask scheduler``. :func:`run_jobs_on_cluster` sends the dataset once to every worker, submits
the jobs and, in the calling thread, forwards each worker's per-epoch progress to the caller's
``progress`` as one count of every epoch of every job, and checks the caller's
``should_stop()``.

* **Threads.** Dask's nanny starts every worker process with ``OMP_NUM_THREADS=1``
  (``distributed.nanny.pre-spawn-environ``), so torch trains with one thread in each: the
  fastest for this small model, and every fold's numbers are the same whichever worker trains
  it. Nothing here changes a process's thread count (workers started without a nanny keep
  whatever their environment gives torch).
* **Same results.** A job's seed is fixed before it is sent; a fold trained in a worker equals
  the fold trained here bit for bit (with the same number of torch threads).
* **GPUs.** With ``device="auto"`` or ``"cuda"``, a worker that sees several GPUs trains on
  ``cuda:(i mod n)`` (i: the worker's number), so the processes of a local cluster spread over
  the GPUs and share each one; workers of ``dask-cuda`` each see one GPU. CPU is used
  wherever CUDA is not available.
* **Cancel.** ``should_stop()`` returning True cancels the jobs not started, marks the run as
  stopped in every worker process (``client.run``), where each running job sees it before its
  next batch and raises :class:`~napari_mousestop.errors.Cancelled`, and returns once no job of
  the run is running on any worker; a local cluster is then closed, which ends its processes.
"""

from __future__ import annotations

import queue
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from napari_mousestop.cluster import dask_client
from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.errors import Cancelled
from napari_mousestop.learning.jobs import FoldJob, FoldOutput, JobProgress

STOP_WAIT_S = 60.0
"""How long a cancelled run waits for its running jobs to stop on a running cluster."""

__all__ = ["fold_client", "run_jobs_on_cluster", "worker_device"]


@contextmanager
def fold_client(workers: int = 0, scheduler: str | None = None, n_jobs: int = 1) -> Iterator[Any]:
    """A Dask client whose workers train folds, or None to train them in this process.

    Parameters
    ----------
    workers
        0 (and no ``scheduler``): None, train here. N: a local cluster of
        ``min(N, n_jobs)`` worker processes.
    scheduler
        Address of a running ``dask scheduler``: use its workers.
    n_jobs
        Jobs to come (no more local workers than jobs are started).
    """
    if not workers and not scheduler:
        yield None
        return
    n = max(1, min(int(workers or 1), int(n_jobs)))
    with dask_client(scheduler, n) as client:
        yield client


def worker_device(device: str, worker_name: Any) -> str:
    """The device a worker trains on: ``"auto"``/``"cuda"`` become ``cuda:(i mod n)`` when
    the worker sees n > 1 GPUs (i: the worker's number: its name when an integer, as in a
    local cluster, or the digits after a final ``-`` as in ``dask worker --name gpu
    --nworkers 4``; 0 otherwise); ``"auto"`` stays ``"auto"`` without CUDA; anything else is
    kept."""
    import torch

    if device not in ("auto", "cuda") or not torch.cuda.is_available():
        return device
    n = torch.cuda.device_count()
    found = re.search(r"(?:^|-)(\d+)$", str(worker_name))
    index = int(found.group(1)) if found else 0
    return f"cuda:{index % n}" if n > 1 else "cuda"


_STOPPED: set[str] = set()
"""Runs cancelled, as seen by this worker process (filled by :func:`_stop_run`)."""


def _stop_run(run: str) -> None:
    """Run on every worker by ``client.run`` when a run is cancelled: its jobs stop at their
    next batch. (A flag in the worker's own memory costs nothing to check, where asking the
    scheduler from each job, with a Dask ``Event``, needs a client in every worker.)"""
    _STOPPED.add(run)


def _train_on_worker(
    dataset: Dataset, job: FoldJob, topic: str, run: str, train: Callable
) -> FoldOutput:
    """The Dask task: train ``job`` with ``train`` (the caller's
    :func:`~napari_mousestop.learning.training.train_job`), logging every epoch's figures on
    ``topic``; stop at the next batch once ``run`` is cancelled."""
    from distributed import get_worker

    worker = get_worker()
    device = worker_device(job.config.device, worker.name)
    if device != job.config.device:
        job = replace(job, config=replace(job.config, device=device))

    def on_epoch(epoch: int, figures: dict) -> None:
        worker.log_event(topic, {"id": job.id, "epoch": epoch, "figures": figures})

    return train(dataset, job, on_epoch, lambda: run in _STOPPED)


def run_jobs_on_cluster(
    client: Any,
    dataset: Dataset,
    jobs: list[FoldJob],
    tally: JobProgress,
    train: Callable,
    should_stop: Callable[[], bool] | None = None,
    on_output: Callable[[FoldJob, FoldOutput], None] | None = None,
) -> dict[str, FoldOutput]:
    """Train ``jobs`` on the workers of ``client``; see
    :func:`napari_mousestop.learning.training.run_jobs` for the parameters (``tally`` sends
    every worker's epochs on as one count, ``train`` trains one job on a worker).

    A job that fails stops the run: the other jobs are cancelled and its error is raised.
    """
    run = uuid.uuid4().hex
    topic = f"napari-mousestop-progress-{run}"
    by_id = {job.id: job for job in jobs}
    events: queue.Queue = queue.Queue()
    client.subscribe_topic(topic, events.put)
    data = client.scatter(dataset, broadcast=True, hash=False)
    futures = {
        client.submit(
            _train_on_worker, data, job, topic, run, train, key=f"mousestop-{job.id}-{run}"
        ): job
        for job in jobs
    }
    pending = set(futures)
    out: dict[str, FoldOutput] = {}

    def forward(block: bool) -> None:
        while True:
            try:
                _, msg = events.get(timeout=0.1) if block else events.get_nowait()
            except queue.Empty:
                return
            block = False
            if msg.get("id") in by_id:
                tally.epoch(by_id[msg["id"]], msg["epoch"], msg["figures"])

    try:
        while pending:
            forward(block=True)
            if should_stop is not None and should_stop():
                raise Cancelled("training cancelled")
            for fut in [f for f in pending if f.done()]:
                pending.discard(fut)
                job = futures[fut]
                output = fut.result()  # a job's error is raised here
                forward(block=False)  # its last epochs before its result
                out[job.id] = output
                fut.release()
                if on_output is not None:
                    on_output(job, output)
    except BaseException:
        client.cancel(list(pending))
        try:
            client.run(_stop_run, run)
        except Exception:  # noqa: BLE001 - a worker going away has nothing left to stop
            pass
        _wait_until_stopped(client, {f.key for f in futures})
        raise
    finally:
        client.unsubscribe_topic(topic)
    return out


def _wait_until_stopped(client: Any, keys: set[str]) -> None:
    """Return once no task of ``keys`` is processing on any worker (or after
    :data:`STOP_WAIT_S` seconds)."""
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        try:
            busy = {k for tasks in client.processing().values() for k in tasks} & keys
        except Exception:  # noqa: BLE001 - the cluster is going away: nothing is running
            return
        if not busy:
            return
        time.sleep(0.1)
