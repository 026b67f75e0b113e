"""Statistics of out-of-fold predictions: figures, cage-level intervals and tests."""

import itertools

import numpy as np
import pytest
from scipy import stats as st
from sklearn.metrics import balanced_accuracy_score

from napari_mousestop.design import StudyDesign
from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.learning.stats import (
    balanced_accuracy,
    cage_estimate,
    compare_on_cages,
    confusion_matrix,
    factor_figures,
    frequency_guess_accuracy,
    holm,
    null_reference,
    permutation_test,
    sign_flip_test,
    summarize,
    t_interval,
    wilson_interval,
)
from napari_mousestop.learning.stats_simulation import check_statistics, design, design_cohort
from napari_mousestop.learning.training import balanced_folds, loco_folds

AM, JM, AF, JF = range(4)


def test_confusion_matrix_rows_are_true_classes_in_am_jm_af_jf_order():
    cm = confusion_matrix([JM, JM, AF, JF], [AF, JM, AF, AM], 4)
    assert cm[JM, AF] == 1 and cm[JM, JM] == 1 and cm[AF, AF] == 1 and cm[JF, AM] == 1
    assert cm.sum() == 4 and cm.shape == (4, 4)
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 3, 200), rng.integers(0, 3, 200)  # class 3 never occurs
    counts = np.zeros((4, 4), int)
    np.add.at(counts, (y, p), 1)
    np.testing.assert_array_equal(confusion_matrix(y, p, 4), counts)


def test_balanced_accuracy_weights_each_class_equally_as_scikit_learn():
    y = np.array([AM] * 8 + [JF] * 2)
    pred = np.array([AM] * 8 + [AM] * 2)  # all AM: 80 % accurate, but JF never found
    assert balanced_accuracy(y, pred) == pytest.approx(0.5)
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    assert balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p))


@pytest.mark.parametrize(("k", "n"), [(0, 10), (48, 96), (90, 96), (7, 13)])
def test_wilson_interval_matches_the_closed_form(k, n):
    z = st.norm.ppf(0.975)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    w = wilson_interval(k, n)
    assert (w.low, w.high) == pytest.approx((max(0, centre - half), min(1, centre + half)))
    assert "animal level" in w.method and "independent" in w.assumes


def test_t_interval_is_mean_plus_minus_t_times_standard_error():
    v = np.array([0.5, 0.75, 0.25, 0.625, 0.5, 0.875])
    half = st.t.ppf(0.975, 5) * v.std(ddof=1) / np.sqrt(6)
    i = t_interval(v)
    assert (i.low, i.high) == pytest.approx((v.mean() - half, v.mean() + half))
    assert i.method == "t over 6 cages (df 5)"
    assert t_interval([1.0, 0.95, 1.0]).high == 1.0  # clipped to the range of accuracies
    assert np.isnan(t_interval([0.5]).low)


def test_cage_interval_uses_one_value_per_cage():
    y, cages, _ = design(n_cages=6, mice=4)
    right = np.zeros(len(y), bool)
    right[cages == "cage00"] = True  # one cage entirely right, the others entirely wrong
    est = cage_estimate(right, cages)
    assert est.value == pytest.approx(1 / 6) and est.cage_mean == pytest.approx(1 / 6)
    assert est.per_cage["cage00"] == 1 and est.per_cage["cage03"] == 0 and est.equal_sizes
    # 48 animal-recordings but 6 cages: far wider than the animal-level interval
    w = wilson_interval(int(right.sum()), len(right))
    assert est.interval.high - est.interval.low > 2 * (w.high - w.low)
    assert not cage_estimate(right[1:], cages[1:]).equal_sizes


def test_cage_interval_keeps_a_width_when_every_cage_scores_the_same():
    # the old t-interval printed "1.000-1.000" here: no spread seen is not certainty
    y, cages, _ = design(n_cages=12, mice=4)
    est = cage_estimate(np.ones(len(y), bool), cages)
    assert est.interval.high == 1.0 and 0.9 < est.interval.low < 0.97
    # without cage-to-cage spread it is the Wilson interval with t on 11 df
    z = st.t.ppf(0.975, 11)
    n = len(y)
    assert est.interval.low == pytest.approx(n / (n + z**2))
    same = np.tile([True, True, True, False], len(y) // 4)  # 0.75 in every cage
    i = cage_estimate(same, cages).interval
    assert 0.6 < i.low < 0.75 < i.high < 0.87 and "design effect 1.00" in i.method


def test_summary_holds_the_reported_figures():
    y, cages, _ = design(n_cages=8)
    s = summarize(y, y, cages, 4)
    assert s.accuracy.value == 1 and s.balanced_accuracy == 1 and s.n == len(y)
    assert np.trace(np.array(s.confusion_matrix)) == len(y)
    assert s.animal_interval.high == 1.0 and s.animal_interval.low > 0.9
    assert "t over 8 cages (df 7)" in s.to_dict()["accuracy"]["interval"]["method"]


def test_the_permutation_test_relabels_the_way_the_design_allows():
    y, cages, recs = design(n_cages=8)
    study = StudyDesign.from_arrays(y, cages, recs, classes=CLASSES)
    res = permutation_test(study, y, 500, seed=0)
    assert res.unit == "cage + recording within cage" and res.n_labellings == 70 * 2**8
    assert res.exact and res.n_permutations == res.n_labellings  # 17,920: all listed
    assert res.p_value == pytest.approx(1 / res.n_labellings) == res.min_p
    sex = np.array([c[1] for c in CLASSES])[y]
    codes, sex_y = np.unique(sex, return_inverse=True)
    sex_only = StudyDesign.from_arrays(sex_y, cages, recs, factors={"sex": sex},
                                       classes=tuple(codes))  # fmt: skip
    assert permutation_test(sex_only, sex_y, 100).unit == "cage"


def test_permutation_test_separates_real_from_chance_predictions():
    y, cages, recordings = design(n_cages=12)
    study = StudyDesign.from_arrays(y, cages, recordings, classes=CLASSES)
    perfect = permutation_test(study, y, 2000, seed=1)
    assert perfect.p_value < 0.01 and perfect.observed == 1 and not perfect.exact
    assert perfect.p_value == pytest.approx(1 / 2001)
    constant = permutation_test(study, np.zeros_like(y), 2000, seed=1)
    assert constant.p_value > 0.5  # always "AM" is right for a quarter whatever the labels
    assert constant.null_mean == pytest.approx(0.25)


def test_no_p_below_the_smallest_the_design_allows():
    # 5 cages: age can only be swapped within each cage, 2**5 labellings, so p >= 1/32
    cohort = design_cohort("5 cages")
    study = cohort.study()
    ages = np.array(design_factor_codes(study, "age"))
    f = factor_figures(study, cohort.labels, 5000, seed=0)
    assert f["age"].permutation.exact and f["age"].permutation.n_labellings == 32
    assert f["age"].permutation.p_value == pytest.approx(1 / 32) == f["age"].permutation.min_p
    assert f["sex"].permutation.n_labellings == 10 and f["sex"].permutation.p_value >= 0.1
    assert len(ages) == len(cohort.labels)


def design_factor_codes(study, name):
    f = study.factor(name)
    return [f.values.index(v) for v in study.factor_values[name]]


def test_a_test_the_design_does_not_allow_is_left_out_with_its_reason():
    cohort = design_cohort("three classes")
    f = factor_figures(cohort.study(), cohort.labels, 200, seed=0)
    assert not f["sex"].permutation.valid and np.isnan(f["sex"].permutation.p_value)
    assert "classes the data lack" in f["sex"].permutation.reason
    assert f["age"].permutation.valid and f["age"].permutation.n_labellings == 64
    # adults only: one factor varies, so no separate factor lines
    adults = design_cohort("sex only (adults)")
    assert factor_figures(adults.study(), adults.labels, 100) == {}


def test_chance_is_one_over_the_classes_present():
    adults = design_cohort("sex only (adults)")
    folds = [(np.flatnonzero(adults.cages != c), np.flatnonzero(adults.cages == c))
             for c in np.unique(adults.cages)]  # fmt: skip
    perm = permutation_test(adults.study(), adults.labels, 100)
    ref = null_reference(adults.labels, folds, 4, perm)
    assert ref.chance == 0.5
    # single-sex cages: a held-out cage leaves its sex rarer in training, below chance
    assert ref.frequency_guess < 0.5 and "below chance" in ref.note
    # genotype within every cage: the folds keep the mix, and the note does not blame them
    geno = design_cohort("genotype within cage")
    folds = [(np.flatnonzero(geno.cages != c), np.flatnonzero(geno.cages == c))
             for c in np.unique(geno.cages)]  # fmt: skip
    ref = null_reference(geno.labels, folds, 2, permutation_test(geno.study(), geno.labels, 20))
    assert ref.frequency_guess == pytest.approx(0.5)
    assert "below chance out of fold" not in ref.note and "sex" not in ref.note


def test_holm_adjusts_one_family_and_skips_tests_that_did_not_run():
    adjusted = holm([0.01, 0.04, float("nan"), 0.03])
    assert adjusted[0] == pytest.approx(0.03) and np.isnan(adjusted[2])
    assert adjusted[3] == pytest.approx(0.06) and adjusted[1] == pytest.approx(0.06)


def test_sign_flip_test_enumerates_every_flip_like_a_hand_count():
    d = np.array([0.25, -0.125, 0.375, 0.5, 0.0, 0.125, -0.25, 0.625, 0.25, 0.125])
    flips = np.array(list(itertools.product([1, -1], repeat=len(d))))
    expected = np.mean(np.abs((flips * d).mean(axis=1)) >= abs(d.mean()) - 1e-12)
    res = sign_flip_test(d)
    assert res.exact and res.n_resamples == res.n_labellings == 1024 and res.min_p == 2 / 1024
    assert res.p_value == pytest.approx(expected)
    # beyond max_exact, random flips estimate the same p
    d14 = np.random.default_rng(3).normal(0.2, 0.5, 14)
    flips = np.array(list(itertools.product([1, -1], repeat=14)))
    exact = np.mean(np.abs((flips * d14).mean(axis=1)) >= abs(d14.mean()) - 1e-12)
    mc = sign_flip_test(d14, seed=0, max_exact=10, n_resamples=20000)
    assert not mc.exact and mc.p_value == pytest.approx(exact, abs=0.01)


def test_comparison_is_made_cage_by_cage():
    y, cages, _ = design(n_cages=6)
    a = y.copy()
    b = y.copy()
    b[cages == "cage02"] = (y[cages == "cage02"] + 1) % 4  # b wrong on one whole cage
    comp = compare_on_cages(y, a, b, cages)
    assert comp.per_cage["cage02"] == 1 and comp.per_cage["cage00"] == 0
    assert comp.difference == pytest.approx(1 / 6)
    assert (comp.a_only, comp.b_only) == (8, 0)
    # 8 discordant animals in favour of a, but only one cage: nothing to claim
    assert comp.test.n_units == 6 and comp.test.p_value == pytest.approx(1.0)
    assert st.binomtest(8, 8).pvalue < 0.01  # what an animal-level McNemar would say


def test_sex_and_age_are_tested_apart():
    y, cages, recs = design(n_cages=8)
    study = StudyDesign.from_arrays(y, cages, recs, classes=CLASSES)
    rng = np.random.default_rng(0)
    age_right = y.copy()
    # sex guessed per cage at random, age always right
    flip_sex = {c: rng.random() < 0.5 for c in np.unique(cages)}
    for i, c in enumerate(cages):
        if flip_sex[c]:
            age_right[i] = {AM: AF, AF: AM, JM: JF, JF: JM}[y[i]]
    f = factor_figures(study, age_right, 2000, seed=0)
    assert set(f) == {"sex", "age"}
    assert f["age"].accuracy.value == 1 and f["age"].permutation.p_value < 0.01
    assert f["age"].permutation.unit == "recording within cage" and f["age"].level == "recording"
    assert f["sex"].permutation.unit == "cage" and f["sex"].permutation.p_value > 0.05
    assert f["sex"].class_accuracy_by_level.keys() == {"M", "F"}
    assert "recording order" in f["age"].caveat and not f["sex"].caveat
    # classes from one column (e.g. w, x, y, z): no separate factor figures
    assert factor_figures(StudyDesign.from_arrays(y, cages, recs), y) == {}


def test_frequency_guess_falls_below_chance_with_one_cage_out_only():
    y, cages, _ = design(n_cages=12)
    loco = [(tr, te) for _, tr, te in loco_folds(cages)]
    # holding out a male cage leaves 20 AM of 88 training animal-recordings
    assert frequency_guess_accuracy(y, loco, 4) == pytest.approx(20 / 88)
    balanced = [(tr, te) for _, tr, te in balanced_folds(cages, y)]
    assert frequency_guess_accuracy(y, balanced, 4) == pytest.approx(0.25)


@pytest.mark.slow
def test_simulated_sizes_and_coverages_with_strong_cage_effects():
    checks = {c.name: c for c in check_statistics(n_reps=150, cage_sds=(2.0,), seed=0)}

    def rate(word):
        return next(c.observed for name, c in checks.items() if word in name)

    assert rate("cage-level interval") >= 0.9  # nominal 0.95
    assert rate("animal-level Wilson") < 0.85  # under-covers with cage effects
    assert rate("CNN - baseline") >= 0.88
    assert rate("sign-flip") <= 0.10 and rate("McNemar") > 0.15
    assert rate("4-class permutation test (design)") <= 0.10
    assert rate("sex test") <= 0.10 and rate("4-class permutation test, predictions") > 0.3
    assert rate("sex-only") <= 0.10


def test_repeats_give_the_spread_of_accuracy_and_the_ensemble_of_probabilities():
    from napari_mousestop.learning.stats import repeat_figures

    y = np.array([0, 0, 1, 1])
    cages = np.array(["a", "a", "b", "b"])
    # seed 1 gets animals 0, 1, 2 right; seed 2 gets 0 and 3; their average gets 0, 2 and 3
    p1 = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.55, 0.45]])
    p2 = np.array([[0.8, 0.2], [0.3, 0.7], [0.7, 0.3], [0.1, 0.9]])
    rep = repeat_figures(y, [p1, p2], cages, ("A", "B"), [4, 5])
    assert rep.seeds == [4, 5]
    assert rep.accuracy.values == [0.75, 0.5]
    assert rep.accuracy.mean == 0.625
    assert rep.accuracy.sd == pytest.approx(np.std([0.75, 0.5], ddof=1))
    assert (rep.accuracy.min, rep.accuracy.max) == (0.5, 0.75)
    assert rep.per_class["A"].values == [1.0, 0.5] and rep.per_class["B"].values == [0.5, 0.5]
    assert rep.ensemble.accuracy.value == 0.75
    assert rep.ensemble.confusion_matrix == [[1, 1], [0, 2]]
    assert rep.to_dict()["accuracy"]["mean"] == 0.625


def test_the_test_table_names_the_primary_test_and_holm_adjusts_the_rest():
    from napari_mousestop.learning.report import table_of_tests

    cohort = design_cohort("three classes")
    study = cohort.study()
    pred = cohort.labels.copy()
    perm = permutation_test(study, pred, 100)
    factors = factor_figures(study, pred, 100)
    comp = compare_on_cages(cohort.labels, pred, np.zeros_like(pred), cohort.cages)
    rows = table_of_tests(perm, factors, {"pca": comp})
    assert [r["role"] for r in rows] == ["primary", "secondary", "secondary", "secondary"]
    assert rows[0]["p"] == pytest.approx(1 / 64) and rows[0]["n_labellings"] == 64
    sex = next(r for r in rows if r["test"].startswith("sex"))
    assert (
        np.isnan(sex["p"]) and np.isnan(sex["p_holm"]) and "classes the data lack" in sex["reason"]
    )
    ran = [r for r in rows[1:] if r["p"] == r["p"]]  # the two tests that ran: Holm over 2
    assert [r["p_holm"] for r in ran] == pytest.approx(holm([r["p"] for r in ran]))
    # the smaller p of the two is multiplied by 2 (Holm over the tests that ran)
    smallest = min(ran, key=lambda r: r["p"])
    assert smallest["p_holm"] == pytest.approx(min(1.0, 2 * smallest["p"]))
