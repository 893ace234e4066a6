"""LLM seconds per valid, novel proposal of the local model: free-form vs grammar-constrained replies, lookup off/on.

    nice python benchmarks/local_speed.py --task mnist1d --n 2 [--variants edit-blocks:constrained:plain,...]

A variant is operator:reply:decoding. Operators: `edit-blocks` (SEARCH/REPLACE
blocks), `edit-file` (the whole changed file), `rewrite` (the few-shot prompt,
the parent as its one exemplar). Replies: `free` (as a hosted model answers)
or `constrained` (the GBNF of `agent.reply_grammar`, as the local backend
answers by default). Decoding: `plain`, or `lookup` (prompt-lookup speculative
decoding, `lookup_tokens`; a second copy of the model, loaded only if asked).
Every round takes the next seed of the task as the parent and one directive,
and asks every variant in turn, so all see the same background load; variants
that share a prompt (free and constrained) run back to back, the second reusing
the first's evaluated prompt, in an order rotated per round (use an even `--n`
with two reply modes, so each pays the full prompt equally often). Each reply
goes through the product's operator code (`agent.operators`) and the sandbox
probe (build, shape, budget; no training). Reported per variant: seconds,
prompt-evaluation and generation seconds (llama.cpp's counters) and completion
tokens per call, valid novel replies (probe passed, not a copy of the parent by
text, AST or executed graph), and LLM seconds and tokens per valid novel
proposal. The load average is printed before and after: the numbers only mean
something next to it.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import time
from dataclasses import dataclass, field
from functools import partial

from archagent.agent.config import BackendConfig
from archagent.agent.draw import Draw
from archagent.agent.llm.local import LocalBackend
from archagent.agent.operators.base import LLMAsk, Operator
from archagent.agent.operators.edit import Edit
from archagent.agent.operators.rewrite import Rewrite
from archagent.agent.prompting import Exemplar, PromptContext, Prompts, TaskBrief, load_directives
from archagent.evals.tasks import get_task
from archagent.sandbox.judge import Evaluator
from archagent.sandbox.runner import SubprocessRunner

from benchmarks.local_validity import classify

OPERATORS = {"edit-blocks": partial(Edit, whole_file=False), "edit-file": partial(Edit, whole_file=True),
             "rewrite": Rewrite}
DEFAULT = ("edit-blocks:free:plain,edit-blocks:constrained:plain,edit-file:constrained:plain,"
           "rewrite:constrained:plain,edit-blocks:constrained:lookup")


@dataclass
class Stats:
    calls: int = 0
    seconds: float = 0.0
    prompt_s: float = 0.0
    gen_s: float = 0.0
    tokens: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)


def perf(backend: LocalBackend) -> tuple[float, float]:
    """llama.cpp's cumulative (prompt-eval, generation) seconds of this backend's context."""
    import llama_cpp

    data = llama_cpp.llama_perf_context(backend._llm._ctx.ctx)
    return data.t_p_eval_ms / 1000, data.t_eval_ms / 1000


def ask(op: Operator, backend: LocalBackend, constrained: bool, ctx: PromptContext, parent: Exemplar,
        st: Stats, evaluator: Evaluator) -> None:
    """One proposal of one variant, timed and classified (the backend's `constrains` set for this call)."""
    backend.constrains = constrained

    def record(name, model, purpose, messages, completion, error) -> int:
        st.tokens += completion.completion_tokens if completion else 0
        return 0

    p0, t0, tokens = perf(backend), time.perf_counter(), st.tokens
    prop = op.propose(Draw(ctx), record)
    p1, seconds = perf(backend), time.perf_counter() - t0
    st.calls, st.seconds = st.calls + 1, st.seconds + seconds
    st.prompt_s, st.gen_s = st.prompt_s + p1[0] - p0[0], st.gen_s + p1[1] - p0[1]
    outcome = classify(prop, ctx, evaluator)
    st.outcomes[outcome] += 1
    print(f"  {parent.label}: {seconds:.1f} s (prompt {p1[0] - p0[0]:.1f}, gen {p1[1] - p0[1]:.1f}), "
          f"{st.tokens - tokens} tokens, {outcome}, load {os.getloadavg()[0]:.1f}", flush=True)


def groups(variants: list[tuple[str, ...]], r: int) -> list[list[tuple[str, ...]]]:
    """Variants with the same prompt and model (free/constrained) back to back, their order rotated by round:
    the second in a group reuses the first's evaluated prompt, so each pays the full prompt equally often."""
    out: dict[tuple[str, str], list] = {}
    for v in variants:
        out.setdefault((v[0], v[2]), []).append(v)
    return [g[r % len(g):] + g[:r % len(g)] for g in out.values()]


def row(name: str, st: Stats) -> str:
    out = dict(st.outcomes)
    good = out.pop("valid", 0)
    fails = ", ".join(f"{k} {v}" for k, v in sorted(out.items())) or "-"
    n = max(st.calls, 1)
    per = f"{st.seconds / good:.1f} | {st.tokens / good:.0f}" if good else "- | -"
    return (f"| {name.replace(':', ' | ')} | {st.calls} | {st.seconds / n:.1f} | {st.prompt_s / n:.1f} | "
            f"{st.gen_s / n:.1f} | {st.tokens / n:.0f} | {good}/{st.calls} | {fails} | {per} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mnist1d")
    ap.add_argument("--n", type=int, default=2, help="rounds (proposals per variant)")
    ap.add_argument("--variants", default=DEFAULT, help="comma-separated operator:reply:decoding")
    ap.add_argument("--model", default=None)
    ap.add_argument("--lookup", type=int, default=10, help="draft tokens of the lookup decoding")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the backend's)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    variants = [tuple(v.split(":")) for v in args.variants.split(",")]
    bad = [v for v in variants if len(v) != 3 or v[0] not in OPERATORS or v[1] not in ("free", "constrained")
           or v[2] not in ("plain", "lookup")]
    if bad:
        ap.error(f"bad variant(s) {bad}: operator ({', '.join(OPERATORS)}):(free|constrained):(plain|lookup)")
    task = get_task(args.task)
    evaluator = Evaluator(task, SubprocessRunner(timeout_s=120))
    prompts, directives, rng = Prompts(), load_directives(task=task.spec.name), random.Random(args.seed)
    cfgs = {"plain": BackendConfig(kind="local", model=args.model),
            "lookup": BackendConfig(kind="local", model=args.model, lookup_tokens=args.lookup)}
    backends = {k: LocalBackend(cfgs[k], seed=args.seed, n_threads=args.threads)
                for k in sorted({v[2] for v in variants})}
    ops = {v: OPERATORS[v[0]](LLMAsk(backends[v[2]], cfgs[v[2]], prompts, v[2], 0)) for v in variants}
    stats = {v: Stats() for v in variants}
    seeds = sorted(task.seeds().items())
    print(f"load average at start: {os.getloadavg()}; cores {len(os.sched_getaffinity(0))}", flush=True)
    for r in range(args.n):
        name, code = seeds[r % len(seeds)]
        parent = Exemplar(code, f"seed {name}", 1)
        ctx = PromptContext(TaskBrief.of(task), [parent], directive=rng.choice(directives))
        for group in groups(variants, r):
            for v in group:
                print(":".join(v), flush=True)
                ask(ops[v], backends[v[2]], v[1] == "constrained", ctx, parent, stats[v], evaluator)
        print(f"round {r + 1}/{args.n} done, load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"load average at end: {os.getloadavg()}\n")
    print("| operator | reply | decoding | calls | s / call | prompt s | gen s | tokens / call | valid novel "
          "| failures | LLM s / valid novel | tokens / valid novel |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for v, st in stats.items():
        print(row(":".join(v), st), flush=True)
    for b in backends.values():
        b.close()


if __name__ == "__main__":
    main()
