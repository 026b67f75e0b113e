"""Evidence maps of a whole cohort, out of fold, and of a training run folder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .explain import (
    ExplanationMap,
    HourProfile,
    Scaler,
    contribution_maps,
    gradcam_maps,
    total_contribution,
)
from .explain_occlusion import occlusion_hours, occlusion_space
from .geometry import CageGeometry
from .model import StopCNN

EVIDENCE = ("contribution", "gradcam", "occlusion_space", "occlusion_hours")
"""Evidence map families computed by :func:`out_of_fold`."""


def explain_model(
    model: StopCNN,
    X: np.ndarray,
    scaler: Scaler | None = None,
    geometry: CageGeometry | None = None,
    classes: Sequence[str] | None = None,
    which: Sequence[str] = EVIDENCE,
    patch: int = 3,
    stride: int = 1,
    baseline: str = "empty",
) -> list[ExplanationMap | HourProfile]:
    """All evidence maps in ``which`` for one model and its samples (see :data:`EVIDENCE`).

    Contributions come as the total over both branches on the input grid (``contribution``)
    and per branch (``contribution_k3``...), relative to an empty cage by default (``baseline``,
    see :func:`~napari_mousestop.explain.contribution_maps`).
    """
    unknown = set(which) - set(EVIDENCE)
    if unknown:
        raise ValueError(f"unknown evidence maps {sorted(unknown)}; choose from {EVIDENCE}")
    out: list[ExplanationMap | HourProfile] = []
    if "contribution" in which:
        branch_maps = contribution_maps(model, X, scaler, geometry, classes, baseline)
        out += [total_contribution(branch_maps, model.config.n_bins, geometry), *branch_maps]
    if "gradcam" in which:
        out += gradcam_maps(model, X, scaler, geometry, classes)
    if "occlusion_space" in which:
        out.append(occlusion_space(model, X, scaler, geometry, classes, patch, stride))
    if "occlusion_hours" in which:
        out.append(occlusion_hours(model, X, scaler, classes))
    return out


def out_of_fold(
    folds: Sequence[Any],
    X: np.ndarray,
    geometry: CageGeometry | None = None,
    classes: Sequence[str] | None = None,
    which: Sequence[str] = EVIDENCE,
    patch: int = 3,
    stride: int = 1,
    baseline: str = "empty",
    progress: Callable[[int, int], None] | None = None,
) -> list[ExplanationMap | HourProfile]:
    """Evidence maps of every sample, each computed by the fold model that never saw its cage.

    Parameters
    ----------
    folds
        Leave-one-cage-out folds, each with ``.model``, ``.scaler`` and ``.test_index`` (the
        samples of its held-out cage), e.g. ``training.CVResult.folds``.
    X
        All samples (n, T, N, N), raw (each fold's scaler is applied).
    progress
        Optional ``callable(done, total)`` called after each fold.

    Returns
    -------
    list
        The maps of :func:`explain_model`, with per-sample data in the order of ``X``.
    """
    X = np.asarray(X, dtype=np.float32)
    seen = np.zeros(len(X), dtype=int)
    merged: list[ExplanationMap | HourProfile] | None = None
    for f, fold in enumerate(folds):
        idx = np.asarray(fold.test_index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        seen[idx] += 1
        maps = explain_model(
            fold.model, X[idx], fold.scaler, geometry, classes, which, patch, stride, baseline
        )
        if merged is None:
            merged = [
                replace(m, data=np.zeros((len(X), *m.data.shape[1:])), meta=dict(m.meta))
                for m in maps
            ]
        for dst, src in zip(merged, maps, strict=True):
            dst.data[idx] = src.data
        if progress is not None:
            progress(f + 1, len(folds))
    if merged is None or (seen != 1).any():
        missing = np.flatnonzero(seen != 1)
        raise ValueError(
            f"folds must hold out every sample exactly once; samples {missing[:10].tolist()} "
            "are held out zero or several times"
        )
    for m in merged:
        m.meta["out_of_fold"] = True
        m.meta["n_folds"] = len(folds)
    return merged
