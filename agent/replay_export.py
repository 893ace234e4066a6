"""Export a campaign's LLM replies as a replay file, to re-run it exactly with the replay backend.

    archagent export-replay digits-demo --out demo.jsonl
    # re-run: the same config with  [[backends]] kind = "replay", path = "demo.jsonl"

Proposal replies are written in the order their candidates were created (the
order a re-run consumes them), then analysis and repair replies in the order
they were made; each row carries its `purpose`, so a replay backend serves
each purpose from its own stream. Calls that ended in an error have no reply
to replay and are left out (counted in the summary).

Agent proposals (agent/operators) also name their `operator`, `parents`
(text keys) and `island`, so the re-run applies an edit to the same parent
and records the same island; an AST
mutation has no LLM call and is written as a row with its `code`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from archagent.agent.llm.replay import stream
from archagent.agent.operators.agent import operator_of
from archagent.knowledge.records import Candidate, LLMCall
from archagent.knowledge.store import Store


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    rows: int
    by_purpose: dict[str, int]
    skipped_errors: int  # calls with no reply (LLM errors): a re-run cannot reproduce them


def replay_row(call: LLMCall) -> dict:
    return dict(reply=call.reply, model=call.model, purpose=call.purpose, backend=call.backend,
                prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens, cost_usd=call.cost_usd)


def operator_fields(cand: Candidate, by_id: dict[int, Candidate]) -> dict:
    """What an agent's re-run needs to make the same proposal: its operator and parents (by text key)."""
    if not operator_of(cand):
        return {}
    parents = [by_id[p].text_key for p in cand.parent_ids if p in by_id]
    return {"operator": operator_of(cand), "parents": parents, "island": cand.island}


def mutation_row(cand: Candidate, by_id: dict[int, Candidate]) -> dict:
    return dict(reply="", purpose="propose", backend=cand.backend, code=cand.code, **operator_fields(cand, by_id))


def export_rows(store: Store, campaign_id: int) -> tuple[list[dict], int]:
    """The replay rows in the order a re-run consumes them, and the number of error calls left out."""
    cands = store.candidates(campaign_id)
    by_id, made_by = {c.id: c for c in cands}, {c.llm_call_id: c for c in cands if c.llm_call_id is not None}
    calls = ordered_calls(store, campaign_id)
    groups: list[tuple[float, list[dict]]] = []
    group: list[dict] = []
    for call in calls:
        if stream(call.purpose) != "propose":
            continue
        cand = made_by.get(call.id)
        group.append({**replay_row(call), "error": call.error} if call.error is None else {"error": call.error})
        if call.purpose == "propose":
            fields = operator_fields(cand, by_id) if cand else {}
            groups.append((cand.id if cand else math.inf, [{**r, **fields} for r in group]))
            group = []
    groups += [(c.id, [mutation_row(c, by_id)]) for c in cands if operator_of(c) == "mutation" and not c.llm_call_id]
    rows = [r for _, g in sorted(groups, key=lambda g: g[0]) for r in g] + group
    rows += [{**replay_row(c), "error": c.error} for c in calls if stream(c.purpose) != "propose"]
    kept = [{k: v for k, v in r.items() if k != "error"} for r in rows if r.get("error") is None]
    return kept, len(rows) - len(kept)


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
    rows, skipped = export_rows(store, store.campaign(campaign).id)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return ExportSummary(out, len(rows), dict(Counter(r["purpose"] for r in rows)), skipped)
