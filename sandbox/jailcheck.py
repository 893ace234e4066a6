"""The jail's properties, checked on the running system from inside a real jail (`jail_problem` runs it).

    bwrap ... -- python -P -m archagent.sandbox.jailcheck     # prints one JSON list of problems ([] = sound)

Each check is an attack a job could make, tried for real: the host uid the jail maps to, a write to
/proc/sys, reads of root-only procfs files, the server's own mount namespace and per-job tmpfs, and
(in a forked child under the job's seccomp filter) `clone` with `CLONE_NEWUSER` and `clone3`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys

ROOT_ONLY_PROC = ("/proc/kpageflags", "/proc/kpagecount", "/proc/slabinfo", "/proc/vmallocinfo", "/proc/kcore",
                  "/proc/sysrq-trigger", "/proc/timer_list")
SYS_CLONE = {"x86_64": (56, 435), "aarch64": (220, 435)}.get(os.uname().machine, (-1, 435))  # clone, clone3
SIGCHLD = 17
CLONE_NEWUSER = 0x10000000


def host_uid() -> int:
    """The host uid this process's uid maps to (through every user namespace above it)."""
    uid = os.getuid()
    with open("/proc/self/uid_map") as fh:
        for line in fh:
            inside, outside, count = map(int, line.split())
            if inside <= uid < inside + count:
                return outside + uid - inside
    return -1


def proc_problems() -> list[str]:
    found = []
    if host_uid() == 0:
        found.append("the jail's uid maps to host root")
    try:
        with open("/proc/sys/kernel/hostname", "w") as fh:  # a harmless, per-UTS-namespace setting
            fh.write("sandbox")
        found.append("/proc/sys is writable in the jail")
    except OSError:
        pass
    for path in ROOT_ONLY_PROC:
        with contextlib.suppress(OSError):
            with open(path, "rb") as fh:
                fh.read(1)
            found.append(f"{path} (root-only) is readable in the jail")
    return found


def scratch_problems() -> list[str]:
    from archagent.sandbox.jail import JOBS_DIR
    from archagent.sandbox.scratch import discard_scratch, enter_server_namespace, mount_scratch

    try:
        enter_server_namespace()
        mount_scratch(JOBS_DIR, 1)
        with open(os.path.join(JOBS_DIR, "note"), "w") as fh:
            fh.write("x")
    except OSError as err:
        return [f"no per-job scratch tmpfs ({err})"]
    return [] if discard_scratch(JOBS_DIR) else ["a per-job scratch tmpfs did not unmount cleanly"]


def raw_clone(nr: int, *args: int) -> int:
    """A raw clone-family syscall; a child it makes exits at once. Returns 0 on success, else errno."""
    libc = ctypes.CDLL(None, use_errno=True)
    pid = libc.syscall(nr, *args)
    if pid == 0:
        os._exit(0)
    if pid < 0:
        return ctypes.get_errno()
    os.waitpid(pid, 0)
    return 0


def seccomp_problems() -> list[str]:
    """In a forked child locked down like a job: clone(CLONE_NEWUSER) must fail EPERM, clone3 ENOSYS."""
    from archagent.sandbox.jail import lock_down, syscall_filter

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            lock_down(syscall_filter())
            args = ctypes.create_string_buffer(88)  # struct clone_args, flags = CLONE_NEWUSER, exit_signal = SIGCHLD
            args[0:8], args[32:40] = CLONE_NEWUSER.to_bytes(8, "little"), SIGCHLD.to_bytes(8, "little")
            errs = [raw_clone(SYS_CLONE[0], CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0),
                    raw_clone(SYS_CLONE[1], ctypes.addressof(args), 88)]
            os.write(write, json.dumps(errs).encode())
        except BaseException as err:  # noqa: B036 - reported, then the child ends
            os.write(write, json.dumps([f"{type(err).__name__}: {err}"] * 2).encode())
        finally:
            os._exit(0)
    os.close(write)
    errs = json.loads(os.read(read, 100) or b"[0, 0]")
    os.waitpid(pid, 0)
    found = [] if errs[0] == 1 else [f"clone(CLONE_NEWUSER) is not refused under the job's filter (errno {errs[0]})"]
    return found + ([] if errs[1] == 38 else [f"clone3 is not refused under the job's filter (errno {errs[1]})"])


def main() -> None:
    print(json.dumps(proc_problems() + seccomp_problems() + scratch_problems()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
