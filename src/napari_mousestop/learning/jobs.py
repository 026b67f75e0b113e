"""What a training run is made of: :class:`FoldJob` (one model to train), :class:`FoldOutput`
(what training it gives back) and :class:`JobProgress` (one progress count over many jobs).

A leaf module: :mod:`napari_mousestop.learning.training` trains jobs in this process and
:mod:`napari_mousestop.learning.parallel` on Dask workers; both read these types from here, so
neither imports the other's module for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from napari_mousestop.learning.config import EpochProgress, TrainConfig
from napari_mousestop.learning.scaling import InputScaler
from napari_mousestop.progress import ProgressCallback

if TYPE_CHECKING:
    from napari_mousestop.learning.model import StopCNN


@dataclass(frozen=True)
class FoldJob:
    """One model to train: the fold's samples, its seed and what its progress reports say.

    Every model of a run (each fold of each repeat, the final model, each fold of each
    permutation) is a job; jobs are independent, so they may run in any order, here or in
    worker processes (:func:`run_jobs`), and give the same model.

    Attributes
    ----------
    id
        Unique within a run (``"cv/0/cage01"``, ``"final"``, ``"perm/3/cage01"``).
    name
        The fold's name (held-out cages joined by ``+``; ``"all"`` for the final model).
    train, test
        Sample indices.
    config
        Training settings.
    seed
        Seed of this model (weight initialisation and batch order).
    labels
        Class of every sample when not the dataset's (permutations).
    keep_model
        Return the trained model (False: only its held-out probabilities).
    progress
        Fields of :class:`~napari_mousestop.learning.config.EpochProgress` that name the model
        (stage, fold, n_folds, cage, repeat, n_repeats, permutation, n_permutations).
    """

    id: str
    name: str
    train: np.ndarray
    test: np.ndarray
    config: TrainConfig
    seed: int
    labels: np.ndarray | None = None
    keep_model: bool = True
    progress: dict = field(default_factory=dict)


@dataclass
class FoldOutput:
    """What training one :class:`FoldJob` gives back."""

    model: StopCNN | None
    scaler: InputScaler
    history: dict[str, list[float]]
    proba: np.ndarray
    seconds: float
    device: str


def model_label(job: FoldJob) -> str:
    """Which model ``job`` trains, in a few words (``"cage c03"``, ``"final model"``,
    ``"permutation 2/10, cage c03"``, ``"cage c03, seed 1"``)."""
    p = job.progress
    if p.get("stage") == "final":
        return "final model"
    name = f"cage {job.name}"
    if p.get("stage") == "permutation":
        return f"permutation {p['permutation']}/{p['n_permutations']}, {name}"
    return name + (f", seed {job.config.seed}" if p.get("n_repeats", 1) > 1 else "")


class JobProgress:
    """One progress stream over many jobs that may train at the same time.

    Every epoch of every job becomes an :class:`~napari_mousestop.learning.config.EpochProgress`
    whose ``done`` and ``total`` count the epochs of all the jobs (so one bar shows the whole
    run), ``models_done`` of ``n_models`` the jobs whose last epoch has been reported.
    """

    def __init__(self, jobs: list[FoldJob], progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.total = sum(job.config.epochs for job in jobs)
        self.n_models = len(jobs)
        self.epochs = 0
        self.models_done = 0

    def epoch(self, job: FoldJob, epoch: int, figures: dict) -> None:
        """Report ``epoch`` of ``job`` with the epoch's ``figures``."""
        self.epochs += 1
        self.models_done += int(epoch) == job.config.epochs
        if self.progress is None:
            return
        self.progress(
            EpochProgress(
                done=self.epochs,
                total=self.total,
                message=f"{model_label(job)}: epoch {epoch}/{job.config.epochs}",
                epoch=int(epoch),
                n_epochs=job.config.epochs,
                loss=figures["train_loss"],
                accuracy=figures["train_accuracy"],
                test_loss=figures.get("test_loss"),
                test_accuracy=figures.get("test_accuracy"),
                models_done=self.models_done,
                n_models=self.n_models,
                **job.progress,
            )
        )


__all__ = ["FoldJob", "FoldOutput", "JobProgress", "model_label"]
