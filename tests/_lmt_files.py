"""Small LMT-schema files in every shape the reader must handle, and what SQLite says they hold.

:func:`build` writes a file from a :class:`Spec` (page size, auto_vacuum, insert/delete churn,
VACUUM, index and table variants, odd values); :func:`damage` changes bytes of its index pages;
:func:`reference` reads it back with plain SQLite queries (``WHERE ANIMALID = ?``: SQLite's own
idea of which rows belong to an animal), independent of the reader under test.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FILES_BUILT = [0]  # how many files this test run generated (reported at the end of the run)

INDEXES = {
    "standard": "CREATE INDEX detectionFastLoadXYIndex ON DETECTION "
    "(ANIMALID, FRAMENUMBER, MASS_X, MASS_Y)",
    "upper_name": "CREATE INDEX DETECTIONFASTLOADXYINDEX ON detection "
    "(ANIMALID, FRAMENUMBER, MASS_X, MASS_Y)",
    "other_name": "CREATE INDEX fastXY ON DETECTION (ANIMALID, FRAMENUMBER, MASS_X, MASS_Y)",
    "extra_column": "CREATE INDEX detectionFastLoadXYIndex ON DETECTION "
    "(ANIMALID, FRAMENUMBER, MASS_X, MASS_Y, DATA)",
    "desc_frame": "CREATE INDEX detectionFastLoadXYIndex ON DETECTION "
    "(ANIMALID, FRAMENUMBER DESC, MASS_X, MASS_Y)",
    "desc_animal": "CREATE INDEX detectionFastLoadXYIndex ON DETECTION "
    "(ANIMALID DESC, FRAMENUMBER, MASS_X, MASS_Y)",
    "partial": "CREATE INDEX detectionFastLoadXYIndex ON DETECTION "
    "(ANIMALID, FRAMENUMBER, MASS_X, MASS_Y) WHERE MASS_X >= 200",
    "nocase": "CREATE INDEX detectionFastLoadXYIndex ON DETECTION "
    "(ANIMALID COLLATE NOCASE, FRAMENUMBER, MASS_X, MASS_Y)",
    "none": "",
}
FRAME_TABLES = {
    "rowid": "CREATE TABLE FRAME (FRAMENUMBER INTEGER PRIMARY KEY, TIMESTAMP INTEGER, "
    "NUMPARTICLE INTEGER)",
    "lmt": "CREATE TABLE FRAME ('FRAMENUMBER' INTEGER NOT NULL UNIQUE, 'TIMESTAMP' INTEGER, "
    "'NUMPARTICLE' INTEGER, 'PAUSED' INTEGER, PRIMARY KEY(FRAMENUMBER))",
    "pk_desc": "CREATE TABLE FRAME (FRAMENUMBER INTEGER PRIMARY KEY DESC, TIMESTAMP INTEGER, "
    "NUMPARTICLE INTEGER)",
    "composite": "CREATE TABLE FRAME (FRAMENUMBER INTEGER, TIMESTAMP INTEGER, "
    "NUMPARTICLE INTEGER, PRIMARY KEY (FRAMENUMBER, TIMESTAMP))",
    "timestamp_first": "CREATE TABLE FRAME (TIMESTAMP INTEGER, FRAMENUMBER INTEGER, "
    "NUMPARTICLE INTEGER)",
    "without_rowid": "CREATE TABLE FRAME (FRAMENUMBER INTEGER PRIMARY KEY, "
    "TIMESTAMP INTEGER, NUMPARTICLE INTEGER) WITHOUT ROWID",
}
ODD_VALUES = (
    "text_animal",  # one ANIMALID 'x' among integers
    "blob_animal",  # one ANIMALID X'02'
    "real_animal",  # ANIMALID 2.5 (no animal) and 2.0 (animal 2)
    "minus_one",  # FRAMENUMBER -1, and rows of animal -1
    "text_mass",  # a text MASS_Y
    "real_frame",  # FRAMENUMBER 7.5 (not a frame)
    "duplicate",  # two rows of one animal in one frame
)


@dataclass(frozen=True)
class Spec:
    """What :func:`build` writes."""

    page_size: int = 4096
    auto_vacuum: int = 0  # 0 NONE, 1 FULL, 2 INCREMENTAL
    animals: int = 3
    frames: int = 200
    seed: int = 0
    index: str = "standard"
    index_first: bool = True  # created before the rows (as LMT does) or after
    renamed: bool = False  # DETECTION renamed, a new DETECTION made (with an index newXY)
    animal_type: str = "INTEGER"  # declared type of DETECTION.ANIMALID
    frame_table: str = "rowid"
    odd: tuple[str, ...] = ()
    churn: float = 0.0  # fraction of rows deleted, then inserted again
    vacuum: bool = False
    data_bytes: int = 30  # DATA text per row
    extra: dict = field(default_factory=dict, compare=False)


def _rows(spec: Spec, rng: np.random.Generator, frames: np.ndarray) -> list[tuple]:
    rows = []
    for f in frames.tolist():
        for a in range(1, spec.animals + 1):
            if rng.random() < 0.1:
                continue  # no detection
            x = float(np.round(rng.uniform(114, 398), 2))
            y = float(np.round(rng.uniform(63, 353), 2))
            if rng.random() < 0.2:
                x = float(int(x))  # a whole number: stored as an integer
            if rng.random() < 0.04:
                x = 5.0  # a tracking glitch
            aid = None if rng.random() < 0.1 else a
            yv = None if rng.random() < 0.03 else y
            rows.append((f, aid, x, yv))
    return rows


def _odd_rows(spec: Spec, frames: np.ndarray) -> list[tuple]:
    f = int(frames[len(frames) // 2])
    odd = []
    if "text_animal" in spec.odd:
        odd.append((f, "x", 200.0, 200.0))
    if "blob_animal" in spec.odd:
        odd.append((f, b"\x02", 201.0, 201.0))
    if "real_animal" in spec.odd:
        odd += [(f, 2.5, 202.0, 202.0), (int(frames[-1]) + 1, 2.0, 203.0, 203.0)]
    if "minus_one" in spec.odd:
        odd += [(-1, 1, 204.0, 204.0), (f, -1, 205.0, 205.0)]
    if "text_mass" in spec.odd:
        odd.append((int(frames[0]), 1, 206.0, "abc"))
    if "real_frame" in spec.odd:
        odd.append((7.5, 1, 207.0, 207.0))
    if "duplicate" in spec.odd:
        odd += [(f, 1, 208.0, 208.0), (f, 1, 209.0, 209.0)]
    return odd


def _detection_table(con, name: str, spec: Spec, rows: list[tuple], index_sql: str) -> None:
    con.execute(
        f"CREATE TABLE {name} (ID INTEGER PRIMARY KEY AUTOINCREMENT, FRAMENUMBER INTEGER, "
        f"ANIMALID {spec.animal_type}, MASS_X REAL, MASS_Y REAL, DATA TEXT NOT NULL)"
    )
    if spec.index_first and index_sql:
        con.execute(index_sql)
    data = "m" * spec.data_bytes
    con.executemany(
        f"INSERT INTO {name} (FRAMENUMBER, ANIMALID, MASS_X, MASS_Y, DATA) VALUES (?,?,?,?,?)",
        [(*r, data) for r in rows],
    )
    if not spec.index_first and index_sql:
        con.execute(index_sql)


def build(path: Path, spec: Spec) -> Path:
    """Write the LMT-schema file ``path`` described by ``spec``."""
    FILES_BUILT[0] += 1
    rng = np.random.default_rng(spec.seed)
    path = Path(path)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA page_size = {spec.page_size}")
    con.execute(f"PRAGMA auto_vacuum = {spec.auto_vacuum}")
    con.execute("CREATE TABLE ANIMAL (ID INTEGER PRIMARY KEY AUTOINCREMENT, RFID TEXT, NAME TEXT)")
    con.executemany(
        "INSERT INTO ANIMAL (ID, RFID, NAME) VALUES (?, ?, ?)",
        [(a, f"RFID_{a}", f"m{a}") for a in range(1, spec.animals + 1)],
    )
    frames = np.arange(1, spec.frames + 1)
    con.execute(FRAME_TABLES[spec.frame_table])
    order = frames if spec.frame_table == "rowid" else rng.permutation(frames)
    ts = 1_700_000_000_000 + 33 * frames + rng.integers(0, 3, len(frames)).cumsum()
    con.executemany(
        "INSERT INTO FRAME (FRAMENUMBER, TIMESTAMP, NUMPARTICLE) VALUES (?, ?, 4)",
        [(int(f), int(ts[f - 1])) for f in order],
    )
    index_sql = INDEXES[spec.index]
    rows = _rows(spec, rng, frames) + _odd_rows(spec, frames)
    if spec.renamed:  # the old table keeps the index named detectionFastLoadXYIndex
        _detection_table(con, "DETECTION", spec, rows[::2], index_sql)
        con.execute("ALTER TABLE DETECTION RENAME TO DETECTION_OLD")
        index_sql = INDEXES["other_name"].replace("fastXY", "newXY") if spec.index != "none" else ""
        _detection_table(con, "DETECTION", spec, rows, index_sql)
    else:
        _detection_table(con, "DETECTION", spec, rows, index_sql)
    if spec.churn:
        (n,) = con.execute("SELECT count(*) FROM DETECTION").fetchone()
        gone = rng.choice(np.arange(1, n + 1), int(n * spec.churn), replace=False)
        kept = con.execute(
            "SELECT FRAMENUMBER, ANIMALID, MASS_X, MASS_Y, DATA FROM DETECTION WHERE ID IN "
            f"({','.join(map(str, gone.tolist()))})"
        ).fetchall()
        con.execute(f"DELETE FROM DETECTION WHERE ID IN ({','.join(map(str, gone.tolist()))})")
        con.commit()
        con.executemany(
            "INSERT INTO DETECTION (FRAMENUMBER, ANIMALID, MASS_X, MASS_Y, DATA) "
            "VALUES (?,?,?,?,?)",
            kept[::-1],
        )
    con.commit()
    if spec.vacuum:
        con.execute("VACUUM")
    con.close()
    return path


def index_pages(path: Path) -> dict[str, list[int]]:
    """Page numbers of the fast index of DETECTION: ``{"internal": [...], "leaf": [...]}``."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (name,) = con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'DETECTION' "
            "ORDER BY name != 'detectionFastLoadXYIndex' LIMIT 1"
        ).fetchone()
        rows = con.execute("SELECT pageno, pagetype FROM dbstat WHERE name = ?", (name,))
        out: dict[str, list[int]] = {"internal": [], "leaf": []}
        for page, kind in rows.fetchall():
            out.setdefault(kind, []).append(page)
        return out
    finally:
        con.close()


def damage(path: Path, kind: str, rng: np.random.Generator) -> str:
    """Change bytes of one index page of ``path`` in place; returns what was done.

    ``kind``: ``"byte"`` (a random byte anywhere on a random index page), ``"pointer"`` (a
    cell pointer of an interior page, or of a leaf if there is none), ``"count"`` (a leaf's
    cell count lowered by one to three), ``"type"`` (a page's type byte).
    """
    pages = index_pages(path)
    data = bytearray(path.read_bytes())
    ps = int.from_bytes(data[16:18], "big") or 65536
    inner, leaves = pages["internal"], pages["leaf"]
    if kind == "pointer":
        pg = int(rng.choice(inner or leaves))
        hs = 12 if pg in inner else 8
        n = int.from_bytes(data[(pg - 1) * ps + 3 : (pg - 1) * ps + 5], "big")
        at = (pg - 1) * ps + hs + 2 * int(rng.integers(0, max(n, 1)))
        value = int(rng.integers(0, 65536))
        data[at : at + 2] = value.to_bytes(2, "big")
        what = f"cell pointer on page {pg} set to {value}"
    elif kind == "count":
        pg = int(rng.choice(leaves))
        at = (pg - 1) * ps + 3
        n = int.from_bytes(data[at : at + 2], "big")
        new = max(0, n - int(rng.integers(1, 4)))
        data[at : at + 2] = new.to_bytes(2, "big")
        what = f"cell count of leaf {pg} lowered from {n} to {new}"
    elif kind == "type":
        pg = int(rng.choice(inner + leaves))
        value = int(rng.choice([2, 5, 10, 13, 0, 99]))
        data[(pg - 1) * ps] = value
        what = f"type of page {pg} set to {value}"
    else:
        pg = int(rng.choice(inner + leaves))
        at = (pg - 1) * ps + int(rng.integers(0, ps))
        value = int(rng.integers(0, 256))
        data[at] = value
        what = f"byte {at % ps} of page {pg} set to {value}"
    path.write_bytes(bytes(data))
    return what


def sha256(path: Path) -> str:
    """The file's SHA-256."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _integral(v, text_affinity: bool):
    """The frame number SQLite's ``FRAMENUMBER = n`` would match, or None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and text_affinity:
        try:
            return int(v) if str(int(v)) == v else None
        except ValueError:
            return None
    return None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")  # damaged text is still text, not an error


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def reference(path: Path, animal_ids, not_indexed: bool = False) -> dict:
    """What plain SQLite queries say the reader should return.

    Returns ``{"frames": (frame, ts), "tracks": {id: (frame, x, y, n_glitch, n_null)},
    "anonymous": n}``; rows of each animal sorted by (frame, x, y). Raises
    :class:`sqlite3.DatabaseError` where SQLite finds the file damaged.
    """
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.text_factory = _text
    try:
        frame_text = any(
            r[1].upper() == "FRAMENUMBER" and "TEXT" in (r[2] or "").upper()
            for r in con.execute("PRAGMA table_info(DETECTION)")
        )
        frames = sorted(con.execute("SELECT FRAMENUMBER, TIMESTAMP FROM FRAME").fetchall())
        hint = " NOT INDEXED" if not_indexed else ""
        tracks = {}
        for a in animal_ids:
            rows = con.execute(
                f"SELECT FRAMENUMBER, MASS_X, MASS_Y FROM DETECTION{hint} WHERE ANIMALID = ?",
                (int(a),),
            ).fetchall()
            keep, n_glitch, n_null = [], 0, 0
            for f, x, y in rows:
                fi = _integral(f, frame_text)
                if fi is None or not _number(x) or not _number(y):
                    n_null += 1
                elif x < 10:
                    n_glitch += 1
                else:
                    keep.append((fi, float(x), float(y)))
            keep.sort()
            arr = np.array(keep, dtype=float).reshape(-1, 3)
            tracks[int(a)] = (arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], n_glitch, n_null)
        (anon,) = con.execute(
            f"SELECT count(*) FROM DETECTION{hint} WHERE ANIMALID IS NULL"
        ).fetchone()
    finally:
        con.close()
    f = np.array(frames, dtype=np.int64).reshape(-1, 2)
    return {"frames": (f[:, 0], f[:, 1]), "tracks": tracks, "anonymous": int(anon)}


def read(path: Path, animal_ids, method: str = "auto", verify: bool = False) -> dict:
    """What :class:`~napari_mousestop.io.lmt.DetectionReader` returns, in :func:`reference`'s
    shape, plus its ``provenance`` and ``warnings``."""
    from napari_mousestop.io.lmt import DetectionReader

    with DetectionReader(path, method=method, verify=verify) as reader:
        frames = reader.frames()
        tracks = {
            t.animal_id: (t.frame, t.x_px, t.y_px, t.n_glitch, t.n_null)
            for t in reader.tracks(animal_ids)
        }
        anon = reader.n_anonymous()
        return {
            "frames": frames,
            "tracks": tracks,
            "anonymous": anon,
            "provenance": reader.provenance(),
            "warnings": list(reader.warnings),
        }


def assert_same(got: dict, ref: dict) -> None:
    """The reader's output equals the reference, array for array."""
    np.testing.assert_array_equal(got["frames"][0], ref["frames"][0])
    np.testing.assert_array_equal(got["frames"][1], ref["frames"][1])
    assert got["tracks"].keys() == ref["tracks"].keys()
    for a, want in ref["tracks"].items():
        have = got["tracks"][a]
        for h, w in zip(have[:3], want[:3], strict=True):
            np.testing.assert_array_equal(h, w, err_msg=f"animal {a}")
        assert have[3:] == want[3:], f"animal {a}: (glitch, null) {have[3:]} != {want[3:]}"
    assert got["anonymous"] == ref["anonymous"]


def scan_reference(path: Path, animal_ids, not_indexed: bool = False) -> dict:
    """Like :func:`reference`, from one scan of DETECTION (through the covering index, as
    SQLite plans it, or the table itself): what SQLite reads from the same pages as the page
    decoder. For files whose ANIMALID is declared INTEGER."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.text_factory = _text
    try:
        hint = " NOT INDEXED" if not_indexed else ""
        frames = sorted(con.execute("SELECT FRAMENUMBER, TIMESTAMP FROM FRAME").fetchall())
        rows = con.execute(
            f"SELECT ANIMALID, FRAMENUMBER, MASS_X, MASS_Y FROM DETECTION{hint}"
        ).fetchall()
    finally:
        con.close()
    wanted = {int(a): ([], [0, 0]) for a in animal_ids}
    anon = 0
    for a, f, x, y in rows:
        if a is None:
            anon += 1
            continue
        ai = _integral(a, False)
        if ai not in wanted:
            continue
        keep, counts = wanted[ai]
        fi = _integral(f, False)
        if fi is None or not _number(x) or not _number(y):
            counts[1] += 1
        elif x < 10:
            counts[0] += 1
        else:
            keep.append((fi, float(x), float(y)))
    tracks = {}
    for a, (keep, (n_glitch, n_null)) in wanted.items():
        arr = np.array(sorted(keep), dtype=float).reshape(-1, 3)
        tracks[a] = (arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2], n_glitch, n_null)
    f = np.array(frames, dtype=np.int64).reshape(-1, 2)
    return {"frames": (f[:, 0], f[:, 1]), "tracks": tracks, "anonymous": anon}


def read_three_ways(path: Path, animal_ids) -> dict:
    """Read ``path`` with the reader in ``auto`` and in ``sql`` and with plain SQLite; assert
    that all three agree and that the file did not change; return the ``auto`` read."""
    before = sha256(path)
    ref = reference(path, animal_ids)
    got = read(path, animal_ids)
    assert_same(got, ref)
    assert_same(read(path, animal_ids, "sql"), ref)
    assert sha256(path) == before
    return got


# --- quirks of real recordings (issue 23; docs/lmt_format.md, "Quirks of real files") ----------


@dataclass(frozen=True)
class Quirks:
    """A small LMT recording with the quirks real files hold (:func:`build_quirky`).

    Each mouse rests ``rest_s`` then walks ``walk_s`` (20 cm/s) in turn, so it has one stop per
    cycle. Frames are numbered from 1 at ``fps``.
    """

    animals: int = 2
    seconds: float = 60.0
    fps: float = 30.0
    rest_s: float = 4.0
    walk_s: float = 2.0
    start_ms: int = 1_700_000_000_000
    pauses: tuple[tuple[float, float], ...] = ()  # (at s, length s): the clock jumps, no frames
    duplicate_rows: int = 0  # DETECTION rows repeated (same frame and animal, shifted 0.5 px)
    duplicate_frames: int = 0  # FRAME rows repeated (same FRAMENUMBER and TIMESTAMP)
    frames_deleted: int = 0  # FRAME rows deleted (their detections stay)
    empty_animal: bool = False  # an ANIMAL row with RFID 'None' and no detection
    backwards_at: int | None = None  # a frame whose TIMESTAMP is earlier than its predecessor's
    index: bool = True  # LMT's covering index (the page reader reads it)


def build_quirky(path: Path, q: Quirks) -> Path:
    """Write the LMT file ``q`` describes; returns ``path``."""
    FILES_BUILT[0] += 1
    path = Path(path)
    path.unlink(missing_ok=True)
    n = int(round(q.seconds * q.fps))
    frames = np.arange(1, n + 1)
    t_ms = np.round((frames - 1) * 1000.0 / q.fps).astype(np.int64)
    for at, length in q.pauses:
        t_ms[frames - 1 >= int(at * q.fps)] += int(length * 1000)
    ts = q.start_ms + t_ms
    if q.backwards_at is not None:
        ts[q.backwards_at - 1] = ts[q.backwards_at - 2] - 5
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE ANIMAL (ID INTEGER PRIMARY KEY AUTOINCREMENT, RFID TEXT, NAME TEXT)")
    rows = [(a, f"RFID_{a}", f"m{a}") for a in range(1, q.animals + 1)]
    if q.empty_animal:
        rows.append((q.animals + 1, "None", None))
    con.executemany("INSERT INTO ANIMAL (ID, RFID, NAME) VALUES (?, ?, ?)", rows)
    # LMT's FRAME without its key: real files hold duplicate frame numbers
    con.execute("CREATE TABLE FRAME (FRAMENUMBER INTEGER, TIMESTAMP INTEGER, NUMPARTICLE INTEGER)")
    frame_rows = [(int(f), int(s)) for f, s in zip(frames, ts, strict=True)]
    frame_rows += frame_rows[n // 3 : n // 3 + q.duplicate_frames]
    con.executemany("INSERT INTO FRAME (FRAMENUMBER, TIMESTAMP, NUMPARTICLE) VALUES (?, ?, 2)",
                    frame_rows)  # fmt: skip
    if q.frames_deleted:
        gone = frames[n // 2 : n // 2 + q.frames_deleted]
        con.execute(f"DELETE FROM FRAME WHERE FRAMENUMBER IN ({','.join(map(str, gone))})")
    cycle = q.rest_s + q.walk_s
    det = []
    for a in range(1, q.animals + 1):
        phase = (frames - 1) / q.fps + a * 0.7
        walking = (phase % cycle) >= q.rest_s
        x_cm = 5.0 + np.cumsum(np.where(walking, 20.0 / q.fps, 0.0)) % 40.0
        x_px, y_px = 114 + x_cm / (10 / 57), np.full(n, 150.0 + 40 * a)
        det += [(int(f), a, float(x), float(y)) for f, x, y in zip(frames, x_px, y_px, strict=True)]
    rng = np.random.default_rng(0)
    for i in rng.choice(len(det), q.duplicate_rows, replace=False):
        f, a, x, y = det[i]
        det.append((f, a, x + 0.5, y))
    _detection_table(con, "DETECTION", Spec(), det, INDEXES["standard"] if q.index else "")
    con.commit()
    con.close()
    return path
