"""Class comparison widget: the four class maps in a 2x2 grid (AM JM / AF JF), in cm."""

from __future__ import annotations

import numpy as np
import pytest
from _widget_data import saved_dataset, saved_model

from napari_mousestop.explain import activation_maps, contribution_maps
from napari_mousestop.geometry import feature_map_placement
from napari_mousestop.gui.widgets import CompareWidget
from napari_mousestop.training import load_checkpoint

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    ds, path = saved_dataset(tmp)
    return ds, path, saved_model(tmp, ds, epochs=3)


def _run(make_napari_viewer, qtbot, trained, **values):
    ds, path, model = trained
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((3, 8, 8)), name="some other layer")
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget, name="compare")
    widget.dataset_file.value = path
    widget.model_file.value = model
    for key, value in values.items():
        getattr(widget, key).value = value
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    return viewer, widget


def test_activation_maps_in_a_2x2_grid_over_the_layout(make_napari_viewer, qtbot, trained):
    ds, _, model = trained
    viewer, widget = _run(make_napari_viewer, qtbot, trained, channel=2)
    names = [layer.name for layer in viewer.layers]
    assert [n.split(" (")[0] for n in names[:8:2]] == [f"compare {c}" for c in
                                                      ("AM", "JM", "AF", "JF")]  # fmt: skip
    assert names[1:8:2] == [f"compare {c} layout" for c in ("AM", "JM", "AF", "JF")]
    grid = viewer.canvas.grid
    assert grid.enabled and grid.stride == 2
    where = {names[i].split(" (")[0]: grid.position(i, viewer.layers) for i in range(0, 8, 2)}
    assert where == {"compare AM": (0, 0), "compare JM": (0, 1), "compare AF": (1, 0),
                     "compare JF": (1, 1)}  # fmt: skip
    # each map sits over the cage layout in cm: pixel centres of a valid 3x3 conv
    placement = feature_map_placement(14, 3, 1)
    am = viewer.layers[names[0]]
    assert tuple(am.scale) == pytest.approx(placement.scale)
    assert tuple(am.translate) == pytest.approx(placement.translate)
    assert not viewer.layers["some other layer"].visible  # hidden while the grid is on

    # values: the class average of channel 2 of the 3x3 branch after ReLU
    ckpt = load_checkpoint(model)
    maps = {m.name: m for m in activation_maps(ckpt.model, ds.X, ckpt.scaler)}
    relu = maps["activation_k3_relu"].data
    for i, cls in enumerate(("AM", "JM", "AF", "JF")):
        expected = relu[ds.class_names == cls, 2].mean(0)
        np.testing.assert_allclose(viewer.layers[names[2 * i]].data, expected, rtol=1e-5)

    # a new channel replaces the data of the same layers, in place
    layers = [viewer.layers[n] for n in names[:8:2]]
    widget.channel.value = 7
    assert [viewer.layers[n] for n in names[:8:2]] == layers
    np.testing.assert_allclose(layers[3].data, relu[ds.class_names == "JF", 7].mean(0), rtol=1e-5)
    lo, hi = layers[0].contrast_limits
    assert lo <= min(lyr.data.min() for lyr in layers) and hi >= max(
        lyr.data.max() for lyr in layers
    )

    widget.grid.value = False
    assert not grid.enabled and viewer.layers["some other layer"].visible


def test_contribution_difference_with_significance(make_napari_viewer, qtbot, trained):
    ds, _, model = trained
    viewer, widget = _run(make_napari_viewer, qtbot, trained, kind="contribution", branch=9,
                          difference=True, class_a="AF", class_b="AM",
                          n_permutations=50)  # fmt: skip
    names = [layer.name for layer in viewer.layers]
    assert names[8:10] == ["compare AF - AM", "compare AF - AM significant"]
    assert viewer.canvas.grid.position(8, viewer.layers) == (2, 0)
    assert not widget.channel.enabled  # evidence maps have no channel axis
    # contribution of the 9x9 branch for class AM, averaged over AM animals, pooled placement
    ckpt = load_checkpoint(model)
    contrib = {m.name: m for m in contribution_maps(ckpt.model, ds.X, ckpt.scaler)}
    k9 = contrib["contribution_k9"]
    am = ds.class_names == "AM"
    np.testing.assert_allclose(viewer.layers[names[0]].data, k9.data[am, 0].mean(0), rtol=1e-5)
    assert tuple(viewer.layers[names[0]].translate) == pytest.approx(k9.placement.translate)
    diff = viewer.layers["compare AF - AM"]
    assert diff.data.shape == k9.data.shape[2:]
    assert widget.maps.mask is not None and widget.maps.mask.shape == (1, *diff.data.shape)
    shapes = viewer.layers["compare AF - AM significant"]
    n_layout = len(viewer.layers["compare AM layout"].data)
    assert len(shapes.data) == n_layout + int(widget.maps.mask.sum())


def test_missing_model_is_reported(make_napari_viewer, trained, monkeypatch):
    viewer = make_napari_viewer()
    widget = CompareWidget(viewer)
    widget.dataset_file.value = trained[1]
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    assert widget.run() is None
    assert shown == ["choose a model file (.pt)"]
