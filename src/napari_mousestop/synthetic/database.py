"""Writing synthetic LMT databases: the tracker's schema, its indexes and the rows."""

from __future__ import annotations

import sqlite3

import numpy as np

from napari_mousestop.synthetic.motion import LIGHT_HOURS, positions

DATA_XML = "<root><ROI><id>1</id><m>MASK</m></ROI></root>"
_DETECTION_COLUMNS = (
    "FRAMENUMBER, ANIMALID, MASS_X, MASS_Y, MASS_Z, FRONT_X, FRONT_Y, FRONT_Z, "
    "BACK_X, BACK_Y, BACK_Z, REARING, LOOK_UP, LOOK_DOWN, DATA"
)
_FRAME_COLUMNS = (
    "FRAMENUMBER, TIMESTAMP, NUMPARTICLE, PAUSED, TEMPERATURE, HUMIDITY, SOUND, LIGHTVISIBLE, "
    "LIGHTVISIBLEANDIR"
)
ROWS_PER_STATEMENT = 64
"""Rows per multi-row ``INSERT``: 64 rows of 12 parameters stay below the 999 parameters per
statement that SQLite before 3.32 allows; more rows per statement gained nothing measurable."""


def schema(con: sqlite3.Connection) -> None:
    con.executescript(
        """
        CREATE TABLE 'ANIMAL' ('ID' INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 'RFID' TEXT,
            'GENOTYPE' TEXT, 'NAME' TEXT);
        CREATE TABLE 'DETECTION' ('ID' INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            'FRAMENUMBER' INTEGER, 'ANIMALID' INTEGER, 'MASS_X' REAL, 'MASS_Y' REAL,
            'MASS_Z' REAL, 'FRONT_X' REAL, 'FRONT_Y' REAL, 'FRONT_Z' REAL, 'BACK_X' REAL,
            'BACK_Y' REAL, 'BACK_Z' REAL, 'REARING' INTEGER, 'LOOK_UP' INTEGER,
            'LOOK_DOWN' INTEGER, 'DATA' TEXT NOT NULL,
            FOREIGN KEY('ANIMALID') REFERENCES ANIMAL('ID'),
            FOREIGN KEY('FRAMENUMBER') REFERENCES FRAME('FRAMENUMBER'));
        CREATE TABLE 'RFIDEVENT' ('ID' INTEGER PRIMARY KEY AUTOINCREMENT, 'RFID' TEXT,
            'TIME' INTEGER, 'X' INTEGER, 'Y' INTEGER);
        CREATE TABLE 'FRAME' ('FRAMENUMBER' INTEGER NOT NULL UNIQUE, 'TIMESTAMP' INTEGER,
            'NUMPARTICLE' INTEGER, 'PAUSED' INTEGER, 'TEMPERATURE' REAL, 'HUMIDITY' REAL,
            'SOUND' REAL, 'LIGHTVISIBLE' REAL, 'LIGHTVISIBLEANDIR' REAL,
            PRIMARY KEY(FRAMENUMBER));
        CREATE TABLE 'EVENT' ('ID' INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 'NAME' TEXT,
            'DESCRIPTION' TEXT, 'STARTFRAME' INTEGER, 'ENDFRAME' INTEGER, 'IDANIMALA' INTEGER,
            'IDANIMALB' INTEGER, 'IDANIMALC' INTEGER, 'IDANIMALD' INTEGER, 'METADATA' TEXT);
        ALTER TABLE ANIMAL ADD COLUMN AGE TEXT;
        ALTER TABLE ANIMAL ADD COLUMN SEX TEXT;
        ALTER TABLE ANIMAL ADD COLUMN STRAIN TEXT;
        """
    )


INDEXES = """
CREATE INDEX 'animalIndex' ON 'ANIMAL' ('ID');
CREATE INDEX 'detectionIndex' ON 'DETECTION' ('ID' ASC, 'FRAMENUMBER' ASC);
CREATE INDEX 'detetIdIndex' ON 'DETECTION' ('ID' ASC);
CREATE INDEX 'detframenumberIndex' ON 'DETECTION' ('FRAMENUMBER' ASC);
CREATE INDEX 'eventEndFrameIndex' ON 'EVENT' ('ENDFRAME' ASC);
CREATE INDEX 'eventIndex' ON 'EVENT' ('ID' ASC, 'STARTFRAME' ASC, 'ENDFRAME' ASC);
CREATE INDEX 'eventStartFrameIndex' ON 'EVENT' ('STARTFRAME' ASC);
CREATE INDEX 'eventstartendIndex' ON 'EVENT' ('STARTFRAME' ASC, 'ENDFRAME' ASC);
CREATE INDEX 'indexeventidIndex' ON 'EVENT' ('ID' ASC);
CREATE INDEX 'detectionFastLoadXYIndex' ON 'DETECTION' ('ANIMALID', 'FRAMENUMBER' ASC,
    'MASS_X', 'MASS_Y');
"""


def _insert_rows(
    con: sqlite3.Connection, table: str, columns: str, row: str, values: np.ndarray
) -> None:
    """Insert the rows of the object array ``values`` (one row per line) into ``table``.

    ``row`` is the SQL of one row's ``VALUES`` tuple (``?`` for each column of ``values``,
    literals for constant columns). :data:`ROWS_PER_STATEMENT` rows go into one multi-row
    ``INSERT`` statement: the work SQLite does once per statement (preparing the row loop,
    updating the AUTOINCREMENT counter in ``sqlite_sequence``) is then paid once per batch
    instead of once per row, and ``executemany`` binds one flat list per statement.
    """
    n, k = values.shape
    per = ROWS_PER_STATEMENT
    whole = n - n % per
    if whole:
        sql = f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row] * per)
        con.executemany(sql, values[:whole].reshape(-1, k * per).tolist())
    if whole < n:
        con.executemany(f"INSERT INTO {table} ({columns}) VALUES {row}", values[whole:].tolist())


def _object_columns(*columns) -> np.ndarray:
    """An (n, k) object array of Python numbers (or None) from k numeric or object columns."""
    out = np.empty((len(columns[0]), len(columns)), dtype=object)
    for j, col in enumerate(columns):
        out[:, j] = col if col.dtype == object else col.tolist()
    return out


def write_content(con, mice, plans, ts_ms, rng, geometry, chunk_frames, start_hour) -> None:
    """Insert the ANIMAL, DETECTION, FRAME and EVENT rows of one recording (no indexes).

    Columns are built with numpy, chunk by chunk of ``chunk_frames`` frames, and inserted
    with :func:`_insert_rows`; the random draws are made in a fixed order, so a seed gives
    the same rows whatever the chunking of the inserts.
    """
    con.executemany(
        "INSERT INTO ANIMAL (RFID, GENOTYPE, NAME, AGE, SEX, STRAIN) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (m.rfid, m.genotype, m.name, m.age, "male" if m.sex == "M" else "female", m.strain)
            for m in mice
        ],
    )
    n = len(ts_ms)
    n_m = len(mice)
    filt = [np.zeros((2, 1)) for _ in mice]
    t_s = (ts_ms - ts_ms[0]) / 1000.0
    # LOOK_UP, LOOK_DOWN and DATA are the same on every row: literals, not parameters
    detection_row = f"({', '.join('?' * 12)}, 0, 0, '{DATA_XML}')"
    for a in range(0, n, chunk_frames):
        b = min(n, a + chunk_frames)
        xs = np.empty((b - a, n_m))
        ys = np.empty((b - a, n_m))
        st = np.empty((b - a, n_m), np.int8)
        for k, (segs, state, _) in enumerate(plans):
            zi = [filt[k][0], filt[k][1]]
            xs[:, k], ys[:, k] = positions(segs, t_s[a:b], rng, zi)
            filt[k][0], filt[k][1] = zi
            st[:, k] = state[a:b]
        present = st != 2
        frames = np.broadcast_to(np.arange(a + 1, b + 1)[:, None], st.shape)[present]
        ids = np.broadcast_to(np.arange(1, n_m + 1)[None, :], st.shape)[present]
        s = st[present]
        px, py = geometry.cm_to_px(xs[present], ys[present])
        glitch = s == 3
        px[glitch] = rng.uniform(0, 9.9, glitch.sum())
        py[glitch] = rng.uniform(0, 400, glitch.sum())
        px, py = np.round(px, 2), np.round(py, 2)
        rows = len(s)
        ang = rng.uniform(0, 2 * np.pi, rows)
        dx, dy = np.round(8 * np.cos(ang), 2), np.round(8 * np.sin(ang), 2)
        z = np.round(rng.normal(25, 2, rows), 2)
        animal = ids.astype(object)
        animal[s == 1] = None
        rear = (rng.random(rows) < 0.02).astype(np.int64)
        values = _object_columns(
            frames, animal, px, py, z, px + dx, py + dy, z, px - dx, py - dy, z, rear
        )
        _insert_rows(con, "DETECTION", _DETECTION_COLUMNS, detection_row, values)
    n_part = (np.stack([p[1] for p in plans]) != 2).sum(axis=0) if plans else np.zeros(n, int)
    hours = (start_hour + (ts_ms - ts_ms[0]) / 3.6e6) % 24
    light = ((hours >= LIGHT_HOURS[0]) & (hours < LIGHT_HOURS[1])) * 200.0 + 5.0
    frame_values = _object_columns(
        np.arange(1, n + 1),
        ts_ms,
        n_part,
        np.round(22 + rng.normal(0, 0.1, n), 2),
        np.round(rng.uniform(0, 3, n), 1),
        light,
        light + 30,
    )
    # PAUSED 0 and HUMIDITY 45.0 are constants
    _insert_rows(con, "FRAME", _FRAME_COLUMNS, "(?, ?, ?, 0, ?, 45.0, ?, ?, ?)", frame_values)
    # lmt-analysis style "night" events over the dark phase
    dark = ~((hours >= LIGHT_HOURS[0]) & (hours < LIGHT_HOURS[1]))
    edges = np.flatnonzero(np.diff(np.r_[0, dark.astype(np.int8), 0]))
    con.executemany(
        "INSERT INTO EVENT (NAME, DESCRIPTION, STARTFRAME, ENDFRAME) VALUES (?, ?, ?, ?)",
        [
            ("night", "night", int(s0) + 1, int(s1))
            for s0, s1 in zip(edges[::2], edges[1::2], strict=False)
        ],
    )
