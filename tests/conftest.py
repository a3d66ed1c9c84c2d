"""Shared fixtures: the real embedded tables, loaded once per session."""

from __future__ import annotations

import warnings

import pytest

from hpo_gym.suites import load_hpobench_nn


@pytest.fixture(scope="session")
def credit_g():
    """The real HPOBench NN table for credit_g (OpenML task 31)."""
    return load_hpobench_nn("credit_g")


@pytest.fixture(autouse=True)
def _gym_checker_warnings_are_errors():
    """Gymnasium's passive checker warns on contract violations; in our tests those are failures."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", module=r"gymnasium\.utils\.passive_env_checker")
        yield
