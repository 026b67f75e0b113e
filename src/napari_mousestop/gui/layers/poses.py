"""A Points layer of movement's napari plugin as a movement poses dataset, for the stop pass.

movement's loader widget adds each file as a Points layer named ``"points: <file name>"``
whose data are ``(frame, y, x)`` in the video's pixels and whose features hold ``individual``,
``keypoint`` (for poses), ``time`` (seconds when the user gave the frame rate, else frames) and
``confidence``. :func:`points_to_poses` rebuilds the dataset movement would load from the file,
so the Extract widget reads such a layer exactly as it reads the file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_mousestop.errors import TrackerError

MOVEMENT_PREFIX = "points: "


def is_movement_points(layer: Any) -> bool:
    """Whether ``layer`` looks like movement's Points layer: (frame, y, x) with individuals."""
    features = getattr(layer, "features", None)
    data = getattr(layer, "data", None)
    return (
        type(layer).__name__ == "Points"
        and features is not None
        and "individual" in features
        and data is not None
        and np.ndim(data) == 2
        and np.shape(data)[1] == 3
    )


def layer_fps(frame: np.ndarray, features: pd.DataFrame) -> float | None:
    """The frame rate behind movement's ``time`` feature (frame / time), or None when the time
    is counted in frames (the plugin's fps left at 1) or absent."""
    if "time" not in features:
        return None
    t = features["time"].to_numpy(dtype=float)
    ok = (frame > 0) & np.isfinite(t) & (t > 0)
    if not ok.any():
        return None
    ratio = frame[ok] / t[ok]
    fps = float(np.median(ratio))
    if not np.allclose(ratio, fps, rtol=1e-3) or np.isclose(fps, 1.0):
        return None
    return fps


def points_to_poses(data: np.ndarray, features: pd.DataFrame, name: str) -> Any:
    """The movement poses dataset behind a Points layer of movement's plugin.

    Parameters
    ----------
    data
        The layer's data: rows ``(frame, y, x)`` in the video's pixels.
    features
        The layer's features: ``individual``, and ``keypoint``, ``confidence``, ``time`` when
        present (a layer without ``keypoint`` is one centroid per individual).
    name
        The layer's name; ``"points: "`` is dropped to name the recording.

    Returns
    -------
    xarray.Dataset
        Positions ``(time, space, keypoints, individuals)`` with NaN where the layer has no
        point, confidence, ``fps`` when the ``time`` feature gives it, and ``source_file`` the
        recording's name.

    Raises
    ------
    TrackerError
        A layer that is not of that shape.
    """
    from napari_mousestop.io.trackers import import_movement

    movement = import_movement()
    recording = name[len(MOVEMENT_PREFIX) :] if name.startswith(MOVEMENT_PREFIX) else name
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[1] != 3 or "individual" not in features or not len(data):
        raise TrackerError(
            f"{recording}: not a layer of movement's napari plugin (points (frame, y, x) with an "
            "individual feature)"
        )
    frame = np.rint(data[:, 0]).astype(np.int64)
    if frame.min() < 0:
        raise TrackerError(f"{recording}: negative frame numbers in the layer")
    individuals = pd.unique(features["individual"].astype(str))
    kp_text = features["keypoint"].astype(str) if "keypoint" in features else None
    keypoints = pd.unique(kp_text) if kp_text is not None else np.array(["centroid"])
    ii = pd.Categorical(features["individual"].astype(str), categories=individuals).codes
    kk = pd.Categorical(kp_text, categories=keypoints).codes if kp_text is not None else 0
    n = int(frame.max()) + 1
    position = np.full((n, 2, len(keypoints), len(individuals)), np.nan)
    position[frame, 0, kk, ii] = data[:, 2]
    position[frame, 1, kk, ii] = data[:, 1]
    confidence = np.full((n, len(keypoints), len(individuals)), np.nan)
    if "confidence" in features:
        confidence[frame, kk, ii] = features["confidence"].to_numpy(dtype=float)
    ds = movement.io.load_poses.from_numpy(
        position,
        confidence,
        individual_names=[str(i) for i in individuals],
        keypoint_names=[str(k) for k in keypoints],
        fps=layer_fps(frame, features),
    )
    ds.attrs["source_file"] = recording
    return ds
