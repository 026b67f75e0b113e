"""The ``mousestop`` command line: thin wrappers that parse arguments, call the core and report."""

from napari_mousestop.cli.app import app

__all__ = ["app"]
