"""The one progress protocol: every long operation reports Progress and stops on Cancelled."""

from __future__ import annotations

import pytest

from napari_mousestop.datasets.build import build_dataset
from napari_mousestop.errors import Cancelled
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.progress import Progress
from napari_mousestop.stops import extract_stops


def _cancel_after(n: int, seen: list):
    def progress(p: Progress) -> None:
        seen.append(p)
        if len(seen) >= n:
            raise Cancelled()

    return progress


def test_stops_report_each_animal_and_stop_when_the_caller_cancels(small_recording):
    seen: list[Progress] = []
    with pytest.raises(Cancelled):
        extract_stops(small_recording.path, progress=_cancel_after(2, seen))
    assert [(p.done, p.total) for p in seen] == [(1, 4), (2, 4)]
    assert all(small_recording.path.name in p.message for p in seen)


def test_a_dataset_build_stops_when_the_caller_cancels(small_cohort, tmp_path):
    seen: list[Progress] = []
    with pytest.raises(Cancelled):
        build_dataset(small_cohort.cohort_csv, tmp_path / "d.npz",
                      HistogramParams(interval_s=300, n_intervals=3, n_bins=6), n_workers=0,
                      progress=_cancel_after(2, seen), use_cache=False)  # fmt: skip
    assert len(seen) == 2 and seen[0].total == len(small_cohort.databases)
    assert not (tmp_path / "d.npz").exists()  # nothing partial is written
