"""A tour of the archagent Python API, notebook style (each `# %%` is a cell).

    python examples/api_tour.py [WORK_DIR]

Runs a tiny campaign (digits, 1-epoch recipe, the evolution baseline: no LLM
needed), reads its candidates back as typed records, evaluates / scores /
fingerprints code directly, retrains the winner with two seeds and exports it.
About a minute on two CPU cores. Everything is written under WORK_DIR (default: a
temporary folder).
"""

# %% Setup: a campaign config as a dict (or `load_config("campaign.toml")`)
import sys
import tempfile
from pathlib import Path

import archagent
from archagent import Campaign, FinalEvaluation, Status, Store, evaluate, export, fingerprint, parse_config, score

work = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="archagent-tour-"))
config = parse_config({
    "name": "api-tour",
    "store": str(work / "tour.db"),
    "task": {"name": "digits", "options": {"epochs": 1}},
    "budget": {"proposals": 3},
    "backends": [{"kind": "evolution"}],  # or {"kind": "local"} / {"kind": "litellm", "model": "..."}
})
print("archagent", archagent.__version__, "->", work)

# %% Run the campaign (resumes if the store already has it)
summary = Campaign(config).run()
print(f"{summary.campaign}: {summary.stop_reason}; counts {summary.counts}")

# %% Typed records from the store
store = Store(config.store)
ok = store.candidates("api-tour", status=Status.OK)
for c in ok:
    print(f"#{c.id:<3} {c.backend:10} accuracy {c.metric:.4f}  params {c.params:,}")
best = summary.best
assert best is not None and best.id in {c.id for c in ok}

# %% Evaluate, score and fingerprint code directly (each runs in the sandbox)
ev = evaluate("digits", best.code, options={"epochs": 1})
print("evaluate:", ev.status, f"val {ev.metric:.4f} test {ev.test_metric:.4f}")
scores = score("digits", [c.code for c in ok[:2]], options={"epochs": 1})  # ranked among these two
print("score:", [round(s.score, 3) for s in scores if s.score is not None])
fp = fingerprint(best.code, "digits")
print("fingerprint:", fp.text_key[:12], fp.code_key and fp.code_key[:12], fp.graph_key and fp.graph_key[:12])

# %% Final evaluation: the top-2 (and the best seed architecture) with 2 training seeds each
rows = FinalEvaluation(store, "api-tour").run(top=2, seeds=2)
for r in rows:
    print(f"#{r.candidate_id} {r.role:9} val {r.val}  test {r.test}  {r.vs_reference or ''}")

# %% Export the winner: model.py + trained weights
exported = export(store, rows[0].candidate_id, work / "winner", weights=True)
print("exported:", sorted(exported.files))
print("TOUR OK")
