"""Synthetic LMT recordings: the tracker's schema, realistic defects, learnable class places."""

from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import pandas as pd
import pytest

import napari_mousestop.synthetic.database as database
from napari_mousestop.synthetic.generate import generate_cohort, generate_recording
from napari_mousestop.synthetic.motion import CLASS_PREFERENCES, PLACE_NAMES, PLACES, plan_mouse


def _q(path, sql):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_schema_matches_the_tracker(small_recording):
    p = small_recording.path
    cols = {t: [r[1] for r in _q(p, f"PRAGMA table_info({t})")]
            for t in ("ANIMAL", "DETECTION", "FRAME", "EVENT", "RFIDEVENT")}  # fmt: skip
    assert cols["ANIMAL"][:4] == ["ID", "RFID", "GENOTYPE", "NAME"]
    assert {"SEX", "AGE"} <= set(cols["ANIMAL"])
    assert cols["DETECTION"] == [
        "ID", "FRAMENUMBER", "ANIMALID", "MASS_X", "MASS_Y", "MASS_Z", "FRONT_X", "FRONT_Y",
        "FRONT_Z", "BACK_X", "BACK_Y", "BACK_Z", "REARING", "LOOK_UP", "LOOK_DOWN", "DATA",
    ]  # fmt: skip
    assert cols["FRAME"] == [
        "FRAMENUMBER", "TIMESTAMP", "NUMPARTICLE", "PAUSED", "TEMPERATURE", "HUMIDITY", "SOUND",
        "LIGHTVISIBLE", "LIGHTVISIBLEANDIR",
    ]  # fmt: skip
    assert cols["EVENT"][:5] == ["ID", "NAME", "DESCRIPTION", "STARTFRAME", "ENDFRAME"]
    fast = [r[2] for r in _q(p, "PRAGMA index_info(detectionFastLoadXYIndex)")]
    assert fast == ["ANIMALID", "FRAMENUMBER", "MASS_X", "MASS_Y"]
    names = {r[0] for r in _q(p, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"detframenumberIndex", "detectionIndex", "eventIndex", "animalIndex"} <= names
    assert _q(p, "PRAGMA journal_mode")[0][0] == "delete"  # no WAL


def test_frames_have_epoch_ms_and_dropped_frames(small_recording):
    ts = np.array(_q(small_recording.path, "SELECT TIMESTAMP FROM FRAME ORDER BY FRAMENUMBER"))
    frames = np.array(_q(small_recording.path, "SELECT FRAMENUMBER FROM FRAME ORDER BY 1"))
    np.testing.assert_array_equal(frames.ravel(), np.arange(1, len(frames) + 1))
    assert ts[0, 0] == pd.Timestamp("2024-01-15 18:00", tz="UTC").value // 10**6
    steps = np.diff(ts.ravel())
    assert set(np.unique(steps[:100])) <= {33, 34}
    assert (steps >= 66).sum() >= 5  # dropped frames: the clock jumps


def test_defects_are_present(small_recording):
    p = small_recording.path
    total, anon, glitch = _q(p, "SELECT count(*), sum(ANIMALID IS NULL), sum(MASS_X < 10) "
                                "FROM DETECTION")[0]  # fmt: skip
    assert 0.02 < anon / total < 0.5 and glitch > 0
    # anonymous detections are frequent in the nest (dome, upper left), rare elsewhere
    (near,), = _q(p, "SELECT avg(ANIMALID IS NULL) FROM DETECTION WHERE MASS_X > 10 AND "
                     "MASS_X < 114 + 20 * 5.7 AND MASS_Y < 63 + 20 * 5.7")  # fmt: skip
    ((far,),) = _q(p, "SELECT avg(ANIMALID IS NULL) FROM DETECTION WHERE MASS_X > 114 + 25 * 5.7")
    assert near > 5 * far
    ((longest,),) = _q(p, "SELECT max(length(DATA)) FROM DETECTION")
    assert 0 < longest < 100


def test_same_seed_same_content(tmp_path):
    a = generate_recording(tmp_path / "a.sqlite", hours=0.02, seed=4)
    b = generate_recording(tmp_path / "b.sqlite", hours=0.02, seed=4)
    generate_recording(tmp_path / "c.sqlite", hours=0.02, seed=5)
    pd.testing.assert_frame_equal(a.drop(columns="database"), b.drop(columns="database"))
    digest = [hashlib.sha256(str(_q(tmp_path / f"{n}.sqlite", "SELECT * FROM DETECTION"))
                             .encode()).hexdigest() for n in "abc"]  # fmt: skip
    assert digest[0] == digest[1] != digest[2]


def _table_digest(path, table):
    rows = _q(path, f"SELECT * FROM {table} ORDER BY rowid")
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_batched_inserts_write_the_rows_of_one_row_inserts(tmp_path, monkeypatch):
    """Many rows per INSERT statement (the fast path) changes no row, ID or counter."""
    generate_recording(tmp_path / "batched.sqlite", hours=0.02, seed=8)
    per_statement = database.ROWS_PER_STATEMENT
    monkeypatch.setattr(database, "ROWS_PER_STATEMENT", 1)
    generate_recording(tmp_path / "single.sqlite", hours=0.02, seed=8)
    for table in ("ANIMAL", "DETECTION", "FRAME", "EVENT"):
        digests = {_table_digest(tmp_path / f"{n}.sqlite", table) for n in ("batched", "single")}
        assert len(digests) == 1, table
    p = tmp_path / "batched.sqlite"
    ((n, first, last),) = _q(p, "SELECT count(*), min(ID), max(ID) FROM DETECTION")
    assert (first, last) == (1, n) and n % per_statement  # a partial last batch
    assert dict(_q(p, "SELECT name, seq FROM sqlite_sequence"))["DETECTION"] == n
    ddl = {r[0] for r in _q(p, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")}
    assert ddl == {r[0] for r in _q(tmp_path / "single.sqlite", "SELECT sql FROM sqlite_master "
                                    "WHERE sql IS NOT NULL")}  # fmt: skip


@pytest.mark.slow
def test_a_cohort_written_by_dask_workers_is_the_same_as_in_process(tmp_path):
    here = generate_cohort(tmp_path / "here", cages=2, hours=0.01, seed=3)
    seen = []
    there = generate_cohort(
        tmp_path / "there", cages=2, hours=0.01, seed=3, workers=2,
        progress=seen.append,
    )  # fmt: skip
    assert [(p.done, p.total) for p in seen] == [(k, 4) for k in range(1, 5)]
    assert {p.message for p in seen} == {f"{db.name} written" for db in there.databases}
    assert [p.name for p in here.databases] == [p.name for p in there.databases]
    for a, b in zip(here.databases, there.databases, strict=True):
        assert _table_digest(a, "DETECTION") == _table_digest(b, "DETECTION")
    assert here.cohort_csv.read_text() == there.cohort_csv.read_text()
    assert here.truth_csv.read_text() == there.truth_csv.read_text()


def test_truth_frames_are_rests(small_recording):
    """Planted stops are where the mouse really sits still (identified detections)."""
    tr = small_recording.truth.iloc[0]
    rows = np.array(_q(small_recording.path, "SELECT MASS_X, MASS_Y FROM DETECTION WHERE "
                       f"ANIMALID = 1 AND MASS_X >= 10 AND FRAMENUMBER BETWEEN "
                       f"{tr.start_frame} AND {tr.end_frame}"))  # fmt: skip
    x = (rows[:, 0] - 114) * 10 / 57
    assert abs(np.median(x) - tr.x_cm) < 1.0 and np.std(x) < 1.5


def test_cohort_layout(small_cohort):
    cohort = pd.read_csv(small_cohort.cohort_csv, dtype=str)
    assert list(cohort.columns) == [
        "database", "animal", "cage", "sex", "age", "genotype", "strain",
    ]  # fmt: skip
    assert set(cohort["genotype"]) == {"WT"} and set(cohort["strain"]) == {"C57BL/6J"}
    assert len(small_cohort.databases) == 8
    for _, cage in cohort.groupby("cage"):
        assert cage["sex"].nunique() == 1  # one sex per cage
        assert sorted(cage["age"].unique()) == ["adult", "juvenile"]
        assert cage["database"].nunique() == 2
        by_age = cage.groupby("age")["animal"].apply(sorted)
        assert by_age["adult"] == by_age["juvenile"] and len(by_age["adult"]) == 4
    assert sorted(cohort["sex"].unique()) == ["F", "M"]
    for db in small_cohort.databases:
        assert (small_cohort.cohort_csv.parent / db.name).exists()


def test_class_preferences_show_in_planted_stops(small_cohort):
    cohort = pd.read_csv(small_cohort.cohort_csv, dtype=str)
    truth = pd.read_csv(small_cohort.truth_csv, dtype={"animal": str})
    t = truth.merge(cohort, on=["database", "animal"])
    t["cls"] = np.where(t["age"] == "adult", "A", "J") + t["sex"]
    share = pd.crosstab(t["cls"], t["place"], normalize="index")
    assert share.loc["AF", "dome"] > share.loc["AM", "dome"]
    assert share.loc["JF", "dome"] > share.loc["JM", "dome"]
    assert share.loc["AM", "water"] > share.loc["AF", "water"]
    for j, a in (("JM", "AM"), ("JF", "AF")):
        feeders = share.loc[:, ["feeder_left", "feeder_right"]].sum(axis=1)
        assert feeders[j] > feeders[a]
        assert share.loc[a, "elsewhere"] > share.loc[j, "elsewhere"]


def test_places_sit_where_the_paper_says():
    assert PLACES["dome"][0] < 25 and PLACES["dome"][1] < 25  # upper left
    for name in ("feeder_left", "feeder_right", "water"):
        assert PLACES[name][1] > 35  # lower part
    assert set(CLASS_PREFERENCES) == {"AM", "JM", "AF", "JF"}
    assert all(len(w) == len(PLACE_NAMES) for w in CLASS_PREFERENCES.values())


def test_nest_rests_are_longer_in_the_light_phase():
    rng = np.random.default_rng(0)
    segs = plan_mouse(48 * 3600, np.asarray(CLASS_PREFERENCES["AF"]), 18.0, rng)
    dome = segs[segs[:, 6] == 0]
    hour = (18.0 + dome[:, 0] / 3600) % 24
    light = (hour >= 7) & (hour < 19)
    length = dome[:, 1] - dome[:, 0]
    assert np.median(length[light]) > 2 * np.median(length[~light])


@pytest.mark.parametrize("hours", [0.0, -1.0])
def test_bad_length_is_refused(tmp_path, hours):
    with pytest.raises(ValueError, match="hours"):
        generate_recording(tmp_path / "x.sqlite", hours=hours)
    assert not list(tmp_path.iterdir())
