"""Synthetic recordings of other trackers (DeepLabCut, SLEAP) with planted stops.

The mice move as in the LMT generator (:mod:`napari_mousestop.synthetic.motion`: the same
places, class preferences, rests, jitter and identity losses); each carries three keypoints
along its body (``snout``, ``centre``, ``tail_base``, 3 cm apart by default) seen by a camera
whose image of the floor is the quadrilateral :data:`VIDEO_CORNERS`. Pose-estimation defects:

* keypoint jitter (``keypoint_sigma_cm``);
* outliers: a keypoint put anywhere in the image with a low confidence (0-0.3), at a rate of
  ``outlier_rate`` per keypoint and frame, and on every keypoint while the LMT generator would
  lose the mouse's identity (short flickers and long losses in the nest) or see a glitch;
* missing frames (NaN positions) where it would miss a detection.

Other keypoints have confidences 0.8-1. The files are written by movement's own savers
(``movement.io.save_poses.to_dlc_file`` and ``to_sleap_analysis_file``), so they are what
movement writes and reads. Every planted rest is returned (split by long identity losses),
with frames counted from 0, for :func:`napari_mousestop.synthetic.generate.score_stops`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_mousestop.io.atomic import atomic_path
from napari_mousestop.io.layout import photo_transform, save_calibration
from napari_mousestop.io.trackers import import_movement, source_software_name
from napari_mousestop.synthetic.motion import (
    CLASS_PREFERENCES,
    PLACE_NAMES,
    detection_states,
    plan_mouse,
    positions,
)

VIDEO_CORNERS: tuple[tuple[float, float], ...] = (
    (102.0, 40.0),
    (430.0, 58.0),
    (455.0, 390.0),
    (80.0, 372.0),
)
"""The floor's corners (top-left, top-right, bottom-right, bottom-left) in the synthetic video's
pixels: a tilted camera over a 50 x 50 cm floor (about 6.5 px per cm)."""

KEYPOINTS: tuple[str, ...] = ("snout", "centre", "tail_base")
IMAGE_PX = (512, 424)
"""Width and height of the synthetic video (pixels)."""


def generate_pose_recording(
    path: str | Path,
    source_software: str = "DeepLabCut",
    hours: float = 0.5,
    individuals: Sequence[str] = ("mouse_a", "mouse_b", "mouse_c"),
    weights: Sequence[Sequence[float]] | None = None,
    seed: int = 0,
    fps: float = 30.0,
    start_hour: float = 18.0,
    corners=VIDEO_CORNERS,
    floor_cm: tuple[float, float] = (50.0, 50.0),
    outlier_rate: float = 1 / 60,
    keypoint_sigma_cm: float = 0.3,
    body_cm: float = 3.0,
) -> pd.DataFrame:
    """Write one tracker file with planted stops through movement's savers; return the stops.

    Parameters
    ----------
    path
        Output file: ``.h5`` (DeepLabCut or SLEAP analysis) or ``.csv`` (DeepLabCut); written
        atomically.
    source_software
        ``"DeepLabCut"`` or ``"SLEAP"``.
    hours
        Length of the recording.
    individuals
        Names of the mice (movement's individuals).
    weights
        Place-choice weights per mouse (see :data:`~.motion.CLASS_PREFERENCES`); adult males'
        by default.
    seed
        Random seed: the same seed gives the same file content.
    fps
        Frames per second (no frame is dropped: a video's frames are regular).
    start_hour
        Clock hour of the first frame (the light phase lengthens nest rests).
    corners, floor_cm
        Where the floor lies in the video's pixels, and its size.
    outlier_rate
        Rate of low-confidence outliers per keypoint and frame.
    keypoint_sigma_cm
        Jitter of each keypoint around the body (cm).
    body_cm
        Distance from the centre to the snout and to the tail base (cm).

    Returns
    -------
    pandas.DataFrame
        Planted stops: ``database, animal, animal_id, start_frame, end_frame, start_s,
        duration_s, x_cm, y_cm, place`` (``animal``: the individual's name; frames from 0,
        inclusive).
    """
    movement = import_movement()
    from movement.io import save_poses

    path = Path(path)
    software = source_software_name(source_software)
    if software not in ("DeepLabCut", "SLEAP"):
        raise ValueError(f"synthetic files are DeepLabCut or SLEAP, not {software}")
    rng = np.random.default_rng(seed)
    n = int(round(hours * 3600 * fps))
    if n < 2:
        raise ValueError(f"{path}: hours={hours} gives fewer than 2 frames")
    t = np.arange(n) / fps
    to_px = photo_transform(corners, floor_cm).inverse
    individuals = list(individuals)
    weights = weights or [CLASS_PREFERENCES["AM"]] * len(individuals)
    n_kp = len(KEYPOINTS)
    pos = np.empty((n, 2, n_kp, len(individuals)))
    conf = np.empty((n, n_kp, len(individuals)))
    rows = []
    offsets = (body_cm, 0.0, -body_cm)
    for i, name in enumerate(individuals):
        segs = plan_mouse(t[-1] + 1.0, np.asarray(weights[i], dtype=float), start_hour, rng)
        x, y = positions(segs, t, rng, [np.zeros(1), np.zeros(1)])
        state, truth = detection_states(segs, t, rng)
        hx, hy = _heading(segs, t, rng)
        for k, off in enumerate(offsets):
            kx = x + off * hx + rng.normal(0, keypoint_sigma_cm, n)
            ky = y + off * hy + rng.normal(0, keypoint_sigma_cm, n)
            pos[:, :, k, i] = to_px(np.column_stack([kx, ky]))
            conf[:, k, i] = rng.uniform(0.8, 1.0, n)
            bad = (state == 1) | (state == 3) | (rng.random(n) < outlier_rate)
            pos[bad, :, k, i] = rng.uniform((0, 0), IMAGE_PX, (int(bad.sum()), 2))
            conf[bad, k, i] = rng.uniform(0.0, 0.3, int(bad.sum()))
        missing = state == 2
        pos[missing, :, :, i] = np.nan
        conf[missing, :, i] = np.nan
        rows += [
            (path.name, name, i + 1, f0, f1, t[f0], t[f1] - t[f0], px, py, PLACE_NAMES[place])
            for f0, f1, px, py, place in truth
        ]
    ds = movement.io.load_poses.from_numpy(
        pos,
        conf,
        individual_names=individuals,
        keypoint_names=list(KEYPOINTS),
        fps=fps,
        source_software=software,
    )
    with atomic_path(path) as tmp:
        tmp.unlink()
        if software == "DeepLabCut":
            save_poses.to_dlc_file(ds, tmp, split_individuals=False)
        else:
            save_poses.to_sleap_analysis_file(ds, tmp)
    cols = ["database", "animal", "animal_id", "start_frame", "end_frame", "start_s"]
    cols += ["duration_s", "x_cm", "y_cm", "place"]
    truth_df = pd.DataFrame(rows, columns=cols)
    return truth_df[truth_df["duration_s"] >= 1.0].reset_index(drop=True)


def _heading(segs: np.ndarray, t: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector of each frame's body axis: the direction of travel, kept while resting."""
    idx = np.clip(np.searchsorted(segs[:, 0], t, side="right") - 1, 0, len(segs) - 1)
    dx, dy = segs[:, 4] - segs[:, 2], segs[:, 5] - segs[:, 3]
    moving = np.hypot(dx, dy) > 0
    angle = np.where(moving, np.arctan2(dy, dx), np.nan)
    # a rest keeps the heading of the travel that led to it (a random one at the start)
    angle = pd.Series(angle).ffill().fillna(rng.uniform(0, 2 * np.pi)).to_numpy()
    return np.cos(angle[idx]), np.sin(angle[idx])


def generate_pose_cohort(
    out_dir: str | Path,
    cages: Sequence[int] = (1, 2),
    hours: float = 0.25,
    seed: int = 0,
    mice_per_cage: int = 4,
    source_software: str = "DeepLabCut",
    fps: float = 30.0,
    start_time: str = "2024-01-15 18:00",
) -> pd.DataFrame:
    """Tracker files of a cohort laid out as the LMT one (each cage one sex, recorded juvenile
    and adult), a calibration file and the cohort rows that name them.

    Cage ``c`` is male when ``c`` is odd. Writes ``cageNN_<age>.h5`` and ``calibration.toml``
    into ``out_dir``.

    Returns
    -------
    pandas.DataFrame
        Cohort rows: ``database, animal, cage, sex, age, source_software, individual, fps,
        calibration, start_time`` (file names relative to ``out_dir``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_calibration(out / "calibration.toml", VIDEO_CORNERS)
    rng = np.random.default_rng(seed)
    software = source_software_name(source_software)
    hour = pd.Timestamp(start_time)
    rows = []
    for c in cages:
        sex = "M" if c % 2 else "F"
        for age in ("juvenile", "adult"):
            label = ("A" if age == "adult" else "J") + sex
            names = [f"c{c}{'ABCDEFGHIJ'[i % 10]}" for i in range(mice_per_cage)]
            file = out / f"cage{c:02d}_{age}.h5"
            generate_pose_recording(
                file,
                software,
                hours,
                names,
                [CLASS_PREFERENCES[label]] * mice_per_cage,
                int(rng.integers(0, 2**31)),
                fps,
                hour.hour + hour.minute / 60,
            )
            rows += [
                (file.name, name, f"cage{c:02d}", sex, age, software, name, fps)
                + ("calibration.toml", start_time)
                for name in names
            ]
    columns = ["database", "animal", "cage", "sex", "age", "source_software", "individual"]
    columns += ["fps", "calibration", "start_time"]
    return pd.DataFrame(rows, columns=columns)
