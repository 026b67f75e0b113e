"""Jobs for tests/gui/test_jobs.py, importable by the job's spawned process."""

from __future__ import annotations

import time

from napari_mousestop.errors import Cancelled, DatasetError


def counts(emit, should_stop, n=3):
    """Emit 0..n-1, return n."""
    for i in range(n):
        emit(i)
    return n


def fails(emit, should_stop):
    raise DatasetError("cohort.npz: not a napari-mousestop dataset")


class _Odd(Exception):
    def __init__(self, a, b):  # cannot be rebuilt from its args: does not survive pickle
        super().__init__(f"{a} and {b}")


def fails_oddly(emit, should_stop):
    raise _Odd(1, 2)


def until_stopped(emit, should_stop):
    emit("started")
    while not should_stop():
        time.sleep(0.01)
    raise Cancelled()


def ignores_stop(emit, should_stop):
    emit("started")
    time.sleep(600)
