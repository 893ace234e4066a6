"""A campaign on a real multi-node Ray cluster on this machine, with a worker node killed mid-campaign.

    pytest tests/test_ray_multinode.py      # slow: ~1-2 min, ~1.3 GB while it runs

The head (`--num-cpus 0`: it schedules, never trains) and two worker nodes (`--num-cpus 1` each) are
started with `ray start --block` in their own process groups (each worker node tagged with a custom
resource, so the test knows which Ray node is which). The campaign connects by address (`[executor] kind
= "ray"`). Once a candidate has trained, the process group of a worker node the driver is not attached to
is SIGKILLed (raylet, object store and workers together): its running job is
retried on the surviving node or reported LOST, and the campaign still ends with every proposal accounted
for (no pending/running rows, nothing hangs). Every Ray process is stopped in the fixture.
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
import threading
import time
from pathlib import Path

import pytest

from agent.config import parse_config
from knowledge.records import FailureKind, Status
from knowledge.store import Store
from tests.conftest import replay_config

pytest.importorskip("ray")
RAY = [sys.executable, "-m", "ray.scripts.scripts"]
NODE_FLAGS = ["--disable-usage-stats", "--object-store-memory", str(80 * 2**20), "--block"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `ray start --block` process group; kill() takes down the raylet and its workers with it."""

    def __init__(self, args: list[str], log: Path):
        self.log = log.open("w")
        self.proc = subprocess.Popen([*RAY, "start", *args, *NODE_FLAGS], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env={**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"})

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()


def wait_for_nodes(address: str, n: int, timeout: float = 90.0) -> None:
    code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(sum(1 for x in ray.nodes() if x['Alive']))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True, timeout=60)
        if out.stdout.strip().isdigit() and int(out.stdout.strip()) >= n:
            return
        time.sleep(2)
    raise TimeoutError(f"the Ray cluster at {address} did not reach {n} nodes")


@pytest.fixture
def cluster():
    """(address, head, [worker nodes]) of a 3-node cluster; every Ray process is stopped afterwards."""
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 chars
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = Node(["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false", f"--temp-dir={temp}"],
                temp / "head.log")
    nodes: list[Node] = [head]
    try:
        wait_for_nodes(address, 1)
        workers = [Node([f"--address={address}", "--num-cpus=1", f'--resources={{"worker{i}": 1}}'],
                        temp / f"worker{i}.log") for i in range(2)]
        nodes += workers
        wait_for_nodes(address, 3)
        yield address, head, workers
    finally:
        for node in reversed(nodes):
            node.kill()
        subprocess.run([*RAY, "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_campaign_survives_a_worker_node_killed_mid_run(cluster, tmp_path):
    from agent.loop import Campaign

    address, _, workers = cluster
    data = replay_config(tmp_path, name="multinode", proposals=8)
    data["task"]["options"] = {"epochs": 6}  # a few seconds a job: the kill lands while jobs run
    data["executor"] = {"kind": "ray", "address": address, "workers": 2, "max_retries": 1}
    campaign = Campaign(parse_config(data))
    killed = threading.Event()

    def victim() -> Node:
        """A worker node other than the one this driver is attached to."""
        import ray

        mine = ray.get_runtime_context().get_node_id()
        tags = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
        return next(w for i, w in enumerate(workers) if f"worker{i}" not in tags.get(mine, {}))

    def kill_after_first_result() -> None:
        store = Store.open_readonly(campaign.store.path)  # its own connection: the loop thread owns the other
        while not killed.is_set():
            counts = store.counts(campaign.id)
            if counts.get("ok", 0) >= 1 and counts.get("running", 0) >= 1:
                killed_node.append(victim())
                killed_node[0].kill()
                killed.set()
            time.sleep(0.2)
        store.close()

    killed_node: list[Node] = []
    watcher = threading.Thread(target=kill_after_first_result, daemon=True)
    watcher.start()
    t0 = time.monotonic()
    summary = campaign.run()
    was_killed = killed.is_set()
    killed.set()
    cands = campaign.store.candidates(campaign.id)
    assert time.monotonic() - t0 < 600
    assert summary.stop_reason.startswith("proposal budget")
    assert len([c for c in cands if c.backend != "seed"]) == 8
    assert not [c for c in cands if c.status in (Status.PENDING, Status.RUNNING)]  # every proposal accounted for
    lost = [c for c in cands if c.failure_kind == FailureKind.LOST]
    trained = [c for c in cands if c.status == Status.OK]
    assert len(trained) + len(lost) >= 5  # the 5 trainable proposals (+ seeds) trained, or were retried then lost
    assert was_killed and killed_node[0].proc.poll() is not None
