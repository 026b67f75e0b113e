"""Dock widgets: exploring a cohort, stop extraction, training, inference, class comparison
and video calibration.

Each widget is a ``QWidget`` taking the napari viewer (``napari_viewer``), listed in the plugin
manifest (``napari.yaml``) so it appears under Plugins > Mouse Stops. Long work runs off the main
thread (:mod:`napari_mousestop.gui.jobs`); results become layers through
:mod:`napari_mousestop.gui.layers`.
"""

from napari_mousestop.gui.widgets.calibrate import CalibrateWidget
from napari_mousestop.gui.widgets.compare import CompareWidget
from napari_mousestop.gui.widgets.explore import ExploreWidget
from napari_mousestop.gui.widgets.extract import ExtractWidget
from napari_mousestop.gui.widgets.maps import MapsWidget
from napari_mousestop.gui.widgets.predict import PredictWidget
from napari_mousestop.gui.widgets.train import TrainWidget

__all__ = [
    "CalibrateWidget",
    "CompareWidget",
    "ExploreWidget",
    "ExtractWidget",
    "MapsWidget",
    "PredictWidget",
    "TrainWidget",
]
