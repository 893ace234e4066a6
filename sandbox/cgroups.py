"""Per-job memory and process caps by cgroup: the caps that also bind shared memory and root.

    group = JobCgroup.create("archagent-123-0", memory_mb=2700, pids=67)   # parent side, per worker
    fds = group.procs_fds               # passed to the jailed fork server; each job's child writes "0"
    caps = group.caps                    # JobCaps: which caps were in force, recorded per candidate
    group.remove()

`RLIMIT_AS` does not count memfd or shared-memory pages and `RLIMIT_NPROC` does not bind root;
a memory cgroup charges every page a job faults in (anonymous, memfd, shm, its tmpfs files) and a
pids cgroup counts every task. Cgroup v2 (`memory.max`, `pids.max`, one hierarchy) is used where
the host has those controllers delegated to this process's group; else v1 (`memory.limit_in_bytes`
+ `memory.memsw.limit_in_bytes`, `pids.max`, one hierarchy each). The parent (often root) opens
each group's `cgroup.procs` for writing; a job's child writes "0" (itself) through that
descriptor before it enters its namespaces, and the kernel checks the opener's credentials, so the
unprivileged jail needs no access to the cgroup file system. Where no group can be made, `JobCaps`
says why (`cgroup = "none"`) and the job runs with its rlimits only.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CGROUP_ROOT = Path("/sys/fs/cgroup")
MB = 1024 * 1024


class CgroupUnavailable(RuntimeError):
    """No per-job cgroup can be made here (the message says why, in one line)."""


@dataclass(frozen=True)
class JobCaps:
    """Which per-job caps were in force; set by the parent from what it created, never claimed by the job."""

    cgroup: Literal["v1", "v2", "none"]
    memory_mb: int | None = None  # every page the job charges: anonymous, memfd, shm, tmpfs (and swap, v1 memsw)
    pids: int | None = None  # tasks (processes and threads) of the job, its namespace helpers included
    why_not: str = ""  # cgroup == "none": why no group could be made

    def as_flags(self) -> dict[str, bool]:
        """For `ChildReport.isolation` (parent-stamped)."""
        return {"cgroup_memory": self.memory_mb is not None, "cgroup_pids": self.pids is not None}

    def as_timings(self) -> dict[str, float]:
        """For the candidate's stored timings: the caps as numbers (0: not in force)."""
        version = {"v1": 1.0, "v2": 2.0, "none": 0.0}[self.cgroup]
        return {"cap_cgroup": version, "cap_memory_mb": float(self.memory_mb or 0), "cap_pids": float(self.pids or 0)}


def own_groups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under "" its v2 path (from /proc/self/cgroup)."""
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            groups[name] = path
    return groups


def hierarchy(controller: str) -> Path | None:
    """Where the v1 hierarchy of `controller` (or, for "", the v2 one) is mounted, as this process sees it."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        fstype, _, options = right.split(" ")[:3]
        mount_root, point = left.split(" ")[3:5]
        if mount_root != "/":
            continue  # a bind of a sub-group: not the hierarchy's root
        if (controller == "" and fstype == "cgroup2") or (fstype == "cgroup" and controller in options.split(",")):
            return Path(point)
    return None


def write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


@dataclass
class JobCgroup:
    """The groups one worker's jobs join, one job at a time (memory and pids: one dir in v2, two in v1)."""

    caps: JobCaps
    dirs: tuple[Path, ...] = ()
    procs_fds: tuple[int, ...] = ()

    @classmethod
    def create(cls, name: str, memory_mb: int, pids: int) -> JobCgroup:
        """Make the group(s) and set the caps; raises CgroupUnavailable with one line if it cannot."""
        made: list[Path] = []
        try:
            version = "v2" if v2_has_controllers() else "v1"
            (make_v2 if version == "v2" else make_v1)(name, made)
            set_caps(tuple(made), version, memory_mb, pids)
            fds = tuple(os.open(d / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for d in made)
        except OSError as err:
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            where = f": {err.filename}" if err.filename else ""
            raise CgroupUnavailable(f"cannot create a per-job cgroup ({err.strerror or err}{where})") from None
        return cls(JobCaps(version, memory_mb, pids), tuple(made), fds)

    @classmethod
    def unavailable(cls, why: str) -> JobCgroup:
        return cls(JobCaps("none", why_not=why))

    def _stat(self, v1: str, v2: str) -> int | None:
        if not self.dirs:
            return None
        path = self.dirs[0] / (v1 if self.caps.cgroup == "v1" else v2)
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text().split()[0])
        return None

    def peak_mb(self) -> float | None:
        """The job's peak charged memory since `reset_peak` (the parent's own measurement, not a claim)."""
        peak = self._stat("memory.max_usage_in_bytes", "memory.peak")
        return None if peak is None else peak / MB

    def reset_peak(self) -> None:
        """Before each job (v1: writing max_usage_in_bytes; v2: memory.peak is per-open-file since 6.12)."""
        if self.caps.cgroup == "v1":
            with contextlib.suppress(OSError):
                write(self.dirs[0] / "memory.max_usage_in_bytes", "0")

    def oom_kills(self) -> int:
        """How many times the kernel's OOM killer has killed in the memory group."""
        if not self.dirs:
            return 0
        name = "memory.oom_control" if self.caps.cgroup == "v1" else "memory.events"
        with contextlib.suppress(OSError):
            for line in (self.dirs[0] / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def leftover_pids(self) -> list[int]:
        """Processes still in the group (none, once a job's namespace has ended)."""
        found: set[int] = set()
        for folder in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
        return sorted(found)

    def remove(self) -> None:
        """Kill anything left, close the descriptors and remove the groups."""
        for fd in self.procs_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        for pid in self.leftover_pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for folder in self.dirs:
            with contextlib.suppress(OSError):
                folder.rmdir()


def v2_has_controllers() -> bool:
    """Whether this process's v2 group can give children the memory and pids controllers."""
    root, path = hierarchy(""), own_groups().get("")
    if root is None or path is None:
        return False
    available = (root / path.lstrip("/") / "cgroup.controllers")
    with contextlib.suppress(OSError):
        return {"memory", "pids"} <= set(available.read_text().split())
    return False


def make_v2(name: str, made: list[Path]) -> None:
    """A child of this process's v2 group with memory and pids enabled (the group must delegate them:
    a v2 group with processes cannot enable controllers for its children, so none are moved here)."""
    parent = hierarchy("") / own_groups()[""].lstrip("/")
    control = parent / "cgroup.subtree_control"
    if not {"memory", "pids"} <= set(control.read_text().split()):
        write(control, "+memory +pids")  # EBUSY where the group holds processes: reported, not forced
    (parent / name).mkdir()
    made.append(parent / name)


def make_v1(name: str, made: list[Path]) -> None:
    """One child group in the v1 memory hierarchy and one in the pids hierarchy, under this process's own."""
    groups = own_groups()
    for controller in ("memory", "pids"):
        root = hierarchy(controller)
        if root is None:
            raise OSError(2, f"no cgroup {controller} controller mounted", str(CGROUP_ROOT))
        folder = root / groups.get(controller, "/").lstrip("/") / name
        folder.mkdir()
        made.append(folder)


def set_caps(dirs: tuple[Path, ...], version: str, memory_mb: int, pids: int) -> None:
    if version == "v2":
        write(dirs[0] / "memory.max", str(memory_mb * MB))
        write(dirs[0] / "memory.swap.max", "0") if (dirs[0] / "memory.swap.max").exists() else None
        write(dirs[0] / "pids.max", str(pids))
        return
    write(dirs[0] / "memory.limit_in_bytes", str(memory_mb * MB))
    if (dirs[0] / "memory.memsw.limit_in_bytes").exists():  # swap accounting on: swap counts too
        write(dirs[0] / "memory.memsw.limit_in_bytes", str(memory_mb * MB))
    write(dirs[1] / "pids.max", str(pids))


def join(fds: tuple[int, ...]) -> None:
    """In a job's child, before its namespaces: move this process into the job's group(s), close the fds."""
    for fd in fds:
        os.write(fd, b"0")
        os.close(fd)
