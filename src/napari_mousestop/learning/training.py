"""Training the paper's CNN: input scaling, the training loop, leave-one-cage-out CV, final model.

Everything here is plain Python + PyTorch: progress goes out through ``progress``, which receives
an :class:`~napari_mousestop.learning.config.EpochProgress` after every epoch (the package's one
progress protocol, :mod:`napari_mousestop.progress`), and a ``should_stop()`` callable is checked
before every batch so a GUI can cancel promptly (:class:`~napari_mousestop.errors.Cancelled` is
raised). Checkpoints live in :mod:`napari_mousestop.learning.checkpoint`, settings and results
in :mod:`napari_mousestop.learning.config`.
"""

from __future__ import annotations

from collections.abc import Callable

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
from napari_mousestop.learning.model import ModelConfig, StopCNN
from napari_mousestop.learning.scaling import InputScaler

__all__ = [
    "balanced_folds",
    "check_trainable",
    "cv_folds",
    "fit_model",
    "loco_cv",
    "loco_folds",
    "train_final",
    "train_fold",
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
    n_folds = min(len(v) for v in members.values())
    if n_folds < 2:
        described = "; ".join(
            f"{len(v)} cage(s) holding classes {sorted(k)}" for k, v in members.items()
        )
        raise DatasetError(
            f"dataset: balanced folds hold out one cage of each kind together and need at "
            f"least two cages of every kind, found {described}; use leave-one-cage-out folds"
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
    keeps the cohort's class balance. The smallest group sets the number of folds; extra cages
    of larger groups are spread over the folds. Fold names join their cages with ``+``.
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
    """
    return _fit(X, y, model_config, config, seed, X_test, y_test, on_epoch, should_stop)


def _fit(X, y, model_config, config, seed, X_test, y_test, on_epoch, should_stop):
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
) -> tuple[StopCNN, InputScaler, dict[str, list[float]], np.ndarray]:
    """Fit the scaler and a model on ``train_index`` only; return them, the history and the
    held-out class probabilities (n_test, C)."""
    X = dataset.X
    scaler = InputScaler(config.scaling).fit(X[train_index])
    x_train = scaler.transform(X[train_index])
    x_test = scaler.transform(X[test_index])
    _, t, n_bins, _ = X.shape
    mcfg = config.model_config(t, n_bins, len(dataset.classes))
    model, history = fit_model(
        x_train,
        dataset.labels[train_index],
        mcfg,
        config,
        seed,
        X_test=x_test,
        y_test=dataset.labels[test_index],
        on_epoch=on_epoch,
        should_stop=should_stop,
    )
    proba = np.zeros((0, mcfg.n_classes))
    if len(test_index):
        with torch.no_grad():
            proba = torch.softmax(model(torch.as_tensor(x_test)), dim=1).double().numpy()
    return model, scaler, history, proba


def loco_cv(
    dataset: Dataset,
    config: TrainConfig | None = None,
    progress: Callable[[EpochProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
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
        Checked before every batch; True raises :class:`Cancelled`.

    Returns
    -------
    CVResult
        Fold models, scalers, learning curves and out-of-fold probabilities.
    """
    import time

    config = config or TrainConfig()
    check_trainable(dataset, config, cv=True)
    folds = cv_folds(dataset.cages, dataset.labels, config.folds)
    n_classes = len(dataset.classes)
    oof = np.full((len(dataset), n_classes), np.nan, dtype=np.float64)
    results: list[FoldResult] = []
    t0 = time.perf_counter()
    for k, (cage, train, test) in enumerate(folds):

        def on_epoch(epoch: int, fig: dict, k: int = k, cage: str = cage) -> None:
            if progress is not None:
                progress(
                    EpochProgress(
                        done=k * config.epochs + epoch,
                        total=len(folds) * config.epochs,
                        message=f"cage {cage}: epoch {epoch}/{config.epochs}",
                        fold=k + 1,
                        n_folds=len(folds),
                        epoch=epoch,
                        n_epochs=config.epochs,
                        loss=fig["train_loss"],
                        accuracy=fig["train_accuracy"],
                        test_loss=fig.get("test_loss"),
                        test_accuracy=fig.get("test_accuracy"),
                        cage=cage,
                    )
                )

        model, scaler, history, proba = train_fold(
            dataset, train, test, config, _seed_for(config.seed, k), on_epoch, should_stop
        )
        oof[test] = proba
        held_out = tuple(str(c) for c in np.unique(dataset.cages[test]))
        results.append(FoldResult(cage, train, test, model, scaler, history, proba, held_out))
    X = dataset.X
    return CVResult(
        folds=results,
        oof_proba=oof,
        labels=dataset.labels.copy(),
        cages=dataset.cages.copy(),
        recordings=dataset.recordings.copy(),
        animals=dataset.animals.copy(),
        classes=tuple(dataset.classes),
        config=config,
        model_config=config.model_config(X.shape[1], X.shape[2], n_classes),
        seconds=time.perf_counter() - t0,
        device=str(resolve_device(config.device)),
    )


def train_final(
    dataset: Dataset,
    config: TrainConfig | None = None,
    progress: Callable[[EpochProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Checkpoint:
    """Train the final model on all samples and return it as a :class:`Checkpoint`.

    The checkpoint carries the weights, architecture, class names, scaler, the dataset's
    parameters (T, N, interval, stop thresholds, geometry) and versions; save it with
    :func:`save_checkpoint`.
    """
    config = config or TrainConfig()
    check_trainable(dataset, config, cv=False)
    everything = np.arange(len(dataset))
    none = np.array([], dtype=np.int64)

    def on_epoch(epoch: int, fig: dict) -> None:
        if progress is not None:
            progress(
                EpochProgress(
                    done=epoch,
                    total=config.epochs,
                    message=f"final model: epoch {epoch}/{config.epochs}",
                    fold=1,
                    n_folds=1,
                    epoch=epoch,
                    n_epochs=config.epochs,
                    loss=fig["train_loss"],
                    accuracy=fig["train_accuracy"],
                    stage="final",
                )
            )

    model, scaler, history, _ = train_fold(
        dataset, everything, none, config, _seed_for(config.seed, 10**6), on_epoch, should_stop
    )
    return make_checkpoint(
        model, scaler, dataset, config, meta={"trained_on": "all", "history": history}
    )
