"""A maps file opened in napari: every class on the canvas with its name, the differences
beside them, and every slider moving what its name says (checked on the drawn canvas)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mousestop.explain.files import save_maps
from napari_mousestop.explain.maps import ExplanationMap
from napari_mousestop.gui.widgets.maps import MapsWidget
from napari_mousestop.io.geometry import feature_map_placement

pytestmark = pytest.mark.gui

CLASSES = ("KO", "WT", "HET")
CONTRASTS = ("KO - WT", "HET - WT")


def _maps_file(folder, classes=CLASSES):
    """A small maps file as `mousestop explain` writes it: class panels (each class its own
    level), differences with significant pixels, per-channel activations."""
    k = len(classes)
    pooled = feature_map_placement(30, 9, 2)
    ramp = np.linspace(0, 1, 11)[None, :] * np.ones((11, 1))
    panels = np.stack([(i + 1) * (1 + ramp) for i in range(k)])
    meta = {"n_per_class": [3 + i for i in range(k)], "units": "logit"}
    occ = ExplanationMap("occlusion_space", panels, pooled, classes, "occlusion", meta=meta)
    diff = np.stack([np.full((11, 11), -1.0), np.full((11, 11), 2.0)])
    legends = {c: {"red": f"{c.split(' - ')[0]} higher", "blue": f"{c.split(' - ')[1]} higher"}
               for c in CONTRASTS}  # fmt: skip
    diff_map = ExplanationMap("occlusion_space_difference", diff, pooled, CONTRASTS, "difference",
                              ("contrast", "y", "x"), {"legends": legends})  # fmt: skip
    mask = np.zeros((2, 11, 11), bool)
    mask[1, 2:4, 5] = True
    sig = ExplanationMap("occlusion_space_significant", mask, pooled, CONTRASTS, "mask",
                         ("contrast", "y", "x"))  # fmt: skip
    act = np.stack([[np.full((14, 14), 1.0 + c + 4 * i) for c in range(3)] for i in range(k)])
    activation = ExplanationMap("activation_k3_pool", act, feature_map_placement(30, 3, 2),
                                classes, "activation", ("class", "channel", "y", "x"),
                                {"kernel_size": 3, "layer": "pool"})  # fmt: skip
    per_animal = ExplanationMap("occlusion_space_per_animal", np.ones((4, k, 11, 11)), pooled,
                                classes, "occlusion", ("sample", "class", "y", "x"))  # fmt: skip
    return save_maps([occ, diff_map, sig, activation, per_animal], folder / "maps.nc",
                     attrs={"primary_map": "occlusion_space"})  # fmt: skip


@pytest.fixture
def opened(make_napari_viewer, qtbot, tmp_path):
    path = _maps_file(tmp_path)
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1400, 900)
    viewer.open(str(path), plugin="napari-mousestop")
    dock = next(w for w in viewer.window.dock_widgets.values() if isinstance(w, MapsWidget))
    viewer.reset_view()
    qtbot.wait(100)
    return viewer, dock


def _shot(viewer, qtbot):
    qtbot.wait(50)
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(float)


def _screen(viewer, shot, y_cm, x_cm):
    """Pixel (row, col) of world position (y, x) in a canvas screenshot."""
    cy, cx = viewer.scene.camera.center[-2:]
    zoom = viewer.scene.camera.zoom
    h, w = shot.shape[:2]
    return int(round((y_cm - cy) * zoom + h / 2)), int(round((x_cm - cx) * zoom + w / 2))


def _sliders(viewer):
    """The sliders napari shows: name -> number of steps."""
    dims = viewer.dims
    return {dims.axis_labels[i]: dims.nsteps[i] for i in dims.not_displayed if dims.nsteps[i] > 1}


def _white_texts(viewer, suffix):
    layer = next(lyr for lyr in viewer.layers if lyr.name.endswith(suffix))
    f = layer.features
    white = (f["ink"] == "white").to_numpy()
    return list(f["text"][white]), layer.data[white]


def test_every_class_is_on_the_canvas_with_its_name(opened, qtbot):
    viewer, _ = opened
    names = [lyr.name for lyr in viewer.layers]
    assert names[0] == "occlusion_space: classes"  # the primary map, alone
    assert not any("activation" in n or "per_animal" in n for n in names)
    cells = viewer.layers[0].metadata["cells"]
    assert [c["class"] for c in cells] == list(CLASSES)
    # side by side: one row for three classes
    assert len({c["origin_cm"][0] for c in cells}) == 1
    assert len({c["origin_cm"][1] for c in cells}) == 3
    texts, where = _white_texts(viewer, ": labels")
    shot = _shot(viewer, qtbot)
    centre = []
    for i, cell in enumerate(cells):
        label = f"{CLASSES[i]} (n={3 + i})"
        assert cell["label"] == label
        # the name is written just above its own panel
        y, x = where[texts.index(label)]
        oy, ox = cell["origin_cm"]
        assert oy - 6 < y <= oy and ox - 1 <= x < ox + 25
        # and the panel is drawn: its centre is lit, in a colour of its own
        r, c = _screen(viewer, shot, oy + 25, ox + 25)
        assert shot[r, c].sum() > 0
        centre.append(tuple(shot[r, c]))
    assert len(set(centre)) == len(CLASSES)
    # the shared colour scale's ends, in the map's units
    assert {"+1 logit", "+6 logit"} <= set(texts)


def test_every_slider_moves_what_its_name_says(opened, qtbot):
    viewer, dock = opened
    diff = next(lyr for lyr in viewer.layers if lyr.name.endswith(": difference"))
    oy, ox = diff.metadata["origin_cm"]
    steps = _sliders(viewer)
    assert steps == {"contrast": 2}
    axis = list(viewer.dims.axis_labels).index("contrast")
    seen = []
    for k, name in enumerate(CONTRASTS):
        viewer.dims.set_current_step(axis, k)
        shot = _shot(viewer, qtbot)
        r, c = _screen(viewer, shot, oy + 25, ox + 25)
        seen.append(tuple(shot[r, c]))
        # the contrast's name and what red and blue mean are written on this step only
        layer = next(lyr for lyr in viewer.layers if lyr.name.endswith(": contrast labels"))
        shown = {t for t, p in zip(layer.features["text"], layer.data, strict=True)
                 if p[0] == k}  # fmt: skip
        assert f"{name} (difference)" in shown
        assert any(t.startswith("red") and f"{name.split(' - ')[0]} higher" in t for t in shown)
    # contrast 0 is negative everywhere (blue), contrast 1 positive (red)
    assert seen[0][2] > seen[0][0] and seen[1][0] > seen[1][2]
    rings = next(lyr for lyr in viewer.layers if lyr.name.endswith(": significant"))
    assert set(rings.data[:, 0]) == {1.0}  # the significant pixels of contrast 1 only

    # the Maps dock switches to the activations: a slider named channel moves every panel
    assert dock.map.findText("activation after pooling") >= 0
    dock.map.setCurrentText("activation after pooling")
    assert dock.branch.currentText() == "3x3"
    names = [lyr.name for lyr in viewer.layers]
    assert names[0] == "activation_k3_pool: classes"
    assert not any(n.startswith("occlusion_space") for n in names)
    steps = _sliders(viewer)
    assert steps == {"channel": 3}
    axis = list(viewer.dims.axis_labels).index("channel")
    cells = viewer.layers[0].metadata["cells"]
    before = None
    for ch in range(3):
        viewer.dims.set_current_step(axis, ch)
        shot = _shot(viewer, qtbot)
        now = [tuple(shot[_screen(viewer, shot, c["origin_cm"][0] + 25, c["origin_cm"][1] + 25)])
               for c in cells]  # fmt: skip
        assert len(set(now)) == len(CLASSES)  # every class its own panel
        if before is not None:
            assert all(a != b for a, b in zip(now, before, strict=True))  # every panel moved
        before = now


@pytest.mark.parametrize("classes", [("KO", "WT"), ("AM", "JM", "AF", "JF")], ids=len)
def test_class_panels_fit_their_number(tmp_path, classes):
    from napari_mousestop.gui.reader import get_reader

    path = _maps_file(tmp_path, classes)
    layers = get_reader(str(path))(str(path))
    cells = layers[0][1]["metadata"]["cells"]
    rows = len({c["origin_cm"][0] for c in cells})
    cols = len({c["origin_cm"][1] for c in cells})
    assert (rows, cols) == ((2, 2) if len(classes) == 4 else (1, len(classes)))
