"""The generator's study designs (``generate_cohort(design=..., plant=...)``): who is in which
cage and recording, what the ANIMAL tables say, and that a planted preference is really there
(and absent from the null twin)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from napari_mousestop.synthetic.generate import DESIGNS, generate_cohort, parse_plant

HOURS = 0.01  # 36 s: the layout, not the stops


def _cohort(tmp_path, design, cages=4, **kw):
    files = generate_cohort(tmp_path / design, cages=cages, hours=HOURS, design=design, **kw)
    return files, pd.read_csv(files.cohort_csv, dtype=str)


def test_every_design_has_its_layout(tmp_path):
    _, adults = _cohort(tmp_path, "adults")
    assert set(adults["age"]) == {"adult"} and set(adults["sex"]) == {"M", "F"}
    _, three = _cohort(tmp_path, "three")
    classes = set(np.where(three["age"] == "adult", "A", "J") + three["sex"])
    assert classes == {"AM", "JM", "AF"}
    _, geno = _cohort(tmp_path, "genotype")
    for _, cage in geno.groupby("cage"):
        assert sorted(cage["genotype"]) == ["KO", "KO", "WT", "WT"]  # within cage
        assert cage["sex"].nunique() == 1  # sex between cages: a nuisance
    assert set(geno["sex"]) == {"M", "F"}
    _, by_cage = _cohort(tmp_path, "genotype-cage")
    assert (by_cage.groupby("cage")["genotype"].nunique() == 1).all()
    assert set(by_cage["genotype"]) == {"KO", "WT"}
    _, mixed = _cohort(tmp_path, "mixed-sex")
    for _, rec in mixed.groupby("database"):
        assert sorted(rec["sex"]) == ["F", "F", "M", "M"]
    _, five = _cohort(tmp_path, "paper", cages=5)
    assert five["cage"].nunique() == 5 and five["database"].nunique() == 10


def test_unequal_cages_miss_an_animal_and_a_recording(tmp_path):
    files, cohort = _cohort(tmp_path, "unequal")
    per_recording = cohort.groupby("database").size()
    assert per_recording["cage01_juvenile.sqlite"] == 4
    assert per_recording["cage01_adult.sqlite"] == 3  # one animal missing
    assert per_recording["cage02_adult.sqlite"] == 3 and per_recording["cage03_adult.sqlite"] == 5
    assert "cage04_adult.sqlite" not in per_recording  # one recording never made
    assert len(files.databases) == 7


def test_genotype_and_strain_are_in_the_animal_table(tmp_path):
    files, cohort = _cohort(tmp_path, "genotype", cages=2)
    db = files.databases[0]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT RFID, GENOTYPE, STRAIN, SEX FROM ANIMAL ORDER BY ID").fetchall()
    listed = cohort[cohort["database"] == db.name]
    assert [r[1] for r in rows] == list(listed["genotype"])
    assert {r[2] for r in rows} == {"C57BL/6J"}


def test_a_planted_genotype_preference_and_its_null_twin(tmp_path):
    """KO mice planted at the water rest there far more often than in the null twin (same
    seed, no plant), whose WT mice are the very same."""
    shares = {}
    for name, plant in (("planted", ["genotype:KO=water"]), ("null", [])):
        files = generate_cohort(
            tmp_path / name, cages=2, hours=0.5, design="genotype", plant=plant, seed=3
        )
        truth = pd.read_csv(files.truth_csv, dtype={"animal": str})
        cohort = pd.read_csv(files.cohort_csv, dtype=str)
        t = truth.merge(cohort, on=["database", "animal"])
        shares[name] = t.groupby("genotype")["place"].apply(lambda p: (p == "water").mean())
    assert shares["planted"]["KO"] > 2 * shares["null"]["KO"]
    assert shares["planted"]["KO"] > 2 * shares["planted"]["WT"]
    assert shares["planted"]["WT"] == shares["null"]["WT"]


def test_bad_design_and_plant_are_refused(tmp_path):
    assert parse_plant("Genotype: KO = water") == ("genotype", "KO", "water")
    with pytest.raises(ValueError, match="COLUMN:VALUE=PLACE"):
        parse_plant("genotype=KO")
    with pytest.raises(ValueError, match="place 'sofa'"):
        parse_plant("genotype:KO=sofa")
    with pytest.raises(ValueError, match="design 'zoo'"):
        generate_cohort(tmp_path, cages=1, hours=HOURS, design="zoo")
    assert "paper" in DESIGNS
