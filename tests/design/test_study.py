"""The study design: levels of the factors, relabellings that follow the design, exact counts."""

import math

import numpy as np
import pytest

from napari_mousestop.design import StudyDesign
from napari_mousestop.learning.stats_simulation import DESIGNS, design_cohort

LEVELS = {
    "paper": {"sex": "cage", "age": "recording"},
    "sex only (adults)": {"sex": "cage", "age": "constant"},
    "three classes": {"sex": "cage", "age": "recording"},
    "genotype within cage": {"genotype": "animal"},
    "genotype by cage": {"genotype": "cage"},
    "mixed-sex cages": {"sex": "animal", "age": "recording"},
    "unequal cages": {"sex": "cage", "age": "recording"},
    "4 cages": {"sex": "cage", "age": "recording"},
    "5 cages": {"sex": "cage", "age": "recording"},
}


@pytest.mark.parametrize("name", DESIGNS)
def test_each_factor_is_found_at_the_level_it_varies(name):
    design = design_cohort(name).study()
    assert {f.name: f.level for f in design.factors} == LEVELS[name]
    assert design.unit == "cage"


def _tests(design):
    return ["accuracy", *(f.name for f in design.varying)]


@pytest.mark.parametrize("name", DESIGNS)
def test_no_relabelling_holds_a_class_the_data_lack(name):
    cohort = design_cohort(name)
    design = cohort.study()
    present = set(cohort.labels.tolist())
    for test in _tests(design):
        scheme = design.scheme_for(test)
        if not scheme.valid:
            continue
        drawn = scheme.labellings(200, np.random.default_rng(0))
        if test == "accuracy":
            assert set(np.unique(drawn).tolist()) <= present
        # every relabelled sample's combination of factor values is one the data hold
        for row in drawn[:50]:
            if test == "accuracy":
                combos = set(zip(row.tolist(), cohort.cages.tolist(), strict=True))
                assert all(label in present for label, _ in combos)
            else:
                f = design.factor(test)
                others = [k for k in cohort.factors if k != test]
                seen = {tuple(cohort.factors[k][i] for k in cohort.factors)
                        for i in range(len(row))}  # fmt: skip
                made = {
                    tuple(
                        f.values[row[i]] if k == test else cohort.factors[k][i]
                        for k in cohort.factors
                    )  # fmt: skip
                    for i in range(len(row))
                }
                assert made <= seen, (test, others)


def test_three_classes_never_invent_juvenile_females_and_have_no_sex_test():
    cohort = design_cohort("three classes")
    design = cohort.study()
    accuracy = design.scheme_for("accuracy")
    assert "JF" not in cohort.classes
    assert accuracy.exact and accuracy.n_labellings == 2**6  # ages of the 6 male cages
    drawn = accuracy.labellings(0)
    female = np.isin(cohort.cages, np.unique(cohort.cages[cohort.factors["sex"] == "F"]))
    # female cages keep AF in every labelling: only the male cages' ages move
    assert np.all(drawn[:, female] == cohort.classes.index("AF"))
    sex = design.scheme_for("sex")
    assert not sex.valid and "classes the data lack" in sex.reason


def test_an_animal_keeps_its_sex_across_its_recordings_in_mixed_sex_cages():
    cohort = design_cohort("mixed-sex cages")
    design = cohort.study()
    for test in ("sex", "accuracy"):
        scheme = design.scheme_for(test)
        assert "animal within cage" in scheme.unit
        for row in scheme.labellings(100, np.random.default_rng(1)):
            sex = (
                np.array(design.factor("sex").values)[row]
                if test == "sex"
                else np.array([cohort.classes[k][1] for k in row])
            )
            for animal in np.unique(cohort.animals):
                assert len(set(sex[cohort.animals == animal].tolist())) == 1
            for cage in np.unique(cohort.cages):  # 2 M + 2 F in every cage, always
                per_animal = {a: s for a, s in zip(cohort.animals, sex, strict=True)
                              if a.startswith(cage)}  # fmt: skip
                assert sorted(per_animal.values()) == ["F", "F", "M", "M"]
    # 6 ways to choose the 2 females among the 4 animals of each of the 12 cages
    assert design.scheme_for("sex").n_labellings == 6**12


@pytest.mark.parametrize("n_cages", [4, 5])
def test_small_cohorts_list_every_labelling_and_state_the_smallest_p(n_cages):
    design = design_cohort(f"{n_cages} cages").study()
    n_m = (n_cages + 1) // 2
    age, sex, acc = (design.scheme_for(t) for t in ("age", "sex", "accuracy"))
    assert age.exact and age.n_labellings == 2**n_cages and age.min_p == 1 / 2**n_cages
    assert sex.exact and sex.n_labellings == math.comb(n_cages, n_m)
    assert acc.exact and acc.n_labellings == math.comb(n_cages, n_m) * 2**n_cages
    listed = age.labellings(10)
    assert len({tuple(r) for r in listed.tolist()}) == age.n_labellings
    assert any(np.array_equal(r, age.observed) for r in listed)
    # no p below the minimum, even for a statistic no labelling reaches
    assert age.p_value(np.zeros(len(listed)), 1.0) == pytest.approx(1 / 2**n_cages)


def test_genotype_designs_permute_animals_within_cages_or_cages():
    within = design_cohort("genotype within cage").study().scheme_for("accuracy")
    assert within.unit == "animal within cage" and within.n_labellings == 6**12
    by_cage = design_cohort("genotype by cage").study().scheme_for("genotype")
    assert by_cage.unit == "cage" and by_cage.exact and by_cage.n_labellings == 924


def test_missing_recording_or_animal_keeps_the_design_scheme():
    cohort = design_cohort("unequal cages")
    design = cohort.study()
    age = design.scheme_for("age")
    assert age.unit == "recording within cage"
    # the cage without an adult recording cannot swap ages: 11 cages of two recordings
    assert age.exact and age.n_labellings == 2**11
    sex = design.scheme_for("sex")
    assert sex.unit == "cage" and sex.valid and "same structure" in sex.description


def test_no_test_where_no_relabelling_exists():
    adults = design_cohort("sex only (adults)").study()
    age = adults.scheme_for("age")
    assert not age.valid and age.reason == "age: does not vary (A only)"
    with pytest.raises(ValueError, match="no test"):
        age.labellings(10)
    # a factor that changes within an animal and within recordings: no unit carries it
    cages = np.repeat(["c0", "c1"], 4)
    recs = np.repeat(["r0", "r1", "r2", "r3"], 2)
    animals = np.tile(["a", "b"], 4)
    drug = np.array(["x", "y", "y", "x", "x", "y", "y", "x"])
    design = StudyDesign(np.array(drug == "y", int), cages, recs, animals, {"drug": drug},
                         ("x", "y"))  # fmt: skip
    assert design.factor("drug").level == "none"
    scheme = design.scheme_for("accuracy")
    assert not scheme.valid and "changes within animals" in scheme.reason
    one_cage = StudyDesign(np.zeros(2, int), ["c"] * 2, ["r"] * 2, ["a", "b"], {}, ("A",))
    assert not one_cage.scheme_for("paired").valid


def test_sign_flips_are_exact_up_to_the_limit():
    design = design_cohort("paper").study()
    paired = design.scheme_for("paired")
    assert paired.exact and paired.n_labellings == 4096 and paired.min_p == 2 / 4096
    flips = paired.labellings(10)
    assert flips.shape == (4096, 12) and set(np.unique(flips).tolist()) == {-1, 1}
    drawn = design.scheme_for("paired", max_exact=100)
    assert not drawn.exact and drawn.labellings(7, 0).shape == (7, 12)


def test_the_design_table_counts_cages_and_animals_per_class():
    table = design_cohort("unequal cages").study().to_dict()
    assert table["experimental_unit"] == "cage" and table["n_cages"] == 12
    assert table["per_class"]["AF"]["cages"] == 5 and table["per_class"]["JF"]["cages"] == 6
    assert [f["level"] for f in table["factors"]] == ["cage", "recording"]


def test_a_few_random_labellings_of_a_small_design_are_not_an_exact_test():
    # 16 age labellings exist; 4 drawn ones give the Monte Carlo p, never 0/4
    age = design_cohort("4 cages").study().scheme_for("age")
    assert age.p_value(np.zeros(4), 1.0) == pytest.approx(1 / 5)
    assert age.p_value(np.zeros(16), 1.0) == pytest.approx(1 / 16)


def test_factors_that_do_not_make_the_classes_are_a_clear_error():
    from napari_mousestop.errors import DatasetError

    with pytest.raises(DatasetError, match="not combinations of the factors"):
        StudyDesign(np.array([0, 1]), ["c", "c"], ["r", "r"], ["a", "b"],
                    {"sex": np.array(["M", "M"])}, ("AM", "JM"))  # fmt: skip
