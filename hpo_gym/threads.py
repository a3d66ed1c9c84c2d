"""Run small torch work on one intra-op thread.

Why: the models that agents fit per suggestion (Optuna's GP on at most a budget's worth of points, SB3's small MLP)
are far too small to gain from torch's intra-op thread pool, and on a busy machine the pool's threads wait for cores
that other work holds. Measured on this project's 2-core machines under load, alternating in one process: one GP run
on kc1 (30 trials) took 9.5 s and 6.4 s with torch's default 2 threads, 1.6 s and 1.6 s with one; SB3 PPO's updates
up to 20x longer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Set ``torch.set_num_threads(n)`` for the block and restore the previous count after it (also on error)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
