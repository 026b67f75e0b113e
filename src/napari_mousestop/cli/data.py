"""``mousestop synth``, ``stops`` and ``dataset``: recordings, stop tables and datasets."""

from __future__ import annotations

import typer

from napari_mousestop.cli.common import friendly_errors

# --- synthetic recordings and stops (synthetic, stops) -----------------------------------------


@friendly_errors
def synth(
    out_dir: str = typer.Argument(..., help="Folder for the databases, cohort.csv, truth.csv."),
    cages: int = typer.Option(4, help="Number of cages (alternating male, female), 4 mice each."),
    hours: float = typer.Option(6.0, help="Length of each recording in hours."),
    seed: int = typer.Option(0, help="Random seed."),
    workers: int = typer.Option(
        None, help="Worker processes (default: one per core; 0: in this process)."
    ),
    scheduler: str = typer.Option(None, help="Address of a running dask scheduler."),
) -> None:
    """Generate a synthetic LMT cohort: each cage recorded juvenile and adult.

    The files are the same whatever --workers or --scheduler (every recording's seed is drawn
    from --seed first)."""
    from tqdm import tqdm

    from napari_mousestop.cluster import local_workers
    from napari_mousestop.synthetic.generate import generate_cohort

    if cages < 1 or hours <= 0:
        raise ValueError("--cages must be >= 1 and --hours > 0")
    if workers is not None and workers < 0:
        raise ValueError(f"--workers must be >= 0 (got {workers})")
    n_workers = 0 if workers == 0 else local_workers(workers, 2 * cages)

    with tqdm(total=2 * cages, unit="db", desc="synth") as bar:

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        files = generate_cohort(
            out_dir,
            cages=cages,
            hours=hours,
            seed=seed,
            progress=progress,
            workers=n_workers,
            scheduler=scheduler,
        )
    typer.echo(f"{len(files.databases)} databases, {files.cohort_csv}, {files.truth_csv}")


@friendly_errors
def stops(
    db: str = typer.Argument(..., help="LMT .sqlite file (opened read-only)."),
    out: str = typer.Option(..., "-o", "--out", help="Stop table to write (.csv or .parquet)."),
    speed: float = typer.Option(5.0, help="Speed threshold (cm/s)."),
    min_duration: float = typer.Option(1.0, help="Shortest stop (s)."),
    window: float = typer.Option(0.5, help="Speed window (s), against tracking jitter."),
    max_gap: float = typer.Option(2.0, help="Longest gap in detections inside a stop (s)."),
    time_base: str = typer.Option("timestamp", help="timestamp (FRAME.TIMESTAMP) or frames."),
    cage: str = typer.Option("mouse", help="Cage scale: mouse (10/57 cm/px) or rat (20/57)."),
    method: str = typer.Option("auto", help="How DETECTION is read: auto, pages or sql."),
    verify: bool = typer.Option(
        False, "--verify", help="Check the file with PRAGMA quick_check first (reads it all)."
    ),
) -> None:
    """Extract the stops of every animal of one LMT recording."""
    import warnings

    from tqdm import tqdm

    from napari_mousestop.io.geometry import CageGeometry
    from napari_mousestop.stops import StopParams, extract_stops, write_stops

    if cage not in ("mouse", "rat"):
        raise ValueError(f"--cage must be mouse or rat, got {cage!r}")
    params = StopParams(speed, min_duration, window, max_gap, time_base, method, verify)
    geometry = CageGeometry.rat() if cage == "rat" else CageGeometry.mouse()
    bars: list = []

    def progress(done: int, total: int) -> None:
        if not bars:  # opened once the file is known to be readable
            bars.append(tqdm(total=total, unit="animal", desc="stops"))
        bars[0].update(done - bars[0].n)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # per-animal warnings are printed from the report
            df = extract_stops(db, params, geometry, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    for w in df.attrs["report"]["warnings"]:
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)
    write_stops(df, out)
    r = df.attrs["report"]
    typer.echo(
        f"{len(df)} stops of {df['animal_id'].nunique()} animals -> {out} "
        f"(left out: {r['anonymous_rows']} anonymous, {r['glitch_rows']} glitch, "
        f"{r['null_coordinate_rows']} NULL rows)"
    )


# --- datasets (datasets.build) --------------------------------------------------------------


@friendly_errors
def dataset(
    cohort_csv: str = typer.Argument(..., help="Cohort CSV: database, animal, cage, sex, age."),
    out: str = typer.Option(..., "-o", "--out", help="Dataset file to write (.npz)."),
    interval: str = typer.Option("1h", help="Interval length, e.g. 1h, 30min, 900s."),
    intervals: int = typer.Option(72, help="Number of intervals T."),
    bins: int = typer.Option(30, help="Grid size N (N x N bins over the floor)."),
    align_to: str = typer.Option(None, help="Start interval 0 at this clock time (HH:MM)."),
    timezone: str = typer.Option("UTC", help="Time zone of --align-to, e.g. Europe/Paris."),
    weight: str = typer.Option("count", help="count: 1 per stop; duration: seconds per stop."),
    off_floor: str = typer.Option("clip", help="Stops off the floor: clip or drop."),
    speed: float = typer.Option(5.0, help="Stops: speed threshold (cm/s)."),
    min_duration: float = typer.Option(1.0, help="Stops: shortest stop (s)."),
    window: float = typer.Option(0.5, help="Stops: speed window (s), against tracking jitter."),
    max_gap: float = typer.Option(2.0, help="Stops: longest gap in detections inside a stop (s)."),
    time_base: str = typer.Option("timestamp", help="Stops: time from timestamp or frames."),
    cage: str = typer.Option("mouse", help="Cage scale: mouse (10/57 cm/px) or rat (20/57)."),
    age_threshold: float = typer.Option(56.0, help="Ages below this many days are juvenile."),
    workers: int = typer.Option(None, help="Worker processes (default: one per core; 0: no Dask)."),
    scheduler: str = typer.Option(None, help="Address of a running dask scheduler."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute every recording."),
    verify: bool = typer.Option(
        False, "--verify", help="Check each file with PRAGMA quick_check first (reads it all)."
    ),
) -> None:
    """Build a dataset of hourly stop histograms from a cohort of LMT recordings (on Dask)."""
    import warnings

    from tqdm import tqdm

    from napari_mousestop.datasets.build import build_dataset
    from napari_mousestop.histograms import HistogramParams, parse_duration
    from napari_mousestop.io.geometry import CageGeometry
    from napari_mousestop.stops import StopParams

    if cage not in ("mouse", "rat"):
        raise ValueError(f"--cage must be mouse or rat, got {cage!r}")
    params = HistogramParams(
        interval_s=parse_duration(interval),
        n_intervals=intervals,
        n_bins=bins,
        align_to=align_to,
        weight=weight,
        off_floor=off_floor,
        timezone=timezone,
    )
    geometry = CageGeometry.rat() if cage == "rat" else CageGeometry.mouse()
    bars: list = []  # created on the first report, after the cohort and labels are checked

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="recording", desc="recordings"))
        bars[0].n = done
        bars[0].refresh()

    stats: dict = {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = build_dataset(
                cohort_csv,
                out,
                params,
                StopParams(speed, min_duration, window, max_gap, time_base, verify=verify),
                geometry=geometry,
                scheduler=scheduler,
                progress=progress,
                n_workers=workers,
                age_threshold_days=age_threshold,
                use_cache=not no_cache,
                stats=stats,
            )
    finally:
        for bar in bars:
            bar.close()
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.secho(f"warning: {w.message}", fg=typer.colors.YELLOW, err=True)
    path = out if out.endswith(".npz") else out + ".npz"
    counts = ", ".join(f"{c} {int((ds.class_names == c).sum())}" for c in ds.classes)
    typer.echo(
        f"wrote {path}: {len(ds)} animal-recordings from {len(ds.sources)} recordings, "
        f"{len(set(ds.cages))} cages ({counts}); X {ds.X.shape}; "
        f"{len(stats.get('cached', []))} from cache, {len(stats.get('computed', []))} computed"
    )
    failed = ds.params.get("failed", [])
    if failed:
        typer.secho(f"{len(failed)} skipped:", fg=typer.colors.RED, err=True)
        for f in failed:
            who = f"{f['database']}" + (f" / {f['animal']}" if f.get("animal") else "")
            typer.secho(f"  {who}: {f['error']}", fg=typer.colors.RED, err=True)
