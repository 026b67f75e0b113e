"""The dataset file: exact round trip, atomic writes, clear errors for foreign or broken files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import napari_mousestop.io.atomic as io_mod
from napari_mousestop import __version__
from napari_mousestop.datasets.dataset import Dataset, load_dataset, save_dataset
from napari_mousestop.errors import DatasetError


def make(n: int = 5, T: int = 3, N: int = 4, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(
        X=rng.random((n, T, N, N), dtype=np.float32) * 7,
        labels=rng.integers(0, 4, n),
        cages=np.array([f"cage{i % 2}" for i in range(n)]),
        recordings=np.array([f"rec_{i}.sqlite" for i in range(n)]),
        animals=np.array([f"RFID_{i}" for i in range(n)]),
        params={
            "histogram": {"interval_s": 3600.0, "n_intervals": T, "align_to": None},
            "stops": {"speed_cm_s": 5.0, "min_duration_s": 1.0},
            "geometry": {"cm_per_px": [10 / 57, 10 / 57]},
            "note": "µ – unicode survives",
        },
        sources=[{"name": "rec_0.sqlite", "size": 123, "fingerprint": "sha256:ab"}],
    )


def test_exact_round_trip(tmp_path):
    ds = make()
    path = save_dataset(ds, tmp_path / "d.npz")
    back = load_dataset(path)
    assert back.X.dtype == np.float32 and np.array_equal(back.X, ds.X)
    assert back.labels.dtype == np.int64 and np.array_equal(back.labels, ds.labels)
    for name in ("cages", "recordings", "animals"):
        assert list(getattr(back, name)) == list(getattr(ds, name))
    assert back.params == ds.params
    assert back.sources == ds.sources
    assert back.classes == ds.classes
    with np.load(path) as npz:
        assert json.loads(str(npz["meta"]))["package_version"] == __version__


def test_suffix_is_added(tmp_path):
    assert save_dataset(make(), tmp_path / "d").name == "d.npz"
    assert (tmp_path / "d.npz").is_file()


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_dataset(make(), tmp_path / "d.npz")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_dataset(make(seed=1), tmp_path / "d.npz")
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(io_mod.os, "replace", boom)
    with pytest.raises(OSError):
        save_dataset(make(seed=2), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


def test_subset_keeps_provenance():
    ds = make()
    sub = ds.subset(ds.cages == "cage0")
    assert len(sub) == 3 and set(sub.cages) == {"cage0"}
    assert sub.params == ds.params and sub.sources == ds.sources


def test_inconsistent_arrays_are_refused():
    ds = make()
    with pytest.raises(DatasetError, match="labels has shape"):
        Dataset(ds.X, ds.labels[:2], ds.cages, ds.recordings, ds.animals)
    with pytest.raises(DatasetError, match="labels must lie in 0..3"):
        Dataset(ds.X, ds.labels + 4, ds.cages, ds.recordings, ds.animals)
    X = ds.X.copy()
    X[1, 0, 0, 0] = np.nan
    with pytest.raises(DatasetError, match="RFID_1"):
        Dataset(X, ds.labels, ds.cages, ds.recordings, ds.animals)


def test_foreign_and_broken_files_give_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset file"):
        load_dataset(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"junk.npz: not a napari-mousestop dataset"):
        load_dataset(junk)
    recording = tmp_path / "recording.sqlite"
    recording.write_bytes(b"SQLite format 3\x00" + bytes(200))
    with pytest.raises(DatasetError, match=r"recording.sqlite: .*\(not an .npz file\)$"):
        load_dataset(recording)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(DatasetError, match=r"missing \["):
        load_dataset(other)
    bad_meta = tmp_path / "bad_meta.npz"
    good = make()
    np.savez(
        bad_meta,
        X=good.X,
        labels=good.labels,
        cages=good.cages,
        recordings=good.recordings,
        animals=good.animals,
        meta=np.array("{not json"),
    )
    with pytest.raises(DatasetError, match="bad_meta.npz"):
        load_dataset(bad_meta)


def test_truncated_file_is_refused(tmp_path):
    path = save_dataset(make(), tmp_path / "d.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="not a napari-mousestop dataset"):
        load_dataset(path)
    assert not zipfile.is_zipfile(path)


def test_factors_and_covariates_survive_the_file(tmp_path):
    ds = make(n=4)
    study = Dataset(
        ds.X, np.array([0, 1, 1, 0]), ds.cages, ds.recordings, ds.animals,
        classes=("KO", "WT"),
        factors={"genotype": np.array(["KO", "WT", "WT", "KO"])},
        covariates={"strain": np.array(["B6"] * 4), "treatment": np.array(["", "x", "", "y"])},
    )  # fmt: skip
    back = load_dataset(save_dataset(study, tmp_path / "g.npz"))
    assert back.classes == ("KO", "WT")
    assert list(back.factors) == ["genotype"]
    assert back.factors["genotype"].tolist() == ["KO", "WT", "WT", "KO"]
    assert back.covariates["treatment"].tolist() == ["", "x", "", "y"]
    assert back.subset(np.array([1, 2])).factors["genotype"].tolist() == ["WT", "WT"]


def test_factors_of_an_older_dataset_come_from_its_class_names():
    ds = make(n=4)  # AM/JM/AF/JF, no factors given
    names = ds.class_names
    assert ds.factors["sex"].tolist() == [c[1] for c in names]
    assert ds.factors["age"].tolist() == [c[0] for c in names]
    assert ds.params["factors_from"] == "class names"
    other = Dataset(ds.X, ds.labels % 2, ds.cages, ds.recordings, ds.animals, classes=("KO", "WT"))
    assert other.factors["class"].tolist() == list(other.class_names)
