"""LLM seconds per valid, novel proposal of the local model: whole-file rewrite vs edit blocks, lookup decoding off/on.

    nice python benchmarks/local_speed.py --task mnist1d --n 6 [--model qwen2.5-coder-1.5b]

Two copies of the model are loaded, one plain and one with prompt-lookup
speculative decoding (`lookup_tokens`); every round asks both the same prompts
in turn (the rewrite prompt with the best seed as its one exemplar, and the
edit prompt against that seed, one directive per round), so both see the same
background load. Each reply goes through the product's operator code
(`agent.operators`) and the sandbox probe (build, shape, budget; no training).
Reported per (operator, decoding): seconds and completion tokens per call,
valid (probe passed), novel (not a copy of the parent by text, AST or executed
graph), and LLM seconds per valid novel proposal.
"""

from __future__ import annotations

import argparse
import collections
import random
import time
from functools import partial

from archagent.agent.config import BackendConfig
from archagent.agent.draw import Draw
from archagent.agent.llm.local import LocalBackend
from archagent.agent.operators.base import LLMAsk
from archagent.agent.operators.edit import Edit
from archagent.agent.operators.rewrite import Rewrite
from archagent.agent.prompting import Exemplar, PromptContext, Prompts, TaskBrief, load_directives
from archagent.evals.tasks import get_task
from archagent.sandbox.judge import Evaluator
from archagent.sandbox.runner import SubprocessRunner

from benchmarks.local_validity import classify


def record(tokens: list, backend, model, purpose, messages, completion, error) -> int:
    tokens.append(completion.completion_tokens if completion else 0)
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mnist1d")
    ap.add_argument("--n", type=int, default=6, help="rounds (prompts per operator and decoding)")
    ap.add_argument("--parent", default="cnn", help="the seed architecture shown / edited")
    ap.add_argument("--model", default=None)
    ap.add_argument("--lookup", type=int, default=10, help="draft tokens of the lookup variant")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    task = get_task(args.task)
    evaluator = Evaluator(task, SubprocessRunner(timeout_s=120))
    parent = Exemplar(task.seeds()[args.parent], f"seed {args.parent}", 1)
    prompts, directives, rng = Prompts(), load_directives(task=task.spec.name), random.Random(args.seed)
    cfgs = {"plain": BackendConfig(kind="local", model=args.model, lookup_tokens=0),
            "lookup": BackendConfig(kind="local", model=args.model, lookup_tokens=args.lookup)}
    backends = {k: LocalBackend(c, seed=args.seed) for k, c in cfgs.items()}
    ops = {(op, k): cls(LLMAsk(backends[k], cfgs[k], prompts, k, 0))
           for k in cfgs for op, cls in (("rewrite", Rewrite), ("edit", Edit))}
    stats = collections.defaultdict(lambda: {"s": 0.0, "tokens": [], "outcomes": collections.Counter()})
    for _ in range(args.n):
        ctx = PromptContext(TaskBrief.of(task), [parent], directive=rng.choice(directives))
        for (op_name, k), op in ops.items():
            st = stats[(op_name, k)]
            t0 = time.perf_counter()
            prop = op.propose(Draw(ctx), partial(record, st["tokens"]))
            st["s"] += time.perf_counter() - t0
            st["outcomes"][classify(prop, ctx, evaluator)] += 1
    print("| operator | decoding | calls | s / call | tokens / call | valid novel | failures | LLM s / valid novel |")
    print("|---|---|---|---|---|---|---|---|")
    for (op_name, k), st in stats.items():
        out = dict(st["outcomes"])
        good, copies = out.pop("valid", 0), out.pop("copy", 0)
        fails = ", ".join(f"{f} {v}" for f, v in sorted({**out, **({"copy": copies} if copies else {})}.items()))
        per = f"{st['s'] / good:.1f}" if good else "-"
        print(f"| {op_name} | {k} | {args.n} | {st['s'] / args.n:.1f} | {sum(st['tokens']) / args.n:.0f} | "
              f"{good}/{args.n} | {fails or '-'} | {per} |", flush=True)
    for b in backends.values():
        b.close()


if __name__ == "__main__":
    main()
