"""Maps dock widget: switch the map and branch of an open maps file (``maps.nc``).

Opening a maps file shows one map (the primary one) as class panels side by side
(:mod:`napari_mousestop.gui.layers.maps`) and docks this widget; choosing another map or
branch replaces those layers in one batch. The channel of activation maps and the contrast of
the differences are napari's sliders, named ``channel`` and ``contrast``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from napari_mousestop.gui.layers.maps import MAPS_KEY, maps_file_layers, split_name


class MapsWidget(QWidget):
    """Choose which map of a maps file is shown (map and branch)."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.path: str | None = None
        self.names: list[str] = []
        self.map = QComboBox()
        self.map.setToolTip("the explanation map whose class panels are shown")
        self.branch = QComboBox()
        self.branch.setToolTip("the convolution branch (kernel size), or the whole model")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("map", self.map)
        form.addRow("branch", self.branch)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.map.currentTextChanged.connect(self._map_chosen)
        self.branch.currentTextChanged.connect(self._branch_chosen)
        self.viewer.layers.events.inserted.connect(self._sync)
        self._sync()

    # -- which file and map are shown ----------------------------------------------------------
    def _own_layers(self) -> list[Any]:
        return [lyr for lyr in self.viewer.layers if lyr.metadata.get(MAPS_KEY) == self.path]

    def _sync(self, *_: Any) -> None:
        """Follow the maps file of the last maps layers added."""
        layer = next(
            (lyr for lyr in reversed(self.viewer.layers) if lyr.metadata.get(MAPS_KEY)), None
        )
        if layer is None:
            return
        path, shown = layer.metadata[MAPS_KEY], layer.metadata.get("map")
        if path == self.path and shown == self.shown:
            return
        self.path, self.names = path, list(layer.metadata.get("maps", []))
        self._fill(shown)

    @property
    def shown(self) -> str | None:
        """The map shown (None before a maps file is open)."""
        layer = next(iter(self._own_layers()), None) if self.path else None
        return None if layer is None else layer.metadata.get("map")

    def _fill(self, shown: str | None) -> None:
        family, branch = split_name(shown) if shown else (None, None)
        families = list(dict.fromkeys(split_name(n)[0] for n in self.names))
        self.map.blockSignals(True)
        self.map.clear()
        self.map.addItems(families)
        if family is not None:
            self.map.setCurrentText(family)
        self.map.blockSignals(False)
        self._fill_branches(branch)
        self.status.setText(f"{Path(self.path).name if self.path else ''}: {shown}")

    def _fill_branches(self, branch: str | None) -> None:
        family = self.map.currentText()
        branches = [split_name(n)[1] for n in self.names if split_name(n)[0] == family]
        self.branch.blockSignals(True)
        self.branch.clear()
        self.branch.addItems(branches)
        if branch in branches:
            self.branch.setCurrentText(branch)
        self.branch.blockSignals(False)

    def _map_chosen(self, *_: Any) -> None:
        self._fill_branches(self.branch.currentText())
        self._branch_chosen()

    def _branch_chosen(self, *_: Any) -> None:
        wanted = (self.map.currentText(), self.branch.currentText())
        name = next((n for n in self.names if split_name(n) == wanted), None)
        if name is not None and name != self.shown:
            self.show_map(name)

    # -- showing ------------------------------------------------------------------------------
    def show_map(self, name: str) -> None:
        """Replace the shown map's layers by those of map ``name`` (one batch)."""
        from napari.layers import Layer

        from napari_mousestop.gui.reader import recording_layout

        if self.path is None:
            return
        try:
            tuples = maps_file_layers(self.path, name, recording_layout(self.path))
        except (OSError, ValueError) as exc:
            self.status.setText(f"{self.path}: {exc}")
            return
        new = [Layer.create(*t) for t in tuples]
        old = self._own_layers()
        with self.viewer.layers.events.inserted.blocker(self._sync):
            for layer in old:
                self.viewer.layers.remove(layer)
            self.viewer.layers.extend(new)
        self.viewer.reset_view()
        self._fill(name)
