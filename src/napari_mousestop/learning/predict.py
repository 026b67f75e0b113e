"""Apply a trained model to datasets or raw LMT recordings: class probabilities per animal."""

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
    checkpoint: Checkpoint, path: str | os.PathLike, verify: bool = False
) -> pd.DataFrame:
    """Predictions for one dataset (``.npz``) or LMT recording (``.sqlite``).

    Returns one row per animal(-recording): ``source, recording, cage, animal, true``
    (empty when unknown), ``predicted`` and ``p_<class>`` for each class. With ``verify``, a
    recording is first checked with ``PRAGMA quick_check`` (see ``StopParams.verify``).
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
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
    if path.suffix.lower() in SQLITE_SUFFIXES:
        from napari_mousestop.histograms import recording_stacks

        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        hist, stop_params, geometry = recording_inputs(checkpoint)
        if verify:
            from dataclasses import replace

            from napari_mousestop.stops import StopParams

            stop_params = replace(stop_params or StopParams(), verify=True)
        rs = recording_stacks(path, hist, stop_params, geometry)
        check_fits(checkpoint, rs.stacks, where=str(path))
        proba = predict_proba(checkpoint, rs.stacks)
        animals = [a.get("rfid") or a.get("name") or str(a.get("animal_id")) for a in rs.animals]
        return _frame(
            checkpoint,
            proba,
            {
                "source": str(path),
                "recording": path.name,
                "cage": "",
                "animal": animals,
                "true": "",
            },
        )
    raise ValueError(f"{path}: expected a dataset (.npz) or an LMT recording (.sqlite)")


def predict_files(
    model: str | os.PathLike | Checkpoint,
    inputs: Sequence[str | os.PathLike],
    progress: ProgressCallback | None = None,
    verify: bool = False,
) -> pd.DataFrame:
    """Class probabilities per animal for every input file, in one table.

    Parameters
    ----------
    model
        A checkpoint or its path (``model.pt`` of a run, or a fold model).
    inputs
        Datasets (``.npz``) and/or LMT recordings (``.sqlite``); recordings are converted with
        the checkpoint's own histogram, stop and geometry parameters.
    progress
        Called with a :class:`~napari_mousestop.progress.Progress` after each input; raising
        :class:`~napari_mousestop.errors.Cancelled` there stops the work.
    verify
        Check each recording with ``PRAGMA quick_check`` before reading it.
    """
    ckpt = model if isinstance(model, Checkpoint) else load_checkpoint(model)
    if not inputs:
        raise ValueError("predict: give at least one dataset or recording")
    frames = []
    for k, path in enumerate(inputs):
        frames.append(predict_path(ckpt, path, verify))
        notify(progress, k + 1, len(inputs), f"{Path(path).name} done")
    return pd.concat(frames, ignore_index=True)
