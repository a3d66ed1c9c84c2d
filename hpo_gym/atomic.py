"""Write a file so that a kill at any moment leaves either the old file or the new one, never a torn one.

Why: every cache and checkpoint here is reused by the next run (``--resume``, cached benchmark runs); a file cut
short by a kill would be read back as data, or stop every rerun until someone deletes it by hand. The bytes go to a
temporary file beside the target (``.NAME.tmp-PID-THREAD``, the benchmark store's naming, so its cleaner knows them)
and ``os.replace`` moves it into place, which is atomic on POSIX and Windows within one directory. The thread is in
the name because threads of one process write too (the thread executor's runs, a training run's checkpoint beside its
log): two writers of one path sharing one temporary could each truncate the other's half-written bytes and move them
into place.
"""

from __future__ import annotations

import glob
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


#: How a temporary's name ends, as a regular expression: ``.tmp-PID-THREAD`` (or ``.tmp-PID``, as versions before the
#: thread was added wrote), the writer's pid captured. The benchmark store's cleaner matches its temporaries with it.
TEMPORARY_SUFFIX = r"\.tmp-(\d+)(?:-\d+)?"
_WRITER = re.compile(TEMPORARY_SUFFIX + "$")


def temporary_sibling(path: Path) -> Path:
    """The temporary name :func:`atomic_path` writes ``path`` under in this process and thread."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")


def temporaries_of(path: Path) -> list[Path]:
    """The temporaries that writers of ``path`` (any process) have left beside it: :func:`temporary_sibling`'s names."""
    return sorted(path.parent.glob(f"{glob.escape('.' + path.name)}.tmp-*"))  # policy[1].pt is a name, not a pattern


def writer_pid(temporary: Path) -> int:
    """The pid a temporary's name says wrote it, or -1 when the name carries none (not :func:`atomic_path`'s)."""
    match = _WRITER.search(temporary.name)
    return int(match.group(1)) if match else -1


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; moved into place when the block ends without error,
    removed when it raises. Use: ``with atomic_path(p) as tmp: torch.save(obj, tmp)``."""
    target = Path(path)
    tmp = temporary_sibling(target)
    try:
        yield tmp
        with tmp.open("rb") as fh:  # on disk before it is named: a crash of the machine cannot leave a torn file either
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """``Path(path).write_text(text)``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """``Path(path).write_bytes(data)``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
