"""Class panels, their differences, and cage-level permutation tests of those differences.

Panels and differences
----------------------
The **panel** of class ``g`` is the mean map of the animals of ``g`` (:func:`class_average`; for
evidence maps, the evidence *for g* of the animals of ``g``). Every comparison is a weighted sum
of panels (:class:`Contrast`), so its sign says which classes are higher:

* a pair ``"AF - AM"``: panel AF minus panel AM;
* ``"sex (F - M)"``: mean of the female panels minus mean of the male panels;
* ``"age (A - J)"``: mean of the adult panels minus mean of the juvenile panels;
* ``"sex x age"``: (AF - JF) - (AM - JM), the adult-juvenile difference of females minus that of
  males.

Positive (red in every figure and in the Compare widget) marks where the first classes are
higher, negative (blue) where the second are.

The test
--------
Animals of one cage share their cage, their recording sessions and each other: they are not
independent. Tests therefore work on **cage units** and permute them only the way the design
assigned labels: sex belongs to a whole cage (exchanged across cages), age to a recording within
a cage (swapped within the cage). For stop maps and activations a unit is the mean map of some
animals, and the test is on the difference shown. For evidence maps it is the mean of what
:func:`test_values` gives: the contrast of each animal's evidence (e.g. its evidence for AF
minus its evidence for AM), the same quantity for every animal; the dots of a difference map
thus mark where that evidence differs between the groups, and the colour which class panel is
higher there.

* Pairs of one age and two sexes (``AF - AM``): the cages' units exchange their sex labels
  (6 against 6 cages: 924 labellings).
* Pairs of one sex and two ages (``AF - JF``): each cage's adult and juvenile units may swap
  (6 cages: 64 labellings).
* ``sex``: one unit per cage (its ages averaged), sex exchanged across cages (12 cages: 924).
* ``age``: adult and juvenile units swapped within each cage (12 cages: 4096).
* ``sex x age``: one unit per cage, its adult minus juvenile difference; sex exchanged across
  cages (924).

Within one map, family-wise error over all pixels (and channels) is controlled with the
max-statistic: each pixel's statistic is compared with the permutation distribution of the
maximum absolute statistic over the whole map. :func:`adjust` extends the control across maps
(min-P over the same labellings) and across comparisons (Holm); :func:`compare_all` applies it
to a primary map named in advance and, separately, to all other maps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from napari_mousestop.explain.maps import ExplanationMap, HourProfile


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
    labelled = _has_class_axis(maps)
    n_classes = len(maps.classes)
    shape = maps.data.shape[2:] if labelled else maps.data.shape[1:]
    out = np.full((n_classes, *shape), np.nan)
    counts = []
    for g in range(n_classes):
        sel = keep & (group == g)
        counts.append(int(sel.sum()))
        if sel.any():
            out[g] = maps.data[sel, g].mean(0) if labelled else maps.data[sel].mean(0)
    axes = ("class", *(maps.axes[2:] if labelled else maps.axes[1:]))
    meta = {**maps.meta, "averaged_by": by, "correct_only": correct_only, "n_per_class": counts}
    return replace(maps, data=out, axes=axes, meta=meta)


def channel_separation(maps: ExplanationMap, labels: np.ndarray) -> np.ndarray:
    """How much each channel separates the classes: eta squared over animals and pixels.

    For each channel, the share of the variance of the per-animal maps (all pixels together)
    that the class means explain: between-class sum of squares over total sum of squares, from
    0 (class means equal) to 1 (animals of a class identical). Used to rank the channels of
    activation maps (``("sample", "channel", y, x)``).
    """
    if maps.axes[:2] != ("sample", "channel"):
        raise ValueError(f"map {maps.name!r} has no (sample, channel) axes: {maps.axes}")
    labels = np.asarray(labels)
    data = np.asarray(maps.data, dtype=np.float64).reshape(*maps.data.shape[:2], -1)
    grand = data.mean(0)
    total = ((data - grand) ** 2).sum(axis=(0, 2))
    between = np.zeros(data.shape[1])
    for g in np.unique(labels):
        sel = labels == g
        between += sel.sum() * ((data[sel].mean(0) - grand) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, between / total, 0.0)


# --- comparisons -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contrast:
    """A comparison of classes: the weighted sum of class panels it shows.

    Attributes
    ----------
    name
        Title, e.g. ``"AF - AM"`` or ``"sex (F - M)"``.
    weights
        Weight of each class panel; positive classes sum to 1 (or 2 for the interaction).
    kind
        ``"pair"``, ``"sex"``, ``"age"`` or ``"interaction"``: which units and permutations.
    """

    name: str
    weights: tuple[tuple[str, float], ...]
    kind: str = "pair"

    @property
    def positive(self) -> tuple[str, ...]:
        """Classes where a positive (red) difference means "higher"."""
        return tuple(c for c, w in self.weights if w > 0)

    @property
    def negative(self) -> tuple[str, ...]:
        """Classes where a negative (blue) difference means "higher"."""
        return tuple(c for c, w in self.weights if w < 0)

    @property
    def legend(self) -> dict[str, str]:
        """What red and blue mean, in words."""
        if self.kind == "pair":
            a, b = self.positive[0], self.negative[0]
            return {"red": f"{a} higher than {b}", "blue": f"{b} higher than {a}"}
        if self.kind == "sex":
            return {"red": "females (AF, JF) higher", "blue": "males (AM, JM) higher"}
        if self.kind == "age":
            return {"red": "adults (AF, AM) higher", "blue": "juveniles (JF, JM) higher"}
        return {
            "red": "adult-juvenile difference larger in females (AF - JF > AM - JM)",
            "blue": "adult-juvenile difference larger in males (AM - JM > AF - JF)",
        }


def pair(a: str, b: str) -> Contrast:
    """Class ``a`` against class ``b``: panel ``a`` minus panel ``b``."""
    if a == b:
        raise ValueError(f"compare two different classes, got {a!r} twice")
    return Contrast(f"{a} - {b}", ((a, 1.0), (b, -1.0)), "pair")


PAIRS: tuple[tuple[str, str], ...] = (("AF", "AM"), ("JF", "JM"), ("AF", "JF"), ("AM", "JM"))
"""Default class pairs: sex within age, then age within sex."""

FACTORS: tuple[Contrast, ...] = (
    Contrast("sex (F - M)", (("AF", 0.5), ("JF", 0.5), ("AM", -0.5), ("JM", -0.5)), "sex"),
    Contrast("age (A - J)", (("AF", 0.5), ("AM", 0.5), ("JF", -0.5), ("JM", -0.5)), "age"),
    Contrast("sex x age", (("AF", 1.0), ("JM", 1.0), ("JF", -1.0), ("AM", -1.0)), "interaction"),
)
"""The factorial contrasts of the paper's design (sex between cages, age within cages)."""


def default_contrasts(classes: Sequence[str]) -> list[Contrast]:
    """The pairs of :data:`PAIRS` and the contrasts of :data:`FACTORS` that ``classes`` allow."""
    have = set(classes)
    out = [pair(a, b) for a, b in PAIRS if a in have and b in have]
    if {"AF", "AM", "JF", "JM"} <= have:
        out += list(FACTORS)
    return out


def _has_class_axis(maps: ExplanationMap | HourProfile) -> bool:
    return len(maps.axes) > 1 and maps.axes[1] == "class"


def _index(classes: Sequence[str], name: str) -> int:
    if name not in classes:
        raise ValueError(f"unknown class {name!r}; classes are {list(classes)}")
    return list(classes).index(name)


def test_values(maps: ExplanationMap, contrast: Contrast) -> np.ndarray:
    """What the test compares between cage units, one map per animal.

    Evidence maps: the contrast applied to each animal's evidence, e.g. its evidence for AF
    minus its evidence for AM: the same quantity for every animal, whatever its class, so the
    animals are exchangeable without a class difference. (The class panels themselves read a
    different model output for each class, and differ even without any behavioural difference:
    testing them was not calibrated, see ``docs/explainability.md``.) Stop maps and
    activations: the map itself.
    """
    values = np.asarray(maps.data, dtype=np.float64)
    if not _has_class_axis(maps):
        return values
    return sum(w * values[:, _index(maps.classes, c)] for c, w in contrast.weights)


def _units(values: np.ndarray, labels, cages, classes, contrast: Contrast):
    """Cage units of a contrast: their values, cages and group (0: positive, 1: negative).

    A unit is the mean of some animals of one cage: the animals of one class (pairs, age), of
    the whole cage with its ages averaged (sex), or adults minus juveniles (interaction).
    """
    units, cage_of, group = [], [], []

    def mean(cage, cls):
        sel = (cages == cage) & (labels == _index(classes, cls))
        return values[sel].mean(0) if sel.any() else None

    for cage in np.unique(cages):
        if contrast.kind == "pair":
            for g, cls in ((0, contrast.positive[0]), (1, contrast.negative[0])):
                m = mean(cage, cls)
                if m is not None:
                    units.append(m)
                    cage_of.append(cage)
                    group.append(g)
            continue
        by_class = {c: mean(cage, c) for c in ("AF", "JF", "AM", "JM")}
        by_class = {c: m for c, m in by_class.items() if m is not None}
        sexes = {c[1] for c in by_class}
        if len(sexes) > 1:
            raise ValueError(
                f"cage {cage} holds both sexes: the {contrast.name} contrast needs single-sex "
                "cages (compare class pairs instead)"
            )
        if not by_class:
            continue
        sex = sexes.pop()
        adult, juvenile = by_class.get("A" + sex), by_class.get("J" + sex)
        if contrast.kind == "sex":
            units.append(np.mean(list(by_class.values()), axis=0))
            cage_of.append(cage)
            group.append(0 if sex == "F" else 1)
        elif adult is None or juvenile is None:
            continue  # age and interaction need both ages in the cage
        elif contrast.kind == "age":
            units += [adult, juvenile]
            cage_of += [cage, cage]
            group += [0, 1]
        else:
            units.append(adult - juvenile)
            cage_of.append(cage)
            group.append(0 if sex == "F" else 1)
    return units, cage_of, group


_SMOOTHING = 1.0
"""Variance smoothing of the t statistic: this many times the map's mean variance is added."""


def _statistic(
    units: np.ndarray, group: np.ndarray, pairs: np.ndarray | None, statistic: str
) -> np.ndarray:
    """Statistic of labelling ``group``: paired over cages (``pairs``) or Welch over units."""
    if pairs is not None:
        first = np.where(group[pairs[:, 0]] == 0, pairs[:, 0], pairs[:, 1])
        second = np.where(group[pairs[:, 0]] == 0, pairs[:, 1], pairs[:, 0])
        d = units[first] - units[second]
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


def _labellings(group: np.ndarray, cage_of: np.ndarray, n_permutations: int, rng):
    """Number of distinct labellings, whether all are listed, and an iterator (observed first).

    Cages with two units may swap them; units of single-unit cages exchange labels.
    """
    cages = np.unique(cage_of)
    paired = [c for c in cages if (cage_of == c).sum() == 2]
    single = np.flatnonzero(~np.isin(cage_of, paired))
    pair_idx = [np.flatnonzero(cage_of == c) for c in paired]
    n_a = int((group[single] == 0).sum())
    n_total = 2 ** len(paired) * math.comb(len(single), n_a)
    exact = n_total <= n_permutations + 1

    def listed() -> Iterator[np.ndarray]:
        for flips in itertools.product((False, True), repeat=len(paired)):
            for chosen in itertools.combinations(range(len(single)), n_a):
                g = group.copy()
                for flip, idx in zip(flips, pair_idx, strict=True):
                    if flip:
                        g[idx] = g[idx[::-1]]
                g[single] = 1
                g[single[list(chosen)]] = 0
                yield g

    def drawn() -> Iterator[np.ndarray]:
        yield group.copy()
        for _ in range(n_permutations):
            g = group.copy()
            for idx in pair_idx:
                if rng.random() < 0.5:
                    g[idx] = g[idx[::-1]]
            g[single] = rng.permutation(group[single])
            yield g

    mirrored = len(single) == 0 or 2 * n_a == len(single)
    return n_total, exact, mirrored, (listed() if exact else drawn())


@dataclass
class Comparison:
    """A contrast of class panels, its statistic and p-values.

    Attributes
    ----------
    contrast
        What is compared (:class:`Contrast`); ``difference`` is its weighted sum of panels.
    difference
        The difference map (positive where ``contrast.positive`` classes are higher).
    statistic
        Permutation statistic per pixel (smoothed t or plain difference of cage units).
    p_values
        Family-wise p-values over this map (max-statistic).
    p_adjusted
        ``p_values`` adjusted across comparisons and maps (:func:`holm`; equal to
        ``p_values`` until then).
    mask
        ``p_adjusted <= alpha``.
    meta
        Units, labellings, smallest attainable p, legend, settings.
    null_max
        The largest absolute statistic of the map under each labelling (observed included),
        in the order the labellings were drawn (the same for every map of a cohort).
    """

    contrast: Contrast
    difference: ExplanationMap
    statistic: np.ndarray
    p_values: np.ndarray
    p_adjusted: np.ndarray
    mask: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    null_max: np.ndarray | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The contrast's title."""
        return self.contrast.name

    def extreme(self, sign: int = 1, mask: np.ndarray | None = None) -> tuple[float, ...] | None:
        """Position (y, x) in cm of the most positive (``sign`` 1) or most negative (-1)
        significant pixel of the difference, or None when no pixel of that sign is.

        ``mask`` replaces :attr:`mask` (e.g. ``p_values <= 0.05`` for the map alone).
        """
        diff = np.asarray(self.difference.data, dtype=float)
        sel = (self.mask if mask is None else np.asarray(mask, bool)) & (sign * diff > 0)
        if diff.ndim != 2 or not sel.any():
            return None
        iy, ix = np.unravel_index(np.argmax(np.where(sel, sign * diff, -np.inf)), diff.shape)
        ys, xs = self.difference.placement.centres(diff.shape)
        return float(ys[iy]), float(xs[ix])


def panel_difference(panels: ExplanationMap, contrast: Contrast) -> np.ndarray:
    """The contrast's weighted sum of class panels (``panels`` has a leading class axis)."""
    return sum(w * np.asarray(panels.data[_index(panels.classes, c)]) for c, w in contrast.weights)


def compare(
    maps: ExplanationMap,
    labels: np.ndarray,
    cages: np.ndarray,
    contrast: Contrast,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    statistic: str = "t",
    seed: int = 0,
) -> Comparison:
    """Where do the classes of ``contrast`` differ? Difference map and cage-level test.

    Parameters
    ----------
    maps
        Per-sample maps (first axis ``"sample"``): evidence maps ``(sample, class, y, x)``,
        stop maps ``(sample, y, x)`` or activations ``(sample, channel, y, x)``.
    labels, cages
        True class index and cage id of each sample.
    contrast
        A :func:`pair` or one of :data:`FACTORS`.
    n_permutations
        Random labellings; when fewer distinct ones exist, all are listed (exact test).
    alpha
        Family-wise error rate of the mask.
    statistic
        ``"t"`` (paired or Welch t over cage units, with a small variance floor) or ``"diff"``.
    seed
        Seed of the random labellings.

    Returns
    -------
    Comparison
        ``difference`` is the contrast of the class panels (:func:`class_average`), e.g.
        panel AF minus panel AM; ``statistic`` and ``p_values`` test :func:`test_values`
        between cage units (for stop maps and activations: the difference shown; for evidence
        maps: the contrast of each animal's evidence); ``meta["min_p"]`` the smallest p-value
        the design allows.
    """
    if statistic not in ("t", "diff"):
        raise ValueError(f"statistic must be 't' or 'diff', got {statistic!r}")
    labels, cages = np.asarray(labels), np.asarray(cages).astype(str)
    if maps.axes[0] != "sample" or len(labels) != len(maps.data) or len(cages) != len(labels):
        raise ValueError(f"map {maps.name!r} needs one label and one cage per sample")
    for c, _ in contrast.weights:
        _index(maps.classes, c)
    values = test_values(maps, contrast)
    units, cage_of, group = _units(values, labels, cages, maps.classes, contrast)
    group = np.asarray(group)
    if not len(group) or (group == 0).sum() == 0 or (group == 1).sum() == 0:
        raise ValueError(
            f"{contrast.name}: no animals of {'+'.join(contrast.positive)} or of "
            f"{'+'.join(contrast.negative)} to compare"
        )
    units, cage_of = np.stack(units), np.asarray(cage_of)
    n_per_cage = np.array([(cage_of == c).sum() for c in np.unique(cage_of)])
    paired = bool((n_per_cage == 2).all())
    pairs = np.stack([np.flatnonzero(cage_of == c) for c in np.unique(cage_of)]) if paired else None
    observed = _statistic(units, group, pairs, statistic)
    rng = np.random.default_rng(seed)
    n_total, exact, mirrored, labellings = _labellings(group, cage_of, n_permutations, rng)
    maxima = np.array([np.abs(_statistic(units, g, pairs, statistic)).max() for g in labellings])
    # the observed labelling is among them and counts once, as it must
    ranked = np.sort(maxima)
    exceed = len(ranked) - np.searchsorted(ranked, np.abs(observed) - 1e-12, side="left")
    p = exceed / len(maxima)
    # the mirrored labelling (every unit's group swapped) gives the same |statistic|
    min_p = (2.0 if mirrored else 1.0) / n_total if exact else 1.0 / len(maxima)
    panels = class_average(maps, labels)
    diff = panel_difference(panels, contrast)
    meta = {
        **maps.meta,
        "contrast": contrast.name,
        "kind": contrast.kind,
        "positive": list(contrast.positive),
        "negative": list(contrast.negative),
        "legend": contrast.legend,
        "n_cage_units": [int((group == 0).sum()), int((group == 1).sum())],
        "paired": paired,
        "n_labellings": int(n_total),
        "n_permutations": int(len(maxima)),
        "exact": bool(exact),
        "min_p": float(min_p),
        "statistic": statistic,
        "alpha": alpha,
        "seed": seed,
    }
    difference = replace(
        maps,
        name=f"{maps.name}_{contrast.name}",
        data=diff,
        kind="difference",
        classes=tuple(maps.classes),
        axes=panels.axes[1:],
        meta=meta,
    )
    return Comparison(contrast, difference, observed, p, p, p <= alpha, meta, maxima)


def compare_classes(
    maps: ExplanationMap,
    labels: np.ndarray,
    cages: np.ndarray,
    a: str,
    b: str,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    statistic: str = "t",
    seed: int = 0,
) -> Comparison:
    """Class ``a`` against class ``b``: panel ``a`` minus panel ``b``, tested (:func:`compare`)."""
    return compare(maps, labels, cages, pair(a, b), n_permutations, alpha, statistic, seed)


def _rank_p(null: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share of ``null`` at least as large as each value (the observed labelling is in ``null``)."""
    ranked = np.sort(null)
    return (len(ranked) - np.searchsorted(ranked, values - 1e-12, side="left")) / len(ranked)


def adjust(
    results: dict[str, list[Comparison]], alpha: float = 0.05, family: str = ""
) -> dict[str, list[Comparison]]:
    """Family-wise adjustment over every pixel of every map and every comparison of a family.

    ``results[map]`` lists the same comparisons, in the same order, for each map of the family
    (as :func:`compare` makes them: the same cage labellings for every map).

    * Across maps, for each comparison: min-P (Westfall and Young). Under each labelling, each
      map's smallest p-value is computed; a pixel's adjusted p is the share of labellings whose
      smallest p over all maps is at least as small as the pixel's own. The maps are strongly
      correlated (they explain the same animals), which this uses and Bonferroni would not.
    * Across comparisons (which permute different things): Holm's step-down. Comparisons are
      ranked by their smallest p; the one of rank ``r`` (from 0) among ``m`` has its p-values
      multiplied by ``m - r``, and none gets less than an earlier one's adjusted smallest p.

    So the chance that some comparison without a real difference shows a significant pixel on
    some map of the family is at most ``alpha``.

    Returns
    -------
    dict
        The same layout, with ``p_adjusted``, ``mask`` (``p_adjusted <= alpha``) and
        ``meta["holm"]`` (family, number of comparisons ``m``, rank, adjusted smallest p).
    """
    names = list(results)
    n_comp = len(results[names[0]]) if names else 0
    joint: dict[tuple[str, int], np.ndarray] = {}
    for k in range(n_comp):
        comps = [results[name][k] for name in names]
        if any(c.null_max is None for c in comps) or len({len(c.null_max) for c in comps}) > 1:
            raise ValueError("comparisons to adjust together must share their labellings")
        # smallest p of each map under each labelling, then its minimum over the maps
        min_p = np.min([_rank_p(c.null_max, c.null_max) for c in comps], axis=0)
        ranked = np.sort(min_p)
        for name, c in zip(names, comps, strict=True):
            joint[name, k] = np.searchsorted(ranked, c.p_values + 1e-12, side="right") / len(ranked)
    global_p = [min(float(joint[name, k].min()) for name in names) for k in range(n_comp)]
    order = np.argsort(global_p, kind="stable")
    out = {name: list(comps) for name, comps in results.items()}
    floor = 0.0
    for rank, k in enumerate(order):
        factor = n_comp - rank
        step = max(floor, min(1.0, factor * global_p[k]))
        for name in names:
            c = out[name][k]
            adjusted = np.maximum(np.minimum(1.0, factor * joint[name, k]), floor)
            holm_meta = {"family": family, "m": n_comp, "maps": len(names), "rank": rank, "p": step}
            out[name][k] = replace(
                c,
                p_adjusted=adjusted,
                mask=adjusted <= alpha,
                meta={**c.meta, "alpha": alpha, "holm": holm_meta},
            )
        floor = step
    return out


def compare_all(
    maps: Sequence[ExplanationMap],
    labels: np.ndarray,
    cages: np.ndarray,
    contrasts: Sequence[Contrast] | None = None,
    primary: str | None = None,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    statistic: str = "t",
    seed: int = 0,
) -> tuple[dict[str, list[Comparison]], dict[str, str]]:
    """Every contrast on every map, adjusted family-wise (:func:`adjust`).

    The comparisons of the ``primary`` map form one family (named in advance: its family-wise
    error is ``alpha``); the comparisons of all other maps form a second family. Without
    ``primary`` all maps form one family.

    Returns
    -------
    results, skipped
        ``results[map name]``: its comparisons in the order of ``contrasts`` (default:
        :func:`default_contrasts` of the classes present); ``skipped[contrast name]``: why a
        contrast could not be run on this cohort.
    """
    if not maps:
        return {}, {}
    labels = np.asarray(labels)
    classes = maps[0].classes
    present = [c for i, c in enumerate(classes) if (labels == i).any()]
    if contrasts is None:
        contrasts = default_contrasts(present)
    names = [m.name for m in maps]
    if primary is not None and primary not in names:
        raise ValueError(f"primary map {primary!r} is not among the maps compared ({names})")
    skipped: dict[str, str] = {}
    kept = []
    for contrast in contrasts:
        try:
            compare(maps[0], labels, cages, contrast, n_permutations=1)
        except ValueError as exc:
            skipped[contrast.name] = str(exc)
            continue
        kept.append(contrast)
    results = {
        m.name: [compare(m, labels, cages, c, n_permutations, alpha, statistic, seed) for c in kept]
        for m in maps
    }
    if not kept:
        return results, skipped
    families = {"primary": [primary]} if primary is not None else {}
    families["secondary" if primary is not None else "all"] = [n for n in names if n != primary]
    for family, members in families.items():
        if members:
            results.update(adjust({n: results[n] for n in members}, alpha, family))
    return results, skipped
