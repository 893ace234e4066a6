"""What every `archagent` command shares: the `--store`/`--json` options, the one-line error, opening a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from archagent.agent.config import CampaignConfig, ConfigError
from archagent.agent.llm import LLMError
from archagent.evals.tasks import Task, TaskError, get_task
from archagent.knowledge.records import Campaign
from archagent.knowledge.store import Store, StoreError
from archagent.sandbox.isolation import JailUnavailable
from archagent.sandbox.untrusted import for_terminal
from rich.console import Console

console = Console()
USER_ERRORS = (ConfigError, StoreError, TaskError, LLMError, FileNotFoundError, ValueError, JailUnavailable)
DEFAULT_STORE = Path("archagent.db")
StoreOpt = Annotated[Path, typer.Option("--store", envvar="ARCHAGENT_STORE", help="knowledge store (SQLite file)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def error_line(message: object) -> None:
    """Print `error: MESSAGE` as one line on stderr."""
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {for_terminal(str(message))}", highlight=False)


def fail(message: str) -> None:
    error_line(message)
    raise typer.Exit(2)


OPENED: list[Path] = []  # the store this command opened, to name it in a fatal SQLite error (`main`)


def open_store(path: Path) -> Store:
    """The store for a read command: opened read-only, never created, migrated or written."""
    if not path.exists():
        fail(f"no knowledge store at {path} (run a campaign first, or pass --store)")
    OPENED.append(path)
    return Store.open_readonly(path)


def task_of(camp: Campaign) -> Task:
    """The campaign's task, built from its stored config (options included)."""
    cfg = CampaignConfig.model_validate_json(camp.config_json)
    return get_task(cfg.task.name, cfg.task.options)
