"""Movement of synthetic mice: places, class preferences, rests, jitter and detection defects.

Used by :mod:`napari_mousestop.synthetic.generate`; see its docstring for the model.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

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

FPS = 30.0
_DT_MS = 1000.0 / FPS


def frame_times(n_frames: int, rng: np.random.Generator) -> np.ndarray:
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


def plan_mouse(duration_s: float, weights: np.ndarray, start_hour: float, rng):
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


def positions(segs, t_s, rng, state, sigma_cm=0.25):
    """Positions (cm) of one mouse at times ``t_s`` with tracking jitter.

    Jitter: white noise (``sigma_cm``), a slow drift (AR(1) with a 5 s time constant, 0.4 cm)
    and rare 1-3 frame spikes of 1-2 cm. ``state`` is the AR(1) filter state, updated in place.
    """
    n = len(t_s)
    idx = np.clip(np.searchsorted(segs[:, 0], t_s, side="right") - 1, 0, len(segs) - 1)
    t0, t1 = segs[idx, 0], segs[idx, 1]
    frac = np.clip((t_s - t0) / np.maximum(t1 - t0, 1e-9), 0, 1)
    out = []
    a = np.exp(-1 / (5 * FPS))
    for k in range(2):
        v = segs[idx, 2 + k] + frac * (segs[idx, 4 + k] - segs[idx, 2 + k])
        v += rng.normal(0, sigma_cm, n)
        drift, state[k] = lfilter(
            [np.sqrt(1 - a * a) * 0.4], [1, -a], rng.normal(0, 1, n), zi=state[k]
        )
        v += drift
        spikes = np.flatnonzero(rng.random(n) < 1 / (30 * FPS))
        width = rng.integers(1, 4, len(spikes))
        for w in range(3):
            sel = spikes[width > w] + w
            sel = sel[sel < n]
            v[sel] += rng.choice([-1.0, 1.0], len(sel)) * rng.uniform(1, 2, len(sel))
        out.append(v)
    return out[0], out[1]


def detection_states(segs, t_s, rng):
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
    cand = np.flatnonzero(in_dome & (rng.random(n) < 1 / (20 * FPS)))
    cand = cand[np.diff(cand, prepend=-(10**9)) > 60]  # flickers never merge into long gaps
    state[_intervals_mask(n, cand, rng.integers(3, 41, len(cand)))] = 1
    # long identity losses (5-60 s) inside long nest rests: the observable stop is split
    truth = []
    keep = first < n
    for f0, f1, r in zip(first[keep], np.minimum(last[keep], n - 1), rest[keep], strict=False):
        pieces = [(f0, f1)]
        if r[6] == 0 and f1 - f0 > 40 * FPS and rng.random() < 0.5:
            length = int(rng.uniform(5, min(60, (f1 - f0) / FPS - 25)) * FPS)
            s0 = int(rng.integers(f0 + 10 * FPS, f1 - 10 * FPS - length))
            state[s0 : s0 + length] = 1
            pieces = [(f0, s0 - 1), (s0 + length, f1)]
        truth += [(p0, p1, r[2], r[3], int(r[6])) for p0, p1 in pieces if p1 > p0]
    # missing detections (1-5 frames, ~1 per 30 s) and glitch rows (~1 per 60 s)
    cand = np.flatnonzero(rng.random(n) < 1 / (30 * FPS))
    state[_intervals_mask(n, cand, rng.integers(1, 6, len(cand)))] = 2
    state[(rng.random(n) < 1 / (60 * FPS)) & (state == 0)] = 3
    return state, truth
