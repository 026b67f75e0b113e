"""Pauses of napari's event loop while the Compare widget computes and shows class maps.

A 20 ms Qt timer ticks on napari's event loop while the Compare widget runs on a demo's run
folder (``mousestop demo DIR``: ``DIR/run`` and ``DIR/dataset.npz``); a gap between ticks much
longer than 20 ms is a pause of the viewer (a stall). Prints the longest stalls, when they
happened (seconds after the click), the time until the maps were shown, and the load average.

Run (a display is needed; Xvfb provides one)::

    xvfb-run -a .venv/bin/python benchmarks/bench_compare_stalls.py DIR
    xvfb-run -a .venv/bin/python benchmarks/bench_compare_stalls.py DIR --map activation
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", help="folder written by `mousestop demo`")
    parser.add_argument("--map", default="contribution",
                        choices=("activation", "contribution", "gradcam"))  # fmt: skip
    parser.add_argument("--pair", default="AF,AM", help="classes of the difference")
    parser.add_argument("--permutations", type=int, default=1000)
    args = parser.parse_args()

    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_mousestop.gui.widgets.compare import CompareWidget

    demo = Path(args.demo)
    viewer = napari.Viewer(show=True)
    widget = CompareWidget(viewer)
    viewer.window.add_dock_widget(widget)
    QApplication.processEvents()
    widget.dataset_file.value = str(demo / "dataset.npz")
    widget.run_dir.value = str(demo / "run")
    widget.kind.value = args.map
    widget.difference.value = True
    widget.class_a.value, widget.class_b.value = args.pair.split(",")
    widget.n_permutations.value = args.permutations
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    for _ in range(10):
        QApplication.processEvents()
        time.sleep(0.02)
    t0 = time.perf_counter()
    widget.run()
    ticks.append(time.perf_counter())
    while widget.running:
        QApplication.processEvents()
        time.sleep(0.005)
    shown = time.perf_counter() - t0
    for _ in range(50):
        QApplication.processEvents()
        time.sleep(0.01)
    gaps = sorted(((b - a, a - t0) for a, b in zip(ticks[:-1], ticks[1:], strict=True)
                   if a >= t0 - 0.05),
                  reverse=True)  # fmt: skip
    print(widget.status.text())
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"maps shown {shown:.1f} s after the click")
    print("longest stalls (s, at s): " + ", ".join(f"{g:.2f} at {at:.1f}" for g, at in gaps[:6]))
    viewer.close()


if __name__ == "__main__":
    main()
