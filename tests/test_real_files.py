"""What real recordings contain (issue 23): each quirk handled by a documented rule, said in a
warning and counted in the output's provenance. Every file is made here, small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _lmt_files import Quirks, build_quirky
from napari_mousestop.cli.app import app
from napari_mousestop.datasets.build import NO_DETECTIONS, build_dataset
from napari_mousestop.errors import CohortError, LMTError
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.stops import StopParams, detect_stops, extract_stops


def _still(n: int, first: int, last: int) -> np.ndarray:
    """x (cm) of a mouse moving 1 cm per frame (30 cm/s) but still from frame first to last."""
    v = np.ones(n)
    v[first + 1 : last + 1] = 0.0
    return np.cumsum(v)


@pytest.mark.parametrize("start", range(2, 42))
def test_a_stop_of_exactly_one_second_is_kept_whatever_its_start_frame(start):
    """t[42] - t[12] = 0.9999999999999999 at 30 fps: still one second, so still a stop."""
    n, fps = 120, 30.0
    t = np.arange(n) / fps
    params = StopParams(speed_window_s=0.0)  # speed from one detection each side
    # still from start-1 to start+31: slow (speed 0) from start to start+30, 30 frames = 1 s
    s, e = detect_stops(t, _still(n, start - 1, start + 31), np.zeros(n), params)
    assert [(int(a), int(b)) for a, b in zip(s, e, strict=True)] == [(start, start + 30)]
    # one frame shorter is never a stop
    assert len(detect_stops(t, _still(n, start - 1, start + 30), np.zeros(n), params)[0]) == 0


def _cohort(tmp_path, rows: list[tuple], extra: str = "") -> Path:
    lines = ["database,animal,cage,sex,age" + extra]
    lines += [",".join(map(str, r)) for r in rows]
    path = tmp_path / "cohort.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_animal_without_detections_is_never_a_sample(tmp_path):
    """ANIMAL row with RFID 'None' and no detection: in the failed list, not in X."""
    build_quirky(tmp_path / "c1.sqlite", Quirks(empty_animal=True))
    cohort = _cohort(tmp_path, [("c1.sqlite", "RFID_1", "c1", "M", "A"),
                                ("c1.sqlite", "RFID_2", "c1", "M", "A"),
                                ("c1.sqlite", "None", "c1", "M", "A")])  # fmt: skip
    hist = HistogramParams(interval_s=60.0, n_intervals=2, n_bins=4)
    ds = build_dataset(cohort, tmp_path / "d.npz", hist, n_workers=0, use_cache=False, warn=False)
    assert list(ds.animals) == ["RFID_1", "RFID_2"]
    assert [(f["animal"], NO_DETECTIONS in f["error"]) for f in ds.params["failed"]] == [
        ("None", True)
    ]
    res = CliRunner().invoke(app, ["dataset", str(cohort), "-o", str(tmp_path / "e.npz"),
                                   "--interval", "1min", "--intervals", "2", "--bins", "4",
                                   "--workers", "0"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "2 animal-recordings" in res.output
    assert "1 skipped" in res.output and "c1.sqlite / None: line 4: no usable detections" in (
        res.output
    )


def _stops(path, **kw):
    return extract_stops(path, StopParams(**kw), warn=False)


def test_duplicate_detections_keep_one_row_per_frame_and_are_counted(tmp_path):
    """Duplicate (frame, animal) rows: one kept (smallest MASS_X), a warning with the count,
    the same stops as the file without them."""
    clean = _stops(build_quirky(tmp_path / "clean.sqlite", Quirks()))
    path = build_quirky(tmp_path / "dup.sqlite", Quirks(duplicate_rows=183))
    for method in ("auto", "sql"):
        df = _stops(path, method=method)
        r = df.attrs["report"]
        assert r["duplicate_rows"] == 183
        assert sum(a["duplicate_rows"] for a in r["per_animal"].values()) == 183
        assert any("183 duplicate DETECTION row(s)" in w for w in r["warnings"])
        cols = ["animal_id", "start_frame", "end_frame", "duration_s", "x_cm", "y_cm"]
        pd.testing.assert_frame_equal(df[cols], clean[cols])
    with pytest.warns(UserWarning, match="183 duplicate DETECTION"):
        extract_stops(path)
    res = CliRunner().invoke(app, ["stops", str(path), "-o", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    assert "183 duplicate" in res.output


def test_a_duplicate_frame_number_is_named_not_called_a_backwards_clock(tmp_path):
    path = build_quirky(tmp_path / "f.sqlite", Quirks(duplicate_frames=3))
    df = _stops(path)
    r = df.attrs["report"]
    assert r["frames"]["duplicate_frame_rows"] == 3
    assert any("3 duplicate FRAMENUMBER row(s) (first: frame 601" in w for w in r["warnings"])
    assert not any("backwards" in w for w in r["warnings"])
    back = build_quirky(tmp_path / "b.sqlite", Quirks(backwards_at=100))
    with pytest.raises(LMTError, match="goes backwards 1 time.*from frame 99 to frame 100"):
        _stops(back)


def test_detections_without_a_frame_row_are_said(tmp_path):
    path = build_quirky(tmp_path / "nf.sqlite", Quirks(frames_deleted=45))
    df = _stops(path)
    r = df.attrs["report"]
    assert r["rows_without_frame"] == 45 * 2  # two animals
    assert any("90 DETECTION row(s) of a frame that FRAME does not hold" in w
               for w in r["warnings"])  # fmt: skip
    res = CliRunner().invoke(app, ["stops", str(path), "-o", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    assert "90 without a FRAME row" in res.output


def test_coverage_comes_from_the_frames_and_cut_stops_are_said(tmp_path):
    """A recording paused for 3 minutes: those minutes are not recorded (coverage 0), not
    'no stops'; the stops after the last interval are counted and the CLI says so."""
    path = build_quirky(tmp_path / "p.sqlite", Quirks(seconds=150, pauses=((60.0, 180.0),)))
    df = _stops(path)
    assert df.attrs["recording"]["pauses"] == [[pytest.approx(59.967, abs=1e-3), 240.0]]
    assert df.attrs["report"]["frames"]["paused_s"] == pytest.approx(180.0, abs=1e-3)
    from napari_mousestop.histograms import bin_recording

    rs = bin_recording(df, HistogramParams(interval_s=60.0, n_intervals=5, n_bins=4), warn=False)
    cov = rs.report["animals"]["1"]["coverage"]
    assert cov == pytest.approx([1.0, 0.0, 0.0, 0.0, 1.0], abs=1e-3)
    n_after = [rs.report["animals"][a]["n_after_end"] for a in ("1", "2")]
    assert min(n_after) > 0
    assert f"{sum(n_after)} stops after the last of 5 intervals cut" in " ".join(rs.report["notes"])
    cohort = _cohort(tmp_path, [("p.sqlite", "RFID_1", "c1", "M", "A")])
    res = CliRunner().invoke(app, ["dataset", str(cohort), "-o", str(tmp_path / "e.npz"),
                                   "--interval", "1min", "--intervals", "5", "--bins", "4",
                                   "--workers", "0"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"note: p.sqlite: {sum(n_after)} stops after the last of 5 intervals cut" in res.output


def test_the_cli_counts_an_individual_without_stops(tmp_path):
    """One DeepLabCut individual that never stops: '0 stops of 1 individual'."""
    import movement.io.load_poses
    import movement.io.save_poses

    from napari_mousestop.io.layout import save_calibration

    n = 90
    pos = np.zeros((n, 2, 1, 1))
    pos[:, 0, 0, 0] = 5 + np.arange(n) * 0.5  # 15 cm/s at 30 fps
    pos[:, 1, 0, 0] = 25.0
    ds = movement.io.load_poses.from_numpy(
        pos, np.ones((n, 1, 1)), individual_names=["individual_0"], keypoint_names=["body"], fps=30
    )
    path = tmp_path / "one.h5"
    movement.io.save_poses.to_dlc_file(ds, path, split_individuals=False)
    cal = save_calibration(tmp_path / "cal.toml", [[0, 0], [50, 0], [50, 50], [0, 50]])
    res = CliRunner().invoke(app, ["stops", str(path), "-o", str(tmp_path / "s.csv"),
                                   "--source-software", "DeepLabCut", "--fps", "30",
                                   "--calibration", str(cal)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "0 stops of 1 individual ->" in res.output


def test_a_cohort_times_one_recording_by_frames(tmp_path):
    """One recording with a backwards clock: its time_base cell says frames, the other keeps
    its timestamps; the dataset records which used which, and the CLI says it."""
    build_quirky(tmp_path / "bad.sqlite", Quirks(backwards_at=100))
    build_quirky(tmp_path / "good.sqlite", Quirks(pauses=((30.0, 90.0),)))
    cohort = _cohort(tmp_path, [("bad.sqlite", "RFID_1", "c1", "M", "A", "frames"),
                                ("good.sqlite", "RFID_1", "c2", "M", "A", "")],
                     extra=",time_base")  # fmt: skip
    hist = HistogramParams(interval_s=60.0, n_intervals=2, n_bins=4)
    ds = build_dataset(cohort, tmp_path / "d.npz", hist, n_workers=0, warn=False)
    rec = ds.params["recordings"]
    assert rec["bad.sqlite"]["time_base"] == "frames"
    assert rec["good.sqlite"]["time_base"] == "timestamp"
    assert rec["good.sqlite"]["counts"]["pauses"] == [[pytest.approx(29.967, abs=1e-3), 120.0]]
    assert ds.params["stops"]["time_base"] == "timestamp"
    assert len(ds) == 2
    res = CliRunner().invoke(app, ["dataset", str(cohort), "-o", str(tmp_path / "e.npz"),
                                   "--interval", "1min", "--intervals", "2", "--bins", "4",
                                   "--workers", "0"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "timed by frame number (time_base frames): bad.sqlite" in res.output
    bad = _cohort(tmp_path, [("bad.sqlite", "RFID_1", "c1", "M", "A", "clock")], ",time_base")
    with pytest.raises(CohortError, match="line 2: time_base 'clock' is not timestamp or frames"):
        build_dataset(bad, tmp_path / "f.npz", hist, n_workers=0, warn=False)


def test_the_quality_table_flags_what_to_look_at(tmp_path):
    """mousestop qc: per recording frames, pauses, duplicates; per animal identified share,
    gaps, stops; flags; as a CSV and a summary; the same table beside every dataset."""
    good = build_quirky(tmp_path / "good.sqlite", Quirks())
    bad = build_quirky(
        tmp_path / "bad.sqlite",
        Quirks(seconds=90, pauses=((30.0, 700.0),), duplicate_rows=5, empty_animal=True),
    )
    out = tmp_path / "qc.csv"
    res = CliRunner().invoke(app, ["qc", str(good), str(bad), "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["recording"]) == ["good.sqlite"] * 2 + ["bad.sqlite"] * 3
    g = table[table["recording"] == "good.sqlite"]
    assert (g["flags"] == "").all()
    assert (g["frames_recorded"] == 1800).all() and (g["frames_expected"] == 1800).all()
    assert (g["identified_share"] == 1.0).all() and (g["stops"] > 0).all()
    b = table[table["recording"] == "bad.sqlite"].set_index("animal")
    assert (b["pauses"] == 1).all() and (b["duplicate_detection_rows"] == 5).all()
    assert float(b.loc["RFID_1", "longest_gap_s"]) == pytest.approx(700.033, abs=1e-3)
    assert float(b.loc["RFID_1", "hours_covered"]) == pytest.approx(90 / 3600, abs=1e-3)
    assert b.loc["RFID_1", "flags"] == "pause > 10 min; duplicate rows"
    assert b.loc["None", "flags"].endswith("no usable detections")
    assert "good.sqlite: 0.02 h, 1800 of 1800 frames (0.0% dropped)" in res.output
    assert "bad.sqlite: 0.22 h, 2700 of 2700 frames (0.0% dropped), 1 pause(s)" in res.output
    assert "None: identified 0.0%" in res.output and "3 of 5 animal-recordings flagged" in (
        res.output
    )
    cohort = _cohort(tmp_path, [("good.sqlite", "RFID_1", "c1", "M", "A"),
                                ("bad.sqlite", "RFID_1", "c2", "M", "A")])  # fmt: skip
    hist = HistogramParams(interval_s=60.0, n_intervals=2, n_bins=4)
    ds = build_dataset(cohort, tmp_path / "d.npz", hist, n_workers=0, warn=False)
    beside = pd.read_csv(tmp_path / "d.qc.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(beside, table)
    assert ds.params["quality"] == {"file": "d.qc.csv", "flagged": 3, "rows": 5}
    res = CliRunner().invoke(app, ["qc", str(cohort), "-o", str(tmp_path / "c.csv")])
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c.csv", keep_default_na=False), table)


def test_the_generator_plants_the_quirks_and_leaves_a_clean_file_unchanged(tmp_path):
    from _lmt_files import sha256
    from napari_mousestop.synthetic.generate import generate_recording
    from napari_mousestop.synthetic.quirks import SyntheticQuirks

    hours = 0.1
    truth = generate_recording(tmp_path / "a.sqlite", hours=hours, seed=5)
    generate_recording(tmp_path / "b.sqlite", hours=hours, seed=5, quirks=None)
    assert sha256(tmp_path / "a.sqlite") == sha256(tmp_path / "b.sqlite")
    q = SyntheticQuirks(duplicate_rows=40, pauses=((0.05, 2.0),), frames_deleted=30,
                        empty_animal=True)  # fmt: skip
    quirky = generate_recording(tmp_path / "q.sqlite", hours=hours, seed=5, quirks=q)
    planted = quirky.attrs["quirks"]
    assert 0 < planted["duplicate_rows"] <= 40 and planted["frames_deleted"] == 30
    late = truth["start_s"] >= 0.05 * 3600
    np.testing.assert_allclose(quirky["start_s"][late], truth["start_s"][late] + 7200)
    df = _stops(tmp_path / "q.sqlite")
    r = df.attrs["report"]
    assert r["duplicate_rows"] == planted["duplicate_rows"]
    assert r["rows_without_frame"] > 0
    assert len(r["frames"]["pauses"]) == 1 and r["frames"]["paused_s"] == pytest.approx(7200, 1e-3)
    assert r["skipped_animals"] == [5]


def test_detections_none_of_which_has_a_frame_row_are_named(tmp_path):
    import sqlite3

    path = build_quirky(tmp_path / "nf.sqlite", Quirks(seconds=2))
    con = sqlite3.connect(path)
    con.execute("UPDATE FRAME SET FRAMENUMBER = FRAMENUMBER + 1000")  # no detection's frame
    con.commit()
    con.close()
    with pytest.raises(LMTError, match="no usable detection of any animal .*120 rows without"):
        _stops(path)
