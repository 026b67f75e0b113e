"""Explanation maps of :class:`~napari_mousestop.model.StopCNN`, placed over the cage in cm.

Two families of maps:

* **Activation maps** (:func:`activation_maps`): the post-ReLU and post-pool maps of every
  channel of every branch. Channel ``k`` only means something inside one model, so per-channel
  class averages must come from a single model (the final all-data model), never be pooled
  across the fold models of cross-validation.
* **Evidence maps**, which do not depend on channel identity and can therefore be computed out of
  fold (:func:`out_of_fold`: each animal explained by the fold model that never saw its cage):
  exact linear contributions (:func:`contribution_maps`), Grad-CAM (:func:`gradcam_maps`),
  spatial occlusion (:func:`occlusion_space`) and occlusion over hours (:func:`occlusion_hours`).

Every spatial map is an :class:`ExplanationMap` whose last two axes are (y, x) and whose
``placement`` puts each pixel centre over the centre of its receptive field on the cage floor
(:func:`~napari_mousestop.geometry.feature_map_placement`). Class averages and statistics live in
:mod:`napari_mousestop.explain_stats`; files and figures in :mod:`napari_mousestop.explain_output`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import torch

from .geometry import CageGeometry, Placement, feature_map_placement, grid_placement
from .model import StopCNN


class Scaler(Protocol):
    """Anything with ``transform(X) -> X`` (e.g. ``training.InputScaler``)."""

    def transform(self, X: np.ndarray) -> np.ndarray: ...


@dataclass
class ExplanationMap:
    """An array of maps over the cage floor, with its placement in cm.

    Attributes
    ----------
    name
        Unique name, e.g. ``"contribution_k3"``; used as file name.
    data
        Array whose last two axes are (y, x); the leading axes are named in ``axes``, e.g.
        ``("sample", "class", "y", "x")`` for per-animal evidence, ``("class", "y", "x")`` for
        class averages, ``("class", "channel", "y", "x")`` for per-channel activations.
    placement
        Scale and translate (y, x) in cm of the last two axes (napari draws pixel ``i`` at
        ``translate + i * scale``).
    classes
        Class names (the labels of a ``"class"`` axis).
    kind
        ``"activation"``, ``"contribution"``, ``"gradcam"``, ``"occlusion"``, ``"input"``,
        ``"difference"``, ``"statistic"``, ``"pvalue"`` or ``"mask"``.
    axes
        Names of all axes of ``data``.
    meta
        Anything else worth keeping (branch, kernel size, layer, model, counts...).
    """

    name: str
    data: np.ndarray
    placement: Placement
    classes: tuple[str, ...]
    kind: str
    axes: tuple[str, ...] = ("class", "y", "x")
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data)
        self.classes = tuple(self.classes)
        self.axes = tuple(self.axes)
        if len(self.axes) != self.data.ndim:
            raise ValueError(
                f"map {self.name!r}: axes {self.axes} do not fit shape {self.data.shape}"
            )


@dataclass
class HourProfile:
    """Importance of each of the T hours (occlusion over time).

    ``data`` has axes ``axes`` ending with ``"hour"``: ``("sample", "class", "hour")`` per animal,
    ``("class", "hour")`` as class averages. ``interval_h`` is the length of one interval in hours.
    """

    name: str
    data: np.ndarray
    classes: tuple[str, ...]
    kind: str = "occlusion_hours"
    axes: tuple[str, ...] = ("sample", "class", "hour")
    interval_h: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)


def _prepare(model: StopCNN, X: np.ndarray, scaler: Scaler | None) -> torch.Tensor:
    X = np.asarray(X, dtype=np.float32)
    cfg = model.config
    if X.ndim != 4 or X.shape[1:] != (cfg.n_intervals, cfg.n_bins, cfg.n_bins):
        raise ValueError(
            f"samples of shape {X.shape[1:]} do not fit the model "
            f"(T={cfg.n_intervals}, N={cfg.n_bins})"
        )
    if scaler is not None:
        X = np.asarray(scaler.transform(X), dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(X))


def _param(model: StopCNN) -> torch.nn.Parameter:
    return next(model.parameters())


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _classes(model: StopCNN, classes: Sequence[str] | None) -> tuple[str, ...]:
    if classes is None:
        return tuple(f"class{i}" for i in range(model.config.n_classes))
    return tuple(classes)


def activation_maps(
    model: StopCNN,
    X: np.ndarray,
    scaler: Scaler | None = None,
    geometry: CageGeometry | None = None,
    classes: Sequence[str] | None = None,
    batch_size: int = 64,
) -> list[ExplanationMap]:
    """Post-ReLU and post-pool maps of every channel, per sample, via forward hooks.

    Parameters
    ----------
    model
        A trained model (put in eval mode here).
    X
        Samples (n, T, N, N), raw if ``scaler`` is given, else already scaled.
    scaler
        The model's input scaler, applied to ``X`` first.
    geometry
        Cage geometry for the placement (mouse cage by default).
    classes
        Class names stored with the maps.
    batch_size
        Samples per forward pass.

    Returns
    -------
    list of ExplanationMap
        Two per branch, named ``activation_k{k}_relu`` (conv resolution) and
        ``activation_k{k}_pool``, data (n, channels, h, w),
        axes ``("sample", "channel", "y", "x")``.
    """
    model.eval()
    x = _prepare(model, X, scaler)
    store: dict[tuple[int, str], list[np.ndarray]] = {}
    hooks = []
    for b, branch in enumerate(model.branches):
        for layer in ("relu", "pool"):

            def hook(_m, _inp, out, key=(b, layer)):
                store.setdefault(key, []).append(out.detach().cpu().numpy())

            hooks.append(getattr(branch, layer).register_forward_hook(hook))
    try:
        with torch.no_grad():
            for sl in _batches(len(x), batch_size):
                model(x[sl].to(_param(model).device))
    finally:
        for h in hooks:
            h.remove()
    n_bins, pool = model.config.n_bins, model.config.pool
    maps = []
    for b, branch in enumerate(model.branches):
        k = branch.kernel_size
        for layer, p in (("relu", 1), ("pool", pool)):
            maps.append(
                ExplanationMap(
                    name=f"activation_k{k}_{layer}",
                    data=np.concatenate(store[(b, layer)]),
                    placement=feature_map_placement(n_bins, k, p, geometry),
                    classes=_classes(model, classes),
                    kind="activation",
                    axes=("sample", "channel", "y", "x"),
                    meta={"branch": b, "kernel_size": k, "layer": layer, "pool": p},
                )
            )
    return maps


def contribution_maps(
    model: StopCNN,
    X: np.ndarray,
    scaler: Scaler | None = None,
    geometry: CageGeometry | None = None,
    classes: Sequence[str] | None = None,
    batch_size: int = 64,
) -> list[ExplanationMap]:
    """Exact linear contributions of each pooled location to each class logit, per branch.

    For branch ``k`` with pooled activations ``a[ch, y, x]`` and the classifier weights of class
    ``c`` reshaped to the same layout, ``W_c[ch, y, x]``, the map is
    ``sum_ch W_c[ch, y, x] * a[ch, y, x]``. Summed over both branches and all locations it equals
    the logit of class ``c`` minus its bias, exactly: the maps split each decision over the cage.

    Returns
    -------
    list of ExplanationMap
        One per branch, ``contribution_k{k}``, data (n, classes, h, w), axes
        ``("sample", "class", "y", "x")``, at the pooled placement.
    """
    model.eval()
    x = _prepare(model, X, scaler)
    cfg = model.config
    weight = model.classifier.weight.detach().cpu().double()
    per_branch: list[list[np.ndarray]] = [[] for _ in model.branches]
    with torch.no_grad():
        for sl in _batches(len(x), batch_size):
            feats = model.features(x[sl].to(_param(model).device))
            offset = 0
            for b, f in enumerate(feats):
                f = f.detach().cpu().double()
                size = f[0].numel()
                w = weight[:, offset : offset + size].reshape(cfg.n_classes, *f.shape[1:])
                offset += size
                per_branch[b].append(torch.einsum("nkyx,ckyx->ncyx", f, w).numpy())
    return [
        ExplanationMap(
            name=f"contribution_k{branch.kernel_size}",
            data=np.concatenate(per_branch[b]),
            placement=feature_map_placement(cfg.n_bins, branch.kernel_size, cfg.pool, geometry),
            classes=_classes(model, classes),
            kind="contribution",
            axes=("sample", "class", "y", "x"),
            meta={"branch": b, "kernel_size": branch.kernel_size, "pool": cfg.pool},
        )
        for b, branch in enumerate(model.branches)
    ]


def gradcam_maps(
    model: StopCNN,
    X: np.ndarray,
    scaler: Scaler | None = None,
    geometry: CageGeometry | None = None,
    classes: Sequence[str] | None = None,
    relu_attributions: bool = True,
) -> list[ExplanationMap]:
    """Grad-CAM of each branch's ReLU layer for every class (captum's ``LayerGradCam``).

    Each channel of the ReLU output is weighted by the mean gradient of the class logit over its
    locations; the weighted sum over channels (then a ReLU, as in Grad-CAM, unless
    ``relu_attributions`` is False) is the map. It sits at conv resolution (no pooling).

    Returns
    -------
    list of ExplanationMap
        One per branch, ``gradcam_k{k}``, data (n, classes, h, w), axes
        ``("sample", "class", "y", "x")``.
    """
    from captum.attr import LayerGradCam

    model.eval()
    x = _prepare(model, X, scaler).to(_param(model).device)
    cfg = model.config
    maps = []
    for b, branch in enumerate(model.branches):
        cam = LayerGradCam(model, branch.relu)
        per_class = [
            cam.attribute(x, target=c, relu_attributions=relu_attributions)
            .detach()
            .cpu()
            .numpy()[:, 0]
            for c in range(cfg.n_classes)
        ]
        maps.append(
            ExplanationMap(
                name=f"gradcam_k{branch.kernel_size}",
                data=np.stack(per_class, axis=1),
                placement=feature_map_placement(cfg.n_bins, branch.kernel_size, 1, geometry),
                classes=_classes(model, classes),
                kind="gradcam",
                axes=("sample", "class", "y", "x"),
                meta={"branch": b, "kernel_size": branch.kernel_size, "layer": "relu"},
            )
        )
    return maps


def _score(model: StopCNN, x: np.ndarray, scaler: Scaler | None, measure: str) -> np.ndarray:
    if scaler is not None:
        x = scaler.transform(x)
    with torch.no_grad():
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(_param(model).device)
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
    X = np.asarray(_prepare(model, X, None).numpy())
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
        classes=_classes(model, classes),
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
    X = np.asarray(_prepare(model, X, None).numpy())
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
        for sl in _batches(len(windows), batch_size):
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
        classes=_classes(model, classes),
        kind="occlusion",
        axes=("sample", "class", "y", "x"),
        meta={"patch": patch, "stride": stride, "measure": measure},
    )


def input_maps(
    X: np.ndarray, geometry: CageGeometry | None = None, classes: Sequence[str] = ()
) -> ExplanationMap:
    """The stop histograms themselves, summed over hours: ``input``, data (n, N, N)."""
    X = np.asarray(X, dtype=np.float64)
    return ExplanationMap(
        name="input",
        data=X.sum(axis=1),
        placement=grid_placement(X.shape[-1], geometry),
        classes=tuple(classes),
        kind="input",
        axes=("sample", "y", "x"),
        meta={"summed_over": "hours"},
    )


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
) -> list[ExplanationMap | HourProfile]:
    """All evidence maps in ``which`` for one model and its samples (see :data:`EVIDENCE`)."""
    unknown = set(which) - set(EVIDENCE)
    if unknown:
        raise ValueError(f"unknown evidence maps {sorted(unknown)}; choose from {EVIDENCE}")
    out: list[ExplanationMap | HourProfile] = []
    if "contribution" in which:
        out += contribution_maps(model, X, scaler, geometry, classes)
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
            fold.model, X[idx], fold.scaler, geometry, classes, which, patch, stride
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
