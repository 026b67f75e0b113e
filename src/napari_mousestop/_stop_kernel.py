"""The compiled (numba) pass that turns one track into stops; rules in :mod:`.stops`."""

from __future__ import annotations

import numpy as np
from numba import njit

DURATION_TOLERANCE_S = 1e-6
"""Durations are compared with ``min_duration_s`` to the microsecond: float noise (1e-16 s) in
the difference of two frame times never decides whether a stop is kept."""


@njit(cache=True, nogil=True)
def stop_kernel(t, x, y, h, thr, window, max_gap, min_dur, min_step, cap):  # pragma: no cover
    """One pass over a track: windowed speed, slow runs, gap rule, minimum duration.

    ``cap`` bounds the number of stops (the caller derives it from the track's time span; the
    arrays are not grown inside the loop, which would slow it down tenfold).
    """
    n = len(t)
    out_s = np.empty(cap, np.int64)
    out_e = np.empty(cap, np.int64)
    out_x = np.empty(cap, np.float64)
    out_y = np.empty(cap, np.float64)
    k = 0
    if n < 2:
        return out_s[:0], out_e[:0], out_x[:0], out_y[:0]
    # running sums of the h values after i and the h values before i (edges repeated)
    ax = ay = at = 0.0
    for j in range(1, h + 1):
        jj = min(j, n - 1)
        ax += x[jj]
        ay += y[jj]
        at += t[jj]
    bx, by, bt = h * x[0], h * y[0], h * t[0]
    start = -1
    sx = sy = 0.0
    for i in range(n + 1):
        if i < n:
            if i > 0:
                lo = max(i - 1 - h, 0)
                bx += x[i - 1] - x[lo]
                by += y[i - 1] - y[lo]
                bt += t[i - 1] - t[lo]
                hi = min(i + h, n - 1)
                ax += x[hi] - x[i]
                ay += y[hi] - y[i]
                at += t[hi] - t[i]
            dt = at - bt
            dx = ax - bx
            dy = ay - by
            slow = dt > 0 and dx * dx + dy * dy <= thr * dt * thr * dt
            cut = False
            if start >= 0:
                step = t[i] - t[i - 1]
                if step > max_gap:
                    cut = True
                elif step > min_step:
                    jump = ((x[i] - x[i - 1]) ** 2 + (y[i] - y[i - 1]) ** 2) ** 0.5
                    cut = jump > thr * max(step, window)
        else:
            slow = False
            cut = True
        if start >= 0 and (cut or not slow):
            end = i - 1
            # 1e-6 s: a duration of exactly min_dur frames apart passes whatever float rounding
            # (t[42] - t[12] = 0.9999999999999999 at 30 fps)
            if t[end] - t[start] >= min_dur - DURATION_TOLERANCE_S:
                if k == cap:  # cannot happen with the caller's bound; stay safe
                    break
                cnt = end - start + 1
                out_s[k] = start
                out_e[k] = end
                out_x[k] = sx / cnt
                out_y[k] = sy / cnt
                k += 1
            start = -1
        if slow:
            if start < 0:
                start = i
                sx = sy = 0.0
            sx += x[i]
            sy += y[i]
    return out_s[:k].copy(), out_e[:k].copy(), out_x[:k].copy(), out_y[:k].copy()


@njit(cache=True, nogil=True)
def place_track(f, x, y, f0, f_last, t, fps, ox, sx, oy, sy):  # pragma: no cover - compiled
    """One pass over a track whose FRAME table is consecutive (frames ``f0..f_last``).

    Keeps, in place at the front of ``f``, ``x``, ``y``, the detections whose frame FRAME knows,
    with their position in cm (``(x - ox) * sx``) and their time in s: ``t[frame - f0]``, or
    ``(frame - f0) / fps`` when ``t`` is empty. Returns (number kept, times).
    """
    n = len(f)
    out_t = np.empty(n)
    k = 0
    for i in range(n):
        fi = f[i]
        if fi < f0 or fi > f_last:
            continue
        f[k] = fi
        out_t[k] = t[fi - f0] if len(t) else (fi - f0) / fps
        x[k] = (x[i] - ox) * sx
        y[k] = (y[i] - oy) * sy
        k += 1
    return k, out_t
