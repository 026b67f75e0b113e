"""Settings and result containers of training: :class:`ModelConfig` (the CNN's architecture,
its defaults also :class:`TrainConfig`'s), :class:`TrainConfig`, :class:`EpochProgress`,
:class:`FoldResult`, :class:`CVResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from napari_mousestop.learning.scaling import InputScaler
from napari_mousestop.progress import Progress

if TYPE_CHECKING:  # torch loads when a model is built, not with the settings (the CLI reads them)
    import torch

    from napari_mousestop.learning.model import StopCNN

N_PERMUTATIONS = 10000
"""Label permutations of each cage-level test of a training report."""

FOLD_SCHEMES = ("cage", "balanced")
"""Cross-validation fold schemes (:attr:`TrainConfig.folds`)."""



@dataclass(frozen=True)
class ModelConfig:
    """Architecture of :class:`StopCNN`; stored in every checkpoint.

    Parameters
    ----------
    n_intervals
        T, the number of hourly histograms (input channels).
    n_bins
        N, the histogram grid size (input is N x N).
    n_classes
        Number of output classes.
    channels
        Output channels of each convolution branch.
    kernel_sizes
        Kernel size of each branch (valid convolution, stride 1).
    pool
        Max-pooling window and stride.
    """

    n_intervals: int = 72
    n_bins: int = 30
    n_classes: int = 4
    channels: int = 16
    kernel_sizes: tuple[int, ...] = (3, 9)
    pool: int = 2

    def branch_shape(self, kernel_size: int) -> tuple[int, int, int]:
        """Shape (channels, height, width) of one branch's pooled output."""
        side = (self.n_bins - kernel_size + 1) // self.pool
        return (self.channels, side, side)

    @property
    def n_features(self) -> int:
        """Length of the concatenated, flattened branch outputs."""
        total = 0
        for k in self.kernel_sizes:
            c, h, w = self.branch_shape(k)
            total += c * h * w
        return total

    def to_dict(self) -> dict:
        """JSON-friendly dictionary (tuples become lists)."""
        d = asdict(self)
        d["kernel_sizes"] = list(self.kernel_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["kernel_sizes"] = tuple(d.get("kernel_sizes", cls.kernel_sizes))
        return cls(**d)


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored in reports and checkpoints.

    Parameters
    ----------
    epochs
        Passes over the training data (fixed in advance: no early stopping, so no held-out data
        is used for model selection).
    batch_size
        Samples per SGD step (the last batch of an epoch may be smaller).
    lr
        SGD learning rate (the paper's 1e-3).
    momentum
        SGD momentum; 0.9 by default (plain SGD at 1e-3 barely moves in 100 epochs, see
        docs/training.md).
    weight_decay
        L2 penalty of SGD.
    seed
        Seeds weight initialisation and batch order (per fold, derived from this one seed).
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    scaling
        Input scaling (:class:`InputScaler`): ``"log1p"`` (default) or ``"none"``.
    channels, kernel_sizes, pool
        Architecture of each convolution branch (:class:`ModelConfig`); T, N and the number
        of classes come from the data.
    folds
        Cross-validation folds: ``"cage"`` (leave one cage out) or ``"balanced"`` (cages that
        cover the classes evenly, e.g. one male and one female cage, held out together, so the
        training set stays balanced; see
        :func:`~napari_mousestop.learning.training.balanced_folds`).
    track_test
        Record held-out loss and accuracy after every epoch (learning curves; never used to
        pick a model or a setting).
    """

    epochs: int = 100
    batch_size: int = 8
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    scaling: str = "log1p"
    channels: int = 16
    kernel_sizes: tuple[int, ...] = (3, 9)
    pool: int = 2
    folds: str = "cage"
    track_test: bool = True

    def __post_init__(self) -> None:
        self.kernel_sizes = tuple(int(k) for k in self.kernel_sizes)
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1 (got {self.epochs})")
        if self.batch_size < 1:
            problems.append(f"batch size must be >= 1 (got {self.batch_size})")
        if not self.lr > 0:
            problems.append(f"learning rate must be > 0 (got {self.lr})")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must lie in [0, 1) (got {self.momentum})")
        if self.weight_decay < 0:
            problems.append(f"weight decay must be >= 0 (got {self.weight_decay})")
        if self.scaling not in InputScaler.METHODS:
            problems.append(f"scaling must be one of {InputScaler.METHODS} (got {self.scaling!r})")
        if self.folds not in FOLD_SCHEMES:
            problems.append(f"folds must be one of {FOLD_SCHEMES} (got {self.folds!r})")
        if problems:
            raise ValueError("training config: " + "; ".join(problems))

    def model_config(self, n_intervals: int, n_bins: int, n_classes: int) -> ModelConfig:
        """The architecture for data of T = ``n_intervals``, N = ``n_bins``."""
        return ModelConfig(
            n_intervals=n_intervals,
            n_bins=n_bins,
            n_classes=n_classes,
            channels=self.channels,
            kernel_sizes=self.kernel_sizes,
            pool=self.pool,
        )

    def to_dict(self) -> dict:
        """JSON-friendly dictionary."""
        d = asdict(self)
        d["kernel_sizes"] = list(self.kernel_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys are refused).

        ``threads``, recorded by versions before 0.2 (torch's thread count is a setting of the
        process, not of a training run: ``mousestop train --threads``), is ignored.
        """
        return cls(**{k: v for k, v in d.items() if k != "threads"})


@dataclass(frozen=True, kw_only=True)
class EpochProgress(Progress):
    """The :class:`~napari_mousestop.progress.Progress` of training, sent after every epoch.

    ``done`` and ``total`` count epochs over every model of the call (every fold of every
    repeat and permutation, and the final model when trained with them; ``train_final``
    alone: its own epochs), so one bar shows the whole run even when models train at once;
    ``fold`` counts from 1 to ``n_folds`` in CV; the final all-data model reports
    ``stage="final"`` with ``fold = n_folds = 1``. ``loss`` and ``accuracy`` are the epoch's
    training figures; ``test_loss`` and ``test_accuracy`` the held-out fold's (None if none);
    ``cage`` names the fold's held-out cage (cages joined by ``+`` with balanced folds).

    Several models may train at once (folds in worker processes), so reports of different
    folds interleave: ``stage``, ``repeat``, ``permutation`` and ``fold`` say which model an
    epoch belongs to. ``repeat`` counts the seeds of a repeated run from 1 to ``n_repeats``;
    ``stage="permutation"`` reports a model of the full-pipeline permutation test
    (``permutation`` from 1 to ``n_permutations``). ``models_done`` of ``n_models`` models of
    the whole run (every fold of every repeat and permutation, and the final model) have
    finished.
    """

    fold: int
    n_folds: int
    epoch: int
    n_epochs: int
    loss: float
    accuracy: float
    test_loss: float | None = None
    test_accuracy: float | None = None
    stage: str = "cv"
    cage: str | None = None
    repeat: int = 1
    n_repeats: int = 1
    permutation: int = 0
    n_permutations: int = 0
    models_done: int = 0
    n_models: int = 1

    @property
    def model_key(self) -> tuple[str, int, int, int]:
        """Which model this epoch belongs to: ``(stage, repeat, permutation, fold)``."""
        return (self.stage, self.repeat, self.permutation, self.fold)


@dataclass
class FoldResult:
    """One cross-validation fold: the model that never saw the held-out cage(s).

    ``cage`` names the fold: the held-out cage, or with balanced folds the held-out cages
    joined by ``+`` (``cages`` lists them). ``seconds`` is the time its training took where it
    ran (in a worker process or here).
    """

    cage: str
    train_index: np.ndarray
    test_index: np.ndarray
    model: StopCNN
    scaler: InputScaler
    history: dict[str, list[float]]
    proba: np.ndarray
    cages: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass
class CVResult:
    """Cross-validation results: fold models and out-of-fold class probabilities."""

    folds: list[FoldResult]
    oof_proba: np.ndarray
    labels: np.ndarray
    cages: np.ndarray
    recordings: np.ndarray
    animals: np.ndarray
    classes: tuple[str, ...]
    config: TrainConfig
    model_config: ModelConfig
    seconds: float = 0.0
    device: str = "cpu"
    extra: dict = field(default_factory=dict)

    @property
    def oof_pred(self) -> np.ndarray:
        """Out-of-fold predicted class index per sample."""
        return self.oof_proba.argmax(axis=1)

    @property
    def history(self) -> list[dict]:
        """Per-fold learning curves: ``[{"cage": ..., "train_loss": [...], ...}, ...]``."""
        return [{"cage": f.cage, **f.history} for f in self.folds]


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to torch."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r} ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return dev
