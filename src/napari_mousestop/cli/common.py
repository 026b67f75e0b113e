"""What every ``mousestop`` subcommand shares: a user's errors become one line and exit 1;
progress reports (:class:`~napari_mousestop.progress.Progress`) become a tqdm bar; the options
that read other trackers' files (through movement)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TypeVar

import typer

from napari_mousestop.errors import MousestopError
from napari_mousestop.io.trackers import TrackerParams, sniff_source_software
from napari_mousestop.progress import Progress
from napari_mousestop.stops import StopParams

F = TypeVar("F", bound=Callable)


def friendly_errors(func: F) -> F:
    """Turn the errors a user can cause (bad files, bad values) into one line and exit code 1."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (MousestopError, ValueError, OSError, KeyError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


class ProgressBar:
    """A tqdm bar fed with :class:`~napari_mousestop.progress.Progress` reports.

    The bar opens at the first report (after the inputs were checked, so a bad input prints its
    error alone); ``describe`` shows each report's message as the bar's description instead of
    after it. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, desc: str, unit: str, disable: bool = False, describe: bool = False):
        self.desc, self.unit, self.disable, self.describe = desc, unit, disable, describe
        self.bar = None

    def __call__(self, p: Progress) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=p.total, desc=self.desc, unit=self.unit, disable=self.disable)
        if p.total != self.bar.total:
            self.bar.total = p.total
        if self.describe:
            self.bar.set_description(p.message, refresh=False)
        self.bar.n = p.done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


VERIFY = typer.Option(
    StopParams().verify,
    "--verify",
    help="Check each LMT file with PRAGMA quick_check first (reads it all).",
)
"""``--verify`` of every command that reads recordings (stops, dataset, predict)."""

# --- other trackers' files (read through movement): options shared by stops, dataset, predict ---

TRACKER = TrackerParams()

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
    TRACKER.confidence_threshold,
    "--confidence",
    help="Other trackers: drop keypoint positions of lower confidence.",
)
BRIDGE_GAP = typer.Option(
    TRACKER.bridge_gap_s,
    "--bridge-gap",
    help="Other trackers: longest keypoint gap (s) filled by interpolation.",
)


def tracker_params(
    source_software: str | None,
    fps: float | None = None,
    calibration: str | None = None,
    start_time: str | None = None,
    timezone: str = TRACKER.timezone,
    keypoints: str | None = None,
    confidence: float = TRACKER.confidence_threshold,
    bridge_gap: float = TRACKER.bridge_gap_s,
) -> TrackerParams | None:
    """The :class:`~napari_mousestop.io.trackers.TrackerParams` of the options (None without
    ``--source-software``, where the file-specific options are refused).

    movement logs its own errors on stderr as well as raising them; the command line prints each
    error once, so its log is switched off here (an application's choice, not the library's).
    """
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
    software = sniff_source_software(path)
    if software is not None:
        raise ValueError(
            f"{path}: a {software} file, not an LMT database: give --source-software "
            f"{software} (with --calibration, and --fps unless the file or calibration gives it)"
        )
