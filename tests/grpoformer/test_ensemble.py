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
