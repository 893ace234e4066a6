"""In-process guard for untrusted candidate code: a `sys.addaudithook` policy.

    guard = install(job_dir, candidate_path, read_only=[data_path])   # after torch, before the candidate
    ...
    guard.violations   # every refused attempt, even if the candidate caught the PermissionError

Refuses, for the rest of the process's life: sockets and name lookups,
subprocesses, fork/exec/spawn, signals to any process, ctypes, gc object
walks, tracing/profiling hooks, new threads, code-object forgery, rlimit
changes, writes outside the job directory or to the result files, reads
outside the interpreter, the project, the job directory and the data file.
Frame introspection and compile/exec are refused when the candidate itself
calls them. Audit hooks cannot be removed from Python; this is a second line
behind the OS-level isolation (`sandbox.isolation`), not a replacement for it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

from archagent.sandbox.protocol import CANDIDATE_FILE, PREDS_FILE, RESULT_FILE, VIOLATIONS_FILE

DENY_EVENTS = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill", "os.killpg",
    "signal.pthread_kill", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.settrace",
    "sys.setprofile", "sys._current_frames", "sys._current_exceptions", "sys.addaudithook",
    "_thread.start_new_thread", "code.__new__", "function.__new__", "resource.setrlimit", "resource.prlimit",
    "os.chroot", "os.setuid", "os.setgid", "os.setns", "os.unshare", "pty.spawn", "mmap.__new__",
})
DENY_PREFIXES = ("socket.", "subprocess.", "ctypes.", "webbrowser.", "urllib.", "http.", "ftplib.", "smtplib.",
                 "imaplib.", "poplib.", "nntplib.", "telnetlib.", "_winapi.", "winreg.", "msvcrt.")
DENY_IMPORTS = frozenset({"ctypes", "_ctypes", "socket", "_socket", "subprocess", "_posixsubprocess", "ssl",
                          "multiprocessing", "pty", "requests", "urllib3", "httpx", "asyncio"})
CANDIDATE_ONLY = frozenset({"sys._getframe", "compile", "exec", "object.__getattr__", "object.__setattr__"})
PATH_WRITE_EVENTS = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.chmod": 1, "os.chown": 1, "os.utime": 1,
                     "os.truncate": 1, "os.rename": 2, "os.symlink": 2, "os.link": 2, "shutil.copyfile": 2,
                     "shutil.copytree": 2, "shutil.rmtree": 1, "shutil.move": 2, "os.mkfifo": 1, "os.mknod": 1}
RESERVED = (RESULT_FILE, PREDS_FILE, VIOLATIONS_FILE, "job.json", CANDIDATE_FILE)
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/dev/null", "/dev/urandom", "/sys/devices/system/cpu", "/sys/fs/cgroup",
               "/etc/localtime", "/etc/ld.so.cache", "/proc/cpuinfo", "/proc/meminfo")
DEVICE_READ = ("/proc/self", "/dev/nvidia", "/proc/driver/nvidia")  # CUDA probes some of these from Python
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class Guard:
    """The policy and its record of violations (append-only from the hook)."""

    def __init__(self, job_dir: Path, candidate_path: str, read_roots: Iterable[str], log_fd: int | None = None):
        self.job_dir = os.path.realpath(job_dir)
        self.candidate_path = candidate_path
        self.read_roots = tuple(sorted({os.path.realpath(p) for p in read_roots}))
        self.reserved = tuple(os.path.join(self.job_dir, name) for name in RESERVED)
        self.violations: list[str] = []
        self.log_fd = log_fd  # violations are also written here at once: they survive an os._exit
        self._busy: set[int] = set()
        self.own_proc = os.path.realpath("/proc/self")  # /proc/<pid> as this procfs numbers us (pid namespaces)

    def record(self, problem: str) -> None:
        self.violations.append(problem)
        if self.log_fd is not None and len(self.violations) <= 100:
            os.write(self.log_fd, problem.encode("utf-8", "replace")[:500] + b"\n")

    def hook(self, event: str, args: tuple) -> None:
        tid = threading.get_ident()
        if tid in self._busy:
            return
        self._busy.add(tid)
        try:
            problem = self.check(event, args)
        finally:
            self._busy.discard(tid)
        if problem:
            self.record(problem)
            raise PermissionError(f"sandbox: {problem} is forbidden")

    def check(self, event: str, args: tuple) -> str | None:
        if event in DENY_EVENTS or event.startswith(DENY_PREFIXES):
            return describe(event, args)
        if event == "import" and str(args[0]).split(".")[0] in DENY_IMPORTS and self.called_by_candidate():
            return f"import {args[0]}"
        if event == "open":
            return self.check_open(args[0], args[1], args[2])
        if event in PATH_WRITE_EVENTS:
            paths = args[: PATH_WRITE_EVENTS[event]]
            bad = [p for p in paths if not self.writable(p)]
            return f"{event} {bad[0]!r}" if bad else None
        if event in CANDIDATE_ONLY and self.called_by_candidate():
            return self.candidate_only(event, args)
        return None

    def check_open(self, path, mode, flags) -> str | None:
        if isinstance(path, int) or path is None:
            return None  # an already-open descriptor
        writing = (mode is not None and any(c in str(mode) for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
        if writing:
            return None if self.writable(path) else f"writing {os.fsdecode(path)!r}"
        return None if self.readable(path) else f"reading {os.fsdecode(path)!r}"

    def writable(self, path) -> bool:
        if isinstance(path, int):
            return True
        real = os.path.realpath(os.fsdecode(path))
        return is_under(real, (self.job_dir,)) and not real.startswith(self.reserved)

    def readable(self, path) -> bool:
        real = os.path.realpath(os.fsdecode(path))
        return is_under(real, (*self.read_roots, self.job_dir, self.own_proc)) or real.startswith(DEVICE_READ)

    def called_by_candidate(self) -> bool:
        frame = sys._getframe(3)  # 0 called_by_candidate, 1 check, 2 hook, 3 whoever raised the event
        for _ in range(2):
            if frame is None:
                return False
            if frame.f_code.co_filename == self.candidate_path:
                return True
            frame = frame.f_back
        return False

    def candidate_only(self, event: str, args: tuple) -> str | None:
        if event == "object.__getattr__":
            return f"introspecting .{args[1]}" if args[1] in ("tb_frame", "gi_frame", "cr_frame", "ag_frame",
                                                                "gi_code", "f_back") else None
        if event == "object.__setattr__":
            owner = getattr(args[0], "__module__", "") or ""
            return None if owner == "candidate" else f"patching {owner}.{getattr(args[0], '__name__', '?')}.{args[1]}"
        return {"sys._getframe": "frame introspection (sys._getframe)", "compile": "compiling code at run time",
                "exec": "exec/eval of code"}[event]


def is_under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def describe(event: str, args: tuple) -> str:
    shown = ", ".join(repr(a)[:60] for a in args[:2])
    return f"{event}({shown})"


def default_read_roots(project_root: Path) -> list[str]:
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(project_root), *SYSTEM_READ}
    return sorted(prefixes | {p for p in sys.path if p and os.path.isdir(p)})


UNAUDITED = (  # (owner, attribute, what): entry points with no audit event (C/C++ I/O), replaced by refusers
    ("_posixsubprocess", "fork_exec", "starting processes"), ("_thread", "start_new_thread", "threads"),
    ("_thread", "start_joinable_thread", "threads"), ("threading", "_start_new_thread", "threads"),
    ("torch", "from_file", "file I/O"), ("torch.UntypedStorage", "from_file", "file I/O"),
    ("torch.TypedStorage", "from_file", "file I/O"), ("torch._C", "PyTorchFileWriter", "file I/O"),
    ("torch._C", "PyTorchFileReader", "file I/O"), ("torch.jit", "save", "file I/O"), ("torch.jit", "load", "file I/O"),
    ("torch._C", "import_ir_module", "file I/O"), ("torch.distributed", "TCPStore", "sockets"),
    ("torch.distributed", "init_process_group", "sockets"), ("torch._C._distributed_c10d", "TCPStore", "sockets"),
)


def _resolve(dotted: str):
    """An already-imported module, or a class inside one ("torch.UntypedStorage"); None if absent."""
    if dotted in sys.modules:
        return sys.modules[dotted]
    module, _, name = dotted.rpartition(".")
    return getattr(sys.modules.get(module), name, None)


def _refuse_unaudited(guard: Guard) -> None:
    """Process/thread starters and torch's C++ file and socket I/O raise no audit event: replace them."""
    for owner, name, what in UNAUDITED:
        target = _resolve(owner)
        if target is not None and hasattr(target, name):
            with contextlib.suppress(AttributeError, TypeError):  # some C types refuse new attributes
                setattr(target, name, _refuser(guard, f"{what} ({owner}.{name})", what))


def _refuser(guard: Guard, label: str, what: str):
    def refuse(*_args, **_kwargs):
        guard.record(label)
        raise PermissionError(f"sandbox: forbidden ({what})")

    return refuse


def install(job_dir: Path, candidate_path: str, read_only: Iterable[str] = (), project_root: Path | None = None
            ) -> Guard:
    """Install the hook for the rest of this process. Import trusted modules first."""
    root = project_root or Path(__file__).resolve().parent.parent
    log_fd = os.open(Path(job_dir) / VIOLATIONS_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    guard = Guard(job_dir, candidate_path, [*default_read_roots(root), *read_only], log_fd)
    _refuse_unaudited(guard)
    sys.addaudithook(guard.hook)
    return guard
