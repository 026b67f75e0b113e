"""Shared fixtures: small generated LMT recordings, built once per test session.

* ``small_recording``: one 1-hour recording of 4 adult males with its planted stops
  (``.path``, ``.truth``, ``.hours``, ``.seed``).
* ``small_cohort``: a :class:`~napari_mousestop.synthetic.generate.CohortFiles` of 4 cages (2 male,
  2 female) x 2 ages x 4 mice, 15 minutes each, with ``cohort.csv`` and ``truth.csv``.
* ``pose_recording``: a 1-hour DeepLabCut file of 4 mice written by movement's own saver, with
  its calibration and planted stops (``.path``, ``.calibration``, ``.truth``, ``.tracker``: the
  :class:`~napari_mousestop.io.trackers.TrackerParams` that read it).
* ``file_fingerprint``: a function returning (sha256, size, companion files such as
  ``-journal`` or ``-wal``) of an LMT file, to show that an operation left it untouched.

Hypothesis profiles (property-based tests of the LMT reader): ``ci`` (default: a modest,
reproducible number of examples) and ``thorough`` (many more, random), chosen with the
environment variable ``HYPOTHESIS_PROFILE``; the number of files the run generated is printed
at the end.

Treat the generated files as read-only (copy them into ``tmp_path`` to damage them).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

# One torch thread per test process (torch reads this when first imported): as in the worker
# processes that train folds (so in-process and worker results are bit-identical), the fastest for
# these small models, and several suites share this machine's cores. A setting of this process,
# never of the library (see docs/architecture.md).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from napari_mousestop.synthetic.generate import generate_cohort, generate_recording  # noqa: E402

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True, database=None,
    suppress_health_check=_SLOW,
)  # fmt: skip
settings.register_profile(
    "thorough", max_examples=600, deadline=None, database=None, suppress_health_check=_SLOW
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter) -> None:
    """Say how many LMT files the reader's tests generated."""
    from _lmt_files import FILES_BUILT

    if FILES_BUILT[0]:
        terminalreporter.write_line(
            f"LMT reader tests: {FILES_BUILT[0]} LMT-schema files generated "
            f"(hypothesis profile {settings.get_current_profile_name()})"
        )


@pytest.fixture(scope="session")
def small_recording(tmp_path_factory) -> SimpleNamespace:
    """A 1-hour, 4-mouse recording with its planted stops."""
    folder = tmp_path_factory.mktemp("small_recording")
    path = folder / "small.sqlite"
    truth = generate_recording(path, hours=1.0, seed=11)
    return SimpleNamespace(path=path, truth=truth, hours=1.0, seed=11)


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory):
    """4 cages x (juvenile, adult) x 4 mice, 15 minutes per recording."""
    return generate_cohort(tmp_path_factory.mktemp("small_cohort"), cages=4, hours=0.25, seed=5)


@pytest.fixture(scope="session")
def pose_recording(tmp_path_factory) -> SimpleNamespace:
    """A 1-hour DeepLabCut file (4 mice, movement's saver) with calibration and planted stops."""
    from napari_mousestop.io.layout import save_calibration
    from napari_mousestop.io.trackers import TrackerParams
    from napari_mousestop.synthetic.poses import VIDEO_CORNERS, generate_pose_recording

    folder = tmp_path_factory.mktemp("pose_recording")
    path = folder / "cage_dlc.h5"
    names = ("mouse_a", "mouse_b", "mouse_c", "mouse_d")
    truth = generate_pose_recording(path, "DeepLabCut", hours=1.0, individuals=names, seed=21)
    calibration = save_calibration(folder / "calibration.toml", VIDEO_CORNERS)
    tracker = TrackerParams(
        "DeepLabCut", fps=30.0, calibration=str(calibration), start_time="2024-01-15 18:00"
    )
    return SimpleNamespace(path=path, calibration=calibration, truth=truth, tracker=tracker)


def _fingerprint(path: Path) -> tuple[str, int, tuple[str, ...]]:
    path = Path(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    companions = sorted(p.name for p in path.parent.glob(f"{path.name}-*"))  # -journal, -wal
    return digest, path.stat().st_size, tuple(companions)


@pytest.fixture
def file_fingerprint():
    """``fingerprint(path) -> (sha256, size, names of companion files like NAME-journal)``."""
    return _fingerprint
