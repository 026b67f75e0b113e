"""Mosaics as napari layers: a whole cohort (or one recording's animals) side by side.

:func:`dataset_to_layers` and :func:`recording_to_layers` arrange the animals with
:func:`napari_mousestop.datasets.mosaic.arrange_mosaic` (a core function) and
:func:`mosaic_to_layers` turns that arrangement into layers:

* ``<name>``: one Image layer ``(T, H, W)`` holding every animal's stack in its tile, on the
  stop colour scale (:mod:`napari_mousestop.plots.hours`: zero black, square root up to the
  largest bin of all animals, the same for every hour and animal). Its metadata carries the
  arrangement (``"mosaic"``), each tile's provenance (``"tiles"``) and clock (``"clocks"``) and
  the units, which the explorer dock widget reads;
* ``<name> stops`` (recordings): every stop, on the hour where it starts, at its tile's floor
  position, coloured by hour;
* ``<name> layout``: the cage layout drawn in every tile;
* ``<name> labels``: each tile's animal above it, and ``<name> captions``: the class bands
  (left) and the cages (above their blocks).

One mosaic pixel is one bin, so a stop at floor position ``(y, x)`` of the animal in tile ``k``
is drawn at ``origin + tile.origin_cm + (y, x)`` (``origin``: where the mosaic sits in the
world, (0, 0) unless several mosaics are shown).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_mousestop.datasets.mosaic import (
    Mosaic,
    arrange_mosaic,
    dataset_clocks,
    dataset_mosaic,
    stop_units,
)
from napari_mousestop.gui.layers.recordings import (
    AXIS_LABELS,
    SPACE_LABELS,
    SPACE_UNITS,
    UNITS,
    LayerDataTuple,
    layout_to_shapes,
    stops_to_points,
)
from napari_mousestop.histograms import animal_key
from napari_mousestop.io.geometry import CageGeometry
from napari_mousestop.io.layout import CageLayout, load_layout
from napari_mousestop.io.light import IntervalClock
from napari_mousestop.plots.hours import STOP_GAMMA, stop_colormap

MOSAIC_KEY = "mosaic"
"""Metadata key of a mosaic Image layer (its :meth:`Mosaic.to_dict`)."""
LABEL_SIZE = 0.06
"""Tile labels' text size, as a fraction of the floor (text scales with the zoom)."""


def stop_colormap_kwargs() -> dict:
    """The stop colour map as napari takes it in layer keyword arguments."""
    controls, colours = stop_colormap()
    return {"colors": colours, "controls": controls, "name": "mousestop stops"}


def _text_points(
    positions: Sequence[tuple[float, float]], texts: Sequence[str], name: str, size: float
) -> LayerDataTuple:
    """Invisible 2D points carrying text (lower-left corner of each text at its point)."""
    data = np.asarray(positions, dtype=float).reshape(-1, 2)
    kwargs = {
        "name": name,
        "features": pd.DataFrame({"text": list(texts)}),
        "text": {
            "string": "{text}",
            "color": "white",
            "size": float(size),
            "scaling": True,
            "anchor": "lower_left",
        },
        "size": 0.0,
        "face_color": "transparent",
        "border_width": 0.0,
        "axis_labels": SPACE_LABELS,
        "units": SPACE_UNITS,
    }
    return data, kwargs, "points"


def mosaic_to_layers(
    mosaic: Mosaic,
    stacks: np.ndarray | Sequence[np.ndarray],
    name: str,
    interval_h: float = 1.0,
    layout: CageLayout | None | bool = None,
    clocks: Sequence[IntervalClock | None] | None = None,
    weight: str = "count",
    tiles_metadata: Sequence[dict] | None = None,
    metadata: dict | None = None,
    origin: tuple[float, float] = (0.0, 0.0),
) -> list[LayerDataTuple]:
    """Layers of a mosaic: the stacks in their tiles, the layout in each tile, the labels.

    Parameters
    ----------
    mosaic
        The arrangement (:func:`~napari_mousestop.datasets.mosaic.arrange_mosaic`).
    stacks
        ``(n, T, N, N)``, indexed by each tile's ``index``.
    name
        Name of the Image layer; the others are ``"<name> layout"``, ``"<name> labels"`` and
        ``"<name> captions"``.
    interval_h
        Interval length in hours (the slider's step).
    layout
        Cage layout drawn in each tile (None: the default; False: none).
    clocks
        Clock of each stack (indexed like ``stacks``; None: no clock time).
    weight
        ``"count"`` or ``"duration"`` (units: stops or seconds stopped).
    tiles_metadata
        Extra metadata of each stack (indexed like ``stacks``), kept per tile.
    metadata
        Metadata shared by the whole mosaic (parameters, recording...).
    origin
        World position ``(y, x)`` in cm of the mosaic's top-left corner.

    Returns
    -------
    list
        ``[image, layout, labels, captions]`` layer data tuples (layout and captions only when
        there are any).
    """
    data = mosaic.assemble(stacks)
    w_y, w_x = mosaic.bin_cm
    oy, ox = float(origin[0]), float(origin[1])
    top = float(data.max()) if data.size else 0.0
    unit, colour_units = stop_units(weight, interval_h)
    clocks = list(clocks) if clocks is not None else [None] * len(stacks)
    extra = list(tiles_metadata) if tiles_metadata is not None else [{}] * len(stacks)
    tiles = []
    for tile in mosaic.tiles:
        clock = clocks[tile.index]
        tiles.append(
            {
                **extra[tile.index],
                "name": tile.name,
                "cage": tile.cage,
                "animal": extra[tile.index].get("animal", tile.animal),
                "label": tile.label,
                "recording": tile.recording,
                "clock": clock.to_dict() if clock is not None else None,
            }
        )
    image_meta = {
        **(metadata or {}),
        MOSAIC_KEY: mosaic.to_dict(),
        "tiles": tiles,
        "units": unit,
        "colour_units": colour_units,
        "interval_h": float(interval_h),
    }
    image = (
        data,
        {
            "name": name,
            "scale": (float(interval_h), w_y, w_x),
            "translate": (0.0, oy + w_y / 2, ox + w_x / 2),
            "axis_labels": AXIS_LABELS,
            "units": UNITS,
            "colormap": stop_colormap_kwargs(),
            "gamma": STOP_GAMMA,
            "contrast_limits": (0.0, top if top > 0 else 1.0),
            "interpolation2d": "nearest",
            "metadata": image_meta,
        },
        "image",
    )
    layers = [image]
    if layout is not False:
        origins = [(oy + t.origin_cm[0], ox + t.origin_cm[1]) for t in mosaic.tiles]
        layers.append(
            layout_to_shapes(
                layout or None, name=f"{name} layout", origins=origins, labelled=len(origins) <= 4
            )
        )
    floor = min(mosaic.floor_cm)
    lift = 0.15 * mosaic.gap_cm
    layers.append(
        _text_points(
            [(oy + t.origin_cm[0] - lift, ox + t.origin_cm[1]) for t in mosaic.tiles],
            [t.text for t in mosaic.tiles],
            f"{name} labels",
            LABEL_SIZE * floor,
        )
    )
    if mosaic.captions:
        layers.append(
            _text_points(
                [(oy + c.position[0], ox + c.position[1]) for c in mosaic.captions],
                [c.text for c in mosaic.captions],
                f"{name} captions",
                1.4 * LABEL_SIZE * floor,
            )
        )
    return layers


def mosaic_height_cm(layers: Sequence[LayerDataTuple]) -> float:
    """World height in cm of the mosaic in ``layers`` (to place the next one below it)."""
    for data, kwargs, kind in layers:
        if kind == "image" and MOSAIC_KEY in kwargs.get("metadata", {}):
            return float(np.shape(data)[1] * kwargs["scale"][1])
    return 0.0


def recording_to_layers(
    rs: Any,
    cage: str | None = None,
    labels: dict[str, str | None] | None = None,
    layout: CageLayout | None | bool = None,
    origin: tuple[float, float] = (0.0, 0.0),
    name: str | None = None,
) -> list[LayerDataTuple]:
    """Layers of one recording: its animals side by side, their stops, the layout in each tile.

    Parameters
    ----------
    rs
        :class:`napari_mousestop.histograms.RecordingStacks`.
    cage
        Cage id, in the animals' names (default: the recording's file name without suffix).
    labels
        Class name per animal key (RFID, else name, else id); None or missing: unknown class.
    layout
        Cage layout drawn in each tile (None: the layout's default; False: none). Its light
        schedule, if any, gives each hour's light phase.
    origin
        World position ``(y, x)`` in cm of the mosaic (to show several recordings one below
        the other).
    name
        Name of the mosaic layer (default: the recording's file name without suffix, so that
        a cage's juvenile and adult recordings get layers of their own).

    Returns
    -------
    list
        ``"<name>"`` (the animals' stacks in a 2 x 2 mosaic for four mice), ``"<name> stops"``,
        ``"<name> layout"``, ``"<name> labels"`` and ``"<name> captions"``.
    """
    name = name or Path(rs.path).stem
    cage = cage or Path(rs.path).stem
    labels = labels or {}
    params = rs.params
    keys = [animal_key(a) for a in rs.animals]
    mosaic = arrange_mosaic(
        [cage] * len(keys),
        keys,
        [labels.get(k) for k in keys],
        [Path(rs.path).name] * len(keys),
        n_bins=params.n_bins,
        floor_cm=tuple(rs.geometry.floor_cm),
        by_class=False,
    )
    drawn = layout if isinstance(layout, CageLayout) else load_layout()
    schedule = drawn.light
    zone = schedule.timezone if schedule is not None else params.timezone
    # a tracker's recording without a clock time has no origin: no clock, intervals from time 0
    clock = (
        IntervalClock(rs.origin, params.interval_s, zone, schedule)
        if rs.origin is not None
        else None
    )
    common = {
        "recording": str(rs.path),
        "cage": cage,
        "hist_params": params.to_dict(),
        "stop_params": dict(rs.stop_params),
        "geometry": rs.geometry.to_dict(),
        "origin": None if rs.origin is None else rs.origin.isoformat(),
    }
    layers = mosaic_to_layers(
        mosaic,
        rs.stacks,
        name,
        interval_h=params.interval_h,
        layout=layout,
        clocks=[clock] * len(keys),
        weight=params.weight,
        tiles_metadata=[
            {"animal": dict(a), "coverage": _coverage_of(rs, a)} for a in rs.animals
        ],
        metadata=common,
        origin=origin,
    )
    offset_s = 0.0
    if rs.origin is not None:
        start = pd.Timestamp(rs.info["start_time"])
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        offset_s = (start - rs.origin).total_seconds()
    parts, features = [], []
    for tile in mosaic.tiles:
        animal = rs.animals[tile.index]
        rows = rs.stops[rs.stops["animal_id"] == animal["animal_id"]]
        data, kwargs, _ = stops_to_points(
            rows, interval_s=params.interval_s, offset_s=offset_s, n_intervals=params.n_intervals
        )
        shift = np.array([0.0, origin[0] + tile.origin_cm[0], origin[1] + tile.origin_cm[1]])
        parts.append(data + shift)
        feats = kwargs["features"].copy()
        feats["tile_y_cm"] = shift[1]
        feats["tile_x_cm"] = shift[2]
        features.append(feats)
    points, kwargs, _ = stops_to_points(
        rs.stops.iloc[:0], interval_s=params.interval_s, n_intervals=params.n_intervals
    )
    kwargs.update(
        name=f"{name} stops",
        features=pd.concat(features, ignore_index=True) if features else kwargs["features"],
        metadata={**common, "interval_s": params.interval_s, "offset_s": offset_s},
    )
    stops = (np.concatenate(parts) if parts else points, kwargs, "points")
    return [layers[0], stops, *layers[1:]]


def _coverage_of(rs: Any, animal: dict) -> list[float] | None:
    """The fraction of each interval recorded for one animal of ``rs`` (None: not reported)."""
    return rs.report.get("animals", {}).get(str(animal.get("animal_id")), {}).get("coverage")


def _dataset_coverage(dataset: Any, hist: dict) -> dict[str, list[float]]:
    """Fraction of each interval recorded, per recording of a dataset (those whose info in
    ``params["recordings"]`` gives their length)."""
    from napari_mousestop.histograms import HistogramParams, recording_coverage

    try:
        params = HistogramParams.from_dict({**hist, "n_intervals": int(dataset.X.shape[1])})
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, described in ((dataset.params or {}).get("recordings") or {}).items():
        info = described.get("info") if isinstance(described, dict) else None
        coverage = recording_coverage(info, params) if isinstance(info, dict) else None
        if coverage is not None:
            out[str(name)] = [round(float(c), 6) for c in coverage]
    return out


def dataset_to_layers(
    dataset: Any,
    name: str = "cohort",
    layout: CageLayout | None | bool = None,
    origin: tuple[float, float] = (0.0, 0.0),
) -> list[LayerDataTuple]:
    """Every animal-recording of a dataset at once: class bands, cage blocks, one slider.

    Parameters
    ----------
    dataset
        :class:`~napari_mousestop.datasets.dataset.Dataset`.
    name
        Name of the mosaic Image layer.
    layout
        Cage layout drawn in each tile (None: the default; False: none); its light schedule
        gives each hour's light phase.
    origin
        World position ``(y, x)`` in cm of the mosaic.

    Returns
    -------
    list
        Layer data tuples of :func:`mosaic_to_layers`.
    """
    params = dataset.params or {}
    hist = params.get("histogram") if isinstance(params.get("histogram"), dict) else {}
    interval_h = float(hist.get("interval_s", 3600.0)) / 3600.0
    geometry = params.get("geometry") if isinstance(params.get("geometry"), dict) else None
    try:
        geometry = CageGeometry.from_dict(geometry) if geometry else None
    except (KeyError, TypeError, ValueError):
        geometry = None
    mosaic = dataset_mosaic(dataset)
    drawn = layout if isinstance(layout, CageLayout) else load_layout()
    names = dataset.class_names
    covered = _dataset_coverage(dataset, hist)
    meta = [
        {
            "index": int(i),
            "cage": str(dataset.cages[i]),
            "recording": str(dataset.recordings[i]),
            "animal": str(dataset.animals[i]),
            "label": str(names[i]),
            "coverage": covered.get(str(dataset.recordings[i])),
        }
        for i in range(len(dataset))
    ]
    common = {"hist_params": hist}
    if geometry is not None:
        common["geometry"] = geometry.to_dict()
    return mosaic_to_layers(
        mosaic,
        dataset.X,
        name,
        interval_h=interval_h,
        layout=layout,
        clocks=dataset_clocks(dataset, drawn.light),
        weight=str(hist.get("weight", "count")),
        tiles_metadata=meta,
        metadata=common,
        origin=origin,
    )
