"""Stop tables to (T, N, N) stacks: timing, position, weights, off-floor stops, alignment."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from napari_mousestop.errors import ShortRecordingWarning
from napari_mousestop.histograms import HistogramParams, parse_duration, stack_origin, stack_stops
from napari_mousestop.io.geometry import CageGeometry

GEOM = CageGeometry.mouse()  # 50 x 50 cm floor


def stops(*rows) -> pd.DataFrame:
    """rows of (start_s, duration_s, x_cm, y_cm)."""
    return pd.DataFrame(rows, columns=["start_s", "duration_s", "x_cm", "y_cm"], dtype=float)


def small(**kw) -> HistogramParams:
    base = {"n_intervals": 4, "n_bins": 5}  # 1 h intervals, 10 cm bins
    return HistogramParams(**(base | kw))


def test_each_stop_counts_once_where_and_when_it_starts():
    df = stops(
        (10.0, 5000.0, 1.0, 1.0),  # starts in hour 0, lasts into hour 1: counted in hour 0 only
        (3600.0, 2.0, 49.0, 1.0),  # first second of hour 1, top-right bin
        (7300.0, 3.0, 25.0, 45.0),  # hour 2, bottom row (y = 45), middle column
    )
    stack, rep = stack_stops(df, small(), GEOM, recording_duration_s=4 * 3600)
    assert stack.shape == (4, 5, 5) and stack.dtype == np.float32
    assert stack.sum() == 3
    assert stack[0, 0, 0] == 1  # (hour, y bin, x bin)
    assert stack[1, 0, 4] == 1
    assert stack[2, 4, 2] == 1
    assert rep["n_counted"] == 3 and rep["warnings"] == [] and rep["notes"] == []


def test_duration_weight_adds_seconds():
    df = stops((0.0, 12.5, 5.0, 5.0), (100.0, 7.5, 5.0, 5.0), (200.0, 1.0, 35.0, 5.0))
    count, _ = stack_stops(df, small(), GEOM, recording_duration_s=4 * 3600)
    dur, _ = stack_stops(df, small(weight="duration"), GEOM, recording_duration_s=4 * 3600)
    assert count[0, 0, 0] == 2 and dur[0, 0, 0] == pytest.approx(20.0)
    assert dur[0, 0, 3] == pytest.approx(1.0)


def test_bin_edges_follow_geometry_and_far_wall_is_inside():
    geom = CageGeometry(floor_cm=(40.0, 20.0))  # 8 cm x 4 cm bins with N = 5
    df = stops((0.0, 1.0, 40.0, 20.0), (0.0, 1.0, 7.99, 4.01), (0.0, 1.0, 0.0, 0.0))
    stack, rep = stack_stops(df, small(), geom, recording_duration_s=4 * 3600)
    assert stack[0, 4, 4] == 1  # exactly on the far corner: last bin, not off the floor
    assert stack[0, 1, 0] == 1
    assert stack[0, 0, 0] == 1
    assert rep["n_off_floor"] == 0


def test_off_floor_clip_and_drop_are_counted():
    df = stops((0.0, 1.0, -2.0, 10.0), (0.0, 1.0, 55.0, 55.0), (0.0, 1.0, 25.0, 25.0))
    clipped, rep_c = stack_stops(df, small(), GEOM, recording_duration_s=4 * 3600)
    dropped, rep_d = stack_stops(df, small(off_floor="drop"), GEOM, recording_duration_s=4 * 3600)
    assert clipped[0, 1, 0] == 1 and clipped[0, 4, 4] == 1 and clipped.sum() == 3
    assert dropped.sum() == 1 and dropped[0, 2, 2] == 1
    assert rep_c["n_off_floor"] == rep_d["n_off_floor"] == 2
    assert "2 stops off the floor clipped" in rep_c["notes"][0]
    assert "dropped" in rep_d["notes"][0]


def test_missing_positions_are_dropped_and_counted():
    df = stops((0.0, 1.0, np.nan, 10.0), (0.0, 1.0, 5.0, 5.0))
    stack, rep = stack_stops(df, small(), GEOM, recording_duration_s=4 * 3600)
    assert stack.sum() == 1 and rep["n_no_position"] == 1


def test_short_recording_is_zero_filled_with_a_warning_naming_hours():
    df = stops((100.0, 1.0, 5.0, 5.0), (5000.0, 1.0, 5.0, 5.0))
    with pytest.warns(ShortRecordingWarning, match=r"hours 2-3 of 4 not recorded"):
        stack, rep = stack_stops(df, small(), GEOM, recording_duration_s=2 * 3600)
    assert stack[2:].sum() == 0 and stack[:2].sum() == 2
    assert rep["missing_intervals"] == [2, 3]
    assert rep["coverage"] == [1.0, 1.0, 0.0, 0.0]


def test_callers_that_report_warnings_themselves_get_them_in_the_report_only():
    df = stops((100.0, 1.0, 5.0, 5.0), (5000.0, 1.0, 5.0, 5.0))
    with pytest.warns(ShortRecordingWarning) as issued:
        _, shown = stack_stops(df, small(), GEOM, recording_duration_s=2 * 3600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning issued would fail the call
        stack, quiet = stack_stops(df, small(), GEOM, recording_duration_s=2 * 3600, warn=False)
    assert quiet == shown and [str(w.message) for w in issued] == quiet["warnings"]


def test_long_recording_is_cut_with_a_note():
    df = stops((100.0, 1.0, 5.0, 5.0), (5 * 3600.0, 1.0, 5.0, 5.0))
    stack, rep = stack_stops(df, small(), GEOM, recording_duration_s=6 * 3600)
    assert stack.sum() == 1
    assert rep["n_after_end"] == 1
    assert "2.00 h past the last of 4 intervals" in rep["notes"][0]


def test_interval_length_is_a_parameter():
    df = stops((0.0, 1.0, 5.0, 5.0), (1799.0, 1.0, 5.0, 5.0), (1800.0, 1.0, 5.0, 5.0))
    stack, _ = stack_stops(df, small(interval_s=1800), GEOM, recording_duration_s=7200)
    assert stack[0].sum() == 2 and stack[1].sum() == 1


def test_align_to_clock_time_puts_lights_on_at_interval_zero():
    # recording starts 09:30 UTC; lights on at 07:00: interval 0 = 07:00-08:00
    start = pd.Timestamp("2024-03-01 09:30", tz="UTC")
    params = small(align_to="07:00", n_intervals=6)
    assert stack_origin(start, params) == pd.Timestamp("2024-03-01 07:00", tz="UTC")
    df = stops((0.0, 1.0, 5.0, 5.0), (1800.0, 1.0, 5.0, 5.0))  # 09:30 and 10:00
    with pytest.warns(ShortRecordingWarning, match=r"hours 0-1, 5 of 6"):
        stack, rep = stack_stops(df, params, GEOM, start, recording_duration_s=2.5 * 3600)
    assert stack[2].sum() == 1 and stack[3].sum() == 1
    assert rep["offset_s"] == 2.5 * 3600
    assert rep["coverage"][2] == 0.5  # 09:30-10:00 of 09:00-10:00


def test_align_before_clock_time_uses_the_previous_day():
    start = pd.Timestamp("2024-03-01 05:00", tz="UTC")
    assert stack_origin(start, small(align_to="07:00")) == pd.Timestamp(
        "2024-02-29 07:00", tz="UTC"
    )


def test_align_uses_the_facility_time_zone():
    # 07:00 in Paris in winter is 06:00 UTC
    start = pd.Timestamp("2024-01-10 12:00", tz="UTC")
    params = small(align_to="07:00", timezone="Europe/Paris")
    assert stack_origin(start, params) == pd.Timestamp("2024-01-10 06:00", tz="UTC")


def test_empty_stop_table_gives_zeros():
    stack, rep = stack_stops(stops(), small(), GEOM, recording_duration_s=4 * 3600)
    assert stack.shape == (4, 5, 5) and stack.sum() == 0 and rep["n_stops"] == 0


@pytest.mark.parametrize(
    "kw",
    [
        {"weight": "area"},
        {"off_floor": "keep"},
        {"align_to": "25:00"},
        {"align_to": "7am"},
        {"n_bins": 0},
        {"interval_s": -1},
        {"timezone": "Mars/Olympus"},
    ],
)
def test_bad_parameters_are_refused(kw):
    with pytest.raises(ValueError):
        HistogramParams(**kw)


def test_params_round_trip_and_duration_parsing():
    p = HistogramParams(interval_s=1800, n_intervals=10, align_to="7:00", weight="duration")
    assert p.align_to == "07:00"
    assert HistogramParams.from_dict(p.to_dict()) == p
    assert parse_duration("1h") == 3600 and parse_duration("30min") == 1800
    assert parse_duration("90s") == 90 and parse_duration("15m") == 900
    with pytest.raises(ValueError, match="cannot read duration"):
        parse_duration("1 fortnight")


def test_warning_names_a_single_missing_hour():
    df = stops((100.0, 1.0, 5.0, 5.0))
    with pytest.warns(ShortRecordingWarning, match=r"; hour 3 of 4 not recorded"):
        stack_stops(df, small(), GEOM, recording_duration_s=3 * 3600)
