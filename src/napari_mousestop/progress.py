"""The one progress protocol of every long operation (stops, datasets, training, prediction,
explanations).

A long operation takes ``progress``, a callable that receives a :class:`Progress` after each
step (an animal, a recording, an epoch, a fold...). The command line turns these into tqdm bars
and the napari widgets into napari progress bars; both read only ``done``, ``total`` and
``message``. Training sends :class:`~napari_mousestop.learning.config.EpochProgress`, a
:class:`Progress` that also carries the epoch's losses for live plots.

Cancelling: training also takes ``should_stop()``, checked before every batch; any operation
stops when its ``progress`` callable raises :class:`~napari_mousestop.errors.Cancelled`, the one
cancellation exception, which then propagates to the caller (nothing partial is returned).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` steps finished; ``message`` says what is being done."""

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """``done / total`` (1.0 when there is nothing to do)."""
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]
"""What a long operation calls after every step."""


def notify(progress: ProgressCallback | None, done: int, total: int, message: str = "") -> None:
    """Send ``Progress(done, total, message)`` to ``progress`` (nothing when it is None)."""
    if progress is not None:
        progress(Progress(int(done), int(total), message))


__all__ = ["Progress", "ProgressCallback", "notify"]
