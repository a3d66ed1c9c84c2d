"""Shared fixtures of the transfer-baseline tests: the real embedded tables, loaded once."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_gym.suites import HPOBENCH_NN_TASKS, load_hpobench_nn
from hpo_gym.tabular import TabularObjective

TASKS = list(HPOBENCH_NN_TASKS)
HELD_OUT = TASKS[0]


@pytest.fixture(scope="session")
def tables() -> dict[str, TabularObjective]:
    return {name: load_hpobench_nn(name) for name in TASKS}


@pytest.fixture(scope="session")
def train_tables(tables) -> list[TabularObjective]:
    return [tables[n] for n in TASKS if n != HELD_OUT]


def _reversed_copy(obj: TabularObjective) -> TabularObjective:
    """A copy of a real table whose ranking is turned upside down (its best cell becomes its worst)."""
    return TabularObjective(obj.name, obj.space, 1.0 - np.asarray(obj.mean_scores), obj.metric, obj.direction,
                            metadata=obj.metadata)


@pytest.fixture(scope="session")
def reversed_copy():
    """``reversed_copy(table)``: the same task with its ranking reversed (a changed table of the same grid)."""
    return _reversed_copy
