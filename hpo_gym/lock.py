"""One writer per directory: an advisory lock held while a benchmark or a training run writes its directory.

Why: two processes given the same ``--out`` (two terminals, an array job, a rerun while the first still runs) would
otherwise both pass the settings check before either wrote it and mix their results (two budgets, noise on and
off) with exit status 0, lose each other's agent fingerprints, compute every run twice, or interleave and truncate
a training log. With the lock the second process stops at once and names the first. The lock is ``flock`` on
``DIR/.hpo_gym.lock``: the operating system releases it when the holder exits, even by ``kill -9``, so a lock
is never left stale. Where ``fcntl`` is missing (Windows) there is no lock. Network file systems may not honour it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".hpo_gym.lock"


class DirectoryInUse(RuntimeError):
    """Another process holds the directory's lock."""


@contextmanager
def directory_lock(directory: str | os.PathLike, holder: str, wait: bool = False) -> Iterator[None]:
    """Hold ``directory``'s lock for the block (creating the directory), or raise :class:`DirectoryInUse` naming the
    process that holds it; with ``wait``, wait until that process is done instead (a shared cache that two processes
    may fill at once, where the second then finds the first one's result). ``holder`` says what this process is,
    for the message another process would show."""
    path = Path(directory) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                who = fh.read().strip() or "another process"
                raise DirectoryInUse(f"{directory} is being written by {who}; wait for it to finish, or use another "
                                     "directory (two writers would mix or lose each other's results)") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{holder} (pid {os.getpid()} on {socket.gethostname()})\n")
        fh.flush()
        yield  # closing the file releases the lock
