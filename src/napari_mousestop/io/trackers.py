"""Recordings of other top-down trackers, read through movement's loaders.

Any file that `movement <https://movement.neuroinformatics.dev>`_ loads (DeepLabCut ``.h5`` /
``.csv``, SLEAP analysis ``.h5`` / ``.slp``, LightningPose and Anipose ``.csv``, NWB, VIA-tracks
bounding boxes) becomes the per-animal tracks the stop pass takes: one centre per frame, in cage
centimetres, with its time in seconds. For each individual:

1. Keypoint positions whose confidence is below ``confidence_threshold`` are dropped
   (``movement.filtering.filter_by_confidence``); a file without confidence scores is not
   filtered, and says so in the provenance.
2. Gaps of each keypoint up to ``bridge_gap_s`` long are filled by linear interpolation
   (``movement.filtering.interpolate_over_time``); longer gaps stay missing.
3. The centre of a frame is the mean of the chosen keypoints present in it (all keypoints by
   default; the box centre for bounding boxes). A frame where none is present has no centre, like
   a missing LMT detection.
4. Pixels become cm through the calibration: the projective transform that takes the floor's
   four corners in the video (the layout file's ``[video]`` section) onto the floor's corners.
5. Times are the file's times in seconds (frame / fps); the frame rate comes from the user, the
   file (NWB) or the calibration, in that order: a rate the user gives wins over the file's (its
   times are then scaled, and the provenance says so). A rate below 5 or above 500 fps, or an
   individual whose median speed exceeds 100 cm/s, is warned about. The clock time of time 0
   (``start_time``) comes from the user, so intervals can be aligned to the light phase as for
   LMT.

movement is an optional dependency (``pip install "napari-mousestop[movement]"``), imported
only when such a recording is read. Importing it changes the process (movement configures its
loguru logger, sends :mod:`warnings` through it and sets xarray's ``keep_attrs``); nothing here
undoes that, so that movement keeps working as its users expect.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from napari_mousestop.errors import LayoutError, TrackerError
from napari_mousestop.io.layout import CageLayout, load_calibration, photo_transform

if TYPE_CHECKING:
    import xarray as xr

SOURCE_SOFTWARE: tuple[str, ...] = (
    "DeepLabCut",
    "SLEAP",
    "LightningPose",
    "Anipose",
    "NWB",
    "VIA-tracks",
)
"""The ``source_software`` names movement's loaders accept (``movement.io.load_dataset``)."""

INSTALL_HINT = 'pip install "napari-mousestop[movement]"'
_ALIASES = {"dlc": "DeepLabCut", "lp": "LightningPose", "via": "VIA-tracks"}
_CENTRE = "the mean of the chosen keypoints present in the frame"


def import_movement() -> Any:
    """The ``movement`` package, or a :class:`TrackerError` saying how to install it."""
    try:
        import movement
        import movement.filtering
        import movement.io
        import movement.io.load_poses  # noqa: F401 (used through the package)
    except ImportError as exc:
        raise TrackerError(
            f"reading DeepLabCut, SLEAP and other trackers' files needs the movement package "
            f"({exc}); install it with: {INSTALL_HINT}"
        ) from None
    return movement


def source_software_name(value: str) -> str:
    """movement's spelling of a source software (any case; ``dlc``, ``lp``, ``via`` accepted).

    Raises
    ------
    TrackerError
        An unknown name (the message lists the known ones).
    """
    text = str(value).strip()
    key = text.lower()
    for name in SOURCE_SOFTWARE:
        if key == name.lower():
            return name
    if key in _ALIASES:
        return _ALIASES[key]
    raise TrackerError(
        f"unknown source software {text!r}; movement reads {', '.join(SOURCE_SOFTWARE)}"
    )


@dataclass(frozen=True)
class TrackerParams:
    """How a recording of another tracker becomes cage positions (see the module docstring).

    Parameters
    ----------
    source_software
        The tracker that wrote the file: DeepLabCut, SLEAP, LightningPose, Anipose, NWB or
        VIA-tracks (movement's names; any case).
    fps
        Frames per second of the video. Required unless the file (NWB) or the calibration's
        ``[video]`` section gives it; it wins over the file's (noted in the provenance).
    calibration
        Layout file with a ``[video]`` section: the floor's corners in the video's pixels.
    start_time
        Clock time of the video's time 0 (ISO 8601, e.g. ``2024-03-01 19:00``); without a
        UTC offset it is read in ``timezone``. Needed to align intervals to a clock time; None
        counts time from the recording's start only.
    timezone
        Time zone of a ``start_time`` written without an offset (an IANA name).
    keypoints
        Keypoints whose mean is the animal's centre (comma-separated text or a tuple); None: all.
    confidence_threshold
        Keypoint positions with a lower confidence are dropped (DeepLabCut's likelihood is in
        0-1; SLEAP's scores can exceed 1). 0 keeps every position.
    bridge_gap_s
        Longest gap (s) of a keypoint filled by linear interpolation; 0 fills none.
    """

    source_software: str = "DeepLabCut"
    fps: float | None = None
    calibration: str | None = None
    start_time: str | None = None
    timezone: str = "UTC"
    keypoints: tuple[str, ...] | None = None
    confidence_threshold: float = 0.6
    bridge_gap_s: float = 0.5

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "source_software", source_software_name(self.source_software))
        if self.fps is not None and str(self.fps).strip() != "":
            fps = _number(self.fps, "fps")
            if not fps > 0:
                raise TrackerError(f"TrackerParams.fps must be positive, not {self.fps!r}")
            set_(self, "fps", fps)
        else:
            set_(self, "fps", None)
        for name in ("confidence_threshold", "bridge_gap_s"):
            value = _number(getattr(self, name), name)
            if value < 0:
                raise TrackerError(f"TrackerParams.{name} must be >= 0, not {value!r}")
            set_(self, name, value)
        kp = self.keypoints
        if isinstance(kp, str):
            kp = [k.strip() for k in kp.split(",")]
        kp = tuple(str(k) for k in kp if str(k)) if kp is not None else None
        set_(self, "keypoints", kp or None)
        for name in ("calibration", "start_time"):
            value = getattr(self, name)
            set_(self, name, None if value is None or str(value).strip() == "" else str(value))
        try:
            pd.Timestamp("2000-01-01", tz=self.timezone)
        except Exception:
            raise TrackerError(f"unknown time zone {self.timezone!r}") from None
        self.start_timestamp()  # refuse a start time that is not one

    def start_timestamp(self) -> pd.Timestamp | None:
        """``start_time`` as a UTC timestamp (None when not given)."""
        if self.start_time is None:
            return None
        try:
            ts = pd.Timestamp(self.start_time)
        except (ValueError, TypeError):
            ts = pd.NaT
        if ts is pd.NaT:
            raise TrackerError(
                f"start time {self.start_time!r} is not a clock time (e.g. 2024-03-01 19:00)"
            )
        ts = ts.tz_localize(self.timezone) if ts.tzinfo is None else ts
        return ts.tz_convert("UTC")

    def to_dict(self) -> dict:
        """JSON-friendly dictionary."""
        d = asdict(self)
        d["keypoints"] = None if self.keypoints is None else list(self.keypoints)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrackerParams:
        """Inverse of :meth:`to_dict` (unknown keys are refused)."""
        return cls(**d)


def _number(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not math.isfinite(out):
        raise TrackerError(f"TrackerParams.{name} must be a finite number, not {value!r}")
    return out


@dataclass
class PoseTrack:
    """One individual's centre in the frames where it has one, in cage cm.

    Attributes
    ----------
    animal_id
        Position of the individual in the file's list of individuals, from 1.
    name
        The individual's name as movement gives it.
    frame
        Frame index (from 0) of each centre, int64.
    t_s
        Seconds since the video's time 0.
    x_cm, y_cm
        Centre on the floor (cm from its top-left corner, y downwards).
    n_low_confidence
        Keypoint positions dropped by the confidence filter.
    n_bridged
        Keypoint positions filled by interpolation.
    n_no_centre
        Frames without a centre (no chosen keypoint left).
    """

    animal_id: int
    name: str
    frame: np.ndarray
    t_s: np.ndarray
    x_cm: np.ndarray
    y_cm: np.ndarray
    n_low_confidence: int
    n_bridged: int
    n_no_centre: int


@dataclass
class TrackedRecording:
    """The tracks of one recording read through movement, with what made them.

    Attributes
    ----------
    path
        The file (or the name given to an in-memory dataset).
    tracks
        One :class:`PoseTrack` per individual asked for, in file order.
    individuals
        Every individual in the file.
    n_frames
        Frames in the file.
    fps
        Frames per second used.
    duration_s
        Time from the first to the last frame (s).
    start_time
        Clock time (UTC) of time 0, or None when not given.
    layout
        The calibration (``layout.video``) with the floor and shapes.
    provenance
        Every parameter and where it came from, for the outputs' records.
    """

    path: Path
    tracks: list[PoseTrack]
    individuals: list[str]
    n_frames: int
    fps: float
    duration_s: float
    start_time: pd.Timestamp | None
    layout: CageLayout
    provenance: dict


def read_tracks(
    source: str | os.PathLike | xr.Dataset,
    params: TrackerParams,
    individuals: list[str] | tuple[str, ...] | None = None,
) -> TrackedRecording:
    """Read a tracker's file through movement into per-individual centres in cm.

    Parameters
    ----------
    source
        The tracker's file, or a movement dataset already loaded (napari's movement plugin);
        its ``source_file`` attribute, if any, names it in messages.
    params
        Source software, frame rate, calibration, time zero and the centre's parameters.
    individuals
        Individuals to read (movement's names); None: all.

    Returns
    -------
    TrackedRecording

    Raises
    ------
    TrackerError
        movement missing, a missing or unreadable file, no calibration, no frame rate, an
        individual or keypoint not in the file; the message starts with the file's path.
    """
    movement = import_movement()
    in_memory = not isinstance(source, str | os.PathLike)
    path = recording_path(source)
    if not in_memory and not path.is_file():
        raise TrackerError(f"{path}: no such file")
    layout, cal_file = _calibration(path, params)
    fps, fps_from = _frame_rate(params, layout)
    if fps is None and not in_memory and params.source_software != "NWB":
        raise TrackerError(
            f"{path}: frame rate missing: {params.source_software} files do not store it; give "
            "it (--fps on the command line, an fps column in a cohort, or fps in the "
            "calibration's [video] section)"
        )
    if in_memory:
        ds = _singular_dims(source)
        if "position" not in ds or "individuals" not in ds.dims or "time" not in ds.dims:
            raise TrackerError(f"{path}: not a movement dataset (position, time, individuals)")
    else:
        ds = _load(movement, path, params.source_software, fps)
    ds = _singular_dims(ds)
    notes: list[str] = []
    t = np.asarray(ds["time"].values, dtype=np.float64)
    if params.source_software == "NWB" or fps is None:
        fps, fps_from, file_fps = _file_frame_rate(path, ds, params)
        if file_fps != fps and ds.attrs.get("time_unit") != "frames":
            t = t * file_fps / fps  # the file's times at its rate, as frames, at the given one
            notes.append(
                f"{path}: the file's frame rate is {file_fps:g} fps; the given {fps:g} fps "
                f"was used (its times scaled by {file_fps / fps:g})"
            )
    if ds.attrs.get("time_unit") == "frames":
        t = t / fps
    if not MIN_PLAUSIBLE_FPS <= fps <= MAX_PLAUSIBLE_FPS:
        notes.append(
            f"{path}: a frame rate of {fps:g} fps ({fps_from}) is implausible for a video "
            f"(expected {MIN_PLAUSIBLE_FPS:g} to {MAX_PLAUSIBLE_FPS:g}): check it, and give the "
            "video's rate (--fps, an fps column) if it is wrong"
        )
    if len(t) > 1 and not (np.diff(t) > 0).all():
        raise TrackerError(f"{path}: the file's times do not increase from frame to frame")
    names = [str(v) for v in ds["individuals"].values]
    wanted = names if individuals is None else [str(i) for i in individuals]
    unknown = [i for i in wanted if i not in names]
    if unknown:
        raise TrackerError(
            f"{path}: no individual {', '.join(map(repr, unknown))} in this file "
            f"(individuals: {', '.join(names)})"
        )
    all_kp, chosen = _keypoints(path, ds, params)
    conf = ds["confidence"] if "confidence" in ds else None
    if conf is not None and "keypoints" not in conf.dims and "keypoints" in ds["position"].dims:
        conf = None
    has_conf = conf is not None and bool(np.isfinite(conf.values).any())
    gap = int(round(params.bridge_gap_s * fps))
    tform = photo_transform(layout.video.corners_px, layout.floor_cm)
    tracks = []
    for name in wanted:
        pos = ds["position"].sel(individuals=name)
        c = conf.sel(individuals=name) if has_conf else None
        if "keypoints" in pos.dims:
            pos = pos.sel(keypoints=list(chosen))
            c = c.sel(keypoints=list(chosen)) if c is not None else None
        tracks.append(_track(movement, names.index(name) + 1, name, pos, c, params, gap, t, tform))
    notes += _absurd_speeds(path, tracks, fps)
    start = params.start_timestamp()
    provenance = {
        "source": "movement",
        "source_software": params.source_software,
        "movement_version": getattr(movement, "__version__", None),
        "file": str(path),
        "fps": fps,
        "fps_from": fps_from,
        "n_frames": len(t),
        "individuals": names,
        "keypoints": list(chosen),
        "keypoints_in_file": all_kp,
        "centre": _CENTRE if "keypoints" in ds["position"].dims else "the bounding box's centre",
        "confidence_threshold": params.confidence_threshold,
        "confidence_filter": "applied" if has_conf else "none: the file holds no confidence",
        "bridge_gap_s": params.bridge_gap_s,
        "bridge_gap_frames": gap,
        "calibration": {
            "file": cal_file,
            "corners_px": [list(c) for c in layout.video.corners_px],
            "floor_cm": list(layout.floor_cm),
            "transform": "projective: the four corners onto the floor's corners",
        },
        "start_time": None if start is None else start.isoformat(),
        "start_time_given": params.start_time,
        "timezone": params.timezone,
        "warnings": notes,
    }
    return TrackedRecording(
        path=path,
        tracks=tracks,
        individuals=names,
        n_frames=len(t),
        fps=fps,
        duration_s=float(t[-1] - t[0]) if len(t) else 0.0,
        start_time=start,
        layout=layout,
        provenance=provenance,
    )


def recording_path(source: str | os.PathLike | xr.Dataset) -> Path:
    """The path naming a recording: the file, or a movement dataset's ``source_file``."""
    if isinstance(source, str | os.PathLike):
        return Path(source)
    attrs = getattr(source, "attrs", {})
    return Path(attrs.get("source_file") or attrs.get("name") or "movement dataset")


def _calibration(path: Path, params: TrackerParams) -> tuple[CageLayout, str]:
    if params.calibration is None:
        raise TrackerError(
            f"{path}: a {params.source_software} recording needs a calibration: a layout file "
            "whose [video] section gives the floor's corners in the video's pixels (--calibration "
            "on the command line, a calibration column in a cohort)"
        )
    try:
        return load_calibration(params.calibration), str(params.calibration)
    except LayoutError as exc:
        raise TrackerError(f"{path}: calibration {exc}") from None


def _frame_rate(params: TrackerParams, layout: CageLayout) -> tuple[float | None, str]:
    """The frame rate the user or the calibration gives (None for NWB: the file's)."""
    if params.source_software == "NWB":
        return None, "file"
    if params.fps is not None:
        return params.fps, "given"
    if layout.video.fps is not None:
        return layout.video.fps, "calibration"
    return None, "file"


def _file_frame_rate(path: Path, ds, params: TrackerParams) -> tuple[float, str, float]:
    """(fps used, where it came from, the file's fps): a rate the user gives wins over the
    file's (NWB files written with timestamps 0, 1, 2... s read as 1 fps)."""
    try:
        file_fps = float(ds.attrs.get("fps"))
    except (TypeError, ValueError):
        file_fps = math.nan
    if not (math.isfinite(file_fps) and file_fps > 0):
        if params.fps is not None:
            return params.fps, "given (the file gives none)", params.fps
        raise TrackerError(f"{path}: frame rate missing: the file gives none; give it (--fps)")
    if params.fps is not None and not math.isclose(params.fps, file_fps, rel_tol=1e-6):
        return params.fps, f"given (the file says {file_fps:g} fps)", file_fps
    return file_fps, "file", file_fps


MIN_PLAUSIBLE_FPS, MAX_PLAUSIBLE_FPS = 5.0, 500.0
"""Frame rates outside this range are warned about: a camera for behaviour runs in it."""
ABSURD_SPEED_CM_S = 100.0
"""A median speed above this (cm/s) is no mouse's or rat's: the frame rate or the calibration
is wrong."""


def _absurd_speeds(path: Path, tracks: list[PoseTrack], fps: float) -> list[str]:
    """A warning per individual whose median frame-to-frame speed is absurd."""
    out = []
    for tr in tracks:
        if len(tr.t_s) < 3:
            continue
        dt = np.diff(tr.t_s)
        v = np.hypot(np.diff(tr.x_cm), np.diff(tr.y_cm))[dt > 0] / dt[dt > 0]
        med = float(np.median(v)) if len(v) else 0.0
        if med > ABSURD_SPEED_CM_S:
            out.append(
                f"{path}: individual {tr.name!r} moves at a median {med:.0f} cm/s at "
                f"{fps:g} fps, which no rodent does: check the frame rate and the calibration"
            )
    return out


def _singular_dims(ds):
    """movement 0.17 names the dimensions ``individual`` and ``keypoint``; earlier releases
    ``individuals`` and ``keypoints``. Both are read (as the latter)."""
    names = {"individual": "individuals", "keypoint": "keypoints"}
    rename = {k: v for k, v in names.items() if k in ds.dims and v not in ds.dims}
    return ds.rename(rename) if rename else ds


def _load(movement, path: Path, software: str, fps):
    """movement.io.load_dataset, its failures as one TrackerError naming the file."""
    try:
        return movement.io.load_dataset(path, source_software=software, fps=fps)
    except Exception as exc:  # movement raises ValueError, OSError, KeyError... per format
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrackerError(
            f"{path}: movement cannot read it as a {software} file ({text})"
        ) from None


def _keypoints(path: Path, ds, params: TrackerParams) -> tuple[list[str], tuple[str, ...]]:
    if "keypoints" not in ds["position"].dims:
        if params.keypoints is not None:
            raise TrackerError(
                f"{path}: bounding boxes have no keypoints (their centre is used); leave the "
                "keypoints out"
            )
        return [], ()
    names = [str(k) for k in ds["keypoints"].values]
    chosen = params.keypoints or tuple(names)
    unknown = [k for k in chosen if k not in names]
    if unknown:
        raise TrackerError(
            f"{path}: no keypoint {', '.join(map(repr, unknown))} in this file "
            f"(keypoints: {', '.join(names)})"
        )
    return names, tuple(chosen)


def _track(movement, animal_id, name, pos, conf, params, gap, t, tform) -> PoseTrack:
    """One individual's centre: confidence filter, bridged gaps, mean of keypoints, cm."""
    present = int(np.isfinite(pos.values).all(axis=pos.dims.index("space")).sum())
    if conf is not None and params.confidence_threshold > 0:
        pos = movement.filtering.filter_by_confidence(pos, conf, params.confidence_threshold)
    kept = int(np.isfinite(pos.values).all(axis=pos.dims.index("space")).sum())
    if gap > 0:
        pos = movement.filtering.interpolate_over_time(pos, max_gap=gap)
    xy = pos.transpose("time", "space", ...).values.reshape(len(t), pos.sizes["space"], -1)
    x, y = xy[:, 0, :], xy[:, 1, :]
    ok = np.isfinite(x) & np.isfinite(y)
    count = ok.sum(axis=1)
    bridged = int(ok.sum()) - kept
    have = count > 0
    cx = np.where(ok, x, 0.0).sum(axis=1)[have] / count[have]
    cy = np.where(ok, y, 0.0).sum(axis=1)[have] / count[have]
    cm = tform(np.column_stack([cx, cy])) if have.any() else np.empty((0, 2))
    return PoseTrack(
        animal_id=animal_id,
        name=name,
        frame=np.flatnonzero(have).astype(np.int64),
        t_s=t[have],
        x_cm=np.ascontiguousarray(cm[:, 0], dtype=np.float64),
        y_cm=np.ascontiguousarray(cm[:, 1], dtype=np.float64),
        n_low_confidence=present - kept,
        n_bridged=bridged,
        n_no_centre=int((~have).sum()),
    )


def sniff_source_software(path: str | os.PathLike) -> str | None:
    """The tracker that wrote ``path``, from its suffix and first bytes; None if not known.

    DeepLabCut ``.h5`` (pandas table ``df_with_missing``) and ``.csv`` (header row ``scorer``),
    SLEAP analysis ``.h5`` (``tracks`` and ``node_names``) and ``.slp``, NWB ``.nwb`` and
    VIA-tracks ``.csv``. Cheap, never raises (LightningPose files read as DeepLabCut's).
    """
    try:
        path = Path(path)
        suffix = path.suffix.lower()
        if not path.is_file():
            return None
        if suffix == ".slp":
            return "SLEAP"
        if suffix == ".nwb":
            return "NWB"
        if suffix == ".csv":
            with open(path, encoding="utf-8", errors="replace") as fh:
                head = fh.readline().strip().lower()
            if head.startswith("scorer,"):
                return "DeepLabCut"
            if head.startswith("filename,file_size,file_attributes"):
                return "VIA-tracks"
            return None
        if suffix == ".h5":
            import h5py

            with h5py.File(path, "r") as f:
                keys = set(f.keys())
            if "df_with_missing" in keys:
                return "DeepLabCut"
            if {"tracks", "node_names"} <= keys:
                return "SLEAP"
    except Exception:  # unreadable, not HDF5, permissions: not a tracker file we know
        return None
    return None


def with_file_settings(params: TrackerParams, **values: Any) -> TrackerParams:
    """``params`` with the per-file fields (source software, fps, calibration, start time,
    time zone) replaced where ``values`` gives a non-empty value."""
    given = {k: v for k, v in values.items() if v is not None and str(v).strip() != ""}
    return replace(params, **given) if given else params


__all__ = [
    "INSTALL_HINT",
    "SOURCE_SOFTWARE",
    "PoseTrack",
    "TrackedRecording",
    "TrackerParams",
    "import_movement",
    "read_tracks",
    "recording_path",
    "sniff_source_software",
    "source_software_name",
    "with_file_settings",
]
