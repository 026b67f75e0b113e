"""What the dock widgets share besides jobs: file fields, and layers updated by name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


# -- file fields ---------------------------------------------------------------------------------
def path_of(edit: Any) -> str | None:
    """The path typed or chosen in a magicgui ``FileEdit`` (None when the field is empty)."""
    text = str(edit.line_edit.value).strip()
    return text or None


def clear_path(edit: Any) -> None:
    """Empty a ``FileEdit`` (its ``value = ""`` would become the current folder)."""
    edit.line_edit.value = ""


# -- layers ------------------------------------------------------------------------------------
def upsert_layers(viewer: Any, layer_data: Iterable[tuple]) -> list[Any]:
    """Add layer data tuples to ``viewer``, or update the layers of the same name in place.

    An existing layer of the same name and type gets the new data, placement, metadata and
    features (its display settings the user may have changed are kept otherwise); anything
    else is added.
    """
    from napari.layers import Layer

    out = []
    for data, kwargs, kind in layer_data:
        name = kwargs.get("name")
        old = viewer.layers[name] if name in viewer.layers else None
        if old is not None and old._type_string == kind == "image":
            old.data = data
            for key in ("scale", "translate", "metadata", "contrast_limits"):
                if key in kwargs:
                    setattr(old, key, kwargs[key])
            out.append(old)
            continue
        layer = Layer.create(data, kwargs, kind)
        if old is not None:  # points/shapes: replace at the same place in the layer list
            index = viewer.layers.index(old)
            viewer.layers.remove(old)
            viewer.layers.insert(index, layer)
        else:
            viewer.layers.append(layer)
        out.append(layer)
    return out


@dataclass
class StackView:
    """One animal's ``(T, N, N)`` stack in the viewer: a whole Image layer, or a mosaic's tile.

    Attributes
    ----------
    name
        ``"cage/animal (class)"`` (a layer's name, or the tile's).
    data
        The stack (for a tile, a view into the mosaic layer's data).
    metadata
        The layer's metadata, with the tile's own entries for a tile. Changes made to it are
        kept in the layer (for a tile, in its entry of ``layer.metadata["tiles"]``).
    layer
        The napari layer holding it.
    """

    name: str
    data: Any
    metadata: dict
    layer: Any

    @property
    def scale(self) -> tuple:
        """The layer's scale (hours per interval first)."""
        return tuple(self.layer.scale)


class _TileMetadata(dict):
    """A tile's metadata over its mosaic's: reads both, writes into the tile's entry."""

    def __init__(self, shared: dict, own: dict) -> None:
        super().__init__({**shared, **own})
        self._own = own

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._own[key] = value


def stack_layers(viewer: Any, selected_only: bool = False) -> list[StackView]:
    """Every animal's stack in the viewer (made by the reader or the widgets), layer order.

    A mosaic layer (:mod:`napari_mousestop.gui.layers.mosaic`) gives one stack per tile; an
    Image layer holding a single ``(T, N, N)`` stack with its cage or recording in its metadata
    gives one stack.

    Parameters
    ----------
    viewer
        The napari viewer.
    selected_only
        Only the selected layers (a selected mosaic gives all its animals).
    """
    from napari.layers import Image

    from napari_mousestop.datasets.mosaic import Mosaic
    from napari_mousestop.gui.layers.mosaic import MOSAIC_KEY

    layers = viewer.layers.selection if selected_only else viewer.layers
    views: list[StackView] = []
    for lyr in (lyr for lyr in viewer.layers if lyr in layers):
        if not isinstance(lyr, Image) or lyr.ndim != 3 or lyr.rgb:
            continue
        meta = lyr.metadata
        if MOSAIC_KEY in meta:
            mosaic = Mosaic.from_dict(meta[MOSAIC_KEY])
            shared = {k: v for k, v in meta.items() if k not in (MOSAIC_KEY, "tiles")}
            for tile, own in zip(mosaic.tiles, meta.get("tiles", []), strict=True):
                data = mosaic.tile_stack(lyr.data, tile)
                views.append(StackView(tile.name, data, _TileMetadata(shared, own), lyr))
        elif lyr.data.shape[1] == lyr.data.shape[2] and ("cage" in meta or "recording" in meta):
            views.append(StackView(lyr.name, lyr.data, meta, lyr))
    names = [v.name for v in views]
    for v in views:  # the same animal and class twice: tell the recordings apart
        if names.count(v.name) > 1:
            v.name += f" [{Path(str(v.metadata.get('recording', '?'))).stem}]"
    return views


def dataset_from_layers(layers: Sequence[Any], classes: Sequence[str] | None = None) -> Any:
    """A :class:`~napari_mousestop.datasets.dataset.Dataset` of labelled stacks
    (:func:`stack_layers`), made by the core's
    :func:`~napari_mousestop.datasets.build.assemble_dataset` from each stack's data and metadata.

    Raises
    ------
    ValueError
        If there is no stack layer, the shapes differ, or a layer has no known class.
    """
    from napari_mousestop.datasets.build import Sample, assemble_dataset
    from napari_mousestop.histograms import animal_key
    from napari_mousestop.io.cohort import CLASSES

    classes = tuple(classes or CLASSES)
    if not layers:
        raise ValueError("no animals in the viewer: open recordings or a dataset, or extract stops")
    shapes = {tuple(lyr.data.shape) for lyr in layers}
    if len(shapes) > 1:
        raise ValueError(f"the animals' stacks have different shapes {sorted(shapes)}")
    unlabeled = [lyr.name for lyr in layers if lyr.metadata.get("label") not in classes]
    if unlabeled:
        raise ValueError(f"layers without a class (AM, JM, AF, JF): {unlabeled[:5]}")
    samples = []
    for lyr in layers:
        m = lyr.metadata
        animal = m.get("animal", "?")
        animal = animal_key(animal) if isinstance(animal, dict) else str(animal)
        samples.append(Sample(lyr.data, m["label"], m.get("cage", "?"), m.get("recording", "?"),
                              animal))  # fmt: skip
    first = layers[0].metadata
    hist = first.get("hist_params")
    if hist is None:  # a stack without its parameters: the interval from the layer's scale
        hist = {"interval_s": float(layers[0].scale[0]) * 3600.0} if layers[0].scale[0] else {}
    return assemble_dataset(
        samples, hist, first.get("stop_params", {}), first.get("geometry", {}), classes=classes
    )


__all__ = [
    "StackView",
    "clear_path",
    "dataset_from_layers",
    "path_of",
    "stack_layers",
    "upsert_layers",
]
