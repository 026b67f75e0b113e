"""Simulated cohorts of out-of-fold predictions, to measure how the tests and intervals of
:mod:`napari_mousestop.learning.stats` behave for a design: the size of each test (how often it
rejects a true null) and the coverage of each interval (how often it holds the true value).

The cohort follows the paper's design: cages alternate male and female, each cage is
recorded once juvenile and once adult, ``mice`` animals per recording. Predictions are drawn
with **cage effects**: each cage gets a random shift (normal, SD ``cage_sd`` on the logit
scale) shared by its animals and both recordings, the way cage-mates resemble each other.
No model is trained; the predictions stand in for any classifier's out-of-fold output.

:func:`design_cohort` builds the arrays (labels, cages, recordings, animals, factors) of the
other study designs of issue 22 (:data:`DESIGNS`: sex only, three classes, genotype within or
by cage, mixed-sex cages, unequal cages, 4 and 5 cages), for the tests of
:mod:`napari_mousestop.design` and ``benchmarks/bench_designs.py``; :func:`interval_coverage`
measures the cage-level interval at several accuracies and cage counts.

Used by ``tests/learning/test_stats.py`` and ``tests/design`` (small, seeded) and
``benchmarks/bench_stats.py`` and ``bench_designs.py`` (the figures in ``docs/training.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st
from scipy.special import expit, logit

from napari_mousestop.design import StudyDesign
from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.learning.stats import (
    cage_estimate,
    compare_on_cages,
    factor_figures,
    permutation_test,
    wilson_interval,
)


def design(n_cages: int = 12, mice: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (indices of AM, JM, AF, JF), cages and recordings of the paper's design."""
    labels, cages, recordings = [], [], []
    for c in range(n_cages):
        sex = "M" if c % 2 == 0 else "F"
        for age in "JA":
            labels += [CLASSES.index(age + sex)] * mice
            cages += [f"cage{c:02d}"] * mice
            recordings += [f"cage{c:02d}_{age}"] * mice
    return np.array(labels), np.array(cages), np.array(recordings)


@dataclass(frozen=True)
class Cohort:
    """The arrays of a simulated cohort's design: one item per animal-recording."""

    name: str
    labels: np.ndarray
    cages: np.ndarray
    recordings: np.ndarray
    animals: np.ndarray
    factors: dict[str, np.ndarray]
    classes: tuple[str, ...]

    def study(self) -> StudyDesign:
        """Its :class:`~napari_mousestop.design.StudyDesign`."""
        return StudyDesign(
            self.labels, self.cages, self.recordings, self.animals, self.factors, self.classes
        )


DESIGNS: tuple[str, ...] = (
    "paper",
    "sex only (adults)",
    "three classes",
    "genotype within cage",
    "genotype by cage",
    "mixed-sex cages",
    "unequal cages",
    "4 cages",
    "5 cages",
)
"""The designs of :func:`design_cohort` (issue 22's list)."""


def design_cohort(name: str) -> Cohort:
    """The arrays of one of :data:`DESIGNS`.

    * ``paper``: 12 single-sex cages (6 M, 6 F) of 4 mice, recorded juvenile (J) and adult
      (A); classes AM, JM, AF, JF from sex and age;
    * ``sex only (adults)``: the same cages recorded as adults only (AM, AF; age constant);
    * ``three classes``: AM, JM, AF (female cages recorded as adults only);
    * ``genotype within cage``: 12 cages of 2 WT + 2 KO, two recordings; sex of the cage is a
      nuisance covariate, not a class factor;
    * ``genotype by cage``: 6 KO and 6 WT cages of 4 mice, two recordings;
    * ``mixed-sex cages``: 12 cages of 2 M + 2 F, recorded J and A;
    * ``unequal cages``: the paper's design with 3-5 mice per cage, one animal missing from
      one recording and one cage without its adult recording;
    * ``4 cages``, ``5 cages``: the paper's design with that many cages.
    """
    rows: list[tuple[str, str, str, dict[str, str]]] = []
    n_cages = {"4 cages": 4, "5 cages": 5}.get(name, 12)
    for c in range(n_cages):
        cage = f"cage{c:02d}"
        sex = "M" if c % 2 == 0 else "F"
        mice = 3 + c % 3 if name == "unequal cages" else 4
        ages = "A" if name == "sex only (adults)" else "JA"
        if name == "three classes" and sex == "F":
            ages = "A"
        if name == "unequal cages" and c == 1:
            ages = "J"  # the missing recording
        for age in ages:
            rec = f"{cage}_{age}"
            for m in range(mice):
                if name == "unequal cages" and c == 2 and age == "A" and m == 0:
                    continue  # the missing animal
                animal = f"{cage}_m{m}"
                if name == "genotype within cage":
                    f = {"genotype": "KO" if m % 2 else "WT"}
                elif name == "genotype by cage":
                    f = {"genotype": "KO" if c % 2 else "WT"}
                elif name == "mixed-sex cages":
                    f = {"sex": "M" if m % 2 else "F", "age": age}
                else:
                    f = {"sex": sex, "age": age}
                rows.append((cage, rec, animal, f))
    if name not in DESIGNS:
        raise ValueError(f"unknown design {name!r}; designs are {list(DESIGNS)}")
    names = list(rows[0][3])
    factors = {k: np.array([r[3][k] for r in rows]) for k in names}
    if "age" in factors:  # the paper's class names: age letter, sex letter
        combo = np.char.add(factors["age"], factors["sex"])
        classes = tuple(c for c in CLASSES if c in set(combo.tolist()))
    else:
        combo = factors[names[0]]
        classes = tuple(sorted(set(combo.tolist())))
    labels = np.array([classes.index(v) for v in combo])
    cages, recs, animals = (np.array([r[i] for r in rows]) for i in range(3))
    return Cohort(name, labels, cages, recs, animals, factors, classes)


def _cage_shift(cages: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    ids, g = np.unique(cages, return_inverse=True)
    return rng.normal(0.0, sd, len(ids))[g]


def correct_with_cage_effect(
    cages: np.ndarray, accuracy: float, cage_sd: float, rng: np.random.Generator
) -> np.ndarray:
    """Booleans: each animal-recording right with probability ``expit(logit(accuracy) + u)``,
    ``u`` shared by the cage (SD ``cage_sd``)."""
    p = expit(logit(accuracy) + _cage_shift(cages, cage_sd, rng))
    return rng.random(len(cages)) < p


def predictions_from_correct(
    labels: np.ndarray, correct: np.ndarray, n_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """The true class where ``correct``, else another class drawn uniformly."""
    other = (labels + rng.integers(1, n_classes, len(labels))) % n_classes
    return np.where(correct, labels, other)


def null_predictions(
    cages: np.ndarray, cage_sd: float, n_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """Predictions that ignore the labels but cluster by cage: each cage has its own class
    preferences (normal logits, SD ``cage_sd``), shared by its animals and recordings."""
    ids, g = np.unique(cages, return_inverse=True)
    logits = rng.normal(0.0, cage_sd, (len(ids), n_classes))[g]
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return (rng.random((len(cages), 1)) > np.cumsum(p, axis=1)).sum(axis=1)


def age_only_predictions(
    labels: np.ndarray, cages: np.ndarray, cage_sd: float, rng: np.random.Generator
) -> np.ndarray:
    """4-class predictions that get age right 90% of the time but carry no sex information
    (each cage leans to one predicted sex, SD ``cage_sd``)."""
    ages = np.array([c[0] for c in CLASSES])[labels]
    right_age = rng.random(len(labels)) < 0.9
    age = np.where(right_age, ages, np.where(ages == "A", "J", "A"))
    male = rng.random(len(labels)) < expit(_cage_shift(cages, cage_sd, rng))
    names = np.char.add(age, np.where(male, "M", "F"))
    return np.array([CLASSES.index(n) for n in names])


def population_accuracy(accuracy: float, cage_sd: float) -> float:
    """Expected accuracy over cages, ``E[expit(logit(accuracy) + u)]`` (Gauss-Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(60)
    return float(np.sum(w * expit(logit(accuracy) + cage_sd * x)) / np.sum(w))


@dataclass(frozen=True)
class Check:
    """One simulated property: a test's rejection rate at ``alpha`` under its null
    (``kind="size"``, should not exceed ``nominal``) or when the data hold something it
    responds to (``kind="power"``), or an interval's coverage (``kind="coverage"``, should
    reach ``nominal``)."""

    name: str
    kind: str
    cage_sd: float
    nominal: float
    observed: float
    n_reps: int

    @property
    def mc_se(self) -> float:
        """Monte Carlo standard error of ``observed``."""
        return float(np.sqrt(self.observed * (1 - self.observed) / self.n_reps))


def _mcnemar_p(right_a: np.ndarray, right_b: np.ndarray) -> float:
    """Exact animal-level McNemar p (for comparison only: it ignores cages)."""
    b, c = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    return 1.0 if b + c == 0 else float(_st.binomtest(b, b + c).pvalue)


def check_statistics(
    n_reps: int = 1000,
    cage_sds: tuple[float, ...] = (0.0, 1.0, 2.0),
    n_cages: int = 12,
    mice: int = 4,
    accuracy: float = 0.5,
    n_permutations: int = 199,
    alpha: float = 0.05,
    seed: int = 0,
) -> list[Check]:
    """Size of every test and coverage of every interval on simulated cohorts.

    For each cage-effect SD:

    * coverage of the cage-level interval (:func:`~.stats.cage_wilson_interval`) and of the
      animal-level Wilson interval of accuracy (true value: :func:`population_accuracy`);
    * two classifiers of equal expected accuracy with independent cage effects: size of the
      sign-flip test and of the animal-level McNemar test, coverage of the t-interval of the
      difference (true value 0);
    * predictions that ignore the labels: size of the 4-class permutation test;
    * predictions that get age but not sex: size of the sex test, and how often the 4-class
      test rejects (it is not under its null: age alone makes it significant);
    * a sex-only problem (classes ``M``, ``F``) with label-blind predictions: size of the
      permutation test at the level found from the data.
    """
    rng = np.random.default_rng(seed)
    y, cages, recs = design(n_cages, mice)
    study = StudyDesign.from_arrays(y, cages, recs, classes=CLASSES)
    sexes = np.array([c[1] for c in CLASSES])
    sex_codes, sex_y = np.unique(sexes[y], return_inverse=True)
    sex_study = StudyDesign.from_arrays(
        sex_y, cages, recs, factors={"sex": sexes[y]}, classes=tuple(sex_codes)
    )
    out = []
    for sd in cage_sds:
        keys = ("t", "wilson", "diff", "signflip", "mcnemar", "perm", "age4", "sex", "sexonly")
        hits = dict.fromkeys(keys, 0)
        truth = population_accuracy(accuracy, sd)
        for _ in range(n_reps):
            s = int(rng.integers(2**31))
            right = correct_with_cage_effect(cages, accuracy, sd, rng)
            est = cage_estimate(right, cages)
            w = wilson_interval(int(right.sum()), len(right))
            hits["t"] += est.interval.low <= truth <= est.interval.high
            hits["wilson"] += w.low <= truth <= w.high
            pred_a = predictions_from_correct(y, right, 4, rng)
            other = correct_with_cage_effect(cages, accuracy, sd, rng)
            pred_b = predictions_from_correct(y, other, 4, rng)
            comp = compare_on_cages(y, pred_a, pred_b, cages, s)
            hits["diff"] += comp.interval.low <= 0 <= comp.interval.high
            hits["signflip"] += comp.test.p_value <= alpha
            hits["mcnemar"] += _mcnemar_p(right, other) <= alpha
            null = null_predictions(cages, sd, 4, rng)
            perm = permutation_test(study, null, n_permutations, s)
            hits["perm"] += perm.p_value <= alpha
            age_only = age_only_predictions(y, cages, sd, rng)
            four = permutation_test(study, age_only, n_permutations, s)
            hits["age4"] += four.p_value <= alpha
            sex = factor_figures(study, age_only, n_permutations, s)["sex"]
            hits["sex"] += sex.permutation.p_value <= alpha
            guess = null_predictions(cages, sd, 2, rng)
            sexonly = permutation_test(sex_study, guess, n_permutations, s)
            hits["sexonly"] += sexonly.p_value <= alpha
        rows = (
            ("accuracy: cage-level interval (Wilson, design effect)", "coverage", "t"),
            ("accuracy: animal-level Wilson interval", "coverage", "wilson"),
            ("CNN - baseline: cage-level t-interval", "coverage", "diff"),
            ("CNN vs baseline: sign-flip test over cages", "size", "signflip"),
            ("CNN vs baseline: animal-level McNemar (not reported)", "size", "mcnemar"),
            ("accuracy: 4-class permutation test (design)", "size", "perm"),
            ("4-class permutation test, predictions that know age only", "power", "age4"),
            ("sex test, predictions that know age only", "size", "sex"),
            ("sex-only classes: permutation test at the level found", "size", "sexonly"),
        )
        for name, kind, key in rows:
            nominal = alpha if kind == "size" else 0.95
            out.append(Check(name, kind, float(sd), nominal, hits[key] / n_reps, n_reps))
    return out


def interval_coverage(
    n_reps: int = 1000,
    accuracies: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95),
    cage_counts: tuple[int, ...] = (6, 8, 12),
    cage_sd: float = 1.0,
    mice: int = 4,
    seed: int = 0,
) -> list[dict]:
    """Coverage of the cage-level interval of accuracy (:func:`~.stats.cage_estimate`) and,
    for comparison, of the former t-interval over per-cage accuracies, on simulated cohorts
    of the paper's design with cage effects (SD ``cage_sd``, logit scale): one row per
    accuracy and number of cages, with the share of intervals of zero width."""
    from napari_mousestop.learning.stats import t_interval

    rng = np.random.default_rng(seed)
    rows = []
    for n_cages in cage_counts:
        _, cages, _ = design(n_cages, mice)
        ids, g = np.unique(cages, return_inverse=True)
        for acc in accuracies:
            truth = population_accuracy(acc, cage_sd)
            hit = {"interval": 0, "t": 0, "t_zero_width": 0, "width": 0.0}
            for _ in range(n_reps):
                right = correct_with_cage_effect(cages, acc, cage_sd, rng)
                i = cage_estimate(right, cages).interval
                per_cage = np.bincount(g, weights=right) / np.bincount(g)
                t = t_interval(per_cage)
                hit["interval"] += i.low - 1e-12 <= truth <= i.high + 1e-12
                hit["t"] += t.low - 1e-12 <= truth <= t.high + 1e-12
                hit["t_zero_width"] += t.high - t.low == 0
                hit["width"] += i.high - i.low
            rows.append({
                "n_cages": n_cages, "accuracy": acc, "truth": truth, "cage_sd": cage_sd,
                "coverage": hit["interval"] / n_reps, "t_coverage": hit["t"] / n_reps,
                "t_zero_width": hit["t_zero_width"] / n_reps,
                "mean_width": hit["width"] / n_reps, "n_reps": n_reps,
            })  # fmt: skip
    return rows
