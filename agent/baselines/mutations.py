"""Mutations of a candidate's code: change a width, swap the activation, add or remove a block.

    from archagent.agent.baselines.mutations import mutate
    child = mutate(parent_code, task.spec, random.Random(0))  # Mutation(code, description) or None

Grammar-written code (first line `# arch: {...}`) is mutated at the architecture
level and rewritten, so the child always fits the input and the cost caps.
Any other code (seeds, LLM candidates) gets source-level edits located on its
AST (`ast_mutations`, and `rnn_mutations` for recurrent models); each applies only
where the AST shows the shapes stay consistent. None means no mutation applied.

Why static, not a trial build: a parent may be LLM-written (the agent's mutation arm
mutates any trained candidate), so its children are untrusted code and are never
executed in the campaign process; a sandboxed trial per mutation would take a
trainer's slot and let timing decide what is proposed (the agent-without-LLM
ablation must equal evolution exactly). The edits are checked instead by
tests/test_mutation_property.py: every seed of every built-in task, and chains of
mutations from them, build and pass the shape check (in the test process, where
the code is ours). A child of an unusual LLM parent that still fails is caught by
the sandbox's probe before any training.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from archagent.agent.baselines import ast_mutations, rnn_mutations
from archagent.agent.baselines.grammar import (
    ACTS,
    CONV_WIDTHS,
    DROPOUTS,
    KERNELS,
    MLP_WIDTHS,
    Arch,
    fits,
    read_arch,
    sample_layer,
    with_layers,
)
from archagent.agent.baselines.writer import write_code
from archagent.evals.tasks.base import TaskSpec


@dataclass(frozen=True)
class Mutation:
    code: str
    description: str  # e.g. "width of layer 2: 32 -> 48"


ArchMutation = Callable[[Arch, random.Random], tuple[Arch, str] | None]


def mutate(code: str, spec: TaskSpec, rng: random.Random, tries: int = 8) -> Mutation | None:
    """One random mutation that changes the code; tries other mutations when one does not apply."""
    arch = read_arch(code)
    if arch is not None:
        return _mutate_arch(arch, spec, rng, tries)
    try:
        ast.parse(code)
    except SyntaxError:
        return None
    edits = list(ast_mutations.EDITS) + list(rnn_mutations.EDITS if spec.kind == "classification"
                                             else rnn_mutations.CAUSAL_EDITS)
    rng.shuffle(edits)
    for edit in edits:
        out = edit(code, rng)
        if out is not None and out[0] != code:
            return Mutation(*out)
    return None


def _mutate_arch(arch: Arch, spec: TaskSpec, rng: random.Random, tries: int) -> Mutation | None:
    for _ in range(tries):
        out = rng.choice(ARCH_MUTATIONS)(arch, rng)
        if out is not None and out[0] != arch and fits(out[0], spec):
            return Mutation(write_code(out[0], spec), out[1])
    return None


def change_width(arch: Arch, rng: random.Random) -> tuple[Arch, str] | None:
    sized = [i for i, lay in enumerate(arch.layers) if lay.width]
    i = rng.choice(sized)
    widths = CONV_WIDTHS if arch.family == "conv" else MLP_WIDTHS
    old = arch.layers[i].width
    new = rng.choice([w for w in widths if w != old])
    layers = list(arch.layers)
    layers[i] = replace(layers[i], width=new)
    return with_layers(arch, layers), f"width of layer {i}: {old} -> {new}"


def swap_activation(arch: Arch, rng: random.Random) -> tuple[Arch, str] | None:
    new = rng.choice([a for a in sorted(ACTS) if a != arch.act])
    return replace(arch, act=new), f"activation: {arch.act} -> {new}"


def add_block(arch: Arch, rng: random.Random) -> tuple[Arch, str] | None:
    i = rng.randint(1, len(arch.layers))
    layer = sample_layer(rng, arch.family)
    layers = [*arch.layers[:i], layer, *arch.layers[i:]]
    return with_layers(arch, layers), f"add {layer.op}{layer.width or ''} at {i}"


def remove_block(arch: Arch, rng: random.Random) -> tuple[Arch, str] | None:
    if len(arch.layers) < 2:
        return None
    i = rng.randint(1, len(arch.layers) - 1)
    return with_layers(arch, [*arch.layers[:i], *arch.layers[i + 1:]]), f"remove {arch.layers[i].op} at {i}"


def change_kernel(arch: Arch, rng: random.Random) -> tuple[Arch, str] | None:
    convs = [i for i, lay in enumerate(arch.layers) if lay.op in ("conv", "res") and arch.family == "conv"]
    if not convs:
        return None
    i = rng.choice(convs)
    new = rng.choice([k for k in KERNELS if k != arch.layers[i].kernel])
    layers = list(arch.layers)
    layers[i] = replace(layers[i], kernel=new)
    return with_layers(arch, layers), f"kernel of layer {i}: {arch.layers[i].kernel} -> {new}"


def change_head(arch: Arch, rng: random.Random) -> tuple[Arch, str] | None:
    if rng.random() < 0.5:
        new = rng.choice([d for d in DROPOUTS if d != arch.dropout])
        return replace(arch, dropout=new), f"dropout: {arch.dropout} -> {new}"
    if rng.random() < 0.5:
        return replace(arch, norm=not arch.norm), f"norm: {arch.norm} -> {not arch.norm}"
    new = rng.choice([h for h in (0, 64, 128, 256) if h != arch.head])
    return replace(arch, head=new), f"head width: {arch.head} -> {new}"


ARCH_MUTATIONS: tuple[ArchMutation, ...] = (change_width, change_width, swap_activation, add_block,
                                            remove_block, change_kernel, change_head)
