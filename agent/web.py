"""A small local web app over a knowledge store: leaderboard, candidate pages, lineage graph.

    archagent serve --store archagent.db      # http://127.0.0.1:8765/

    from agent.web import make_server
    server = make_server(Path("archagent.db"), "127.0.0.1", 0)   # port 0: any free port
    threading.Thread(target=server.serve_forever, daemon=True).start()

Stdlib `ThreadingHTTPServer`; every request opens its own read-only SQLite
connection, so pages stay readable while a campaign writes (WAL). Pages of a
running campaign refresh themselves.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from markupsafe import Markup

from evals.report.data import ReportData, gather
from evals.report.lineage import code_diff
from evals.report.lineage_plot import lineage_svg
from evals.report.plots import training_curve
from evals.report.render import environment
from knowledge.records import Status
from knowledge.store import Store, StoreError

log = logging.getLogger("archagent.web")
SORTS = {"metric", "id", "params", "flops", "test"}


@dataclass(frozen=True)
class Page:
    status: int
    body: str


def open_readonly(path: Path) -> Store:
    return Store.open_readonly(path)


def render(name: str, **ctx) -> str:
    return environment().get_template(name).render(**ctx)


def sort_rows(data: ReportData, key: str, status: str | None) -> list:
    rows = [c for c in data.candidates if status is None or str(c.status) == status]
    sign = -1 if data.higher_is_better else 1
    keys: dict[str, Callable] = {
        "id": lambda c: (c.id,),
        "params": lambda c: (c.params is None, c.params or 0, c.id),
        "flops": lambda c: (c.flops is None, c.flops or 0, c.id),
        "test": lambda c: (c.test_metric is None, sign * (c.test_metric or 0.0), c.id),
        "metric": lambda c: (c.metric is None, sign * (c.metric or 0.0), c.id),
    }
    return sorted(rows, key=keys[key])


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
        data = gather(store, name)
        sort, status = query.get("sort", "metric"), query.get("status") or None
        if sort not in SORTS or (status and status not in set(Status)):
            raise ValueError(f"unknown sort '{sort}' or status '{status}'")
        return Page(HTTPStatus.OK, render("web_campaign.html.j2", data=data, camp=data.campaign,
                                          rows=sort_rows(data, sort, status), sort=sort, status=status,
                                          statuses=list(Status), funnel=data.funnel()))

    def lineage(self, store: Store, name: str, top: int) -> Page:
        data = gather(store, name)
        svg = lineage_svg(data, top, href=lambda cid: f"/candidate/{cid}")
        return Page(HTTPStatus.OK, render("web_lineage.html.j2", data=data, camp=data.campaign, top=top,
                                          svg=Markup(svg) if svg else None))

    def candidate(self, store: Store, cid: int, query: dict[str, str]) -> Page:
        cand = store.candidate(cid)
        data = gather(store, cand.campaign_id)
        lin = data.lineage
        vs = int(query["vs"]) if query.get("vs", "").isdigit() else lin.parent(cid)
        other = lin.by_id.get(vs) if vs is not None else None
        call = store.llm_call(cand.llm_call_id) if cand.llm_call_id else None
        return Page(HTTPStatus.OK, render(
            "web_candidate.html.j2", data=data, camp=data.campaign, c=cand, other=other,
            diff=code_diff(other, cand) if other else "", curve=training_curve(cand), call=call,
            chain=[lin.by_id[a] for a in lin.chain(cid)[1:] if a in lin.by_id],
            children=[lin.by_id[k] for k in lin.children(cid)]))


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
