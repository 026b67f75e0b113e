"""``mousestop demo``: the whole pipeline on a generated cohort."""

from __future__ import annotations

import typer

from napari_mousestop.cli.common import friendly_errors
from napari_mousestop.errors import MousestopError

# --- the whole pipeline (pipeline.py) ----------------------------------------------------------


@friendly_errors
def demo(
    out_dir: str = typer.Argument("demo_output", help="Folder for all the demo's results."),
    cages: int = typer.Option(6, help="Cages (4 mice each, recorded juvenile and adult)."),
    hours: float = typer.Option(3.0, help="Hours per recording."),
    interval: float = typer.Option(30.0, help="Histogram interval (min); T = hours / interval."),
    epochs: int = typer.Option(60, help="Training epochs per fold."),
    seed: int = typer.Option(0, help="Seed of generator, training and permutations."),
    workers: int = typer.Option(2, help="Dask worker processes for the dataset."),
    view: bool = typer.Option(
        None, "--view/--no-view", help="Open napari on the results (default: when a display is)."
    ),
) -> None:
    """Run the whole pipeline on a generated cohort; open napari on it when a display is present."""
    import os
    import time

    from napari_mousestop.pipeline import run_demo

    started = time.perf_counter()
    result = run_demo(
        out_dir,
        cages=cages,
        hours=hours,
        interval_min=interval,
        epochs=epochs,
        seed=seed,
        workers=workers,
    )
    minutes = (time.perf_counter() - started) / 60
    typer.echo(
        f"\nDone in {minutes:.1f} min. Results in {result.out_dir}/:\n"
        f"  stop table      {result.stops_csv}\n"
        f"  dataset         {result.dataset}\n"
        f"  training report {result.run_dir / 'report.md'} (accuracy {result.accuracy:.3f})\n"
        f"  class maps      {result.maps_dir}/ (PNG figures)"
    )
    if view is None:
        view = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        view = view and not os.environ.get("CI")
    if not view:
        typer.echo(f"No display: open the results with `mousestop launch {result.dataset}`.")
        return
    from napari_mousestop.cli.viewer import napari_viewer

    try:
        run_viewer = napari_viewer()
    except MousestopError as exc:  # the results are written: say how to view them
        typer.echo(f"Not opening napari: {exc}")
        return
    run_viewer([result.dataset], dataset=result.dataset, model=result.run_dir / "model.pt")
