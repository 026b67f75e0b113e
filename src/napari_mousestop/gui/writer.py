"""npe2 writer: stop Points layers -> a stop table CSV (written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_mousestop.io.atomic import atomic_path

STOP_COLUMNS = (
    "recording", "animal_id", "rfid", "name", "animal", "start_frame", "end_frame",
    "start_time", "start_s", "duration_s", "hour", "x_cm", "y_cm",
)  # fmt: skip
"""Column order of the CSV: the stop table's columns first, other features after them."""

_RENAME = {"start": "start_time", "duration": "duration_s"}


def points_to_table(data: Any, features: pd.DataFrame | None = None) -> pd.DataFrame:
    """A stop table from Points data ``(..., y_cm, x_cm)`` and its features.

    Positions come from the points themselves (so moved points are saved where they now are);
    with 3D data ``(hour, y, x)`` the first coordinate becomes the ``hour`` column. Stops drawn
    in a mosaic's tile (features ``tile_y_cm``, ``tile_x_cm``: where that tile's floor starts)
    are saved in their own cage's centimetres.
    """
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"points must be an (n, 2+) array of coordinates, got {data.shape}")
    table = pd.DataFrame(index=pd.RangeIndex(len(data)))
    if features is not None and len(features.columns):
        feats = pd.DataFrame(features).reset_index(drop=True).rename(columns=_RENAME)
        if len(feats) == len(data):
            table = feats.copy()
    if data.shape[1] >= 3:
        table["hour"] = data[:, -3]
    table["y_cm"] = data[:, -2]
    table["x_cm"] = data[:, -1]
    if {"tile_y_cm", "tile_x_cm"} <= set(table.columns):
        table["y_cm"] -= table.pop("tile_y_cm").to_numpy(float)
        table["x_cm"] -= table.pop("tile_x_cm").to_numpy(float)
    first = [c for c in STOP_COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def write_points(path: str, data: Any, attributes: dict) -> list[str]:
    """npe2 single-layer writer: save a stop Points layer as CSV; returns the written path."""
    table = points_to_table(data, attributes.get("features"))
    out = Path(path)
    if out.suffix.lower() != ".csv":
        out = out.with_name(out.name + ".csv")
    with atomic_path(out, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return [str(out)]
