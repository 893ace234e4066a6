"""A warm fork server: pay `import torch` once per worker, not once per candidate.

    server = ForkServer(threads=1, limits=limits)                      # parent side
    reply = server.run(JobRequest(code, job_json, nonce, timeout_s, output_cap))
    server.close()

The server (`python -P -m sandbox.forkserver --work DIR ...`, started by `ForkServer`,
never by hand) imports torch, numpy and the trusted evaluation modules once and runs
one tiny training step, then serves one job at a time. With `isolation = "jail"` (the
default) it runs inside a bubblewrap jail (`sandbox.jail`): its work dir is the
jail's size-capped /jobs tmpfs, and each forked job enters its own user/PID/mount
namespace, drops every capability and loads a seccomp filter before the candidate
runs. The server makes itself non-dumpable (no ptrace, no /proc/PID/mem by anything
with its uid).

Per job the server writes candidate.py and job.json into a fresh job dir, forks the
child (`sandbox.child.run_job`), and supervises it: stdout+stderr come through a
pipe (the tail is kept; a flood kills the job), the wall-clock timeout and a
parent's cancel kill it. Then it reads what the child left (`sandbox.collect
.read_job_files`: no symlinks, no FIFOs, regular files of bounded size only), wipes
the job dir and sends it all back. The parent never touches a file the child made.

Protocol on the server's stdin/stdout: parent → server one JSON line per job
(`JobRequest`) or `{"cancel": NONCE}` (kills that job if it still runs); server → parent `{"ready": pid}` once, then per
job one JSON header line (exit code, CPU seconds, timed_out, flooded, the byte size
of each returned file) followed by exactly those bytes.

Fork safety: the server keeps one intra-op thread, so no OpenMP pool exists when it
forks (it refuses to serve if more than one thread is alive); each child sets its own
thread count. The server exits when its parent dies or closes the request pipe.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
OUTPUT_LOG = "output.log"  # kept for callers that name it; the output now travels through a pipe
FLOOD_BYTES = 64 * 1024 * 1024  # more stdout+stderr than this and the job is killed
PRELOAD = ("torch", "torch._dynamo", "torch.nn.functional", "torch.optim", "numpy", "pydantic",
           "archagent.sandbox.child", "archagent.sandbox.steps", "archagent.evals.training",
           "archagent.evals.tasks.base")
REPLY_GRACE_S = 60.0  # beyond the job's timeout, before the parent gives the server up for dead


class ServerDied(RuntimeError):
    """The fork server process went away (killed, crashed, or failed to start)."""


@dataclass(frozen=True)
class ChildExit:
    code: int  # exit status as subprocess reports it (negative: killed by that signal)
    cpu_s: float  # user + system CPU seconds of the child
    timed_out: bool = False
    flooded: bool = False  # printed more than FLOOD_BYTES and was killed


@dataclass(frozen=True)
class JobRequest:
    code: str
    job_json: str
    nonce: str
    timeout_s: float
    output_cap: int  # bytes of stdout+stderr tail kept
    cuda_visible: str | None = None


@dataclass(frozen=True)
class JobReply:
    end: ChildExit
    files: dict[str, bytes | None] = field(default_factory=dict)  # what the child left, bounded
    output: str = ""


def kill_child(pid: int) -> None:
    """Kill a (process-isolation) job child and its process group."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


# -- the server side ---------------------------------------------------------------------
class LineReader:
    """JSON lines from a descriptor, buffered, readable without blocking once select says so."""

    def __init__(self, fd: int, lifeline: int | None = None):
        self.fd, self.buf, self.eof = fd, b"", False
        self.lifeline = lifeline  # readable (EOF) once the jail's bwrap is gone: then this is EOF too
        self.fds = [fd, *([lifeline] if lifeline is not None else [])]

    def fill(self) -> None:
        ready = select.select(self.fds, [], [])[0] if self.lifeline is not None else [self.fd]
        if self.lifeline in ready and not os.read(self.lifeline, 4096):
            # bwrap is gone. Its death signal cannot reach a server of another uid (root's jail), so the
            # server dies here as if it had got it; as PID 1 it takes every job process with it.
            os._exit(1)
        if self.fd in ready:
            chunk = os.read(self.fd, 1 << 20)
            self.eof = not chunk
            self.buf += chunk

    def pop(self) -> dict | None:
        if b"\n" not in self.buf:
            return None
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def next(self) -> dict | None:
        """Block until a line (None at EOF)."""
        while (item := self.pop()) is None:
            if self.eof:
                return None
            self.fill()
        return item


def child_main(req: dict, job_dir: Path, out_w: int, kill_w: int, lock, cgroup_fds: tuple[int, ...] = ()) -> None:
    """The forked child: into the job's cgroups and its own namespaces (jail), then `run_job`; never returns."""
    try:
        join_cgroups(cgroup_fds)  # before anything else: every process and page of the job is counted
        devnull = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((0, devnull), (1, out_w), (2, out_w)):
            os.dup2(target, fd)
        os.closerange(3, kill_w)
        os.closerange(kill_w + 1, os.sysconf("SC_OPEN_MAX"))
        if lock is not None:
            from archagent.sandbox.jail import enter_job_namespace

            enter_job_namespace(kill_w)  # returns in the job, PID 1 of a fresh namespace
        else:
            os.close(kill_w)
        sys.path[:] = [p for p in sys.path if p not in ("", ".", str(job_dir))]
        if req.get("cuda_visible") is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = req["cuda_visible"]  # kept only if isolation allows it
            import torch

            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        from archagent.sandbox.child import run_job

        run_job(job_dir, req["nonce"], before_candidate=lock)
    except BaseException:  # noqa: B036 - whatever happens, the child must end in os._exit
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(1)


class Supervisor:
    """Wait for one job: drain its output, enforce the timeout, obey a cancel; never block on the job."""

    def __init__(self, pid: int, out_r: int, kill_r: int | None, requests: LineReader, cap: int, nonce: str):
        self.pid, self.out_r, self.kill_r, self.requests, self.cap = pid, out_r, kill_r, requests, cap
        self.nonce = nonce
        self.tail, self.total, self.job_pid = bytearray(), 0, None
        self.pidfd = os.pidfd_open(pid)
        os.set_blocking(out_r, False)

    def wait(self, timeout_s: float) -> ChildExit:
        deadline, timed_out, flooded = time.monotonic() + timeout_s, False, False
        while not select.select([self.pidfd], [], [], 0)[0]:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                self.kill()
                break
            watched = [self.pidfd, self.out_r, *self.requests.fds, *([self.kill_r] if self.kill_r else [])]
            ready = select.select(watched, [], [], left)[0]
            self.on_ready(ready)
            if self.total > FLOOD_BYTES:
                flooded = True
                self.kill()
                break
        _, status, usage = os.wait4(self.pid, 0)
        self.kill()  # whatever the job left in its process group (process isolation)
        self.drain()
        os.close(self.pidfd)
        return ChildExit(os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, timed_out, flooded)

    def on_ready(self, ready: list[int]) -> None:
        if self.out_r in ready:
            self.drain()
        if self.kill_r and self.kill_r in ready:
            data = os.read(self.kill_r, 64)
            self.job_pid = int(data) if data.strip().isdigit() else self.job_pid
            os.close(self.kill_r)
            self.kill_r = None
        if self.requests.fd in ready or self.requests.lifeline in ready:
            self.requests.fill()
            while (item := self.requests.pop()) is not None:
                if item.get("cancel") == self.nonce:  # a late cancel of an earlier job is ignored
                    self.kill()
            if self.requests.eof:
                self.kill()

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self.out_r, 1 << 16):
                self.total += len(chunk)
                self.tail += chunk
                del self.tail[: max(0, len(self.tail) - self.cap)]
                if self.total > FLOOD_BYTES:
                    return

    def kill(self) -> None:
        if self.job_pid:  # the job's namespace init: its death takes the whole namespace along
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.job_pid, signal.SIGKILL)
        kill_child(self.pid)


def join_cgroups(fds: tuple[int, ...]) -> None:
    from archagent.sandbox.cgroups import join

    join(fds)


def discard_work(work: Path, jailed: bool) -> bool:
    """After a job: drop everything it left in the work area; True if the area is empty again. Jailed, the
    job's tmpfs is unmounted whole; otherwise each entry is removed by descriptor (`scratch.remove_tree`)."""
    from archagent.sandbox.scratch import discard_scratch, remove_tree

    if jailed:
        return discard_scratch(str(work))
    try:
        return all([remove_tree(str(work / entry)) for entry in os.listdir(work)]) and not os.listdir(work)
    except OSError:
        return False


def write_job(job_dir: Path, req: dict) -> None:
    from archagent.sandbox.protocol import CANDIDATE_FILE

    job_dir.mkdir(mode=0o700)
    (job_dir / CANDIDATE_FILE).write_text(req["code"])
    (job_dir / "job.json").write_text(req["job_json"])


def run_one(req: dict, job_dir: Path, requests: LineReader, lock, server: ServerConfig) -> tuple[dict, bytes]:
    """One job from request to (header, payload); the header says whether the work area is clean after it."""
    from archagent.sandbox.collect import read_job_files
    from archagent.sandbox.scratch import mount_scratch

    if server.jailed:
        mount_scratch(str(job_dir.parent), server.disk_mb)  # a fresh, empty, full-sized tmpfs per job
    write_job(job_dir, req)
    out_r, out_w = os.pipe()
    kill_r, kill_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        child_main(req, job_dir, out_w, kill_w, lock, server.cgroup_fds)
    os.close(out_w)
    os.close(kill_w)
    sup = Supervisor(pid, out_r, kill_r, requests, int(req["output_cap"]), req["nonce"])
    end = sup.wait(float(req["timeout_s"]))
    os.close(out_r)
    if sup.kill_r:
        os.close(sup.kill_r)
    files = read_job_files(job_dir)
    clean = discard_work(job_dir.parent, server.jailed)  # the job dir and anything else the job left
    blobs = [*(files[name] or b"" for name in sorted(files)), bytes(sup.tail)]
    sizes = {name: (None if files[name] is None else len(files[name])) for name in sorted(files)}
    header = {"end": asdict(end), "sizes": sizes, "output": len(sup.tail), "clean": clean}
    return header, b"".join(blobs)


def warm_up() -> None:
    """One tiny training run on one thread: torch's lazy first-call costs, paid once per server."""
    import numpy as np
    import torch
    from archagent.evals.tasks.base import Recipe, TaskSpec
    from archagent.evals.training import predict, train
    from archagent.sandbox.probe import probe
    from torch import nn

    torch.set_num_threads(1)
    spec = TaskSpec(name="warmup", kind="classification", in_shape=(1, 4, 4), n_out=2, recipe=Recipe(epochs=1))
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    x, y = np.zeros((8, 1, 4, 4), np.float32), np.zeros(8, np.int64)  # (B, 1, 4, 4), (B,)
    train(model, x, y, spec)
    predict(model, x)
    probe(model, spec, {"x_train": x, "y_train": y}, "cpu")  # FLOP counter, dispatch trace, proxies


def threads_alive() -> int:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1


def die_with_parent(parent_pid: int) -> None:
    """parent_pid 0: the jail's init is the parent (bwrap --die-with-parent ties it to the real one)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if parent_pid and os.getppid() != parent_pid:
        sys.exit("the parent died before the fork server was ready")


@dataclass(frozen=True)
class ServerConfig:
    """What the server is told on its command line."""

    work: Path
    jailed: bool
    disk_mb: int = 512  # jailed: the size of each job's own tmpfs at `work`
    cgroup_fds: tuple[int, ...] = ()  # `cgroup.procs` of the job's group(s), opened by the parent
    lifeline: int | None = None  # read end of bwrap's --json-status-fd pipe: EOF once bwrap is gone


def serve(server: ServerConfig, parent_pid: int, warm: bool) -> None:
    from archagent.sandbox.jail import lock_down, make_undumpable, syscall_filter
    from archagent.sandbox.scratch import enter_server_namespace

    jailed, work = server.jailed, server.work
    if jailed:
        enter_server_namespace()  # single-threaded still: a user namespace needs that
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    for name in PRELOAD if warm else ("archagent.sandbox.child", "archagent.sandbox.collect"):
        __import__(name)
    if warm:
        warm_up()
    if threads_alive() != 1:
        sys.exit(f"refusing to fork: {threads_alive()} threads alive after warm-up")
    make_undumpable()
    filt = syscall_filter() if jailed else None
    lock = (lambda: lock_down(filt)) if jailed else None
    gc.collect()
    gc.freeze()  # children's collections skip the preloaded heap instead of copying it page by page
    out = os.fdopen(os.dup(1), "wb")
    out.write(json.dumps({"ready": os.getpid()}).encode() + b"\n")
    out.flush()
    requests = LineReader(sys.stdin.fileno(), server.lifeline)
    for n in range(1 << 62):
        req = requests.next()
        if req is None:
            return
        if "cancel" in req:
            continue  # a cancel that arrived after its job ended
        header, payload = run_one(req, work / f"job-{n}-{secrets.token_hex(4)}", requests, lock, server)
        out.write(json.dumps(header).encode() + b"\n" + payload)
        out.flush()
        if not header["clean"]:
            return  # a work area that is not empty again: this server is done (the parent starts a fresh one)


# -- the parent side ---------------------------------------------------------------------
_cgroup_warned = False


def job_cgroup(limits):
    """The per-job cgroup for one server's jobs (memory: the job's memory, disk and scratch allowances
    together; pids: its process cap plus the namespace's helper and init), or a record of why there is none
    (warned once per process)."""
    global _cgroup_warned
    from archagent.sandbox.cgroups import CgroupUnavailable, JobCgroup

    memory_mb = limits.memory_mb + limits.max_disk_mb + 2 * 64  # + the job's own /tmp and /dev/shm
    try:
        return JobCgroup.create(f"archagent-{os.getpid()}-{secrets.token_hex(4)}", memory_mb, limits.max_procs + 4)
    except CgroupUnavailable as err:
        if not _cgroup_warned:
            _cgroup_warned = True
            import warnings

            warnings.warn(f"{err}: jobs run with rlimits only (memfd/shared memory and a root job's processes are "
                          "not capped); docs/security.md", RuntimeWarning, stacklevel=3)
        return JobCgroup.unavailable(str(err))


class ForkServer:
    """Parent-side handle: start the (jailed) server, run one job at a time on it, close it."""

    def __init__(self, threads: int = 1, limits=None, gpus: tuple[str, ...] = (), warm: bool = True,
                 start_timeout_s: float = 180.0):
        from archagent.sandbox.isolation import child_env, require_isolation
        from archagent.sandbox.jail import JOBS_DIR, PROJECT_ROOT, JailSpec, bwrap_argv
        from archagent.sandbox.limits import SandboxLimits

        limits = limits or SandboxLimits()
        self.jailed = require_isolation(limits) == "jail"
        self.gpus = tuple(gpus)
        self._work = None if self.jailed else tempfile.mkdtemp(prefix="archagent-work-")
        self._data = tempfile.mkdtemp(prefix="archagent-jaildata-") if self.jailed else None
        if self._data:
            os.chmod(self._data, 0o755)  # the jailed server is an unprivileged uid on the host
        self.cgroup = job_cgroup(limits)
        self.caps, self.retired = self.cgroup.caps, False  # retired: its work area was not clean after a job
        work = JOBS_DIR if self.jailed else self._work
        env = child_env(Path(work), threads)
        env.update(OPENBLAS_NUM_THREADS="1", USER="sandbox")  # one BLAS thread: no second thread at fork time
        argv = [sys.executable, "-P", "-m", "archagent.sandbox.forkserver", "--work", work,
                "--parent", "0" if self.jailed else str(os.getpid()), *(["--jailed"] if self.jailed else []),
                *([] if warm else ["--cold"]), "--disk-mb", str(limits.max_disk_mb),
                "--cgroup-fds", ",".join(map(str, self.cgroup.procs_fds))]
        lifeline = os.pipe() if self.jailed else ()  # only bwrap keeps the write end: its death is the server's EOF
        if lifeline:
            argv += ["--lifeline", str(lifeline[0])]
        if self.jailed:
            spec = JailSpec(self._data, self.gpus, limits.max_disk_mb, env=env, status_fd=lifeline[1])
            argv, env = bwrap_argv(spec, argv), {"PATH": env.get("PATH", "/usr/bin:/bin")}
        self._log = tempfile.NamedTemporaryFile(prefix="archagent-forkserver-", suffix=".log")  # noqa: SIM115 - closed in close()
        self._stdin_lock = threading.Lock()
        self.proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, start_new_session=True,
                                     pass_fds=(*self.cgroup.procs_fds, *lifeline))
        for fd in lifeline:
            os.close(fd)
        self._buf, self._current = b"", None
        try:
            self._read_line(start_timeout_s)  # {"ready": pid} once the imports and warm-up are done
        except (ServerDied, TimeoutError) as err:
            self.close()
            raise ServerDied(f"the fork server did not start: {err or 'timed out'}") from None

    @property
    def usable(self) -> bool:
        """Alive and not retired (a server whose work area was not clean after a job serves no other)."""
        return not self.retired and self.proc.poll() is None

    def serves(self, gpu: str | None) -> bool:
        """Whether this server's jail has the job's GPU device node (a process server sees all)."""
        return not self.jailed or gpu is None or gpu in self.gpus

    def path_inside(self, data_path: str) -> str:
        """The public data file's path as the job sees it (linked into the jail's /data first)."""
        from archagent.sandbox.jail import expose_data

        return expose_data(Path(self._data), data_path) if self.jailed else data_path

    def run(self, req: JobRequest, on_start=None) -> JobReply:
        """Run one job to its end (the server enforces the timeout). Raises ServerDied if the server goes away."""
        self._current = req.nonce
        self.cgroup.reset_peak()
        self._send(asdict(req))
        if on_start:
            on_start(self)
        try:
            header = self._read_line(req.timeout_s + REPLY_GRACE_S)
            sizes, n_out = header["sizes"], int(header["output"])
            payload = self._read_exact(sum(s or 0 for s in sizes.values()) + n_out, REPLY_GRACE_S)
        except TimeoutError:
            self.kill()
            raise ServerDied("the fork server stopped answering (killed)") from None
        files, at = {}, 0
        for name, size in sizes.items():
            files[name] = None if size is None else payload[at:at + size]
            at += size or 0
        self._current = None
        self.retired = not header.get("clean", False) or bool(self.cgroup.leftover_pids())
        return JobReply(ChildExit(**header["end"]), files, payload[at:].decode("utf-8", "replace"))

    def cancel(self) -> None:
        """Kill the running job (if any); the server stays up."""
        current = self._current
        if current is not None:
            with contextlib.suppress(ServerDied):
                self._send({"cancel": current})

    def _send(self, obj: dict) -> None:
        try:
            with self._stdin_lock:
                self.proc.stdin.write((json.dumps(obj) + "\n").encode())
                self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise ServerDied(self._why()) from None

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            raise ServerDied(self._why())
        self._buf += chunk

    def _read_line(self, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            self._fill(deadline)
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _read_exact(self, n: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        while len(self._buf) < n:
            self._fill(deadline)
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _why(self) -> str:
        self._log.seek(0)
        tail = self._log.read()[-300:].decode("utf-8", "replace").strip().splitlines()[-1:]
        return f"the fork server (pid {self.proc.pid}) died" + (f": {tail[0]}" if tail else "")

    def kill(self) -> None:
        kill_child(self.proc.pid)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
        self.kill()  # the whole session: bwrap, the server, anything left
        self.cgroup.remove()
        self.proc.stdout.close()
        self._log.close()
        for folder in (self._work, self._data):
            if folder:
                shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="archagent.sandbox.forkserver")
    ap.add_argument("--work", required=True)
    ap.add_argument("--parent", type=int, default=0)
    ap.add_argument("--jailed", action="store_true")
    ap.add_argument("--cold", action="store_true", help="no preload/warm-up (a one-shot server)")
    ap.add_argument("--disk-mb", type=int, default=512, help="jailed: each job's tmpfs size")
    ap.add_argument("--cgroup-fds", default="", help="comma-separated cgroup.procs descriptors")
    ap.add_argument("--lifeline", type=int, default=None, help="read end of bwrap's json-status pipe")
    args = ap.parse_args(argv)
    fds = tuple(int(fd) for fd in args.cgroup_fds.split(",") if fd)
    serve(ServerConfig(Path(args.work), args.jailed, args.disk_mb, fds, args.lifeline), args.parent, not args.cold)


if __name__ == "__main__":
    main(sys.argv[1:])
