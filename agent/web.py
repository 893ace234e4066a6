"""A small local web app over a knowledge store: leaderboard, candidate pages, lineage graph.

    archagent serve --store archagent.db      # http://127.0.0.1:8765/

    from archagent.agent.web import make_server
    server = make_server(Path("archagent.db"), "127.0.0.1", 0)   # port 0: any free port
    threading.Thread(target=server.serve_forever, daemon=True).start()

Stdlib `ThreadingHTTPServer`; every request opens its own read-only SQLite
connection, so pages stay readable while a campaign writes (WAL). Pages of a
running campaign refresh themselves. Every page reads a bounded amount: the
leaderboard is paginated on an index (?page=&per=), a candidate page shows
its first-parent chain and up to 200 children, the lineage page the top only.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote, urlsplit

from archagent.evals.report.data import gather, overview, task_metric
from archagent.evals.report.lineage import code_diff
from archagent.evals.report.lineage_plot import lineage_svg
from archagent.evals.report.plots import training_curve
from archagent.evals.report.render import environment
from archagent.knowledge.ideas.usage import idea_label
from archagent.knowledge.records import Status
from archagent.knowledge.store import Store, StoreError
from markupsafe import Markup

log = logging.getLogger("archagent.web")
SORTS = {"metric", "id", "params", "flops", "test"}
PER_PAGE, MAX_CHAIN, MAX_CHILDREN = 50, 50, 200  # leaderboard rows per page; lineage shown on a candidate page


@dataclass(frozen=True)
class Page:
    status: int
    body: str


def open_readonly(path: Path) -> Store:
    return Store.open_readonly(path)


def render(name: str, **ctx) -> str:
    return environment().get_template(name).render(**ctx)


def page_args(query: dict[str, str]) -> tuple[int, int]:
    """(page number from 1, rows per page) from ?page=&per= (per: 1..500, default 50)."""
    page, per = int(query.get("page", 1)), int(query.get("per", PER_PAGE))
    if page < 1 or not 1 <= per <= 500:
        raise ValueError(f"bad page {page} or rows per page {per} (1-500)")
    return page, per


class App:
    """Routes a GET path to an HTML page; all reads go through a fresh read-only store."""

    def __init__(self, store_path: Path):
        self.store_path = Path(store_path)

    def get(self, url: str) -> Page:
        parts = urlsplit(url)
        segs = [unquote(s) for s in parts.path.strip("/").split("/") if s]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        store = open_readonly(self.store_path)
        try:
            return self.route(store, segs, query)
        except (StoreError, KeyError, ValueError) as err:
            return Page(HTTPStatus.NOT_FOUND, render("web_error.html.j2", message=str(err).strip("'\"")))
        finally:
            store.close()

    def route(self, store: Store, segs: list[str], query: dict[str, str]) -> Page:
        match segs:
            case []:
                return self.index(store)
            case ["campaign", name]:
                return self.leaderboard(store, name, query)
            case ["campaign", name, "lineage"]:
                return self.lineage(store, name, int(query.get("top", 10)))
            case ["candidate", cid] if cid.isdigit():
                return self.candidate(store, int(cid), query)
        raise ValueError(f"no page at /{'/'.join(segs)}")

    def index(self, store: Store) -> Page:
        rows = [(c, store.counts(c.id)) for c in store.campaigns()]
        return Page(HTTPStatus.OK, render("web_index.html.j2", rows=rows, store=self.store_path))

    def leaderboard(self, store: Store, name: str, query: dict[str, str]) -> Page:
        data = overview(store, name)
        sort, status = query.get("sort", "metric"), query.get("status") or None
        if sort not in SORTS or (status and status not in set(Status)):
            raise ValueError(f"unknown sort '{sort}' or status '{status}'")
        page, per = page_args(query)
        statuses = (Status(status),) if status else ()
        rows = store.page(data.campaign.id, sort="rank" if sort == "metric" else sort, statuses=statuses,
                          higher_is_better=data.higher_is_better, limit=per, offset=(page - 1) * per)
        total = store.count(data.campaign.id, *statuses)
        return Page(HTTPStatus.OK, render("web_campaign.html.j2", data=data, camp=data.campaign, rows=rows,
                                          sort=sort, status=status, statuses=list(Status), funnel=data.funnel(),
                                          page=page, per=per, total=total, pages=max(1, -(-total // per))))

    def lineage(self, store: Store, name: str, top: int) -> Page:
        data = gather(store, name, top, series=False)
        svg = lineage_svg(data, top, href=lambda cid: f"/candidate/{cid}")
        return Page(HTTPStatus.OK, render("web_lineage.html.j2", data=data, camp=data.campaign, top=top,
                                          svg=Markup(svg) if svg else None))

    def candidate(self, store: Store, cid: int, query: dict[str, str]) -> Page:
        cand = store.candidate(cid)
        camp = store.campaign(cand.campaign_id)
        metric_name, higher = task_metric(camp.task, (json.loads(camp.config_json or "{}").get("task") or {})
                                          .get("options"))
        chain_ids = store.first_parent_chain(cid, MAX_CHAIN)
        kid_ids = store.child_ids(cid, MAX_CHILDREN + 1)
        vs = int(query["vs"]) if query.get("vs", "").isdigit() else (chain_ids[0] if chain_ids else None)
        by_id = {c.id: c for c in store.by_ids({*chain_ids, *kid_ids[:MAX_CHILDREN], *([vs] if vs else [])})}
        other = by_id.get(vs) if vs is not None else None
        if other is not None and other.campaign_id != cand.campaign_id:
            other = None
        call = store.llm_call(cand.llm_call_id) if cand.llm_call_id else None
        info = SimpleNamespace(metric_name=metric_name, higher_is_better=higher)
        return Page(HTTPStatus.OK, render(
            "web_candidate.html.j2", data=info, camp=camp, c=cand, other=other,
            diff=code_diff(other, cand) if other else "", curve=training_curve(cand), call=call,
            idea=idea_label(camp, cand.idea) if cand.idea else None,
            chain=[by_id[a] for a in chain_ids if a in by_id], more_children=len(kid_ids) > MAX_CHILDREN,
            children=[by_id[k] for k in kid_ids[:MAX_CHILDREN] if k in by_id]))


def handler_for(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "archagent"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            try:
                page = app.get(self.path)
            except sqlite3.Error as err:
                page = Page(HTTPStatus.SERVICE_UNAVAILABLE, f"store not readable: {err}")
            body = page.body.encode()
            self.send_response(page.status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:
            log.info("%s " + fmt, self.address_string(), *args)

    return Handler


def make_server(store_path: Path, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), handler_for(App(store_path)))
    server.daemon_threads = True
    return server
