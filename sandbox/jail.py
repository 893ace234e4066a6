"""The OS-level jail around every sandboxed job, built on bubblewrap (`bwrap`).

    problem = jail_problem()                       # None, or one line: why no jail can be had here
    argv = bwrap_argv(JailSpec(...), [python, "-P", "-m", "archagent.sandbox.forkserver", ...])

Two layers, both from outside the candidate's Python process (nothing here depends
on the in-process audit guard, which the candidate can switch off):

1. **The worker's jail** (`bwrap_argv`): a fork server runs in its own PID, network,
   IPC, UTS and mount namespaces, as an unprivileged uid *on the host* with no
   capabilities and an empty environment. Started by an ordinary user, bwrap maps the
   jail's uid 65534 to that user (`--unshare-user`); started by root, bwrap makes no user
   namespace (inside one, uid 65534 would map to host root) and `setpriv` drops the server
   to host uid/gid 65534 (nobody) before Python starts. Either way `/proc/sys` is bound
   read-only, root-only procfs files are unreadable, and `/dev` is read-only.
   The server is PID 1 there itself (`--as-pid-1`: no dumpable bwrap helper a job could
   read or write through /proc/1/mem). Its file system is a read-only view of
   /usr, the interpreter (at the same path), the project's own packages and the
   public data files it is handed (`expose_data`, at /data); every dataset file shipped by a library is
   hidden under an empty tmpfs (`HIDDEN_DATA`). It then makes a user + mount namespace of its
   own (`sandbox.scratch`) so that each job gets a fresh, size-capped tmpfs at /jobs, unmounted
   whole afterwards. Nothing of the host is writable and no network exists but a private loopback.
2. **Each job's own namespaces** (`enter_job_namespace`, in the forked child): a
   nested user + PID + mount + IPC namespace, so the job is PID 1 of a namespace
   that dies with it (no process outlives it), cannot see or signal the fork
   server, and gets a private, size-capped /tmp and /dev/shm. Then all
   capabilities are dropped and a seccomp filter (`syscall_filter`, via
   libseccomp) refuses ptrace, process_vm_*, mount, namespace changes (`clone` with any
   `CLONE_NEW*` flag; `clone3`, whose flags seccomp cannot see, answers ENOSYS so libc falls
   back to `clone`) and kernel-facing calls for the rest of the job's life.

Where bwrap or user namespaces are missing, or the running system fails one of the checks above
(`jailcheck`), `jail_problem` says so in one line; the caller refuses to run untrusted code unless
`[sandbox] isolation = "process"`.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import archagent

PROJECT_ROOT = Path(archagent.__file__).resolve().parent.parent  # the folder holding the archagent package
# What the child imports from the project (the namespace package and three layers); nothing else is visible.
PACKAGES = ("archagent", "archagent.sandbox", "archagent.evals", "archagent.knowledge")


def package_dirs() -> list[Path]:
    """The folders of `PACKAGES` (in a checkout they lie beside `archagent/`; installed, inside it)."""
    return [Path(importlib.util.find_spec(name).origin).parent for name in PACKAGES]
JOBS_DIR = "/jobs"  # the job area inside the worker's jail (a size-capped tmpfs)
DATA_DIR = "/data"  # the public data files, read-only
JAIL_UID = 65534  # nobody
PRIVATE_MOUNTS = ("/tmp/", "/dev/shm/")  # each jail and each job mounts fresh, empty ones here
HIDDEN_DATA = (("sklearn", "datasets/data"), ("sklearn", "datasets/descr"), ("sklearn", "datasets/images"),
               ("matplotlib", "mpl-data/sample_data"))  # (package, data folder): labels and samples on disk
FIX = ("the jail needs bubblewrap and user namespaces: install it (`apt-get install bubblewrap`) and allow "
       "unprivileged user namespaces, or set `[sandbox] isolation = \"process\"` to run candidates UNSAFELY "
       "without it")

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x20000, 0x08000000, 0x10000000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
CLONE_NEW_FLAGS = (0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)  # NS..NET
ENOSYS = 38
DENIED_SYSCALLS = (  # refused with EPERM once a job is locked down
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot", "unshare",
    "setns", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at", "acct", "swapon",
    "swapoff", "reboot", "syslog", "quotactl", "lookup_dcookie", "vhangup", "personality", "pidfd_getfd",
    "kcmp", "io_uring_setup", "io_uring_enter", "io_uring_register",
)


@dataclass(frozen=True)
class JailSpec:
    """What one worker's jail binds in; everything else of the host is absent."""

    data_dir: str | None = None  # host folder of public data files, shown read-only at DATA_DIR
    gpus: tuple[str, ...] = ()  # physical GPU indices whose device nodes are bound
    disk_mb: int = 512  # the /jobs tmpfs: all files one job may write, together
    scratch_mb: int = 64  # /tmp and /dev/shm
    env: dict[str, str] = field(default_factory=dict)
    status_fd: int | None = None  # bwrap's --json-status-fd: it alone keeps this open while it lives


def expose_data(data_dir: Path, host_path: str) -> str:
    """Make a public data file visible in a jail whose `data_dir` is bound at DATA_DIR (a hard link, else a
    copy; a bind shows files added later); returns its path inside the jail."""
    src = Path(host_path).resolve()
    name = f"{hashlib.sha256(str(src).encode()).hexdigest()[:12]}-{src.name}"
    target = data_dir / name
    if not target.exists():
        tmp = data_dir / f".{name}.{os.getpid()}.tmp"
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        tmp.replace(target)
    return f"{DATA_DIR}/{name}"


# -- is a jail available here? -------------------------------------------------------------
@functools.cache
def jail_problem() -> str | None:
    """None if a jail can be built here, else one line saying why not and how to fix it (cached)."""
    if not sys.platform.startswith("linux"):
        return f"no OS-level jail on {sys.platform}: {FIX}"
    if shutil.which("bwrap") is None:
        return f"bubblewrap (bwrap) is not installed: {FIX}"
    try:
        import pyseccomp  # noqa: F401 - the seccomp layer needs libseccomp's bindings
    except (ImportError, RuntimeError) as err:
        return f"no seccomp bindings ({err}): `pip install pyseccomp` (and libseccomp2), or {FIX}"
    private = [p for p in (*interpreter_roots(), *map(str, package_dirs())) if p.startswith(PRIVATE_MOUNTS)]
    if private:
        return (f"{private[0]} lies under /tmp or /dev/shm, which every job gets as a private, empty mount, so "
                "Python or archagent would vanish inside the jail: use a Python environment and checkout elsewhere")
    if drops_root() and shutil.which("setpriv") is None:
        return f"running as root needs `setpriv` (util-linux) to drop the jail to an unprivileged uid: {FIX}"
    return check_running_jail()


def check_running_jail() -> str | None:
    """Build a real jail and try, from inside it, what a job would (`sandbox.jailcheck`); None if it held."""
    env = {"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"}
    argv = bwrap_argv(JailSpec(env=env), [sys.executable, "-P", "-m", "archagent.sandbox.jailcheck"])
    probe = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        return f"bubblewrap cannot build a jail here ({why}): {FIX}"
    try:
        problems = json.loads(probe.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"the jail's self-check printed no verdict ({probe.stdout[-200:]!r}): {FIX}"
    return f"the jail does not hold here: {'; '.join(problems)}" if problems else None


# -- layer 1: the worker's jail -------------------------------------------------------------
def interpreter_roots() -> list[str]:
    """The interpreter's install trees and any site-packages outside them (read-only, same path)."""
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real.endswith(("site-packages", "dist-packages")) and os.path.isdir(real):
            roots.add(real)
    return sorted(r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots))


def hidden_data_dirs() -> list[str]:
    """Dataset folders shipped inside installed libraries (found without importing them)."""
    found = []
    for package, sub in HIDDEN_DATA:
        spec = importlib.util.find_spec(package) if package not in sys.modules else sys.modules[package].__spec__
        if spec and spec.origin:
            path = Path(spec.origin).parent / sub
            if path.is_dir():
                found.append(str(path.resolve()))
    return found


def system_binds() -> list[str]:
    """/usr read-only, the merged-/usr symlinks (or real dirs), and the few /etc files a process needs."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"):
        args += ["--ro-bind-try", name, name]
    return args


def gpu_binds(gpus: tuple[str, ...]) -> list[str]:
    """Only the assigned GPUs' device nodes, plus the shared control nodes (unverified without a GPU)."""
    nodes = [f"/dev/nvidia{g}" for g in gpus] + ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    args = []
    for node in nodes if gpus else []:
        args += ["--dev-bind-try", node, node]
    if gpus:
        args += ["--ro-bind-try", "/proc/driver/nvidia", "/proc/driver/nvidia", "--ro-bind-try", "/sys", "/sys"]
    return args


def drops_root() -> bool:
    """Whether archagent runs as root: then the jail gets no user namespace of its own (inside one, its
    uid would map to host root) and the server is dropped to host uid `JAIL_UID` by `setpriv`."""
    return os.geteuid() == 0


def identity_args() -> tuple[list[str], list[str]]:
    """(bwrap options, command prefix) that make the jailed server an unprivileged uid on the host."""
    if not drops_root():  # bwrap's user namespace maps JAIL_UID to the (unprivileged) caller
        return ["--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--uid", str(JAIL_UID),
                "--gid", str(JAIL_UID)], []
    caps = [arg for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP") for arg in ("--cap-add", cap)]
    drop = ["setpriv", "--reuid", str(JAIL_UID), "--regid", str(JAIL_UID), "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"]  # every capability gone before Python starts
    return ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--cap-drop", "ALL", *caps], drop


def bind_parents(spec: JailSpec) -> list[str]:
    """Make the folders above every bind world-searchable first: bwrap would make them 0700, and the
    jailed server is not root."""
    binds = ["/etc/ld.so.cache", *interpreter_roots(), *map(str, package_dirs())]
    binds += [DATA_DIR] if spec.data_dir else []
    args = []
    for folder in sorted({str(a) for b in binds for a in Path(b).parents if str(a) != "/"}, key=len):
        args += ["--perms", "0755", "--dir", folder]
    return args


def bwrap_argv(spec: JailSpec, command: list[str]) -> list[str]:
    """The full `bwrap ... -- command` line for one worker's jail."""
    mb = 1024 * 1024
    identity, prefix = identity_args()
    args = ["bwrap", *identity, "--die-with-parent", "--as-pid-1", "--new-session", "--clearenv",
            "--hostname", "sandbox", *bind_parents(spec), *system_binds(), "--proc", "/proc",
            "--ro-bind", "/proc/sys", "/proc/sys", "--dev", "/dev"]
    for root in interpreter_roots():
        args += ["--ro-bind", root, root]
    for hidden in hidden_data_dirs():
        args += ["--tmpfs", hidden, "--remount-ro", hidden]
    for folder in package_dirs():
        args += ["--ro-bind", str(folder), str(folder)]
    args += ["--size", str(spec.scratch_mb * mb), "--perms", "01777", "--tmpfs", "/tmp",
             "--size", str(spec.scratch_mb * mb), "--perms", "01777", "--tmpfs", "/dev/shm",
             "--perms", "0755", "--dir", JOBS_DIR]  # the server mounts each job's own tmpfs here
    if spec.data_dir:  # not under /tmp: a job's private /tmp would hide it
        args += ["--ro-bind", spec.data_dir, DATA_DIR]
    args += gpu_binds(spec.gpus)
    for key, value in spec.env.items():
        args += ["--setenv", key, value]
    if spec.status_fd is not None:
        args += ["--json-status-fd", str(spec.status_fd)]
    return [*args, "--remount-ro", "/dev", "--chdir", "/", "--remount-ro", "/", "--", *prefix, *command]


# -- layer 2: each job's own namespaces, inside the jail ------------------------------------------
@functools.cache
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def make_undumpable() -> None:
    """No core dumps, no /proc/PID/mem or ptrace of this process by anything with the same uid."""
    _check(_libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def enter_job_namespace(kill_fd: int) -> None:
    """Fork into a fresh user+PID+mount+IPC namespace; returns in the job, never in the helpers.

    Three processes: the intermediate one (outside the new PID namespace) writes the namespace init's
    pid, as the fork server sees it, to `kill_fd`, waits and exits as the job did; the init (PID 1,
    trusted, no candidate code) mounts the private /tmp and /dev/shm, reaps orphans and ends with the
    job, at which point the kernel kills every process left in the namespace; the job is PID 2, so
    ordinary signals (a parent's SIGSEGV, RLIMIT signals) reach it as they would any process.
    """
    libc, uid, gid = _libc(), os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    _check(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")  # else /proc/self is root's
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    make_undumpable()
    init = os.fork()
    if init:
        os.write(kill_fd, f"{init}\n".encode())
        os.close(kill_fd)
        pass_on_status(os.waitpid(init, 0)[1], from_init=True)
    os.close(kill_fd)
    _check(libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    for target in (b"/tmp", b"/dev/shm"):
        _check(libc.mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64m,mode=1777"), "mount tmpfs")
    job = os.fork()
    if job:
        reap_until(job)
    _check(libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def reap_until(job: int) -> None:
    """The namespace init's loop: reap every orphan; when the job ends, end too (code, or 128 + signal)."""
    while True:
        pid, status = os.wait()
        if pid == job:
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def pass_on_status(status: int, from_init: bool = False) -> None:
    """Exit exactly as the job did (same code, or killed by the same signal), so the server sees it.
    An init cannot kill itself with a signal, so it reports one as exit code 128 + signal."""
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else (code - 128 if from_init and code > 128 else 0)
    if sig:
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(code)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Give up every capability the nested user namespace granted (capset to empty sets)."""
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3
    _check(_libc().capset(ctypes.byref(header), data), "capset")


def syscall_filter():
    """A libseccomp filter: allow by default; EPERM for `DENIED_SYSCALLS`, for `clone` with any namespace
    flag and for resetting the death signal or the dumpable flag; ENOSYS for `clone3`."""
    import pyseccomp as sc

    filt = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED_SYSCALLS:
        try:
            filt.add_rule(sc.ERRNO(1), name)
        except (OSError, ValueError, RuntimeError):
            continue  # a syscall this kernel/arch does not have
    for flag in CLONE_NEW_FLAGS:  # x86-64 and arm64 alike: clone's flags are its first argument
        filt.add_rule(sc.ERRNO(1), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    filt.add_rule(sc.ERRNO(ENOSYS), "clone3")  # its flags sit in a struct seccomp cannot read: libc falls back
    filt.add_rule(sc.ERRNO(1), "prctl", sc.Arg(0, sc.EQ, PR_SET_PDEATHSIG))
    filt.add_rule(sc.ERRNO(1), "prctl", sc.Arg(0, sc.EQ, PR_SET_DUMPABLE))
    return filt


def lock_down(filt) -> None:
    """The job's last trusted step before candidate code: no capabilities, seccomp on (irreversible)."""
    drop_capabilities()
    filt.load()
