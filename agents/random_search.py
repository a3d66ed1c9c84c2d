"""``random``: uniform random search in the unit cube, the reference every other agent must beat.

Uniform in the encoded cube means log-uniform on log-scaled hyperparameters and uniform over the
values of ordinals and categoricals (each value owns an equal-width bin), exactly as
:meth:`hpo_gym.space.SearchSpace.sample`. BtR in the benchmark report is measured against this agent.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from agents.registry import register_agent
from hpo_gym.space import SearchSpace


class RandomSearch:
    """Draws every action i.i.d. uniform in ``[0, 1]^d`` from a generator seeded at ``reset``."""

    def __init__(self, name: str = "random"):
        self.name = name
        self._rng: np.random.Generator | None = None
        self._dims = 0
        self._dtype: type[np.floating] = np.float32

    def reset(self, space: SearchSpace, seed: int | None = None, budget: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)
        self._dims = len(space)
        self._dtype = space.action_dtype

    def act(self, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        if self._rng is None:
            raise RuntimeError("RandomSearch.act called before reset(space, seed)")
        return self._rng.random(self._dims).astype(self._dtype)


def _make_random(arg: str | None) -> RandomSearch:
    if arg:
        raise ValueError(f"agent 'random' takes no argument, got {arg!r}")
    return RandomSearch()


register_agent("random", _make_random)
