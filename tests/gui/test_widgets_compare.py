"""Class comparison widget: class panels side by side (any number of classes), named on the
canvas, with the difference beside them on its own scale."""

from __future__ import annotations

import numpy as np
import pytest
from _widget_data import saved_dataset, saved_model, tiny_dataset

from napari_mousestop.datasets.dataset import Dataset, save_dataset
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


def _run(make_napari_viewer, qtbot, trained, show=False, **values):
    ds, path, model = trained
    viewer = make_napari_viewer(show=show)
    viewer.add_image(np.zeros((3, 8, 8)), name="some other layer")
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget, name="compare")
    widget.dataset_file.value = path
    widget.model_file.value = model
    for key, value in values.items():
        getattr(widget, key).value = value
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.maps is not None, widget.status.text()
    return viewer, widget


def _layer(viewer, suffix):
    return next(lyr for lyr in viewer.layers if lyr.name.endswith(suffix))


def _texts(viewer):
    """The white texts written on the canvas (their black outlines are the same texts)."""
    labels = _layer(viewer, ": labels")
    f = labels.features
    return list(f["text"][f["ink"] == "white"])


def _cell(layer, cell, placement):
    """The pixels of one class's panel in the classes image (last two axes)."""
    y0 = int(round(cell["origin_cm"][0] / placement.scale[0]))
    x0 = int(round(cell["origin_cm"][1] / placement.scale[1]))
    return y0, x0


def test_activation_panels_named_over_the_layout_and_the_channel_slider(
    make_napari_viewer, qtbot, trained
):
    ds, _, model = trained
    viewer, widget = _run(make_napari_viewer, qtbot, trained, show=True, channel=2)
    classes = _layer(viewer, ": classes")
    assert classes.name == "compare activation 3x3: classes"
    cells = classes.metadata["cells"]
    assert [c["label"] for c in cells] == [f"{c} (n=4)" for c in ("AM", "JM", "AF", "JF")]
    # four classes: a 2 x 2 grid (AM JM / AF JF), each name written above its panel
    ys = sorted({c["origin_cm"][0] for c in cells})
    xs = sorted({c["origin_cm"][1] for c in cells})
    assert len(ys) == 2 and len(xs) == 2
    assert set(_texts(viewer)) >= {c["label"] for c in cells}
    assert not viewer.layers["some other layer"].visible  # it would lie under the panels
    # each panel sits over the cage layout in cm: pixel centres of a valid 3x3 conv
    placement = feature_map_placement(14, 3, 1)
    assert tuple(classes.scale[-2:]) == pytest.approx(placement.scale)
    assert tuple(classes.translate[-2:]) == pytest.approx(placement.translate)
    assert _layer(viewer, ": layout").data.shape[0] == 4 * _layout_edges()
    # the class averages of every channel; one shared sequential scale
    ckpt = load_checkpoint(model)
    relu = {m.name: m for m in activation_maps(ckpt.model, ds.X, ckpt.scaler)}[
        "activation_k3_relu"
    ].data
    h, w = relu.shape[-2:]
    for cell in cells:
        y0, x0 = _cell(classes, cell, placement)
        expected = relu[ds.class_names == cell["class"]].mean(0)
        np.testing.assert_allclose(classes.data[:, y0 : y0 + h, x0 : x0 + w], expected, rtol=1e-5)
    assert classes.colormap.name == "viridis"
    lo, hi = classes.contrast_limits
    assert lo == pytest.approx(float(relu_avg_min(relu, ds))) and hi > lo
    # the slider named channel moves the channel of every panel, and the widget's field with it
    axis = list(viewer.dims.axis_labels).index("channel")
    assert viewer.dims.current_step[axis] == 2
    before = viewer.screenshot(canvas_only=True, flash=False)
    widget.channel.value = 7
    assert viewer.dims.current_step[axis] == 7
    assert not np.array_equal(before, viewer.screenshot(canvas_only=True, flash=False))
    viewer.dims.set_current_step(axis, 5)
    assert widget.channel.value == 5


def relu_avg_min(relu, ds):
    return min(relu[ds.class_names == c].mean(0).min() for c in ("AM", "JM", "AF", "JF"))


def _layout_edges():
    from napari_mousestop.gui.layers.maps import layout_outline
    from napari_mousestop.io.layout import load_layout

    return len(layout_outline(load_layout(), [(0.0, 0.0)], "x")[0])


def test_contribution_difference_beside_the_panels(make_napari_viewer, qtbot, trained):
    ds, _, model = trained
    viewer, widget = _run(make_napari_viewer, qtbot, trained, kind="contribution", branch=9,
                          difference=True, class_a="AF", class_b="AM",
                          n_permutations=50)  # fmt: skip
    ckpt = load_checkpoint(model)
    k9 = {m.name: m for m in contribution_maps(ckpt.model, ds.X, ckpt.scaler,
                                                baseline="empty")}["contribution_k9"]  # fmt: skip
    am, af = ds.class_names == "AM", ds.class_names == "AF"
    diff = _layer(viewer, ": difference")
    # the AF panel minus the AM panel: red where AF is higher, on a symmetric diverging scale
    np.testing.assert_allclose(
        diff.data[0], k9.data[af, 2].mean(0) - k9.data[am, 0].mean(0), rtol=1e-4, atol=1e-6
    )
    assert diff.colormap.name == "bwr" and diff.contrast_limits[0] == -diff.contrast_limits[1]
    classes = _layer(viewer, ": classes")
    assert classes.colormap.name != diff.colormap.name
    # beside the class panels, with its colour bar's ends named (and no legend under the form)
    right = max(c["origin_cm"][1] for c in classes.metadata["cells"])
    assert diff.metadata["origin_cm"][1] > right
    texts = _texts(viewer)
    assert "AF - AM (difference)" in texts
    assert any(t.startswith("red") and "AF higher than AM" in t for t in texts)
    assert any(t.startswith("blue") and "AM higher than AF" in t for t in texts)
    bars = _layer(viewer, ": colour bars").metadata["bars"]
    assert [b["colormap"] for b in bars] == ["viridis", "bwr"]
    assert not widget.channel.enabled  # evidence maps have no channel axis
    n_sig = int(widget.maps.mask.sum())
    rings = [lyr for lyr in viewer.layers if lyr.name.endswith(": significant")]
    assert (len(rings[0].data) if rings else 0) == n_sig
    assert "in sample" in widget.status.text()


def _k_class_dataset(k: int, names: tuple[str, ...]) -> Dataset:
    """The tiny dataset's first ``k`` classes, renamed ``names``."""
    ds = tiny_dataset()
    keep = ds.labels < k
    labels = ds.labels[keep]
    return Dataset(X=ds.X[keep], labels=labels, cages=ds.cages[keep],
                   recordings=ds.recordings[keep], animals=ds.animals[keep], params=ds.params,
                   classes=names, factors={"group": np.asarray(names)[labels]})  # fmt: skip


@pytest.mark.parametrize(
    "names", [("KO", "WT"), ("low", "mid", "high"), ("AM", "JM", "AF", "JF")], ids=len
)
def test_panels_fit_their_number_with_names(make_napari_viewer, qtbot, tmp_path, names):
    ds = _k_class_dataset(len(names), names)
    path = str(save_dataset(ds, tmp_path / "k.npz"))
    model = saved_model(tmp_path, ds, epochs=1)
    viewer, widget = _run(make_napari_viewer, qtbot, (ds, path, model), difference=True,
                          n_permutations=20)  # fmt: skip
    assert list(widget.class_a.choices) == list(names)  # the dataset's own classes
    cells = _layer(viewer, ": classes").metadata["cells"]
    assert [c["class"] for c in cells] == list(names)
    rows = len({c["origin_cm"][0] for c in cells})
    cols = len({c["origin_cm"][1] for c in cells})
    assert (rows, cols) == ((2, 2) if len(names) == 4 else (1, len(names)))
    texts = _texts(viewer)
    for c in cells:
        assert c["label"] == f"{c['class']} (n={int((ds.class_names == c['class']).sum())})"
        assert c["label"] in texts
    a, b = widget.class_a.value, widget.class_b.value
    assert f"{a} - {b} (difference)" in texts


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
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    run = load_run(run_folder)
    k3 = {m.name: m for m in out_of_fold(run.folds, ds.X, which=("contribution",))}[
        "contribution_k3"
    ]
    jf, jm = ds.class_names == "JF", ds.class_names == "JM"
    np.testing.assert_allclose(
        _layer(viewer, ": difference").data[0],
        k3.data[jf, 3].mean(0) - k3.data[jm, 1].mean(0),
        rtol=1e-4,
        atol=1e-6,
    )
    assert "out of fold" in widget.status.text()
    # activations still come from the run's final model
    widget.kind.value, widget.difference.value = "activation", False
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert "final model" in widget.status.text()
    assert not any(lyr.name.endswith(": difference") for lyr in viewer.layers)


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
    widget.branch.value = 5
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.maps.kernel_size == 5 and widget.maps.n_channels == 4
