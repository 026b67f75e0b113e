"""Inference widget: class probabilities of stack layers and of LMT recordings."""

from __future__ import annotations

import numpy as np
import pytest
from _widget_data import saved_dataset, saved_model

from napari_mousestop.gui.widgets.predict import PredictWidget
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.learning.checkpoint import load_checkpoint, predict_proba

pytestmark = pytest.mark.gui


def test_selected_stack_layers_get_probabilities(make_napari_viewer, qtbot, tmp_path):
    ds, path = saved_dataset(tmp_path)
    model = saved_model(tmp_path, ds, epochs=2)
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-mousestop")
    stacks = [lyr for lyr in viewer.layers if lyr._type_string == "image"]
    assert len(stacks) == len(ds)
    chosen = stacks[:3]
    viewer.layers.selection = set(chosen)
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget, name="predict")
    widget.model_file.value = model
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.status.text() == "3 animals predicted"
    assert widget.table.rowCount() == 3
    expected = predict_proba(load_checkpoint(model), np.stack([lyr.data for lyr in chosen]))
    by_name = {lyr.name: p for lyr, p in zip(chosen, expected, strict=True)}
    for r in range(3):
        name = widget.table.item(r, 0).text()
        pred = viewer.layers[name].metadata["prediction"]
        assert list(pred["proba"]) == ["AM", "JM", "AF", "JF"]
        np.testing.assert_allclose(list(pred["proba"].values()), by_name[name], rtol=1e-6)
        assert pred["predicted"] == "AMJMAFJF"[2 * int(np.argmax(by_name[name])) :][:2]
        assert widget.table.item(r, 1).text() == pred["predicted"]
    assert "prediction" not in stacks[5].metadata  # only the selected layers
    bars = widget.plot.figure.axes[0].patches
    assert len(bars) == 3 * 4


def test_lmt_files_are_binned_like_the_training_data(make_napari_viewer, qtbot, tmp_path):
    from napari_mousestop.datasets.dataset import Dataset
    from napari_mousestop.gui.sample_data import make_sample_cohort
    from napari_mousestop.histograms import recording_stacks
    from napari_mousestop.learning.checkpoint import save_checkpoint
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.training import train_final

    db = make_sample_cohort(tmp_path / "rec", hours=0.3)
    hist = HistogramParams(interval_s=600, n_intervals=2, n_bins=12)
    rs = recording_stacks(db, hist)
    # a model "trained" on the sample's animals, recording how its stacks were made
    ds = Dataset(X=np.concatenate([rs.stacks, rs.stacks]), labels=np.array([0, 1, 2, 3] * 2),
                 cages=np.array(["a"] * 4 + ["b"] * 4), recordings=np.array(["r"] * 8),
                 animals=np.array([str(i) for i in range(8)]),
                 params={"histogram": hist.to_dict(), "stops": dict(rs.stop_params),
                         "geometry": rs.geometry.to_dict()})  # fmt: skip
    model = save_checkpoint(tmp_path / "m.pt", train_final(ds, TrainConfig(epochs=1)))

    viewer = make_napari_viewer()
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget, name="predict")
    widget.model_file.value = str(model)
    widget.source.value = "LMT files"
    widget.files.value = [str(db)]
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.status.text() == "4 animals predicted"
    stacks = [lyr for lyr in viewer.layers if "prediction" in lyr.metadata
              and lyr._type_string == "image"]  # fmt: skip
    assert len(stacks) == 4 and all(lyr.data.shape == (2, 12, 12) for lyr in stacks)
    points = viewer.layers[stacks[0].name + " stops"]
    pred = stacks[0].metadata["prediction"]
    assert (points.features["predicted"] == pred["predicted"]).all()
    assert points.features["p_AF"].iloc[0] == pytest.approx(pred["proba"]["AF"])
