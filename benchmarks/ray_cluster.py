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
        self.name, self.log = name, log.open("w")
        self.proc = subprocess.Popen([*RAY, "start", *args, *NODE_FLAGS], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

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
            for i in range(self.n_workers):
                self.nodes.append(Node([f"--address={self.address}", f"--num-cpus={self.cpus}",
                                        f'--resources={{"worker{i}": 1}}'], self.temp / f"worker{i}.log", f"worker{i}"))
            self.wait_for(1 + self.n_workers)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def workers(self) -> list[Node]:
        return self.nodes[1:]

    def wait_for(self, n: int, timeout: float = 120.0) -> None:
        """Block until `n` nodes are alive in the cluster (asked from a separate driver process)."""
        code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False); "
                "print(sum(1 for x in ray.nodes() if x['Alive']))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(not node.alive for node in self.nodes):
                raise RuntimeError(f"a Ray node exited during start-up; see {self.temp}/*.log")
            out = subprocess.run([*[sys.executable, "-c", code], self.address], capture_output=True, text=True,
                                 timeout=90)
            if out.stdout.strip().isdigit() and int(out.stdout.strip()) >= n:
                return
            time.sleep(1.0)
        raise TimeoutError(f"the Ray cluster at {self.address} did not reach {n} nodes in {timeout:.0f} s")

    def close(self) -> None:
        for node in reversed(self.nodes):
            node.kill()
        shutil.rmtree(self.temp, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """Processes still running in any of this cluster's node sessions (should be none after close)."""
        sessions = {node.proc.pid for node in self.nodes}
        out = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True).stdout
        return [line.strip() for line in out.splitlines() if line.split() and int(line.split()[1]) in sessions]
