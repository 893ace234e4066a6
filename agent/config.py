"""One config schema for a discovery campaign, loaded from TOML.

    archagent run examples/digits.toml

Every field has a default except nothing: an empty file is a valid campaign
(digits, the embedded local model, 10 proposals). Unknown keys and bad values
raise `ConfigError` with one line naming the key. The resolved config is
stored with the campaign (`CampaignConfig.model_dump_json()`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from archagent.agent.ideas import IdeasConfig
from archagent.knowledge.ideas.cards import IdeaCardError, load_folder
from archagent.sandbox.config import ExecutorConfig
from archagent.sandbox.limits import SandboxLimits
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A user mistake in a config file: the message is one human-readable line."""


class _Strict(BaseModel):
    """Unknown keys are errors, and types are strict: `true` is not 1, `1e12` is not an integer, `1` is not true.

    Upper bounds catch typos (an extra zero, `1e300`) before they become a campaign that never ends,
    a prompt no model can read or a child no machine can hold; each says why beside it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


DAY_S = 86_400.0


BackendKind = Literal["local", "litellm", "replay", "random", "evolution"]


class BackendConfig(_Strict):
    """One proposer: an LLM backend or a non-LLM baseline."""

    kind: BackendKind = "local"
    model: str | None = None  # local: preset name or .gguf path; litellm: "provider/model"
    api_base: str | None = None  # litellm: OpenAI-compatible server URL
    api_key_env: str | None = None  # litellm: name of the env var holding the key
    path: Path | None = Field(None, strict=False)  # replay: JSONL file of replies
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    max_tokens: int = Field(900, gt=0, le=131_072)  # no model in use writes longer replies
    stop: list[str] = Field(default_factory=list)  # local/litellm: end the reply at any of these strings
    timeout_s: float = Field(120.0, gt=0, le=DAY_S)  # one reply; a day is already a hung server
    copy_retries: int = Field(2, ge=0, le=20)  # resample (hotter) when the reply copies an exemplar verbatim
    retries: int = Field(4, ge=1, le=100)  # attempts per request on transient errors (timeouts, 429, 5xx)
    retry_max_wait_s: float = Field(30.0, gt=0, le=3600.0)  # cap of the exponential backoff between attempts
    n_ctx: int = Field(4096, gt=0, le=1_048_576)  # local: llama.cpp context window (1M: beyond any model)
    n_threads: int | None = Field(None, gt=0, le=1024)  # local: llama.cpp threads (default: all cores but one)
    n_batch: int = Field(512, gt=0, le=65_536)  # local: prompt tokens evaluated per llama.cpp batch
    lookup_tokens: int = Field(0, ge=0, le=64)  # local: prompt-lookup speculative decoding draft length (0: off)
    prompt_cache_mb: int = Field(0, ge=0, le=2**20)  # local: RAM cache of prompt states beyond the last (0: off)
    constrained: bool = True  # local: grammar-constrained replies (edits search the parent's lines; one code block)
    weight: float = Field(1.0, gt=0, le=1e6)  # share of proposals when several backends are set

    @model_validator(mode="after")
    def _needs(self) -> BackendConfig:
        if self.kind == "replay" and self.path is None:
            raise ValueError("a replay backend needs path = the JSONL replay file")
        if self.kind == "litellm" and not self.model:
            raise ValueError("a litellm backend needs model = 'provider/model'")
        return self


class TaskConfig(_Strict):
    name: str = "digits"  # built-in task name
    options: dict[str, Any] = Field(default_factory=dict)  # task-specific settings
    max_params: int | None = Field(None, gt=0, le=10**12)  # budget gates; default: the task's own
    max_flops: int | None = Field(None, gt=0, le=10**18)  # (bounds: far past what a sandboxed CPU trains)


class BudgetConfig(_Strict):
    # Bounds: a million proposals is ~12 days at one per second and a multi-GB store; a year of wall
    # time outlives any process; past these, the number is a typo, not a plan.
    proposals: int = Field(10, gt=0, le=1_000_000)  # proposals trained or failed (repeats are free)
    # The three LLM budgets stop LLM work only: an agent with the AST-mutation operator goes on without it.
    wall_time_s: float | None = Field(None, gt=0, le=365 * DAY_S)
    max_tokens: int | None = Field(None, gt=0, le=10**12)  # total LLM tokens, prompt + completion
    max_cost_usd: float | None = Field(None, gt=0, le=1e6)
    llm_calls: int | None = Field(None, gt=0, le=10_000_000)  # LLM requests of any purpose (re-asks included)


# Defaults of the per-backend-kind fields of [search] (None there), measured in benchmarks/README.md:
# the small local model is as valid with 1 exemplar as with 3 and ~40% faster; repair did not help it,
# resampling did; its analyses copied the format example. Field -> ({kind: default}, default for other kinds).
KIND_DEFAULTS: dict[str, tuple[dict[str, int], int]] = {
    "n_exemplars": ({"local": 1}, 3),
    "repair_attempts": ({"local": 0, "litellm": 1}, 0),
    "insight_every": ({"local": 0}, 5),
}


class SearchConfig(_Strict):
    # Prompt-size bounds: more exemplars, rows or lessons than these overflow any context window.
    n_exemplars: int | None = Field(None, ge=0, le=32)  # few-shot architectures per prompt; None: 1 local, 3 others
    n_results: int = Field(8, ge=0, le=500)  # rows of the results table in the prompt
    n_failures: int = Field(3, ge=0, le=100)  # recent failures shown in the prompt
    directives: bool = True  # one random concrete change per proposal (prompts/directives[-<task>].txt)
    islands: int = Field(2, ge=1, le=1000)  # sub-populations evolving separately; each proposal draws from one
    migration_interval: int = Field(10, ge=1, le=1_000_000)  # proposals between migrations (≤ the budget bound)
    # parent sampling for every operator (agent/population.py); "weighted": rank^-1 / (1 + children)
    sampler: Literal["elite", "best", "tournament", "power_law", "weighted"] = "elite"
    transfer: bool = True  # start from earlier campaigns' best architectures and insights on the same task
    insight_every: int | None = Field(None, ge=0, le=1_000_000)  # analyst every N finished proposals; None: 5, 0 local
    n_insights: int = Field(5, ge=0, le=100)  # insights shown per prompt
    analyst: int | None = Field(None, ge=0)  # index into [[backends]] for the analyst; default: the first LLM one
    repair_attempts: int | None = Field(None, ge=0, le=20)  # repairs per build/shape failure; None: 0 local, 1 litellm
    objective: Literal["metric", "penalized", "pareto"] = "metric"  # parent ranking (knowledge/fitness.py)
    size_penalty: float = Field(0.01, ge=0.0, le=10.0)  # objective "penalized": metric units per 10x parameters

    def for_kind(self, kind: str) -> SearchConfig:
        """This section as a `kind` backend uses it: every unset per-kind field resolved (KIND_DEFAULTS)."""
        return self.model_copy(update={name: table.get(kind, default) for name, (table, default)
                                       in KIND_DEFAULTS.items() if getattr(self, name) is None})


class PrefilterConfig(_Strict):
    """Cheap ranking before training: proxies + a learned predictor decide who trains."""

    enabled: bool = True
    top_fraction: float = Field(0.5, gt=0.0, le=1.0)  # train proposals ranked in this top share
    epsilon: float = Field(0.1, ge=0.0, le=1.0)  # share trained regardless of rank (honest validation)
    warmup: int = Field(6, ge=0, le=1_000_000)  # train everything until this many proposals have been scored
    low_fidelity_epochs: int | None = Field(None, gt=0, le=10_000)  # staged fidelity: a short run first
    promote_fraction: float = Field(0.5, gt=0.0, le=1.0)  # share of short runs promoted to full training


OperatorName = Literal["edit", "crossover", "rewrite", "mutation"]


class OperatorsConfig(_Strict):
    """The agent (agent/operators/): offspring from LLM edit/crossover/rewrite and AST mutation, chosen by a bandit."""

    enabled: bool = True  # false: each LLM backend proposes whole files from the few-shot prompt only
    use: list[OperatorName] = Field(default_factory=lambda: ["mutation", "edit", "crossover", "rewrite"], min_length=1)
    floor: float = Field(0.1, ge=0.0, le=0.25)  # least share of proposals each operator gets
    novelty_retries: int = Field(2, ge=0, le=20)  # re-asks (hotter) when a reply repeats an earlier candidate
    # edit replies: SEARCH/REPLACE blocks, or the whole changed file; None: "blocks", except "file" for local
    # models with `constrained = false` (free-form, the 1.5B dropped block markers; benchmarks/README.md)
    edit_format: Literal["blocks", "file"] | None = None

    def edit_whole_file(self, kind: str, constrained: bool = False) -> bool:
        return (self.edit_format or ("file" if kind == "local" and not constrained else "blocks")) == "file"


class EvolutionConfig(_Strict):
    """Regularized evolution (agent/baselines/evolution.py): `kind = "evolution"` and the agent's mutation arm.

    Defaults chosen on development search seeds 300-302 only (benchmarks/README.md, "Seeded evolution").
    """

    population_size: int = Field(16, ge=1, le=100_000)  # the last N trained or training members; the oldest die first
    tournament_size: int = Field(2, ge=1, le=100_000)  # members drawn per tournament; the best is the parent


class PipelineConfig(_Strict):
    """Overlap of proposing and training: neither the LLM nor the trainers should sit idle."""

    proposers: int = Field(1, gt=0, le=256)  # LLM requests in flight at once (each is a thread)
    queue: int = Field(1, ge=0, le=10_000)  # proposals allowed to wait for a busy trainer (more = staler prompts)
    # While an LLM request is in flight, a free worker slot takes a proposal from the mutation arm (an agent
    # with "mutation" in operators.use, or an evolution backend): at most `fill` per request (0: off) and
    # `fill_share` of the proposal budget in all, so the trainers need not wait for the LLM (agent/loop.py)
    fill: int = Field(4, ge=0, le=10_000)
    fill_share: float = Field(0.5, ge=0.0, le=1.0)


class TrackingConfig(_Strict):
    """Experiment tracking: every finished candidate becomes a run in an external tracker (`agent/tracking.py`)."""

    mlflow: str | None = None  # tracking URI: "sqlite:///mlflow.db", "file:./mlruns" (relative to this file), "http://..."
    experiment: str | None = None  # MLflow experiment name; default: the campaign name


class CampaignConfig(_Strict):
    name: str = "campaign"
    store: Path = Field(Path("archagent.db"), strict=False)
    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy and torch take 32-bit seeds
    task: TaskConfig = TaskConfig()
    budget: BudgetConfig = BudgetConfig()
    backends: list[BackendConfig] = Field(default_factory=lambda: [BackendConfig()], min_length=1)
    search: SearchConfig = SearchConfig()
    sandbox: SandboxLimits = SandboxLimits()  # [sandbox] is the sandbox's own per-job limits record
    executor: ExecutorConfig = ExecutorConfig()
    pipeline: PipelineConfig = PipelineConfig()
    prefilter: PrefilterConfig = PrefilterConfig()
    prompts_dir: Path | None = Field(None, strict=False)  # user templates; default: the packaged prompts/
    tracking: TrackingConfig = TrackingConfig()
    operators: OperatorsConfig = OperatorsConfig()
    ideas: IdeasConfig = IdeasConfig()  # idea cards per proposal (agent/ideas.py)
    evolution: EvolutionConfig = EvolutionConfig()

    @model_validator(mode="after")
    def _analyst_is_llm(self) -> CampaignConfig:
        i = self.search.analyst
        if i is not None and (i >= len(self.backends) or self.backends[i].kind in ("random", "evolution")):
            raise ValueError(f"search.analyst = {i} does not index an LLM backend in [[backends]]")
        return self


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    return f"bad value for '{key}': {first['msg']}"


def parse_config(data: dict[str, Any], origin: str = "config") -> CampaignConfig:
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{origin}: {_describe(err)}") from None


def load_config(path: str | Path) -> CampaignConfig:
    """Read a TOML campaign config; relative paths in it are relative to the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    cfg = parse_config(data, origin=str(path))
    check_workers(cfg.executor)
    cfg = _resolve_paths(cfg, path.parent)
    check_ideas(cfg.ideas)
    return cfg


def check_ideas(ideas: IdeasConfig) -> None:
    """Parse the user's idea folder now: a missing folder or a bad card is one line naming the file."""
    if ideas.folder is not None:
        try:
            load_folder(ideas.folder)
        except IdeaCardError as err:
            raise ConfigError(f"ideas.folder: {err}") from None


# Each local worker is a warm fork server with torch imported plus one training at a time: at least
# ~0.5 GB resident. More workers than fit in RAM, or than 2 per core, only thrash; `force` overrides.
WORKER_RSS_MB = 512
WORKERS_PER_CORE = 2


def max_workers() -> int:
    """Local workers this machine carries: 2 per usable core, and ~0.5 GB of RAM each."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return max(1, min(cores * WORKERS_PER_CORE, ram_mb // WORKER_RSS_MB))


def check_workers(ex: ExecutorConfig) -> None:
    """Refuse more local workers than this machine carries, unless `[executor] force = true`."""
    if ex.kind == "local" and not ex.force and ex.workers > max_workers():
        raise ConfigError(f"executor.workers = {ex.workers} is more than this machine carries "
                          f"(at most {max_workers()}: {WORKERS_PER_CORE} per core, ~{WORKER_RSS_MB} MB of RAM "
                          "each); set [executor] force = true to run them anyway")


def _resolve_paths(cfg: CampaignConfig, base: Path) -> CampaignConfig:
    def rel(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else (base / p)

    backends = [b.model_copy(update={"path": rel(b.path)}) for b in cfg.backends]
    return cfg.model_copy(
        update={"store": rel(cfg.store), "backends": backends, "prompts_dir": rel(cfg.prompts_dir),
                "ideas": cfg.ideas.model_copy(update={"folder": rel(cfg.ideas.folder)}),
                "tracking": cfg.tracking.model_copy(update={"mlflow": file_uri(cfg.tracking.mlflow, base)})}
    )


def file_uri(uri: str | None, base: Path) -> str | None:
    """A tracking URI with a relative path (`file:./mlruns`, `sqlite:///mlflow.db`) made absolute against
    the config file's folder; absolute paths and other URIs (http://...) unchanged."""
    if uri and uri.startswith("file:") and not uri.startswith("file:/"):
        return (base / uri.removeprefix("file:")).resolve().as_uri()
    if uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((base / uri.removeprefix("sqlite:///")).resolve())
    return uri
