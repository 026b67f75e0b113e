"""Stop extraction: correct against planted stops, the documented rules, export, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from napari_mousestop.cli.app import app
from napari_mousestop.stops import (
    STOP_COLUMNS,
    StopParams,
    detect_stops,
    extract_stops,
    write_stops,
)
from napari_mousestop.synthetic.generate import generate_recording, score_stops


@pytest.fixture(scope="module")
def stops(small_recording):
    return extract_stops(small_recording.path)


def test_recovers_planted_stops(small_recording, stops):
    score = score_stops(stops, small_recording.truth)
    assert score["n_planted"] > 100
    assert score["recall"] >= 0.95
    assert score["precision"] >= 0.95
    assert score["position_error_cm"] < 1.0


def test_recovers_planted_stops_for_another_seed(tmp_path):
    truth = generate_recording(tmp_path / "other.sqlite", hours=0.25, seed=123)
    score = score_stops(extract_stops(tmp_path / "other.sqlite"), truth)
    assert score["recall"] >= 0.95 and score["precision"] >= 0.95


def test_table_columns_types_and_metadata(small_recording, stops):
    assert list(stops.columns) == list(STOP_COLUMNS)
    assert str(stops["start_time"].dt.tz) == "UTC"
    start = pd.Timestamp(stops.attrs["recording"]["start_time"])
    assert start == pd.Timestamp("2024-01-15 18:00", tz="UTC")
    offsets = (stops["start_time"] - start).dt.total_seconds()
    np.testing.assert_allclose(offsets, stops["start_s"], atol=1e-3)
    assert (stops["duration_s"] >= 1.0).all()
    assert (stops["end_frame"] >= stops["start_frame"]).all()
    assert set(stops["rfid"]) == set(small_recording.truth["animal"])
    assert stops.attrs["params"] == StopParams().to_dict()
    assert [a["animal_id"] for a in stops.attrs["recording"]["animals"]] == [1, 2, 3, 4]
    report = stops.attrs["report"]
    assert report["anonymous_rows"] > 0 and report["glitch_rows"] > 0
    assert report["skipped_animals"] == []


def test_positions_lie_on_the_floor(stops):
    assert stops["x_cm"].between(-2, 52).all() and stops["y_cm"].between(-2, 52).all()


def test_sql_path_gives_the_same_table(small_recording, stops):
    via_sql = extract_stops(small_recording.path, StopParams(method="sql"))
    assert via_sql.attrs["report"]["method"] == "sql"
    assert stops.attrs["report"]["method"] == "pages"
    pd.testing.assert_frame_equal(stops, via_sql)
    assert via_sql.attrs["report"]["anonymous_rows"] == stops.attrs["report"]["anonymous_rows"]


def test_frame_to_frame_speed_fails_on_jitter(small_recording):
    """Why the speed window exists: with lmt-analysis's 3-frame speed, jitter hides the rests."""
    raw = extract_stops(small_recording.path, StopParams(speed_window_s=1 / 15))
    assert score_stops(raw, small_recording.truth)["recall"] < 0.5


def test_short_gap_limit_splits_rests(small_recording):
    """Why the gap rule exists: without bridging, identity flickers split nest rests."""
    split = extract_stops(small_recording.path, StopParams(max_gap_s=0.1))
    assert score_stops(split, small_recording.truth)["precision"] < 0.8


def _track(speeds_cm_s, fps=30.0):
    """A track moving along x at the given per-frame speeds, plus frame times."""
    v = np.asarray(speeds_cm_s, dtype=float)
    x = np.concatenate([[0.0], np.cumsum(v[:-1] / fps)])
    return np.arange(len(v)) / fps, x, np.zeros(len(v))


def test_rest_between_runs_is_one_stop():
    t, x, y = _track([20] * 60 + [0] * 90 + [20] * 60)
    s, e = detect_stops(t, x, y, StopParams())
    assert len(s) == 1
    assert abs(t[s[0]] - 2.0) < 0.3 and abs(t[e[0]] - 5.0) < 0.3


def test_rest_shorter_than_min_duration_is_not_a_stop():
    t, x, y = _track([20] * 60 + [0] * 30 + [20] * 60)  # 1 s rest, shortened by the window
    assert len(detect_stops(t, x, y, StopParams())[0]) == 0
    assert len(detect_stops(t, x, y, StopParams(min_duration_s=0.5))[0]) == 1


def test_gap_rule():
    t, x, y = _track([0] * 300)
    keep = np.ones(300, bool)
    keep[100:145] = False  # 1.5 s without detections: bridged
    s, _ = detect_stops(t[keep], x[keep], y[keep], StopParams())
    assert len(s) == 1
    keep[100:190] = False  # 3 s: ends the stop
    s, _ = detect_stops(t[keep], x[keep], y[keep], StopParams())
    assert len(s) == 2
    assert len(detect_stops(t[keep], x[keep], y[keep], StopParams(max_gap_s=5))[0]) == 1


def test_jump_across_a_gap_ends_the_stop():
    t, x, y = _track([0] * 300)
    x = x.copy()
    x[150:] += 10.0  # reappears 10 cm away after a 1 s gap
    keep = np.ones(300, bool)
    keep[120:150] = False
    assert len(detect_stops(t[keep], x[keep], y[keep], StopParams())[0]) == 2


def test_threshold_is_inclusive_and_configurable():
    t, x, y = _track([4.0] * 120)
    assert len(detect_stops(t, x, y, StopParams())[0]) == 1
    assert len(detect_stops(t, x, y, StopParams(speed_threshold_cm_s=3.0))[0]) == 0


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="speed_threshold_cm_s"):
        StopParams(speed_threshold_cm_s=-1)
    with pytest.raises(ValueError, match="time_base"):
        StopParams(time_base="clock")


def test_progress_reports_each_animal(small_recording):
    calls = []
    extract_stops(small_recording.path, progress=lambda p: calls.append((p.done, p.total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_and_read_back(stops, tmp_path, suffix):
    out = write_stops(stops, tmp_path / f"stops{suffix}")
    back = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(back) == len(stops)
    np.testing.assert_allclose(back["x_cm"], stops["x_cm"])
    assert list(back["start_frame"]) == list(stops["start_frame"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"stops{suffix}"] + (["stops.json"] if suffix == ".csv" else [])
    )
    with pytest.raises(ValueError, match="csv or .parquet"):
        write_stops(stops, tmp_path / "stops.xlsx")


def test_cli_stops_writes_the_table(small_recording, tmp_path):
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(app, ["stops", str(small_recording.path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "stops of 4 animals" in res.output
    assert len(pd.read_csv(out)) > 100


def test_cli_synth_writes_a_cohort(tmp_path):
    res = CliRunner().invoke(app, ["synth", str(tmp_path), "--cages", "1", "--hours", "0.02"])
    assert res.exit_code == 0, res.output
    cohort = pd.read_csv(tmp_path / "cohort.csv")
    assert sorted(set(cohort["database"])) == ["cage01_adult.sqlite", "cage01_juvenile.sqlite"]
    assert (tmp_path / "truth.csv").exists()
