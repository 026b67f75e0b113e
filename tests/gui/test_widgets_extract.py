"""The stop extraction widget: LMT files or a cohort CSV -> aligned layers and a dataset file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_mousestop.datasets.build import build_dataset
from napari_mousestop.datasets.dataset import load_dataset
from napari_mousestop.gui.widgets.extract import ExtractWidget
from napari_mousestop.histograms import HistogramParams, recording_stacks
from napari_mousestop.progress import Progress
from napari_mousestop.synthetic.generate import generate_cohort

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Two cages (male, female), each recorded as juveniles and adults, 2 mice, 0.3 h."""
    return generate_cohort(
        tmp_path_factory.mktemp("cohort"), cages=2, hours=0.3, mice_per_cage=2, seed=3
    )


def _widget(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = ExtractWidget(viewer)
    viewer.window.add_dock_widget(widget, name="extract")
    widget.hist.interval_s.value = "600"  # 10-minute intervals
    widget.hist.n_intervals.value = 3
    widget.hist.n_bins.value = 10
    return viewer, widget


def test_recordings_then_a_cohort_csv_give_aligned_layers_and_a_dataset(
    make_napari_viewer, qtbot, cohort, tmp_path
):
    viewer, widget = _widget(make_napari_viewer)
    dbs = sorted(str(p) for p in cohort.cohort_csv.parent.glob("*.sqlite"))
    widget.files.value = dbs
    batches = []
    add_layers = widget.add_layers
    widget.add_layers = lambda data: (batches.append(data), add_layers(data))[1]
    progress = []
    worker = widget.run()
    worker.yielded.connect(progress.append)
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert widget.status.text().startswith("4 recording(s) extracted"), widget.status.text()
    reports = [item for item in progress if isinstance(item, Progress)]
    assert reports and reports[-1].done == reports[-1].total  # the bar ends full
    assert any("cage01_juvenile.sqlite" in p.message for p in reports)
    # every recording's layers came at once, finished (arrays, not files to read)
    assert len(batches) == 1 and len(batches[0]) == len(viewer.layers)
    assert all(isinstance(data, np.ndarray) for data, _, kind in batches[0] if kind == "image")

    from napari_mousestop.datasets.mosaic import Mosaic
    from napari_mousestop.gui.widgets.common import stack_layers

    mosaics = [lyr for lyr in viewer.layers if "mosaic" in lyr.metadata]
    assert len(mosaics) == 4  # one per recording, each with its stops and its layout
    for lyr in mosaics:
        assert {f"{lyr.name} stops", f"{lyr.name} layout"} <= {x.name for x in viewer.layers}
    tops = sorted(lyr.translate[1] for lyr in mosaics)
    heights = [lyr.data.shape[1] * lyr.scale[1] for lyr in mosaics]
    assert all(b - a >= max(heights) for a, b in zip(tops, tops[1:], strict=False))  # no overlap
    stacks = stack_layers(viewer)
    assert len(stacks) == 8  # 2 cages x 2 recordings x 2 mice
    # (a name says its recording, "[cage01_adult]", when an animal is shown more than once)
    plain = sorted(v.name.split(" [")[0] for v in stacks)
    assert all(n.endswith((" (AM)", " (JM)", " (AF)", " (JF)")) for n in plain)

    # a cohort CSV: the whole cohort at a glance, one mosaic by class (not one per recording)
    widget.input_kind.value = "cohort CSV"
    widget.cohort.value = str(cohort.cohort_csv)
    widget.dataset_file.value = str(tmp_path / "cohort.npz")
    n_before = len(viewer.layers)
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert widget.status.text().startswith("4 recording(s) extracted"), widget.status.text()
    # the quality table, shown and written beside the dataset
    assert "cage01_juvenile.sqlite: 0.30 h" in widget.status.text()
    assert "animal-recordings flagged" in widget.status.text()
    assert (tmp_path / "cohort.qc.csv").is_file()
    name = cohort.cohort_csv.stem
    added = [lyr.name for lyr in viewer.layers][n_before:]
    assert added[0] == name and all(a.startswith(name) for a in added) and len(added) <= 4
    whole = viewer.layers[name]
    # each tile knows how much of each interval was recorded: 18 min in 3 x 10 min
    for tile in whole.metadata["tiles"]:
        np.testing.assert_allclose(tile["coverage"], [1.0, 0.8, 0.0], atol=0.01)
    tiles = Mosaic.from_dict(whole.metadata["mosaic"]).tiles
    assert [t.label for t in tiles] == sorted(
        (t.label for t in tiles), key=["AM", "JM", "AF", "JF"].index
    )
    assert sorted(t.name for t in tiles) == plain
    assert whole.data.sum() == sum(lyr.data.sum() for lyr in mosaics)
    assert tuple(viewer.dims.axis_labels) == ("hour", "y", "x")

    # each tile holds what the core computes and sits on its floor in cm, hours
    first = mosaics[0]
    mosaic = Mosaic.from_dict(first.metadata["mosaic"])
    tile = mosaic.tiles[0]
    params = HistogramParams(interval_s=600, n_intervals=3, n_bins=10)
    rs = recording_stacks(first.metadata["recording"], params)
    i = next(k for k, a in enumerate(rs.animals) if a["rfid"] == tile.animal)
    np.testing.assert_array_equal(mosaic.tile_stack(first.data, tile), rs.stacks[i])
    oy, ox = (
        first.translate[1] - 2.5 + tile.origin_cm[0],
        first.translate[2] - 2.5 + tile.origin_cm[1],
    )
    assert first.data_to_world((0, tile.y0 - 0.5, tile.x0 - 0.5)) == pytest.approx((0, oy, ox))
    far = (2, tile.y0 + 9.5, tile.x0 + 9.5)
    assert first.data_to_world(far) == pytest.approx((2 / 6, oy + 50, ox + 50))
    # stops drawn on their interval, where they are in cm, inside the bin the stack counted
    points = viewer.layers[f"{first.name} stops"]
    mine = (points.features["animal"] == tile.animal).to_numpy()
    assert mine.sum() == rs.stacks[i].sum()
    t, y, x = points.data[mine].T  # interval, y, x (scale interval_h, 1, 1)
    y, x = y - oy, x - ox
    assert set(np.round(t).astype(int)) <= {0, 1, 2}
    assert ((y >= 0) & (y <= 50) & (x >= 0) & (x <= 50)).all()
    hist = np.zeros((3, 10, 10))
    np.add.at(hist, (np.round(t).astype(int), np.minimum(y // 5, 9).astype(int),
                     np.minimum(x // 5, 9).astype(int)), 1)  # fmt: skip
    np.testing.assert_array_equal(hist, rs.stacks[i])

    ds = load_dataset(tmp_path / "cohort.npz")
    assert len(ds) == 8 and ds.X.shape[1:] == (3, 10, 10)
    assert set(ds.class_names) == {"AM", "JM", "AF", "JF"}
    assert sorted(set(ds.cages)) == ["cage01", "cage02"]
    assert ds.params["histogram"]["interval_s"] == 600
    origin = ds.params["recordings"][ds.recordings[0]]["info"]["origin"]
    assert origin.startswith("20")  # clock time travels with the dataset

    # the same dataset, with the same recorded parameters, as the CLI's builder makes
    params = HistogramParams(interval_s=600, n_intervals=3, n_bins=10)
    core = build_dataset(cohort.cohort_csv, tmp_path / "core.npz", params, n_workers=0)
    assert set(ds.params) == set(core.params)
    for key in ("histogram", "stops", "geometry", "labels", "package_version"):
        assert ds.params[key] == core.params[key], key
    assert ds.params["recordings"].keys() == core.params["recordings"].keys()
    assert sorted(s["fingerprint"] for s in ds.sources) == sorted(
        s["fingerprint"] for s in core.sources
    )
    order = np.lexsort((ds.animals, ds.recordings))
    core_order = np.lexsort((core.animals, core.recordings))
    np.testing.assert_array_equal(ds.X[order], core.X[core_order])
    np.testing.assert_array_equal(ds.labels[order], core.labels[core_order])


def test_running_again_updates_layers_by_name(make_napari_viewer, qtbot, cohort):
    viewer, widget = _widget(make_napari_viewer)
    db = sorted(cohort.cohort_csv.parent.glob("*.sqlite"))[0]
    widget.files.value = [str(db)]
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    n_layers = len(viewer.layers)
    stack = next(lyr for lyr in viewer.layers if "mosaic" in lyr.metadata)
    before = stack.data.sum()
    widget.hist.weight.value = "duration"
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert len(viewer.layers) == n_layers  # updated, not duplicated
    assert viewer.layers[stack.name] is stack
    assert stack.data.sum() > before  # seconds of stops, not counts


def test_cancel_and_bad_input(make_napari_viewer, qtbot, cohort, monkeypatch):
    viewer, widget = _widget(make_napari_viewer)
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    widget.input_kind.value = "folder"
    widget.folder.value = str(cohort.cohort_csv.parent / "missing")
    widget.run()  # the folder is listed in the job: its error comes back as one line
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert len(shown) == 1 and "missing" in shown[-1] and "\n" not in shown[-1]

    widget.folder.value = str(cohort.cohort_csv.parent)
    worker = widget.run()
    seen = []
    worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=60_000)
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.status.text() == "cancelled"
    assert len(viewer.layers) == 0  # a cancelled job adds nothing


def test_verify_checkbox_refuses_a_damaged_file(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """The 'verify file first' box runs PRAGMA quick_check; a damaged file fails with the
    file's name and SQLite's finding, and no layer is added."""
    from _lmt_files import Spec, build, index_pages

    path = build(tmp_path / "damaged.sqlite", Spec(frames=600))
    data = bytearray(path.read_bytes())
    leaf = index_pages(path)["leaf"][0]
    data[(leaf - 1) * 4096 + 3 : (leaf - 1) * 4096 + 5] = (1).to_bytes(2, "big")  # cells lost
    path.write_bytes(bytes(data))
    viewer, widget = _widget(make_napari_viewer)
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    assert widget.stop.verify.value is False and widget.stop.verify.label == "verify file first"
    widget.stop.verify.value = True
    widget.files.value = [str(path)]
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert widget.status.text().startswith(f"failed: {path}: the file is damaged: PRAGMA")
    assert len(viewer.layers) == 0 and "quick_check" in shown[-1]


def test_classes_from_a_cohort_column(make_napari_viewer, qtbot, tmp_path):
    """ "classes from" genotype: layers named by genotype, a KO/WT dataset as the CLI's, the
    other columns kept; the choices list the cohort's own columns."""
    files = generate_cohort(tmp_path / "g", cages=2, hours=0.1, mice_per_cage=2, design="genotype")
    viewer, widget = _widget(make_napari_viewer)
    widget.hist.n_intervals.value = 1
    assert "genotype" in widget.classes_from.choices
    widget.input_kind.value = "cohort CSV"
    widget.cohort.value = str(files.cohort_csv)
    assert "strain" in widget.classes_from.choices  # read from the chosen CSV
    widget.classes_from.value = "genotype"
    widget.dataset_file.value = str(tmp_path / "g.npz")
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    assert widget.status.text().startswith("2 recording(s) extracted"), widget.status.text()
    from napari_mousestop.gui.widgets.common import stack_layers

    whole = files.cohort_csv.stem  # a cohort CSV ends as one mosaic of the cohort by class
    names = [v.name.split(" [")[0] for v in stack_layers(viewer) if v.layer.name == whole]
    assert len(names) == 4 and all(n.endswith((" (KO)", " (WT)")) for n in names)
    ds = load_dataset(tmp_path / "g.npz")
    assert ds.classes == ("KO", "WT") and list(ds.factors) == ["genotype"]
    assert set(ds.covariates) == {"sex", "age", "strain"}
    params = HistogramParams(interval_s=600, n_intervals=1, n_bins=10)
    core = build_dataset(
        files.cohort_csv, tmp_path / "core.npz", params, n_workers=0, classes="genotype"
    )
    assert ds.params["labels"] == core.params["labels"]


def test_intervals_from_the_recording_and_its_partial_last_interval_shown_as_such(
    make_napari_viewer, qtbot, cohort
):
    """Left at "from the recording", a 0.3-h recording in 10-min intervals gives 2 intervals
    (not 72 mostly empty ones); the Explore plot marks the second as 8 min recorded."""
    from napari_mousestop.gui.widgets.explore import ExploreWidget

    viewer = make_napari_viewer()
    widget = ExtractWidget(viewer)
    assert widget.hist.n_intervals.value == 0  # the default: from the recording
    assert widget.hist.n_intervals.native.specialValueText() == "from the recording"
    widget.hist.interval_s.value = "600"
    widget.hist.n_bins.value = 10
    widget.files.value = [str(cohort.cohort_csv.parent / "cage01_adult.sqlite")]
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)
    mosaic = next(lyr for lyr in viewer.layers if "mosaic" in lyr.metadata)
    assert mosaic.data.shape[0] == 2  # 18 min in 10-min intervals
    assert mosaic.metadata["hist_params"]["n_intervals"] == 2  # the T used, recorded
    coverage = [t["coverage"] for t in mosaic.metadata["tiles"]]
    np.testing.assert_allclose(coverage, [[1.0, 0.8]] * len(coverage), atol=0.01)
    explorer = ExploreWidget(viewer)
    explorer.bind(mosaic)
    texts = [t.get_text() for t in explorer.hourly.axes.texts]
    assert texts == ["8 min recorded"], texts
    assert "hatched: partly recorded" in explorer.hourly.axes.get_xlabel()

    # hovering a stop point: its start (clock time and s) and duration, as in the stop table
    points = viewer.layers[f"{mosaic.name} stops"]
    table = recording_stacks(
        cohort.cohort_csv.parent / "cage01_adult.sqlite",
        HistogramParams(interval_s=600, n_intervals=None, n_bins=10),
    ).stops
    k = int(np.argmax(points.features["duration"]))  # the longest stop
    row = table.loc[np.isclose(table["start_s"], points.features["start_s"][k])].iloc[0]
    assert points.features["duration"][k] == pytest.approx(row["duration_s"])
    start = pd.Timestamp(row["start_time"])
    assert pd.Timestamp(points.features["start"][k]) == start.floor("ms")
    hour, y, x = points.data_to_world(points.data[k])
    viewer.dims.set_point(0, hour)
    text = explorer.status_at(np.array([hour, y, x]))
    assert text.startswith(
        f"stop of {points.features['animal'][k]}: starts {start:%H:%M:%S} UTC "
        f"({row['start_s']:.1f} s into the recording), lasts {row['duration_s']:.1f} s · "
    ), text
    assert " · " in text and "bin" in text  # then the tile's own hover text
    other = 1 / 6 if hour == 0 else 0.0  # the other interval: the point is not shown there
    viewer.dims.set_point(0, other)
    assert not explorer.status_at(np.array([other, y, x])).startswith("stop")


def test_a_number_of_intervals_is_still_used_as_given(cohort):
    rs = recording_stacks(
        cohort.cohort_csv.parent / "cage01_adult.sqlite",
        HistogramParams(interval_s=600, n_intervals=5, n_bins=10),
    )
    assert rs.stacks.shape[1] == 5 and rs.params.n_intervals == 5
    assert not any("as many as the recording covers" in n for n in rs.report["notes"])
    with pytest.raises(ValueError, match="one number of intervals"):
        build_dataset(cohort.cohort_csv, cohort.cohort_csv.parent / "x.npz",
                      HistogramParams(n_intervals=None))  # fmt: skip
