"""What stands between a campaign and an unlucky machine or a careless operator.

    with exclusive_run(store, campaign_id, name):   # Campaign.run(): one writer, and a clean end either way
        check_before_compute(cfg, task, store)      # templates, store, workers: before any training
        check_heldout(store, campaign_id, task)     # the same secret held-out split as the campaign's start
        ...

`exclusive_run` holds the campaign's lock (`knowledge.lock`), logs the run in the store and, when
the body raises, marks the campaign `failed` with a one-line reason (best effort: a full or damaged
store may refuse even that). Everything already stored stays; a re-run resumes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from archagent.agent.config import CampaignConfig, check_workers
from archagent.agent.prompting import Prompts, TaskBrief
from archagent.evals.tasks import Task
from archagent.knowledge.lock import CampaignLock
from archagent.knowledge.store import Store, StoreError


@contextlib.contextmanager
def exclusive_run(store: Store, campaign_id: int, name: str) -> Iterator[None]:
    """The only run of this campaign (else `CampaignBusy`); on an error the campaign is marked failed."""
    try:
        lock = CampaignLock.acquire(store.path, campaign_id, name)
    except OSError as err:  # CampaignBusy is a StoreError, not an OSError: it passes through
        raise StoreError(f"cannot lock campaign '{name}' beside store {store.path}: {err.strerror}") from None
    try:
        run_id = store.begin_run(campaign_id, os.getpid(), socket.gethostname())
        try:
            yield
        except KeyboardInterrupt:
            _end(store, run_id, "interrupted", "stopped by the operator (Ctrl-C)")
            raise
        except sqlite3.Error as err:
            reason = one_line(err, store.path)
            _end(store, run_id, "failed", reason)
            raise StoreError(reason) from err
        except BaseException as err:
            _end(store, run_id, "failed", one_line(err, store.path))
            raise
        _end(store, run_id, "finished")
    except sqlite3.Error as err:  # begin_run itself failed: the store is full, read-only or damaged
        raise StoreError(one_line(err, store.path)) from err
    finally:
        lock.release()


def _end(store: Store, run_id: int, outcome: str, reason: str | None = None) -> None:
    with contextlib.suppress(sqlite3.Error):  # a full or damaged store may refuse even this
        store.end_run(run_id, outcome, reason)


def one_line(err: BaseException, store: Path | None = None) -> str:
    """A fatal error as one human-readable line (the reason stored with a failed campaign)."""
    if isinstance(err, sqlite3.Error):
        text, where = str(err), f"store {store}" if store else "the knowledge store"
        if "full" in text:
            return f"{where}: disk full ({text}); free space and run again to resume"
        if "malformed" in text or "not a database" in text:
            return f"{where} is damaged ({text}); restore a copy, or use another store"
        return f"{where}: {text}"
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    text = " ".join(str(err).split()) or type(err).__name__
    return text if isinstance(err, (ValueError, RuntimeError)) else f"{type(err).__name__}: {text}"


def check_heldout(store: Store, campaign_id: int, task: Task) -> None:
    """A generated task's held-out split is named by `task.heldout_id` (evals/tasks/heldout.py): recorded at the
    campaign's first run, and a resume under another secret is refused (its metrics would not compare)."""
    if task.heldout_id is None:
        return
    key = f"heldout_id:{campaign_id}"
    recorded = store.meta(key)
    if recorded is None:
        store.set_meta(key, task.heldout_id)
    elif recorded != task.heldout_id:
        raise StoreError(f"this campaign was scored on held-out split {recorded}, but this install's secret gives "
                         f"{task.heldout_id}: restore the key (evals/tasks/heldout.py says where it lives) or set "
                         "[task] options.heldout_seed as at the start, or start a new campaign")


def check_before_compute(cfg: CampaignConfig, task: Task, store: Store) -> None:
    """Everything that can fail without training anything: prompt templates, the store, the worker count."""
    Prompts(cfg.prompts_dir).validate(TaskBrief.of(task))
    store.check_integrity()
    store.check_writable()
    check_workers(cfg.executor)
