"""The SQL source of the LMT reader: FRAME and DETECTION read by SQLite itself.

The queries say what a value means, the same way the page decoder does:

* an animal (``ANIMALID``) or frame (``FRAMENUMBER``) is the integer ``n`` for which SQLite's
  ``column = n`` holds: an integer, a real with an integral value, or, in a column declared
  TEXT, the text of an integer. ``ANIMALID`` 2.5 or ``'abc'`` is no animal; NULL is anonymous;
* a position (``MASS_X``, ``MASS_Y``) or a ``TIMESTAMP`` is an integer or real value; NULL,
  text and blob values are not positions (never 0.0).

Every value comes back non-NULL with a bit mask saying which ones are unusable: ADBC infers a
column's Arrow type from its first batch, so NULLs followed by reals would stop the scan.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

ANONYMOUS, NO_ANIMAL, BAD_FRAME, BAD_X, BAD_Y = 1, 2, 4, 8, 16
BATCH_ROWS = 262144


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_NUMERIC = ("INTEGER", "NUMERIC", "REAL")


def int_key(col: str, affinity: str) -> str:
    """SQL that is true when ``col`` (of that affinity) holds a value SQLite finds equal to an
    integer; comparisons of a column with its own CAST are cheaper than ``typeof``."""
    c = _q(col)
    if affinity in _NUMERIC:  # a text or blob never equals the CAST (no conversion applies)
        return f"({c} = CAST({c} AS INTEGER))"
    if affinity == "TEXT":  # numbers were stored as text: '2' is 2, '2.0' and ' 2' are not
        return f"({c} = CAST(CAST({c} AS INTEGER) AS TEXT))"
    return (  # no affinity: values as they were inserted; text is never equal to a number
        f"(typeof({c}) = 'integer' OR (typeof({c}) = 'real' AND {c} = CAST({c} AS INTEGER)))"
    )


def number(col: str, affinity: str) -> str:
    """SQL that is true when ``col`` holds an integer or a real."""
    c = _q(col)
    if affinity in _NUMERIC:
        return f"({c} = CAST({c} AS REAL))"
    return f"(typeof({c}) IN ('integer', 'real'))"


def detection_sql(table: str, cols: dict[str, str], aff: dict[str, str], not_indexed: bool) -> str:
    """One scan of DETECTION: animal, frame, x, y and the mask of unusable values.

    Parameters
    ----------
    cols
        Upper-case name -> real name of ANIMALID, FRAMENUMBER, MASS_X, MASS_Y.
    aff
        Upper-case name -> SQLite affinity of the declared type.
    not_indexed
        Read the table itself, not an index (when an index looks damaged).
    """
    a, f, x, y = (cols[k] for k in ("ANIMALID", "FRAMENUMBER", "MASS_X", "MASS_Y"))
    mask = (
        f"({_q(a)} IS NULL) + (CASE WHEN {int_key(a, aff['ANIMALID'])} THEN 0 ELSE 2 END)"
        f" + (CASE WHEN {int_key(f, aff['FRAMENUMBER'])} THEN 0 ELSE 4 END)"
        f" + (CASE WHEN {number(x, aff['MASS_X'])} THEN 0 ELSE 8 END)"
        f" + (CASE WHEN {number(y, aff['MASS_Y'])} THEN 0 ELSE 16 END)"
    )
    return (
        f"SELECT CAST(coalesce({_q(a)}, 0) AS INTEGER), CAST(coalesce({_q(f)}, 0) AS INTEGER), "
        f"CAST(coalesce({_q(x)}, 0) AS REAL), CAST(coalesce({_q(y)}, 0) AS REAL), {mask} "
        f"FROM {_q(table)}{' NOT INDEXED' if not_indexed else ''}"
    )


def frame_sql(table: str, cols: dict[str, str], aff: dict[str, str]) -> str:
    """FRAME's frame numbers and timestamps, with 1 where either is unusable."""
    f, t = cols["FRAMENUMBER"], cols["TIMESTAMP"]
    return (
        f"SELECT CAST(coalesce({_q(f)}, 0) AS INTEGER), CAST(coalesce({_q(t)}, 0) AS INTEGER), "
        f"CASE WHEN {int_key(f, aff['FRAMENUMBER'])} AND {number(t, aff['TIMESTAMP'])} "
        f"THEN 0 ELSE 1 END FROM {_q(table)}"
    )


def adbc_batches(cur, sql: str) -> Iterator[list[np.ndarray]]:
    """Run ``sql`` on an ADBC cursor; each Arrow batch as a list of numpy columns."""
    cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
    cur.execute(sql)
    for batch in cur.fetch_record_batch():
        yield [batch.column(i).to_numpy() for i in range(batch.num_columns)]


def sqlite_batches(con, sql: str, dtypes: tuple[str, ...]) -> Iterator[list[np.ndarray]]:
    """Run ``sql`` on a :mod:`sqlite3` connection; batches of rows as numpy columns."""
    cur = con.execute(sql)
    dtype = [(f"c{i}", d) for i, d in enumerate(dtypes)]
    while rows := cur.fetchmany(65536):
        arr = np.array(rows, dtype=dtype)
        yield [arr[f"c{i}"] for i in range(len(dtypes))]


DETECTION_DTYPES = ("i8", "i8", "f8", "f8", "i8")
FRAME_DTYPES = ("i8", "i8", "i8")


class DetectionSplit:
    """Rows of a DETECTION scan split per animal, as batches arrive.

    Parameters
    ----------
    animal_ids
        The animals kept; rows of other animals are dropped.
    """

    def __init__(self, animal_ids: list[int]):
        self.parts: dict[int, list] = {int(a): [] for a in animal_ids}
        self.n_anonymous = 0

    def add(self, a, f, x, y, bad) -> None:
        """One batch of (animal, frame, x, y, mask) columns."""
        self.n_anonymous += int(np.count_nonzero(bad & ANONYMOUS))
        keyed = (bad & NO_ANIMAL) == 0
        for aid, lst in self.parts.items():
            m = keyed & (a == aid)
            if m.any():
                lst.append((f[m], x[m], y[m], bad[m]))

    def rows(self, aid: int) -> tuple[np.ndarray, ...]:
        """``frame`` (float64, NaN when unusable), ``x``, ``y`` (NaN when unusable) of one
        animal, sorted by (frame, x, y) as the index sorts them."""
        lst = self.parts.pop(int(aid), [])
        f, x, y, bad = (
            np.concatenate([p[i] for p in lst]) if lst else np.empty(0, d)
            for i, d in enumerate((np.int64, np.float64, np.float64, np.int64))
        )
        f = f.astype(np.float64)
        f[(bad & BAD_FRAME) != 0] = np.nan
        x[(bad & BAD_X) != 0] = np.nan
        y[(bad & BAD_Y) != 0] = np.nan
        if len(f) > 1 and not (f[1:] > f[:-1]).all():  # rows not already in frame order
            o = np.lexsort((y, x, f))
            f, x, y = f[o], x[o], y[o]
        return f, x, y
