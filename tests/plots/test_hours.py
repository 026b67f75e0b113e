"""The hourly stops plot and the stop colour scale (the mosaic's and its colour bar)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from napari_mousestop.plots.hours import (
    FLOOR,
    plot_hourly_stops,
    stop_cmap,
    stop_colormap,
    stop_norm,
)


def test_zero_is_black_and_one_stop_is_never_black():
    controls, colours = stop_colormap()
    assert controls[0] == 0 and controls[-1] == 1 and np.all(np.diff(controls) > 0)
    cmap, norm = stop_cmap(), stop_norm(3600.0)  # a busy bin of an hour stopped, in seconds
    assert cmap(norm(0.0)) == pytest.approx(to_rgba("black"))
    faint = np.asarray(cmap(norm(1.0)))  # one second among 3600
    assert faint[:3].max() > 0.2  # visibly coloured, at least the purple end of magma
    from matplotlib import colormaps

    assert np.allclose(cmap(norm(3600.0)), colormaps["magma"](1.0), atol=0.02)
    assert np.allclose(cmap(2e-3), colormaps["magma"](FLOOR), atol=0.03)


def test_square_root_scale_matches_napari_gamma():
    norm = stop_norm(16.0)
    assert norm(4.0) == pytest.approx(0.5)  # (4 / 16) ** 0.5
    assert norm(16.0) == pytest.approx(1.0)


def test_plot_shows_class_means_animals_dark_hours_and_follows_the_hour():
    rng = np.random.default_rng(0)
    hours = np.arange(24.0)
    classes = {"AM": rng.poisson(20, (6, 24)), "AF": rng.poisson(5, (6, 24))}
    light = [1.0 if 7 <= h < 19 else 0.0 for h in hours]
    fig = Figure()
    plot = plot_hourly_stops(
        fig, hours, classes, {"cage1/5678": rng.poisson(9, 24)}, light, hour=3, colour_top=12
    )
    ax = plot.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert "AM (n=6)" in labels and "AF (n=6)" in labels and "cage1/5678" in labels
    am = next(line for line in ax.get_lines() if line.get_label() == "AM (n=6)")
    np.testing.assert_allclose(am.get_ydata(), classes["AM"].mean(axis=0))
    np.testing.assert_allclose(am.get_xdata(), hours + 0.5)  # drawn at interval centres
    shaded = [p for p in ax.patches] + [c for c in ax.collections if c.get_alpha() == 0.22]
    assert len(shaded) == 12  # one grey band per dark hour
    assert plot.cursor.get_xdata()[0] == pytest.approx(3.5)
    plot.set_hour(17)
    assert plot.cursor.get_xdata()[0] == pytest.approx(17.5)
    assert "square-root" in fig.axes[1].get_xlabel()  # the colour bar names units and scale
    fig.canvas.draw()  # renders without error


def test_a_single_interval_is_drawn_and_named_by_its_length():
    """T = 1 (a dataset of one 30-min interval): the class means are visible points and the
    axis says what an interval is."""
    plot = plot_hourly_stops(Figure(), [0.0], {"AM": np.array([[3.0], [5.0]])}, interval_h=0.5)
    (line,) = plot.axes.lines[:1]
    assert line.get_marker() == "o" and line.get_ydata()[0] == 4.0
    assert plot.axes.get_ylabel() == "stops per 30-min interval"
    assert plot.axes.get_xlim() == (0.0, 0.5)
    hourly = plot_hourly_stops(Figure(), [0.0, 1.0], {"AM": np.array([[3.0, 1.0]])})
    assert hourly.axes.get_ylabel() == "stops per hour"
