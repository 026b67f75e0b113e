"""The ``mousestop`` command line as a click command, for the generated CLI reference."""

import typer

from .cli import app

command = typer.main.get_command(app)
