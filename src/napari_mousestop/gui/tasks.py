"""What the dock widgets' jobs do, in a process of their own (:mod:`napari_mousestop.gui.jobs`).

Each job is a picklable ``job(emit, should_stop)``: it loads its own files, runs one core
function and emits finished layer data tuples (``("layers", [...])``, all of a job in one
item) and :class:`~napari_mousestop.progress.Progress` reports. Nothing here imports Qt or
napari, so the job's process starts without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_mousestop.errors import Cancelled
from napari_mousestop.progress import Progress


def recordings_of(
    kind: str,
    files: Any,
    folder: Any,
    cohort: Any,
    tracker: Any = None,
    tracker_files: Any = None,
    poses: Any = None,
) -> list[tuple[Any, Any, Any]]:
    """``(recording, cohort rows or None, tracker parameters or None)`` for each recording to
    extract; the recording is a path, or a movement dataset (``poses``, from a layer of
    movement's plugin).

    ``tracker`` (:class:`~napari_mousestop.io.trackers.TrackerParams`) reads other trackers'
    files, and gives the defaults of a cohort's rows that name such files.
    """
    from napari_mousestop.io.cohort import cohort_trackers, read_cohort

    if kind == "tracker files":
        paths = [str(f) for f in (tracker_files or ()) if str(f) not in ("", ".")]
        if not paths:
            raise ValueError("choose one or more tracker files (DeepLabCut, SLEAP...)")
        return [(p, None, tracker) for p in paths]
    if kind == "movement layer":
        if poses is None:
            raise ValueError("choose a points layer loaded by movement's napari plugin")
        return [(poses, None, tracker)]
    if kind == "LMT files":
        paths = [str(f) for f in (files or ()) if str(f) not in ("", ".")]
        if not paths:
            raise ValueError("choose one or more LMT files (.sqlite)")
        return [(p, None, None) for p in paths]
    if kind == "folder":
        if str(folder) in ("", ".") or not Path(folder).is_dir():
            raise ValueError(f"{folder}: choose a folder of LMT files")
        paths = sorted(str(p) for p in Path(folder).glob("*.sqlite"))
        if not paths:
            raise ValueError(f"{folder}: no .sqlite files in this folder")
        return [(p, None, None) for p in paths]
    if str(cohort) in ("", "."):
        raise ValueError("choose a cohort CSV (database, animal, cage, sex, age)")
    table = read_cohort(cohort)
    trackers = cohort_trackers(table, tracker)
    return [(db, rows, trackers[db]) for db, rows in table.groupby("database", sort=False)]


def cage_and_labels(
    db: str, animals: list[dict], rows: Any, columns: Any = None, threshold_days: Any = None
) -> tuple[str, dict[str, str | None], dict[str, dict[str, str]]]:
    """Cage id, class and class-column values per animal: from the cohort rows when given,
    else as the reader does; both by the core's
    :func:`~napari_mousestop.io.cohort.recording_labels`."""
    from napari_mousestop.gui.reader import recording_names
    from napari_mousestop.io.cohort import AGE_THRESHOLD_DAYS, recording_labels

    if rows is None and not Path(db).is_file():  # a layer of movement's plugin: no sidecar
        return Path(db).stem, {}, {}
    if rows is None:
        return recording_names(db, animals, columns, threshold_days)
    threshold = AGE_THRESHOLD_DAYS if threshold_days is None else threshold_days
    return recording_labels(db, animals, rows, columns, threshold)


@dataclass
class ExtractJob:
    """Stops of every recording of the form's input, as layers, and optionally a dataset file.

    Each recording's animals end as a mosaic with its stops; a cohort CSV's recordings end as
    one mosaic of the cohort by class and cage (named after the CSV) instead, with its
    dataset, so that a cohort of tens of recordings is one set of layers. All layers are
    emitted at the end, in one item.
    """

    inputs: dict
    hist: Any
    stop: Any
    out: str | None = None
    classes: str = "sex,age"
    threshold_days: float | None = None

    def __call__(self, emit: Any, should_stop: Any) -> tuple:
        from napari_mousestop.datasets.build import dataset_from_recordings, save_with_dataset
        from napari_mousestop.gui.layers.mosaic import (
            dataset_to_layers,
            mosaic_height_cm,
            recording_to_layers,
        )
        from napari_mousestop.gui.reader import MOSAIC_SPACING, recording_layout
        from napari_mousestop.histograms import animal_key, recording_stacks
        from napari_mousestop.io.cohort import AGE_THRESHOLD_DAYS, parse_classes
        from napari_mousestop.io.layout import load_calibration
        from napari_mousestop.io.trackers import recording_path
        from napari_mousestop.quality import quality_rows, quality_table, summary

        columns = parse_classes(self.classes)
        threshold = AGE_THRESHOLD_DAYS if self.threshold_days is None else self.threshold_days
        todo = recordings_of(**self.inputs)
        cohort = self.inputs.get("cohort") if self.inputs["kind"] == "cohort CSV" else None
        done: list[tuple[Any, str, dict, dict]] = []
        layers: list = []
        below = 0.0  # each recording's animals below the previous recording's
        n = len(todo)
        for k, (db, rows, tracker) in enumerate(todo):
            name = recording_path(db).name
            last = [-1]

            def progress(p: Progress, k: int = k, name: str = name, last: list = last) -> None:
                if should_stop():
                    raise Cancelled()
                pct = int(100 * p.fraction)
                if pct != last[0]:
                    last[0] = pct
                    emit(Progress(100 * k + pct, 100 * n, f"{name} ({k + 1}/{n}): {pct}%"))

            if should_stop():
                raise Cancelled()
            rs = recording_stacks(db, self.hist, self.stop, progress=progress, tracker=tracker)
            cage, labels, factors = cage_and_labels(rs.path, rs.animals, rows, columns, threshold)
            done.append((rs, cage, labels, factors))
            emit(Progress(100 * (k + 1), 100 * n, f"{name} ({k + 1}/{n}) done"))
            if cohort:
                continue
            # a tracker's recording is drawn over its calibration's floor and shapes
            layout = (
                load_calibration(tracker.calibration)
                if tracker is not None and tracker.calibration is not None
                else recording_layout(rs.path)
            )
            mine = recording_to_layers(
                rs, cage=cage, labels=labels, layout=layout, origin=(below, 0.0)
            )
            below += (1 + MOSAIC_SPACING) * mosaic_height_cm(mine)
            layers += mine
        dataset = None
        if self.out or cohort:  # a DatasetError says why there is none
            dataset = dataset_from_recordings(
                [
                    (
                        rs,
                        cage,
                        [labels.get(animal_key(a)) for a in rs.animals],
                        [factors.get(animal_key(a)) for a in rs.animals],
                    )
                    for rs, cage, labels, factors in done
                ],
                columns,
                threshold,
            )
        qc = quality_table(
            row
            for rs, *_ in done
            for row in quality_rows(rs.info, rs.report.get("stops", {}), rs.geometry.fps)
        )
        if self.out:
            save_with_dataset(qc, dataset, self.out)
        if cohort and dataset is not None:  # the cohort at a glance
            layers += dataset_to_layers(
                dataset, Path(cohort).stem, recording_layout(cohort), (below, 0.0)
            )
        emit(("layers", layers))
        return len(done), dataset, self.out, summary(qc)


@dataclass
class TrainJob:
    """Load the dataset (a file, or the viewer's animals already assembled), say what will
    run (``("plan", {...})``: classes, chance, frequency guess, epochs to train), then
    :func:`~napari_mousestop.learning.report.run_training`."""

    config: Any
    n_permutations: int
    dataset_path: str | None = None
    dataset: Any = None
    final_model: bool = True
    run_dir: str | None = None
    how: dict = field(default_factory=dict)

    def __call__(self, emit: Any, should_stop: Any) -> tuple:
        from napari_mousestop.datasets.dataset import load_dataset
        from napari_mousestop.learning.report import run_training
        from napari_mousestop.learning.stats import frequency_guess_accuracy
        from napari_mousestop.learning.training import check_trainable, cv_folds

        dataset = self.dataset
        if dataset is None:
            if self.dataset_path is None:
                raise ValueError("choose a dataset file (.npz), or use the animals in the viewer")
            dataset = load_dataset(self.dataset_path)
        config = self.config
        check_trainable(dataset, config)
        folds = cv_folds(dataset.cages, dataset.labels, config.folds)
        guess = frequency_guess_accuracy(
            dataset.labels, [(tr, te) for _, tr, te in folds], len(dataset.classes)
        )
        n_runs = int(self.how.get("repeats", 1)) + int(self.how.get("retrain_permutations", 0))
        total = config.epochs * (len(folds) * n_runs + (1 if self.final_model else 0))
        emit(("plan", {"n_classes": len(dataset.classes), "guess": guess, "total": total}))
        run = run_training(
            dataset,
            config,
            self.n_permutations,
            self.dataset_path,
            self.final_model,
            progress=emit,
            should_stop=should_stop,
            run_dir=self.run_dir,
            **self.how,
        )
        return run, dataset


def _rows(ckpt: Any, names: list[str], proba: np.ndarray) -> list[dict]:
    classes = tuple(ckpt.classes)
    return [
        {
            "layer": n,
            "proba": p.tolist(),
            "predicted": classes[int(np.argmax(p))],
            "model": str(ckpt.path),
        }
        for n, p in zip(names, proba, strict=True)
    ]


@dataclass
class PredictJob:
    """Load the model, then class probabilities of the viewer's ``stacks`` (by name) or of
    LMT ``files`` (binned as the model's training data, emitted as layers in one item)."""

    model: str
    stacks: dict | None = None
    files: list | None = None

    def __call__(self, emit: Any, should_stop: Any) -> tuple:
        from napari_mousestop.gui.layers.mosaic import mosaic_height_cm, recording_to_layers
        from napari_mousestop.gui.layers.recordings import layer_name
        from napari_mousestop.gui.reader import MOSAIC_SPACING, recording_layout, recording_names
        from napari_mousestop.learning.checkpoint import load_checkpoint, predict_proba
        from napari_mousestop.learning.predict import predict_recording

        ckpt = load_checkpoint(self.model)
        classes = list(ckpt.classes)
        if self.stacks is not None:
            names = list(self.stacks)
            proba = predict_proba(ckpt, np.stack([self.stacks[n] for n in names]))
            return tuple(classes), _rows(ckpt, names, proba)
        rows: list[dict] = []
        layers: list = []
        below = 0.0  # each recording's mosaic below the previous one
        files = list(self.files or ())
        n = len(files)
        for k, f in enumerate(files):
            if should_stop():
                raise Cancelled()
            rs, frame = predict_recording(ckpt, f)
            # the animals named by the classes the model was trained on (genotype...)
            used = (ckpt.data_params or {}).get("labels", {})
            cage, labels, _ = recording_names(
                f, rs.animals, used.get("columns") or None, used.get("age_threshold_days")
            )
            names = [layer_name(cage, a, labels.get(a)) for a in frame["animal"]]
            proba = frame[[f"p_{c}" for c in classes]].to_numpy()
            rows += _rows(ckpt, names, proba)
            for row in rows[-len(names) :]:
                row["recording"] = Path(f).name
            mine = recording_to_layers(
                rs, cage=cage, labels=labels, layout=recording_layout(f), origin=(below, 0.0)
            )
            below += (1 + MOSAIC_SPACING) * mosaic_height_cm(mine)
            layers += mine
            emit(Progress(k + 1, n, f"{k + 1}/{n} recordings"))
        emit(("layers", layers))
        return tuple(classes), rows


__all__ = ["ExtractJob", "PredictJob", "TrainJob", "cage_and_labels", "recordings_of"]
