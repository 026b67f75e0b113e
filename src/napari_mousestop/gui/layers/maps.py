"""Class panels side by side: one explanation map as napari layers that read at a glance.

:func:`panel_layers` lays out the class panels of one map (any number of classes: a row, a
2 x 2 grid for four) over the cage layout, each with its class name and number of animals
written above it, on one shared sequential colour scale; the differences of the class panels
sit beside them on a diverging scale (white: no difference), with the significant places
ringed and a colour bar whose ends say which classes are higher. The maps' only leading axes
become sliders named after what they move: ``channel`` (activation maps: every class panel
shows that channel) and ``contrast`` (the difference panel, its rings, title and colour bar
labels show that comparison).

:func:`maps_file_layers` builds these layers from a maps file (``maps.nc`` of ``mousestop
explain``) reading only the variables of the map shown; :func:`outlined_text` writes text
that reads on any background (white letters outlined in black).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_mousestop.gui.layers.recordings import SPACE_LABELS, SPACE_UNITS, LayerDataTuple
from napari_mousestop.io.geometry import Placement
from napari_mousestop.io.layout import CageLayout, load_layout

PANEL_COLORMAP = "viridis"
"""Sequential colour map of the class panels (one scale shared by every panel)."""
DIFFERENCE_COLORMAP = "bwr"
"""Diverging colour map of the differences: blue, white (no difference), red."""
TEXT_SIZE = 0.04
"""Text size, as a fraction of the floor (napari draws it about 1.6 times that tall, in cm)."""
MAPS_KEY = "maps_file"
"""Metadata key naming the maps file a layer was read from."""
_OUTLINE = ((1, 1), (-1, 1), (1, -1), (-1, -1))
_SKIPPED = ("difference", "statistic", "pvalue", "mask")


@dataclass
class Panels:
    """One map's class panels and differences, ready to lay out.

    Attributes
    ----------
    name
        The map's name (e.g. ``"occlusion_space"``), prefix of every layer's name.
    classes, n_per_class
        Class names and animals averaged per class.
    panels
        ``(class, h, w)`` or ``(class, channel, h, w)`` (activation maps).
    placement
        Where the panels' pixel centres lie on one cage floor, in cm.
    units, description
        Of the panel values (colour bar) and of the map (status text).
    contrasts
        Names of the differences (e.g. ``"AF - AM"``); empty without differences.
    difference, significant
        ``(contrast, h, w)`` (the first classes of a contrast minus the second) and the places
        a test found significant, or None.
    red, blue
        What red and blue mean for each contrast (``"AF higher than AM"``...).
    diff_placement
        Placement of the differences (the panels' by default).
    diff_axis
        What the leading axis of ``difference`` is: ``"contrast"`` (one difference per
        contrast), or ``"channel"`` (one contrast, one difference per channel of activation
        panels).
    """

    name: str
    classes: tuple[str, ...]
    n_per_class: tuple[int | None, ...]
    panels: np.ndarray
    placement: Placement
    units: str = ""
    description: str = ""
    contrasts: tuple[str, ...] = ()
    difference: np.ndarray | None = None
    significant: np.ndarray | None = None
    red: tuple[str, ...] = ()
    blue: tuple[str, ...] = ()
    diff_placement: Placement | None = None
    diff_axis: str = "contrast"


def grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns of ``n`` class panels: a 2 x 2 grid for four, else one row."""
    return (2, 2) if n == 4 else (1, max(n, 1))


def outlined_text(
    positions: Sequence[Sequence[float]],
    texts: Sequence[str],
    name: str,
    size: float,
    anchor: str = "lower_left",
    ndim: int = 2,
    axis_labels: Sequence[str] = SPACE_LABELS,
    units: Sequence[str] = SPACE_UNITS,
) -> LayerDataTuple:
    """Text in world units (cm) that reads on any background: white letters over a black
    outline (the text drawn four times, shifted diagonally, in black, then once in white).

    Parameters
    ----------
    positions
        One point per text, ``ndim`` coordinates (leading ones: the slider position on which the
        text is shown, e.g. the contrast).
    texts
        The texts.
    name
        Layer name.
    size
        Text height in cm (the text scales with the zoom).
    anchor
        Where each point sits on its text (napari's text anchors).
    """
    pos = np.asarray(positions, dtype=float).reshape(-1, ndim)
    shift = 0.06 * size
    parts, strings, ink = [], [], []
    for dy, dx in (*_OUTLINE, (0.0, 0.0)):
        moved = pos.copy()
        moved[:, -2] += dy * shift
        moved[:, -1] += dx * shift
        parts.append(moved)
        strings += list(texts)
        ink += ["white" if (dy, dx) == (0.0, 0.0) else "black"] * len(texts)
    kwargs = {
        "name": name,
        "features": pd.DataFrame({"text": strings, "ink": ink}),
        "text": {
            "string": "{text}",
            "color": {"feature": "ink"},
            "size": float(size),
            "scaling": True,
            "anchor": anchor,
        },
        "size": 0.0,
        "face_color": "transparent",
        "border_color": "transparent",
        "border_width": 0.0,
        "axis_labels": tuple(axis_labels),
        "units": tuple(units),
    }
    return np.concatenate(parts) if parts else np.zeros((0, ndim)), kwargs, "points"


def _limits(data: np.ndarray, symmetric: bool) -> tuple[float, float]:
    finite = data[np.isfinite(data)]
    if not finite.size:
        return (-1.0, 1.0) if symmetric else (0.0, 1.0)
    if symmetric:
        lim = float(np.abs(finite).max()) or 1.0
        return (-lim, lim)
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi if hi > lo else lo + 1.0)


def _fmt(value: float) -> str:
    return f"{value:+.3g}" if value else "0"


def _colour_bars(bars: Sequence[tuple[float, float, float, float, str, tuple]]) -> LayerDataTuple:
    """Horizontal colour bars ``(y, x, width, height, colormap, limits)`` in cm, drawn as one
    RGBA image (transparent around the bars) on a grid of ``height / 4`` cm."""
    from napari.utils.colormaps import ensure_colormap

    step = min(b[3] for b in bars) / 4
    y0, x0 = min(b[0] for b in bars), min(b[1] for b in bars)
    h = int(np.ceil((max(b[0] + b[3] for b in bars) - y0) / step))
    w = int(np.ceil((max(b[1] + b[2] for b in bars) - x0) / step))
    rgba = np.zeros((h, w, 4), dtype=np.float32)
    for y, x, width, height, colormap, _ in bars:
        r0, c0 = int(round((y - y0) / step)), int(round((x - x0) / step))
        n_r, n_c = int(round(height / step)), int(round(width / step))
        ramp = ensure_colormap(colormap).map(np.linspace(0.0, 1.0, n_c))
        rgba[r0 : r0 + n_r, c0 : c0 + n_c] = ramp[None]
    kwargs = {
        "scale": (step, step),
        "translate": (y0 + step / 2, x0 + step / 2),
        "rgb": True,
        "axis_labels": SPACE_LABELS,
        "units": SPACE_UNITS,
        "metadata": {"bars": [{"colormap": b[4], "limits": list(b[5])} for b in bars]},
    }
    return rgba, kwargs, "image"


def layout_outline(
    layout: CageLayout, origins: Sequence[tuple[float, float]], name: str, width_cm: float = 0.4
) -> LayerDataTuple:
    """The cage layout's outlines drawn over every floor origin, as one Vectors layer (one
    segment per edge, ellipses as 32-gons): much faster to add than a Shapes layer."""
    from matplotlib.colors import to_rgba

    segments, colours = [], []
    for shape in layout.shapes:
        pts = shape.outline(32)
        closed = shape.kind not in ("line", "path")
        ends = np.roll(pts, -1, axis=0) if closed else pts[1:]
        starts = pts if closed else pts[:-1]
        for a, b in zip(starts, ends, strict=True):
            segments.append((a, b - a))
            colours.append(to_rgba(shape.color))
    seg = np.asarray(segments, dtype=float).reshape(-1, 2, 2)
    data = np.concatenate([seg + np.array([[o[0], o[1]], [0.0, 0.0]]) for o in origins])
    kwargs = {
        "name": name,
        "edge_width": width_cm,
        "edge_color": np.tile(np.asarray(colours, dtype=float).reshape(-1, 4), (len(origins), 1)),
        "vector_style": "line",
        "axis_labels": SPACE_LABELS,
        "units": SPACE_UNITS,
        "metadata": {"layout": layout.to_dict()},
    }
    return data, kwargs, "vectors"


def _pitch(size_cm: float, pixel_cm: float) -> int:
    return int(np.ceil(size_cm / pixel_cm))


def panel_layers(
    p: Panels,
    layout: CageLayout | None = None,
    floor_cm: tuple[float, float] = (50.0, 50.0),
    metadata: dict | None = None,
) -> list[LayerDataTuple]:
    """The layers of one map: class panels side by side, the difference beside them.

    Few layers, so that they open fast: the class panels are one image (each panel in its cell
    of the grid, blank between them), the colour bars one image.

    Parameters
    ----------
    p
        The panels (:class:`Panels`).
    layout
        Cage layout drawn over every panel (None: the default).
    floor_cm
        Size (y, x) of one cage floor: the panels' pitch.
    metadata
        Added to every layer's metadata (e.g. the maps file).

    Returns
    -------
    list
        Layer data tuples, bottom first: ``"<map>: classes"`` (every class panel, slider
        ``channel`` for activation maps; metadata ``"cells"``: each class's name, n and cell
        in cm), ``"<map>: difference"`` (slider ``contrast``), ``"<map>: colour bars"``,
        ``"<map>: layout"``, ``"<map>: significant"`` (only with significant places),
        ``"<map>: labels"`` (class names and n, colour bar ends, the layout's labels in the
        first panel: outlined text) and ``"<map>: contrast labels"`` (the
        contrast shown and what red and blue mean).
    """
    layout = layout or load_layout()
    meta = {"map": p.name, **(metadata or {})}
    n = len(p.classes)
    rows, cols = grid_shape(n)
    fy, fx = float(floor_cm[0]), float(floor_cm[1])
    text = TEXT_SIZE * min(fy, fx)
    bar_h = 0.05 * fy
    sy, sx = (float(s) for s in p.placement.scale)
    # the pitch is a whole number of pixels: every panel sits on the same image grid
    tall = 1.7 * text  # height of a line of text as napari draws it
    py = _pitch(fy + 2.5 * tall, sy)
    px = _pitch(fx + 2.0 * tall, sx)
    pitch_y, pitch_x = py * sy, px * sx
    channel = p.panels.ndim == 4
    lead = ("channel",) if channel else ()
    h, w = p.panels.shape[-2:]
    mosaic = np.full(
        (*p.panels.shape[1:-2], (rows - 1) * py + h, (cols - 1) * px + w), np.nan, np.float32
    )
    limits = _limits(p.panels, symmetric=False)
    origins: list[tuple[float, float]] = []
    cells, texts, where = [], [], []
    for k, cls in enumerate(p.classes):
        r, c = divmod(k, cols)
        mosaic[..., r * py : r * py + h, c * px : c * px + w] = p.panels[k]
        oy, ox = r * pitch_y, c * pitch_x
        origins.append((oy, ox))
        count = p.n_per_class[k] if k < len(p.n_per_class) else None
        label = f"{cls} (n={count})" if count is not None else cls
        cells.append({"class": cls, "n_animals": count, "label": label,
                      "origin_cm": [oy, ox], "floor_cm": [fy, fx]})  # fmt: skip
        texts.append(label)
        where.append((oy - 0.3 * tall, ox))
    layers: list[LayerDataTuple] = [(
        mosaic,
        {
            "name": f"{p.name}: classes",
            "scale": (1.0,) * len(lead) + (sy, sx),
            "translate": (0.0,) * len(lead) + tuple(p.placement.translate),
            "axis_labels": lead + SPACE_LABELS,
            "units": ("",) * len(lead) + SPACE_UNITS,
            "colormap": PANEL_COLORMAP,
            "contrast_limits": limits,
            "interpolation2d": "nearest",
            "metadata": {**meta, "role": "classes", "cells": cells,
                         "description": p.description, "units": p.units},
        },
        "image",
    )]  # fmt: skip
    bar_y = (rows - 1) * pitch_y + fy + 0.5 * tall
    bar_w = (cols - 1) * pitch_x + fx if cols > 1 else fx
    bars = [(bar_y, 0.0, bar_w, bar_h, PANEL_COLORMAP, limits)]
    units = f" {p.units}" if p.units else ""
    below = bar_y + bar_h + 0.2 * tall
    texts += [f"{_fmt(limits[0])}{units}", f"{_fmt(limits[1])}{units}"]
    where += [(below + tall, 0.0), (below + tall, bar_w - 0.6 * tall * len(texts[-1]))]
    contrast_texts: list[LayerDataTuple] = []
    rings: list[LayerDataTuple] = []
    by_channel = p.diff_axis == "channel"
    if p.difference is not None and len(p.contrasts) and channel == by_channel:
        dp = p.diff_placement or p.placement
        oy, ox = 0.0, cols * pitch_x + 2.0 * tall
        origins.append((oy, ox))
        dlim = _limits(p.difference, symmetric=True)
        axis = p.diff_axis
        layers.append((
            np.asarray(p.difference, dtype=np.float32),
            {
                "name": f"{p.name}: difference",
                "scale": (1.0, *dp.scale),
                "translate": (0.0, dp.translate[0] + oy, dp.translate[1] + ox),
                "axis_labels": (axis, *SPACE_LABELS),
                "units": ("", *SPACE_UNITS),
                "colormap": DIFFERENCE_COLORMAP,
                "contrast_limits": dlim,
                "interpolation2d": "nearest",
                "metadata": {**meta, "role": "difference", "contrasts": list(p.contrasts),
                             "origin_cm": [oy, ox],
                             "legend": {c: {"red": r, "blue": b} for c, r, b in
                                        zip(p.contrasts, p.red, p.blue, strict=False)}},
            },
            "image",
        ))  # fmt: skip
        by = oy + fy + 0.5 * tall
        bars.append((by, ox, fx, bar_h, DIFFERENCE_COLORMAP, dlim))
        dbelow = by + bar_h + 0.2 * tall
        ends = [_fmt(dlim[0]), _fmt(dlim[1])]  # one scale for every contrast
        texts += ends
        where += [(dbelow + tall, ox), (dbelow + tall, ox + fx - 0.6 * tall * len(ends[1]))]
        spots = [(oy - 0.3 * tall, ox), (dbelow + 2.2 * tall, ox), (dbelow + 3.4 * tall, ox)]
        strings = []
        for c, b, r in zip(p.contrasts, p.blue, p.red, strict=True):
            strings += [f"{c} (difference)", f"blue: {b}", f"red: {r}"]
        if by_channel or len(p.contrasts) == 1:  # one contrast: its labels drawn once
            texts += strings[:3]
            where += spots
        else:
            n_c = len(p.contrasts)
            ks = np.repeat(np.arange(n_c, dtype=float), 3)
            contrast_texts.append(outlined_text(
                np.column_stack([ks, np.tile(spots, (n_c, 1))]), strings,
                f"{p.name}: contrast labels", text, ndim=3,
                axis_labels=(axis, *SPACE_LABELS), units=("", *SPACE_UNITS),
            ))  # fmt: skip
        if p.significant is not None and np.any(p.significant):  # no layer for no rings
            c, r, q = np.nonzero(np.asarray(p.significant, dtype=bool))
            ys, xs = dp.centres(p.significant.shape[-2:])
            pts = np.column_stack([c, ys[r] + oy, xs[q] + ox]).astype(float).reshape(-1, 3)
            rings.append((
                pts,
                {
                    "name": f"{p.name}: significant",
                    "symbol": "ring",
                    "size": 0.7 * float(min(dp.scale)),
                    "face_color": "black",
                    "border_width": 0.0,
                    "axis_labels": (axis, *SPACE_LABELS),
                    "units": ("", *SPACE_UNITS),
                    "metadata": {**meta, "role": "significant"},
                },
                "points",
            ))  # fmt: skip
    bar_layer = _colour_bars(bars)
    bar_layer[1].update(name=f"{p.name}: colour bars")
    bar_layer[1]["metadata"].update(meta, role="colour bars")
    outline = layout_outline(layout, origins, f"{p.name}: layout")
    outline[1]["metadata"].update(meta, role="layout")
    # the layout's labels once, in the first panel: the others are the same cage
    for s in layout.shapes:
        if s.text:
            cy, cx = np.asarray(s.vertices, dtype=float).mean(axis=0)
            texts.append(s.text)
            where.append((cy + tall / 2, cx - 0.3 * tall * len(s.text)))
    labels = outlined_text(where, texts, f"{p.name}: labels", text)
    labels[1]["metadata"] = {**meta, "role": "text"}
    for t in contrast_texts:
        t[1]["metadata"] = {**meta, "role": "text"}
    return [*layers, bar_layer, outline, *rings, labels, *contrast_texts]


# -- maps files ----------------------------------------------------------------------------------

_NAME = re.compile(r"^(?P<family>.+?)(?:_k(?P<k>\d+))?(?:_(?P<stage>relu|pool))?$")


def _text(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(values)]


def _attr(attrs: Any, key: str, default: Any = None) -> Any:
    value = attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else value


def panel_maps(f: Any) -> list[str]:
    """Names of the class-panel maps of an open maps file (:class:`h5netcdf.File`), in order."""
    out = []
    for name, var in f.variables.items():
        dims = var.dimensions
        if (_attr(var.attrs, "kind") in _SKIPPED or not dims or dims[0] != "class"
                or not dims[-1].startswith("x_")):  # fmt: skip
            continue
        out.append(str(name))
    return out


def split_name(name: str) -> tuple[str, str]:
    """``(map, branch)`` of a map's name: ``"activation_k3_relu"`` -> ``("activation after
    ReLU", "3x3")``, ``"contribution"`` -> ``("contribution", "whole model")``."""
    m = _NAME.match(name)
    if m is None:  # pragma: no cover - the pattern matches any non-empty name
        return name, "whole model"
    family = m["family"]
    if m["stage"]:
        family += " after ReLU" if m["stage"] == "relu" else " after pooling"
    return family, f"{m['k']}x{m['k']}" if m["k"] else "whole model"


def _placement(f: Any, name: str) -> Placement:
    """Placement (cm) of a variable whose last two dimensions are its y and x grid."""
    var = f.variables[name]
    if "scale_cm" in var.attrs:
        scale = tuple(float(v) for v in np.ravel(var.attrs["scale_cm"]))
        translate = tuple(float(v) for v in np.ravel(var.attrs["translate_cm"]))
        return Placement(scale, translate)  # type: ignore[arg-type]
    ys, xs = (np.asarray(f.variables[d][:], dtype=float) for d in var.dimensions[-2:])
    scale = tuple(float(c[1] - c[0]) if len(c) > 1 else 1.0 for c in (ys, xs))
    return Placement(scale, (float(ys[0]), float(xs[0])))  # type: ignore[arg-type]


def read_panels(f: Any, name: str) -> Panels:
    """The :class:`Panels` of map ``name`` of an open maps file (only its variables are read).

    Parameters
    ----------
    f
        The maps file (``maps.nc``) opened with :class:`h5netcdf.File` (read-only): a light
        reader that opens it in milliseconds.
    name
        A class-panel map (:func:`panel_maps`).
    """
    var = f.variables[name]
    meta = json.loads(_attr(var.attrs, "meta", "{}"))
    classes = tuple(_text(f.variables["class"][:]))
    counts = meta.get("n_per_class") or [None] * len(classes)
    out = Panels(
        name=name,
        classes=classes,
        n_per_class=tuple(None if c is None else int(c) for c in counts),
        panels=np.asarray(var[...], dtype=np.float32),
        placement=_placement(f, name),
        units=str(_attr(var.attrs, "units", "")),
        description=str(_attr(var.attrs, "long_name", name)),
    )
    diff_name = f"{name}_difference"
    if diff_name in f.variables and f.variables[diff_name].dimensions[0] == "contrast":
        diff = f.variables[diff_name]
        contrasts = tuple(_text(f.variables["contrast"][:]))
        legends = json.loads(_attr(diff.attrs, "meta", "{}")).get("legends", {})
        red = [legends.get(c, {}).get("red") for c in contrasts]
        blue = [legends.get(c, {}).get("blue") for c in contrasts]
        if "contrast_red" in f.variables:
            red = [r or v for r, v in zip(red, _text(f.variables["contrast_red"][:]), strict=True)]
            blue = [b or v for b, v in
                    zip(blue, _text(f.variables["contrast_blue"][:]), strict=True)]  # fmt: skip
        sig_name = f"{name}_significant"
        out.contrasts = contrasts
        out.difference = np.asarray(diff[...], dtype=np.float32)
        if sig_name in f.variables:
            out.significant = np.asarray(f.variables[sig_name][...], dtype=bool)
        if out.difference.ndim == 4 and len(contrasts) == 1:  # one contrast of activations
            out.difference, out.diff_axis = out.difference[0], "channel"
            if out.significant is not None:
                out.significant = out.significant[0]
        out.red = tuple(r or f"{c.split(' - ')[0]} higher" for r, c in
                        zip(red, contrasts, strict=True))  # fmt: skip
        out.blue = tuple(b or f"{c.split(' - ')[-1]} higher" for b, c in
                         zip(blue, contrasts, strict=True))  # fmt: skip
        out.diff_placement = _placement(f, diff_name)
    return out


def file_floor_cm(f: Any) -> tuple[float, float]:
    """The cage floor (y, x) in cm recorded in a maps file's dataset parameters (else 50 x 50)."""
    try:
        params = json.loads(_attr(f.attrs, "dataset_params", "{}"))
        floor = params["geometry"]["floor_cm"]
        return float(floor[0]), float(floor[1])
    except (KeyError, TypeError, ValueError, IndexError):
        return (50.0, 50.0)


def maps_file_layers(
    path: str | Path, name: str | None = None, layout: CageLayout | None = None
) -> list[LayerDataTuple]:
    """Layers of one map of a maps file (default: its primary map, else the first).

    Parameters
    ----------
    path
        The maps file (``maps.nc``); only the map's own variables are read. Every layer keeps
        it in its metadata (``"maps_file"``), with the names of all its maps (``"maps"``), so
        the Maps dock can switch map.
    name
        The map to show.
    layout
        Cage layout drawn over every panel.
    """
    import h5netcdf

    with h5netcdf.File(path, "r") as f:
        names = panel_maps(f)
        if not names:
            raise ValueError(f"{path}: no class panels in the maps file")
        if name is None:
            primary = _attr(f.attrs, "primary_map")
            name = primary if primary in names else names[0]
        if name not in names:
            raise ValueError(f"{path}: no map {name!r}; choose from {names}")
        panels, floor = read_panels(f, name), file_floor_cm(f)
    return panel_layers(panels, layout, floor, {MAPS_KEY: str(path), "maps": names})
