"""``mousestop synth``, ``stops``, ``qc`` and ``dataset``: recordings, stop tables, quality tables
and datasets."""

from __future__ import annotations

import typer

from napari_mousestop.cli.common import (
    BRIDGE_GAP,
    CALIBRATION,
    CONFIDENCE,
    FPS,
    KEYPOINTS,
    SOURCE_SOFTWARE,
    START_TIME,
    TRACKER,
    VERIFY,
    ProgressBar,
    friendly_errors,
    refuse_tracker_file,
    tracker_params,
)
from napari_mousestop.histograms import HistogramParams, format_duration
from napari_mousestop.io.cohort import AGE_THRESHOLD_DAYS
from napari_mousestop.stops import StopParams

STOP = StopParams()
HIST = HistogramParams()

# --- stop detection: the options of `stops` and `dataset` (defaults from StopParams) ----------

SPEED = typer.Option(STOP.speed_threshold_cm_s, help="Stops: speed threshold (cm/s).")
MIN_DURATION = typer.Option(STOP.min_duration_s, help="Stops: shortest stop (s).")
WINDOW = typer.Option(STOP.speed_window_s, help="Stops: speed window (s), against jitter.")
MAX_GAP = typer.Option(STOP.max_gap_s, help="Stops: longest detection gap in a stop (s).")
TIME_BASE = typer.Option(STOP.time_base, help="Stops: time from timestamp (FRAME) or frames.")
CAGE_SCALE = typer.Option("mouse", help="Cage scale: mouse (10/57 cm/px) or rat (20/57).")
METHOD = typer.Option(STOP.method, help="How DETECTION is read: auto, pages or sql.")

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
    design: str = typer.Option(
        "paper",
        help="Cohort layout: paper (single-sex cages, juvenile and adult), adults, three "
        "(AM, JM, AF), genotype (2 WT + 2 KO per cage), genotype-cage (whole cages WT or KO), "
        "mixed-sex (2 M + 2 F per cage), unequal (3-5 mice, a missing animal and recording).",
    ),
    plant: list[str] = typer.Option(  # noqa: B008 (typer's idiom)
        None,
        "--plant",
        help="Planted place preference COLUMN:VALUE=PLACE, e.g. genotype:KO=water (places: "
        "dome, feeder_left, feeder_right, water, elsewhere); repeat for several. None: the "
        "null twin (no difference but sex x age).",
    ),
) -> None:
    """Generate a synthetic LMT cohort: by default each cage one sex, recorded juvenile and
    adult (the paper's layout); --design and --plant make other studies.

    The files are the same whatever --workers or --scheduler (every recording's seed is drawn
    from --seed first)."""
    from napari_mousestop.cluster import local_workers
    from napari_mousestop.synthetic.generate import DESIGNS, generate_cohort, parse_plant

    if design not in DESIGNS:
        raise ValueError(f"--design must be one of {', '.join(DESIGNS)} (got {design!r})")
    if cages < 1 or hours <= 0:
        raise ValueError("--cages must be >= 1 and --hours > 0")
    if workers is not None and workers < 0:
        raise ValueError(f"--workers must be >= 0 (got {workers})")
    plants = [parse_plant(p) for p in plant or ()]
    n_workers = 0 if workers == 0 else local_workers(workers, 2 * cages)
    with ProgressBar("synth", "db") as bar:
        files = generate_cohort(
            out_dir,
            cages=cages,
            hours=hours,
            seed=seed,
            progress=bar,
            workers=n_workers,
            scheduler=scheduler,
            design=design,
            plant=plants,
        )
    typer.echo(f"{len(files.databases)} databases, {files.cohort_csv}, {files.truth_csv}")


@friendly_errors
def stops(
    db: str = typer.Argument(
        ..., help="LMT .sqlite file (opened read-only), or another tracker's file."
    ),
    out: str = typer.Option(..., "-o", "--out", help="Stop table to write (.csv or .parquet)."),
    speed: float = SPEED,
    min_duration: float = MIN_DURATION,
    window: float = WINDOW,
    max_gap: float = MAX_GAP,
    time_base: str = TIME_BASE,
    cage: str = CAGE_SCALE,
    method: str = METHOD,
    verify: bool = VERIFY,
    source_software: str = SOURCE_SOFTWARE,
    fps: float = FPS,
    calibration: str = CALIBRATION,
    start_time: str = START_TIME,
    timezone: str = typer.Option(
        TRACKER.timezone, help="Time zone of --start-time without an offset."
    ),
    keypoints: str = KEYPOINTS,
    confidence: float = CONFIDENCE,
    bridge_gap: float = BRIDGE_GAP,
    individual: list[str] = typer.Option(  # noqa: B008 (typer's idiom)
        None,
        "--individual",
        help="Other trackers: only this individual (movement's name; repeat for several).",
    ),
) -> None:
    """Extract the stops of every animal of one LMT recording, or of another tracker's file.

    With --source-software, FILE is read through movement (DeepLabCut, SLEAP...): --calibration
    turns its pixels into cm, --fps times its frames, and the table names each individual as
    movement does.
    """

    from napari_mousestop.io.geometry import CageGeometry
    from napari_mousestop.stops import extract_stops, write_stops

    if cage not in ("mouse", "rat"):
        raise ValueError(f"--cage must be mouse or rat, got {cage!r}")
    tracker = tracker_params(source_software, fps, calibration, start_time, timezone,
                             keypoints, confidence, bridge_gap)  # fmt: skip
    if tracker is None:
        if individual:
            raise ValueError("--individual: only for other trackers' files, with --source-software")
        refuse_tracker_file(db)
    params = StopParams(speed, min_duration, window, max_gap, time_base, method, verify)
    geometry = CageGeometry.rat() if cage == "rat" else CageGeometry.mouse()
    with ProgressBar("stops", "animal") as bar:
        df = extract_stops(
            db,
            params,
            geometry,
            progress=bar,
            tracker=tracker,
            individuals=individual or None,
            warn=False,
        )
    for w in df.attrs["report"]["warnings"]:
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)
    write_stops(df, out)
    r = df.attrs["report"]
    if tracker is not None:
        typer.echo(
            f"{len(df)} stops of {_count(len(df.attrs['recording']['animals']), 'individual')} "
            f"-> {out} "
            f"({r['low_confidence_points']} keypoint positions below confidence "
            f"{tracker.confidence_threshold:g} dropped, {r['bridged_points']} bridged; "
            f"{r['frames_without_centre']} frames without a centre)"
        )
        return
    n_animals = len(df.attrs["recording"]["animals"]) - len(r["skipped_animals"])
    typer.echo(
        f"{len(df)} stops of {_count(n_animals, 'animal')} -> {out} "
        f"(left out: {r['anonymous_rows']} anonymous, {r['glitch_rows']} glitch, "
        f"{r['null_coordinate_rows']} NULL rows, {r['rows_without_frame']} without a FRAME row; "
        f"{r['duplicate_rows']} duplicate rows merged)"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# --- datasets (datasets.build) --------------------------------------------------------------


@friendly_errors
def dataset(
    cohort_csv: str = typer.Argument(
        ...,
        help="Cohort CSV: database, animal, cage, sex, age (other trackers' files: also "
        "source_software, individual, fps, calibration, start_time).",
    ),
    out: str = typer.Option(..., "-o", "--out", help="Dataset file to write (.npz)."),
    interval: str = typer.Option(
        format_duration(HIST.interval_s), help="Interval length, e.g. 1h, 30min, 900s."
    ),
    intervals: int = typer.Option(HIST.n_intervals, help="Number of intervals T."),
    bins: int = typer.Option(HIST.n_bins, help="Grid size N (N x N bins over the floor)."),
    align_to: str = typer.Option(
        HIST.align_to, help="Start interval 0 at this clock time (HH:MM)."
    ),
    timezone: str = typer.Option(
        HIST.timezone, help="Time zone of --align-to and of start times without an offset."
    ),
    weight: str = typer.Option(HIST.weight, help="count: 1 per stop; duration: seconds per stop."),
    off_floor: str = typer.Option(HIST.off_floor, help="Stops off the floor: clip or drop."),
    speed: float = SPEED,
    min_duration: float = MIN_DURATION,
    window: float = WINDOW,
    max_gap: float = MAX_GAP,
    time_base: str = TIME_BASE,
    cage: str = CAGE_SCALE,
    method: str = METHOD,
    age_threshold: float = typer.Option(
        AGE_THRESHOLD_DAYS, help="Ages below this many days are juvenile."
    ),
    classes: str = typer.Option(
        "sex,age",
        help="Column(s) the classes come from, comma-separated: cohort CSV columns or LMT "
        "ANIMAL fields (sex, age, genotype, strain...). sex,age: the paper's AM/JM/AF/JF; "
        "genotype: e.g. KO, WT. Every other column is kept as a covariate.",
    ),
    workers: int = typer.Option(None, help="Worker processes (default: one per core; 0: no Dask)."),
    scheduler: str = typer.Option(None, help="Address of a running dask scheduler."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute every recording."),
    verify: bool = VERIFY,
    fps: float = typer.Option(
        None, "--fps", help="Other trackers: frames per second where the cohort's fps is empty."
    ),
    calibration: str = typer.Option(
        None,
        "--calibration",
        help="Other trackers: calibration (a [video] section) where the cohort's is empty.",
    ),
    keypoints: str = KEYPOINTS,
    confidence: float = CONFIDENCE,
    bridge_gap: float = BRIDGE_GAP,
) -> None:
    """Build a dataset of hourly stop histograms from a cohort of LMT recordings (on Dask).

    The cohort may mix LMT databases and other trackers' files (rows with a source_software).
    """

    from napari_mousestop.datasets.build import build_dataset
    from napari_mousestop.histograms import parse_duration
    from napari_mousestop.io.geometry import CageGeometry

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
    stats: dict = {}
    with ProgressBar("recordings", "recording") as bar:
        ds = build_dataset(
            cohort_csv,
            out,
            params,
            StopParams(speed, min_duration, window, max_gap, time_base, method, verify),
            geometry=geometry,
            scheduler=scheduler,
            progress=bar,
            n_workers=workers,
            age_threshold_days=age_threshold,
            use_cache=not no_cache,
            stats=stats,
            tracker=tracker_params(
                "DeepLabCut", fps, calibration, None, timezone, keypoints, confidence, bridge_gap
            ),
            warn=False,
            classes=classes,
        )
    for name, recording in ds.params["recordings"].items():
        for w in recording["warnings"]:
            typer.secho(f"warning: {name}: {w}", fg=typer.colors.YELLOW, err=True)
        for n in recording.get("notes", []):
            typer.echo(f"note: {name}: {n}", err=True)
    path = out if out.endswith(".npz") else out + ".npz"
    counts = ", ".join(f"{c} {int((ds.class_names == c).sum())}" for c in ds.classes)
    typer.echo(
        f"wrote {path}: {len(ds)} animal-recordings from {len(ds.sources)} recordings, "
        f"{len(set(ds.cages))} cages ({counts}); X {ds.X.shape}; "
        f"{len(stats.get('cached', []))} from cache, {len(stats.get('computed', []))} computed"
    )
    typer.echo(
        f"classes from {', '.join(ds.factors)}: {', '.join(ds.classes)}"
        + (f"; covariates kept: {', '.join(ds.covariates)}" if ds.covariates else "")
    )
    by_frames = [n for n, r in ds.params["recordings"].items() if r.get("time_base") == "frames"]
    if by_frames:
        typer.echo(f"timed by frame number (time_base frames): {', '.join(by_frames)}")
    quality = ds.params.get("quality")
    if quality:
        typer.echo(
            f"quality table: {quality['file']} beside it ({quality['flagged']} of "
            f"{quality['rows']} animal-recordings flagged; mousestop qc prints it)"
        )
    failed = ds.params.get("failed", [])
    if failed:
        typer.secho(f"{len(failed)} skipped:", fg=typer.colors.RED, err=True)
        for f in failed:
            who = f"{f['database']}" + (f" / {f['animal']}" if f.get("animal") else "")
            typer.secho(f"  {who}: {f['error']}", fg=typer.colors.RED, err=True)


# --- the quality table (quality) --------------------------------------------------------------


@friendly_errors
def qc(
    files: list[str] = typer.Argument(  # noqa: B008 (typer's idiom)
        ..., help="LMT .sqlite files, or one cohort CSV (its recordings, trackers' included)."
    ),
    out: str = typer.Option(
        "qc.csv", "-o", "--out", help="Quality table to write (.csv, one row per animal)."
    ),
    time_base: str = TIME_BASE,
    cage: str = CAGE_SCALE,
    method: str = METHOD,
) -> None:
    """Quality table of recordings: frames recorded and expected, pauses, duplicate rows,
    detections without frames; per animal its identified share, glitches, longest gap, stops and
    hours covered. Flags what should make a user look twice (printed, and in the flags column).
    """
    from pathlib import Path

    from napari_mousestop.io.cohort import cohort_trackers, read_cohort
    from napari_mousestop.io.geometry import CageGeometry
    from napari_mousestop.quality import recordings_quality, summary, write_quality

    if cage not in ("mouse", "rat"):
        raise ValueError(f"--cage must be mouse or rat, got {cage!r}")
    if len(files) == 1 and Path(files[0]).suffix.lower() == ".csv":
        cohort = read_cohort(files[0])
        trackers = cohort_trackers(cohort)
        sources = [(db, trackers[db]) for db in dict.fromkeys(cohort["database"])]
    else:
        for f in files:
            try:
                refuse_tracker_file(f)
            except ValueError as exc:
                raise ValueError(f"{exc}; for qc, list it in a cohort CSV instead") from None
        sources = [(f, None) for f in files]
    geometry = CageGeometry.rat() if cage == "rat" else CageGeometry.mouse()
    with ProgressBar("qc", "recording") as bar:
        table, failed = recordings_quality(
            sources, StopParams(time_base=time_base, method=method), geometry, progress=bar
        )
    write_quality(table, out)
    typer.echo(summary(table, failed))
    typer.echo(f"quality table -> {out}")
    if table.empty:
        raise ValueError("no recording could be read")
