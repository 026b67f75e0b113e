"""A real napari viewer (under Xvfb) opening a generated recording and scrubbing hours.

``make_napari_viewer`` comes from napari's pytest plugin (entry point ``napari.utils._testsupport``,
loaded automatically); pytest-xvfb starts the virtual display.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_mousestop.datasets.dataset import Dataset, save_dataset
from napari_mousestop.gui import sample_data as _sample_data
from napari_mousestop.gui.sample_data import make_sample_cohort

pytestmark = pytest.mark.gui

HOURS = 1.05  # the recording spans hours 0 and 1


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return make_sample_cohort(tmp_path_factory.mktemp("rec"), hours=HOURS)


def _shot(viewer, qtbot):
    qtbot.wait(50)
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(float)


def test_open_recording_and_scrub_hours(make_napari_viewer, qtbot, recording):
    viewer = make_napari_viewer(show=True)
    viewer.open(str(recording), plugin="napari-mousestop")
    names = [layer.name for layer in viewer.layers]
    assert names[-1] == "cage layout"
    assert "cage01/00000903 (AF)" in names and "cage01/00000903 (AF) stops" in names
    assert tuple(viewer.dims.axis_labels) == ("hour", "y", "x")
    # the floor spans 0..50 cm in the world, whatever the histogram grid
    stack = viewer.layers["cage01/00000903 (AF)"]
    assert stack.data_to_world((0, -0.5, -0.5)) == pytest.approx((0, 0, 0))
    assert stack.data_to_world((1, 29.5, 29.5)) == pytest.approx((1, 50, 50))

    # show one animal: its stack under its stops, over the layout
    for layer in viewer.layers:
        layer.visible = layer.name.startswith("cage01/00000903") or layer.name == "cage layout"
    viewer.reset_view()
    shots = {}
    for hour in (0, 1):
        viewer.dims.set_point(0, float(hour))
        assert viewer.dims.point[0] == pytest.approx(hour)
        shots[hour] = _shot(viewer, qtbot)
    points = viewer.layers["cage01/00000903 (AF) stops"]
    hours = points.data[:, 0]
    assert {0.0, 1.0} <= set(hours)
    for img in shots.values():
        assert img.std() > 1.0  # not blank: the layout is drawn on every hour
    diff_01 = np.abs(shots[0] - shots[1]).mean()
    assert diff_01 > 0.5  # the stops and histogram change with the hour
    # the stack covers the recording, one interval per started hour
    assert stack.data.shape[0] == 2 and stack.data[0].sum() > 0 and stack.data[1].sum() > 0


def test_dataset_animals_side_by_side_in_grid(make_napari_viewer, qtbot, tmp_path):
    X = np.zeros((4, 3, 10, 10), np.float32)
    for i in range(4):
        X[i, :, i * 2, i * 2] = 5.0  # each animal stops in its own spot
    ds = Dataset(
        X=X,
        labels=np.arange(4),
        cages=np.array(["c1"] * 4),
        recordings=np.array(["c1.sqlite"] * 4),
        animals=np.array(list("abcd")),
    )
    path = save_dataset(ds, tmp_path / "d.npz")
    viewer = make_napari_viewer(show=True)
    viewer.open(str(path), plugin="napari-mousestop")
    assert [layer.name for layer in viewer.layers] == [
        "c1/a (AM)", "c1/b (JM)", "c1/c (AF)", "c1/d (JF)",
    ]  # fmt: skip
    overlaid = _shot(viewer, qtbot)
    viewer.canvas.grid.enabled = True
    viewer.reset_view()
    grid = _shot(viewer, qtbot)
    assert viewer.canvas.grid.actual_shape(viewer.layers) == (2, 2)
    # four hot bins now visible instead of one
    bright = lambda img: (img.max(axis=-1) > 200).sum()  # noqa: E731
    assert bright(grid) > bright(overlaid)


def test_sample_data_opens_through_the_reader(make_napari_viewer, monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_MOUSESTOP_CACHE", str(tmp_path))
    monkeypatch.setattr(_sample_data, "SAMPLE_HOURS", 0.02)
    viewer = make_napari_viewer()
    viewer.open_sample("napari-mousestop", "recording")
    names = [layer.name for layer in viewer.layers]
    assert names[-1] == "cage layout" and "cage01/00000901 (AM)" in names
    assert "cage01/00000904 (JF) stops" in names
    assert (tmp_path / "sample" / "cage01.sqlite").is_file()
    assert (tmp_path / "sample" / "cohort.csv").is_file()


def test_maps_file_opens_aligned_with_the_cage(make_napari_viewer, tmp_path):
    """A hot pooled pixel of a 9x9 branch map sits over the centre of the bins it looks at."""
    from napari_mousestop.explain.files import save_maps
    from napari_mousestop.explain.maps import ExplanationMap
    from napari_mousestop.io.geometry import feature_map_placement

    data = np.zeros((4, 11, 11))
    data[2, 2, 5] = 1.0
    classes = ("AM", "JM", "AF", "JF")
    placement = feature_map_placement(30, 9, 2)
    m = ExplanationMap("contribution_k9", data, placement, classes, "contribution",
                       meta={"kernel_size": 9})  # fmt: skip
    path = save_maps([m], tmp_path / "maps.nc", attrs={"primary_map": "contribution_k9"})
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-mousestop")
    layer = viewer.layers["contribution_k9"]
    _, y, x = layer.data_to_world((2, 2, 5))
    w = 50 / 30
    assert y == pytest.approx((2 * 2 + 4 + 0.5 + 0.5) * w)  # pooled row 2: bins 4..13
    assert x == pytest.approx((2 * 5 + 4 + 0.5 + 0.5) * w)
    assert tuple(layer.axis_labels) == ("class", "y", "x")
    assert [str(u) for u in layer.units][1:] == ["centimeter", "centimeter"]
