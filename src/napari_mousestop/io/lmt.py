"""Read Live Mouse Tracker (LMT) SQLite files, read-only.

Every connection is opened with the SQLite URI ``file:...?mode=ro``; the file is never written (no
index is created, no journal). Positions come from DETECTION's centre of mass (MASS_X, MASS_Y, in
pixels), converted to cm through a :class:`~napari_mousestop.io.geometry.CageGeometry`; times come
from FRAME.TIMESTAMP (epoch milliseconds). Anonymous detections (ANIMALID NULL), tracking glitches
(MASS_X < 10) and rows with NULL or non-numeric frames or coordinates are left out, counted and
reported.

One reader, two sources, chosen once per file before any row is returned
(:class:`DetectionReader`):

* pages: the covering index ``detectionFastLoadXYIndex`` (ANIMALID, FRAMENUMBER, MASS_X,
  MASS_Y) and the FRAME table are decoded straight from the file's pages (``_sqlite_pages``),
  when the schema says exactly what they hold (``_lmt_schema``), while a read transaction holds
  SQLite's shared lock: no writer can change the file from the first page to the last;
* SQL: SQLite reads the same columns (``_lmt_sql``), through ADBC (Apache Arrow) when nothing
  has been returned yet, for files the page decoder does not fully understand.

The page decoder checks every page and record as it goes; on any surprise the rest is read
through SQL in the same transaction (the table itself, not the index, when the index looks
damaged). The file's change counter is compared before each result is returned: a change means
the lock was lost and the file must be read again (:class:`FileChanged`). Which source ran, and
why, is recorded (:meth:`DetectionReader.provenance`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_mousestop.errors import FileChanged, LMTError
from napari_mousestop.io import _lmt_sql as lsql
from napari_mousestop.io import _sqlite_pages as pages
from napari_mousestop.io._lmt_schema import PagePlan, affinity, page_plan
from napari_mousestop.io.geometry import CageGeometry

GLITCH_MASS_X = 10.0
"""Rows with MASS_X below this (pixels) are tracking glitches (lmt-analysis drops them too)."""

_ANIMAL_FIELDS = ("rfid", "name", "sex", "age", "genotype", "strain", "setup", "treatment")
_BUSY_MS = 5000  # how long a read waits for a writer to finish committing
_DETECTION_COLUMNS = ("ANIMALID", "FRAMENUMBER", "MASS_X", "MASS_Y")




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
        con = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=_BUSY_MS / 1e3)
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise _sqlite_error(p, exc) from None
    return con


def _sqlite_error(path, exc: Exception) -> LMTError:
    """An LMTError naming ``path`` for an error of SQLite (sqlite3 or ADBC)."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_READONLY_ROLLBACK":
        return LMTError(
            f"{path}: an interrupted write left {Path(path).name}-journal, which SQLite must roll "
            "back before the file can be read, and a read-only reader cannot: let the program "
            "that writes it finish, or open a copy of both files once with sqlite3"
        )
    if name.startswith("SQLITE_BUSY") or "database is locked" in msg:
        return LMTError(
            f"{path}: locked by a program writing to it (database is locked); try again later"
        )
    return LMTError(f"{path}: unreadable SQLite file ({msg})")


def _columns(con: sqlite3.Connection, path, table: str, required: tuple[str, ...]) -> dict:
    """Upper-case column name -> real name for ``table``; LMTError if it or a column is missing."""
    try:
        rows = con.execute(f"PRAGMA table_info('{table}')").fetchall()
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc) from None
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
        raise _sqlite_error(path, exc) from None


def read_animals(path: str | os.PathLike) -> pd.DataFrame:
    """The ANIMAL table, columns read by name (3 to 9+ columns exist in the wild).

    Returns
    -------
    pandas.DataFrame
        ``animal_id, rfid, name, sex, age, genotype, strain, setup, treatment``; None where a
        column is absent or NULL. Rows with every field NULL (a placeholder some files hold)
        are dropped.
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

    Use as a context manager; :meth:`frames`, then :meth:`tracks` (one animal at a time),
    then :meth:`n_anonymous`. The source (pages or SQL) is chosen when the reader is made,
    inside a read transaction that lasts until :meth:`close`.

    Parameters
    ----------
    path
        The LMT ``.sqlite`` file.
    method
        ``"auto"`` (pages when the schema and the pages allow it, else SQL), ``"pages"`` (the
        page decoder or an :class:`LMTError` saying why not) or ``"sql"``.
    verify
        Run ``PRAGMA quick_check`` first (reads the whole file) and refuse a damaged file.

    Attributes
    ----------
    method
        The source in use now: ``"pages"`` or ``"sql"``.
    reason
        Why that source was chosen.
    fallback
        Why the page decoder gave way to SQL part way, or None.
    warnings
        Messages for the user (a damaged index read around).
    """

    def __init__(self, path: str | os.PathLike, method: str = "auto", verify: bool = False):
        if method not in ("auto", "pages", "sql"):
            raise ValueError(f"method must be 'auto', 'pages' or 'sql', not {method!r}")
        self.path = Path(path)
        self.asked = method
        self.method = "sql"
        self.reason = ""
        self.fallback: str | None = None
        self.verified = False
        self.warnings: list[str] = []
        self._plan: PagePlan | None = None
        self._pf: pages.PageFile | None = None
        self._fd: int | None = None
        self._adbc = None
        self._cur = None
        self._returned = False  # has any result left the reader?
        self._not_indexed = False
        self._n_anon: int | None = None
        self.con = connect(path)
        self.con.isolation_level = None
        try:
            # the read transaction: SQLite's shared lock keeps writers out until close()
            _query(self.con, path, "BEGIN")
            _query(self.con, path, "SELECT count(*) FROM sqlite_master")
            self._det = _columns(self.con, path, "DETECTION", _DETECTION_COLUMNS)
            self._frame = _columns(self.con, path, "FRAME", ("FRAMENUMBER", "TIMESTAMP"))
            self._aff = {
                t: {
                    r[1].upper(): affinity(r[2])
                    for r in _query(self.con, path, f"PRAGMA table_info('{t}')")
                }
                for t in ("DETECTION", "FRAME")
            }
            if verify:
                self._verify()
            if method == "sql":
                self._use_sql("method 'sql' was asked for")
            else:
                try:
                    plan = page_plan(self.con)
                except sqlite3.Error as exc:
                    raise _sqlite_error(self.path, exc) from None
                if isinstance(plan, str):
                    self._refuse_or_sql(plan)
                else:
                    try:
                        self._open_pages(plan)
                    except Exception as exc:  # anything unexpected in the pages: SQL reads it
                        self._refuse_or_sql(_describe(exc), getattr(exc, "damaged", True))
        except BaseException:
            self.close()
            raise

    # --- choosing the source ------------------------------------------------------------------

    def _verify(self) -> None:
        rows = [r[0] for r in _query(self.con, self.path, "PRAGMA quick_check")]
        if rows != ["ok"]:
            shown = "; ".join(str(r) for r in rows[:3]) + ("; ..." if len(rows) > 3 else "")
            raise LMTError(
                f"{self.path}: the file is damaged: PRAGMA quick_check reports {len(rows)} "
                f"problem(s): {shown}"
            )
        self.verified = True

    def _open_pages(self, plan: PagePlan) -> None:
        if Path(f"{self.path}-wal").exists():
            raise pages.UnsupportedLayout("a -wal file lies beside it: pages may live there")
        # kept open until close(): closing any descriptor of the file drops SQLite's lock
        self._fd = os.open(self.path, os.O_RDONLY)
        pf = pages.PageFile(self._fd)  # header read under the lock
        self._counter = pf.counter
        self._leaves, levels = pages.walk(pf, plan.index_root, 10)
        kinds = [pages.INT_KEY, pages.INT_KEY, pages.NUMBER, pages.NUMBER]
        inner = [pages.decode(pf, lv, 2, kinds, plan.index_root)[0] for lv in levels]
        self._inner = np.concatenate(inner, axis=1) if inner else np.empty((4, 0))
        self._frame_leaves, _ = pages.walk(pf, plan.frame_root, 13)
        self._pf, self._plan = pf, plan
        self.method = "pages"
        self.reason = (
            f"schema checked: index {plan.index} holds (ANIMALID, FRAMENUMBER, MASS_X, MASS_Y) "
            f"ascending; its b-tree and FRAME's ({len(self._leaves)} + "
            f"{len(self._frame_leaves)} leaves) checked as they are decoded"
        )

    def _refuse_or_sql(self, reason: str, damaged: bool = False) -> None:
        if self.asked == "pages":
            raise LMTError(
                f"{self.path}: the page reader cannot read this file ({reason}); "
                "method 'auto' reads it through SQL"
            )
        self._use_sql(reason, damaged)

    def _use_sql(self, reason: str, damaged: bool = False) -> None:
        """Read what is left through SQL: through ADBC when nothing was returned yet, else in
        this transaction (the same snapshot as what was returned)."""
        self.method = "sql"
        self._pf = None
        self._not_indexed = damaged
        if damaged:
            self.warnings.append(
                f"{self.path.name}: the file looks damaged ({reason}); SQLite read the rest "
                "from the tables themselves, not from the index. Check the file with --verify "
                "(PRAGMA quick_check)."
            )
        if self._returned:
            self.fallback = reason
            return
        self.reason = reason
        self._close_fd()
        # no lock of ours may outlive this: ADBC links its own SQLite, and POSIX locks are the
        # process's, so one library's unlock or close would release the other's lock
        self.con.close()
        self.con = None
        import adbc_driver_sqlite.dbapi as adbc

        try:  # autocommit off: one read transaction for FRAME and DETECTION
            self._adbc = adbc.connect(f"{self.path.resolve().as_uri()}?mode=ro")
            self._cur = self._adbc.cursor()
            self._cur.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            self._cur.fetchall()
        except Exception as exc:
            raise _sqlite_error(self.path, exc) from None

    def _fall_back(self, exc: Exception) -> None:
        """The page decoder met a surprise: SQL reads the rest (or, for "pages", an error)."""
        self._check_unchanged()
        reason = _describe(exc)
        if self.asked == "pages":
            raise LMTError(
                f"{self.path}: the page reader stopped ({reason}); method 'auto' reads such "
                "files through SQL"
            ) from None
        self._use_sql(reason, getattr(exc, "damaged", True))

    def _check_unchanged(self) -> None:
        """FileChanged if the header's change counter moved since the pages were first read."""
        if self._fd is None:
            return
        now = int.from_bytes(os.pread(self._fd, 4, 24), "big")
        if now != self._counter:
            raise FileChanged(
                f"{self.path}: the file changed while it was read (change counter "
                f"{self._counter} -> {now}): another program wrote to it; read it again"
            )

    def _returning(self) -> None:
        self._check_unchanged()
        self._returned = True

    def provenance(self) -> dict:
        """Which source read the file and why, for the output's parameters."""
        return {
            "source": self.method if self.fallback is None else "pages, then sql",
            "reason": self.reason,
            "fallback": self.fallback,
            "index": self._plan.index if self._plan is not None else None,
            "table_scan": self._not_indexed,
            "verified": self.verified,
        }

    def __enter__(self) -> DetectionReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        """End the read transaction and close the file."""
        self._pf = None
        for obj in (self._cur, self._adbc, self.con):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # closing what failed to open: nothing left to release
                    pass
        self._cur = self._adbc = self.con = None
        self._close_fd()

    # --- SQL ----------------------------------------------------------------------------------

    def _sql(self, sql: str, dtypes: tuple[str, ...]) -> Iterator[list[np.ndarray]]:
        """Batches of a query, from ADBC or (after a fallback) this transaction's connection."""
        import adbc_driver_manager
        import pyarrow

        try:
            if self._cur is not None:
                yield from lsql.adbc_batches(self._cur, sql)
            else:
                yield from lsql.sqlite_batches(self.con, sql, dtypes)
        except (sqlite3.Error, adbc_driver_manager.Error, pyarrow.ArrowException, OSError) as exc:
            raise _sqlite_error(self.path, exc) from None

    # --- FRAME --------------------------------------------------------------------------------

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        """FRAMENUMBER and TIMESTAMP (epoch ms) of every frame, sorted by frame (int64).

        Raises
        ------
        LMTError
            A frame whose number is not an integer or whose TIMESTAMP is not a number.
        """
        got = None
        if self.method == "pages":
            try:
                got = self._frames_pages()
            except Exception as exc:
                self._fall_back(exc)
        if got is None:
            sql = lsql.frame_sql("FRAME", self._frame, self._aff["FRAME"])
            batches = list(self._sql(sql, lsql.FRAME_DTYPES))
            frame, ts, bad = (
                np.concatenate([b[i] for b in batches]) if batches else np.empty(0, np.int64)
                for i in range(3)
            )
            bad = bad != 0
        else:
            frame, ts, bad = got
        if bad.any():
            raise LMTError(
                f"{self.path}: FRAME has {int(bad.sum())} frame(s) with a NULL or non-integer "
                "FRAMENUMBER or a NULL or non-numeric TIMESTAMP"
            )
        if len(frame) > 1 and not (np.diff(frame) > 0).all():
            o = np.lexsort((ts, frame))
            frame, ts = frame[o], ts[o]
        self._returning()
        return frame, ts

    def _frames_pages(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        plan = self._plan
        cols = [plan.time_col] + ([] if plan.frame_is_rowid else [plan.frame_col])
        kinds = [pages.ANY] * (max(cols) + 1)
        kinds[plan.time_col] = pages.NUMBER
        if not plan.frame_is_rowid:
            kinds[plan.frame_col] = pages.INT_KEY
        vals, rowid = pages.decode(self._pf, self._frame_leaves, 13, kinds, plan.frame_root,
                                   keep=tuple(cols))  # fmt: skip
        ts = vals[0]
        bad = np.isnan(ts)
        if plan.frame_is_rowid:
            frame = rowid
        else:
            bad |= np.isnan(vals[1])
            frame = np.where(bad, 0, vals[1]).astype(np.int64)
        return frame, np.where(bad, 0, ts).astype(np.int64), bad

    # --- DETECTION ----------------------------------------------------------------------------

    def n_anonymous(self) -> int:
        """Number of DETECTION rows without an animal (ANIMALID NULL)."""
        if self._n_anon is None and self.method == "pages":
            try:
                n = int(np.isnan(self._inner[0]).sum())
                for key, f, _, _, n_null, n_glitch in pages.index_runs(
                    self._pf, self._leaves, self._plan.index_root, GLITCH_MASS_X
                ):
                    if key == key:  # NULL animals come first in the index
                        break
                    n += len(f) + n_null + n_glitch
                self._n_anon = n
            except Exception as exc:
                self._fall_back(exc)
        if self._n_anon is None:
            sql = (
                f'SELECT count(*) FROM "DETECTION"{" NOT INDEXED" if self._not_indexed else ""} '
                f'WHERE "{self._det["ANIMALID"]}" IS NULL'
            )
            self._n_anon = int(list(self._sql(sql, ("i8",)))[0][0][0])
        self._returning()
        return self._n_anon

    def tracks(self, animal_ids) -> Iterator[Track]:
        """Yield each animal's :class:`Track` in the order of ``animal_ids``."""
        todo = [int(a) for a in animal_ids]
        if self.method == "pages":
            todo = yield from self._tracks_pages(todo)
        if todo:
            yield from self._tracks_sql(todo)

    def _tracks_pages(self, todo: list[int]):
        """Yield tracks from the pages; returns the animals left to SQL after a surprise."""
        animals = self._page_animals(set(todo))
        ready: dict[int, Track] = {}
        for i, aid in enumerate(todo):
            try:
                while aid not in ready:
                    tr = next(animals)
                    ready[tr.animal_id] = tr
            except Exception as exc:  # a surprise in the pages: SQL reads the rest
                self._fall_back(exc)
                return todo[i:]
            self._returning()
            yield ready.pop(aid)
        return []

    def _page_animals(self, wanted: set[int]) -> Iterator[Track]:
        """One pass over the index's leaves, in key order: each wanted animal's track as soon
        as its rows end (animals without rows at the end), and the anonymous row count."""
        plan = self._plan
        n_anon = int(np.isnan(self._inner[0]).sum())
        cur, parts, n_null, n_glitch = None, [], 0, 0
        left = set(wanted)
        for key, f, x, y, nn, ng in pages.index_runs(
            self._pf, self._leaves, plan.index_root, GLITCH_MASS_X
        ):
            if key != key:
                n_anon += len(f) + nn + ng
                continue
            if key != cur:
                if cur in left:
                    left.discard(cur)
                    yield self._page_track(int(cur), parts, n_null, n_glitch)
                if not left:
                    break
                cur, parts, n_null, n_glitch = key, [], 0, 0
            if key in left:
                parts.append((f, x, y))
                n_null += nn
                n_glitch += ng
        else:
            if cur in left:
                left.discard(cur)
                yield self._page_track(int(cur), parts, n_null, n_glitch)
        self._n_anon = n_anon
        for aid in sorted(left):
            yield self._page_track(aid, [], 0, 0)

    def _page_track(self, a: int, parts: list, n_null: int, n_glitch: int) -> Track:
        """One animal's track from its runs of leaf rows and its entries on interior pages
        (which go between the leaves' rows), frames strictly increasing."""
        inner = self._inner[:, self._inner[0] == a]
        inner = inner[:, np.lexsort((inner[3], inner[2], inner[1]))]
        extra = _clean(a, inner[1], inner[2], inner[3])
        g = extra.frame.astype(np.float64)
        n = sum(len(p[0]) for p in parts) + len(g)
        frame, x, y = np.empty(n, np.int64), np.empty(n), np.empty(n)
        k = j = 0
        for f, u, v in [*parts, (np.empty(0), np.empty(0), np.empty(0))]:
            end = int(np.searchsorted(g, f[-1], side="right")) if len(f) else len(g)
            k = pages.merge_into(frame, x, y, k, f, u, v, g, extra.x_px, extra.y_px, j, end)
            if k < 0:
                raise pages.UnsupportedLayout(f"animal {a} has two rows in one frame")
            j = end
        return Track(a, frame, x, y, n_glitch + extra.n_glitch, n_null + extra.n_null)

    def _tracks_sql(self, todo: list[int]) -> Iterator[Track]:
        split = lsql.DetectionSplit(todo)
        sql = lsql.detection_sql("DETECTION", self._det, self._aff["DETECTION"],
                                 self._not_indexed)  # fmt: skip
        for batch in self._sql(sql, lsql.DETECTION_DTYPES):
            split.add(*batch)
        self._n_anon = split.n_anonymous
        for aid in todo:
            track = _clean(aid, *split.rows(aid))
            self._returning()
            yield track


def _describe(exc: Exception) -> str:
    if isinstance(exc, pages.UnsupportedLayout):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


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
