"""The secret behind the held-out split of a generated task: known to the parent, never to a job.

    seed = heldout_seed("mnist1d", option)   # np.random.SeedSequence entropy (a 128-bit int)
    heldout_id(seed)                         # 12 hex chars: safe to print and store, names the split

A task whose data comes from a generator (mnist1d) cannot keep its held-out labels
secret by hiding files: the generator's code is readable inside the jail (it is
the project's own code), so a split drawn from a fixed seed can be regenerated
there, labels included. Its validation/test examples are therefore drawn from a
secret the parent keeps, in this order:

1. the task option (`heldout_seed = 1234` in `[task] options`): pinned, e.g. to
   share numbers; whoever knows the config knows the split;
2. `$ARCHAGENT_HELDOUT_SECRET` (any string; the test suite sets one, so tests are deterministic);
3. the per-install key file `heldout.key` under `$ARCHAGENT_CONFIG`, else
   `$XDG_CONFIG_HOME/archagent` (default `~/.config/archagent`), created on first
   use with 32 random bytes and mode 0600. None of these is bound into the jail.

The same secret gives the same split, so the owner's results reproduce; a
campaign records `heldout_id` and refuses to resume under another one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

SECRET_ENV = "ARCHAGENT_HELDOUT_SECRET"
KEY_FILE = "heldout.key"


def config_dir() -> Path:
    if root := os.environ.get("ARCHAGENT_CONFIG"):
        return Path(root)
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "archagent"


def install_secret() -> bytes:
    """This install's key (created, 0600, on first use)."""
    path = config_dir() / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        if not path.exists():  # another process may have won the race: keep its key
            tmp.replace(path)
        else:
            tmp.unlink()
    return path.read_bytes().strip()


def heldout_seed(task: str, pinned: int | None = None) -> int:
    """A 128-bit seed for `task`'s held-out split: from the pinned option, the environment, or the install key."""
    if pinned is not None:
        secret = f"pinned:{int(pinned)}".encode()
    elif env := os.environ.get(SECRET_ENV):
        secret = env.encode()
    else:
        secret = install_secret()
    return int.from_bytes(hashlib.blake2b(secret, key=task.encode()[:64], digest_size=16).digest(), "little")


def heldout_id(seed: int) -> str:
    """A public name for the split a seed gives (a one-way hash: it reveals nothing usable about the seed)."""
    return hashlib.blake2b(seed.to_bytes(16, "little"), digest_size=6, person=b"heldout-id").hexdigest()
