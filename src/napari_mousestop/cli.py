"""The ``mousestop`` command line: thin wrappers that parse arguments, call the core and report."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

import typer

app = typer.Typer(
    help="Stops of Live Mouse Tracker mice: synthetic data, stop tables, datasets, CNN, maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable)


def friendly_errors(func: F) -> F:
    """Turn the errors a user can cause (bad files, bad values) into one line and exit code 1."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ValueError, OSError, KeyError) as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


# Commands are added below, one block per core module.
