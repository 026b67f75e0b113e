"""Training the paper's CNN: input scaling, the training loop, leave-one-cage-out CV, final model.

Everything here is plain Python + PyTorch: progress goes out through ``progress``, which receives
an :class:`~napari_mousestop.learning.config.EpochProgress` after every epoch (the package's one
progress protocol, :mod:`napari_mousestop.progress`), and a ``should_stop()`` callable is checked
before every batch so a GUI can cancel promptly (:class:`~napari_mousestop.errors.Cancelled` is
raised). Checkpoints live in :mod:`napari_mousestop.learning.checkpoint`, settings and results
in :mod:`napari_mousestop.learning.config`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.errors import Cancelled, DatasetError
from napari_mousestop.learning.checkpoint import (
    Checkpoint,
    make_checkpoint,
)
from napari_mousestop.learning.config import (
    FOLD_SCHEMES,
    CVResult,
    EpochProgress,
    FoldResult,
    TrainConfig,
    resolve_device,
)
from napari_mousestop.learning.jobs import FoldJob, FoldOutput, JobProgress, model_label
from napari_mousestop.learning.model import ModelConfig, StopCNN
from napari_mousestop.learning.scaling import InputScaler
from napari_mousestop.progress import ProgressCallback

__all__ = [
    "FoldJob",
    "FoldOutput",
    "JobProgress",
    "balanced_folds",
    "check_trainable",
    "collect_cv",
    "cv_folds",
    "cv_jobs",
    "final_job",
    "fit_model",
    "job_client",
    "loco_cv",
    "loco_folds",
    "model_label",
    "run_jobs",
    "train_final",
    "train_fold",
    "train_job",
    "train_models",
]


def _seed_for(seed: int, key: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(key)]).generate_state(1)[0])


def check_trainable(dataset: Dataset, config: TrainConfig | None = None, cv: bool = True) -> None:
    """Raise :class:`~napari_mousestop.errors.DatasetError` if ``dataset`` cannot be trained on.

    Checks: finite values, at least two classes, at least two cages (for CV) and enough cages
    of each kind for balanced folds, and an N x N grid large enough for the kernels.
    """
    config = config or TrainConfig()
    dataset.validate()
    n, t, n_bins, _ = dataset.X.shape
    present = np.unique(dataset.labels)
    if n == 0:
        raise DatasetError("dataset: it holds no samples")
    if len(present) < 2:
        names = [dataset.classes[i] for i in present]
        raise DatasetError(f"dataset: all samples belong to one class {names}; need at least two")
    cages = np.unique(dataset.cages)
    if cv and len(cages) < 2:
        raise DatasetError(
            f"dataset: leave-one-cage-out needs at least two cages, found only {list(cages)}"
        )
    if cv and config.folds == "balanced":
        balanced_fold_groups(dataset.cages, dataset.labels)
    needed = max(config.kernel_sizes) - 1 + config.pool
    if n_bins < needed:
        raise DatasetError(
            f"dataset: a {n_bins}x{n_bins} grid is too small for kernels {config.kernel_sizes} "
            f"and pooling {config.pool} (need N >= {needed})"
        )


def _split(groups: np.ndarray, cages: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """scikit-learn's ``LeaveOneGroupOut`` over ``groups``; each fold named by its held-out
    cages joined with ``+``."""
    from sklearn.model_selection import LeaveOneGroupOut

    folds = []
    for train, test in LeaveOneGroupOut().split(cages, groups=groups):
        name = "+".join(str(c) for c in np.unique(cages[test]))
        folds.append((name, train, test))
    return folds


def loco_folds(cages: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Leave-one-cage-out folds: ``(cage, train_index, test_index)`` in sorted cage order.

    Every recording of a cage (juvenile and adult) is held out together.
    """
    cages = np.asarray(cages, dtype=str)
    return _split(cages, cages)


def balanced_fold_groups(cages: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fold number of each sample for balanced folds (see :func:`balanced_folds`)."""
    cages, labels = np.asarray(cages, dtype=str), np.asarray(labels)
    ids = np.unique(cages)
    holds = {c: frozenset(labels[cages == c].tolist()) for c in ids}
    kinds = sorted(set(holds.values()), key=lambda k: (-len(k), sorted(k)))
    # a cage holding a subset of a larger kind's classes (a recording missing) joins that kind
    kind_of = {c: next(k for k in kinds if holds[c] <= k) for c in ids}
    members: dict[frozenset, list[str]] = {}
    for c in ids:
        members.setdefault(kind_of[c], []).append(str(c))
    described = "; ".join(f"{len(v)} cage(s) holding {sorted(k)}" for k, v in members.items())
    if len(members) < 2:
        raise DatasetError(
            f"dataset: balanced folds are not possible: every cage holds the same classes "
            f"({described}), so there is nothing to balance (leave-one-cage-out folds already "
            "keep every class in training); use --folds cage"
        )
    n_folds = min(len(v) for v in members.values())
    if n_folds < 2:
        raise DatasetError(
            f"dataset: balanced folds hold out one cage of each kind together and need at "
            f"least two cages of every kind, found {described}; use leave-one-cage-out folds"
        )
    if len({len(v) for v in members.values()}) > 1:
        raise DatasetError(
            f"dataset: balanced folds need the same number of cages of every kind, found "
            f"{described}: some fold would hold out more cages of one kind and unbalance its "
            "training set; use leave-one-cage-out folds (--folds cage)"
        )
    fold_of = {c: j % n_folds for group in members.values() for j, c in enumerate(group)}
    return np.array([fold_of[c] for c in cages])


def balanced_folds(
    cages: np.ndarray, labels: np.ndarray
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Folds that hold out cages covering the classes evenly: ``(name, train, test)``.

    Cages are grouped by the classes they hold (with one sex per cage: the male cages and the
    female cages; a cage holding a subset of a group's classes joins it). Each fold holds out
    one cage of every group together (sorted cage order within a group), so the training set
    keeps the cohort's class balance. Where that is not possible the folds are refused with the
    reason (:class:`~napari_mousestop.errors.DatasetError`): groups of different sizes (3 male
    and 2 female cages), a group of one cage, or a single group (every cage holds every class,
    e.g. mixed-sex cages: leave-one-cage-out folds are then already balanced). Fold names join
    their cages with ``+``.
    """
    cages = np.asarray(cages, dtype=str)
    return _split(balanced_fold_groups(cages, labels), cages)


def cv_folds(
    cages: np.ndarray, labels: np.ndarray, scheme: str = "cage"
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The cross-validation folds of ``scheme`` (``"cage"``: :func:`loco_folds`,
    ``"balanced"``: :func:`balanced_folds`), as ``(name, train_index, test_index)``."""
    if scheme == "cage":
        return loco_folds(cages)
    if scheme == "balanced":
        return balanced_folds(cages, labels)
    raise ValueError(f"unknown fold scheme {scheme!r}; choose from {FOLD_SCHEMES}")


def fit_model(
    X: np.ndarray,
    y: np.ndarray,
    model_config: ModelConfig,
    config: TrainConfig,
    seed: int,
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[StopCNN, dict[str, list[float]]]:
    """Train one :class:`StopCNN` on already scaled inputs; return it (eval mode, on CPU).

    Parameters
    ----------
    X, y
        Scaled training inputs (n, T, N, N) and class indices (n,).
    model_config, config
        Architecture and training settings.
    seed
        Seeds weight initialisation and batch order.
    X_test, y_test
        Optional held-out data, evaluated after every epoch when ``config.track_test``.
    on_epoch
        Called as ``on_epoch(epoch, figures)`` after every epoch.
    should_stop
        Checked before every batch; when it returns True, :class:`Cancelled` is raised.

    Returns
    -------
    model, history
        The trained model and per-epoch ``train_loss``, ``train_accuracy``, ``test_loss``,
        ``test_accuracy`` (the last two empty without test data).

    Notes
    -----
    Torch's CPU thread count is left as the process has it (worker processes train with one
    thread each, see :mod:`napari_mousestop.learning.parallel`).
    """
    device = resolve_device(config.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StopCNN(model_config)
    model.to(device)
    xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.int64, device=device)
    have_test = X_test is not None and y_test is not None and len(y_test) and config.track_test
    if have_test:
        xv = torch.as_tensor(X_test, dtype=torch.float32, device=device)
        yv = torch.as_tensor(y_test, dtype=torch.int64, device=device)
    opt = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {
        "train_loss": [],
        "train_accuracy": [],
        "test_loss": [],
        "test_accuracy": [],
    }
    n = len(yt)
    bs = config.batch_size
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        total_loss = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for start in range(0, n, bs):
            if should_stop is not None and should_stop():
                raise Cancelled("training cancelled")
            idx = order[start : start + bs]
            logits = model(xt[idx])
            loss = loss_fn(logits, yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yt[idx]).sum()
        figures = {"train_loss": float(total_loss) / n, "train_accuracy": float(correct) / n}
        if have_test:
            model.eval()
            with torch.no_grad():
                logits = model(xv)
                figures["test_loss"] = float(loss_fn(logits, yv))
                figures["test_accuracy"] = float((logits.argmax(1) == yv).float().mean())
        for key, value in figures.items():
            history[key].append(value)
        if on_epoch is not None:
            on_epoch(epoch, figures)
    model.eval()
    return model.cpu(), history


def train_fold(
    dataset: Dataset,
    train_index: np.ndarray,
    test_index: np.ndarray,
    config: TrainConfig,
    seed: int,
    on_epoch: Callable[[int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    labels: np.ndarray | None = None,
) -> tuple[StopCNN, InputScaler, dict[str, list[float]], np.ndarray]:
    """Fit the scaler and a model on ``train_index`` only; return them, the history and the
    held-out class probabilities (n_test, C).

    ``labels`` replaces ``dataset.labels`` (the permutation test trains on relabelled data).
    """
    X = dataset.X
    y = dataset.labels if labels is None else np.asarray(labels)
    scaler = InputScaler(config.scaling).fit(X[train_index])
    x_train = scaler.transform(X[train_index])
    x_test = scaler.transform(X[test_index])
    _, t, n_bins, _ = X.shape
    mcfg = config.model_config(t, n_bins, len(dataset.classes))
    model, history = fit_model(
        x_train,
        y[train_index],
        mcfg,
        config,
        seed,
        X_test=x_test,
        y_test=y[test_index],
        on_epoch=on_epoch,
        should_stop=should_stop,
    )
    proba = np.zeros((0, mcfg.n_classes))
    if len(test_index):
        with torch.no_grad():
            proba = torch.softmax(model(torch.as_tensor(x_test)), dim=1).double().numpy()
    return model, scaler, history, proba


# --- models as jobs: the same work here or in worker processes -------------------------------


FINAL_SEED_KEY = 10**6
"""Key mixed with the seed for the final all-data model (folds use their index)."""


def train_job(
    dataset: Dataset,
    job: FoldJob,
    on_epoch: Callable[[int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FoldOutput:
    """Train one job (:func:`train_fold`) and time it."""
    t0 = time.perf_counter()
    model, scaler, history, proba = train_fold(
        dataset, job.train, job.test, job.config, job.seed, on_epoch, should_stop, job.labels
    )
    return FoldOutput(
        model if job.keep_model else None,
        scaler,
        history,
        proba,
        time.perf_counter() - t0,
        str(resolve_device(job.config.device)),
    )


def run_jobs(
    dataset: Dataset,
    jobs: list[FoldJob],
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_output: Callable[[FoldJob, FoldOutput], None] | None = None,
    client=None,
) -> dict[str, FoldOutput]:
    """Train every job, in this process or on the workers of a Dask ``client``.

    Parameters
    ----------
    dataset
        The stacks and labels (sent once to every worker).
    jobs
        The models to train.
    progress
        Receives an :class:`~napari_mousestop.learning.config.EpochProgress` after every epoch
        of every job, in the calling thread (:class:`JobProgress`: one count over all jobs).
    should_stop
        Checked before every batch here, and about 10 times a second while workers train;
        True raises :class:`~napari_mousestop.errors.Cancelled` after every worker stopped.
    on_output
        Called as ``on_output(job, output)`` in the calling thread as each job finishes.
    client
        A ``dask.distributed.Client`` (:func:`napari_mousestop.learning.parallel.fold_client`);
        None trains the jobs one after the other in this process.

    Returns
    -------
    dict
        Job id to :class:`FoldOutput`.
    """
    tally = JobProgress(jobs, progress)
    if client is not None:
        from napari_mousestop.learning.parallel import run_jobs_on_cluster

        return run_jobs_on_cluster(
            client, dataset, jobs, tally, train_job, should_stop, on_output
        )
    out: dict[str, FoldOutput] = {}
    for job in jobs:

        def on_epoch(epoch: int, figures: dict, job: FoldJob = job) -> None:
            tally.epoch(job, epoch, figures)

        out[job.id] = train_job(dataset, job, on_epoch, should_stop)
        if on_output is not None:
            on_output(job, out[job.id])
    return out


def job_client(workers: int = 0, scheduler: str | None = None, n_jobs: int = 1):
    """:func:`napari_mousestop.learning.parallel.fold_client` when ``workers`` or
    ``scheduler`` ask for worker processes; else a context that gives None (train here)
    without importing Dask."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (got {workers})")
    if not workers and not scheduler:
        return nullcontext(None)
    from napari_mousestop.learning.parallel import fold_client

    return fold_client(workers, scheduler, n_jobs)


def cv_jobs(
    dataset: Dataset,
    config: TrainConfig,
    repeats: int = 1,
    labels: np.ndarray | None = None,
    prefix: str = "cv",
    progress: dict | None = None,
) -> list[FoldJob]:
    """The fold jobs of cross-validation by cages, for ``repeats`` seeds.

    Repeat ``r`` uses the seed ``config.seed + r`` (so repeat 0 is the run of ``config``
    itself, and every repeat equals a single run with its seed); fold ``k`` of a repeat gets
    its own seed derived from the repeat's seed and ``k``.
    """
    y = dataset.labels if labels is None else labels
    folds = cv_folds(dataset.cages, y, config.folds)
    jobs = []
    for r in range(repeats):
        cfg = replace(config, seed=config.seed + r)
        for k, (name, train, test) in enumerate(folds):
            jobs.append(
                FoldJob(
                    id=f"{prefix}/{r}/{k}",
                    name=name,
                    train=train,
                    test=test,
                    config=cfg,
                    seed=_seed_for(cfg.seed, k),
                    labels=labels,
                    keep_model=labels is None,
                    progress={
                        "stage": "cv",
                        "fold": k + 1,
                        "n_folds": len(folds),
                        "cage": name,
                        "repeat": r + 1,
                        "n_repeats": repeats,
                        **(progress or {}),
                    },
                )
            )
    return jobs


def final_job(dataset: Dataset, config: TrainConfig) -> FoldJob:
    """The job of the final model: every sample, no held-out data."""
    return FoldJob(
        id="final",
        name="all",
        train=np.arange(len(dataset)),
        test=np.array([], dtype=np.int64),
        config=config,
        seed=_seed_for(config.seed, FINAL_SEED_KEY),
        progress={"stage": "final", "fold": 1, "n_folds": 1},
    )


def collect_cv(
    dataset: Dataset,
    config: TrainConfig,
    jobs: list[FoldJob],
    outputs: dict[str, FoldOutput],
    seconds: float,
) -> list[CVResult]:
    """The :class:`CVResult` of every repeat from the outputs of :func:`cv_jobs` jobs."""
    n_classes = len(dataset.classes)
    by_repeat: dict[int, list[FoldJob]] = {}
    for job in jobs:
        by_repeat.setdefault(job.progress["repeat"], []).append(job)
    results = []
    for repeat_jobs in by_repeat.values():
        oof = np.full((len(dataset), n_classes), np.nan, dtype=np.float64)
        folds = []
        for job in repeat_jobs:
            o = outputs[job.id]
            oof[job.test] = o.proba
            held_out = tuple(str(c) for c in np.unique(dataset.cages[job.test]))
            folds.append(
                FoldResult(
                    job.name, job.train, job.test, o.model, o.scaler, o.history, o.proba,
                    held_out, o.seconds,
                )
            )  # fmt: skip
        X = dataset.X
        results.append(
            CVResult(
                folds=folds,
                oof_proba=oof,
                labels=dataset.labels.copy(),
                cages=dataset.cages.copy(),
                recordings=dataset.recordings.copy(),
                animals=dataset.animals.copy(),
                classes=tuple(dataset.classes),
                config=repeat_jobs[0].config,
                model_config=config.model_config(X.shape[1], X.shape[2], n_classes),
                seconds=seconds,
                device=outputs[repeat_jobs[0].id].device,
            )
        )
    return results


def train_models(
    dataset: Dataset,
    config: TrainConfig | None = None,
    repeats: int = 1,
    final_model: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    extra_jobs: list[FoldJob] | tuple = (),
    on_output: Callable[[FoldJob, FoldOutput], None] | None = None,
) -> tuple[list[CVResult], Checkpoint | None]:
    """Cross-validation by cages for ``repeats`` seeds and the final model, all at once.

    Every fold of every repeat and the final model are independent jobs; with ``workers``
    or ``scheduler`` they train in worker processes at the same time (see
    :func:`loco_cv`), and give the same models as here. ``extra_jobs`` (the permutation
    test's) train in the same batch, on the same workers; ``on_output`` sees every finished
    job (:func:`run_jobs`).

    Returns
    -------
    runs, final
        One :class:`CVResult` per repeat (seed ``config.seed + r``) and the final model's
        checkpoint (None without ``final_model``).
    """
    config = config or TrainConfig()
    check_trainable(dataset, config, cv=True)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1 (got {repeats})")
    jobs = cv_jobs(dataset, config, repeats)
    final = final_job(dataset, config) if final_model else None
    everything = ([final] if final else []) + jobs + list(extra_jobs)  # the longest job first
    t0 = time.perf_counter()
    with job_client(workers, scheduler, len(everything)) as client:
        outputs = run_jobs(dataset, everything, progress, should_stop, on_output, client)
    seconds = time.perf_counter() - t0
    runs = collect_cv(dataset, config, jobs, outputs, seconds)
    checkpoint = None
    if final is not None:
        o = outputs[final.id]
        meta = {"trained_on": "all", "history": o.history}
        checkpoint = make_checkpoint(o.model, o.scaler, dataset, config, meta=meta)
    return runs, checkpoint


def loco_cv(
    dataset: Dataset,
    config: TrainConfig | None = None,
    progress: Callable[[EpochProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    workers: int = 0,
    scheduler: str | None = None,
) -> CVResult:
    """Cross-validation of the CNN by cages: leave one cage out, or balanced folds.

    For each fold (:func:`cv_folds` of ``config.folds``), the scaler and a fresh model are
    fitted on all other cages, and every animal-recording of the held-out cage(s) is predicted.

    Parameters
    ----------
    dataset
        The stacks and labels.
    config
        Training settings (:class:`TrainConfig`); defaults when None.
    progress
        Receives an :class:`~napari_mousestop.learning.config.EpochProgress` after every epoch
        of every fold.
    should_stop
        Checked before every batch (and while workers train); True raises
        :class:`~napari_mousestop.errors.Cancelled` once every worker stopped.
    workers
        0: the folds one after the other in this process (torch threads as the process has
        them). N >= 1: the folds at the same time in N worker processes of a local Dask
        cluster, one torch thread each.
    scheduler
        Address of a running ``dask scheduler`` (``tcp://host:8786``): the folds run on its
        workers instead (``workers`` is then ignored).

    Returns
    -------
    CVResult
        Fold models, scalers, learning curves and out-of-fold probabilities. A fold's seed is
        derived from ``config.seed`` and its index, so the results do not depend on where or in
        which order the folds ran (bit for bit with the same number of torch threads).
    """
    runs, _ = train_models(
        dataset, config, 1, False, progress, should_stop, workers=workers, scheduler=scheduler
    )
    return runs[0]


def train_final(
    dataset: Dataset,
    config: TrainConfig | None = None,
    progress: Callable[[EpochProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Checkpoint:
    """Train the final model on all samples, in this process, and return it as a
    :class:`Checkpoint`.

    The checkpoint carries the weights, architecture, class names, scaler, the dataset's
    parameters (T, N, interval, stop thresholds, geometry) and versions; save it with
    :func:`~napari_mousestop.learning.checkpoint.save_checkpoint`.
    """
    config = config or TrainConfig()
    check_trainable(dataset, config, cv=False)
    job = final_job(dataset, config)
    o = run_jobs(dataset, [job], progress, should_stop)[job.id]
    return make_checkpoint(
        o.model, o.scaler, dataset, config, meta={"trained_on": "all", "history": o.history}
    )
