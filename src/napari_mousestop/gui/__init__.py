"""napari side of napari-mousestop: the only subpackage that imports napari.

:mod:`.layers.recordings` (stop tables, histogram stacks, the cage layout),
:mod:`.layers.mosaic` (a recording's or a dataset's animals side by side) and
:mod:`.layers.images` (explanation maps, cage photos) turn core results into napari layer data
tuples; the reader, writer, sample data and widgets all go through them, so every layer is placed
in the same world units (cm, hours).
"""

from napari_mousestop.gui.layers.images import map_to_image, photo_to_image
from napari_mousestop.gui.layers.mosaic import (
    dataset_to_layers,
    mosaic_to_layers,
    recording_to_layers,
)
from napari_mousestop.gui.layers.recordings import (
    AXIS_LABELS,
    UNITS,
    layer_name,
    layout_to_shapes,
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
    "mosaic_to_layers",
    "photo_to_image",
    "recording_to_layers",
    "stack_to_image",
    "stops_to_points",
]
