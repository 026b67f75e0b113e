"""Class-averaged explanation maps for the comparison widget (no Qt here: testable alone).

All channels are averaged once, so the widget's channel selector only swaps layer data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from napari_mousestop.gui.layers.recordings import layout_to_shapes
from napari_mousestop.io.geometry import CageGeometry, Placement

MAPS = ("activation", "contribution", "gradcam")
MAP_LABELS = {
    "activation": "activation (per channel)",
    "contribution": "contribution to the class logit",
    "gradcam": "Grad-CAM",
}
PANEL_ORDER = ("AM", "JM", "AF", "JF")
PREFIX = "compare"


@dataclass
class ClassMaps:
    """Class-averaged maps of one kind, ready to show.

    ``averages`` is (classes, channels, h, w) (channels = 1 for evidence maps), ``difference``
    and ``mask`` (channels, h, w) or None, all placed by ``placement`` (cm).
    """

    kind: str
    kernel_size: int
    classes: tuple[str, ...]
    averages: np.ndarray
    placement: Placement
    n_per_class: list[int]
    difference: np.ndarray | None = None
    mask: np.ndarray | None = None
    pair: tuple[str, str] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        """Channels to choose from (1 for evidence maps)."""
        return int(self.averages.shape[1])

    def limits(self, channel: int) -> tuple[float, float]:
        """Contrast limits shared by the class panels of ``channel``."""
        data = self.averages[:, channel]
        finite = data[np.isfinite(data)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if self.kind == "contribution":  # signed: symmetric around 0
            lim = max(abs(lo), abs(hi)) or 1.0
            return (-lim, lim)
        return (min(lo, 0.0), hi if hi > min(lo, 0.0) else min(lo, 0.0) + 1.0)


def geometry_of(dataset: Any) -> CageGeometry | None:
    """The cage geometry recorded in a dataset's parameters (None: the mouse cage)."""
    params = getattr(dataset, "params", {}) or {}
    try:
        return CageGeometry.from_dict(params["geometry"])
    except (KeyError, TypeError, ValueError):
        return None


def class_maps(
    checkpoint: Any,
    dataset: Any,
    kind: str = "activation",
    kernel_size: int = 3,
    stage: str = "relu",
    pair: tuple[str, str] | None = None,
    n_permutations: int = 1000,
    seed: int = 0,
    folds: Any = None,
) -> ClassMaps:
    """Per-sample maps over a dataset, averaged per class (all channels at once).

    Parameters
    ----------
    checkpoint
        :class:`~napari_mousestop.learning.checkpoint.Checkpoint` of the final all-data model:
        the only
        source of activation maps (channel ``k`` only means something inside one model), and of
        evidence maps when no ``folds`` are given (then in-sample: the model saw every animal).
    dataset
        The stacks and labels.
    kind
        ``"activation"``, ``"contribution"`` or ``"gradcam"``.
    kernel_size
        Which branch (3 or 9 in the paper).
    stage
        Activations after ``"relu"`` (conv resolution) or after ``"pool"``.
    pair
        Two classes to compare: panel A minus panel B (red where A is higher) and the
        cage-level permutation test, or None.
    n_permutations, seed
        Of the permutation test.
    folds
        The fold models of a run (``report.load_run(run_dir).folds``): evidence maps are then
        out of fold, each animal explained by the model that held its cage out.
    """
    from napari_mousestop.explain.maps import activation_maps, contribution_maps, gradcam_maps
    from napari_mousestop.explain.run import out_of_fold
    from napari_mousestop.explain.stats import class_average, compare_classes

    if kind not in MAPS:
        raise ValueError(f"map must be one of {MAPS}, got {kind!r}")
    classes = tuple(dataset.classes)
    geometry = geometry_of(dataset)
    if kind == "activation":
        wanted = f"activation_k{kernel_size}_{stage}"
    else:
        wanted = f"{kind}_k{kernel_size}"

    def explain(model: Any, X: Any, scaler: Any) -> list:
        if kind == "activation":
            maps = activation_maps(model, X, scaler, geometry, classes)
        elif kind == "contribution":
            maps = contribution_maps(model, X, scaler, geometry, classes, baseline="empty")
        else:
            maps = gradcam_maps(model, X, scaler, geometry, classes)
        found = [m for m in maps if m.name == wanted]
        if not found:
            have = sorted({int(m.meta.get("kernel_size", 0)) for m in maps})
            raise ValueError(
                f"the model has no {kernel_size}x{kernel_size} branch (kernels {have})"
            )
        return found

    out_of_fold_maps = folds is not None and kind != "activation"
    if out_of_fold_maps:
        (per_sample,) = out_of_fold(folds, dataset.X, explain=explain)
    else:
        if checkpoint is None:
            raise ValueError("activation maps need the final model (model.pt of the run)")
        (per_sample,) = explain(checkpoint.model, dataset.X, checkpoint.scaler)
    avg = class_average(per_sample, dataset.labels)
    data = np.asarray(avg.data, dtype=np.float32)
    if kind != "activation":
        data = data[:, None]  # one "channel"
    source = "out of fold" if out_of_fold_maps else "final model"
    if kind != "activation" and not out_of_fold_maps:
        source += ", in sample"
    out = ClassMaps(
        kind=kind,
        kernel_size=kernel_size,
        classes=classes,
        averages=data,
        placement=per_sample.placement,
        n_per_class=list(avg.meta.get("n_per_class", [])),
        meta={"map": wanted, "source": source, **per_sample.meta},
    )
    if pair is not None:
        a, b = pair
        cmp = compare_classes(
            per_sample,
            dataset.labels,
            dataset.cages,
            a,
            b,
            n_permutations=n_permutations,
            seed=seed,
        )
        diff = np.asarray(cmp.difference.data, dtype=np.float32)
        mask = np.asarray(cmp.mask, dtype=bool)
        if diff.ndim == 2:
            diff, mask = diff[None], mask[None]
        out = replace(out, difference=diff, mask=mask, pair=(a, b))
        out.meta["comparison"] = {k: v for k, v in cmp.meta.items() if not k.startswith("_")}
    return out


def marker_shapes(mask: np.ndarray, placement: Placement, name: str, layout: Any = None) -> tuple:
    """The cage layout plus a white ring on every significant pixel, as one Shapes layer."""
    from napari_mousestop.io.layout import CageShape, load_layout

    layout = layout or load_layout()
    ys, xs = placement.centres(mask.shape)
    ry, rx = placement.scale[0] * 0.3, placement.scale[1] * 0.3
    rings = tuple(
        CageShape(
            name=f"significant {i}",
            kind="ellipse",
            color="white",
            label="",
            points_xy=((xs[c] - rx, ys[r] - ry), (xs[c] + rx, ys[r] + ry)),
        )
        for i, (r, c) in enumerate(zip(*np.nonzero(mask), strict=True))
    )
    return layout_to_shapes(replace(layout, shapes=layout.shapes + rings), name=name)
