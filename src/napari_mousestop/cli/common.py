"""What every ``mousestop`` subcommand shares: a user's errors become one line and exit 1;
progress reports (:class:`~napari_mousestop.progress.Progress`) become a tqdm bar."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

import typer

from napari_mousestop.errors import MousestopError
from napari_mousestop.progress import Progress

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
