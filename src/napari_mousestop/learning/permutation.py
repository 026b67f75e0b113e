"""The full-pipeline permutation test: cross-validation retrained on relabelled cohorts.

The prediction-permutation test of :func:`napari_mousestop.learning.stats.permutation_test`
keeps the out-of-fold predictions fixed and permutes the labels; it asks whether *these
predictions* beat chance. This test asks whether the *training procedure* learns anything: the
labels are relabelled the way the study's design allows (the same
:class:`~napari_mousestop.design.StudyDesign` scheme as the prediction test: with one sex per
cage, the sexes of the cages across cages and the ages within each cage), and the whole
cross-validation (folds, scalers, models, with the run's own settings and seed) is
rerun on each relabelled cohort. Its null distribution therefore includes everything the
procedure can fit by chance, which on 96 animals and a 124,000-parameter model is the honest
reference; its cost is one cross-validation per permutation.

Each finished permutation is written to ``FOLDER/perm_NNNNN.json`` (its labels, out-of-fold
predictions and accuracy) under a key of the dataset and the settings, so an interrupted test
resumes where it stopped, and a larger test reuses the permutations already done. Permutation
``i`` is drawn from its own seed (the run's seed and ``i``), so it is the same whatever the
number of permutations asked for or the order in which they finish. Where the design allows
no more distinct labellings than the permutations asked for, every labelling is retrained once
(an exact test, ``n_labellings`` cross-validations); where it allows none, there is no test
and no job, and the result says why. With a folder, each permutation's fold models are kept too
(``FOLDER/perm_NNNNN/fold_K.pt``, listed with the indices they held out in the permutation's
file): ``mousestop explain`` recomputes their out-of-fold maps as the null of its map
comparisons (:mod:`napari_mousestop.explain.retrained`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.design import Scheme, StudyDesign
from napari_mousestop.io.atomic import write_text_atomic
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.stats import (
    PermutationResult,
    no_test,
    permutation_result,
)
from napari_mousestop.learning.training import (
    FoldJob,
    FoldOutput,
    check_trainable,
    cv_jobs,
    job_client,
    run_jobs,
)
from napari_mousestop.progress import ProgressCallback

log = logging.getLogger(__name__)

FILE_FORMAT = "napari-mousestop-permutation/1"
"""Format of a finished permutation's file."""

ASSUMES = (
    "labels were assigned at random the way the design relabels them (its randomisation); the "
    "whole cross-validation is retrained on every relabelling with the run's settings and seed, so "
    "it tests the training procedure on this cohort, not one set of predictions"
)

__all__ = ["PermutationPlan", "retrained_permutation_test", "run_key"]


def run_key(dataset: Dataset, config: TrainConfig) -> str:
    """Key of the permutations of this dataset and these settings: a hash of the stacks,
    labels, cages, recordings and every setting that changes results (not ``device``, which
    changes them only to rounding)."""
    h = hashlib.sha256()
    for arr in (dataset.X, dataset.labels, dataset.cages, dataset.recordings):
        a = np.ascontiguousarray(arr)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    settings = {k: v for k, v in config.to_dict().items() if k != "device"}
    h.update(json.dumps({"classes": list(dataset.classes), **settings}, sort_keys=True).encode())
    return h.hexdigest()[:32]


class PermutationPlan:
    """The jobs of a retrained permutation test, the ones already on disk, and its result.

    Parameters
    ----------
    dataset, config
        The data and the run's settings (``config.seed`` seeds the permutations and, as in the
        run itself, every fold's model).
    n_permutations
        Permutations of the test (all the design's labellings instead, when there are no more
        of them: :attr:`n` is then their number).
    folder
        Where finished permutations are kept (None: nowhere, no resume).
    """

    def __init__(
        self,
        dataset: Dataset,
        config: TrainConfig,
        n_permutations: int,
        folder: str | os.PathLike | None = None,
    ) -> None:
        if n_permutations < 1:
            raise ValueError(f"permutations must be >= 1 (got {n_permutations})")
        self.dataset, self.config = dataset, config
        self.folder = Path(folder) if folder is not None else None
        self.design = StudyDesign.from_dataset(dataset)
        self.scheme: Scheme = self.design.scheme_for("accuracy")
        self._listed: np.ndarray | None = None
        if not self.scheme.valid:
            n_permutations = 0
        elif self.scheme.exact and self.scheme.n_labellings <= n_permutations:
            self._listed = self.scheme.labellings(0)
            n_permutations = len(self._listed)
        self.n = int(n_permutations)
        self.key = run_key(dataset, config)
        self.accuracy: dict[int, float] = {}
        self._done: dict[int, dict[str, FoldOutput]] = {}
        self._fold_files: dict[str, dict] = {}
        for i in range(self.n):
            found = self._load(i)
            if found is not None:
                self.accuracy[i] = found
        self.resumed = len(self.accuracy)
        self.jobs: list[FoldJob] = []
        self._labels: dict[int, np.ndarray] = {}
        self._jobs_of: dict[int, list[FoldJob]] = {}
        for i in range(self.n):
            if i in self.accuracy:
                continue
            labels = self.labels(i)
            self._labels[i] = labels
            progress = {"stage": "permutation", "permutation": i + 1, "n_permutations": self.n}
            jobs = cv_jobs(dataset, config, 1, labels, prefix=f"perm/{i}", progress=progress)
            if self.folder is not None:  # fold models kept: explain's retrained map null
                jobs = [replace(j, keep_model=True) for j in jobs]
            self._jobs_of[i] = jobs
            self.jobs += jobs

    def labels(self, i: int) -> np.ndarray:
        """The labels of permutation ``i`` (the same for every ``n_permutations``; the
        ``i``-th of the design's labellings when all are retrained)."""
        if self._listed is not None:
            return self._listed[i]
        rng = np.random.default_rng([int(self.config.seed), 0x7065726D, int(i)])
        return self.scheme.labellings(1, rng)[0]

    def _file(self, i: int) -> Path | None:
        return None if self.folder is None else self.folder / f"perm_{i + 1:05d}.json"

    def _load(self, i: int) -> float | None:
        path = self._file(i)
        if path is None or not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if doc.get("format") != FILE_FORMAT or doc.get("key") != self.key:
            return None  # another dataset or other settings: computed again, then replaced
        if doc.get("labels") != self.labels(i).tolist():
            return None  # another labelling under this number (exact and drawn tests differ)
        return float(doc["accuracy"])

    def on_output(self, job: FoldJob, output: FoldOutput) -> None:
        """Collect a finished fold; once a permutation's folds are all in, score and keep it."""
        if not job.id.startswith("perm/"):
            return
        i = int(job.id.split("/")[1])
        done = self._done.setdefault(i, {})
        done[job.id] = self._keep_fold(i, job, output)
        jobs = self._jobs_of[i]
        if len(done) < len(jobs):
            return
        y = self._labels[i]
        pred = np.full(len(y), -1, dtype=np.int64)
        for j in jobs:
            pred[j.test] = done[j.id].proba.argmax(axis=1)
        self.accuracy[i] = float(np.mean(pred == y))
        del self._done[i]
        path = self._file(i)
        if path is not None:
            doc = {
                "format": FILE_FORMAT,
                "key": self.key,
                "permutation": i + 1,
                "accuracy": self.accuracy[i],
                "labels": y.tolist(),
                "predicted": pred.tolist(),
                "unit": self.scheme.unit,
                "folds": [self._fold_files[j.id] for j in jobs if j.id in self._fold_files],
                "config": self.config.to_dict(),
            }
            try:
                write_text_atomic(path, json.dumps(doc))
            except OSError as exc:
                log.warning("cannot keep permutation %d in %s: %s", i + 1, path, exc)

    def _keep_fold(self, i: int, job: FoldJob, output: FoldOutput):
        """Write the fold model of permutation ``i`` to ``FOLDER/perm_NNNNN/fold_K.pt`` (what
        ``mousestop explain`` needs for the out-of-fold maps of the permuted run) and keep
        only its held-out probabilities in memory."""
        if self.folder is None or output.model is None:
            return output
        from napari_mousestop.learning.checkpoint import make_checkpoint, save_checkpoint

        name = f"perm_{i + 1:05d}/fold_{job.id.rsplit('/', 1)[1]}.pt"
        meta = {
            "held_out_cages": sorted(str(c) for c in np.unique(self.dataset.cages[job.test])),
            "test_index": np.asarray(job.test).tolist(),
            "permutation": i + 1,
            "labels": "permuted (see the permutation's json)",
        }
        try:
            ckpt = make_checkpoint(output.model, output.scaler, self.dataset, job.config, meta)
            save_checkpoint(self.folder / name, ckpt)
        except OSError as exc:
            log.warning("cannot keep permutation %d's fold model in %s: %s", i + 1, name, exc)
            return replace(output, model=None)
        self._fold_files[job.id] = {"model": name, "test_index": meta["test_index"]}
        return replace(output, model=None)

    def result(self, observed: float) -> PermutationResult:
        """The test of ``observed`` (the accuracy of the run with the same settings and seed)
        against the permutations, once all of them are done (no test where the design
        allows none)."""
        if not self.scheme.valid:
            return no_test(observed, self.scheme)
        missing = [i + 1 for i in range(self.n) if i not in self.accuracy]
        if missing:
            raise RuntimeError(f"permutations not finished: {missing[:10]}")
        null = np.array([self.accuracy[i] for i in range(self.n)])
        return permutation_result(observed, null, self.scheme, ASSUMES)


def retrained_permutation_test(
    dataset: Dataset,
    config: TrainConfig,
    n_permutations: int,
    observed: float,
    folder: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    workers: int = 0,
    scheduler: str | None = None,
) -> PermutationResult:
    """The full-pipeline permutation test of a cross-validation's accuracy.

    Parameters
    ----------
    dataset, config
        The data and the settings of the run whose accuracy is tested.
    n_permutations
        Relabellings; each costs one cross-validation (the smallest p is
        ``1 / (1 + n_permutations)``, and never below the design's ``1 / n_labellings``:
        with no more labellings than this, each is retrained once, an exact test).
    observed
        The run's out-of-fold accuracy (``loco_cv(dataset, config)``, the same seed).
    folder
        Keep finished permutations there and reuse those already there (resume).
    progress, should_stop, workers, scheduler
        As in :func:`napari_mousestop.learning.training.loco_cv`; progress reports carry
        ``stage="permutation"`` and the permutation's number.

    Returns
    -------
    PermutationResult
        ``p = (1 + #{null >= observed}) / (1 + n_permutations)``, the null mean and 95%
        quantile, the level and scheme of the relabelling.
    """
    check_trainable(dataset, config, cv=True)
    plan = PermutationPlan(dataset, config, n_permutations, folder)
    if plan.jobs:
        with job_client(workers, scheduler, len(plan.jobs)) as client:
            run_jobs(dataset, plan.jobs, progress, should_stop, plan.on_output, client)
    return plan.result(observed)
