"""OS-level isolation applied by the child to itself before any candidate code runs.

    report = isolate(limits, job_dir, threads)   # first thing in `python -m sandbox.child`

Reusable after a plain `fork()` too (a warm worker pool calls `isolate` in each
forked child): a fresh session/process group, kill-on-parent-death, a new
network namespace where the OS allows it, rlimits (address space, CPU time,
file size, open files, processes, no core dumps), a private working directory
and an allow-listed environment. What could not be applied is recorded, not fatal.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path

from archagent.sandbox.limits import SandboxLimits

import archagent

PROJECT_ROOT = Path(archagent.__file__).resolve().parent.parent  # the folder holding the archagent package
ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")  # nothing else of the parent's environment
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class IsolationReport:
    """What `isolate` managed to apply; sent back in the child's report."""

    new_session: bool
    parent_death_signal: bool
    network_namespace: bool
    nproc_enforced: bool  # RLIMIT_NPROC is ignored for root

    def as_flags(self) -> dict[str, bool]:
        return dict(self.__dict__)


class JailUnavailable(RuntimeError):
    """The OS-level jail cannot be built here, and the config did not opt out of it."""


_warned_unsafe = False


def require_isolation(limits: SandboxLimits) -> str:
    """The isolation to run under: "jail" if it can be had, else refuse (or warn once for "process")."""
    global _warned_unsafe
    if limits.isolation == "process":
        if not _warned_unsafe:
            _warned_unsafe = True
            warnings.warn('[sandbox] isolation = "process": candidates run WITHOUT the OS-level jail; a hostile '
                          "candidate can read your files and environment, reach the network and leave processes "
                          "behind. Use it only for code you trust.", RuntimeWarning, stacklevel=2)
        return "process"
    from archagent.sandbox.jail import jail_problem

    problem = jail_problem()
    if problem:
        raise JailUnavailable(f"refusing to run untrusted candidates: {problem}")
    return "jail"


def child_env(job_dir: Path, threads: int) -> dict[str, str]:
    """The complete environment of a child: an allow-list, no keys, tokens or credentials."""
    env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
    env.update(HOME=str(job_dir), TMPDIR=str(job_dir), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=str(PROJECT_ROOT), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def scrub_environ(job_dir: Path, threads: int) -> None:
    """Replace os.environ in place (a forked worker inherits the parent's)."""
    keep = child_env(job_dir, threads)
    for key in list(os.environ):
        if key not in keep:
            del os.environ[key]
    os.environ.update(keep)


def _libc_call(name: str, *args: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return getattr(libc, name)(*args) == 0


def enter_network_namespace() -> bool:
    """A fresh, empty network namespace (loopback down): needs CAP_SYS_ADMIN."""
    return _libc_call("unshare", CLONE_NEWNET)


def die_with_parent() -> bool:
    parent = os.getppid()
    ok = _libc_call("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    return ok


def _user_process_count() -> int:
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += 1
    return count


def set_rlimits(limits: SandboxLimits, threads: int) -> bool:
    """Apply the caps; returns whether the process cap is enforced (never for root)."""
    mb = 1024 * 1024
    cpu = limits.cpu_seconds(threads)
    caps = {
        resource.RLIMIT_AS: limits.memory_mb * mb,
        resource.RLIMIT_CPU: cpu,
        resource.RLIMIT_FSIZE: limits.max_file_mb * mb,
        resource.RLIMIT_NOFILE: limits.max_open_files,
        resource.RLIMIT_CORE: 0,
    }
    for which, soft in caps.items():
        hard = cpu + 2 if which == resource.RLIMIT_CPU else soft  # SIGXCPU first, SIGKILL 2 s later
        resource.setrlimit(which, (soft, hard))
    nproc = _user_process_count() + limits.max_procs  # RLIMIT_NPROC counts the whole user
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    return os.geteuid() != 0


def isolate(limits: SandboxLimits, job_dir: Path, threads: int) -> IsolationReport:
    """Everything OS-level, in order; call before importing candidate code."""
    new_session = os.getpgid(0) == os.getpid()
    if not new_session:
        os.setsid()
        new_session = True
    pdeath = die_with_parent()
    jailed = limits.isolation == "jail"  # the jail already gave the job a network namespace of its own
    netns = jailed or (False if limits.network else enter_network_namespace())
    nproc = set_rlimits(limits, threads)
    os.chdir(job_dir)
    os.umask(0o077)
    scrub_environ(job_dir, threads)
    return IsolationReport(new_session, pdeath, netns, nproc)
