"""npe2 reader: LMT ``.sqlite`` recordings, dataset ``.npz`` files and explanation maps.

Explanation maps are the ``maps.nc`` file of ``mousestop explain`` (or the folder holding it);
folders of the earlier format (``maps.json`` and one ``.npz`` per map) still open, without
their class differences, which used an older definition.

``get_reader`` answers cheaply from the file's header (SQLite magic and LMT tables, the
dataset's arrays inside the zip, or the maps file's format attribute) and returns ``None`` for
anything else, so napari offers the file to other plugins. Reading never raises: a file that
turns out to be unusable (truncated, corrupt, no animals...) gives a napari notification naming
the file and the problem, and the reader returns ``None``.
"""

from __future__ import annotations

import math
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari_mousestop.errors import LayoutError
from napari_mousestop.gui.layers.images import maps_to_layers, photo_to_image
from napari_mousestop.gui.layers.recordings import (
    LayerDataTuple,
    dataset_to_layers,
    recording_to_layers,
)
from napari_mousestop.histograms import animal_key
from napari_mousestop.io.layout import CageLayout, load_layout

_LMT_TABLES = {"ANIMAL", "DETECTION", "FRAME"}
_DATASET_ARRAYS = {"X.npy", "labels.npy", "cages.npy", "recordings.npy", "animals.npy", "meta.npy"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MAX_SIDECAR_CSV = 20
LAYOUT_FILES = ("cage_layout.toml", "cage_layout.json")
"""Layout files looked for beside a recording (see :mod:`napari_mousestop.io.layout`)."""


def is_lmt_database(path: str | Path) -> bool:
    """Whether ``path`` is an SQLite file holding the LMT tables (read-only check, never raises)."""
    try:
        path = Path(path)
        if not path.is_file():
            return False
        with open(path, "rb") as fh:
            if fh.read(16) != _SQLITE_MAGIC:
                return False
        uri = path.resolve().as_uri() + "?mode=ro"
        con = sqlite3.connect(uri, uri=True)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        finally:
            con.close()
        return _LMT_TABLES <= {str(r[0]).upper() for r in rows}
    except Exception:  # corrupt header pages, permissions, odd paths: not ours to read
        return False


def is_dataset_file(path: str | Path) -> bool:
    """Whether ``path`` is a zip (``.npz``) holding a napari-mousestop dataset's arrays."""
    try:
        with zipfile.ZipFile(path) as zf:
            return _DATASET_ARRAYS <= set(zf.namelist())
    except Exception:
        return False


def _notify(message: str) -> None:
    from napari.utils.notifications import show_error

    show_error(message)


def _sidecar_cohort(db: Path) -> Any:
    """The rows of a cohort CSV beside ``db`` that list it (None if there is none)."""
    from napari_mousestop.io.cohort import read_cohort

    try:
        csvs = sorted(db.parent.glob("*.csv"))[:_MAX_SIDECAR_CSV]
    except OSError:
        return None
    target = db.resolve()
    for csv in csvs:
        try:
            cohort = read_cohort(csv)
        except Exception:  # not a cohort CSV
            continue
        rows = cohort[[Path(d) == target for d in cohort["database"]]]
        if len(rows):
            return rows
    return None


def recording_names(db: str | Path, animals: list[dict]) -> tuple[str, dict[str, str | None]]:
    """Cage id and class per animal for layer names.

    A cohort CSV in the database's folder that lists the database gives the cage and the
    sex/age; otherwise the cage is the file name and the class comes from the ANIMAL table's
    SEX and AGE (unknown when missing or not understood).
    """
    from napari_mousestop.io.cohort import class_label

    db = Path(db)
    rows = _sidecar_cohort(db)
    cage = db.stem
    by_animal: dict[str, Any] = {}
    if rows is not None:
        cage = str(rows["cage"].iloc[0])
        by_animal = {str(r.animal): r for r in rows.itertuples()}
    labels: dict[str, str | None] = {}
    for animal in animals:
        row = by_animal.get(str(animal.get("rfid"))) or by_animal.get(str(animal.get("name")))
        sex = (row.sex if row is not None and row.sex else None) or animal.get("sex")
        age = (row.age if row is not None and row.age else None) or animal.get("age")
        try:
            labels[animal_key(animal)] = class_label(sex, age)
        except ValueError:
            labels[animal_key(animal)] = None
    return cage, labels


def read_recording(path: str | Path, hist_params: Any = None) -> list[LayerDataTuple]:
    """Layers of one LMT recording (raises on unusable files; the reader wraps this).

    Per animal: the stack as an Image layer ``"cage/animal (class)"`` and the stops as a Points
    layer ``"cage/animal (class) stops"``, plus the cage layout as Shapes (from a
    ``cage_layout.toml`` beside the recording, else the default) and, when that layout names a
    photo, the photo aligned on the floor (bottom layer ``"cage photo"``).

    Parameters
    ----------
    path
        LMT ``.sqlite`` database (opened read-only).
    hist_params
        :class:`~napari_mousestop.histograms.HistogramParams` (default: 1 h intervals covering
        the recording, at most the paper's 72; 30 x 30 bins).
    """
    from napari_mousestop.histograms import HistogramParams, recording_stacks
    from napari_mousestop.io.lmt import read_recording_info

    if hist_params is None:
        hours = read_recording_info(path).duration_s / 3600
        hist_params = HistogramParams(n_intervals=int(min(72, max(1, math.ceil(hours)))))
    rs = recording_stacks(path, hist_params)
    if not rs.animals:
        raise ValueError(f"{path}: no animals in the ANIMAL table")
    cage, labels = recording_names(path, rs.animals)
    layout = recording_layout(path)
    layers = recording_to_layers(rs, cage=cage, labels=labels, layout=layout)
    if layout is not None and layout.photo is not None:
        try:
            from skimage.io import imread

            photo = imread(layout.photo.path)
            layers.insert(
                0, photo_to_image(photo, layout.photo.corners_px, floor_cm=layout.floor_cm)
            )
        except Exception as exc:  # a missing or unreadable photo must not lose the recording
            _notify(f"{layout.photo.path}: cage photo not shown ({exc})")
    return layers


def recording_layout(path: str | Path) -> CageLayout | None:
    """The layout file (``cage_layout.toml`` or ``.json``) beside a recording, if any.

    A layout file that cannot be used gives a notification and the default layout.
    """
    for name in LAYOUT_FILES:
        candidate = Path(path).parent / name
        if candidate.is_file():
            try:
                return load_layout(candidate)
            except LayoutError as exc:
                _notify(f"{exc}; using the default cage layout")
                return None
    return None


def read_dataset_layers(path: str | Path) -> list[LayerDataTuple]:
    """Layers of a dataset file: one Image layer per animal-recording (``dataset_to_layers``)."""
    from napari_mousestop.datasets.dataset import load_dataset

    return dataset_to_layers(load_dataset(path))


def is_maps_path(path: str | Path) -> bool:
    """Whether ``path`` is a maps file of ``mousestop explain`` or a folder holding maps."""
    from napari_mousestop.explain.files import MAPS_FILE, is_maps_file

    try:
        path = Path(path)
        if path.is_dir():
            return is_maps_file(path / MAPS_FILE) or (path / "maps.json").is_file()
        return path.suffix.lower() == ".nc" and is_maps_file(path)
    except OSError:
        return False


def read_maps(path: str | Path) -> list[LayerDataTuple]:
    """Layers of a maps file or folder, aligned in cm (:func:`.layers.images.maps_to_layers`).

    The primary map's class panels and differences are shown, the others hidden. An older maps
    folder opens without its class differences (a notification says why).
    """
    from napari_mousestop.explain.files import MAPS_FILE, load_maps, open_maps

    path = Path(path)
    maps = load_maps(path)
    if any(m.meta.get("legacy_format") for m in maps.values()):
        old = [n for n, m in maps.items() if m.kind in ("difference", "pvalue", "mask")]
        maps = {n: m for n, m in maps.items() if n not in old}
        if old:
            _notify(
                f"{path}: maps of an earlier version; its {len(old)} class-difference maps "
                "used an older definition and are not shown: run `mousestop explain` again"
            )
        return maps_to_layers(maps, visible=None)
    nc = path / MAPS_FILE if path.is_dir() else path
    primary = open_maps(nc).attrs.get("primary_map")
    return maps_to_layers(maps, visible=primary if primary in maps else None)


def _safe(read: Callable[[Path], list[LayerDataTuple]]) -> Callable[[Any], list | None]:
    def reader(path: Any) -> list[LayerDataTuple] | None:
        paths = [path] if isinstance(path, str | Path) else list(path)
        layers: list[LayerDataTuple] = []
        for p in paths:
            try:
                layers += read(Path(p))
            except Exception as exc:  # the reader contract: notify, never raise
                text = str(exc)
                _notify(text if str(p) in text else f"{p}: {text}")
        return layers or None

    return reader


def get_reader(path: str | list[str]) -> Callable[[Any], list | None] | None:
    """npe2 reader hook: a reader function for LMT databases, dataset files or maps (file or
    folder), else ``None``.

    A list of paths is accepted when every path is of the same readable kind.
    """
    try:
        paths = [path] if isinstance(path, str | Path) else [str(p) for p in path]
    except TypeError:
        return None
    if not paths:
        return None
    suffixes = {Path(p).suffix.lower() for p in paths}
    if suffixes == {".sqlite"} and all(is_lmt_database(p) for p in paths):
        return _safe(read_recording)
    if suffixes == {".npz"} and all(is_dataset_file(p) for p in paths):
        return _safe(read_dataset_layers)
    if all(is_maps_path(p) for p in paths):
        return _safe(read_maps)
    return None
