"""Cohort CSV and the tolerant mapping of free-text sex and age to the classes AM, JM, AF, JF."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from napari_mousestop.errors import CohortError
from napari_mousestop.io.cohort import (
    CLASSES,
    age_in_days,
    class_label,
    class_order,
    label_animals,
    parse_age,
    parse_classes,
    parse_sex,
    read_cohort,
    recording_labels,
)


@pytest.mark.parametrize(
    ("text", "sex"),
    [("female", "F"), ("F", "F"), ("f", "F"), ("Female", "F"), (" FEMALE ", "F"),
     ("male", "M"), ("M", "M"), ("m", "M"), ("Male", "M"),
     ("x", None), ("", None), (None, None), (float("nan"), None)],
)  # fmt: skip
def test_sex_text(text, sex):
    assert parse_sex(text) == sex


@pytest.mark.parametrize(
    ("text", "days", "age"),
    [("6mo", 182.625, "A"), ("40d", 40, "J"), ("P40", 40, "J"), ("p 40", 40, "J"),
     ("26w", 182, "A"), ("6 months", 182.625, "A"), ("8 wk", 56, "A"), ("55 days", 55, "J"),
     ("1y", 365.25, "A"), ("5,5w", 38.5, "J"),
     ("adult", None, "A"), ("A", None, "A"), ("juvenile", None, "J"), ("juv", None, "J"),
     ("J", None, "J"), ("Juv", None, "J"),
     ("6", None, None), ("old", None, None), ("40 parsecs", None, None)],
)  # fmt: skip
def test_age_text(text, days, age):
    assert age_in_days(text) == (pytest.approx(days) if days is not None else None)
    assert parse_age(text) == age


def test_age_threshold_is_a_parameter():
    assert parse_age("10w") == "A"
    assert parse_age("10w", threshold_days=90) == "J"


def test_class_label_in_the_project_order():
    assert [class_label(s, a) for s, a in [("m", "6mo"), ("M", "P40"), ("F", "A"), ("f", "J")]] == [
        *CLASSES
    ]
    with pytest.raises(ValueError, match=r"sex 'x' is not understood; age is missing"):
        class_label("x", None)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cohort.csv"
    p.write_text(text)
    return p


def test_read_cohort_resolves_paths_and_keeps_order(tmp_path):
    (tmp_path / "data").mkdir()
    csv = write(
        tmp_path,
        "database,animal,cage,sex,age\n"
        "data/a.sqlite, RFID_2,c1,female,P40\n"
        "data/a.sqlite,RFID_1,c1,F,40d\n"
        "/abs/b.sqlite,Bob,c2,,\n",
    )
    df = read_cohort(csv)
    assert list(df["animal"]) == ["RFID_2", "RFID_1", "Bob"]
    assert df["database"][0] == str((tmp_path / "data" / "a.sqlite").resolve())
    assert df["database"][2] == "/abs/b.sqlite"
    assert list(df["database_name"]) == ["data/a.sqlite", "data/a.sqlite", "/abs/b.sqlite"]
    assert list(df["sex"]) == ["female", "F", ""]
    assert list(df["row"]) == [2, 3, 4]


def test_sex_and_age_columns_are_optional(tmp_path):
    df = read_cohort(write(tmp_path, "Database,Animal,Cage\na.sqlite,R1,c1\n"))
    assert list(df["sex"]) == [""] and list(df["age"]) == [""]


def test_cohort_errors_name_file_and_rows(tmp_path):
    with pytest.raises(CohortError, match=r"lacks columns \['cage'\]"):
        read_cohort(write(tmp_path, "database,animal\na.sqlite,R1\n"))
    csv = write(tmp_path, "database,animal,cage\na.sqlite,R1,c1\n,R2,c1\na.sqlite,R1,c2\n")
    with pytest.raises(CohortError) as err:
        read_cohort(csv)
    msg = str(err.value)
    assert str(csv) in msg and "line 3: empty database" in msg
    assert "line 2: R1 listed twice" in msg and "line 4: R1 listed twice" in msg
    with pytest.raises(CohortError, match="no such cohort file"):
        read_cohort(tmp_path / "nope.csv")


def test_unknown_labels_list_every_offending_row(tmp_path):
    csv = write(
        tmp_path,
        "database,animal,cage,sex,age\n"
        "a.sqlite,R1,c1,F,P40\n"
        "a.sqlite,R2,c1,?,P40\n"
        "a.sqlite,R3,c1,M,\n"
        "a.sqlite,R4,c1,M,6mo\n",
    )
    with pytest.raises(CohortError) as err:
        label_animals(read_cohort(csv), where=str(csv))
    msg = str(err.value)
    assert "line 3 (a.sqlite, animal R2): sex '?' is not understood" in msg
    assert "line 4 (a.sqlite, animal R3): age is missing" in msg
    assert "R1" not in msg and "R4" not in msg


def test_label_animals_paper(tmp_path):
    csv = write(
        tmp_path, "database,animal,cage,sex,age\na,R1,c1,male,6mo\na,R2,c1,Female,juvenile\n"
    )
    out = label_animals(read_cohort(csv))
    assert list(out["label"]) == ["AM", "JF"]
    assert list(out["sex"]) == ["M", "F"] and list(out["age"]) == ["A", "J"]
    assert out.attrs["classes"] == ("sex", "age")


def test_labels_from_animal_table():
    """Empty cohort cells take the ANIMAL record's SEX and AGE (found by RFID, else NAME)."""
    rows = pd.DataFrame(
        {"database": "d", "animal": ["R1", "R2", "c"], "cage": "c1", "sex": "", "age": "",
         "row": [2, 3, 4], "source_software": ""}
    )  # fmt: skip
    records = [
        {"animal_id": 1, "rfid": "R1", "name": "a", "sex": "female", "age": "P40"},
        {"animal_id": 2, "rfid": "R2", "name": "b", "sex": "M", "age": "26w"},
        {"animal_id": 3, "rfid": None, "name": "c", "sex": "F", "age": "adult"},
    ]
    out = label_animals(rows, {"d": records})
    assert list(out["label"]) == ["JF", "AM", "AF"]
    records[1]["sex"] = None
    with pytest.raises(CohortError, match=r"line 3 \(d, animal R2\): sex is missing"):
        label_animals(rows, {"d": records})


def test_classes_from_a_column_keep_the_other_columns(tmp_path):
    csv = write(
        tmp_path,
        "database,animal,cage,sex,age,genotype,diet\n"
        "a,R1,c1,M,6mo,WT,chow\n"
        "a,R2,c1,male,6mo,KO,fat\n"
        "b,R3,c2,F,6mo,KO,chow\n",
    )
    out = label_animals(read_cohort(csv), columns="genotype")
    assert list(out["label"]) == ["WT", "KO", "KO"]
    assert out.attrs["covariates"] == ["sex", "age", "diet"]
    assert list(out["sex"]) == ["M", "M", "F"] and list(out["diet"]) == ["chow", "fat", "chow"]
    assert class_order(("genotype",), {("WT",), ("KO",)}) == ("KO", "WT")
    two = label_animals(read_cohort(csv), columns="genotype, sex")
    assert list(two["label"]) == ["WT-M", "KO-M", "KO-F"]
    assert class_order(("genotype", "sex"), {("WT", "M"), ("KO", "M"), ("KO", "F")}) == (
        "KO-M", "KO-F", "WT-M",
    )  # fmt: skip


def test_paper_classes_keep_their_order_and_subsets():
    assert class_order(("sex", "age"), {("F", "J"), ("M", "A"), ("F", "A"), ("M", "J")}) == CLASSES
    assert class_order(("age", "sex"), {("A", "F"), ("A", "M")}) == ("AM", "AF")
    assert parse_classes(None) == parse_classes("") == ("sex", "age")


def test_unknown_class_column_and_rows_without_a_value(tmp_path):
    csv = write(
        tmp_path,
        "database,animal,cage,sex,age,genotype\na,R1,c1,M,6mo,WT\na,R2,c1,M,6mo,\n"
        "a,R3,c1,M,6mo,KO\n",
    )
    with pytest.raises(CohortError, match=r"no column 'diet'.*genotype"):
        label_animals(read_cohort(csv), columns="diet", where=str(csv))
    with pytest.raises(CohortError) as err:
        label_animals(read_cohort(csv), columns="genotype", where=str(csv))
    assert "line 3 (a, animal R2): genotype is missing" in str(err.value)
    assert "R1" not in str(err.value) and "R3" not in str(err.value)
    with pytest.raises(CohortError, match="named twice"):
        parse_classes("genotype,genotype")
    with pytest.raises(CohortError, match="cage"):
        parse_classes("cage")


def test_recording_labels_one_labelling_for_the_widgets():
    """The widgets' labelling: the ANIMAL records alone, or cohort rows over them, with the
    chosen columns and age threshold."""
    animals = [
        {"animal_id": 1, "rfid": "R1", "name": "a", "sex": "F", "age": "50d", "genotype": "KO"},
        {"animal_id": 2, "rfid": None, "name": "b", "sex": "M", "age": "6mo", "genotype": "WT"},
        {"animal_id": 3, "rfid": None, "name": None, "sex": "M", "age": "?", "genotype": None},
    ]
    cage, labels, factors = recording_labels("/x/cage07.sqlite", animals)
    assert cage == "cage07" and labels == {"R1": "JF", "b": "AM", "3": None}
    assert factors["R1"] == {"sex": "F", "age": "J"}
    _, labels, _ = recording_labels("/x/cage07.sqlite", animals, threshold_days=40)
    assert labels["R1"] == "AF"  # 50 days: adult from a 40-day threshold on
    _, labels, _ = recording_labels("/x/c.sqlite", animals, columns="genotype")
    assert labels == {"R1": "KO", "b": "WT", "3": None}
    rows = pd.DataFrame(
        {"database": "?", "animal": ["b"], "cage": ["cage09"], "genotype": ["HET"],
         "source_software": ""}
    )  # fmt: skip
    cage, labels, _ = recording_labels("/x/c.sqlite", animals, rows, columns="genotype")
    assert cage == "cage09" and labels == {"R1": None, "b": "HET", "3": None}
