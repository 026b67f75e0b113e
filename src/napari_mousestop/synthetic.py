"""Synthetic Live Mouse Tracker recordings with planted stops and class-dependent place preferences.

The databases follow the tracker's schema (tables ANIMAL, DETECTION, FRAME, EVENT, RFIDEVENT and
their usual indexes, including the covering index ``detectionFastLoadXYIndex``), with SEX and AGE
added to ANIMAL as lmt-analysis does. Mice alternate between travelling (8-30 cm/s) and resting at
a place: the dome (nest, upper-left), two feeders and the water spot (lower part) or elsewhere.
Which place a mouse picks depends on its class (sex x age) and its cage; nest rests are longer in
the light phase (07:00-19:00 UTC). Positions carry tracking jitter (white noise, slow drift and
rare spikes), identities are lost (ANIMALID NULL) in short flickers and rarer long losses while
mice rest in the nest, detections go missing for a few frames, MASS_X < 10 glitch rows appear and
frames are dropped (TIMESTAMP jumps while FRAMENUMBER stays consecutive).

Every planted rest is written to a ground-truth CSV (split where a long identity loss hides the
mouse), so stop extraction can be scored with :func:`score_stops`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ._io import atomic_path
from .geometry import CageGeometry

PLACES: dict[str, tuple[float, float]] = {
    "dome": (9.0, 9.0),
    "feeder_left": (12.0, 45.0),
    "feeder_right": (27.0, 45.0),
    "water": (42.0, 45.0),
}
"""Place centres (x, y) in cm from the floor's top-left corner; "elsewhere" is any other point."""

PLACE_NAMES: tuple[str, ...] = (*PLACES, "elsewhere")

CLASS_PREFERENCES: dict[str, tuple[float, ...]] = {
    # weights for (dome, feeder_left, feeder_right, water, elsewhere)
    "AF": (0.50, 0.10, 0.10, 0.10, 0.45),
    "JF": (0.50, 0.25, 0.25, 0.10, 0.25),
    "AM": (0.25, 0.10, 0.10, 0.25, 0.45),
    "JM": (0.25, 0.25, 0.25, 0.25, 0.25),
}
"""Place-choice weights per class: females favour the dome, males the water, juveniles the
feeders, adults explore elsewhere. A per-cage (and smaller per-mouse) log-normal factor is
applied on top."""

# median rest duration (s) per place, lognormal spread, clip range
_REST = {
    "dome": (90.0, 0.9, 5.0, 1800.0),
    "feeder_left": (15.0, 0.7, 2.0, 240.0),
    "feeder_right": (15.0, 0.7, 2.0, 240.0),
    "water": (8.0, 0.6, 2.0, 120.0),
    "elsewhere": (4.0, 0.6, 2.0, 60.0),
}
LIGHT_HOURS = (7, 19)
"""Light phase, hours of the UTC clock: nest rests are 3x longer and the dome 1.5x likelier."""

DATA_XML = "<root><ROI><id>1</id><m>MASK</m></ROI></root>"
_FPS = 30.0
_DT_MS = 1000.0 / _FPS
_DETECTION_COLUMNS = (
    "FRAMENUMBER, ANIMALID, MASS_X, MASS_Y, MASS_Z, FRONT_X, FRONT_Y, FRONT_Z, "
    "BACK_X, BACK_Y, BACK_Z, REARING, LOOK_UP, LOOK_DOWN, DATA"
)


@dataclass
class MouseSpec:
    """One mouse of a synthetic recording."""

    rfid: str
    name: str
    sex: str  # "M" or "F"
    age: str  # "juvenile" or "adult"
    weights: tuple[float, ...] = field(default_factory=lambda: CLASS_PREFERENCES["JM"])

    @property
    def label(self) -> str:
        """Class name (AM, JM, AF or JF)."""
        return ("A" if self.age == "adult" else "J") + self.sex


@dataclass
class CohortFiles:
    """Paths written by :func:`generate_cohort`."""

    cohort_csv: Path
    truth_csv: Path
    databases: list[Path]


def _schema(con: sqlite3.Connection) -> None:
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


_INDEXES = """
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


def _frame_times(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Milliseconds since the first frame, with dropped frames (jumps of 1-10 frame periods)."""
    steps = np.full(n_frames, _DT_MS)
    steps[0] = 0.0
    drops = rng.random(n_frames) < 1 / 3000
    drops[0] = False
    steps[drops] += _DT_MS * rng.integers(1, 11, drops.sum())
    return np.round(np.cumsum(steps)).astype(np.int64)


def _is_light(t_s: float, start_hour: float) -> bool:
    hour = (start_hour + t_s / 3600.0) % 24
    return LIGHT_HOURS[0] <= hour < LIGHT_HOURS[1]


def _plan_mouse(duration_s: float, weights: np.ndarray, start_hour: float, rng):
    """Segments (t0, t1, x0, y0, x1, y1, place index or -1 for travel) covering the recording."""
    segs = []
    t = 0.0
    pos = rng.uniform(5, 45, 2)
    centres = np.array(list(PLACES.values()))
    while t < duration_s:
        light = _is_light(t, start_hour)
        w = weights.copy()
        if light:
            w[0] *= 1.5
        place = rng.choice(len(PLACE_NAMES), p=w / w.sum())
        if place < len(PLACES):
            target = centres[place] + rng.normal(0, 1.2, 2)
        else:
            target = rng.uniform(4, 46, 2)
            while np.min(np.hypot(*(centres - target).T)) < 8:
                target = rng.uniform(4, 46, 2)
        if np.hypot(*(target - pos)) < 4:  # already there: rest a little elsewhere first
            continue
        # travel through 0-2 random waypoints at 8-30 cm/s, at least 0.5 s per leg
        points = [pos, *rng.uniform(4, 46, (rng.integers(0, 3), 2)), target]
        for a, b in zip(points[:-1], points[1:], strict=False):
            dt = max(np.hypot(*(b - a)) / rng.uniform(8, 30), 0.5)
            segs.append((t, t + dt, a[0], a[1], b[0], b[1], -1))
            t += dt
        median, sigma, lo, hi = _REST[PLACE_NAMES[place]]
        if place == 0 and _is_light(t, start_hour):
            median *= 3
        rest = float(np.clip(rng.lognormal(np.log(median), sigma), lo, hi))
        segs.append((t, t + rest, target[0], target[1], target[0], target[1], place))
        t += rest
        pos = target
    return np.array(segs)


def _intervals_mask(n: int, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Boolean mask of frames covered by the intervals [start, start + length)."""
    d = np.zeros(n + 1, np.int32)
    np.add.at(d, np.clip(starts, 0, n), 1)
    np.add.at(d, np.clip(starts + lengths, 0, n), -1)
    return np.cumsum(d[:-1]) > 0


def _positions(segs, t_s, rng, state, sigma_cm=0.25):
    """Positions (cm) of one mouse at times ``t_s`` with tracking jitter.

    Jitter: white noise (``sigma_cm``), a slow drift (AR(1) with a 5 s time constant, 0.4 cm)
    and rare 1-3 frame spikes of 1-2 cm. ``state`` is the AR(1) filter state, updated in place.
    """
    n = len(t_s)
    idx = np.clip(np.searchsorted(segs[:, 0], t_s, side="right") - 1, 0, len(segs) - 1)
    t0, t1 = segs[idx, 0], segs[idx, 1]
    frac = np.clip((t_s - t0) / np.maximum(t1 - t0, 1e-9), 0, 1)
    out = []
    a = np.exp(-1 / (5 * _FPS))
    for k in range(2):
        v = segs[idx, 2 + k] + frac * (segs[idx, 4 + k] - segs[idx, 2 + k])
        v += rng.normal(0, sigma_cm, n)
        drift, state[k] = lfilter(
            [np.sqrt(1 - a * a) * 0.4], [1, -a], rng.normal(0, 1, n), zi=state[k]
        )
        v += drift
        spikes = np.flatnonzero(rng.random(n) < 1 / (30 * _FPS))
        width = rng.integers(1, 4, len(spikes))
        for w in range(3):
            sel = spikes[width > w] + w
            sel = sel[sel < n]
            v[sel] += rng.choice([-1.0, 1.0], len(sel)) * rng.uniform(1, 2, len(sel))
        out.append(v)
    return out[0], out[1]


def _states(segs, t_s, rng):
    """Per-frame detection state of one mouse (0 identified, 1 anonymous, 2 missing, 3 glitch)
    and its planted rests as (first frame index, last frame index, x, y, place)."""
    n = len(t_s)
    rest = segs[segs[:, 6] >= 0]
    first = np.searchsorted(t_s, rest[:, 0], side="left")
    last = np.searchsorted(t_s, rest[:, 1], side="right") - 1
    state = np.zeros(n, np.int8)
    # identity flickers (<= 40 frames) while resting in the dome, one per ~20 s of nest rest
    dome = rest[:, 6] == 0
    in_dome = _intervals_mask(n, first[dome], last[dome] - first[dome] + 1)
    cand = np.flatnonzero(in_dome & (rng.random(n) < 1 / (20 * _FPS)))
    cand = cand[np.diff(cand, prepend=-(10**9)) > 60]  # flickers never merge into long gaps
    state[_intervals_mask(n, cand, rng.integers(3, 41, len(cand)))] = 1
    # long identity losses (5-60 s) inside long nest rests: the observable stop is split
    truth = []
    keep = first < n
    for f0, f1, r in zip(first[keep], np.minimum(last[keep], n - 1), rest[keep], strict=False):
        pieces = [(f0, f1)]
        if r[6] == 0 and f1 - f0 > 40 * _FPS and rng.random() < 0.5:
            length = int(rng.uniform(5, min(60, (f1 - f0) / _FPS - 25)) * _FPS)
            s0 = int(rng.integers(f0 + 10 * _FPS, f1 - 10 * _FPS - length))
            state[s0 : s0 + length] = 1
            pieces = [(f0, s0 - 1), (s0 + length, f1)]
        truth += [(p0, p1, r[2], r[3], int(r[6])) for p0, p1 in pieces if p1 > p0]
    # missing detections (1-5 frames, ~1 per 30 s) and glitch rows (~1 per 60 s)
    cand = np.flatnonzero(rng.random(n) < 1 / (30 * _FPS))
    state[_intervals_mask(n, cand, rng.integers(1, 6, len(cand)))] = 2
    state[(rng.random(n) < 1 / (60 * _FPS)) & (state == 0)] = 3
    return state, truth


def default_mice(
    sex: str = "M", age: str = "adult", n: int = 4, prefix: str = ""
) -> list[MouseSpec]:
    """``n`` mice of one class with the class's plain place preferences."""
    label = ("A" if age == "adult" else "J") + sex
    return [
        MouseSpec(
            rfid=f"{prefix}0000{900 + i:04d}",
            name=f"{prefix}{'ABCDEFGHIJ'[i]}",
            sex=sex,
            age=age,
            weights=CLASS_PREFERENCES[label],
        )
        for i in range(n)
    ]


def generate_recording(
    path: str | Path,
    hours: float = 1.0,
    mice: list[MouseSpec] | None = None,
    seed: int = 0,
    start_time: str = "2024-01-15 18:00",
    geometry: CageGeometry | None = None,
    chunk_frames: int = 54_000,
) -> pd.DataFrame:
    """Write one synthetic LMT database and return its planted stops.

    Parameters
    ----------
    path
        Output ``.sqlite`` file (written atomically; an existing file is replaced).
    hours
        Recording length in hours (30 frames per second, before dropped frames).
    mice
        The mice; four adult males (:func:`default_mice`) by default.
    seed
        Random seed: the same seed gives the same file content.
    start_time
        Clock time (UTC) of the first frame; sets the light phase (07:00-19:00).
    geometry
        Cage geometry used to convert cm to pixels (LMT mouse cage by default).
    chunk_frames
        Frames generated and inserted per batch (bounds memory).

    Returns
    -------
    pandas.DataFrame
        Planted stops: ``database, animal, animal_id, start_frame, end_frame, start_s,
        duration_s, x_cm, y_cm, place`` (frames are FRAMENUMBERs, inclusive).
    """
    path = Path(path)
    geometry = geometry or CageGeometry.mouse()
    mice = mice if mice is not None else default_mice()
    rng = np.random.default_rng(seed)
    n = int(round(hours * 3600 * _FPS))
    if n < 2:
        raise ValueError(f"{path}: hours={hours} gives fewer than 2 frames")
    start = pd.Timestamp(start_time, tz="UTC")
    start_hour = start.hour + start.minute / 60 + start.second / 3600
    ts_ms = _frame_times(n, rng)
    t_s = ts_ms / 1000.0
    plans = []
    for m in mice:
        w = np.asarray(m.weights, dtype=float)
        segs = _plan_mouse(t_s[-1] + 1.0, w, start_hour, rng)
        state, truth = _states(segs, t_s, rng)
        plans.append((segs, state, truth))
    with atomic_path(path) as tmp:
        tmp.unlink()
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            _schema(con)  # executescript commits: open the one transaction after it
            con.execute("BEGIN")
            _write_content(
                con,
                mice,
                plans,
                ts_ms + int(start.value // 10**6),
                rng,
                geometry,
                chunk_frames,
                start_hour,
            )
            con.execute("COMMIT")
            con.executescript(_INDEXES)
        finally:
            con.close()
    rows = []
    for k, (m, (_, _, truth)) in enumerate(zip(mice, plans, strict=False)):
        for f0, f1, x, y, place in truth:
            rows.append(
                (
                    path.name,
                    m.rfid,
                    k + 1,
                    f0 + 1,
                    f1 + 1,
                    t_s[f0],
                    t_s[f1] - t_s[f0],
                    x,
                    y,
                    PLACE_NAMES[place],
                )
            )
    cols = [
        "database",
        "animal",
        "animal_id",
        "start_frame",
        "end_frame",
        "start_s",
        "duration_s",
        "x_cm",
        "y_cm",
        "place",
    ]
    truth_df = pd.DataFrame(rows, columns=cols)
    return truth_df[truth_df["duration_s"] >= 1.0].reset_index(drop=True)


def _write_content(con, mice, plans, ts_ms, rng, geometry, chunk_frames, start_hour) -> None:
    con.executemany(
        "INSERT INTO ANIMAL (RFID, GENOTYPE, NAME, AGE, SEX, STRAIN) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (m.rfid, "WT", m.name, m.age, "male" if m.sex == "M" else "female", "C57BL/6J")
            for m in mice
        ],
    )
    n = len(ts_ms)
    n_m = len(mice)
    filt = [np.zeros((2, 1)) for _ in mice]
    t_s = (ts_ms - ts_ms[0]) / 1000.0
    sql = f"INSERT INTO DETECTION ({_DETECTION_COLUMNS}) VALUES ({', '.join('?' * 15)})"
    for a in range(0, n, chunk_frames):
        b = min(n, a + chunk_frames)
        xs = np.empty((b - a, n_m))
        ys = np.empty((b - a, n_m))
        st = np.empty((b - a, n_m), np.int8)
        for k, (segs, state, _) in enumerate(plans):
            zi = [filt[k][0], filt[k][1]]
            xs[:, k], ys[:, k] = _positions(segs, t_s[a:b], rng, zi)
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
        z = np.round(rng.normal(25, 2, rows), 2).tolist()
        animal = ids.astype(object)
        animal[s == 1] = None
        rear = (rng.random(rows) < 0.02).astype(np.int64).tolist()
        zeros = repeat(0)
        con.executemany(
            sql,
            zip(
                frames.tolist(),
                animal.tolist(),
                px.tolist(),
                py.tolist(),
                z,
                (px + dx).tolist(),
                (py + dy).tolist(),
                z,
                (px - dx).tolist(),
                (py - dy).tolist(),
                z,
                rear,
                zeros,
                zeros,
                repeat(DATA_XML),
            ),
        )
    n_part = (np.stack([p[1] for p in plans]) != 2).sum(axis=0) if plans else np.zeros(n, int)
    hours = (start_hour + (ts_ms - ts_ms[0]) / 3.6e6) % 24
    light = ((hours >= LIGHT_HOURS[0]) & (hours < LIGHT_HOURS[1])) * 200.0 + 5.0
    con.executemany(
        "INSERT INTO FRAME VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        zip(
            range(1, n + 1),
            ts_ms.tolist(),
            n_part.tolist(),
            repeat(0),
            np.round(22 + rng.normal(0, 0.1, n), 2).tolist(),
            repeat(45.0),
            np.round(rng.uniform(0, 3, n), 1).tolist(),
            light.tolist(),
            (light + 30).tolist(),
        ),
    )
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


def generate_cohort(
    out_dir: str | Path,
    cages: int = 4,
    hours: float = 6.0,
    seed: int = 0,
    mice_per_cage: int = 4,
    cage_effect: float = 0.35,
    start_time: str = "2024-01-15 18:00",
    progress=None,
) -> CohortFiles:
    """Write a cohort laid out as in the paper: each cage one sex, recorded juvenile and adult.

    Cages alternate male, female. Every mouse keeps its RFID in both recordings. Place
    preferences are :data:`CLASS_PREFERENCES` times a per-cage log-normal factor (sigma
    ``cage_effect``, shared by both recordings) and a smaller per-mouse factor.

    Parameters
    ----------
    out_dir
        Folder for ``cohort.csv``, ``truth.csv`` and ``cageNN_juvenile.sqlite`` /
        ``cageNN_adult.sqlite``.
    cages, hours, seed, mice_per_cage
        Size of the cohort, length of each recording, random seed.
    cage_effect
        Spread of the per-cage preference factor.
    start_time
        Clock time (UTC) of each recording's first frame.
    progress
        Optional ``callable(done, total)`` called after each database.

    Returns
    -------
    CohortFiles
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, truths, dbs = [], [], []
    total = 2 * cages
    for c in range(1, cages + 1):
        sex = "M" if c % 2 else "F"
        cage_f = rng.lognormal(0.0, cage_effect, len(PLACE_NAMES))
        mouse_f = rng.lognormal(0.0, cage_effect / 2, (mice_per_cage, len(PLACE_NAMES)))
        for age in ("juvenile", "adult"):
            label = ("A" if age == "adult" else "J") + sex
            base = np.asarray(CLASS_PREFERENCES[label])
            mice = [
                MouseSpec(
                    rfid=f"0000{c:04d}{i:04d}",
                    name=f"c{c}{'ABCDEFGHIJ'[i % 10]}",
                    sex=sex,
                    age=age,
                    weights=tuple(base * cage_f * mouse_f[i]),
                )
                for i in range(mice_per_cage)
            ]
            db = out / f"cage{c:02d}_{age}.sqlite"
            rec_seed = int(rng.integers(0, 2**31))
            truths.append(generate_recording(db, hours, mice, rec_seed, start_time))
            dbs.append(db)
            rows += [(db.name, m.rfid, f"cage{c:02d}", sex, age) for m in mice]
            if progress is not None:
                progress(len(dbs), total)
    cohort_csv = out / "cohort.csv"
    truth_csv = out / "truth.csv"
    with atomic_path(cohort_csv) as tmp:
        pd.DataFrame(rows, columns=["database", "animal", "cage", "sex", "age"]).to_csv(
            tmp, index=False
        )
    with atomic_path(truth_csv) as tmp:
        pd.concat(truths, ignore_index=True).to_csv(tmp, index=False)
    return CohortFiles(cohort_csv, truth_csv, dbs)


def score_stops(detected: pd.DataFrame, truth: pd.DataFrame, min_iou: float = 0.5) -> dict:
    """Recall and precision of detected stops against planted ones, matched by overlap.

    A detected and a planted stop of the same animal match when their frame intervals overlap
    by at least ``min_iou`` of their union (intersection over union); each stop matches at most
    once (greedy, best overlap first). Detected stops need ``rfid`` (or ``animal``),
    ``start_frame``, ``end_frame``; planted ones ``animal``, ``start_frame``, ``end_frame``.

    Returns
    -------
    dict
        ``recall, precision, n_detected, n_planted, n_matched, position_error_cm`` (median
        distance between matched stops' positions when both have ``x_cm, y_cm``).
    """
    det_key = detected["rfid"] if "rfid" in detected else detected["animal"]
    n_match, errors = 0, []
    for animal, tr in truth.groupby("animal"):
        de = detected[det_key.astype(str).to_numpy() == str(animal)]
        if de.empty:
            continue
        a0, a1 = tr["start_frame"].to_numpy(), tr["end_frame"].to_numpy()
        b0, b1 = de["start_frame"].to_numpy(), de["end_frame"].to_numpy()
        # candidate pairs: for each planted stop, the detected ones that start before it ends
        order = np.argsort(b0)
        b0s, b1s = b0[order], b1[order]
        pairs = []
        for i in range(len(a0)):
            lo = np.searchsorted(b0s, a0[i] - (a1[i] - a0[i]) - 10**7, side="left")
            hi = np.searchsorted(b0s, a1[i], side="right")
            j = np.arange(lo, hi)
            j = j[b1s[j] >= a0[i]]
            inter = np.minimum(a1[i], b1s[j]) - np.maximum(a0[i], b0s[j]) + 1
            union = np.maximum(a1[i], b1s[j]) - np.minimum(a0[i], b0s[j]) + 1
            iou = inter / union
            pairs += [(v, i, order[k]) for v, k in zip(iou, j, strict=True) if v >= min_iou]
        used_a, used_b = set(), set()
        for _, i, k in sorted(pairs, reverse=True):
            if i not in used_a and k not in used_b:
                used_a.add(i)
                used_b.add(k)
                n_match += 1
                if {"x_cm", "y_cm"} <= set(de.columns):
                    errors.append(
                        np.hypot(
                            tr["x_cm"].iloc[i] - de["x_cm"].iloc[k],
                            tr["y_cm"].iloc[i] - de["y_cm"].iloc[k],
                        )
                    )
    n_det, n_pl = len(detected), len(truth)
    return {
        "recall": n_match / n_pl if n_pl else float("nan"),
        "precision": n_match / n_det if n_det else float("nan"),
        "n_detected": n_det,
        "n_planted": n_pl,
        "n_matched": n_match,
        "position_error_cm": float(np.median(errors)) if errors else float("nan"),
    }
