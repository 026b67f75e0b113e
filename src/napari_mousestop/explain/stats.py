"""Class panels, their differences, and permutation tests of those differences that follow
the study's design.

Panels and differences
----------------------
The **panel** of class ``g`` is the mean map of the animals of ``g`` (:func:`class_average`; for
evidence maps, the evidence *for g* of the animals of ``g``). Every comparison is a weighted sum
of panels (:class:`Contrast`), so its sign says which classes are higher
(:func:`default_contrasts`):

* a pair of classes that differ in one factor, e.g. ``"KO - WT"`` or ``"AF - AM"``: panel
  KO minus panel WT;
* where two crossed factors made the classes (sex and age for AM, JM, AF, JF), the main effect
  of each, e.g. ``"sex (F - M)"``: mean of the female panels minus mean of the male panels;
* and their interaction, e.g. ``"sex x age"``: (AF - JF) - (AM - JM).

Positive (red in every figure and in the Compare widget) marks where the first classes are
higher, negative (blue) where the second are.

The test
--------
Animals of one cage share their cage, their recording sessions and each other: they are not
independent. Each comparison is tested on **units** of the level its factor varies at, and
relabelled only the way the design allows (:class:`~napari_mousestop.design.StudyDesign`, its
:class:`~napari_mousestop.design.Scheme`): a factor of whole cages (sex of single-sex cages,
a treatment by cage) is exchanged across cages of the same structure, one that changes between
a cage's recordings (age) among the recordings of each cage, a trait of the animals within a
cage (genotype of cage-mates, sex in mixed-sex cages) among the cage's animals, each animal
keeping its value in all its recordings. A unit is the mean map of its animals (main effects:
of its class means; interactions: the difference between the finer factor's two values
within a unit of the coarser factor, which is relabelled). For evidence maps the test is on
what :func:`test_values` gives: the contrast of each animal's evidence (e.g. its evidence for
AF minus its evidence for AM), the same quantity for every animal.

On the paper's design (12 single-sex cages, juvenile and adult recordings):

* ``AF - AM``: the cages' adult units exchange their sex (6 against 6 cages: 924
  labellings); ``AF - JF``: each female cage's adult and juvenile units may swap (64);
* ``sex``: one unit per cage, sex exchanged across cages (924); ``age``: adult and juvenile
  units swapped within each cage (4096); ``sex x age``: one unit per cage, its adult minus
  juvenile difference, sex exchanged across cages (924).

Every comparison records its scheme (unit, labellings, smallest p) in ``meta["scheme"]``.
Where the design allows no test of a comparison (e.g. two classes that differ in two factors,
or a factor whose units differ in structure) it is left out with a one-line reason.

Within one map, family-wise error over all pixels (and channels) is controlled with the
max-statistic: each pixel's statistic is compared with the permutation distribution of the
maximum absolute statistic over the whole map. :func:`adjust` extends the control across maps
(min-P over the same labellings) and across comparisons (Holm); :func:`compare_all` applies it
to a primary map named in advance and, separately, to all other maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from napari_mousestop.design import LEVELS, Scheme, StudyDesign
from napari_mousestop.explain.maps import ExplanationMap, HourProfile
from napari_mousestop.explain.params import EXPLAIN


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
        Title, e.g. ``"KO - WT"``, ``"sex (F - M)"`` or ``"sex x age"``.
    weights
        Weight of each class panel; positive classes sum to 1 (or 2 for an interaction).
    kind
        ``"pair"`` (two classes), ``"main"`` (a factor's main effect) or ``"interaction"``
        (two crossed factors).
    factors
        The factors it tests: the one of a main effect, the two of an interaction (a pair
        finds the factor its classes differ in from the design).
    red, blue
        What positive and negative values mean, in words (the legend).
    """

    name: str
    weights: tuple[tuple[str, float], ...]
    kind: str = "pair"
    factors: tuple[str, ...] = ()
    red: str = ""
    blue: str = ""

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
        if self.red:
            return {"red": self.red, "blue": self.blue}
        a, b = "+".join(self.positive), "+".join(self.negative)
        return {"red": f"{a} higher than {b}", "blue": f"{b} higher than {a}"}


def pair(a: str, b: str) -> Contrast:
    """Class ``a`` against class ``b``: panel ``a`` minus panel ``b``."""
    if a == b:
        raise ValueError(f"compare two different classes, got {a!r} twice")
    return Contrast(f"{a} - {b}", ((a, 1.0), (b, -1.0)), "pair")


def default_contrasts(design: StudyDesign) -> list[Contrast]:
    """The comparisons a design allows, none twice.

    * Pairs of classes that differ in one factor only, factor by factor (``AF - AM``, ``JF -
      JM``, then ``AF - JF``, ``AM - JM`` for the paper's sex and age; ``KO - WT`` for a
      genotype): the first value (sorted) minus the second.
    * Where exactly two factors vary, each with two values, and all four combinations are
      classes (crossed factors): the main effect of each (``sex (F - M)``: the mean of the
      female panels minus that of the male ones) and their interaction (``sex x age``).

    A comparison with the same weights as an earlier one (e.g. a main effect where the other
    factor does not vary) is left out: one comparison is never counted twice in a Holm family.
    """
    varying = [f for f in design.varying if f.varies]
    present = list(design.counts())
    values = {c: design.class_values(c) for c in present}
    out: list[Contrast] = []
    for f in varying:
        others = [g.name for g in varying if g.name != f.name]
        combos = sorted({tuple(values[c][g] for g in others) for c in present})
        for combo in combos:
            of = {values[c][f.name]: c for c in present
                  if tuple(values[c][g] for g in others) == combo}  # fmt: skip
            for i, va in enumerate(f.values):
                for vb in f.values[i + 1 :]:
                    if va in of and vb in of:
                        out.append(pair(of[va], of[vb]))
    if len(varying) == 2 and all(len(f.values) == 2 for f in varying):
        f1, f2 = varying
        cell = {(values[c][f1.name], values[c][f2.name]): c for c in present}
        if len(cell) == 4:
            for f, g in ((f1, f2), (f2, f1)):
                (v0, v1) = f.values

                def side(v: str, f=f, g=g) -> list[str]:
                    return [cell[(v, w) if f is f1 else (w, v)] for w in g.values]

                pos, neg = side(v0), side(v1)
                out.append(Contrast(
                    f"{f.name} ({v0} - {v1})",
                    tuple((c, 0.5) for c in pos) + tuple((c, -0.5) for c in neg),
                    "main", (f.name,),
                    f"{f.name} {v0} ({', '.join(pos)}) higher",
                    f"{f.name} {v1} ({', '.join(neg)}) higher",
                ))  # fmt: skip
            (a0, a1), (b0, b1) = f1.values, f2.values
            same = (cell[a0, b0], cell[a1, b1])
            cross = (cell[a0, b1], cell[a1, b0])
            out.append(Contrast(
                f"{f1.name} x {f2.name}",
                tuple((c, 1.0) for c in same) + tuple((c, -1.0) for c in cross),
                "interaction", (f1.name, f2.name),
                f"{f2.name} difference ({b0} - {b1}) larger for {f1.name} {a0} "
                f"({cell[a0, b0]} - {cell[a0, b1]} > {cell[a1, b0]} - {cell[a1, b1]})",
                f"{f2.name} difference ({b0} - {b1}) larger for {f1.name} {a1} "
                f"({cell[a1, b0]} - {cell[a1, b1]} > {cell[a0, b0]} - {cell[a0, b1]})",
            ))  # fmt: skip
    unique: list[Contrast] = []
    seen: set[tuple] = set()
    for c in out:
        key = tuple(sorted(c.weights))
        if key not in seen and tuple(sorted((k, -w) for k, w in c.weights)) not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def _has_class_axis(maps: ExplanationMap | HourProfile) -> bool:
    return len(maps.axes) > 1 and maps.axes[1] == "class"


def _index(classes: Sequence[str], name: str) -> int:
    if name not in classes:
        raise ValueError(f"unknown class {name!r}; classes are {list(classes)}")
    return list(classes).index(name)


def test_values(maps: ExplanationMap, contrast: Contrast) -> np.ndarray:
    """What the test compares between units, one map per animal.

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


@dataclass
class _Units:
    """The units of one comparison: values, cage, group (0: positive side), the design's
    scheme and how to read each labelling's groups."""

    values: np.ndarray
    cage: np.ndarray
    group: np.ndarray
    scheme: Scheme
    first: np.ndarray  # a sample of each unit, in the scheme's samples
    positive_code: int  # the tested factor's code of the positive side
    level: str
    dropped: int = 0

    def groups(self, labellings: np.ndarray) -> np.ndarray:
        """Side of each unit (0: positive) under each labelling (rows)."""
        return (np.asarray(labellings)[..., self.first] != self.positive_code).astype(np.int64)


def _units(values: np.ndarray, design: StudyDesign, contrast: Contrast) -> _Units:
    """Units of a contrast on the design (ValueError with the reason where there is no test).

    * a pair: the samples of its two classes; the factor they differ in is relabelled at its
      level among them, a unit is the mean of a cage's, a cage-recording's or an animal's
      samples;
    * a main effect: every sample; a unit (of the factor's level) is the mean of its class
      means (the other factor's values weigh equally);
    * an interaction: units of the coarser factor's level, each the difference between the
      finer factor's two values within it (units without both are left out, and counted);
      the coarser factor is relabelled.
    """
    classes = design.classes
    present = design.counts()
    for c, _ in contrast.weights:
        if c not in present:
            raise ValueError(f"{contrast.name}: no animals of {c}")
    if contrast.kind == "pair":
        a, b = contrast.positive[0], contrast.negative[0]
        va, vb = design.class_values(a), design.class_values(b)
        differ = [k for k in va if va[k] != vb[k]]
        if len(differ) != 1:
            raise ValueError(
                f"{contrast.name}: the classes differ in {' and '.join(differ)}; no "
                "relabelling of one factor compares them"
            )
        tested, fine = differ[0], None
        keep = np.isin(design.labels, [classes.index(a), classes.index(b)])
        positive_value = va[tested]
    elif contrast.kind == "main":
        tested, fine = contrast.factors[0], None
        keep = np.isin(design.labels, [classes.index(c) for c, _ in contrast.weights])
        positive_value = design.class_values(contrast.positive[0])[tested]
    else:
        f1, f2 = (design.factor(f) for f in contrast.factors)
        rank = {lv: i for i, lv in enumerate(LEVELS)}
        if f1.level == f2.level or not (f1.varies and f2.varies):
            raise ValueError(
                f"{contrast.name}: {f1.name} and {f2.name} vary at the same level ({f1.where}); "
                "no relabelling of one of them tests their interaction"
            )
        coarse, fine_f = (f1, f2) if rank[f1.level] < rank[f2.level] else (f2, f1)
        tested, fine = coarse.name, fine_f
        keep = np.ones(len(design.labels), bool)
        positive_value = coarse.values[0]
    sub = design.subset(keep)
    level = sub.factor(tested).level
    scheme = sub.scheme_for(tested)
    if not scheme.valid:
        raise ValueError(f"{contrast.name}: {scheme.reason}")
    f = sub.factor(tested)
    vals = values[keep]
    unit_of = sub.units_at(level)
    dropped = 0
    if fine is not None:
        fvals = sub.factor_values[fine.name]
        has = [set(fvals[unit_of == u].tolist()) >= set(fine.values) for u in np.unique(unit_of)]
        ok = np.array(has)[unit_of]
        dropped = int(len(has) - sum(has))
        if dropped:
            sub = sub.subset(ok)
            vals = vals[ok]
            scheme = sub.scheme_for(tested)
            if not scheme.valid:
                raise ValueError(f"{contrast.name}: {scheme.reason}")
            level = sub.factor(tested).level
            unit_of = sub.units_at(level)
            fvals = sub.factor_values[fine.name]
    units, first, cage, code = [], [], [], []
    lab = sub.labels
    for u in np.unique(unit_of):
        sel = unit_of == u
        if fine is not None:
            v0, v1 = fine.values
            units.append(vals[sel & (fvals == v0)].mean(0) - vals[sel & (fvals == v1)].mean(0))
        else:
            units.append(np.mean([vals[sel & (lab == k)].mean(0) for k in np.unique(lab[sel])],
                                 axis=0))  # fmt: skip
        i = int(np.flatnonzero(sel)[0])
        first.append(i)
        cage.append(sub.cages[i])
        code.append(int(scheme.observed[i]))
    pcode = f.values.index(positive_value)
    group = (np.array(code) != pcode).astype(np.int64)
    return _Units(np.stack(units), np.array(cage), group, scheme, np.array(first), pcode, level,
                  dropped)  # fmt: skip


_SMOOTHING = 1.0
"""Variance smoothing of the t statistic: this many times the map's mean variance is added."""


def _statistic(
    units: np.ndarray, groups: np.ndarray, pairs: np.ndarray | None, statistic: str
) -> np.ndarray:
    """Statistic of each labelling (rows of ``groups``, 0: positive side), shape (k, *map):
    paired over cages (``pairs``: each cage's two units) or Welch over units.

    The smoothed t divides the difference by ``sqrt(var + floor)``, the floor being
    :data:`_SMOOTHING` times the labelling's mean variance over the map.
    """
    groups = np.atleast_2d(groups)
    shape = units.shape[1:]
    u = units.reshape(len(units), -1)
    u = u - u.mean(0)  # centred: the sums of squares below lose nothing to large offsets
    k = len(groups)
    if pairs is not None:
        m = len(pairs)
        d = u[pairs[:, 0]] - u[pairs[:, 1]]  # first minus second unit of each cage
        sign = np.where(groups[:, pairs[:, 0]] == 0, 1.0, -1.0)  # (k, m)
        diff = sign @ d / m
        if m > 1:
            var = np.maximum((d**2).sum(0)[None] - m * diff**2, 0.0) / (m - 1) / m
        else:
            var = np.zeros_like(diff)
    else:
        a = (groups == 0).astype(float)
        b = 1.0 - a
        na, nb = a.sum(1, keepdims=True), b.sum(1, keepdims=True)
        ma, mb = a @ u / na, b @ u / nb
        diff = ma - mb
        u2 = u**2

        def var_of(w, n, mean):
            v = np.maximum(w @ u2 - n * mean**2, 0.0) / np.maximum(n - 1, 1) / n
            return np.where(n > 1, v, 0.0)

        var = var_of(a, na, ma) + var_of(b, nb, mb)
    if statistic == "diff":
        return diff.reshape(k, *shape)
    # Variance floor: pixels where (almost) nobody stops would otherwise divide 0 by 0.
    floor = _SMOOTHING * var.mean(1, keepdims=True) + 1e-30
    return (diff / np.sqrt(var + floor)).reshape(k, *shape)


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
    n_permutations: int = EXPLAIN.map_permutations,
    alpha: float = EXPLAIN.alpha,
    statistic: str = EXPLAIN.statistic,
    seed: int = EXPLAIN.seed,
    *,
    design: StudyDesign,
) -> Comparison:
    """Where do the classes of ``contrast`` differ? Difference map and a test that follows the
    study's design.

    Parameters
    ----------
    maps
        Per-sample maps (first axis ``"sample"``): evidence maps ``(sample, class, y, x)``,
        stop maps ``(sample, y, x)`` or activations ``(sample, channel, y, x)``.
    labels, cages
        True class index and cage id of each sample.
    contrast
        A :func:`pair` or one of :func:`default_contrasts`.
    n_permutations
        Random labellings; when the design allows at most
        :data:`~napari_mousestop.design.MAX_EXACT`, all are listed (exact test).
    alpha
        Family-wise error rate of the mask.
    statistic
        ``"t"`` (paired t where every cage holds one unit of each side, else Welch t over
        units, with a small variance floor) or ``"diff"``.
    seed
        Seed of the random labellings.
    design
        The study's :class:`~napari_mousestop.design.StudyDesign` (its recordings, animals
        and factors), e.g. ``StudyDesign.from_dataset(dataset)``; its labels and cages must be
        ``labels`` and ``cages``.

    Returns
    -------
    Comparison
        ``difference`` is the contrast of the class panels (:func:`class_average`), e.g.
        panel AF minus panel AM; ``statistic`` and ``p_values`` test :func:`test_values`
        between the units of the design's scheme (``meta["scheme"]``: unit, description,
        labellings, smallest p); ``meta["min_p"]`` the smallest p-value the design allows.
        ValueError with the reason where the design allows no test of ``contrast``.
    """
    if statistic not in ("t", "diff"):
        raise ValueError(f"statistic must be 't' or 'diff', got {statistic!r}")
    labels, cages = np.asarray(labels), np.asarray(cages).astype(str)
    if maps.axes[0] != "sample" or len(labels) != len(maps.data) or len(cages) != len(labels):
        raise ValueError(f"map {maps.name!r} needs one label and one cage per sample")
    for c, _ in contrast.weights:
        _index(maps.classes, c)
    if (len(design.labels) != len(labels) or np.any(design.labels != labels)
            or np.any(design.cages != cages)):  # fmt: skip
        raise ValueError(f"map {maps.name!r}: the design's labels or cages are not the maps'")
    u = _units(test_values(maps, contrast), design, contrast)
    group, scheme = u.group, u.scheme
    if (group == 0).sum() == 0 or (group == 1).sum() == 0:
        raise ValueError(
            f"{contrast.name}: no units of {'+'.join(contrast.positive)} or of "
            f"{'+'.join(contrast.negative)} to compare"
        )
    paired = u.level != "cage" and all(
        sorted(group[u.cage == c].tolist()) == [0, 1] for c in np.unique(u.cage)
    )
    pairs = np.stack([np.flatnonzero(u.cage == c) for c in np.unique(u.cage)]) if paired else None
    observed = _statistic(u.values, group, pairs, statistic)[0]
    rng = np.random.default_rng(seed)
    if scheme.exact:
        groups = u.groups(scheme.labellings(0))
    else:  # the observed labelling first, then random ones
        drawn = u.groups(scheme.labellings(n_permutations, rng))
        groups = np.concatenate([group[None], drawn])
    chunks = np.array_split(groups, max(1, len(groups) // 256))
    maxima = np.concatenate([
        np.abs(_statistic(u.values, g, pairs, statistic)).reshape(len(g), -1).max(1)
        for g in chunks
    ])  # fmt: skip
    # the observed labelling is among them and counts once, as it must
    ranked = np.sort(maxima)
    exceed = len(ranked) - np.searchsorted(ranked, np.abs(observed) - 1e-12, side="left")
    p = exceed / len(maxima)
    # the mirrored labelling (every unit's side swapped) gives the same |statistic|
    mirrored = scheme.exact and bool(np.any(np.all(groups == 1 - group, axis=1)))
    n_total = scheme.n_labellings
    min_p = (2.0 if mirrored else 1.0) / n_total if scheme.exact else 1.0 / len(maxima)
    panels = class_average(maps, labels)
    diff = panel_difference(panels, contrast)
    meta = {
        **maps.meta,
        "contrast": contrast.name,
        "kind": contrast.kind,
        "positive": list(contrast.positive),
        "negative": list(contrast.negative),
        "legend": contrast.legend,
        "n_units": [int((group == 0).sum()), int((group == 1).sum())],
        "units_left_out": u.dropped,
        "paired": paired,
        "scheme": {
            **scheme.to_dict(),
            "min_p": float(min_p),
            "statistic": f"two-sided max |{statistic}| over the map",
        },  # fmt: skip
        "unit": scheme.unit,
        "n_labellings": int(n_total),
        "n_permutations": int(len(maxima)),
        "exact": bool(scheme.exact),
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
    n_permutations: int = EXPLAIN.map_permutations,
    alpha: float = EXPLAIN.alpha,
    statistic: str = EXPLAIN.statistic,
    seed: int = EXPLAIN.seed,
    *,
    design: StudyDesign,
) -> Comparison:
    """Class ``a`` against class ``b``: panel ``a`` minus panel ``b``, tested (:func:`compare`
    on the study's ``design``)."""
    return compare(maps, labels, cages, pair(a, b), n_permutations, alpha, statistic, seed,
                   design=design)  # fmt: skip


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
    n_permutations: int = EXPLAIN.map_permutations,
    alpha: float = EXPLAIN.alpha,
    statistic: str = EXPLAIN.statistic,
    seed: int = EXPLAIN.seed,
    *,
    design: StudyDesign,
) -> tuple[dict[str, list[Comparison]], dict[str, str]]:
    """Every contrast on every map, adjusted family-wise (:func:`adjust`).

    The comparisons of the ``primary`` map form one family (named in advance: its family-wise
    error is ``alpha``); the comparisons of all other maps form a second family. Without
    ``primary`` all maps form one family. Every test relabels as the study's ``design``
    (:class:`~napari_mousestop.design.StudyDesign`, e.g. ``StudyDesign.from_dataset``) allows.

    Returns
    -------
    results, skipped
        ``results[map name]``: its comparisons in the order of ``contrasts`` (default:
        :func:`default_contrasts` of the design); ``skipped[contrast name]``: why the design
        allows no test of a contrast (one line).
    """
    if not maps:
        return {}, {}
    labels = np.asarray(labels)
    if contrasts is None:
        contrasts = default_contrasts(design)
    names = [m.name for m in maps]
    if primary is not None and primary not in names:
        raise ValueError(f"primary map {primary!r} is not among the maps compared ({names})")
    skipped: dict[str, str] = {}
    kept = []
    probe = replace(maps[0], data=np.zeros((len(labels), 1, 1)), axes=("sample", "y", "x"))
    for contrast in contrasts:
        try:
            compare(probe, labels, cages, contrast, n_permutations=1, design=design)
        except ValueError as exc:
            skipped[contrast.name] = str(exc)
            continue
        kept.append(contrast)
    results = {
        m.name: [compare(m, labels, cages, c, n_permutations, alpha, statistic, seed,
                         design=design) for c in kept]
        for m in maps
    }  # fmt: skip
    if not kept:
        return results, skipped
    families = {"primary": [primary]} if primary is not None else {}
    families["secondary" if primary is not None else "all"] = [n for n in names if n != primary]
    for family, members in families.items():
        if members:
            results.update(adjust({n: results[n] for n in members}, alpha, family))
    return results, skipped
