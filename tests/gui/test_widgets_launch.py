"""`mousestop launch`: napari with the plugin's widgets docked and files opened."""

from __future__ import annotations

import pytest
from _widget_data import saved_dataset
from typer.testing import CliRunner

from napari_mousestop.cli.app import app
from napari_mousestop.gui.widgets.compare import CompareWidget
from napari_mousestop.gui.widgets.explore import ExploreWidget
from napari_mousestop.gui.widgets.extract import ExtractWidget
from napari_mousestop.gui.widgets.launch import WIDGETS, open_viewer
from napari_mousestop.gui.widgets.predict import PredictWidget
from napari_mousestop.gui.widgets.train import TrainWidget

pytestmark = pytest.mark.gui


def test_launch_docks_every_widget_and_opens_files(make_napari_viewer, tmp_path):
    ds, path = saved_dataset(tmp_path)
    viewer = open_viewer([path], viewer=make_napari_viewer(), dataset=path, model="m.pt")
    docked = viewer.window.dock_widgets
    kinds = {type(w) for w in docked.values()}
    assert {ExtractWidget, TrainWidget, PredictWidget, CompareWidget} <= kinds
    assert len(WIDGETS) == 4
    compare = next(w for w in docked.values() if isinstance(w, CompareWidget))
    assert str(compare.dataset_file.value) == path and compare.model_file.value.name == "m.pt"
    mosaic = viewer.layers["tiny"]  # the dataset was opened by the plugin's reader
    assert len(mosaic.metadata["tiles"]) == len(ds)
    assert ExploreWidget in {type(w) for w in docked.values()}  # docked by the reader


def test_launch_refuses_missing_files():
    result = CliRunner().invoke(app, ["launch", "no/such/file.sqlite"])
    assert result.exit_code == 1
    assert "no/such/file.sqlite" in result.output
