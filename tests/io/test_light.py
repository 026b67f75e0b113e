"""Clock time and light phase of stack intervals, and the [light] table of layout files."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from napari_mousestop.errors import LayoutError
from napari_mousestop.io.layout import load_layout, save_layout
from napari_mousestop.io.light import IntervalClock, LightSchedule, clock_span, hour_text


def test_hours_read_as_clock_time_and_phase():
    start = pd.Timestamp("2024-01-15 18:00", tz="UTC")
    clock = IntervalClock(start, 3600.0, "UTC", LightSchedule())
    assert hour_text(0, 1.0, [clock]) == "hour 0, day 1, 18:00\u201319:00, light"
    assert hour_text(5, 1.0, [clock, clock]) == "hour 5, day 1, 23:00\u201324:00, dark"
    assert hour_text(13, 1.0, [clock]) == "hour 13, day 2, 07:00\u201308:00, light"


def test_an_interval_across_the_switch_names_it():
    schedule = LightSchedule("07:00", "19:00")
    assert schedule.phase("2024-01-15 06:30Z", "2024-01-15 07:30Z") == "lights on 07:00"
    assert schedule.phase("2024-01-15 18:30Z", "2024-01-15 19:30Z") == "lights off 19:00"
    assert schedule.light_fraction("2024-01-15 06:30Z", "2024-01-15 07:30Z") == pytest.approx(0.5)


def test_lights_on_over_midnight_and_time_zones():
    night_shift = LightSchedule("20:00", "08:00")
    assert night_shift.phase("2024-01-15 23:00Z", "2024-01-16 00:00Z") == "light"
    assert night_shift.phase("2024-01-15 12:00Z", "2024-01-15 13:00Z") == "dark"
    paris = LightSchedule("07:00", "19:00", "Europe/Paris")  # UTC+1 in January
    assert paris.phase("2024-01-15 06:00Z", "2024-01-15 07:00Z") == "light"
    assert (
        clock_span("2024-01-15 06:00Z", "2024-01-15 07:00Z", "Europe/Paris") == "07:00\u201308:00"
    )


def test_recordings_on_different_clocks_are_not_given_one_time():
    a = IntervalClock(pd.Timestamp("2024-01-15 18:00", tz="UTC"))
    b = IntervalClock(pd.Timestamp("2024-01-15 18:30", tz="UTC"))
    assert "differs between recordings" in hour_text(2, 1.0, [a, b])
    assert hour_text(2, 1.0, [None, None]) == "hour 2"
    assert hour_text(3, 0.5, []) == "hour 1.5"


@pytest.mark.parametrize(
    "table, problem",
    [
        ({"on": "7am", "off": "19:00"}, "clock time"),
        ({"on": "07:00", "off": "07:00"}, "must differ"),
        ({"on": "07:00"}, "needs on and off"),
        ({"on": "07:00", "off": "19:00", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"on": "07:00", "off": "19:00", "dusk": "18:00"}, "unknown keys"),
    ],
)
def test_bad_light_tables_name_the_file_and_problem(tmp_path, table, problem):
    text = "[light]\n" + "".join(f'{k} = "{v}"\n' for k, v in table.items())
    path = tmp_path / "cage_layout.toml"
    path.write_text(text)
    with pytest.raises(LayoutError, match=problem) as err:
        load_layout(path)
    assert str(path) in str(err.value)


def test_light_schedule_round_trips_through_layout_files(tmp_path):
    layout = load_layout()
    assert layout.light == LightSchedule("07:00", "19:00", "UTC")  # the packaged default
    mine = replace(layout, light=LightSchedule("06:30", "18:30", "Europe/Paris"))
    for name in ("mine.toml", "mine.json"):
        assert load_layout(save_layout(mine, tmp_path / name)) == mine


def test_clocks_round_trip_through_json():
    start = pd.Timestamp("2024-01-15 18:00Z")
    clock = IntervalClock(start, 1800.0, "Europe/Paris", LightSchedule())
    back = IntervalClock.from_dict(json.loads(json.dumps(clock.to_dict())))
    assert back == clock and back.text(3) == clock.text(3)
