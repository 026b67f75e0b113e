"""Class-averaged maps of one kind and branch, with an optional test of two classes.

:func:`class_maps` is what the Compare widget shows and what ``mousestop explain --map`` writes:
per-animal maps of one family (activation of one branch, contribution or Grad-CAM), averaged per
class for every channel at once, and, for a pair of classes, their difference with the
cage-level permutation test. With a run folder, evidence maps are out of fold (each animal
explained by the fold model that held its cage out, :func:`~napari_mousestop.explain.run.
out_of_fold`); activations always come from the final model. It reads its inputs itself (paths
or loaded objects), reports progress and stops when the progress callback raises
:class:`~napari_mousestop.errors.Cancelled`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from napari_mousestop.explain.params import EXPLAIN
from napari_mousestop.io.geometry import CageGeometry, Placement
from napari_mousestop.progress import ProgressCallback, notify

MAPS = ("activation", "contribution", "gradcam")
"""Map families :func:`class_maps` computes."""
MAP_LABELS = {
    "activation": "activation (per channel)",
    "contribution": "contribution to the class logit",
    "gradcam": "Grad-CAM",
}
"""What each family shows, in a few words."""


@dataclass
class ClassMaps:
    """Class-averaged maps of one kind, ready to show.

    Attributes
    ----------
    kind, kernel_size
        The map family and the branch.
    classes
        Class names, in the dataset's order.
    averages
        ``(class, channel, h, w)`` (one channel for evidence maps).
    placement
        Where the pixel centres lie on the cage floor, in cm.
    n_per_class
        Animals averaged per class.
    difference, mask
        ``(channel, h, w)``: class ``pair[0]`` minus ``pair[1]`` and the pixels the cage-level
        permutation test finds significant; None without a pair.
    pair
        The two classes compared.
    meta
        The map's name, the source of the maps (out of fold or final model), the model's
        branches and channels, the test's parameters (``"comparison"``).
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


def geometry_of(dataset: Any) -> CageGeometry | None:
    """The cage geometry recorded in a dataset's parameters (None: the mouse cage)."""
    params = getattr(dataset, "params", {}) or {}
    try:
        return CageGeometry.from_dict(params["geometry"])
    except (KeyError, TypeError, ValueError):
        return None


def _inputs(dataset: Any, run_dir: Any, model: Any, checkpoint: Any, folds: Any) -> tuple:
    """Load whatever was given as a path: the dataset, the run's folds and final model, or a
    checkpoint."""
    from napari_mousestop.datasets.dataset import load_dataset
    from napari_mousestop.learning.checkpoint import load_checkpoint
    from napari_mousestop.learning.report import load_run

    if isinstance(dataset, str | os.PathLike):
        dataset = load_dataset(dataset)
    if checkpoint is None and folds is None and run_dir is not None:
        run = load_run(run_dir)
        folds, checkpoint = run.folds or None, run.model
        if folds is None and checkpoint is None:
            raise ValueError(f"{run_dir}: no fold models and no model.pt")
    if checkpoint is None and folds is None:
        if model is None:
            raise ValueError("choose a run folder or a model file (.pt)")
        checkpoint = model
    if isinstance(checkpoint, str | os.PathLike):
        checkpoint = load_checkpoint(Path(checkpoint), data=dataset)
    return dataset, checkpoint, folds


def class_maps(
    dataset: Any,
    run_dir: str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
    kind: str = "activation",
    kernel_size: int = 3,
    stage: str = "relu",
    pair: tuple[str, str] | None = None,
    n_permutations: int = EXPLAIN.map_permutations,
    seed: int = EXPLAIN.seed,
    checkpoint: Any = None,
    folds: Any = None,
    progress: ProgressCallback | None = None,
) -> ClassMaps:
    """Per-animal maps over a dataset, averaged per class (all channels at once).

    Parameters
    ----------
    dataset
        A :class:`~napari_mousestop.datasets.dataset.Dataset` or the path of one.
    run_dir
        A training run folder: evidence maps out of fold from its fold models, activations from
        its final model (``model.pt``).
    model
        A checkpoint file alone (the final all-data model): activations, and evidence maps in
        sample (the model saw every animal). Used when there is no ``run_dir``.
    kind
        ``"activation"``, ``"contribution"`` or ``"gradcam"``.
    kernel_size
        Which branch.
    stage
        Activations after ``"relu"`` (convolution resolution) or after ``"pool"``.
    pair
        Two classes to compare: ``pair[0]`` minus ``pair[1]`` (positive where the first is
        higher) and the cage-level permutation test
        (:func:`~napari_mousestop.explain.stats.compare_classes`), or None.
    n_permutations, seed
        Of the permutation test.
    checkpoint, folds
        Already loaded final model and fold models (instead of ``run_dir``/``model``).
    progress
        Called with a :class:`~napari_mousestop.progress.Progress` after each step (loading,
        each fold, averaging, the test); raising :class:`~napari_mousestop.errors.Cancelled`
        there stops the work.

    Raises
    ------
    ValueError
        An unknown map, a branch the model lacks, two identical classes, a class the dataset
        lacks, no model.
    """
    from napari_mousestop.design import StudyDesign
    from napari_mousestop.explain.maps import activation_maps, contribution_maps, gradcam_maps
    from napari_mousestop.explain.run import out_of_fold
    from napari_mousestop.explain.stats import class_average, compare_classes

    if kind not in MAPS:
        raise ValueError(f"map must be one of {MAPS}, got {kind!r}")
    if pair is not None and pair[0] == pair[1]:
        raise ValueError("choose two different classes to compare")
    notify(progress, 0, 1, "loading the dataset and the model")
    dataset, checkpoint, folds = _inputs(dataset, run_dir, model, checkpoint, folds)
    classes = tuple(dataset.classes)
    if pair is not None and not set(pair) <= set(classes):
        raise ValueError(f"classes {list(pair)}: the dataset's classes are {list(classes)}")
    geometry = geometry_of(dataset)
    wanted = (
        f"activation_k{kernel_size}_{stage}" if kind == "activation" else f"{kind}_k{kernel_size}"
    )
    config = (checkpoint or folds[0].checkpoint).model_config

    def explain(net: Any, X: Any, scaler: Any) -> list:
        if kind == "activation":
            maps = activation_maps(net, X, scaler, geometry, classes)
        elif kind == "contribution":
            maps = contribution_maps(net, X, scaler, geometry, classes, baseline="empty")
        else:
            maps = gradcam_maps(net, X, scaler, geometry, classes)
        found = [m for m in maps if m.name == wanted]
        if not found:
            have = sorted({int(m.meta.get("kernel_size", 0)) for m in maps})
            raise ValueError(
                f"the model has no {kernel_size}x{kernel_size} branch (kernels {have})"
            )
        return found

    out_of_fold_maps = folds is not None and kind != "activation"
    if out_of_fold_maps:
        (per_sample,) = out_of_fold(
            folds, dataset.X, explain=explain,
            progress=lambda p: notify(progress, p.done, p.total, f"maps: {p.message}"),
        )  # fmt: skip
    else:
        if checkpoint is None:
            raise ValueError("activation maps need the final model (model.pt of the run)")
        notify(progress, 0, 1, "maps of the final model")
        (per_sample,) = explain(checkpoint.model, dataset.X, checkpoint.scaler)
    notify(progress, 0, 1, "class averages")
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
        n_per_class=[int(n) for n in avg.meta.get("n_per_class", [])],
        meta={
            **per_sample.meta,
            "map": wanted,
            "source": source,
            "kernel_sizes": [int(k) for k in config.kernel_sizes],
            "channels": int(config.channels),
        },
    )
    if pair is not None:
        a, b = pair
        notify(progress, 0, 1, f"permutation test {a} - {b}")
        cmp = compare_classes(
            per_sample,
            dataset.labels,
            dataset.cages,
            a,
            b,
            n_permutations=n_permutations,
            seed=seed,
            design=StudyDesign.from_dataset(dataset),
        )
        diff = np.asarray(cmp.difference.data, dtype=np.float32)
        mask = np.asarray(cmp.mask, dtype=bool)
        if diff.ndim == 2:
            diff, mask = diff[None], mask[None]
        out = replace(out, difference=diff, mask=mask, pair=(a, b))
        out.meta["comparison"] = {k: v for k, v in cmp.meta.items() if not k.startswith("_")}
    notify(progress, 1, 1, "class maps done")
    return out


def save_class_maps(maps: ClassMaps, path: str | os.PathLike, attrs: dict | None = None) -> Path:
    """Write :func:`class_maps`' result as a maps file (``maps.nc``), which napari opens as
    class panels side by side, the difference beside them.

    Parameters
    ----------
    maps
        The class maps.
    path
        The ``.nc`` file, or a folder (``<folder>/maps.nc``).
    attrs
        More file attributes (e.g. the run and dataset); the map, branch, pair and test
        parameters are always recorded.
    """
    from napari_mousestop.explain.files import save_maps
    from napari_mousestop.explain.maps import ExplanationMap

    name = str(maps.meta.get("map", f"{maps.kind}_k{maps.kernel_size}"))
    channel = maps.kind == "activation"
    meta = {k: v for k, v in maps.meta.items() if k != "comparison"}
    meta["n_per_class"] = list(maps.n_per_class)
    panels = ExplanationMap(
        name,
        maps.averages if channel else maps.averages[:, 0],
        maps.placement,
        maps.classes,
        maps.kind,
        ("class", "channel", "y", "x") if channel else ("class", "y", "x"),
        meta,
    )
    saved = [panels]
    if maps.pair is not None and maps.difference is not None and maps.mask is not None:
        a, b = maps.pair
        contrast = f"{a} - {b}"
        axes = ("contrast", "channel", "y", "x") if channel else ("contrast", "y", "x")
        legend = {contrast: {"red": f"{a} higher than {b}", "blue": f"{b} higher than {a}"}}
        diff = maps.difference[None] if channel else maps.difference[:1]
        mask = maps.mask[None] if channel else maps.mask[:1]
        test = dict(maps.meta.get("comparison", {}))
        saved += [
            ExplanationMap(f"{name}_difference", diff, maps.placement, (contrast,), "difference",
                           axes, {"legends": legend, **test}),
            ExplanationMap(f"{name}_significant", mask, maps.placement, (contrast,), "mask",
                           axes, {}),
        ]  # fmt: skip
    file_attrs = {
        "title": "napari-mousestop class maps",
        "primary_map": name,
        "kind": maps.kind,
        "kernel_size": maps.kernel_size,
        "source": maps.meta.get("source", ""),
        "pair": list(maps.pair) if maps.pair else "none",
        **(attrs or {}),
    }
    return save_maps(saved, path, file_attrs)
