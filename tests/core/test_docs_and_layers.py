"""Docstring examples run, and the library layer stays free of torch and the agents."""

from __future__ import annotations

import doctest
import subprocess
import sys

import pytest

import hpo_gym.env
import hpo_gym.space


@pytest.mark.parametrize("module", [hpo_gym.env, hpo_gym.space])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_importing_and_stepping_the_env_never_imports_torch_or_agents():
    code = ("import sys, gymnasium as gym, hpo_gym; env = gym.make('HPO-OpenML-v0'); env.reset(seed=0); "
            "env.step(env.action_space.sample()); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'agents')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
