"""Quirks of real LMT databases, planted on request into a synthetic recording.

Real files hold duplicate DETECTION rows, pauses (the clock jumps hours with no frames),
FRAME rows deleted while their detections stay, and an ANIMAL row with RFID ``None`` and no
detection (docs/lmt_format.md, "Quirks of real files"). :class:`SyntheticQuirks` says which
to plant; :func:`plant` changes the database in the generator's open transaction, with its own
random stream, so a recording generated without quirks is byte-for-byte what it was.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticQuirks:
    """What :func:`plant` writes into a synthetic recording.

    Parameters
    ----------
    duplicate_rows
        DETECTION rows of identified mice written twice (the copy 0.5 px further right: the
        reader keeps the original, the smallest MASS_X).
    pauses
        ``(at_h, length_h)``: from ``at_h`` hours into the recording on, every TIMESTAMP is
        ``length_h`` hours later (the clock ran with no frames).
    frames_deleted
        FRAME rows deleted (a block in the middle of the recording); their detections stay.
    empty_animal
        An ANIMAL row with RFID ``'None'`` and no detection.
    """

    duplicate_rows: int = 0
    pauses: tuple[tuple[float, float], ...] = ()
    frames_deleted: int = 0
    empty_animal: bool = False

    def __post_init__(self) -> None:
        if self.duplicate_rows < 0 or self.frames_deleted < 0:
            raise ValueError("duplicate_rows and frames_deleted must be >= 0")
        for at, length in self.pauses:
            if at < 0 or length <= 0:
                raise ValueError(f"a pause needs at_h >= 0 and length_h > 0, not {(at, length)}")


def pause_offsets_ms(t_ms: np.ndarray, quirks: SyntheticQuirks | None) -> np.ndarray:
    """Milliseconds each frame's TIMESTAMP moves for the pauses (0 without quirks)."""
    shift = np.zeros(len(t_ms), np.int64)
    for at, length in quirks.pauses if quirks is not None else ():
        shift[t_ms >= at * 3.6e6] += int(round(length * 3.6e6))
    return shift


def plant(con: sqlite3.Connection, quirks: SyntheticQuirks, seed: int) -> dict:
    """Plant ``quirks`` (but the pauses, already in the timestamps) into the database being
    written; returns what was planted (counts), for the truth."""
    rng = np.random.default_rng([seed, 23])
    out = {"duplicate_rows": 0, "frames_deleted": 0, "empty_animal": quirks.empty_animal}
    if quirks.duplicate_rows:
        (n,) = con.execute("SELECT max(ID) FROM DETECTION").fetchone()
        ids = rng.choice(np.arange(1, (n or 0) + 1), min(quirks.duplicate_rows, n or 0), False)
        cols = ("FRAMENUMBER, ANIMALID, MASS_X, MASS_Y, MASS_Z, FRONT_X, FRONT_Y, FRONT_Z, "
                "BACK_X, BACK_Y, BACK_Z, REARING, LOOK_UP, LOOK_DOWN, DATA")  # fmt: skip
        picked = ",".join(map(str, np.sort(ids).tolist()))
        cur = con.execute(
            f"INSERT INTO DETECTION ({cols}) SELECT {cols.replace('MASS_X', 'MASS_X + 0.5')} "
            f"FROM DETECTION WHERE ID IN ({picked}) AND ANIMALID IS NOT NULL "
            "AND MASS_X >= 10 AND MASS_Y IS NOT NULL"
        )
        out["duplicate_rows"] = cur.rowcount
    if quirks.frames_deleted:
        (lo, hi) = con.execute("SELECT min(FRAMENUMBER), max(FRAMENUMBER) FROM FRAME").fetchone()
        first = (lo + hi) // 2
        cur = con.execute(
            "DELETE FROM FRAME WHERE FRAMENUMBER >= ? AND FRAMENUMBER < ?",
            (first, first + quirks.frames_deleted),
        )
        out["frames_deleted"] = cur.rowcount
    if quirks.empty_animal:
        con.execute("INSERT INTO ANIMAL (RFID, NAME) VALUES ('None', NULL)")
    return out
