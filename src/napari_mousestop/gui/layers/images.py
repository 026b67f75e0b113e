"""Placed images -> napari layer data tuples: explanation maps and cage photos, in cm.

Companion of :mod:`.recordings` (stops, stacks, layout): a map carries a
:class:`~napari_mousestop.io.geometry.Placement` that puts each pixel over the centre of the cage
region it looks at; a photo is warped onto the floor by its four corners.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_mousestop.gui.layers.recordings import SPACE_LABELS, SPACE_UNITS, LayerDataTuple
from napari_mousestop.io.geometry import Placement
from napari_mousestop.io.layout import warp_photo


def map_to_image(
    data: Any,
    placement: Placement | None = None,
    name: str = "map",
    axis_labels: Sequence[str] | None = None,
    units: Sequence[str] | None = None,
    colormap: str = "inferno",
    contrast_limits: tuple[float, float] | None = None,
    metadata: dict | None = None,
    **kwargs: Any,
) -> LayerDataTuple:
    """An explanation map ``(..., h, w)`` as an Image layer placed by a :class:`Placement`.

    Parameters
    ----------
    data
        Array whose last two axes are (y, x); or an object with ``.placement``, ``.data`` and
        optionally ``.axes`` (:class:`napari_mousestop.explain.maps.ExplanationMap`).
    placement
        Where the map's pixel centres lie in cm (default: ``data.placement``).
    name
        Layer name.
    axis_labels, units
        Labels and units of the leading axes (default ``data.axes`` or ``"axis 0"``...,
        dimensionless);
        the last two axes are always ``("y", "x")`` in cm.
    colormap, contrast_limits, metadata
        Display settings; any other keyword goes to the layer.
    """
    if placement is None:
        placement = getattr(data, "placement", None)
        if placement is None:
            raise ValueError("map_to_image needs a Placement (or data with .placement)")
    arr = np.asarray(getattr(data, "data", data), dtype=np.float32)
    if arr.ndim < 2:
        raise ValueError(f"a map needs at least 2 axes (y, x), got shape {arr.shape}")
    lead = arr.ndim - 2
    if axis_labels is None and len(getattr(data, "axes", ())) == arr.ndim:
        axis_labels = tuple(data.axes[:-2])
    labels = (
        tuple(axis_labels) if axis_labels is not None else tuple(f"axis {i}" for i in range(lead))
    )
    lead_units = tuple(units) if units is not None else ("",) * lead
    if len(labels) != lead or len(lead_units) != lead:
        raise ValueError(
            f"give {lead} leading axis labels and units for a map of shape {arr.shape}"
        )
    if contrast_limits is None:
        finite = arr[np.isfinite(arr)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        contrast_limits = (lo, hi if hi > lo else lo + 1.0)
    layer_kwargs = {
        "name": name,
        "scale": (1.0,) * lead + tuple(placement.scale),
        "translate": (0.0,) * lead + tuple(placement.translate),
        "axis_labels": labels + SPACE_LABELS,
        "units": lead_units + SPACE_UNITS,
        "colormap": colormap,
        "contrast_limits": contrast_limits,
        "interpolation2d": "nearest",
        "metadata": dict(metadata or {}),
    }
    layer_kwargs.update(kwargs)
    return arr, layer_kwargs, "image"


def photo_to_image(
    photo: np.ndarray,
    corners_px: Any,
    name: str = "cage photo",
    floor_cm: tuple[float, float] = (50.0, 50.0),
    resolution_cm: float = 0.1,
    margin_cm: float = 2.0,
) -> LayerDataTuple:
    """A cage photo warped onto the floor by its four floor corners, as an Image layer in cm.

    See :func:`napari_mousestop.io.layout.photo_transform` for the corner order.
    """
    warped, p = warp_photo(photo, corners_px, floor_cm, resolution_cm, margin_cm)
    rgb = warped.ndim == 3 and warped.shape[-1] in (3, 4)
    kwargs = {
        "name": name,
        "scale": p.scale,
        "translate": p.translate,
        "axis_labels": SPACE_LABELS,
        "units": SPACE_UNITS,
        "rgb": rgb,
        "metadata": {"corners_px": np.asarray(corners_px, dtype=float).tolist()},
    }
    if warped.ndim == 3 and not rgb:
        raise ValueError(f"a photo must be grey or RGB(A), got shape {np.shape(photo)}")
    return warped, kwargs, "image"


_SKIPPED_KINDS = ("pvalue", "statistic")


def maps_to_layers(maps: dict[str, Any], visible: str | None = None) -> list[LayerDataTuple]:
    """Layers of a maps file (:func:`napari_mousestop.explain.files.load_maps`), in cm.

    One layer per map, its leading axes (class, contrast, channel) as sliders named in
    ``axis_labels``; the labels of each position are in ``metadata["labels"]``. Class panels and
    activations are Image layers, differences Image layers with a symmetric blue-white-red
    scale (red: the first classes of the contrast higher, ``metadata["legend"]``), significance
    masks Labels layers. Per-animal maps, p-values, statistics and hour profiles stay in the
    file. Only the maps named ``visible`` (and their differences) are shown at first.
    """
    layers: list[LayerDataTuple] = []
    for name, m in maps.items():
        if not hasattr(m, "placement") or m.axes[0] == "sample" or m.kind in _SKIPPED_KINDS:
            continue
        family = m.meta.get("long_name", name)
        meta = {"kind": m.kind, "map": name, "description": family, **_labels(m)}
        shown = visible is None or name == visible or name.startswith(f"{visible}_")
        if m.kind == "mask":
            data, kwargs, _ = map_to_image(m, name=name, metadata=meta)
            for key in ("colormap", "contrast_limits", "interpolation2d"):
                kwargs.pop(key)
            kwargs.update(opacity=0.5, visible=shown)
            layers.append((np.asarray(m.data, dtype=np.uint8), kwargs, "labels"))
            continue
        data = np.asarray(m.data, dtype=float)
        finite = data[np.isfinite(data)]
        signed = m.kind == "difference" or (finite.size and finite.min() < 0 < finite.max())
        limits = None
        if signed:
            lim = float(np.abs(finite).max()) if finite.size else 1.0
            limits = (-(lim or 1.0), lim or 1.0)
        layers.append(
            map_to_image(
                m,
                name=name,
                colormap="bwr" if signed else "inferno",
                contrast_limits=limits,
                metadata=meta,
                visible=shown,
            )
        )
    return layers


def _labels(m: Any) -> dict:
    """What each slider position of a map's leading axis is (class or contrast names)."""
    out: dict[str, Any] = {}
    if m.axes[0] in ("class", "contrast", "pair") and len(m.classes) == m.data.shape[0]:
        out["labels"] = {m.axes[0]: list(m.classes)}
    if m.kind == "difference":
        out["legend"] = (
            m.meta.get("legends")
            or m.meta.get("legend")
            or {
                "red": "the first classes of the contrast higher",
                "blue": "the second classes higher",
            }
        )
    return out
