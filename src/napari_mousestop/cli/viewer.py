"""``mousestop launch``: napari with the plugin's widgets docked."""

from __future__ import annotations

from collections.abc import Callable

import typer

from napari_mousestop.cli.common import friendly_errors
from napari_mousestop.errors import MousestopError

NAPARI_EXTRA = 'pip install "napari-mousestop[napari]"'


def napari_viewer() -> Callable:
    """The GUI's ``run_viewer``, or a clear error when napari or Qt is not installed.

    Raises
    ------
    MousestopError
        If the ``[napari]`` extra (napari, magicgui, a Qt binding) is missing.
    """
    try:
        import magicgui  # noqa: F401 (the [napari] extra, checked before it is used)
        import napari  # noqa: F401
        import qtpy.QtWidgets  # noqa: F401 (a Qt binding)

        from napari_mousestop.gui.widgets.launch import run_viewer
    except ImportError as exc:  # the core and the CLI install without the [napari] extra
        missing = exc.name or str(exc)
        raise MousestopError(f"the napari viewer needs {missing}: {NAPARI_EXTRA}") from None
    return run_viewer


@friendly_errors
def launch(
    paths: list[str] = typer.Argument(  # noqa: B008 (typer's idiom)
        None, help="Files to open: LMT recordings (.sqlite), datasets (.npz)..."
    ),
) -> None:
    """Open napari with the plugin's widgets docked (extract, train, predict, compare)."""
    from pathlib import Path

    missing = [p for p in paths or [] if not Path(p).exists()]
    if missing:
        raise ValueError(f"{missing[0]}: no such file")
    napari_viewer()(paths or [])
