"""archagent: autonomous, LLM-driven neural-architecture discovery.

One import namespace. The project keeps its top-level folders (`agent/`, `sandbox/`,
`knowledge/`, `evals/`, `prompts/`); installed, they are the subpackages
`archagent.agent`, `archagent.sandbox`, ... (setuptools `package-dir` mapping in
`pyproject.toml`). In a source checkout the same names resolve because this
package's search path also holds the checkout root.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "sandbox" / "__init__.py").exists() and not (Path(__file__).parent / "sandbox").exists():
    __path__.append(str(_CHECKOUT))  # source checkout: archagent.agent -> <checkout>/agent

__version__ = "0.1.0"

# -- the Python API: names resolve on first use, so `import archagent` stays cheap (no torch) --
_API = {  # name -> module that defines it
    "Campaign": "archagent.agent.loop",  # Campaign(config).run() -> Summary
    "Summary": "archagent.agent.loop",
    "load_config": "archagent.agent.config",  # TOML file -> CampaignConfig
    "parse_config": "archagent.agent.config",  # dict -> CampaignConfig
    "CampaignConfig": "archagent.agent.config",
    "ConfigError": "archagent.agent.config",
    "Store": "archagent.knowledge.store",  # Store(path).candidates("name", status="ok") -> [Candidate]
    "Candidate": "archagent.knowledge.records",
    "FinalRun": "archagent.knowledge.records",
    "Status": "archagent.knowledge.records",
    "FailureKind": "archagent.knowledge.records",
    "evaluate": "archagent.agent.api",  # evaluate(task, code) -> Evaluation
    "score": "archagent.agent.api",  # score(task, [code, ...]) -> [Score]
    "fingerprint": "archagent.agent.api",  # fingerprint(code, task=None) -> Fingerprint
    "Score": "archagent.agent.api",
    "Fingerprint": "archagent.agent.api",
    "Evaluation": "archagent.sandbox.judge",
    "FinalEvaluation": "archagent.agent.final",  # FinalEvaluation(store, campaign).run(top=3, seeds=3) -> [FinalRow]
    "FinalRow": "archagent.evals.final_stats",
    "export": "archagent.agent.export",  # export(store, candidate_id, out_dir, weights=True, onnx=True) -> Exported
    "Exported": "archagent.agent.export",
    "get_task": "archagent.evals.tasks",  # get_task("digits", {"epochs": 2}) -> Task
    "Task": "archagent.evals.tasks",
}
__all__ = [*_API, "__version__"]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time `__getattr__` imports on demand
    from archagent.agent.api import Fingerprint, Score, evaluate, fingerprint, score  # noqa: F401
    from archagent.agent.config import CampaignConfig, ConfigError, load_config, parse_config  # noqa: F401
    from archagent.agent.export import Exported, export  # noqa: F401
    from archagent.agent.final import FinalEvaluation  # noqa: F401
    from archagent.agent.loop import Campaign, Summary  # noqa: F401
    from archagent.evals.final_stats import FinalRow  # noqa: F401
    from archagent.evals.tasks import Task, get_task  # noqa: F401
    from archagent.knowledge.records import Candidate, FailureKind, FinalRun, Status  # noqa: F401
    from archagent.knowledge.store import Store  # noqa: F401
    from archagent.sandbox.judge import Evaluation  # noqa: F401


def __getattr__(name: str):
    """Import the module defining an API name the first time it is used (PEP 562)."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'archagent' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
