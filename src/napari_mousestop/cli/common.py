"""What every ``mousestop`` subcommand shares: a user's errors become one line and exit 1."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

import typer

from napari_mousestop.errors import MousestopError

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

