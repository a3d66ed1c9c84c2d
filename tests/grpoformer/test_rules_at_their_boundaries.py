"""GRPOformer's rules at their boundaries, each found unpinned by a mutation review (a change to it passed every other
test): the state buffer's capacity, PCR's reference states kept apart from the trained minibatch (with a state subset
and on the first update), REINFORCE's single pass, trajectory minibatches scaled by G, the loss as the mean surrogate
minus the entropy bonus, trajectory advantages in step-major order, categories compared by equality, the first-new
rule against filled trials only, ties split in trial order; the agent's deterministic mode, snaps, NaN scores and
nearest unvisited configuration; training's resume refusals, recipe tag and held-out monitoring.

Real components: the embedded kc1 / credit_g tables, real (tiny, untrained) GRPOformer policies, the learner's own
collect / update / StateBuffer.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import agents.grpoformer.learner as learner
from agents.grpoformer.candidate_selection import SELECT_AFTER
from agents.grpoformer.learner import (
    LearnerConfig,
    StateBuffer,
    _advance,
    collect,
    continue_by_ratio,
    first_new,
    grpo_pcr_loss,
    state_keys,
    take_states,
    trajectory_advantages,
    update,
)
from agents.grpoformer.policy import MAX_DIMS, Features, GRPOformerPolicy, PolicyConfig, entropy, log_prob
from agents.grpoformer.agent import GRPOformerAgent
from hpo_gym.episode import History, space_descriptor
from hpo_gym.space import Categorical, Float, Ordinal, SearchSpace
from hpo_gym.suites import load_hpobench_nn
from tests.grpoformer.conftest import seeded_policy
from hpo_gym.tabular import TabularObjective




class _Spy:
    """Records the minibatch positions (``Features.index``), the states ``take_states`` draws and the buffer draws of
    one ``update`` call, in call order."""

    def __init__(self, monkeypatch, buffer: StateBuffer | None = None):
        self.events: list[tuple] = []
        real_index, real_take = Features.index, learner.take_states

        def index(f, idx):
            self.events.append(("minibatch", np.asarray(idx)))
            return real_index(f, idx)

        def take(states, idx):
            self.events.append(("take", states, np.asarray(idx)))
            return real_take(states, idx)

        monkeypatch.setattr(Features, "index", index)
        monkeypatch.setattr(learner, "take_states", take)
        if buffer is not None:
            real_sample = buffer.sample_with_indices

            def sample(n, rng, exclude=None):
                out = real_sample(n, rng, exclude)
                self.events.append(("buffer", exclude, None if out is None else out[1]))
                return out

            monkeypatch.setattr(buffer, "sample_with_indices", sample)


# -- StateBuffer capacity off by one ------------------------------------------------------------------------------
def test_state_buffer_keeps_exactly_capacity_states(kc1):
    """A buffer of capacity 2 rollouts' states keeps both of them; only a third evicts the oldest.
    Kills ``> self.capacity`` -> ``>= self.capacity`` (learner.py:756), which drops a rollout at exactly capacity."""
    cfg = LearnerConfig(episodes=2, horizon=3)
    parts = [collect(seeded_policy(), [kc1], cfg, np.random.default_rng(s), torch.Generator().manual_seed(s)).states
             for s in range(3)]
    n = len(parts[0]["y"])
    buf = StateBuffer(2 * n)
    buf.add(parts[0])
    buf.add(parts[1])
    assert len(buf) == 2 * n and len(buf.keys()) == 2 * n
    buf.add(parts[2])
    assert len(buf) == 2 * n and buf.parts[0] is parts[1]


# -- PCR exclusion keyed by the wrong positions when the update trains on a subset ---------------------------------
def test_pcr_reference_exclusion_is_the_trained_minibatchs_content_with_a_state_subset(kc1, monkeypatch):
    """With ``update_states`` < the rollout's states, the update trains on a random subset; the PCR reference draw
    must exclude the digests of the minibatch's states (positions in the subset), not of the rollout's states at the
    same positions. Kills ``set(trained_keys[mb])`` -> ``set(buffer_keys[mb])`` (learner.py:862)."""
    policy = seeded_policy()
    cfg = LearnerConfig(episodes=4, horizon=10, update_states=12, minibatch=6, epochs=1, pcr_states=8,
                        churn_probe_states=8)
    buf = StateBuffer(4096)
    buf.add(collect(policy, [kc1], cfg, np.random.default_rng(5), torch.Generator().manual_seed(5)).states)
    ro = collect(policy, [kc1], cfg, np.random.default_rng(6), torch.Generator().manual_seed(6))
    spy = _Spy(monkeypatch, buf)
    update(policy, torch.optim.Adam(policy.parameters(), lr=1e-3), ro, buf, cfg, np.random.default_rng(7))
    subset = next(e[2] for e in spy.events if e[0] == "take" and e[1] is ro.states)
    assert len(subset) == cfg.update_states
    trained_keys = state_keys({k: v[subset] for k, v in ro.states.items()})
    checked, mb = 0, None
    for event in spy.events:
        if event[0] == "minibatch":
            mb = event[1]
        elif event[0] == "buffer" and event[1] is not None:  # a PCR draw (the churn probes' draw excludes nothing)
            assert event[1] == set(trained_keys[mb])
            checked += 1
    assert checked == 2  # two minibatches of 6 states


# -- REINFORCE runs one epoch --------------------------------------------------------------------------------------
def test_reinforce_makes_one_pass_over_the_rollout_whatever_epochs_says(kc1, monkeypatch):
    """The REINFORCE ablation is on-policy: one pass (``LearnerConfig.algo`` docs: "one epoch"), even with epochs=3.
    Kills ``epochs = 1 if cfg.algo == "reinforce" else cfg.epochs`` -> ``epochs = cfg.epochs`` (learner.py:845)."""
    policy = seeded_policy()
    calls = []
    real = learner.grpo_pcr_loss
    monkeypatch.setattr(learner, "grpo_pcr_loss", lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    for algo, passes in (("reinforce", 1), ("grpo", 3)):
        cfg = LearnerConfig(algo=algo, episodes=2, horizon=5, minibatch=5, epochs=3, pcr_lambda=0.0)
        ro = collect(policy, [kc1], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
        calls.clear()
        update(policy, torch.optim.Adam(policy.parameters(), lr=1e-3), ro, StateBuffer(64), cfg, np.random.default_rng(0))
        assert calls == [5, 5] * passes, algo


# -- trajectory rollouts take G times the states per minibatch -------------------------------------------------------
def test_a_trajectory_update_scales_its_states_by_the_group_size(kc1, monkeypatch):
    """A trajectory rollout has one action per state, so ``update_states`` and ``minibatch`` count G states each (the
    same (state, action) pairs per gradient step as step groups). Kills ``scale = cfg.group_size if ... else 1`` ->
    ``scale = 1`` (learner.py:808)."""
    policy = seeded_policy()
    cfg = LearnerConfig(group_mode="trajectory", group_size=4, episodes=2, horizon=5, update_states=5, minibatch=5,
                        epochs=1, pcr_lambda=0.0)
    ro = collect(policy, [kc1], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert len(ro.states["y"]) == 40 and ro.actions.shape[1] == 1
    sizes = []
    real = learner.grpo_pcr_loss
    monkeypatch.setattr(learner, "grpo_pcr_loss", lambda *a, **k: sizes.append(len(a[2])) or real(*a, **k))
    update(policy, torch.optim.Adam(policy.parameters(), lr=1e-3), ro, StateBuffer(64), cfg, np.random.default_rng(0))
    assert sizes == [20]  # update_states * G = 20 of the 40 states, in one minibatch of minibatch * G = 20


# -- the first update's reference states are filtered by content too ------------------------------------------------
def test_first_update_reference_states_share_no_content_with_the_minibatch(kc1, monkeypatch):
    """With an empty buffer the PCR reference states come from the rollout outside the minibatch, and never one equal in
    content to a minibatch state (every episode's first state is the same empty history). Kills dropping
    ``rest = rest[not_in(trained_keys[rest], in_minibatch)]`` (learner.py:870)."""
    policy = seeded_policy()
    cfg = LearnerConfig(episodes=4, horizon=3, update_states=0, minibatch=6, epochs=2, pcr_states=64,
                        churn_probe_states=4)
    ro = collect(policy, [kc1], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    keys = state_keys(ro.states)
    assert len(set(keys[:4])) == 1  # the 4 episodes' empty-history states are one state
    spy = _Spy(monkeypatch)
    update(policy, torch.optim.Adam(policy.parameters(), lr=1e-3), ro, StateBuffer(64), cfg, np.random.default_rng(0))
    pairs = [(a[1], b[2]) for a, b in zip(spy.events, spy.events[1:])
             if a[0] == "minibatch" and b[0] == "take" and b[1] is ro.states]
    assert len(pairs) == 4  # 2 epochs x 2 minibatches, each with its reference draw
    for mb, ref in pairs:
        assert not set(keys[mb]) & set(keys[ref])


# -- the loss is the *mean* clipped surrogate minus the entropy *bonus* -----------------------------------------
def test_loss_is_the_mean_surrogate_minus_the_entropy_bonus_and_the_bonus_raises_entropy(kc1):
    """At the behaviour policy (ratio 1) the surrogate is the mean advantage: policy_loss = -mean(A), and the loss is
    policy_loss - ent_coef * H; with zero advantages a gradient step on the loss raises the entropy.
    Kills ``-surr.mean()`` -> ``-surr.sum()`` (learner.py:702) and ``policy_loss - ent_coef * ent`` -> ``+``
    (learner.py:704)."""
    policy = seeded_policy()
    cfg = LearnerConfig(episodes=2, horizon=4, pcr_lambda=0.0, ent_coef=0.5)
    ro = collect(policy, [kc1], cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    f = learner.featurize_states(ro.states)
    adv = torch.rand(ro.advantages.shape, generator=torch.Generator().manual_seed(0))  # mean > 0 (a group's is 0)
    loss, stats = grpo_pcr_loss(policy, f, ro.actions, ro.old_logp, adv, cfg)
    with torch.no_grad():
        ent = entropy(policy(f), f).mean().item()
    assert stats["policy_loss"] == pytest.approx(-adv.mean().item(), abs=1e-5)
    assert loss.item() == pytest.approx(stats["policy_loss"] - cfg.ent_coef * ent, abs=1e-5)
    opt = torch.optim.SGD(policy.parameters(), lr=0.05)
    zero = torch.zeros_like(ro.advantages)
    for _ in range(3):
        opt.zero_grad()
        grpo_pcr_loss(policy, f, ro.actions, ro.old_logp, zero, cfg)[0].backward()
        opt.step()
    with torch.no_grad():
        assert entropy(policy(f), f).mean().item() > ent


# -- trajectory advantages in the rollout's step-major row order ----------------------------------------------------
def test_trajectory_advantages_follow_the_step_major_rows(kc1):
    """Row t * episodes + i is episode i's step t: every row of an episode carries that episode's advantage (its return
    against the other episodes on its task). Kills ``adv_ep[None, :].expand(T, -1)`` -> ``adv_ep[:, None].expand(-1, T)``
    (learner.py:628), which credits each state with another episode's advantage."""
    G, tasks, T = 4, 2, 5
    cfg = LearnerConfig(group_mode="trajectory", group_size=G, episodes=tasks, horizon=T)
    ro = collect(seeded_policy(), [kc1, load_hpobench_nn("credit_g")], cfg, np.random.default_rng(0),
                 torch.Generator().manual_seed(0))
    E = G * tasks
    returns = ro.rewards[:, 0].reshape(T, E)
    np.testing.assert_array_equal(returns, np.broadcast_to(returns[0], returns.shape))
    # the states of one column are one episode's prefixes: the step-t state holds the step-(t-1) state's trials
    x = ro.states["x"].reshape(T, E, *ro.states["x"].shape[1:])
    for t in range(1, T):
        np.testing.assert_array_equal(x[t, :, :t - 1], x[t - 1, :, :t - 1])
    adv = ro.advantages[:, 0].numpy().reshape(T, E)
    np.testing.assert_allclose(adv, np.broadcast_to(trajectory_advantages(returns[0], G).numpy(), adv.shape), atol=1e-6)


# -- the ratio continuation compares categories by equality ----------------------------------------------------------
def test_ratio_continuation_treats_categories_as_unordered():
    """Category codes a=1/6, b=1/2, c=5/6 have no order: the best trial is (a, 0) and the bad ones crowd category b, so a
    candidate of category c (as far from a as b is, but far from the bad trials) ranks above one of category b.
    Compared as numbers, b (closer to a's code) would win. Kills ``categorical = ... == KIND_CODES["categorical"]`` ->
    all False (learner.py:463)."""
    space = SearchSpace([Categorical("c", ["a", "b", "c"]), Ordinal("k", [0, 1, 2, 3, 4])])
    obj = TabularObjective("three-by-five", space, np.linspace(0.0, 1.0, 15))
    cell = {(c, k): i for i, (c, k) in enumerate((c, k) for c in "abc" for k in range(5))}
    hist = History(1, 20, MAX_DIMS)
    hist.reset(0, obj.space)
    bad = [("b", 1), ("b", 2), ("b", 3), ("b", 4), ("c", 3), ("c", 4), ("a", 2), ("a", 3), ("a", 4)]
    for (c, k), score in [(("a", 0), 1.0)] + [(ck, 0.1) for ck in bad]:
        hist.record(0, obj.cell_encoding(cell[c, k]), score)
    assert hist.step[0] == SELECT_AFTER
    assert continue_by_ratio(hist, 0, obj, np.array([cell["b", 0], cell["c", 0]]), first_new_pick=0) == 1
    assert continue_by_ratio(hist, 0, obj, np.array([cell["c", 0], cell["b", 0]]), first_new_pick=0) == 0


# -- the first-new rule of the rollouts compares with the filled trials only ----------------------------------------
class _LowBinPolicy(GRPOformerPolicy):
    """A real untrained policy whose every dimension puts most of its mass on bin 0 (a bias of -3 on the other bins)."""

    def _masked_logp(self, head_in, bin_mask, dim_mask):
        logp = super()._masked_logp(head_in, bin_mask, dim_mask)
        bias = torch.full((logp.shape[-1],), -3.0)
        bias[0] = 0.0
        return torch.log_softmax(logp + bias, -1)


def test_rollouts_do_not_take_the_empty_history_slots_for_past_trials(kc1):
    """The rollout's first-new rule compares each candidate with the episode's past trials; the history's empty slots
    (zero codes, bin 0 everywhere) are not trials. With one past trial away from bin 0 and a policy that mostly draws
    bin 0, the continued candidate must be exactly ``first_new`` against the real past trial.
    Kills ``past[i, :int(hist.step[i]), :d]`` -> ``past[i, :, :d]`` (learner.py:424)."""
    torch.manual_seed(0)
    policy = _LowBinPolicy(PolicyConfig()).eval()
    objs = [kc1] * 8
    hist = History(len(objs), 10, MAX_DIMS)
    first = kc1.cells_of(np.full((1, len(kc1.space)), 0.95))
    for i, obj in enumerate(objs):
        hist.reset(i, obj.space)
        hist.record(i, obj.cell_encoding(first)[0], float(obj.lookup(first)[0][0]))
    d = len(kc1.space)
    past = np.minimum((hist.x[0, :1, :d] * np.array([10, 10, 3, 10, 10])).astype(int), [9, 9, 2, 9, 9])
    with torch.no_grad():
        step = _advance(policy, hist, objs, 8, np.random.default_rng(0), torch.Generator().manual_seed(0), "cpu")
    zero_first = 0
    for i in range(len(objs)):
        cand = step["actions"][i, :, :d].numpy()
        assert int(step["chosen"][i]) == first_new(cand, past)
        zero_first += int((cand[0] == 0).all())
    assert zero_first > 0  # the case the rule must get right occurred


# -- ties in the scores split in trial order ------------------------------------------------------------------------
def test_tied_scores_at_the_split_go_to_the_good_group_in_trial_order():
    """25 past trials, one best and 24 tied: the good group is the best ``ceil(0.1 * 25) = 3``, i.e. the best trial and
    the first two tied ones in trial order (trials 0 and 1, not 2), as ``density_ratio``'s docstring says. A candidate on
    trial 1 must therefore outrank one on trial 2. Kills dropping ``kind="stable"`` from the argsort
    (candidate_selection.py:61): NumPy's default (SIMD quicksort) argsort orders ties 0, 2, 1, ... here (NumPy 2.4)."""
    from agents.grpoformer.candidate_selection import choose_candidate, density_ratio

    n = 25
    x = ((np.arange(n) + 0.5) / n)[:, None]
    y = np.full(n, 0.5)
    y[7] = 1.0
    cands = x[[2, 1]]
    ratio = density_ratio(cands, x, y, np.zeros(1, bool), 0.1, 0.005)
    assert ratio[1] > ratio[0] + 10
    assert choose_candidate(np.array([True, True]), cands, x, y, np.zeros(1, bool), 0.1, 0.005) == 1


# -- agent.py -------------------------------------------------------------------------------------------------------------


def _observation(space, xs, ys, budget=50):
    x = np.zeros((budget, 16), np.float32)
    y = np.zeros(budget, np.float32)
    mask = np.zeros(budget, np.int8)
    n = len(ys)
    if n:
        x[:n, :len(space)] = np.asarray(xs, np.float32)
        y[:n] = ys
        mask[:n] = 1
    return {"x": x, "y": y, "mask": mask, "step_fraction": np.array([n / budget], np.float32),
            **space_descriptor(space, 16)}


def _play_table(agent, obj, steps, seed=0):
    agent.reset(obj.space, seed=seed)
    xs, ys, proposals = [], [], []
    for _ in range(steps):
        u = np.asarray(agent.act(_observation(obj.space, xs, ys)), dtype=np.float64)
        cell = obj.cells_of(np.clip(u, 0, 1)[None])
        xs.append(obj.cell_encoding(cell)[0])
        ys.append(float(obj.lookup(cell)[0][0]))
        proposals.append(u)
    return np.array(proposals)


def test_deterministic_mode_keeps_the_mode_under_the_density_ratio_rule(kc1):
    """``select`` docs: "Deterministic and mode_first proposals keep the mode": past select_after trials the default
    (density-ratio) agent in deterministic mode proposes exactly what the first-new agent does. Kills dropping
    ``use_mode or`` from the gate in ``_choose`` (agent.py:651)."""
    ratio = _play_table(GRPOformerAgent(deterministic=True), kc1, SELECT_AFTER + 8)
    first_new_agent = _play_table(GRPOformerAgent(deterministic=True, select="first-new"), kc1, SELECT_AFTER + 8)
    np.testing.assert_array_equal(ratio, first_new_agent)


def test_asking_twice_on_one_observation_learns_no_snap_on_a_grid_table(kc1):
    """``_learn_where_proposals_land`` compares the last proposal with the trial the env recorded for it only when the
    history grew by exactly that one trial. Asked twice on the same observation (a caller's retry), the agent must not
    take the history's last (older) trial for where its proposal landed: on kc1, whose bins are its grid values,
    nothing is ever learned. Kills dropping ``len(history_bins) != last[0] + 1`` (agent.py:549)."""
    rng = np.random.default_rng(0)
    cells = rng.choice(kc1.n_configs, 6, replace=False)
    obs = _observation(kc1.space, kc1.cell_encoding(cells), kc1.lookup(cells)[0])
    agent = GRPOformerAgent()
    agent.reset(kc1.space, seed=0)
    agent.act(obs)
    agent.act(obs)
    assert not any(agent._snapped)


def test_a_nan_score_reads_as_the_worst_finite_score(kc1):
    """``_prepared``: NaN and -inf scores are read as the worst finite score seen. The agent's proposal on a history
    with a NaN equals its proposal with that score set to the worst one (same seed). Kills NaN -> the best score
    (agent.py:443)."""
    rng = np.random.default_rng(0)
    cells = rng.choice(kc1.n_configs, 12, replace=False)
    xs = kc1.cell_encoding(cells)
    ys = kc1.lookup(cells)[0].astype(np.float64)
    with_nan = ys.copy()
    with_nan[3] = np.nan
    worst = ys.copy()
    worst[3] = np.delete(ys, 3).min()
    best = ys.copy()
    best[3] = np.delete(ys, 3).max()

    def propose(y):
        agent = GRPOformerAgent(select="first-new")
        agent.reset(kc1.space, seed=1)
        return np.asarray(agent.act(_observation(kc1.space, xs, y)))

    assert np.array_equal(propose(with_nan), propose(worst))
    assert not np.array_equal(propose(worst), propose(best))  # the test can tell the two readings apart


def test_a_repeat_on_a_finite_space_moves_to_the_nearest_unvisited_configuration():
    """``_unvisited``: a proposal that repeats a past trial of a finite space becomes the unvisited configuration
    nearest to it: on an ordinal of 10 values with 1..8 tried, a repeat of 8 becomes 9 (not 0, the first unvisited).
    Kills ``fresh[argmin(distance)]`` -> ``fresh[0]`` (agent.py:755)."""
    space = SearchSpace([Ordinal("k", list(range(10)))])
    agent = GRPOformerAgent()
    agent.reset(space, seed=0)
    history_x = np.array([space.encode({"k": v}) for v in range(1, 9)], np.float32)
    history_bins = np.minimum((history_x.astype(np.float64) * 10).astype(int), 9)
    u = history_x[-1].astype(np.float64)  # the code of 8, already tried
    out = agent._unvisited(u, history_bins[-1], history_bins, history_x, None)
    assert space.decode(out) == {"k": 9}


# -- train.py -------------------------------------------------------------------------------------------------------------
def test_resuming_a_finished_run_with_the_same_updates_returns_it(kc1, tmp_path):
    """``check_resumable`` refuses *fewer* updates than the state holds; the same number (a finished run whose state.pt
    is still there, e.g. a benchmark re-asking for a fold) resumes to no work and returns the trained policy. Kills
    ``updates < state["update"]`` -> ``<=`` (train.py:399)."""
    from agents.grpoformer.train import TrainConfig, train

    cfg = TrainConfig(updates=1, synthetic=0, eval_every=10**6, ckpt_every=1,
                      learner=LearnerConfig(episodes=2, horizon=3))
    first = train([kc1], tmp_path, cfg, progress=False)
    assert (tmp_path / "state.pt").exists()
    again = train([kc1], tmp_path, cfg, resume=True, progress=False)
    for name, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name


def test_a_state_of_older_input_features_is_not_resumed(kc1, tmp_path):
    """A training state whose policy learned from another version of the input features must not be resumed (one
    policy would be trained on both). Kills disabling ``check_resumable``'s features check (train.py:391)."""
    from agents.grpoformer.train import TrainConfig, train

    cfg = TrainConfig(updates=1, synthetic=0, eval_every=10**6, ckpt_every=1,
                      learner=LearnerConfig(episodes=2, horizon=3))
    train([kc1], tmp_path, cfg, progress=False)
    state = torch.load(tmp_path / "state.pt", weights_only=False)
    state["policy"]["extra"]["features"] = 1
    torch.save(state, tmp_path / "state.pt")
    with pytest.raises(ValueError, match="input features of version 1"):
        train([kc1], tmp_path, dataclasses.replace(cfg, updates=2), resume=True, progress=False)


def test_recipe_tag_names_interpolated_training_tasks():
    """A run with interpolated (mixed) training tasks is another recipe: its fold checkpoints need their own key.
    Kills dropping the ``mixed`` part of ``recipe_tag`` (train.py:136)."""
    from agents.grpoformer.train import TrainConfig, recipe_tag

    assert recipe_tag(TrainConfig(mixed=4)) == "mixed=4@0.3"


def test_the_last_update_is_always_evaluated_on_the_held_out_tasks(kc1, tmp_path):
    """Held-out monitoring runs every ``eval_every`` updates and at the last one, so the final policy's held-out
    regret is always logged. Kills dropping ``or u + 1 == cfg.updates`` (train.py:612)."""
    import pandas as pd

    from agents.grpoformer.train import TrainConfig, train

    cfg = TrainConfig(updates=3, synthetic=0, eval_every=2, eval_seeds=1, ckpt_every=10,
                      learner=LearnerConfig(episodes=2, horizon=3))
    train([kc1], tmp_path, cfg, holdout=[load_hpobench_nn("credit_g")], progress=False)
    log = pd.read_csv(tmp_path / "log.csv")
    assert log["heldout_regret"].notna().tolist() == [False, True, True]


def test_held_out_monitoring_opens_with_the_warm_start_design(kc1, tmp_path, monkeypatch):
    """A ``warm_start`` run plays the training tables' portfolio before the policy, on held-out tasks too: the
    monitoring's episodes get that initial design. Kills ``heldout_design = None`` (train.py:596)."""
    import agents.grpoformer.train as training
    from agents.grpoformer.train import TrainConfig, train

    designs = []
    real = training.heldout_episodes
    monkeypatch.setattr(training, "heldout_episodes",
                        lambda *a, **k: designs.append(k.get("initial_design")) or real(*a, **k))
    cfg = TrainConfig(updates=1, synthetic=0, eval_every=1, eval_seeds=1,
                      learner=LearnerConfig(episodes=2, horizon=4, warm_start=2))
    train([kc1, load_hpobench_nn("credit_g")], tmp_path, cfg, holdout=[load_hpobench_nn("vehicle")], progress=False)
    assert len(designs) == 1 and designs[0] is not None and len(designs[0]) == 2


def test_a_resume_that_adds_a_training_task_is_refused(kc1, tmp_path):
    """A state trained on kc1 alone must not be resumed into a run on kc1 + credit_g (the checkpoint would then claim
    a task set it was not trained on for most of its updates); only an identical task list resumes. Kills comparing
    the task lists as ``set(saved) - set(asked)`` (train.py:395), which lets added tasks through."""
    from agents.grpoformer.train import TrainConfig, train

    cfg = TrainConfig(updates=1, synthetic=0, eval_every=10**6, ckpt_every=1,
                      learner=LearnerConfig(episodes=2, horizon=3))
    train([kc1], tmp_path, cfg, progress=False)
    with pytest.raises(ValueError, match="was trained on"):
        train([kc1, load_hpobench_nn("credit_g")], tmp_path, dataclasses.replace(cfg, updates=2), resume=True,
              progress=False)
