"""Stops per hour of classes and animals, dark hours shaded, and the mosaic's colour scale.

Drawn on a :class:`matplotlib.figure.Figure` the caller owns (the napari explorer docks one),
never through pyplot.

The colour scale of stop histograms (:func:`stop_colormap`, :func:`stop_norm`), shared by the
napari mosaic and its colour bar: zero is black; any bin with a stop starts at the purple end of
magma (:data:`FLOOR`), never black; above that colour follows the square root of the value
(gamma :data:`STOP_GAMMA` = 0.5) up to the largest bin. A linear scale leaves the one- and
two-stop bins that make most of a cohort's hours nearly black next to a busy nest corner; the
square root is the variance-stabilising transform of Poisson counts, so equal steps of colour
are close to equal steps of counting noise, and, unlike a log, it needs no offset for zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LinearSegmentedColormap, PowerNorm
from matplotlib.figure import Figure

STOP_GAMMA = 0.5
"""Gamma of the stop colour scale: colour position = (value / top) ** 0.5."""
FLOOR = 0.25
"""Position on magma of the smallest non-zero value (magma(0) is black)."""
CLASS_COLOURS = {"AM": "#4c9be8", "JM": "#8fd8ff", "AF": "#e8604c", "JF": "#ffb07f"}
"""Line colours of the classes: males blue, females red, juveniles lighter."""


def stop_colormap(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Control points (0..1) and RGBA colours of the stop colour map.

    Zero is black; from just above zero the colours run along magma from :data:`FLOOR` to 1.
    napari (``Colormap(colors, controls)``) and matplotlib use the same arrays, so the canvas
    and every colour bar agree.
    """
    from matplotlib import colormaps

    ramp = np.linspace(0.0, 1.0, n)
    controls = np.concatenate([[0.0], 1e-3 + (1.0 - 1e-3) * ramp])
    colours = np.vstack([[0.0, 0.0, 0.0, 1.0], colormaps["magma"](FLOOR + (1.0 - FLOOR) * ramp)])
    return controls, colours


def stop_norm(top: float) -> PowerNorm:
    """matplotlib's equivalent of napari's ``gamma`` with ``contrast_limits = (0, top)``."""
    return PowerNorm(STOP_GAMMA, vmin=0.0, vmax=float(top) if top > 0 else 1.0)


def stop_cmap() -> LinearSegmentedColormap:
    """The stop colour map as a matplotlib colormap."""
    controls, colours = stop_colormap()
    return LinearSegmentedColormap.from_list(
        "mousestop_stops", list(zip(controls, colours, strict=True)), N=4096
    )


@dataclass
class HourlyStopsPlot:
    """The artists of :func:`plot_hourly_stops` that follow the hour slider."""

    figure: Figure
    axes: Any
    cursor: Any
    step: float = 1.0

    def set_hour(self, hour: float) -> None:
        """Move the cursor onto the interval starting at ``hour``."""
        centre = float(hour) + self.step / 2
        self.cursor.set_xdata([centre, centre])


def per_interval(interval_h: float) -> str:
    """``"per hour"``, ``"per 30-min interval"``, ``"per 2-h interval"``."""
    if interval_h == 1:
        return "per hour"
    if interval_h < 1:
        return f"per {interval_h * 60:g}-min interval"
    return f"per {interval_h:g}-h interval"


def _rounded(seconds: float) -> str:
    """``27.4`` -> ``"27 s"``, ``482`` -> ``"8 min"``, ``5400`` -> ``"1.5 h"``."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _mark_partial(
    ax: Any, hours: np.ndarray, step: float, coverage: Sequence[float] | None, colour: str
) -> bool:
    """Hatch the intervals not wholly recorded, each labelled with the time recorded (at most
    six labels); True when there is any."""
    if coverage is None:
        return False
    coverage = np.asarray(coverage, dtype=float)
    partial = np.flatnonzero(coverage < 0.999)
    for k in partial:
        ax.axvspan(hours[k], hours[k] + step, facecolor="none", edgecolor=colour, hatch="///",
                   alpha=0.35, lw=0)  # fmt: skip
        if len(partial) <= 6:
            seconds = coverage[k] * step * 3600.0
            text = f"{_rounded(seconds)} recorded" if seconds > 0 else "not recorded"
            ax.text(hours[k] + step / 2, 0.98, text, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=6, color=colour, rotation=90)  # fmt: skip
    return bool(len(partial))


def plot_hourly_stops(
    figure: Figure,
    hours: Sequence[float],
    classes: Mapping[str, np.ndarray],
    animals: Mapping[str, np.ndarray] | None = None,
    light: Sequence[float] | None = None,
    hour: float = 0.0,
    units: str = "stops",
    colour_top: float | None = None,
    colour_units: str = "stops per bin per hour",
    foreground: str = "black",
    interval_h: float | None = None,
    coverage: Sequence[float] | None = None,
) -> HourlyStopsPlot:
    """Stops per hour: class means with the middle half of their animals, chosen animals, and
    the dark intervals shaded; below, the mosaic's colour bar.

    Parameters
    ----------
    figure
        The figure to draw on (cleared first).
    hours
        Start of each interval, in hours.
    classes
        Class name -> ``(animals, T)`` totals per interval: the mean is drawn, with a band from
        the 25th to the 75th percentile of the class's animals.
    animals
        Name -> ``(T,)`` totals of single animals, drawn as dashed lines.
    light
        Fraction of light in each interval (None: unknown). Intervals mostly dark are shaded.
    hour
        Interval the cursor starts on.
    units
        What the totals count (the y axis reads "<units> per hour").
    colour_top
        Top of the mosaic's colour scale; with it, the colour bar is drawn under the plot.
    colour_units
        Label of the colour bar.
    foreground
        Colour of text, ticks and spines (light on napari's dark theme).
    interval_h
        Length of one interval in hours (default: the step between ``hours``, 1 for a single
        interval). A single interval is drawn as points.
    coverage
        Fraction of each interval recorded (None: unknown). Intervals not wholly recorded
        (a recording's last, partial hour) are hatched and say how much of them was recorded:
        their totals count that part only, not a drop in stopping.
    """
    figure.clear()
    figure.set_layout_engine("constrained")
    hours = np.asarray(hours, dtype=float)
    if interval_h is not None:
        step = float(interval_h)
    else:
        step = float(hours[1] - hours[0]) if len(hours) > 1 else 1.0
    marker = "o" if len(hours) == 1 else None  # one interval: a line of one point is invisible
    if colour_top is not None:
        grid = figure.add_gridspec(2, 1, height_ratios=(1.0, 0.08))
        ax = figure.add_subplot(grid[0])
        cax = figure.add_subplot(grid[1])
    else:
        ax, cax = figure.add_subplot(1, 1, 1), None
    centres = hours + step / 2
    if light is not None:
        for h, frac in zip(hours, light, strict=True):
            if frac < 0.5:
                ax.axvspan(h, h + step, color="0.5", alpha=0.22, lw=0)
    partial = _mark_partial(ax, hours, step, coverage, foreground)
    for name, totals in classes.items():
        totals = np.atleast_2d(np.asarray(totals, dtype=float))
        colour = CLASS_COLOURS.get(name)
        (line,) = ax.plot(centres, totals.mean(axis=0), color=colour, lw=1.8, marker=marker)
        line.set_label(f"{name} (n={len(totals)})")
        if len(totals) > 1:
            lo, hi = np.percentile(totals, [25, 75], axis=0)
            ax.fill_between(centres, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    for k, (name, totals) in enumerate((animals or {}).items()):
        ax.plot(centres, np.asarray(totals, dtype=float), lw=1.0, ls="--", marker=marker,
                color=f"C{(k + 4) % 10}", label=name)  # fmt: skip
    cursor = ax.axvline(float(hour) + step / 2, color=foreground, lw=1.0, alpha=0.9)
    if len(hours):
        ax.set_xlim(hours[0], hours[-1] + step)
    ax.set_ylim(bottom=0)
    said = [" (grey: dark)" if light is not None else "", "; hatched: partly recorded" * partial]
    ax.set_xlabel("hour" + "".join(said), fontsize=8)
    ax.set_ylabel(f"{units} {per_interval(step)}", fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        legend = ax.legend(fontsize=7, frameon=False, ncols=2, loc="upper left")
        for text in legend.get_texts():
            text.set_color(foreground)
    axes = [ax]
    if cax is not None:
        bar = figure.colorbar(
            ScalarMappable(stop_norm(colour_top), stop_cmap()), cax=cax, orientation="horizontal"
        )
        bar.set_label(f"mosaic colour: {colour_units} (square-root scale)", fontsize=7)
        bar.outline.set_edgecolor(foreground)
        axes.append(cax)
    for a in axes:
        for spine in a.spines.values():
            spine.set_color(foreground)
        a.tick_params(colors=foreground, labelsize=7)
        a.xaxis.label.set_color(foreground)
        a.yaxis.label.set_color(foreground)
    return HourlyStopsPlot(figure, ax, cursor, step)
