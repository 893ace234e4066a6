"""A real multi-node Ray cluster on this machine, for tests and benchmarks.

    with RayCluster(workers=2) as cluster:      # head (0 CPUs) + 2 worker nodes (1 CPU each)
        RayExecutor(address=cluster.address, ...)
        cluster.nodes[1].kill()                 # SIGKILL one worker node's whole process group

Each node is `ray start --block` in its own process group and session, so killing a node takes its
raylet, object store and workers down together, as a machine failure would. Worker nodes carry a custom
resource `worker<i>` so callers can tell which Ray node is which. On exit every node's process group is
killed by id (Ray takes ~420 MB per node; the box is shared). Not `ray stop --force`: that kills every
Ray process on the machine, other users' clusters included; `leftovers()` checks nothing of ours survived.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = [sys.executable, "-m", "ray.scripts.scripts"]
NODE_FLAGS = ["--disable-usage-stats", "--object-store-memory", str(80 * 2**20), "--block"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `ray start --block` process group."""

    def __init__(self, args: list[str], log: Path, name: str):
        self.name, self.path, self.log = name, log, log.open("w")
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # no token: the driver here would need ~/.ray/auth_token
        self.proc = subprocess.Popen([*RAY, "start", *args, *NODE_FLAGS], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=env)

    @property
    def started(self) -> bool:
        """`ray start` printed that this node's runtime is up (and registered with the head)."""
        return "Ray runtime started" in self.path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the node's process group (raylet, object store, workers) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        self.log.close()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


class RayCluster:
    def __init__(self, workers: int = 2, cpus_per_worker: int = 1):
        self.temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 chars
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.n_workers, self.cpus = workers, cpus_per_worker
        self.nodes: list[Node] = []

    def __enter__(self) -> RayCluster:
        try:
            self.nodes.append(Node(["--head", f"--port={self.port}", "--num-cpus=0", "--include-dashboard=false",
                                    f"--temp-dir={self.temp}"], self.temp / "head.log", "head"))
            self.wait_for(1)
            for i in range(self.n_workers):  # one at a time, retried: Ray gives a raylet only 30 s to register
                for attempt in range(3):
                    args = [f"--address={self.address}", f"--num-cpus={self.cpus}", f'--resources={{"worker{i}": 1}}']
                    node = Node(args, self.temp / f"worker{i}-{attempt}.log", f"worker{i}")
                    self.nodes.append(node)
                    try:
                        self.wait_for(len(self.nodes))
                        break
                    except RuntimeError:
                        self.nodes.pop().kill()
                        if attempt == 2:
                            raise
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def workers(self) -> list[Node]:
        return self.nodes[1:]

    def wait_for(self, n: int, timeout: float = 300.0) -> None:
        """Block until the first `n` nodes report their runtime started (a node takes ~5 s idle, ~25 s on a
        loaded 2-core box)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [node for node in self.nodes[:n] if not node.alive]
            if dead:
                tail = dead[0].path.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"Ray node {dead[0].name} exited during start-up:\n{tail}")
            if all(node.started for node in self.nodes[:n]):
                return
            time.sleep(0.5)
        raise TimeoutError(f"the Ray cluster at {self.address} did not reach {n} nodes in {timeout:.0f} s")

    def close(self) -> None:
        for node in reversed(self.nodes):
            node.kill()
        shutil.rmtree(self.temp, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """Processes still running in any of this cluster's node sessions (should be none after close; zombies
        left to a PID 1 that does not reap are not running and hold no memory)."""
        sessions = {node.proc.pid for node in self.nodes}
        out = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True).stdout
        return [line.strip() for line in out.splitlines()
                if line.split() and int(line.split()[1]) in sessions and "<defunct>" not in line]
