"""Shared fixtures of the transfer-baseline tests: the real embedded tables, loaded once."""

from __future__ import annotations

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
    """Every task but ``credit_g`` (the held-out task of these tests)."""
    return [tables[n] for n in TASKS if n != HELD_OUT]
