"""The research commands, with the same --db / --home options as ``galactive``."""

from __future__ import annotations

import typer

from app.cli import global_options
from research.compare import compare
from research.evaluate import evaluate
from research.experiment import experiment
from research.followup_evaluate import followup_evaluate
from research.probe import probe

app = typer.Typer(
    name="research",
    help="Galactive research: evaluation grids, experiments with every knob, oracle references.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.callback()(global_options)
app.command("compare")(compare)
app.command("evaluate")(evaluate)
app.command("experiment")(experiment)
app.command("followup-evaluate")(followup_evaluate)
app.command("probe")(probe)
