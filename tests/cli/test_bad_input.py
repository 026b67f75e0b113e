"""Bad LMT files: one clear error naming the file and the problem, never a traceback, and the
input file is left byte-for-byte as it was (no journal, no WAL)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import warnings

import pytest
from typer.testing import CliRunner

from napari_mousestop.cli.app import app
from napari_mousestop.errors import LMTError
from napari_mousestop.stops import StopParams, extract_stops
from napari_mousestop.synthetic.generate import generate_recording


@pytest.fixture(scope="module")
def base_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "base.sqlite"
    generate_recording(path, hours=0.05, seed=3)
    return path


def _damaged(base_db, tmp_path, *statements):
    """A copy of ``base_db`` changed by SQL ``statements`` (the copy, never the base)."""
    path = tmp_path / "bad.sqlite"
    shutil.copy(base_db, path)
    con = sqlite3.connect(path)
    for s in statements:
        con.execute(s)
    con.commit()
    con.execute("VACUUM")
    con.close()
    return path


def _fails_cleanly(path, match, file_fingerprint, params=None):
    """extract_stops and the CLI both refuse ``path`` with ``match``; the file is untouched."""
    before = file_fingerprint(path)
    with pytest.raises(LMTError, match=match) as err:
        extract_stops(path, params)
    assert str(err.value).startswith(str(path))
    out = path.parent / "out" / "out.csv"
    res = CliRunner().invoke(app, ["stops", str(path), "-o", str(out)])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert match.split("|")[0].replace("\\", "") in res.output.splitlines()[-1]
    assert not out.exists()
    assert file_fingerprint(path) == before  # same bytes, no -journal / -wal beside it


def test_not_sqlite(tmp_path, file_fingerprint):
    path = tmp_path / "notes.sqlite"
    path.write_text("mouse 1 was in the nest\n" * 50)
    _fails_cleanly(path, "not an SQLite database", file_fingerprint)


def test_empty_file(tmp_path, file_fingerprint):
    path = tmp_path / "empty.sqlite"
    path.write_bytes(b"")
    _fails_cleanly(path, "not an SQLite database", file_fingerprint)


def test_truncated_file(base_db, tmp_path, file_fingerprint):
    path = tmp_path / "cut.sqlite"
    data = base_db.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    _fails_cleanly(path, "unreadable SQLite file|malformed", file_fingerprint)


def test_garbage_pages(base_db, tmp_path, file_fingerprint):
    path = tmp_path / "garbage.sqlite"
    data = bytearray(base_db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for k in range(2, len(data) // page, 3):  # scribble over every third page
        data[k * page : k * page + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))
    _fails_cleanly(path, "unreadable SQLite file|malformed", file_fingerprint)


def test_missing_table(base_db, tmp_path, file_fingerprint):
    path = _damaged(base_db, tmp_path, "DROP TABLE DETECTION")
    _fails_cleanly(path, "no DETECTION table", file_fingerprint)


def test_missing_column(base_db, tmp_path, file_fingerprint):
    path = _damaged(base_db, tmp_path, "ALTER TABLE FRAME DROP COLUMN TIMESTAMP")
    _fails_cleanly(path, "FRAME lacks column\\(s\\) TIMESTAMP", file_fingerprint)


def test_empty_detection(base_db, tmp_path, file_fingerprint):
    path = _damaged(base_db, tmp_path, "DELETE FROM DETECTION")
    _fails_cleanly(path, "DETECTION is empty", file_fingerprint)


def test_zero_animals(base_db, tmp_path, file_fingerprint):
    path = _damaged(base_db, tmp_path, "DELETE FROM ANIMAL")
    _fails_cleanly(path, "lists no animals", file_fingerprint)


def test_timestamps_going_backwards(base_db, tmp_path, file_fingerprint):
    back = "UPDATE FRAME SET TIMESTAMP = TIMESTAMP - 60000 WHERE FRAMENUMBER > 3000"
    path = _damaged(base_db, tmp_path, back)
    _fails_cleanly(path, "goes backwards", file_fingerprint)
    # the escape hatch: time stops by frame number
    df = extract_stops(path, StopParams(time_base="frames"))
    assert len(df) > 0 and (df["duration_s"] >= 1).all()


def test_animal_without_detections_is_skipped_with_a_warning(base_db, tmp_path, file_fingerprint):
    ghost = "INSERT INTO ANIMAL (ID, RFID, NAME) VALUES (9, 'RFID_X', 'ghost')"
    path = _damaged(base_db, tmp_path, ghost)
    before = file_fingerprint(path)
    with pytest.warns(UserWarning, match="animal 9 \\(RFID_X\\) has no usable detections"):
        df = extract_stops(path)
    assert sorted(df["animal_id"].unique()) == [1, 2, 3, 4]
    assert df.attrs["report"]["skipped_animals"] == [9]
    res = CliRunner().invoke(app, ["stops", str(path), "-o", str(tmp_path / "out" / "s.csv")])
    assert res.exit_code == 0
    assert "warning:" in res.output and "no usable detections" in res.output
    assert file_fingerprint(path) == before


def test_null_coordinates_are_left_out_and_counted(base_db, tmp_path):
    path = _damaged(base_db, tmp_path, "UPDATE DETECTION SET MASS_Y = NULL WHERE ID % 50 = 0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = extract_stops(path)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    (n_null,), = con.execute("SELECT count(*) FROM DETECTION WHERE MASS_Y IS NULL "
                             "AND ANIMALID IS NOT NULL AND MASS_X >= 10").fetchall()  # fmt: skip
    con.close()
    assert df.attrs["report"]["null_coordinate_rows"] == n_null > 0
    assert len(df) > 0 and df[["x_cm", "y_cm"]].notna().all().all()
    assert extract_stops(path, StopParams(method="sql")).equals(df)


def test_cli_bad_input_has_no_traceback_in_a_real_process(tmp_path):
    path = tmp_path / "x.sqlite"
    path.write_bytes(b"\x00" * 4096)
    exe = [sys.executable, "-c", "from napari_mousestop.cli import app; app()"]
    res = subprocess.run([*exe, "stops", str(path), "-o", str(tmp_path / "o.csv")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: {path}: not an SQLite database (is it an LMT .sqlite file?)"
    )


def test_launch_without_napari_names_the_extra_to_install(tmp_path):
    """The core and the CLI install without napari: ``launch`` then says what to install."""
    code = (
        "import sys; sys.modules['napari'] = None\n"  # as if napari were not installed
        "from napari_mousestop.cli import app; app(['launch'])"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert res.stderr.strip() == (
        'error: the napari viewer needs napari: pip install "napari-mousestop[napari]"'
    )
