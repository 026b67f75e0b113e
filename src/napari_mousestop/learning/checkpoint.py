"""Model checkpoints: weights plus everything needed to use them on new data, and inference.

A checkpoint is a ``torch.save`` of a plain dict: the state dict (tensors only) and one JSON
string with the architecture, class names, input scaler, the dataset's parameters (T, N,
interval, stop thresholds, cage geometry), the training config and versions. It is read with
``torch.load(weights_only=True)``, so loading a file never runs pickled code.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from napari_mousestop import __version__
from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.errors import CheckpointError
from napari_mousestop.io.atomic import atomic_path
from napari_mousestop.learning.model import ModelConfig, StopCNN
from napari_mousestop.learning.scaling import InputScaler

_FORMAT = "napari-mousestop-checkpoint/1"


@dataclass
class Checkpoint:
    """A trained model with what it needs to be applied to new stacks.

    Attributes
    ----------
    model
        The :class:`StopCNN`, in eval mode on the CPU.
    scaler
        The :class:`InputScaler` fitted on the model's training data.
    classes
        Class names in output order.
    data_params
        Parameters of the dataset it was trained on (T, N, interval, thresholds, geometry).
    config
        The training config as a dict.
    model_config
        The architecture.
    versions
        Package, torch, numpy and Python versions at training time.
    meta
        Anything else (held-out cage of a fold model, training history...).
    """

    model: StopCNN
    scaler: InputScaler
    classes: tuple[str, ...]
    data_params: dict
    config: dict
    model_config: ModelConfig
    versions: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def n_intervals(self) -> int:
        """T, the number of intervals the model expects."""
        return self.model_config.n_intervals

    @property
    def n_bins(self) -> int:
        """N, the grid size the model expects."""
        return self.model_config.n_bins


def _versions() -> dict:
    return {
        "napari_mousestop": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def make_checkpoint(
    model: StopCNN, scaler: InputScaler, dataset: Dataset, config, meta: dict | None = None
) -> Checkpoint:
    """Bundle a trained model with its scaler, ``dataset``'s classes and parameters and ``config``.

    ``config`` is a :class:`~napari_mousestop.learning.config.TrainConfig` (or its dict).
    """
    cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return Checkpoint(
        model=model,
        scaler=scaler,
        classes=tuple(dataset.classes),
        data_params=dict(dataset.params),
        config=cfg,
        model_config=model.config,
        versions=_versions(),
        meta=dict(meta or {}),
    )


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` (conventionally ``.pt``) atomically; return the path."""
    path = Path(path)
    info = {
        "model_config": checkpoint.model_config.to_dict(),
        "classes": list(checkpoint.classes),
        "scaler": checkpoint.scaler.to_dict(),
        "data_params": checkpoint.data_params,
        "config": checkpoint.config,
        "versions": checkpoint.versions or _versions(),
        "meta": checkpoint.meta,
    }
    payload = {
        "format": _FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in checkpoint.model.state_dict().items()},
        "info_json": json.dumps(info),
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(
    path: str | os.PathLike, data: Dataset | np.ndarray | None = None
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Parameters
    ----------
    path
        The ``.pt`` file.
    data
        Optional dataset or stack array the model is meant for: a checkpoint whose T, N,
        interval or classes do not fit it is refused (:func:`check_fits`).

    Raises
    ------
    CheckpointError
        If the file is missing, not a checkpoint, or does not fit ``data``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # pickle errors, zip errors, unsafe globals: not one of ours
        payload = None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise CheckpointError(
            f"{path}: not a napari-mousestop model (choose the model.pt of a training run)"
        )
    try:
        info = json.loads(payload["info_json"])
        mcfg = ModelConfig.from_dict(info["model_config"])
        model = StopCNN(mcfg)
        model.load_state_dict(payload["state_dict"])
    except Exception as exc:
        raise CheckpointError(f"{path}: damaged model file ({exc})") from None
    model.eval()
    ckpt = Checkpoint(
        model=model,
        scaler=InputScaler.from_dict(info["scaler"]),
        classes=tuple(info["classes"]),
        data_params=info.get("data_params", {}),
        config=info.get("config", {}),
        model_config=mcfg,
        versions=info.get("versions", {}),
        meta=info.get("meta", {}),
        path=path,
    )
    if data is not None:
        check_fits(ckpt, data)
    return ckpt


def _find(params: dict, key: str):
    """First value of ``key`` anywhere in nested dicts (None if absent)."""
    if not isinstance(params, dict):
        return None
    if key in params:
        return params[key]
    for value in params.values():
        found = _find(value, key)
        if found is not None:
            return found
    return None


def _name(ckpt: Checkpoint) -> str:
    return str(ckpt.path) if ckpt.path else "model"


def check_fits(checkpoint: Checkpoint, data: Dataset | np.ndarray, where: str = "data") -> None:
    """Raise :class:`CheckpointError` unless ``data`` has the checkpoint's T, N (and, for a
    dataset, its classes in the same order and the same interval length)."""
    X = data.X if isinstance(data, Dataset) else np.asarray(data)
    name = _name(checkpoint)
    t, n = checkpoint.n_intervals, checkpoint.n_bins
    if X.ndim != 4 or X.shape[1:] != (t, n, n):
        raise CheckpointError(
            f"{name}: the model expects stacks of T={t} intervals on a {n}x{n} grid, but {where} "
            f"has shape {tuple(X.shape[1:]) if X.ndim == 4 else X.shape}"
        )
    if isinstance(data, Dataset):
        if tuple(data.classes) != tuple(checkpoint.classes):
            raise CheckpointError(
                f"{name}: the model's classes {list(checkpoint.classes)} do not match "
                f"{where}'s classes {list(data.classes)}"
            )
        mine, theirs = _find(checkpoint.data_params, "interval_s"), _find(data.params, "interval_s")
        if mine is not None and theirs is not None and float(mine) != float(theirs):
            raise CheckpointError(
                f"{name}: the model was trained on {mine} s intervals, {where} uses {theirs} s"
            )


def predict_proba(
    checkpoint: Checkpoint, X: np.ndarray | Dataset, batch_size: int = 64
) -> np.ndarray:
    """Class probabilities (n, C) for stacks ``X`` (n, T, N, N) or one stack (T, N, N).

    The checkpoint's own scaler is applied first. Raises :class:`CheckpointError` if the
    shape does not fit and ``ValueError`` for non-finite values.
    """
    if isinstance(X, Dataset):
        check_fits(checkpoint, X)
        X = X.X
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3:
        X = X[None]
    check_fits(checkpoint, X)
    if not np.isfinite(X).all():
        raise ValueError("stacks hold NaN or infinite values")
    model = checkpoint.model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            x = torch.as_tensor(checkpoint.scaler.transform(X[start : start + batch_size]))
            out.append(torch.softmax(model(x), dim=1).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(checkpoint.classes)))
