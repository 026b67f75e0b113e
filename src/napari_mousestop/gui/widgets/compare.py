"""Class comparison dock widget: the class-averaged maps of a model side by side, in cm.

The core function :func:`napari_mousestop.explain.classmaps.class_maps` computes the maps (and,
for two classes, their difference with the cage-level permutation test) in the background; it
loads the dataset, run and checkpoint itself, so the click returns at once. The result is laid
out by :func:`napari_mousestop.gui.layers.maps.panel_layers`: one panel per class (a row, a
2 x 2 grid for four) with its class name and n written over the canvas on one shared
sequential colour scale, the difference beside them on a diverging scale whose colour bar ends
say which class is higher, significant pixels ringed, the cage layout's labels outlined. With a
run folder, evidence maps are out of fold (each animal explained by the fold model that held
its cage out); activations always come from the final model, every channel at once: the
slider named ``channel`` (or the channel field here) moves every panel and the difference.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, SpinBox
from qtpy.QtWidgets import QLabel

from napari_mousestop.explain.classmaps import MAP_LABELS, MAPS, ClassMaps, class_maps
from napari_mousestop.explain.params import EXPLAIN
from napari_mousestop.gui.jobs import JobWidget, notify_error
from napari_mousestop.gui.layers.maps import Panels, panel_layers
from napari_mousestop.gui.widgets.common import (
    clear_path,
    dataset_from_layers,
    path_of,
    stack_layers,
)
from napari_mousestop.io.layout import load_layout
from napari_mousestop.learning.config import TrainConfig

PREFIX = "compare"
"""First word of the name of every layer this widget adds."""


def _branches(kernel_sizes: Any) -> list[tuple[str, int]]:
    return [(f"{k}x{k}", int(k)) for k in kernel_sizes]


def maps_panels(maps: ClassMaps) -> Panels:
    """The :class:`~napari_mousestop.gui.layers.maps.Panels` of the widget's result."""
    k = maps.kernel_size
    what = "activation" if maps.kind == "activation" else MAP_LABELS[maps.kind]
    panels = maps.averages if maps.kind == "activation" else maps.averages[:, 0]
    out = Panels(
        name=f"{PREFIX} {what} {k}x{k}",
        classes=tuple(maps.classes),
        n_per_class=tuple(maps.n_per_class),
        panels=panels,
        placement=maps.placement,
        units=str(maps.meta.get("units", "")),
        description=f"{what}, {k}x{k} branch ({maps.meta.get('source', '')})",
    )
    if maps.difference is not None and maps.pair is not None:
        a, b = maps.pair
        by_channel = maps.kind == "activation"
        out.contrasts = (f"{a} - {b}",)
        out.difference = maps.difference if by_channel else maps.difference[:1]
        out.significant = maps.mask if by_channel else maps.mask[:1]
        out.red, out.blue = (f"{a} higher than {b}",), (f"{b} higher than {a}",)
        out.diff_axis = "channel" if by_channel else "contrast"
    return out


class CompareWidget(JobWidget):
    """Compare class-averaged maps of a trained model side by side (in cm)."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.maps: ClassMaps | None = None
        self._channel_wanted = 0
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
            choices=_branches(default.kernel_sizes),
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
            tooltip="channel of the branch shown in every panel (activation maps; the same as "
            "the viewer's slider named channel)",
        )
        self.difference = CheckBox(label="difference of two classes", value=False)
        self.class_a = ComboBox(label="class A", choices=[], tooltip="the first class: red "
                                "where its panel is higher")  # fmt: skip
        self.class_b = ComboBox(label="class B", choices=[], tooltip="the second class: blue "
                                "where its panel is higher")  # fmt: skip
        self.n_permutations = SpinBox(
            label="permutations",
            value=EXPLAIN.map_permutations,
            min=10,
            max=100_000,
            tooltip="cage-level permutation test of A - B, "
            "family-wise error over all pixels and channels",
        )
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
            ]
        )
        clear_path(self.run_dir)
        clear_path(self.model_file)
        clear_path(self.dataset_file)
        self.set_classes(("AM", "JM", "AF", "JF"))
        self.dataset_file.changed.connect(self._dataset_chosen)
        self.channel.changed.connect(self.set_channel)
        self.viewer.dims.events.current_step.connect(self._follow_slider)
        self.describe = QLabel("")
        self.describe.setWordWrap(True)
        lay = self.layout()
        lay.addWidget(self.form.native)
        lay.addWidget(self._buttons)
        lay.addWidget(self.status)
        lay.addWidget(self.describe)
        lay.addStretch(1)
        self.run_button.setText("Compute maps")
        self.run_button.clicked.connect(self.run)

    # -- classes ------------------------------------------------------------------------------
    def set_classes(self, classes: Any) -> None:
        """Offer ``classes`` as class A and B (first: the second class, second: the first)."""
        classes = [str(c) for c in classes]
        if classes == list(self.class_a.choices):
            return
        for box, pick in ((self.class_a, -1), (self.class_b, 0)):
            box.choices = classes
            if classes:
                box.value = classes[pick]

    def _dataset_chosen(self, *_: Any) -> None:
        from napari_mousestop.datasets.dataset import dataset_classes

        path = path_of(self.dataset_file)
        if path is None:
            return
        try:
            self.set_classes(dataset_classes(path))
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))

    # -- computing ------------------------------------------------------------------------------
    def run(self, checkpoint: Any = None, dataset: Any = None) -> Any:
        """Compute the class maps in the background (``checkpoint``/``dataset`` override the
        file fields, e.g. with the Training widget's results); the files are read in the job."""
        try:
            if dataset is None:
                if self.source.value == "dataset file":
                    dataset = _path(self.dataset_file, "a dataset file (.npz)")
                else:
                    dataset = dataset_from_layers(stack_layers(self.viewer))
            run_dir, model = path_of(self.run_dir), path_of(self.model_file)
            if checkpoint is None and run_dir is None and model is None:
                raise ValueError("choose a run folder or a model file (.pt)")
            pair = (self.class_a.value, self.class_b.value) if self.difference.value else None
            if pair and pair[0] == pair[1]:
                raise ValueError("choose two different classes to compare")
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            notify_error(exc)
            return None
        kwargs = {
            "dataset": dataset,
            "run_dir": run_dir,
            "model": model,
            "checkpoint": checkpoint,
            "kind": self.kind.value,
            "kernel_size": int(self.branch.value),
            "stage": self.stage.value,
            "pair": pair,
            "n_permutations": int(self.n_permutations.value),
        }

        return self.start_job(
            partial(compare_job, kwargs), lambda _: None, self.show_maps, 0, "computing class maps"
        )

    def fit_to_model(self, kernel_sizes: Any, channels: int) -> None:
        """Offer the branches (kernel sizes) and channels of the model whose maps are shown."""
        choices = _branches(kernel_sizes)
        if [c[1] for c in choices] != list(self.branch.choices):
            self.branch.choices = choices
        self.channel.max = max(int(channels) - 1, 0)

    # -- showing --------------------------------------------------------------------------------
    def show_maps(self, maps: ClassMaps) -> None:
        """Replace this widget's layers by the panels of ``maps`` and hide the other layers
        (they would lie under the panels).

        The layers are added one per turn of napari's event loop (each new kind of layer costs
        napari a first drawing), so that no single pause of the viewer holds them all.
        """
        self._channel_wanted = int(self.channel.value)  # adding layers moves the slider
        self.maps = maps
        self.set_classes(maps.classes)
        self.fit_to_model(maps.meta.get("kernel_sizes", [maps.kernel_size]),
                          maps.meta.get("channels", maps.n_channels))  # fmt: skip
        self.channel.enabled = maps.n_channels > 1
        for layer in [lyr for lyr in self.viewer.layers if self._own(lyr)]:
            self.viewer.layers.remove(layer)
        for layer in self.viewer.layers:
            layer.visible = False
        self.status.setText("showing the class maps...")
        self.add_layers(list(panel_layers(maps_panels(maps), self._layout)), then=self._shown)

    def _shown(self) -> None:
        maps = self.maps
        if maps is None:
            return
        self.viewer.reset_view()
        self.channel.value = min(self._channel_wanted, maps.n_channels - 1)
        self.set_channel()
        sig = ""
        if maps.mask is not None:
            sig = f"; {int(maps.mask.sum())} significant pixels (all channels)"
            cmp = maps.meta.get("comparison", {})
            if cmp.get("min_p", 0) > cmp.get("alpha", 0.05):
                sig += f" (smallest attainable p {cmp['min_p']:.2g}: too few cages for alpha)"
        source = maps.meta.get("source", "")
        self.status.setText(
            f"{len(maps.classes)} class maps ({source}), {maps.n_channels} channel(s){sig}"
        )
        self.describe.setText(maps_panels(maps).description)

    def _channel_axis(self) -> int | None:
        labels = list(self.viewer.dims.axis_labels)
        return labels.index("channel") if "channel" in labels else None

    def set_channel(self, channel: int | None = None) -> None:
        """Show ``channel`` in every panel (moves the viewer's slider named channel)."""
        axis = self._channel_axis()
        if axis is None or self.maps is None:
            return
        ch = int(self.channel.value if channel is None else channel)
        if 0 <= ch < self.maps.n_channels:
            self.viewer.dims.set_current_step(axis, ch)

    def _follow_slider(self, *_: Any) -> None:
        axis = self._channel_axis()
        if axis is not None and self.maps is not None:
            ch = int(self.viewer.dims.current_step[axis])
            if ch != self.channel.value and ch <= self.channel.max:
                with self.channel.changed.blocked():
                    self.channel.value = ch

    def _own(self, layer: Any) -> bool:
        return layer.name.startswith(PREFIX + " ")


def compare_job(kwargs: dict, emit: Any, should_stop: Any) -> ClassMaps:
    """The Compare widget's job (picklable: it runs in a process of its own): read the files and
    compute the class maps (:func:`~napari_mousestop.explain.classmaps.class_maps`), sending
    its progress, stopping at Cancel."""
    from napari_mousestop.errors import Cancelled

    def progress(p: Any) -> None:
        if should_stop():
            raise Cancelled("cancelled")
        emit(p)

    return class_maps(**kwargs, progress=progress)


def _path(edit: FileEdit, what: str) -> str:
    path = path_of(edit)
    if path is None:
        raise ValueError(f"choose {what}")
    return path
