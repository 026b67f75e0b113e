"""Figures of explanation maps over the cage layout (in cm), and the index page listing them.

Every figure is drawn on a :class:`matplotlib.figure.Figure` (no pyplot, no global backend)
with ``imshow(..., extent=...)`` computed from each map's placement, so the maps line up with
the layout outlines. Differences use one convention everywhere: red where the first classes of
the comparison are higher, blue where the second are, and each panel's colour bar says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_mousestop.io.atomic import atomic_path, write_text_atomic
from napari_mousestop.io.geometry import Placement

if TYPE_CHECKING:
    from napari_mousestop.explain.maps import ExplanationMap, HourProfile

PANEL_ORDER = ("AM", "JM", "AF", "JF")
"""Class order of the paper's Fig. 3 (two rows: AM JM / AF JF)."""
DIVERGING = "RdBu_r"
"""Colour map of every difference: red positive, blue negative."""


def extent(placement: Placement, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """matplotlib ``imshow`` extent (left, right, bottom, top) in cm, y downwards."""
    sy, sx = placement.scale
    ty, tx = placement.translate
    h, w = shape
    return (tx - sx / 2, tx + sx * (w - 0.5), ty + sy * (h - 0.5), ty - sy / 2)


def _draw_layout(ax, layout) -> None:
    """Every outline of the layout, white on black, as two line collections (one artist each:
    a figure of 64 panels drew 24 ms per panel with two lines per shape)."""
    from matplotlib.collections import LineCollection

    lines = []
    for shape in layout.shapes:
        pts = shape.outline()
        if shape.kind not in ("path", "line"):
            pts = np.vstack([pts, pts[:1]])
        lines.append(pts[:, ::-1])
    for color, width in (("black", 1.6), ("white", 0.8)):
        ax.add_collection(
            LineCollection(lines, colors=color, linewidths=width, capstyle="projecting"),
            autolim=False,
        )


def _cage_axes(ax, layout, labels: bool = True, ticks: bool = True) -> None:
    _draw_layout(ax, layout)
    fx, fy = layout.floor_cm
    ax.set_xlim(-1, fx + 1)
    ax.set_ylim(fy + 1, -1)
    # fixed ticks: automatic tick search is slow; none at all on panels of many-panel figures
    ax.set_xticks([0, fx / 2, fx] if ticks else [])
    ax.set_yticks([0, fy / 2, fy] if ticks else [])
    ax.set_aspect("equal")
    if labels:
        ax.set_xlabel("x (cm)")
        ax.set_ylabel("y (cm)")
    else:
        ax.tick_params(labelbottom=False, labelleft=False)


def _dots(ax, placement: Placement, mask: np.ndarray) -> None:
    if not np.asarray(mask).any():
        return
    ys, xs = placement.centres(mask.shape)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    sel = np.asarray(mask, bool)
    ax.scatter(xx[sel], yy[sel], s=12, c="white", edgecolors="black", linewidths=0.7)


def _save(fig, path: str | os.PathLike, dpi: int = 80) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi)
    return path


def _suptitle(fig, text: str, width_in: float, fontsize: float = 11) -> None:
    """Figure title wrapped to the figure's width (a one-panel figure is narrow)."""
    import textwrap

    chars = max(20, int(width_in * 120 / fontsize))  # about 0.6 em per character
    fig.suptitle(textwrap.fill(text, chars), fontsize=fontsize)


def _limits(data: np.ndarray, symmetric: bool) -> tuple[float, float]:
    finite = data[np.isfinite(data)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if symmetric:
        lim = max(abs(lo), abs(hi)) or 1.0
        return -lim, lim
    return lo, hi if hi > lo else lo + 1.0


def _layout(layout):
    from napari_mousestop.io.layout import load_layout

    return layout or load_layout()


def plot_class_grid(
    m: ExplanationMap,
    path: str | os.PathLike,
    layout=None,
    title: str | None = None,
    colorbar_label: str = "",
) -> Path:
    """PNG of class panels ``(class, h, w)`` over the cage, one panel per class, titled with
    its name: the paper's four classes as its Fig. 3 (AM JM / AF JF), any other classes side by
    side in their order (up to four per row).

    All panels share one colour scale (diverging and symmetric when the data has both signs).
    Panel titles give each class's number of animals (``meta["n_per_class"]``).
    """
    from matplotlib.figure import Figure

    layout = _layout(layout)
    data = np.asarray(m.data, dtype=float)
    classes = list(m.classes)
    if set(PANEL_ORDER) == set(classes):
        order, n_cols = [classes.index(c) for c in PANEL_ORDER], 2
    else:
        order, n_cols = list(range(len(classes))), min(len(classes), 4)
    rows = -(-len(order) // n_cols)
    lo, hi = _limits(data, symmetric=bool(np.nanmin(data) < 0 < np.nanmax(data)))
    cmap = DIVERGING if lo < 0 < hi else "viridis"
    fig = Figure(figsize=(4.25 * n_cols, 4.0 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, n_cols, squeeze=False)
    counts = m.meta.get("n_per_class", [])
    ext = extent(m.placement, data.shape[1:])
    image = None
    for i, k in enumerate(order):
        ax = axes[i // n_cols][i % n_cols]
        image = ax.imshow(data[k], extent=ext, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        _cage_axes(ax, layout)
        n = f" (n = {counts[k]})" if k < len(counts) else ""
        ax.set_title(f"{classes[k]}{n}")
    for i in range(len(order), rows * n_cols):
        axes[i // n_cols][i % n_cols].axis("off")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label=colorbar_label)
    _suptitle(fig, title or m.name, 4.25 * n_cols)
    return _save(fig, path)


def reach_warning(min_p: float, alpha: float, m: int) -> str:
    """Why a comparison cannot (or can hardly) reach ``alpha`` after Holm over ``m``, or ''."""
    if min_p > alpha:
        return f"cannot be significant:\nsmallest attainable p {min_p:.2g} > alpha"
    if min_p * m > alpha:
        return f"significant only late in Holm's order\n(first step needs p <= {alpha / m:.2g})"
    return ""


def plot_comparisons(
    comparisons: Sequence,
    path: str | os.PathLike,
    layout=None,
    title: str | None = None,
    units: str = "",
) -> Path:
    """PNG of class differences: one panel per comparison, each with its own colour bar.

    Red: the first classes of the comparison are higher, blue: the second (the bar names
    them). White dots: pixels significant after the comparison's family-wise adjustment
    (``Comparison.mask``). Each title gives the smallest p the design allows and the adjusted
    smallest p; a red line warns when alpha cannot be reached.
    """
    from matplotlib.figure import Figure

    layout = _layout(layout)
    n = len(comparisons)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(4.3 * cols, 4.9 * rows + 0.7), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, c in enumerate(comparisons):
        ax = axes[i // cols][i % cols]
        d = c.difference
        data = np.asarray(d.data, dtype=float)
        lo, hi = _limits(data, symmetric=True)
        image = ax.imshow(
            data,
            extent=extent(d.placement, data.shape),
            cmap=DIVERGING,
            vmin=lo,
            vmax=hi,
            interpolation="nearest",
        )
        _cage_axes(ax, layout, labels=i % cols == 0)
        _dots(ax, d.placement, c.mask)
        meta = c.meta
        holm = meta.get("holm", {})
        m = int(holm.get("m", 1))
        p = holm.get("p", float(np.min(c.p_adjusted)))
        subtitle = f"min attainable p {meta['min_p']:.2g}; adjusted p {p:.2g}"
        warning = reach_warning(meta["min_p"], meta["alpha"], m)
        if warning:  # more title lines, and the whole title in red
            subtitle += "\n" + warning
        ax.set_title(f"{c.name}\n{subtitle}", fontsize=8, color="crimson" if warning else "black")
        bar = fig.colorbar(image, ax=ax, orientation="horizontal", shrink=0.85, pad=0.09)
        legend = c.contrast.legend
        unit = f" ({units})" if units else ""
        bar.set_label(f"blue: {legend['blue']}\nred: {legend['red']}{unit}", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    for i in range(n, rows * cols):
        axes[i // cols][i % cols].axis("off")
    _suptitle(fig, title or "class differences", 4.3 * cols)
    return _save(fig, path)


def plot_activations(
    m: ExplanationMap,
    separation: np.ndarray,
    path: str | os.PathLike,
    layout=None,
    title: str | None = None,
    max_channels: int | None = None,
) -> Path:
    """PNG of class-averaged activations ``(class, channel, h, w)``: one row per channel.

    Rows are the channels ranked by ``separation`` (largest first), columns the classes
    (AM JM AF JF) side by side over the cage; each row has its own colour scale, shared by
    its classes.
    """
    from matplotlib.figure import Figure

    layout = _layout(layout)
    data = np.asarray(m.data, dtype=float)
    classes = list(m.classes)
    cols = [classes.index(c) for c in PANEL_ORDER if c in classes] or list(range(len(classes)))
    ranked = np.argsort(-np.asarray(separation), kind="stable")[:max_channels]
    # a fixed grid (inches), not constrained layout: its solver took most of the drawing time
    # of these figures of up to 16 x 4 panels
    width, height = 2.0 * len(cols) + 1.2, 1.9 * len(ranked) + 0.9
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(len(ranked), len(cols), squeeze=False)
    fig.subplots_adjust(
        left=0.55 / width, right=1 - 1.0 / width, bottom=0.1 / height, top=1 - 0.95 / height,
        wspace=0.08, hspace=0.12,
    )  # fmt: skip
    ext = extent(m.placement, data.shape[-2:])
    for r, ch in enumerate(ranked):
        lo, hi = _limits(data[:, ch], symmetric=False)
        image = None
        for j, k in enumerate(cols):
            ax = axes[r][j]
            image = ax.imshow(
                data[k, ch], extent=ext, cmap="inferno", vmin=lo, vmax=hi, interpolation="nearest"
            )
            _cage_axes(ax, layout, labels=False, ticks=False)
            if r == 0:
                ax.set_title(classes[k])
            if j == 0:
                ax.set_ylabel(f"ch {ch}\neta² {separation[ch]:.2f}", fontsize=8)
        right = axes[r][-1].get_position()
        cax = fig.add_axes((right.x1 + 0.15 / width, right.y0, 0.12 / width, right.height))
        fig.colorbar(image, cax=cax)
    import textwrap

    # wrapped to the width (two classes make a narrow figure); the top margin holds 3 lines
    text = textwrap.fill(title or m.name, max(20, int(width * 12)))
    fig.suptitle(text, fontsize=10, y=1 - 0.2 / height, va="top")
    return _save(fig, path, dpi=60)


def plot_hours(
    profile: HourProfile,
    per_animal: HourProfile,
    labels: np.ndarray,
    path: str | os.PathLike,
    title: str | None = None,
    ylabel: str = "own-class evidence",
) -> Path:
    """PNG of an hour profile: class means (+- standard error) and every animal.

    Top: for each class, its own-class value per hour (e.g. the drop of its own logit when the
    hour is emptied) averaged over its animals, with a band of one standard error. Bottom: the
    same for every animal (rows grouped by class), so hours that carry evidence for only some
    animals are visible.
    """
    from matplotlib.figure import Figure

    data = np.asarray(profile.data, dtype=float)
    hours = np.arange(data.shape[-1]) * profile.interval_h
    labels = np.asarray(labels)
    own = per_animal.data
    if own.ndim == 3:  # (sample, class, hour): each animal's own class
        own = own[np.arange(len(labels)), labels]
    fig = Figure(figsize=(10, 7), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(1, 1.3), sharex=True)
    for k, name in enumerate(profile.classes):
        sel = labels == k
        if not sel.any():
            continue
        se = own[sel].std(0, ddof=1) / np.sqrt(sel.sum()) if sel.sum() > 1 else 0 * hours
        (line,) = top.plot(hours, data[k], label=f"{name} (n = {int(sel.sum())})", lw=1.3)
        top.fill_between(hours, data[k] - se, data[k] + se, color=line.get_color(), alpha=0.2)
    top.axhline(0, color="grey", lw=0.6)
    top.set_ylabel(ylabel)
    top.legend(ncols=max(1, len(profile.classes)), fontsize=8)
    order = np.argsort(labels, kind="stable")
    half = profile.interval_h / 2
    lim = float(np.nanmax(np.abs(own))) or 1.0
    image = bottom.imshow(
        own[order],
        aspect="auto",
        cmap=DIVERGING,
        vmin=-lim,
        vmax=lim,
        interpolation="nearest",
        extent=(hours[0] - half, hours[-1] + half, len(order), 0),
    )
    edges = np.flatnonzero(np.diff(labels[order])) + 1
    for e in edges:
        bottom.axhline(e, color="black", lw=0.8)
    starts = np.r_[0, edges]
    ends = np.r_[edges, len(order)]
    bottom.set_yticks((starts + ends) / 2, [profile.classes[labels[order][s]] for s in starts])
    bottom.set_xlabel("hour of recording")
    fig.colorbar(image, ax=bottom, label="red: towards the own class")
    fig.suptitle(title or profile.name)
    return _save(fig, path)


def write_index(
    path: str | os.PathLike,
    title: str,
    entries: Sequence[tuple[str, str]],
    notes: Sequence[str] = (),
) -> Path:
    """Markdown page listing each figure (relative file name) with one line on how to read it."""
    path = Path(path)
    lines = [f"# {title}", ""]
    lines += [f"{note}" for note in notes]
    if notes:
        lines.append("")
    lines += ["| figure | how to read it |", "|---|---|"]
    for file, how in entries:
        rel = os.path.relpath(file, path.parent)
        lines.append(f"| [{rel}]({rel}) | {how} |")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
