"""Figures drawn on matplotlib.figure.Figure: what they show."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.plots.report import draw_confusion


def test_confusion_panel_shows_the_matrix_its_counts_and_the_class_names():
    cm = np.array([[3, 1, 0, 0], [0, 4, 0, 0], [1, 0, 2, 1], [0, 0, 12, 4]])
    ax = Figure().subplots()
    draw_confusion(ax, cm, CLASSES)
    assert np.array_equal(ax.images[0].get_array(), cm)
    assert ax.images[0].get_clim() == (0, 12)
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.ravel()]  # row by row
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASSES)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(CLASSES)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    # row = true class: the 12 (true JF predicted AF) sits in the last row, third column
    (big,) = [t for t in ax.texts if t.get_text() == "12"]
    assert big.get_position() == (2, 3)
