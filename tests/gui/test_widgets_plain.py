"""What a user sees in the dock widgets: plain labels and tooltips, a Train dock that fits a
1080-pixel screen, one colour bar per view."""

from __future__ import annotations

import re

import pytest
from _widget_data import saved_dataset

from napari_mousestop.gui.widgets.extract import ExtractWidget
from napari_mousestop.gui.widgets.train import TrainWidget

pytestmark = pytest.mark.gui


def _fields(container):
    for w in container:
        if hasattr(w, "__iter__") and not isinstance(w, str) and hasattr(w, "_list"):
            yield from _fields(w)
        else:
            yield w


def test_labels_and_tooltips_are_plain_language(make_napari_viewer):
    viewer = make_napari_viewer()
    train, extract = TrainWidget(viewer), ExtractWidget(viewer)
    widgets = [*_fields(train.form), *_fields(extract.form)]
    labels = {w.label for w in widgets}
    assert {"learning rate", "interval (s)", "speed threshold (cm/s)", "number of bins"} <= labels
    assert not [x for x in labels if x in ("lr",) or re.search(r" (s|cm s|cm)$", x)]
    tips = [w.tooltip or "" for w in widgets]
    assert sum(bool(t) for t in tips) > 20  # the fields are explained...
    markup = [t for t in tips if re.search(r"``|:class:|:func:|:mod:|\bNone\b|`", t)]
    assert markup == []  # ...in plain text


def test_the_train_dock_fits_a_1080_pixel_screen(make_napari_viewer):
    viewer = make_napari_viewer()
    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="train")
    assert train.minimumSizeHint().height() <= 900
    assert viewer.window._qt_window.minimumSizeHint().height() <= 1000


def test_one_colour_bar_per_view(make_napari_viewer, qtbot, tmp_path):
    from napari_mousestop.datasets.dataset import save_dataset

    ds, path = saved_dataset(tmp_path)
    other = str(save_dataset(ds, tmp_path / "second.npz"))
    viewer = make_napari_viewer()
    viewer.open([path, other], plugin="napari-mousestop")
    qtbot.wait(200)
    shown = [lyr.name for lyr in viewer.layers if getattr(lyr, "colorbar", None)
             and lyr.colorbar.visible]  # fmt: skip
    assert len(shown) == 1 and shown[0] in ("tiny", "second")  # the explored mosaic's
    bar = viewer.layers[shown[0]].colorbar
    assert bar.position == "bottom_right"  # not over the clock text (top left)
