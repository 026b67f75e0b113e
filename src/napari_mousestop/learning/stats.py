"""Figures, intervals and tests of out-of-fold predictions, with the cage as the unit.

Animals of one cage share a cage, a history and usually a sex, so they are not independent
trials: everything here that claims an interval or a p-value treats the **cage** as the unit
(per-cage accuracies, cage-level label permutations), and every result carries one line,
``assumes``, saying what it relies on. The animal-level Wilson interval is kept only as a
labelled, optimistic reference.

Class names of the form ``AM, JM, AF, JF`` (age letter A/J, sex letter M/F) are read as
sex x age, which adds separate sex and age figures (:func:`factor_figures`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as _st
from sklearn.metrics import confusion_matrix as _sk_confusion
from sklearn.metrics import recall_score

from napari_mousestop._json import jsonable as _jsonable
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
        t-interval over the per-cage values (:func:`t_interval`).
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
    """Fraction of ``correct`` (booleans, one per animal-recording) with a t-interval over the
    per-cage fractions: the cage, not the animal, is the independent unit.

    With equal-sized cages the mean of the per-cage fractions is the overall fraction, and the
    interval is a t-interval for it with ``n_cages - 1`` degrees of freedom.
    """
    correct = np.asarray(correct, dtype=bool)
    ids, means, sizes = _per_cage(correct, cages)
    equal = bool(len(sizes) and np.all(sizes == sizes[0]))
    size_note = (
        "equal-sized cages"
        if equal
        else f"cages of {sizes.min()}-{sizes.max()} animal-recordings: the interval is for the "
        "mean per-cage " + what
    )
    assumes = (
        f"cages are independent and exchangeable, per-cage {what} roughly normal over cages, "
        f"{size_note}; fold models share most training data, which cross-validation "
        "intervals ignore"
    )
    return CageEstimate(
        value=float(np.mean(correct)) if len(correct) else float("nan"),
        cage_mean=float(means.mean()) if len(means) else float("nan"),
        per_cage=dict(zip(ids, means.tolist(), strict=True)),
        interval=t_interval(means, level, (0.0, 1.0), "cage", assumes),
        equal_sizes=equal,
    )


# --- the accuracy permutation test ----------------------------------------------------------


def split_classes(classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Age letters and sex letters of each class name (``"AM"`` -> A, M); None if the names
    are not all of that form."""
    ok = all(len(c) == 2 and c[0] in "AJ" and c[1] in "MF" for c in classes)
    if not ok or not classes:
        return None
    return np.array([c[0] for c in classes]), np.array([c[1] for c in classes])


def _shuffle_within(blocks: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, m) indices; each row is a random permutation of ``range(m)`` that moves every item
    only within its block (one block: a plain permutation)."""
    m = len(blocks)
    keys = rng.random((n, m))
    order = np.lexsort((keys, np.broadcast_to(blocks, (n, m))), axis=-1)
    out = np.empty((n, m), dtype=np.intp)
    out[:, np.argsort(blocks, kind="stable")] = order
    return out


def _constant_within(y: np.ndarray, units: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether ``y`` is constant within each unit (ids 0..k-1), and each unit's first label."""
    first = y[np.unique(units, return_index=True)[1]]
    return bool(np.all(first[units] == y)), first


def _same_multiset(labels: np.ndarray, blocks: np.ndarray) -> bool:
    """Whether every block holds the same multiset of labels, with at least two distinct."""
    sets = {tuple(sorted(labels[blocks == b])) for b in np.unique(blocks)}
    return len(sets) == 1 and len(set(next(iter(sets)))) > 1


@dataclass
class LabelShuffler:
    """How labels are permuted under the null: the unit, the blocks and the drawing rule.

    Attributes
    ----------
    level
        ``"cage"``, ``"design"`` (sex across cages, age within cage), ``"recording within
        cage"``, ``"cage-recording"``, ``"animal within recording"`` or ``"animal"``.
    scheme
        One sentence for the report.
    """

    level: str
    scheme: str
    _draw: Any = field(repr=False)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` permuted label vectors, shape (n, n_samples)."""
        return self._draw(n, rng)


def label_shuffler(
    y: np.ndarray, cages: np.ndarray, recordings: np.ndarray, classes: tuple[str, ...] = ()
) -> LabelShuffler:
    """Choose how to permute labels: at the coarsest level where they are constant.

    * labels constant within each cage: the cages' labels are permuted across cages;
    * constant within each cage-recording, class names of sex x age form (``AM, JM, AF, JF``)
      and sex constant within each cage: the design scheme, sexes permuted across cages and
      ages among the recordings of each cage;
    * constant within each cage-recording and every cage holding the same labels (e.g. one
      juvenile and one adult recording): recordings permuted within each cage;
    * constant within each cage-recording otherwise: cage-recordings permuted across the cohort;
    * otherwise animals, within their cage-recording when every recording holds the same
      labels, else across the cohort (clustered predictions then make the test liberal).
    """
    y = np.asarray(y)
    cage_str = np.asarray(cages, dtype=str)
    _, cage = np.unique(cage_str, return_inverse=True)
    rec_key = np.char.add(np.char.add(cage_str, "\x00"), np.asarray(recordings, dtype=str))
    _, unit = np.unique(rec_key, return_inverse=True)

    def by_units(units, blocks):
        unit_label = _constant_within(y, units)[1]
        return lambda n, rng: unit_label[_shuffle_within(blocks, n, rng)][:, units]

    by_cage, cage_label = _constant_within(y, cage)
    if by_cage:
        return LabelShuffler(
            "cage",
            "cage level: each cage's class (all its animals share it) is permuted across cages",
            by_units(cage, np.zeros(len(cage_label), int)),
        )
    by_unit, unit_label = _constant_within(y, unit)
    if by_unit:
        unit_cage = np.zeros(len(unit_label), int)
        unit_cage[unit] = cage
        parts = split_classes(tuple(classes))
        if parts is not None:
            ages, sexes = parts
            sex_codes, sex_of_class = np.unique(sexes, return_inverse=True)
            age_codes, age_of_class = np.unique(ages, return_inverse=True)
            one_sex, cage_sex = _constant_within(sex_of_class[unit_label], unit_cage)
            if one_sex:
                lookup = np.full((len(age_codes), len(sex_codes)), -1)
                lookup[age_of_class, sex_of_class] = np.arange(len(classes))
                unit_age = age_of_class[unit_label]

                def design(n, rng):
                    sex = cage_sex[_shuffle_within(np.zeros(len(cage_sex), int), n, rng)]
                    age = unit_age[_shuffle_within(unit_cage, n, rng)]
                    return lookup[age, sex[:, unit_cage]][:, unit]

                return LabelShuffler(
                    "design",
                    "cage level (design): the sex of each cage is permuted across cages and the "
                    "ages of each cage's recordings within the cage; animals keep their "
                    "cage-recording's class",
                    design,
                )
        if _same_multiset(unit_label, unit_cage):
            return LabelShuffler(
                "recording within cage",
                "recording level, within cage: every cage holds the same labels, so the labels "
                "of each cage's recordings are permuted within the cage",
                by_units(unit, unit_cage),
            )
        return LabelShuffler(
            "cage-recording",
            "cage-recording level: the class of each cage-recording is permuted across the "
            "cohort (cage-mates in other recordings are not kept together)",
            by_units(unit, np.zeros(len(unit_label), int)),
        )
    samples = np.arange(len(y))
    if _same_multiset(y, unit):
        return LabelShuffler(
            "animal within recording",
            "animal level, within cage-recording: labels vary inside every cage-recording in "
            "the same way, so animals' labels are permuted within their cage-recording",
            by_units(samples, unit),
        )
    return LabelShuffler(
        "animal",
        "animal level: labels vary within cage-recordings, so animals are permuted across the "
        "cohort (liberal when predictions cluster by cage)",
        by_units(samples, np.zeros(len(y), int)),
    )


@dataclass(frozen=True)
class PermutationResult(_Record):
    """A permutation test of accuracy: ``p = (1 + #{null >= observed}) / (1 + n_permutations)``.

    ``null_mean`` is the accuracy expected from these very predictions if the labels carried
    no information (the chance reference of the test).
    """

    observed: float
    p_value: float
    n_permutations: int
    level: str
    scheme: str
    null_mean: float
    null_q95: float
    assumes: str


def permutation_test(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    cages: np.ndarray,
    recordings: np.ndarray,
    classes: tuple[str, ...] = (),
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    batch: int = 1000,
) -> PermutationResult:
    """Is the out-of-fold accuracy higher than chance, permuting labels where they were assigned?

    The out-of-fold predictions stay fixed; the true labels are permuted at the coarsest level
    at which they are constant (:func:`label_shuffler`; ``level`` and ``scheme`` of the result
    say which), so animals of one cage move together and a model that merely recognises cages
    cannot look significant. The models are not retrained under permutation.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rng = np.random.default_rng(seed)
    shuffler = label_shuffler(y_true, cages, recordings, classes)
    observed = accuracy(y_true, y_pred)
    null = np.empty(n_permutations)
    for start in range(0, n_permutations, batch):
        k = min(batch, n_permutations - start)
        null[start : start + k] = np.mean(shuffler.draw(k, rng) == y_pred, axis=1)
    return permutation_result(
        observed,
        null,
        shuffler,
        "labels were assigned at random at that level (the design's randomisation); the "
        "models are not retrained, so it tests these predictions, not the training procedure",
    )


def permutation_result(
    observed: float, null: np.ndarray, shuffler: LabelShuffler, assumes: str
) -> PermutationResult:
    """``p = (1 + #{null >= observed}) / (1 + len(null))`` and the null's mean and 95%
    quantile, for the permutations ``shuffler`` drew."""
    null = np.asarray(null, dtype=float)
    n = len(null)
    p = (1 + int(np.sum(null >= observed - _TIE))) / (1 + n)
    return PermutationResult(
        observed=float(observed),
        p_value=float(p),
        n_permutations=int(n),
        level=shuffler.level,
        scheme=shuffler.scheme,
        null_mean=float(null.mean()) if n else float("nan"),
        null_q95=float(np.quantile(null, 0.95)) if n else float("nan"),
        assumes=assumes,
    )


# --- comparing two classifiers on the same cages --------------------------------------------


@dataclass(frozen=True)
class SignFlipResult(_Record):
    """A two-sided sign-flip test that the mean of per-unit differences is 0."""

    mean_difference: float
    p_value: float
    n_units: int
    exact: bool
    n_resamples: int
    assumes: str


def sign_flip_test(
    differences: np.ndarray, seed: int = 0, max_exact: int = 16, n_resamples: int = 9999
) -> SignFlipResult:
    """Sign-flip (paired permutation) test of per-unit differences, with scipy's
    ``permutation_test``: all ``2**n`` flips when ``n <= max_exact``, else ``n_resamples``
    random ones. Two-sided: ``p = #{|mean(s * d)| >= |mean(d)|} / #flips``."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    exact = n <= max_exact
    assumes = (
        "under the null each unit's difference is as likely negative as positive (symmetric "
        "about 0) and units are independent"
    )
    if n == 0:
        return SignFlipResult(float("nan"), float("nan"), 0, True, 0, assumes)
    res = _st.permutation_test(
        (d,),
        lambda x, axis: np.mean(x, axis=axis),
        vectorized=True,
        permutation_type="samples",
        n_resamples=np.inf if exact else n_resamples,
        alternative="two-sided",
        rng=seed,
    )
    return SignFlipResult(
        mean_difference=float(d.mean()),
        p_value=float(min(1.0, res.pvalue)),
        n_units=n,
        exact=exact,
        n_resamples=2**n if exact else int(n_resamples),
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


# --- sex and age apart ------------------------------------------------------------------------


@dataclass(frozen=True)
class FactorFigures(_Record):
    """How well the predicted class gets one factor (sex or age) right, tested on its own.

    Attributes
    ----------
    name
        ``"sex"`` or ``"age"``.
    accuracy
        The predicted class has the right factor level (whatever the other factor), with its
        cage-level interval.
    permutation
        Permutation test of that accuracy, permuting the factor's labels where they were
        assigned (sex: across cages; age: within each cage).
    four_class_by_level
        The 4-class accuracy among animals of each true level (e.g. ``{"M": .., "F": ..}``).
    caveat
        What no test here can separate from this factor (age: recording order).
    """

    name: str
    accuracy: CageEstimate
    permutation: PermutationResult
    four_class_by_level: dict[str, float]
    caveat: str = ""


AGE_CONFOUND = (
    "in the paper's design juveniles are always recorded first, so age is confounded with "
    "recording order (and with everything that changed between the two recordings): no test "
    "here separates them"
)


def factor_figures(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    cages: np.ndarray,
    recordings: np.ndarray,
    classes: tuple[str, ...],
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, FactorFigures]:
    """Separate sex and age figures when class names are of the ``AM, JM, AF, JF`` form
    (else an empty dict)."""
    parts = split_classes(tuple(classes))
    if parts is None:
        return {}
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    ages, sexes = parts
    out = {}
    for name, letters in (("sex", sexes), ("age", ages)):
        codes, of_class = np.unique(letters, return_inverse=True)
        if len(codes) < 2:
            continue
        t, p = of_class[y_true], of_class[y_pred]
        by_level = {
            str(codes[k]): accuracy(y_true[t == k], y_pred[t == k])
            for k in range(len(codes))
            if np.any(t == k)
        }
        out[name] = FactorFigures(
            name=name,
            accuracy=cage_estimate(t == p, cages, level, f"{name} accuracy"),
            permutation=permutation_test(
                t, p, cages, recordings, tuple(codes), n_permutations, seed
            ),
            four_class_by_level=by_level,
            caveat=AGE_CONFOUND if name == "age" else "",
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
        Accuracy with its cage-level t-interval (the headline interval).
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
    """Accuracies to read the CNN's against, besides ``chance = 1 / n_classes``.

    Attributes
    ----------
    chance
        ``1 / n_classes``.
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
        Why accuracy without information falls below chance with leave-one-cage-out folds.
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
    assumes = (
        "a model that learned nothing guesses each class as often as its training folds hold "
        "it; one that leans further to the training majority scores lower still"
    )
    note = (
        "A model trained on stacks without information predicts the classes common in its "
        "training set. Holding out a cage of one sex leaves that sex rarer in training, so "
        "with leave-one-cage-out folds such a model scores below chance out of fold "
        f"({guess:.3f} here for a guess in proportion to the training classes, lower for a "
        "model that leans to the majority). Balanced folds hold out cages that cover the "
        "classes evenly and keep this at chance. The permutation test keeps the predictions "
        "fixed, so its null stays near chance: against this bias it is conservative."
    )
    return NullReference(1.0 / n_classes, guess, permutation.null_mean, assumes, note)


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
