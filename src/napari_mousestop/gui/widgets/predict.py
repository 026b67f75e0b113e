"""Inference dock widget: class probabilities of the animals in the viewer or of LMT recordings."""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit
from qtpy.QtWidgets import QTableWidget, QTableWidgetItem

from napari_mousestop.gui.jobs import JobWidget, notify_error
from napari_mousestop.gui.widgets.common import clear_path, path_of, stack_layers
from napari_mousestop.gui.widgets.plots import PlotCanvas, plot_probabilities
from napari_mousestop.histograms import animal_key

SOURCES = ("animals of the selected layers", "all animals in the viewer", "LMT files")


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
            tooltip="animals in the viewer, or LMT recordings "
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
        """Start the prediction (returns the worker, or None when inputs are not usable).

        The model (and the LMT files) are read in the job's process."""
        from napari_mousestop.gui.tasks import PredictJob

        try:
            path = path_of(self.model_file)
            if path is None:
                raise ValueError("choose a model file (.pt)")
            if self.source.value == "LMT files":
                files = [str(f) for f in (self.files.value or ()) if str(f) not in ("", ".")]
                if not files:
                    raise ValueError("choose one or more LMT files (.sqlite)")
                job, total = PredictJob(path, files=files), len(files)
            else:
                layers = stack_layers(self.viewer, self.source.value == SOURCES[0])
                if not layers:
                    raise ValueError(
                        "no stacks selected: select a recording's or a dataset's image layer (its "
                        "animals side by side) in the layer list"
                    )
                stacks = {lyr.name: np.asarray(lyr.data, dtype=np.float32) for lyr in layers}
                job, total = PredictJob(path, stacks=stacks), 1
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            notify_error(exc)
            return None
        self.results = []
        return self.start_job(job, self._on_item, self._on_done, total, "predicting")

    def _on_item(self, item: Any) -> None:
        if isinstance(item, tuple) and item[0] == "layers":  # every recording's, at once
            self.add_layers(item[1])

    def _on_done(self, result: Any) -> None:
        if not result:
            return
        classes, rows = result
        views = {v.name: v for v in stack_layers(self.viewer)}
        for row in rows:
            self._store(row, classes, views.get(row["layer"]))
        self.results = rows
        self.show_results(rows, classes)
        self.status.setText(f"{len(rows)} animals predicted")

    def _store(self, row: dict, classes: tuple[str, ...], view: Any) -> None:
        """Keep a prediction with the animal's stack and its stops (as features)."""
        proba = dict(zip(classes, (float(p) for p in row["proba"]), strict=True))
        pred = {
            "model": row["model"],
            "classes": list(classes),
            "proba": proba,
            "predicted": row["predicted"],
        }
        if view is None:
            return
        view.metadata["prediction"] = pred
        stops = f"{view.layer.name} stops"
        if stops not in self.viewer.layers:
            return
        layer = self.viewer.layers[stops]
        features = layer.features.copy()
        animal = view.metadata.get("animal")
        if isinstance(animal, dict) and "animal" in features:  # a recording's mosaic
            mine = (features["animal"] == animal_key(animal)).to_numpy()
        else:
            mine = np.ones(len(features), dtype=bool)
        if "predicted" not in features:
            features["predicted"] = ""
        features.loc[mine, "predicted"] = row["predicted"]
        for c, p in proba.items():
            if f"p_{c}" not in features:
                features[f"p_{c}"] = np.nan
            features.loc[mine, f"p_{c}"] = p
        layer.features = features

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
