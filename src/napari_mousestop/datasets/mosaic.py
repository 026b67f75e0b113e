"""A whole cohort at a glance: where each animal's stack sits in one mosaic, and what it shows.

A mosaic puts many ``(T, N, N)`` stacks side by side in one ``(T, H, W)`` array, so that one
image (one texture, one hour slider) shows every animal at once at identical contrast. Tiles are
arranged by class (one band per class, in :data:`~napari_mousestop.io.cohort.CLASSES` order: AM,
JM, AF, JF) and by cage (a cage's animals form a block, 2 x 2 for four mice; blocks in cage
order). Bands that share cages (the same cage recorded as juveniles and as adults) give each cage
the same columns, so an animal's juvenile and adult tiles sit one above the other.

Coordinates: one mosaic pixel is one histogram bin. Tile ``k`` covers bins
``[y0, y0 + N) x [x0, x0 + N)``; in world centimetres its floor's top-left corner is at
``origin_cm = (y0 * w_y, x0 * w_x)`` (``w``: the bin widths), so a position ``(y, x)`` on that
animal's floor is drawn at ``(origin_cm[0] + y, origin_cm[1] + x)``. Gaps between tiles hold
zeros. Nothing here imports napari: :mod:`napari_mousestop.gui.layers.mosaic` turns a mosaic
into layers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.io.light import IntervalClock, LightSchedule

TILE_GAP = 0.2
"""Gap between the tiles of a cage, as a fraction of the floor (room for each tile's label)."""
CAGE_GAP = 0.3
"""Extra gap between cages, as a fraction of the floor."""
BAND_GAP = 0.55
"""Gap above each class band, as a fraction of the floor (room for the cage names)."""
LEFT_MARGIN = 0.6
"""Room left of the mosaic for the class names, as a fraction of the floor."""
TOP_MARGIN = 0.5
"""Extra room above the first band (where napari writes the hour), as a fraction of the floor."""


def natural_key(text: str) -> tuple:
    """Sort key that puts ``cage2`` before ``cage10``."""
    return tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in re.split(r"(\d+)", str(text))
    )


@dataclass(frozen=True)
class Tile:
    """One animal-recording in the mosaic.

    Attributes
    ----------
    index
        Position of its stack in the inputs (dataset sample or recording animal).
    cage, animal, label, recording
        Cage id, animal (RFID or name), class (None if unknown) and recording file.
    y0, x0
        Top-left bin of the tile in the mosaic array.
    origin_cm
        World position ``(y, x)`` in cm of the tile's floor origin (its top-left corner).
    text
        Short label drawn above the tile.
    """

    index: int
    cage: str
    animal: str
    label: str | None
    recording: str
    y0: int
    x0: int
    origin_cm: tuple[float, float]
    text: str

    @property
    def name(self) -> str:
        """``"cage/animal (class)"``: how the animal is named everywhere else."""
        name = f"{self.cage}/{self.animal}"
        return f"{name} ({self.label})" if self.label else name


@dataclass(frozen=True)
class Caption:
    """A class band's name (left of the band) or a cage's name (above its block).

    ``position`` is the world ``(y, x)`` in cm of the caption's lower-left corner.
    """

    text: str
    kind: str
    position: tuple[float, float]


@dataclass(frozen=True)
class Mosaic:
    """Where each stack sits in one mosaic array (see the module docstring)."""

    tiles: tuple[Tile, ...]
    shape: tuple[int, int]
    n_bins: int
    floor_cm: tuple[float, float] = (50.0, 50.0)
    captions: tuple[Caption, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.tiles)

    @property
    def bin_cm(self) -> tuple[float, float]:
        """Bin size ``(w_y, w_x)`` in cm."""
        return self.floor_cm[1] / self.n_bins, self.floor_cm[0] / self.n_bins

    @property
    def gap_cm(self) -> float:
        """The gap between tiles of a cage, in cm (along y)."""
        return max(1, round(TILE_GAP * self.n_bins)) * self.bin_cm[0]

    def assemble(self, stacks: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """The mosaic array ``(T, H, W)`` (float32, zeros between tiles).

        Parameters
        ----------
        stacks
            ``(n, T, N, N)`` (or a sequence of ``(T, N, N)``), indexed by :attr:`Tile.index`.

        Raises
        ------
        ValueError
            If a stack's shape is not ``(T, N, N)`` with the mosaic's N.
        """
        n = self.n_bins
        n_t = np.shape(stacks[self.tiles[0].index])[0] if self.tiles else 1
        out = np.zeros((n_t, *self.shape), dtype=np.float32)
        for tile in self.tiles:
            stack = np.asarray(stacks[tile.index], dtype=np.float32)
            if stack.shape != (n_t, n, n):
                raise ValueError(
                    f"stack of {tile.name} has shape {stack.shape}, expected {(n_t, n, n)}"
                )
            out[:, tile.y0 : tile.y0 + n, tile.x0 : tile.x0 + n] = stack
        return out

    def tile_stack(self, mosaic: np.ndarray, tile: Tile) -> np.ndarray:
        """The ``(T, N, N)`` stack of ``tile`` inside an assembled mosaic (a view, no copy)."""
        n = self.n_bins
        return mosaic[..., tile.y0 : tile.y0 + n, tile.x0 : tile.x0 + n]

    def totals(self, mosaic: np.ndarray) -> np.ndarray:
        """Per tile, the sum of its stack in each interval: ``(n_tiles, T)``."""
        return np.stack([self.tile_stack(mosaic, t).sum(axis=(-2, -1)) for t in self.tiles])

    def tile_at(self, row: float, col: float) -> tuple[int, int, int] | None:
        """The tile holding mosaic bin ``(row, col)`` and the bin inside it.

        Returns
        -------
        tuple or None
            ``(tile number in tiles, i, j)`` (bin row and column in that animal's grid), or
            None between tiles and outside the mosaic.
        """
        i, j = int(math.floor(row + 0.5)), int(math.floor(col + 0.5))
        n = self.n_bins
        for k, tile in enumerate(self.tiles):
            if tile.y0 <= i < tile.y0 + n and tile.x0 <= j < tile.x0 + n:
                return k, i - tile.y0, j - tile.x0
        return None

    def to_dict(self) -> dict:
        """JSON-friendly form (kept in napari layer metadata)."""
        return {
            "shape": list(self.shape),
            "n_bins": self.n_bins,
            "floor_cm": list(self.floor_cm),
            "tiles": [{**asdict(t), "origin_cm": list(t.origin_cm)} for t in self.tiles],
            "captions": [{**asdict(c), "position": list(c.position)} for c in self.captions],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Mosaic:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tiles=tuple(Tile(**{**t, "origin_cm": tuple(t["origin_cm"])}) for t in d["tiles"]),
            shape=(int(d["shape"][0]), int(d["shape"][1])),
            n_bins=int(d["n_bins"]),
            floor_cm=(float(d["floor_cm"][0]), float(d["floor_cm"][1])),
            captions=tuple(
                Caption(**{**c, "position": tuple(c["position"])}) for c in d.get("captions", [])
            ),
        )


def short_names(names: Sequence[str], min_chars: int = 4) -> list[str]:
    """The shortest endings (at least ``min_chars`` long) that still tell ``names`` apart.

    Long RFIDs (``000012345678``: 8 letters and digits or more, 6 digits at least) become their
    last characters (``5678``) where that is unique; any other name (``individual_0``, ``m1``)
    is kept whole.
    """
    names = [str(n) for n in names]
    unique = set(names)
    rfids = {
        n for n in unique if len(n) >= 8 and n.isalnum() and sum(c.isdigit() for c in n) >= 6
    }
    for k in range(min_chars, max((len(n) for n in names), default=0) + 1):
        cut = {n: n[-k:] if n in rfids else n for n in unique}
        if len(set(cut.values())) == len(unique):
            return [cut[n] for n in names]
    return names


def _block_shape(k: int) -> tuple[int, int]:
    """Rows and columns of a cage block of ``k`` animals (4 animals: 2 x 2)."""
    cols = max(1, math.ceil(math.sqrt(k)))
    return math.ceil(k / cols), cols


def _stem(recording: str) -> str:
    return Path(str(recording).replace("\\", "/")).stem


def arrange_mosaic(
    cages: Sequence[str],
    animals: Sequence[str],
    labels: Sequence[str | None] | None = None,
    recordings: Sequence[str] | None = None,
    n_bins: int = 30,
    floor_cm: tuple[float, float] = (50.0, 50.0),
    classes: Sequence[str] = CLASSES,
    by_class: bool = True,
) -> Mosaic:
    """Arrange animal-recordings in a mosaic: class bands, cage blocks, labelled tiles.

    Parameters
    ----------
    cages, animals
        Cage id and animal (RFID or name) of each stack.
    labels
        Class of each stack (None, or a name outside ``classes``: a band ``"?"`` last).
    recordings
        Recording of each stack (added to a tile's text when a cage has several recordings in
        one band).
    n_bins
        Histogram grid size N (a tile is N x N bins).
    floor_cm
        Floor size (width, height) in cm.
    classes
        Band order.
    by_class
        False: a single band, whatever the classes (one recording's animals side by side; each
        tile's text then names the class).

    Returns
    -------
    Mosaic
        Tiles in band, cage, recording and animal order.
    """
    n = len(animals)
    if len(cages) != n:
        raise ValueError(f"{len(cages)} cages for {n} animals")
    labels = list(labels) if labels is not None else [None] * n
    recordings = [str(r) for r in recordings] if recordings is not None else [""] * n
    if len(labels) != n or len(recordings) != n:
        raise ValueError("cages, animals, labels and recordings must have the same length")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be positive, got {n_bins}")
    n_bins = int(n_bins)
    labels = [None if x is None or str(x) in ("", "nan", "None") else str(x) for x in labels]
    cages = [str(c) for c in cages]
    animals = [str(a) for a in animals]
    band_of = [(x if x in classes else "?") if by_class else "" for x in labels]
    bands = [c for c in classes if c in band_of] + (["?"] if "?" in band_of else [])
    if not by_class:
        bands = [""] if n else []

    members: dict[tuple[str, str], list[int]] = {}
    for i in range(n):
        members.setdefault((band_of[i], cages[i]), []).append(i)
    for idx in members.values():
        idx.sort(key=lambda i: (natural_key(recordings[i]), natural_key(animals[i])))

    # bands that share a cage share its columns: union-find over bands
    parent = {b: b for b in bands}

    def root(b: str) -> str:
        while parent[b] != b:
            b = parent[b]
        return b

    first_band: dict[str, str] = {}
    for band, cage in members:
        if cage in first_band:
            parent[root(band)] = root(first_band[cage])
        else:
            first_band[cage] = band
    group_cages: dict[str, list[str]] = {}
    for band, cage in members:
        group = group_cages.setdefault(root(band), [])
        if cage not in group:
            group.append(cage)
    block = {
        cage: _block_shape(max(len(idx) for (_, c), idx in members.items() if c == cage))
        for cage in first_band
    }

    gap = max(1, round(TILE_GAP * n_bins))
    cage_gap = gap + max(1, round(CAGE_GAP * n_bins))
    band_gap = max(1, round(BAND_GAP * n_bins))
    left = max(1, round(LEFT_MARGIN * n_bins)) if by_class else 0
    pitch = n_bins + gap
    w_y, w_x = floor_cm[1] / n_bins, floor_cm[0] / n_bins
    short = dict(zip(animals, short_names(animals), strict=True))

    tiles: list[Tile] = []
    captions: list[Caption] = []
    y, width = max(0, round(TOP_MARGIN * n_bins)), left
    for band in bands:
        cage_order = sorted(group_cages[root(band)], key=natural_key)
        top = y + band_gap
        x = left
        for cage in cage_order:
            rows_b, cols_b = block[cage]
            idx = members.get((band, cage), [])
            if idx:
                captions.append(Caption(cage, "cage", ((top - 1.25 * gap) * w_y, x * w_x)))
            several = len({recordings[i] for i in idx}) > 1
            for k, i in enumerate(idx):
                r, c = divmod(k, cols_b)
                y0, x0 = top + r * pitch, x + c * pitch
                text = short[animals[i]]
                if not by_class and labels[i]:
                    text += f" ({labels[i]})"
                if several:
                    text += f" [{_stem(recordings[i])}]"
                tiles.append(
                    Tile(i, cages[i], animals[i], labels[i], recordings[i], y0, x0,
                         (y0 * w_y, x0 * w_x), text)
                )  # fmt: skip
            x += cols_b * pitch - gap + cage_gap
        width = max(width, x - cage_gap)
        height = max(block[c][0] for c in cage_order) * pitch - gap
        if by_class:
            captions.append(
                Caption(band, "class", ((top + 0.5 * height + 0.2 * n_bins) * w_y, 0.0))
            )
        y = top + height
    return Mosaic(tuple(tiles), (int(y), int(width)), n_bins, (floor_cm[0], floor_cm[1]),
                  tuple(captions))  # fmt: skip


def dataset_mosaic(dataset, by_class: bool = True) -> Mosaic:
    """:func:`arrange_mosaic` for a :class:`~napari_mousestop.datasets.dataset.Dataset`."""
    geometry = (dataset.params or {}).get("geometry") or {}
    floor = tuple(geometry.get("floor_cm", (50.0, 50.0)))
    return arrange_mosaic(
        dataset.cages,
        dataset.animals,
        dataset.class_names,
        dataset.recordings,
        n_bins=dataset.X.shape[-1],
        floor_cm=(float(floor[0]), float(floor[1])),
        classes=dataset.classes,
        by_class=by_class,
    )


def dataset_clocks(dataset, schedule: LightSchedule | None = None) -> list[IntervalClock | None]:
    """The clock of each sample's stack, from the recording origins stored in the dataset.

    A dataset built by ``mousestop dataset`` (or the Extract widget) records, per recording,
    the origin of its intervals (``params["recordings"][name]["info"]["origin"]``); samples
    whose recording has none (hand-made or older datasets) get None. Clock times are read in the
    schedule's time zone, else the histogram's.
    """
    params = dataset.params or {}
    hist = params.get("histogram") or {}
    interval_s = float(hist.get("interval_s", 3600.0))
    zone = schedule.timezone if schedule is not None else str(hist.get("timezone", "UTC"))
    recordings = params.get("recordings") or {}
    clocks: dict[str, IntervalClock | None] = {}
    for rec in set(map(str, dataset.recordings)):
        info = (recordings.get(rec) or {}).get("info") or {}
        try:
            origin = pd.Timestamp(info.get("origin"))
        except (TypeError, ValueError):
            origin = pd.NaT
        clocks[rec] = None if pd.isna(origin) else IntervalClock(origin, interval_s, zone, schedule)
    return [clocks[str(r)] for r in dataset.recordings]


def describe_bin(
    tile: Tile,
    t: int,
    interval_h: float,
    i: int,
    j: int,
    value: float,
    total: float,
    bin_cm: tuple[float, float],
    clock: IntervalClock | None = None,
    units: str = "stops",
) -> str:
    """The hover text of a bin: who, when, where and how many.

    ``"cage01/000012345678 (AM), cage01_adult.sqlite · hour 5, day 1, 23:00–24:00, dark ·
    bin (y 12.5, x 30.8 cm): 2 stops · 37 stops in this hour"``.
    """
    who = tile.name + (f", {_stem(tile.recording)}" if tile.recording else "")
    when = f"hour {t * interval_h:g}" + (f", {clock.text(t)}" if clock is not None else "")
    y, x = (i + 0.5) * bin_cm[0], (j + 0.5) * bin_cm[1]
    span = "hour" if interval_h == 1 else "interval"
    return (
        f"{who} · {when} · bin (y {y:.1f}, x {x:.1f} cm): {value:g} {units}"
        f" · {total:g} {units} in this {span}"
    )


def stop_units(weight: str = "count", interval_h: float = 1.0) -> tuple[str, str]:
    """What a bin holds: ``("stops", "stops per bin per hour")`` for counts, seconds for
    ``weight="duration"``."""
    per = "per hour" if interval_h == 1 else f"per {interval_h:g} h"
    if weight == "duration":
        return "s stopped", f"seconds stopped per bin {per}"
    return "stops", f"stops per bin {per}"
