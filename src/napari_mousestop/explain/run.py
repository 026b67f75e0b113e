"""Evidence maps of a whole cohort, out of fold, and of a training run folder.

:func:`explain_run` is what ``mousestop explain`` does: out-of-fold evidence maps (each animal
explained by the fold model that held its cage out, using the folds the run recorded), the
final model's activations, every class comparison with Holm's adjustment, one maps file
(``maps.nc``), the figures and an index page (``index.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_mousestop.explain.checks import RunChecks
from napari_mousestop.explain.maps import (
    ExplanationMap,
    HourProfile,
    Scaler,
    contribution_maps,
    deeplift_maps,
    gradcam_maps,
)
from napari_mousestop.explain.occlusion import occlusion_hours, occlusion_space
from napari_mousestop.explain.params import EXPLAIN
from napari_mousestop.io.geometry import CageGeometry
from napari_mousestop.learning.model import StopCNN
from napari_mousestop.plots.explain import (
    plot_activations,
    plot_class_grid,
    plot_comparisons,
    plot_hours,
    write_index,
)
from napari_mousestop.progress import ProgressCallback, notify

if TYPE_CHECKING:
    from napari_mousestop.explain.stats import Contrast

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

    Contributions come as each bin's and hour's exact share of the logits on the input grid
    (``contribution`` and ``contribution_hours``,
    :func:`~napari_mousestop.explain.maps.deeplift_maps`)
    and per branch at the pooled resolution (``contribution_k3``...), relative to an empty cage
    by default (``baseline``, see :func:`~napari_mousestop.explain.maps.contribution_maps`).
    """
    unknown = set(which) - set(EVIDENCE)
    if unknown:
        raise ValueError(f"unknown evidence maps {sorted(unknown)}; choose from {EVIDENCE}")
    out: list[ExplanationMap | HourProfile] = []
    if "contribution" in which:
        out += [*deeplift_maps(model, X, scaler, geometry, classes)]
        out += contribution_maps(model, X, scaler, geometry, classes, baseline)
    if "gradcam" in which:
        out += gradcam_maps(model, X, scaler, geometry, classes)
    if "occlusion_space" in which:
        out.append(occlusion_space(model, X, scaler, geometry, classes, patch, stride))
    if "occlusion_hours" in which:
        out.append(occlusion_hours(model, X, scaler, classes))
    return out


def _as_index(index) -> np.ndarray:
    idx = np.asarray(index)
    return np.flatnonzero(idx) if idx.dtype == bool else idx


def out_of_fold(
    folds: Sequence[Any],
    X: np.ndarray,
    geometry: CageGeometry | None = None,
    classes: Sequence[str] | None = None,
    which: Sequence[str] = EVIDENCE,
    patch: int = 3,
    stride: int = 1,
    baseline: str = "empty",
    progress: ProgressCallback | None = None,
    explain: Callable[[StopCNN, np.ndarray, Any], list] | None = None,
) -> list[ExplanationMap | HourProfile]:
    """Evidence maps of every sample, each computed by the fold model that never saw its cage.

    Parameters
    ----------
    folds
        The folds a run recorded, each with ``.model``, ``.scaler`` and ``.test_index`` (the
        samples it held out: one cage, or several cages held out together), e.g.
        ``training.CVResult.folds`` or ``report.load_run(run_dir).folds``.
    X
        All samples (n, T, N, N), raw (each fold's scaler is applied).
    progress
        Called with a :class:`~napari_mousestop.progress.Progress` after each fold; raising
        :class:`~napari_mousestop.errors.Cancelled` there stops the work.
    explain
        ``explain(model, X, scaler)`` giving per-sample maps of some samples; default:
        :func:`explain_model` with ``geometry, classes, which, patch, stride, baseline``.

    Returns
    -------
    list
        The maps of :func:`explain_model`, with per-sample data in the order of ``X``.
    """
    X = np.asarray(X, dtype=np.float32)
    seen = np.zeros(len(X), dtype=int)
    merged: list[ExplanationMap | HourProfile] | None = None
    for f, fold in enumerate(folds):
        idx = _as_index(fold.test_index)
        seen[idx] += 1
        if explain is None:
            maps = explain_model(
                fold.model, X[idx], fold.scaler, geometry, classes, which, patch, stride, baseline
            )
        else:
            maps = explain(fold.model, X[idx], fold.scaler)
        if merged is None:
            merged = [
                replace(m, data=np.zeros((len(X), *m.data.shape[1:])), meta=dict(m.meta))
                for m in maps
            ]
        for dst, src in zip(merged, maps, strict=True):
            dst.data[idx] = src.data
        notify(progress, f + 1, len(folds), f"fold {f + 1}/{len(folds)} explained")
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


PRIMARY = EXPLAIN.primary
"""The map whose comparisons form the primary family (named in advance, Holm within it)."""

DESCRIBE: dict[str, tuple[str, str, str]] = {
    # family: (what the panel of class g shows, units, how to read the class panels)
    "contribution": (
        "share of the own-class logit per bin (DeepLIFT from an empty cage, input grid)",
        "logit",
        "where each class's animals get their evidence for their own class (exact shares "
        "of the logit relative to an empty cage, on the bins whose stops produced them)",
    ),
    "contribution_k3": (
        "contribution of the 3x3 branch to the own-class logit (pooled grid)",
        "logit",
        "as `contribution`, 3x3 branch only, at the pooled resolution",
    ),
    "contribution_k9": (
        "contribution of the 9x9 branch to the own-class logit (pooled grid)",
        "logit",
        "as `contribution`, 9x9 branch only, at the pooled resolution",
    ),
    "gradcam_k3": (
        "Grad-CAM of the 3x3 branch for the own class",
        "a.u.",
        "gradient-weighted activations of the 3x3 branch (non-negative); least reliable map",
    ),
    "gradcam_k9": (
        "Grad-CAM of the 9x9 branch for the own class",
        "a.u.",
        "gradient-weighted activations of the 9x9 branch (non-negative)",
    ),
    "occlusion_space": (
        "drop of the own-class logit when a square of floor is emptied in all hours",
        "logit",
        "places whose stops push each class's animals towards their own class (model-agnostic)",
    ),
    "input": (
        "stops per animal, summed over hours (the data, no model)",
        "stops",
        "where each class stops: the behaviour itself",
    ),
}


HOURS = {
    # profile: (what it shows, y axis label)
    "contribution_hours": ("each hour's share of the own-class logit (DeepLIFT)", "logit share"),
    "occlusion_hours": ("drop of the own-class logit when the hour is emptied", "logit drop"),
}


def _stack(name: str, comps, values, kind: str) -> ExplanationMap:
    """One (contrast, y, x) map of a quantity of several comparisons of one map."""
    d = comps[0].difference
    return replace(
        d,
        name=name,
        data=np.stack(values),
        classes=tuple(c.name for c in comps),
        axes=("contrast", *d.axes),
        kind=kind,
        meta={k: v for k, v in d.meta.items() if k not in _PER_CONTRAST},
    )


_PER_CONTRAST = ("contrast", "kind", "positive", "negative", "legend", "n_units", "paired",
                 "units_left_out", "scheme", "unit", "n_labellings", "n_permutations", "exact",
                 "min_p", "holm")  # fmt: skip


def _comparison_maps(m: ExplanationMap, comps) -> tuple[list[ExplanationMap], dict]:
    """Difference, statistic, p-values and mask of a map's comparisons, and per-contrast numbers."""
    maps = [
        _stack(f"{m.name}_difference", comps, [c.difference.data for c in comps], "difference"),
        _stack(f"{m.name}_statistic", comps, [c.statistic for c in comps], "statistic"),
        _stack(f"{m.name}_p", comps, [c.p_values for c in comps], "pvalue"),
        _stack(f"{m.name}_p_adjusted", comps, [c.p_adjusted for c in comps], "pvalue"),
        _stack(f"{m.name}_significant", comps, [c.mask for c in comps], "mask"),
    ]
    maps[0].meta["units"] = m.meta.get("units", "")
    maps[0].meta["legends"] = {c.name: c.contrast.legend for c in comps}
    per = {
        f"{m.name}_min_p": (
            ("contrast",),
            [c.meta["min_p"] for c in comps],
            {"long_name": "smallest p-value the design allows (number of labellings)"},
        ),
        f"{m.name}_holm_p": (
            ("contrast",),
            [c.meta["holm"]["p"] for c in comps],
            {"long_name": "adjusted smallest p (min-P over maps, Holm over comparisons)"},
        ),
        f"{m.name}_n_labellings": (
            ("contrast",),
            [c.meta["n_labellings"] for c in comps],
            {"long_name": "distinct labellings the design allows for the permutation test"},
        ),
        f"{m.name}_exact": (
            ("contrast",),
            np.array([c.meta["exact"] for c in comps], dtype=np.int8),
            {"long_name": "1: every labelling used (exact test); 0: random labellings"},
        ),
        f"{m.name}_unit": (
            ("contrast",),
            np.array([c.meta["unit"] for c in comps], dtype=object),
            {"long_name": "unit relabelled by the permutation test"},
        ),
        f"{m.name}_scheme": (
            ("contrast",),
            np.array([c.meta["scheme"]["description"] for c in comps], dtype=object),
            {"long_name": "how the design relabels the units"},
        ),
    }
    return maps, per


@dataclass
class ExplanationRun:
    """What :func:`explain_run` wrote.

    Attributes
    ----------
    maps
        Variable names in the maps file.
    file
        The maps file (``maps.nc``).
    figures
        The PNG figures (empty without figures).
    index
        The index page (``index.md``), or None without figures.
    skipped
        Contrasts the cohort does not allow, with the reason.
    """

    maps: list[str]
    file: Path
    figures: list[Path] = field(default_factory=list)
    index: Path | None = None
    skipped: dict[str, str] = field(default_factory=dict)


def explain_run(
    run_dir,
    out_dir,
    dataset=None,
    which: Sequence[str] = EVIDENCE,
    patch: int = EXPLAIN.patch,
    stride: int = EXPLAIN.stride,
    n_permutations: int = EXPLAIN.n_permutations,
    alpha: float = EXPLAIN.alpha,
    seed: int = EXPLAIN.seed,
    statistic: str = EXPLAIN.statistic,
    by: str = EXPLAIN.by,
    correct_only: bool = EXPLAIN.correct_only,
    primary: str = PRIMARY,
    contrasts: Sequence[str] | None = None,
    figures: bool = True,
    progress: ProgressCallback | None = None,
    sanity: bool = False,
    workers: int = 0,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Explain a training run folder: out-of-fold evidence, final-model activations, statistics.

    When the run holds retrained permutations with their fold models
    (``mousestop train --retrain-permutations P``), their out-of-fold maps are the null of every
    map comparison (confirmatory p-values, :mod:`~napari_mousestop.explain.retrained`); when it
    holds several seeds (``--repeats K``), the maps of every seed and their agreement are added
    (:mod:`~napari_mousestop.explain.stability`).

    Parameters
    ----------
    run_dir
        Folder written by ``mousestop train`` (``report.json``, ``folds/*.pt``, ``model.pt``).
    out_dir
        Where the maps file ``maps.nc``, the PNGs and ``index.md`` are written.
    dataset
        The dataset path, or a loaded
        :class:`~napari_mousestop.datasets.dataset.Dataset`; default: the
        one recorded in ``report.json``.
    which, patch, stride
        Evidence maps to compute and the occlusion square (see :func:`out_of_fold`).
    n_permutations, alpha, seed, statistic
        Permutation test settings (:func:`~napari_mousestop.explain.stats.compare`).
    by, correct_only
        Class panels by true or (out-of-fold) predicted class, optionally correct only
        (differences and tests always use the true classes of all animals).
    primary
        The map whose comparisons form the primary family (:data:`PRIMARY` by default); the
        comparisons of all other maps are adjusted together as a second family.
    contrasts
        Names of the comparisons to run (e.g. ``["AF - JF"]``), default all of
        :func:`~napari_mousestop.explain.stats.default_contrasts`; fewer comparisons, a
        smaller Holm family. With ``n_permutations`` of 5000 every labelling of the paper's
        design is listed (the largest, age over 12 cages, has 4096).
    figures
        Also draw the PNGs and the index page.
    progress
        Called with a :class:`~napari_mousestop.progress.Progress` after each step; raising
        :class:`~napari_mousestop.errors.Cancelled` there stops the work. The message names the
        stage (``folds``, ``statistics``...); ``done`` and ``total`` count that stage's steps.
    sanity
        Also run the model randomisation check (:mod:`~napari_mousestop.explain.sanity`):
        map kinds whose maps barely change with randomised or permuted-label models are
        flagged "not sensitive to the model" in the figure titles, the index and the file.
    workers, scheduler
        Worker processes (or a running Dask scheduler) that explain the run's retrained
        permutations in parallel (:mod:`~napari_mousestop.explain.retrained`).

    Returns
    -------
    ExplanationRun
        The maps file, its variables, the figures, the index page and the skipped contrasts.
    """
    from napari_mousestop.datasets.dataset import Dataset, load_dataset
    from napari_mousestop.design import StudyDesign
    from napari_mousestop.explain.files import save_maps
    from napari_mousestop.explain.maps import activation_maps, input_maps
    from napari_mousestop.explain.stats import (
        channel_separation,
        class_average,
        compare_all,
        default_contrasts,
    )
    from napari_mousestop.learning.report import load_run

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
    spatial_names = [n for n in DESCRIBE if n == "input" or n.split("_k")[0] in which]
    if primary not in spatial_names:
        raise ValueError(f"primary map {primary!r} is not computed; choose one of {spatial_names}")
    classes = tuple(dataset.classes)
    params = dataset.params or {}
    geometry = CageGeometry.from_dict(params["geometry"]) if "geometry" in params else None
    interval_h = float(params.get("histogram", {}).get("interval_s", 3600)) / 3600.0
    labels, cages = dataset.labels, dataset.cages
    design = StudyDesign.from_dataset(dataset)
    pred_names = [p["predicted"] for p in run.report.get("predictions", [])]
    predicted = np.array([classes.index(p) for p in pred_names]) if pred_names else None

    def step(stage: str, done: int, total: int) -> None:
        notify(progress, done, total, stage)

    per_sample = out_of_fold(
        run.folds, dataset.X, geometry, classes, which, patch, stride,
        progress=lambda p: step("folds", p.done, p.total),
    )  # fmt: skip
    per_sample.append(input_maps(dataset.X, geometry, classes))
    spatial = [m for m in per_sample if isinstance(m, ExplanationMap)]
    for m in spatial:
        m.meta["long_name"], m.meta["units"] = DESCRIBE[m.name][:2]
    checks = RunChecks(run, run_dir, out_dir, dataset, per_sample, geometry, classes, which, patch,
                     stride, seed, workers, scheduler, progress)  # fmt: skip
    check = checks.sanity() if sanity else None
    step("statistics", 0, 1)
    chosen = default_contrasts(design)
    if contrasts is not None:
        unknown = sorted(set(contrasts) - {c.name for c in chosen})
        if unknown or not contrasts:
            names = [c.name for c in chosen]
            raise ValueError(f"unknown comparisons {unknown or contrasts}; choose from {names}")
        chosen = [c for c in chosen if c.name in contrasts]
    saved: list = []
    results, skipped = compare_all(
        spatial,
        labels,
        cages,
        chosen,
        primary,
        n_permutations,
        alpha,
        statistic,
        seed,
        design=design,
    )
    results = checks.retrained(results, primary, alpha, statistic)
    stable = checks.stability(
        lambda maps: compare_all(maps, labels, cages, chosen, primary, n_permutations, alpha,
                                 statistic, seed, design=design)[0]
    )  # fmt: skip
    saved += stable.maps if stable is not None else []
    variables: dict[str, tuple] = {} if check is None else check.variables()
    figs: list[tuple[Path, str]] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, m in enumerate(spatial):
        step("maps", k, len(spatial))
        panels = class_average(m, labels, predicted, by, correct_only)
        saved += [panels, replace(m, name=f"{m.name}_per_animal", data=m.data.astype(np.float32))]
        comps = results[m.name]
        if comps:
            maps, per = _comparison_maps(m, comps)
            saved += maps
            variables.update(per)
        if not figures:
            continue
        what, units, how = DESCRIBE[m.name]
        scope = "data" if m.name == "input" else "out of fold"
        what += "" if check is None else check.flag(m.name)
        figs.append((
            plot_class_grid(panels, out_dir / f"{m.name}.png", title=f"{m.name} ({scope}): {what}",
                            colorbar_label=units),
            f"class panels ({' '.join(classes)}): {how}.",
        ))  # fmt: skip
        if comps:
            family = comps[0].meta["holm"]["family"]
            figs.append((
                plot_comparisons(
                    comps, out_dir / f"{m.name}_differences.png", units=units,
                    title=f"{m.name}: differences of the class panels; dots: p <= {alpha} "
                    f"adjusted over the {family} family's maps and comparisons"
                    + ("" if check is None else check.flag(m.name)),
                ),
                f"class panel differences of `{m.name}`: red where the first classes are higher, "
                f"blue where the second are; dots significant (adjusted, {family} family).",
            ))  # fmt: skip
    hours = [m for m in per_sample if isinstance(m, HourProfile)]
    for m in hours:
        m.interval_h = interval_h
        avg = class_average(m, labels, predicted, by, correct_only)
        saved += [avg, replace(m, name=f"{m.name}_per_animal", data=m.data.astype(np.float32))]
        if figures:
            what, ylabel = HOURS[m.name]
            figs.append((
                plot_hours(avg, m, labels, out_dir / f"{m.name}.png",
                           title=f"{m.name}, out of fold: {what}"
                           + ("" if check is None else check.flag(m.name)), ylabel=ylabel),
                f"hour by hour: {what} (class means with a standard-error band, then every "
                "animal); the hours with large values carry the evidence.",
            ))  # fmt: skip
    if run.model is not None:
        step("activations", 0, 1)
        for m in activation_maps(run.model.model, dataset.X, run.model.scaler, geometry, classes):
            m.meta["model"] = "final (all data)"
            avg = class_average(m, labels, predicted, by, correct_only)
            sep = channel_separation(m, labels)
            saved.append(avg)
            variables[f"{m.name}_separation"] = (
                ("channel",),
                sep,
                {"long_name": "eta squared: share of the channel's variance across animals "
                 "(all pixels) explained by class"},
            )  # fmt: skip
            if figures:
                k, layer = m.meta["kernel_size"], m.meta["layer"]
                stage = "after ReLU" if layer == "relu" else "after pooling"
                figs.append((
                    plot_activations(avg, sep, out_dir / f"{m.name}.png",
                                     title=f"{k}x{k} branch {stage}, final model: class-averaged "
                                     "activation per channel, ranked by eta squared"),
                    f"the paper's figure: each channel of the {k}x{k} branch {stage} averaged "
                    f"per class (columns {' '.join(classes)}), channels ranked by how much they "
                    "separate the classes (eta squared); final model, seen every animal.",
                ))  # fmt: skip
    coords = {
        "animal": ("sample", np.asarray(dataset.animals).astype(str)),
        "cage": ("sample", np.asarray(cages).astype(str)),
        "recording": ("sample", np.asarray(dataset.recordings).astype(str)),
        "label": ("sample", np.asarray(classes)[labels].astype(str)),
    }
    coords.update({} if check is None else check.coords())
    coords.update({} if stable is None else {"seed": ("seed", stable.seeds)})
    first = next((c for c in results.values() if c), [])
    schemes = {c.name: c.meta["scheme"] for c in first}
    if first:
        coords["contrast_red"] = ("contrast", [c.contrast.legend["red"] for c in first])
        coords["contrast_blue"] = ("contrast", [c.contrast.legend["blue"] for c in first])
    families = {"primary": primary, "secondary": [n.name for n in spatial if n.name != primary]}
    attrs = {
        "title": "napari-mousestop explanation maps",
        "run": str(run_dir),
        "dataset": str(run.report.get("config", {}).get("dataset")),
        "dataset_params": params,
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
        "primary_map": primary,
        "contrasts": [c.name for c in chosen],
        "holm_families": families,
        "skipped_contrasts": skipped,
        "design": design.to_dict(),
        "schemes": schemes,
        "n_folds": len(run.folds),
        "folds_held_out": [sorted(set(cages[_as_index(f.test_index)])) for f in run.folds],
        "differences": "every difference is the class panel of the first classes minus that of "
        "the second (positive: first higher); for evidence maps a class panel is the evidence "
        "for that class averaged over its animals",
        "notes": notes(chosen) + scheme_notes(schemes, skipped),
        **checks.attrs(check, stable),
    }
    step("writing", 0, 1)
    path = save_maps(saved, out_dir / "maps.nc", attrs, variables, coords)
    index = None
    if figures:
        index = write_index(
            out_dir / "index.md",
            "Explanation maps",
            [(p, how) for p, how in figs],
            notes=_index_notes(path, primary, alpha, skipped, schemes, chosen)
            + checks.lines(check, stable),
        )
    names = [m.name for m in saved] + list(variables)
    return ExplanationRun(
        maps=names, file=Path(path), figures=[p for p, _ in figs], index=index, skipped=skipped
    )


def notes(contrasts: Sequence[Contrast]) -> list[str]:
    """How to read the maps, with the study's own classes in the examples."""
    pair = next((c for c in contrasts if c.kind == "pair"), None)
    example = (
        f"its evidence for {pair.positive[0]} minus its evidence for {pair.negative[0]}"
        if pair is not None
        else "its evidence for the first classes minus its evidence for the second"
    )
    return [
        "Evidence maps (contribution, gradcam, occlusion) are out of fold: each animal is "
        "explained by the fold model that held its cage out (the folds the run recorded).",
        "Activation maps come from the final all-data model only: channel k of one model has "
        "nothing to do with channel k of another, and the final model has seen every animal.",
        "Permutation tests relabel units the way the study's design allows (the scheme of each "
        "comparison is listed below and saved in the maps file); p-values are family-wise over "
        "each map (max-statistic), then adjusted across maps (min-P) and comparisons (Holm), "
        "separately for the primary map and for all other maps.",
        "Colours of a difference are the class panels' difference (red: the first classes "
        f"higher). For evidence maps the dots test each animal's evidence contrast ({example}, "
        "the same quantity for every animal) between the units of the comparison's scheme: "
        "where the evidence separates the classes.",
        "Out-of-fold evidence maps are not exactly exchangeable under the null (each fold model "
        "learnt from the other cages' labels): treat their tests as exploratory; confirmatory "
        "claims need the retrained null (train with --retrain-permutations; then every "
        "comparison uses it, see the section on confirmatory p-values). The stop maps (`input`) "
        "are tested exactly.",
    ]


def scheme_notes(schemes: dict[str, dict], skipped: dict[str, str]) -> list[str]:
    """One line per comparison: the scheme its test used (unit, relabelling, labellings,
    smallest p), then one per comparison left out, with the reason."""
    out = []
    for name, s in schemes.items():
        how = "all listed" if s["exact"] else "random ones drawn"
        out.append(
            f"`{name}`: unit {s['unit']}; {s['description']}; {s['n_labellings']:,} labellings "
            f"({how}); smallest possible p {s['min_p']:.3g}."
        )
    out += [f"`{name}` not tested: {why}" for name, why in skipped.items()]
    return out


def _index_notes(
    path,
    primary: str,
    alpha: float,
    skipped: dict[str, str],
    schemes: dict[str, dict],
    contrasts: Sequence[Contrast],
) -> list[str]:
    out = [
        f"All arrays are in one file, `{path.name}` (NetCDF: open with "
        f"`xarray.open_dataset('{path.name}')` or drag it into napari); every parameter is an "
        "attribute of the file.",
        "",
        f"Primary map (named in advance): `{primary}`; its comparisons are one Holm family at "
        f"alpha = {alpha}, the comparisons of all other maps a second one. Red always means the "
        "first classes of a comparison are higher, blue the second.",
        "",
        *[f"- {note}" for note in notes(contrasts)],
    ]
    if schemes or skipped:
        out += ["", "How each comparison was tested (the schemes used):"]
        out += [f"- {line}" for line in scheme_notes(schemes, skipped)]
    return out
