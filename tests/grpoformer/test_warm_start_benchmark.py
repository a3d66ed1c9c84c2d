"""``benchmarks/grpoformer_warm_start.py``: the portfolio plays the first k trials, then the GRPOformer policy.

Real tables, a real (tiny) trained fold policy and the real portfolio; the episode runs through the env and the
harness's own ``run_episode``, so the k warm-start trials are counted in the budget like any other.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import envs_registry  # noqa: F401  (registers the gym ids)
from agents.grpoformer.learner import LearnerConfig
from agents.grpoformer.train import TrainConfig, train
from agents.portfolio import build_portfolio
from hpo_gym.benchmark.runner import run_episode
from hpo_gym.suites import load_hpobench_nn

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("grpoformer_warm_start", ROOT / "benchmarks" / "grpoformer_warm_start.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _train_fold0(runs: Path, warm_start: int = 0):
    """A one-update policy trained on kc1 and credit_g (the fold's training tasks), saved as fold 0's checkpoint."""
    tables = [load_hpobench_nn(t) for t in ("kc1", "credit_g")]
    learner = LearnerConfig(horizon=4, episodes=2, warm_start=warm_start)
    train(tables, runs / "fold0", TrainConfig(updates=1, synthetic=0, learner=learner), progress=False)
    return tables, str(runs / "fold{k}" / "policy.pt")


@pytest.fixture(scope="module")
def fold_policy(tmp_path_factory):
    return _train_fold0(tmp_path_factory.mktemp("warm_start"))


@pytest.mark.parametrize("k", [0, 3])
def test_first_k_trials_are_the_portfolio_then_the_policy_continues(fold_policy, k):
    tables, pattern = fold_policy
    agent = _script().warm_start_agent(pattern, k)()
    agent.fit(tables, seed=0)
    portfolio = build_portfolio(tables)
    env = gym.make("HPO-OpenML-v0", task="vehicle", budget=8)
    rows, error = run_episode(agent, env, seed=0, budget=8)
    assert error is None and len(rows) == 8
    played = [json.loads(r["config"]) for r in rows]
    expected = env.unwrapped.space.decode_many(portfolio.encodings[:8])
    assert played[:k] == expected[:k]
    assert played[k:] != expected[k:]  # the policy's own proposals, not the portfolio's next entries
    assert len({json.dumps(c, sort_keys=True) for c in played}) == 8  # the policy does not repeat a warm-start trial


def test_trained_k_plays_the_design_each_checkpoint_was_trained_with(tmp_path, fold_policy):
    """``--ks trained``: a ``--warm-start 2`` checkpoint opens with 2 portfolio trials, a plain one with none."""
    script = _script()
    tables, ws_pattern = _train_fold0(tmp_path, warm_start=2)
    for pattern, k in ((ws_pattern, 2), (fold_policy[1], 0)):
        agent = script.warm_start_agent(pattern, None)()
        agent.fit(tables, seed=0)
        assert agent.k == k == script.trained_warm_start(agent.meta)
        rows, error = run_episode(agent, gym.make("HPO-OpenML-v0", task="vehicle", budget=5), seed=0, budget=5)
        expected = agent.portfolio.portfolio.space.decode_many(build_portfolio(tables).encodings[:5])
        played = [json.loads(r["config"]) for r in rows]
        assert error is None and played[:k] == expected[:k] and played[k] != expected[k]


def test_negative_k_is_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        _script().warm_start_agent("runs/x/fold{k}/policy.pt", -1)


def test_cli_rejects_sets_without_a_fold_pattern(capsys):
    with pytest.raises(SystemExit):
        _script().main(["s0=runs/x/policy.pt"])
    assert "{k} for the fold index" in capsys.readouterr().err
