"""One writer per directory: an advisory lock held while a benchmark or a training run writes its directory.

Why: two processes given the same ``--out`` (two terminals, an array job, a rerun while the first still runs) would
otherwise both pass the settings check before either wrote it and mix their results (two budgets, noise on and
off) with exit status 0, lose each other's agent fingerprints, compute every run twice, or interleave and truncate
a training log. With the lock the second process stops at once and names the first. The lock is ``flock`` on
``DIR/.hpo_gym.lock``: the operating system releases it when the holder exits, even by ``kill -9``, so a lock
is never left stale (a child forked while it is held shares it until that child exits: the benchmark's workers exit
within about a second of a killed parent). Where ``fcntl`` is missing (Windows) there is no lock; where the file
system refuses ``flock`` (some NFS, FUSE or SMB mounts) the run goes on unlocked with a warning, as on Windows, rather
than stopping on a bare ``[Errno 37] No locks available`` (found in review).
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".hpo_gym.lock"
#: The lock file's second line: after ``kill -9`` the holder's name stays in it, and a user reading it must not take it
#: for a process still running (or delete it by hand).
STALE_NOTE = ("(this names the process holding the lock while it runs; the lock is released when it exits, even "
              "killed, so a name left here after that is stale and harmless)")


class DirectoryInUse(RuntimeError):
    """Another process holds the directory's lock."""


@contextmanager
def directory_lock(directory: str | os.PathLike, holder: str, wait: bool = False) -> Iterator[bool]:
    """Hold ``directory``'s lock for the block (creating the directory), or raise :class:`DirectoryInUse` naming the
    process that holds it; with ``wait``, wait until that process is done instead (a shared cache that two processes
    may fill at once, where the second then finds the first one's result). ``holder`` says what this process is,
    for the message another process would show. The block gets whether the lock is held: False where there is none
    (Windows, a file system that refuses ``flock``), where another writer may be mid-write, so a caller must not take
    the directory's temporaries for a killed writer's."""
    path = Path(directory) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    held = False
    with path.open("a+") as fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                who = fh.readline().strip() or "another process"
                raise DirectoryInUse(f"{directory} is being written by {who}; wait for it to finish, or use another "
                                     "directory (two writers would mix or lose each other's results)") from None
            except OSError as e:  # the file system does not lock (ENOLCK, EOPNOTSUPP, ENOSYS): go on, unprotected
                warnings.warn(f"cannot lock {directory} on this file system ({e.strerror or e}); going on without the "
                              "lock: make sure no other process writes it at the same time, or use a directory on a "
                              "local disk", RuntimeWarning, stacklevel=3)
            else:
                held = True
        fh.seek(0)
        fh.truncate()
        fh.write(f"{holder} (pid {os.getpid()} on {socket.gethostname()})\n{STALE_NOTE}\n")
        fh.flush()
        try:
            yield held
        finally:  # a clean exit leaves the file empty: a holder's name in it read as a run still going (found by a
            if held:  # new user); emptied while still held, so no next holder's name is wiped
                fh.seek(0)
                fh.truncate()
                fh.flush()
        # closing the file releases the lock
