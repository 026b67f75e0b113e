"""Other trackers through movement: planted stops recovered from files written by movement's own
savers, the centre's rules, the noisy-pose defaults, provenance and bad input."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import movement.io.load_bboxes  # the dev extra installs movement: these tests run, never skip
import movement.io.load_poses
import movement.io.save_bboxes
import movement.io.save_poses
import numpy as np
import pandas as pd
import pytest

from napari_mousestop.errors import MousestopError, TrackerError
from napari_mousestop.histograms import HistogramParams, recording_stacks
from napari_mousestop.io.layout import save_calibration
from napari_mousestop.io.trackers import (
    TrackerParams,
    read_tracks,
    sniff_source_software,
    source_software_name,
)
from napari_mousestop.stops import STOP_COLUMNS, StopParams, extract_stops, write_stops
from napari_mousestop.synthetic.generate import score_stops
from napari_mousestop.synthetic.poses import VIDEO_CORNERS, generate_pose_recording


@pytest.fixture(scope="module")
def dlc_stops(pose_recording):
    return extract_stops(pose_recording.path, tracker=pose_recording.tracker)


@pytest.fixture(scope="module")
def sleap_recording(tmp_path_factory, pose_recording):
    folder = tmp_path_factory.mktemp("sleap")
    path = folder / "cage.analysis.h5"
    truth = generate_pose_recording(path, "SLEAP", hours=1.0, seed=7, individuals=("a", "b", "c"))
    tracker = replace(pose_recording.tracker, source_software="SLEAP")
    return path, truth, tracker


def test_recovers_planted_stops_from_a_deeplabcut_file(pose_recording, dlc_stops):
    score = score_stops(dlc_stops, pose_recording.truth)
    assert score["n_planted"] > 100
    assert score["recall"] >= 0.95 and score["precision"] >= 0.95
    assert score["position_error_cm"] < 1.0  # the calibration puts them where they were planted


def test_recovers_planted_stops_from_a_sleap_analysis_file(sleap_recording):
    path, truth, tracker = sleap_recording
    assert sniff_source_software(path) == "SLEAP"
    stops = extract_stops(path, tracker=tracker)
    score = score_stops(stops, truth)
    assert score["n_planted"] > 60
    assert score["recall"] >= 0.95 and score["precision"] >= 0.95
    assert score["position_error_cm"] < 1.0


def test_deeplabcut_csv_gives_the_same_stops_as_h5(tmp_path, pose_recording):
    for suffix in (".h5", ".csv"):
        generate_pose_recording(tmp_path / f"short{suffix}", hours=0.1, seed=3)
    h5, csv = (extract_stops(tmp_path / f"short{s}", tracker=pose_recording.tracker)
               for s in (".h5", ".csv"))  # fmt: skip
    assert sniff_source_software(tmp_path / "short.csv") == "DeepLabCut"
    assert len(h5) > 5
    pd.testing.assert_frame_equal(h5.drop(columns="recording"), csv.drop(columns="recording"))


def test_stop_table_names_individuals_as_movement_does(pose_recording, dlc_stops):
    assert list(dlc_stops.columns) == list(STOP_COLUMNS)
    assert set(dlc_stops["name"]) == {"mouse_a", "mouse_b", "mouse_c", "mouse_d"}
    assert dlc_stops["rfid"].isna().all()
    ids = dlc_stops.groupby("name")["animal_id"].first().to_dict()
    assert ids == {"mouse_a": 1, "mouse_b": 2, "mouse_c": 3, "mouse_d": 4}
    # time zero from the user: start_time = time zero + start_s, and frames from 0 at 30 fps
    start = pd.Timestamp("2024-01-15 18:00", tz="UTC")
    offsets = (dlc_stops["start_time"] - start).dt.total_seconds()
    np.testing.assert_allclose(offsets, dlc_stops["start_s"], atol=1e-6)
    np.testing.assert_allclose(dlc_stops["start_frame"] / 30.0, dlc_stops["start_s"], atol=1e-9)
    assert (dlc_stops["duration_s"] >= 1.0).all()
    assert dlc_stops.attrs["recording"]["start_time"] == start.isoformat()


def test_every_reading_parameter_is_recorded_next_to_the_table(tmp_path, pose_recording):
    tracker = replace(pose_recording.tracker, keypoints=("centre", "tail_base"),
                      confidence_threshold=0.5, bridge_gap_s=0.2)  # fmt: skip
    stops = extract_stops(pose_recording.path, tracker=tracker)
    out = write_stops(stops, tmp_path / "stops.csv")
    reader = json.loads(out.with_suffix(".json").read_text())["report"]["reader"]
    assert reader["source_software"] == "DeepLabCut"
    assert reader["movement_version"] == movement.__version__
    assert reader["keypoints"] == ["centre", "tail_base"]
    assert reader["keypoints_in_file"] == ["snout", "centre", "tail_base"]
    assert reader["confidence_threshold"] == 0.5 and reader["confidence_filter"] == "applied"
    assert reader["bridge_gap_s"] == 0.2 and reader["bridge_gap_frames"] == 6
    assert reader["fps"] == 30.0 and reader["fps_from"] == "given"
    assert reader["calibration"]["corners_px"] == [list(c) for c in VIDEO_CORNERS]
    assert reader["calibration"]["file"] == str(pose_recording.calibration)
    assert reader["start_time"] == "2024-01-15T18:00:00+00:00"
    assert reader["individuals"] == ["mouse_a", "mouse_b", "mouse_c", "mouse_d"]


def test_without_time_zero_times_count_from_the_recording(pose_recording):
    tracker = replace(pose_recording.tracker, start_time=None)
    rs = recording_stacks(pose_recording.path, HistogramParams(n_intervals=1), tracker=tracker)
    assert rs.origin is None and rs.info["start_time"] is None
    assert rs.stops["start_time"].isna().all()
    assert rs.stacks.sum() == (rs.stops["interval"] == 0).sum() > 0
    with pytest.raises(TrackerError, match="no clock time.*07:00"):
        recording_stacks(pose_recording.path, HistogramParams(align_to="07:00"), tracker=tracker)


def test_time_zero_in_a_time_zone_aligns_the_intervals(pose_recording):
    """18:00 in Paris is 17:00 UTC; aligned to 07:00 Paris, interval 0 starts 11 h before."""
    tracker = replace(pose_recording.tracker, start_time="2024-01-15 18:00",
                      timezone="Europe/Paris")  # fmt: skip
    params = HistogramParams(n_intervals=24, align_to="07:00", timezone="Europe/Paris")
    rs = recording_stacks(pose_recording.path, params, tracker=tracker)
    assert rs.origin == pd.Timestamp("2024-01-15 06:00", tz="UTC")
    assert set(rs.stops["interval"]) == {11}
    assert rs.stacks[:, 11].sum() == len(rs.stops) and rs.stacks.sum() == len(rs.stops)


# --- noisy pose data: what the confidence filter and the speed window do -----------------------


def test_without_the_confidence_filter_outliers_break_the_stops(pose_recording):
    """Low-confidence keypoints thrown across the image make a resting mouse look fast."""
    raw = extract_stops(
        pose_recording.path, tracker=replace(pose_recording.tracker, confidence_threshold=0)
    )
    score = score_stops(raw, pose_recording.truth)
    assert score["recall"] < 0.5 and score["precision"] < 0.5


def test_frame_to_frame_speed_fails_on_keypoint_jitter(pose_recording):
    """The 0.5 s speed window is as necessary for pose data as for LMT's mask centre."""
    raw = extract_stops(
        pose_recording.path, StopParams(speed_window_s=1 / 15), tracker=pose_recording.tracker
    )
    assert score_stops(raw, pose_recording.truth)["recall"] < 0.5


def test_one_keypoint_is_enough(pose_recording, dlc_stops):
    centre = extract_stops(
        pose_recording.path, tracker=replace(pose_recording.tracker, keypoints=("centre",))
    )
    score = score_stops(centre, pose_recording.truth)
    assert score["recall"] >= 0.95 and score["precision"] >= 0.95
    assert centre.attrs["report"]["reader"]["keypoints"] == ["centre"]


# --- the centre of an animal: mean of confident keypoints, short gaps bridged ------------------


def _poses(position, confidence, fps=10.0):
    ds = movement.io.load_poses.from_numpy(
        position, confidence, individual_names=["m"], keypoint_names=["a", "b"], fps=fps
    )
    ds.attrs["source_file"] = "memory.h5"
    return ds


@pytest.fixture
def identity_calibration(tmp_path):
    """A calibration whose pixels are centimetres (corners at the floor's corners)."""
    return str(save_calibration(tmp_path / "cal.toml", [[0, 0], [50, 0], [50, 50], [0, 50]]))


def test_centre_is_the_mean_of_confident_keypoints_with_short_gaps_bridged(identity_calibration):
    n = 40
    pos = np.zeros((n, 2, 2, 1))
    pos[:, 0, 0, 0], pos[:, 1, 0, 0] = 10.0, 20.0  # keypoint a at (10, 20)
    pos[:, 0, 1, 0], pos[:, 1, 1, 0] = 14.0, 20.0  # keypoint b at (14, 20)
    conf = np.ones((n, 2, 1))
    conf[5:8, 1, 0] = 0.1  # b unsure for 3 frames: dropped, then bridged
    pos[20:30, :, 1, 0] = np.nan  # b missing for 10 frames (1 s): longer than the bridge
    params = TrackerParams("DeepLabCut", calibration=identity_calibration, bridge_gap_s=0.5)
    rec = read_tracks(_poses(pos, conf), params)
    (tr,) = rec.tracks
    assert tr.n_low_confidence == 3 and tr.n_bridged == 3 and tr.n_no_centre == 0
    np.testing.assert_allclose(tr.y_cm, 20.0, atol=1e-9)
    expected = np.full(n, 12.0)
    expected[20:30] = 10.0  # only a left: the centre moves to it
    np.testing.assert_allclose(tr.x_cm, expected, atol=1e-9)
    np.testing.assert_allclose(tr.t_s, np.arange(n) / 10.0)
    # without bridging the unsure frames keep a alone too
    rec0 = read_tracks(_poses(pos, conf), replace(params, bridge_gap_s=0))
    assert rec0.tracks[0].n_bridged == 0
    np.testing.assert_allclose(rec0.tracks[0].x_cm[5:8], 10.0)


def test_frames_without_any_keypoint_have_no_centre(identity_calibration):
    pos = np.full((30, 2, 2, 1), 25.0)
    pos[10:25] = np.nan  # 1.5 s without either keypoint: longer than the bridge
    conf = np.ones((30, 2, 1))
    rec = read_tracks(_poses(pos, conf), TrackerParams(calibration=identity_calibration))
    tr = rec.tracks[0]
    assert tr.n_no_centre == 15
    assert tr.frame.tolist() == [*range(10), *range(25, 30)]


def test_a_file_without_confidence_is_not_filtered(identity_calibration):
    pos = np.full((30, 2, 2, 1), 25.0)
    rec = read_tracks(_poses(pos, None), TrackerParams(calibration=identity_calibration))
    assert rec.tracks[0].n_low_confidence == 0 and len(rec.tracks[0].frame) == 30
    assert rec.provenance["confidence_filter"].startswith("none")


def test_the_calibration_is_projective(pose_recording):
    """Corners of the floor in the video land on the floor's corners in cm."""
    corners = np.asarray(VIDEO_CORNERS)
    pos = np.repeat(corners.T[None, :, None, :], 3, axis=0)  # 4 individuals at the 4 corners
    ds = movement.io.load_poses.from_numpy(pos, np.ones((3, 1, 4)), fps=30)
    rec = read_tracks(ds, pose_recording.tracker)
    got = [(t.x_cm[0], t.y_cm[0]) for t in rec.tracks]
    np.testing.assert_allclose(got, [(0, 0), (50, 0), (50, 50), (0, 50)], atol=1e-6)


# --- parameters and bad input: one clear error naming the file --------------------------------


def test_source_software_names():
    assert source_software_name("deeplabcut") == "DeepLabCut"
    assert source_software_name("DLC") == "DeepLabCut"
    assert source_software_name("sleap") == "SLEAP"
    assert TrackerParams("via").source_software == "VIA-tracks"
    with pytest.raises(TrackerError, match="unknown source software 'EthoVision'"):
        TrackerParams("EthoVision")


def test_parameters_are_checked():
    assert TrackerParams(keypoints="snout, centre").keypoints == ("snout", "centre")
    assert TrackerParams(keypoints="").keypoints is None
    assert TrackerParams(fps="25").fps == 25.0
    for bad in ({"fps": 0}, {"fps": "fast"}, {"confidence_threshold": -1},
                {"bridge_gap_s": float("nan")}, {"start_time": "yesterday evening"},
                {"timezone": "Mars/Olympus"}):  # fmt: skip
        with pytest.raises(TrackerError):
            TrackerParams(**bad)
    ts = TrackerParams(start_time="2024-03-01 19:00", timezone="Europe/Paris").start_timestamp()
    assert ts == pd.Timestamp("2024-03-01 18:00", tz="UTC")
    assert TrackerParams(start_time="2024-03-01T19:00+02:00").start_timestamp().hour == 17


def _error(path, tracker, **kw) -> str:
    with pytest.raises(TrackerError) as info:
        extract_stops(path, tracker=tracker, **kw)
    assert isinstance(info.value, MousestopError) and isinstance(info.value, ValueError)
    return str(info.value)


def test_a_file_movement_cannot_read(tmp_path, pose_recording):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not an HDF5 file at all")
    msg = _error(bad, pose_recording.tracker)
    assert msg.startswith(str(bad)) and "cannot read it as a DeepLabCut file" in msg
    assert sniff_source_software(bad) is None
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert _error(text, pose_recording.tracker).startswith(str(text))
    missing = tmp_path / "missing.h5"
    assert _error(missing, pose_recording.tracker) == f"{missing}: no such file"


def test_a_file_of_another_tracker(sleap_recording, pose_recording):
    path, _, _ = sleap_recording
    msg = _error(path, pose_recording.tracker)  # a SLEAP file read as DeepLabCut
    assert msg.startswith(str(path)) and "DeepLabCut" in msg


def test_missing_calibration(pose_recording, tmp_path):
    msg = _error(pose_recording.path, replace(pose_recording.tracker, calibration=None))
    assert msg.startswith(str(pose_recording.path)) and "needs a calibration" in msg
    layout_only = tmp_path / "layout.toml"
    layout_only.write_text("[floor]\nwidth_cm = 50\nheight_cm = 50\n")
    msg = _error(pose_recording.path, replace(pose_recording.tracker, calibration=layout_only))
    assert str(pose_recording.path) in msg and str(layout_only) in msg and "[video]" in msg
    gone = tmp_path / "gone.toml"
    msg = _error(pose_recording.path, replace(pose_recording.tracker, calibration=gone))
    assert str(pose_recording.path) in msg and str(gone) in msg


def test_missing_frame_rate(pose_recording, tmp_path):
    no_fps = replace(pose_recording.tracker, fps=None)
    msg = _error(pose_recording.path, no_fps)
    assert msg.startswith(str(pose_recording.path)) and "frame rate missing" in msg
    # the calibration's [video] section may give it
    cal = save_calibration(tmp_path / "cal30.toml", VIDEO_CORNERS, fps=30)
    rec = read_tracks(pose_recording.path, replace(no_fps, calibration=str(cal)), ["mouse_a"])
    assert rec.fps == 30.0 and rec.provenance["fps_from"] == "calibration"


def test_unknown_individual_and_keypoint(pose_recording):
    msg = _error(pose_recording.path, pose_recording.tracker, individuals=["mouse_z"])
    assert msg.startswith(str(pose_recording.path))
    assert "no individual 'mouse_z'" in msg and "mouse_a, mouse_b, mouse_c, mouse_d" in msg
    msg = _error(pose_recording.path, replace(pose_recording.tracker, keypoints=("nose",)))
    assert "no keypoint 'nose'" in msg and "snout, centre, tail_base" in msg


def test_an_individual_can_be_chosen(pose_recording):
    stops = extract_stops(pose_recording.path, tracker=pose_recording.tracker,
                          individuals=["mouse_c"])  # fmt: skip
    assert set(stops["name"]) == {"mouse_c"} and set(stops["animal_id"]) == {3}


def test_nwb_files_give_their_own_frame_rate(tmp_path, identity_calibration):
    from pynwb import NWBHDF5IO

    pos = np.full((50, 2, 2, 1), 25.0)
    ds = _poses(pos, np.ones((50, 2, 1)), fps=25.0)
    path = tmp_path / "m.nwb"
    with NWBHDF5IO(path, "w") as io:
        io.write(movement.io.save_poses.to_nwb_file(ds))
    params = TrackerParams("NWB", calibration=identity_calibration)
    rec = read_tracks(path, params)
    assert rec.fps == 25.0 and rec.provenance["fps_from"] == "file"
    assert rec.provenance["warnings"] == []


def test_a_given_frame_rate_wins_over_an_nwb_file_s(tmp_path, identity_calibration):
    """NWB written with timestamps 0, 1, 2... s reads as 1 fps: --fps 30 wins, with a note;
    without it, the implausible rate and the absurd speed are warned about."""
    from pynwb import NWBHDF5IO

    n = 60
    pos = np.zeros((n, 2, 2, 1))
    pos[:, 0, :, 0] = (np.arange(n) * 0.1)[:, None]  # 0.1 cm per frame: 3 cm/s at 30 fps
    ds = _poses(pos, np.ones((n, 2, 1)), fps=1.0)
    path = tmp_path / "m.nwb"
    with NWBHDF5IO(path, "w") as io:
        io.write(movement.io.save_poses.to_nwb_file(ds))
    params = TrackerParams("NWB", calibration=identity_calibration)
    rec = read_tracks(path, params)
    assert rec.fps == 1.0
    assert any("1 fps (file) is implausible" in w for w in rec.provenance["warnings"])
    rec = read_tracks(path, replace(params, fps=30))
    assert rec.fps == 30.0 and rec.provenance["fps_from"] == "given (the file says 1 fps)"
    np.testing.assert_allclose(rec.tracks[0].t_s, np.arange(n) / 30.0)
    assert [w for w in rec.provenance["warnings"] if "given 30 fps was used" in w]
    stops = extract_stops(path, tracker=replace(params, fps=30), warn=False)
    assert stops.attrs["report"]["warnings"] == rec.provenance["warnings"]
    fast = pos * 1000  # 100 cm per frame
    ds = _poses(fast, np.ones((n, 2, 1)), fps=30.0)
    rec = read_tracks(ds, TrackerParams(calibration=identity_calibration))
    assert any("median 3000 cm/s" in w for w in rec.provenance["warnings"])


def test_movement_017_dimension_names_are_read(identity_calibration):
    """movement 0.17 names the dimensions individual and keypoint: the same tracks."""
    pos = np.full((30, 2, 2, 1), 25.0)
    pos[:, 0, 0, 0] = np.linspace(10, 20, 30)
    ds = _poses(pos, np.ones((30, 2, 1)))
    params = TrackerParams(calibration=identity_calibration)
    old = read_tracks(ds, params)
    new = read_tracks(ds.rename({"individuals": "individual", "keypoints": "keypoint"}), params)
    assert new.individuals == old.individuals and new.provenance["keypoints"] == ["a", "b"]
    np.testing.assert_array_equal(new.tracks[0].x_cm, old.tracks[0].x_cm)
    np.testing.assert_array_equal(new.tracks[0].frame, old.tracks[0].frame)


def test_without_movement_the_error_names_the_extra(monkeypatch, pose_recording):
    monkeypatch.setitem(sys.modules, "movement", None)
    msg = _error(pose_recording.path, pose_recording.tracker)
    assert 'pip install "napari-mousestop[movement]"' in msg


def test_bounding_boxes_give_their_centres(tmp_path, identity_calibration):
    """VIA-tracks files (movement's bounding boxes): the box centre is the animal's centre."""
    n = 90
    pos = np.zeros((n, 2, 2))
    pos[:, :, 0] = (20.0, 15.0)  # a box resting at (20, 15) cm
    pos[:, 0, 1] = np.linspace(5.0, 45.0, n)  # a box crossing the floor at 13 cm/s
    pos[:, 1, 1] = 30.0
    ds = movement.io.load_bboxes.from_numpy(
        pos, np.full((n, 2, 2), 4.0), np.full((n, 2), 0.9), individual_names=["id_0", "id_1"]
    )
    path = tmp_path / "boxes.csv"
    movement.io.save_bboxes.to_via_tracks_file(ds, path)
    assert sniff_source_software(path) == "VIA-tracks"
    tracker = TrackerParams("VIA-tracks", fps=30, calibration=identity_calibration)
    stops = extract_stops(path, tracker=tracker)
    assert stops["name"].tolist() == ["id_0"]  # the moving box never stops
    assert stops[["x_cm", "y_cm"]].iloc[0].tolist() == pytest.approx([20.0, 15.0])
    assert stops.attrs["report"]["reader"]["centre"] == "the bounding box's centre"
    with pytest.raises(TrackerError, match="bounding boxes have no keypoints"):
        extract_stops(path, tracker=replace(tracker, keypoints=("snout",)))
