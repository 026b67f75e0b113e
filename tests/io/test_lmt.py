"""The LMT reader: read-only, columns by name, cm through the geometry, time from FRAME."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_mousestop.errors import LMTError
from napari_mousestop.io.geometry import CageGeometry
from napari_mousestop.io.lmt import (
    DetectionReader,
    positions_cm,
    read_animals,
    read_recording_info,
)
from napari_mousestop.stops import StopParams, extract_stops


def _sql(path, query):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_animals_read_by_name(small_recording):
    df = read_animals(small_recording.path)
    assert list(df.columns) == [
        "animal_id", "rfid", "name", "sex", "age", "genotype", "strain", "setup", "treatment",
    ]  # fmt: skip
    assert list(df["animal_id"]) == [1, 2, 3, 4]
    assert set(df["sex"]) == {"male"} and set(df["age"]) == {"adult"}
    assert df["setup"].isna().all()  # no SETUP column in this file


def test_minimal_animal_table_and_placeholder_rows(tmp_path):
    path = tmp_path / "tiny.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE ANIMAL (NAME TEXT, ID INTEGER PRIMARY KEY, RFID TEXT)")
    con.executemany("INSERT INTO ANIMAL VALUES (?, ?, ?)",
                    [("A", 1, "RFID_A"), (None, 2, None), ("B", 3, "0042")])  # fmt: skip
    con.commit()
    con.close()
    df = read_animals(path)
    assert list(df["animal_id"]) == [1, 3]  # the all-NULL placeholder is dropped
    assert list(df["rfid"]) == ["RFID_A", "0042"]
    assert df["sex"].isna().all() and df["age"].isna().all()


def test_recording_info_from_timestamps(small_recording):
    info = read_recording_info(small_recording.path)
    assert info.start_time == pd.Timestamp("2024-01-15 18:00", tz="UTC")
    assert info.n_frames == 108_000
    # dropped frames make the clock run ahead of frame count / 30
    assert info.duration_s > (108_000 - 1) / 30
    assert info.end_time - info.start_time == pd.Timedelta(seconds=info.duration_s)


def test_tracks_match_sql_and_leave_out_anonymous_and_glitches(small_recording):
    path = small_recording.path
    with DetectionReader(path) as reader:
        assert reader.method == "pages"
        tracks = list(reader.tracks([1, 2, 3, 4]))
        n_anon = reader.n_anonymous()
    assert n_anon == _sql(path, "SELECT count(*) FROM DETECTION WHERE ANIMALID IS NULL")[0][0]
    for tr in tracks:
        query = (
            "SELECT FRAMENUMBER, MASS_X, MASS_Y FROM DETECTION WHERE "
            f"ANIMALID = {tr.animal_id} AND MASS_X >= 10 ORDER BY 1"
        )
        ref = np.array(_sql(path, query))
        np.testing.assert_array_equal(tr.frame, ref[:, 0])
        np.testing.assert_array_equal(tr.x_px, ref[:, 1])
        np.testing.assert_array_equal(tr.y_px, ref[:, 2])
        glitches = _sql(path, "SELECT count(*) FROM DETECTION WHERE "
                              f"ANIMALID = {tr.animal_id} AND MASS_X < 10")[0][0]  # fmt: skip
        assert tr.n_glitch == glitches > 0


def test_frames_and_timestamps(small_recording):
    with DetectionReader(small_recording.path) as reader:
        frame, ts = reader.frames()
    ref = np.array(_sql(small_recording.path, "SELECT FRAMENUMBER, TIMESTAMP FROM FRAME"))
    np.testing.assert_array_equal(frame, ref[:, 0])
    np.testing.assert_array_equal(ts, ref[:, 1])
    assert (np.diff(ts) > 40).any()  # dropped frames are visible in the clock


def test_positions_in_cm_follow_the_geometry(small_recording):
    with DetectionReader(small_recording.path) as reader:
        track = next(reader.tracks([1]))
    x, y = positions_cm(track)
    np.testing.assert_allclose(x, (track.x_px - 114) * 10 / 57)
    np.testing.assert_allclose(y, (track.y_px - 63) * 10 / 57)
    x_rat, _ = positions_cm(track, CageGeometry.rat())
    np.testing.assert_allclose(x_rat, 2 * x)


def test_file_without_covering_index_reads_the_same(small_recording, tmp_path):
    copy = tmp_path / "noindex.sqlite"
    shutil.copy(small_recording.path, copy)
    con = sqlite3.connect(copy)
    con.execute("DROP INDEX detectionFastLoadXYIndex")
    con.commit()
    con.close()
    with DetectionReader(copy) as reader:
        assert reader.method == "sql"
    a = extract_stops(copy, StopParams(speed_window_s=0.4))
    b = extract_stops(small_recording.path, StopParams(speed_window_s=0.4))
    pd.testing.assert_frame_equal(a.drop(columns="recording"), b.drop(columns="recording"))


def test_reading_never_touches_the_file(small_recording, file_fingerprint):
    before = file_fingerprint(small_recording.path)
    read_animals(small_recording.path)
    read_recording_info(small_recording.path)
    extract_stops(small_recording.path)
    extract_stops(small_recording.path, StopParams(method="sql"))
    assert file_fingerprint(small_recording.path) == before


def test_read_only_connection_refuses_writes(small_recording):
    from napari_mousestop.io.lmt import connect

    con = connect(small_recording.path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        con.execute("CREATE INDEX x ON FRAME(TIMESTAMP)")
    con.close()


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(LMTError, match="no such file") as err:
        read_animals(tmp_path / "absent.sqlite")
    assert str(err.value).startswith(str(Path(tmp_path / "absent.sqlite")))
