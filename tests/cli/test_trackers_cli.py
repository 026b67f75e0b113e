"""`mousestop stops` and `predict` on other trackers' files: the options, the recorded
parameters, and bad input as one line and exit code 1."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from napari_mousestop.cli.app import app
from napari_mousestop.synthetic.generate import score_stops

runner = CliRunner()


def _tracker_args(rec, **drop):
    args = {
        "--source-software": "DeepLabCut",
        "--fps": "30",
        "--calibration": str(rec.calibration),
        "--start-time": "2024-01-15 19:00",
        "--timezone": "Europe/Paris",
    }
    for key in drop:
        args.pop(f"--{key.replace('_', '-')}")
    return [x for kv in args.items() for x in kv]


def test_stops_of_a_deeplabcut_file(pose_recording, tmp_path):
    out = tmp_path / "stops.csv"
    res = runner.invoke(app, ["stops", str(pose_recording.path), "-o", str(out),
                              *_tracker_args(pose_recording)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "stops of 4 individuals" in res.output and "keypoint positions below" in res.output
    table = pd.read_csv(out)
    assert set(table["name"]) == {"mouse_a", "mouse_b", "mouse_c", "mouse_d"}
    score = score_stops(table, pose_recording.truth)
    assert score["recall"] >= 0.95 and score["precision"] >= 0.95
    # 19:00 in Paris is 18:00 UTC: the times are the clock's
    first = pd.Timestamp(table["start_time"].iloc[0])
    assert first == pd.Timestamp("2024-01-15 18:00", tz="UTC") + pd.Timedelta(
        seconds=float(table["start_s"].iloc[0])
    )
    meta = json.loads(out.with_suffix(".json").read_text())
    reader = meta["report"]["reader"]
    assert reader["source_software"] == "DeepLabCut" and reader["fps"] == 30.0
    assert reader["calibration"]["file"] == str(pose_recording.calibration)
    assert reader["start_time_given"] == "2024-01-15 19:00"
    assert reader["timezone"] == "Europe/Paris"
    assert meta["params"]["speed_window_s"] == 0.5


def test_stops_of_chosen_individuals_and_keypoints(pose_recording, tmp_path):
    out = tmp_path / "b.csv"
    res = runner.invoke(app, ["stops", str(pose_recording.path), "-o", str(out),
                              *_tracker_args(pose_recording), "--individual", "mouse_b",
                              "--individual", "mouse_d", "--keypoints", "centre,tail_base",
                              "--confidence", "0.7", "--bridge-gap", "0.25"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(out)["name"]) == {"mouse_b", "mouse_d"}
    reader = json.loads(out.with_suffix(".json").read_text())["report"]["reader"]
    assert reader["keypoints"] == ["centre", "tail_base"]
    assert reader["confidence_threshold"] == 0.7 and reader["bridge_gap_frames"] == 8


@pytest.mark.parametrize(
    "case, problem",
    [
        ("unreadable", "movement cannot read it as a DeepLabCut file"),
        ("calibration", "needs a calibration"),
        ("fps", "frame rate missing"),
        ("individual", "no individual 'mouse_z' in this file"),
        ("lmt", "a DeepLabCut file, not an LMT database: give --source-software DeepLabCut"),
        ("options", "--fps, --calibration: only for other trackers' files"),
    ],
)
def test_bad_input_is_one_line_naming_the_file(pose_recording, tmp_path, case, problem):
    path = pose_recording.path
    args = _tracker_args(pose_recording)
    if case == "unreadable":
        path = tmp_path / "broken.h5"
        path.write_bytes(b"\x89HDF\r\n" + b"\x00" * 100)
    elif case == "calibration":
        args = _tracker_args(pose_recording, calibration=1)
    elif case == "fps":
        args = _tracker_args(pose_recording, fps=1)
    elif case == "individual":
        args += ["--individual", "mouse_z"]
    elif case == "lmt":
        args = []
    else:
        args = ["--fps", "30", "--calibration", "c.toml"]
        path = tmp_path / "x.sqlite"
    out = tmp_path / "o.csv"
    res = runner.invoke(app, ["stops", str(path), "-o", str(out), *args])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    line = res.output.strip().splitlines()[-1]
    assert problem in line
    if case != "options":
        assert line.startswith(f"error: {path}")
    assert not out.exists()


def test_bad_input_prints_one_line_in_a_real_process(tmp_path, pose_recording):
    """movement logs its own errors on stderr too; the command line leaves only its own line."""
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not hdf5")
    exe = [sys.executable, "-c", "from napari_mousestop.cli import app; app()"]
    res = subprocess.run([*exe, "stops", str(broken), "-o", str(tmp_path / "o.csv"),
                          *_tracker_args(pose_recording)],
                         capture_output=True, text=True, timeout=180)  # fmt: skip
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {broken}: movement cannot read it")


def test_predict_on_a_deeplabcut_file(pose_recording, tmp_path):
    from _planted import recording_model
    from napari_mousestop.histograms import HistogramParams

    hist = HistogramParams(interval_s=1800, n_intervals=2, n_bins=14, align_to="19:00",
                           timezone="Europe/Paris")  # fmt: skip
    model = recording_model(tmp_path / "m.pt", hist)
    csv = tmp_path / "pred.csv"
    args = _tracker_args(pose_recording, timezone=1)  # 19:00 read in the model's time zone
    res = runner.invoke(app, ["predict", str(model), str(pose_recording.path), "-o", str(csv),
                              *args])  # fmt: skip
    assert res.exit_code == 0, res.output
    table = pd.read_csv(csv, keep_default_na=False)
    assert table["animal"].tolist() == ["mouse_a", "mouse_b", "mouse_c", "mouse_d"]
    probs = table[["p_AM", "p_JM", "p_AF", "p_JF"]].to_numpy(dtype=float)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    # without the tracker's options the file is refused with a hint
    res = runner.invoke(app, ["predict", str(model), str(pose_recording.path), "-o", str(csv)])
    assert res.exit_code == 1
    assert "a DeepLabCut file: give its tracker's parameters" in res.output
