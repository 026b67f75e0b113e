"""Datasets from cohorts of recordings: Dask, cache, failures, labels, atomic output, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import napari_mousestop.cluster as cluster_module
import napari_mousestop.datasets.build as batch
from napari_mousestop.cli.app import app
from napari_mousestop.datasets.build import build_dataset, file_identity
from napari_mousestop.datasets.dataset import load_dataset
from napari_mousestop.errors import BatchError, ClusterError, CohortError, ShortRecordingWarning
from napari_mousestop.histograms import HistogramParams, recording_stacks
from napari_mousestop.synthetic.generate import default_mice, generate_recording

HOURS = 0.1  # 6-minute recordings
PARAMS = HistogramParams(interval_s=120, n_intervals=3, n_bins=6)  # exactly covers 6 minutes


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """Two tiny recordings (adult males in cage A, juvenile females in cage B) and a broken one."""
    folder = tmp_path_factory.mktemp("cohort")
    generate_recording(folder / "a.sqlite", hours=HOURS, mice=default_mice("M", "adult"), seed=1)
    generate_recording(
        folder / "b.sqlite", hours=HOURS, mice=default_mice("F", "juvenile", prefix="b"), seed=2
    )
    (folder / "broken.sqlite").write_bytes(b"this is not an SQLite database" * 100)
    return folder


def cohort_csv(folder: Path, rows: list[tuple], name: str = "cohort.csv") -> Path:
    df = pd.DataFrame(rows, columns=["database", "animal", "cage", "sex", "age"])
    path = folder / name
    df.to_csv(path, index=False)
    return path


def animals_of(prefix: str) -> list[str]:
    return [m.rfid for m in default_mice(prefix=prefix)]


def rows_a(sex="male", age="6mo"):
    return [("a.sqlite", r, "cageA", sex, age) for r in animals_of("")]


def rows_b(sex="F", age="P40"):
    return [("b.sqlite", r, "cageB", sex, age) for r in animals_of("b")]


def test_dask_build_keeps_good_recordings_and_round_trips(recordings, tmp_path):
    rows = rows_a() + [("broken.sqlite", "X1", "cageC", "F", "adult")] + rows_b()
    csv = cohort_csv(recordings, rows, "dask.csv")
    out = tmp_path / "ds.npz"
    seen = []
    stats: dict = {}
    ds = build_dataset(
        csv, out, PARAMS, n_workers=2, progress=lambda p: seen.append((p.done, p.total)),
        stats=stats,
    )
    # the broken recording is skipped and reported, the others kept in cohort order
    assert [f["database"] for f in ds.params["failed"]] == ["broken.sqlite"]
    assert "broken.sqlite" in ds.params["failed"][0]["error"]
    assert ds.X.shape == (8, 3, 6, 6)
    assert list(ds.animals) == animals_of("") + animals_of("b")
    assert list(ds.class_names) == ["AM"] * 4 + ["JF"] * 4
    assert list(ds.cages) == ["cageA"] * 4 + ["cageB"] * 4
    assert seen[-1] == (3, 3)
    assert sorted(stats["computed"]) == ["a.sqlite", "b.sqlite"]
    # the stacks are those of recording_stacks, computed here in this process
    rs = recording_stacks(recordings / "a.sqlite", PARAMS)
    assert np.array_equal(ds.X[2], rs.stacks[rs.index_of(ds.animals[2])])
    assert ds.X.sum() > 0
    # the file on disk gives back exactly the same dataset and its provenance
    back = load_dataset(out)
    assert np.array_equal(back.X, ds.X) and back.X.dtype == np.float32
    assert np.array_equal(back.labels, ds.labels)
    assert list(back.recordings) == list(ds.recordings)
    assert back.params == ds.params
    assert back.sources == ds.sources
    assert back.params["histogram"] == PARAMS.to_dict()
    assert back.params["stops"] and back.params["geometry"]["floor_cm"] == [50.0, 50.0]
    assert back.params["package_version"]
    reader = back.params["recordings"]["a.sqlite"]["reader"]  # which source read it, and why
    assert reader["source"] == "pages" and reader["index"] == "detectionFastLoadXYIndex"
    ident = file_identity(recordings / "b.sqlite")
    assert back.sources[1]["name"] == "b.sqlite"
    assert back.sources[1]["size"] == ident["size"]
    assert back.sources[1]["fingerprint"] == ident["fingerprint"]


def test_rerun_uses_the_cache_and_notices_changes(recordings, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    shutil.copytree(recordings, folder)
    csv = cohort_csv(folder, rows_a() + rows_b())
    out = tmp_path / "ds.npz"
    first = build_dataset(csv, out, PARAMS, n_workers=0)
    assert len(list((tmp_path / "ds.npz.cache").glob("*.npz"))) == 2

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached recording")

    monkeypatch.setattr(batch, "process_recording", fail)
    stats: dict = {}
    again = build_dataset(csv, out, PARAMS, n_workers=0, stats=stats)
    assert stats["cached"] == ["a.sqlite", "b.sqlite"] and stats["computed"] == []
    assert np.array_equal(again.X, first.X) and again.params == first.params
    monkeypatch.undo()
    # other parameters or a changed file: computed again
    stats = {}
    build_dataset(csv, out, HistogramParams(interval_s=120, n_intervals=3, n_bins=4), n_workers=0,
                  stats=stats)  # fmt: skip
    assert sorted(stats["computed"]) == ["a.sqlite", "b.sqlite"]
    with open(folder / "b.sqlite", "ab") as fh:
        fh.write(b"\0" * 512)
    stats = {}
    build_dataset(csv, out, PARAMS, n_workers=0, stats=stats)
    assert stats["cached"] == ["a.sqlite"] and stats["computed"] == ["b.sqlite"]


def test_one_cage_cohort_is_accepted_and_labels_come_from_the_animal_table(recordings, tmp_path):
    # empty sex/age cells: read from ANIMAL's SEX/AGE columns ("M"/"adult" in the generator)
    csv = cohort_csv(recordings, rows_a(sex="", age=""), "one_cage.csv")
    ds = build_dataset(csv, tmp_path / "one.npz", PARAMS, n_workers=0)
    assert set(ds.cages) == {"cageA"} and list(ds.class_names) == ["AM"] * 4


def test_short_recording_is_zero_filled_with_a_warning(recordings, tmp_path):
    csv = cohort_csv(recordings, rows_b(), "short.csv")
    params = HistogramParams(interval_s=100, n_intervals=6, n_bins=6)  # 10 min > 6 min recorded
    with pytest.warns(ShortRecordingWarning, match=r"b.sqlite: .*intervals 4-5 of 6 .*zero-fill"):
        ds = build_dataset(csv, tmp_path / "short.npz", params, n_workers=0)
    assert ds.X.shape == (4, 6, 6, 6)
    assert ds.X[:, 4:].sum() == 0 and ds.X[:, :3].sum() > 0
    assert any("4-5 of 6" in w for w in ds.params["recordings"]["b.sqlite"]["warnings"])


def test_the_cli_prints_each_recording_warning_once(recordings, tmp_path):
    csv = cohort_csv(recordings, rows_b(), "short_cli.csv")
    args = ["dataset", str(csv), "-o", str(tmp_path / "s.npz"), "--interval", "100s",
            "--intervals", "6", "--bins", "6", "--workers", "0"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and "b.sqlite: " in lines[0] and "4-5 of 6" in lines[0]


def test_unknown_labels_stop_before_any_work(recordings, tmp_path):
    rows = rows_a()
    rows[1] = ("a.sqlite", rows[1][1], "cageA", "male", "elderly")
    csv = cohort_csv(recordings, rows, "bad_labels.csv")
    with pytest.raises(CohortError, match=r"line 3 \(a.sqlite, animal .*\): age 'elderly'"):
        build_dataset(csv, tmp_path / "x.npz", PARAMS, n_workers=0)
    assert not (tmp_path / "x.npz").exists()


def test_missing_animal_is_skipped_and_reported(recordings, tmp_path):
    csv = cohort_csv(recordings, rows_a() + [("a.sqlite", "NOPE", "cageA", "M", "A")], "m.csv")
    ds = build_dataset(csv, tmp_path / "m.npz", PARAMS, n_workers=0)
    assert len(ds) == 4
    assert ds.params["failed"][0]["animal"] == "NOPE"
    assert "not in this database" in ds.params["failed"][0]["error"]


def test_nothing_usable_raises_and_writes_nothing(recordings, tmp_path):
    csv = cohort_csv(
        recordings,
        [("broken.sqlite", "X1", "c", "F", "A"), ("gone.sqlite", "X2", "c", "F", "A")],
        "none.csv",
    )
    with pytest.raises(BatchError, match=r"(?s)broken.sqlite.*gone.sqlite"):
        build_dataset(csv, tmp_path / "none.npz", PARAMS, n_workers=0)
    assert not (tmp_path / "none.npz").exists()


def test_failure_while_writing_leaves_no_dataset(recordings, tmp_path, monkeypatch):
    csv = cohort_csv(recordings, rows_b(), "atomic.csv")
    real = np.savez_compressed

    def half_then_fail(fh, **arrays):
        if "X" in arrays:  # the dataset, not a cache entry
            fh.write(b"PK\x03\x04 half a zip")
            raise OSError("disk full")
        return real(fh, **arrays)

    monkeypatch.setattr(np, "savez_compressed", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        build_dataset(csv, tmp_path / "atomic.npz", PARAMS, n_workers=0)
    assert [p.name for p in tmp_path.iterdir()] == ["atomic.npz.cache"]


def test_cli_builds_and_lists_failures(recordings, tmp_path):
    csv = cohort_csv(recordings, rows_b() + [("gone.sqlite", "X", "c", "F", "A")], "cli.csv")
    out = tmp_path / "cli.npz"
    args = ["dataset", str(csv), "-o", str(out), "--interval", "2min", "--intervals", "3"]
    res = CliRunner().invoke(
        app,
        [*args, "--bins", "6", "--workers", "0", "--min-duration", "2", "--verify",
         "--method", "sql"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "gone.sqlite" in res.output
    ds = load_dataset(out)
    assert ds.X.shape == (4, 3, 6, 6)
    assert ds.params["stops"]["min_duration_s"] == 2.0 and ds.params["stops"]["verify"]
    assert ds.params["recordings"]["b.sqlite"]["reader"]["verified"]
    assert ds.params["stops"]["method"] == "sql"  # read as asked: SQL, no page decoding
    assert ds.params["recordings"]["b.sqlite"]["reader"]["source"] == "sql"
    assert ds.params["histogram"]["interval_s"] == 120.0
    bad = cohort_csv(recordings, [("gone.sqlite", "X", "c", "F", "A")], "cli_bad.csv")
    res = CliRunner().invoke(app, ["dataset", str(bad), "-o", str(tmp_path / "b.npz")])
    assert res.exit_code == 1
    assert "no recording could be used" in res.output and "gone.sqlite" in res.output


def test_generated_cohort_builds_with_balanced_classes(small_cohort, tmp_path):
    params = HistogramParams(interval_s=240, n_intervals=3, n_bins=10)  # within the recordings
    ds = build_dataset(small_cohort.cohort_csv, tmp_path / "c.npz", params, n_workers=0)
    assert ds.params["failed"] == []
    assert len(ds) == 32 and ds.X.shape[1:] == (3, 10, 10)
    assert {c: int((ds.class_names == c).sum()) for c in ds.classes} == dict.fromkeys(ds.classes, 8)
    # both recordings of a cage share its id, and each cage holds one sex
    assert len(set(ds.cages)) == 4 and len(ds.sources) == 8
    for cage in set(ds.cages):
        names = set(ds.class_names[ds.cages == cage])
        assert len(names) == 2 and len({n[1] for n in names}) == 1
    assert (ds.X.sum(axis=(1, 2, 3)) > 0).all()  # every animal stopped somewhere


def test_existing_scheduler_is_used(recordings, tmp_path, monkeypatch):
    from dask.distributed import LocalCluster

    csv = cohort_csv(recordings, rows_a(), "sched.csv")
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        ds = build_dataset(csv, tmp_path / "s.npz", PARAMS, scheduler=cluster.scheduler_address)
        assert len(ds) == 4 and ds.params["failed"] == []
    monkeypatch.setattr(cluster_module, "SCHEDULER_TIMEOUT", "1s")
    with pytest.raises(ClusterError, match="cannot reach the dask scheduler"):
        build_dataset(
            csv, tmp_path / "t.npz", PARAMS, scheduler="tcp://127.0.0.1:9", use_cache=False
        )
