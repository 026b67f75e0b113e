"""npe2 reader: LMT ``.sqlite`` recordings, other trackers' files, dataset ``.npz`` files and
explanation maps.

Other trackers' files (DeepLabCut ``.h5``/``.csv``, SLEAP ``.h5``/``.slp``, NWB, VIA-tracks
``.csv``, recognised by their content) open like LMT recordings when napari can tell how to
read them: a cohort CSV beside the file that lists it (source software, fps, calibration, start
time), or a ``cage_layout.toml`` beside it whose ``[video]`` section calibrates the video (and
gives its fps).

Explanation maps are the ``maps.nc`` file of ``mousestop explain`` (or the folder holding it):
one map at a time, its class panels side by side and its differences beside them
(:mod:`napari_mousestop.gui.layers.maps`), with the Maps dock to switch map and branch; folders
of the earlier format (``maps.json`` and one ``.npz`` per map) still open, without their class
differences, which used an older definition.

``get_reader`` answers cheaply from the file's header (the dataset's arrays inside the zip, the
maps file's format attribute, a tracker's file's first bytes) and returns ``None`` for anything
else, so napari offers the file to other plugins. Every ``.sqlite`` file is claimed: one that is
not an LMT database (not SQLite at all, or without the LMT tables) gets a notification saying
so in one line, instead of napari's generic "refused the file". Reading never raises: a file that
turns out to be unusable (truncated, corrupt, no animals...) gives a napari notification naming
the file and the problem, and the reader returns ``None``.

A recording opens as its animals side by side, a dataset as the whole cohort at once
(:mod:`napari_mousestop.gui.layers.mosaic`); several files open one mosaic below the other.
When a napari window is open, reading a recording or a dataset also docks the Explore widget
(:mod:`napari_mousestop.gui.widgets.explore`: clock time, hover details, stops per hour).
"""

from __future__ import annotations

import sqlite3
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from napari_mousestop.datasets.mosaic import Mosaic
from napari_mousestop.errors import LayoutError, TrackerError
from napari_mousestop.gui.layers.images import maps_to_layers, photo_to_image
from napari_mousestop.gui.layers.mosaic import (
    MOSAIC_KEY,
    dataset_to_layers,
    mosaic_height_cm,
    recording_to_layers,
)
from napari_mousestop.gui.layers.recordings import LayerDataTuple
from napari_mousestop.io.layout import CageLayout, load_layout
from napari_mousestop.io.trackers import sniff_source_software

_LMT_TABLES = {"ANIMAL", "DETECTION", "FRAME"}
_DATASET_ARRAYS = {"X.npy", "labels.npy", "cages.npy", "recordings.npy", "animals.npy", "meta.npy"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MAX_SIDECAR_CSV = 20
TRACKER_SUFFIXES = {".h5", ".csv", ".slp", ".nwb"}
LAYOUT_FILES = ("cage_layout.toml", "cage_layout.json")
"""Layout files looked for beside a recording or dataset (:mod:`napari_mousestop.io.layout`)."""
PLUGIN = "napari-mousestop"
EXPLORER = "Explore"
"""Display name of the explorer dock widget in the manifest."""
MAPS_DOCK = "Maps"
"""Display name of the dock widget that switches the map of a maps file."""
MOSAIC_SPACING = 0.1
"""Vertical space between mosaics of several files, as a fraction of a mosaic's height."""


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


def recording_names(
    db: str | Path,
    animals: list[dict],
    columns: Any = None,
    threshold_days: float | None = None,
) -> tuple[str, dict[str, str | None], dict[str, dict[str, str]]]:
    """Cage id, class and class-column values per animal, for layer names and datasets.

    A cohort CSV in the database's folder that lists the database gives the cage and the
    class columns' values (default sex and age, ``threshold_days`` the age threshold);
    otherwise the cage is the file name and the values come from the ANIMAL table (unknown
    when missing or not understood). The labelling is the core's
    :func:`~napari_mousestop.io.cohort.recording_labels`, as for the CLI and the batch.
    """
    from napari_mousestop.io.cohort import AGE_THRESHOLD_DAYS, recording_labels

    if threshold_days is None:
        threshold_days = AGE_THRESHOLD_DAYS
    db = Path(db)
    return recording_labels(db, animals, _sidecar_cohort(db), columns, threshold_days)


def read_recording(
    path: str | Path, hist_params: Any = None, origin: tuple[float, float] = (0.0, 0.0)
) -> list[LayerDataTuple]:
    """Layers of one LMT recording (raises on unusable files; the reader wraps this).

    The animals side by side (:func:`~napari_mousestop.gui.layers.mosaic.recording_to_layers`:
    ``"<cage>"`` stacks, ``"<cage> stops"``, layout in each tile, labels), with the cage layout
    from a ``cage_layout.toml`` beside the recording (else the default) and, when that layout
    names a photo, the photo aligned on each tile's floor (bottom layers ``"cage photo"``).

    Parameters
    ----------
    path
        LMT ``.sqlite`` database (opened read-only).
    hist_params
        :class:`~napari_mousestop.histograms.HistogramParams` (default: as many 1 h intervals
        as the recording covers, the last one partly recorded; 30 x 30 bins).
    origin
        World position ``(y, x)`` in cm of the mosaic.
    """
    from napari_mousestop.histograms import HistogramParams, recording_stacks

    rs = recording_stacks(path, hist_params or HistogramParams(n_intervals=None))
    if not rs.animals:
        raise ValueError(f"{path}: no animals in the ANIMAL table")
    cage, labels, _ = recording_names(path, rs.animals)
    layout = recording_layout(path)
    layers = recording_to_layers(rs, cage=cage, labels=labels, layout=layout, origin=origin)
    if layout is not None and layout.photo is not None:
        _add_image(layers, layout.photo.path, layout.photo.corners_px, layout, "cage photo", origin)
    return layers


def _add_image(
    layers: list,
    image: str,
    corners,
    layout: CageLayout,
    name: str,
    origin: tuple[float, float] = (0.0, 0.0),
) -> None:
    """Put an image of the cage, warped onto the floor, under each tile of the mosaic in
    ``layers`` (a notification if it cannot be read: a missing photo must not lose the
    recording)."""
    try:
        from skimage.io import imread

        data, kwargs, kind = photo_to_image(
            imread(image), corners, name=name, floor_cm=layout.floor_cm
        )
        mosaic = Mosaic.from_dict(layers[0][1]["metadata"][MOSAIC_KEY])
        for tile in mosaic.tiles:
            shift = (origin[0] + tile.origin_cm[0], origin[1] + tile.origin_cm[1])
            translate = tuple(t + s for t, s in zip(kwargs["translate"], shift, strict=True))
            layers.insert(0, (data, {**kwargs, "translate": translate}, kind))
    except Exception as exc:
        _notify(f"{image}: {name} not shown ({exc})")


def tracker_settings(path: str | Path) -> Any:
    """How napari reads another tracker's file, without asking: a
    :class:`~napari_mousestop.io.trackers.TrackerParams`.

    A cohort CSV beside the file that lists it gives the source software, fps, calibration
    and start time; otherwise the file's content gives the source software, and a
    ``cage_layout.toml`` (or ``.json``) beside it the calibration (its ``[video]`` section may
    give the fps too).

    Raises
    ------
    TrackerError
        No calibration found (the message says where to put one).
    """
    from napari_mousestop.io.cohort import cohort_trackers
    from napari_mousestop.io.trackers import TrackerParams

    path = Path(path)
    rows = _sidecar_cohort(path)
    beside = layout_file_beside(path)
    if rows is not None and rows["source_software"].iloc[0]:
        tracker = cohort_trackers(rows)[rows["database"].iloc[0]]
    else:
        tracker = TrackerParams(sniff_source_software(path) or "DeepLabCut")
    if tracker.calibration is None and beside is not None:
        tracker = replace(tracker, calibration=str(beside))
    if tracker.calibration is None:
        raise TrackerError(
            f"{path}: a {tracker.source_software} file opens in napari with a calibration: "
            "put a cage_layout.toml with a [video] section beside it (the Calibrate widget "
            "draws one on a video frame), or open it with the Extract widget"
        )
    return tracker


def read_tracker_recording(
    path: str | Path, hist_params: Any = None, origin: tuple[float, float] = (0.0, 0.0)
) -> list[LayerDataTuple]:
    """Layers of another tracker's recording, as for an LMT one (see :func:`read_recording`),
    over the calibration's layout and, when its ``[video]`` section names one, the video's
    frame warped onto the floor (bottom layer ``"video frame"``).

    Parameters
    ----------
    path
        A DeepLabCut, SLEAP... file (see :func:`tracker_settings` for how it is read).
    hist_params
        :class:`~napari_mousestop.histograms.HistogramParams` (default: as many 1 h intervals
        as the recording covers; 30 x 30 bins).
    origin
        World position ``(y, x)`` in cm of the mosaic.
    """
    from napari_mousestop.histograms import HistogramParams, bin_recording
    from napari_mousestop.io.geometry import CageGeometry
    from napari_mousestop.io.layout import load_calibration
    from napari_mousestop.stops import extract_stops

    tracker = tracker_settings(path)
    stops = extract_stops(path, tracker=tracker)
    hist_params = hist_params or HistogramParams(n_intervals=None)
    rs = bin_recording(stops, hist_params, CageGeometry.from_dict(stops.attrs["geometry"]))
    cage, labels, _ = recording_names(path, rs.animals)
    layout = load_calibration(tracker.calibration)
    layers = recording_to_layers(rs, cage=cage, labels=labels, layout=layout, origin=origin)
    if layout.video.frame is not None:
        _add_image(
            layers, layout.video.frame, layout.video.corners_px, layout, "video frame", origin
        )
    return layers


def recording_layout(path: str | Path) -> CageLayout | None:
    """The layout file (``cage_layout.toml`` or ``.json``) beside a recording, if any.

    A layout file that cannot be used gives a notification and the default layout.
    """
    candidate = layout_file_beside(path)
    if candidate is None:
        return None
    try:
        return load_layout(candidate)
    except LayoutError as exc:
        _notify(f"{exc}; using the default cage layout")
        return None


def layout_file_beside(path: str | Path) -> Path | None:
    """The first of :data:`LAYOUT_FILES` in ``path``'s folder, if any."""
    folder = Path(path).parent
    return next((folder / n for n in LAYOUT_FILES if (folder / n).is_file()), None)


def read_dataset_layers(
    path: str | Path, origin: tuple[float, float] = (0.0, 0.0)
) -> list[LayerDataTuple]:
    """Layers of a dataset file: every animal-recording at once, by class and cage
    (:func:`~napari_mousestop.gui.layers.mosaic.dataset_to_layers`), with the cage layout (and
    light schedule) of a ``cage_layout.toml`` beside the dataset, else the default."""
    from napari_mousestop.datasets.dataset import load_dataset

    return dataset_to_layers(
        load_dataset(path), name=Path(path).stem, layout=recording_layout(path), origin=origin
    )


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
    """Layers of a maps file or folder: one map's class panels side by side, its differences
    beside them (:func:`.layers.maps.maps_file_layers`), the primary map first.

    Only that map's variables are read; the Maps dock (docked when a window is open) switches
    map and branch. An older maps folder opens every map as it was (one layer each), without
    its class differences (a notification says why).
    """
    from napari_mousestop.explain.files import MAPS_FILE, is_maps_file, load_maps
    from napari_mousestop.gui.layers.maps import maps_file_layers

    path = Path(path)
    nc = path / MAPS_FILE if path.is_dir() else path
    if is_maps_file(nc):
        layers = maps_file_layers(nc, layout=recording_layout(nc))
        dock_widget(MAPS_DOCK)
        return layers
    maps = load_maps(path)
    old = [n for n, m in maps.items() if m.kind in ("difference", "pvalue", "mask")]
    maps = {n: m for n, m in maps.items() if n not in old}
    if old:
        _notify(
            f"{path}: maps of an earlier version; its {len(old)} class-difference maps "
            "used an older definition and are not shown: run `mousestop explain` again"
        )
    return maps_to_layers(maps, visible=None)


def dock_widget(name: str, viewer: Any = None) -> None:
    """Dock this plugin's widget ``name`` in ``viewer``'s window (default: the current one), once.

    Nothing happens without a window; a failure is a notification, never an exception.
    """
    try:
        import napari

        viewer = viewer if viewer is not None else napari.current_viewer()
        if viewer is not None and getattr(viewer, "window", None) is not None:
            viewer.window.add_plugin_dock_widget(PLUGIN, name)
    except Exception as exc:  # the layers matter more than the widget
        _notify(f"the {name} widget could not be docked ({exc})")


def dock_explorer(viewer: Any = None) -> None:
    """Dock the Explore widget in ``viewer``'s window (default: the current one), once."""
    dock_widget(EXPLORER, viewer)


EXPLAINED: list = [(None,)]
"""What a reader returns for files it claimed but could not read, after notifying the user why:
npe2's "read, no layers" sentinel, so napari adds nothing and does not stack its own generic
"tried to read ... but it gave an error" on top of our one-line reason."""


def _safe(read: Callable[..., list[LayerDataTuple]], mosaics: bool = False) -> Callable:
    def reader(path: Any) -> list[LayerDataTuple]:
        paths = [path] if isinstance(path, str | Path) else list(path)
        layers: list[LayerDataTuple] = []
        below = 0.0
        for p in paths:
            try:
                if mosaics:
                    new = read(Path(p), origin=(below, 0.0))
                    below += (1 + MOSAIC_SPACING) * mosaic_height_cm(new)
                    layers += new
                else:
                    layers += read(Path(p))
            except Exception as exc:  # the reader contract: notify, never raise
                text = str(exc)
                _notify(text if str(p) in text else f"{p}: {text}")
        if layers and mosaics:
            dock_explorer()
        return layers or EXPLAINED

    return reader


def get_reader(path: str | list[str]) -> Callable[[Any], list | None] | None:
    """npe2 reader hook: a reader function for LMT databases, other trackers' files, dataset
    files or maps (file or folder), else ``None``.

    A list of paths is accepted when every path is of the same readable kind.
    """
    try:
        paths = [path] if isinstance(path, str | Path) else [str(p) for p in path]
    except TypeError:
        return None
    if not paths:
        return None
    suffixes = {Path(p).suffix.lower() for p in paths}
    if suffixes == {".sqlite"} and all(Path(p).is_file() for p in paths):
        # every .sqlite file is ours to explain: one that is not an LMT database gets our
        # one-line reason (not a database, no LMT tables...), not napari's "refused the file"
        return _safe(read_recording, mosaics=True)
    if suffixes == {".npz"} and all(is_dataset_file(p) for p in paths):
        return _safe(read_dataset_layers, mosaics=True)
    if suffixes <= TRACKER_SUFFIXES and all(sniff_source_software(p) for p in paths):
        return _safe(read_tracker_recording, mosaics=True)
    if all(is_maps_path(p) for p in paths):
        return _safe(read_maps)
    return None
