"""The explorer: what the hour slider means, what the cursor points at, stops per hour.

Docked automatically when the plugin opens a recording or a dataset (and from Plugins > Mouse
Stops > Explore), it follows the mosaic layers of :mod:`napari_mousestop.gui.layers.mosaic`:

* the canvas shows the slider's position as clock time and light phase ("hour 5, day 1,
  23:00–24:00, dark") and napari's colour bar of the mosaic; the plot's colour bar gives the
  units (stops, or seconds stopped, per bin per hour) and the scale;
* hovering a tile puts the animal, cage, class, recording, hour and that bin's and that hour's
  stop count in the status bar;
* a plot of stops per hour, class means (checked classes) and chosen animals (the list, or a
  click on a tile), with the dark hours shaded and a cursor that follows the slider.

The widget only reads layer metadata and calls core functions
(:mod:`napari_mousestop.datasets.mosaic`, :mod:`napari_mousestop.io.light`,
:mod:`napari_mousestop.plots.hours`); it never changes the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_mousestop.datasets.mosaic import Mosaic, describe_bin
from napari_mousestop.gui.layers.mosaic import MOSAIC_KEY
from napari_mousestop.gui.widgets.plots import BACKGROUND, FOREGROUND, PlotCanvas
from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.io.light import IntervalClock, hour_text
from napari_mousestop.plots.hours import plot_hourly_stops


@dataclass
class MosaicView:
    """What the explorer knows of one mosaic layer (read once from its metadata)."""

    layer: Any
    mosaic: Mosaic
    clocks: list[IntervalClock | None]
    totals: np.ndarray
    interval_h: float
    units: str
    colour_units: str
    coverage: np.ndarray | None = None
    """Fraction of each interval recorded, averaged over the tiles that report it."""

    @classmethod
    def of(cls, layer: Any) -> MosaicView:
        meta = layer.metadata
        mosaic = Mosaic.from_dict(meta[MOSAIC_KEY])
        tiles = meta.get("tiles") or [{} for _ in mosaic.tiles]
        clocks = [IntervalClock.from_dict(t["clock"]) if t.get("clock") else None for t in tiles]
        known = [t["coverage"] for t in tiles if t.get("coverage") is not None]
        return cls(
            layer,
            mosaic,
            clocks,
            mosaic.totals(np.asarray(layer.data)),
            float(meta.get("interval_h", layer.scale[0])),
            str(meta.get("units", "stops")),
            str(meta.get("colour_units", "stops per bin per hour")),
            np.mean(known, axis=0) if known else None,
        )

    def hit(self, world: Any) -> tuple[int, int, int, int] | None:
        """``(tile number, t, i, j)`` under a world position, or None."""
        coords = np.asarray(self.layer.world_to_data(world), dtype=float)
        if coords.shape[0] != 3 or not np.isfinite(coords).all():
            return None
        found = self.mosaic.tile_at(coords[1], coords[2])
        if found is None:
            return None
        t = int(np.clip(np.floor(coords[0] + 0.5), 0, self.totals.shape[1] - 1))
        return found[0], t, found[1], found[2]

    def describe(self, world: Any) -> str | None:
        """The hover text at a world position (None between tiles)."""
        hit = self.hit(world)
        if hit is None:
            return None
        k, t, i, j = hit
        tile = self.mosaic.tiles[k]
        value = float(np.asarray(self.layer.data[t, tile.y0 + i, tile.x0 + j]))
        return describe_bin(
            tile,
            t,
            self.interval_h,
            i,
            j,
            value,
            float(self.totals[k, t]),
            self.mosaic.bin_cm,
            self.clocks[k],
            self.units,
        )



def text_overlay(viewer: Any) -> Any:
    """The canvas' text overlay (``viewer.canvas.overlays.text`` since napari 0.9, where
    ``viewer.text_overlay`` is deprecated; the latter before)."""
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    text = getattr(overlays, "text", None)
    return text if text is not None else viewer.text_overlay


class ExploreWidget(QWidget):
    """Clock time, hover details and a stops-per-hour plot for the mosaics in the viewer."""

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.view: MosaicView | None = None
        self._views: dict[int, MosaicView] = {}  # every mosaic layer's, by id(layer)
        self._writing_status = False
        self.setLayout(QVBoxLayout())
        self.layout().setContentsMargins(4, 4, 4, 4)
        self.hour_label = QLabel("open a recording or a dataset")
        self.hour_label.setWordWrap(True)
        self.layout().addWidget(self.hour_label)
        row = QWidget()
        boxes = QHBoxLayout(row)
        boxes.setContentsMargins(0, 0, 0, 0)
        boxes.addWidget(QLabel("classes:"))
        self.class_boxes: dict[str, QCheckBox] = {}
        for name in CLASSES:
            box = QCheckBox(name)
            box.setChecked(True)
            box.toggled.connect(self.redraw)
            boxes.addWidget(box)
            self.class_boxes[name] = box
        self.layout().addWidget(row)
        self.animals = QListWidget()
        self.animals.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.animals.setToolTip("animals to plot (or click their tiles in the canvas)")
        self.animals.setMaximumHeight(110)
        self.animals.itemSelectionChanged.connect(self.redraw)
        self.layout().addWidget(self.animals)
        self.plot = PlotCanvas(4.0, 3.2)
        self.layout().addWidget(self.plot)
        self.hourly = None
        self._background = None  # the plot without its cursor, for blitting the cursor alone
        self._hour_texts: dict[int, str] = {}
        self.plot.mpl_connect("draw_event", self._on_plot_drawn)
        self._connections = [
            (napari_viewer.layers.events.inserted, self._on_layers_changed),
            (napari_viewer.layers.events.removed, self._on_layers_changed),
            (napari_viewer.layers.selection.events.active, self._on_active),
            (napari_viewer.dims.events.current_step, self._on_hour),
            (napari_viewer.cursor.events.position, self._on_status),
            (napari_viewer.events.status, self._on_status),
        ]
        for emitter, callback in self._connections:
            emitter.connect(callback)
        self._on_layers_changed()

    # -- which mosaic ---------------------------------------------------------------------------
    def mosaic_layers(self) -> list[Any]:
        """Image layers holding a mosaic, bottom to top."""
        from napari.layers import Image

        return [
            lyr
            for lyr in self.viewer.layers
            if isinstance(lyr, Image) and MOSAIC_KEY in lyr.metadata
        ]

    def view_of(self, layer: Any) -> MosaicView:
        """The explorer's reading of a mosaic layer (made once per layer)."""
        view = self._views.get(id(layer))
        if view is None or view.layer is not layer:
            view = self._views[id(layer)] = MosaicView.of(layer)
        return view

    def _on_layers_changed(self, event: Any = None) -> None:
        layers = self.mosaic_layers()
        self._views = {k: v for k, v in self._views.items() if any(v.layer is x for x in layers)}
        bound = self.view is not None and any(lyr is self.view.layer for lyr in layers)
        added = event is not None and event.type == "inserted"
        if bound and not (added and any(lyr is event.value for lyr in layers)):
            if added and event.value.name.startswith(f"{self.view.layer.name} "):
                # its labels and layout arrive after it (and napari selects each new layer
                # after this event): select the mosaic again once they are in, so that the
                # layer controls show its contrast and colour map
                QTimer.singleShot(0, self._select_mosaic)
            return
        self.bind(layers[-1] if layers else None)

    def _select_mosaic(self) -> None:
        if self.view is not None and any(lyr is self.view.layer for lyr in self.viewer.layers):
            self.viewer.layers.selection.active = self.view.layer

    def _on_active(self, event: Any = None) -> None:
        active = self.viewer.layers.selection.active
        mosaic = any(lyr is active for lyr in self.mosaic_layers())
        if mosaic and (self.view is None or active is not self.view.layer):
            self.bind(active)

    def bind(self, layer: Any) -> None:
        """Explore ``layer`` (a mosaic Image layer; None: nothing to explore)."""
        if self.view is not None:
            try:
                self.view.layer.mouse_drag_callbacks.remove(self._on_click)
            except ValueError:
                pass
        self.view = self.view_of(layer) if layer is not None else None
        self._hour_texts = {}
        self.animals.blockSignals(True)
        self.animals.clear()
        if self.view is None:
            self.animals.blockSignals(False)
            text_overlay(self.viewer).visible = False
            self.hour_label.setText("open a recording or a dataset")
            self.plot.clear()
            self.plot.draw_idle()
            return
        for tile in self.view.mosaic.tiles:
            item = QListWidgetItem(tile.name)
            item.setToolTip(tile.recording)
            self.animals.addItem(item)
        self.animals.blockSignals(False)
        layer.mouse_drag_callbacks.append(self._on_click)
        QTimer.singleShot(0, self._select_mosaic)  # its contrast in the layer controls
        # one colour bar per view: this mosaic's, below the clock text (top left)
        for other in self.viewer.layers:
            bar = getattr(other, "colorbar", None)
            if bar is not None and other is not layer:
                bar.visible = False
        layer.colorbar.position = "bottom_right"
        layer.colorbar.visible = True
        overlay = text_overlay(self.viewer)
        overlay.visible = True
        overlay.position = "top_left"
        overlay.font_size = 12
        self.redraw()
        self._on_hour()

    # -- the slider -----------------------------------------------------------------------------
    def current_interval(self) -> int:
        """The interval the hour slider shows in the explored mosaic."""
        if self.view is None:
            return 0
        hour = float(self.viewer.dims.point[0]) if self.viewer.dims.ndim >= 3 else 0.0
        t = int(np.floor(hour / self.view.interval_h + 0.5))
        return int(np.clip(t, 0, self.view.totals.shape[1] - 1))

    def hour_text(self) -> str:
        """``"hour 5, day 1, 23:00–24:00, dark"`` for the slider's position."""
        if self.view is None:
            return ""
        t = self.current_interval()
        if t not in self._hour_texts:
            clocks = list(dict.fromkeys(self.view.clocks))  # recordings share clocks
            self._hour_texts[t] = hour_text(t, self.view.interval_h, clocks)
        return self._hour_texts[t]

    def _on_hour(self, event: Any = None) -> None:
        if self.view is None:
            return
        text = self.hour_text()
        self.hour_label.setText(text)
        text_overlay(self.viewer).text = text
        self._move_cursor()
        self._on_status()

    def _on_plot_drawn(self, event: Any = None) -> None:
        """After a full draw of the plot: keep it without the cursor, then draw the cursor."""
        if self.hourly is None:
            return
        self._background = self.plot.copy_from_bbox(self.plot.figure.bbox)
        self.hourly.axes.draw_artist(self.hourly.cursor)

    def _move_cursor(self) -> None:
        """Move the plot's cursor to the slider's hour, repainting only the cursor."""
        if self.hourly is None or self.view is None:
            return
        self.hourly.set_hour(self.current_interval() * self.view.interval_h)
        if self._background is None:
            self.plot.draw_idle()
            return
        self.plot.restore_region(self._background)
        self.hourly.axes.draw_artist(self.hourly.cursor)
        self.plot.update()  # painted from the buffer with the canvas, no synchronous repaint

    # -- hover ----------------------------------------------------------------------------------
    def status_at(self, world: Any) -> str | None:
        """The hover text at a world position: the stop point there (its start and duration),
        then the top visible mosaic with a tile there."""
        stop = self.stop_at(world)
        for layer in reversed(self.mosaic_layers()):
            if not layer.visible:
                continue
            text = self.view_of(layer).describe(world)
            if text is not None:
                return text if stop is None else f"{stop} · {text}"
        return stop

    def stop_at(self, world: Any) -> str | None:
        """The start and duration of the stop point under a world position (None: none)."""
        from napari.layers import Points

        from napari_mousestop.gui.layers.recordings import describe_stop

        for layer in reversed(self.viewer.layers):
            if not (isinstance(layer, Points) and layer.visible):
                continue
            if not {"start_s", "duration"} <= set(layer.features.columns):
                continue
            index = layer.get_value(world, world=True)
            if index is not None:
                zone = layer.metadata.get("hist_params", {}).get("timezone", "UTC")
                return describe_stop(layer.features.iloc[int(index)], zone)
        return None

    def _on_status(self, event: Any = None) -> None:
        if self._writing_status or self.view is None or not self.viewer.mouse_over_canvas:
            return
        text = self.status_at(self.viewer.cursor.position)
        if text is None or self.viewer.status == text:
            return
        self._writing_status = True
        try:
            self.viewer.status = text
            self.viewer.tooltip.text = text
        finally:
            self._writing_status = False

    # -- choosing animals -----------------------------------------------------------------------
    def _on_click(self, layer: Any, event: Any) -> None:
        if self.view is None or layer is not self.view.layer or event.type != "mouse_press":
            return
        hit = self.view.hit(event.position)
        if hit is not None:
            item = self.animals.item(hit[0])
            item.setSelected(not item.isSelected())

    def selected_tiles(self) -> list[int]:
        """Tiles chosen in the list (or by clicks), in mosaic order."""
        return sorted(self.animals.row(item) for item in self.animals.selectedItems())

    def redraw(self, *_: Any) -> None:
        """Draw the stops-per-hour plot for the checked classes and the chosen animals."""
        view = self.view
        if view is None:
            return
        labels = np.array([t.label for t in view.mosaic.tiles], dtype=object)
        classes = {
            name: view.totals[labels == name]
            for name, box in self.class_boxes.items()
            if box.isChecked() and (labels == name).any()
        }
        unknown = [k for k, x in enumerate(labels) if x not in CLASSES]
        if unknown and not classes:
            classes = {"animals": view.totals[unknown]}
        animals = {view.mosaic.tiles[k].name: view.totals[k] for k in self.selected_tiles()}
        n_t = view.totals.shape[1]
        hours = np.arange(n_t) * view.interval_h
        clock = view.clocks[0] if view.clocks else None
        shared = all(
            c is not None and clock is not None and c.text(0) == clock.text(0) for c in view.clocks
        )
        light = clock.light_fractions(n_t) if shared else None
        self.hourly = plot_hourly_stops(
            self.plot.figure,
            hours,
            classes,
            animals,
            light,
            hour=self.current_interval() * view.interval_h,
            units=view.units,
            colour_top=float(view.layer.contrast_limits[1]),
            colour_units=view.colour_units,
            foreground=FOREGROUND,
            interval_h=view.interval_h,
            coverage=view.coverage,
        )
        self.hourly.cursor.set_animated(True)
        self._background = None
        for ax in self.plot.figure.axes:
            ax.set_facecolor(BACKGROUND)
        self.plot.draw_idle()

    # -- leaving --------------------------------------------------------------------------------
    def _disconnect(self) -> None:
        for emitter, callback in self._connections:
            try:
                emitter.disconnect(callback)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._connections = []
        text_overlay(self.viewer).visible = False
        if self.view is not None:
            try:
                self.view.layer.mouse_drag_callbacks.remove(self._on_click)
            except ValueError:
                pass

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self._disconnect()
        super().closeEvent(event)

    def event(self, event: Any) -> bool:
        # napari removes a dock widget by re-parenting its content to None
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self._disconnect()
        return super().event(event)


__all__ = ["ExploreWidget", "MosaicView"]
