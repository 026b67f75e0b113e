"""Class comparison dock widget: four class-averaged maps side by side in napari's grid.

The panels follow the paper's Fig. 3 (AM JM / AF JF): each class's average map with the cage
layout drawn over it, in cm, and optionally the difference of two classes (panel A minus panel
B: red where A is higher, blue where B is, as the legend under the form says) with the pixels a
cage-level permutation test finds significant ringed. With a run folder, evidence maps are out
of fold (each animal explained by the fold model that held its cage out); activations always
come from the final model. All channels are averaged once (:func:`class_maps`); the channel
selector then only swaps each layer's data in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, SpinBox
from qtpy.QtWidgets import QHBoxLayout, QLabel, QWidget

from napari_mousestop.gui.jobs import JobWidget, notify_error
from napari_mousestop.gui.layers.images import map_to_image
from napari_mousestop.gui.layers.recordings import layout_to_shapes
from napari_mousestop.gui.widgets.class_maps import (
    MAP_LABELS,
    MAPS,
    PANEL_ORDER,
    PREFIX,
    ClassMaps,
    class_maps,
    marker_shapes,
)
from napari_mousestop.gui.widgets.common import (
    clear_path,
    dataset_from_layers,
    path_of,
    stack_layers,
)
from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.io.geometry import Placement
from napari_mousestop.io.layout import load_layout
from napari_mousestop.learning.config import TrainConfig

if TYPE_CHECKING:
    from napari_mousestop.learning.model import ModelConfig


def _branches(config: ModelConfig | TrainConfig) -> list[tuple[str, int]]:
    return [(f"{k}x{k}", int(k)) for k in config.kernel_sizes]


class CompareWidget(JobWidget):
    """Compare class-averaged maps of a trained model side by side (2 x 2 grid, in cm)."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.maps: ClassMaps | None = None
        self._image_layers: list[Any] = []
        self._diff_layers: tuple[Any, Any] | None = None
        self._hidden: list[Any] = []
        self._ring_pixels: tuple = (np.zeros(0, int), np.zeros(0, int))
        self._layout = load_layout()
        self.run_dir = FileEdit(
            label="run folder",
            mode="d",
            tooltip="a training run folder (mousestop train / the Train widget): evidence maps "
            "out of fold from its fold models, activations from its model.pt",
        )
        self.model_file = FileEdit(
            label="or model",
            filter="*.pt",
            tooltip="a checkpoint alone (the final all-data model): activations, and evidence "
            "maps in sample (the model saw every animal)",
        )
        self.source = ComboBox(
            label="data",
            choices=("dataset file", "animals in the viewer"),
            tooltip="animals whose maps are averaged per class",
        )
        self.dataset_file = FileEdit(label="dataset", filter="*.npz")
        self.kind = ComboBox(
            label="map",
            choices=[(MAP_LABELS[m], m) for m in MAPS],
            tooltip="activation: what one channel responds to; contribution: "
            "where the evidence for each class lies (exact); Grad-CAM",
        )
        default = TrainConfig()  # until a model is chosen: the default architecture
        self.branch = ComboBox(
            label="branch",
            choices=_branches(default),
            tooltip="the convolution branch (kernel size) of the model",
        )
        self.stage = ComboBox(
            label="stage",
            choices=[("after ReLU", "relu"), ("after pooling", "pool")],
            tooltip="activation maps: before or after max-pooling",
        )
        self.channel = SpinBox(
            label="channel",
            value=0,
            min=0,
            max=default.channels - 1,
            tooltip="channel of the branch (activation maps)",
        )
        self.difference = CheckBox(label="difference of two classes", value=False)
        self.class_a = ComboBox(label="class A", choices=CLASSES, value="AF")
        self.class_b = ComboBox(label="class B", choices=CLASSES, value="AM")
        self.n_permutations = SpinBox(
            label="permutations",
            value=1000,
            min=10,
            max=100_000,
            tooltip="cage-level permutation test of A - B, "
            "family-wise error over all pixels and channels",
        )
        self.grid = CheckBox(label="grid view (2 x 2)", value=True)
        self.form = Container(
            widgets=[
                self.run_dir,
                self.model_file,
                self.source,
                self.dataset_file,
                self.kind,
                self.branch,
                self.stage,
                self.difference,
                self.class_a,
                self.class_b,
                self.n_permutations,
                self.channel,
                self.grid,
            ]
        )
        clear_path(self.run_dir)
        clear_path(self.model_file)
        clear_path(self.dataset_file)
        self.legend = _Legend()
        self.channel.changed.connect(self.set_channel)
        self.grid.changed.connect(self._apply_grid)
        lay = self.layout()
        lay.addWidget(self.form.native)
        lay.addWidget(self.legend)
        lay.addWidget(self._buttons)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.run_button.setText("Compute maps")
        self.run_button.clicked.connect(self.run)

    # -- computing ------------------------------------------------------------------------------
    def run(self, checkpoint: Any = None, dataset: Any = None) -> Any:
        """Compute the class maps in the background (``checkpoint``/``dataset`` override the
        file fields, e.g. with the Training widget's results)."""
        from napari_mousestop.datasets.dataset import load_dataset
        from napari_mousestop.learning.checkpoint import load_checkpoint
        from napari_mousestop.learning.report import load_run

        try:
            if dataset is None:
                if self.source.value == "dataset file":
                    dataset = load_dataset(_path(self.dataset_file, "a dataset file (.npz)"))
                else:
                    dataset = dataset_from_layers(stack_layers(self.viewer))
            folds = None
            run_dir = path_of(self.run_dir)
            if checkpoint is None and run_dir is not None:
                run = load_run(run_dir)
                folds, checkpoint = run.folds or None, run.model
                if folds is None and checkpoint is None:
                    raise ValueError(f"{run_dir}: no fold models and no model.pt")
            if checkpoint is None and folds is None:
                model = _path(self.model_file, "a run folder or a model file (.pt)")
                checkpoint = load_checkpoint(model, data=dataset)
            self.fit_to_model((checkpoint or folds[0].checkpoint).model_config)
            pair = (self.class_a.value, self.class_b.value) if self.difference.value else None
            if pair and pair[0] == pair[1]:
                raise ValueError("choose two different classes to compare")
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            notify_error(exc)
            return None
        args = (
            checkpoint,
            dataset,
            self.kind.value,
            int(self.branch.value),
            self.stage.value,
            pair,
            int(self.n_permutations.value),
            0,
            folds,
        )

        def job(emit: Any, should_stop: Any) -> ClassMaps:
            return class_maps(*args)

        return self.start_job(
            job, lambda _: None, self.show_maps, 0, "computing class maps", process=False
        )

    def fit_to_model(self, config: ModelConfig) -> None:
        """Offer the branches (kernel sizes) and channels of the model whose maps are shown."""
        choices = _branches(config)
        if [c[1] for c in choices] != list(self.branch.choices):
            self.branch.choices = choices
        self.channel.max = max(config.channels - 1, 0)

    # -- showing --------------------------------------------------------------------------------
    def show_maps(self, maps: ClassMaps) -> None:
        """Put the class panels (and the difference) at the bottom of the layer list, in grid
        order AM JM / AF JF, each image with its own cage layout over it."""
        from napari.layers import Layer

        self._remove_own_layers()
        self.maps = maps
        ch = min(int(self.channel.value), maps.n_channels - 1)
        self.channel.max = max(maps.n_channels - 1, 0)
        self.channel.enabled = maps.n_channels > 1
        label = MAP_LABELS[maps.kind] if maps.kind != "activation" else "activation"
        cmap = "bwr" if maps.kind == "contribution" else "inferno"
        limits = maps.limits(ch)
        order = [c for c in PANEL_ORDER if c in maps.classes] or list(maps.classes)
        new = []
        self._image_layers = []
        for c in order:
            k = maps.classes.index(c)
            n = maps.n_per_class[k] if k < len(maps.n_per_class) else "?"
            meta = {"class": c, "n_animals": n, "map": maps.meta.get("map"), "kind": maps.kind}
            img = Layer.create(
                *map_to_image(
                    maps.averages[k, ch].copy(),  # a copy: set_channel writes into it
                    maps.placement,
                    name=f"{PREFIX} {c} (n={n}): {label} {maps.kernel_size}x{maps.kernel_size}",
                    colormap=cmap,
                    contrast_limits=limits,
                    metadata=meta,
                )
            )
            img.metadata["class_index"] = k
            self._image_layers.append(img)
            new += [img, Layer.create(*layout_to_shapes(name=f"{PREFIX} {c} layout"))]
        self._diff_layers = None
        if maps.difference is not None:
            a, b = maps.pair
            d = maps.difference[ch]
            lim = float(np.nanmax(np.abs(maps.difference))) or 1.0
            legend = {"red": f"{a} higher than {b}", "blue": f"{b} higher than {a}"}
            img = Layer.create(
                *map_to_image(
                    d.copy(),
                    maps.placement,
                    name=f"{PREFIX} {a} - {b}",
                    colormap="bwr",
                    contrast_limits=(-lim, lim),
                    metadata={"comparison": maps.meta.get("comparison", {}), "legend": legend},
                )
            )
            union = maps.mask.any(axis=0)
            self._ring_pixels = np.nonzero(union)
            shapes = Layer.create(
                *marker_shapes(union, maps.placement, f"{PREFIX} {a} - {b} significant",
                               self._layout)
            )  # fmt: skip
            self._set_rings(shapes, maps.mask[ch], maps.placement)
            self._diff_layers = (img, shapes)
            new += [img, shapes]
        for i, layer in enumerate(new):
            self.viewer.layers.insert(i, layer)
        self._apply_grid()
        self.viewer.reset_view()
        sig = ""
        if maps.mask is not None:
            sig = f"; {int(maps.mask.sum())} significant pixels (all channels)"
            cmp = maps.meta.get("comparison", {})
            if cmp.get("min_p", 0) > cmp.get("alpha", 0.05):
                sig += f" (smallest attainable p {cmp['min_p']:.2g}: too few cages for alpha)"
        self.legend.show_pair(maps.pair)
        source = maps.meta.get("source", "")
        self.status.setText(
            f"{len(order)} class maps ({source}), {maps.n_channels} channel(s){sig}"
        )

    def set_channel(self, channel: int | None = None) -> None:
        """Show ``channel`` in every panel: swaps the layers' data in place (no recomputation)."""
        maps = self.maps
        if maps is None or not self._image_layers:
            return
        ch = int(self.channel.value if channel is None else channel)
        if not 0 <= ch < maps.n_channels:
            return
        limits = maps.limits(ch)
        # writing into the arrays and refreshing skips the viewer-wide dims update that
        # assigning a new array to ``layer.data`` triggers (4x faster)
        for layer in self._image_layers:
            np.copyto(layer.data, maps.averages[layer.metadata["class_index"], ch])
            layer.contrast_limits = limits
            layer.refresh()
        if self._diff_layers is not None and maps.difference is not None:
            img, shapes = self._diff_layers
            np.copyto(img.data, maps.difference[ch])
            img.refresh()
            if not np.array_equal(shapes.metadata.get("mask"), maps.mask[ch]):
                self._set_rings(shapes, maps.mask[ch], maps.placement)

    def _set_rings(self, shapes: Any, mask: np.ndarray, placement: Placement) -> None:
        """Show the rings of ``mask`` (one per pixel significant in any channel, drawn once):
        only their edge colours change, the cheapest update of a Shapes layer."""
        n_layout = len(self._layout.shapes)
        colors = np.array(shapes.edge_color, dtype=float)
        on = mask[self._ring_pixels] if len(self._ring_pixels[0]) else np.zeros(0, bool)
        colors[n_layout:] = np.where(on[:, None], (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0))
        shapes.edge_color = colors
        shapes.metadata["mask"] = mask

    def _own(self, layer: Any) -> bool:
        return layer.name.startswith(PREFIX + " ")

    def _remove_own_layers(self) -> None:
        for layer in [lyr for lyr in self.viewer.layers if self._own(lyr)]:
            self.viewer.layers.remove(layer)

    def _apply_grid(self, *_: Any) -> None:
        grid = self.viewer.canvas.grid
        for layer in self._hidden:
            if layer in self.viewer.layers:
                layer.visible = True
        self._hidden = []
        if self.grid.value and self._image_layers:
            for layer in self.viewer.layers:
                if not self._own(layer) and layer.visible:
                    layer.visible = False
                    self._hidden.append(layer)
            grid.stride = 2
            grid.shape = (-1, 2)
            grid.enabled = True
        else:
            grid.enabled = False


def _path(edit: FileEdit, what: str) -> str:
    path = path_of(edit)
    if path is None:
        raise ValueError(f"choose {what}")
    return path


class _Legend(QWidget):
    """What the colours of the difference panel mean: blue, B higher ... red, A higher."""

    def __init__(self) -> None:
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.blue = QLabel("")
        self.red = QLabel("")
        self.bar = QLabel("")
        self.bar.setFixedHeight(12)
        self.bar.setMinimumWidth(60)
        self.bar.setStyleSheet(
            "background: qlineargradient(x1:0, y1:0, x2:1, y2:0, stop:0 #0000ff, "
            "stop:0.5 #ffffff, stop:1 #ff0000); border: 1px solid grey;"
        )
        for w in (self.blue, self.bar, self.red):
            lay.addWidget(w)
        self.setToolTip("colours of the difference panel: panel A minus panel B")
        self.show_pair(None)

    def show_pair(self, pair: tuple[str, str] | None) -> None:
        """Name the classes of each end of the colour scale (hidden without a difference)."""
        self.setVisible(pair is not None)
        if pair is not None:
            a, b = pair
            self.blue.setText(f"blue: {b} higher")
            self.red.setText(f"red: {a} higher")
