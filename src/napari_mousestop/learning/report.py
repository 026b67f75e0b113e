"""A training run from start to finish: cross-validation, baselines, statistics, final model.

``RUN_DIR`` holds ``report.json`` (everything, machine-readable), ``report.md`` (the summary a
person reads), ``predictions.csv`` (out-of-fold class probabilities per animal),
``confusion_matrix.png``, ``accuracy_by_cage.png``, ``learning_curves.png``, ``model.pt`` (the
final all-data model) and ``folds/<fold>.pt`` (the model that never saw that fold's cages, for
out-of-fold explanations). A run repeated with several seeds also keeps every other repeat's fold
models in ``repeats/seed_<seed>/<fold>.pt``; a full-pipeline permutation test keeps its finished
permutations in ``permutations/`` (and resumes from them). Every file is written atomically.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from napari_mousestop import __version__
from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.design import StudyDesign
from napari_mousestop.io.atomic import atomic_path, write_text_atomic
from napari_mousestop.learning.baselines import BaselineResult, run_baselines
from napari_mousestop.learning.checkpoint import (
    Checkpoint,
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
)
from napari_mousestop.learning.config import N_PERMUTATIONS, CVResult, TrainConfig
from napari_mousestop.learning.permutation import PermutationPlan
from napari_mousestop.learning.report_text import (
    FOLD_DESCRIPTIONS,
    SETTINGS_ASSUMES,
    markdown,
    settings_note,
)
from napari_mousestop.learning.stats import (
    CageComparison,
    FactorFigures,
    NullReference,
    PermutationResult,
    RepeatFigures,
    Summary,
    accuracy,
    compare_on_cages,
    factor_figures,
    holm,
    null_reference,
    permutation_test,
    repeat_figures,
    summarize,
)
from napari_mousestop.learning.training import check_trainable, train_models
from napari_mousestop.progress import ProgressCallback, notify

REPORT_FORMAT = "napari-mousestop-run/2"
"""Format of ``report.json`` written now."""

READABLE_FORMATS = ("napari-mousestop-run/1", REPORT_FORMAT)
"""Formats :func:`load_run` reads (``/1``: before cage-level statistics and balanced folds)."""


def fold_file_name(cage: str) -> str:
    """File name of a fold model inside ``RUN_DIR/folds`` (from the fold's name)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(cage)) + ".pt"


@dataclass
class BaselineFigures:
    """One baseline's out-of-fold figures: its definition, :class:`~.stats.Summary` and the
    variance its PCA explained in each fold."""

    name: str
    description: str
    summary: Summary
    explained_variance: list[list[float]]


@dataclass
class FoldRecord:
    """One fold of the run: its name, held-out cages, sizes, accuracy, model file and curves."""

    cage: str
    cages: list[str]
    n_train: int
    n_test: int
    accuracy: float
    model: str
    learning_curves: dict[str, list[float]]


@dataclass
class Report:
    """Every figure of a run; :meth:`to_dict` is ``report.json``.

    Attributes
    ----------
    classes
        Class names, in index order.
    cnn
        The CNN's out-of-fold :class:`~.stats.Summary` (accuracy with its cage-level interval).
    permutation
        Permutation test of the CNN's accuracy at the level the labels were assigned.
    factors
        Figures and a test for each factor of the classes that varies (``"sex"`` and
        ``"age"`` for AM, JM, AF, JF), when two or more do.
    baselines
        Each baseline's figures, in the same folds.
    comparisons
        CNN minus each baseline, cage by cage, with a sign-flip test: every baseline is
        reported, none is picked after the fact.
    null_reference
        Chance, the training-frequency guess under these folds, the permutation null mean.
    fold_scheme
        ``"cage"`` or ``"balanced"`` (``config["folds"]``); ``folds`` lists every fold.
    settings_note
        The statement that settings were fixed in advance.
    repeats
        With several seeds (``config["repeats"]`` > 1): every repeat's accuracy and per-class
        accuracy, their mean and spread, and the ensemble's figures. Everything else in the
        report (``cnn``, tests, baselines comparisons, folds, predictions) is the first
        repeat, the run whose fold models are in ``folds/``.
    retrained_permutation
        The full-pipeline permutation test of ``cnn``'s accuracy (cross-validation retrained
        on each relabelling), when asked for; ``permutation`` keeps the predictions fixed.
    design
        The design table (:meth:`~napari_mousestop.design.StudyDesign.to_dict`): experimental
        unit, each factor and the level it varies at, cages and animals per class.
    tests
        Every test in one table: its role (the ``primary`` test named in advance, or one of
        the ``secondary`` family, Holm-adjusted together), unit, labellings, smallest p,
        p and adjusted p, or why it was left out (:func:`table_of_tests`).
    """

    classes: list[str]
    n_cages: int
    cnn: Summary
    permutation: PermutationResult
    factors: dict[str, FactorFigures]
    baselines: dict[str, BaselineFigures]
    comparisons: dict[str, CageComparison]
    null_reference: NullReference
    fold_scheme: str
    settings_note: str
    config: dict
    dataset: dict
    folds: list[FoldRecord]
    predictions: list[dict]
    cv_seconds: float
    repeats: RepeatFigures | None = None
    retrained_permutation: PermutationResult | None = None
    design: dict = field(default_factory=dict)
    tests: list[dict] = field(default_factory=list)
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    versions: dict = field(default_factory=lambda: {"napari_mousestop": __version__})
    format: str = REPORT_FORMAT

    @property
    def accuracy(self) -> float:
        """The CNN's out-of-fold accuracy."""
        return self.cnn.accuracy.value

    @property
    def fold_description(self) -> str:
        """One sentence on how the folds were made."""
        return FOLD_DESCRIPTIONS[self.fold_scheme]

    def to_dict(self) -> dict:
        """JSON-friendly dictionary (``report.json``)."""
        return {
            "format": self.format,
            "created": self.created,
            "versions": self.versions,
            "classes": list(self.classes),
            "n_cages": self.n_cages,
            "design": self.design,
            "tests": self.tests,
            "cnn": self.cnn.to_dict(),
            "permutation": self.permutation.to_dict(),
            "retrained_permutation": (
                None if self.retrained_permutation is None else self.retrained_permutation.to_dict()
            ),
            "repeats": None if self.repeats is None else self.repeats.to_dict(),
            "factors": {k: v.to_dict() for k, v in self.factors.items()},
            "baselines": {
                k: {
                    "description": b.description,
                    **b.summary.to_dict(),
                    "explained_variance": b.explained_variance,
                }
                for k, b in self.baselines.items()
            },
            "comparisons": {k: c.to_dict() for k, c in self.comparisons.items()},
            "null_reference": self.null_reference.to_dict(),
            "fold_scheme": {"name": self.fold_scheme, "description": self.fold_description},
            "settings_note": self.settings_note,
            "assumptions": {"settings": SETTINGS_ASSUMES},
            "config": self.config,
            "dataset": self.dataset,
            "cv_seconds": self.cv_seconds,
            "folds": [asdict(f) for f in self.folds],
            "predictions": self.predictions,
        }


def build_report(
    dataset: Dataset,
    cv: CVResult,
    baselines: dict[str, BaselineResult],
    n_permutations: int = N_PERMUTATIONS,
    dataset_path: str | os.PathLike | None = None,
    repeats: list[CVResult] | None = None,
    retrained: PermutationResult | None = None,
    execution: dict | None = None,
) -> Report:
    """All figures of a run (see ``docs/training.md``), computed from out-of-fold predictions.

    ``cv`` is the run the report describes; ``repeats`` (``cv`` first, then the other seeds)
    adds their spread and ensemble, ``retrained`` the full-pipeline permutation test and
    ``execution`` where the models trained (workers, scheduler, permutations read back from disk).
    """
    classes = tuple(dataset.classes)
    y, pred, cages, recs = dataset.labels, cv.oof_pred, dataset.cages, dataset.recordings
    seed = cv.config.seed
    design = StudyDesign.from_dataset(dataset)
    perm = permutation_test(design, pred, n_permutations, seed)
    factors = factor_figures(design, pred, n_permutations, seed)
    comparisons = {
        name: compare_on_cages(y, pred, res.oof_pred, cages, seed)
        for name, res in baselines.items()
    }
    base = {
        name: BaselineFigures(
            name=name,
            description=res.description,
            summary=summarize(y, res.oof_pred, cages, len(classes)),
            explained_variance=res.explained_variance,
        )
        for name, res in baselines.items()
    }
    folds = [
        FoldRecord(
            cage=f.cage,
            cages=list(f.cages) or [f.cage],
            n_train=int(len(f.train_index)),
            n_test=int(len(f.test_index)),
            accuracy=float(np.mean(pred[f.test_index] == y[f.test_index])),
            model=f"folds/{fold_file_name(f.cage)}",
            learning_curves=f.history,
        )
        for f in cv.folds
    ]
    rep = None
    if repeats is not None and len(repeats) > 1:
        rep = repeat_figures(
            y, [r.oof_proba for r in repeats], cages, classes, [r.config.seed for r in repeats]
        )
        ensemble = np.mean(np.stack([r.oof_proba for r in repeats]), axis=0).argmax(axis=1)
    predictions = [
        {
            "animal": str(dataset.animals[i]),
            "cage": str(cages[i]),
            "recording": str(recs[i]),
            "true": classes[y[i]],
            "predicted": classes[pred[i]],
            "proba": {c: float(cv.oof_proba[i, j]) for j, c in enumerate(classes)},
            **{name: classes[r.oof_pred[i]] for name, r in baselines.items()},
            **({"ensemble": classes[ensemble[i]]} if rep is not None else {}),
        }
        for i in range(len(dataset))
    ]
    x_shape = dataset.X.shape
    path = str(dataset_path) if dataset_path is not None else None
    return Report(
        classes=list(classes),
        n_cages=int(len(np.unique(cages))),
        cnn=summarize(y, pred, cages, len(classes)),
        permutation=perm,
        factors=factors,
        baselines=base,
        comparisons=comparisons,
        null_reference=null_reference(
            y, [(f.train_index, f.test_index) for f in cv.folds], len(classes), perm
        ),
        fold_scheme=cv.config.folds,
        settings_note=settings_note(cv.config),
        config={
            **cv.config.to_dict(),
            "dataset": path,
            "n_permutations": int(n_permutations),
            "repeats": len(repeats) if repeats else 1,
            "retrain_permutations": 0 if retrained is None else retrained.n_permutations,
            "model": cv.model_config.to_dict(),
            "device_used": cv.device,
            "execution": execution or {"workers": 0, "scheduler": None},
        },
        dataset={
            "path": path,
            "n_samples": int(x_shape[0]),
            "n_intervals": int(x_shape[1]),
            "n_bins": int(x_shape[2]),
            "n_cages": int(len(np.unique(cages))),
            "params": dataset.params,
            "sources": dataset.sources,
        },
        folds=folds,
        predictions=predictions,
        cv_seconds=cv.seconds,
        repeats=rep,
        retrained_permutation=retrained,
        design=design.to_dict(),
        tests=table_of_tests(perm, factors, comparisons, retrained),
    )


def _row(name: str, role: str, unit: str, scheme: str, n: int, exact: bool, min_p: float,
         p: float, reason: str = "") -> dict:  # fmt: skip
    return {"test": name, "role": role, "unit": unit, "scheme": scheme,
            "n_labellings": int(n), "exact": bool(exact), "min_p": float(min_p),
            "p": float(p), "p_holm": float(p), "reason": reason}  # fmt: skip


def table_of_tests(
    permutation: PermutationResult,
    factors: dict[str, FactorFigures],
    comparisons: dict[str, CageComparison],
    retrained: PermutationResult | None = None,
) -> list[dict]:
    """Every test of a run, the primary one first, the others Holm-adjusted as one family.

    The primary test is named in advance: the full-pipeline (retrained) permutation test when
    it was run, else the prediction-permutation test of accuracy. The secondary family is
    every other test (the prediction test when it is not primary, each factor test, CNN
    against each baseline); its ``p_holm`` is Holm's step-down adjustment over the family
    (:func:`~napari_mousestop.learning.stats.holm`). A test the design does not allow keeps
    its row, with ``p`` NaN and the reason.
    """

    def perm_row(name: str, role: str, r: PermutationResult) -> dict:
        return _row(name, role, r.unit, r.scheme, r.n_labellings, r.exact, r.min_p,
                    r.p_value, r.reason)  # fmt: skip

    accuracy_name = "accuracy: prediction-permutation test"
    if retrained is not None:
        rows = [perm_row("accuracy: full-pipeline (retrained) permutation test", "primary",
                         retrained), perm_row(accuracy_name, "secondary", permutation)]  # fmt: skip
    else:
        rows = [perm_row(accuracy_name, "primary", permutation)]
    rows += [perm_row(f"{name}: factor test", "secondary", f.permutation)
             for name, f in factors.items()]  # fmt: skip
    for name, c in comparisons.items():
        t = c.test
        rows.append(_row(f"CNN vs {name}: sign-flip test", "secondary", "cage",
                         f"two-sided sign flips of the {t.n_units} per-cage differences",
                         t.n_labellings, t.exact, t.min_p, t.p_value))  # fmt: skip
    secondary = [r for r in rows if r["role"] == "secondary"]
    for r, adjusted in zip(secondary, holm([r["p"] for r in secondary]), strict=True):
        r["p_holm"] = adjusted
    return rows


def write_run(
    run_dir: str | os.PathLike,
    report: Report,
    dataset: Dataset,
    cv: CVResult,
    final: Checkpoint | None = None,
    repeats: list[CVResult] | None = None,
) -> Path:
    """Write the run folder (report files, figures, fold models and the final model).

    ``repeats`` (``cv`` first): the fold models of the other seeds go to
    ``repeats/seed_<seed>/<fold>.pt``.
    """
    from napari_mousestop.plots.report import (
        plot_accuracy_by_cage,
        plot_confusion,
        plot_learning_curves,
    )

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _save_folds(run_dir / "folds", dataset, cv)
    for other in (repeats or [cv])[1:]:
        _save_folds(run_dir / "repeats" / f"seed_{other.config.seed}", dataset, other)
    if final is not None:
        save_checkpoint(run_dir / "model.pt", final)
    rows = []
    for p in report.predictions:
        row = {k: v for k, v in p.items() if k != "proba"}
        row.update({f"p_{c}": v for c, v in p["proba"].items()})
        rows.append(row)
    with atomic_path(run_dir / "predictions.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    plot_confusion(report, run_dir / "confusion_matrix.png")
    plot_accuracy_by_cage(report, run_dir / "accuracy_by_cage.png")
    plot_learning_curves(report, run_dir / "learning_curves.png")
    write_text_atomic(run_dir / "report.md", markdown(report))
    write_text_atomic(run_dir / "report.json", json.dumps(report.to_dict(), indent=1))
    return run_dir


def _save_folds(folder: Path, dataset: Dataset, cv: CVResult) -> None:
    for fold in cv.folds:
        meta = {
            "held_out_cage": fold.cage,
            "held_out_cages": list(fold.cages) or [fold.cage],
            "fold_scheme": cv.config.folds,
            "test_index": fold.test_index.tolist(),
            "test_animals": dataset.animals[fold.test_index].tolist(),
            "history": fold.history,
        }
        ckpt = make_checkpoint(fold.model, fold.scaler, dataset, cv.config, meta=meta)
        save_checkpoint(folder / fold_file_name(fold.cage), ckpt)


@dataclass
class TrainingRun:
    """What one training run produced (:func:`run_training`).

    Attributes
    ----------
    report
        Cross-validated figures, baselines and tests (written as ``report.json``); with
        several seeds ``report.repeats`` holds their spread and the ensemble's figures, with
        a full-pipeline permutation test ``report.retrained_permutation`` its result.
    cv
        The fold models, scalers, learning curves and out-of-fold probabilities of the run the
        report describes (the first seed).
    final
        The model trained on all data (None when not asked for).
    run_dir
        Where the run was written (None when it was not).
    runs
        The cross-validation of every seed, ``cv`` first (``[cv]`` without repeats).
    """

    report: Report
    cv: CVResult
    final: Checkpoint | None = None
    run_dir: Path | None = None
    runs: list[CVResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.runs:
            self.runs = [self.cv]


def run_training(
    dataset: Dataset,
    config: TrainConfig | None = None,
    n_permutations: int = N_PERMUTATIONS,
    dataset_path: str | os.PathLike | None = None,
    final_model: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    run_dir: str | os.PathLike | None = None,
    repeats: int = 1,
    retrain_permutations: int = 0,
    workers: int = 0,
    scheduler: str | None = None,
) -> TrainingRun:
    """Cross-validation of the CNN and the baselines, statistics, the final model and, with
    ``run_dir``, the run folder: the one training pipeline of the CLI, the widget and scripts.

    Every model (each fold of each repeat, the final model, each fold of each permutation)
    trains in one batch, in this process or on the same workers; then the baselines run and
    the report is built. ``progress`` receives an
    :class:`~napari_mousestop.learning.config.EpochProgress` after every epoch of every model
    (one count over all of them) and a plain :class:`~napari_mousestop.progress.Progress` when
    another stage (starting the workers, baselines and statistics, writing) starts;
    ``should_stop`` cancels between batches, in every worker (see
    :func:`~napari_mousestop.learning.training.loco_cv`). Finished permutations are kept in
    ``run_dir/permutations`` (and resumed from there); without ``run_dir`` none are kept. The
    other parameters are those of :func:`train_and_report`.
    """
    config = config or TrainConfig()
    check_trainable(dataset, config, cv=True)
    run_dir = None if run_dir is None else Path(run_dir)
    plan = None
    if retrain_permutations:
        folder = None if run_dir is None else run_dir / "permutations"
        plan = PermutationPlan(dataset, config, retrain_permutations, folder)
    if workers or scheduler:
        notify(progress, 0, 1, "starting the workers")
    runs, final = train_models(
        dataset,
        config,
        repeats,
        final_model,
        progress,
        should_stop,
        workers=workers,
        scheduler=scheduler,
        extra_jobs=plan.jobs if plan is not None else (),
        on_output=plan.on_output if plan is not None else None,
    )
    notify(progress, 0, 1, "baselines and statistics")
    baselines = run_baselines(dataset, seed=config.seed, folds=config.folds)
    retrained = None
    if plan is not None:
        retrained = plan.result(accuracy(dataset.labels, runs[0].oof_pred))
    execution = {
        "workers": int(workers),
        "scheduler": scheduler,
        "permutations_resumed": plan.resumed if plan is not None else 0,
    }
    report = build_report(
        dataset, runs[0], baselines, n_permutations, dataset_path, runs, retrained, execution
    )
    if run_dir is not None:
        notify(progress, 0, 1, f"writing {run_dir}")
        write_run(run_dir, report, dataset, runs[0], final, runs)
    return TrainingRun(report, runs[0], final, run_dir, runs)


def train_and_report(
    dataset: Dataset,
    run_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    n_permutations: int = N_PERMUTATIONS,
    dataset_path: str | os.PathLike | None = None,
    final_model: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    repeats: int = 1,
    retrain_permutations: int = 0,
    workers: int = 0,
    scheduler: str | None = None,
) -> Report:
    """Cross-validation of the CNN and the baselines, statistics, the final model, the run folder.

    Parameters
    ----------
    dataset
        The stacks and labels.
    run_dir
        Output folder (created; files in it are replaced).
    config
        Training settings (``config.folds`` chooses the folds); defaults when None.
    n_permutations
        Permutations of each label-permutation test (accuracy, sex, age).
    dataset_path
        Recorded in the report.
    final_model
        Also train ``model.pt`` on all data.
    progress, should_stop
        Progress and cancellation, as in :func:`~napari_mousestop.learning.training.loco_cv`.
    repeats
        Cross-validate with this many seeds (``config.seed``, ``config.seed + 1``, ...): the
        report adds the spread of accuracy and per-class accuracy and the ensemble's figures.
    retrain_permutations
        Also run the full-pipeline permutation test with this many relabellings (each one a
        whole cross-validation); finished ones are kept in ``run_dir/permutations`` and reused
        when the same command runs again (resume).
    workers, scheduler
        Where the models train (:func:`~napari_mousestop.learning.training.loco_cv`): 0 in
        this process, N in N local worker processes, or on a running Dask scheduler.

    Returns
    -------
    Report
        The report (also written to ``run_dir/report.json`` and ``report.md``).
    """
    return run_training(
        dataset,
        config,
        n_permutations,
        dataset_path,
        final_model,
        progress,
        should_stop,
        run_dir,
        repeats,
        retrain_permutations,
        workers,
        scheduler,
    ).report


@dataclass
class SavedFold:
    """A fold model read back from ``RUN_DIR/folds``: the model that never saw ``cages``."""

    cage: str
    test_index: np.ndarray
    checkpoint: Checkpoint
    cages: tuple[str, ...] = ()

    @property
    def model(self):
        """The fold's :class:`~napari_mousestop.learning.model.StopCNN`."""
        return self.checkpoint.model

    @property
    def scaler(self):
        """The fold's input scaler (fitted on the other cages)."""
        return self.checkpoint.scaler


@dataclass
class Run:
    """A run folder read back: the report as stored (``report.json``), the final model (if
    any) and the fold models."""

    path: Path
    report: dict
    model: Checkpoint | None
    folds: list[SavedFold]

    @property
    def fold_scheme(self) -> str:
        """``"cage"`` or ``"balanced"`` (runs written before balanced folds: ``"cage"``)."""
        return str(self.report.get("config", {}).get("folds", "cage"))


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read a run folder written by :func:`write_run` (this format or the previous one).

    ``folds[i].test_index`` indexes the dataset recorded in ``report["config"]["dataset"]``,
    whichever folds ran (each fold model stores the indices it held out).
    """
    run_dir = Path(run_dir)
    path = run_dir / "report.json"
    if not path.is_file():
        raise ValueError(f"{run_dir}: not a training run folder (no report.json)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: damaged report ({exc})") from None
    fmt = report.get("format") if isinstance(report, dict) else None
    if fmt not in READABLE_FORMATS:
        raise ValueError(
            f"{path}: report format {fmt!r} is not one this version reads {READABLE_FORMATS}; "
            "it was written by another version of napari-mousestop"
        )
    folds = []
    for f in report.get("folds", []):
        ckpt = load_checkpoint(run_dir / f["model"])
        cages = tuple(f.get("cages") or ckpt.meta.get("held_out_cages") or [f["cage"]])
        folds.append(SavedFold(f["cage"], np.asarray(ckpt.meta["test_index"]), ckpt, cages))
    final = run_dir / "model.pt"
    return Run(run_dir, report, load_checkpoint(final) if final.is_file() else None, folds)
