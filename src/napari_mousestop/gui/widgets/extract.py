"""Stop extraction dock widget: LMT recordings and other trackers' files (or a layer of movement's
napari plugin) -> aligned stop Points and stack Image layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, Label

from napari_mousestop.errors import Cancelled
from napari_mousestop.gui.jobs import JobWidget, notify_error
from napari_mousestop.gui.reader import dock_explorer
from napari_mousestop.gui.widgets.common import clear_path, path_of, upsert_layers
from napari_mousestop.gui.widgets.forms import dataclass_form, form_values
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.progress import Progress

INPUTS = ("LMT files", "folder", "cohort CSV", "tracker files", "movement layer")
TRACKER_FILTER = "*.h5 *.csv *.slp *.nwb"


def recordings_of(
    kind: str,
    files: Any,
    folder: Any,
    cohort: Any,
    tracker: Any = None,
    tracker_files: Any = None,
    layer: Any = None,
) -> list[tuple[Any, Any, Any]]:
    """``(recording, cohort rows or None, tracker parameters or None)`` for each recording to
    extract; the recording is a path, or a movement dataset for a layer of movement's plugin.

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
        from napari_mousestop.gui.layers.poses import points_to_poses

        if layer is None:
            raise ValueError("choose a points layer loaded by movement's napari plugin")
        return [(points_to_poses(layer.data, layer.features, layer.name), None, tracker)]
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


CLASSES_FROM = ("sex,age", "sex", "age", "genotype", "strain", "genotype,sex")
"""The "classes from" choices offered before a cohort CSV adds its own columns."""


def classes_from_choices(cohort: Any) -> list[str]:
    """The "classes from" choices: :data:`CLASSES_FROM` and every other column of the cohort
    CSV (when one is chosen and readable)."""
    from napari_mousestop.io.cohort import RECORDING_COLUMNS, read_cohort

    choices = list(CLASSES_FROM)
    if str(cohort) not in ("", ".") and Path(cohort).is_file():
        try:
            columns = read_cohort(cohort).columns
        except Exception:  # not (yet) a cohort CSV: the plain choices
            return choices
        choices += [c for c in columns if c not in RECORDING_COLUMNS and c not in choices]
    return choices


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


class ExtractWidget(JobWidget):
    """Extract stops from LMT recordings and bin them into hourly stacks, off the main thread.

    Other trackers' files (DeepLabCut, SLEAP... read through movement, with a calibration) and
    Points layers added by movement's own napari plugin are read the same way. Per animal the
    stack (Image) and its stops (Points, coloured by hour) are added, or updated when a layer of
    the same name exists; all in cm and hours, over the cage layout. A cohort CSV's labelled
    animals also end as one mosaic by class and cage (named after the CSV). Optionally the
    labelled animals are written as one dataset file.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        from napari_mousestop.io.trackers import SOURCE_SOFTWARE, TrackerParams
        from napari_mousestop.stops import StopParams

        self.input_kind = ComboBox(label="input", choices=INPUTS, value=INPUTS[0])
        self.files = FileEdit(label="LMT files", mode="rm", filter="*.sqlite")
        self.tracker_files = FileEdit(label="tracker files", mode="rm", filter=TRACKER_FILTER)
        self.points_layer = ComboBox(
            label="movement layer",
            choices=self._movement_layers,
            tooltip="a points layer added by movement's napari plugin (its loader widget)",
        )
        self.tracker = dataclass_form(
            TrackerParams,
            choices={"source_software": SOURCE_SOFTWARE},
            skip=("calibration",),
            labels={"confidence_threshold": "confidence", "bridge_gap_s": "bridge gap (s)"},
        )
        self.calibration = FileEdit(
            label="calibration",
            filter="*.toml *.json",
            tooltip="layout file whose [video] section gives the floor's corners in the video "
            "(the Calibrate widget draws them)",
        )
        self.tracker_box = Container(
            widgets=[Label(value="<b>other trackers</b>"), self.tracker, self.calibration]
        )
        self.folder = FileEdit(label="folder", mode="d")
        self.cohort = FileEdit(
            label="cohort CSV",
            filter="*.csv",
            tooltip="database, animal, cage, sex, age; databases relative to the CSV's folder",
        )
        self.hist = dataclass_form(
            HistogramParams,
            choices={"weight": ("count", "duration"), "off_floor": ("clip", "drop")},
        )
        self.stop = dataclass_form(
            StopParams,
            choices={"time_base": ("timestamp", "frames"), "method": ("auto", "pages", "sql")},
            labels={"verify": "verify file first"},
        )
        from napari_mousestop.io.cohort import AGE_THRESHOLD_DAYS

        self.classes_from = ComboBox(
            label="classes from",
            choices=lambda *_: classes_from_choices(path_of(self.cohort) or ""),
            value="sex,age",
            tooltip="the cohort column(s) or ANIMAL field(s) the classes come from: sex,age "
            "gives the paper's AM/JM/AF/JF; genotype gives e.g. KO and WT",
        )
        self.age_threshold = FloatSpinBox(
            label="age threshold (d)",
            value=AGE_THRESHOLD_DAYS,
            min=1.0,
            max=10_000.0,
            tooltip="ages below this many days are juvenile",
        )
        self.cohort.changed.connect(lambda *_: self.classes_from.reset_choices())
        self.dataset_file = FileEdit(
            label="write dataset",
            mode="w",
            filter="*.npz",
            tooltip="also save the labelled animals as a dataset file (empty: not written)",
        )
        for edit in (self.folder, self.cohort, self.dataset_file, self.calibration):
            clear_path(edit)
        self.form = Container(
            widgets=[
                self.input_kind,
                self.files,
                self.folder,
                self.cohort,
                self.tracker_files,
                self.points_layer,
                self.tracker_box,
                Label(value="<b>histograms</b>"),
                self.hist,
                Label(value="<b>stops</b>"),
                self.stop,
                Label(value="<b>classes</b>"),
                self.classes_from,
                self.age_threshold,
                self.dataset_file,
            ]
        )
        self.input_kind.changed.connect(self._show_inputs)
        self._show_inputs()
        for event in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            event.connect(lambda *_: self.points_layer.reset_choices())
        self.dataset: Any = None
        self.quality = ""  # the last run's quality table, as text
        lay = self.layout()
        lay.addWidget(self.form.native)
        lay.addWidget(self._buttons)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.run_button.setText("Extract stops")
        self.run_button.clicked.connect(self.run)

    def _movement_layers(self, *_: Any) -> list:
        from napari_mousestop.gui.layers.poses import is_movement_points

        return [(ly.name, ly) for ly in self.viewer.layers if is_movement_points(ly)]

    def _show_inputs(self, *_: Any) -> None:
        kind = self.input_kind.value
        self.files.visible = kind == "LMT files"
        self.folder.visible = kind == "folder"
        self.cohort.visible = kind == "cohort CSV"
        self.tracker_files.visible = kind == "tracker files"
        self.points_layer.visible = kind == "movement layer"
        self.tracker_box.visible = kind in ("tracker files", "movement layer", "cohort CSV")

    def tracker_params(self) -> Any:
        """The other trackers' parameters of the form (calibration from its file field)."""
        from napari_mousestop.io.trackers import TrackerParams

        return TrackerParams(**form_values(self.tracker), calibration=path_of(self.calibration))

    def run(self) -> Any:
        """Start the extraction (returns the worker, or None when inputs are not usable)."""
        from napari_mousestop.stops import StopParams

        try:
            hist = HistogramParams(**form_values(self.hist))
            stop = StopParams(**form_values(self.stop))
            todo = recordings_of(
                self.input_kind.value,
                self.files.value,
                path_of(self.folder) or "",
                path_of(self.cohort) or "",
                self.tracker_params(),
                self.tracker_files.value,
                self.points_layer.value,
            )
        except (ValueError, OSError, TypeError) as exc:
            self.status.setText(str(exc))
            notify_error(exc)
            return None
        out = path_of(self.dataset_file)
        self.dataset = None
        cohort = path_of(self.cohort) if self.input_kind.value == "cohort CSV" else None
        job = _ExtractJob(
            todo, hist, stop, out, cohort, self.classes_from.value, self.age_threshold.value
        )
        return self.start_job(
            job, self._on_item, self._on_done, 100 * len(todo), "extracting stops"
        )

    def _on_item(self, item: Any) -> None:
        kind = item[0]
        if kind == "layers":
            upsert_layers(self.viewer, item[1])
            dock_explorer(self.viewer)

    def _on_done(self, result: Any) -> None:
        if result is None:
            return
        n, dataset, out, quality = result
        self.dataset = dataset
        self.quality = quality
        where = f"; dataset written to {out}" if out else ""
        # the quality table, readable (mousestop qc prints the same)
        self.status.setText(f"{n} recording(s) extracted{where}\n{quality}")


class _ExtractJob:
    """One extraction run on the helper thread (never touches Qt or napari)."""

    def __init__(
        self, todo, hist, stop, out, cohort=None, columns="sex,age", threshold_days=None
    ) -> None:
        from napari_mousestop.io.cohort import AGE_THRESHOLD_DAYS, parse_classes

        self.todo, self.hist, self.stop, self.out = todo, hist, stop, out
        self.cohort = cohort  # a cohort CSV: its labelled animals end as one mosaic by class
        self.columns = parse_classes(columns)
        self.threshold = AGE_THRESHOLD_DAYS if threshold_days is None else threshold_days

    def __call__(self, emit: Any, should_stop: Any) -> tuple:
        from napari_mousestop.datasets.build import dataset_from_recordings, save_with_dataset
        from napari_mousestop.errors import DatasetError
        from napari_mousestop.gui.layers.mosaic import (
            dataset_to_layers,
            mosaic_height_cm,
            recording_to_layers,
        )
        from napari_mousestop.gui.reader import MOSAIC_SPACING, recording_layout
        from napari_mousestop.histograms import animal_key, recording_stacks
        from napari_mousestop.io.layout import load_calibration
        from napari_mousestop.io.trackers import recording_path
        from napari_mousestop.quality import quality_rows, quality_table, summary

        done: list[tuple[Any, str, dict, dict]] = []
        below = 0.0  # each recording's animals below the previous recording's
        n = len(self.todo)
        for k, (db, rows, tracker) in enumerate(self.todo):
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
            cage, labels, factors = cage_and_labels(
                rs.path, rs.animals, rows, self.columns, self.threshold
            )
            # a tracker's recording is drawn over its calibration's floor and shapes
            layout = (
                load_calibration(tracker.calibration)
                if tracker is not None and tracker.calibration is not None
                else recording_layout(rs.path)
            )
            layers = recording_to_layers(
                rs, cage=cage, labels=labels, layout=layout, origin=(below, 0.0)
            )
            below += (1 + MOSAIC_SPACING) * mosaic_height_cm(layers)
            emit(("layers", layers))
            emit(Progress(100 * (k + 1), 100 * n, f"{name} ({k + 1}/{n}) done"))
            done.append((rs, cage, labels, factors))
        dataset = None
        if self.out or self.cohort:
            try:
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
                    self.columns,
                    self.threshold,
                )
            except DatasetError:
                if self.out:  # asked for a dataset: say why there is none
                    raise
        rows = [
            row
            for rs, _, _ in done
            for row in quality_rows(rs.info, rs.report.get("stops", {}), rs.geometry.fps)
        ]
        qc = quality_table(rows)
        if self.out:
            save_with_dataset(qc, dataset, self.out)
        if self.cohort and dataset is not None:  # the cohort at a glance, below its recordings
            layout = recording_layout(self.cohort)
            cohort = dataset_to_layers(dataset, Path(self.cohort).stem, layout, (below, 0.0))
            emit(("layers", cohort))
        return len(done), dataset, self.out, summary(qc)
