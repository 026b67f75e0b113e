"""Property-based tests of the LMT reader: random LMT-schema files, read three ways.

Hypothesis builds files with random page sizes (512 to 65536), auto_vacuum modes, insert and
delete churn with and without VACUUM, index and table variants, odd values, and random damage
to index pages. For every file: the reader returns what SQLite says the file holds (through the
pages, or after a recorded fallback to SQL), or a clear :class:`LMTError` naming the file; the
file's SHA-256 never changes. ``HYPOTHESIS_PROFILE=thorough`` runs many more examples; the
number of files generated is printed at the end of the run.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from _lmt_files import (
    FRAME_TABLES,
    INDEXES,
    ODD_VALUES,
    Spec,
    assert_same,
    build,
    damage,
    read,
    read_three_ways,
    scan_reference,
    sha256,
)
from napari_mousestop.errors import LMTError

IDS = [-1, 1, 2, 3, 4]
# what the page decoder reads as it is; other variants go to SQL (or fall back) by design
PAGE_INDEXES = {"standard", "upper_name", "other_name", "extra_column"}
PAGE_FRAMES = set(FRAME_TABLES) - {"without_rowid"}


@st.composite
def specs(draw, damaged: bool = False) -> Spec:
    """A random LMT-schema file (standard schema when ``damaged``)."""
    page_size = draw(st.sampled_from([512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]))
    common = {
        "page_size": page_size,
        "auto_vacuum": draw(st.sampled_from([0, 1, 2])),
        "animals": draw(st.integers(1, 4)),
        # enough rows for several levels of b-tree on small pages, a few on large ones
        "frames": draw(st.integers(1, 600 if page_size <= 4096 else 150)),
        "seed": draw(st.integers(0, 2**16)),
        "index_first": draw(st.booleans()),
        "churn": draw(st.sampled_from([0.0, 0.0, 0.2, 0.5])),
        "vacuum": draw(st.booleans()),
        "data_bytes": draw(st.sampled_from([0, 30, 300])),
    }
    if damaged:
        return Spec(**common)
    return Spec(
        **common,
        index=draw(st.sampled_from(sorted(INDEXES))),
        renamed=draw(st.booleans()),
        animal_type=draw(st.sampled_from(["INTEGER", "INTEGER", "TEXT", "NUMERIC", "REAL", ""])),
        frame_table=draw(st.sampled_from(sorted(FRAME_TABLES))),
        odd=tuple(draw(st.sets(st.sampled_from(ODD_VALUES), max_size=3))),
    )


@given(spec=specs())
def test_random_files_read_by_pages_equal_sql_and_sqlite(spec):
    with tempfile.TemporaryDirectory() as folder:
        got = read_three_ways(build(Path(folder) / "f.sqlite", spec), IDS)
        prov = got["provenance"]
        clean = (
            (spec.index in PAGE_INDEXES or (spec.renamed and spec.index != "none"))
            and spec.animal_type in ("INTEGER", "NUMERIC")
            and spec.frame_table in PAGE_FRAMES
        )
        if clean and not spec.odd:  # nothing odd: the pages are read, start to end
            assert prov["source"] == "pages", prov
        if not clean:  # the schema says SQL, before any row is read
            assert prov["source"] == "sql" and not prov["table_scan"], prov
        assert not got["warnings"]


@given(
    spec=specs(damaged=True),
    kind=st.sampled_from(["byte", "byte", "pointer", "count", "type"]),
    seed=st.integers(0, 2**16),
)
def test_damaged_index_pages_never_give_wrong_rows(spec, kind, seed):
    """Damage to the index: the same rows as SQLite reads from the same pages, or the rows of
    the table itself (recorded, with a warning), or a clear LMTError; never an exception of
    the page decoder, never a changed file."""
    with tempfile.TemporaryDirectory() as folder:
        path = build(Path(folder) / "f.sqlite", spec)
        what = damage(path, kind, np.random.default_rng(seed))
        before = sha256(path)
        try:
            got = read(path, [1, 2, 3, 4])
        except LMTError as exc:  # SQLite cannot read it either
            assert str(exc).startswith(str(path)), exc
            got = None
        if got is not None:
            prov = got["provenance"]
            try:
                ref = scan_reference(path, [1, 2, 3, 4], not_indexed=prov["table_scan"])
            except sqlite3.DatabaseError as exc:
                msg = f"{what}: rows returned ({prov}) where SQLite says {exc}"
                raise AssertionError(msg) from None
            assert_same(got, ref)
            assert prov["table_scan"] == any("looks damaged" in w for w in got["warnings"])
        assert sha256(path) == before
