"""``mousestop demo``: the whole pipeline on a generated cohort."""

from __future__ import annotations

import typer

from napari_mousestop.cli.common import friendly_errors
from napari_mousestop.errors import MousestopError
from napari_mousestop.pipeline import DEMO

# --- the whole pipeline (pipeline.py) ----------------------------------------------------------


@friendly_errors
def demo(
    out_dir: str = typer.Argument("demo_output", help="Folder for all the demo's results."),
    cages: int = typer.Option(DEMO.cages, help="Cages (4 mice each, recorded juvenile and adult)."),
    hours: float = typer.Option(DEMO.hours, help="Hours per recording."),
    interval: float = typer.Option(
        DEMO.interval_min, help="Histogram interval (min); T = hours / interval."
    ),
    epochs: int = typer.Option(DEMO.epochs, help="Training epochs per fold."),
    seed: int = typer.Option(DEMO.seed, help="Seed of generator, training and permutations."),
    workers: int = typer.Option(
        DEMO.workers,
        help="Worker processes of the demo's Dask cluster: recordings, dataset and folds "
        "(default: one per core; 0: all in this process).",
    ),
    start_time: str = typer.Option(
        DEMO.start_time, help="Clock time (UTC) of every recording's start (20:00: dark)."
    ),
    view: bool = typer.Option(
        None, "--view/--no-view", help="Open napari on the results (default: when a display is)."
    ),
) -> None:
    """Run the whole pipeline on a generated cohort; open napari on it when a display is present."""
    import os
    import time
    import warnings

    from napari_mousestop.pipeline import run_demo

    started = time.perf_counter()
    # captum's DeepLift announces its temporary hooks on every call: noise to a user. A filter of
    # this command's process (the CLI owns it), set before any work starts.
    warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
    result = run_demo(
        out_dir,
        cages=cages,
        hours=hours,
        interval_min=interval,
        epochs=epochs,
        seed=seed,
        workers=workers,
        start_time=start_time,
    )
    minutes = (time.perf_counter() - started) / 60
    typer.echo(
        f"\nDone in {minutes:.1f} min. Results in {result.out_dir}/:\n"
        f"  stop table      {result.stops_csv}\n"
        f"  dataset         {result.dataset}\n"
        f"  training report {result.run_dir / 'report.md'} (CNN accuracy {result.accuracy:.3f}; "
        + ", ".join(f"{k} {v:.3f}" for k, v in result.baselines.items())
        + f"; chance {result.chance:.3f})\n"
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
