"""The package's exceptions and warnings, in one place.

Every error a user can cause (a bad file, a bad value, a model that does not fit the data)
derives from :class:`MousestopError`, and also from :class:`ValueError` so code written against
the earlier ``ValueError`` keeps working. The command line prints these as one line and exits 1;
the napari widgets show them as one notification.

:class:`Cancelled` is not an error: it is raised by long operations (stops, datasets, training,
explanations) when their ``should_stop()`` callable returned True, so that nothing partial is
returned.
"""

from __future__ import annotations


class MousestopError(Exception):
    """Base of every error a user can cause; the message names the file and the problem."""


class LMTError(MousestopError, ValueError):
    """A file that is not a usable LMT database; the message starts with the file's path."""


class FileChanged(LMTError):
    """The file changed while its pages were read (another program wrote to it); read it again."""


class TrackerError(MousestopError, ValueError):
    """A recording of another tracker (read through movement) that cannot be used: a file movement
    cannot read, a missing calibration or frame rate, an unknown individual or keypoint, or
    movement not installed; the message starts with the file's path."""


class CohortError(MousestopError, ValueError):
    """A cohort file or label that cannot be used; the message names the file and the rows."""


class LayoutError(MousestopError, ValueError):
    """A layout file or photo alignment that cannot be used; the message names the problem."""


class DatasetError(MousestopError, ValueError):
    """A dataset file or array that cannot be used; the message names the file and the problem."""


class BatchError(MousestopError, ValueError):
    """No recording of the cohort could be used; the message lists why each failed."""


class ClusterError(MousestopError, ValueError):
    """A Dask scheduler that cannot be reached; the message names its address."""


class CheckpointError(MousestopError, ValueError):
    """A checkpoint that cannot be read or does not fit the data; the message says why."""


class Cancelled(RuntimeError):
    """The user (or a caller's ``should_stop()``) asked a running operation to stop.

    Raised instead of returning a partial result; nothing was written.
    """


class ShortRecordingWarning(UserWarning):
    """Some intervals of a stack were not recorded and hold zeros."""


__all__ = [
    "BatchError",
    "Cancelled",
    "CheckpointError",
    "ClusterError",
    "CohortError",
    "DatasetError",
    "FileChanged",
    "LMTError",
    "LayoutError",
    "MousestopError",
    "ShortRecordingWarning",
    "TrackerError",
]
