"""Inference widget: class probabilities of stack layers and of LMT recordings."""

from __future__ import annotations

import numpy as np
import pytest
from _widget_data import saved_dataset, saved_model

from napari_mousestop.gui.widgets.predict import PredictWidget
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.learning.checkpoint import load_checkpoint, predict_proba

pytestmark = pytest.mark.gui


def test_animals_of_a_selected_mosaic_get_probabilities(make_napari_viewer, qtbot, tmp_path):
    from napari_mousestop.gui.widgets.common import stack_layers

    ds, path = saved_dataset(tmp_path)
    model = saved_model(tmp_path, ds, epochs=2)
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-mousestop")
    mosaic = viewer.layers["tiny"]
    stacks = stack_layers(viewer)
    assert len(stacks) == len(ds)  # every animal of the dataset, from the one mosaic
    viewer.layers.selection = {viewer.layers["tiny labels"]}
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget, name="predict")
    widget.model_file.value = model
    assert widget.run() is None  # a selection without stacks is refused
    viewer.layers.selection = {mosaic}
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.status.text() == f"{len(ds)} animals predicted"
    assert widget.table.rowCount() == len(ds)
    expected = predict_proba(load_checkpoint(model), np.stack([v.data for v in stacks]))
    by_name = {v.name: p for v, p in zip(stacks, expected, strict=True)}
    tiles = {t["name"]: t for t in mosaic.metadata["tiles"]}
    for r in range(len(ds)):
        name = widget.table.item(r, 0).text()
        pred = tiles[name]["prediction"]  # kept with the animal's tile
        assert list(pred["proba"]) == ["AM", "JM", "AF", "JF"]
        np.testing.assert_allclose(list(pred["proba"].values()), by_name[name], rtol=1e-6)
        assert pred["predicted"] == "AMJMAFJF"[2 * int(np.argmax(by_name[name])) :][:2]
        assert widget.table.item(r, 1).text() == pred["predicted"]
    np.testing.assert_array_equal(stacks[0].data, ds.X[mosaic.metadata["tiles"][0]["index"]])
    bars = widget.plot.figure.axes[0].patches
    assert len(bars) == len(ds) * 4


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
    mosaic = viewer.layers[db.stem]  # the recording's animals side by side
    tiles = mosaic.metadata["tiles"]
    assert len(tiles) == 4 and all("prediction" in t for t in tiles)
    assert mosaic.data.shape[0] == 2 and mosaic.metadata["mosaic"]["n_bins"] == 12
    points = viewer.layers[f"{db.stem} stops"]
    for tile in tiles:  # each animal's stops carry its own prediction
        mine = points.features["animal"] == tile["animal"]["rfid"]
        assert mine.any()
        assert (points.features.loc[mine, "predicted"] == tile["prediction"]["predicted"]).all()
        p_af = points.features.loc[mine, "p_AF"].to_numpy()
        assert p_af == pytest.approx(tile["prediction"]["proba"]["AF"])
    assert any(isinstance(w, type(widget)) for w in viewer.window.dock_widgets.values())
    # the same probabilities as `mousestop predict` (one core function behind both)
    from napari_mousestop.learning.predict import predict_files

    cli = predict_files(model, [db]).set_index("animal")
    for tile in tiles:
        want = cli.loc[tile["animal"]["rfid"], ["p_AM", "p_JM", "p_AF", "p_JF"]].to_numpy()
        np.testing.assert_allclose(list(tile["prediction"]["proba"].values()), want, rtol=1e-6)


def test_the_model_is_read_in_the_jobs_process_and_a_wrong_file_is_one_line(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    import napari_mousestop.learning.checkpoint as checkpoint

    ds, path = saved_dataset(tmp_path)
    model = saved_model(tmp_path, ds, epochs=1)
    viewer = make_napari_viewer()
    viewer.open(path, plugin="napari-mousestop")
    viewer.layers.selection = {viewer.layers["tiny"]}
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget, name="predict")
    read_here = []
    monkeypatch.setattr(checkpoint, "load_checkpoint", lambda *a, **k: read_here.append(a))
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    widget.model_file.value = model
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert read_here == [] and widget.status.text() == f"{len(ds)} animals predicted"
    # a text file chosen as the model: one line naming it
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    widget.model_file.value = str(notes)
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert shown == [
        f"{notes}: not a napari-mousestop model (choose the model.pt of a training run)"
    ]
