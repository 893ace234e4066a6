"""Each job's scratch: a fresh, size-capped tmpfs, discarded whole afterwards (never walked).

    enter_server_namespace()              # once, in the jailed fork server: a mount namespace of its own
    mount_scratch("/jobs", size_mb=512)   # per job, before the job dir is written
    clean = discard_scratch("/jobs")      # per job, after its files are read: unmount, check it is gone
    remove_tree(path)                     # the unjailed (process) path: iterative, by descriptor

A job can leave anything in its scratch: a folder tree nested past PATH_MAX, mode-000 folders, a
full disk. Unmounting the tmpfs drops all of it at once, whatever its shape, and the next job gets an
empty, full-sized one. The process path (no jail, no mounts) deletes by directory descriptor,
one level open at a time (no recursion, no path longer than one name); a tree it cannot remove is
reported, never raised, and the server that reports it is replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import stat

CLONE_NEWNS, CLONE_NEWUSER = 0x20000, 0x10000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 1 << 18
MNT_DETACH = 2


@functools.cache
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter_server_namespace() -> None:
    """A user + mount namespace for the fork server (same uid, mapped to itself): it may then mount
    and unmount tmpfs in its own mount namespace, and nothing else (every other namespace it is in,
    the network's included, belongs to the jail's owner, where it has no capability)."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc().unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(user, mount)")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    _check(_libc().mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")


def mount_scratch(path: str, size_mb: int) -> None:
    """A fresh tmpfs of `size_mb` at `path` (over whatever is there), owned by this uid, mode 0700."""
    opts = f"size={size_mb}m,mode=0700".encode()
    _check(_libc().mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts), f"mount tmpfs {path}")


def discard_scratch(path: str) -> bool:
    """Unmount the job's tmpfs (lazily: its pages go when the last reference does); True if `path` is
    then back to the empty folder it was before the job."""
    ok = _libc().umount2(path.encode(), MNT_DETACH) == 0
    with contextlib.suppress(OSError):
        return ok and not os.path.ismount(path) and not os.listdir(path)
    return False


def remove_tree(path: str) -> bool:
    """Delete `path` and everything under it, one directory descriptor at a time: descend by name
    (`openat`), climb by `..`, so depth costs neither recursion nor path length. Folders the job made
    unreadable are opened up first (same uid). Returns whether `path` is gone."""
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(path)
            return True
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
        _empty_dir(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW))
        os.rmdir(path)
    return not os.path.lexists(path)


def _empty_dir(fd: int) -> None:
    """Empty the folder open at `fd` (closed on return); `names` is the path down from it."""
    names: list[str] = []
    try:
        while True:
            sub = _unlink_files(fd)
            if sub is not None:
                with contextlib.suppress(OSError):
                    os.chmod(sub, 0o700, dir_fd=fd)
                child = os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = child
                names.append(sub)
            elif names:
                parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = parent
                os.rmdir(names.pop(), dir_fd=fd)
            else:
                return
    finally:
        os.close(fd)


def _unlink_files(fd: int) -> str | None:
    """Unlink every non-folder in the folder at `fd`; the name of one sub-folder left, if any."""
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return entry.name
            os.unlink(entry.name, dir_fd=fd)
    return None
