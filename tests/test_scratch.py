"""Per-job scratch clean-up without recursion or long paths (`sandbox/scratch.py`), on a real file system.

    pytest tests/test_scratch.py -q

The jailed server unmounts each job's tmpfs (tests/test_jail.py runs that through the real jail);
the unjailed path removes a job's leftovers by descriptor. A tree deeper than Python's recursion limit
and longer than PATH_MAX, with mode-000 folders, is what used to kill the fork server (RecursionError).
"""

from __future__ import annotations

import os
import sys

from archagent.sandbox.scratch import remove_tree


def deep_tree(root: str, depth: int) -> None:
    """`depth` nested 200-character folders (far past PATH_MAX), every 50th mode 000, a file in each."""
    os.mkdir(root)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for level in range(depth):
        os.mkdir("d" * 200, dir_fd=fd)
        os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
        os.symlink("/etc/passwd", "link", dir_fd=fd)
        child = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        if level % 50 == 1:
            os.fchmod(fd, 0)
        os.close(fd)
        fd = child
    os.fchmod(fd, 0)
    os.close(fd)


def test_a_tree_past_recursion_and_path_max_is_removed_by_descriptor(tmp_path):
    root = str(tmp_path / "job")
    deep_tree(root, sys.getrecursionlimit() + 200)
    assert remove_tree(root) is True
    assert not os.path.lexists(root) and os.path.exists("/etc/passwd")


def test_files_and_symlinks_are_removed_not_followed(tmp_path):
    target = tmp_path / "outside.txt"
    target.write_text("keep me")
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "to-outside").symlink_to(target)
    (tmp_path / "job" / "to-dir").symlink_to(tmp_path)
    assert remove_tree(str(tmp_path / "job")) and target.read_text() == "keep me"
    assert remove_tree(str(tmp_path / "missing")) is True
