"""Stop extraction dock widget: LMT recordings -> aligned stop Points and stack Image layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, Container, FileEdit, Label

from napari_mousestop.errors import Cancelled
from napari_mousestop.gui.jobs import JobWidget, notify_error
from napari_mousestop.gui.widgets.common import clear_path, path_of, upsert_layers
from napari_mousestop.gui.widgets.forms import dataclass_form, form_values
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.progress import Progress

INPUTS = ("LMT files", "folder", "cohort CSV")


def recordings_of(kind: str, files: Any, folder: Any, cohort: Any) -> list[tuple[str, Any]]:
    """``(database path, cohort rows or None)`` for each recording to extract."""
    from napari_mousestop.io.cohort import read_cohort

    if kind == "LMT files":
        paths = [str(f) for f in (files or ()) if str(f) not in ("", ".")]
        if not paths:
            raise ValueError("choose one or more LMT files (.sqlite)")
        return [(p, None) for p in paths]
    if kind == "folder":
        if str(folder) in ("", ".") or not Path(folder).is_dir():
            raise ValueError(f"{folder}: choose a folder of LMT files")
        paths = sorted(str(p) for p in Path(folder).glob("*.sqlite"))
        if not paths:
            raise ValueError(f"{folder}: no .sqlite files in this folder")
        return [(p, None) for p in paths]
    if str(cohort) in ("", "."):
        raise ValueError("choose a cohort CSV (database, animal, cage, sex, age)")
    table = read_cohort(cohort)
    return [(db, rows) for db, rows in table.groupby("database", sort=False)]


def cage_and_labels(db: str, animals: list[dict], rows: Any) -> tuple[str, dict[str, str | None]]:
    """Cage id and class per animal: from the cohort rows when given, else as the reader does."""
    from napari_mousestop.gui.reader import recording_names
    from napari_mousestop.histograms import animal_key
    from napari_mousestop.io.cohort import class_label

    if rows is None:
        return recording_names(db, animals)
    by_animal = {str(r.animal): r for r in rows.itertuples()}
    labels: dict[str, str | None] = {}
    for a in animals:
        row = by_animal.get(str(a.get("rfid"))) or by_animal.get(str(a.get("name")))
        if row is None:
            labels[animal_key(a)] = None
            continue
        try:
            labels[animal_key(a)] = class_label(row.sex or a.get("sex"), row.age or a.get("age"))
        except ValueError:
            labels[animal_key(a)] = None
    return str(rows["cage"].iloc[0]), labels


class ExtractWidget(JobWidget):
    """Extract stops from LMT recordings and bin them into hourly stacks, off the main thread.

    Per animal the stack (Image) and its stops (Points, coloured by hour) are added, or
    updated when a layer of the same name exists; all in cm and hours, over the cage layout.
    Optionally the labelled animals are written as one dataset file.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        from napari_mousestop.stops import StopParams

        self.input_kind = ComboBox(label="input", choices=INPUTS, value=INPUTS[0])
        self.files = FileEdit(label="LMT files", mode="rm", filter="*.sqlite")
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
        self.dataset_file = FileEdit(
            label="write dataset",
            mode="w",
            filter="*.npz",
            tooltip="also save the labelled animals as a dataset file (empty: not written)",
        )
        for edit in (self.folder, self.cohort, self.dataset_file):
            clear_path(edit)
        self.form = Container(
            widgets=[
                self.input_kind,
                self.files,
                self.folder,
                self.cohort,
                Label(value="<b>histograms</b>"),
                self.hist,
                Label(value="<b>stops</b>"),
                self.stop,
                self.dataset_file,
            ]
        )
        self.input_kind.changed.connect(self._show_inputs)
        self._show_inputs()
        self.dataset: Any = None
        self._layout_added = False
        lay = self.layout()
        lay.addWidget(self.form.native)
        lay.addWidget(self._buttons)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.run_button.setText("Extract stops")
        self.run_button.clicked.connect(self.run)

    def _show_inputs(self, *_: Any) -> None:
        kind = self.input_kind.value
        self.files.visible = kind == "LMT files"
        self.folder.visible = kind == "folder"
        self.cohort.visible = kind == "cohort CSV"

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
            )
        except (ValueError, OSError, TypeError) as exc:
            self.status.setText(str(exc))
            notify_error(exc)
            return None
        out = path_of(self.dataset_file)
        self.dataset = None
        job = _ExtractJob(todo, hist, stop, out, with_layout=not self._has_layout())
        return self.start_job(
            job, self._on_item, self._on_done, 100 * len(todo), "extracting stops"
        )

    def _has_layout(self) -> bool:
        return "cage layout" in self.viewer.layers

    def _on_item(self, item: Any) -> None:
        kind = item[0]
        if kind == "layers":
            upsert_layers(self.viewer, item[1])
            if self.viewer.dims.ndim == 3:
                self.viewer.dims.axis_labels = ("hour", "y", "x")

    def _on_done(self, result: Any) -> None:
        if result is None:
            return
        n, dataset, out = result
        self.dataset = dataset
        where = f"; dataset written to {out}" if out else ""
        self.status.setText(f"{n} recording(s) extracted{where}")


class _ExtractJob:
    """One extraction run on the helper thread (never touches Qt or napari)."""

    def __init__(self, todo, hist, stop, out, with_layout) -> None:
        self.todo, self.hist, self.stop, self.out = todo, hist, stop, out
        self.with_layout = with_layout

    def __call__(self, emit: Any, should_stop: Any) -> tuple:
        from napari_mousestop.datasets.build import dataset_from_recordings
        from napari_mousestop.datasets.dataset import save_dataset
        from napari_mousestop.gui.layers.recordings import recording_to_layers
        from napari_mousestop.histograms import animal_key, recording_stacks

        done: list[tuple[Any, str, dict]] = []
        n = len(self.todo)
        for k, (db, rows) in enumerate(self.todo):
            name = Path(db).name
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
            rs = recording_stacks(db, self.hist, self.stop, progress=progress)
            cage, labels = cage_and_labels(db, rs.animals, rows)
            layout = None if (self.with_layout and k == 0) else False
            emit(("layers", recording_to_layers(rs, cage=cage, labels=labels, layout=layout)))
            emit(Progress(100 * (k + 1), 100 * n, f"{name} ({k + 1}/{n}) done"))
            done.append((rs, cage, labels))
        dataset = None
        if self.out:
            dataset = dataset_from_recordings(
                [(rs, cage, [labels.get(animal_key(a)) for a in rs.animals])
                 for rs, cage, labels in done]
            )  # fmt: skip
            save_dataset(dataset, self.out)
        return len(done), dataset, self.out
