"""Model randomisation check of the evidence maps (Adebayo et al. 2018, "Sanity checks for
saliency maps").

An evidence map that explains *the model* must change when the model changes. For every map
kind the out-of-fold maps of the trained fold models are compared with the maps of

* the same fold models with randomised weights, cascading from the top: the classifier only,
  then the classifier and the last convolution branch, ... down to every layer
  (``"all layers"``); randomised weights are drawn from PyTorch's default initialisation
  (uniform in ``+-1/sqrt(fan_in)``), from a seed of their own, each fold's scaler kept;
* fold models trained on labels permuted at the design's level (``"permuted labels"``): the
  first retrained permutation of the run when it kept its fold models, else one
  cross-validation trained here with the run's settings.

For each class the class panels (the evidence for that class averaged over its animals, by
true class) of the trained and of the randomised maps are compared by Spearman's rank
correlation (:func:`scipy.stats.spearmanr`, over the pixels) and by SSIM
(:func:`skimage.metrics.structural_similarity`, each panel rescaled to [0, 1]). A map kind whose
class panels keep a mean rank correlation above ``threshold`` (0.5) against the fully
randomised models or against the permuted-label models is **not sensitive to the model**: its
pictures come from the input more than from what the model learnt. The stop maps (``input``)
are the data themselves and always fail this check, as they must.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from napari_mousestop.explain.maps import ExplanationMap, HourProfile
from napari_mousestop.learning.model import StopCNN
from napari_mousestop.progress import ProgressCallback, notify

THRESHOLD = 0.5
"""Mean rank correlation above which a map kind is "not sensitive to the model"."""

PERMUTED = "permuted labels"
"""Name of the comparison with fold models trained on permuted labels."""

ALL_LAYERS = "all layers"
"""Name of the last cascading randomisation stage."""

INSENSITIVE = "not sensitive to the model"
"""What figure titles and the index say of a map kind that fails the check."""


def layer_groups(model: StopCNN) -> list[tuple[str, list[torch.nn.Module]]]:
    """The model's layers from the output down: the classifier, then each branch's
    convolution, last branch first."""
    groups: list[tuple[str, list[torch.nn.Module]]] = [("classifier", [model.classifier])]
    for branch in reversed(model.branches):
        groups.append((f"k{branch.kernel_size}", [branch.conv]))
    return groups


def stage_names(model: StopCNN) -> list[str]:
    """Names of the cascading stages: ``classifier``, ``classifier+k9``, ..., ``all layers``."""
    names = [g for g, _ in layer_groups(model)]
    out = ["+".join(names[: s + 1]) for s in range(len(names))]
    out[-1] = ALL_LAYERS
    return out


def randomised(model: StopCNN, stage: int, seed: int | Sequence[int]) -> StopCNN:
    """A copy of ``model`` with the top ``stage + 1`` layer groups re-drawn at random.

    Every layer group draws from its own generator (``seed`` and the group's position), so a
    layer randomised at one stage keeps the same random weights at the next stages (cascading).
    The draw is PyTorch's default initialisation: weights and biases uniform in
    ``+-1/sqrt(fan_in)``.
    """
    out = copy.deepcopy(model).cpu().eval()
    groups = layer_groups(out)
    if not 0 <= stage < len(groups):
        raise ValueError(f"stage must lie in [0, {len(groups) - 1}] (got {stage})")
    base = [int(s) for s in np.atleast_1d(seed)]
    with torch.no_grad():
        for g, (_, modules) in enumerate(groups[: stage + 1]):
            gen = torch.Generator().manual_seed(
                int(np.random.SeedSequence([*base, g]).generate_state(1)[0])
            )
            for module in modules:
                fan_in = module.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                for p in module.parameters():
                    p.copy_((torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 - 1) * bound)
    return out


def _panels(m: ExplanationMap | HourProfile, labels: np.ndarray) -> np.ndarray:
    """Class panels of per-animal maps (:func:`~napari_mousestop.explain.stats.class_average`:
    the evidence for g of the animals of g; stop maps: the mean map of the animals of g)."""
    from napari_mousestop.explain.stats import class_average

    return np.asarray(class_average(m, labels).data, dtype=np.float64)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or a.std() == 0 or b.std() == 0:
        return float("nan")  # a constant panel has no ranks to correlate
    return float(spearmanr(a, b).statistic)


def _unit(a: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(a)), float(np.max(a))
    return np.zeros_like(a) if hi == lo else (a - lo) / (hi - lo)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    if a.ndim != 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")  # hour profiles: no image; empty class: no panel
    win = min(7, *a.shape)
    win -= 1 - win % 2
    if win < 3:
        return float("nan")  # smaller than SSIM's smallest window
    return float(structural_similarity(_unit(a), _unit(b), win_size=win, data_range=1.0))


@dataclass
class SanityCheck:
    """The model randomisation check of every map kind.

    Attributes
    ----------
    maps
        Map kinds checked (spatial maps and hour profiles).
    randomisations
        The cascading stages (:func:`stage_names`), then :data:`PERMUTED` when checked.
    classes
        Class names (last axis of the figures).
    spearman, ssim
        (map, randomisation, class): similarity of the trained and the randomised class panels
        (SSIM is NaN for hour profiles and panels too small for its window).
    threshold
        Mean rank correlation above which a map kind is flagged.
    insensitive
        Flagged map kinds, each with the reason in words.
    meta
        Seeds, where the permuted-label models came from, skipped comparisons.
    """

    maps: list[str]
    randomisations: list[str]
    classes: tuple[str, ...]
    spearman: np.ndarray
    ssim: np.ndarray
    threshold: float = THRESHOLD
    insensitive: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def mean_spearman(self, name: str, randomisation: str) -> float:
        """Mean over classes of the rank correlation (NaN classes left out)."""
        row = self.spearman[self.maps.index(name), self.randomisations.index(randomisation)]
        return float(np.nanmean(row)) if np.isfinite(row).any() else float("nan")

    def flag(self, name: str) -> str:
        """A second title line, "NOT SENSITIVE TO THE MODEL", for a flagged kind (its figures'
        titles), else ``""``; the branch maps (``contribution_k3``) follow their own check."""
        return f"\n{INSENSITIVE.upper()} (randomisation check)" if name in self.insensitive else ""

    def variables(self) -> dict[str, tuple]:
        """Variables for :func:`~napari_mousestop.explain.files.save_maps`."""
        dims = ("sanity_map", "randomisation", "class")
        return {
            "sanity_spearman": (dims, self.spearman, {
                "long_name": "Spearman rank correlation of trained and randomised class panels",
            }),
            "sanity_ssim": (dims, self.ssim, {
                "long_name": "SSIM of trained and randomised class panels (each in [0, 1])",
            }),
            "sanity_insensitive": (("sanity_map",), [m in self.insensitive for m in self.maps], {
                "long_name": f"1: {INSENSITIVE} (mean rank correlation above {self.threshold})",
            }),
        }  # fmt: skip

    def coords(self) -> dict[str, tuple]:
        """Coordinates of :meth:`variables`."""
        return {
            "sanity_map": ("sanity_map", list(self.maps)),
            "randomisation": ("randomisation", list(self.randomisations)),
        }

    def lines(self) -> list[str]:
        """A markdown section for the index: the rule, a table, the flagged kinds."""
        out = [
            "## Model randomisation check",
            "",
            "Class panels of the trained fold models against those of the same models with "
            "randomised weights (cascading from the classifier down to all layers) and of fold "
            f"models trained on {self.meta.get('permuted', 'permuted labels')}: mean Spearman "
            "rank correlation over classes (SSIM in brackets). A map kind whose correlation "
            f"stays above {self.threshold} against the fully randomised or the permuted-label "
            f"models is **{INSENSITIVE}**.",
            "",
            "| map | " + " | ".join(self.randomisations) + " | verdict |",
            "|---|" + "---|" * (len(self.randomisations) + 1),
        ]
        for i, name in enumerate(self.maps):
            cells = []
            for j, _ in enumerate(self.randomisations):
                r, s = self.spearman[i, j], self.ssim[i, j]
                rho = np.nanmean(r) if np.isfinite(r).any() else np.nan
                ss = np.nanmean(s) if np.isfinite(s).any() else np.nan
                cells.append(f"{rho:.2f}" + ("" if np.isnan(ss) else f" ({ss:.2f})"))
            verdict = INSENSITIVE if name in self.insensitive else "passes"
            out.append(f"| `{name}` | " + " | ".join(cells) + f" | {verdict} |")
        for name, why in self.meta.get("skipped", {}).items():
            out.append(f"- {name}: {why}")
        return out


def similarity(
    trained: Sequence[ExplanationMap | HourProfile],
    others: dict[str, Sequence[ExplanationMap | HourProfile]],
    labels: np.ndarray,
    classes: Sequence[str],
    threshold: float = THRESHOLD,
    meta: dict | None = None,
) -> SanityCheck:
    """Compare per-animal maps of the trained models with those of other models.

    Parameters
    ----------
    trained
        Per-animal maps (first axis ``sample``) of the trained fold models.
    others
        For each randomisation, the same maps (same names) of the randomised models.
    labels
        True class of each animal (the class panels of both sides use them).
    """
    labels = np.asarray(labels)
    names = [m.name for m in trained]
    stages = list(others)
    rho = np.full((len(names), len(stages), len(classes)), np.nan)
    ssim = np.full_like(rho, np.nan)
    for j, stage in enumerate(stages):
        by_name = {m.name: m for m in others[stage]}
        for i, m in enumerate(trained):
            a, b = _panels(m, labels), _panels(by_name[m.name], labels)
            for c in range(min(len(classes), len(a))):
                rho[i, j, c] = _spearman(a[c], b[c])
                ssim[i, j, c] = _ssim(a[c], b[c])
    check = SanityCheck(names, stages, tuple(classes), rho, ssim, threshold, meta=dict(meta or {}))
    decisive = [s for s in (ALL_LAYERS, PERMUTED) if s in stages]
    for name in names:
        high = {s: check.mean_spearman(name, s) for s in decisive}
        high = {s: r for s, r in high.items() if r > threshold}
        if high:
            check.insensitive[name] = (
                "rank correlation "
                + ", ".join(f"{r:.2f} against {s}" for s, r in high.items())
                + f" (above {threshold})"
            )
    return check


def model_randomisation_check(
    folds: Sequence[Any],
    X: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    trained: Sequence[ExplanationMap | HourProfile],
    explain: Callable[[Sequence[Any]], list[ExplanationMap | HourProfile]],
    permuted_folds: Sequence[Any] | None = None,
    seed: int = 0,
    threshold: float = THRESHOLD,
    meta: dict | None = None,
    progress: ProgressCallback | None = None,
) -> SanityCheck:
    """The model randomisation check (module docstring) of out-of-fold maps.

    Parameters
    ----------
    folds
        The trained fold models (``.model``, ``.scaler``, ``.test_index``).
    X
        All samples, raw.
    labels, classes
        True class of each sample, class names.
    trained
        The per-animal maps of the trained folds (``explain(folds)``, computed once already).
    explain
        ``explain(folds)``: the per-animal maps of some fold models, with the same names as
        ``trained`` (e.g. :func:`~napari_mousestop.explain.run.out_of_fold` plus the stop maps).
    permuted_folds
        Fold models trained on labels permuted at the design's level (None: that comparison is
        left out, said in ``meta["skipped"]``).
    seed
        Seed of the random weights.
    threshold
        See :data:`THRESHOLD`.
    meta
        Recorded with the result (where the permuted-label models came from...).
    progress
        Called after each randomisation.
    """
    if not folds:
        raise ValueError("no fold models to randomise")
    stages = stage_names(folds[0].model)
    total = len(stages) + (permuted_folds is not None)
    others: dict[str, list] = {}
    for s, stage in enumerate(stages):
        random_folds = [
            SimpleNamespace(
                model=randomised(f.model, s, (seed, k)), scaler=f.scaler, test_index=f.test_index
            )
            for k, f in enumerate(folds)
        ]
        others[stage] = explain(random_folds)
        notify(progress, s + 1, total, f"randomised {stage}")
    info = {"seed": seed, "stages": stages, **(meta or {})}
    if permuted_folds is not None:
        others[PERMUTED] = explain(permuted_folds)
        notify(progress, total, total, "permuted labels")
    else:
        why = (meta or {}).get("permuted") or "no fold models trained on permuted labels"
        info.setdefault("skipped", {})[PERMUTED] = why
    return similarity(trained, others, labels, classes, threshold, info)


__all__ = [
    "ALL_LAYERS",
    "INSENSITIVE",
    "PERMUTED",
    "THRESHOLD",
    "SanityCheck",
    "layer_groups",
    "model_randomisation_check",
    "permuted_label_folds",
    "randomised",
    "similarity",
    "stage_names",
]


def permuted_label_folds(
    dataset, config, permuted: Sequence[Any] = (), seed: int = 0
) -> tuple[list | None, str]:
    """Fold models trained on labels permuted at the design's level, and where they came from.

    The first of the run's retrained permutations (:class:`~.retrained.PermutedRun`) when it
    kept its fold models; else one cross-validation trained here with the run's settings
    ``config`` on a relabelling of the study's design
    (:meth:`~napari_mousestop.design.StudyDesign.scheme_for` ``"accuracy"``: every factor
    relabelled at the level it varies at) other than the observed one, drawn from ``seed``.
    None, with the reason, when the design allows no other labelling. Folds trained here
    carry the labels they were trained on (``.labels``).
    """
    from dataclasses import replace

    from napari_mousestop.design import StudyDesign
    from napari_mousestop.learning.training import cv_jobs, run_jobs

    permuted = [r for r in permuted if not np.array_equal(r.labels, dataset.labels)]
    if permuted:
        first = permuted[0]
        return first.load_folds(), (
            f"labels permuted at the design's level (the run's retrained permutation "
            f"{first.number})"
        )
    scheme = StudyDesign.from_dataset(dataset).scheme_for("accuracy")
    if not scheme.valid:
        return None, scheme.reason
    rng = np.random.default_rng([int(seed), 0x73616E])
    drawn = scheme.labellings(64, rng)
    drawn = drawn[(drawn != np.asarray(dataset.labels)).any(axis=1)]
    if not len(drawn):
        return None, f"the design allows no labelling but the observed one ({scheme.description})"
    labels = np.asarray(drawn[rng.integers(len(drawn))])
    jobs = [replace(j, keep_model=True) for j in cv_jobs(dataset, config, 1, labels, "sanity")]
    outputs = run_jobs(dataset, jobs)
    folds = []
    for j in jobs:
        out = outputs[j.id]
        folds.append(SimpleNamespace(model=out.model, scaler=out.scaler, test_index=j.test,
                                     labels=labels))  # fmt: skip
    return folds, (
        f"labels relabelled by the study's design ({scheme.unit}: {scheme.description}); one "
        "cross-validation trained for this check with the run's settings"
    )
