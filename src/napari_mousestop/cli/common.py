"""What every ``mousestop`` subcommand shares: a user's errors become one line and exit 1."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TypeVar

import typer

F = TypeVar("F", bound=Callable)


def friendly_errors(func: F) -> F:
    """Turn the errors a user can cause (bad files, bad values) into one line and exit code 1."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ValueError, OSError, KeyError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


# --- other trackers' files (read through movement): options shared by stops, dataset, predict ---

SOURCE_SOFTWARE = typer.Option(
    None,
    "--source-software",
    help="Read FILE through movement as this tracker's output: DeepLabCut, SLEAP, "
    "LightningPose, Anipose, NWB or VIA-tracks (default: an LMT database).",
)
FPS = typer.Option(
    None, "--fps", help="Other trackers: frames per second of the video (NWB files give theirs)."
)
CALIBRATION = typer.Option(
    None,
    "--calibration",
    help="Other trackers: layout file whose [video] section gives the floor's corners in the "
    "video's pixels.",
)
START_TIME = typer.Option(
    None,
    "--start-time",
    help="Other trackers: clock time of the video's time 0, e.g. '2024-03-01 19:00' (read in "
    "--timezone without a UTC offset).",
)
KEYPOINTS = typer.Option(
    None,
    "--keypoints",
    help="Other trackers: comma-separated keypoints whose mean is the animal's centre "
    "(default: all).",
)
CONFIDENCE = typer.Option(
    0.6, "--confidence", help="Other trackers: drop keypoint positions of lower confidence."
)
BRIDGE_GAP = typer.Option(
    0.5, "--bridge-gap", help="Other trackers: longest keypoint gap (s) filled by interpolation."
)


def tracker_params(
    source_software: str | None,
    fps: float | None = None,
    calibration: str | None = None,
    start_time: str | None = None,
    timezone: str = "UTC",
    keypoints: str | None = None,
    confidence: float = 0.6,
    bridge_gap: float = 0.5,
):
    """The :class:`~napari_mousestop.io.trackers.TrackerParams` of the options (None without
    ``--source-software``, where the file-specific options are refused).

    movement logs its own errors on stderr as well as raising them; the command line prints each
    error once, so its log is switched off here (an application's choice, not the library's).
    """
    from napari_mousestop.io.trackers import TrackerParams

    if source_software is None:
        given = [
            name
            for name, value in (
                ("--fps", fps),
                ("--calibration", calibration),
                ("--start-time", start_time),
            )  # fmt: skip
            if value is not None
        ]
        if given:
            raise ValueError(
                f"{', '.join(given)}: only for other trackers' files, with --source-software"
            )
        return None
    try:
        from loguru import logger

        logger.disable("movement")
    except ImportError:  # no movement either: reading will say how to install it
        pass
    if calibration is not None:  # Dask workers and cohort rows need no working directory
        calibration = str(Path(calibration).resolve())
    return TrackerParams(
        source_software, fps, calibration, start_time, timezone, keypoints, confidence, bridge_gap
    )


def refuse_tracker_file(path: str) -> None:
    """A ValueError when ``path`` is another tracker's file read as an LMT database."""
    from napari_mousestop.io.trackers import sniff_source_software

    software = sniff_source_software(path)
    if software is not None:
        raise ValueError(
            f"{path}: a {software} file, not an LMT database: give --source-software "
            f"{software} (with --calibration, and --fps unless the file or calibration gives it)"
        )
