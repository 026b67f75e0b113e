"""A real napari viewer (under Xvfb) opening a generated recording and scrubbing hours, and
napari starting without a Qt deprecation toast (PyQt6).

``make_napari_viewer`` comes from napari's pytest plugin (entry point ``napari.utils._testsupport``,
loaded automatically); pytest-xvfb starts the virtual display.
"""

from __future__ import annotations

import numpy as np
import pytest
import qtpy

from napari_mousestop.gui import sample_data as _sample_data
from napari_mousestop.gui.sample_data import make_sample_cohort
from napari_mousestop.gui.widgets.explore import text_overlay

pytestmark = pytest.mark.gui

HOURS = 1.05  # the recording spans hours 0 and 1


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return make_sample_cohort(tmp_path_factory.mktemp("rec"), hours=HOURS)


def _shot(viewer, qtbot):
    qtbot.wait(50)
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(float)


def test_open_recording_and_scrub_hours(make_napari_viewer, qtbot, recording):
    from napari_mousestop.datasets.mosaic import Mosaic
    from napari_mousestop.gui.widgets.explore import ExploreWidget

    viewer = make_napari_viewer(show=True)
    viewer.open(str(recording), plugin="napari-mousestop")
    names = [layer.name for layer in viewer.layers]
    assert names == ["cage01", "cage01 stops", "cage01 layout", "cage01 labels", "cage01 captions"]
    assert tuple(viewer.dims.axis_labels) == ("hour", "y", "x")
    assert any(isinstance(w, ExploreWidget) for w in viewer.window.dock_widgets.values())
    # the animals side by side, each floor spanning 50 cm from its tile's corner
    image = viewer.layers["cage01"]
    mosaic = Mosaic.from_dict(image.metadata["mosaic"])
    assert [t.name for t in mosaic.tiles][2] == "cage01/00000903 (AF)"
    assert len({t.y0 for t in mosaic.tiles}) == 2 and len({t.x0 for t in mosaic.tiles}) == 2
    af = mosaic.tiles[2]
    corner = image.data_to_world((0, af.y0 - 0.5, af.x0 - 0.5))
    assert corner == pytest.approx((0, *af.origin_cm))
    far = image.data_to_world((1, af.y0 + 29.5, af.x0 + 29.5))
    assert far == pytest.approx((1, af.origin_cm[0] + 50, af.origin_cm[1] + 50))
    # the stack covers the recording, one interval per started hour
    assert image.data.shape[0] == 2
    assert mosaic.tile_stack(image.data, af)[0].sum() > 0
    assert mosaic.tile_stack(image.data, af)[1].sum() > 0

    viewer.reset_view()
    shots, texts = {}, {}
    for hour in (0, 1):
        viewer.dims.set_point(0, float(hour))
        assert viewer.dims.point[0] == pytest.approx(hour)
        shots[hour] = _shot(viewer, qtbot)
        texts[hour] = text_overlay(viewer).text.splitlines()[0]
    points = viewer.layers["cage01 stops"]
    assert {0.0, 1.0} <= set(points.data[:, 0])
    for img in shots.values():
        assert img.std() > 1.0  # not blank: the layout is drawn on every hour
    assert np.abs(shots[0] - shots[1]).mean() > 0.5  # the stops and histogram change
    # the sample starts at 05:00 UTC; the default light cycle switches on at 07:00
    assert texts == {
        0: "hour 0, day 1, 05:00\u201306:00, dark",
        1: "hour 1, day 1, 06:00\u201307:00, dark",
    }


def test_sample_data_opens_through_the_reader(make_napari_viewer, monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_MOUSESTOP_CACHE", str(tmp_path))
    monkeypatch.setattr(_sample_data, "SAMPLE_HOURS", 0.02)
    viewer = make_napari_viewer()
    viewer.open_sample("napari-mousestop", "recording")
    names = [layer.name for layer in viewer.layers]
    assert names[:3] == ["cage01", "cage01 stops", "cage01 layout"]
    tiles = [t["name"] for t in viewer.layers["cage01"].metadata["tiles"]]
    assert tiles[0] == "cage01/00000901 (AM)" and tiles[-1] == "cage01/00000904 (JF)"
    assert (tmp_path / "sample" / "cage01.sqlite").is_file()
    assert (tmp_path / "sample" / "cohort.csv").is_file()


@pytest.mark.skipif(qtpy.API_NAME != "PyQt6", reason="napari warns about PyQt5 on purpose")
def test_no_qt_deprecation_toast_at_start(make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    before = len(notification_manager.records)
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari", "camera")  # anything: the window is up and drawn
    qtbot.wait(200)
    messages = [str(n.message) for n in notification_manager.records[before:]]
    assert not [m for m in messages if "PyQt5" in m or "deprecated" in m], messages


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
    layer = viewer.layers["contribution_k9: classes"]  # the classes side by side, 2 x 2
    cell = next(c for c in layer.metadata["cells"] if c["class"] == "AF")
    oy, ox = cell["origin_cm"]  # AF's floor: its panel's place in the mosaic
    sy, sx = layer.scale
    row, col = 2 + oy / sy, 5 + ox / sx  # AF's pooled pixel (2, 5) in the mosaic
    assert layer.data[round(row), round(col)] == 1.0
    y, x = layer.data_to_world((row, col))
    w = 50 / 30
    assert y - oy == pytest.approx((2 * 2 + 4 + 0.5 + 0.5) * w)  # pooled row 2: bins 4..13
    assert x - ox == pytest.approx((2 * 5 + 4 + 0.5 + 0.5) * w)
    assert tuple(layer.axis_labels) == ("y", "x")
    assert [str(u) for u in layer.units] == ["centimeter", "centimeter"]
