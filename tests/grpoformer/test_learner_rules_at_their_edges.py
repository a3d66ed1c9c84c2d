"""Killer tests from a hand mutation review of the GRPOformer learner and policy: each pins a behaviour that a small
edit to ``learner.py`` / ``policy.py`` changed while every other GRPOformer test still passed.

Real components: the embedded kc1 table, real (untrained, seeded) GRPOformer policies, the learner's own functions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import agents.grpoformer.learner as learner
from agents.grpoformer.learner import (
    LearnerConfig,
    StateBuffer,
    collect,
    group_advantages,
    mean_baseline,
    update,
)
from agents.grpoformer.policy import GRPOformerPolicy, PolicyConfig
from hpo_gym.suites import load_hpobench_nn
from tests.grpoformer.conftest import seeded_policy




# -- group advantages ------------------------------------------------------------------------------------------------
def test_a_flat_group_of_large_scores_gets_exactly_zero_advantages():
    """A group whose rewards are all equal teaches nothing: exactly zero advantages. Centring in float64 is not enough
    on its own: with ``reward="score"`` and scores around 1e8 the float64 mean of three equal values is off by an ulp
    (1.5e-8), the std of those ulps is ~1e-8, and ``(r - mean) / (std + 1e-8)`` is +-0.6 for every candidate. Kills
    dropping the ``flat`` guard (``return torch.where(flat, 0, a)`` -> ``return a``) in ``group_advantages``."""
    for value, size in ((123456789.1, 3), (123456789.1, 7), (1000000.1, 7)):
        rewards = np.full((2, size), value)
        assert torch.count_nonzero(group_advantages(rewards)) == 0, (value, size)
        assert torch.count_nonzero(group_advantages(rewards, std_normalize=False)) == 0, (value, size)


def test_no_std_step_rollouts_are_only_centred(kc1):
    """``std_normalize=False`` (``--no-std``) makes a step rollout's advantages ``r - mean_g r`` per state, not the
    group-std-normalized ones: ``collect`` must pass the setting on. Kills ``group_advantages(rewards_np,
    cfg.std_normalize)`` -> ``group_advantages(rewards_np)`` in ``collect`` (the option was accepted, saved in the
    recipe, and silently ignored)."""
    cfg = LearnerConfig(episodes=2, horizon=6, group_size=4, std_normalize=False)
    ro = collect(seeded_policy(), [kc1], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    r = np.asarray(ro.rewards, dtype=np.float64)
    expected = r - r.mean(1, keepdims=True)
    np.testing.assert_allclose(ro.advantages.numpy(), expected, rtol=1e-5, atol=1e-7)
    spread = r.std(1)
    assert (spread > 0).any() and not np.allclose(spread[spread > 0], 1.0)  # normalizing would have changed them


def test_reinforce_baseline_is_the_mean_over_the_whole_batch():
    """The REINFORCE ablation's baseline is one mean over the whole batch (``mean_baseline`` docstring), not a mean
    per group: per-group centring is GRPO without the std, which would make the ablation no ablation. Kills
    ``rewards - rewards.mean()`` -> ``rewards - rewards.mean(-1, keepdims=True)``."""
    rewards = np.array([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_allclose(mean_baseline(rewards).numpy(), [[-1.5, -0.5], [0.5, 1.5]])


# -- the clipped surrogate -------------------------------------------------------------------------------------------
def _four_candidates_on_a_mixed_state():
    """One mixed-space state, an untrained seeded policy, 4 candidates sampled from it and their log-probabilities."""
    from agents.grpoformer.policy import log_prob, sample_bins
    from tests.grpoformer.conftest import MIXED, history_features

    f = history_features(MIXED, 5, seed=0)
    policy = seeded_policy()
    with torch.no_grad():
        logp = policy(f)
        actions = sample_bins(logp, 4, torch.Generator().manual_seed(0))
        return f, policy, actions, log_prob(logp, actions, f)


def test_clipped_surrogate_on_hand_ratios():
    """PPO's pessimistic clipped surrogate, per candidate ``min(rho A, clip(rho, 1 - eps, 1 + eps) A)``, on ratios set by
    hand (old log-probabilities shifted from the current ones): rho = 1.5 / 0.5 with A = +1 / -1 give 1.2, -0.8
    (both clipped), -1.5 and 0.5 (both unclipped), so policy_loss = -(1.2 - 0.8 - 1.5 + 0.5) / 4 = 0.15 and every
    ratio is outside the range (clip_frac 1). The other tests only saw ratios near 1 or a training run's trend, so a
    wider upper bound (``1 + 2 * clip_eps``), or a one-sided clip_frac, passed them."""
    f, policy, actions, new = _four_candidates_on_a_mixed_state()
    ratio = torch.tensor([[1.5, 0.5, 1.5, 0.5]])
    adv = torch.tensor([[1.0, -1.0, -1.0, 1.0]])
    cfg = LearnerConfig(clip_eps=0.2, ent_coef=0.0, pcr_lambda=0.0)
    loss, stats = learner.grpo_pcr_loss(policy, f, actions, new - ratio.log(), adv, cfg)
    assert stats["policy_loss"] == pytest.approx(0.15, abs=1e-5)
    assert loss.item() == pytest.approx(0.15, abs=1e-5)
    assert stats["clip_frac"] == 1.0
    # inside the range nothing is clipped: rho = 1.1 and 0.9 with A = +1 give the plain mean of rho A
    inside = torch.tensor([[1.1, 0.9, 1.1, 0.9]])
    _, stats = learner.grpo_pcr_loss(policy, f, actions, new - inside.log(), torch.ones(1, 4), cfg)
    assert stats["policy_loss"] == pytest.approx(-1.0, abs=1e-5) and stats["clip_frac"] == 0.0


# -- the weights of the regularizers ---------------------------------------------------------------------------------
def _two_policies_on_a_mixed_state():
    """Two untrained policies on one mixed-space state, 4 candidates sampled from the first, their log-probabilities
    under it (ratio 1) and zero advantages: the loss is then the regularizers alone."""
    f, p1, actions, old = _four_candidates_on_a_mixed_state()
    p2 = seeded_policy(1)
    with torch.no_grad():
        l2 = p2(f)
    return f, p1, p2, l2, actions, old, torch.zeros(1, 4)


def test_the_reference_kl_enters_the_loss_weighted_by_kl_beta():
    """``loss = ... + kl_beta * KL(current || reference)``: with kl_beta = 0.25 the loss exceeds the one without the
    reference by a quarter of the reported term, not by the whole of it. The other tests read only ``stats["kl_ref"]``
    (or a training run with one beta), so ``loss + kl_beta * kl_ref`` -> ``loss + kl_ref`` passed them."""
    f, p1, p2, _, actions, old, adv = _two_policies_on_a_mixed_state()
    with torch.no_grad():
        frozen = p2.action_logp(f, actions)
    base = dict(pcr_lambda=0.0, ent_coef=0.0)
    without, _ = learner.grpo_pcr_loss(p1, f, actions, old, adv, LearnerConfig(kl_beta=0.0, **base), frozen_logp=frozen)
    with_ref, stats = learner.grpo_pcr_loss(p1, f, actions, old, adv, LearnerConfig(kl_beta=0.25, **base),
                                            frozen_logp=frozen)
    assert stats["kl_ref"] > 1e-3
    assert with_ref.item() - without.item() == pytest.approx(0.25 * stats["kl_ref"], rel=1e-4)


def test_the_pcr_term_enters_the_loss_weighted_by_pcr_lambda():
    """``loss = ... + pcr_lambda * KL(snapshot || current)``: with lambda = 0.25 the loss exceeds the lambda = 0 loss
    by a quarter of the reported term. The existing test used lambda = 1 only, where ``loss + pcr_lambda * pcr`` and
    ``loss + pcr`` agree."""
    f, p1, _, l2, actions, old, adv = _two_policies_on_a_mixed_state()
    ref = dict(ref_f=f, ref_actions=actions[:, :1], snap_ref_logp=l2[:, None])
    zero, _ = learner.grpo_pcr_loss(p1, f, actions, old, adv, LearnerConfig(pcr_lambda=0.0, ent_coef=0.0), **ref)
    quarter, stats = learner.grpo_pcr_loss(p1, f, actions, old, adv, LearnerConfig(pcr_lambda=0.25, ent_coef=0.0), **ref)
    assert stats["pcr"] > 1e-3
    assert quarter.item() - zero.item() == pytest.approx(0.25 * stats["pcr"], rel=1e-4)


# -- PCR anchors to the snapshot taken at the start of the update ----------------------------------------------------
def test_pcr_anchors_to_the_update_start_snapshot_not_the_moving_policy(kc1):
    """PCR is ``KL(snapshot || current)`` with the snapshot taken once, before the first gradient step of the update: after
    the first minibatch the policy has moved, so the mean reported PCR over the update's minibatches is > 0. Drawing the
    reference distribution from the current policy instead (``reference_actions(policy, ...)``) makes the term
    KL(current || current) = 0 at every step: no regularization at all, and every other test still passed."""
    policy = seeded_policy()
    cfg = LearnerConfig(episodes=2, horizon=8, minibatch=4, update_states=0, epochs=2, pcr_lambda=1.0, pcr_states=8,
                        churn_probe_states=8, lr=3e-2)
    ro = collect(policy, [kc1], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    out = update(policy, torch.optim.Adam(policy.parameters(), lr=cfg.lr), ro, StateBuffer(4096), cfg,
                 np.random.default_rng(0))
    assert out["pcr"] > 1e-5  # 8 minibatches, the first at 0 (no step yet), the others after 1..7 steps


# -- gradient clipping -----------------------------------------------------------------------------------------------
def test_update_clips_the_gradient_norm_of_every_step(kc1):
    """Every gradient step is clipped to ``max_grad_norm``: with plain SGD at lr = 1 and advantages scaled up 1000x (a
    raw gradient norm far above 1), one update of one minibatch moves the weights by at most max_grad_norm = 1.
    Without the clip the step is the raw gradient (removing ``clip_grad_norm_`` passed every test)."""
    policy = seeded_policy()
    cfg = LearnerConfig(episodes=2, horizon=4, minibatch=1000, update_states=0, epochs=1, pcr_lambda=0.0, ent_coef=0.0,
                        max_grad_norm=1.0)
    ro = collect(policy, [kc1], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    ro.advantages = ro.advantages * 1000.0
    f = learner.featurize_states(ro.states)
    policy.zero_grad()
    learner.grpo_pcr_loss(policy, f, ro.actions, ro.old_logp, ro.advantages, cfg)[0].backward()
    raw = torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None]).norm().item()
    assert raw > 10.0  # the clip has something to do
    before = torch.cat([p.detach().flatten().clone() for p in policy.parameters()])
    update(policy, torch.optim.SGD(policy.parameters(), lr=1.0), ro, StateBuffer(64), cfg, np.random.default_rng(0))
    moved = (torch.cat([p.detach().flatten() for p in policy.parameters()]) - before).norm().item()
    assert 0.5 < moved <= 1.0 + 1e-4



# -- REINFORCE's surrogate -------------------------------------------------------------------------------------------
def test_reinforce_loss_is_the_mean_log_probability_times_advantage():
    """The REINFORCE ablation's policy loss is ``-mean(log pi(a) * A)`` over the (state, candidate) pairs (the
    ``grpo_pcr_loss`` docstring's 1/(NG) sum), with no ratio: clip_frac 0. A sum instead of the mean scales the step
    by the minibatch size."""
    f, policy, actions, new = _four_candidates_on_a_mixed_state()
    adv = torch.tensor([[1.0, -2.0, 0.5, 3.0]])
    cfg = LearnerConfig(algo="reinforce", ent_coef=0.0, pcr_lambda=0.0)
    _, stats = learner.grpo_pcr_loss(policy, f, actions, new + 0.3, adv, cfg)  # old_logp plays no part
    assert stats["policy_loss"] == pytest.approx(-(new * adv).mean().item(), rel=1e-5)
    assert stats["clip_frac"] == 0.0


# -- churn: the mean drift over the held-out probes only -------------------------------------------------------------
def test_churn_is_the_mean_drift_over_the_held_out_probes_only(kc1, monkeypatch):
    """Churn is ``mean KL(snapshot || policy)`` over the probe states that the update neither trained on nor anchored;
    the probes equal to a trained state are only left out of the count if they are also left out of the mean. A buffer
    holding an earlier rollout and a copy of this one gives both kinds of probe; the reported churn must be the mean
    over the held-out ones (by hand, from the snapshot and the updated policy), not over all probes."""
    import copy

    from agents.grpoformer.learner import featurize_states, policy_kl, reference_actions, state_keys

    policy = seeded_policy()
    cfg = LearnerConfig(episodes=2, horizon=8, minibatch=100, update_states=0, epochs=2, pcr_lambda=0.0,
                        churn_probe_states=32, lr=1e-2)
    earlier = collect(policy, [kc1], cfg, np.random.default_rng(1), torch.Generator().manual_seed(1))
    ro = collect(policy, [kc1], cfg, np.random.default_rng(2), torch.Generator().manual_seed(2))
    buf = StateBuffer(4096)
    buf.add(earlier.states)
    buf.add({k: v.copy() for k, v in ro.states.items()})
    drawn = []
    real = buf.sample_with_indices
    monkeypatch.setattr(buf, "sample_with_indices", lambda n, rng, exclude=None: drawn.append(real(n, rng, exclude))
                        or drawn[-1])
    snapshot = copy.deepcopy(policy).eval()
    out = update(policy, torch.optim.Adam(policy.parameters(), lr=cfg.lr), ro, buf, cfg, np.random.default_rng(0))
    probes, _ = drawn[0]  # the churn probes' draw comes first
    f = featurize_states(probes)
    actions, before = reference_actions(snapshot, f, cfg, None)
    with torch.no_grad():
        drift = policy_kl(before, policy, f, actions).numpy()
    held_out = np.array([k not in set(state_keys(ro.states)) for k in state_keys(probes)])
    assert 0 < held_out.sum() < len(held_out) and out["churn_states"] == held_out.sum()
    assert out["churn"] == pytest.approx(float(drift[held_out].mean()), rel=1e-4)
    assert abs(drift[held_out].mean() - drift.mean()) > 1e-3 * drift.mean()  # the two means differ here


# -- the reference KL is to the frozen initial policy ----------------------------------------------------------------
def test_update_measures_the_reference_kl_against_the_frozen_policy_it_is_given(kc1):
    """``kl_beta`` regularizes toward the frozen reference passed to ``update`` (the initial policy), not toward the
    update's own snapshot: with a reference that differs from the policy, the first gradient step already sees a
    positive KL(current || reference) equal to the hand-computed one; against the snapshot it would be 0."""
    from agents.grpoformer.learner import featurize_states
    from agents.grpoformer.policy import kl

    policy, frozen = seeded_policy(0), seeded_policy(1)
    cfg = LearnerConfig(episodes=2, horizon=4, minibatch=1000, update_states=0, epochs=1, pcr_lambda=0.0, kl_beta=0.5)
    ro = collect(policy, [kc1], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    f = featurize_states(ro.states)
    with torch.no_grad():
        expected = kl(policy(f), frozen(f), f).mean().item()
    out = update(policy, torch.optim.Adam(policy.parameters(), lr=1e-3), ro, StateBuffer(64), cfg,
                 np.random.default_rng(0), frozen=frozen)
    assert expected > 1e-3
    assert out["kl_ref"] == pytest.approx(expected, rel=1e-4)  # one minibatch: the KL before the step


# -- reference and probe states are distinct ------------------------------------------------------------------------
def test_state_buffer_draws_distinct_states():
    """``sample_with_indices`` draws up to ``n`` *distinct* buffer positions: asked for every state, it returns each
    position once (PCR would otherwise weight a state twice, and the churn count would count it twice)."""
    n = 40
    states = {"x": np.zeros((n, 3, 2), np.float32), "y": np.arange(n, dtype=np.float32)[:, None].repeat(3, 1),
              "mask": np.ones((n, 3), np.int8), "step_fraction": np.full((n, 1), 0.5, np.float32),
              "dim_kind": np.full((n, 2), 1), "dim_choices": np.zeros((n, 2)), "dim_log": np.zeros((n, 2))}
    buf = StateBuffer(1000)
    buf.add(states, keys=np.array([bytes([i]) for i in range(n)], dtype=object))
    for seed in range(5):
        _, idx = buf.sample_with_indices(n, np.random.default_rng(seed))
        assert sorted(idx.tolist()) == list(range(n))


# -- churn probes are read from the snapshot in eval mode ------------------------------------------------------------
def test_churn_reads_the_probes_before_the_update_without_dropout(kc1):
    """The churn probes' 'before' distribution comes from the update's eval-mode snapshot. ``update`` puts the policy in
    training mode first, so reading the probes from the policy itself draws a dropout mask into the 'before' side
    (with ``PolicyConfig.dropout`` > 0): at a learning rate of 1e-12 (no real change) the churn was then the dropout
    noise, ~1e-2, not ~0."""
    torch.manual_seed(0)
    policy = GRPOformerPolicy(PolicyConfig(dropout=0.3)).eval()
    cfg = LearnerConfig(episodes=2, horizon=6, minibatch=100, update_states=0, epochs=1, pcr_lambda=0.0,
                        churn_probe_states=16, lr=1e-12)
    ro = collect(policy, [kc1], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    out = update(policy, torch.optim.Adam(policy.parameters(), lr=cfg.lr), ro, StateBuffer(64), cfg,
                 np.random.default_rng(0))
    assert out["churn"] < 1e-6


# -- train.py: what the training loops hand to the learner -----------------------------------------------------------
def _spy_train_updates(monkeypatch) -> list[dict]:
    """Spy on ``train.update`` (the real one runs): each call's rewards and KL reference."""
    import agents.grpoformer.train as training

    real_update, calls = training.update, []

    def recording(policy, optimizer, ro, buffer, cfg, rng, frozen=None, **kwargs):
        calls.append({"rewards": np.array(ro.rewards), "frozen": frozen})
        return real_update(policy, optimizer, ro, buffer, cfg, rng, frozen, **kwargs)

    monkeypatch.setattr(training, "update", recording)
    return calls


def test_paper_mode_rewards_are_gains_over_the_runs_best_so_far(monkeypatch):
    """Paper mode credits each candidate of a group with ``max(s - best so far, 0)``, the best over every earlier group
    of the run (its docstring: "group-normalized gains over the best-so-far"), not with its raw score."""
    from agents.grpoformer.train import train_online

    calls = _spy_train_updates(monkeypatch)
    _, scores = train_online(load_hpobench_nn("kc1"), budget=24, seed=0, cfg=LearnerConfig(epochs=1, minibatch=8),
                             progress=False)
    assert len(calls) == 3
    for g, call in enumerate(calls):
        group = scores[8 * g:8 * (g + 1)]
        best = scores[:8 * g].max() if g else -np.inf
        expected = np.maximum(group - best, 0.0) if g else group
        np.testing.assert_allclose(call["rewards"][0], expected, atol=1e-12)
    assert (calls[1]["rewards"][0] < scores[8:16]).any()  # the gains differ from the raw scores


def test_transfer_training_regularizes_toward_the_initial_policy(tmp_path, monkeypatch):
    """``train`` with ``kl_beta`` > 0 hands every update the frozen initial policy (eval mode, its weights those of
    update 0), so the reference KL term exists at all; passing no reference silently trains as with kl_beta = 0."""
    import dataclasses

    from agents.grpoformer.train import TrainConfig, train

    calls = _spy_train_updates(monkeypatch)
    torch.manual_seed(0)
    initial = {k: v.clone() for k, v in GRPOformerPolicy(PolicyConfig()).state_dict().items()}  # train's seed-0 init
    cfg = TrainConfig(updates=2, synthetic=0, eval_every=10**6)
    cfg = dataclasses.replace(cfg, learner=dataclasses.replace(cfg.learner, episodes=2, horizon=4, kl_beta=0.1))
    train([load_hpobench_nn("kc1")], tmp_path / "run", cfg, progress=False)
    assert len(calls) == 2
    for call in calls:
        frozen = call["frozen"]
        assert frozen is not None and not frozen.training
        assert all(torch.equal(v, initial[k]) for k, v in frozen.state_dict().items())


# -- padding dimensions of a mixed-width batch -----------------------------------------------------------------------
def test_padding_dimensions_of_a_narrower_space_are_bin_zero():
    """In a batch mixing search spaces of different widths, a narrower state's padding dimensions get the one-bin
    distribution log p = 0 on bin 0 (``_masked_logp``), so they are always sampled as bin 0: the learner relies on it
    (``update`` drops the padding columns of a state subset as "bin 0", and the first-new rule's probability compares a
    candidate's padding columns with the past trials' bin-0 padding, so any other bin makes every repeat look new).
    Putting the padding mass on another bin passed every other test."""
    from agents.grpoformer.learner import first_new_log_prob, past_trial_bins, distinct_trials
    from agents.grpoformer.policy import MAX_DIMS, featurize
    from hpo_gym.episode import space_descriptor
    from hpo_gym.space import Categorical, Ordinal, SearchSpace
    from tests.grpoformer.conftest import MIXED

    narrow = SearchSpace([Ordinal("a", [1, 2, 3]), Categorical("b", ["p", "q"])])
    T = 4
    x = np.zeros((2, T, MAX_DIMS), np.float32)
    y = np.zeros((2, T), np.float32)
    mask = np.zeros((2, T), np.int8)
    rng = np.random.default_rng(0)
    x[0, :3, :4] = rng.random((3, 4))
    x[1, :3, :2] = [[0.1, 0.2], [0.5, 0.7], [0.9, 0.2]]
    y[:, :3] = rng.random((2, 3))
    mask[:, :3] = 1
    desc = [space_descriptor(s, MAX_DIMS) for s in (MIXED, narrow)]
    f = featurize(x, y, mask, np.full((2, 1), 0.3), *(np.stack([d[k] for d in desc]) for k in
                                                       ("dim_kind", "dim_choices", "dim_log")))
    policy = seeded_policy()
    with torch.no_grad():
        logp = policy(f)
        bins, _ = policy.sample(f, 64, torch.Generator().manual_seed(0))
    assert f.dim_mask[1].tolist() == [True, True, False, False]
    assert (logp[1, 2:, 0] == 0).all() and torch.isinf(logp[1, 2:, 1:]).all()
    assert (bins[1, :, 2:] == 0).all()
    # consequence: the narrow state's own past trial, proposed again, is a repeat for the first-new rule
    states = {"x": x, "mask": mask}
    hist = past_trial_bins(states, f.n_bins.numpy())
    distinct = distinct_trials(hist, mask)
    again = torch.as_tensor(hist[:, 0])  # each state's first past trial, as the policy samples it
    sampled_padding = torch.cat([again[:, :2], bins[:, 0, 2:]], 1)
    lp_again = first_new_log_prob(logp, f, sampled_padding, torch.as_tensor(hist), torch.as_tensor(distinct), 8)
    lp_repeat = first_new_log_prob(logp, f, again, torch.as_tensor(hist), torch.as_tensor(distinct), 8)
    torch.testing.assert_close(lp_again[1], lp_repeat[1])


# -- a past trial at the top of the range ----------------------------------------------------------------------------
def test_a_past_trial_at_the_upper_bound_falls_in_the_last_bin():
    """``history_bins`` maps an encoded value of exactly 1.0 (a float or int dimension at its upper bound) to the last
    bin ``n - 1``, as ``featurize``'s per-bin counts do: bin ``n`` does not exist, so the first-new rule would never see
    a repeat of that trial, and its probability (``first_new_log_prob``) would gather outside the distribution. Clipping
    to ``n`` instead of ``n - 1`` passed every other test."""
    from agents.grpoformer.policy import history_bins

    x = np.array([[1.0, 1.0, 0.0], [0.999, 0.5, 0.26]])
    np.testing.assert_array_equal(history_bins(x, np.array([32, 4, 3])), [[31, 3, 0], [31, 2, 0]])


# -- the rule's probability recorded in a rollout with repeated trials ----------------------------------------------
def test_trajectory_old_logp_counts_a_repeated_past_trial_once():
    """On a 2 x 2 grid with G = 2 draws per step, steps whose draws all repeat a past trial are frequent, and they put a
    configuration into the history twice. The rollout's recorded probability of the first-new rule (``old_logp``) must
    count each distinct past configuration once in ``p``, as the update's recomputation (``distinct_history_bins``)
    does, so the first epoch's ratio is exactly 1. Taking the valid-trial mask for the distinct mask in ``_advance``
    passed every other test (their rollouts on kc1 draw a new configuration at every step)."""
    from agents.grpoformer.learner import distinct_history_bins, featurize_states, first_new_log_prob
    from hpo_gym.space import Categorical, Ordinal, SearchSpace
    from hpo_gym.tabular import TabularObjective

    space = SearchSpace([Ordinal("a", [1, 2]), Categorical("b", ["p", "q"])])
    table = TabularObjective("two-by-two", space, np.array([0.1, 0.4, 0.3, 0.9]))
    cfg = LearnerConfig(group_mode="trajectory", group_size=2, episodes=2, horizon=8)
    policy = seeded_policy()
    ro = collect(policy, [table], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    f = featurize_states(ro.states)
    hb, distinct = distinct_history_bins(ro.states, f.n_bins.numpy())
    assert (distinct.sum(1) < ro.states["mask"].sum(1)).any()  # some state holds a repeated configuration
    with torch.no_grad():
        again = first_new_log_prob(policy(f), f, ro.actions[:, -1], torch.as_tensor(hb), torch.as_tensor(distinct),
                                   cfg.group_size)
    torch.testing.assert_close(ro.old_logp[:, 0], again)


# -- autoregressive prefix: no incumbent before the first trial ------------------------------------------------------
def test_autoregressive_prefix_flags_the_incumbents_bin_only_once_there_is_a_history():
    """The autoregressive head's value features end with "equals the incumbent's bin". Before any trial there is no
    incumbent: the flag is 0 for every bin (an empty history's best-trial value is a zero row, so without the
    ``has_hist`` guard bin 0 of every dimension read as the incumbent's on the first step of every episode). With a
    history it is 1 exactly on the best trial's bin. Checked against the feature vector built by hand:
    ``[u, sin(k pi u), cos(k pi u) for k = 1..3, is_incumbent]``."""
    import math

    from agents.grpoformer.policy import MAX_DIMS, featurize
    from hpo_gym.episode import space_descriptor
    from tests.grpoformer.conftest import MIXED

    torch.manual_seed(0)
    policy = GRPOformerPolicy(PolicyConfig(autoregressive=True)).eval()
    desc = space_descriptor(MIXED, MAX_DIMS)
    x = np.zeros((2, 3, MAX_DIMS), np.float32)
    x[1, :2, :4] = [[0.3, 0.6, 0.1, 0.9], [0.8, 0.2, 0.5, 0.1]]
    y = np.array([[0, 0, 0], [0.2, 0.7, 0]], np.float32)  # state 1: the second trial is the best
    mask = np.array([[0, 0, 0], [1, 1, 0]], np.int8)
    f = featurize(x, y, mask, np.array([[0.0], [0.2]]), *(np.stack([desc[k]] * 2) for k in
                                                            ("dim_kind", "dim_choices", "dim_log")))
    bins = torch.tensor([[[0, 0, 0, 0]], [[25, 6, 1, 0]]])  # state 1: bins of the best trial (0.8, 0.2, 0.5, 0.1)
    with torch.no_grad():
        h_dims, _ = policy.encode(f)
        got = policy._value_embedding(h_dims, bins, f)
        nb = f.n_bins[:, None, :].float()
        u = (bins.float() + 0.5) / nb
        ang = u[..., None] * torch.arange(1, 4).float() * math.pi
        for state, flag in ((0, 0.0), (1, 1.0)):
            inc = torch.full_like(u[state], flag)[..., None]
            phi = torch.cat([u[state][..., None], torch.sin(ang[state]), torch.cos(ang[state]), inc], -1)
            want = policy.ar_value(torch.cat([h_dims[state][None].expand(1, -1, -1), phi], -1))
            torch.testing.assert_close(got[state], want)
