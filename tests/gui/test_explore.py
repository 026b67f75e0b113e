"""The cohort explorer in a real viewer (Xvfb): every animal at once, lit where it stopped,
labelled, clock time on the slider, hover details, a plot that follows the hour."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from napari_mousestop.datasets.dataset import Dataset, save_dataset
from napari_mousestop.datasets.mosaic import Mosaic
from napari_mousestop.gui.layers.mosaic import MOSAIC_KEY
from napari_mousestop.gui.widgets.explore import ExploreWidget, text_overlay
from napari_mousestop.io.cohort import CLASSES

pytestmark = pytest.mark.gui

N, T = 10, 3


def spotted_cohort() -> Dataset:
    """4 cages x juvenile/adult x 2 mice, each animal stopping once in a bin of its own.

    Animal k stops (a single stop) at hour ``k % 3`` in bin ``(2 + k % 6, 2 + k // 6)``; one
    animal also has a busy bin of 60 stops at hour 0, so single stops must stay visible next to
    it on the shared colour scale.
    """
    X = np.zeros((16, T, N, N), np.float32)
    cages, labels, recs, animals = [], [], [], []
    k = 0
    for c in range(4):
        sex = "M" if c < 2 else "F"
        for age in "JA":
            for m in range(2):
                X[k, k % 3, 2 + k % 6, 2 + k // 6] = 1.0
                cages.append(f"cage{c + 1}")
                labels.append(CLASSES.index(age + sex))
                recs.append(f"cage{c + 1}_{age}.sqlite")
                animals.append(f"00000{c + 1}{m}{age}")
                k += 1
    X[5, 0, 7, 7] = 60.0
    origin = "2024-01-15T22:00:00+00:00"
    return Dataset(
        X=X, labels=labels, cages=cages, recordings=recs, animals=animals,
        params={"histogram": {"interval_s": 3600.0, "n_bins": N},
                "recordings": {r: {"info": {"origin": origin}} for r in set(recs)}},
    )  # fmt: skip


@pytest.fixture
def opened(make_napari_viewer, qtbot, tmp_path):
    """A viewer (shown) with the spotted cohort opened through the reader."""
    ds = spotted_cohort()
    path = save_dataset(ds, tmp_path / "spots.npz")
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1400, 900)
    viewer.open(str(path), plugin="napari-mousestop")
    explorer = next(w for w in viewer.window.dock_widgets.values() if isinstance(w, ExploreWidget))
    viewer.reset_view()
    qtbot.wait(100)
    return SimpleNamespace(viewer=viewer, explorer=explorer, ds=ds, layer=viewer.layers["spots"])


def _shot(viewer, qtbot):
    qtbot.wait(100)
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(float)


def _screen(viewer, shot, y_cm, x_cm):
    """Pixel (row, col) of world position (y, x) in a canvas screenshot."""
    cy, cx = viewer.scene.camera.center[-2:]
    zoom = viewer.scene.camera.zoom
    h, w = shot.shape[:2]
    return int(round((y_cm - cy) * zoom + h / 2)), int(round((x_cm - cx) * zoom + w / 2))


def test_every_tile_is_lit_where_its_animal_stopped_that_hour(opened, qtbot):
    viewer, ds, layer = opened.viewer, opened.ds, opened.layer
    mosaic = Mosaic.from_dict(layer.metadata[MOSAIC_KEY])
    assert len(mosaic) == 16 and viewer.layers.index(layer) == 0
    for other in viewer.layers[1:]:  # the mosaic alone: only stops can light the canvas
        other.visible = False
    w = 50 / N
    assert viewer.scene.camera.zoom * w >= 3  # a bin is several screen pixels wide
    for hour in range(T):
        viewer.dims.set_point(0, float(hour))
        shot = _shot(viewer, qtbot)
        for tile in mosaic.tiles:
            stack = ds.X[tile.index, hour]
            # the mosaic data hold the animal's own stack at this hour
            np.testing.assert_array_equal(mosaic.tile_stack(layer.data, tile)[hour], stack)
            i, j = np.unravel_index(np.argmax(stack), stack.shape)
            r, c = _screen(viewer, shot, tile.origin_cm[0] + (i + 0.5) * w,
                           tile.origin_cm[1] + (j + 0.5) * w)  # fmt: skip
            spot = shot[r - 1 : r + 2, c - 1 : c + 2].max(axis=(0, 1))
            if stack.max() > 0:  # one single stop, next to a bin of 60: still clearly lit
                assert spot.max() > 60, (hour, tile.name, spot)
            else:
                assert spot.max() < 10, (hour, tile.name, spot)


def test_tiles_are_labelled_and_the_classes_and_cages_named(opened):
    layer, viewer = opened.layer, opened.viewer
    mosaic = Mosaic.from_dict(layer.metadata[MOSAIC_KEY])
    labels = viewer.layers["spots labels"]
    assert labels.text.visible and list(labels.text.values) == [t.text for t in mosaic.tiles]
    assert all(len(t.text) == 4 and t.animal.endswith(t.text) for t in mosaic.tiles)  # short
    captions = set(viewer.layers["spots captions"].text.values)
    assert set(CLASSES) | {f"cage{c}" for c in range(1, 5)} <= captions
    # each label sits just above its tile
    for (y, x), tile in zip(labels.data, mosaic.tiles, strict=True):
        assert x == pytest.approx(tile.origin_cm[1])
        assert tile.origin_cm[0] - mosaic.gap_cm < y < tile.origin_cm[0]
    layout = viewer.layers["spots layout"]
    assert layout.nshapes == 16 * 8  # dome, feeders, water and four walls in every tile


def test_the_slider_changes_the_canvas_and_reads_as_clock_time(opened, qtbot):
    viewer, explorer = opened.viewer, opened.explorer
    shots = []
    for hour in range(T):
        viewer.dims.set_point(0, float(hour))
        shots.append(_shot(viewer, qtbot))
        text = text_overlay(viewer).text.splitlines()[0]
        assert text == explorer.hour_label.text()
        assert explorer.hourly.cursor.get_xdata()[0] == pytest.approx(hour + 0.5)
    assert text_overlay(viewer).visible
    for a, b in ((0, 1), (1, 2)):
        assert np.abs(shots[a] - shots[b]).mean() > 0.05
    viewer.dims.set_point(0, 1.0)
    assert explorer.hour_text() == "hour 1, day 1, 23:00\u201324:00, dark"
    assert opened.layer.colorbar.visible  # in the canvas; with its units under the plot:
    units = explorer.hourly.figure.axes[1].get_xlabel()
    assert "stops per bin per hour" in units and "square-root" in units


def test_hovering_a_tile_names_the_animal_hour_and_counts(opened, qtbot):
    viewer, explorer, layer = opened.viewer, opened.explorer, opened.layer
    mosaic = Mosaic.from_dict(layer.metadata[MOSAIC_KEY])
    tile = next(t for t in mosaic.tiles if t.index == 5)  # the busy animal
    w = 50 / N
    viewer.dims.set_point(0, 0.0)
    viewer.mouse_over_canvas = True
    viewer.cursor.position = (0.0, tile.origin_cm[0] + 7.5 * w, tile.origin_cm[1] + 7.5 * w)
    qtbot.waitUntil(lambda: tile.name in str(viewer.status), timeout=5000)
    status = str(viewer.status)
    assert tile.cage in status and f"({tile.label})" in status
    assert "hour 0, day 1, 22:00\u201323:00, dark" in status
    assert status.endswith("(y 37.5, x 37.5 cm): 60 stops \u00b7 60 stops in this hour")
    viewer.dims.set_point(0, 2.0)  # its single other stop is at hour 2, elsewhere
    qtbot.waitUntil(lambda: "hour 2" in str(viewer.status), timeout=5000)
    assert str(viewer.status).endswith(": 0 stops \u00b7 1 stops in this hour")
    # between tiles: napari's own status again
    assert explorer.status_at((0.0, tile.origin_cm[0] - 1.0, tile.origin_cm[1])) is None


def test_the_plot_follows_classes_and_chosen_animals(opened):
    explorer, layer = opened.explorer, opened.layer
    mosaic = Mosaic.from_dict(layer.metadata[MOSAIC_KEY])
    lines = {line.get_label() for line in explorer.hourly.axes.get_lines()}
    assert {f"{c} (n=4)" for c in CLASSES} <= lines
    explorer.class_boxes["AF"].setChecked(False)
    lines = {line.get_label() for line in explorer.hourly.axes.get_lines()}
    assert "AF (n=4)" not in lines and "AM (n=4)" in lines
    # a click on a tile chooses its animal for the plot
    tile = mosaic.tiles[6]
    press = SimpleNamespace(type="mouse_press", position=(0.0, tile.origin_cm[0] + 20,
                                                          tile.origin_cm[1] + 20))  # fmt: skip
    explorer._on_click(layer, press)
    assert explorer.selected_tiles() == [6]
    line = next(x for x in explorer.hourly.axes.get_lines() if x.get_label() == tile.name)
    np.testing.assert_allclose(line.get_ydata(), opened.ds.X[tile.index].sum(axis=(1, 2)))
    assert len(explorer.hourly.figure.axes) == 2  # the plot and the colour bar


def test_bad_files_give_a_notification_naming_them_not_a_crash(make_napari_viewer, tmp_path):
    from napari.utils.notifications import notification_manager

    bad = tmp_path / "broken.npz"
    ds = spotted_cohort()
    arrays = {k: getattr(ds, k) for k in ("X", "cages", "recordings", "animals")}
    meta = np.array('{"format": "napari-mousestop-dataset/1"}')
    np.savez(bad, labels=ds.labels + 7, meta=meta, **arrays)  # labels out of range
    viewer = make_napari_viewer()
    before = len(notification_manager.records)
    # our one line, and no error of napari's on top (the reader says "read, no layers")
    assert viewer.open(str(bad), plugin="napari-mousestop") == []
    assert len(viewer.layers) == 0
    messages = [str(n.message) for n in notification_manager.records[before:]]
    assert any(str(bad) in m and "params" in m for m in messages), messages
    viewer.open(str(save_dataset(ds, tmp_path / "good.npz")), plugin="napari-mousestop")
    assert "good" in viewer.layers  # the viewer goes on working


def test_the_mosaic_is_the_active_layer_after_opening(opened, qtbot):
    qtbot.waitUntil(lambda: opened.viewer.layers.selection.active is opened.layer, timeout=3000)
