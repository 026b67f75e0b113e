"""The Training widget in a real napari viewer: LOCO CV off the main thread, results, Cancel."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _widget_data import saved_dataset
from qtpy.QtCore import QTimer

from napari_mousestop.gui.widgets.train import TrainWidget
from napari_mousestop.learning.config import EpochProgress

pytestmark = pytest.mark.gui


def _widget(make_napari_viewer, path, epochs):
    viewer = make_napari_viewer()
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="train")
    widget.dataset_file.value = path
    widget.params.epochs.value = epochs
    widget.params.channels.value = 4
    widget.n_permutations.value = 20
    widget.workers.value = 0  # in napari's process; parallel folds have their own test
    return viewer, widget


def test_training_runs_off_the_main_thread_and_shows_results(make_napari_viewer, qtbot, tmp_path):
    ds, path = saved_dataset(tmp_path)
    viewer, widget = _widget(make_napari_viewer, path, epochs=2)
    widget.run_dir.value = str(tmp_path / "run")
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(widget.running))
    timer.start(5)
    seen = []
    worker = widget.run()
    worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    timer.stop()
    # the Qt event loop kept turning while the model trained
    assert sum(ticks) >= 5
    epochs = [p for p in seen if isinstance(p, EpochProgress)]
    n_folds = len(np.unique(ds.cages))
    assert len(epochs) == 2 * n_folds + 2  # every epoch of every fold and of the final model
    assert widget.status.text().startswith("done: accuracy")
    # live plot: one loss line per fold (and the final model)
    loss_axes = widget.live.figure.axes[0]
    assert len(loss_axes.lines) == n_folds + 1
    # results: CNN and both baselines, cage-level intervals, tests and their assumptions
    rows = [widget.table.verticalHeaderItem(r).text() for r in range(widget.table.rowCount())]
    assert rows == ["CNN", "pca_1nn", "pca_svm"]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    cnn = report["cnn"]["accuracy"]
    assert widget.table.item(0, 0).text() == f"{cnn['value']:.3f}"
    lo, hi = cnn["interval"]["low"], cnn["interval"]["high"]
    assert widget.table.item(0, 1).text() == f"{lo:.2f} - {hi:.2f}"
    assert "cages are independent" in widget.table.item(0, 1).toolTip()
    p_1nn = report["comparisons"]["pca_1nn"]["test"]["p_value"]
    assert f"({p_1nn:.3g})" in widget.table.item(1, 4).text()
    text = widget.summary.toPlainText()
    assert f"p = {report['permutation']['p_value']:.4g}" in text
    assert text.count("Assumes:") >= 8 and "recording order" in text
    assert "Sex alone" in text and "Age alone" in text
    assert (tmp_path / "run" / "model.pt").is_file()
    assert len(list((tmp_path / "run" / "folds").glob("*.pt"))) == n_folds
    cm = np.asarray(report["cnn"]["confusion_matrix"])
    assert cm.sum() == len(ds)
    assert widget.final is not None and widget.cv is not None


def test_balanced_folds_from_the_widget(make_napari_viewer, qtbot, tmp_path):
    ds, path = saved_dataset(tmp_path)
    viewer, widget = _widget(make_napari_viewer, path, epochs=1)
    widget.params.folds.value = "balanced"
    widget.final_model.value = False
    seen = []
    worker = widget.run()
    worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    n_cages = len(np.unique(ds.cages))
    folds = widget.report.folds
    assert widget.report.fold_scheme == "balanced" and len(folds) == n_cages // 2
    assert all(len(f.cages) == 2 for f in folds)
    assert {p.n_folds for p in seen if isinstance(p, EpochProgress)} == {n_cages // 2}
    assert "balanced" in widget.summary.toPlainText()


def test_the_dataset_file_is_read_in_the_jobs_process(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Clicking Train reads nothing in napari's process: the job's own process loads the file
    (a loader patched here to fail is never called, and the job still trains)."""
    import napari_mousestop.datasets.dataset as datasets

    ds, path = saved_dataset(tmp_path)
    viewer, widget = _widget(make_napari_viewer, path, epochs=1)
    widget.final_model.value = False
    loaded_here = []

    def here(*args, **kwargs):
        loaded_here.append(args)
        raise AssertionError("the dataset was loaded in napari's process")

    monkeypatch.setattr(datasets, "load_dataset", here)
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert loaded_here == []
    assert widget.status.text().startswith("done: accuracy"), widget.status.text()
    assert widget.dataset is not None and len(widget.dataset) == len(ds)  # sent back


def test_cancel_stops_the_job_and_viewer_stays_usable(make_napari_viewer, qtbot, tmp_path):
    from _processes import children, workers_left

    _, path = saved_dataset(tmp_path)
    viewer, widget = _widget(make_napari_viewer, path, epochs=500)
    before = children()
    seen = []
    worker = widget.run()
    worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: sum(isinstance(p, EpochProgress) for p in seen) >= 2, timeout=60_000)
    widget.cancel_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=30_000)
    # the job saw Cancel and stopped by itself ("cancelled", not ended by force after
    # CANCEL_GRACE_S), and its process is gone
    assert widget.status.text() == "cancelled"
    assert widget.report is None
    assert widget.run_button.isEnabled()
    qtbot.waitUntil(lambda: not workers_left(before), timeout=30_000)
    viewer.add_image(np.zeros((4, 4)), name="still usable")
    assert "still usable" in viewer.layers


def test_closing_the_widget_stops_its_job(make_napari_viewer, qtbot, tmp_path):
    from _processes import children, workers_left

    _, path = saved_dataset(tmp_path)
    viewer, widget = _widget(make_napari_viewer, path, epochs=500)
    before = children()
    seen = []
    worker = widget.run()
    worker.yielded.connect(seen.append)
    finished = []
    worker.finished.connect(lambda: finished.append(True))
    qtbot.waitUntil(lambda: any(isinstance(p, EpochProgress) for p in seen), timeout=60_000)
    viewer.window.remove_dock_widget(widget)
    qtbot.waitUntil(lambda: bool(finished), timeout=30_000)
    qtbot.waitUntil(lambda: not workers_left(before), timeout=30_000)


def test_errors_in_the_job_become_one_line_notifications(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    bad = tmp_path / "notes.npz"
    bad.write_text("not a dataset")
    viewer, widget = _widget(make_napari_viewer, str(bad), epochs=1)
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert len(shown) == 1 and str(bad) in shown[0] and "\n" not in shown[0]
    assert widget.status.text().startswith("failed:")
    assert widget.run_button.isEnabled()

    widget.dataset_file.value = str(tmp_path / "nope.npz")
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert len(shown) == 2 and "nope.npz" in shown[1]


def test_parallel_folds_and_seeds_show_one_bar_the_spread_and_cancel_every_worker(
    make_napari_viewer, qtbot, tmp_path
):
    from _processes import children, workers_left

    ds, path = saved_dataset(tmp_path)
    viewer, widget = _widget(make_napari_viewer, path, epochs=2)
    widget.workers.value = 2
    widget.repeats.value = 2
    widget.final_model.value = False
    seen, texts = [], []
    worker = widget.run()
    worker.yielded.connect(seen.append)
    worker.yielded.connect(lambda _: texts.append(widget.status.text()))
    qtbot.waitUntil(lambda: not widget.running, timeout=180_000)
    n_folds = len(np.unique(ds.cages))
    epochs = [p for p in seen if isinstance(p, EpochProgress)]
    assert len(epochs) == 2 * n_folds * 2  # every epoch of every fold of both seeds
    assert {(p.repeat, p.fold) for p in epochs} == {
        (r, k) for r in (1, 2) for k in range(1, n_folds + 1)
    }
    assert any(f"/{2 * n_folds} models done" in t for t in texts)
    # the spread over seeds and the ensemble, below the CNN of the first seed
    rows = [widget.table.verticalHeaderItem(r).text() for r in range(widget.table.rowCount())]
    assert rows == ["CNN", "CNN ensemble (2 seeds)", "pca_1nn", "pca_svm", "CNN, 2 seeds"]
    spread = widget.report.repeats.accuracy
    assert widget.table.item(4, 0).text() == f"{spread.mean:.3f} ± {spread.sd:.3f}"
    assert "Over 2 seeds" in widget.summary.toPlainText()
    assert len(widget.runs) == 2 and widget.runs[1].config.seed == widget.runs[0].config.seed + 1
    # a long parallel run: Cancel stops it and ends every worker process
    before = children()
    widget.params.epochs.value = 100_000
    seen.clear()
    widget.run()
    widget.worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: any(isinstance(p, EpochProgress) for p in seen), timeout=120_000)
    widget.cancel_button.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.status.text() == "cancelled" and widget.report is None

    qtbot.waitUntil(lambda: not workers_left(before), timeout=30_000)
