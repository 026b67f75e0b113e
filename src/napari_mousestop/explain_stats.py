"""Class averages of explanation maps and a cage-level permutation test of class differences.

Animals of one cage share their cage, their recording sessions and each other: they are not
independent. The permutation test therefore works on **cage units**: the mean map of the animals
of one class (group) in one cage. Under the null hypothesis that the two groups do not differ,

* a cage holding both groups (e.g. adult and juvenile recordings of the same female cage) may have
  its two units swapped, and
* units of cages holding only one group (e.g. AF cages against AM cages) may exchange labels.

Family-wise error over all pixels (and channels) is controlled with the max-statistic: each pixel's
statistic is compared with the permutation distribution of the maximum absolute statistic over the
whole map.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .explain import ExplanationMap, HourProfile


def _groups(classes: Sequence[str], group: str | Sequence[str]) -> list[int]:
    names = [group] if isinstance(group, str) else list(group)
    unknown = [g for g in names if g not in classes]
    if unknown or not names:
        raise ValueError(f"unknown class {unknown or names}; classes are {list(classes)}")
    return [list(classes).index(g) for g in names]


def class_average(
    maps: ExplanationMap | HourProfile,
    labels: np.ndarray,
    predicted: np.ndarray | None = None,
    by: str = "true",
    correct_only: bool = False,
) -> ExplanationMap | HourProfile:
    """Mean map of each class's animals.

    For maps with a class axis (evidence maps) class ``g``'s panel is the evidence *for* ``g``
    averaged over the animals of ``g``; for activation maps (channel axis) it is the mean of all
    channels over those animals. Per-channel averages must come from one model (channel ``k`` of
    one fold model has nothing to do with channel ``k`` of another).

    Parameters
    ----------
    maps
        Per-sample maps (first axis ``"sample"``).
    labels
        True class index per sample.
    predicted
        Predicted class index per sample (needed for ``by="predicted"`` or ``correct_only``).
    by
        ``"true"`` or ``"predicted"``: which class an animal is averaged into.
    correct_only
        Keep only correctly classified animals.

    Returns
    -------
    ExplanationMap or HourProfile
        Axis ``"sample"`` replaced by ``"class"``; classes without animals are NaN.
        ``meta["n_per_class"]`` counts the animals averaged.
    """
    if maps.axes[0] != "sample":
        raise ValueError(f"map {maps.name!r} is not per sample (axes {maps.axes})")
    labels = np.asarray(labels)
    if by not in ("true", "predicted"):
        raise ValueError(f"by must be 'true' or 'predicted', got {by!r}")
    if (by == "predicted" or correct_only) and predicted is None:
        raise ValueError("predicted classes are needed to average by prediction or correct only")
    group = labels if by == "true" else np.asarray(predicted)
    keep = np.ones(len(labels), bool) if not correct_only else labels == np.asarray(predicted)
    has_class_axis = len(maps.axes) > 1 and maps.axes[1] == "class"
    n_classes = len(maps.classes)
    shape = maps.data.shape[2:] if has_class_axis else maps.data.shape[1:]
    out = np.full((n_classes, *shape), np.nan)
    counts = []
    for g in range(n_classes):
        sel = keep & (group == g)
        counts.append(int(sel.sum()))
        if sel.any():
            out[g] = maps.data[sel, g].mean(0) if has_class_axis else maps.data[sel].mean(0)
    axes = ("class", *(maps.axes[2:] if has_class_axis else maps.axes[1:]))
    meta = {**maps.meta, "averaged_by": by, "correct_only": correct_only, "n_per_class": counts}
    return replace(maps, data=out, axes=axes, meta=meta)


def sample_contrast(maps: ExplanationMap, a: str | Sequence[str], b: str | Sequence[str]):
    """Per-sample map to compare groups ``a`` and ``b``.

    For evidence maps (class axis): evidence for ``a`` minus evidence for ``b`` (for contribution
    maps exactly each location's share of the logit difference); otherwise the map itself.
    """
    if len(maps.axes) > 1 and maps.axes[1] == "class":
        ia, ib = _groups(maps.classes, a), _groups(maps.classes, b)
        return maps.data[:, ia].mean(1) - maps.data[:, ib].mean(1)
    return maps.data


@dataclass
class Comparison:
    """Group ``a`` against group ``b``: difference, statistic, FWER p-values and mask."""

    a: tuple[str, ...]
    b: tuple[str, ...]
    difference: ExplanationMap
    statistic: np.ndarray
    p_values: np.ndarray
    mask: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def as_maps(self) -> list[ExplanationMap]:
        """Difference, p-value and mask as maps sharing the difference's placement."""
        d = self.difference
        return [
            d,
            replace(d, name=f"{d.name}_p", data=self.p_values, kind="pvalue"),
            replace(d, name=f"{d.name}_mask", data=self.mask.astype(np.uint8), kind="mask"),
        ]


def _units(values, labels, cages, ia, ib):
    """Cage units: mean map of each (cage, group) present."""
    units, group, cage_of = [], [], []
    for cage in np.unique(cages):
        for g, idx in ((0, ia), (1, ib)):
            sel = (cages == cage) & np.isin(labels, idx)
            if sel.any():
                units.append(values[sel].mean(0))
                group.append(g)
                cage_of.append(cage)
    return np.stack(units), np.array(group), np.array(cage_of)


_SMOOTHING = 1.0
"""Variance smoothing of the t statistic: this many times the map's mean variance is added."""


def _tstat(units: np.ndarray, group: np.ndarray, paired: bool, statistic: str) -> np.ndarray:
    if paired:
        d = units[group == 0] - units[group == 1]
        diff = d.mean(0)
        var = d.var(0, ddof=1) / len(d) if len(d) > 1 else np.zeros_like(diff)
    else:
        ua, ub = units[group == 0], units[group == 1]
        diff = ua.mean(0) - ub.mean(0)
        va = ua.var(0, ddof=1) / len(ua) if len(ua) > 1 else 0.0
        vb = ub.var(0, ddof=1) / len(ub) if len(ub) > 1 else 0.0
        var = va + vb + np.zeros_like(diff)
    if statistic == "diff":
        return diff
    # Variance floor: pixels where (almost) nobody stops would otherwise divide 0 by 0.
    floor = _SMOOTHING * float(var.mean()) + 1e-30
    return diff / np.sqrt(var + floor)


def _permutations(group, cage_of, n_permutations, rng):
    """Yield permuted group vectors (the first is the observed one) and whether all are listed."""
    cages = np.unique(cage_of)
    paired = [c for c in cages if (cage_of == c).sum() == 2]
    single = np.flatnonzero(~np.isin(cage_of, paired))
    pair_idx = [np.flatnonzero(cage_of == c) for c in paired]
    n_total = 2 ** len(paired) * math.comb(len(single), int((group[single] == 0).sum()))
    if n_total <= n_permutations + 1:
        yield True
        n_a = int((group[single] == 0).sum())
        for flips in itertools.product((False, True), repeat=len(paired)):
            for chosen in itertools.combinations(range(len(single)), n_a):
                g = group.copy()
                for flip, idx in zip(flips, pair_idx, strict=True):
                    if flip:
                        g[idx] = g[idx[::-1]]
                g[single] = 1
                g[single[list(chosen)]] = 0
                yield g
        return
    yield False
    yield group.copy()
    for _ in range(n_permutations):
        g = group.copy()
        for idx in pair_idx:
            if rng.random() < 0.5:
                g[idx] = g[idx[::-1]]
        g[single] = rng.permutation(group[single])
        yield g


def compare_classes(
    maps: ExplanationMap,
    labels: np.ndarray,
    cages: np.ndarray,
    a: str | Sequence[str],
    b: str | Sequence[str],
    n_permutations: int = 1000,
    alpha: float = 0.05,
    statistic: str = "t",
    seed: int = 0,
) -> Comparison:
    """Where do groups ``a`` and ``b`` differ? Difference map and cage-level permutation test.

    Parameters
    ----------
    maps
        Per-sample maps (first axis ``"sample"``); for evidence maps the compared quantity is
        each animal's evidence for ``a`` minus its evidence for ``b`` (:func:`sample_contrast`).
    labels, cages
        True class index and cage id of each sample.
    a, b
        Class name or names of each group (e.g. ``"AF"`` and ``"AM"``, or ``"AF"`` and
        ``("AM", "JM", "JF")`` for one class against the rest).
    n_permutations
        Random permutations; when fewer distinct ones exist, all are enumerated (exact test).
    alpha
        Family-wise error rate of the significance mask.
    statistic
        ``"t"`` (paired or Welch t over cage units, with a small variance floor) or ``"diff"``.
    seed
        Seed of the permutations.

    Returns
    -------
    Comparison
        ``difference`` (mean of a's cage units minus mean of b's), ``statistic``, ``p_values``
        (FWER-adjusted, max-statistic) and ``mask`` (``p_values < alpha``).
    """
    if statistic not in ("t", "diff"):
        raise ValueError(f"statistic must be 't' or 'diff', got {statistic!r}")
    ia, ib = _groups(maps.classes, a), _groups(maps.classes, b)
    if set(ia) & set(ib):
        raise ValueError(f"groups {a!r} and {b!r} share a class")
    labels, cages = np.asarray(labels), np.asarray(cages).astype(str)
    if maps.axes[0] != "sample" or len(labels) != len(maps.data) or len(cages) != len(labels):
        raise ValueError(f"map {maps.name!r} needs one label and one cage per sample")
    values = sample_contrast(maps, a, b).astype(np.float64)
    units, group, cage_of = _units(values, labels, cages, ia, ib)
    if (group == 0).sum() == 0 or (group == 1).sum() == 0:
        raise ValueError(f"no animals of {a!r} or of {b!r} to compare")
    paired = bool(all((cage_of == c).sum() == 2 for c in np.unique(cage_of)))
    observed = _tstat(units, group, paired, statistic)
    rng = np.random.default_rng(seed)
    perms = _permutations(group, cage_of, n_permutations, rng)
    exact = next(perms)
    maxima = np.array([np.abs(_tstat(units, g, paired, statistic)).max() for g in perms])
    # maxima[0] is the observed labelling; it counts once, as it must.
    exceed = (maxima[None, :] >= np.abs(observed).reshape(-1, 1) - 1e-12).sum(1)
    p = (exceed / len(maxima)).reshape(observed.shape)
    names = lambda g: (g,) if isinstance(g, str) else tuple(g)  # noqa: E731
    label = f"{'+'.join(names(a))}-{'+'.join(names(b))}"
    diff = units[group == 0].mean(0) - units[group == 1].mean(0)
    axes = maps.axes[2:] if len(maps.axes) > 1 and maps.axes[1] == "class" else maps.axes[1:]
    meta = {
        **maps.meta,
        "a": list(names(a)),
        "b": list(names(b)),
        "n_cage_units": [int((group == 0).sum()), int((group == 1).sum())],
        "paired": paired,
        "n_permutations": len(maxima) - 1 if not exact else len(maxima),
        "exact": exact,
        "statistic": statistic,
        "alpha": alpha,
        "seed": seed,
    }
    difference = replace(
        maps, name=f"{maps.name}_{label}", data=diff, kind="difference", axes=axes, meta=meta
    )
    return Comparison(names(a), names(b), difference, observed, p, p < alpha, meta)
