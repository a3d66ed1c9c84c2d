"""The agent's NumPy inference path (``FastPolicy``) against the torch policy it replaces at suggestion time.

Exactness claims checked here:
* log-probabilities (and probabilities) equal the torch policy's on the same observation up to float32
  round-off (``atol`` 2e-5 on log p, ``rtol`` 2e-5 on p), with the same ``-inf`` pattern, for random-init and
  shipped policies, on mixed spaces (float/log, int, ordinal, categorical), a 16-dim space, empty and
  one-trial histories, tied, all-equal and one-ulp-apart scores, and real env observations (HPOBench kc1, a user table
  with a categorical + float space);
* a seeded agent's actions with ``fast=True`` are *identical* to ``fast=False`` (the torch path) over
  whole episodes, sampling and deterministic mode: both draw with the same ``torch.multinomial`` call on
  the same generator and the same NumPy rng calls.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

import envs_registry  # noqa: F401  (registers the env ids)
from agents.grpoformer.agent import CHECKPOINT_DIR, SHIPPED_CHECKPOINT, GRPOformerAgent
from agents.grpoformer.fast_inference import FastPolicy
from agents.grpoformer.policy import GRPOformerPolicy, featurize_observations, load_policy
from hpo_gym.episode import space_descriptor
from tests.grpoformer.conftest import MIXED
from hpo_gym.space import Categorical, Float, Int, Ordinal, SearchSpace
from hpo_gym.tabular import TabularObjective

MAX_DIMS = 16

USER = SearchSpace([Float("lr", 1e-4, 1e-1, log=True), Categorical("kernel", ["linear", "rbf", "poly"])])
WIDE = SearchSpace([Float(f"f{i}", 0.0, 1.0) for i in range(8)] + [Ordinal(f"o{i}", list(range(i + 2))) for i in range(4)]
                   + [Categorical(f"c{i}", [str(j) for j in range(40)]) for i in range(2)] + [Int("i0", 1, 5), Int("i1", 1, 1000)])


def _obs(space: SearchSpace, n: int, T: int = 50, seed: int = 0, ties: bool = False, equal: bool = False,
         near_tied: bool = False) -> dict:
    """An env-style observation: ``n`` filled history slots (first), ``T`` slots in all; ``near_tied``: every score
    0.97 or the next float32 up (one ulp apart, where a float32 z-score was rounding noise)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((T, MAX_DIMS), np.float32)
    y = np.zeros(T, np.float32)
    mask = np.zeros(T, np.int8)
    x[:n, :len(space)] = rng.random((n, len(space)))
    y[:n] = rng.integers(0, 3, n) / 3 if ties else (np.full(n, 0.7) if equal else rng.normal(size=n))
    if near_tied:
        y[:n] = np.where(rng.random(n) < 0.35, np.nextafter(np.float32(0.97), np.float32(1)), np.float32(0.97))
    mask[:n] = 1
    return {"x": x, "y": y, "mask": mask, "step_fraction": np.array([n / T], np.float32), **space_descriptor(space, MAX_DIMS)}


def _torch_logp(policy: GRPOformerPolicy, obs: dict) -> np.ndarray:
    """The agent's torch path: featurize the filled slots (at least one) and run the module."""
    n = max(int(obs["mask"].sum()), 1)
    obs = {**obs, "x": obs["x"][:n], "y": obs["y"][:n], "mask": obs["mask"][:n]}
    with torch.inference_mode():
        return policy(featurize_observations(obs))[0].numpy()


def _assert_same(policy: GRPOformerPolicy, fast: FastPolicy, obs: dict) -> None:
    ref = _torch_logp(policy, obs)
    ours, sc = fast.log_probs(obs)
    assert ours.shape == ref.shape
    assert np.array_equal(np.isfinite(ours), np.isfinite(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=0, atol=2e-5)
    np.testing.assert_allclose(np.exp(ours), np.exp(ref), rtol=2e-5, atol=1e-7)
    f = featurize_observations(obs)
    assert sc.n_bins.tolist() == f.n_bins[0].tolist() and sc.continuous.tolist() == f.continuous[0].tolist()


def _policies() -> list[GRPOformerPolicy]:
    torch.manual_seed(0)
    pols = [GRPOformerPolicy().eval()]
    for path in [SHIPPED_CHECKPOINT, *sorted((CHECKPOINT_DIR / "folds").glob("*.pt"))[:1]]:
        if path.exists():
            pols.append(load_policy(path)[0])
    return pols


@pytest.mark.parametrize("space", [MIXED, USER, WIDE], ids=["mixed", "user-cat-float", "16-dims"])
def test_fast_log_probs_equal_torch_on_synthetic_histories(space):
    for policy in _policies():
        fast = FastPolicy(policy)
        for n, kw in [(0, {}), (1, {}), (5, {}), (30, {}), (50, {}), (12, {"ties": True}), (40, {"ties": True}),
                      (6, {"equal": True}), (23, {"near_tied": True}), (3, {"near_tied": True})]:
            _assert_same(policy, fast, _obs(space, n, seed=n, **kw))


def test_fast_log_probs_equal_torch_on_env_observations():
    """Real observations: HPOBench kc1 (tied accuracies are common) and a user table with a categorical + float space."""
    rng = np.random.default_rng(0)
    lrs = np.exp(np.linspace(np.log(1e-4), np.log(1e-1), 12))
    df = pd.DataFrame([{"lr": lr, "kernel": k, "acc": 0.5 + 0.3 * np.exp(-np.log10(lr / 1e-2) ** 2) + 0.05 * (k == "rbf") + 0.01 * rng.random()}
                       for lr in lrs for k in ["linear", "rbf", "poly"]])
    user = TabularObjective.from_dataframe(df, "acc", space=USER, name="user-svm")
    envs = [gym.make("HPO-OpenML-v0", task="kc1", budget=30), gym.make("HPO-OpenML-v0", objective=user, budget=30)]
    for policy in _policies():
        fast = FastPolicy(policy)
        for env in envs:  # one FastPolicy across spaces: its per-space cache must follow the descriptor
            obs, _ = env.reset(seed=1)
            for _ in range(30):
                _assert_same(policy, fast, obs)
                obs, *_ = env.step(rng.random(env.action_space.shape).astype(np.float32))


@pytest.mark.skipif(not SHIPPED_CHECKPOINT.exists(), reason="shipped checkpoint not built yet")
@pytest.mark.parametrize("kw", [{"deterministic": False}, {"deterministic": True}, {"temperature": 0.5},
                                {"mode_first": 3}, {"temperature": 0.7, "mode_first": 2}])
def test_fast_agent_actions_identical_to_torch_path(kw):
    """Same seed, same observations: the fast agent proposes exactly the torch agent's configurations
    (sampling, deterministic mode, and the inference knobs ``temperature`` / ``mode_first``)."""
    fast = GRPOformerAgent(fast=True, **kw)
    ref = GRPOformerAgent(fast=False, **kw)
    for task, seeds in [("kc1", [0, 1]), ("car", [2])]:
        env = gym.make("HPO-OpenML-v0", task=task, budget=40)
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            fast.reset(env.unwrapped.space, seed=seed, budget=40)
            ref.reset(env.unwrapped.space, seed=seed, budget=40)
            for _ in range(40):
                a = fast.act(obs)
                assert np.array_equal(a, ref.act(obs))
                assert a.dtype == np.float32 and env.action_space.contains(a)
                obs, *_ = env.step(a)
    assert ref._fast is None and fast._fast is not None  # each agent ran its own path


def test_fast_path_follows_a_replaced_policy():
    """``fit`` (or a user) swaps ``agent.policy``: the NumPy twin is rebuilt from the new weights."""
    agent = GRPOformerAgent(fast=True)
    agent.reset(MIXED, seed=0)
    obs = _obs(MIXED, 7)
    if agent.policy is not None:
        agent.act(obs)  # builds the twin of the shipped policy
    torch.manual_seed(3)
    agent.policy = GRPOformerPolicy().eval()
    agent.act(obs)
    _assert_same(agent.policy, agent.fast_policy(), obs)


def test_fast_path_follows_weights_changed_in_place_and_shares_no_memory_with_them():
    """``agent.policy.load_state_dict(...)`` (or an optimizer step) changes the weights in place: the twin aliased six
    of the live arrays and was not rebuilt, so it sampled from a mix of the old and new weights (found in review)."""
    torch.manual_seed(0)
    agent = GRPOformerAgent(fast=True)
    agent.policy = GRPOformerPolicy().eval()
    agent.reset(MIXED, seed=0)
    obs = _obs(MIXED, 7)
    agent.act(obs)  # builds the twin
    built = agent.fast_policy()
    before, _ = built.log_probs(obs)
    torch.manual_seed(1)
    agent.policy.load_state_dict(GRPOformerPolicy().state_dict())
    np.testing.assert_array_equal(built.log_probs(obs)[0], before)  # the old twin kept its own copy of every weight
    agent.act(obs)
    assert agent.fast_policy() is not built
    _assert_same(agent.policy, agent.fast_policy(), obs)


def test_fast_path_keeps_only_filled_slots_when_they_are_not_first():
    """The env fills slots in order; if a caller's are scattered, the fast path featurizes just the filled ones."""
    policy = _policies()[0]
    obs = _obs(MIXED, 9, T=20, seed=4)
    perm = np.random.default_rng(0).permutation(20)
    scattered = {**obs, "x": obs["x"][perm], "y": obs["y"][perm], "mask": obs["mask"][perm]}
    assert not scattered["mask"][:9].all()
    keep = scattered["mask"].astype(bool)
    compact = {**scattered, "x": scattered["x"][keep], "y": scattered["y"][keep], "mask": scattered["mask"][keep]}
    ours, _ = FastPolicy(policy).log_probs(scattered)
    ref = _torch_logp(policy, compact)
    fin = np.isfinite(ref)
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=0, atol=2e-5)


def _autoregressive_checkpoint(path) -> str:
    """A random-init autoregressive policy whose prefix path is active (sharpened so the draws depend on it)."""
    from agents.grpoformer.policy import PolicyConfig, save_policy

    torch.manual_seed(5)
    policy = GRPOformerPolicy(PolicyConfig(autoregressive=True)).eval()
    with torch.no_grad():
        policy.ar_ctx.weight.normal_(0.0, 3.0)
        policy.head_out[-1].weight.mul_(20.0)
    save_policy(policy, path)
    return str(path)


@pytest.mark.parametrize("kw", [{"deterministic": False}, {"deterministic": True}, {"temperature": 0.7, "mode_first": 2}])
def test_fast_autoregressive_agent_identical_to_torch_path(tmp_path, kw):
    """The autoregressive sampler (one multinomial per dimension on the same generator) in NumPy proposes
    exactly the torch path's configurations, on the suite's grid space and on a continuous + categorical one."""
    ckpt = _autoregressive_checkpoint(tmp_path / "ar.pt")
    fast, ref = GRPOformerAgent(ckpt, fast=True, **kw), GRPOformerAgent(ckpt, fast=False, **kw)
    assert fast.policy.autoregressive
    rng = np.random.default_rng(0)
    df = pd.DataFrame([{"lr": lr, "kernel": k, "acc": rng.random()} for lr in np.geomspace(1e-4, 1e-1, 12)
                       for k in ["linear", "rbf", "poly"]])
    user = TabularObjective.from_dataframe(df, "acc", space=USER, name="user-svm")
    for env in [gym.make("HPO-OpenML-v0", task="kc1", budget=25), gym.make("HPO-OpenML-v0", objective=user, budget=25)]:
        obs, _ = env.reset(seed=3)
        fast.reset(env.unwrapped.space, seed=3, budget=25)
        ref.reset(env.unwrapped.space, seed=3, budget=25)
        for _ in range(25):
            a = fast.act(obs)
            assert np.array_equal(a, ref.act(obs))
            obs, *_ = env.step(a)
    _assert_same(fast.policy, fast.fast_policy(), obs)  # the first-dimension-unconditioned head, too


def test_the_rank_feature_is_the_average_rank_and_ignores_the_padding():
    """Training featurizes padded histories (budget slots), the agent only the filled ones: tied scores (common on the
    tables) must get the same rank feature in both, on both paths, and every tied trial the same value."""
    from scipy.stats import rankdata

    from agents.grpoformer.policy import featurize

    rank_column = MAX_DIMS + 2  # trial token: x (MAX_DIMS), z, min-max, rank, best flag, mask
    for seed, n in [(0, 12), (1, 40), (2, 50), (3, 7)]:
        obs = _obs(MIXED, n, seed=seed, ties=True)
        y = obs["y"][:n]
        expected = (rankdata(y, method="average") - 1) / max(n - 1, 1)
        desc = {k: obs[k][None] for k in ("dim_kind", "dim_choices", "dim_log")}
        padded = featurize(obs["x"][None], obs["y"][None], obs["mask"][None], obs["step_fraction"], **desc)
        filled = featurize(obs["x"][None, :n], y[None], obs["mask"][None, :n], obs["step_fraction"], **desc)
        np.testing.assert_allclose(padded.trial[0, :n, rank_column].numpy(), expected, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(padded.trial[0, :n].numpy(), filled.trial[0].numpy())
        assert not padded.trial[0, n:, rank_column].any()  # padding slots carry no rank
        fast = FastPolicy(GRPOformerPolicy().eval())
        sc = fast._space_cache(obs["dim_kind"], obs["dim_choices"].astype(np.float32), obs["dim_log"].astype(np.float32))
        fast_trial = fast._history(obs, sc, n)[0]
        np.testing.assert_allclose(fast_trial[:, rank_column], expected, rtol=0, atol=1e-6)


def test_both_paths_refuse_an_observation_whose_descriptor_has_another_width_by_name():
    """x with the space's 3 columns and descriptors padded to 16 (or the other way round): the torch path failed in
    torch.cat naming neither input, while the fast path played it (found in review)."""
    policy = GRPOformerPolicy().eval()
    obs = _obs(MIXED, 5)
    d = len(MIXED)
    for bad in ({**obs, "x": np.asarray(obs["x"])[:, :d]},
                {**obs, **{k: np.asarray(obs[k])[:d] for k in ("dim_kind", "dim_choices", "dim_log")}}):
        for play in (lambda o: policy(featurize_observations(o)), lambda o: FastPolicy(policy).log_probs(o)):
            with pytest.raises(ValueError, match=r"the observation's x has \d+ columns .* but its dim_kind has \d+, "
                                                 r"dim_choices has \d+, dim_log has \d+: give them one width"):
                play(bad)
