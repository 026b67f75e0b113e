"""Dock widgets: stop extraction, training, inference and class comparison.

Each widget is a ``QWidget`` taking the napari viewer (``napari_viewer``), listed in the plugin
manifest (``napari.yaml``) so it appears under Plugins > Mouse Stops. Long work runs off the main
thread (:mod:`._common`); results become layers through :mod:`napari_mousestop.gui.convert`.
"""

from ._compare import CompareWidget
from ._extract import ExtractWidget
from ._predict import PredictWidget
from ._train import TrainWidget

__all__ = ["CompareWidget", "ExtractWidget", "PredictWidget", "TrainWidget"]
