"""The LMT reader never returns wrong data: one regression test for each case of issue 10.

Each file is read three ways: the reader in ``auto`` (pages when the schema allows it), the
reader in ``sql``, and plain SQLite queries (``_lmt_files.reference``); all three must agree,
the file's bytes must not change, and the reader must say which source ran and why.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _lmt_files import (
    Spec,
    assert_same,
    build,
    index_pages,
    read,
    read_three_ways,
    reference,
    scan_reference,
    sha256,
)
from napari_mousestop.cli.app import app
from napari_mousestop.errors import FileChanged, LMTError
from napari_mousestop.io.lmt import DetectionReader
from napari_mousestop.stops import StopParams, extract_stops, write_stops

IDS = [-1, 1, 2, 3, 4]


def _check(tmp_path, spec: Spec, source: str, reason: str = "") -> dict:
    """auto == sql == SQLite for ``spec``; the source and reason are as expected."""
    got = read_three_ways(build(tmp_path / "f.sqlite", spec), IDS)
    prov = got["provenance"]
    assert prov["source"] == source, prov
    assert reason in (prov["fallback"] or prov["reason"]), prov
    return got


# --- legal files the old page decoder read wrongly --------------------------------------------


def test_index_name_in_another_letter_case(tmp_path):
    got = _check(tmp_path, Spec(index="upper_name"), "pages")
    assert got["provenance"]["index"] == "DETECTIONFASTLOADXYINDEX"


@pytest.mark.parametrize("index", ["desc_frame", "desc_animal"])
def test_index_with_a_desc_column_is_read_through_sql(tmp_path, index):
    _check(tmp_path, Spec(index=index), "sql", "descending order (DESC)")


def test_partial_index_is_read_through_sql(tmp_path):
    got = _check(tmp_path, Spec(index="partial"), "sql", "partial")
    assert (got["tracks"][1][1] < 200).any()  # the rows the index leaves out are there


def test_other_collation_is_read_through_sql(tmp_path):
    _check(tmp_path, Spec(index="nocase"), "sql", "collation NOCASE")


def test_renamed_table_and_a_new_detection(tmp_path):
    """The old table's index (still named detectionFastLoadXYIndex) is not the new one's."""
    got = _check(tmp_path, Spec(renamed=True), "pages")
    assert got["provenance"]["index"] == "newXY"
    _check(tmp_path, Spec(renamed=True, index="none"), "sql", "no index on DETECTION")


@pytest.mark.parametrize("odd", ["text_animal", "blob_animal"])
def test_a_text_or_blob_animalid_among_integers(tmp_path, odd):
    got = _check(tmp_path, Spec(odd=(odd,)), "pages, then sql", "not an integer or NULL")
    assert len(got["tracks"][3][0]) > 100  # the last animal keeps its rows


def test_animalid_declared_text(tmp_path):
    got = _check(tmp_path, Spec(animal_type="TEXT"), "sql", "declared TEXT")
    assert all(len(got["tracks"][a][0]) > 100 for a in (1, 2, 3))  # not empty tracks


@pytest.mark.parametrize("frame_table", ["pk_desc", "composite", "timestamp_first", "lmt"])
def test_frame_keys_pair_timestamps_with_their_frames(tmp_path, frame_table):
    """INTEGER PRIMARY KEY DESC and composite keys are not the rowid: timestamps stay paired."""
    got = _check(tmp_path, Spec(frame_table=frame_table), "pages")
    frame, ts = got["frames"]
    assert (np.diff(frame) == 1).all() and (np.diff(ts) > 0).all()


def test_without_rowid_frame_is_read_through_sql(tmp_path):
    _check(tmp_path, Spec(frame_table="without_rowid"), "sql", "type 10")


@pytest.mark.parametrize(
    "spec",
    [Spec(page_size=512, frames=400), Spec(page_size=65536), Spec(auto_vacuum=1, churn=0.3),
     Spec(auto_vacuum=2, churn=0.4, vacuum=True, page_size=1024), Spec(index_first=False)],
    ids=["512", "65536", "full-vacuum-churn", "incremental-vacuum", "index-after-rows"],
)  # fmt: skip
def test_page_sizes_vacuum_modes_and_churn_read_by_pages(tmp_path, spec):
    _check(tmp_path, spec, "pages")


# --- the SQL path's own faults ----------------------------------------------------------------


def test_sql_frame_minus_one_is_a_frame_and_animal_minus_one_is_not_anonymous(tmp_path):
    path = build(tmp_path / "f.sqlite", Spec(odd=("minus_one",)))
    for method in ("auto", "sql"):
        got = read(path, IDS, method)
        assert -1 in got["tracks"][1][0]  # FRAMENUMBER -1 is a frame, not NULL
        f, x, _, _, _ = got["tracks"][-1]
        assert list(x) == [205.0]  # the one row of animal -1, no anonymous row
        assert got["anonymous"] > 0


def test_sql_animalid_2_5_is_no_animal_and_2_0_is_animal_2(tmp_path):
    path = build(tmp_path / "f.sqlite", Spec(odd=("real_animal",)))
    for method in ("auto", "sql"):
        x = read(path, IDS, method)["tracks"][2][1]
        assert 203.0 in x and 202.0 not in x


def test_sql_text_mass_y_is_not_a_position(tmp_path):
    path = build(tmp_path / "f.sqlite", Spec(odd=("text_mass",)))
    ref = reference(path, IDS)
    for method in ("auto", "sql"):
        got = read(path, IDS, method)
        assert 206.0 not in got["tracks"][1][1]  # not a row at y = 0.0
        assert got["tracks"][1][4] == ref["tracks"][1][4] > 0  # counted with the NULL rows


@pytest.mark.parametrize("method", ["auto", "sql"])
def test_malformed_frame_table_is_an_lmt_error_naming_the_file(tmp_path, method):
    path = build(tmp_path / "f.sqlite", Spec())
    con = sqlite3.connect(path)
    con.execute("UPDATE FRAME SET TIMESTAMP = 'late' WHERE FRAMENUMBER = 150")
    con.commit()
    con.close()
    with pytest.raises(LMTError, match="non-numeric TIMESTAMP") as err:
        read(path, IDS, method)
    assert str(err.value).startswith(str(path))


# --- damaged files --------------------------------------------------------------------------


def _damaged(tmp_path, change) -> tuple:
    path = build(tmp_path / "d.sqlite", Spec(page_size=512, frames=400, seed=4))
    data = bytearray(path.read_bytes())
    change(data, index_pages(path))
    path.write_bytes(bytes(data))
    return path, sha256(path)


def test_changed_cell_pointer_of_an_interior_page_falls_back_cleanly(tmp_path):
    def change(data, pages):  # point the first cell of the root at the page header
        at = (pages["internal"][0] - 1) * 512 + 12
        data[at : at + 2] = (9).to_bytes(2, "big")

    path, before = _damaged(tmp_path, change)
    got = read(path, [1, 2, 3])
    assert got["provenance"]["source"] == "sql" and got["provenance"]["table_scan"]
    assert "cell pointer" in got["provenance"]["reason"]
    assert any("looks damaged" in w for w in got["warnings"])
    assert_same(got, scan_reference(path, [1, 2, 3], not_indexed=True))
    assert sha256(path) == before


def test_lowered_cell_count_of_a_leaf_is_found_and_read_around(tmp_path):
    def change(data, pages):
        at = (pages["leaf"][len(pages["leaf"]) // 2] - 1) * 512 + 3
        n = int.from_bytes(data[at : at + 2], "big")
        data[at : at + 2] = (n - 2).to_bytes(2, "big")

    path, before = _damaged(tmp_path, change)
    got = read(path, [1, 2, 3])
    prov = got["provenance"]
    assert prov["table_scan"] and "do not add up" in (prov["fallback"] or prov["reason"])
    # SQLite's own scan of the index loses the rows; the reader reads them from the table
    lost = scan_reference(path, [1, 2, 3])
    full = scan_reference(path, [1, 2, 3], not_indexed=True)
    assert sum(len(t[0]) for t in lost["tracks"].values()) < sum(
        len(t[0]) for t in full["tracks"].values()
    )
    assert_same(got, full)
    with pytest.raises(LMTError, match="quick_check reports") as err:  # --verify says so
        read(path, [1, 2, 3], verify=True)
    assert str(err.value).startswith(str(path))
    assert sha256(path) == before


def test_method_pages_refuses_what_it_cannot_read(tmp_path):
    path = build(tmp_path / "f.sqlite", Spec(index="partial"))
    with pytest.raises(LMTError, match="page reader cannot read this file .*partial"):
        DetectionReader(path, method="pages")
    path = build(tmp_path / "g.sqlite", Spec(odd=("text_animal",)))
    with pytest.raises(LMTError, match="page reader stopped"):
        read(path, IDS, "pages")


def test_wal_mode_file_is_read_through_sql(tmp_path):
    path = build(tmp_path / "w.sqlite", Spec())
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.close()
    got = read(path, IDS)
    assert got["provenance"]["source"] == "sql" and "wal" in got["provenance"]["reason"].lower()
    assert_same(got, reference(path, IDS))


def test_hot_journal_is_a_clear_error(tmp_path):
    """A writer killed mid-commit leaves a journal SQLite must roll back first."""
    path = build(tmp_path / "h.sqlite", Spec(frames=2000))
    crash = (
        "import sqlite3, sys, os\ncon = sqlite3.connect(sys.argv[1])\n"
        "con.execute('PRAGMA cache_size = 2')\ncon.execute('BEGIN')\n"
        "con.execute('UPDATE DETECTION SET MASS_X = MASS_X + 1')\nos._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(path)], check=True, timeout=60)
    assert (tmp_path / "h.sqlite-journal").exists()
    with pytest.raises(LMTError, match="interrupted write left h.sqlite-journal") as err:
        extract_stops(path)
    assert str(err.value).startswith(str(path))


# --- the lock and the change counter ----------------------------------------------------------

_WRITE = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=0.2)
try:
    con.execute("INSERT INTO DETECTION (FRAMENUMBER, ANIMALID, MASS_X, MASS_Y, DATA) "
                "VALUES (1, 1, 300.0, 300.0, 'x')")
    con.commit()
    print("committed")
except sqlite3.OperationalError as exc:
    print(exc)
"""


def _write(path) -> str:
    res = subprocess.run([sys.executable, "-c", _WRITE, str(path)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    return res.stdout.strip()


def test_shared_lock_is_held_from_the_first_page_to_the_last(tmp_path):
    path = build(tmp_path / "f.sqlite", Spec())
    with DetectionReader(path) as reader:
        assert reader.method == "pages"
        assert _write(path) == "database is locked"
        reader.frames()
        assert _write(path) == "database is locked"
        next(reader.tracks([1, 2, 3]))
        assert _write(path) == "database is locked"
    assert _write(path) == "committed"


def test_a_change_while_reading_is_detected_and_read_again(tmp_path, monkeypatch):
    """If something in the process drops the lock (closing any descriptor of the file does)
    and a writer commits, the change counter shows it: FileChanged, and extract_stops reads
    the file again through SQL."""
    path = build(tmp_path / "f.sqlite", Spec(frames=600))
    with DetectionReader(path) as reader:
        reader.frames()
        open(path, "rb").close()  # a stray close: POSIX drops the process's locks
        assert _write(path) == "committed"
        with pytest.raises(FileChanged, match="changed while it was read"):
            list(reader.tracks([1, 2, 3]))

    import napari_mousestop.stops as stops

    real = stops._Clock
    calls = []

    def clock_then_write(*args, **kwargs):  # a writer gets in after FRAME was read
        calls.append(1)
        if len(calls) == 1:
            open(path, "rb").close()
            assert _write(path) == "committed"
        return real(*args, **kwargs)

    monkeypatch.setattr(stops, "_Clock", clock_then_write)
    df = extract_stops(path, StopParams(min_duration_s=0.2))
    monkeypatch.setattr(stops, "_Clock", real)
    reader = df.attrs["report"]["reader"]
    assert reader["source"] == "sql" and "read again through SQL" in reader["reason"]
    again = extract_stops(path, StopParams(min_duration_s=0.2))  # the file as it is now
    pd.testing.assert_frame_equal(df, again)


_READER = r"""
import json, sys
import numpy as np
from napari_mousestop.io.lmt import DetectionReader, LMTError
path, n = sys.argv[1], int(sys.argv[2])
bad, sources, errors = [], {}, []
for i in range(n):
    try:
        with DetectionReader(path, method="sql" if i % 4 == 3 else "auto") as r:
            frames, _ = r.frames()
            tracks = list(r.tracks([1, 2, 3]))
            src = r.provenance()["source"]
    except LMTError as exc:
        errors.append(str(exc))
        continue
    sources[src] = sources.get(src, 0) + 1
    for t in tracks:  # one commit writes every animal's rows and the frames
        if not np.array_equal(t.frame, tracks[0].frame) or not np.isin(t.frame, frames).all():
            bad.append([i, t.animal_id, len(t.frame), len(tracks[0].frame)])
print(json.dumps({"bad": bad, "sources": sources, "errors": errors}))
"""

_WRITER = r"""
import os, sqlite3, sys
path, stop = sys.argv[1], sys.argv[2]
con = sqlite3.connect(path, timeout=30, isolation_level=None)
k, B = 0, 400
while not os.path.exists(stop):
    f0 = 100000 + k * B
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO FRAME (FRAMENUMBER, TIMESTAMP, NUMPARTICLE) VALUES (?, ?, 3)",
                    [(f, 1700000000000 + 33 * f) for f in range(f0, f0 + B)])
    con.executemany("INSERT INTO DETECTION (FRAMENUMBER, ANIMALID, MASS_X, MASS_Y, DATA) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(f, a, 200.0 + a, 200.5, "d" * 300) for f in range(f0, f0 + B)
                     for a in (1, 2, 3)])
    con.execute("COMMIT")
    con.execute("BEGIN IMMEDIATE")  # then shrink the file again
    con.execute("DELETE FROM DETECTION WHERE FRAMENUMBER >= 100000 AND FRAMENUMBER < ?", (f0,))
    con.execute("DELETE FROM FRAME WHERE FRAMENUMBER >= 100000 AND FRAMENUMBER < ?", (f0,))
    con.execute("COMMIT")
    con.execute("VACUUM")
    k += 1
print(k)
"""


@pytest.mark.slow
def test_concurrent_writer_committing_and_vacuuming(tmp_path):
    """A recording still being written: another process commits and VACUUMs (shrinking the
    file) while a third reads it over and over. Every read is one consistent snapshot (all
    animals and FRAME from the same commit) and nothing crashes (the old memory map died of
    SIGBUS here)."""
    path = build(tmp_path / "live.sqlite", Spec(animals=3, frames=10, data_bytes=300))
    con = sqlite3.connect(path)
    con.execute("DELETE FROM DETECTION")
    con.execute("DELETE FROM FRAME")
    con.executemany("INSERT INTO FRAME (FRAMENUMBER, TIMESTAMP) VALUES (?, ?)",
                    [(f, 1_700_000_000_000 + 33 * f) for f in range(1, 2001)])  # fmt: skip
    con.executemany(
        "INSERT INTO DETECTION (FRAMENUMBER, ANIMALID, MASS_X, MASS_Y, DATA) VALUES (?,?,?,?,?)",
        [(f, a, 150.0 + a, 150.5, "d" * 300) for f in range(1, 2001) for a in (1, 2, 3)],
    )
    con.commit()
    con.close()
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(stop)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        time.sleep(0.3)
        res = subprocess.run([sys.executable, "-c", _READER, str(path), "24"],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    finally:
        stop.touch()
        commits = int(writer.communicate(timeout=120)[0] or 0)
    assert res.returncode == 0, res.stderr[-2000:]  # -7 would be SIGBUS
    out = json.loads(res.stdout)
    assert out["bad"] == [] and out["errors"] == []
    assert out["sources"].get("pages", 0) >= 15 and out["sources"].get("sql", 0) >= 5
    assert commits >= 5  # the writer did get in between the reads


# --- --verify, and where the source is recorded -------------------------------------------------


def test_verify_on_the_cli_refuses_a_damaged_file(tmp_path):
    good = build(tmp_path / "good.sqlite", Spec(frames=600))
    out = tmp_path / "out" / "stops.csv"
    res = CliRunner().invoke(app, ["stops", str(good), "-o", str(out), "--verify"])
    assert res.exit_code == 0, res.output
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["report"]["reader"]["verified"] and meta["params"]["verify"]
    assert meta["report"]["reader"]["source"] == "pages"

    bad = tmp_path / "bad.sqlite"
    shutil.copy(good, bad)
    data = bytearray(bad.read_bytes())
    leaf = index_pages(bad)["leaf"][0]
    data[(leaf - 1) * 4096 + 3 : (leaf - 1) * 4096 + 5] = (1).to_bytes(2, "big")
    bad.write_bytes(bytes(data))
    res = CliRunner().invoke(app, ["stops", str(bad), "-o", str(tmp_path / "b.csv"), "--verify"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"{bad}: the file is damaged: PRAGMA quick_check reports" in res.output
    # without --verify the damaged index is read around, and the user is told
    res = CliRunner().invoke(app, ["stops", str(bad), "-o", str(tmp_path / "b.csv")])
    assert res.exit_code == 0 and "looks damaged" in res.output


def test_source_recorded_in_stop_table_and_parquet(tmp_path):
    path = build(tmp_path / "f.sqlite", Spec(index="desc_frame", frames=600))
    df = extract_stops(path, StopParams(min_duration_s=0.2))
    reader = df.attrs["report"]["reader"]
    assert reader["source"] == "sql" and "DESC" in reader["reason"]
    assert df.attrs["report"]["method"] == "sql"
    back = pd.read_parquet(write_stops(df, tmp_path / "stops.parquet"))
    assert back.attrs["report"]["reader"] == reader


def test_predict_verify_refuses_a_damaged_recording(tmp_path):
    from _planted import planted_dataset
    from napari_mousestop.histograms import HistogramParams
    from napari_mousestop.io.geometry import CageGeometry
    from napari_mousestop.learning.checkpoint import save_checkpoint
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.training import train_final

    ds = planted_dataset(n_cages=2, per_cage=2, n_intervals=2)
    ds.params = {
        "histogram": HistogramParams(interval_s=300, n_intervals=2, n_bins=14).to_dict(),
        "stops": StopParams(min_duration_s=0.2).to_dict(),
        "geometry": CageGeometry.mouse().to_dict(),
    }
    model = save_checkpoint(tmp_path / "m.pt", train_final(ds, TrainConfig(epochs=1)))
    path = build(tmp_path / "rec.sqlite", Spec(frames=600))
    data = bytearray(path.read_bytes())
    leaf = index_pages(path)["leaf"][0]
    data[(leaf - 1) * 4096 + 3 : (leaf - 1) * 4096 + 5] = (1).to_bytes(2, "big")
    path.write_bytes(bytes(data))
    csv = tmp_path / "p.csv"
    res = CliRunner().invoke(app, ["predict", str(model), str(path), "-o", str(csv), "--verify"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"{path}: the file is damaged: PRAGMA quick_check" in res.output and not csv.exists()
    res = CliRunner().invoke(app, ["predict", str(model), str(path), "-o", str(csv)])
    assert res.exit_code == 0, res.output  # read around the damaged index
