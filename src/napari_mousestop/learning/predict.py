"""Apply a trained model to datasets or raw recordings (LMT, or other trackers' files read through
movement): class probabilities per animal."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_mousestop.datasets.dataset import load_dataset
from napari_mousestop.errors import CheckpointError
from napari_mousestop.learning.checkpoint import (
    Checkpoint,
    check_fits,
    load_checkpoint,
    predict_proba,
)
from napari_mousestop.progress import ProgressCallback, notify

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def recording_inputs(checkpoint: Checkpoint) -> tuple:
    """``(HistogramParams, StopParams, CageGeometry)`` rebuilt from the checkpoint's data
    parameters, so a raw recording is binned exactly as the training data was."""
    from napari_mousestop.histograms import HistogramParams
    from napari_mousestop.io.geometry import CageGeometry

    dp = checkpoint.data_params or {}
    name = checkpoint.path or "model"
    if "histogram" not in dp:
        raise CheckpointError(
            f"{name}: the model does not record how its stacks were made (no histogram "
            "parameters); build a dataset with `mousestop dataset` and predict on that instead"
        )
    hist = HistogramParams.from_dict(dp["histogram"])
    geometry = CageGeometry.from_dict(dp["geometry"]) if dp.get("geometry") else None
    stop_params = None
    if dp.get("stops"):
        from napari_mousestop.stops import StopParams

        from_dict = getattr(StopParams, "from_dict", None)
        stop_params = from_dict(dp["stops"]) if from_dict else StopParams(**dp["stops"])
    if (hist.n_intervals, hist.n_bins) != (checkpoint.n_intervals, checkpoint.n_bins):
        raise CheckpointError(
            f"{name}: its histogram parameters (T={hist.n_intervals}, N={hist.n_bins}) "
            f"disagree with its architecture (T={checkpoint.n_intervals}, N={checkpoint.n_bins})"
        )
    return hist, stop_params, geometry


def _frame(checkpoint: Checkpoint, proba: np.ndarray, columns: dict) -> pd.DataFrame:
    df = pd.DataFrame(columns)
    classes = list(checkpoint.classes)
    df["predicted"] = [classes[i] for i in proba.argmax(axis=1)] if len(proba) else []
    for j, c in enumerate(classes):
        df[f"p_{c}"] = proba[:, j] if len(proba) else []
    return df


def predict_path(
    checkpoint: Checkpoint, path: str | os.PathLike, verify: bool = False, tracker=None
) -> pd.DataFrame:
    """Predictions for one dataset (``.npz``), LMT recording (``.sqlite``) or, with
    ``tracker`` (:class:`~napari_mousestop.io.trackers.TrackerParams`), another tracker's file.

    Returns one row per animal(-recording): ``source, recording, cage, animal, true``
    (empty when unknown), ``predicted`` and ``p_<class>`` for each class (a tracker's animals
    named as movement names them). With ``verify``, an LMT recording is first checked with
    ``PRAGMA quick_check`` (see ``StopParams.verify``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if tracker is not None and suffix not in (".npz", *SQLITE_SUFFIXES):
        return predict_recording(checkpoint, path, tracker=tracker)[1]
    if suffix == ".npz":
        ds = load_dataset(path)
        check_fits(checkpoint, ds, where=str(path))
        proba = predict_proba(checkpoint, ds.X)
        return _frame(
            checkpoint,
            proba,
            {
                "source": str(path),
                "recording": ds.recordings,
                "cage": ds.cages,
                "animal": ds.animals,
                "true": ds.class_names,
            },
        )
    if suffix in SQLITE_SUFFIXES:
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        return predict_recording(checkpoint, path, verify)[1]
    from napari_mousestop.io.trackers import sniff_source_software

    software = sniff_source_software(path)
    if software is not None:
        raise ValueError(
            f"{path}: a {software} file: give its tracker's parameters (--source-software "
            f"{software}, --calibration, --fps) to predict on it"
        )
    raise ValueError(
        f"{path}: expected a dataset (.npz), an LMT recording (.sqlite) or another tracker's "
        "file (with --source-software)"
    )


def predict_recording(
    checkpoint: Checkpoint,
    path: str | os.PathLike,
    verify: bool = False,
    tracker=None,
) -> tuple:
    """One raw recording binned with the checkpoint's own parameters, then classified.

    Parameters
    ----------
    checkpoint
        The model; its data parameters give the histogram, stop and geometry parameters.
    path
        An LMT recording or, with ``tracker``, another tracker's file.
    verify
        Check an LMT recording with ``PRAGMA quick_check`` first.
    tracker
        :class:`~napari_mousestop.io.trackers.TrackerParams` for another tracker's file.

    Returns
    -------
    tuple
        ``(stacks, predictions)``: the
        :class:`~napari_mousestop.histograms.RecordingStacks` the model saw (to show them) and
        one row per animal as :func:`predict_path` gives (``animal``: its RFID, else name, else
        id; indexed like ``stacks.animals``; ``true``: its class by the model's class columns
        from the file's ANIMAL table, empty when unknown or not one of the model's classes).

    Raises
    ------
    ValueError
        A recording without animals.
    """
    from napari_mousestop.histograms import animal_key, recording_stacks
    from napari_mousestop.io.cohort import AGE_THRESHOLD_DAYS, recording_labels

    path = Path(path)
    hist, stop_params, geometry = recording_inputs(checkpoint)
    if verify:
        from dataclasses import replace

        from napari_mousestop.stops import StopParams

        stop_params = replace(stop_params or StopParams(), verify=True)
    rs = recording_stacks(path, hist, stop_params, geometry, tracker=tracker)
    if not rs.animals:
        raise ValueError(f"{path}: no animals in the recording")
    check_fits(checkpoint, rs.stacks, where=str(path))
    proba = predict_proba(checkpoint, rs.stacks)
    # the true class from the recording's own ANIMAL table, by the model's class columns
    used = (checkpoint.data_params or {}).get("labels", {})
    _, truth, _ = recording_labels(
        path,
        rs.animals,
        columns=used.get("columns") or None,
        threshold_days=used.get("age_threshold_days", AGE_THRESHOLD_DAYS),
    )
    keys = [animal_key(a) for a in rs.animals]
    frame = _frame(
        checkpoint,
        proba,
        {
            "source": str(path),
            "recording": path.name,
            "cage": "",
            "animal": keys,
            "true": [truth[k] if truth[k] in checkpoint.classes else "" for k in keys],
        },
    )
    return rs, frame


def predict_files(
    model: str | os.PathLike | Checkpoint,
    inputs: Sequence[str | os.PathLike],
    progress: ProgressCallback | None = None,
    verify: bool = False,
    tracker=None,
) -> pd.DataFrame:
    """Class probabilities per animal for every input file, in one table.

    Parameters
    ----------
    model
        A checkpoint or its path (``model.pt`` of a run, or a fold model).
    inputs
        Datasets (``.npz``), LMT recordings (``.sqlite``) and, with ``tracker``, other trackers'
        files; recordings are converted with the checkpoint's own histogram, stop and geometry
        parameters.
    progress
        Called with a :class:`~napari_mousestop.progress.Progress` after each input; raising
        :class:`~napari_mousestop.errors.Cancelled` there stops the work.
    verify
        Check each LMT recording with ``PRAGMA quick_check`` before reading it.
    tracker
        :class:`~napari_mousestop.io.trackers.TrackerParams` reading the inputs that are
        neither datasets nor LMT recordings through movement.
    """
    ckpt = model if isinstance(model, Checkpoint) else load_checkpoint(model)
    if not inputs:
        raise ValueError("predict: give at least one dataset or recording")
    frames = []
    for k, path in enumerate(inputs):
        frames.append(predict_path(ckpt, path, verify, tracker))
        notify(progress, k + 1, len(inputs), f"{Path(path).name} done")
    return pd.concat(frames, ignore_index=True)
