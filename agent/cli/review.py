"""Reading a campaign: `list`, `show`, `diff`, `lineage`, `report` and `serve`.

    archagent list digits-demo  # leaderboard
    archagent show 7 --prompt   # one candidate, with the prompt and reply that produced it
    archagent diff 9            # unified diff of #9 vs its parent
    archagent diff 9 2 --json   # vs #2, as {"from", "to", "diff"}
    archagent lineage 9         # ancestor chain down to #9, then its descendants, as a tree
    archagent report digits-demo --out report.html   # or report.md
    archagent serve --store archagent.db             # http://127.0.0.1:8765
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from archagent.agent.cli.options import DEFAULT_STORE, JsonOpt, StoreOpt, console, open_store, task_of
from archagent.agent.display import fmt_int, fmt_metric, leaderboard
from archagent.evals.report.lineage import Lineage, Node, arch_name, code_diff
from archagent.knowledge.records import Candidate, Status, ranked
from archagent.knowledge.store import Store
from archagent.sandbox.untrusted import for_terminal
from rich.syntax import Syntax
from rich.tree import Tree

SORT_KEYS = ("metric", "test_metric", "params", "flops", "prefilter_score", "id")  # best / smallest first
PAGED = {"metric": "rank", "test_metric": "test", "params": "params", "flops": "flops", "id": "id"}  # Store.page


MAX_NODES = 200  # descendants `lineage` shows; a seed of a 100k campaign has tens of thousands

CandidateId = Annotated[int, typer.Argument(help="candidate id (global: unique across the store's campaigns)")]


def list_(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    store: StoreOpt = DEFAULT_STORE,
    status_: Annotated[list[Status] | None, typer.Option("--status", help="only these statuses")] = None,
    sort: Annotated[str, typer.Option(help="any numeric column: " + " | ".join(SORT_KEYS))] = "metric",
    limit: Annotated[int, typer.Option(help="rows to show (0 = all)")] = 0,
    offset: Annotated[int, typer.Option(help="skip this many rows first (pages: --limit 50 --offset 50)")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Leaderboard of a campaign's candidates.

    Example: archagent list digits-demo --sort flops --status ok --limit 10
    """
    st = open_store(store)
    camp = st.campaign(campaign)
    task = task_of(camp)
    statuses = tuple(status_ or ())
    key = {"test": "test_metric", "prefilter": "prefilter_score"}.get(sort, sort)
    if key in PAGED:  # an indexed page: never reads the whole campaign
        cands = st.page(camp.id, sort=PAGED[key], higher_is_better=task.higher_is_better, statuses=statuses,
                        limit=limit or st.count(camp.id, *statuses), offset=offset)
    else:
        cands = sort_candidates(st.candidates(camp.id, *statuses), key, task.higher_is_better)
        cands = cands[offset: offset + limit if limit else None]
    if as_json:
        print(json.dumps([candidate_json(c) for c in cands], indent=2))
    else:
        console.print(leaderboard(cands, task.metric_name))


def sort_candidates(cands: list[Candidate], key: str, higher_is_better: bool) -> list[Candidate]:
    """Sort by a numeric column; candidates without a value go last (by id). Metrics: best first;
    params, FLOPs: smallest first; pre-filter score: highest (predicted best) first."""
    key = {"test": "test_metric", "prefilter": "prefilter_score"}.get(key, key)
    if key not in SORT_KEYS:
        raise ValueError(f"unknown sort key '{key}' (use {', '.join(SORT_KEYS)})")
    if key == "metric":
        best = ranked(cands, higher_is_better)
        return best + sorted((c for c in cands if c.id not in {b.id for b in best}), key=lambda c: c.id)
    descending = key == "prefilter_score" or (key == "test_metric" and higher_is_better)
    sign = -1 if descending else 1
    return sorted(cands, key=lambda c: (getattr(c, key) is None, sign * (getattr(c, key) or 0), c.id))


def candidate_json(c: Candidate) -> dict:
    d = asdict(c)
    d["status"], d["failure_kind"] = str(c.status), c.failure_kind and str(c.failure_kind)
    return d


def show(
    candidate_id: CandidateId,
    store: StoreOpt = DEFAULT_STORE,
    prompt: Annotated[bool, typer.Option("--prompt", help="also print the prompt and reply that produced it")] = False,
    as_json: JsonOpt = False,
) -> None:
    """One candidate: code, metrics, pre-filter score, proxies, failure, parents, children, operator.

    Example: archagent show 7 --prompt
    """
    st = open_store(store)
    c = st.candidate(candidate_id)
    call = st.llm_call(c.llm_call_id) if c.llm_call_id else None
    children = [k.id for k in st.children(c.id)]
    if as_json:
        d = {**candidate_json(c), "children": children}
        if prompt and call:
            d["prompt"], d["reply"] = json.loads(call.prompt), call.reply
        print(json.dumps(d, indent=2))
        return
    console.print(f"[bold]candidate #{c.id}[/] [{c.status}] backend={c.backend} parents={list(c.parent_ids)}")
    console.print(f"metric {fmt_metric(c.metric)}  test {fmt_metric(c.test_metric)}  params {fmt_int(c.params)}  "
                  f"FLOPs {fmt_int(c.flops)}")
    for line in provenance(c, children):
        console.print(line, highlight=False)
    if c.idea:
        from archagent.knowledge.ideas.usage import idea_label

        console.print(f"idea: {idea_label(st.campaign(c.campaign_id), c.idea)}", highlight=False)
    if c.failure_kind:
        console.print(f"[red]{c.failure_kind}[/]: {for_terminal(c.failure_msg)}")
    if c.duplicate_of:
        console.print(f"duplicate of #{c.duplicate_of} (matched on {c.matched_on})")
    if c.proxies:
        console.print("proxies: " + ", ".join(f"{k}={v:.3g}" for k, v in sorted(c.proxies.items())))
    if c.code:
        console.print(Syntax(c.code, "python", line_numbers=True))
    if prompt and call:
        for m in json.loads(call.prompt):
            console.rule(m["role"])
            console.print(m["content"], markup=False, highlight=False)
        console.rule("reply")
        console.print(call.reply, markup=False, highlight=False)


def provenance(c: Candidate, children: list[int]) -> list[str]:
    """How the candidate came to be and what came of it: operator, pre-filter verdict, children."""
    operator = c.operator
    lines = [f"made by: {c.backend}" + (f" ({operator})" if operator else "")]
    predicted = c.predicted_metric
    lines.append("pre-filter: " + ("not scored (seeds and failed builds skip it)" if c.prefilter_score is None
                                   else f"score {fmt_metric(c.prefilter_score)}")
                 + (f", predicted metric {fmt_metric(predicted)}" if predicted is not None else "")
                 + (f" ({c.prefilter_reason})" if c.prefilter_reason else ""))
    lines.append("children: " + (" ".join(f"#{k}" for k in children) or "none"))
    return lines


def campaign_lineage(store: Store, cand: Candidate, max_nodes: int = MAX_NODES) -> Lineage:
    """The lineage around `cand`: its first-parent chain and its descendants (at most `max_nodes`), read by id
    through the parent-edge index (never the whole campaign)."""
    ids = {*store.first_parent_chain(cand.id), *store.subtree_ids(cand.id, max_nodes)}
    return Lineage([c for c in store.by_ids(ids) if c.campaign_id == cand.campaign_id])


def resolve_pair(lin: Lineage, cid: int, other: int | None) -> tuple[Candidate, Candidate]:
    """(old, new) for `diff ID [OTHER]`: OTHER → ID, or ID's parent → ID."""
    new = lin.by_id[cid]
    old_id = other if other is not None else lin.parent(cid)
    if old_id is None:
        raise ValueError(f"candidate {cid} has no parent (a seed?); pass the id to compare with")
    if old_id not in lin.by_id:
        raise ValueError(f"candidate {old_id} is not in the campaign of candidate {cid}")
    return lin.by_id[old_id], new


def diff(
    candidate_id: CandidateId,
    other_id: Annotated[int | None, typer.Argument(help="compare with this candidate id (default: the parent)")] = None,
    store: StoreOpt = DEFAULT_STORE,
    as_json: JsonOpt = False,
) -> None:
    """Unified diff of a candidate's code vs its parent (or vs OTHER_ID).

    Example: archagent diff 9 2
    """
    st = open_store(store)
    cand = st.candidate(candidate_id)
    lin = Lineage([c for c in st.by_ids({cand.id, *cand.parent_ids[:1], *([other_id] if other_id else [])})
                   if c.campaign_id == cand.campaign_id])
    old, new = resolve_pair(lin, candidate_id, other_id)
    text = code_diff(old, new)
    if as_json:
        print(json.dumps({"from": old.id, "to": new.id, "diff": text}))
    elif text:
        console.print(Syntax(text, "diff", theme="ansi_dark"))
    else:
        console.print(f"#{old.id} and #{new.id} have identical code")


def node_json(lin: Lineage, node: Node) -> dict:
    c = lin.by_id[node.id]
    out = {**summary(c), "repeat": node.repeat}
    if not node.repeat:
        out["children"] = [node_json(lin, k) for k in node.children]
    return out


def summary(c: Candidate) -> dict:
    return {"id": c.id, "status": str(c.status), "metric": c.metric, "params": c.params, "backend": c.backend,
            "parent_ids": list(c.parent_ids), "name": arch_name(c)}


def lineage_tree(lin: Lineage, cid: int) -> Tree:
    """Root ancestor → ... → cid (bold), then cid's descendants beneath it."""
    chain = list(reversed(lin.chain(cid)))
    tree = Tree(_label(lin, chain[0], cid))
    branch = tree
    for a in chain[1:]:
        branch = branch.add(_label(lin, a, cid))
    for kid in lin.descendants(cid).children:
        _add(branch, lin, kid, cid)
    return tree


def _add(branch: Tree, lin: Lineage, node: Node, focus: int) -> None:
    sub = branch.add(_label(lin, node.id, focus) + (" [dim](shown above)[/]" if node.repeat else ""))
    for kid in node.children:
        _add(sub, lin, kid, focus)


def _label(lin: Lineage, cid: int, focus: int) -> str:
    c = lin.by_id.get(cid)
    if c is None:
        return f"#{cid} [dim](not in this campaign)[/]"
    metric = f" {c.metric:.4f}" if c.metric is not None else ""
    co = c.parent_ids[1:]
    extra = f" [dim]co-parents {', '.join(f'#{p}' for p in co)}[/]" if co else ""
    text = f"#{c.id} [{_style(c)}]{c.status}[/]{metric} {arch_name(c, 30)} [dim]{c.backend}[/]{extra}"
    return f"[bold reverse]{text}[/]" if cid == focus else text


def _style(c: Candidate) -> str:
    return {"ok": "green", "failed": "red"}.get(str(c.status), "dim")


def lineage(
    candidate_id: CandidateId,
    store: StoreOpt = DEFAULT_STORE,
    as_json: JsonOpt = False,
) -> None:
    """A candidate's ancestor chain and its descendants, as a tree.

    Example: archagent lineage 9 --json
    """
    st = open_store(store)
    lin = campaign_lineage(st, st.candidate(candidate_id))
    if as_json:
        ancestors = [summary(lin.by_id[a]) for a in lin.chain(candidate_id)[1:] if a in lin.by_id]
        print(json.dumps({"id": candidate_id, "ancestors": ancestors,
                          "descendants": node_json(lin, lin.descendants(candidate_id))}, indent=2))
    else:
        console.print(lineage_tree(lin, candidate_id))
        if len(lin.by_id) >= MAX_NODES:
            console.print(f"[dim](descendants cut at {MAX_NODES} candidates)[/]")


def report(
    campaign: Annotated[str, typer.Argument(help="campaign name or id")],
    out: Annotated[Path, typer.Option("--out", help="report file: .html (self-contained) or .md")] = Path(
        "report.html"),
    store: StoreOpt = DEFAULT_STORE,
    top: Annotated[int, typer.Option(help="architectures in the top table and lineage graph")] = 10,
) -> None:
    """Write a campaign report with plots: one self-contained HTML file, or Markdown + PNGs.

    Example: archagent report digits-demo --out report.html
    """
    from archagent.evals.report import write_report

    path = write_report(open_store(store), campaign, out, top)
    console.print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


def serve(
    store: StoreOpt = DEFAULT_STORE,
    host: Annotated[str, typer.Option(help="address to bind (default: this machine only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port)")] = 8765,
) -> None:
    """Browse campaigns in a local web app (leaderboard, candidates, lineage); safe while a campaign runs.

    Example: archagent serve --store archagent.db --port 8765
    """
    from archagent.agent.web import make_server

    open_store(store).close()  # fail early, with one line, on a missing or unreadable store
    try:
        server = make_server(store, host, port)
    except OSError as err:
        raise ValueError(f"cannot serve on {host}:{port}: {err.strerror or err}") from None
    console.print(f"archagent web app on http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = {"list": list_, "show": show, "diff": diff, "lineage": lineage, "report": report, "serve": serve}
