"""Figures, intervals and tests of out-of-fold predictions, with the cage as the unit.

Animals of one cage share a cage, a history and usually a sex, so they are not independent
trials: everything here that claims an interval or a p-value follows the study's design
(:class:`~napari_mousestop.design.StudyDesign`): intervals treat the **cage** as the unit, and
every test relabels the data only the way the design allows (its
:class:`~napari_mousestop.design.Scheme`: unit, number of labellings, smallest attainable p).
Every result carries one line, ``assumes``, saying what it relies on. The animal-level Wilson
interval is kept only as a labelled, optimistic reference.

Where two or more factors made the classes (sex and age for AM, JM, AF, JF), each factor gets
its own figures and test (:func:`factor_figures`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st
from sklearn.metrics import confusion_matrix as _sk_confusion
from sklearn.metrics import recall_score

from napari_mousestop._json import jsonable as _jsonable
from napari_mousestop.design import MAX_EXACT, Scheme, StudyDesign, sign_flip_scheme
from napari_mousestop.learning.config import N_PERMUTATIONS

_TIE = 1e-12  # accuracies within this of the observed one count as ties (>=)


class _Record:
    """``to_dict()`` for the result dataclasses below (JSON-friendly)."""

    def to_dict(self) -> dict:
        """JSON-friendly dictionary (nested results included)."""
        return _jsonable(asdict(self))  # type: ignore[call-overload]


# --- plain figures --------------------------------------------------------------------------


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (C, C): row = true class, column = predicted class, in class-index order
    (AM, JM, AF, JF for the default classes); scikit-learn's ``confusion_matrix``."""
    return _sk_confusion(y_true, y_pred, labels=np.arange(n_classes)).astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of correct predictions (NaN when empty)."""
    y_true = np.asarray(y_true)
    return float(np.mean(y_true == np.asarray(y_pred))) if len(y_true) else float("nan")


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y_true``.

    The same as scikit-learn's ``balanced_accuracy_score``, without its warning when a model
    predicts a class that no sample has.
    """
    y_true = np.asarray(y_true)
    if not len(y_true):
        return float("nan")
    present = np.unique(y_true)
    return float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


# --- intervals ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval(_Record):
    """A two-sided confidence interval and what it assumes."""

    low: float
    high: float
    level: float
    method: str
    assumes: str


WILSON_ASSUMES = (
    "every animal-recording is an independent trial; cage-mates are not, so this interval is "
    "too narrow when cages differ (animal level, optimistic)"
)


def wilson_interval(k: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval of ``k`` successes out of ``n`` (scipy's ``binomtest``), labelled
    as the animal-level interval it is."""
    if n == 0:
        low = high = float("nan")
    else:
        ci = _st.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
        low, high = float(ci.low), float(ci.high)
    return Interval(low, high, level, "Wilson score, animal level", WILSON_ASSUMES)


def t_interval(
    values: np.ndarray,
    level: float = 0.95,
    bounds: tuple[float, float] = (0.0, 1.0),
    unit: str = "cage",
    assumes: str = "",
) -> Interval:
    """Student-t interval of the mean of ``values`` (one value per unit), clipped to ``bounds``.

    ``mean +- t(level, n - 1) * sd / sqrt(n)``; NaN with fewer than two units. With all
    values equal the interval has zero width (no spread was seen, not certainty).
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    method = f"t over {n} {unit}s (df {max(n - 1, 0)})"
    if n < 2:
        return Interval(float("nan"), float("nan"), level, method, assumes)
    mean, sem = float(v.mean()), float(v.std(ddof=1) / np.sqrt(n))
    if sem == 0:
        low = high = mean
    else:
        low, high = _st.t.interval(level, n - 1, loc=mean, scale=sem)
    low, high = max(bounds[0], float(low)), min(bounds[1], float(high))
    return Interval(low, high, level, method, assumes)


def _per_cage(correct: np.ndarray, cages: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Sorted cage ids, mean of ``correct`` per cage, and animal-recordings per cage."""
    ids, g = np.unique(np.asarray(cages, dtype=str), return_inverse=True)
    sizes = np.bincount(g, minlength=len(ids))
    means = np.bincount(g, weights=np.asarray(correct, dtype=float), minlength=len(ids)) / sizes
    return [str(c) for c in ids], means, sizes


def cage_wilson_interval(
    correct: np.ndarray, cages: np.ndarray, level: float = 0.95, what: str = "accuracy"
) -> Interval:
    """Interval of a proportion over animals with the cage as the unit: a Wilson score
    interval on the cage-corrected effective sample size.

    The proportion ``p = k / n`` over all animal-recordings has the between-cage (ratio
    estimator, cluster-robust) variance ``v = C / (C - 1) * sum_c (k_c - p n_c)**2 / n**2``
    over ``C`` cages; the design effect ``deff = max(1, v / (p (1 - p) / n))`` gives the
    effective sample size ``n / deff`` (Kish), and the Wilson score interval on it with the
    quantile of Student's t on ``C - 1`` degrees of freedom in place of the normal one
    (after Korn and Graubard 1998). Unlike a t-interval over per-cage values it stays inside
    0-1 with sensible width near 0 and 1, and keeps a width when every cage scores the same
    (then ``deff = 1``: the binomial spread of the animals). NaN with fewer than two cages.
    Coverage on simulated cohorts: ``benchmarks/bench_stats.py`` (docs/training.md).
    """
    correct = np.asarray(correct, dtype=float)
    ids, g = np.unique(np.asarray(cages, dtype=str), return_inverse=True)
    n_cages = len(ids)
    df = max(n_cages - 1, 0)
    method = f"Wilson on the cage-corrected effective n, t over {n_cages} cages (df {df})"
    assumes = (
        f"cages are independent; the {what} of a cage varies around the cohort's with a "
        "spread the cage-to-cage variance measures; fold models share most training data, "
        "which cross-validation intervals ignore"
    )
    if n_cages < 2:
        return Interval(float("nan"), float("nan"), level, method, assumes)
    n_c = np.bincount(g, minlength=n_cages).astype(float)
    k_c = np.bincount(g, weights=correct, minlength=n_cages)
    n = n_c.sum()
    p = k_c.sum() / n
    v = n_cages / (n_cages - 1) * np.sum((k_c - p * n_c) ** 2) / n**2
    v0 = p * (1 - p) / n
    deff = max(1.0, v / v0) if v0 > 0 else 1.0
    n_eff = n / deff
    z = float(_st.t.ppf((1 + level) / 2, n_cages - 1))
    z2 = z * z / n_eff
    centre = (p + z2 / 2) / (1 + z2)
    half = z / (1 + z2) * np.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff))
    low, high = max(0.0, float(centre - half)), min(1.0, float(centre + half))
    return Interval(low, high, level, f"{method}, design effect {deff:.2f}", assumes)


@dataclass(frozen=True)
class CageEstimate(_Record):
    """A proportion over animals with its cage-level interval.

    Attributes
    ----------
    value
        Over all animal-recordings (e.g. the accuracy).
    cage_mean
        Mean of the per-cage values (equals ``value`` when cages are equal-sized).
    per_cage
        The value within each cage, in sorted cage order.
    interval
        Cage-level interval of ``value`` (:func:`cage_wilson_interval`).
    equal_sizes
        Whether every cage holds the same number of animal-recordings.
    """

    value: float
    cage_mean: float
    per_cage: dict[str, float]
    interval: Interval
    equal_sizes: bool


def cage_estimate(
    correct: np.ndarray, cages: np.ndarray, level: float = 0.95, what: str = "accuracy"
) -> CageEstimate:
    """Fraction of ``correct`` (booleans, one per animal-recording) with a cage-level interval
    (:func:`cage_wilson_interval`): the cage, not the animal, is the independent unit."""
    correct = np.asarray(correct, dtype=bool)
    ids, means, sizes = _per_cage(correct, cages)
    equal = bool(len(sizes) and np.all(sizes == sizes[0]))
    return CageEstimate(
        value=float(np.mean(correct)) if len(correct) else float("nan"),
        cage_mean=float(means.mean()) if len(means) else float("nan"),
        per_cage=dict(zip(ids, means.tolist(), strict=True)),
        interval=cage_wilson_interval(correct, cages, level, what),
        equal_sizes=equal,
    )


# --- the accuracy permutation test ----------------------------------------------------------


@dataclass(frozen=True)
class PermutationResult(_Record):
    """A permutation test of accuracy, relabelling the data the way the design allows.

    ``p`` is the share of labellings with an accuracy at least the observed one: over every
    labelling when they are few (``exact``), else ``(1 + #{null >= observed}) / (1 +
    n_permutations)`` over random ones; never below ``min_p``, the smallest p the design
    allows (``1 / n_labellings``). ``null_mean`` is the accuracy expected from these very
    predictions if the labels carried no information (the chance reference of the test).
    Where the design allows no relabelling, ``p_value`` is NaN and ``reason`` says why.

    Attributes
    ----------
    unit, scheme
        What is relabelled and how (one sentence), from the design's
        :class:`~napari_mousestop.design.Scheme`.
    n_labellings, exact, min_p
        Distinct labellings the design allows, whether all were used, the smallest p.
    """

    observed: float
    p_value: float
    n_permutations: int
    unit: str
    scheme: str
    n_labellings: int
    exact: bool
    min_p: float
    null_mean: float
    null_q95: float
    assumes: str
    reason: str = ""

    @property
    def valid(self) -> bool:
        """Whether the test ran (False: no relabelling follows the design, see ``reason``)."""
        return not self.reason


def no_test(observed: float, scheme: Scheme) -> PermutationResult:
    """The result of a test the design does not allow (p NaN, ``reason`` from the scheme)."""
    nan = float("nan")
    return PermutationResult(float(observed), nan, 0, scheme.unit, scheme.description, 1, True,
                             1.0, nan, nan, "", scheme.reason)  # fmt: skip


PREDICTION_ASSUMES = (
    "labels were assigned at random the way the design relabels them (its randomisation); the "
    "models are not retrained, so it tests these predictions, not the training procedure"
)


def permutation_test(
    design: StudyDesign,
    y_pred: np.ndarray,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    test: str = "accuracy",
    batch: int = 1000,
) -> PermutationResult:
    """Is the out-of-fold accuracy higher than chance, relabelling the way the design allows?

    The out-of-fold predictions stay fixed; the true labels are relabelled by the design's
    scheme for ``test`` (:meth:`~napari_mousestop.design.StudyDesign.scheme_for`: animals of
    one cage move together where the labels belong to the cage, so a model that merely
    recognises cages cannot look significant). Every labelling is used when there are at
    most :data:`~napari_mousestop.design.MAX_EXACT` (exact test), else ``n_permutations``
    random ones. The models are not retrained under permutation.

    Parameters
    ----------
    design
        The study design of the samples.
    y_pred
        Predicted labels: class indices for ``test="accuracy"``; for a factor, indices into
        ``design.factor(test).values``.
    n_permutations, seed, batch
        Random labellings (when not all are listed), their seed, and how many at once.
    test
        ``"accuracy"`` or a factor's name.
    """
    y_pred = np.asarray(y_pred)
    scheme = design.scheme_for(test)
    observed = accuracy(scheme.observed, y_pred)
    if not scheme.valid:
        return no_test(observed, scheme)
    rng = np.random.default_rng(seed)
    if scheme.exact:
        listed = scheme.labellings(0)
        chunks = np.array_split(listed, max(1, len(listed) // batch))
        null = np.concatenate([np.mean(chunk == y_pred, axis=1) for chunk in chunks])
    else:
        null = np.empty(n_permutations)
        for start in range(0, n_permutations, batch):
            k = min(batch, n_permutations - start)
            null[start : start + k] = np.mean(scheme.labellings(k, rng) == y_pred, axis=1)
    return permutation_result(observed, null, scheme, PREDICTION_ASSUMES)


def permutation_result(
    observed: float, null: np.ndarray, scheme: Scheme, assumes: str
) -> PermutationResult:
    """The test of ``observed`` against the accuracies ``null`` of the labellings ``scheme``
    gave (all of them when ``scheme.exact``): p (:meth:`Scheme.p_value`), the null's mean and
    95% quantile."""
    null = np.asarray(null, dtype=float)
    n = len(null)
    return PermutationResult(
        observed=float(observed),
        p_value=scheme.p_value(null, observed) if n else float("nan"),
        n_permutations=int(n),
        unit=scheme.unit,
        scheme=scheme.description,
        n_labellings=int(scheme.n_labellings),
        exact=bool(scheme.exact and n == scheme.n_labellings),
        min_p=float(scheme.min_p),
        null_mean=float(null.mean()) if n else float("nan"),
        null_q95=float(np.quantile(null, 0.95)) if n else float("nan"),
        assumes=assumes,
    )


def holm(p_values: list[float] | np.ndarray) -> list[float]:
    """Holm's step-down adjustment of one family of p-values (NaN entries, tests that did not
    run, are left NaN and do not count): the ``r``-th smallest (from 0) of ``m`` is
    multiplied by ``m - r``, capped at 1, and never below an earlier adjusted p."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), np.nan)
    ran = np.flatnonzero(~np.isnan(p))
    m, floor = len(ran), 0.0
    for rank, i in enumerate(ran[np.argsort(p[ran], kind="stable")]):
        floor = max(floor, min(1.0, (m - rank) * p[i]))
        out[i] = floor
    return out.tolist()


# --- comparing two classifiers on the same cages --------------------------------------------


@dataclass(frozen=True)
class SignFlipResult(_Record):
    """A two-sided sign-flip test that the mean of per-unit differences is 0.

    ``n_labellings`` sign patterns exist (``2 ** n_units``); ``exact`` when all were used,
    else ``n_resamples`` random ones; ``min_p`` is the smallest p the design allows.
    """

    mean_difference: float
    p_value: float
    n_units: int
    exact: bool
    n_resamples: int
    n_labellings: int
    min_p: float
    assumes: str


def sign_flip_test(
    differences: np.ndarray, seed: int = 0, max_exact: int = MAX_EXACT, n_resamples: int = 9999
) -> SignFlipResult:
    """Sign-flip (paired permutation) test of per-cage differences: all ``2**n`` flips when
    there are at most ``max_exact``, else ``n_resamples`` random ones
    (:func:`~napari_mousestop.design.sign_flip_scheme`). Two-sided: the share of flips with
    ``|mean(s * d)| >= |mean(d)|`` (exact), ``(1 + #) / (1 + n_resamples)`` (random)."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    assumes = (
        "under the null each cage's difference is as likely negative as positive (symmetric "
        "about 0) and cages are independent"
    )
    scheme = sign_flip_scheme(n, "cage", max_exact)
    if not scheme.valid:
        mean = float(d.mean()) if n else float("nan")
        return SignFlipResult(mean, float("nan"), n, True, 0, 1, 1.0, assumes)
    signs = scheme.labellings(n_resamples, np.random.default_rng(seed))
    null = np.abs(signs @ d / n)
    p = scheme.p_value(null, abs(float(d.mean())))
    return SignFlipResult(
        mean_difference=float(d.mean()),
        p_value=float(min(1.0, p)),
        n_units=n,
        exact=scheme.exact,
        n_resamples=len(signs),
        n_labellings=int(scheme.n_labellings),
        min_p=float(scheme.min_p),
        assumes=assumes,
    )


@dataclass(frozen=True)
class CageComparison(_Record):
    """Classifier A minus classifier B, cage by cage, on the same out-of-fold animals.

    Attributes
    ----------
    difference
        Accuracy of A minus accuracy of B over all animals.
    per_cage
        The per-cage accuracy difference.
    interval
        t-interval of the mean per-cage difference.
    test
        Sign-flip test of the per-cage differences.
    a_only, b_only
        Animals only A (only B) classifies correctly (descriptive; no animal-level test).
    """

    difference: float
    per_cage: dict[str, float]
    interval: Interval
    test: SignFlipResult
    a_only: int
    b_only: int


def compare_on_cages(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    cages: np.ndarray,
    seed: int = 0,
    level: float = 0.95,
) -> CageComparison:
    """Per-cage accuracy difference of two classifiers, its t-interval and a sign-flip test."""
    y = np.asarray(y_true)
    right_a, right_b = np.asarray(pred_a) == y, np.asarray(pred_b) == y
    ids, diff, _ = _per_cage(right_a.astype(float) - right_b, cages)
    assumes = "cages independent, per-cage differences roughly normal over cages, equal-sized cages"
    return CageComparison(
        difference=float(np.mean(right_a) - np.mean(right_b)) if len(y) else float("nan"),
        per_cage=dict(zip(ids, diff.tolist(), strict=True)),
        interval=t_interval(diff, level, (-1.0, 1.0), "cage", assumes),
        test=sign_flip_test(diff, seed),
        a_only=int(np.sum(right_a & ~right_b)),
        b_only=int(np.sum(~right_a & right_b)),
    )


# --- each factor apart ------------------------------------------------------------------------


@dataclass(frozen=True)
class FactorFigures(_Record):
    """How well the predicted class gets one factor (sex, age, genotype...) right, tested on
    its own.

    Attributes
    ----------
    name
        The factor (a cohort column the classes were made from).
    level
        Where it varies: ``"cage"``, ``"recording"`` or ``"animal"``
        (:class:`~napari_mousestop.design.FactorLevel`).
    accuracy
        The predicted class has the right value of the factor (whatever the others), with its
        cage-level interval.
    permutation
        Permutation test of that accuracy, relabelling this factor alone at its level (the
        others kept); ``permutation.reason`` says why there is none where the design allows
        no such relabelling.
    class_accuracy_by_level
        The class accuracy among animals of each true value (e.g. ``{"M": .., "F": ..}``).
    caveat
        What no test here can separate from this factor (a factor that changes between a
        cage's recordings: recording order).
    """

    name: str
    level: str
    accuracy: CageEstimate
    permutation: PermutationResult
    class_accuracy_by_level: dict[str, float]
    caveat: str = ""


def recording_confound(name: str) -> str:
    """The caveat of a factor that varies between the recordings of a cage."""
    return (
        f"{name} changes between the recordings of each cage, so it is confounded with "
        "recording order (and with everything else that changed between recordings) unless "
        "the order was randomised: no test here separates them"
    )


def factor_figures(
    design: StudyDesign,
    y_pred: np.ndarray,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, FactorFigures]:
    """Figures and a test for each factor that varies, when two or more do (with one, the
    factor is the class and its test the accuracy test). Empty otherwise."""
    varying = [f for f in design.varying if f.varies]
    if len(varying) < 2:
        return {}
    y_true, y_pred = design.labels, np.asarray(y_pred)
    out = {}
    present = design.counts()
    for f in varying:
        of_class = np.array(
            [f.values.index(design.class_values(c)[f.name]) if c in present else -1
             for c in design.classes]
        )  # fmt: skip
        t, p = of_class[y_true], of_class[y_pred]
        by_level = {
            value: accuracy(y_true[t == k], y_pred[t == k])
            for k, value in enumerate(f.values)
            if np.any(t == k)
        }
        out[f.name] = FactorFigures(
            name=f.name,
            level=f.level,
            accuracy=cage_estimate(t == p, design.cages, level, f"{f.name} accuracy"),
            permutation=permutation_test(design, p, n_permutations, seed, test=f.name),
            class_accuracy_by_level=by_level,
            caveat=recording_confound(f.name) if f.level == "recording" else "",
        )
    return out


# --- the whole summary of one classifier -----------------------------------------------------


@dataclass(frozen=True)
class Summary(_Record):
    """Out-of-fold figures of one classifier.

    Attributes
    ----------
    n
        Animal-recordings.
    accuracy
        Accuracy with its cage-level interval (the headline interval).
    animal_interval
        Wilson interval of the same accuracy, treating animals as independent (optimistic).
    balanced_accuracy
        Mean recall over the classes present.
    confusion_matrix
        Rows true class, columns predicted.
    """

    n: int
    accuracy: CageEstimate
    animal_interval: Interval
    balanced_accuracy: float
    confusion_matrix: list[list[int]]


def summarize(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    cages: np.ndarray,
    n_classes: int,
    level: float = 0.95,
) -> Summary:
    """Accuracy (cage-level interval), Wilson animal-level interval, balanced accuracy and
    confusion matrix."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    right = y_true == y_pred
    return Summary(
        n=int(len(y_true)),
        accuracy=cage_estimate(right, cages, level),
        animal_interval=wilson_interval(int(right.sum()), len(y_true), level),
        balanced_accuracy=balanced_accuracy(y_true, y_pred),
        confusion_matrix=confusion_matrix(y_true, y_pred, n_classes).tolist(),
    )


# --- what accuracy to expect when the stacks carry no information -----------------------------


@dataclass(frozen=True)
class NullReference(_Record):
    """Accuracies to read the CNN's against, besides ``chance = 1 / k`` (``k`` classes).

    Attributes
    ----------
    chance
        ``1 / k`` for the ``k`` classes the data hold.
    frequency_guess
        Expected out-of-fold accuracy, under the folds that ran, of a model that learned only
        its training folds' class frequencies and guesses in proportion to them. Holding out a
        cage of one sex leaves its classes rarer in training, so this falls below ``chance``
        with leave-one-cage-out folds; balanced folds keep it at ``chance``.
    permutation_null_mean
        Mean accuracy of these predictions under the label permutations.
    assumes
        What ``frequency_guess`` assumes of a model without information.
    note
        What accuracy without information these folds give: below chance where holding out
        a cage shifts the training classes (single-sex cages), at chance where it does not.
    """

    chance: float
    frequency_guess: float
    permutation_null_mean: float
    assumes: str
    note: str


def frequency_guess_accuracy(
    y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], n_classes: int
) -> float:
    """Expected out-of-fold accuracy of guessing each held-out animal's class with the class
    frequencies of its fold's training set (``folds``: ``(train_index, test_index)`` pairs)."""
    y = np.asarray(y)
    hits = 0.0
    for train, test in folds:
        freq = np.bincount(y[train], minlength=n_classes) / max(len(train), 1)
        hits += float(freq[y[test]].sum())
    return hits / len(y) if len(y) else float("nan")


def null_reference(
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    n_classes: int,
    permutation: PermutationResult,
) -> NullReference:
    """Chance, the training-frequency guess under ``folds`` and the permutation null mean."""
    guess = frequency_guess_accuracy(y, folds, n_classes)
    k = len(np.unique(np.asarray(y)))
    assumes = (
        "a model that learned nothing guesses each class as often as its training folds hold "
        "it; one that leans further to the training majority scores lower still"
    )
    chance = 1.0 / max(k, 1)
    if guess >= chance - 1e-9:  # e.g. classes within every cage: no fold shifts the mix
        note = (
            "A model trained on stacks without information predicts the classes common in its "
            "training set. Here every fold's training set holds the classes in the cohort's "
            f"proportions (a guess in proportion to them scores {guess:.3f}, chance), so the "
            "folds give such a model no bias below chance. The permutation test keeps the "
            "predictions fixed; its null stays near chance."
        )
    else:
        note = (
            "A model trained on stacks without information predicts the classes common in its "
            "training set. Holding out a cage whose classes are not the cohort's mix (e.g. a "
            "cage of one sex) leaves its classes rarer in training, so with these folds such a "
            f"model scores below chance out of fold ({guess:.3f} here for a guess in "
            "proportion to the training classes, lower for a model that leans to the "
            "majority). Balanced folds hold out cages that cover the classes evenly and keep "
            "this at chance. The permutation test keeps the predictions fixed, so its null "
            "stays near chance: against this bias it is conservative."
        )
    return NullReference(chance, guess, permutation.null_mean, assumes, note)


# --- the same run with several seeds -----------------------------------------------------------


@dataclass(frozen=True)
class Spread(_Record):
    """One figure over repeated runs: every run's value, their mean, SD (n - 1), min and max."""

    values: list[float]
    mean: float
    sd: float
    min: float
    max: float


def spread(values: list[float] | np.ndarray) -> Spread:
    """:class:`Spread` of ``values`` (SD is NaN for a single value)."""
    v = np.asarray(values, dtype=float)
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
    return Spread(v.tolist(), float(v.mean()), sd, float(v.min()), float(v.max()))


@dataclass(frozen=True)
class RepeatFigures(_Record):
    """Cross-validation repeated with different seeds: how much the figures move, and the
    ensemble of the repeats.

    Attributes
    ----------
    seeds
        The seed of every repeat (the first is the run the rest of the report describes).
    accuracy
        Out-of-fold accuracy of every repeat.
    per_class
        Per class, the fraction of its animal-recordings each repeat classifies right.
    ensemble
        The out-of-fold figures of the ensemble: every animal-recording's class probabilities
        averaged over the repeats (each from the fold model that never saw its cage), then the
        most probable class.
    note
        What the spread measures, and what it does not.
    """

    seeds: list[int]
    accuracy: Spread
    per_class: dict[str, Spread]
    ensemble: Summary
    note: str


def repeat_figures(
    y_true: np.ndarray,
    probas: list[np.ndarray],
    cages: np.ndarray,
    classes: tuple[str, ...],
    seeds: list[int],
    level: float = 0.95,
) -> RepeatFigures:
    """:class:`RepeatFigures` of the out-of-fold probabilities (n, C) of each repeat."""
    y = np.asarray(y_true)
    preds = [np.asarray(p).argmax(axis=1) for p in probas]
    per_class = {
        c: spread([float(np.mean(pr[y == k] == k)) for pr in preds])
        for k, c in enumerate(classes)
        if np.any(y == k)
    }
    mean_proba = np.mean(np.stack([np.asarray(p) for p in probas]), axis=0)
    return RepeatFigures(
        seeds=[int(s) for s in seeds],
        accuracy=spread([accuracy(y, pr) for pr in preds]),
        per_class=per_class,
        ensemble=summarize(y, mean_proba.argmax(axis=1), cages, len(classes), level),
        note=(
            "The spread over seeds measures how much one run's figures depend on weight "
            "initialisation and batch order alone, on this cohort; it is not an interval for "
            "new cages (the folds and the animals are the same in every repeat)."
        ),
    )
