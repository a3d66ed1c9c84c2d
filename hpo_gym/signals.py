"""Signal handlers held for a block of code, and ending a process as a signal's default would.

Why one place: the command line takes SIGTERM as Ctrl-C (:func:`hpo_gym.cli.sigterm_as_ctrl_c`) and the benchmark's
pool relays it to its workers (:mod:`hpo_gym.benchmark.runner`); both install a handler for their block only, where
Python allows it (the main thread), put the previous one back after it, and, in a process that must not keep the
handler (a forked worker), end as SIGTERM would have ended it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Handler = Callable[[int, Any], Any]


@contextmanager
def handling(signum: int, handler: Handler) -> Iterator[bool]:
    """``handler`` for ``signum`` while the block runs, the previous handler back after it. Outside the main thread,
    where no handler can be installed, the block runs with the handlers as they are; it gets whether this one holds."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.signal(signum, handler)
    try:
        yield True
    finally:
        signal.signal(signum, previous)


def end_by_default(signum: int) -> None:
    """End this process as ``signum``'s default action does (its exit status says which signal), whatever handler a
    fork passed on to it."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
