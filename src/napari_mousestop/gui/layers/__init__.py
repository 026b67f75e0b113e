"""Core results as napari layer data: stacks, stops, layouts and maps placed in cage centimetres."""
