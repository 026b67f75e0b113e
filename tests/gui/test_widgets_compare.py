"""Class comparison widget: the four class maps in a 2x2 grid (AM JM / AF JF), in cm."""

from __future__ import annotations

import numpy as np
import pytest
from _widget_data import saved_dataset, saved_model

from napari_mousestop.explain.maps import activation_maps, contribution_maps
from napari_mousestop.gui.widgets.compare import CompareWidget
from napari_mousestop.io.geometry import feature_map_placement
from napari_mousestop.learning.checkpoint import load_checkpoint

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    ds, path = saved_dataset(tmp)
    return ds, path, saved_model(tmp, ds, epochs=3)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, trained):
    """A run folder with its fold models (4 cages: 4 folds) and final model."""
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.report import train_and_report

    ds, path, _ = trained
    run = tmp_path_factory.mktemp("compare_run") / "run"
    train_and_report(ds, run, TrainConfig(epochs=3, seed=0), n_permutations=20, dataset_path=path)
    return run


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
    contrib = {m.name: m for m in contribution_maps(ckpt.model, ds.X, ckpt.scaler,
                                                     baseline="empty")}  # fmt: skip
    k9 = contrib["contribution_k9"]
    am, af = ds.class_names == "AM", ds.class_names == "AF"
    np.testing.assert_allclose(viewer.layers[names[0]].data, k9.data[am, 0].mean(0), rtol=1e-5)
    assert tuple(viewer.layers[names[0]].translate) == pytest.approx(k9.placement.translate)
    diff = viewer.layers["compare AF - AM"]
    # the difference is the AF panel minus the AM panel: red where AF is higher
    np.testing.assert_allclose(
        diff.data, k9.data[af, 2].mean(0) - k9.data[am, 0].mean(0), rtol=1e-4, atol=1e-6
    )
    assert diff.metadata["legend"]["red"] == "AF higher than AM"
    assert not widget.legend.isHidden()
    assert (
        widget.legend.red.text() == "red: AF higher"
        and widget.legend.blue.text() == "blue: AM higher"
    )
    assert widget.maps.mask is not None and widget.maps.mask.shape == (1, *diff.data.shape)
    shapes = viewer.layers["compare AF - AM significant"]
    n_layout = len(viewer.layers["compare AM layout"].data)
    assert len(shapes.data) == n_layout + int(widget.maps.mask.sum())
    assert "in sample" in widget.status.text()


def test_run_folder_gives_out_of_fold_evidence(make_napari_viewer, qtbot, trained, run_folder):
    from napari_mousestop.explain.run import out_of_fold
    from napari_mousestop.learning.report import load_run

    ds, path, _ = trained
    viewer = make_napari_viewer()
    widget = CompareWidget(viewer)
    widget.dataset_file.value = path
    widget.run_dir.value = str(run_folder)
    widget.kind.value, widget.branch.value = "contribution", 3
    widget.difference.value, widget.class_a.value, widget.class_b.value = True, "JF", "JM"
    widget.n_permutations.value = 20
    assert widget.legend.isHidden()  # nothing to explain yet
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    run = load_run(run_folder)
    oof = {m.name: m for m in out_of_fold(run.folds, ds.X, which=("contribution",))}
    k3 = oof["contribution_k3"]
    jf, jm = ds.class_names == "JF", ds.class_names == "JM"
    jf_layer = next(lyr for lyr in viewer.layers if lyr.name.startswith("compare JF ("))
    np.testing.assert_allclose(jf_layer.data, k3.data[jf, 3].mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        viewer.layers["compare JF - JM"].data,
        k3.data[jf, 3].mean(0) - k3.data[jm, 1].mean(0),
        rtol=1e-4,
        atol=1e-6,
    )
    assert "out of fold" in widget.status.text()
    assert widget.legend.red.text() == "red: JF higher"
    # activations still come from the run's final model
    widget.kind.value, widget.difference.value = "activation", False
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert "final model" in widget.status.text() and widget.legend.isHidden()


def test_missing_model_is_reported(make_napari_viewer, trained, monkeypatch):
    viewer = make_napari_viewer()
    widget = CompareWidget(viewer)
    widget.dataset_file.value = trained[1]
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    assert widget.run() is None
    assert shown == ["choose a run folder or a model file (.pt)"]


def test_branches_and_channels_follow_the_model(make_napari_viewer, qtbot, tmp_path, trained):
    """A model trained with other kernels and channels (the Train widget allows it) is shown
    with its own branches and channel range, not the paper's 3x3/9x9 and 16 channels."""
    from napari_mousestop.learning.checkpoint import save_checkpoint
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.training import train_final

    ds, path, _ = trained
    config = TrainConfig(epochs=1, channels=4, kernel_sizes=(3, 5), seed=0)
    model = str(save_checkpoint(tmp_path / "m35.pt", train_final(ds, config)))
    viewer, widget = _run(make_napari_viewer, qtbot, (ds, path, model), branch=3, channel=1)
    assert list(widget.branch.choices) == [3, 5] and widget.channel.max == 3
    assert viewer.layers[0].data.shape == widget.maps.averages.shape[2:]
    widget.branch.value = 5
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.maps.kernel_size == 5 and widget.maps.n_channels == 4
