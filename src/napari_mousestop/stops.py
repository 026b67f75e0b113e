"""Stops: periods when a mouse's speed stays at or below 5 cm/s for at least 1 s.

The definition (see docs/stops.md for the reasons behind each default):

1. Speed (cm/s) of the centre of mass at each identified detection ``i``: the distance between
   the mean position of the ``h`` detections after ``i`` and that of the ``h`` detections
   before it, divided by the time between their mean times (FRAME TIMESTAMPs), with
   ``h = round(speed_window_s * fps / 2)`` (8 detections on each side by default); at the ends
   of a track the first or last detection stands in for missing ones. This 0.5 s window
   averages out the tracking jitter that makes the frame-to-frame speed of a resting mouse
   exceed 5 cm/s, and damps one-frame jumps of the mask's centre.
2. A detection is *slow* when its speed is <= ``speed_threshold_cm_s``.
3. Consecutive slow detections form one stop, unless the time between two of them exceeds
   ``max_gap_s`` (missing, anonymous or glitch detections), or the mouse moved across the gap
   further than a slow mouse could (threshold x max(gap, speed window)): then the stop ends at
   the last detection before the gap.
4. A run of slow detections is a stop if it lasts at least ``min_duration_s`` (time from its
   first to its last detection).

A stop's position is the mean centre of mass over its detections (cm, from the cage floor's
top-left corner, y downwards); its start time is the TIMESTAMP of its first frame.

Recordings of other trackers (DeepLabCut, SLEAP..., read through movement by
:mod:`napari_mousestop.io.trackers`) go through the same pass: a "detection" is a frame where
the animal has a centre (the mean of its confident keypoints), timed by frame / fps.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_mousestop.errors import FileChanged, LMTError, TrackerError
from napari_mousestop.io.atomic import atomic_path
from napari_mousestop.io.cohort import ANIMAL_FIELDS
from napari_mousestop.io.geometry import CageGeometry
from napari_mousestop.io.lmt import DetectionReader, Track, read_animals
from napari_mousestop.io.trackers import TrackedRecording, TrackerParams, read_tracks
from napari_mousestop.progress import ProgressCallback, notify

if TYPE_CHECKING:
    import xarray as xr

STOP_COLUMNS = (
    "recording",
    "animal_id",
    "rfid",
    "name",
    "start_frame",
    "end_frame",
    "start_time",
    "start_s",
    "duration_s",
    "x_cm",
    "y_cm",
)


@dataclass(frozen=True)
class StopParams:
    """Parameters of stop extraction (defaults: the paper's stop, see docs/stops.md).

    Parameters
    ----------
    speed_threshold_cm_s
        A detection is slow when its speed is at or below this (cm/s).
    min_duration_s
        Shortest stop (s), from its first to its last slow detection.
    speed_window_s
        Time span over which speed is measured (s); 0.5 s averages out tracking jitter.
    max_gap_s
        Longest stretch without an identified detection (s) that does not end a stop.
    time_base
        ``"timestamp"`` (FRAME.TIMESTAMP, default) or ``"frames"`` (frame number / fps, for
        recordings whose clock is broken, e.g. timestamps going backwards).
    method
        How DETECTION is read: ``"auto"`` (the page decoder when the file's schema and pages
        allow it, else SQL), ``"pages"`` (the page decoder or an error) or ``"sql"``; the
        same results.
    verify
        Check the file with SQLite's ``PRAGMA quick_check`` before reading it (reads the whole
        file); a damaged file is refused with an error.
    """

    speed_threshold_cm_s: float = 5.0
    min_duration_s: float = 1.0
    speed_window_s: float = 0.5
    max_gap_s: float = 2.0
    time_base: str = "timestamp"
    method: str = "auto"
    verify: bool = False

    def __post_init__(self) -> None:
        for name in ("speed_threshold_cm_s", "min_duration_s", "speed_window_s", "max_gap_s"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"StopParams.{name} must be a finite number >= 0, not {v!r}")
        if self.time_base not in ("timestamp", "frames"):
            raise ValueError(
                f"StopParams.time_base must be 'timestamp' or 'frames', not {self.time_base!r}"
            )
        if self.method not in ("auto", "pages", "sql"):
            raise ValueError(
                f"StopParams.method must be 'auto', 'pages' or 'sql', not {self.method!r}"
            )

    def to_dict(self) -> dict:
        """JSON-friendly dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StopParams:
        """Inverse of :meth:`to_dict` (unknown keys are refused)."""
        return cls(**d)


def detect_stops(
    t_s: np.ndarray, x: np.ndarray, y: np.ndarray, params: StopParams, fps: float = 30.0
) -> tuple[np.ndarray, np.ndarray]:
    """Stops in one animal's track.

    Parameters
    ----------
    t_s
        Time of each detection (s), non-decreasing.
    x, y
        Centre of mass (cm).
    params
        Thresholds.
    fps
        Camera frame rate, to turn ``speed_window_s`` into a number of detections.

    Returns
    -------
    starts, ends
        Indices of each stop's first and last detection (inclusive).
    """
    s, e, _, _ = _detect(t_s, x, y, params, fps)
    return s, e


def _detect(t_s, x, y, params: StopParams, fps: float):
    """(starts, ends, mean x, mean y) of the stops; see the module docstring for the rules."""
    h = max(1, int(round(params.speed_window_s * fps / 2)))
    t_s, x, y = (np.ascontiguousarray(v, dtype=np.float64) for v in (t_s, x, y))
    n = len(t_s)
    # stops are disjoint and each lasts >= min_duration_s: that bounds how many there can be
    span = float(t_s[-1] - t_s[0]) if n else 0.0
    cap = n if params.min_duration_s <= 0 else min(n, int(span / params.min_duration_s) + 2)
    from napari_mousestop._stop_kernel import stop_kernel  # numba: compiled on first use

    return stop_kernel(
        t_s, x, y, h, float(params.speed_threshold_cm_s), float(params.speed_window_s),
        float(params.max_gap_s), float(params.min_duration_s), 1.5 / fps, max(cap, 1),
    )  # fmt: skip


PAUSE_S = 60.0
"""A stretch longer than this (s) between two consecutive frames of FRAME is a pause: the
recording was stopped, so its time counts as not recorded (histogram coverage, quality table)."""


class _Clock:
    """FRAMENUMBER -> seconds since the recording's first frame, keeping little memory.

    Also what FRAME says about the recording itself (:attr:`stats`): duplicate frame numbers
    (one row kept per frame: the earliest TIMESTAMP, counted and named in :attr:`warnings`),
    pauses (gaps over :data:`PAUSE_S`) and the frames expected at the frame rate.
    """

    def __init__(self, frames, ts_ms, params: StopParams, fps: float, path):
        self.warnings: list[str] = []
        dup = np.flatnonzero(frames[1:] == frames[:-1]) + 1
        if dup.size:  # sorted by (frame, TIMESTAMP): the first of each frame is its earliest
            differ = int((ts_ms[dup] != ts_ms[dup - 1]).sum())
            self.warnings.append(
                f"{path}: FRAME holds {dup.size} duplicate FRAMENUMBER row(s) (first: frame "
                f"{int(frames[dup[0]])}; {differ} with another TIMESTAMP): one row kept per "
                "frame, the earliest TIMESTAMP"
            )
            keep = np.ones(len(frames), bool)
            keep[dup] = False
            frames, ts_ms = frames[keep], ts_ms[keep]
        self.f0, self.f_last, self.n = int(frames[0]), int(frames[-1]), len(frames)
        self.ts0 = int(ts_ms[0])
        self.consecutive = self.f_last - self.f0 + 1 == self.n
        self.frames = None if self.consecutive else frames
        self.fps = fps
        self.t = None
        if params.time_base != "frames":
            back = np.flatnonzero(np.diff(ts_ms) < 0)
            if back.size:
                raise LMTError(
                    f"{path}: FRAME.TIMESTAMP goes backwards {back.size} time(s), first from "
                    f"frame {frames[back[0]]} to frame {frames[back[0] + 1]}; the clock is "
                    "unreliable (use time_base='frames' to time stops by frame number instead)"
                )
            self.t = (ts_ms - ts_ms[0]) / 1000.0
        secs = self.t if self.t is not None else (frames - frames[0]) / fps
        step = np.diff(secs)
        long = np.flatnonzero(step > PAUSE_S)
        pauses = [[float(secs[i]), float(secs[i + 1])] for i in long]
        span = float(secs[-1]) if len(secs) else 0.0
        paused = sum(b - a for a, b in pauses) - len(pauses) / fps  # beyond one frame step
        self.stats = {
            "time_base": params.time_base,
            "clock_span_s": span,
            "n_frames": int(self.n),
            "frames_expected": int(round((span - paused) * fps)) + 1,
            "frame_numbers_missing": int(self.f_last - self.f0 + 1 - self.n),
            "duplicate_frame_rows": int(dup.size),
            "pauses": pauses,
            "paused_s": float(paused),
            "longest_frame_gap_s": float(step.max()) if len(step) else 0.0,
        }

    def place(self, f, x, y, geometry: CageGeometry) -> tuple[np.ndarray, ...]:
        """The detections whose frame FRAME knows: (frame, x cm, y cm, seconds); ``x`` and
        ``y`` (pixels, the caller's own arrays) are converted in place."""
        from napari_mousestop._stop_kernel import place_track

        if self.consecutive:  # one compiled pass
            (ox, oy), (sx, sy) = geometry.origin_px, geometry.cm_per_px
            t = np.empty(0) if self.t is None else self.t
            k, t = place_track(f, x, y, self.f0, self.f_last, t, float(self.fps), ox, sx, oy, sy)
            return f[:k], x[:k], y[:k], t[:k]
        known = np.isin(f, self.frames)
        f, x, y = f[known], x[known], y[known]
        # same arithmetic as CageGeometry.px_to_cm
        x -= geometry.origin_px[0]
        x *= geometry.cm_per_px[0]
        y -= geometry.origin_px[1]
        y *= geometry.cm_per_px[1]
        return f, x, y, self.seconds(f)

    def seconds(self, f: np.ndarray) -> np.ndarray:
        """Seconds since the first frame (sorted frames in, sorted times out)."""
        if self.t is None:
            return (f - self.f0) / self.fps
        idx = f - self.f0 if self.consecutive else np.searchsorted(self.frames, f)
        np.clip(idx, 0, self.n - 1, out=idx)
        return self.t[idx]


SKIPPED = "; skipped"
"""End of the report's warning for an animal without usable detections."""


def extract_stops(
    path: str | os.PathLike | xr.Dataset,
    params: StopParams | None = None,
    geometry: CageGeometry | None = None,
    progress: ProgressCallback | None = None,
    tracker: TrackerParams | None = None,
    individuals: list[str] | None = None,
    *,
    warn: bool = True,
) -> pd.DataFrame:
    """All stops of every animal of one LMT recording, or of another tracker's recording.

    Parameters
    ----------
    path
        LMT ``.sqlite`` file (opened read-only, never modified); with ``tracker``, a file
        movement reads (DeepLabCut, SLEAP...) or a movement dataset.
    params
        Stop definition; :class:`StopParams` defaults when None (``time_base``, ``method`` and
        ``verify`` concern LMT files only).
    geometry
        Pixel-to-cm conversion and frame rate of LMT files; the LMT mouse cage when None.
        Ignored with ``tracker``: its calibration and frame rate take their place.
    progress
        Called with a :class:`~napari_mousestop.progress.Progress` after each animal; raising
        :class:`~napari_mousestop.errors.Cancelled` there stops the work.
    tracker
        Read ``path`` through movement with these parameters
        (:class:`~napari_mousestop.io.trackers.TrackerParams`) instead of as an LMT file.
    individuals
        With ``tracker``: the individuals to read (movement's names); None: all.
    warn
        Also issue the report's warnings about animals skipped, rows dropped or merged (with
        their counts) and the frame rate with :func:`warnings.warn` (as a script expects).
        Callers that report the warnings themselves (the CLI, a worker) pass False: nothing then
        needs ``warnings.catch_warnings``, which is not thread-safe.

    Returns
    -------
    pandas.DataFrame
        One row per stop with the columns of ``STOP_COLUMNS``. ``df.attrs`` holds
        ``"recording"`` (path, name, start_time, duration_s, n_frames, animals), ``"params"``,
        ``"geometry"`` and ``"report"`` (rows left out, merged or kept by rounding, with their
        counts: ``anonymous_rows``, ``glitch_rows``, ``null_coordinate_rows``,
        ``duplicate_rows``, ``rows_without_frame``, ``stops_at_min_duration``; what FRAME says
        in ``frames``; per animal in ``per_animal``; warnings; ``report["reader"]``: how
        the file was read, for a tracker every parameter of
        :func:`~napari_mousestop.io.trackers.read_tracks`). A tracker's individuals are named
        as movement names them (``name``; ``animal_id`` is their position in the file, from 1)
        and its frames are counted from 0; ``start_time`` is NaT without a time zero.

    Raises
    ------
    LMTError
        A file that cannot be read as an LMT recording (message starts with the path).
    TrackerError
        A tracker's file that cannot be used (message starts with the path).
    """
    params = params or StopParams()
    if tracker is not None:
        return _tracker_stops(path, params, tracker, individuals, progress, warn)
    geometry = geometry or CageGeometry.mouse()
    path = Path(path)
    animals = read_animals(path)
    if animals.empty:
        raise LMTError(f"{path}: the ANIMAL table lists no animals")
    try:
        tables, clock, report, loud = _read(path, animals, params, geometry, progress,
                                            params.method)  # fmt: skip
    except FileChanged as exc:  # a writer got in (the lock was lost): read it all again
        if params.method == "pages":
            raise
        tables, clock, report, loud = _read(path, animals, params, geometry, progress, "sql")
        report["reader"]["reason"] = f"{exc} (read again through SQL)"
    if report["detections_used"] == 0:
        kinds = ("anonymous_rows", "glitch_rows", "null_coordinate_rows", "rows_without_frame")
        seen = {k: report[k] for k in kinds if report[k]}
        what = "is empty" if not seen else (
            "holds no usable detection of any animal ("
            + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in seen.items()) + ")"
        )
        raise LMTError(f"{path}: DETECTION {what}")
    start = pd.Timestamp(clock.ts0, unit="ms", tz="UTC")
    df = pd.concat(tables, ignore_index=True) if tables else _empty()
    df.insert(0, "recording", path.name)
    df["start_time"] = start + pd.to_timedelta(df["start_s"].to_numpy(), unit="s")
    df = df[list(STOP_COLUMNS)]
    df.attrs["recording"] = {
        "path": str(path),
        "name": path.name,
        "start_time": start.isoformat(),
        "duration_s": float(clock.seconds(np.array([clock.f_last]))[0]),
        "n_frames": int(clock.n),
        "pauses": clock.stats["pauses"],
        "animals": [
            {k: _plain(r[k]) for k in ("animal_id", "rfid", "name", *ANIMAL_FIELDS)}
            for _, r in animals.iterrows()
        ],
    }
    df.attrs["params"] = params.to_dict()
    df.attrs["geometry"] = geometry.to_dict()
    df.attrs["report"] = report
    for msg in report["warnings"] if warn else ():
        if msg.endswith(SKIPPED) or msg in loud:
            warnings.warn(msg, stacklevel=2)
    return df


def _read(path, animals, params, geometry, progress, method):
    """Stops of every animal through one :class:`DetectionReader`: (tables, clock, report)."""
    report: dict = {
        "method": None,
        "reader": None,
        "anonymous_rows": 0,
        "glitch_rows": 0,
        "null_coordinate_rows": 0,
        "rows_without_frame": 0,
        "duplicate_rows": 0,
        "stops_at_min_duration": 0,
        "detections_used": 0,
        "skipped_animals": [],
        "per_animal": {},
        "warnings": [],
    }
    tables = []
    with DetectionReader(path, method=method, verify=params.verify) as reader:
        frames, ts_ms = reader.frames()
        if not len(frames):
            raise LMTError(f"{path}: FRAME is empty (no recorded frames)")
        clock = _Clock(frames, ts_ms, params, geometry.fps, path)
        del frames, ts_ms  # the clock keeps what it needs
        report["frames"] = clock.stats
        total = len(animals)
        for k, track in enumerate(reader.tracks(animals["animal_id"].tolist())):
            row = animals.iloc[k]
            tables.append(_animal_stops(track, row, clock, params, geometry, report, path))
            notify(progress, k + 1, total, f"{path.name}: animal {k + 1}/{total}")
        report["anonymous_rows"] = reader.n_anonymous()
        report["method"] = reader.method
        report["reader"] = reader.provenance()
        report["warnings"] = reader.warnings + clock.warnings + report["warnings"]
    loud = clock.warnings + _say_counts(report, path)
    return tables, clock, report, loud


def _say_counts(report: dict, path) -> list[str]:
    """One warning per kind of row that was dropped or merged, with its count (also returned:
    these are issued as Python warnings too)."""
    n_dup, n_nf = report["duplicate_rows"], report["rows_without_frame"]
    said = []
    if n_dup:
        said.append(
            f"{path}: {n_dup} duplicate DETECTION row(s) (one animal twice in one frame): one "
            "row kept per (frame, animal), the smallest MASS_X (then MASS_Y)"
        )
    if n_nf:
        said.append(
            f"{path}: {n_nf} DETECTION row(s) of a frame that FRAME does not hold: left out "
            "(no time for them)"
        )
    report["warnings"] += said
    return said


def _plain(v):
    return int(v) if isinstance(v, (np.integer,)) else v


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype=d)
            for c, d in (
                ("animal_id", "int64"),
                ("rfid", object),
                ("name", object),
                ("start_frame", "int64"),
                ("end_frame", "int64"),
                ("start_s", "float64"),
                ("duration_s", "float64"),
                ("x_cm", "float64"),
                ("y_cm", "float64"),
            )
        }
    )


def _first_per_frame(f: np.ndarray, *cols: np.ndarray) -> tuple[int, tuple[np.ndarray, ...]]:
    """Keep the first row of each frame (rows sorted by frame, then x, then y: the smallest
    MASS_X, then MASS_Y); returns (rows dropped, (f, *cols))."""
    if len(f) < 2:
        return 0, (f, *cols)
    dup = f[1:] == f[:-1]
    if not dup.any():
        return 0, (f, *cols)
    keep = np.concatenate([[True], ~dup])
    return int(dup.sum()), tuple(np.ascontiguousarray(c[keep]) for c in (f, *cols))


def _durations(t, s, e, params: StopParams) -> tuple[np.ndarray, int]:
    """Stop durations (s), float noise below 1 ns removed; and how many stops were kept only
    because durations are compared to the microsecond (exactly ``min_duration_s`` long)."""
    raw = t[e] - t[s]
    return np.round(raw, 9), int((raw < params.min_duration_s).sum())


def _track_stats(t: np.ndarray) -> dict:
    """An animal's detections over time: count, longest gap, hours with detections."""
    if len(t) == 0:
        return {"detections": 0, "longest_gap_s": None, "hours_covered": 0.0}
    step = np.diff(t)
    covered = float(step[step <= PAUSE_S].sum())
    return {
        "detections": int(len(t)),
        "longest_gap_s": float(step.max()) if len(step) else 0.0,
        "hours_covered": round(covered / 3600.0, 6),
    }


def _animal_stops(track: Track, row, clock: _Clock, params, geometry, report, path):
    label = f"animal {track.animal_id} ({row['rfid'] or row['name'] or 'no RFID'})"
    report["glitch_rows"] += track.n_glitch
    report["null_coordinate_rows"] += track.n_null
    if track.n_null:
        report["warnings"].append(
            f"{label}: {track.n_null} detections with NULL coordinates left out"
        )
    n_dup, (frame, x_px, y_px) = _first_per_frame(track.frame, track.x_px, track.y_px)
    report["duplicate_rows"] += n_dup
    f, x, y, t = clock.place(frame, x_px, y_px, geometry)
    n_nf = len(frame) - len(f)
    report["rows_without_frame"] += n_nf
    stats = {
        "glitch_rows": int(track.n_glitch),
        "null_coordinate_rows": int(track.n_null),
        "duplicate_rows": n_dup,
        "rows_without_frame": n_nf,
        **_track_stats(t),
    }
    report["per_animal"][str(track.animal_id)] = stats
    if len(f) == 0:
        report["warnings"].append(f"{path}: {label} has no usable detections{SKIPPED}")
        report["skipped_animals"].append(int(track.animal_id))
        stats["stops"] = 0
        return _empty()
    report["detections_used"] += int(len(f))
    s, e, mx, my = _detect(t, x, y, params, geometry.fps)
    dur, n_exact = _durations(t, s, e, params)
    report["stops_at_min_duration"] += n_exact
    stats["stops"] = int(len(s))
    return pd.DataFrame(
        {
            "animal_id": np.full(len(s), track.animal_id, dtype=np.int64),
            "rfid": pd.Series([row["rfid"]] * len(s), dtype=object),
            "name": pd.Series([row["name"]] * len(s), dtype=object),
            "start_frame": f[s].astype(np.int64),
            "end_frame": f[e].astype(np.int64),
            "start_s": t[s],
            "duration_s": dur,
            "x_cm": mx,
            "y_cm": my,
        }
    )


def _tracker_stops(source, params, tracker, individuals, progress, warn) -> pd.DataFrame:
    """The stop table of a recording read through movement (see :func:`extract_stops`)."""
    rec = read_tracks(source, tracker, individuals)
    report: dict = {
        "method": "movement",
        "reader": rec.provenance,
        "low_confidence_points": 0,
        "bridged_points": 0,
        "frames_without_centre": 0,
        "stops_at_min_duration": 0,
        "detections_used": 0,
        "skipped_animals": [],
        "per_animal": {},
        "warnings": list(rec.provenance.get("warnings", [])),
    }
    tables = []
    for k, tr in enumerate(rec.tracks):
        stats = {"frames_without_centre": int(tr.n_no_centre), **_track_stats(tr.t_s), "stops": 0}
        report["per_animal"][str(tr.animal_id)] = stats
        report["low_confidence_points"] += tr.n_low_confidence
        report["bridged_points"] += tr.n_bridged
        report["frames_without_centre"] += tr.n_no_centre
        if len(tr.frame) == 0:
            msg = f"{rec.path}: individual {tr.name!r} has no frame with a centre{SKIPPED}"
            report["warnings"].append(msg)
            report["skipped_animals"].append(tr.name)
            tables.append(_empty())
        else:
            report["detections_used"] += len(tr.frame)
            s, e, mx, my = _detect(tr.t_s, tr.x_cm, tr.y_cm, params, rec.fps)
            dur, n_exact = _durations(tr.t_s, s, e, params)
            report["stops_at_min_duration"] += n_exact
            stats["stops"] = int(len(s))
            tables.append(
                pd.DataFrame(
                    {
                        "animal_id": np.full(len(s), tr.animal_id, dtype=np.int64),
                        "rfid": pd.Series([None] * len(s), dtype=object),
                        "name": pd.Series([tr.name] * len(s), dtype=object),
                        "start_frame": tr.frame[s],
                        "end_frame": tr.frame[e],
                        "start_s": tr.t_s[s],
                        "duration_s": dur,
                        "x_cm": mx,
                        "y_cm": my,
                    }
                )
            )
        total = len(rec.tracks)
        notify(progress, k + 1, total, f"{rec.path.name}: individual {k + 1}/{total}")
    if rec.tracks and report["detections_used"] == 0:
        raise TrackerError(
            f"{rec.path}: no frame has a centre for any individual (every keypoint position "
            f"is missing or below the confidence threshold {tracker.confidence_threshold:g})"
        )
    df = pd.concat(tables, ignore_index=True) if tables else _empty()
    df.insert(0, "recording", rec.path.name)
    start = rec.start_time
    offsets = pd.to_timedelta(df["start_s"].to_numpy(), unit="s")
    df["start_time"] = (
        start + offsets
        if start is not None
        else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    )
    df = df[list(STOP_COLUMNS)]
    df.attrs["recording"] = {
        "path": str(rec.path),
        "name": rec.path.name,
        "start_time": None if start is None else start.isoformat(),
        "duration_s": rec.duration_s,
        "n_frames": rec.n_frames,
        "animals": [
            {"animal_id": tr.animal_id, "rfid": None, "name": tr.name, "sex": None, "age": None}
            for tr in rec.tracks
        ],
    }
    df.attrs["params"] = params.to_dict()
    df.attrs["geometry"] = tracker_geometry(rec).to_dict()
    df.attrs["report"] = report
    loud = rec.provenance.get("warnings", [])  # the frame rate, absurd speeds
    for msg in report["warnings"] if warn else ():
        if msg.endswith(SKIPPED) or msg in loud:
            warnings.warn(msg, stacklevel=3)
    return df


def tracker_geometry(rec: TrackedRecording) -> CageGeometry:
    """The floor and frame rate of a tracker's recording, for binning its stops.

    Its pixels were turned into cm by the calibration (``rec.layout.video``), not by the LMT
    scale: the pixel fields of the result keep their defaults and mean nothing here.
    """
    return CageGeometry(floor_cm=tuple(rec.layout.floor_cm), fps=float(rec.fps))


def write_stops(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a stop table to ``.csv`` or ``.parquet`` atomically.

    The Parquet file keeps ``df.attrs`` (parameters, recording, report) in its metadata; a JSON
    sidecar ``<name>.json`` beside a CSV holds the same.
    """
    import json

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"{path}: stop tables are written as .csv or .parquet")
    meta = {k: df.attrs.get(k) for k in ("recording", "params", "geometry", "report")}
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
    if suffix == ".csv":
        from napari_mousestop.io.atomic import write_text_atomic

        write_text_atomic(path.with_suffix(".json"), json.dumps(meta, indent=2, default=str))
    return path
