"""Stop extraction dock widget: LMT recordings and other trackers' files (or a layer of movement's
napari plugin) -> aligned stop Points and stack Image layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, Label

from napari_mousestop.gui.jobs import JobWidget, notify_error
from napari_mousestop.gui.tasks import ExtractJob
from napari_mousestop.gui.widgets.common import clear_path, path_of
from napari_mousestop.gui.widgets.forms import dataclass_form, form_values
from napari_mousestop.histograms import HistogramParams

INPUTS = ("LMT files", "folder", "cohort CSV", "tracker files", "movement layer")
TRACKER_FILTER = "*.h5 *.csv *.slp *.nwb"


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
            # one recording at a time: as many intervals as it covers unless a number is given
            defaults={"n_intervals": None},
            none_text={"n_intervals": "from the recording"},
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

        kind = self.input_kind.value
        try:
            hist = HistogramParams(**form_values(self.hist))
            stop = StopParams(**form_values(self.stop))
            poses = None
            if kind == "movement layer":  # the layer's points, read here (they are in memory)
                from napari_mousestop.gui.layers.poses import points_to_poses

                layer = self.points_layer.value
                if layer is None:
                    raise ValueError("choose a points layer loaded by movement's napari plugin")
                poses = points_to_poses(layer.data, layer.features, layer.name)
            inputs = {
                "kind": kind,
                "files": [str(f) for f in (self.files.value or ())],
                "folder": path_of(self.folder) or "",
                "cohort": path_of(self.cohort) or "",
                "tracker": self.tracker_params(),
                "tracker_files": [str(f) for f in (self.tracker_files.value or ())],
                "poses": poses,
            }
        except (ValueError, OSError, TypeError) as exc:
            self.status.setText(str(exc))
            notify_error(exc)
            return None
        self.dataset = None
        # the files are listed (and a cohort CSV read) in the job, which sets the bar's total
        job = ExtractJob(
            inputs,
            hist,
            stop,
            path_of(self.dataset_file),
            self.classes_from.value,
            self.age_threshold.value,
        )
        return self.start_job(job, self._on_item, self._on_done, 0, "extracting stops")

    def _on_item(self, item: Any) -> None:
        if item[0] == "layers":
            self.add_layers(item[1])

    def _on_done(self, result: Any) -> None:
        if result is None:
            return
        n, dataset, out, quality = result
        self.dataset = dataset
        self.quality = quality
        where = f"; dataset written to {out}" if out else ""
        if self.input_kind.value == "cohort CSV":
            where += "; shown as one mosaic of the cohort by class and cage"
        # the quality table, readable (mousestop qc prints the same)
        self.status.setText(f"{n} recording(s) extracted{where}\n{quality}")
