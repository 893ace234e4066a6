"""The Python API behind the CLI: evaluate, score and fingerprint candidate code.

    from archagent import evaluate, score, fingerprint
    ev = evaluate("digits", code)                  # Evaluation: status, metric, test_metric, params, ...
    [s] = score("digits", [code])                  # Score: proxies and a combined pre-filter score
    fp = fingerprint(code, task="digits")          # Fingerprint: text_key, code_key, graph_key

Every function runs untrusted code only in the sandbox (a fresh child process per
job) and returns immutable records; the `archagent evaluate|score|fingerprint`
commands print these records.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from typing import Any

from archagent.evals.tasks import Task, get_task
from archagent.knowledge.records import Candidate, Status
from archagent.sandbox.judge import Evaluation, Evaluator


@dataclass(frozen=True)
class Score:
    """The training-free pre-filter's view of one candidate (higher `score` = predicted better)."""

    status: str  # "ok" or a failure kind
    params: int | None
    flops: int | None
    proxies: dict[str, float | None]
    score: float | None  # rank-combined proxies among the candidates scored together
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {**self.proxies, **{k: v for k, v in asdict(self).items() if k != "proxies"}}


@dataclass(frozen=True)
class Fingerprint:
    """Dedup keys: exact text, normalised code, and (with a task) the executed graph."""

    text_key: str
    code_key: str | None  # None when the code does not parse
    graph_key: str | None = None  # only when a task was given and the model builds
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_task(task: str | Task, options: dict[str, Any] | None = None) -> Task:
    """A task object from a name (with options) or the task itself."""
    return task if isinstance(task, Task) else get_task(task, options or {})


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """`KEY=VALUE` strings → dict; values are TOML literals (3, 0.5, "x", [1, 2]) or plain strings."""
    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"task option '{item}' is not KEY=VALUE")
        try:
            parsed[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed[key.strip()] = value
    return parsed


def evaluator(task: str | Task, options: dict[str, Any] | None = None, timeout_s: float = 300.0,
              threads: int = 2) -> Evaluator:
    """An evaluator running each job in a fresh sandboxed process."""
    from archagent.sandbox.runner import SubprocessRunner

    return Evaluator(resolve_task(task, options), SubprocessRunner(timeout_s, threads=threads))


def evaluate(task: str | Task, code: str, *, options: dict[str, Any] | None = None,
             timeout_s: float = 300.0) -> Evaluation:
    """Fully evaluate one candidate in the sandbox through the campaign's own pipeline (probe, then train)."""
    from archagent.agent.pipeline import evaluate_once
    from archagent.sandbox.limits import SandboxLimits

    return as_evaluation(evaluate_once(code, resolve_task(task, options), SandboxLimits(timeout_s=timeout_s)))


def as_evaluation(c: Candidate) -> Evaluation:
    """A finished candidate record as the trusted `Evaluation` it came from."""
    return Evaluation(c.status == Status.OK, c.failure_kind, c.failure_msg, c.metric, c.test_metric, c.params,
                      c.flops, c.graph_key, dict(c.proxies), dict(c.features), dict(c.timings), list(c.history))


def score(task: str | Task, codes: list[str] | str, *, options: dict[str, Any] | None = None,
          timeout_s: float = 120.0) -> list[Score]:
    """Training-free pre-filter: params, FLOPs, proxies and a combined score, ranked among `codes`."""
    ev = evaluator(task, options, timeout_s)
    probes = [ev.evaluate(code, "probe") for code in ([codes] if isinstance(codes, str) else codes)]
    return [Score(p.status, p.params, p.flops, dict(p.proxies), s, p.failure_msg)
            for p, s in zip(probes, combined_scores(probes), strict=True)]


def combined_scores(probes: list[Evaluation]) -> list[float | None]:
    """Default-weight rank combination of the proxies, ranked among the probes given."""
    from archagent.evals.predictor import RankCombiner

    ok = [p.proxies for p in probes if p.ok]
    combiner = RankCombiner().fit(ok, [float("nan")] * len(ok))
    values = iter(combiner.score(ok))
    return [float(next(values)) if p.ok else None for p in probes]


def fingerprint(code: str, task: str | Task | None = None, *, options: dict[str, Any] | None = None,
                timeout_s: float = 120.0) -> Fingerprint:
    """Dedup fingerprints of one source; with a task, also the executed-graph key (built in the sandbox)."""
    from archagent.evals.fingerprint import CanonicalError, code_key, text_key

    ck, error = None, None
    try:
        ck = code_key(code)
    except SyntaxError as err:
        error = f"syntax error: line {err.lineno}: {err.msg}"
    except CanonicalError as err:
        error = f"not canonicalised: {err}"
    if task is None:
        return Fingerprint(text_key(code), ck, None, error)
    probe = evaluator(task, options, timeout_s).evaluate(code, "probe", proxies=False)
    return Fingerprint(text_key(code), ck, probe.graph_key, error or probe.failure_msg)
