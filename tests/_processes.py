"""Child processes of the test process: what a cancelled parallel run must leave behind."""

from __future__ import annotations

import psutil


def children() -> set[int]:
    """PIDs of every process started by the test process, at any depth."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


def workers_left(before: set[int]) -> list[psutil.Process]:
    """Child processes started since ``before`` (:func:`children`) and still running.

    Ended processes may linger as zombies until reaped: they do not count, nor does
    multiprocessing's resource tracker (one per interpreter, kept for its life).
    """
    left = []
    for p in psutil.Process().children(recursive=True):
        if p.pid in before:
            continue
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(
                p.cmdline()
            ):
                left.append(p)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return left
