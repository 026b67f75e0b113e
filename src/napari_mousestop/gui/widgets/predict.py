"""Inference dock widget: class probabilities of stack layers or LMT recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit
from qtpy.QtWidgets import QTableWidget, QTableWidgetItem

from napari_mousestop.gui.jobs import JobWidget, notify_error
from napari_mousestop.gui.widgets.common import clear_path, path_of, stack_layers, upsert_layers
from napari_mousestop.gui.widgets.plots import PlotCanvas, plot_probabilities

SOURCES = ("selected stack layers", "all stack layers", "LMT files")


class PredictWidget(JobWidget):
    """Apply a trained model: probabilities per animal in a table and a bar plot.

    Each predicted stack layer gets ``metadata["prediction"]`` (model, classes, probabilities,
    predicted class); the animal's stop Points layer gets ``predicted`` and ``p_<class>``
    features. LMT files are first binned exactly as the model's training data (its recorded
    histogram, stop and cage parameters) and shown as layers.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.results: list[dict] = []
        self.model_file = FileEdit(
            label="model", filter="*.pt", tooltip="a checkpoint: model.pt of a run folder"
        )
        self.source = ComboBox(
            label="predict",
            choices=SOURCES,
            value=SOURCES[0],
            tooltip="stack layers in the viewer, or LMT recordings "
            "(binned with the model's own parameters)",
        )
        self.files = FileEdit(label="LMT files", mode="rm", filter="*.sqlite")
        self.form = Container(widgets=[self.model_file, self.source, self.files])
        clear_path(self.model_file)
        self.table = QTableWidget(0, 2)
        self.table.setMinimumHeight(120)
        self.plot = PlotCanvas(4.0, 2.4)
        lay = self.layout()
        lay.addWidget(self.form.native)
        lay.addWidget(self._buttons)
        lay.addWidget(self.status)
        lay.addWidget(self.table)
        lay.addWidget(self.plot)
        self.run_button.setText("Predict")
        self.run_button.clicked.connect(self.run)

    def run(self) -> Any:
        """Start the prediction (returns the worker, or None when inputs are not usable)."""
        from napari_mousestop.learning.checkpoint import load_checkpoint

        try:
            path = path_of(self.model_file)
            if path is None:
                raise ValueError("choose a model file (.pt)")
            ckpt = load_checkpoint(path)
            if self.source.value == "LMT files":
                files = [str(f) for f in (self.files.value or ()) if str(f) not in ("", ".")]
                if not files:
                    raise ValueError("choose one or more LMT files (.sqlite)")
                job, total = _FileJob(ckpt, files), len(files)
            else:
                layers = stack_layers(self.viewer, self.source.value.startswith("selected"))
                if not layers:
                    raise ValueError(
                        "no stack layer selected: select histogram stack layers in the layer list"
                    )
                stacks = {lyr.name: np.asarray(lyr.data, dtype=np.float32) for lyr in layers}
                job, total = _StackJob(ckpt, stacks), 1
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            notify_error(exc)
            return None
        self.results = []
        return self.start_job(job, self._on_item, self._on_done, total, "predicting")

    def _on_item(self, item: Any) -> None:
        if isinstance(item, tuple) and item[0] == "layers":  # one recording done
            upsert_layers(self.viewer, item[1])

    def _on_done(self, result: Any) -> None:
        if not result:
            return
        classes, rows = result
        for row in rows:
            self._store(row, classes)
        self.results = rows
        self.show_results(rows, classes)
        self.status.setText(f"{len(rows)} animals predicted")

    def _store(self, row: dict, classes: tuple[str, ...]) -> None:
        proba = dict(zip(classes, (float(p) for p in row["proba"]), strict=True))
        pred = {
            "model": row["model"],
            "classes": list(classes),
            "proba": proba,
            "predicted": row["predicted"],
        }
        name = row["layer"]
        if name in self.viewer.layers:
            self.viewer.layers[name].metadata["prediction"] = pred
        stops = f"{name} stops"
        if stops in self.viewer.layers:
            layer = self.viewer.layers[stops]
            features = layer.features.copy()
            features["predicted"] = row["predicted"]
            for c, p in proba.items():
                features[f"p_{c}"] = p
            layer.features = features
            layer.metadata["prediction"] = pred

    def show_results(self, rows: list[dict], classes: tuple[str, ...]) -> None:
        """Fill the table (one row per animal) and the probability bar plot."""
        headers = ["layer", "predicted", *[f"p({c})" for c in classes]]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [row["layer"], row["predicted"], *[f"{p:.3f}" for p in row["proba"]]]
            for c, text in enumerate(cells):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        names = [row["layer"].split(" (")[0] for row in rows]
        plot_probabilities(self.plot, np.array([row["proba"] for row in rows]), classes, names)


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


class _StackJob:
    def __init__(self, ckpt: Any, stacks: dict[str, np.ndarray]) -> None:
        self.ckpt, self.stacks = ckpt, stacks

    def __call__(self, emit: Any, should_stop: Any) -> tuple:
        from napari_mousestop.learning.checkpoint import predict_proba

        names = list(self.stacks)
        proba = predict_proba(self.ckpt, np.stack([self.stacks[n] for n in names]))
        return tuple(self.ckpt.classes), _rows(self.ckpt, names, proba)


class _FileJob:
    def __init__(self, ckpt: Any, files: list[str]) -> None:
        self.ckpt, self.files = ckpt, files

    def __call__(self, emit: Any, should_stop: Any) -> tuple | None:
        from napari_mousestop.errors import Cancelled
        from napari_mousestop.gui.layers.recordings import layer_name, recording_to_layers
        from napari_mousestop.gui.reader import recording_names
        from napari_mousestop.histograms import recording_stacks
        from napari_mousestop.learning.checkpoint import predict_proba
        from napari_mousestop.learning.predict import recording_inputs
        from napari_mousestop.progress import Progress

        hist, stop, geometry = recording_inputs(self.ckpt)
        rows: list[dict] = []
        for k, f in enumerate(self.files):
            if should_stop():
                raise Cancelled()
            rs = recording_stacks(f, hist, stop, geometry)
            if not rs.animals:
                raise ValueError(f"{f}: no animals in the ANIMAL table")
            cage, labels = recording_names(f, rs.animals)
            proba = predict_proba(self.ckpt, rs.stacks)
            from napari_mousestop.histograms import animal_key

            names = [layer_name(cage, animal_key(a), labels.get(animal_key(a))) for a in rs.animals]
            rows += _rows(self.ckpt, names, proba)
            for row in rows[-len(names) :]:
                row["recording"] = Path(f).name
            emit(("layers", recording_to_layers(rs, cage=cage, labels=labels)))
            n = len(self.files)
            emit(Progress(k + 1, n, f"{k + 1}/{n} recordings"))
        return tuple(self.ckpt.classes), rows
