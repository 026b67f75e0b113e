"""How fast the class comparison widget switches channels, on a paper-size dataset.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=48, help="channel changes to time")
    parser.add_argument("--kernel", type=int, default=3, choices=(3, 9), help="branch")
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--no-difference", action="store_true", help="only the 4 class maps")
    args = parser.parse_args()

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
