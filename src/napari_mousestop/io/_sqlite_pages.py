"""Read-only, checked decoding of SQLite b-tree pages (SQLite file format 3).

Why: an LMT file holds tens of millions of DETECTION rows, and every SQLite client library turns
rows into values one call at a time (Python's sqlite3 fetches ~1.5 M rows/s, ADBC ~4 M/s). The
covering index ``detectionFastLoadXYIndex`` already holds (ANIMALID, FRAMENUMBER, MASS_X, MASS_Y)
sorted, in small records; decoding its pages with a compiled (numba) loop reads them about as
fast as the SQLite engine scans them.

Only what the file format documents is used (https://www.sqlite.org/fileformat.html): the
database header, b-tree page headers, cell pointer arrays, free blocks, varints and record serial
types. Pages are read with ``os.pread`` from a descriptor the caller keeps open, never mapped:
closing a descriptor of the file would drop SQLite's locks (POSIX), and a mapping of a file that
shrinks kills the process with SIGBUS; a short read is only an error.

Every page is checked as SQLite checks it when it loads it (page type, cell count, cell content
area, free-block list) and, when all its cells are decoded, as ``PRAGMA quick_check`` does: each
cell inside the content area, each record's header consistent with its payload, and the cells,
free blocks and fragments adding up to the content area exactly (a changed cell count or cell
pointer shows there). Keys must have the expected types and come in order. Anything unexpected
raises :class:`UnsupportedLayout`; the caller then lets SQLite read the file.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

MAGIC = b"SQLite format 3\x00"
MAX_DEPTH = 20  # SQLite's own limit on b-tree depth (BTCURSOR_MAX_DEPTH)
_CHUNK_BYTES = 2 << 20  # pages read and decoded at a time (small: they stay in the CPU cache)
_GAP = 3  # pages at most this far apart are read with one call, the pages between included

# column kinds for the decoder
ANY = 0  # numbers as float64; NULL, text and blob as NaN
INT_KEY = 1  # NULL (NaN) or an integer; anything else is a surprise (E_KEYTYPE)
NUMBER = 2  # like ANY (kept apart for readability)

# what the decoder reports (err[0]); the ones in DAMAGE mean the pages are not a valid b-tree
E_TYPE, E_HEADER, E_FREE, E_CELL, E_RECORD, E_SPACE, E_ORDER, E_PAGE = 1, 2, 3, 4, 5, 6, 7, 8
E_OVERFLOW, E_SHORT, E_KEYTYPE, E_DUP = 9, 10, 11, 12
DAMAGE = frozenset({E_TYPE, E_HEADER, E_FREE, E_CELL, E_RECORD, E_SPACE, E_ORDER, E_PAGE})
_MESSAGES = {
    E_TYPE: "page {page}: page type {detail} where another was expected",
    E_HEADER: "page {page}: page header out of range (cell count or cell content area)",
    E_FREE: "page {page}: free-block list out of range or out of order",
    E_CELL: "page {page}: a cell pointer or cell lies outside the cell content area",
    E_RECORD: "page {page}: a record header disagrees with its payload",
    E_SPACE: "page {page}: cells, free blocks and fragments do not add up to the content area "
    "(a changed cell count or cell pointer)",
    E_ORDER: "page {page}: keys out of order",
    E_PAGE: "page {page}: child page number outside the file or used twice",
    E_OVERFLOW: "page {page}: a record spills to overflow pages",
    E_SHORT: "page {page}: a record has fewer columns than the table (a column added later)",
    E_KEYTYPE: "page {page}: a key that is not an integer or NULL (serial type {detail})",
    E_DUP: "page {page}: two rows with the same animal and frame",
}


class UnsupportedLayout(Exception):
    """The pages hold something this reader does not decode; let SQLite read the file.

    ``damaged`` is True when the pages break the file format's rules (SQLite itself would find
    the b-tree damaged, or should).
    """

    def __init__(self, message: str, damaged: bool = False):
        super().__init__(message)
        self.damaged = damaged


def _raise(err: np.ndarray) -> None:
    code = int(err[0])
    msg = _MESSAGES.get(code, "page {page}: error {detail}")
    raise UnsupportedLayout(msg.format(page=int(err[1]), detail=int(err[2])), code in DAMAGE)


class PageFile:
    """Pages of an SQLite file, read with ``os.pread`` from a descriptor the caller keeps open.

    Parameters
    ----------
    fd
        A descriptor of the file opened for reading; it must stay open while pages are read
        (closing any descriptor of a file releases the process's POSIX locks on it).
    """

    def __init__(self, fd: int):
        self.fd = fd
        head = os.pread(fd, 100, 0)
        if len(head) < 100 or head[:16] != MAGIC:
            raise UnsupportedLayout("not an SQLite 3 file", damaged=True)
        ps = int.from_bytes(head[16:18], "big")
        ps = 65536 if ps == 1 else ps
        if ps < 512 or ps > 65536 or ps & (ps - 1):
            raise UnsupportedLayout(f"page size {ps} in the header", damaged=True)
        if head[18] != 1 or head[19] != 1:
            raise UnsupportedLayout("WAL-mode file: committed pages may live in the -wal file")
        self.page_size = ps
        self.usable = ps - head[20]
        if self.usable < 480:
            raise UnsupportedLayout(f"{head[20]} reserved bytes per page", damaged=True)
        self.counter = int.from_bytes(head[24:28], "big")
        n_file = os.fstat(fd).st_size // ps
        n_head = int.from_bytes(head[28:32], "big")
        if n_head and head[92:96] == head[24:28]:  # the in-header size is valid
            if n_head > n_file:
                raise UnsupportedLayout(
                    f"file shorter ({n_file} pages) than its header says ({n_head})", True
                )
            self.n_pages = n_head
        else:
            self.n_pages = n_file
        # largest payload stored entirely on an index page, and on a table leaf
        self.max_local_index = (self.usable - 12) * 64 // 255 - 23
        self.max_local_table = self.usable - 35
        self.chunk = max(1, _CHUNK_BYTES // ps)
        self._buf: np.ndarray | None = None

    def change_counter(self) -> int:
        """The header's file change counter, read now (bytes 24-27)."""
        return int.from_bytes(os.pread(self.fd, 4, 24), "big")

    def read(self, pages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Read ``pages`` (numbers from 2 up; page 1 belongs to no table or index).

        Returns
        -------
        buffer, rows
            ``buffer`` (k, page_size) uint8 holds the pages; ``rows[i]`` is the row of
            ``pages[i]``. Pages a few apart are read with one call, gaps included; the buffer
            is reused by the next call.
        """
        pages = np.asarray(pages, dtype=np.int64)
        if not len(pages):
            return np.empty((0, self.page_size), np.uint8), np.empty(0, np.int64)
        if pages.min() < 2 or pages.max() > self.n_pages:
            raise UnsupportedLayout("a page number outside the file", damaged=True)
        # spans of pages read with one call each: ascending, at most _GAP apart (the pages
        # between are read too); pages come in key order, usually ascending
        d = np.diff(pages)
        start = np.concatenate(([0], np.flatnonzero((d <= 0) | (d > _GAP)) + 1))
        first = pages[start]
        last = pages[np.concatenate((start[1:], [len(pages)])) - 1]
        offset = np.concatenate(([0], np.cumsum(last - first + 1)))
        need = int(offset[-1])
        if self._buf is None or len(self._buf) < need:
            self._buf = np.empty((need, self.page_size), dtype=np.uint8)
        buf = self._buf[:need]
        for a, b, o in zip(first.tolist(), last.tolist(), offset.tolist(), strict=False):
            view = memoryview(buf[o : o + b - a + 1].reshape(-1))
            off = (a - 1) * self.page_size
            while len(view):
                got = os.preadv(self.fd, [view], off)
                if got <= 0:
                    raise UnsupportedLayout("the file is shorter than its pages", damaged=True)
                view, off = view[got:], off + got
        span = np.repeat(np.arange(len(start)), np.diff(np.concatenate((start, [len(pages)]))))
        return buf, offset[span] + pages - first[span]

    def chunks(self, pages: np.ndarray):
        """``(pages, buffer, rows)`` for successive chunks of ``pages`` (bounded memory; each
        buffer is overwritten by the next)."""
        pages = np.asarray(pages, dtype=np.int64)
        for a in range(0, len(pages), self.chunk):
            part = pages[a : a + self.chunk]
            buf, rows = self.read(part)
            yield part, buf, rows


@njit(cache=True, nogil=True, inline="always")
def _fail(err, code, page, detail=0):  # pragma: no cover - compiled
    err[0], err[1], err[2] = code, page, detail


@njit(cache=True, nogil=True, inline="always")
def _get2(page, p):  # pragma: no cover - compiled
    return (np.int64(page[p]) << 8) | np.int64(page[p + 1])


@njit(cache=True, nogil=True, inline="always")
def _get4(page, p):  # pragma: no cover - compiled
    return (
        (np.int64(page[p]) << 24)
        | (np.int64(page[p + 1]) << 16)
        | (np.int64(page[p + 2]) << 8)
        | np.int64(page[p + 3])
    )


@njit(cache=True, nogil=True, inline="always")
def _varint(page, pos, end):  # pragma: no cover - compiled
    """(value, length) of the SQLite varint at ``page[pos]``; length 0 if it runs past ``end``."""
    if pos >= end:
        return np.int64(0), 0
    b = np.int64(page[pos])
    if b < 0x80:  # the usual case: one byte
        return b, 1
    v = np.int64(0)
    for k in range(9):
        if pos + k >= end:
            return v, 0
        b = np.int64(page[pos + k])
        if k == 8:
            return (v << 8) | b, 9
        v = (v << 7) | (b & 0x7F)
        if b < 0x80:
            return v, k + 1
    return v, 0


@njit(cache=True, nogil=True)
def _check_page(page, kind, usable, is_root, err, pgno):  # pragma: no cover - compiled
    """SQLite's checks when it loads a b-tree page (btreeInitPage, btreeComputeFreeSpace).

    Returns ``(cells, top, free)``: the cell count, the start of the cell content area and the
    bytes of free blocks and fragments in it; ``cells`` is -1 when the page is damaged.
    """
    if page[0] != kind:
        _fail(err, E_TYPE, pgno, page[0])
        return -1, 0, 0
    hs = 12 if kind == 2 or kind == 5 else 8
    n = _get2(page, 3)
    if n > (len(page) - 8) // 6 or (n == 0 and not is_root):
        _fail(err, E_HEADER, pgno)
        return -1, 0, 0
    first = hs + 2 * n
    top = _get2(page, 5)
    if top == 0:
        top = 65536
    free = np.int64(page[7])
    pc = _get2(page, 1)
    if pc > 0:
        if pc < top:
            _fail(err, E_FREE, pgno)
            return -1, 0, 0
        while True:
            if pc > usable - 4:
                _fail(err, E_FREE, pgno)
                return -1, 0, 0
            nxt = _get2(page, pc)
            size = _get2(page, pc + 2)
            free += size
            if nxt <= pc + size + 3:
                break
            pc = nxt
        if nxt > 0 or pc + size > usable:
            _fail(err, E_FREE, pgno)
            return -1, 0, 0
    if free + top > usable or free + top < first:
        _fail(err, E_HEADER, pgno)
        return -1, 0, 0
    return n, top, free


@njit(cache=True, nogil=True)
def _children(
    buf, rows, pgnos, kind, usable, max_local, root, n_pages, out, err
):  # pragma: no cover - compiled
    """Child page numbers of interior pages (type 2 index, 5 table), left to right.

    Checks each page as :func:`_check_page` does, each cell inside the content area, and that
    cells, free blocks and fragments add up. Returns the number of children written to ``out``,
    or -1 (``err`` says why).
    """
    o = 0
    for i in range(len(rows)):
        page = buf[rows[i]]
        pgno = pgnos[i]
        n, top, free = _check_page(page, kind, usable, pgno == root, err, pgno)
        if n < 0:
            return -1
        used = np.int64(0)
        for j in range(n + 1):
            if j == n:
                child = _get4(page, 8)
            else:
                pos = _get2(page, 12 + 2 * j)
                if pos < top or pos > usable - 4:
                    _fail(err, E_CELL, pgno)
                    return -1
                child = _get4(page, pos)
                v, ln = _varint(page, pos + 4, usable)
                if ln == 0:
                    _fail(err, E_CELL, pgno)
                    return -1
                size = 4 + ln
                if kind == 2:
                    if v > max_local:
                        _fail(err, E_OVERFLOW, pgno)
                        return -1
                    size += v
                if pos + size > usable:
                    _fail(err, E_CELL, pgno)
                    return -1
                used += size
            if child < 2 or child > n_pages:
                _fail(err, E_PAGE, pgno)
                return -1
            out[o] = child
            o += 1
        if used + free != usable - top:
            _fail(err, E_SPACE, pgno)
            return -1
    return o


# fmt: off
@njit(cache=True, nogil=True)
def _decode_pages(
    buf, rows, pgnos, kind, coltypes, usable, max_local, root, clean_min, out, rowid, row0,
    run_key, run_info, state, last_rid, err,
):  # pragma: no cover - compiled
    # fmt: on
    """Decode the first ``len(coltypes)`` record columns of every cell of the pages.

    ``kind`` is the b-tree page type (2 index interior, 10 index leaf, 13 table leaf); pages come
    in key order; ``buf[rows[i]]`` is page ``pgnos[i]``. Values are float64 (NaN for NULL, text
    and blob; see ``coltypes``), written from row ``row0`` on; table rowids go to ``rowid``.

    With a ``clean_min`` other than NaN (index leaves, 4 columns), rows are grouped in runs of
    one key (column 0): ``run_key[r]`` is the key, ``run_info[:, r]`` the run's end row, its
    rows with a NaN in columns 1-3 and its rows with column 2 below ``clean_min``; those rows
    are counted, not written. ``state[3]`` holds the number of runs.

    Order: index keys (columns 0, 1; NULL first) never decrease and, for a non-NULL animal, the
    frame strictly increases; table rowids strictly increase. ``state`` = (seen, previous column
    0, previous column 1, runs) and ``last_rid`` (the previous rowid) carry it across calls.

    Returns the next free row, or -1 (``err`` says why).
    """
    ncols = len(coltypes)
    index = kind == 2 or kind == 10
    hs = 12 if kind == 2 else 8
    skip = 4 if kind == 2 else 0
    clean = clean_min == clean_min
    tmp = np.zeros(1, dtype=np.uint64)
    tmpf = tmp.view(np.float64)
    neg = -np.inf
    # order state and counters live in locals (stores to arrays in the loop would be slow)
    seen, prev_a, prev_f, prev_rid = state[0] > 0, state[1], state[2], last_rid[0]
    r = np.int64(state[3]) - 1
    row = row0
    for i in range(len(rows)):
        page = buf[rows[i]]
        pgno = pgnos[i]
        n, top, free = _check_page(page, kind, usable, pgno == root, err, pgno)
        if n < 0:
            return -1
        used = np.int64(0)
        for j in range(n):
            pos = (np.int64(page[hs + 2 * j]) << 8) | np.int64(page[hs + 2 * j + 1])
            if pos < top or pos > usable - 4:
                _fail(err, E_CELL, pgno)
                return -1
            p = pos + skip
            # one-byte varints (most of them here) inline: through _varint alone the loop
            # runs three times slower
            payload = np.int64(page[p])
            if payload < 0x80:
                p += 1
            else:
                payload, ln = _varint(page, p, usable)
                if ln == 0:
                    _fail(err, E_CELL, pgno)
                    return -1
                p += ln
            if kind == 13:
                rid, ln = _varint(page, p, usable)
                if ln == 0:
                    _fail(err, E_CELL, pgno)
                    return -1
                p += ln
                if seen and rid <= prev_rid:
                    _fail(err, E_ORDER, pgno)
                    return -1
                seen = True
                prev_rid = rid
                rowid[row] = rid
            if payload > max_local:
                _fail(err, E_OVERFLOW, pgno)
                return -1
            end = p + payload
            size = end - pos
            if size < 4:
                size = 4
            if pos + size > usable:
                _fail(err, E_CELL, pgno)
                return -1
            used += size
            # the record: header size, serial types, then the values
            hsize = np.int64(page[p])
            ln = 1
            if hsize >= 0x80:
                hsize, ln = _varint(page, p, end)
            if ln == 0 or hsize < ln or hsize > payload:
                _fail(err, E_RECORD, pgno)
                return -1
            q = p + ln
            hend = p + hsize
            body = hend
            for c in range(ncols):
                if q >= hend:
                    _fail(err, E_SHORT, pgno)
                    return -1
                st = np.int64(page[q])
                if st < 0x80:
                    q += 1
                else:
                    st, ln = _varint(page, q, hend)
                    if ln == 0:
                        _fail(err, E_RECORD, pgno)
                        return -1
                    q += ln
                val = np.nan
                if st == 7:
                    if body + 8 > end:
                        _fail(err, E_RECORD, pgno)
                        return -1
                    if coltypes[c] == INT_KEY:
                        _fail(err, E_KEYTYPE, pgno, st)
                        return -1
                    w = np.uint64(0)
                    for b in range(8):
                        w = (w << np.uint64(8)) | np.uint64(page[body + b])
                    tmp[0] = w
                    val = tmpf[0]
                    body += 8
                elif 1 <= st <= 6:
                    size = st if st <= 4 else (6 if st == 5 else 8)
                    if body + size > end:
                        _fail(err, E_RECORD, pgno)
                        return -1
                    u = np.int64(page[body])
                    if u >= 0x80:
                        u -= 256
                    for b in range(1, size):
                        u = (u << 8) | np.int64(page[body + b])
                    val = float(u)
                    body += size
                elif st == 8:
                    val = 0.0
                elif st == 9:
                    val = 1.0
                elif st >= 12:
                    if coltypes[c] == INT_KEY:
                        _fail(err, E_KEYTYPE, pgno, st)
                        return -1
                    body += (st - 12) >> 1
                    if body > end:
                        _fail(err, E_RECORD, pgno)
                        return -1
                elif st != 0:  # 10, 11: reserved
                    _fail(err, E_RECORD, pgno)
                    return -1
                out[c, row] = val
            if index:
                a = out[0, row]
                f = out[1, row]
                a = a if a == a else neg
                f = f if f == f else neg
                if seen:
                    if a < prev_a or (a == prev_a and f < prev_f):
                        _fail(err, E_ORDER, pgno)
                        return -1
                    if a == prev_a and f == prev_f and a != neg and f != neg:
                        _fail(err, E_DUP, pgno)
                        return -1
                if clean and (not seen or a != prev_a or r < 0):
                    r += 1
                    run_key[r] = out[0, row]
                    run_info[0, r] = row
                    run_info[1, r] = 0
                    run_info[2, r] = 0
                seen = True
                prev_a = a
                prev_f = f
            if clean:
                f, x, y = out[1, row], out[2, row], out[3, row]
                if f != f or x != x or y != y:
                    run_info[1, r] += 1
                    continue
                if x < clean_min:
                    run_info[2, r] += 1
                    continue
                run_info[0, r] = row + 1
            row += 1
        if used + free != usable - top:
            _fail(err, E_SPACE, pgno)
            return -1
    state[0], state[1], state[2], state[3] = 1.0 if seen else 0.0, prev_a, prev_f, r + 1.0
    last_rid[0] = prev_rid
    return row


@njit(cache=True, nogil=True)
def merge_into(of, ox, oy, k, f, x, y, g, u, v, j, jend):  # pragma: no cover - compiled
    """Write the merge of (f, x, y) and (g, u, v)[j:jend], both sorted by frame, at ``of[k:]``
    (frames as int64); returns the next free index, or -1 if frames do not strictly increase."""
    n = len(f)
    i = 0
    while i < n or j < jend:
        if j >= jend or (i < n and f[i] <= g[j]):
            fr, xx, yy = f[i], x[i], y[i]
            i += 1
        else:
            fr, xx, yy = g[j], u[j], v[j]
            j += 1
        of[k] = np.int64(fr)
        if k > 0 and of[k] <= of[k - 1]:
            return -1
        ox[k] = xx
        oy[k] = yy
        k += 1
    return k


def walk(pf: PageFile, root: int, leaf_kind: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Pages of the b-tree at ``root`` in key order, one level at a time, with checks.

    Parameters
    ----------
    leaf_kind
        10 for an index b-tree, 13 for a table b-tree.

    Returns
    -------
    leaves, levels
        Leaf page numbers in key order, and the interior pages of each level in key order
        (index interiors hold keys too).

    Raises
    ------
    UnsupportedLayout
        A page of the wrong type, a damaged page, a page outside the file or reached twice,
        or a tree deeper than SQLite allows.
    """
    inner = leaf_kind - 8  # 2 or 5
    max_local = pf.max_local_index if leaf_kind == 10 else pf.max_local_table
    err = np.zeros(3, dtype=np.int64)
    level = np.array([root], dtype=np.int64)
    levels: list[np.ndarray] = []
    for _ in range(MAX_DEPTH):
        buf, _rows = pf.read(level[:1])
        kind = int(buf[0, 0])
        if kind == leaf_kind:
            seen = np.concatenate([*levels, level])
            if len(np.unique(seen)) != len(seen):
                raise UnsupportedLayout("a b-tree page is reached twice", damaged=True)
            return level, levels
        if kind != inner:  # a table's root of index type: a WITHOUT ROWID table, not damage
            legal = leaf_kind == 13 and kind in (2, 10) and not levels
            raise UnsupportedLayout(
                f"page {int(level[0])}: b-tree page of type {kind} where {inner} or "
                f"{leaf_kind} was expected", damaged=not legal
            )  # fmt: skip
        levels.append(level)
        nxt = []
        for part, buf, rows in pf.chunks(level):
            out = np.empty(int(_cell_counts(buf, rows).sum()) + len(part), dtype=np.int64)
            k = _children(buf, rows, part, inner, pf.usable, max_local, root, pf.n_pages, out, err)
            if k < 0:
                _raise(err)
            nxt.append(out[:k])
        level = np.concatenate(nxt)
    raise UnsupportedLayout(f"b-tree deeper than {MAX_DEPTH} levels", damaged=True)


def _cell_counts(buf: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return (buf[rows, 3].astype(np.int64) << 8) | buf[rows, 4]


def decode(
    pf: PageFile, pages, kind: int, coltypes, root: int, keep: tuple[int, ...] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every cell of ``pages`` (one b-tree level, in key order), checked and decoded.

    Parameters
    ----------
    kind
        The pages' type: 2 index interior, 10 index leaf, 13 table leaf.
    coltypes
        One of ``ANY``, ``INT_KEY``, ``NUMBER`` for each leading record column to decode.
    root
        The b-tree's root page (the only page allowed to be empty).
    keep
        The columns returned (all by default).

    Returns
    -------
    values, rowids
        ``values`` (len(keep), n) float64 and, for table leaves, ``rowids`` (n,) int64.
    """
    coltypes = np.asarray(coltypes, dtype=np.int64)
    keep = list(range(len(coltypes)) if keep is None else keep)
    max_local = pf.max_local_table if kind == 13 else pf.max_local_index
    state = np.zeros(4, dtype=np.float64)
    last_rid = np.zeros(1, dtype=np.int64)
    err = np.zeros(3, dtype=np.int64)
    none_f, none_i = np.empty(0), np.empty((3, 0), np.int64)
    parts, rid_parts = [], []
    for part, buf, rows in pf.chunks(pages):
        n = int(_cell_counts(buf, rows).sum())
        out = np.empty((len(coltypes), n), dtype=np.float64)
        rowid = np.empty(n if kind == 13 else 0, dtype=np.int64)
        k = _decode_pages(
            buf, rows, part, kind, coltypes, pf.usable, max_local, root, np.nan, out, rowid, 0,
            none_f, none_i, state, last_rid, err,
        )  # fmt: skip
        if k < 0:
            _raise(err)
        parts.append(out[keep, :k])
        rid_parts.append(rowid[:k])
    if not parts:
        return np.empty((len(keep), 0)), np.empty(0, np.int64)
    if len(parts) == 1:
        return parts[0], rid_parts[0]
    return np.concatenate(parts, axis=1), np.concatenate(rid_parts)


def index_runs(pf: PageFile, leaves: np.ndarray, root: int, clean_min: float):
    """Stream the rows of a (key, frame, x, y) index's leaves, one chunk of pages at a time.

    Every page is checked and every cell decoded (see :func:`_decode_pages`); rows with a
    NULL or non-numeric frame, x or y, and rows with x below ``clean_min``, are counted, not
    kept.

    Yields
    ------
    key, frame, x, y, n_null, n_glitch
        One run of rows with the same key (NaN for NULL), in key order; a key's rows may come
        in several runs (one per chunk). ``frame``, ``x``, ``y`` are float64 views.
    """
    coltypes = np.array([INT_KEY, INT_KEY, NUMBER, NUMBER], dtype=np.int64)
    state = np.zeros(4, dtype=np.float64)
    last_rid = np.zeros(1, dtype=np.int64)
    err = np.zeros(3, dtype=np.int64)
    for part, buf, rows in pf.chunks(leaves):
        n = int(_cell_counts(buf, rows).sum())
        out = np.empty((4, n), dtype=np.float64)
        run_key = np.empty(n + 1, dtype=np.float64)
        run_info = np.empty((3, n + 1), dtype=np.int64)
        state[3] = 0.0
        k = _decode_pages(
            buf, rows, part, 10, coltypes, pf.usable, pf.max_local_index, root, clean_min, out,
            np.empty(0, np.int64), 0, run_key, run_info, state, last_rid, err,
        )  # fmt: skip
        if k < 0:
            _raise(err)
        del buf
        start = 0
        for r in range(int(state[3])):
            end = int(run_info[0, r])
            yield (float(run_key[r]), out[1, start:end], out[2, start:end], out[3, start:end],
                   int(run_info[1, r]), int(run_info[2, r]))  # fmt: skip
            start = end
