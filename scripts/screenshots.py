"""Screenshots of napari opening a cohort and a recording (docs/tutorial.md, docs/napari.md),
of each dock widget in use (docs/widgets.md) and the figures of ``mousestop explain`` on a
planted cohort (docs/explainability.md), written to docs/images/.

Everything is generated: the tutorial's cohort (``mousestop synth data/ --cages 6 --hours 3
--seed 0`` binned as ``mousestop dataset ... --interval 30min --intervals 6``), a recording with
one mouse per class (the plugin's sample), a cohort of hourly stop histograms with a
class-specific place (as in ``benchmarks/``) on which a small CNN is trained leave-one-cage-out,
and a cohort where every class has two places of its own (``synthetic.planted_histograms``) for
the explanation figures. Needs a display; Xvfb provides one (PyQt6: napari shows no deprecation
toast)::

    QT_API=pyqt6 xvfb-run -a .venv/bin/python scripts/screenshots.py     # about 5-8 minutes
    QT_API=pyqt6 xvfb-run -a .venv/bin/python scripts/screenshots.py --out /tmp/shots
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _wait(widget, app, timeout: float = 600.0) -> None:
    t0 = time.monotonic()
    while widget.running and time.monotonic() - t0 < timeout:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def _viewer(widget_cls, width: int = 1500, height: int = 950):
    import napari

    viewer = napari.Viewer(show=True, title="napari-mousestop")
    viewer.window.resize(width, height)
    widget = widget_cls(viewer)
    viewer.window.add_dock_widget(widget, name=widget_cls.__name__.replace("Widget", ""))
    return viewer, widget


def _shot(viewer, app, path: Path) -> None:
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    viewer.screenshot(str(path), canvas_only=False, flash=False)
    print(f"wrote {path}")
    viewer.close()


def explorer(viewer):
    """The Explore dock widget the reader docked."""
    from napari_mousestop.gui.widgets.explore import ExploreWidget

    return next(w for w in viewer.window.dock_widgets.values() if isinstance(w, ExploreWidget))


def hover(viewer, layer_name: str, tile: int, y_cm: float, x_cm: float) -> None:
    """Put the cursor over a tile's floor position, as a hovering mouse would."""
    from napari_mousestop.datasets.mosaic import Mosaic

    layer = viewer.layers[layer_name]
    origin = Mosaic.from_dict(layer.metadata["mosaic"]).tiles[tile].origin_cm
    offset = np.asarray(layer.translate[1:]) - np.asarray(layer.scale[1:]) / 2
    viewer.mouse_over_canvas = True
    viewer.cursor.position = (
        viewer.dims.point[0],
        offset[0] + origin[0] + y_cm,
        offset[1] + origin[1] + x_cm,
    )


def explore_shots(tmp: Path, out: Path, hours: float, app) -> None:
    """The tutorial's first screenshots: a cohort at a glance, and one recording."""
    import napari

    from napari_mousestop.datasets.build import build_dataset
    from napari_mousestop.gui.sample_data import make_sample_cohort
    from napari_mousestop.histograms import HistogramParams
    from napari_mousestop.synthetic.generate import generate_cohort

    files = generate_cohort(tmp / "data", cages=6, hours=hours, seed=0)
    n = int(round(hours * 2))
    build_dataset(files.cohort_csv, tmp / "dataset.npz", n_workers=0,
                  hist_params=HistogramParams(interval_s=1800, n_intervals=n))  # fmt: skip
    viewer = napari.Viewer(show=True, title="napari-mousestop")
    viewer.window.resize(1500, 950)
    viewer.open(str(tmp / "dataset.npz"), plugin="napari-mousestop")
    viewer.reset_view()
    viewer.dims.set_point(0, 1.0)
    explore = explorer(viewer)
    explore.animals.item(1).setSelected(True)
    hover(viewer, "dataset", 1, 9.0, 9.0)  # the nest of an adult male
    _shot(viewer, app, out / "explore_cohort.png")

    db = make_sample_cohort(tmp / "sample", hours=2.0)
    viewer = napari.Viewer(show=True, title="napari-mousestop")
    viewer.window.resize(1500, 950)
    viewer.open(str(db), plugin="napari-mousestop")
    viewer.reset_view()
    viewer.dims.set_point(0, 1.0)
    explore = explorer(viewer)
    for row in (2, 3):  # the two females
        explore.animals.item(row).setSelected(True)
    hover(viewer, db.stem, 2, 9.0, 9.0)
    _shot(viewer, app, out / "explore_recording.png")


def planted(hours: int = 6, cages: int = 8, mice: int = 4, seed: int = 0):
    """A small cohort of stop histograms (N = 30) with a faint hot spot per class."""
    from bench_widgets import paper_size

    return paper_size(T=hours, N=30, cages=cages, mice=mice, seed=seed, strength=0.15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--cohort-hours", type=float, default=3.0, help="hours per recording of the cohort shot"
    )
    parser.add_argument(
        "--only",
        choices=("all", "maps"),
        default="all",
        help="maps: only the class maps (Compare widget, a maps file opened in napari)",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="mousestop-shots-"))

    from qtpy.QtWidgets import QApplication

    from napari_mousestop.datasets.dataset import save_dataset
    from napari_mousestop.gui.sample_data import make_sample_cohort
    from napari_mousestop.gui.widgets.extract import ExtractWidget
    from napari_mousestop.gui.widgets.predict import PredictWidget
    from napari_mousestop.gui.widgets.train import TrainWidget

    app = QApplication.instance() or QApplication([])
    ds = planted()
    path = save_dataset(ds, tmp / "cohort.npz")
    if args.only == "maps":
        from napari_mousestop.learning.config import TrainConfig
        from napari_mousestop.learning.report import train_and_report

        config = TrainConfig(epochs=args.epochs, seed=0)
        train_and_report(ds, tmp / "run", config, n_permutations=200, dataset_path=path)
        compare_shots(tmp, out, path, app)
        explain_figures(tmp, out, args.epochs, app)
        return

    # 0. what napari shows when it opens a dataset (the tutorial's cohort) and a recording
    explore_shots(tmp, out, args.cohort_hours, app)

    # 1. extraction: the sample recording (one mouse per class), 2 hours
    db = make_sample_cohort(tmp / "sample", hours=2.0)
    viewer, w = _viewer(ExtractWidget)
    w.input_kind.value = "cohort CSV"
    w.cohort.value = str(db.parent / "cohort.csv")
    w.hist.n_intervals.value = 2
    w.run()
    _wait(w, app)
    viewer.dims.set_point(0, 1.0)
    viewer.reset_view()
    _shot(viewer, app, out / "widget_extract.png")

    # 2. training: leave-one-cage-out on a planted cohort, then the results tab
    viewer, w = _viewer(TrainWidget, 1500, 1150)
    w.dataset_file.value = str(path)
    w.params.epochs.value = args.epochs
    w.n_permutations.value = 1000
    w.run_dir.value = str(tmp / "run")
    w.run()
    _wait(w, app)
    w.tabs.setCurrentIndex(0)
    report, status = w.report, w.status.text()
    _shot(viewer, app, out / "widget_train_curves.png")
    viewer, w = _viewer(TrainWidget, 1500, 1150)
    w.dataset_file.value = str(path)
    w.params.epochs.value = args.epochs
    w.show_report(report)
    w.status.setText(status)
    w.tabs.setCurrentIndex(1)
    _shot(viewer, app, out / "widget_train_results.png")
    model = tmp / "run" / "model.pt"

    # 3. inference: one cage of the cohort (juveniles and adults, 8 animals), its mosaic selected
    viewer, w = _viewer(PredictWidget)
    one = save_dataset(ds.subset(ds.cages == sorted(set(ds.cages))[0]), tmp / "cage.npz")
    viewer.open(str(one), plugin="napari-mousestop")
    viewer.layers.selection = {viewer.layers["cage"]}
    w.model_file.value = str(model)
    w.run()
    _wait(w, app)
    viewer.reset_view()
    _shot(viewer, app, out / "widget_predict.png")

    # 4. class comparison: activation of one 3x3 channel, and AF - AM
    compare_shots(tmp, out, path, app)

    # 5. `mousestop explain` on a cohort where every class has two places of its own
    explain_figures(tmp, out, args.epochs, app)
    genotype_figure(tmp, out)


def compare_shots(tmp: Path, out: Path, path: Path, app) -> None:
    """The Compare widget on the run in ``tmp / "run"``: activations, then contributions."""
    from napari_mousestop.gui.widgets.compare import CompareWidget

    viewer, w = _viewer(CompareWidget, 1500, 1100)
    w.dataset_file.value = str(path)
    w.model_file.value = str(tmp / "run" / "model.pt")
    w.difference.value = True
    w.class_a.value, w.class_b.value = "AF", "AM"
    w.run()
    _wait(w, app)
    best = int(np.argmax(np.nanstd(w.maps.averages, axis=(0, 2, 3))))
    w.channel.value = best
    _shot(viewer, app, out / "widget_compare.png")

    viewer, w = _viewer(CompareWidget, 1500, 1100)
    w.dataset_file.value = str(path)
    w.run_dir.value = str(tmp / "run")  # evidence out of fold, from the run's fold models
    w.kind.value = "contribution"
    w.difference.value = True
    w.class_a.value, w.class_b.value = "AF", "AM"
    w.run()
    _wait(w, app)
    _shot(viewer, app, out / "widget_compare_contribution.png")


EXPLAIN_FIGURES = (
    "occlusion_space",
    "occlusion_space_differences",
    "input_differences",
    "contribution",
    "contribution_hours",
    "activation_k3_pool",
)
"""Figures of ``mousestop explain`` shown in docs/explainability.md (as ``explain_<name>.png``)."""


def explain_figures(tmp: Path, out: Path, epochs: int, app) -> None:
    """Train on a planted cohort (12 cages, T = 4), explain it, copy the docs' figures, and
    open its maps file in napari (``napari_maps.png``)."""
    import shutil

    import napari

    from napari_mousestop.datasets.dataset import save_dataset
    from napari_mousestop.explain.run import explain_run
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.report import train_and_report
    from napari_mousestop.synthetic.generate import planted_histograms

    ds = planted_histograms(seed=0)
    path = save_dataset(ds, tmp / "planted.npz")
    config = TrainConfig(epochs=epochs, lr=0.01, seed=0)
    train_and_report(ds, tmp / "planted_run", config, n_permutations=200, dataset_path=path)
    explain_run(tmp / "planted_run", tmp / "planted_maps", n_permutations=1000)
    for name in EXPLAIN_FIGURES:
        shutil.copyfile(tmp / "planted_maps" / f"{name}.png", out / f"explain_{name}.png")
        print(f"wrote {out / f'explain_{name}.png'}")
    viewer = napari.Viewer(show=True, title="napari-mousestop")
    viewer.window.resize(1500, 950)
    viewer.open(str(tmp / "planted_maps" / "maps.nc"), plugin="napari-mousestop")
    viewer.dims.set_point(list(viewer.dims.axis_labels).index("contrast"), 0)
    for _ in range(20):  # the Maps dock takes its place first: then fit the view
        app.processEvents()
        time.sleep(0.02)
    viewer.reset_view()
    _shot(viewer, app, out / "napari_maps.png")


def genotype_figure(tmp: Path, out: Path) -> None:
    """The stop maps of docs/datasets.md's genotype study (``genotype_study_input.png``): the
    class panels of ``input.png`` that ``mousestop explain`` writes for it (the data, no model),
    for ``mousestop synth DIR --design genotype --cages 6 --hours 2 --seed 7 --plant
    genotype:KO=water`` and ``mousestop dataset DIR/cohort.csv --classes genotype``."""
    from napari_mousestop.datasets.build import build_dataset
    from napari_mousestop.explain.classmaps import geometry_of
    from napari_mousestop.explain.maps import input_maps
    from napari_mousestop.explain.run import DESCRIBE
    from napari_mousestop.explain.stats import class_average
    from napari_mousestop.plots.explain import plot_class_grid
    from napari_mousestop.synthetic.generate import generate_cohort

    files = generate_cohort(tmp / "genotype", cages=6, hours=2, seed=7, design="genotype",
                            plant=["genotype:KO=water"])  # fmt: skip
    ds = build_dataset(files.cohort_csv, tmp / "genotype.npz", n_workers=0,
                       classes="genotype", warn=False)  # fmt: skip
    panels = class_average(input_maps(ds.X, geometry_of(ds), ds.classes), ds.labels)
    what, units, _ = DESCRIBE["input"]
    path = plot_class_grid(panels, out / "genotype_study_input.png",
                           title=f"input (data): {what}", colorbar_label=units)  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
