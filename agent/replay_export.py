"""Export a campaign's LLM replies as a replay file, to re-run it exactly with the replay backend.

    archagent export-replay digits-demo --out demo.jsonl
    # re-run: the same config with  [[backends]] kind = "replay", path = "demo.jsonl"

Proposal replies are written in the order their candidates were created (the
order a re-run consumes them), then analysis and repair replies in the order
they were made; each row carries its `purpose`, so a replay backend serves
each purpose from its own stream. Calls that ended in an error have no reply
to replay and are left out (counted in the summary).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from agent.llm.replay import stream
from knowledge.records import LLMCall
from knowledge.store import Store


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    rows: int
    by_purpose: dict[str, int]
    skipped_errors: int  # calls with no reply (LLM errors): a re-run cannot reproduce them


def replay_row(call: LLMCall) -> dict:
    return dict(reply=call.reply, model=call.model, purpose=call.purpose, backend=call.backend,
                prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens, cost_usd=call.cost_usd)


def ordered_calls(store: Store, campaign_id: int) -> list[LLMCall]:
    """Proposal calls (resampled copies included) in candidate order, then every other call in call order.

    A resampled copy ("propose-copy") has no candidate: it sorts just before the proposal call after it.
    """
    made_by = {c.llm_call_id: c.id for c in store.candidates(campaign_id) if c.llm_call_id is not None}
    calls = store.llm_calls(campaign_id)
    proposals, pending = [], []
    for call in sorted((c for c in calls if stream(c.purpose) == "propose"), key=lambda c: c.id):
        if call.purpose != "propose":
            pending.append(call)
            continue
        proposals.append(((made_by.get(call.id, math.inf), call.id), [*pending, call]))
        pending = []
    ordered = [c for _, group in sorted(proposals, key=lambda p: p[0]) for c in group] + pending
    return ordered + [c for c in calls if stream(c.purpose) != "propose"]


def export_replay(store: Store, campaign: str, out: Path) -> ExportSummary:
    camp = store.campaign(campaign)
    calls = ordered_calls(store, camp.id)
    rows = [replay_row(c) for c in calls if c.error is None]
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return ExportSummary(out, len(rows), dict(Counter(r["purpose"] for r in rows)), len(calls) - len(rows))
