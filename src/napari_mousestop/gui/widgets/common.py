"""What the dock widgets share besides jobs: file fields, and layers updated by name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def stack_layers(viewer: Any, selected_only: bool = False) -> list[Any]:
    """Image layers holding a (T, N, N) stop-histogram stack (made by the reader or widgets)."""
    layers = viewer.layers.selection if selected_only else viewer.layers
    return [
        lyr
        for lyr in layers
        if lyr._type_string == "image"
        and lyr.ndim == 3
        and not lyr.rgb
        and lyr.data.shape[1] == lyr.data.shape[2]
        and ("cage" in lyr.metadata or "recording" in lyr.metadata)
    ]


def dataset_from_layers(layers: Sequence[Any], classes: Sequence[str] | None = None) -> Any:
    """A :class:`~napari_mousestop.datasets.dataset.Dataset` of labelled stack layers, made by
    the core's :func:`~napari_mousestop.datasets.build.assemble_dataset` from each layer's
    data and metadata.

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
        raise ValueError("no stack layers: open LMT recordings or a dataset, or extract stops")
    shapes = {tuple(lyr.data.shape) for lyr in layers}
    if len(shapes) > 1:
        raise ValueError(f"stack layers have different shapes {sorted(shapes)}")
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


__all__ = ["clear_path", "dataset_from_layers", "path_of", "stack_layers", "upsert_layers"]
