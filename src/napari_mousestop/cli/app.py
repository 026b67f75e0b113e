"""The ``mousestop`` Typer application: every subcommand registered in pipeline order.

The subcommands live in one module per group: :mod:`.data` (``synth``, ``stops``, ``qc``,
``dataset``), :mod:`.model` (``train``, ``predict``, ``explain``), :mod:`.viewer` (``launch``) and
:mod:`.demo` (``demo``). They are plain functions; the order below is the order of
``mousestop --help``.
"""

from __future__ import annotations

import typer

from napari_mousestop.cli import data, demo, model, viewer

app = typer.Typer(
    help="Stops of Live Mouse Tracker mice: synthetic data, stop tables, datasets, CNN, maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for command in (
    data.synth,
    data.stops,
    data.qc,
    data.dataset,
    model.train,
    model.predict,
    model.explain,
    viewer.launch,
    demo.demo,
):
    app.command()(command)
