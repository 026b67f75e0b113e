"""Cohort CSV and the tolerant mapping of free-text sex and age to the classes AM, JM, AF, JF."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from napari_mousestop.errors import CohortError
from napari_mousestop.io.cohort import (
    CLASSES,
    age_in_days,
    assign_labels,
    class_label,
    labels_from_animals,
    parse_age,
    parse_sex,
    read_cohort,
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
        assign_labels(read_cohort(csv), where=str(csv))
    msg = str(err.value)
    assert "line 3 (a.sqlite, animal R2): sex '?' is not understood" in msg
    assert "line 4 (a.sqlite, animal R3): age is missing" in msg
    assert "R1" not in msg and "R4" not in msg


def test_assign_labels(tmp_path):
    csv = write(
        tmp_path, "database,animal,cage,sex,age\na,R1,c1,male,6mo\na,R2,c1,Female,juvenile\n"
    )
    out = assign_labels(read_cohort(csv))
    assert list(out["label"]) == ["AM", "JF"]
    assert list(out["label_index"]) == [0, 3]


def test_labels_from_animal_table():
    animals = pd.DataFrame(
        {
            "animal_id": [1, 2, 3],
            "rfid": ["R1", "R2", None],
            "name": ["a", "b", "c"],
            "sex": ["female", "M", "F"],
            "age": ["P40", "26w", "adult"],
        }
    )
    out = labels_from_animals(animals)
    assert list(out["label"]) == ["JF", "AM", "AF"]
    assert list(out["animal"]) == ["R1", "R2", "c"]
    animals.loc[1, "sex"] = None
    with pytest.raises(CohortError, match=r"animal_id 2 \(ANIMAL, animal R2\): sex is missing"):
        labels_from_animals(animals)
