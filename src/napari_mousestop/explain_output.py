"""Saving explanation maps with their geometry, reading them back, and drawing them over the cage.

Each map is one ``.npz`` (its array, plus p-values and mask for differences when present) and
``maps.json`` indexes them all with their axes, classes, kind, placement (scale and translate in
cm, (y, x) order) and parameters. Figures use matplotlib's Agg backend and ``imshow`` with an
``extent`` in cm computed from the same placement, so they line up with the cage layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._io import atomic_path, write_text_atomic
from .explain import ExplanationMap, HourProfile
from .geometry import Placement

_FORMAT = "napari-mousestop-maps/1"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def save_maps(
    maps: Sequence[ExplanationMap | HourProfile],
    out_dir: str | os.PathLike,
    extra: dict | None = None,
) -> Path:
    """Write each map as ``<name>.npz`` and an index ``maps.json``; all writes atomic.

    Parameters
    ----------
    maps
        Maps and hour profiles with unique names.
    out_dir
        Folder, created if needed.
    extra
        More provenance for ``maps.json`` (run folder, parameters...).

    Returns
    -------
    Path
        The index file ``maps.json``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [m.name for m in maps]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"map names must be unique; repeated: {dup}")
    index = []
    for m in maps:
        entry = {
            "name": m.name,
            "file": f"{m.name}.npz",
            "kind": m.kind,
            "axes": list(m.axes),
            "shape": list(m.data.shape),
            "classes": list(m.classes),
            "meta": _jsonable(m.meta),
        }
        if isinstance(m, ExplanationMap):
            entry["placement"] = {
                "scale": list(m.placement.scale),
                "translate": list(m.placement.translate),
                "units": "cm",
                "order": "y, x",
            }
        else:
            entry["interval_h"] = m.interval_h
        with atomic_path(out_dir / entry["file"], suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, data=m.data)
        index.append(entry)
    doc = {"format": _FORMAT, "maps": index, **_jsonable(extra or {})}
    path = out_dir / "maps.json"
    write_text_atomic(path, json.dumps(doc, indent=2) + "\n")
    return path


def load_maps(maps_dir: str | os.PathLike) -> dict[str, ExplanationMap | HourProfile]:
    """Read the maps written by :func:`save_maps`, by name.

    Raises
    ------
    ValueError
        If the folder holds no ``maps.json`` or a listed file is missing.
    """
    maps_dir = Path(maps_dir)
    index_path = maps_dir / "maps.json"
    if not index_path.is_file():
        raise ValueError(f"{maps_dir}: no maps.json (not a folder written by `mousestop explain`)")
    doc = json.loads(index_path.read_text(encoding="utf-8"))
    if doc.get("format") != _FORMAT:
        raise ValueError(f"{index_path}: unknown maps format {doc.get('format')!r}")
    out: dict[str, ExplanationMap | HourProfile] = {}
    for e in doc["maps"]:
        path = maps_dir / e["file"]
        if not path.is_file():
            raise ValueError(f"{path}: listed in maps.json but missing")
        with np.load(path, allow_pickle=False) as npz:
            data = npz["data"]
        common = dict(name=e["name"], data=data, classes=tuple(e["classes"]), kind=e["kind"])
        if "placement" in e:
            pl = e["placement"]
            out[e["name"]] = ExplanationMap(
                placement=Placement(tuple(pl["scale"]), tuple(pl["translate"])),
                axes=tuple(e["axes"]),
                meta=e["meta"],
                **common,
            )
        else:
            out[e["name"]] = HourProfile(
                axes=tuple(e["axes"]), interval_h=e["interval_h"], meta=e["meta"], **common
            )
    return out


def extent(placement: Placement, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """matplotlib ``imshow`` extent (left, right, bottom, top) in cm, y downwards."""
    sy, sx = placement.scale
    ty, tx = placement.translate
    h, w = shape
    return (tx - sx / 2, tx + sx * (w - 0.5), ty + sy * (h - 0.5), ty - sy / 2)


def _draw_layout(ax, layout) -> None:
    for shape in layout.shapes:
        pts = shape.outline()
        closed = shape.kind not in ("path", "line")
        if closed:
            pts = np.vstack([pts, pts[:1]])
        ax.plot(pts[:, 1], pts[:, 0], color="black", lw=1.6)
        ax.plot(pts[:, 1], pts[:, 0], color="white", lw=0.8)


def _panel_order(classes: Sequence[str]) -> list[tuple[int, int, int]]:
    """(row, col, class index) per panel: AM JM / AF JF (the paper's Fig. 3) when possible."""
    wanted = ("AM", "JM", "AF", "JF")
    if set(wanted) <= set(classes) and len(classes) == 4:
        return [(i // 2, i % 2, list(classes).index(c)) for i, c in enumerate(wanted)]
    return [(i // 2, i % 2, i) for i in range(len(classes))]


def plot_class_grid(
    m: ExplanationMap,
    path: str | os.PathLike,
    masks: np.ndarray | None = None,
    layout=None,
    title: str | None = None,
    panel_titles: Sequence[str] | None = None,
    symmetric: bool | None = None,
) -> Path:
    """PNG of a (panels, h, w) map: 2 columns of panels over the cage layout, significance dotted.

    Parameters
    ----------
    m
        Map with data (panels, h, w), e.g. class averages (AM JM / AF JF order) or differences.
    path
        Destination PNG (written atomically).
    masks
        Boolean (panels, h, w): pixels marked significant (black-rimmed dots).
    layout
        A :class:`~napari_mousestop.layout.CageLayout`; the packaged default when None.
    panel_titles
        Title of each panel (default: the class names).
    symmetric
        Colour scale symmetric around 0 (diverging map); default: when the data has both signs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .layout import load_layout

    layout = layout or load_layout()
    data = np.asarray(m.data, dtype=float)
    if data.ndim == 2:
        data = data[None]
    order = _panel_order(m.classes) if panel_titles is None else None
    if order is None or len(order) != len(data):
        order = [(i // 2, i % 2, i) for i in range(len(data))]
    titles = list(panel_titles) if panel_titles is not None else list(m.classes)
    finite = data[np.isfinite(data)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if symmetric is None:
        symmetric = lo < 0 < hi
    if symmetric:
        lim = max(abs(lo), abs(hi)) or 1.0
        lo, hi, cmap = -lim, lim, "RdBu_r"
    else:
        cmap = "viridis"
    rows = max(r for r, _, _ in order) + 1
    fig, axes = plt.subplots(rows, 2, figsize=(8.5, 4.0 * rows + 0.6), squeeze=False)
    ext = extent(m.placement, data.shape[1:])
    image = None
    for r, c, k in order:
        ax = axes[r][c]
        image = ax.imshow(data[k], extent=ext, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        _draw_layout(ax, layout)
        if masks is not None and np.asarray(masks[k]).any():
            ys, xs = m.placement.centres(data.shape[1:])
            yy, xx = np.meshgrid(ys, xs, indexing="ij")
            sel = np.asarray(masks[k], bool)
            ax.scatter(xx[sel], yy[sel], s=14, c="white", edgecolors="black", linewidths=0.8)
        fx, fy = layout.floor_cm
        ax.set_xlim(-1, fx + 1)
        ax.set_ylim(fy + 1, -1)
        ax.set_xticks([0, fx / 2, fx])  # fixed ticks: automatic tick search is slow
        ax.set_yticks([0, fy / 2, fy])
        ax.set_aspect("equal")
        ax.set_title(titles[k] if k < len(titles) else str(k))
        ax.set_xlabel("x (cm)")
        ax.set_ylabel("y (cm)")
    for r in range(rows):
        for c in range(2):
            if not any(o[0] == r and o[1] == c for o in order):
                axes[r][c].axis("off")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    fig.suptitle(title or m.name)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return path


def plot_hours(profile: HourProfile, path: str | os.PathLike, title: str | None = None) -> Path:
    """PNG of a (classes, T) hour profile: one line per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = np.asarray(profile.data, dtype=float)
    hours = np.arange(data.shape[-1]) * profile.interval_h
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for k, name in enumerate(profile.classes):
        ax.plot(hours, data[k], label=name, lw=1.2)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("hour of recording")
    ax.set_ylabel(f"drop of class {profile.meta.get('measure', 'logit')}")
    ax.legend(ncols=len(profile.classes))
    ax.set_title(title or profile.name)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path
