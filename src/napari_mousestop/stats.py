"""Metrics and tests for out-of-fold predictions: confusion matrix, accuracies, Wilson interval,
a cage-level permutation test and an exact McNemar test.

Class names such as ``"AM"`` are read as age (first letter: A adult, J juvenile) and sex
(last letter: M, F); per-sex and per-age figures need names of that form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest, norm


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (C, C): row = true class, column = predicted class, in class-index order
    (AM, JM, AF, JF for the default classes)."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of correct predictions."""
    y_true = np.asarray(y_true)
    return float(np.mean(y_true == np.asarray(y_pred))) if len(y_true) else float("nan")


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y_true``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls)) if recalls else float("nan")


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion of ``k`` successes out of ``n``."""
    if n == 0:
        return (float("nan"), float("nan"))
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def split_classes(classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """Age letters and sex letters of each class name (``"AM"`` -> A, M); None if the names
    are not of that form."""
    ok = all(len(c) == 2 and c[0] in "AJ" and c[1] in "MF" for c in classes)
    if not ok:
        return None
    return np.array([c[0] for c in classes]), np.array([c[1] for c in classes])


def group_accuracies(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Per-sex and per-age figures.

    ``per_sex_accuracy[s]`` is the 4-class accuracy among animals of true sex ``s`` (likewise
    ``per_age_accuracy``); ``sex_accuracy`` is how often the predicted class has the right sex
    whatever the age (and ``age_accuracy`` the right age whatever the sex). Empty dicts and
    None when the class names carry no age/sex.
    """
    parts = split_classes(classes)
    if parts is None:
        return {
            "per_sex_accuracy": {},
            "per_age_accuracy": {},
            "sex_accuracy": None,
            "age_accuracy": None,
        }
    ages, sexes = parts
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {"per_sex_accuracy": {}, "per_age_accuracy": {}}
    for key, letters in (("per_sex_accuracy", sexes), ("per_age_accuracy", ages)):
        for letter in dict.fromkeys(letters):
            mask = letters[y_true] == letter
            if mask.any():
                out[key][str(letter)] = accuracy(y_true[mask], y_pred[mask])
    out["sex_accuracy"] = accuracy(sexes[y_true], sexes[y_pred])
    out["age_accuracy"] = accuracy(ages[y_true], ages[y_pred])
    return out


@dataclass
class PermutationResult:
    """A permutation test of accuracy. ``p_value = (1 + #{null >= observed}) / (1 + n)``."""

    observed: float
    p_value: float
    n_permutations: int
    scheme: str
    null_mean: float
    null_q95: float

    def to_dict(self) -> dict:
        """JSON-friendly dictionary."""
        return asdict(self)


def _label_sampler(y, cages, recordings, classes, rng):
    """Choose the permutation scheme; return (scheme text, function drawing permuted labels)."""
    y = np.asarray(y)
    cage_ids, g = np.unique(np.asarray(cages, dtype=str), return_inverse=True)
    unit_keys = np.char.add(np.char.add(np.asarray(cages, dtype=str), "\x00"), recordings)
    units, u = np.unique(unit_keys, return_inverse=True)
    unit_label = np.full(len(units), -1)
    one_class_per_unit = True
    for k in range(len(units)):
        values = np.unique(y[u == k])
        one_class_per_unit &= len(values) == 1
        unit_label[k] = values[0]
    parts = split_classes(classes)
    if one_class_per_unit and parts is not None:
        ages, sexes = parts
        cage_sex = np.array([np.unique(sexes[y[g == k]]) for k in range(len(cage_ids))], object)
        if all(len(s) == 1 for s in cage_sex):
            cage_sex = np.array([s[0] for s in cage_sex])
            unit_age = ages[unit_label]
            unit_cage = np.array([g[u == k][0] for k in range(len(units))])
            lookup = {(a, s): i for i, (a, s) in enumerate(zip(ages, sexes, strict=True))}
            by_cage = [np.flatnonzero(unit_cage == k) for k in range(len(cage_ids))]

            def draw() -> np.ndarray:
                sex = cage_sex[rng.permutation(len(cage_sex))]
                age = unit_age.copy()
                for idx in by_cage:
                    age[idx] = unit_age[idx][rng.permutation(len(idx))]
                unit_new = np.array(
                    [lookup.get((age[k], sex[unit_cage[k]]), -1) for k in range(len(units))]
                )
                return unit_new[u]

            scheme = (
                "cage level: the sex of each cage is permuted across cages, and the ages of "
                "each cage's recordings are permuted within the cage; animals keep their "
                "cage-recording's label"
            )
            return scheme, draw
    if one_class_per_unit:
        scheme = "cage-recording level: the class of each cage-recording is permuted across them"
        return scheme, lambda: unit_label[rng.permutation(len(units))][u]
    scheme = "animal level (labels vary within a cage-recording, so no coarser unit exists)"
    return scheme, lambda: y[rng.permutation(len(y))]


def permutation_test(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    cages: np.ndarray,
    recordings: np.ndarray,
    classes: tuple[str, ...],
    n_permutations: int = 10000,
    seed: int = 0,
) -> PermutationResult:
    """Is the out-of-fold accuracy higher than chance, permuting labels where they were assigned?

    Sex is a property of the cage and age of the recording, so the null distribution keeps
    the out-of-fold predictions fixed and permutes the cage-level sex labels across cages and
    the recording-level ages within each cage (see ``scheme`` in the result). This respects
    the clustering of animals in cages: animals of one cage are not independent draws.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rng = np.random.default_rng(seed)
    scheme, draw = _label_sampler(y_true, cages, np.asarray(recordings, dtype=str), classes, rng)
    observed = accuracy(y_true, y_pred)
    null = np.array([np.mean(draw() == y_pred) for _ in range(n_permutations)])
    p = (1 + int(np.sum(null >= observed - 1e-12))) / (1 + n_permutations)
    return PermutationResult(
        observed=observed,
        p_value=float(p),
        n_permutations=int(n_permutations),
        scheme=scheme,
        null_mean=float(null.mean()) if len(null) else float("nan"),
        null_q95=float(np.quantile(null, 0.95)) if len(null) else float("nan"),
    )


def mcnemar_exact(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict:
    """Exact (binomial) two-sided McNemar test of two classifiers on the same samples.

    Returns ``a_only`` (a right, b wrong), ``b_only`` and ``p_value``.
    """
    y_true = np.asarray(y_true)
    right_a, right_b = np.asarray(pred_a) == y_true, np.asarray(pred_b) == y_true
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"a_only": b, "b_only": c, "p_value": p}


def summarize(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Accuracy, balanced accuracy, confusion matrix, Wilson 95% interval and group figures."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = int(np.sum(y_true == y_pred))
    return {
        "n": int(len(y_true)),
        "accuracy": accuracy(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "chance": 1.0 / len(classes),
        "ci95": list(wilson_interval(k, len(y_true))),
        "confusion_matrix": confusion_matrix(y_true, y_pred, len(classes)).tolist(),
        **group_accuracies(y_true, y_pred, classes),
    }
