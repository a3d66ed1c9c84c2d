"""The training-seed ensemble of ``benchmarks/grpoformer_ensemble.py``: its distribution is the members' mean."""

from __future__ import annotations


import pytest
import torch

from agents.grpoformer.policy import GRPOformerPolicy, PolicyConfig
from hpo_gym.space import Categorical, Float, Ordinal, SearchSpace
from tests.benchmark_scripts import load_script
from tests.grpoformer.conftest import history_features


SPACE = SearchSpace([Float("lr", 1e-4, 1.0, log=True), Ordinal("depth", [1, 2, 3]), Categorical("act", ["relu", "tanh"])])


def _ensemble_module():
    return load_script("grpoformer_ensemble")


def _members(n: int) -> list[GRPOformerPolicy]:
    members = []
    for seed in range(n):
        torch.manual_seed(seed)
        members.append(GRPOformerPolicy().eval())
    return members


@torch.no_grad()
def test_ensemble_distribution_is_the_mean_of_its_members_marginals():
    MarginalEnsemble = _ensemble_module().MarginalEnsemble
    f = history_features(SPACE, n_trials=4)
    members = _members(3)
    _, logp = MarginalEnsemble(members).sample(f, 5, torch.Generator().manual_seed(0))
    member_p = torch.stack([m.sample(f, 5, torch.Generator().manual_seed(0))[1].exp() for m in members])
    assert torch.allclose(logp.exp(), member_p.mean(0), atol=1e-6)
    assert not torch.allclose(member_p[0], member_p[1], atol=1e-3)  # the members differ, so the mean is a real mix
    d = len(SPACE)
    assert torch.allclose(logp.exp()[0, 0, :d].sum(-1), torch.ones(d), atol=1e-5)


@torch.no_grad()
def test_one_member_ensemble_draws_what_the_member_draws():
    MarginalEnsemble = _ensemble_module().MarginalEnsemble
    f = history_features(SPACE, n_trials=3, seed=1)
    (policy,) = _members(1)
    bins, _ = MarginalEnsemble([policy]).sample(f, 8, torch.Generator().manual_seed(7))
    expected, _ = policy.sample(f, 8, torch.Generator().manual_seed(7))
    assert torch.equal(bins, expected)
    greedy, _ = MarginalEnsemble([policy]).sample(f, 1, greedy=True)
    assert torch.equal(greedy, policy.sample(f, 1, greedy=True)[0])


def test_ensemble_rejects_autoregressive_members():
    MarginalEnsemble = _ensemble_module().MarginalEnsemble
    with pytest.raises(ValueError, match="factorized"):
        MarginalEnsemble([GRPOformerPolicy(PolicyConfig(autoregressive=True))])


def test_the_ensembles_fingerprint_is_its_member_sets_files(tmp_path):
    """Found in review: the agent hashed the shipped checkpoints, so a reused --out handed out one set of patterns'
    stored runs as another's. The fingerprint now changes with any member's fold file and only with them."""
    from agents.grpoformer.policy import save_policy

    module = _ensemble_module()
    for name, seed in (("a", 0), ("b", 1)):
        (tmp_path / name).mkdir()
        for k in range(module.FOLDS):
            torch.manual_seed(seed * 10 + k)
            save_policy(GRPOformerPolicy().eval(), tmp_path / name / f"fold{k}.pt", {"train_tasks": []})
    a, b = (str(tmp_path / name / "fold{k}.pt") for name in "ab")
    fingerprint = {key: module.ensemble_agent(patterns)().fingerprint
                   for key, patterns in (("a", [a]), ("b", [b]), ("ab", [a, b]))}
    assert len(set(fingerprint.values())) == 3
    assert module.ensemble_agent([a])().fingerprint == fingerprint["a"]  # the same files: the same runs


class _Peaked(GRPOformerPolicy):
    """A policy that puts almost all of the ordinal dimension's mass on one bin, so a draw names its member."""

    def __init__(self, favourite: int):
        super().__init__()
        self.favourite = favourite

    def _masked_logp(self, head_in, bin_mask, dim_mask):
        logp = super()._masked_logp(head_in, bin_mask, dim_mask)
        boost = torch.zeros_like(logp)
        boost[..., DEPTH, self.favourite] = 30.0
        return torch.log_softmax(logp + boost, -1)


#: The ordinal dimension of SPACE (3 bins): each :class:`_Peaked` member favours another of its bins.
DEPTH = 1


@torch.no_grad()
def test_each_pooled_candidate_comes_with_its_own_members_log_probabilities():
    """Every candidate is one member's draw and is returned with that member's log-probabilities: with members that
    each favour another bin, the bin a candidate drew is the mode of the log-probabilities returned for it."""
    module = _ensemble_module()
    f = history_features(SPACE, n_trials=4)
    torch.manual_seed(0)
    members = [_Peaked(i).eval() for i in range(3)]
    for seed in range(20):
        bins, logp = module.PooledEnsemble(members).sample(f, 8, torch.Generator().manual_seed(seed))
        assert bins.shape == (1, 8, bins.shape[-1]) and logp.shape[:2] == (1, 8)
        drawn = bins[0, :, DEPTH]
        assert torch.equal(drawn, logp[0, :, DEPTH].argmax(-1))
        assert max(int((drawn == i).sum()) for i in range(3)) <= 3  # ceil(8 / 3) candidates per member at most
    # the mode (deterministic mode, mode_first) is the averaged marginals' mode
    assert torch.equal(module.PooledEnsemble(members).sample(f, 1, greedy=True)[0],
                       module.MarginalEnsemble(members).sample(f, 1, greedy=True)[0])


@torch.no_grad()
def test_pooled_draws_follow_the_equal_weight_mixture():
    """Sampling checks: with one candidate per pool (only the shuffle decides which member supplies it) each of three
    members supplies a third of the draws; and over many pools of trained policies each bin's frequency matches the
    mean of the members' probabilities (the mixture), not any one member's."""
    from agents.grpoformer.agent import CHECKPOINT_DIR
    from agents.grpoformer.policy import load_policy

    PooledEnsemble = _ensemble_module().PooledEnsemble
    f = history_features(SPACE, n_trials=4)
    torch.manual_seed(0)
    peaked = PooledEnsemble([_Peaked(i).eval() for i in range(3)])
    gen = torch.Generator().manual_seed(1)
    single = torch.cat([peaked.sample(f, 1, gen)[0][0, :, DEPTH] for _ in range(3000)])
    assert torch.allclose(torch.bincount(single, minlength=3).double() / len(single), torch.full((3,), 1 / 3,
                                                                                                  dtype=torch.float64), atol=0.03)

    members = [load_policy(p)[0] for p in sorted((CHECKPOINT_DIR / "folds").glob("*.pt"))[:2]]  # trained: they differ
    gen = torch.Generator().manual_seed(3)
    draws = torch.cat([PooledEnsemble(members).sample(f, 8, gen)[0][0] for _ in range(1500)])  # (12000, D)
    probs = torch.stack([m.sample(f, 1)[1][0, 0].exp() for m in members])  # (M, D, K)
    freq = torch.bincount(draws[:, DEPTH], minlength=probs.shape[-1]).double() / len(draws)
    mixture = probs[:, DEPTH].mean(0).double()
    assert torch.allclose(freq, mixture, atol=0.02)
    assert (probs[:, DEPTH] - mixture).abs().max() > 0.2  # the members differ there, so the check can tell them apart


def test_pooled_agent_refuses_members_trained_on_different_tasks(tmp_path):
    from agents.grpoformer.policy import save_policy

    module = load_script("grpoformer_pooled_ensemble")
    paths = []
    for i, tasks in enumerate((["kc1", "car"], ["kc1", "segment"])):
        torch.manual_seed(i)
        paths.append(str(tmp_path / f"m{i}.pt"))
        save_policy(GRPOformerPolicy().eval(), paths[-1], {"train_tasks": tasks})
    with pytest.raises(ValueError, match="different task sets"):
        module.PooledAgent(paths)
    agent = module.PooledAgent(paths[:1] * 2)
    assert agent.trained_on == ("kc1", "car") and len(agent.policy.members) == 2
