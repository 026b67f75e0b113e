"""Core results -> napari layer data tuples ``(data, kwargs, layer_type)``.

With :mod:`.images` (explanation maps, cage photos) and :mod:`.mosaic` (many animals side by
side: a recording's, a dataset's), the one place where core results become napari layers, so the
reader, the sample data and every widget place them identically.

World units: centimetres for space (origin at the floor's top-left corner, y downwards) and hours
for time. napari draws pixel ``i`` centred at ``translate + i * scale``; a histogram with bins of
width ``w`` starting at 0 therefore gets ``scale = w`` and ``translate = w / 2``
(:func:`napari_mousestop.io.geometry.grid_placement`). Interval ``t`` of a stack lies at hour
``t * interval_h`` and a stop is drawn on the interval where it starts, at its ``(y, x)`` in cm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba

from napari_mousestop.io.geometry import CageGeometry, grid_placement
from napari_mousestop.io.layout import CageLayout, load_layout

LayerDataTuple = tuple[Any, dict, str]

AXIS_LABELS = ("hour", "y", "x")
UNITS = ("h", "cm", "cm")
SPACE_LABELS = ("y", "x")
SPACE_UNITS = ("cm", "cm")
STACK_COLORMAP = "magma"
STOP_COLORMAP = "cool"  # bright at both ends: visible over the dark end of magma


def layer_name(cage: Any, animal: Any, label: Any = None, suffix: str = "") -> str:
    """Layer name ``"cage/animal (class)"`` (``"cage/animal"`` when the class is unknown).

    Parameters
    ----------
    cage
        Cage id (or the recording's name when the cage is unknown).
    animal
        Animal RFID or name.
    label
        Class name (AM, JM, AF, JF) or None.
    suffix
        Appended after a space, e.g. ``"stops"``.
    """
    name = f"{cage}/{animal}"
    if label is not None and str(label) not in ("", "nan", "None"):
        name += f" ({label})"
    return f"{name} {suffix}" if suffix else name


def stops_to_points(
    stops: pd.DataFrame,
    name: str = "stops",
    interval_s: float = 3600.0,
    offset_s: float = 0.0,
    n_intervals: int | None = None,
    size_cm: float = 1.0,
    metadata: dict | None = None,
) -> LayerDataTuple:
    """A stop table as a Points layer at ``(hour, y_cm, x_cm)`` in the world, coloured by hour.

    The data's first column counts intervals and the layer's scale is ``(interval_h, 1, 1)``:
    napari shows a point on the slider steps within half a data unit of it, so this keeps each
    stop on its own interval (with hours as data, a 10-min interval would show an hour of
    stops).

    Parameters
    ----------
    stops
        Stop table (columns ``start_s``, ``duration_s``, ``x_cm``, ``y_cm``; others are kept as
        features). Pass one animal's rows.
    name
        Layer name.
    interval_s
        Length of a stack interval in s: a stop is placed on the interval where it starts.
    offset_s
        Seconds from the stack's origin (interval 0) to the recording's start
        (``RecordingStacks.origin``; 0 when intervals count from the recording's start).
    n_intervals
        Number of intervals T of the matching stack: stops outside ``0..T-1`` are left out, as the
        stack leaves them out. None keeps every stop.
    size_cm
        Point diameter in cm.
    metadata
        Stored as the layer's metadata.

    Returns
    -------
    tuple
        ``(data (n, 3): interval, y_cm, x_cm; kwargs, "points")``. Features: ``hour`` (the
        interval's start, in h), ``start`` (ISO time, UTC), ``start_s``, ``duration`` (s),
        ``animal`` and the other stop table columns.
    """
    missing = {"start_s", "duration_s", "x_cm", "y_cm"} - set(stops.columns)
    if missing:
        raise ValueError(f"stop table lacks columns {sorted(missing)}")
    interval_h = interval_s / 3600.0
    t = np.floor((stops["start_s"].to_numpy(np.float64) + offset_s) / interval_s)
    keep = np.isfinite(t) & stops["x_cm"].notna().to_numpy() & stops["y_cm"].notna().to_numpy()
    if n_intervals is not None:
        keep &= (t >= 0) & (t < n_intervals)
    rows = stops.loc[keep]
    hour = t[keep] * interval_h
    data = np.column_stack(
        [t[keep], rows["y_cm"].to_numpy(np.float64), rows["x_cm"].to_numpy(np.float64)]
    ).reshape(-1, 3)
    features = pd.DataFrame({"hour": hour}, index=pd.RangeIndex(len(rows)))
    if "start_time" in rows and rows["start_time"].notna().all():  # NaT: no clock time
        start = pd.to_datetime(rows["start_time"], utc=True)
        features["start"] = start.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3].to_numpy() + "Z"
    features["start_s"] = rows["start_s"].to_numpy(np.float64)
    features["duration"] = rows["duration_s"].to_numpy(np.float64)
    who = next((c for c in ("rfid", "name", "animal_id") if c in rows), None)
    features["animal"] = rows[who].astype(str).to_numpy() if who else ""
    skip = {"start_time", "start_s", "duration_s", "x_cm", "y_cm", "hours", "interval"}
    for col in rows.columns:
        if col not in skip and col not in features:
            features[col] = rows[col].to_numpy()
    top = max(float(n_intervals - 1) * interval_h if n_intervals else hour.max(initial=0.0), 1.0)
    kwargs = {
        "name": name,
        "features": features,
        "face_color": "hour",
        "face_colormap": STOP_COLORMAP,
        "face_contrast_limits": (0.0, top),
        "border_color": "black",
        "border_width": 0.1,
        "border_width_is_relative": True,
        "size": size_cm,
        "scale": (interval_h, 1.0, 1.0),
        "axis_labels": AXIS_LABELS,
        "units": UNITS,
        "metadata": dict(metadata or {}, interval_s=interval_s, offset_s=offset_s),
    }
    return data, kwargs, "points"


def describe_stop(stop: Any, timezone: str = "UTC") -> str:
    """The hover text of one stop point (a row of the features of :func:`stops_to_points`):
    ``"stop of 000000010001: starts 20:14:03 UTC (1234.5 s into the recording), lasts 3.2 s"``.

    Parameters
    ----------
    stop
        The point's features (``start_s``, ``duration``, optionally ``start`` and ``animal``).
    timezone
        Zone of the clock time (an IANA name); the start's clock time is left out when the
        recording has none.
    """
    who = f" of {stop['animal']}" if str(stop.get("animal", "")) not in ("", "nan") else ""
    start = f"{float(stop['start_s']):.1f} s into the recording"
    clock = stop.get("start")
    if isinstance(clock, str) and clock:
        local = pd.Timestamp(clock).tz_convert(timezone)
        start = f"{local:%H:%M:%S} {timezone} ({start})"
    return f"stop{who}: starts {start}, lasts {float(stop['duration']):.1f} s"


def stack_to_image(
    stack: np.ndarray,
    name: str = "stops per hour",
    geometry: CageGeometry | None = None,
    interval_h: float = 1.0,
    contrast_limits: tuple[float, float] | None = None,
    colormap: str = STACK_COLORMAP,
    metadata: dict | None = None,
    visible: bool = True,
) -> LayerDataTuple:
    """A ``(T, N, N)`` histogram stack as an Image layer aligned on the cage floor.

    ``scale = (interval_h, w_y, w_x)`` and ``translate = (0, w_y / 2, w_x / 2)`` with the bin
    widths ``w`` of :func:`~napari_mousestop.io.geometry.grid_placement`: bin ``(t, i, j)`` is drawn
    at hour ``t * interval_h`` centred on its floor position in cm.

    Parameters
    ----------
    stack
        Array (T, N, N) (or (N, N) for a single interval).
    name
        Layer name.
    geometry
        Cage geometry (floor size); the mouse cage by default.
    interval_h
        Interval length in hours.
    contrast_limits
        Fixed limits (default 0 .. the stack's maximum), the same for every hour, so hours and
        animals shown with the same limits compare directly.
    colormap
        napari colormap name.
    metadata
        Stored as the layer's metadata.
    visible
        Whether the layer starts visible.
    """
    stack = np.asarray(stack, dtype=np.float32)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3 or stack.shape[1] != stack.shape[2]:
        raise ValueError(f"a stack must be (T, N, N), got shape {stack.shape}")
    p = grid_placement(stack.shape[-1], geometry)
    if contrast_limits is None:
        top = float(stack.max()) if stack.size else 0.0
        contrast_limits = (0.0, top if top > 0 else 1.0)
    kwargs = {
        "name": name,
        "scale": (interval_h, *p.scale),
        "translate": (0.0, *p.translate),
        "axis_labels": AXIS_LABELS,
        "units": UNITS,
        "colormap": colormap,
        "contrast_limits": tuple(float(c) for c in contrast_limits),
        "interpolation2d": "nearest",
        "metadata": dict(metadata or {}),
        "visible": visible,
    }
    return stack, kwargs, "image"


def layout_to_shapes(
    layout: CageLayout | None = None,
    name: str = "cage layout",
    edge_width_cm: float = 0.4,
    origins: Sequence[tuple[float, float]] | None = None,
    labelled: bool = True,
) -> LayerDataTuple:
    """The cage layout as a 2D Shapes layer in cm, each shape named (and labelled).

    The layer is 2D (y, x): napari shows it on every hour of a stack.

    Parameters
    ----------
    layout
        The layout (None: the packaged default).
    name
        Layer name.
    edge_width_cm
        Outline width in cm.
    origins
        Draw the layout once per floor origin ``(y, x)`` in cm (the tiles of a mosaic); None:
        once, at (0, 0).
    labelled
        Write each shape's label in it.
    """
    layout = layout or load_layout()
    origins = [(0.0, 0.0)] if origins is None else [tuple(o) for o in origins]
    shapes = layout.shapes
    edge = [to_rgba(s.color) for s in shapes]
    face = [
        (0.0, 0.0, 0.0, 0.0) if s.kind in ("line", "path") else (*to_rgba(s.color)[:3], 0.15)
        for s in shapes
    ]
    k = len(origins)
    kwargs = {
        "name": name,
        "shape_type": [s.kind for s in shapes] * k,
        "features": pd.DataFrame(
            {
                "name": [s.name for s in shapes] * k,
                "label": [s.text if labelled else "" for s in shapes] * k,
            }
        ),
        "text": {"string": "{label}", "color": "white", "size": 9, "anchor": "center"},
        "edge_color": edge * k,
        "face_color": face * k,
        "edge_width": edge_width_cm,
        "axis_labels": SPACE_LABELS,
        "units": SPACE_UNITS,
        "metadata": {"layout": layout.to_dict()},
    }
    data = [s.vertices + np.asarray(o, dtype=float) for o in origins for s in shapes]
    return data, kwargs, "shapes"
