"""Statistics of out-of-fold predictions."""

import numpy as np
import pytest

from napari_mousestop.cohort import CLASSES
from napari_mousestop.stats import (
    _label_sampler,
    balanced_accuracy,
    confusion_matrix,
    group_accuracies,
    mcnemar_exact,
    permutation_test,
    summarize,
    wilson_interval,
)

AM, JM, AF, JF = range(4)


def cohort(n_cages=8, per_cage=4):
    """Cages alternate male/female, each recorded as juveniles and adults."""
    labels, cages, recordings = [], [], []
    for c in range(n_cages):
        sex = "M" if c % 2 == 0 else "F"
        for age in "JA":
            labels += [CLASSES.index(age + sex)] * per_cage
            cages += [f"c{c}"] * per_cage
            recordings += [f"c{c}{age}"] * per_cage
    return np.array(labels), np.array(cages), np.array(recordings)


def test_confusion_matrix_rows_are_true_classes_in_am_jm_af_jf_order():
    cm = confusion_matrix([JM, JM, AF, JF], [AF, JM, AF, AM], 4)
    assert cm[JM, AF] == 1 and cm[JM, JM] == 1 and cm[AF, AF] == 1 and cm[JF, AM] == 1
    assert cm.sum() == 4


def test_balanced_accuracy_weights_each_class_equally():
    y = np.array([AM] * 8 + [JF] * 2)
    pred = np.array([AM] * 8 + [AM] * 2)  # all AM: 80 % accurate, but JF never found
    assert balanced_accuracy(y, pred) == pytest.approx(0.5)


def test_wilson_interval_matches_the_closed_form():
    lo, hi = wilson_interval(0, 10)
    z2 = 1.959964**2
    assert lo == 0 and hi == pytest.approx(z2 / (10 + z2), rel=1e-5)  # 0.2775
    lo, hi = wilson_interval(48, 96)
    assert lo < 0.5 < hi and hi - 0.5 == pytest.approx(0.5 - lo)


def test_per_sex_and_per_age_accuracy():
    y = np.array([AM, AM, JM, AF, JF, JF])
    pred = np.array([AM, JM, JM, AM, JF, AF])
    g = group_accuracies(y, pred, CLASSES)
    assert g["per_sex_accuracy"] == {"M": pytest.approx(2 / 3), "F": pytest.approx(1 / 3)}
    assert g["per_age_accuracy"] == {"A": pytest.approx(1 / 3), "J": pytest.approx(2 / 3)}
    assert g["sex_accuracy"] == pytest.approx(5 / 6)  # only AF -> AM has the wrong sex
    assert g["age_accuracy"] == pytest.approx(4 / 6)  # AM -> JM and JF -> AF have the wrong age


def test_summary_holds_the_reported_figures():
    y, _, _ = cohort()
    s = summarize(y, y, CLASSES)
    assert s["accuracy"] == 1 and s["chance"] == 0.25
    assert np.trace(np.array(s["confusion_matrix"])) == len(y)
    assert s["ci95"][1] == 1.0 and s["ci95"][0] > 0.9


def test_permuted_labels_keep_the_cage_and_recording_structure():
    y, cages, recordings = cohort()
    scheme, draw = _label_sampler(y, cages, recordings, CLASSES, np.random.default_rng(0))
    assert "cage" in scheme
    sexes = np.array([c[1] for c in CLASSES])
    changed = False
    for _ in range(50):
        perm = draw()
        for cage in np.unique(cages):
            assert len(set(sexes[perm[cages == cage]])) == 1  # one sex per cage
        for rec in np.unique(recordings):
            assert len(set(perm[recordings == rec])) == 1  # one class per recording
        assert sorted(np.bincount(perm, minlength=4)) == sorted(np.bincount(y, minlength=4))
        changed |= not np.array_equal(perm, y)
    assert changed


def test_permutation_test_separates_real_from_chance_predictions():
    y, cages, recordings = cohort()
    perfect = permutation_test(y, y, cages, recordings, CLASSES, 2000, seed=1)
    assert perfect.p_value < 0.01 and perfect.observed == 1
    constant = permutation_test(y, np.zeros_like(y), cages, recordings, CLASSES, 2000, seed=1)
    assert constant.p_value > 0.5  # always "AM" is right for a quarter whatever the labels


def test_permutation_falls_back_to_animals_when_labels_vary_within_a_recording():
    y = np.array([AM, JM, AF, JF] * 4)
    cages = np.repeat(["a", "b"], 8)
    recordings = np.repeat(["r1", "r2"], 8)
    res = permutation_test(y, y, cages, recordings, CLASSES, 200)
    assert res.scheme.startswith("animal level")


def test_exact_mcnemar_uses_only_the_discordant_animals():
    y = np.zeros(20, dtype=int)
    a = np.zeros(20, dtype=int)
    b = np.zeros(20, dtype=int)
    b[:6] = 1  # b wrong on 6 animals where a is right
    res = mcnemar_exact(y, a, b)
    assert (res["a_only"], res["b_only"]) == (6, 0)
    assert res["p_value"] == pytest.approx(2 * 0.5**6)
    assert mcnemar_exact(y, a, a)["p_value"] == 1.0
