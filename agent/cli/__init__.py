"""The `archagent` command line: one Typer app, one module per command group.

    archagent run examples/digits.toml          # campaign.py: run, status
    archagent list digits-demo                  # review.py: list, show, diff, lineage, report, serve
    archagent evaluate --task digits m.py       # tools.py: evaluate, score, fingerprint
    archagent backends check examples/digits.toml   # knowledge.py: backends check, export-replay
    archagent final digits-demo --top 3 --seeds 3   # final.py: final, export
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Annotated

import typer
from archagent.agent.cli import campaign, final, knowledge, review, tools
from archagent.agent.cli.options import OPENED, USER_ERRORS, error_line
from archagent.agent.run_guard import one_line

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="LLM-driven neural-architecture discovery. Candidate ids are global to a store "
                       "(one numbering across all its campaigns).")


def _print_version(value: bool) -> None:
    if value:
        from archagent import __version__

        print(f"archagent {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                help="print the version and exit")] = False) -> None:
    """LLM-driven neural-architecture discovery."""


for group in (campaign, review, tools, knowledge, final):
    for name, command in group.COMMANDS.items():
        app.command(name)(command)
app.add_typer(knowledge.backends, name="backends")


def main() -> None:
    """Entry point: user mistakes and fatal store or disk errors become one red line and exit status 2."""
    try:
        app(standalone_mode=True)
    except USER_ERRORS as err:
        error_line(err)
        sys.exit(2)
    except (sqlite3.Error, OSError) as err:
        error_line(one_line(err, OPENED[-1] if OPENED else None))
        sys.exit(2)


__all__ = ["app", "main"]
