"""GRPOformer's policy inputs, training options and training bookkeeping at their edges, each found unpinned by a second
mutation pass over ``policy.py`` and ``train.py`` (a change to the rule passed every other test): the "number of
choices" input of a wide integer hyperparameter on the torch and NumPy paths, the edges of the training options, the
seeding of the interpolated training tasks, what the held-out monitoring and the ``train_regret`` column measure, and
the budget fraction paper mode shows the policy.

Real components: the embedded kc1 / credit_g / vehicle tables, real tiny training runs, real torch policies, the
agent's own NumPy inference path as the second implementation. Where a test needs to see what the run built or fed its
policy, it wraps the real function and records its result (nothing is replaced).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from agents.grpoformer.fast_inference import FastPolicy
from agents.grpoformer.learner import LearnerConfig
from agents.grpoformer.policy import MAX_DIMS, GRPOformerPolicy, PolicyConfig, featurize_observations
from agents.grpoformer.train import TrainConfig, heldout_regret, train, train_online
from hpo_gym.episode import space_descriptor
from hpo_gym.space import Categorical, Float, Int, SearchSpace
from hpo_gym.suites import load_hpobench_nn

TINY = dict(synthetic=0, eval_every=1, eval_seeds=1, ckpt_every=1, learner=LearnerConfig(episodes=2, horizon=3))


def test_a_wide_integer_hyperparameter_gets_the_same_inputs_on_both_inference_paths():
    """Each dimension token carries its number of choices as ``log1p(choices) / log(1001)``, capped at 2 (a million
    values): an integer hyperparameter with more than 1000 values (``n_estimators`` in 1..20000, a seed, a batch size
    in 1..4096) reads above 1 there. The agent's NumPy path (``fast=True``, the default) and the torch path (training's
    rollouts, ``fast=False``) must compute that input alike, or the policy plays at suggestion time another
    distribution than the one it was trained as. (The existing parity tests' widest integer had exactly 1000 values,
    where the feature is 1 under any cap of at least 1.)"""
    space = SearchSpace([Float("lr", 1e-4, 1e-1, log=True), Int("n_estimators", 1, 20_000),
                         Categorical("kernel", ["linear", "rbf", "poly"])])
    rng = np.random.default_rng(0)
    n, slots = 6, 10
    x = np.zeros((slots, MAX_DIMS), np.float32)
    y = np.zeros(slots, np.float32)
    mask = np.zeros(slots, np.int8)
    x[:n, :3], y[:n], mask[:n] = rng.random((n, 3)), rng.random(n), 1
    obs = {"x": x, "y": y, "mask": mask, "step_fraction": np.array([n / slots], np.float32),
           **space_descriptor(space, MAX_DIMS)}
    torch.manual_seed(0)
    policy = GRPOformerPolicy(PolicyConfig()).eval()
    with torch.inference_mode():
        ref = policy(featurize_observations({**obs, "x": x[:n], "y": y[:n], "mask": mask[:n]}))[0].numpy()
    ours, _ = FastPolicy(policy).log_probs(obs)
    fin = np.isfinite(ref)
    assert np.array_equal(np.isfinite(ours), fin)
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=0, atol=2e-5)


def test_each_training_seed_draws_its_own_interpolated_tasks(kc1, tmp_path, monkeypatch):
    """``--seed`` seeds everything random in a run, the interpolated training tasks of ``--mixed`` included (which
    pairs of tables, with which weights): seeds sharing one bank would understate the seed-to-seed spread the benchmarks
    measure. The real bank is built (the wrapper only records the tasks each run trains on)."""
    import agents.grpoformer.train as training

    banks: list[list] = []
    real = training.mixed_tables
    monkeypatch.setattr(training, "mixed_tables", lambda *a, **k: banks.append(real(*a, **k)) or banks[-1])
    tables = [kc1, load_hpobench_nn("vehicle")]
    for seed in (0, 1):
        cfg = TrainConfig(updates=1, seed=seed, mixed=2, **TINY)
        train(tables, tmp_path / f"seed{seed}", cfg, progress=False)
    a, b = banks
    assert [o.data_fingerprint for o in a] != [o.data_fingerprint for o in b]


def test_held_out_monitoring_plays_with_the_runs_budget_and_group_size(kc1, credit_g, tmp_path):
    """The held-out regret in ``log.csv`` measures the policy as the run trains it and the agent plays it: episodes of
    the run's budget (``--budget``, the learner's horizon) drawing the run's group size of candidates per step. A
    monitoring that played its own fixed budget or group size would report a regret of another setting than the one
    trained and benchmarked. After the run's one update the logged value is the returned policy's."""
    cfg = TrainConfig(updates=1, **{**TINY, "eval_seeds": 2,
                                    "learner": LearnerConfig(episodes=2, horizon=3, group_size=4)})
    policy = train([kc1], tmp_path, cfg, holdout=[credit_g], progress=False)
    logged = pd.read_csv(tmp_path / "log.csv")["heldout_regret"].iloc[-1]
    expected = heldout_regret(policy, [credit_g], cfg.eval_seeds, budget=3, group_size=4)
    assert logged == pytest.approx(expected, rel=1e-12, abs=0)


def test_the_train_regret_column_is_the_mean_over_the_updates_episodes(kc1, tmp_path, monkeypatch):
    """``log.csv``'s ``train_regret`` is the mean final regret of the update's training episodes (the learning curve a
    user plots), not the best or another statistic of them. The real rollout is collected; the wrapper only keeps it."""
    import agents.grpoformer.train as training

    rollouts = []
    real = training.collect
    monkeypatch.setattr(training, "collect", lambda *a, **k: rollouts.append(real(*a, **k)) or rollouts[-1])
    cfg = TrainConfig(updates=1, **{**TINY, "learner": LearnerConfig(episodes=4, horizon=3)})
    train([kc1, load_hpobench_nn("vehicle")], tmp_path, cfg, progress=False)
    (ro,) = rollouts
    assert np.nanmin(ro.final_regret) < np.nanmax(ro.final_regret)  # else min and mean would agree
    logged = pd.read_csv(tmp_path / "log.csv")["train_regret"].iloc[0]
    assert logged == pytest.approx(float(np.nanmean(ro.final_regret)), rel=1e-9)


def test_paper_mode_shows_the_policy_how_much_of_the_budget_is_spent(kc1, monkeypatch):
    """Paper mode (``--online``) featurizes each round's state with the share of the budget already spent (the budget
    token, which lets the policy explore early and exploit late): 0 before the first group, then the evaluations so far
    over the budget. A state always at 0 would tell the policy every round is its first. The real featurization runs;
    the wrapper only records its input."""
    import agents.grpoformer.train as training

    fractions = []
    real = training.featurize_states
    monkeypatch.setattr(training, "featurize_states",
                        lambda st, *a, **k: fractions.append(float(np.asarray(st["step_fraction"]).ravel()[0]))
                        or real(st, *a, **k))
    train_online(kc1, budget=12, group_size=4, seed=0, cfg=LearnerConfig(epochs=1, minibatch=4, group_size=4),
                 progress=False)
    assert fractions[:3] == pytest.approx([0.0, 4 / 12, 8 / 12])


def test_warm_start_monitoring_of_a_held_out_task_on_another_grid_is_refused_by_name(kc1, tmp_path):
    """With ``warm_start`` the held-out tasks open with the training tables' portfolio, configurations of the training
    grid: a held-out task on another search space cannot play them. The run must refuse that up front with a message
    naming the rule (held-out tasks of the training tables' grid), not fail inside the first monitoring episode, or
    feed the portfolio's configurations to a space they do not belong to."""
    from hpo_gym.tabular import TabularObjective

    rows = [{"a": a, "b": b, "acc": float(np.sin(0.7 * i) + 0.1 * j)} for i, a in enumerate("xyz") for j, b in
            enumerate("pq")]
    other = TabularObjective.from_dataframe(pd.DataFrame(rows), metric="acc", name="other-grid")
    cfg = TrainConfig(updates=1, **{**TINY, "learner": LearnerConfig(episodes=2, horizon=3, warm_start=2)})
    with pytest.raises(ValueError, match="same search space"):
        train([kc1, load_hpobench_nn("vehicle")], tmp_path, cfg, holdout=[other], progress=False)


def test_paper_mode_does_not_update_on_a_last_group_of_one_candidate(kc1):
    """Paper mode learns from each group by comparing its candidates; the last group of a budget that is no multiple of
    the group size can hold a single candidate, which has nothing to be compared with: the policy is not updated on it.
    A Python caller who passes ``policy=`` gets it back trained in place (to keep learning, or to inspect it), so a
    budget of 9 with groups of 8 must leave it exactly as a budget of 8 does (same seed: the first group is the same)."""
    cfg = LearnerConfig(epochs=1, minibatch=8, group_size=8)
    policies = []
    for budget in (8, 9):
        torch.manual_seed(0)
        policy = GRPOformerPolicy(PolicyConfig()).eval()
        train_online(kc1, budget=budget, seed=0, cfg=cfg, policy=policy, progress=False)
        policies.append(policy)
    for name, value in policies[0].state_dict().items():
        assert torch.equal(value, policies[1].state_dict()[name]), name


def test_extra_task_groups_of_different_sizes_each_get_their_share_of_the_episodes(kc1, credit_g):
    """Combining extra training tasks (``--synthetic 2 --grid-synthetic 4``, say) gives each kind its own share of the
    episodes, split evenly within the kind whatever its size; the real tables share the rest. The weights must add up
    to 1 with each group summing to its share: splitting every group by the first group's size would give the second
    kind twice its share here (and leave the weights not summing to 1)."""
    from agents.grpoformer.synthetic import synthetic_bank
    from agents.grpoformer.train import training_pool

    two, four = synthetic_bank(2, seed=1), synthetic_bank(4, seed=2)
    pool, weights = training_pool([kc1, credit_g], [(two, 0.2), (four, 0.3)])
    assert len(pool) == 8
    assert weights.sum() == pytest.approx(1.0)
    assert weights[:2] == pytest.approx([0.25, 0.25])
    assert weights[2:4] == pytest.approx([0.1, 0.1])
    assert weights[4:] == pytest.approx([0.075] * 4)


def test_training_leaves_the_callers_torch_threads_and_random_state_as_they_were(kc1, tmp_path):
    """train() and train_online() set torch's thread count and seed for their own reproducibility; a caller in the
    same process (an agent fitted inside a benchmark, a notebook) kept one thread and a reseeded generator after them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2 if threads != 2 else 3)
    try:
        expected_threads = torch.get_num_threads()
        torch.manual_seed(1234)
        expected_draw = torch.rand(3)
        for run in (lambda: train([kc1], tmp_path / "run", TrainConfig(updates=1, threads=1, **TINY), progress=False),
                    lambda: train_online(kc1, budget=4, group_size=2, threads=1, progress=False)):
            torch.manual_seed(1234)
            run()
            assert torch.get_num_threads() == expected_threads and torch.equal(torch.rand(3), expected_draw)
    finally:
        torch.set_num_threads(threads)
