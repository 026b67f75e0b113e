"""Other trackers in napari: the reader opens DeepLabCut files beside a calibration, the Extract
widget reads tracker files and layers of movement's own plugin, the Calibrate widget saves the
floor's corners drawn on a video frame."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from napari_mousestop.datasets.mosaic import Mosaic
from napari_mousestop.gui import reader as _reader
from napari_mousestop.gui.reader import EXPLAINED, get_reader
from napari_mousestop.gui.widgets.calibrate import CORNERS_LAYER, CalibrateWidget
from napari_mousestop.gui.widgets.extract import ExtractWidget
from napari_mousestop.histograms import HistogramParams, bin_recording
from napari_mousestop.io.geometry import CageGeometry
from napari_mousestop.io.layout import load_calibration, save_calibration
from napari_mousestop.stops import extract_stops
from napari_mousestop.synthetic.poses import VIDEO_CORNERS, generate_pose_cohort

pytestmark = pytest.mark.gui


@pytest.fixture
def notes(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(_reader, "_notify", seen.append)
    return seen


@pytest.fixture
def dlc_folder(tmp_path, pose_recording):
    """The DeepLabCut recording in a folder of its own with a cage_layout.toml calibration."""
    shutil.copy(pose_recording.path, tmp_path / "cage.h5")
    save_calibration(tmp_path / "cage_layout.toml", VIDEO_CORNERS, fps=30)
    return tmp_path


def _by_name(layers):
    return {kw["name"]: (data, kw, kind) for data, kw, kind in layers}


def _tile_stacks(data, kw) -> dict:
    """Each animal's stack in a mosaic layer, by its name ``"cage/animal (class)"``."""
    mosaic = Mosaic.from_dict(kw["metadata"]["mosaic"])
    return {t.name: mosaic.tile_stack(np.asarray(data), t) for t in mosaic.tiles}


def test_reader_opens_a_deeplabcut_file_beside_its_calibration(dlc_folder, notes):
    path = str(dlc_folder / "cage.h5")
    layers = get_reader(path)(path)
    assert notes == []
    named = _by_name(layers)
    assert {"cage", "cage stops", "cage layout"} <= set(named)
    animals = ["mouse_a", "mouse_b", "mouse_c", "mouse_d"]
    # an open field: its floor's outline, not LMT's dome, feeders and water; whole names
    walls = {f"wall ({w})" for w in ("top", "right", "bottom", "left")}
    assert set(named["cage layout"][1]["features"]["name"]) == walls
    assert sorted(named["cage labels"][1]["features"]["text"]) == animals
    stacks = _tile_stacks(*named["cage"][:2])
    assert sorted(stacks) == [f"cage/{a}" for a in animals]
    kw = named["cage"][1]
    assert kw["scale"][1:] == pytest.approx((50 / 30, 50 / 30))
    assert all(t["clock"] is None for t in kw["metadata"]["tiles"])  # no clock time in a .h5
    stack = stacks["cage/mouse_b"]
    assert stack.shape == (1, 30, 30)
    tracker = _reader.tracker_settings(path)
    assert tracker.source_software == "DeepLabCut" and tracker.fps is None  # from [video]
    stops = extract_stops(path, tracker=tracker)
    rs = bin_recording(stops, HistogramParams(n_intervals=1), CageGeometry())
    np.testing.assert_array_equal(stack, rs.stacks[1])
    points, pkw, _ = named["cage stops"]
    mine = (pkw["features"]["name"] == "mouse_b").to_numpy()
    assert mine.sum() == stack.sum() > 0
    # every stop within its own tile's floor (1 cm of slack for stops on the wall)
    floor = points[mine, 1:] - pkw["features"].loc[mine, ["tile_y_cm", "tile_x_cm"]].to_numpy()
    assert (floor >= -1).all() and (floor <= 51).all()


def test_a_cohort_csv_beside_names_cage_and_classes(dlc_folder, notes):
    pd.DataFrame(
        {
            "database": "cage.h5",
            "animal": ["A1", "A2", "A3", "A4"],
            "cage": "cage07",
            "sex": "F",
            "age": "P40",
            "source_software": "DeepLabCut",
            "individual": ["mouse_a", "mouse_b", "mouse_c", "mouse_d"],
            "fps": 30,
            "calibration": "cage_layout.toml",
        }  # fmt: skip
    ).to_csv(dlc_folder / "cohort.csv", index=False)
    path = str(dlc_folder / "cage.h5")
    named = _by_name(get_reader(path)(path))
    stacks = _tile_stacks(*named["cage"][:2])
    assert sorted(stacks) == [f"cage07/mouse_{a} (JF)" for a in "abcd"]


def test_without_a_calibration_the_reader_says_where_to_put_one(tmp_path, pose_recording, notes):
    path = str(tmp_path / "cage.h5")
    shutil.copy(pose_recording.path, path)
    reader = get_reader(path)
    assert reader is not None  # a DeepLabCut file: ours to explain
    assert reader(path) == EXPLAINED  # napari adds nothing and shows no error of its own
    assert len(notes) == 1 and notes[0].startswith(path) and "cage_layout.toml" in notes[0]


def test_reader_leaves_other_h5_and_csv_files_alone(tmp_path):
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    assert get_reader(str(tmp_path / "other.h5")) is None
    assert get_reader(str(tmp_path / "table.csv")) is None


def test_the_video_frame_is_shown_under_the_stops(dlc_folder, notes):
    from skimage.io import imsave

    frame = np.zeros((424, 512), np.uint8)
    frame[40:372, 102:430] = 200  # roughly the floor
    imsave(dlc_folder / "frame0.png", frame, check_contrast=False)
    save_calibration(dlc_folder / "cage_layout.toml", VIDEO_CORNERS, fps=30, frame="frame0.png")
    path = str(dlc_folder / "cage.h5")
    layers = get_reader(path)(path)
    assert notes == []
    frames = layers[:4]  # under each animal's tile
    assert all(kw["name"] == "video frame" and kind == "image" for _, kw, kind in frames)
    assert frames[0][1]["metadata"]["corners_px"] == [list(c) for c in VIDEO_CORNERS]
    mosaic = Mosaic.from_dict(layers[4][1]["metadata"]["mosaic"])
    assert layers[4][1]["name"] == "cage" and len(mosaic.tiles) == 4
    # each frame sits on a tile's floor: translate = tile origin + the same warp offset
    translates = np.array(sorted(tuple(kw["translate"]) for _, kw, _ in frames))
    origins = np.array(sorted(t.origin_cm for t in mosaic.tiles))
    np.testing.assert_allclose(translates - origins, np.repeat(translates[:1] - origins[:1], 4, 0))


# --- Extract widget ------------------------------------------------------------------------------


def _extract(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = ExtractWidget(viewer)
    viewer.window.add_dock_widget(widget, name="extract")
    widget.hist.n_intervals.value = 1
    widget.hist.n_bins.value = 10
    return viewer, widget


def test_extract_widget_reads_tracker_files(make_napari_viewer, qtbot, pose_recording):
    viewer, widget = _extract(make_napari_viewer)
    widget.input_kind.value = "tracker files"
    inputs = (widget.files, widget.tracker_files, widget.tracker_box, widget.points_layer)
    shown = [w for w in inputs if not w.native.isHidden()]
    assert shown == [widget.tracker_files, widget.tracker_box]
    widget.tracker_files.value = [str(pose_recording.path)]
    widget.calibration.value = str(pose_recording.calibration)
    widget.tracker.fps.value = "30"
    widget.tracker.keypoints.value = "centre, tail_base"
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert widget.status.text().startswith("1 recording(s) extracted"), widget.status.text()
    layer = viewer.layers["cage_dlc"]
    assert layer.metadata["stop_params"]["speed_window_s"] == 0.5
    stacks = _tile_stacks(layer.data, {"metadata": layer.metadata})
    stops = viewer.layers["cage_dlc stops"]
    mine = stops.features["name"] == "mouse_c"
    assert mine.sum() == stacks["cage_dlc/mouse_c"].sum() > 0
    assert len(stops.data) == layer.data.sum()
    assert "cage_dlc layout" in viewer.layers


def test_extract_widget_reads_a_layer_of_movements_plugin(
    make_napari_viewer, qtbot, pose_recording, tmp_path
):
    """movement's loader widget adds the file as a Points layer; the Extract widget reads that
    layer into the very stops it reads from the file."""
    from movement.napari.loader_widgets import DataLoader

    from napari_mousestop.synthetic.poses import generate_pose_recording

    path = tmp_path / "short.h5"
    generate_pose_recording(path, hours=0.2, individuals=("mouse_a", "mouse_d"), seed=5)
    viewer, widget = _extract(make_napari_viewer)
    loader = DataLoader(viewer)
    loader.source_software_combo.setCurrentText("DeepLabCut")
    loader.fps_spinbox.setValue(30)
    loader.file_path_edit.setText(str(path))
    loader._on_load_clicked()
    name = "points: short.h5"
    assert name in viewer.layers
    widget.input_kind.value = "movement layer"
    assert widget.points_layer.value is viewer.layers[name]
    widget.calibration.value = str(pose_recording.calibration)  # fps: from the layer's times
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert widget.status.text().startswith("1 recording(s) extracted"), widget.status.text()
    from_file = extract_stops(path, tracker=pose_recording.tracker)
    assert len(from_file) > 10
    features = viewer.layers["short stops"].features
    for animal in ("mouse_a", "mouse_d"):
        got = features[features["name"] == animal]
        want = from_file[from_file["name"] == animal]
        np.testing.assert_array_equal(got["start_frame"], want["start_frame"])
        np.testing.assert_array_equal(got["end_frame"], want["end_frame"])


def test_extract_widget_reads_a_mixed_cohort(make_napari_viewer, qtbot, tmp_path, small_cohort):
    rows = generate_pose_cohort(tmp_path, cages=(9,), hours=0.05, mice_per_cage=2, seed=1)
    lmt = pd.read_csv(small_cohort.cohort_csv, dtype=str).head(4)  # cage01 juvenile
    lmt["database"] = [str(small_cohort.cohort_csv.parent / d) for d in lmt["database"]]
    cohort = pd.concat([lmt, rows]).astype(str).replace("nan", "")
    cohort.to_csv(tmp_path / "cohort.csv", index=False)
    viewer, widget = _extract(make_napari_viewer)
    widget.input_kind.value = "cohort CSV"
    widget.cohort.value = str(tmp_path / "cohort.csv")
    widget.dataset_file.value = str(tmp_path / "ds.npz")
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert widget.status.text().startswith("3 recording(s) extracted"), widget.status.text()
    mosaics = [ly for ly in viewer.layers if "mosaic" in ly.metadata]
    tiles = {
        name
        for ly in mosaics
        for name in _tile_stacks(ly.data, {"metadata": ly.metadata})
    }
    assert {"cage09/c9A (JM)", "cage09/c9B (AM)"} <= tiles
    assert sorted(set(widget.dataset.cages)) == ["cage01", "cage09"]
    assert len(widget.dataset) == 4 + 4


# --- Calibrate widget -----------------------------------------------------------------------------


def test_calibrate_widget_saves_corners_in_the_frames_pixels(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((424, 512)), name="frame", scale=(0.5, 0.5), translate=(10, 20))
    widget = CalibrateWidget(viewer)
    assert widget.image.value is viewer.layers["frame"]
    layer = widget.place_corners()
    assert layer.name == CORNERS_LAYER and layer.mode == "add"
    corners = np.asarray(VIDEO_CORNERS)  # (x, y) pixels
    layer.data = np.column_stack([10 + 0.5 * corners[:, 1], 20 + 0.5 * corners[:, 0]])  # world
    widget.fps.value = "25"
    widget.out.value = str(tmp_path / "cal.toml")
    path = widget.save()
    cal = load_calibration(path)
    np.testing.assert_allclose(cal.video.corners_px, corners)
    assert cal.video.fps == 25.0 and cal.names == [f"wall ({w})" for w in
                                                   ("top", "right", "bottom", "left")]


def test_calibrate_widget_refuses_three_corners(make_napari_viewer, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("napari_mousestop.gui.widgets.calibrate.notify_error", shown.append)
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((100, 100)), name="frame")
    widget = CalibrateWidget(viewer)
    widget.place_corners().data = np.array([[1.0, 1.0], [1.0, 90.0], [90.0, 90.0]])
    widget.out.value = str(tmp_path / "cal.toml")
    assert widget.save() is None
    assert "click exactly four corners" in widget.status.text() and len(shown) == 1
    assert not (tmp_path / "cal.toml").exists()
