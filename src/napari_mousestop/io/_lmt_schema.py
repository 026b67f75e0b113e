"""Which source reads an LMT file: the page decoder, or SQLite through SQL.

The page decoder (:mod:`._sqlite_pages`) is used only when the schema says exactly what the
pages hold. Checked here, inside the reader's read transaction, before any row is returned:

* ``DETECTION`` and ``FRAME`` are tables (found by name in any letter case in
  ``sqlite_master``), with the columns read declared with an integer or numeric affinity;
* an index of the current ``DETECTION`` table (``tbl_name``, any letter case; after
  ``ALTER TABLE ... RENAME`` the old table's indexes do not count) whose first key columns are
  ``ANIMALID, FRAMENUMBER, MASS_X, MASS_Y`` in that order (``PRAGMA index_xinfo``), ascending,
  with the BINARY collation, on plain columns, and not partial (``PRAGMA index_list``);
  ``detectionFastLoadXYIndex`` is tried first;
* FRAME's key: ``FRAMENUMBER`` is the rowid only when it is the whole primary key, declared
  ``INTEGER``, with no separate primary-key index (``INTEGER PRIMARY KEY DESC`` and composite
  keys have one); otherwise FRAMENUMBER is read from the records;
* no generated or hidden columns in the records read.

Anything else is left to SQL, with the reason recorded.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

FAST_INDEX = "detectionFastLoadXYIndex"
INDEX_COLUMNS = ("ANIMALID", "FRAMENUMBER", "MASS_X", "MASS_Y")


@dataclass(frozen=True)
class PagePlan:
    """What the page decoder reads."""

    index: str  # the covering index used
    index_root: int
    frame_root: int
    frame_is_rowid: bool  # FRAMENUMBER is the FRAME table's rowid
    frame_col: int  # record column of FRAMENUMBER (unused when it is the rowid)
    time_col: int  # record column of TIMESTAMP


def affinity(declared: str | None) -> str:
    """SQLite's column affinity for a declared type (rules of section 3.1 of datatype3.html)."""
    t = (declared or "").upper()
    if "INT" in t:
        return "INTEGER"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "REAL"
    return "NUMERIC"


def _table(con: sqlite3.Connection, name: str) -> tuple[str, int] | None:
    rows = con.execute(
        "SELECT name, rootpage FROM sqlite_master WHERE type = 'table' AND upper(name) = ?",
        (name.upper(),),
    ).fetchall()
    return (rows[0][0], int(rows[0][1] or 0)) if len(rows) == 1 else None


def _xinfo(con: sqlite3.Connection, table: str) -> dict[str, tuple]:
    """Upper-case column name -> (record position, declared type, pk, hidden) of ``table``."""
    rows = con.execute("SELECT cid, name, type, pk, hidden FROM pragma_table_xinfo(?)", (table,))
    return {r[1].upper(): (r[0], r[2], r[3], r[4]) for r in rows.fetchall()}


def _index_problem(con: sqlite3.Connection, table: str, name: str, partial: int) -> str | None:
    """Why index ``name`` cannot be decoded as (ANIMALID, FRAMENUMBER, MASS_X, MASS_Y), or None."""
    if partial:
        return f"index {name} is partial (WHERE ...): it leaves rows out"
    keys = [
        r
        for r in con.execute(
            "SELECT cid, name, desc, coll, key FROM pragma_index_xinfo(?)", (name,)
        ).fetchall()
        if r[4]
    ]
    names = [r[1].upper() if r[1] else "<expression>" for r in keys]
    if names[:4] != list(INDEX_COLUMNS):
        return f"index {name} has the key columns ({', '.join(names)})"
    for cid, col, desc, coll, _ in keys[:4]:
        if cid < 0:
            return f"index {name} holds an expression"
        if desc:
            return f"index {name} sorts {col} in descending order (DESC)"
        if (coll or "").upper() != "BINARY":
            return f"index {name} compares {col} with the collation {coll}"
    return None


def page_plan(con: sqlite3.Connection) -> PagePlan | str:
    """The page decoder's plan for this file, or why SQL must read it.

    ``con`` must be inside the read transaction that the pages will be read under.
    """
    det = _table(con, "DETECTION")
    frame = _table(con, "FRAME")
    if det is None or frame is None:
        return "DETECTION or FRAME is not a plain table"
    cols = _xinfo(con, det[0])
    for c in INDEX_COLUMNS:
        if cols[c][3]:
            return f"DETECTION.{c} is a generated or hidden column"
    for c in INDEX_COLUMNS[:2]:
        if affinity(cols[c][1]) not in ("INTEGER", "NUMERIC"):
            return f"DETECTION.{c} is declared {cols[c][1] or 'without a type'}, not INTEGER"
    partial = {
        r[0].upper(): r[1]
        for r in con.execute("SELECT name, partial FROM pragma_index_list(?)", (det[0],))
    }
    found = con.execute(
        "SELECT name, rootpage FROM sqlite_master WHERE type = 'index' AND upper(tbl_name) = ? "
        "ORDER BY upper(name) != ?, name",
        (det[0].upper(), FAST_INDEX.upper()),
    ).fetchall()
    index, problems = None, []
    for name, root in found:
        why = _index_problem(con, det[0], name, partial.get(name.upper(), 0))
        if why is None and root and root > 1:
            index = (name, int(root))
            break
        problems.append(why or f"index {name} has no root page")
    if index is None:
        first = problems[0] if problems else "no index on DETECTION"
        return f"no usable index on DETECTION ({', '.join(INDEX_COLUMNS)}): {first}"
    fcols = _xinfo(con, frame[0])
    if any(v[3] for v in fcols.values()):
        return "FRAME has generated or hidden columns"
    f_pos, f_type, _, _ = fcols["FRAMENUMBER"]
    t_pos = fcols["TIMESTAMP"][0]
    if affinity(f_type) not in ("INTEGER", "NUMERIC"):
        return f"FRAME.FRAMENUMBER is declared {f_type or 'without a type'}, not INTEGER"
    pk_cols = [k for k, v in fcols.items() if v[2]]
    pk_index = con.execute(
        "SELECT count(*) FROM pragma_index_list(?) WHERE origin = 'pk'", (frame[0],)
    ).fetchone()[0]
    is_rowid = pk_cols == ["FRAMENUMBER"] and (f_type or "").upper() == "INTEGER" and not pk_index
    if frame[1] < 2:
        return "FRAME has no root page"
    return PagePlan(index[0], index[1], frame[1], is_rowid, f_pos, t_pos)
