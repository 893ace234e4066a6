"""How often does the local model propose a valid, new architecture? Prompt variants side by side.

    python benchmarks/local_validity.py --task digits --n 10 --variants default,one-shot,no-directive

Each variant renders the propose prompt of a campaign's first proposals (the
task's seed architectures as exemplars, with their validation scores) with
some search/sampling settings changed, asks the local model `--n` times
through the product's `LLMProposer` (copy resampling included), and runs every
reply's code through the sandbox's probe stage (build, shape check, budget):
no training, so a variant costs LLM time only. Reported per variant: valid
(probe passed and not a copy of an exemplar), copies, failure kinds, and
LLM seconds per proposal.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time

from archagent.agent.config import BackendConfig, SearchConfig
from archagent.agent.draw import Draw
from archagent.agent.llm.local import LocalBackend
from archagent.agent.prompting import Exemplar, PromptContext, Prompts, TaskBrief, load_directives
from archagent.agent.proposer import LLMProposer
from archagent.evals.fingerprint import code_key
from archagent.evals.tasks import get_task
from archagent.sandbox.judge import Evaluator
from archagent.sandbox.runner import SubprocessRunner

FENCE_END = "\n```\n"
# variant name -> (search overrides, backend overrides)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "default": ({}, {}),  # the product's defaults for a local backend (1 exemplar)
    "three-shot": ({"n_exemplars": 3}, {}),
    "one-shot": ({"n_exemplars": 1}, {}),
    "two-shot": ({"n_exemplars": 2}, {}),
    "no-directive": ({"directives": False}, {}),
    "one-shot-no-directive": ({"n_exemplars": 1, "directives": False}, {}),
    "short": ({}, {"max_tokens": 600}),
    "hot": ({}, {"temperature": 0.7}),
    "one-shot-stop": ({"n_exemplars": 1}, {"stop": [FENCE_END]}),
    "stop": ({}, {"stop": [FENCE_END]}),
}
# validation accuracy of the digits seeds at the task's default recipe (a campaign's first table)
VERBOSE = False
SEED_SCORES = {"resnet": 0.9888, "cnn": 0.9740, "mlp": 0.9517}


def seed_context(task, search: SearchConfig, directive: str) -> PromptContext:
    seeds = task.seeds()
    order = sorted(seeds, key=lambda name: -SEED_SCORES.get(name, 0.0))[: search.for_kind("local").n_exemplars]
    exemplars = [Exemplar(seeds[name], f"seed: {name}", None, SEED_SCORES.get(name)) for name in order]
    return PromptContext(TaskBrief.of(task), exemplars, directive=directive if search.directives else "")


def recorder(variant: str, dump):
    """A CallRecorder that appends each reply to the --dump JSONL file (if any)."""
    def record(backend, model, purpose, messages, completion, error) -> int:
        if dump is not None:
            row = {"variant": variant, "purpose": purpose, "error": error,
                   "reply": completion.text if completion else None,
                   "completion_tokens": completion.completion_tokens if completion else None}
            dump.write(json.dumps(row) + "\n")
            dump.flush()
        return 0
    return record


def run_variant(name: str, task, evaluator: Evaluator, backend: LocalBackend, n: int, seed: int,
                dump=None) -> dict:
    search_over, backend_over = VARIANTS[name]
    search = SearchConfig(**search_over)
    proposer = LLMProposer(backend, BackendConfig(kind="local", **backend_over), Prompts())
    rng, directives = random.Random(seed), load_directives(task=task.spec.name)
    outcomes, llm_s = collections.Counter(), 0.0
    for _ in range(n):
        ctx = seed_context(task, search, rng.choice(directives))
        t0 = time.perf_counter()
        prop = proposer.propose(Draw(ctx), recorder(name, dump))
        llm_s += time.perf_counter() - t0
        outcomes[classify(prop, ctx, evaluator)] += 1
    return {"variant": name, "n": n, "outcomes": dict(outcomes), "llm_s_per_proposal": llm_s / n}


_GRAPHS: dict[str, str | None] = {}


def seed_graphs(evaluator: Evaluator, ctx: PromptContext) -> set[str | None]:
    """Executed-graph keys of the prompt's exemplars (probed once each)."""
    for ex in ctx.exemplars:
        if ex.code not in _GRAPHS:
            _GRAPHS[ex.code] = evaluator.evaluate(ex.code, "probe", proxies=False).graph_key
    return {_GRAPHS[ex.code] for ex in ctx.exemplars} - {None}


def classify(prop, ctx: PromptContext, evaluator: Evaluator) -> str:
    if prop.code is None:
        return str(prop.failure_kind)
    try:
        if code_key(prop.code) in {code_key(ex.code) for ex in ctx.exemplars}:
            return "copy"
    except SyntaxError as err:
        if VERBOSE:
            print(f"  [syntax] line {err.lineno}: {err.msg} ({len(prop.code.splitlines())} lines)", flush=True)
        return "syntax"
    ev = evaluator.evaluate(prop.code, "probe", proxies=False)
    if ev.ok and ev.graph_key in seed_graphs(evaluator, ctx):
        return "copy"  # renamed or reformatted, but the same executed graph (the campaign's dedup catches it)
    if not ev.ok and VERBOSE:
        print(f"  [{ev.failure_kind}] {(ev.failure_msg or '').strip().splitlines()[-1][:160]}", flush=True)
    return "valid" if ev.ok else str(ev.failure_kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="digits")
    ap.add_argument("--n", type=int, default=10, help="proposals per variant")
    ap.add_argument("--variants", default="default,one-shot,no-directive")
    ap.add_argument("--model", default=None, help="local preset or .gguf path (default: the default preset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dump", default=None, help="append every reply to this JSONL file")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each failure's last line")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    names = args.variants.split(",")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    task = get_task(args.task)
    evaluator = Evaluator(task, SubprocessRunner(timeout_s=120))
    dump = open(args.dump, "a") if args.dump else None  # noqa: SIM115 - closed at the end
    backend = LocalBackend(BackendConfig(kind="local", model=args.model), seed=args.seed)
    print("| variant | valid | copies | failures | LLM s/proposal |\n|---|---|---|---|---|")
    for name in names:
        r = run_variant(name, task, evaluator, backend, args.n, args.seed, dump)
        out = dict(r["outcomes"])
        valid, copies = out.pop("valid", 0), out.pop("copy", 0)
        fails = ", ".join(f"{k} {v}" for k, v in sorted(out.items())) or "-"
        print(f"| {name} | {valid}/{r['n']} | {copies} | {fails} | {r['llm_s_per_proposal']:.1f} |", flush=True)
    backend.close()
    if dump is not None:
        dump.close()


if __name__ == "__main__":
    main()
