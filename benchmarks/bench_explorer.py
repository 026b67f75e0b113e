"""How fast the cohort explorer steps through hours at the paper's size (96 x 72 x 30 x 30).

A dataset of the paper's size (12 cages x juvenile/adult x 4 mice = 96 animal-recordings, T = 72
hourly histograms of 30 x 30 bins) is generated with sparse Poisson stop counts (a nest corner,
feeders and a day/night rhythm; most bins hold 0, 1 or 2 stops), recorded from 07:00 on, and
saved as a dataset file. napari opens it through the plugin's reader, exactly as
``napari dataset.npz`` does: one mosaic image of all 96 animals, the cage layout in every tile,
tile labels and captions, and the Explore dock widget (clock text in the canvas, colour bar,
stops-per-hour plot following the slider). The script then moves the hour slider through every
hour (twice, in a shuffled order) and prints, per step:

* ``step``: ``viewer.dims.set_point``, i.e. napari slicing the mosaic and every handler connected
  to the slider (the explorer's clock text and plot cursor);
* ``step + draw``: the same plus the Qt event loop until the canvas and the docked plot are
  repainted (software OpenGL under Xvfb paints the whole window: this part grows with the
  window's size and is much faster on a real GPU; ``--size`` sets the window).

With ``--grid N`` it also times napari's grid mode with N named image layers (one per animal),
the alternative the mosaic replaces (issue 14 reports that 96 layers did not finish drawing in
5 minutes under Xvfb; 24 give an idea).

Run (a display is needed; Xvfb provides one)::

    QT_API=pyqt6 xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python \\
        benchmarks/bench_explorer.py
    QT_API=pyqt6 xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python \\
        benchmarks/bench_explorer.py --grid 24 --json benchmarks/results/bench_explorer.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_mousestop.datasets.dataset import Dataset, save_dataset
from napari_mousestop.io.cohort import CLASSES

START = "2024-01-15T07:00:00+00:00"


def paper_cohort(T: int = 72, N: int = 30, cages: int = 12, mice: int = 4, seed: int = 0):
    """96 animal-recordings of sparse stop counts, each recording starting at 07:00 UTC."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:N, 0:N] / N
    nest = np.exp(-((yy - 0.18) ** 2 + (xx - 0.18) ** 2) / 0.01)
    feeders = np.exp(-((yy - 0.9) ** 2) / 0.002) * ((xx > 0.15) & (xx < 0.6))
    hours = np.arange(T)
    light = ((hours % 24) < 12).astype(float)  # from 07:00: 12 h light, then 12 h dark
    X, labels, cage_ids, recs, animals, infos = [], [], [], [], [], {}
    for c in range(cages):
        sex = "M" if c < cages // 2 else "F"
        for age in ("J", "A"):
            rec = f"cage{c + 1:02d}_{'juvenile' if age == 'J' else 'adult'}.sqlite"
            day = 15 if age == "J" else 22
            infos[rec] = {"info": {"origin": START.replace("15T", f"{day}T")}}
            for m in range(mice):
                place = 0.6 * nest[None] * (0.5 + light[:, None, None]) + 0.3 * feeders[None] * (
                    1.5 - light[:, None, None]
                )
                rate = 0.004 + place * rng.uniform(0.5, 1.5)
                X.append(rng.poisson(rate).astype(np.float32))
                labels.append(CLASSES.index(age + sex))
                cage_ids.append(f"cage{c + 1:02d}")
                recs.append(rec)
                animals.append(f"0000{c + 1:02d}{m:02d}{seed:04d}")
    return Dataset(
        X=np.stack(X),
        labels=np.array(labels),
        cages=np.array(cage_ids),
        recordings=np.array(recs),
        animals=np.array(animals),
        params={
            "histogram": {"interval_s": 3600.0, "n_intervals": T, "n_bins": N, "weight": "count"},
            "recordings": infos,
        },
    )


def _pump(app, seconds: float = 0.0) -> None:
    app.processEvents()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def _steps(viewer, app, hours: list[int]) -> tuple[np.ndarray, np.ndarray]:
    step, drawn = [], []
    for h in hours:
        t0 = time.perf_counter()
        viewer.dims.set_point(0, float(h))
        t1 = time.perf_counter()
        app.processEvents()
        t2 = time.perf_counter()
        step.append(t1 - t0)
        drawn.append(t2 - t0)
    return np.array(step) * 1e3, np.array(drawn) * 1e3


def _report(name: str, step: np.ndarray, drawn: np.ndarray, results: dict) -> None:
    print(
        f"{name}: step median {np.median(step):.1f} ms (p95 {np.percentile(step, 95):.1f}); "
        f"step + draw median {np.median(drawn):.1f} ms (p95 {np.percentile(drawn, 95):.1f}) "
        f"over {len(step)} steps"
    )
    results[name] = {
        "steps": len(step),
        "step_ms": {"median": float(np.median(step)), "p95": float(np.percentile(step, 95))},
        "step_and_draw_ms": {
            "median": float(np.median(drawn)),
            "p95": float(np.percentile(drawn, 95)),
        },
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=72)
    parser.add_argument("--size", type=int, nargs=2, default=(1200, 800), help="window w h")
    parser.add_argument("--grid", type=int, default=0, help="also time grid mode, N layers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--without-explorer", action="store_true", help="close the Explore dock before timing"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args()

    import napari
    from qtpy import API_NAME
    from qtpy.QtWidgets import QApplication

    from napari_mousestop.gui.widgets.explore import text_overlay

    results: dict = {"command": " ".join(sys.argv), "machine": f"{platform.machine()}, "
                     f"{os.cpu_count()} CPUs", "window": list(args.size)}  # fmt: skip
    ds = paper_cohort(T=args.hours, seed=args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    path = save_dataset(ds, tmp / "cohort.npz")
    nonzero = ds.X[ds.X > 0]
    print(
        f"dataset {ds.X.shape}, {ds.X.nbytes / 2**20:.0f} MB, {int(ds.X.sum())} stops; "
        f"non-empty bins: {nonzero.size / ds.X.size:.1%}, of which "
        f"{np.mean(nonzero <= 2):.0%} hold 1 or 2 stops; largest bin {int(ds.X.max())}"
    )
    print(
        f"napari {napari.__version__}, Qt binding {API_NAME}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    viewer = napari.Viewer(show=True, title="bench")
    viewer.window.resize(*args.size)
    app = QApplication.instance()
    t0 = time.perf_counter()
    viewer.open(str(path), plugin="napari-mousestop")
    viewer.reset_view()
    _pump(app, 0.5)
    names = [lyr.name for lyr in viewer.layers]
    print(f"open (read, layers, explorer, first draw): {time.perf_counter() - t0:.1f} s; {names}")
    name = f"mosaic, {args.size[0]}x{args.size[1]} window"
    if args.without_explorer:
        for widget in list(viewer.window.dock_widgets.values()):
            viewer.window.remove_dock_widget(widget)
        _pump(app, 0.3)
        name += ", Explore dock closed"
    rng = np.random.default_rng(1)
    hours = list(range(args.hours)) + list(rng.permutation(args.hours))
    _steps(viewer, app, hours[:5])  # warm-up
    _report(name, *_steps(viewer, app, hours), results)
    print(f"load average {os.getloadavg()[0]:.1f} after timing")
    print(f"canvas text at the last step: {text_overlay(viewer).text.splitlines()[0]!r}")
    viewer.close()

    if args.grid:
        viewer = napari.Viewer(show=True, title="bench grid")
        viewer.window.resize(*args.size)
        t0 = time.perf_counter()
        for i in range(args.grid):
            viewer.add_image(ds.X[i], name=f"animal {i}", colormap="magma", gamma=0.5,
                             contrast_limits=(0, float(ds.X.max())))  # fmt: skip
        viewer.canvas.grid.enabled = True
        viewer.reset_view()
        _pump(app, 0.5)
        print(f"grid of {args.grid} layers: added and drawn in {time.perf_counter() - t0:.1f} s")
        steps = hours[: min(len(hours), 24)]
        _report(f"grid mode, {args.grid} layers", *_steps(viewer, app, steps), results)
        viewer.close()
    results.update(napari=napari.__version__, qt=API_NAME, dataset=list(ds.X.shape))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
