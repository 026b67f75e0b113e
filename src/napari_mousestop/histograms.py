"""Stop tables to stacks of 2D stop histograms: T time intervals x an N x N grid over the floor.

A stack ``S`` has shape ``(T, N, N)`` with axes (interval, y, x), as napari shows it. ``S[t, i, j]``
counts the stops that **start** in interval ``t`` at a position in floor bin ``(i, j)`` (row ``i``
along y, column ``j`` along x; edges from :meth:`CageGeometry.bin_edges`). With
``weight="duration"`` each stop adds its duration in seconds instead of 1.

Intervals are counted from an *origin*: the recording's start, or, with ``align_to="HH:MM"``, the
last time the wall clock (in ``timezone``) showed HH:MM at or before the recording's start, so
that interval 0 begins at lights-on in every recording. Intervals the recording does not cover
are zero-filled and named in a warning; stops after the T-th interval are cut, with a note.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from napari_mousestop.errors import ShortRecordingWarning, TrackerError
from napari_mousestop.io.cohort import animal_key  # noqa: F401 (re-exported: how animals are shown)
from napari_mousestop.io.geometry import CageGeometry
from napari_mousestop.io.light import check_timezone, clock_minutes, hhmm
from napari_mousestop.io.trackers import recording_path
from napari_mousestop.progress import ProgressCallback

_WEIGHTS = ("count", "duration")
_OFF_FLOOR = ("clip", "drop")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")
_UNITS = {
    "": 1.0, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip


def parse_duration(text: str | float | int) -> float:
    """Parse a duration such as ``"1h"``, ``"30min"``, ``"90s"`` or ``3600`` into seconds.

    A bare number means seconds; ``m`` means minutes.

    Raises
    ------
    ValueError
        If the text is not a positive duration.
    """
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        unit = match.group(2).lower() if match else None
        if not match or unit not in _UNITS:
            raise ValueError(f"cannot read duration {text!r} (use e.g. 1h, 30min, 900s)")
        seconds = float(match.group(1)) * _UNITS[unit]
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    return seconds


@dataclass(frozen=True)
class HistogramParams:
    """How stops are binned into a stack.

    Parameters
    ----------
    interval_s
        Length of one time interval in seconds (default 1 h).
    n_intervals
        Number of intervals T (default 72: three days of hours); None: as many as the
        recording covers (its last interval partly recorded), resolved per recording and
        recorded with its stacks. A dataset of several recordings needs one T for all.
    n_bins
        Grid size N: the floor is cut into N x N equal bins.
    align_to
        ``None`` to count intervals from the recording's start, or a clock time ``"HH:MM"``
        (e.g. lights-on ``"07:00"``): interval 0 then starts at the last HH:MM at or before the
        recording's start.
    weight
        ``"count"`` (each stop adds 1) or ``"duration"`` (each stop adds its duration in s).
    off_floor
        Stops whose position lies outside the floor: ``"clip"`` them into the nearest edge bin or
        ``"drop"`` them. Either way they are counted in the report.
    timezone
        Time zone of the ``align_to`` clock (an IANA name such as ``"Europe/Paris"``); LMT
        timestamps are absolute, so this is the zone of the animal facility's light timer.
    """

    interval_s: float = 3600.0
    n_intervals: int | None = 72
    n_bins: int = 30
    align_to: str | None = None
    weight: str = "count"
    off_floor: str = "clip"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval_s", float(self.interval_s))
        if not np.isfinite(self.interval_s) or self.interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {self.interval_s}")
        if self.n_intervals is not None and (
            int(self.n_intervals) != self.n_intervals or self.n_intervals < 1
        ):
            raise ValueError(f"n_intervals must be a positive integer, got {self.n_intervals}")
        if int(self.n_bins) != self.n_bins or self.n_bins < 1:
            raise ValueError(f"n_bins must be a positive integer, got {self.n_bins}")
        if self.n_intervals is not None:
            object.__setattr__(self, "n_intervals", int(self.n_intervals))
        object.__setattr__(self, "n_bins", int(self.n_bins))
        if self.weight not in _WEIGHTS:
            raise ValueError(f"weight must be one of {_WEIGHTS}, got {self.weight!r}")
        if self.off_floor not in _OFF_FLOOR:
            raise ValueError(f"off_floor must be one of {_OFF_FLOOR}, got {self.off_floor!r}")
        if self.align_to is not None:
            object.__setattr__(self, "align_to", hhmm(clock_minutes(self.align_to, "align_to")))
        check_timezone(self.timezone)

    @property
    def interval_h(self) -> float:
        """Interval length in hours (the scale of the time axis in napari)."""
        return self.interval_s / 3600.0

    def covering(self, end_s: float) -> HistogramParams:
        """These parameters with ``n_intervals`` set, when None, to the intervals that a
        recording ending ``end_s`` after the origin touches (at least 1; the last one partly
        recorded unless the length is a whole number of intervals)."""
        if self.n_intervals is not None:
            return self
        n = int(np.ceil(float(end_s) / self.interval_s - 1e-9))
        return replace(self, n_intervals=max(1, n))

    def to_dict(self) -> dict:
        """JSON-friendly dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> HistogramParams:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        return cls(**d)


def stack_origin(recording_start: pd.Timestamp | str, params: HistogramParams) -> pd.Timestamp:
    """Time (UTC) at which interval 0 begins for a recording starting at ``recording_start``."""
    start = pd.Timestamp(recording_start)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    if params.align_to is None:
        return start
    hh, mm = (int(v) for v in params.align_to.split(":"))
    local = start.tz_convert(params.timezone)
    anchor = pd.Timestamp(_dt.datetime.combine(local.date(), _dt.time(hh, mm)), tz=params.timezone)
    if anchor > local:
        day_before = local.date() - _dt.timedelta(days=1)
        anchor = pd.Timestamp(
            _dt.datetime.combine(day_before, _dt.time(hh, mm)), tz=params.timezone
        )
    return anchor.tz_convert("UTC")


def _ranges(idx: np.ndarray) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    parts, idx = [], list(map(int, idx))
    while idx:
        lo = hi = idx.pop(0)
        while idx and idx[0] == hi + 1:
            hi = idx.pop(0)
        parts.append(f"{lo}" if lo == hi else f"{lo}-{hi}")
    return ", ".join(parts)


def format_duration(seconds: float) -> str:
    """``3600`` -> ``"1 h"``, ``1800`` -> ``"30 min"``, ``90`` -> ``"1.5 min"``: read back by
    :func:`parse_duration`."""
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _overlap(lo: np.ndarray, hi: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None)


def _coverage(
    offset_s: float, duration_s: float, params: HistogramParams, pauses=()
) -> np.ndarray:
    """Fraction of each interval covered by the recording's frames: from ``offset_s`` to its
    end, less its pauses (``[start_s, end_s]`` since the recording's start, when the clock ran
    without frames)."""
    lo = np.arange(params.n_intervals) * params.interval_s
    hi = lo + params.interval_s
    covered = _overlap(lo, hi, offset_s, offset_s + duration_s)
    for a, b in pauses or ():
        covered = covered - _overlap(lo, hi, offset_s + a, offset_s + b)
    return np.clip(covered, 0, None) / params.interval_s


def recording_coverage(info: dict, params: HistogramParams) -> np.ndarray | None:
    """Fraction of each interval recorded, from a recording's info as a dataset keeps it
    (``params["recordings"][name]["info"]``: ``duration_s``, ``start_time``, ``origin``,
    ``pauses``); None when the info lacks the recording's length or ``params`` its T."""
    if info.get("duration_s") is None or params.n_intervals is None:
        return None
    offset_s = 0.0
    if info.get("start_time") and info.get("origin"):
        start, origin = pd.Timestamp(info["start_time"]), pd.Timestamp(info["origin"])
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        origin = origin.tz_localize("UTC") if origin.tzinfo is None else origin
        offset_s = (start - origin).total_seconds()
    pauses = info.get("pauses") or ()
    return _coverage(offset_s, float(info["duration_s"]), params, pauses)


def _paused(pauses) -> str:
    if not pauses:
        return ""
    hours = sum(b - a for a, b in pauses) / 3600
    return f", paused {len(pauses)} time(s) for {hours:.2f} h in all"


def stack_stops(
    stops_df: pd.DataFrame,
    params: HistogramParams | None = None,
    geometry: CageGeometry | None = None,
    recording_start: pd.Timestamp | str | None = None,
    recording_duration_s: float | None = None,
    *,
    pauses=(),
    warn: bool = True,
) -> tuple[np.ndarray, dict]:
    """Bin the stops of one animal into a ``(T, N, N)`` stack.

    Parameters
    ----------
    stops_df
        Stop table with at least ``start_s`` (s since the recording's start), ``duration_s``,
        ``x_cm`` and ``y_cm`` (cm from the floor's top-left corner). Pass one animal's rows.
    params
        Binning parameters (defaults: 72 intervals of 1 h, 30 x 30 bins).
    geometry
        Cage geometry (floor size); the mouse cage by default.
    recording_start
        Start of the recording (UTC); required when ``params.align_to`` is set.
    recording_duration_s
        Length of the recording; by default the end of the last stop. Intervals it does not
        cover are reported as missing.
    pauses
        ``[start_s, end_s]`` stretches (s since the recording's start) without frames: not
        recorded, so not covered (a 40 h pause is "not recorded", not "no stops").
    warn
        Also issue each of the report's warnings with :func:`warnings.warn` (as a script
        expects). Callers that report the warnings themselves (the CLI, a worker) pass False:
        nothing then needs ``warnings.catch_warnings``, which is not thread-safe.

    Returns
    -------
    stack
        float32 array (T, N, N), axes (interval, y, x).
    report
        ``n_stops``, ``n_counted``, ``n_off_floor`` (clipped or dropped, per ``off_floor``),
        ``n_no_position`` (NaN position, dropped), ``n_after_end`` (start after the last
        interval, cut), ``offset_s`` (recording start minus origin), ``coverage`` (fraction of
        each interval recorded), ``missing_intervals``, ``warnings`` and ``notes`` (text).
    """
    params = params or HistogramParams()
    geometry = geometry or CageGeometry.mouse()
    if params.align_to is not None and recording_start is None:
        raise ValueError("align_to needs the recording's start time (recording_start)")
    missing = {"start_s", "duration_s", "x_cm", "y_cm"} - set(stops_df.columns)
    if missing:
        raise ValueError(f"stop table lacks columns {sorted(missing)}")
    offset_s = 0.0
    if recording_start is not None:
        start = pd.Timestamp(recording_start)
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        offset_s = (start - stack_origin(start, params)).total_seconds()
    start_s = stops_df["start_s"].to_numpy(dtype=np.float64)
    dur = stops_df["duration_s"].to_numpy(dtype=np.float64)
    x = stops_df["x_cm"].to_numpy(dtype=np.float64)
    y = stops_df["y_cm"].to_numpy(dtype=np.float64)
    if recording_duration_s is None:
        recording_duration_s = float(np.nanmax(start_s + dur)) if len(start_s) else 0.0
    params = params.covering(offset_s + float(recording_duration_s))
    T, N = int(params.n_intervals or 0), params.n_bins

    t = np.floor((start_s + offset_s) / params.interval_s).astype(np.int64)
    x_edges, y_edges = geometry.bin_edges(N)
    no_pos = ~(np.isfinite(x) & np.isfinite(y))
    # searchsorted 'right' - 1: a stop exactly on the far wall goes into the last bin
    xi = np.searchsorted(x_edges, x, side="right") - 1
    yi = np.searchsorted(y_edges, y, side="right") - 1
    xi[x == x_edges[-1]] = N - 1
    yi[y == y_edges[-1]] = N - 1
    off = ~no_pos & ((xi < 0) | (xi >= N) | (yi < 0) | (yi >= N))
    after = t >= T
    before = t < 0
    keep = ~no_pos & ~after & ~before
    if params.off_floor == "drop":
        keep &= ~off
    xi, yi = np.clip(xi, 0, N - 1), np.clip(yi, 0, N - 1)
    w = np.ones_like(dur) if params.weight == "count" else dur
    stack = np.zeros((T, N, N), dtype=np.float64)
    np.add.at(stack, (t[keep], yi[keep], xi[keep]), w[keep])

    coverage = _coverage(offset_s, float(recording_duration_s), params, pauses)
    missing_iv = np.flatnonzero(coverage <= 0)
    warns, notes = [], []
    if missing_iv.size:
        unit = "hour" if params.interval_s == 3600 else "interval"
        unit += "s" if missing_iv.size > 1 else ""
        size = "" if unit.startswith("hour") else f" (of {format_duration(params.interval_s)})"
        warns.append(
            f"recording covers {recording_duration_s / 3600:.2f} h from {offset_s / 3600:.2f} h "
            f"after the origin{_paused(pauses)}; {unit} {_ranges(missing_iv)} of {T}{size} "
            "not recorded: zero-filled"
        )
    partial = np.flatnonzero((coverage > 0) & (coverage < 0.5))
    if partial.size:
        notes.append(f"intervals {_ranges(partial)} less than half recorded")
    end_s = offset_s + float(recording_duration_s)
    if end_s > T * params.interval_s:
        cut_h = (end_s - T * params.interval_s) / 3600
        notes.append(f"recording runs {cut_h:.2f} h past the last of {T} intervals: cut")
    if after.any():
        notes.append(f"{int(after.sum())} stops after the last of {T} intervals cut")
    if off.any():
        verb = "clipped to edge bins" if params.off_floor == "clip" else "dropped"
        notes.append(f"{int(off.sum())} stops off the floor {verb}")
    for w_text in warns if warn else ():
        warnings.warn(w_text, ShortRecordingWarning, stacklevel=2)
    report = {
        "n_stops": int(len(start_s)),
        "n_counted": int(keep.sum()),
        "n_off_floor": int(off.sum()),
        "off_floor": params.off_floor,
        "n_no_position": int(no_pos.sum()),
        "n_after_end": int(after.sum()),
        "n_before_start": int(before.sum()),
        "offset_s": float(offset_s),
        "coverage": [round(float(c), 6) for c in coverage],
        "missing_intervals": [int(i) for i in missing_iv],
        "warnings": warns,
        "notes": notes,
    }
    return stack.astype(np.float32), report


@dataclass
class RecordingStacks:
    """Stacks of every animal of one recording, with the stops and provenance that made them.

    Attributes
    ----------
    path
        The LMT database (or the other tracker's file).
    stacks
        float32 (n_animals, T, N, N), animals in ANIMAL table order (a tracker's: file order).
    animals
        One dict per stack: ``animal_id, rfid, name, sex, age`` (None where absent).
    stops
        The stop table of :func:`napari_mousestop.stops.extract_stops`, plus ``interval``
        (index into T, -1 if outside the stack) and ``hours`` (hours since the origin).
    info
        Recording info (``path, name, start_time, duration_s, n_frames``).
    origin
        Time (UTC) at which interval 0 begins; None for a tracker's recording without a clock
        time (interval 0 then begins at its time 0).
    params, stop_params, geometry
        Everything that made the stacks.
    report
        ``stops`` (the stop extraction report), ``animals`` (per-animal histogram reports, keyed
        by animal_id), ``warnings`` and ``notes`` (text, once per recording).
    """

    path: Path
    stacks: np.ndarray
    animals: list[dict]
    stops: pd.DataFrame
    info: dict
    origin: pd.Timestamp | None
    params: HistogramParams
    stop_params: dict
    geometry: CageGeometry
    report: dict = field(default_factory=dict)

    def index_of(self, animal: str | int) -> int:
        """Position of an animal in :attr:`stacks`, looked up by RFID, name or animal_id."""
        for key in ("rfid", "name", "animal_id"):
            for i, a in enumerate(self.animals):
                if a.get(key) is not None and str(a[key]) == str(animal):
                    return i
        known = [a.get("rfid") or a.get("name") or a.get("animal_id") for a in self.animals]
        raise KeyError(f"{self.path}: no animal {animal!r} (animals: {known})")


def recording_stacks(
    db_path: str | os.PathLike,
    hist_params: HistogramParams | None = None,
    stop_params=None,
    geometry: CageGeometry | None = None,
    progress: ProgressCallback | None = None,
    tracker=None,
    *,
    warn: bool = True,
) -> RecordingStacks:
    """Extract the stops of an LMT database and bin them into one stack per animal.

    Parameters
    ----------
    db_path
        LMT ``.sqlite`` file (opened read-only); with ``tracker``, another tracker's file (or a
        movement dataset).
    hist_params
        Binning parameters.
    stop_params
        :class:`napari_mousestop.stops.StopParams` (defaults if None).
    geometry
        Cage geometry; the mouse cage by default. With ``tracker`` the floor comes from its
        calibration and the frame rate from the file or the tracker parameters.
    progress
        Forwarded to stop extraction (:func:`~napari_mousestop.stops.extract_stops`).
    tracker
        :class:`napari_mousestop.io.trackers.TrackerParams`: read ``db_path`` through movement.
    warn
        Also issue each of the report's warnings with :func:`warnings.warn` (as a script
        expects). Callers that report the warnings themselves (the CLI, a worker) pass False:
        nothing then needs ``warnings.catch_warnings``, which is not thread-safe.

    Raises
    ------
    TrackerError
        ``hist_params.align_to`` set for a tracker's recording without a clock time of time 0.
    """
    from napari_mousestop.stops import extract_stops

    hist_params = hist_params or HistogramParams()
    geometry = geometry or CageGeometry.mouse()
    if tracker is not None and tracker.start_time is None:
        _need_clock(recording_path(db_path), hist_params)  # before the file is read
    stops = extract_stops(
        db_path,
        params=stop_params,
        geometry=geometry,
        progress=progress,
        tracker=tracker,
        warn=warn,
    )
    if tracker is not None:
        geometry = CageGeometry.from_dict(stops.attrs["geometry"])
    return _bin(stops, hist_params, geometry, stop_params, warn, stacklevel=3)


def _need_clock(path, hist_params: HistogramParams) -> None:
    if hist_params.align_to is not None:
        raise TrackerError(
            f"{path}: no clock time for the recording's time 0, so its intervals cannot start "
            f"at {hist_params.align_to}: give its start time (--start-time, a start_time column "
            "in a cohort)"
        )


def bin_recording(
    stops: pd.DataFrame,
    hist_params: HistogramParams | None = None,
    geometry: CageGeometry | None = None,
    stop_params=None,
    *,
    warn: bool = True,
) -> RecordingStacks:
    """Bin a recording's stop table into one stack per animal (the second half of
    :func:`recording_stacks`, for a table already extracted).

    Parameters
    ----------
    stops
        The table of :func:`napari_mousestop.stops.extract_stops`, with its ``attrs``.
    hist_params
        Binning parameters.
    geometry
        Cage geometry (floor); for another tracker's recording, the one in ``stops.attrs``.
    stop_params
        Recorded when the table's attrs hold none.
    warn
        Also issue each of the report's warnings with :func:`warnings.warn`; False for callers
        that report them themselves.
    """
    return _bin(stops, hist_params, geometry, stop_params, warn, stacklevel=3)


_PER_ANIMAL = re.compile(r"\d+ stops (off the floor|after the last)")
"""Notes of one animal's stack that the recording's notes sum up instead."""


def _bin(stops, hist_params, geometry, stop_params, warn: bool, stacklevel: int) -> RecordingStacks:
    """:func:`bin_recording`; warnings point ``stacklevel`` frames up (the public caller's)."""
    hist_params = hist_params or HistogramParams()
    geometry = geometry or CageGeometry.mouse()
    info = dict(stops.attrs.get("recording", {}))
    name = Path(info.get("path", "")).name
    start = pd.Timestamp(info["start_time"]) if info.get("start_time") else None
    if start is None:
        _need_clock(info.get("path"), hist_params)
    duration = float(info["duration_s"])
    origin = stack_origin(start, hist_params) if start is not None else None
    offset_s = (start - origin).total_seconds() if start is not None else 0.0
    resolved = hist_params.n_intervals is None
    hist_params = hist_params.covering(offset_s + duration)
    animals = [dict(a) for a in info.get("animals", [])]
    per_animal, warns, notes = {}, [], []
    stacks = np.zeros(
        (len(animals), hist_params.n_intervals, hist_params.n_bins, hist_params.n_bins), np.float32
    )
    for i, a in enumerate(animals):
        rows = stops[stops["animal_id"] == a["animal_id"]]
        stacks[i], rep = stack_stops(rows, hist_params, geometry, start, duration,
                                     pauses=info.get("pauses") or (), warn=False)  # fmt: skip
        per_animal[str(a["animal_id"])] = rep
        warns += [w for w in rep["warnings"] if w not in warns]
        notes += [n for n in rep["notes"] if n not in notes and not _PER_ANIMAL.match(n)]
    n_off = sum(r["n_off_floor"] for r in per_animal.values())
    if n_off:
        notes.append(f"{n_off} stops off the floor ({hist_params.off_floor})")
    n_after = [r["n_after_end"] for r in per_animal.values()]
    if any(n_after):
        notes.append(
            f"{sum(n_after)} stops after the last of {hist_params.n_intervals} intervals cut "
            f"(per animal: {', '.join(map(str, n_after))})"
        )
    for w in warns if warn else ():
        warnings.warn(f"{name}: {w}", ShortRecordingWarning, stacklevel=stacklevel)
    if resolved:
        notes.append(
            f"{hist_params.n_intervals} interval(s) of {format_duration(hist_params.interval_s)}: "
            "as many as the recording covers"
        )
    hours = (stops["start_s"].to_numpy(dtype=np.float64) + offset_s) / 3600.0
    interval = np.floor(hours * 3600.0 / hist_params.interval_s).astype(np.int64)
    interval[(interval < 0) | (interval >= hist_params.n_intervals)] = -1
    table = stops.copy()
    table["hours"] = hours
    table["interval"] = interval
    report = {
        "stops": stops.attrs.get("report", {}),
        "animals": per_animal,
        "warnings": warns,
        "notes": notes,
    }
    params_attr = stops.attrs.get("params")
    if params_attr is None and stop_params is not None:
        params_attr = stop_params.to_dict()
    return RecordingStacks(
        path=Path(info.get("path", "")),
        stacks=stacks,
        animals=animals,
        stops=table,
        info=info,
        origin=origin,
        params=hist_params,
        stop_params=dict(params_attr or {}),
        geometry=geometry,
        report=report,
    )
