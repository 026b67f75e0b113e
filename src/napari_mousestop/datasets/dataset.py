"""The dataset container: stacks of hourly stop histograms with labels and provenance.

A dataset is saved as one ``.npz`` file (numpy's zip of arrays): a single self-describing file,
no extra dependency, cheap to copy to a cluster, and small at the paper's size
(96 x 72 x 30 x 30 float32 = 25 MB). The parameters and source identities travel inside as a
JSON document, so loading gives back exactly what was saved.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_mousestop import __version__
from napari_mousestop.errors import DatasetError
from napari_mousestop.io.atomic import atomic_path
from napari_mousestop.io.cohort import CLASSES

_FORMAT = "napari-mousestop-dataset/1"


@dataclass
class Dataset:
    """Stacks of stop histograms, one per animal-recording, with labels and provenance.

    Attributes
    ----------
    X
        float32 array (n, T, N, N): T intervals of an N x N grid over the cage floor.
    labels
        int64 array (n,): index into ``classes``.
    cages, recordings, animals
        str arrays (n,): cage id, recording (database file name) and animal (RFID or name).
    params
        Every parameter that made the stacks (stop thresholds, T, N, interval, geometry...).
    sources
        One dict per source file: ``name``, ``size``, ``fingerprint``.
    classes
        Class names, in label order.
    factors
        The cohort columns the classes were made from, in order (``{"sex": ..., "age": ...}``
        for the paper's AM/JM/AF/JF; ``{"genotype": ...}`` for a KO/WT study): each a str
        array (n,) with the sample's value. The study design (:mod:`napari_mousestop.design`)
        finds from them at which level each factor varies. Datasets saved without them get
        them from the class names by :func:`factors_from_classes` (recorded in
        ``params["factors_from"]``).
    covariates
        Every other cohort column, kept as a str array (n,) per column (never used as a class,
        never dropped).
    """

    X: np.ndarray
    labels: np.ndarray
    cages: np.ndarray
    recordings: np.ndarray
    animals: np.ndarray
    params: dict = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    classes: tuple[str, ...] = CLASSES
    factors: dict[str, np.ndarray] | None = None
    covariates: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.cages = np.asarray(self.cages, dtype=str)
        self.recordings = np.asarray(self.recordings, dtype=str)
        self.animals = np.asarray(self.animals, dtype=str)
        self.classes = tuple(self.classes)
        if self.factors is None:
            fits = self.labels.ndim == 1 and (
                not self.labels.size
                or (self.labels.min() >= 0 and self.labels.max() < len(self.classes))
            )
            # Labels that do not fit are refused by validate() below, naming the problem.
            self.factors = factors_from_classes(self.classes, self.labels) if fits else {}
            self.params = {**self.params, "factors_from": "class names"}
        self.factors = {str(k): np.asarray(v, dtype=str) for k, v in self.factors.items()}
        self.covariates = {str(k): np.asarray(v, dtype=str) for k, v in self.covariates.items()}
        self.validate()

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def class_names(self) -> np.ndarray:
        """Class name of each sample."""
        return np.asarray(self.classes)[self.labels]

    def validate(self, where: str = "dataset") -> None:
        """Raise :class:`DatasetError` if shapes, labels or values do not fit together."""
        if self.X.ndim != 4 or self.X.shape[2] != self.X.shape[3]:
            raise DatasetError(f"{where}: X must be (n, T, N, N), got shape {self.X.shape}")
        n = self.X.shape[0]
        for name in ("labels", "cages", "recordings", "animals"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise DatasetError(f"{where}: {name} has shape {arr.shape}, expected ({n},)")
        for kind, table in (("factor", self.factors), ("covariate", self.covariates)):
            for name, arr in table.items():
                if arr.shape != (n,):
                    raise DatasetError(
                        f"{where}: {kind} {name!r} has shape {arr.shape}, expected ({n},)"
                    )
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise DatasetError(f"{where}: labels must lie in 0..{len(self.classes) - 1}")
        if not self.factors:
            raise DatasetError(f"{where}: no factor: the classes must come from a column")
        if not np.isfinite(self.X).all():
            bad = sorted(set(self.animals[~np.isfinite(self.X).all(axis=(1, 2, 3))]))
            raise DatasetError(f"{where}: X holds NaN or infinite values (animals {bad})")

    def subset(self, index: np.ndarray) -> Dataset:
        """A new dataset holding the samples at ``index`` (boolean mask or integer indices)."""
        return Dataset(
            X=self.X[index],
            labels=self.labels[index],
            cages=self.cages[index],
            recordings=self.recordings[index],
            animals=self.animals[index],
            params=dict(self.params),
            sources=list(self.sources),
            classes=self.classes,
            factors={k: v[index] for k, v in self.factors.items()},
            covariates={k: v[index] for k, v in self.covariates.items()},
        )


def factors_from_classes(classes: tuple[str, ...], labels: np.ndarray) -> dict[str, np.ndarray]:
    """Factors of a dataset saved without them, from its class names.

    Class names of the paper's form (``AM, JM, AF, JF``, or any subset) give ``sex`` (M/F) and
    ``age`` (A/J); any other names give one factor, ``class``, whose values are the names.
    """
    names = np.asarray(classes, dtype=str)[np.asarray(labels, dtype=np.int64)]
    paper = bool(classes) and all(len(c) == 2 and c[0] in "AJ" and c[1] in "MF" for c in classes)
    if paper:
        return {
            "sex": np.array([c[1] for c in names], dtype=str),
            "age": np.array([c[0] for c in names], dtype=str),
        }
    return {"class": names}


def save_dataset(dataset: Dataset, path: str | os.PathLike) -> Path:
    """Write ``dataset`` to ``path`` (``.npz``) atomically and return the path.

    Parameters
    ----------
    dataset
        The dataset to save.
    path
        Destination; ``.npz`` is appended if missing.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    meta = {
        "format": _FORMAT,
        "package_version": __version__,
        "classes": list(dataset.classes),
        "params": dataset.params,
        "sources": dataset.sources,
        "factors": list(dataset.factors),
        "covariates": list(dataset.covariates),
    }
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                X=dataset.X,
                labels=dataset.labels,
                cages=dataset.cages,
                recordings=dataset.recordings,
                animals=dataset.animals,
                meta=np.array(json.dumps(meta)),
                **{f"factor__{k}": v for k, v in dataset.factors.items()},
                **{f"covariate__{k}": v for k, v in dataset.covariates.items()},
            )
    return path


def dataset_classes(path: str | os.PathLike) -> tuple[str, ...]:
    """The class names of a dataset file, reading only its metadata (fast: for forms).

    Raises
    ------
    DatasetError
        If the file is not a dataset.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            return tuple(str(c) for c in json.loads(str(npz["meta"]))["classes"])
    except Exception as exc:  # missing file, not a zip, no meta, not JSON...
        raise DatasetError(f"{path}: not a napari-mousestop dataset ({exc})") from None


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Read a dataset written by :func:`save_dataset`.

    Raises
    ------
    DatasetError
        If the file is missing, not a dataset, or its arrays do not fit together.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path}: not a napari-mousestop dataset (not an .npz file)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError...
        raise DatasetError(f"{path}: not a napari-mousestop dataset ({exc})") from None
    missing = {"X", "labels", "cages", "recordings", "animals", "meta"} - set(arrays)
    if missing:
        raise DatasetError(f"{path}: not a napari-mousestop dataset (missing {sorted(missing)})")
    try:
        meta = json.loads(str(arrays["meta"]))
        if not isinstance(meta, dict):
            raise ValueError("meta is not a JSON object")
    except ValueError as exc:
        raise DatasetError(f"{path}: unreadable dataset metadata ({exc})") from None
    if meta.get("format") != _FORMAT:
        raise DatasetError(f"{path}: unknown dataset format {meta.get('format')!r}")
    try:
        return Dataset(
            X=arrays["X"],
            labels=arrays["labels"],
            cages=arrays["cages"],
            recordings=arrays["recordings"],
            animals=arrays["animals"],
            params=meta["params"],
            sources=meta["sources"],
            classes=tuple(meta["classes"]),
            factors=(
                {k: arrays[f"factor__{k}"] for k in meta["factors"]} if "factors" in meta else None
            ),
            covariates={k: arrays[f"covariate__{k}"] for k in meta.get("covariates", [])},
        )
    except KeyError as exc:
        raise DatasetError(f"{path}: dataset metadata lacks {exc}") from None
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from None
