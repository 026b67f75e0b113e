"""A quality table for every recording: what to check before trusting a rig's data.

LMT users look at a recording's frames and identities before its behaviour; the table does the
same for every recording of a run, from what stop extraction already read (no second pass):

* per recording: its clock span, the frames recorded against the frames expected at its frame
  rate (pauses left out), the dropped-frame share, its pauses (frame gaps over
  :data:`~napari_mousestop.stops.PAUSE_S`), duplicate DETECTION and FRAME rows, detections
  without a FRAME row and anonymous detections;
* per animal: its identified share (frames with a usable detection of it, of the frames
  recorded), glitch and NULL rows, its longest gap between detections, its stops and the
  hours its detections cover.

Flags say what should make a user look twice (:data:`FLAGS`): an identified share below 90%,
a pause over 10 minutes, any duplicate row, dropped frames over 5%, an animal without usable
detections. :func:`quality_table` gives one row per animal (its recording's columns repeated);
:func:`write_quality` writes it as CSV, :func:`summary` as text.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_mousestop.progress import ProgressCallback, notify

MIN_IDENTIFIED = 0.9
"""An animal identified in fewer than this share of the recorded frames is flagged."""
MAX_PAUSE_S = 600.0
"""A pause longer than this (s) is flagged."""
MAX_DROPPED = 0.05
"""A dropped-frame share above this is flagged."""
FLAGS = {
    "identified": f"identified in < {MIN_IDENTIFIED:.0%} of frames",
    "pause": f"pause > {MAX_PAUSE_S / 60:g} min",
    "duplicates": "duplicate rows",
    "dropped": f"dropped frames > {MAX_DROPPED:.0%}",
    "empty": "no usable detections",
}
"""What each flag means (the ``flags`` column holds their texts, separated by ``; ``)."""

RECORDING_COLUMNS = (
    "recording",
    "clock_span_h",
    "frames_recorded",
    "frames_expected",
    "dropped_share",
    "pauses",
    "longest_pause_min",
    "duplicate_detection_rows",
    "duplicate_frame_rows",
    "rows_without_frame",
    "anonymous_rows",
)
ANIMAL_COLUMNS = (
    "animal",
    "identified_share",
    "detections",
    "glitch_rows",
    "null_coordinate_rows",
    "longest_gap_s",
    "stops",
    "hours_covered",
    "flags",
)
COLUMNS = RECORDING_COLUMNS + ANIMAL_COLUMNS


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def quality_rows(info: dict, stop_report: dict, fps: float) -> list[dict]:
    """The quality table's rows (one per animal) of one recording, from what
    :func:`~napari_mousestop.stops.extract_stops` recorded (``df.attrs["recording"]`` and
    ``df.attrs["report"]``).

    Parameters
    ----------
    info
        The stop table's ``recording`` attrs (name, duration_s, n_frames, pauses, animals).
    stop_report
        The stop table's ``report`` attrs.
    fps
        The recording's frame rate (frames expected per second).
    """
    frames = stop_report.get("frames") or {}
    n_frames = int(frames.get("n_frames", info.get("n_frames") or 0))
    span = float(frames.get("clock_span_s", info.get("duration_s") or 0.0))
    pauses = frames.get("pauses", info.get("pauses")) or []
    paused = sum(b - a for a, b in pauses) - len(pauses) / fps
    expected = int(frames.get("frames_expected", round((span - paused) * fps) + 1))
    dropped = max(0.0, 1.0 - _ratio(n_frames, expected)) if expected else 0.0
    longest_pause = max((b - a for a, b in pauses), default=0.0)
    dup_rows = int(stop_report.get("duplicate_rows", 0))
    dup_frames = int(frames.get("duplicate_frame_rows", 0))
    rec = {
        "recording": info.get("name") or Path(str(info.get("path", ""))).name,
        "clock_span_h": round(span / 3600.0, 6),
        "frames_recorded": n_frames,
        "frames_expected": expected,
        "dropped_share": round(dropped, 6),
        "pauses": len(pauses),
        "longest_pause_min": round(longest_pause / 60.0, 3),
        "duplicate_detection_rows": dup_rows,
        "duplicate_frame_rows": dup_frames,
        "rows_without_frame": int(stop_report.get("rows_without_frame", 0)),
        "anonymous_rows": int(stop_report.get("anonymous_rows", 0)),
    }
    rec_flags = []
    if longest_pause > MAX_PAUSE_S:
        rec_flags.append(FLAGS["pause"])
    if dup_rows or dup_frames:
        rec_flags.append(FLAGS["duplicates"])
    if dropped > MAX_DROPPED:
        rec_flags.append(FLAGS["dropped"])
    per_animal = stop_report.get("per_animal")  # None: a report of an older version
    rows = []
    for a in info.get("animals", []):
        st = (per_animal or {}).get(str(a.get("animal_id")), {})
        det = int(st.get("detections", 0))
        share = _ratio(det, n_frames) if per_animal is not None else float("nan")
        flags = list(rec_flags)
        if per_animal is not None and det == 0:
            flags.append(FLAGS["empty"])
        elif share < MIN_IDENTIFIED:
            flags.append(FLAGS["identified"])
        rows.append(
            {
                **rec,
                "animal": next(
                    (str(a[k]) for k in ("rfid", "name", "animal_id") if a.get(k) is not None),
                    "?",
                ),
                "identified_share": round(share, 6) if np.isfinite(share) else None,
                "detections": det,
                "glitch_rows": int(st.get("glitch_rows", 0)),
                "null_coordinate_rows": int(st.get("null_coordinate_rows", 0)),
                "longest_gap_s": st.get("longest_gap_s"),
                "stops": int(st.get("stops", 0)),
                "hours_covered": st.get("hours_covered", 0.0),
                "flags": "; ".join(flags),
            }
        )
    return rows


def quality_of_stops(stops: pd.DataFrame) -> list[dict]:
    """:func:`quality_rows` of a stop table of :func:`~napari_mousestop.stops.extract_stops`."""
    fps = float((stops.attrs.get("geometry") or {}).get("fps", 30.0))
    return quality_rows(stops.attrs.get("recording", {}), stops.attrs.get("report", {}), fps)


def quality_table(rows: Iterable[dict]) -> pd.DataFrame:
    """The rows of one or more recordings as the quality table (columns :data:`COLUMNS`)."""
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def recordings_quality(
    sources: Sequence[tuple[str | os.PathLike, object]],
    stop_params=None,
    geometry=None,
    progress: ProgressCallback | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """The quality table of recordings read now: (table, failed).

    Parameters
    ----------
    sources
        ``(path, tracker)`` per recording: tracker None for an LMT database, else its
        :class:`~napari_mousestop.io.trackers.TrackerParams`.
    stop_params, geometry
        How stops are extracted (defaults if None).
    progress
        Called after each recording.

    Returns
    -------
    table, failed
        The table; and ``{"database", "error"}`` for each recording that could not be read
        (it has no row).
    """
    from napari_mousestop.errors import MousestopError
    from napari_mousestop.stops import extract_stops

    rows: list[dict] = []
    failed: list[dict] = []
    for k, (path, tracker) in enumerate(sources):
        try:
            stops = extract_stops(path, stop_params, geometry, tracker=tracker, warn=False)
        except (MousestopError, OSError) as exc:
            failed.append({"database": Path(path).name, "error": str(exc)})
        else:
            rows += quality_of_stops(stops)
        notify(progress, k + 1, len(sources), f"{Path(path).name}")
    return quality_table(rows), failed


def _fmt(value, spec: str) -> str:
    """``value`` formatted, or ``n/a`` when missing (None or NaN)."""
    return "n/a" if value is None or value != value else spec.format(value)


def summary(table: pd.DataFrame, failed: Sequence[dict] = ()) -> str:
    """The table as text: one block per recording, its flagged animals named."""
    lines = []
    for name, rows in table.groupby("recording", sort=False):
        r = rows.iloc[0]
        lines.append(
            f"{name}: {r['clock_span_h']:.2f} h, {r['frames_recorded']} of "
            f"{r['frames_expected']} frames ({r['dropped_share']:.1%} dropped), "
            f"{r['pauses']} pause(s) (longest {r['longest_pause_min']:.1f} min), "
            f"{r['duplicate_detection_rows']} duplicate detection and "
            f"{r['duplicate_frame_rows']} duplicate frame rows, {r['rows_without_frame']} "
            f"detections without a frame, {r['anonymous_rows']} anonymous"
        )
        for a in rows.itertuples():
            share = _fmt(a.identified_share, "{:.1%}")
            gap = _fmt(a.longest_gap_s, "{:.1f} s")
            lines.append(
                f"  {a.animal}: identified {share}, {a.glitch_rows} glitch, longest gap {gap}, "
                f"{a.stops} stops, {a.hours_covered:.2f} h covered"
                + (f"  <- {a.flags}" if a.flags else "")
            )
    n_flagged = int((table["flags"] != "").sum()) if len(table) else 0
    lines.append(f"{n_flagged} of {len(table)} animal-recordings flagged")
    for f in failed:
        lines.append(f"not read: {f['database']}: {f['error']}")
    return "\n".join(lines)


def write_quality(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the table as CSV, atomically."""
    from napari_mousestop.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def quality_path(dataset_path: str | os.PathLike) -> Path:
    """Where a dataset's quality table goes: ``DATASET.qc.csv`` beside ``DATASET.npz``."""
    p = Path(dataset_path)
    return p.with_name(p.stem + ".qc.csv")


def quality_params(table: pd.DataFrame, file: str | os.PathLike) -> dict:
    """What a dataset records of its quality table: file name, rows, rows flagged."""
    return {
        "file": Path(file).name,
        "flagged": int((table["flags"] != "").sum()),
        "rows": len(table),
    }


__all__ = [
    "COLUMNS",
    "FLAGS",
    "quality_of_stops",
    "quality_path",
    "quality_rows",
    "quality_table",
    "recordings_quality",
    "summary",
    "quality_params",
    "write_quality",
]
