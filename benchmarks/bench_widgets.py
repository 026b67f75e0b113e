"""How the widgets keep napari responsive: the longest stall of the event loop per widget job
(``--stalls``), and how fast the class comparison widget switches channels.

``--stalls``: a cohort of ``--cages`` cages (juvenile and adult recordings, 4 mice, ``--hours``
long) is generated, then in one real napari viewer the Extract widget extracts the cohort CSV
(writing its dataset), the Train widget trains on that dataset (``--epochs``, the widget's
default workers), and the Predict widget predicts the recordings' animals with the final model.
A 20 ms QTimer runs on the event loop throughout; a stall is the time a tick came late (a
gap between ticks minus the 20 ms). For each job, from the click until its results are
added, the script prints the longest stall and the number over 0.2 s::

    xvfb-run -a .venv/bin/python benchmarks/bench_widgets.py --stalls --cages 12 --hours 1

Without ``--stalls``: channel changes of the class comparison widget, as follows.

A dataset of the paper's size (96 animal-recordings: 12 cages x juvenile/adult x 4 mice, T = 72
hourly histograms of 30 x 30 bins) is generated with a class-specific hot spot, and an untrained
CNN (random weights, input scaler fitted on the data) stands in for a trained one: speed does
not depend on the weights. The script computes the class maps once (all 16 channels, and the
AF - AM difference with its permutation test), shows them in the widget's panels in a real
napari viewer, then changes the channel many times and prints, per change:

* ``update``: the widget's handler (moves the viewer's slider named channel: every class panel,
  the difference and its significance rings);
* ``update + draw``: the same plus one pass of the Qt event loop, in which napari redraws the
  canvas (software OpenGL under Xvfb: slower than a real GPU).

Run (a display is needed; Xvfb provides one)::

    xvfb-run -a .venv/bin/python benchmarks/bench_widgets.py
    xvfb-run -a .venv/bin/python benchmarks/bench_widgets.py --changes 64 --kernel 9
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.learning.checkpoint import make_checkpoint
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.model import StopCNN
from napari_mousestop.learning.scaling import InputScaler

SPOTS = {"AM": (5, 5), "JM": (5, 22), "AF": (22, 5), "JF": (22, 22)}


def paper_size(
    T: int = 72, N: int = 30, cages: int = 12, mice: int = 4, seed: int = 0, strength: float = 2.0
) -> Dataset:
    """96 animal-recordings of Poisson stop counts with a hot spot per class (``strength``
    extra stops per hour in each of its 3 x 3 bins)."""
    rng = np.random.default_rng(seed)
    X, labels, cage_ids, recs, animals = [], [], [], [], []
    for c in range(cages):
        sex = "M" if c % 2 == 0 else "F"
        for age in ("J", "A"):
            cls = age + sex
            for m in range(mice):
                rate = np.full((T, N, N), 0.05, dtype=np.float32)
                y, x = SPOTS[cls]
                rate[:, y : y + 3, x : x + 3] += strength
                X.append(rng.poisson(rate).astype(np.float32))
                labels.append(CLASSES.index(cls))
                cage_ids.append(f"cage{c:02d}")
                recs.append(f"cage{c:02d}_{age}.sqlite")
                animals.append(f"{c:02d}{m}")
    return Dataset(
        X=np.stack(X),
        labels=np.array(labels),
        cages=np.array(cage_ids),
        recordings=np.array(recs),
        animals=np.array(animals),
        params={"histogram": {"interval_s": 3600.0, "n_intervals": T, "n_bins": N}},
    )


class StallMeter:
    """Ticks of a 20 ms QTimer on the event loop; :meth:`stalls` are the late ticks."""

    def __init__(self, period_ms: int = 20) -> None:
        from qtpy.QtCore import QTimer

        self.period = period_ms / 1000
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(period_ms)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> np.ndarray:
        """Stop; the stalls in seconds (one per gap, the gap minus the period)."""
        self.timer.stop()
        self.ticks.append(time.perf_counter())
        return np.maximum(np.diff(self.ticks) - self.period, 0.0)


def _wait(widget, app, limit_s: float = 1800.0) -> None:
    """Turn the event loop until ``widget``'s job is done (and its results added)."""
    t0 = time.perf_counter()
    while widget.running:
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t0 > limit_s:
            raise TimeoutError(f"{type(widget).__name__}: still running after {limit_s} s")
    for _ in range(20):  # what the results queued (redraws)
        app.processEvents()
        time.sleep(0.005)


def _timed(name: str, widget, app, rows: list) -> None:
    """Click Run of ``widget`` (already filled in) and measure the stalls until it is done."""
    meter = StallMeter()
    meter.start()
    t0 = time.perf_counter()
    worker = widget.run()
    if worker is None:
        raise RuntimeError(f"{name}: {widget.status.text()}")
    _wait(widget, app)
    wall = time.perf_counter() - t0
    stalls = meter.stop()
    rows.append((name, wall, stalls.max(), int((stalls > 0.2).sum()), widget.status.text()))


def stalls_main(args: argparse.Namespace) -> None:
    """The ``--stalls`` benchmark (see the module's docstring)."""
    import os
    import tempfile
    from pathlib import Path

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_mousestop.gui.widgets.extract import ExtractWidget
    from napari_mousestop.gui.widgets.predict import PredictWidget
    from napari_mousestop.gui.widgets.train import TrainWidget
    from napari_mousestop.synthetic.generate import generate_cohort

    tmp = Path(tempfile.mkdtemp(prefix="bench_widgets_"))
    files = generate_cohort(tmp / "cohort", cages=args.cages, hours=args.hours, seed=0)
    dbs = sorted(str(p) for p in (tmp / "cohort").glob("*.sqlite"))
    print(f"cohort: {len(dbs)} recordings of {args.hours} h, 4 mice each")
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    rows: list = []
    load = [os.getloadavg()[0]]

    extract = ExtractWidget(viewer)
    viewer.window.add_dock_widget(extract, name="extract")
    extract.input_kind.value = "cohort CSV"
    extract.cohort.value = str(files.cohort_csv)
    extract.dataset_file.value = str(tmp / "cohort.npz")
    app.processEvents()
    _timed(f"Extract (cohort CSV, {len(dbs)} recordings)", extract, app, rows)
    load.append(os.getloadavg()[0])

    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="train")
    train.dataset_file.value = str(tmp / "cohort.npz")
    train.params.epochs.value = args.epochs
    train.n_permutations.value = 100
    train.run_dir.value = str(tmp / "run")
    app.processEvents()
    _timed(f"Train ({args.epochs} epochs, {train.workers.value} workers)", train, app, rows)
    load.append(os.getloadavg()[0])

    predict = PredictWidget(viewer)
    viewer.window.add_dock_widget(predict, name="predict")
    predict.model_file.value = str(tmp / "run" / "model.pt")
    predict.source.value = "LMT files"
    predict.files.value = dbs[:4]
    app.processEvents()
    _timed("Predict (4 LMT files)", predict, app, rows)
    load.append(os.getloadavg()[0])
    viewer.close()

    print(f"load average (1 min) while measuring: {min(load):.1f} - {max(load):.1f} "
          f"on {os.cpu_count()} cores")  # fmt: skip
    print("| job | wall (s) | longest stall (s) | stalls > 0.2 s |")
    print("|---|---|---|---|")
    for name, wall, longest, n_over, _ in rows:
        print(f"| {name} | {wall:.1f} | {longest:.3f} | {n_over} |")
    for name, *_, status in rows:
        print(f"{name}: {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stalls", action="store_true", help="stalls of the widget jobs")
    parser.add_argument("--cages", type=int, default=12, help="--stalls: cages of the cohort")
    parser.add_argument("--hours", type=float, default=1.0, help="--stalls: recording length")
    parser.add_argument("--epochs", type=int, default=3, help="--stalls: training epochs")
    parser.add_argument("--changes", type=int, default=48, help="channel changes to time")
    parser.add_argument("--kernel", type=int, default=3, choices=(3, 9), help="branch")
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--no-difference", action="store_true", help="only the 4 class maps")
    args = parser.parse_args()
    if args.stalls:
        stalls_main(args)
        return

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_mousestop.explain.classmaps import class_maps
    from napari_mousestop.gui.widgets.compare import CompareWidget

    torch.manual_seed(0)
    ds = paper_size()
    model = StopCNN(TrainConfig().model_config(72, 30, 4)).eval()
    ckpt = make_checkpoint(model, InputScaler().fit(ds.X), ds, TrainConfig())
    print(f"dataset: {ds.X.shape} float32, {ds.X.nbytes / 1e6:.0f} MB; untrained model")

    t0 = time.perf_counter()
    pair = None if args.no_difference else ("AF", "AM")
    maps = class_maps(ds, checkpoint=ckpt, kind="activation", kernel_size=args.kernel,
                      stage="relu", pair=pair, n_permutations=args.permutations)  # fmt: skip
    t_maps = time.perf_counter() - t0
    test = "" if pair is None else f" + AF-AM test ({args.permutations} permutations)"
    print(f"class maps, all {maps.n_channels} channels{test}: {t_maps:.1f} s, once")

    viewer = napari.Viewer(show=True)
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.show_maps(maps)
    while widget.running:  # the layers are added one per turn of the event loop
        QApplication.processEvents()
    update, drawn = [], []
    for i in range(args.changes):
        ch = (i * 5 + 1) % maps.n_channels
        t = time.perf_counter()
        widget.set_channel(ch)
        update.append(time.perf_counter() - t)
        QApplication.processEvents()
        drawn.append(time.perf_counter() - t)
        assert viewer.dims.current_step[list(viewer.dims.axis_labels).index("channel")] == ch
    viewer.close()
    import os

    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, ms in (("update", update), ("update + draw", drawn)):
        ms = 1000 * np.asarray(ms)
        print(f"channel change, {label:>13}: median {np.median(ms):6.1f} ms, "
              f"90th percentile {np.percentile(ms, 90):6.1f} ms, max {ms.max():6.1f} ms "
              f"({len(ms)} changes)")  # fmt: skip


if __name__ == "__main__":
    main()
