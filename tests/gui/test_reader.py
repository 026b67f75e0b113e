"""The npe2 reader contract (None for foreign files, never raises), the writer and sample data."""

from __future__ import annotations

import re
import sqlite3
import zipfile

import numpy as np
import pandas as pd
import pytest

from napari_mousestop.datasets.dataset import Dataset, save_dataset
from napari_mousestop.gui import reader as _reader
from napari_mousestop.gui.layers.recordings import stops_to_points
from napari_mousestop.gui.reader import EXPLAINED, get_reader
from napari_mousestop.gui.sample_data import make_sample_cohort
from napari_mousestop.gui.writer import write_points


@pytest.fixture
def notes(monkeypatch):
    """Collect the notifications the reader shows instead of raising."""
    seen: list[str] = []
    monkeypatch.setattr(_reader, "_notify", seen.append)
    return seen


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    """A short generated recording (one mouse per class) with its cohort CSV beside it."""
    return make_sample_cohort(tmp_path_factory.mktemp("sample"), hours=0.05)


def _dataset(n=3):
    rng = np.random.default_rng(1)
    return Dataset(
        X=rng.poisson(0.5, (n, 4, 6, 6)).astype(np.float32),
        labels=np.arange(n) % 4,
        cages=np.array([f"cage{i // 2}" for i in range(n)]),
        recordings=np.array([f"cage{i // 2}.sqlite" for i in range(n)]),
        animals=np.array([f"m{i}" for i in range(n)]),
        params={"histogram": {"interval_s": 3600.0}},
    )


GARBAGE = {
    "empty": b"",
    "text": b"hello, this is not a database\n" * 10,
    "random": np.random.default_rng(0).bytes(5000),
    "sqlite magic only": b"SQLite format 3\x00" + b"\x00" * 50,
    "zip magic only": b"PK\x03\x04" + b"\x00" * 50,
}


@pytest.mark.parametrize("suffix", [".npz", ".tif", ".csv"])
@pytest.mark.parametrize("content", list(GARBAGE))
def test_garbage_files_are_declined_without_raising(tmp_path, suffix, content):
    path = tmp_path / f"file{suffix}"
    path.write_bytes(GARBAGE[content])
    assert get_reader(str(path)) is None


@pytest.mark.parametrize("content", list(GARBAGE))
def test_a_sqlite_file_that_is_no_lmt_database_gets_our_one_line_reason(tmp_path, content, notes):
    """Not napari's generic 'refused the file': the file and the problem, in one line."""
    path = tmp_path / "file.sqlite"
    path.write_bytes(GARBAGE[content])
    reader = get_reader(str(path))
    assert reader is not None
    assert reader(str(path)) == EXPLAINED
    assert len(notes) == 1 and notes[0].startswith(str(path)) and "\n" not in notes[0]
    assert any(w in notes[0] for w in ("not an SQLite database", "no ANIMAL table", "unreadable"))


def test_missing_files_directories_and_empty_lists_are_declined(tmp_path):
    assert get_reader(str(tmp_path / "nope.sqlite")) is None
    (tmp_path / "folder.sqlite").mkdir()
    assert get_reader(str(tmp_path / "folder.sqlite")) is None
    assert get_reader([]) is None
    assert get_reader(None) is None


def test_foreign_sqlite_is_explained_and_npz_declined(tmp_path, notes):
    db = tmp_path / "other.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE SOMETHING (ID INTEGER)")
    con.commit()
    con.close()
    assert get_reader(str(db))(str(db)) == EXPLAINED
    assert len(notes) == 1
    pattern = rf"{re.escape(str(db))}: no [A-Z]+ table \(not an LMT database\?\)"
    assert re.fullmatch(pattern, notes[0])
    npz = tmp_path / "arrays.npz"
    np.savez(npz, X=np.zeros(3), labels=np.zeros(3))
    assert get_reader(str(npz)) is None


def test_lmt_lookalike_that_cannot_be_read_notifies_and_adds_nothing(tmp_path, notes):
    # has the LMT table names but none of the columns
    db = tmp_path / "broken.sqlite"
    con = sqlite3.connect(db)
    for table in ("ANIMAL", "DETECTION", "FRAME"):
        con.execute(f"CREATE TABLE {table} (X INTEGER)")
    con.commit()
    con.close()
    reader = get_reader(str(db))
    assert reader is not None
    assert reader(str(db)) == EXPLAINED
    assert len(notes) == 1 and str(db) in notes[0]


def test_truncated_recording_is_explained(tmp_path, sample_db, notes):
    data = sample_db.read_bytes()
    db = tmp_path / "truncated.sqlite"
    db.write_bytes(data[: len(data) // 3])
    assert get_reader(str(db))(str(db)) == EXPLAINED
    assert len(notes) == 1 and notes[0].startswith(str(db))


def test_corrupt_recording_notifies_and_adds_nothing(tmp_path, sample_db, notes):
    # header and schema intact, table pages overwritten: found readable, fails while reading
    data = bytearray(sample_db.read_bytes())
    n = len(data)
    data[n // 4 : 3 * n // 4] = np.random.default_rng(0).bytes(3 * n // 4 - n // 4)
    db = tmp_path / "corrupt.sqlite"
    db.write_bytes(bytes(data))
    reader = get_reader(str(db))
    assert reader is not None
    assert reader(str(db)) == EXPLAINED
    assert len(notes) == 1 and str(db) in notes[0]
    assert db.read_bytes() == bytes(data)  # never written to


def test_bad_dataset_notifies_and_adds_nothing(tmp_path, notes):
    path = tmp_path / "bad.npz"
    ds = _dataset()
    meta = np.array('{"format": "napari-mousestop-dataset/1"}')
    arrays = {k: getattr(ds, k) for k in ("X", "cages", "recordings", "animals")}
    np.savez(path, labels=ds.labels + 7, meta=meta, **arrays)
    reader = get_reader(str(path))
    assert reader is not None and reader(str(path)) == EXPLAINED
    assert len(notes) == 1 and str(path) in notes[0]


def _by_name(layers):
    return {kw["name"]: (data, kw, kind) for data, kw, kind in layers}


def _tiles(layers, name):
    return [t["name"] for t in _by_name(layers)[name][1]["metadata"]["tiles"]]


def test_dataset_file_gives_one_mosaic_of_every_animal(tmp_path, notes):
    ds = _dataset(3)
    path = save_dataset(ds, tmp_path / "data.npz")
    layers = get_reader(str(path))(str(path))
    assert [(kw["name"], kind) for _, kw, kind in layers] == [
        ("data", "image"),
        ("data layout", "shapes"),
        ("data labels", "points"),
        ("data captions", "points"),
    ]
    assert _tiles(layers, "data") == ["cage0/m0 (AM)", "cage0/m1 (JM)", "cage1/m2 (AF)"]
    assert layers[0][0].sum() == ds.X.sum()  # every stop of every animal is in the mosaic
    assert not notes


def test_two_recordings_open_one_below_the_other(tmp_path, sample_db, notes):
    paths = []
    for name in ("cage21.sqlite", "cage22.sqlite"):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(sample_db.read_bytes())
    layers = _by_name(get_reader([str(p) for p in paths])([str(p) for p in paths]))
    top, below = layers["cage21"][1], layers["cage22"][1]
    height = layers["cage21"][0].shape[1] * top["scale"][1]
    assert below["translate"][1] >= top["translate"][1] + height  # no overlap
    stops = layers["cage22 stops"][0]
    assert stops[:, 1].min() >= height  # the second recording's stops on its own mosaic
    assert not notes


def test_recording_gives_its_animals_side_by_side_named_by_cohort(sample_db, notes):
    reader = get_reader(str(sample_db))
    assert reader is not None
    layers = reader(str(sample_db))
    assert not notes
    named = _by_name(layers)
    assert set(named) == {
        "cage01", "cage01 stops", "cage01 layout", "cage01 labels", "cage01 captions"
    }  # fmt: skip
    names = [f"cage01/0000090{i + 1} ({c})" for i, c in enumerate(["AM", "JM", "AF", "JF"])]
    assert _tiles(layers, "cage01") == names
    data, kw, _ = named["cage01"]
    assert tuple(kw["axis_labels"]) == ("hour", "y", "x")
    # one 1 h interval per started hour of the (short) recording, not 72 empty hours
    assert data.shape[0] == 1 and data[0].sum() > 0
    stops, skw, _ = named["cage01 stops"]
    assert len(stops) == data.sum() and (stops[:, 0] == 0).all()
    assert {"start", "duration", "animal"} <= set(skw["features"].columns)
    assert set(skw["features"]["animal"]) == {f"0000090{i}" for i in range(1, 5)}
    # clock time from the recording (05:00 UTC) and the default light schedule (on at 07:00)
    clock = kw["metadata"]["tiles"][0]["clock"]
    assert clock["origin"].startswith("2024-01-15T05:00") and clock["light"]["on"] == "07:00"


def test_recording_without_cohort_csv_is_named_by_file_and_animal_table(tmp_path, sample_db, notes):
    db = tmp_path / "alone.sqlite"
    db.write_bytes(sample_db.read_bytes())
    layers = get_reader(str(db))(str(db))
    assert _tiles(layers, "alone")[0] == "alone/00000901 (AM)"
    assert not notes


def test_sample_cohort_is_generated_once(tmp_path):
    db = make_sample_cohort(tmp_path, hours=0.01)
    mtime = db.stat().st_mtime_ns
    assert make_sample_cohort(tmp_path, hours=0.01) == db
    assert db.stat().st_mtime_ns == mtime
    cohort = pd.read_csv(tmp_path / "cohort.csv", dtype=str)
    assert list(cohort.columns) == ["database", "animal", "cage", "sex", "age"]
    assert len(cohort) == 4


def test_writer_round_trips_a_stop_table(tmp_path):
    t0 = pd.Timestamp("2024-01-15 18:00", tz="UTC")
    stops = pd.DataFrame(
        {
            "recording": "r.sqlite",
            "animal_id": [1, 1, 2],
            "rfid": ["a", "a", "b"],
            "name": ["A", "A", "B"],
            "start_frame": [30, 120_000, 400],
            "end_frame": [90, 120_100, 500],
            "start_time": t0 + pd.to_timedelta([1.0, 4000.0, 13.3], unit="s"),
            "start_s": [1.0, 4000.0, 13.3],
            "duration_s": [2.0, 3.3, 3.4],
            "x_cm": [1.5, 20.25, 49.0],
            "y_cm": [3.0, 44.5, 0.5],
        }
    )
    data, kwargs, _ = stops_to_points(stops)
    data[2, 1:] = (10.0, 11.0)  # the user moved a point
    (out,) = write_points(str(tmp_path / "stops"), data, {"features": kwargs["features"]})
    assert out.endswith("stops.csv")
    back = pd.read_csv(out)
    assert list(back.columns[:4]) == ["recording", "animal_id", "rfid", "name"]
    np.testing.assert_allclose(back["start_s"], stops["start_s"])
    np.testing.assert_allclose(back["duration_s"], stops["duration_s"])
    np.testing.assert_allclose(back["x_cm"], [1.5, 20.25, 11.0])
    np.testing.assert_allclose(back["y_cm"], [3.0, 44.5, 10.0])
    np.testing.assert_allclose(back["hour"], [0, 1, 0])
    assert list(tmp_path.iterdir()) == [tmp_path / "stops.csv"]  # no temporary file left


def test_writer_accepts_plain_points(tmp_path):
    (out,) = write_points(str(tmp_path / "p.csv"), np.array([[1.0, 2.0]]), {})
    assert pd.read_csv(out).to_dict("list") == {"y_cm": [1.0], "x_cm": [2.0]}


def test_reader_never_opens_the_database_for_writing(sample_db):
    before = sample_db.read_bytes()
    get_reader(str(sample_db))(str(sample_db))
    assert sample_db.read_bytes() == before
    assert not any(p.name.endswith(("-journal", "-wal")) for p in sample_db.parent.iterdir())


def test_zip_without_dataset_arrays_is_declined(tmp_path):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("X.npy", b"nonsense")
    assert get_reader(str(path)) is None


def test_layout_and_photo_beside_the_recording_are_shown(tmp_path, sample_db, notes):
    from skimage.io import imsave

    db = tmp_path / "cage07.sqlite"
    db.write_bytes(sample_db.read_bytes())
    photo = np.zeros((120, 160, 3), np.uint8)
    photo[10:110, 20:140] = 90  # the floor, seen from straight above
    imsave(tmp_path / "cage.png", photo)
    text = (
        '[photo]\npath = "cage.png"\ncorners_px = [[20, 10], [140, 10], [140, 110], [20, 110]]\n'
        '[[shape]]\nname = "running wheel"\nkind = "ellipse"\nx = 30\ny = 30\nwidth = 8\n'
        "height = 8\n"
    )
    (tmp_path / "cage_layout.toml").write_text(text)
    layers = get_reader(str(db))(str(db))
    assert not notes
    photos = layers[:4]  # the photo at the bottom, under each of the four tiles
    tiles = layers[4][1]["metadata"]["tiles"]
    assert all(
        kw["name"] == "cage photo" and kind == "image" and kw["rgb"] for _, kw, kind in photos
    )
    origins = sorted(
        (round(kw["translate"][0] + 1.95, 6), round(kw["translate"][1] + 1.95, 6))
        for _, kw, _ in photos
    )
    mosaic = layers[4][1]["metadata"]["mosaic"]
    assert origins == sorted(tuple(round(v, 6) for v in t["origin_cm"]) for t in mosaic["tiles"])
    data, kwargs, _ = photos[0]
    assert tuple(kwargs["units"]) == ("cm", "cm") and len(tiles) == 4
    # 0.1 cm pixels with a 2 cm margin: the floor (value 90) fills 0..50 cm, the margin is dark
    assert data.shape == (540, 540, 3)
    assert np.mean(data[25:-25, 25:-25] == 90) > 0.99
    assert np.all(data[:15] == 0) and np.all(data[:, -15:] == 0)
    _, shapes_kw, shapes_kind = _by_name(layers)["cage07 layout"]
    assert shapes_kind == "shapes"
    assert list(shapes_kw["features"]["name"]) == ["running wheel"] * 4


def test_broken_layout_beside_the_recording_falls_back_to_the_default(tmp_path, sample_db, notes):
    db = tmp_path / "cage08.sqlite"
    db.write_bytes(sample_db.read_bytes())
    (tmp_path / "cage_layout.toml").write_text("[[shape]]\nname = 'x'\nkind = 'hexagon'\n")
    layers = get_reader(str(db))(str(db))
    assert len(notes) == 1 and "hexagon" in notes[0] and "default" in notes[0]
    assert "dome" in list(_by_name(layers)["cage08 layout"][1]["features"]["name"])


def _maps_file(folder):
    """A small maps file: class panels, a difference with its mask, per-animal maps."""
    from napari_mousestop.explain.files import save_maps
    from napari_mousestop.explain.maps import ExplanationMap
    from napari_mousestop.io.geometry import feature_map_placement

    classes = ("AM", "JM", "AF", "JF")
    pooled = feature_map_placement(30, 9, 2)
    panels = ExplanationMap("occlusion_space", np.ones((4, 11, 11)), pooled, classes, "occlusion",
                            meta={"kernel_size": 9})  # fmt: skip
    diff = ExplanationMap(
        "occlusion_space_difference", np.linspace(-1, 2, 2 * 121).reshape(2, 11, 11), pooled,
        ("AF - AM", "sex (F - M)"), "difference", ("contrast", "y", "x"),
        {"kernel_size": 9, "legends": {"AF - AM": {"red": "AF higher than AM"}}},
    )  # fmt: skip
    mask = ExplanationMap("occlusion_space_significant", np.zeros((2, 11, 11), bool), pooled,
                          diff.classes, "mask", diff.axes, {"kernel_size": 9})  # fmt: skip
    per_animal = ExplanationMap("occlusion_space_per_animal", np.ones((3, 4, 11, 11)), pooled,
                                classes, "occlusion", ("sample", "class", "y", "x"),
                                {"kernel_size": 9})  # fmt: skip
    other = ExplanationMap("input", np.ones((4, 30, 30)), feature_map_placement(30, 1, 1),
                           classes, "input")  # fmt: skip
    return save_maps([panels, diff, mask, per_animal, other], folder / "maps.nc",
                     attrs={"primary_map": "occlusion_space"})  # fmt: skip


def test_maps_file_opens_as_layers_placed_in_cm(tmp_path, notes):
    from napari_mousestop.io.geometry import feature_map_placement

    path = _maps_file(tmp_path)
    for target in (path, tmp_path):  # the file, or the folder holding it
        reader = get_reader(str(target))
        assert reader is not None
        layers = {kw["name"]: (data, kw, kind) for data, kw, kind in reader(str(target))}
        # the primary map alone: its class panels, its differences, their marks and labels
        assert all(n.startswith("occlusion_space: ") for n in layers)
        data, kw, kind = layers["occlusion_space: classes"]
        placement = feature_map_placement(30, 9, 2)
        assert kind == "image" and data.ndim == 2  # every class panel in one image
        assert tuple(kw["scale"]) == pytest.approx(placement.scale)
        assert tuple(kw["translate"]) == pytest.approx(placement.translate)
        cells = kw["metadata"]["cells"]
        assert [c["class"] for c in cells] == ["AM", "JM", "AF", "JF"]
        assert len({tuple(c["origin_cm"]) for c in cells}) == 4  # four panels, apart
        data, kw, kind = layers["occlusion_space: difference"]
        assert kind == "image" and kw["colormap"] == "bwr" and data.shape == (2, 11, 11)
        assert tuple(kw["axis_labels"]) == ("contrast", "y", "x")
        assert kw["contrast_limits"] == (-2.0, 2.0)  # symmetric: white means no difference
        assert kw["metadata"]["legend"]["AF - AM"]["red"] == "AF higher than AM"
        assert "occlusion_space: significant" not in layers  # nothing significant: no rings
    assert notes == []


def test_older_maps_folders_open_without_their_differences(tmp_path, notes):
    import json

    np.savez_compressed(tmp_path / "input.npz", data=np.ones((4, 5, 5)))
    np.savez_compressed(tmp_path / "input_pairs.npz", data=np.ones((4, 5, 5)))
    entry = {"kind": "input", "axes": ["class", "y", "x"], "shape": [4, 5, 5], "meta": {},
             "classes": ["AM", "JM", "AF", "JF"],
             "placement": {"scale": [10.0, 10.0], "translate": [5.0, 5.0]}}  # fmt: skip
    doc = {"format": "napari-mousestop-maps/1", "maps": [
        {**entry, "name": "input", "file": "input.npz"},
        {**entry, "name": "input_pairs", "file": "input_pairs.npz", "kind": "difference"},
    ]}  # fmt: skip
    (tmp_path / "maps.json").write_text(json.dumps(doc))
    layers = get_reader(str(tmp_path))(str(tmp_path))
    assert [kw["name"] for _, kw, _ in layers] == ["input"]
    assert layers[0][1]["scale"][1:] == (10.0, 10.0)
    assert len(notes) == 1 and "earlier version" in notes[0] and str(tmp_path) in notes[0]


def test_foreign_netcdf_and_plain_folders_are_declined(tmp_path):
    import xarray as xr

    xr.Dataset({"t": ("x", np.arange(3.0))}).to_netcdf(tmp_path / "climate.nc", engine="h5netcdf")
    assert get_reader(str(tmp_path / "climate.nc")) is None
    (tmp_path / "garbage.nc").write_bytes(b"CDF\x01" + b"\x00" * 40)
    assert get_reader(str(tmp_path / "garbage.nc")) is None
    assert get_reader(str(tmp_path)) is None  # a folder without maps


@pytest.mark.gui
def test_napari_opening_a_foreign_sqlite_shows_only_our_line(make_napari_viewer, tmp_path, notes):
    """Through napari itself (drag and drop = viewer.open): no exception, no generic "tried to
    read ... but it gave an error" on top, no layer; our one line names the file."""
    viewer = make_napari_viewer()
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"these are my notes, not a database" * 40)
    added = viewer.open(str(path), plugin="napari-mousestop")
    assert added == [] and len(viewer.layers) == 0
    assert len(notes) == 1 and notes[0].startswith(str(path)) and "\n" not in notes[0]
