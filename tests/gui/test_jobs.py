"""run_in_process: a widget job in a process of its own (items, result, errors, Cancel)."""

from __future__ import annotations

import sys
import threading
from functools import partial

import _jobs_fixtures as fx
import pytest

import napari_mousestop.gui.jobs as jobs
from napari_mousestop.errors import DatasetError


def _drain(gen):
    items = []
    try:
        while True:
            items.append(next(gen))
    except StopIteration as end:
        return items, end.value


def test_items_and_result_come_back_in_order():
    items, value = _drain(jobs.run_in_process(partial(fx.counts, n=4), threading.Event()))
    assert items == [0, 1, 2, 3] and value == 4


def test_errors_come_back_as_they_were_or_as_one_line():
    with pytest.raises(DatasetError, match="cohort.npz: not a napari-mousestop dataset"):
        _drain(jobs.run_in_process(fx.fails, threading.Event()))
    with pytest.raises(jobs.JobError, match="^_Odd: 1 and 2$"):
        _drain(jobs.run_in_process(fx.fails_oddly, threading.Event()))


def test_cancel_stops_the_job_or_ends_its_process(monkeypatch):
    from _processes import children, workers_left

    before = children()
    stop = threading.Event()
    gen = jobs.run_in_process(fx.until_stopped, stop)
    assert next(gen) == "started"
    stop.set()
    assert _drain(gen) == ([], None)  # it saw should_stop() and stopped by itself
    monkeypatch.setattr(jobs, "CANCEL_GRACE_S", 1.0)
    stop = threading.Event()
    gen = jobs.run_in_process(fx.ignores_stop, stop)
    assert next(gen) == "started"
    stop.set()
    items, value = _drain(gen)  # ended by force: the user is told
    assert value is None and len(items) == 1 and isinstance(items[0], jobs.Ended)
    assert not workers_left(before)


def test_the_jobs_module_loads_without_qt():
    import subprocess

    code = (
        "import sys, napari_mousestop.gui.tasks; "
        "print(sorted(m for m in ('qtpy', 'napari', 'PyQt6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
