"""Loading untrusted candidate code and mapping its errors to failure kinds."""

from __future__ import annotations

import traceback
from pathlib import Path
from types import ModuleType

from archagent.knowledge.records import FailureKind
from archagent.sandbox.protocol import CANDIDATE_FILE


class CandidateFailure(Exception):
    def __init__(self, kind: FailureKind, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


def trim_traceback(err: BaseException, filename: str = CANDIDATE_FILE, limit: int = 800) -> str:
    """The candidate's own frames plus the error line: short and prompt-ready."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).name == filename]
    lines = [f"line {f.lineno}: {(f.line or '').strip()}" for f in frames[-3:]]
    lines.append(f"{type(err).__name__}: {err}".strip())
    return "\n".join(lines)[-limit:]


def load_candidate(source: str, path: str) -> ModuleType:
    try:
        code = compile(source, path, "exec")
    except SyntaxError as err:
        raise CandidateFailure(FailureKind.SYNTAX, f"line {err.lineno}: {err.msg}") from None
    module = ModuleType("candidate")
    module.__file__ = path
    try:
        exec(code, module.__dict__)
    except MemoryError:
        raise CandidateFailure(FailureKind.MEMORY, "out of memory while loading the module") from None
    except ImportError as err:
        raise CandidateFailure(FailureKind.IMPORT, trim_traceback(err)) from None
    except Exception as err:
        kind = FailureKind.MEMORY if is_allocation_failure(err) else FailureKind.BUILD
        raise CandidateFailure(kind, trim_traceback(err)) from None
    if not isinstance(getattr(module, "Net", None), type):
        raise CandidateFailure(FailureKind.BUILD, "the code defines no class named Net")
    return module


def stage(kind: FailureKind, fn, *args, **kwargs):
    """Run one step; map its exceptions to a failure kind."""
    from archagent.evals.training import NonFiniteLoss

    try:
        return fn(*args, **kwargs)
    except CandidateFailure:
        raise
    except NonFiniteLoss as err:
        raise CandidateFailure(FailureKind.NAN, str(err)) from None
    except MemoryError:
        raise CandidateFailure(FailureKind.MEMORY, "out of memory") from None
    except Exception as err:
        if is_allocation_failure(err):
            raise CandidateFailure(FailureKind.MEMORY, trim_traceback(err)) from None
        raise CandidateFailure(kind, trim_traceback(err)) from None


def is_allocation_failure(err: BaseException) -> bool:
    """torch reports a refused allocation as RuntimeError("... can't allocate memory ...")."""
    text = str(err)
    return isinstance(err, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)
