"""How long napari takes to open a maps file (``maps.nc`` of ``mousestop explain``).

Opens the file through the plugin's reader in a shown viewer, as dragging it onto the window
does, and times ``viewer.open`` until the canvas is drawn (the class panels, the differences,
the colour bars, the layout and the labels of the primary map, and the Maps dock). The first
opening in a process also pays napari's one-time costs (its unit registry, the first drawing
of each kind of layer: software OpenGL under Xvfb); the next openings show what opening a file
costs in a viewer that already shows something. Switching the map in the Maps dock is timed
too.

Run on the demo's output (``mousestop demo DIR`` writes ``DIR/maps/maps.nc``)::

    xvfb-run -a .venv/bin/python benchmarks/bench_open_maps.py DIR/maps/maps.nc
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("maps", help="a maps.nc file (or the folder holding it)")
    parser.add_argument("--repeats", type=int, default=3, help="openings to time")
    args = parser.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_mousestop.gui.widgets.maps import MapsWidget

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1400, 900)
    QApplication.processEvents()
    times = []
    for _ in range(args.repeats):
        viewer.layers.clear()
        QApplication.processEvents()
        t = time.perf_counter()
        viewer.open(args.maps, plugin="napari-mousestop")
        QApplication.processEvents()
        times.append(time.perf_counter() - t)
    dock = next(w for w in viewer.window.dock_widgets.values() if isinstance(w, MapsWidget))
    switch = []
    for family in ("contribution", "input", "occlusion_space"):
        t = time.perf_counter()
        dock.map.setCurrentText(family)
        QApplication.processEvents()
        switch.append(time.perf_counter() - t)
    print(f"{len(viewer.layers)} layers: {', '.join(lyr.name for lyr in viewer.layers)}")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"open, first in this process: {times[0]:.2f} s")
    if len(times) > 1:
        print(f"open again: {', '.join(f'{t:.2f}' for t in times[1:])} s")
    print(f"switch map in the Maps dock: {', '.join(f'{t:.2f}' for t in switch)} s")
    viewer.close()


if __name__ == "__main__":
    main()
