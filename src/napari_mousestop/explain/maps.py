"""Explanation maps of the CNN (:class:`~napari_mousestop.learning.model.StopCNN`), in cage cm.

Two families of maps:

* **Activation maps** (:func:`activation_maps`): the post-ReLU and post-pool maps of every
  channel of every branch. Channel ``k`` only means something inside one model, so per-channel
  class averages must come from a single model (the final all-data model), never be pooled
  across the fold models of cross-validation.
* **Evidence maps**, which do not depend on channel identity and can therefore be computed out of
  fold (:func:`out_of_fold`: each animal explained by the fold model that never saw its cage):
  exact shares of each logit per bin and hour (:func:`deeplift_maps`), exact linear
  contributions of each branch's pooled pixels (:func:`contribution_maps`), Grad-CAM
  (:func:`gradcam_maps`), spatial occlusion (:func:`occlusion_space`) and occlusion over hours
  (:func:`occlusion_hours`).

Every spatial map is an :class:`ExplanationMap` whose last two axes are (y, x) and whose
``placement`` puts each pixel centre over the centre of its receptive field on the cage floor
(:func:`~napari_mousestop.io.geometry.feature_map_placement`). Class averages and statistics live in
:mod:`napari_mousestop.explain.stats`; files and figures in :mod:`napari_mousestop.explain.files`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from napari_mousestop.io.geometry import (
    CageGeometry,
    Placement,
    feature_map_placement,
    grid_placement,
)
from napari_mousestop.learning.model import StopCNN


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


def prepare_inputs(model: StopCNN, X: np.ndarray, scaler: Scaler | None) -> torch.Tensor:
    """``X`` checked against the model's (T, N, N), scaled, as a float32 tensor."""
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


def first_parameter(model: StopCNN) -> torch.nn.Parameter:
    """A parameter of ``model``: its device and dtype are the model's."""
    return next(model.parameters())


def batch_slices(n: int, size: int):
    """Slices of ``size`` consecutive samples covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def class_names(model: StopCNN, classes: Sequence[str] | None) -> tuple[str, ...]:
    """``classes``, or ``class0, class1...`` when the caller gave none."""
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
    x = prepare_inputs(model, X, scaler)
    store: dict[tuple[int, str], list[np.ndarray]] = {}
    hooks = []
    for b, branch in enumerate(model.branches):
        for layer in ("relu", "pool"):

            def hook(_m, _inp, out, key=(b, layer)):
                store.setdefault(key, []).append(out.detach().cpu().numpy())

            hooks.append(getattr(branch, layer).register_forward_hook(hook))
    try:
        with torch.no_grad():
            for sl in batch_slices(len(x), batch_size):
                model(x[sl].to(first_parameter(model).device))
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
                    classes=class_names(model, classes),
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
    baseline: str = "none",
    batch_size: int = 64,
) -> list[ExplanationMap]:
    """Exact linear contributions of each pooled location to each class logit, per branch.

    For branch ``k`` with pooled activations ``a[ch, y, x]`` and the classifier weights of class
    ``c`` reshaped to the same layout, ``W_c[ch, y, x]``, the map is
    ``sum_ch W_c[ch, y, x] * a[ch, y, x]``. Summed over both branches and all locations it equals
    the logit of class ``c`` minus its bias, exactly: the maps split each decision over the cage.

    With ``baseline="empty"`` the maps of an empty cage (no stops at all, passed through the
    same scaler) are subtracted: a place where the animal never stopped then contributes
    (nearly) nothing, whatever the conv biases of this particular model, and the maps sum to the
    logit minus the logit of the empty cage. Use it to compare maps of different (fold) models.

    Returns
    -------
    list of ExplanationMap
        One per branch, ``contribution_k{k}``, data (n, classes, h, w), axes
        ``("sample", "class", "y", "x")``, at the pooled placement.
    """
    model.eval()
    x = prepare_inputs(model, X, scaler)
    cfg = model.config
    weight = model.classifier.weight.detach().cpu().double()
    per_branch: list[list[np.ndarray]] = [[] for _ in model.branches]
    with torch.no_grad():
        for sl in batch_slices(len(x), batch_size):
            feats = model.features(x[sl].to(first_parameter(model).device))
            offset = 0
            for b, f in enumerate(feats):
                f = f.detach().cpu().double()
                size = f[0].numel()
                w = weight[:, offset : offset + size].reshape(cfg.n_classes, *f.shape[1:])
                offset += size
                per_branch[b].append(torch.einsum("nkyx,ckyx->ncyx", f, w).numpy())
    if baseline not in ("none", "empty"):
        raise ValueError(f"baseline must be 'none' or 'empty', got {baseline!r}")
    if baseline == "empty":
        empty = np.zeros((1, *x.shape[1:]), np.float32)
        ref = contribution_maps(model, empty, scaler, geometry, classes)
        per_branch = [[np.concatenate(p) - r.data] for p, r in zip(per_branch, ref, strict=True)]
    return [
        ExplanationMap(
            name=f"contribution_k{branch.kernel_size}",
            data=np.concatenate(per_branch[b]),
            placement=feature_map_placement(cfg.n_bins, branch.kernel_size, cfg.pool, geometry),
            classes=class_names(model, classes),
            kind="contribution",
            axes=("sample", "class", "y", "x"),
            meta={
                "branch": b,
                "kernel_size": branch.kernel_size,
                "pool": cfg.pool,
                "baseline": baseline,
            },
        )
        for b, branch in enumerate(model.branches)
    ]


def deeplift_maps(
    model: StopCNN,
    X: np.ndarray,
    scaler: Scaler | None = None,
    geometry: CageGeometry | None = None,
    classes: Sequence[str] | None = None,
    batch_size: int = 64,
) -> tuple[ExplanationMap, HourProfile]:
    """Each bin's and each hour's share of every class logit, relative to an empty cage.

    DeepLIFT (rescale rule, captum's ``DeepLift``) from the empty cage (no stops, through the
    same scaler) splits ``logit(x) - logit(empty)`` of each class over the inputs, one share per
    hour and bin, exactly: the shares sum to that difference (tested to 1e-5). Unlike the pooled
    branch maps (:func:`contribution_maps`), whose pixels sit at the centre of a receptive field
    up to 10 bins wide, each share stays on the bin whose stops produced it, next to the walls
    too.

    Returns
    -------
    (ExplanationMap, HourProfile)
        ``contribution``: data (n, classes, N, N), summed over hours, on the input grid;
        ``contribution_hours``: data (n, classes, T), summed over the floor.
    """
    from captum.attr import DeepLift

    model.eval()
    x = prepare_inputs(model, X, scaler)
    empty = prepare_inputs(model, np.zeros((1, *x.shape[1:]), np.float32), scaler)
    cfg = model.config
    n, C = len(x), cfg.n_classes
    space = np.empty((n, C, cfg.n_bins, cfg.n_bins))
    hours = np.empty((n, C, cfg.n_intervals))
    explainer = DeepLift(model)
    device = first_parameter(model).device
    for sl in batch_slices(n, batch_size):
        chunk = x[sl].to(device).requires_grad_()
        base = empty.to(device).expand_as(chunk)
        for c in range(C):
            att = explainer.attribute(chunk, baselines=base, target=c).detach().cpu().double()
            space[sl, c] = att.sum(1).numpy()
            hours[sl, c] = att.sum((2, 3)).numpy()
    meta = {"method": "DeepLIFT (rescale rule, captum)", "baseline": "empty", "on_grid": True}
    names = class_names(model, classes)
    return (
        ExplanationMap(
            name="contribution",
            data=space,
            placement=grid_placement(cfg.n_bins, geometry),
            classes=names,
            kind="contribution",
            axes=("sample", "class", "y", "x"),
            meta=meta,
        ),
        HourProfile(
            name="contribution_hours",
            data=hours,
            classes=names,
            kind="contribution_hours",
            meta={**meta, "measure": "logit share"},
        ),
    )


def gradcam_maps(
    model: StopCNN,
    X: np.ndarray,
    scaler: Scaler | None = None,
    geometry: CageGeometry | None = None,
    classes: Sequence[str] | None = None,
    relu_attributions: bool = True,
    batch_size: int = 256,
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
    x = prepare_inputs(model, X, scaler)
    cfg = model.config
    n, C = len(x), cfg.n_classes
    maps = []
    for b, branch in enumerate(model.branches):
        cam = LayerGradCam(model, branch.relu)
        parts = []
        # every class at once: each sample repeated once per target class
        for sl in batch_slices(n, max(1, batch_size // C)):
            chunk = x[sl]
            m = len(chunk)
            rep = chunk.repeat(C, 1, 1, 1).to(first_parameter(model).device)
            target = torch.arange(C).repeat_interleave(m).tolist()
            att = cam.attribute(rep, target=target, relu_attributions=relu_attributions)
            parts.append(att.detach().cpu().numpy()[:, 0].reshape(C, m, *att.shape[2:]))
        per_class = list(np.concatenate(parts, axis=1))
        maps.append(
            ExplanationMap(
                name=f"gradcam_k{branch.kernel_size}",
                data=np.stack(per_class, axis=1),
                placement=feature_map_placement(cfg.n_bins, branch.kernel_size, 1, geometry),
                classes=class_names(model, classes),
                kind="gradcam",
                axes=("sample", "class", "y", "x"),
                meta={"branch": b, "kernel_size": branch.kernel_size, "layer": "relu"},
            )
        )
    return maps


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


__all__ = [
    "ExplanationMap",
    "HourProfile",
    "activation_maps",
    "contribution_maps",
    "gradcam_maps",
    "deeplift_maps",
    "input_maps",
]
