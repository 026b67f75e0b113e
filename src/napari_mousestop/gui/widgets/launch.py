"""Open napari with the plugin's dock widgets and, optionally, files (``mousestop launch``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

PLUGIN = "napari-mousestop"
WIDGETS = ("Extract stops", "Train", "Predict", "Compare classes")
"""Display names of the dock widgets, as listed in napari.yaml."""


def open_viewer(
    paths: Sequence[str | os.PathLike] = (),
    widgets: Sequence[str] = WIDGETS,
    show: bool = True,
    viewer: Any = None,
    dataset: str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
) -> Any:
    """A napari viewer with the plugin's widgets docked (tabbed) and ``paths`` opened.

    Parameters
    ----------
    paths
        LMT recordings (``.sqlite``), dataset files (``.npz``) or anything napari opens.
    widgets
        Display names of the widgets to dock (see :data:`WIDGETS`).
    show
        Show the window (False for tests and scripts).
    viewer
        Use this viewer instead of opening a new one.
    dataset, model
        A dataset file and a checkpoint to fill in the widgets' file fields (e.g. a run's
        ``model.pt``), so Train, Predict and Compare are one click away.

    Returns
    -------
    napari.Viewer
        Call ``napari.run()`` to hand control to the user.
    """
    import napari

    if viewer is None:
        viewer = napari.Viewer(title="napari-mousestop", show=show)
    for i, name in enumerate(widgets):
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=i > 0)
        for attr, value in (("dataset_file", dataset), ("model_file", model)):
            if value is not None and hasattr(widget, attr):
                getattr(widget, attr).value = os.fspath(value)
    for path in paths:
        path = os.fspath(path)
        ours = path.endswith((".sqlite", ".npz"))
        viewer.open(path, plugin=PLUGIN if ours else None)
    return viewer


def run_viewer(
    paths: Sequence[str | os.PathLike] = (),
    dataset: str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
) -> None:
    """Open :func:`open_viewer` and hand control to the user until the window closes."""
    import napari

    open_viewer(paths, dataset=dataset, model=model)
    napari.run()
