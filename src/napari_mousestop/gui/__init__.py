"""napari side of napari-mousestop: the only subpackage that imports napari.

:mod:`.convert` turns core results (stop tables, histogram stacks, the cage layout, cage photos,
explanation maps) into napari layer data tuples; the reader, writer, sample data and widgets all
go through it, so every layer is placed in the same world units (cm, hours).
"""

from .convert import (
    AXIS_LABELS,
    UNITS,
    dataset_to_layers,
    layer_name,
    layout_to_shapes,
    map_to_image,
    photo_to_image,
    recording_to_layers,
    stack_to_image,
    stops_to_points,
)

__all__ = [
    "AXIS_LABELS",
    "UNITS",
    "dataset_to_layers",
    "layer_name",
    "layout_to_shapes",
    "map_to_image",
    "photo_to_image",
    "recording_to_layers",
    "stack_to_image",
    "stops_to_points",
]
