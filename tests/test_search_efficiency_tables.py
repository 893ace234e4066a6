"""The v2 search benchmark's bookkeeping: budgets read off longer campaigns, best seed, ablation check."""

from benchmarks.search_efficiency import Run, ablation_check, finals, paired_table


def run(method: str, seed: int, metrics: list[float | None], seed_best: float = 0.9) -> Run:
    rows = [{"status": "ok" if m is not None else "failed", "metric": m, "test": m, "t_s": 10.0 * i,
             "text_key": f"{method}-{seed}-{i}" if method != "agent-noLLM" else f"evolution-{seed}-{i}"}
            for i, m in enumerate(metrics)]
    return Run(method, seed, len(metrics), rows, seed_best, seed_best - 0.01, 100.0, 0, 0.0, [1.0, 1.0])


def test_a_budget_is_the_best_of_the_first_k_counted_proposals():
    r = run("evolution", 200, [0.5, None, 0.7, 0.6, 0.95])
    assert finals([r], "evolution", 3, True) == {200: (0.7, 0.7)}  # the failure counts as a proposal
    assert finals([r], "evolution", 5, True) == {200: (0.95, 0.95)}
    assert finals([r], "evolution", 6, True) == {}  # a 5-proposal campaign says nothing about 6
    assert finals([r], "best-seed", 3, True) == {200: (0.9, 0.89)}


def test_ablation_check_names_the_seeds_that_differ():
    evo = [run("evolution", s, [0.5, 0.6]) for s in (200, 201)]
    same = [run("agent-noLLM", 200, [0.5, 0.6])]
    assert "identical" in ablation_check(evo + same)
    assert "MISMATCH" in ablation_check(evo + same + [run("agent-noLLM", 201, [0.5, 0.61])])


def test_paired_table_counts_ties_within_the_noise_floor():
    runs = [run("agent", s, [0.95 + 0.001 * (s % 3)]) for s in range(200, 204)]
    runs += [run("evolution", s, [0.95]) for s in range(200, 204)]
    lines = paired_table(runs, 1, True, tie=0.014).splitlines()
    line = next(ln for ln in lines if ln.startswith("| agent − evolution"))
    assert "| 4 |" in line and line.endswith("0 / 4 / 0 |")


def test_a_resumed_campaign_s_clock_leaves_out_the_pause():
    from benchmarks.search_efficiency import active_clock

    clock = active_clock([0.0, 100.0], [5.0, 40.0, 120.0])  # killed after 40 s, resumed at 100 s
    assert clock(40.0) == 40.0 and clock(120.0) == 60.0
    assert active_clock([0.0], [5.0])(5.0) == 5.0


def test_each_method_is_the_config_it_claims_on_the_pinned_split(tmp_path):
    from archagent.agent.config import parse_config

    from benchmarks.search_efficiency import HELDOUT_SPLIT, campaign_config, parse_args

    args = parse_args(["--store-dir", str(tmp_path)])

    def cfg(method: str):
        return parse_config(campaign_config(method, 201, args, tmp_path / f"{method}.db"))

    agent, free, noideas, nofill, mutation = (cfg(m) for m in ("agent", "agent-free", "agent-noideas",
                                                                "agent-nofill", "agent-noLLM"))
    assert all(c.task.options["heldout_seed"] == HELDOUT_SPLIT for c in (agent, free, noideas, nofill, mutation))
    assert (agent.backends[0].constrained, agent.ideas.enabled, agent.pipeline.fill > 0) == (True, True, True)
    assert not free.backends[0].constrained and free.ideas == agent.ideas and free.pipeline == agent.pipeline
    assert not noideas.ideas.enabled and noideas.backends == agent.backends
    assert nofill.pipeline.fill == 0 and nofill.ideas == agent.ideas
    assert mutation.operators.use == ["mutation"]
    assert cfg("evolution").backends[0].kind == "evolution" and cfg("random").backends[0].kind == "random"
