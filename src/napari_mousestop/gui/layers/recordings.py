"""Core results -> napari layer data tuples ``(data, kwargs, layer_type)``.

With :mod:`.images` (explanation maps, cage photos), the one place where core results
become napari layers, so the reader, the sample data and every widget place them identically.

World units: centimetres for space (origin at the floor's top-left corner, y downwards) and hours
for time. napari draws pixel ``i`` centred at ``translate + i * scale``; a histogram with bins of
width ``w`` starting at 0 therefore gets ``scale = w`` and ``translate = w / 2``
(:func:`napari_mousestop.io.geometry.grid_placement`). Interval ``t`` of a stack lies at hour
``t * interval_h`` and a stop is drawn on the interval where it starts, at its ``(y, x)`` in cm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba

from napari_mousestop.histograms import animal_key
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
    """A stop table as a Points layer at ``(hour, y_cm, x_cm)``, coloured by hour.

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
        ``(data (n, 3), kwargs, "points")``. Features: ``hour`` (the interval's start, in h),
        ``start`` (ISO time, UTC), ``start_s``, ``duration`` (s), ``animal`` and the other stop
        table columns.
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
        [hour, rows["y_cm"].to_numpy(np.float64), rows["x_cm"].to_numpy(np.float64)]
    ).reshape(-1, 3)
    features = pd.DataFrame({"hour": hour}, index=pd.RangeIndex(len(rows)))
    if "start_time" in rows:
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
        "axis_labels": AXIS_LABELS,
        "units": UNITS,
        "metadata": dict(metadata or {}, interval_s=interval_s, offset_s=offset_s),
    }
    return data, kwargs, "points"


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
    layout: CageLayout | None = None, name: str = "cage layout", edge_width_cm: float = 0.4
) -> LayerDataTuple:
    """The cage layout as a 2D Shapes layer in cm, each shape named and labelled.

    The layer is 2D (y, x): napari shows it on every hour of a stack.
    """
    layout = layout or load_layout()
    shapes = layout.shapes
    edge = [to_rgba(s.color) for s in shapes]
    face = [
        (0.0, 0.0, 0.0, 0.0) if s.kind in ("line", "path") else (*to_rgba(s.color)[:3], 0.15)
        for s in shapes
    ]
    kwargs = {
        "name": name,
        "shape_type": [s.kind for s in shapes],
        "features": pd.DataFrame(
            {"name": [s.name for s in shapes], "label": [s.text for s in shapes]}
        ),
        "text": {"string": "{label}", "color": "white", "size": 9, "anchor": "center"},
        "edge_color": edge,
        "face_color": face,
        "edge_width": edge_width_cm,
        "axis_labels": SPACE_LABELS,
        "units": SPACE_UNITS,
        "metadata": {"layout": layout.to_dict()},
    }
    return [s.vertices for s in shapes], kwargs, "shapes"


def recording_to_layers(
    rs: Any,
    cage: str | None = None,
    labels: dict[str, str | None] | None = None,
    layout: CageLayout | None | bool = None,
) -> list[LayerDataTuple]:
    """Layers of one recording: per animal its stack (Image) and its stops (Points), + layout.

    Parameters
    ----------
    rs
        :class:`napari_mousestop.histograms.RecordingStacks`.
    cage
        Cage id for the layer names (default: the recording's file name without suffix).
    labels
        Class name per animal key (RFID, else name, else id); None or missing: unknown class.
    layout
        Cage layout for the Shapes layer (None: the default layout; False: no layout layer).

    Returns
    -------
    list
        Layer data tuples: per animal ``"cage/animal (class)"`` (stack) followed by
        ``"cage/animal (class) stops"`` (so a grid stride of 2 gives one tile per animal), then
        the layout on top (outlines and faint faces). Stacks share contrast limits so animals
        compare directly.
    """
    cage = cage or Path(rs.path).stem
    labels = labels or {}
    params = rs.params
    start = pd.Timestamp(rs.info["start_time"])
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    offset_s = (start - rs.origin).total_seconds()
    top = float(rs.stacks.max()) if rs.stacks.size else 0.0
    limits = (0.0, top if top > 0 else 1.0)
    layers: list[LayerDataTuple] = []
    common = {
        "recording": str(rs.path),
        "cage": cage,
        "hist_params": params.to_dict(),
        "stop_params": dict(rs.stop_params),
        "geometry": rs.geometry.to_dict(),
        "origin": rs.origin.isoformat(),
    }
    for i, animal in enumerate(rs.animals):
        key = animal_key(animal)
        label = labels.get(key)
        name = layer_name(cage, key, label)
        meta = dict(common, animal=dict(animal), label=label)
        layers.append(
            stack_to_image(
                rs.stacks[i],
                name=name,
                geometry=rs.geometry,
                interval_h=params.interval_h,
                contrast_limits=limits,
                metadata=meta,
            )
        )
        rows = rs.stops[rs.stops["animal_id"] == animal["animal_id"]]
        layers.append(
            stops_to_points(
                rows,
                name=layer_name(cage, key, label, "stops"),
                interval_s=params.interval_s,
                offset_s=offset_s,
                n_intervals=params.n_intervals,
                metadata=meta,
            )
        )
    if layout is not False:
        layers.append(layout_to_shapes(layout or None))
    return layers


def dataset_to_layers(
    dataset: Any, interval_h: float | None = None, geometry: CageGeometry | None = None
) -> list[LayerDataTuple]:
    """One Image layer per animal-recording of a dataset, named ``"cage/animal (class)"``.

    Layers are ordered by class (in the dataset's class order), then cage, recording and animal,
    share one set of contrast limits (0 .. the dataset's maximum) and the same placement, so the
    hour slider scrubs all of them at once and napari's grid mode shows them side by side.
    """
    params = dataset.params or {}
    hist = params.get("histogram", {})
    if interval_h is None:
        interval_h = (
            float(hist.get("interval_s", 3600.0)) / 3600.0 if isinstance(hist, dict) else 1.0
        )
    if geometry is None and isinstance(params.get("geometry"), dict):
        try:
            geometry = CageGeometry.from_dict(params["geometry"])
        except (KeyError, TypeError, ValueError):
            geometry = None
    top = float(dataset.X.max()) if dataset.X.size else 0.0
    limits = (0.0, top if top > 0 else 1.0)
    order = sorted(
        range(len(dataset)),
        key=lambda i: (
            int(dataset.labels[i]),
            dataset.cages[i],
            dataset.recordings[i],
            dataset.animals[i],
        ),
    )
    names = dataset.class_names
    layers = []
    for i in order:
        name = layer_name(dataset.cages[i], dataset.animals[i], names[i])
        if len(set(dataset.recordings[dataset.cages == dataset.cages[i]])) > 1:
            name += f" [{Path(str(dataset.recordings[i])).stem}]"
        meta = {
            "index": int(i),
            "cage": str(dataset.cages[i]),
            "recording": str(dataset.recordings[i]),
            "animal": str(dataset.animals[i]),
            "label": str(names[i]),
        }
        layers.append(
            stack_to_image(
                dataset.X[i], name=name, geometry=geometry, interval_h=interval_h,
                contrast_limits=limits, metadata=meta,
            )
        )  # fmt: skip
    return layers
