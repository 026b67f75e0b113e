"""Occlusion maps: how much each class score drops when hours or places are emptied.

Occlusion asks the model directly: remove this animal's stops in one hour (or in one small
square of the floor, in all hours) and see how the class scores change. Unlike gradients it
needs no linearity, unlike contributions it needs no knowledge of the architecture; it costs one
forward pass per hour or per square.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from napari_mousestop.explain.maps import (
    ExplanationMap,
    HourProfile,
    Scaler,
    batch_slices,
    class_names,
    first_parameter,
    prepare_inputs,
)
from napari_mousestop.io.geometry import CageGeometry, Placement, grid_placement
from napari_mousestop.learning.model import StopCNN


def _score(model: StopCNN, x: np.ndarray, scaler: Scaler | None, measure: str) -> np.ndarray:
    if scaler is not None:
        x = scaler.transform(x)
    with torch.no_grad():
        device = first_parameter(model).device
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
        out = model(t)
        if measure == "proba":
            out = torch.softmax(out, dim=1)
    return out.cpu().double().numpy()


def _check_measure(measure: str) -> None:
    if measure not in ("logit", "proba"):
        raise ValueError(f"measure must be 'logit' or 'proba', got {measure!r}")


def occlusion_hours(
    model: StopCNN,
    X: np.ndarray,
    scaler: Scaler | None = None,
    classes: Sequence[str] | None = None,
    measure: str = "logit",
    interval_h: float = 1.0,
) -> HourProfile:
    """Drop of each class score when one hour's histogram is zeroed (no stops that hour).

    Hours are zeroed in ``X`` as given (raw counts when ``scaler`` is given), then scaled.

    Returns
    -------
    HourProfile
        data (n, classes, T): score with all hours minus score with hour t zeroed; positive
        where that hour's stops pushed the animal towards the class.
    """
    _check_measure(measure)
    model.eval()
    X = np.asarray(prepare_inputs(model, X, None).numpy())
    n, T = X.shape[:2]
    base = _score(model, X, scaler, measure)
    out = np.empty((n, model.config.n_classes, T))
    for i in range(n):
        batch = np.repeat(X[i : i + 1], T, axis=0)
        batch[np.arange(T), np.arange(T)] = 0.0
        out[i] = (base[i][None, :] - _score(model, batch, scaler, measure)).T
    return HourProfile(
        name="occlusion_hours",
        data=out,
        classes=class_names(model, classes),
        interval_h=interval_h,
        meta={"measure": measure},
    )


def occlusion_space(
    model: StopCNN,
    X: np.ndarray,
    scaler: Scaler | None = None,
    geometry: CageGeometry | None = None,
    classes: Sequence[str] | None = None,
    patch: int = 3,
    stride: int = 1,
    measure: str = "logit",
    batch_size: int = 256,
) -> ExplanationMap:
    """Drop of each class score when a ``patch x patch`` square of bins is zeroed in all hours.

    The square is centred on bins ``0, stride, 2*stride...`` along each axis (clipped at the
    floor's edge); the map pixel is drawn at the centre bin, so the map sits at input resolution
    (``stride`` 1) or on every ``stride``-th bin.

    Returns
    -------
    ExplanationMap
        ``occlusion_space``, data (n, classes, h, w), axes ``("sample", "class", "y", "x")``.
    """
    _check_measure(measure)
    if patch < 1 or stride < 1:
        raise ValueError(f"patch and stride must be >= 1, got {patch} and {stride}")
    model.eval()
    X = np.asarray(prepare_inputs(model, X, None).numpy())
    n, _, N, _ = X.shape
    centres = np.arange(0, N, stride)
    half = patch // 2
    windows = [
        (slice(max(cy - half, 0), cy - half + patch), slice(max(cx - half, 0), cx - half + patch))
        for cy in centres
        for cx in centres
    ]
    base = _score(model, X, scaler, measure)
    out = np.empty((n, model.config.n_classes, len(centres) ** 2))
    for i in range(n):
        for sl in batch_slices(len(windows), batch_size):
            batch = np.repeat(X[i : i + 1], sl.stop - sl.start, axis=0)
            for j, (wy, wx) in enumerate(windows[sl]):
                batch[j, :, wy, wx] = 0.0
            out[i, :, sl] = (base[i][None, :] - _score(model, batch, scaler, measure)).T
    geometry = geometry or CageGeometry.mouse()
    w_y, w_x = geometry.floor_cm[1] / N, geometry.floor_cm[0] / N
    placement = Placement(scale=(stride * w_y, stride * w_x), translate=(w_y / 2, w_x / 2))
    if stride == 1:
        placement = grid_placement(N, geometry)
    return ExplanationMap(
        name="occlusion_space",
        data=out.reshape(n, -1, len(centres), len(centres)),
        placement=placement,
        classes=class_names(model, classes),
        kind="occlusion",
        axes=("sample", "class", "y", "x"),
        meta={"patch": patch, "stride": stride, "measure": measure},
    )
