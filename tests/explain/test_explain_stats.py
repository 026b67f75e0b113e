"""Class comparisons: differences of class panels, cage-level permutation tests, multiplicity."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from napari_mousestop.design import StudyDesign
from napari_mousestop.explain.maps import ExplanationMap, input_maps
from napari_mousestop.explain.run import out_of_fold
from napari_mousestop.explain.stats import (
    channel_separation,
    class_average,
    compare,
    compare_all,
    compare_classes,
    default_contrasts,
)
from napari_mousestop.io.geometry import grid_placement
from napari_mousestop.learning.model import ModelConfig, StopCNN
from napari_mousestop.synthetic.generate import PLANTED_PLACES, planted_histograms

CLASSES = ("AM", "JM", "AF", "JF")
AM, JM, AF, JF = range(4)


def _maps(values: np.ndarray, name: str = "m") -> ExplanationMap:
    axes = ("sample", "class", "y", "x") if values.ndim == 4 else ("sample", "y", "x")
    return ExplanationMap(
        name=name,
        data=values,
        placement=grid_placement(values.shape[-1]),
        classes=CLASSES,
        kind="contribution" if values.ndim == 4 else "input",
        axes=axes,
    )


def _design(n_cages_per_sex: int, per_cage: int, paired: bool):
    """Female cages hold AF (and JF when paired) animals; male cages hold AM (and JM)."""
    labels, cages = [], []
    for sex, (adult, juvenile) in (("F", (AF, JF)), ("M", (AM, JM))):
        for c in range(n_cages_per_sex):
            for label in (adult, juvenile) if paired else (adult,):
                labels += [label] * per_cage
                cages += [f"{sex}{c}"] * per_cage
    return np.array(labels), np.array(cages)


def _study(labels, cages, per_cage: int = 2) -> StudyDesign:
    """The paper's design of ``_design`` cohorts: a recording per cage and age, the k-th animal
    of a cage the same in both recordings."""
    ages = np.array([c[0] for c in CLASSES])[labels]
    recordings = np.char.add(cages.astype(str), ages)
    animals = np.empty(len(labels), dtype=object)
    for r in np.unique(recordings):
        idx = np.flatnonzero(recordings == r)
        animals[idx] = [f"{cages[i]}_{k}" for k, i in enumerate(idx)]
    return StudyDesign.from_arrays(labels, cages, recordings, animals.astype(str),
                                   classes=CLASSES)  # fmt: skip


SEX, AGE, INTERACTION = default_contrasts(_study(*_design(2, 1, paired=True)))[-3:]


def test_two_cages_per_class_can_never_be_significant():
    """Permuting cages, not animals: 2 vs 2 cages allow only 6 labellings.

    The test is two-sided and swapping every label only flips the sign, so p >= 2/6.
    """
    labels, cages = _design(2, per_cage=4, paired=False)
    values = np.random.default_rng(0).normal(size=(len(labels), 5, 5))
    values[labels == AF, 2, 2] += 100.0  # huge, consistent difference
    comp = compare_classes(_maps(values), labels, cages, "AF", "AM", design=_study(labels, cages))
    assert comp.meta["exact"] and comp.meta["n_labellings"] == 6
    assert comp.p_values.min() == pytest.approx(2 / 6) == comp.meta["min_p"]
    assert not comp.mask.any()
    assert comp.difference.data[2, 2] > 90


def test_paired_cages_find_the_planted_pixel_only():
    labels, cages = _design(6, per_cage=3, paired=True)
    rng = np.random.default_rng(1)
    cage_effect = {c: rng.normal(0, 3, size=(8, 8)) for c in np.unique(cages)}
    values = np.stack([cage_effect[c] for c in cages]) + rng.normal(size=(len(labels), 8, 8))
    values[labels == AF, 5, 1] += 4.0
    comp = compare_classes(_maps(values), labels, cages, "AF", "JF", design=_study(labels, cages))
    assert comp.meta["paired"] and comp.meta["exact"] and comp.meta["n_labellings"] == 64
    assert comp.mask[5, 1]
    assert comp.mask.sum() == 1
    assert comp.p_values[5, 1] == pytest.approx(2 / 64) == comp.meta["min_p"]
    # max-statistic: a larger |statistic| never gets a larger adjusted p-value
    order = np.argsort(np.abs(comp.statistic).ravel())
    assert (np.diff(comp.p_values.ravel()[order]) <= 1e-12).all()
    assert comp.difference.name == "m_AF - JF" and comp.difference.kind == "difference"


def test_family_wise_error_is_controlled_under_strong_cage_effects():
    """No class effect, animals of a cage alike: at most ~5% of null cohorts show any spot."""
    labels, cages = _design(6, per_cage=4, paired=False)
    study = _study(labels, cages)
    rng = np.random.default_rng(2)
    hits = 0
    n_null = 150
    for _ in range(n_null):
        cage_effect = {c: rng.normal(0, 2, size=(6, 6)) for c in np.unique(cages)}
        values = np.stack([cage_effect[c] for c in cages])
        values += rng.normal(0, 0.5, size=values.shape)
        comp = compare_classes(
            _maps(values), labels, cages, "AF", "AM", n_permutations=199, design=study
        )
        hits += bool(comp.mask.any())
    assert 0 < hits / n_null <= 0.1


def test_evidence_differences_are_class_panel_a_minus_class_panel_b():
    """The failure the difference must not repeat: every animal's evidence for AF minus its
    evidence for AM differs between AF and AM animals wherever *either* class is recognised, so
    the old difference was positive at AM's place. Panel AF minus panel AM is positive at AF's
    place and negative at AM's; the test (of that per-animal evidence contrast, the same
    quantity for every animal) marks both places."""
    labels, cages = _design(6, per_cage=2, paired=False)
    rng = np.random.default_rng(3)
    ev = rng.normal(0, 0.1, size=(len(labels), 4, 6, 6))
    ev[labels == AF, AF, 1, 1] += 3.0  # AF animals: evidence for AF at AF's place
    ev[labels == AF, AM, 1, 1] -= 3.0  # ... and against AM there
    ev[labels == AM, AM, 4, 4] += 2.0  # AM animals: evidence for AM at AM's place
    ev[labels == AM, AF, 4, 4] -= 4.0  # ... and strongly against AF there
    maps = _maps(ev)
    comp = compare_classes(maps, labels, cages, "AF", "AM", design=_study(labels, cages))
    panels = class_average(maps, labels)
    np.testing.assert_allclose(comp.difference.data, panels.data[AF] - panels.data[AM])
    assert comp.difference.data[1, 1] == pytest.approx(3.0, abs=0.2)
    assert comp.difference.data[4, 4] == pytest.approx(-2.0, abs=0.2)
    assert comp.mask[1, 1] and comp.mask[4, 4] and comp.mask.sum() == 2
    assert comp.meta["legend"] == {"red": "AF higher than AM", "blue": "AM higher than AF"}
    # the old quantity would have called AM's place an AF place
    per_animal = ev[:, AF] - ev[:, AM]
    old = per_animal[labels == AF].mean(0) - per_animal[labels == AM].mean(0)
    assert old[4, 4] > 5


def test_panels_that_differ_only_through_the_model_are_not_called_significant():
    """Every animal alike, but the model reads AF's output as +1 and AM's as -1 at one place
    (as fold models that share most of their training cages do): the AF and AM panels differ
    there by 2, and the test must not call it a class difference."""
    labels, cages = _design(6, per_cage=2, paired=False)
    rng = np.random.default_rng(9)
    ev = rng.normal(0, 0.3, size=(len(labels), 4, 6, 6))
    ev[:, :, 2, 2] += rng.normal(0, 0.3, size=(len(labels), 1))  # the place, visited by all
    ev[:, AF, 2, 2] += 1.0
    ev[:, AM, 2, 2] -= 1.0
    comp = compare_classes(_maps(ev), labels, cages, "AF", "AM", design=_study(labels, cages))
    assert comp.difference.data[2, 2] == pytest.approx(2.0, abs=0.3)
    assert not comp.mask.any()


def _factorial_cohort(rng, sex_effect=0.0, age_effect=0.0, n_cages=6, per_cage=2):
    """(sample, y, x) stop maps of 2 x n_cages single-sex cages, each juvenile and adult.

    Cage effects (shared by both ages) and animal noise; females stop more at pixel (1, 1)
    by ``sex_effect`` in both ages; adults stop more at (4, 4) by ``age_effect``.
    """
    labels, cages = _design(n_cages, per_cage, paired=True)
    cage_effect = {c: rng.normal(0, 1.0, size=(6, 6)) for c in np.unique(cages)}
    values = np.stack([cage_effect[c] for c in cages]) + rng.normal(0, 0.5, (len(labels), 6, 6))
    values[np.isin(labels, (AF, JF)), 1, 1] += sex_effect
    values[np.isin(labels, (AF, AM)), 4, 4] += age_effect
    return values, labels, cages


def test_factorial_contrasts_find_a_sex_difference_carried_by_both_ages():
    """The review's case: a real female-male difference. 'AF vs rest' (JF half of the rest,
    male units never relabelled) found it in 3.5% of cohorts; the sex contrast permutes sex
    across the 12 cages as the design assigned it."""
    rng = np.random.default_rng(4)
    found, age_false, n = 0, 0, 40
    for _ in range(n):
        values, labels, cages = _factorial_cohort(rng, sex_effect=3.0)
        maps = _maps(values)
        study = _study(labels, cages)
        sex = compare(maps, labels, cages, SEX, n_permutations=999, design=study)
        age = compare(maps, labels, cages, AGE, n_permutations=499, design=study)
        found += bool(sex.mask[1, 1])
        age_false += bool(age.mask.any())
    assert found / n >= 0.9
    assert age_false / n <= 0.15
    assert sex.meta["n_labellings"] == 924 and sex.meta["exact"]
    assert sex.meta["min_p"] == pytest.approx(2 / 924)
    # 4096 age labellings: few enough to list them all (the old test drew 499 of them)
    assert age.meta["n_labellings"] == 4096 and age.meta["paired"] and age.meta["exact"]
    assert age.meta["scheme"]["unit"] == "recording within cage"
    assert sex.meta["scheme"]["unit"] == "cage"
    assert sex.difference.data[1, 1] > 2  # red: females higher
    assert sex.meta["legend"]["red"] == "sex F (AF, JF) higher"


def test_factorial_contrasts_are_differences_of_class_panels():
    rng = np.random.default_rng(5)
    values, labels, cages = _factorial_cohort(rng, sex_effect=1.0, age_effect=2.0)
    maps = _maps(values)
    p = class_average(maps, labels).data
    expected = {
        "sex (F - M)": (p[AF] + p[JF] - p[AM] - p[JM]) / 2,
        "age (A - J)": (p[AF] + p[AM] - p[JF] - p[JM]) / 2,
        "sex x age": (p[AF] - p[JF]) - (p[AM] - p[JM]),
    }
    study = _study(labels, cages)
    for contrast in (SEX, AGE, INTERACTION):
        comp = compare(maps, labels, cages, contrast, n_permutations=99, design=study)
        np.testing.assert_allclose(comp.difference.data, expected[contrast.name])
    age = compare(maps, labels, cages, AGE, n_permutations=999, design=study)
    assert age.mask[4, 4] and age.difference.data[4, 4] > 1.5
    inter = compare(maps, labels, cages, INTERACTION, n_permutations=999, design=study)
    assert not inter.mask[4, 4]  # the age effect is the same in both sexes
    assert [c.name for c in default_contrasts(study)] == [
        "AF - AM", "JF - JM", "AF - JF", "AM - JM", "sex (F - M)", "age (A - J)", "sex x age",
    ]  # fmt: skip


def test_comparisons_follow_the_design_of_each_study():
    from napari_mousestop.learning.stats_simulation import design_cohort

    # adults only: "AF - AM" is the sex comparison; it is not tested a second time as "sex"
    adults = design_cohort("sex only (adults)").study()
    assert [c.name for c in default_contrasts(adults)] == ["AF - AM"]
    # three classes: no JF, so no factorial contrasts and no pair that needs JF
    three = design_cohort("three classes").study()
    assert [c.name for c in default_contrasts(three)] == ["AF - AM", "AM - JM"]
    # a genotype study: the values are the class names, KO - WT, with its own legend
    cohort = design_cohort("genotype within cage")
    (ko_wt,) = default_contrasts(cohort.study())
    assert ko_wt.name == "KO - WT" and ko_wt.legend["red"] == "KO higher than WT"
    values = np.random.default_rng(0).normal(size=(len(cohort.labels), 4, 4))
    m = ExplanationMap("m", values, grid_placement(4), cohort.classes, "input",
                       ("sample", "y", "x"))  # fmt: skip
    comp = compare(m, cohort.labels, cohort.cages, ko_wt, 99, design=cohort.study())
    assert comp.meta["scheme"]["unit"] == "animal within cage"
    assert comp.meta["n_labellings"] == 6**12 and not comp.meta["exact"]
    # mixed-sex cages: sex relabelled among each cage's animals; the interaction relabels
    # age (recording level) with the sex difference within each recording as the unit
    mixed = design_cohort("mixed-sex cages")
    study = mixed.study()
    sex, age, inter = default_contrasts(study)[-3:]
    assert inter.name == "sex x age"
    m = replace_data(m, np.random.default_rng(1).normal(size=(len(mixed.labels), 4, 4)))
    m = ExplanationMap("m", m.data, m.placement, mixed.classes, "input", m.axes)
    got = {c.name: compare(m, mixed.labels, mixed.cages, c, 49, design=study) for c in
           (sex, age, inter)}  # fmt: skip
    assert got["sex (F - M)"].meta["scheme"]["unit"] == "animal within cage"
    assert got["age (A - J)"].meta["scheme"]["unit"] == "recording within cage"
    assert got["sex x age"].meta["scheme"]["unit"] == "recording within cage"
    # two classes that differ in sex and age: no relabelling of one factor compares them
    with pytest.raises(ValueError, match="differ in sex and age"):
        compare_classes(m, mixed.labels, mixed.cages, "AF", "JM", design=study)


def replace_data(m: ExplanationMap, data: np.ndarray) -> ExplanationMap:
    from dataclasses import replace

    return replace(m, data=data)


def test_bad_comparisons_are_refused():
    labels, cages = _design(2, per_cage=2, paired=False)
    m = _maps(np.zeros((len(labels), 3, 3)))
    study = _study(labels, cages)
    with pytest.raises(ValueError, match="unknown class"):
        compare_classes(m, labels, cages, "AF", "XX", design=study)
    with pytest.raises(ValueError, match="two different classes"):
        compare_classes(m, labels, cages, "AF", "AF", design=study)
    with pytest.raises(ValueError, match="no animals"):
        compare_classes(m, labels, cages, "AF", "JF", design=study)
    with pytest.raises(ValueError, match="statistic"):
        compare_classes(m, labels, cages, "AF", "AM", statistic="z", design=study)
    with pytest.raises(ValueError, match="primary"):
        compare_all([m], labels, cages, primary="occlusion_space", design=study)
    with pytest.raises(TypeError, match="design"):  # no scheme guessed from labels and cages
        compare_classes(m, labels, cages, "AF", "AM")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="labels or cages"):
        compare_classes(m, labels, cages[::-1], "AF", "AM", design=study)


@pytest.mark.slow
def test_adjustment_holds_the_family_wise_error_over_maps_and_comparisons():
    """Null cohorts, three correlated maps, seven comparisons each. Each comparison alone keeps
    5% per map, but together they would flag some spot in far more cohorts; after the
    adjustment, at most ~5% of cohorts show any significant pixel in either family."""
    rng = np.random.default_rng(6)
    n_null, raw, primary, secondary = 60, 0, 0, 0
    for _ in range(n_null):
        values, labels, cages = _factorial_cohort(rng)
        maps = [
            _maps(values, "a"),
            _maps(values + rng.normal(0, 0.5, values.shape), "b"),
            _maps(np.abs(values), "c"),
        ]
        results, _ = compare_all(
            maps, labels, cages, primary="a", n_permutations=99, design=_study(labels, cages)
        )
        raw += any((c.p_values <= 0.05).any() for cs in results.values() for c in cs)
        primary += any(c.mask.any() for c in results["a"])
        secondary += any(c.mask.any() for n in "bc" for c in results[n])
        for n, cs in results.items():
            for c in cs:
                assert (c.p_adjusted >= c.p_values - 1e-12).all()
                assert c.meta["holm"]["family"] == ("primary" if n == "a" else "secondary")
    assert raw / n_null >= 0.15
    assert primary / n_null <= 0.1 and secondary / n_null <= 0.1


def test_one_map_and_one_comparison_is_left_as_it_is():
    values, labels, cages = _factorial_cohort(np.random.default_rng(7), sex_effect=3.0)
    maps = _maps(values)
    results, _ = compare_all(
        [maps], labels, cages, [SEX], n_permutations=199, design=_study(labels, cages)
    )
    (comp,) = results["m"]
    np.testing.assert_allclose(comp.p_adjusted, comp.p_values)
    assert comp.meta["holm"]["m"] == 1 and comp.mask[1, 1]


def test_channel_separation_ranks_the_channel_that_differs_between_classes():
    labels = np.repeat(np.arange(4), 5)
    rng = np.random.default_rng(8)
    data = rng.normal(0, 1, (20, 3, 4, 4))
    data[:, 1] += 5 * labels[:, None, None]  # channel 1 tells the classes apart
    data[:, 2] = 1.0  # channel 2 is constant
    m = ExplanationMap("act", data, grid_placement(4), CLASSES, "activation",
                       ("sample", "channel", "y", "x"))  # fmt: skip
    eta = channel_separation(m, labels)
    assert eta[1] > 0.95 and eta[0] < 0.3 and eta[2] == 0.0


# --- several planted places per class, tiny fold models ---------------------------------------
T, N = 2, 24
CFG = ModelConfig(n_intervals=T, n_bins=N, n_classes=4, channels=4, kernel_sizes=(3, 9), pool=2)


class _Log1p:
    def transform(self, X):
        return np.log1p(X).astype(np.float32)


def _train(X, y, seed):
    torch.manual_seed(seed)
    model = StopCNN(CFG)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    x = torch.from_numpy(_Log1p().transform(X))
    target = torch.from_numpy(y)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), target).backward()
        opt.step()
    return model.eval()


@pytest.fixture
def one_thread():
    """Many tiny training steps run faster on one thread (and share the machine better)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _distance(y: float, x: float, classes) -> float:
    return min(float(np.hypot(y - py, x - px)) for c in classes for px, py in PLANTED_PLACES[c])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_several_planted_places_per_class_are_found_where_they_are(one_thread, seed):
    """Every class has two places of its own (synthetic.PLANTED_PLACES). Out of fold, for the
    grid contribution and the occlusion maps and for the stops themselves: each class panel
    peaks within 5 cm of one of its places, and in every difference the most positive
    significant pixel lies within 5 cm of a place of the first classes, the most negative
    within 5 cm of one of the second's."""
    ds = planted_histograms(cages=12, per_cage=2, hours=T, n_bins=N, seed=seed)
    X, labels, cages = ds.X, ds.labels, ds.cages
    folds = []
    for i, cage in enumerate(np.unique(cages)):
        test = cages == cage
        model = _train(X[~test], labels[~test], seed=100 * seed + i)
        folds.append(SimpleNamespace(cage=cage, test_index=test, model=model, scaler=_Log1p()))
    per_sample = out_of_fold(
        folds, X, classes=CLASSES, which=("contribution", "occlusion_space"), stride=2
    )
    maps = [m for m in per_sample if m.name in ("contribution", "occlusion_space")]
    maps.append(input_maps(X, classes=CLASSES))
    results, skipped = compare_all(
        maps, labels, cages, primary="occlusion_space", design=StudyDesign.from_dataset(ds)
    )
    assert not skipped
    n_significant = 0
    for m in maps:
        panels = class_average(m, labels)
        ys, xs = m.placement.centres(m.data.shape[-2:])
        for k, cls in enumerate(CLASSES):
            iy, ix = np.unravel_index(np.nanargmax(panels.data[k]), panels.data.shape[1:])
            assert _distance(ys[iy], xs[ix], [cls]) < 5.0, (m.name, cls)
        for comp in results[m.name]:
            for sign, side in ((1, comp.contrast.positive), (-1, comp.contrast.negative)):
                for mask in (comp.p_values <= 0.05, None):  # alone, and adjusted
                    at = comp.extreme(sign, mask)
                    if at is not None:
                        n_significant += 1
                        assert _distance(*at, side) < 5.0, (m.name, comp.name, sign)
    # 3 maps x 7 comparisons x 2 signs x 2 masks; the 6-cage paired pairs cannot pass Holm
    assert n_significant >= 50
    occ = {c.name: c for c in results["occlusion_space"]}
    for name in ("AF - AM", "JF - JM", "sex (F - M)", "sex x age"):
        assert occ[name].mask.any(), name  # the primary map finds them after adjustment


def test_the_statistic_of_many_labellings_at_once_is_the_plain_t_of_each():
    from napari_mousestop.explain.stats import _statistic

    rng = np.random.default_rng(11)
    units = rng.normal(5.0, 2.0, (8, 3, 3))
    groups = np.array([[0, 1] * 4, [0, 0, 1, 1] * 2, [0, 1, 1, 0, 0, 1, 1, 0]])
    for row, got in zip(groups, _statistic(units, groups, None, "t"), strict=True):
        a, b = units[row == 0], units[row == 1]
        var = a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b)
        expect = (a.mean(0) - b.mean(0)) / np.sqrt(var + var.mean())
        np.testing.assert_allclose(got, expect, rtol=1e-9)
    pairs = np.arange(8).reshape(4, 2)
    for row, got in zip(groups, _statistic(units, groups, pairs, "diff"), strict=True):
        first = np.where(row[pairs[:, 0]] == 0, pairs[:, 0], pairs[:, 1])
        second = pairs.sum(1) - first
        np.testing.assert_allclose(got, (units[first] - units[second]).mean(0), rtol=1e-9)
