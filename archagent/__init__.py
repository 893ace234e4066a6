"""archagent: autonomous, LLM-driven neural-architecture discovery.

One import namespace. The project keeps its top-level folders (`agent/`, `sandbox/`,
`knowledge/`, `evals/`, `prompts/`); installed, they are the subpackages
`archagent.agent`, `archagent.sandbox`, ... (setuptools `package-dir` mapping in
`pyproject.toml`). In a source checkout the same names resolve because this
package's search path also holds the checkout root.
"""

from __future__ import annotations

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "agent" / "__init__.py").exists() and not (Path(__file__).parent / "agent").exists():
    __path__.append(str(_CHECKOUT))  # source checkout: archagent.agent -> <checkout>/agent

__version__ = "0.1.0"
