"""The ``mousestop`` command line as a click command, for the generated CLI reference."""

import typer

from napari_mousestop.cli.app import app

command = typer.main.get_command(app)
