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


PAIRS: tuple[tuple[str, str], ...] = (("AF", "AM"), ("JF", "JM"), ("AM", "JM"), ("AF", "JF"))
"""Class pairs compared by :func:`explain_run`: sex within age, then age within sex."""


def _stack(m, comps, suffix, axis, titles):
    """Difference, p-value and mask maps of several comparisons of ``m``, one panel each."""
    keys = ("n_cage_units", "paired", "n_permutations", "exact")
    meta = {
        **m.meta,
        "panels": titles,
        **{k: [c.meta[k] for c in comps] for k in keys},
        "statistic": comps[0].meta["statistic"],
        "alpha": comps[0].meta["alpha"],
    }
    base = replace(
        comps[0].difference,
        name=f"{m.name}_{suffix}",
        data=np.stack([c.difference.data for c in comps]),
        classes=tuple(titles),
        axes=(axis, "y", "x"),
        meta=meta,
    )
    return [
        base,
        replace(
            base, name=f"{base.name}_p", data=np.stack([c.p_values for c in comps]), kind="pvalue"
        ),
        replace(
            base,
            name=f"{base.name}_mask",
            data=np.stack([c.mask for c in comps]).astype(np.uint8),
            kind="mask",
        ),
    ]


def _comparisons(m, labels, cages, classes, pairs, n_permutations, alpha, seed, statistic):
    """Each class against the rest, and the class pairs: lists of stacked maps (may be empty)."""
    from .explain_stats import compare_classes

    present = [c for c in classes if classes.index(c) in set(np.unique(labels))]

    def run(a, b):
        return compare_classes(m, labels, cages, a, b, n_permutations, alpha, statistic, seed)

    rest = [(c, [r for r in present if r != c]) for c in present]
    vs_rest = [run(c, r) for c, r in rest if r]
    titles = [f"{c} - rest" for c, r in rest if r]
    out_rest = _stack(m, vs_rest, "vs_rest", "class", titles) if vs_rest else []
    done = [(a, b) for a, b in pairs if a in present and b in present]
    pair_comps = [run(a, b) for a, b in done]
    out_pairs = (
        _stack(m, pair_comps, "pairs", "pair", [f"{a} - {b}" for a, b in done]) if done else []
    )
    return out_rest, out_pairs


def explain_run(
    run_dir,
    out_dir,
    dataset=None,
    which: Sequence[str] = EVIDENCE,
    patch: int = 3,
    stride: int = 2,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    statistic: str = "t",
    by: str = "true",
    correct_only: bool = False,
    figures: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Explain a training run folder: out-of-fold evidence, final-model activations, statistics.

    Parameters
    ----------
    run_dir
        Folder written by ``mousestop train`` (``report.json``, ``folds/*.pt``, ``model.pt``).
    out_dir
        Where maps (``.npz`` + ``maps.json``) and PNGs are written.
    dataset
        The dataset path, or a loaded :class:`~napari_mousestop.dataset.Dataset`; default: the
        one recorded in ``report.json``.
    which, patch, stride
        Evidence maps to compute and the occlusion square (see :func:`out_of_fold`).
    n_permutations, alpha, seed, statistic
        Permutation test settings (:func:`~napari_mousestop.explain_stats.compare_classes`).
    by, correct_only
        Class averages by true or (out-of-fold) predicted class, optionally correct only.
    figures
        Also draw the PNGs.
    progress
        Optional ``callable(stage, done, total)``.

    Returns
    -------
    dict
        ``maps`` (names written), ``figures`` (PNG paths), ``index`` (the ``maps.json`` path).
    """
    from pathlib import Path

    from .dataset import Dataset, load_dataset
    from .explain import activation_maps, input_maps
    from .explain_output import plot_class_grid, plot_hours, save_maps
    from .explain_stats import class_average
    from .report import load_run

    run = load_run(run_dir)
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not isinstance(dataset, Dataset):
        path = dataset or run.report.get("config", {}).get("dataset")
        if not path:
            raise ValueError(f"{run_dir}: report.json names no dataset; pass one explicitly")
        path = Path(path)
        if not path.is_file() and (run_dir / path).is_file():
            path = run_dir / path
        dataset = load_dataset(path)
    n_expected = run.report.get("dataset", {}).get("n_samples")
    if n_expected is not None and n_expected != len(dataset):
        raise ValueError(
            f"{run_dir}: the run was trained on {n_expected} samples, the dataset holds "
            f"{len(dataset)}: not the same dataset"
        )
    if not run.folds:
        raise ValueError(f"{run_dir}: no fold models in folds/ (needed for out-of-fold maps)")
    classes = tuple(dataset.classes)
    params = dataset.params or {}
    geometry = CageGeometry.from_dict(params["geometry"]) if "geometry" in params else None
    interval_h = float(params.get("histogram", {}).get("interval_s", 3600)) / 3600.0
    labels, cages = dataset.labels, dataset.cages
    pred_names = [p["predicted"] for p in run.report.get("predictions", [])]
    predicted = np.array([classes.index(p) for p in pred_names]) if pred_names else None

    def fold_progress(done: int, total: int) -> None:
        if progress is not None:
            progress("folds", done, total)

    per_sample = out_of_fold(
        run.folds, dataset.X, geometry, classes, which, patch, stride, progress=fold_progress
    )
    per_sample.append(input_maps(dataset.X, geometry, classes))
    for m in per_sample:
        if isinstance(m, HourProfile):
            m.interval_h = interval_h
    saved: list = []
    figures_out: list[Path] = []
    for k, m in enumerate(per_sample):
        if progress is not None:
            progress("maps", k, len(per_sample))
        avg = class_average(m, labels, predicted, by, correct_only)
        saved += [avg, replace(m, name=f"{m.name}_per_animal", data=m.data.astype(np.float32))]
        if isinstance(m, HourProfile):
            if figures:
                title = (
                    "occlusion over hours, out of fold: drop of each class's logit (its animals)"
                )
                figures_out.append(plot_hours(avg, out_dir / f"{m.name}.png", title=title))
            continue
        vs_rest, pairs = _comparisons(
            m, labels, cages, classes, PAIRS, n_permutations, alpha, seed, statistic
        )
        saved += vs_rest + pairs
        if not figures:
            continue
        what = "stops (sum over hours)" if m.kind == "input" else f"{m.name}, out of fold"
        masks = None
        if vs_rest:  # one panel per class present, in class order
            masks = np.zeros(avg.data.shape, dtype=bool)
            for title, mask in zip(vs_rest[0].classes, vs_rest[2].data, strict=True):
                masks[classes.index(title.split(" - ")[0])] = mask.astype(bool)
        figures_out.append(
            plot_class_grid(
                avg,
                out_dir / f"{m.name}.png",
                masks=masks,
                title=f"{what}; dots: class vs rest, FWER p < {alpha}",
            )
        )
        if pairs:
            figures_out.append(
                plot_class_grid(
                    pairs[0],
                    out_dir / f"{m.name}_pairs.png",
                    masks=pairs[2].data.astype(bool),
                    panel_titles=pairs[0].classes,
                    title=f"{what}: class differences; dots: FWER p < {alpha}",
                    symmetric=True,
                )
            )
    if run.model is not None:
        for m in activation_maps(run.model.model, dataset.X, run.model.scaler, geometry, classes):
            m.meta["model"] = "final (all data)"
            saved.append(class_average(m, labels, predicted, by, correct_only))
    extra = {
        "run": str(run_dir),
        "dataset": str(run.report.get("config", {}).get("dataset")),
        "parameters": {
            "which": list(which),
            "patch": patch,
            "stride": stride,
            "n_permutations": n_permutations,
            "alpha": alpha,
            "seed": seed,
            "statistic": statistic,
            "by": by,
            "correct_only": correct_only,
            "contribution_baseline": "empty",
        },
        "notes": [
            "Evidence maps (contribution, gradcam, occlusion) are out of fold: each animal is "
            "explained by the fold model that never saw its cage.",
            "Activation maps come from the final all-data model only: channel k of one model "
            "has nothing to do with channel k of another.",
            "Permutation tests permute whole cages; p-values are family-wise (max-statistic).",
        ],
    }
    index = save_maps(saved, out_dir, extra=extra)
    return {"maps": [m.name for m in saved], "figures": figures_out, "index": index}
