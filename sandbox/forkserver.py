"""A warm fork server: pay `import torch` once per worker, not once per candidate.

    python -P -m sandbox.forkserver PARENT_PID      (started by `ForkServer`, never by hand)

The server imports torch, numpy and the trusted evaluation modules once and runs
one tiny training step, then for each request forks a child that does exactly
what a fresh `python -m sandbox.child` does after reading its nonce:
`sandbox.child.run_job`, which isolates the process (new session, parent-death
signal, network namespace, rlimits, scrubbed environment), installs the audit
guard and runs the candidate. Stdio goes to JOB_DIR/output.log (capped by the
file-size rlimit); every inherited descriptor is closed first.

Protocol (JSON lines): parent → server `{"job_dir", "nonce", "cuda_visible"}`;
server → parent `{"ready": pid}` once, then per job `{"pid": pid}` when the child
is forked and `{"pid", "code", "cpu_s"}` when it ended. The parent owns the
wall-clock timeout: it kills the child's process group by pid.

Fork safety: the server keeps one intra-op thread, so no OpenMP pool exists when
it forks (it refuses to serve if more than one thread is alive); each child sets
its own thread count. The server exits when its parent dies (PR_SET_PDEATHSIG)
or closes the request pipe; each child dies with the server the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
OUTPUT_LOG = "output.log"
PRELOAD = ("torch", "torch._dynamo", "torch.nn.functional", "torch.optim", "numpy", "pydantic", "sandbox.child",
           "sandbox.steps", "evals.training", "evals.tasks.base")


class ServerDied(RuntimeError):
    """The fork server process went away (killed, crashed, or failed to start)."""


@dataclass(frozen=True)
class ChildExit:
    code: int  # exit status as subprocess reports it (negative: killed by that signal)
    cpu_s: float  # user + system CPU seconds of the child
    timed_out: bool = False


def kill_child(pid: int) -> None:
    """Kill a job child and its process group (it may not have called setsid yet)."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


# -- the server side ---------------------------------------------------------------------
def redirect_stdio(log: Path) -> None:
    """stdin from /dev/null, stdout+stderr to the job's log; close everything else (the protocol pipes)."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for fd, target in ((0, devnull), (1, out), (2, out)):
        os.dup2(target, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))


def child_main(req: dict) -> None:
    """The forked child: the same `run_job` as `python -m sandbox.child`; never returns."""
    try:
        job_dir = Path(req["job_dir"]).resolve()
        redirect_stdio(job_dir / OUTPUT_LOG)
        sys.path[:] = [p for p in sys.path if p not in ("", ".", str(job_dir))]
        if req.get("cuda_visible") is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = req["cuda_visible"]  # kept only if isolation allows it
            import torch

            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        from sandbox.child import run_job

        run_job(job_dir, req["nonce"])
    except BaseException:  # noqa: B036 - whatever happens, the child must end in os._exit
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(1)


def warm_up() -> None:
    """One tiny training run on one thread: torch's lazy first-call costs, paid once per server."""
    import numpy as np
    import torch
    from torch import nn

    from evals.tasks.base import Recipe, TaskSpec
    from evals.training import predict, train
    from sandbox.probe import probe

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
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        sys.exit("the parent died before the fork server was ready")


def serve(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    for name in PRELOAD:
        __import__(name)
    warm_up()
    if threads_alive() != 1:
        sys.exit(f"refusing to fork: {threads_alive()} threads alive after warm-up")
    gc.collect()
    gc.freeze()  # children's collections skip the preloaded heap instead of copying it page by page
    out = os.fdopen(os.dup(1), "w", buffering=1)
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in sys.stdin.buffer:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child_main(req)
        out.write(json.dumps({"pid": pid}) + "\n")
        _, status, usage = os.wait4(pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        out.write(json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status), "cpu_s": cpu}) + "\n")


# -- the parent side ---------------------------------------------------------------------
class ForkServer:
    """Parent-side handle: start the server, run one job at a time on it, close it."""

    def __init__(self, threads: int = 1, start_timeout_s: float = 180.0):
        from sandbox.isolation import PROJECT_ROOT, child_env

        self._log = tempfile.NamedTemporaryFile(prefix="archagent-forkserver-", suffix=".log")  # noqa: SIM115 - closed in close()
        env = child_env(Path(tempfile.gettempdir()), threads)
        env["OPENBLAS_NUM_THREADS"] = "1"  # numpy's BLAS pool would be a second thread at fork time
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "sandbox.forkserver", str(os.getpid())], cwd=PROJECT_ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, start_new_session=True,
        )
        self._buf = b""
        try:
            self._read(start_timeout_s)  # {"ready": pid} once the imports and warm-up are done
        except (ServerDied, TimeoutError) as err:
            self.close()
            raise ServerDied(f"the fork server did not start: {err or 'timed out'}") from None

    def run(self, job_dir: Path, nonce: str, timeout_s: float, cuda_visible: str | None = None,
            on_start=None) -> ChildExit:
        """Run one job to its end or its timeout. Raises ServerDied if the server goes away."""
        req = {"job_dir": str(job_dir), "nonce": nonce, "cuda_visible": cuda_visible}
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise ServerDied(self._why()) from None
        pid = self._read(60.0)["pid"]
        if on_start:
            on_start(pid)
        try:
            end = self._read(timeout_s)
            return ChildExit(end["code"], end["cpu_s"])
        except TimeoutError:
            kill_child(pid)
            end = self._read(60.0)
            return ChildExit(end["code"], end["cpu_s"], timed_out=True)
        finally:
            kill_child(pid)  # grandchildren the candidate may have left in its group

    def _read(self, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise ServerDied(self._why())
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _why(self) -> str:
        self._log.seek(0)
        tail = self._log.read()[-300:].decode("utf-8", "replace").strip().splitlines()[-1:]
        return f"the fork server (pid {self.proc.pid}) died" + (f": {tail[0]}" if tail else "")

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._log.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
