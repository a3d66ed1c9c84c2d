"""The autoregressive GRPOformer head: an exact joint distribution, estimators, PCR, checkpoints (its tiny
training run is parametrized in test_grpoformer.py, its fast path in test_fast_inference.py).

Checked by enumerating every configuration of a small mixed space (3 x 4 x 5 = 60 joint bins), so the
joint probabilities, entropy and KL are known exactly and the policy's samples and estimators can be
compared with them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from agents.grpoformer.learner import LearnerConfig, grpo_pcr_loss, policy_kl, reference_actions
from agents.grpoformer.policy import (
    GRPOformerPolicy,
    PolicyConfig,
    entropy,
    load_policy,
    log_prob,
    save_policy,
)
from tests.grpoformer.conftest import history_features
from hpo_gym.space import Categorical, Ordinal, SearchSpace



SMALL = SearchSpace([Ordinal("a", [1, 2, 3]), Categorical("b", ["p", "q", "r", "s"]), Ordinal("c", [1, 2, 3, 4, 5])])


def _small_state(n_trials: int = 4, seed: int = 0):
    return history_features(SMALL, n_trials, seed, slots=8)


def _ar_policy(seed: int = 0) -> GRPOformerPolicy:
    """An autoregressive policy whose prefix projection is not zero (so the dimensions really interact)."""
    torch.manual_seed(seed)
    policy = GRPOformerPolicy(PolicyConfig(autoregressive=True)).eval()
    with torch.no_grad():  # an untrained head is nearly uniform: sharpen it so the test has something to see
        policy.ar_ctx.weight.normal_(0.0, 3.0)
        policy.head_out[-1].weight.mul_(20.0)
    return policy


def _all_configs(f) -> torch.Tensor:
    nb = f.n_bins[0].tolist()
    return torch.tensor(list(itertools.product(*[range(n) for n in nb])))[None]  # (1, 60, 3)


def _joint(policy, f) -> np.ndarray:
    allc = _all_configs(f)
    with torch.no_grad():
        return log_prob(policy.action_logp(f, allc), allc, f)[0].exp().numpy()


def test_joint_distribution_is_normalized_and_really_joint():
    f = _small_state()
    policy = _ar_policy()
    p = _joint(policy, f).reshape(3, 4, 5)
    assert p.sum() == pytest.approx(1.0, abs=1e-5)
    product = np.einsum("i,j,k->ijk", p.sum((1, 2)), p.sum((0, 2)), p.sum((0, 1)))
    assert np.abs(p - product).max() > 0.3 * p.max()  # not the product of its marginals


def test_untrained_autoregressive_policy_equals_the_factorized_one():
    """The prefix projection starts at zero: same weights otherwise -> the same distribution."""
    f = _small_state()
    torch.manual_seed(1)
    ar = GRPOformerPolicy(PolicyConfig(autoregressive=True)).eval()
    fact = GRPOformerPolicy().eval()
    fact.load_state_dict({k: v for k, v in ar.state_dict().items() if not k.startswith("ar_")})
    assert np.allclose(_joint(ar, f), _joint(fact, f), atol=1e-6)


def test_sampling_matches_the_teacher_forced_log_probabilities():
    f = _small_state()
    policy = _ar_policy()
    with torch.no_grad():
        bins, clp = policy.sample(f, 20000, torch.Generator().manual_seed(0))
        forced = policy.action_logp(f, bins[:, :50])
    assert torch.allclose(clp[:, :50], forced, atol=1e-5)  # the sampler's conditionals = one teacher-forced pass
    p = _joint(policy, f)
    idx = np.ravel_multi_index(bins[0].numpy().T, (3, 4, 5))
    freq = np.bincount(idx, minlength=60) / idx.size
    assert np.abs(freq - p).max() < 0.012  # 20,000 draws: binomial sd <= 0.0035
    with torch.no_grad():
        mode, _ = policy.sample(f, 1, greedy=True)
    a, b, c = mode[0, 0].tolist()
    pj = p.reshape(3, 4, 5)
    assert a == pj.sum((1, 2)).argmax() and b == pj[a].sum(1).argmax() and c == pj[a, b].argmax()  # greedy decode


def test_entropy_and_kl_estimators_are_unbiased():
    f = _small_state()
    p_pol, q_pol = _ar_policy(0), _ar_policy(1)
    p, q = _joint(p_pol, f), _joint(q_pol, f)
    exact_h = -(p * np.log(p)).sum()
    exact_kl = (p * (np.log(p) - np.log(q))).sum()
    cfg = LearnerConfig(kl_paths=20000)
    actions, snap = reference_actions(p_pol, f, cfg, torch.Generator().manual_seed(0))
    with torch.no_grad():
        est_h = entropy(snap, f).mean().item()
        est_kl = policy_kl(snap, q_pol, f, actions).item()
        self_kl = policy_kl(snap, p_pol, f, actions).item()
    assert est_h == pytest.approx(exact_h, abs=0.03)
    assert est_kl == pytest.approx(exact_kl, rel=0.05)
    assert self_kl == pytest.approx(0.0, abs=1e-6)


def test_pcr_term_zero_for_identical_policies_and_positive_otherwise():
    f = _small_state()
    p1, p2 = _ar_policy(0), _ar_policy(1)
    cfg = LearnerConfig(pcr_lambda=1.0, ent_coef=0.0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        actions, clp = p1.sample(f, 4, gen)
    old = log_prob(clp, actions, f)
    adv = torch.zeros(1, 4)
    ref_actions, snap1 = reference_actions(p1, f, cfg, gen)
    _, same = grpo_pcr_loss(p1, f, actions, old, adv, cfg, ref_f=f, ref_actions=ref_actions, snap_ref_logp=snap1)
    ref_actions2, snap2 = reference_actions(p2, f, cfg, gen)
    _, other = grpo_pcr_loss(p1, f, actions, old, adv, cfg, ref_f=f, ref_actions=ref_actions2, snap_ref_logp=snap2)
    assert same["pcr"] == pytest.approx(0.0, abs=1e-6)
    assert other["pcr"] > 1e-3


def test_autoregressive_checkpoint_round_trip(tmp_path):
    f = _small_state()
    policy = _ar_policy()
    save_policy(policy, tmp_path / "ar.pt")
    loaded, _ = load_policy(tmp_path / "ar.pt")
    assert loaded.autoregressive
    allc = _all_configs(f)
    with torch.no_grad():
        assert torch.equal(policy.action_logp(f, allc), loaded.action_logp(f, allc))
