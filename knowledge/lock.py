"""One writer per campaign: an OS file lock beside the store.

    lock = CampaignLock.acquire(Path("archagent.db"), campaign_id=1, name="digits-demo")
    ...  # the only process running this campaign
    lock.release()

Why a kernel lock (`flock`) and not a lease row with a heartbeat in the store: the kernel drops
the lock the moment its holder dies (kill -9, OOM killer, a crash), so a dead holder is taken over
at once, with no heartbeat thread, no expiry time to tune and no clocks to compare across hosts;
and a damaged or full store cannot wedge it. The file (`<store>.campaign-<id>.lock`) also records
who holds it (pid, host, start time), only to name the holder in the refusal. One file per
campaign, so different campaigns in one store run at once. Like SQLite's WAL mode itself, `flock`
wants a local file system; the lock file is left in place (deleting a lock file races).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archagent.knowledge.store import StoreError


class CampaignBusy(StoreError):
    """Another live process holds the campaign (one human-readable line naming it)."""


def lock_path(store: Path, campaign_id: int) -> Path:
    return store.with_name(f"{store.name}.campaign-{campaign_id}.lock")


@dataclass
class CampaignLock:
    path: Path
    fd: int

    @classmethod
    def acquire(cls, store: Path, campaign_id: int, name: str) -> CampaignLock:
        """Take the campaign's lock or raise `CampaignBusy` naming its live holder."""
        path = lock_path(store, campaign_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise CampaignBusy(f"campaign '{name}' is already being run by {holder(path)}; "
                               "stop that run first (a dead run's lock is taken over automatically)") from None
        _write_holder(fd)
        return cls(path, fd)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1


def _write_holder(fd: int) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


def holder(path: Path) -> str:
    """'pid 123 on host h since 2026-01-01T10:00:00+00:00', from the lock file (best effort)."""
    try:
        info = json.loads(path.read_text())
        return f"pid {info['pid']} on host {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def is_held(store: Path, campaign_id: int) -> bool:
    """Whether a live process runs this campaign now (reads only: no file is created or written)."""
    try:
        fd = os.open(lock_path(store, campaign_id), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)
