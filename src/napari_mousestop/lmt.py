"""Read Live Mouse Tracker (LMT) SQLite files, read-only.

Every connection is opened with the SQLite URI ``file:...?mode=ro``; the file is never written (no
index is created, no journal). Positions come from DETECTION's centre of mass (MASS_X, MASS_Y, in
pixels), converted to cm through a :class:`~napari_mousestop.geometry.CageGeometry`; times come
from FRAME.TIMESTAMP (epoch milliseconds). Anonymous detections (ANIMALID NULL), tracking glitches
(MASS_X < 10) and rows with NULL coordinates are left out, counted and reported.

Two ways to read DETECTION, with the same results:

* ``"pages"`` (default when possible): the covering index ``detectionFastLoadXYIndex`` is decoded
  straight from the file's pages (see ``_sqlite_pages``) while a read transaction holds SQLite's
  shared lock, so no writer can change the pages under us.
* ``"sql"``: one streamed SQL scan through ADBC (Apache Arrow, no Python object per row), for
  files without that index, in WAL mode or with an unexpected layout.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import _sqlite_pages as pages
from .geometry import CageGeometry

GLITCH_MASS_X = 10.0
"""Rows with MASS_X below this (pixels) are tracking glitches (lmt-analysis drops them too)."""

_ANIMAL_FIELDS = ("rfid", "name", "sex", "age", "genotype", "strain", "setup")
_FAST_INDEX = "detectionFastLoadXYIndex"
_NULL = -1e300  # stands for NULL coordinates in the SQL path


class LMTError(ValueError):
    """A file that is not a usable LMT database; the message starts with the file's path."""


@dataclass(frozen=True)
class RecordingInfo:
    """When a recording ran, from FRAME."""

    path: str
    start_time: pd.Timestamp
    end_time: pd.Timestamp
    duration_s: float
    n_frames: int


@dataclass
class Track:
    """One animal's usable detections, sorted by frame."""

    animal_id: int
    frame: np.ndarray  # FRAMENUMBER, int64
    x_px: np.ndarray  # MASS_X, float64
    y_px: np.ndarray  # MASS_Y, float64
    n_glitch: int  # rows left out: MASS_X < 10
    n_null: int  # rows left out: NULL coordinates


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """Open ``path`` read-only (URI ``mode=ro``) after checking it is an SQLite file.

    Raises
    ------
    LMTError
        Missing file, not an SQLite database, or a file SQLite cannot read.
    """
    p = Path(path)
    if not p.is_file():
        raise LMTError(f"{p}: no such file")
    with open(p, "rb") as f:
        head = f.read(100)
    if head[:16] != pages.MAGIC:
        raise LMTError(f"{p}: not an SQLite database (is it an LMT .sqlite file?)")
    try:
        con = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise LMTError(f"{p}: unreadable SQLite file ({exc})") from None
    return con


def _columns(con: sqlite3.Connection, path, table: str, required: tuple[str, ...]) -> dict:
    """Upper-case column name -> real name for ``table``; LMTError if it or a column is missing."""
    try:
        rows = con.execute(f"PRAGMA table_info('{table}')").fetchall()
    except sqlite3.Error as exc:
        raise LMTError(f"{path}: unreadable SQLite file ({exc})") from None
    if not rows:
        raise LMTError(f"{path}: no {table} table (not an LMT database?)")
    cols = {r[1].upper(): r[1] for r in rows}
    missing = [c for c in required if c not in cols]
    if missing:
        raise LMTError(f"{path}: table {table} lacks column(s) {', '.join(missing)}")
    return cols


def _query(con, path, sql: str, args=()) -> list:
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.Error as exc:
        raise LMTError(f"{path}: unreadable SQLite file ({exc})") from None


def read_animals(path: str | os.PathLike) -> pd.DataFrame:
    """The ANIMAL table, columns read by name (3 to 9+ columns exist in the wild).

    Returns
    -------
    pandas.DataFrame
        ``animal_id, rfid, name, sex, age, genotype, strain, setup``; None where a column is
        absent or NULL. Rows with every field NULL (a placeholder some files hold) are dropped.
    """
    con = connect(path)
    try:
        cols = _columns(con, path, "ANIMAL", ("ID",))
        sel = ", ".join(
            f'"{cols[f.upper()]}"' if f.upper() in cols else "NULL" for f in _ANIMAL_FIELDS
        )
        rows = _query(con, path, f'SELECT "{cols["ID"]}", {sel} FROM ANIMAL ORDER BY 1')
    finally:
        con.close()
    df = pd.DataFrame(rows, columns=["animal_id", *_ANIMAL_FIELDS], dtype=object)
    df = df[df[list(_ANIMAL_FIELDS)].notna().any(axis=1)]
    df["animal_id"] = df["animal_id"].astype(np.int64)
    for f in _ANIMAL_FIELDS:
        df[f] = [None if v is None else str(v) for v in df[f]]
    return df.reset_index(drop=True)


def read_recording_info(path: str | os.PathLike) -> RecordingInfo:
    """Start, end, duration and frame count of a recording (from FRAME.TIMESTAMP)."""
    con = connect(path)
    try:
        _columns(con, path, "FRAME", ("FRAMENUMBER", "TIMESTAMP"))
        ((f0, f1, n),) = _query(
            con, path, "SELECT min(FRAMENUMBER), max(FRAMENUMBER), count(*) FROM FRAME"
        )
        if not n:
            raise LMTError(f"{path}: FRAME is empty (no recorded frames)")
        t0 = _query(con, path, "SELECT TIMESTAMP FROM FRAME WHERE FRAMENUMBER = ?", (f0,))[0][0]
        t1 = _query(con, path, "SELECT TIMESTAMP FROM FRAME WHERE FRAMENUMBER = ?", (f1,))[0][0]
    finally:
        con.close()
    if t0 is None or t1 is None:
        raise LMTError(f"{path}: FRAME.TIMESTAMP is NULL at the first or last frame")
    start = pd.Timestamp(int(t0), unit="ms", tz="UTC")
    end = pd.Timestamp(int(t1), unit="ms", tz="UTC")
    return RecordingInfo(str(path), start, end, (int(t1) - int(t0)) / 1000.0, int(n))


class DetectionReader:
    """Reads FRAME and DETECTION of one LMT file, read-only, with bounded memory.

    Use as a context manager; :meth:`tracks` yields one animal at a time.

    Parameters
    ----------
    path
        The LMT ``.sqlite`` file.
    method
        ``"auto"`` (pages when possible, else SQL), ``"pages"`` or ``"sql"``.
    """

    def __init__(self, path: str | os.PathLike, method: str = "auto"):
        if method not in ("auto", "pages", "sql"):
            raise ValueError(f"method must be 'auto', 'pages' or 'sql', not {method!r}")
        self.path = Path(path)
        self.con = connect(path)
        self.con.isolation_level = None
        try:
            _columns(self.con, path, "DETECTION", ("ANIMALID", "FRAMENUMBER", "MASS_X", "MASS_Y"))
            _columns(self.con, path, "FRAME", ("FRAMENUMBER", "TIMESTAMP"))
            # a read transaction: SQLite's shared lock keeps writers out while we read pages
            _query(self.con, path, "BEGIN")
            _query(self.con, path, "SELECT count(*) FROM sqlite_master")
            self.method = method if method != "auto" else self._best_method()
            if self.method == "pages":
                self._pf = pages.PageFile(self.path)
        except BaseException:
            self.con.close()
            raise

    def _best_method(self) -> str:
        for ext in ("-wal", "-journal"):
            if Path(f"{self.path}{ext}").exists():
                return "sql"
        info = _query(self.con, self.path, f"PRAGMA index_info('{_FAST_INDEX}')")
        names = [r[2].upper() if r[2] else None for r in info]
        if names != ["ANIMALID", "FRAMENUMBER", "MASS_X", "MASS_Y"]:
            return "sql"
        try:
            pages.PageFile(self.path)
        except pages.UnsupportedLayout:
            return "sql"
        return "pages"

    def __enter__(self) -> DetectionReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the read transaction and close the file."""
        self._pf = None
        self.con.close()

    def _root(self, name: str) -> int:
        rows = _query(
            self.con, self.path, "SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)
        )
        return int(rows[0][0])

    def _adbc(self):
        import adbc_driver_sqlite.dbapi as adbc

        return adbc.connect(f"{self.path.resolve().as_uri()}?mode=ro")

    def _sql_error(self, exc: Exception) -> LMTError:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return LMTError(f"{self.path}: unreadable SQLite file ({msg})")

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        """FRAMENUMBER and TIMESTAMP (epoch ms) of every frame, sorted by frame (int64)."""
        if self.method == "pages":
            try:
                info = _query(self.con, self.path, "PRAGMA table_info('FRAME')")
                names = [r[1].upper() for r in info]
                k = names.index("TIMESTAMP")
                f = names.index("FRAMENUMBER")
                is_rowid = info[f][5] == 1 and str(info[f][2]).upper() == "INTEGER"
                leaves, _, kind = self._pf.walk(self._root("FRAME"))
                if kind != 13:
                    raise pages.UnsupportedLayout("FRAME is not a table b-tree")
                vals, rowid = pages.decode(self._pf, leaves, kind, max(k, f) + 1)
                frame = rowid.astype(np.float64) if is_rowid else vals[f]
                ts = vals[k]
                if not is_rowid:
                    o = np.argsort(frame, kind="stable")
                    frame, ts = frame[o], ts[o]
            except pages.UnsupportedLayout:
                frame, ts = self._frames_sql()
        else:
            frame, ts = self._frames_sql()
        bad = np.isnan(ts) | (ts == _NULL) | np.isnan(frame)
        if bad.any():
            raise LMTError(
                f"{self.path}: FRAME has {int(bad.sum())} frame(s) with a NULL FRAMENUMBER or "
                "TIMESTAMP"
            )
        return frame.astype(np.int64), ts.astype(np.int64)

    def _frames_sql(self) -> tuple[np.ndarray, np.ndarray]:
        import adbc_driver_manager

        try:
            return self._frames_adbc()
        except adbc_driver_manager.Error as exc:
            raise self._sql_error(exc) from None

    def _frames_adbc(self) -> tuple[np.ndarray, np.ndarray]:
        with self._adbc() as c, c.cursor() as cur:
            cur.execute(
                f"SELECT CAST(coalesce(FRAMENUMBER, {_NULL}) AS REAL), "
                f"CAST(coalesce(TIMESTAMP, {_NULL}) AS REAL) FROM FRAME ORDER BY FRAMENUMBER"
            )
            tb = cur.fetch_arrow_table()
        frame = tb.column(0).to_numpy().astype(np.float64)
        frame[frame == _NULL] = np.nan
        return frame, tb.column(1).to_numpy().astype(np.float64)

    def n_anonymous(self) -> int:
        """Number of DETECTION rows without an animal (ANIMALID NULL)."""
        if self.method == "pages":
            try:
                self._page_keys()
                return self._n_anon
            except pages.UnsupportedLayout:
                self.method = "sql"
        return int(
            _query(self.con, self.path, "SELECT count(*) FROM DETECTION WHERE ANIMALID IS NULL")[0][
                0
            ]
        )

    def _page_keys(self) -> None:
        """Find each leaf page's first and last ANIMALID, and the rows on interior pages."""
        if hasattr(self, "_leaves"):
            return
        leaves, interiors, kind = self._pf.walk(self._root(_FAST_INDEX))
        if kind != 10:
            raise LMTError(f"{self.path}: index {_FAST_INDEX} is not an index b-tree")
        self._leaves = np.asarray(leaves, dtype=np.int64)
        keys, _ = pages.decode(self._pf, self._leaves, 10, 1, only_first=True)
        self._first = np.nan_to_num(keys[0, 0::2], nan=-np.inf)
        self._last = np.nan_to_num(keys[0, 1::2], nan=-np.inf)
        self._inner, _ = pages.decode(self._pf, interiors, 2, 4)
        anon = self._leaves[self._first == -np.inf]
        a_vals, _ = pages.decode(self._pf, anon, 10, 1)
        self._n_anon = int(np.isnan(a_vals[0]).sum() + np.isnan(self._inner[0]).sum())

    def tracks(self, animal_ids) -> Iterator[Track]:
        """Yield each animal's :class:`Track` in the order of ``animal_ids``."""
        todo = [int(a) for a in animal_ids]
        if self.method == "pages":
            try:
                self._page_keys()
                while todo:
                    yield self._track_pages(todo[0])
                    todo.pop(0)
            except pages.UnsupportedLayout:
                self.method = "sql"  # unexpected pages: let SQLite read (or reject) the rest
        if todo:
            yield from self._tracks_sql(todo)

    def _track_pages(self, a: int) -> Track:
        sel = self._leaves[(self._first <= a) & (self._last >= a)]
        counts = np.zeros(2, np.int64)  # glitch, NULL rows: left out while decoding
        vals, _ = pages.decode(self._pf, sel, 10, 4, key=float(a), clean_min=GLITCH_MASS_X,
                               counts=counts)  # fmt: skip
        frame, x, y = vals[1], vals[2], vals[3]
        inner = self._inner[:, self._inner[0] == a]
        inner = inner[:, np.argsort(inner[1], kind="stable")]  # levels come one after another
        extra = _clean(a, inner[1], inner[2], inner[3])
        if len(extra.frame):  # entries held on interior pages go between the leaves' entries
            frame, x, y = pages.merge_sorted(
                frame, x, y, extra.frame.astype(np.float64), extra.x_px, extra.y_px
            )
        del vals  # the merged copies (or views of it) are all we keep
        return Track(a, frame.astype(np.int64), x, y, int(counts[0]) + extra.n_glitch,
                     int(counts[1]) + extra.n_null)  # fmt: skip

    def _scan_sql(self, animal_ids: list[int]) -> dict[int, list]:
        """One streamed scan of DETECTION, rows split per animal (NULL animals dropped)."""
        parts: dict[int, list] = {int(a): [] for a in animal_ids}
        with self._adbc() as c, c.cursor() as cur:
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "262144"})
            cur.execute(
                "SELECT CAST(coalesce(ANIMALID, -1) AS INTEGER), "
                "CAST(coalesce(FRAMENUMBER, -1) AS INTEGER), "
                f"CAST(coalesce(MASS_X, {_NULL}) AS REAL), CAST(coalesce(MASS_Y, {_NULL}) AS REAL) "
                "FROM DETECTION"
            )
            for batch in cur.fetch_record_batch():
                a = batch.column(0).to_numpy()
                cols = [batch.column(i).to_numpy() for i in (1, 2, 3)]
                for aid, lst in parts.items():
                    m = a == aid
                    if m.any():
                        lst.append([c[m] for c in cols])
        return parts

    def _tracks_sql(self, animal_ids: list[int]) -> Iterator[Track]:
        import adbc_driver_manager

        try:
            parts = self._scan_sql(animal_ids)
        except adbc_driver_manager.Error as exc:
            raise self._sql_error(exc) from None
        for aid in animal_ids:
            lst = parts[int(aid)]
            f, x, y = (
                np.concatenate([p[i] for p in lst]) if lst else np.empty(0) for i in range(3)
            )
            o = np.argsort(f, kind="stable")
            f, x, y = f[o].astype(np.float64), x[o], y[o]
            f[f == -1] = np.nan
            x[x == _NULL] = np.nan
            y[y == _NULL] = np.nan
            yield _clean(int(aid), f, x, y)


def _clean(animal_id: int, frame: np.ndarray, x: np.ndarray, y: np.ndarray) -> Track:
    null = np.isnan(x) | np.isnan(y) | np.isnan(frame)
    glitch = ~null & (x < GLITCH_MASS_X)
    keep = ~(null | glitch)
    return Track(
        int(animal_id),
        frame[keep].astype(np.int64),
        x[keep],
        y[keep],
        int(glitch.sum()),
        int(null.sum()),
    )


def positions_cm(track: Track, geometry: CageGeometry | None = None) -> tuple[np.ndarray, ...]:
    """A track's centre-of-mass positions in cm (x, y) through ``geometry``."""
    return (geometry or CageGeometry.mouse()).px_to_cm(track.x_px, track.y_px)
