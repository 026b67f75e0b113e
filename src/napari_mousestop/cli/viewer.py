"""``mousestop launch``: napari with the plugin's widgets docked."""

from __future__ import annotations

import typer

from napari_mousestop.cli.common import friendly_errors


@friendly_errors
def launch(
    paths: list[str] = typer.Argument(  # noqa: B008 (typer's idiom)
        None, help="Files to open: LMT recordings (.sqlite), datasets (.npz)..."
    ),
) -> None:
    """Open napari with the plugin's widgets docked (extract, train, predict, compare)."""
    from pathlib import Path

    from napari_mousestop.gui.widgets.launch import run_viewer

    missing = [p for p in paths or [] if not Path(p).exists()]
    if missing:
        raise ValueError(f"{missing[0]}: no such file")
    run_viewer(paths or [])
