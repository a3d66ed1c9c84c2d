"""GRPO + Policy Churn Regularization for the GRPOformer policy: batched table rollouts, groups, the loss.

Rollouts run many HPO episodes at once on :class:`hpo_gym.tabular.TabularObjective` tables through
their fast paths (``cells_of`` + ``lookup`` + ``cell_encoding`` on a whole group of candidates), and
keep each episode's history in :class:`hpo_gym.episode.History`: the very arrays the env turns into
its observation, so the policy sees the same featurization in training and in evaluation.

Groups (``group_mode``):

* ``"step"`` (default): at every step of every episode the policy samples ``G`` candidate
  configurations from the same history prefix; all ``G`` are evaluated (each evaluation counted); the
  reward of a candidate is the gain it would bring to the best-so-far, ``max(s - best, 0)`` (or its
  score with ``reward="score"``); the episode continues with the first candidate that is not a repeat
  of a past trial, the same rule the agent uses at evaluation time. Dense, well-assigned credit.
  ``lookahead=N`` credits each candidate instead with the best-so-far after it and N more policy steps
  from it (its history branched, the continuations evaluated and counted): a short Monte-Carlo return.
* ``"trajectory"``: ``G`` whole episodes on each of ``episodes`` tasks from the empty history (one evaluation
  per step, so an update costs the same evaluations as with step groups: each step draws ``G`` candidates and
  evaluates only the first one whose bins repeat no past trial: the agent's first-new rule at the level of bins,
  ``G`` the learner's group size, 8 by default as the policy alone's (the default agent draws 32 for its density
  ratio)); the return of an episode is the mean best-so-far over
  its steps (area under the anytime curve); every action of the episode gets the episode's advantage within its
  task's group, through the rule's exact probability (:func:`first_new_log_prob`), not one draw's.
* ``"both"``: step groups, with the episodes drawn ``trajectory_group`` to a task (``episodes /
  trajectory_group`` tasks, the same evaluations per update); the proposal each episode continued with is also
  credited, in an action column of its own with the rule's probability, with its episode's trajectory advantage
  (its return against the other episodes on the task): the step group credits a candidate for its immediate gain,
  the trajectory group the path for where it led.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from agents.grpoformer.candidate_selection import SELECT_AFTER, SELECT_BANDWIDTH, SELECT_GAMMA, SELECTIONS, choose_candidate
from agents.grpoformer.critic import StateValue, critic_advantages, critic_loss
from agents.grpoformer.policy import (
    MAX_DIMS,
    Features,
    GRPOformerPolicy,
    bins_to_unit,
    entropy,
    featurize,
    kl,
    log_prob,
    mode_bins,
    history_bins,
)
from hpo_gym.episode import History, is_whole_number
from hpo_gym.space import KIND_CODES
from hpo_gym.tabular import TabularObjective


#: ``LearnerConfig.continue_rule``: the agent's two candidate rules (:mod:`agents.grpoformer.candidate_selection`).
CONTINUE_RULES = SELECTIONS


@dataclass
class LearnerConfig:
    """Hyperparameters of GRPO + PCR (defaults are the ones used for the shipped checkpoint)."""

    algo: str = "grpo"              # "grpo"; ablations: "reinforce" (mean baseline, no ratio/clip, one epoch),
                                    # "ppo-critic" (learned V(s) baseline instead of the group's, critic.py)
    group_mode: str = "step"        # "step", "trajectory" or "both" (see the module docstring)
    trajectory_group: int = 4       # "both": episodes per task, compared with each other by their returns
    group_size: int = 8             # G
    reward: str = "improvement"     # step groups: "improvement" (gain of best-so-far) or "score"
    lookahead: int = 0              # step groups, "improvement": credit a candidate with the best-so-far after it
                                    # and this many further policy steps from it (0 = the one-step gain)
    warm_start: int = 0             # an initial design of this many trials opens every episode (a portfolio built
                                    # from the other training tables; train.initial_designs), then the policy acts
    continue_rule: str = "first-new"  # step groups: which scored candidate each episode continues with: the first
                                    # new one, or from SELECT_AFTER trials on the new one the agent's density ratio
                                    # ranks highest ("density-ratio": training histories closer to the agent's)
    std_normalize: bool = True      # advantage = (r - mean) / std; False: r - mean
    advantage_norm: str = "group"   # "group": divide by each group's own std (GRPO); "batch": rewards in units of the
                                    # task's score span (normalized-regret gains), one std over the whole rollout
    clip_eps: float = 0.2
    epochs: int = 3
    minibatch: int = 100            # states per gradient step
    update_states: int = 200        # states (with their G candidates) drawn from the rollout per update
    lr: float = 3e-3
    ent_coef: float = 0.003
    kl_beta: float = 0.0            # KL to a frozen reference (the initial policy); 0 = off
    pcr_lambda: float = 1.0         # Policy Churn Regularization weight; 0 = off
    pcr_states: int = 64            # reference states per gradient step
    kl_paths: int = 4               # autoregressive policies: sampled configurations per state for PCR/churn KLs
    churn_probe_states: int = 128   # held-out reference states for measuring churn
    buffer_states: int = 4096       # recent states kept for PCR reference
    max_grad_norm: float = 1.0
    episodes: int = 8               # episodes per update (step groups); trajectory groups: tasks, G episodes each
    horizon: int = 50               # steps per episode (= the evaluation budget)

    def __post_init__(self) -> None:
        """Reject settings that would train silently on nothing (a group of one has no spread to normalize by), and
        settings the chosen mode would silently ignore."""
        if self.algo not in ("grpo", "reinforce", "ppo-critic"):
            raise ValueError(f"algo={self.algo!r}: use 'grpo', 'reinforce' or 'ppo-critic'")
        for f in fields(self):  # 4.0 or 5.5 passed every range check and failed at the first rollout inside torch
            if f.type in ("int", int) and not is_whole_number(getattr(self, f.name)):
                raise ValueError(f"{f.name}={getattr(self, f.name)!r}: needs a whole number (default {f.default})")
        if self.reward not in ("improvement", "score"):
            raise ValueError(f"reward={self.reward!r}: use 'improvement' (gain of the best-so-far) or 'score'")
        for name in ("horizon", "episodes", "epochs", "minibatch", "kl_paths", "churn_probe_states", "buffer_states"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: needs a whole number >= 1 (default "
                                 f"{type(self).__dataclass_fields__[name].default})")
        if self.pcr_lambda > 0 and self.pcr_states < 1:  # an empty reference batch would fail inside the Transformer
            raise ValueError(f"pcr_states={self.pcr_states}: PCR needs >= 1 reference state per gradient step "
                             "(default 64); to turn PCR off, set pcr_lambda=0")
        if self.update_states < 0:
            raise ValueError(f"update_states={self.update_states}: needs a whole number >= 0 (0 trains on every state "
                             "of the rollout; default 200)")
        for name in ("lr", "ent_coef", "pcr_lambda", "kl_beta", "clip_eps"):  # inf or NaN would poison the first update
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}={getattr(self, name)}: needs a finite number (default "
                                 f"{type(self).__dataclass_fields__[name].default})")
        if not self.clip_eps > 0:  # 0 pins every clipped ratio to 1, a negative one makes the clamp a constant
            raise ValueError(f"clip_eps={self.clip_eps}: the ratio's clipping range must be > 0 (default 0.2)")
        for name in ("pcr_lambda", "kl_beta"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: a regularization weight must be >= 0 (0 turns it off)")
        if self.trajectory_group != 4 and self.group_mode != "both":
            raise ValueError(f"trajectory_group={self.trajectory_group} only applies to group_mode='both'; add "
                             "--group-mode both or drop --trajectory-group")
        if self.reward != "improvement" and self.group_mode == "trajectory":
            raise ValueError(f"reward={self.reward!r} is a per-step reward; trajectory groups compare whole episodes by "
                             "their return, so use group_mode='step' or drop --reward")
        if not self.std_normalize and self.algo != "grpo":
            raise ValueError(f"std_normalize=False: only GRPO divides its group advantages by the group std, and "
                             f"algo={self.algo!r} has its own baseline; keep std_normalize=True (drop --no-std)")
        if self.group_size < 2:
            raise ValueError(f"group_size={self.group_size}: a group needs at least 2 candidates to compare (e.g. 8)")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr}: the learning rate must be positive (e.g. 3e-3)")
        if self.ent_coef < 0:
            raise ValueError(f"ent_coef={self.ent_coef}: the entropy bonus weight must be >= 0 (e.g. 0.003)")
        if self.group_mode not in ("step", "trajectory", "both"):
            raise ValueError(f"group_mode={self.group_mode!r}: use 'step', 'trajectory' or 'both'")
        if self.algo == "ppo-critic" and self.group_mode != "step":  # it failed in collect(), after the progress bar
            raise ValueError(f"algo='ppo-critic' learns V(s) of per-step states: use it with group_mode='step' "
                             f"(--group-mode step, the default), not {self.group_mode!r}")
        if self.group_mode == "both" and (self.algo != "grpo" or self.advantage_norm != "group"):
            raise ValueError(f"group_mode='both' mixes per-step and trajectory groups of GRPO: it needs algo='grpo' and "
                             f"advantage_norm='group' (got {self.algo!r}, {self.advantage_norm!r})")
        if self.group_mode == "both" and (self.trajectory_group < 2 or self.episodes % self.trajectory_group):
            raise ValueError(f"trajectory_group={self.trajectory_group}: group_mode='both' draws episodes that many to a "
                             f"task, so it needs >= 2 and to divide episodes ({self.episodes}) (e.g. 4)")
        if self.advantage_norm not in ("group", "batch"):
            raise ValueError(f"advantage_norm={self.advantage_norm!r}: use 'group' (per-group std, GRPO) or 'batch' "
                             "(normalized-regret gains, one std over the rollout)")
        if self.advantage_norm == "batch" and (not self.std_normalize or self.algo != "grpo"):
            raise ValueError("advantage_norm='batch' replaces the group-std division of GRPO: use it with algo='grpo' "
                             "and std_normalize=True (drop --no-std / --algo)")
        if self.warm_start < 0 or self.warm_start >= self.horizon or (self.warm_start and self.group_mode != "step"):
            raise ValueError(f"warm_start={self.warm_start}: the initial design needs 0 <= trials < the horizon "
                             f"({self.horizon}), so the policy still acts, and group_mode='step' (e.g. warm_start=5)")
        if self.continue_rule not in CONTINUE_RULES:
            raise ValueError(f"continue_rule={self.continue_rule!r}: use one of {CONTINUE_RULES}")
        if self.continue_rule != "first-new" and (self.group_mode != "step" or self.lookahead):
            raise ValueError(f"continue_rule={self.continue_rule!r} picks among a step group's scored candidates: it "
                             f"needs group_mode='step' and lookahead=0 (trajectory groups credit the first-new rule's "
                             f"exact probability, which another rule does not have)")
        if self.lookahead < 0 or (self.lookahead and (self.group_mode, self.reward) != ("step", "improvement")):
            raise ValueError(f"lookahead={self.lookahead}: needs a whole number >= 0, and > 0 only with "
                             "group_mode='step' and reward='improvement' (e.g. lookahead=3)")


#: Why trajectory and "both" groups need the factorized head: their ratio needs the policy's probability of every
#: past trial of a state (:func:`first_new_log_prob`), one distribution per state for a factorized policy but a
#: pass per trial for an autoregressive one (50 trials x 16 dims x 32 bins x 48 units per state in a minibatch).
AUTOREGRESSIVE_TRAJECTORY = ("group_mode='trajectory' or 'both' needs the factorized head (the first-new rule's "
                             "probability takes the policy's probability of every past trial); use group_mode='step' "
                             "with the autoregressive head, or drop --head autoregressive")

STATE_KEYS = ("x", "y", "mask", "step_fraction", "dim_kind", "dim_choices", "dim_log")


def featurize_states(states: dict[str, np.ndarray], device: str | torch.device = "cpu") -> Features:
    x, y, mask, step_fraction, dim_kind, dim_choices, dim_log = (states[k] for k in STATE_KEYS)
    return featurize(x, y, mask, step_fraction, dim_kind, dim_choices, dim_log, device=device)


def concat_states(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in STATE_KEYS}


def take_states(states: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in states.items()}


#: Decimals the policy's input features are rounded to before digesting (state_keys): far below any difference a
#: configuration or a score rank makes, far above float32's rounding error of a normalized score. It makes splits of
#: one state into two digests rare, not impossible: two values either side of a rounding boundary still differ.
FEATURE_DECIMALS = 4


def state_keys(states: dict[str, np.ndarray]) -> np.ndarray:
    """A digest per state of what the policy sees of it (16-byte BLAKE2b), as an object array of ``bytes``.

    Why: different rollout positions can hold the same state (every episode on a task starts from its empty
    history), so "a reference state not in this minibatch" must be decided by content, not by position; and by the
    policy's view of the content: scores enter the policy only normalized within their history (z-score, min-max,
    rank, best flag: all unchanged by a positive affine map of the scores), so two histories of the same
    configurations whose scores differ by such a map, e.g. one trial on two tables of one search space, are one state
    to the policy. The digest is therefore taken of :func:`featurize`'s own tokens, not of the raw arrays: the trial
    tokens (padding slots zeroed there), the state's own dimension tokens and the budget token (the per-bin features
    are functions of these). Dimension tokens are taken per state, so a state's digest does not depend on the widest
    search space of the batch it is featurized in. The trial tokens are digested in a canonical (byte) order: the
    Transformer has no position on trial tokens, so the same trials in another order are one state to it. Deterministic
    across processes (unlike ``hash``), so it means the same after ``--resume``."""
    n = len(states["y"])
    if n == 0:
        return np.empty(0, dtype=object)
    f = featurize_states(states)
    # rounded: float32 z-scores of equivalent histories differ by ~1e-5 (two trials: +-1 up to rounding error);
    # + 0.0 turns a -0.0 (a negative feature times a zero mask) into 0.0, which tobytes would tell apart
    trial, dims, budget = ((np.round(t.numpy(), FEATURE_DECIMALS) + np.float32(0.0)) for t in (f.trial, f.dim, f.budget))
    own = f.dim_mask.numpy()
    rows = np.ascontiguousarray(trial)
    trial = np.sort(rows.view(np.dtype((np.void, rows.shape[-1] * rows.itemsize))).reshape(rows.shape[:2]), axis=1)
    return np.array([hashlib.blake2b(trial[i].tobytes() + dims[i][own[i]].tobytes() + budget[i].tobytes(),
                                     digest_size=16).digest() for i in range(n)], dtype=object)


def not_in(keys: np.ndarray, excluded: set[bytes]) -> np.ndarray:
    """Boolean mask of the ``keys`` (from :func:`state_keys`) that are not in ``excluded``."""
    return np.fromiter((k not in excluded for k in keys), dtype=bool, count=len(keys))


def new_candidates(cand_bins: np.ndarray, hist_bins: np.ndarray) -> np.ndarray:
    """Which candidates ``(G, D)`` have bins that differ from every past trial's ``(n, D)``: bool ``(G,)``."""
    return ~(cand_bins[:, None, :] == hist_bins[None, :, :]).all(-1).any(-1)


def first_new(cand_bins: np.ndarray, hist_bins: np.ndarray) -> int:
    """Index of the first candidate ``(G, D)`` whose bins differ from every past trial ``(n, D)`` (0 if none)."""
    if hist_bins.shape[0] == 0:
        return 0
    return int(np.argmax(new_candidates(cand_bins, hist_bins)))  # argmax of all False is 0


def distinct_history_bins(states: dict[str, np.ndarray], n_bins: np.ndarray, chunk: int = 256
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Each state's past trials as bins ``(N, T, D)`` (bin 0 on padding dimensions, as the policy samples them) and a
    mask ``(N, T)`` of the distinct valid ones: the configurations :func:`first_new` treats as repeats, each once
    (two trials can share bins, e.g. after a step whose candidates were all repeats). ``n_bins`` is the features'
    ``(N, D)``, whose width the actions share."""
    hb = past_trial_bins(states, n_bins)
    return hb, distinct_trials(hb, states["mask"], chunk)


def past_trial_bins(states: dict[str, np.ndarray], n_bins: np.ndarray) -> np.ndarray:
    """Each state's past trials as bins ``(N, T, D)`` for the features' ``n_bins`` ``(N, D)`` (:func:`history_bins`
    on the whole batch at once)."""
    nb = np.asarray(n_bins)
    return history_bins(np.asarray(states["x"])[..., :nb.shape[1]], nb[:, None, :])


def distinct_trials(hist_bins: np.ndarray, mask: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Mask ``(N, T)`` of the valid past trials whose bins ``(N, T, D)`` no earlier trial of the state has."""
    valid = np.asarray(mask).astype(bool)
    distinct = valid.copy()
    T = valid.shape[1]
    earlier = np.tril(np.ones((T, T), dtype=bool), -1)  # [j, k]: trial k came before trial j
    for a in range(0, len(valid), chunk):  # pairwise comparison, a chunk of states at a time (N x T x T x D booleans)
        h = hist_bins[a:a + chunk]
        same = (h[:, :, None, :] == h[:, None, :, :]).all(-1) & earlier & valid[a:a + chunk, None, :]
        distinct[a:a + chunk] &= ~same.any(-1)
    return distinct


def first_new_log_prob(logp: torch.Tensor, f: Features, chosen: torch.Tensor, hist_bins: torch.Tensor,
                       distinct: torch.Tensor, group_size: int) -> torch.Tensor:
    r"""Exact log-probability ``(N,)`` that the first-new rule proposes ``chosen`` ``(N, D)``, for a factorized
    policy's per-state distribution ``logp`` ``(N, D, K)``.

    The rule (:func:`first_new`, the agent's at the level of bins; the agent adds exact value checks on Int and fine
    grid dimensions, which the embedded tables never trigger) draws ``G`` candidates from :math:`\pi` and keeps the
    first one whose bins repeat no past trial, or the first candidate when all ``G`` repeat. With :math:`p = \sum_{h \in H} \pi(h)`,
    the policy's mass on the distinct past configurations :math:`H` (:func:`distinct_history_bins`),

    .. math::

        P(a) = \pi(a) \sum_{k=0}^{G-1} p^k \quad (a \notin H), \qquad P(a) = \pi(a)\, p^{G-1} \quad (a \in H),

    which sums to 1 over all configurations. Why: a trajectory group credits the configurations an episode actually
    tried, and those come from this rule, not from :math:`\pi`; a ratio of :math:`\pi` alone trains a behaviour the
    agent does not play (with one draw per step, a sharpened policy replays past trials: 8 repeats in 50 steps).
    The sum is evaluated by Horner's rule, whose gradient is finite at :math:`p = 0` (the empty history)."""
    lp_hist = log_prob(logp, hist_bins, f)  # (N, T): log pi of every past trial
    p = (lp_hist.exp() * distinct).sum(-1).clamp(0.0, 1.0)
    lp = log_prob(logp, chosen[:, None], f)[:, 0]
    repeat = ((chosen[:, None, :] == hist_bins).all(-1) & distinct).any(-1)
    geometric = torch.ones_like(p)  # sum_{k<G} p^k = 1 + p (1 + p (1 + ...))
    for _ in range(group_size - 1):
        geometric = 1.0 + p * geometric
    all_repeats = (group_size - 1) * torch.log(p.clamp_min(1e-30))
    return lp + torch.where(repeat, all_repeats, torch.log(geometric))


def continued_actions(ep: dict[str, Any]) -> torch.Tensor:
    """The candidate each episode continued with at each step, from :func:`run_episodes`' record: ``(N, D)``, in the
    rollout's step-major state order."""
    return torch.cat([a[torch.arange(len(c)), torch.as_tensor(c)] for a, c in zip(ep["actions"], ep["chosen"])])


def improvement_rewards(scores: np.ndarray, prev_best: np.ndarray | float) -> np.ndarray:
    """Each candidate's gain to the best-so-far, ``max(s - best, 0)``; before any trial (best ``-inf``) its score.

    ``scores`` is (..., G) and ``prev_best`` (...,): one best-so-far per group. Shared by the table rollouts and
    paper mode, so both learn from the same reward.
    """
    prev = np.asarray(prev_best, dtype=float)[..., None]
    return np.where(np.isfinite(prev), np.maximum(scores - prev, 0.0), scores)


def group_advantages(rewards: np.ndarray | torch.Tensor, std_normalize: bool = True, eps: float = 1e-8):
    """GRPO advantages over the last axis (one group per row): ``(r - mean) / (std + eps)`` or ``r - mean``.

    A group whose rewards are all equal gets zero advantages (nothing to learn from it). Centred in float64: in
    float32 the mean of equal rewards can be off by an ulp, which the std division blew up to +-3 for every candidate.
    """
    r = torch.as_tensor(rewards, dtype=torch.float64)
    a = r - r.mean(-1, keepdim=True)
    if std_normalize:
        a = a / (r.std(-1, unbiased=False, keepdim=True) + eps)
    flat = r.amax(-1, keepdim=True) == r.amin(-1, keepdim=True)
    return torch.where(flat, torch.zeros_like(a), a).to(torch.float32)


def mean_baseline(rewards: np.ndarray) -> torch.Tensor:
    """The REINFORCE ablation's advantages (``algo="reinforce"``): ``r - mean(r)`` over the whole batch, no std."""
    return torch.as_tensor(rewards - rewards.mean(), dtype=torch.float32)


def step_advantages(rewards: np.ndarray, cfg: LearnerConfig) -> torch.Tensor:
    """Advantages of per-step groups (one group per row) for ``cfg.algo``: GRPO's :func:`group_advantages`, or
    REINFORCE's :func:`mean_baseline`."""
    return mean_baseline(rewards) if cfg.algo == "reinforce" else group_advantages(rewards, cfg.std_normalize)


def batch_advantages(rewards: np.ndarray, span: np.ndarray, eps: float = 1e-8) -> torch.Tensor:
    """Group-centred advantages in the metric's units, scaled by one std over the whole batch.

    ``rewards`` is (N, G) with one group per row and ``span`` (N,) the task's score span (best - worst), so
    ``r / span`` is a gain in normalized regret, the unit the benchmark scores. Why not GRPO's per-group std:
    it blows a group whose candidates differ by 1e-5 (late in an episode, within a table's seed noise) up to
    the same unit spread as a group that differs by half the task's range; one batch-wide std keeps every
    group's weight proportional to the regret at stake (as Dr. GRPO and REINFORCE++ argue for LLM tasks).

    Centred in float64 with a flat group's advantages zero, as in :func:`group_advantages`: in float32 the mean of
    equal rewards is off by an ulp, and in a batch of flat groups the batch std of those ulps is 0, so every action
    got the same advantage of +-3 to +-12 (found in review).
    """
    r = torch.as_tensor(np.asarray(rewards, dtype=np.float64) / np.asarray(span, dtype=np.float64)[:, None])
    a = r - r.mean(-1, keepdim=True)
    a = torch.where(r.amax(-1, keepdim=True) == r.amin(-1, keepdim=True), torch.zeros_like(a), a)
    return (a / (a.std(unbiased=False) + eps)).to(torch.float32)


def score_span(objective: TabularObjective) -> float:
    """The task's score range best - worst (1 where the table is flat), the denominator of its normalized regret."""
    span = objective.oracle.best - objective.oracle.worst
    return float(span) if span > 0 else 1.0


@dataclass
class Rollout:
    states: dict[str, np.ndarray]   # N states
    actions: torch.Tensor           # (N, G', D) bin choices
    old_logp: torch.Tensor          # (N, G')
    rewards: np.ndarray             # (N, G') (trajectory mode: the episode's reward repeated)
    advantages: torch.Tensor        # (N, G')
    evaluations: int
    final_regret: np.ndarray        # (episodes,) normalized regret of the best found (NaN without oracle)
    mean_best: np.ndarray           # (episodes,) mean normalized best-so-far over steps
    tasks: tuple[str, ...] = ()     # (episodes,) the name of each episode's objective
    first_new_group: int = 0        # > 0: the last action column is the first-new rule's pick among this many
                                    # candidates, its old_logp that of first_new_log_prob (trajectory advantages)


def _advance(policy: GRPOformerPolicy, hist: History, objectives: list[TabularObjective], group_size: int,
             rng: np.random.Generator, gen: torch.Generator, device: str, score_all: bool = True,
             encodings: bool = False, rule_logp: bool = False, continue_rule: str = "first-new") -> dict[str, Any]:
    """One step of every episode in ``hist``: sample ``group_size`` candidates from the policy, record the first
    that is not a repeat of a past trial (the agent's rule) with its table score; with ``continue_rule=
    "density-ratio"``, from ``SELECT_AFTER`` past trials on, the new candidate that the default agent's density ratio
    ranks highest (:func:`continue_by_ratio`) instead.

    ``score_all`` also looks up every candidate's score (the group's rewards need them); without it only the
    recorded candidate is evaluated, ``scores`` is None, and ``evaluations`` counts one per episode.
    ``encodings`` also returns every candidate's evaluated cell, encoded (B, G, MAX_DIMS), to branch from.
    ``rule_logp`` also returns the recorded candidates' probability under the first-new rule (``chosen_logp``, (B,),
    on the policy's device like ``logps``; :func:`first_new_log_prob`; factorized policies), from this step's
    distribution: no second forward pass.
    """
    st = hist.observations()
    f = featurize_states(st, device)
    cand, clp = policy.sample(f, group_size, gen)  # (B, G, D), (B, G, D, K)
    lp = log_prob(clp, cand, f)  # (B, G)
    u = bins_to_unit(cand, f, rng)  # (B, G, D)
    cand_np = cand.cpu().numpy()
    nbins = f.n_bins.cpu().numpy()
    past = past_trial_bins(st, nbins)  # every episode's past trials as bins, once (the rule's probability needs them)
    B = len(objectives)
    sc = np.zeros((B, group_size)) if score_all else None
    enc = np.zeros((B, group_size, MAX_DIMS), dtype=np.float32) if encodings else None
    prev_best = hist.best.copy()
    chosen_idx = np.zeros(len(objectives), dtype=np.int64)
    chosen_scores = np.zeros(len(objectives))
    for i, obj in enumerate(objectives):
        d = len(obj.space)
        cells = obj.cells_of(u[i, :, :d])
        g = chosen_idx[i] = first_new(cand_np[i, :, :d], past[i, :int(hist.step[i]), :d])
        if continue_rule == "density-ratio" and hist.step[i] >= SELECT_AFTER:
            g = chosen_idx[i] = continue_by_ratio(hist, i, obj, cells, g)
        if sc is not None:  # score_all
            sc[i] = obj.lookup(cells)[0]
            chosen = float(sc[i, g])
        else:
            chosen = float(obj.lookup(cells[g:g + 1])[0][0])
        chosen_scores[i] = chosen
        hist.record(i, obj.cell_encoding(cells[g:g + 1])[0], chosen)
        if enc is not None:  # encodings
            enc[i, :, :d] = obj.cell_encoding(cells)
    chosen_logp = None
    if rule_logp:
        distinct = distinct_trials(past, st["mask"])
        picked = cand[torch.arange(B, device=cand.device), torch.as_tensor(chosen_idx, device=cand.device)]
        chosen_logp = first_new_log_prob(clp[:, 0], f, picked, torch.as_tensor(past, device=cand.device),
                                         torch.as_tensor(distinct, device=cand.device), group_size)
    return {"states": st, "actions": cand, "logps": lp, "scores": sc, "prev_best": prev_best, "encodings": enc,
            "chosen": chosen_idx, "chosen_scores": chosen_scores, "chosen_logp": chosen_logp,
            "evaluations": B * group_size if score_all else B}


def continue_by_ratio(hist: History, i: int, obj: TabularObjective, cells: np.ndarray, first_new_pick: int) -> int:
    """The candidate (of ``cells``, this step's group on episode ``i``) that the default agent's rule would propose:
    among the candidates whose evaluated cell is new to the episode, the one of highest density ratio of its history
    (:func:`choose_candidate` with the agent's settings); ``first_new_pick`` when no cell is new, as the agent does.

    Why: the agent plays the ratio from its 11th proposal on, so the histories it reads are narrower than the ones the
    first-new rule leaves; continuing training episodes by the same rule (among a group's G candidates, where the
    agent draws 32) moves the states the policy trains on toward the ones it will play. Candidates and past trials are
    compared as the history stores them, at their cells' float32 encodings: new means a cell not yet evaluated (bins
    that are new can land on a past cell of a coarse grid), and a category matches exactly its own code."""
    n, d = int(hist.step[i]), len(obj.space)
    cand = obj.cell_encoding(cells).astype(hist.x.dtype)
    past = hist.x[i, :n, :d]
    new = new_candidates(cand, past)  # compared as cells' codes here, not bins
    if not new.any():
        return first_new_pick
    categorical = hist.descriptor["dim_kind"][i, :d] == KIND_CODES["categorical"]
    return choose_candidate(new, cand.astype(np.float64), past.astype(np.float64), hist.y[i, :n].astype(np.float64),
                            categorical, SELECT_GAMMA, SELECT_BANDWIDTH)


def _lookahead_best(policy: GRPOformerPolicy, branch: History, objectives: list[TabularObjective], scores: np.ndarray,
                    encodings: np.ndarray, steps: int, rng: np.random.Generator, gen: torch.Generator,
                    device: str) -> tuple[np.ndarray, int]:
    """The best-so-far after each candidate *and* ``steps`` further policy steps from it: (B, G) and the evaluations.

    ``branch`` is the step's history prefix repeated G times (``History.repeated``), one row per candidate; it
    is consumed. Why: the one-step gain ``max(s - best, 0)`` only credits a candidate that beats the incumbent
    now; a candidate that informs the next proposals earns nothing. Continuing every candidate's branch with
    the current policy credits what the candidate leads to within ``steps`` steps.
    """
    B, G = scores.shape
    rows = [obj for obj in objectives for _ in range(G)]
    for r, score in enumerate(scores.reshape(-1)):
        branch.record(r, encodings[r], float(score))
    evaluations = 0
    for _ in range(steps):
        evaluations += _advance(policy, branch, rows, G, rng, gen, device, score_all=False)["evaluations"]
    return branch.best.reshape(B, G), evaluations


def _play_designs(hist: History, objectives: list[TabularObjective], designs: Sequence[np.ndarray],
                  regret_curve: np.ndarray) -> int:
    """Record each episode's initial design (its cells' scores, snapped encodings and regret curve); returns its length."""
    lengths = {len(d) for d in designs}
    if len(designs) != len(objectives) or len(lengths) != 1:
        raise ValueError(f"designs: give one initial design per objective ({len(objectives)}), all of one length; "
                         f"got {len(designs)} of lengths {sorted(lengths)}")
    k = lengths.pop()
    if k >= hist.budget:
        raise ValueError(f"an initial design of {k} trials leaves the policy no step of the {hist.budget}-trial budget")
    for i, (obj, design) in enumerate(zip(objectives, designs)):
        cells = obj.cells_of(np.clip(np.asarray(design, dtype=np.float64)[:, :len(obj.space)], 0.0, 1.0))
        enc = obj.cell_encoding(cells)
        for j, score in enumerate(obj.lookup(cells)[0]):
            hist.record(i, enc[j], float(score))
            if obj.oracle is not None:
                regret_curve[i, j] = obj.oracle.normalized_regret(hist.best[i])
    return k


@torch.no_grad()
def run_episodes(policy: GRPOformerPolicy, objectives: list[TabularObjective], horizon: int, group_size: int,
                 rng: np.random.Generator, gen: torch.Generator, record: bool = True,
                 device: str = "cpu", lookahead: int = 0, designs: Sequence[np.ndarray] | None = None,
                 score_all: bool = True, rule_logp: bool = False, continue_rule: str = "first-new") -> dict[str, Any]:
    """Run one episode per objective in parallel; every step each episode samples ``group_size`` candidates,
    evaluates all of them, and continues with the first one that is not a repeat (the agent's rule), or by
    ``continue_rule`` (see :func:`_advance`).
    ``score_all=False`` evaluates (and counts) only the candidate each episode continues with (``scores`` is then
    None; ``chosen_scores`` always holds the continued candidates' scores). ``rule_logp`` also records the continued
    candidates' log-probabilities under the first-new rule (``chosen_logp``, see :func:`_advance`).

    Returns the per-step states, candidate bins, their log-probabilities and scores, and per-episode regret;
    with ``lookahead`` > 0 also, per step, each candidate's best-so-far after that many further policy steps
    (``lookahead_best``, see :func:`_lookahead_best`; cut at the budget) and ``evaluations`` counts them all.
    ``designs`` (one ``(k, d)`` array of encoded configurations per objective, the same ``k`` for all) opens every
    episode with that initial design: evaluated, counted and in the history, but not a policy step (no state).
    """
    if rule_logp and policy.autoregressive:  # clp[:, 0] would be one candidate's conditionals, not the distribution
        raise ValueError(AUTOREGRESSIVE_TRAJECTORY)
    B = len(objectives)
    hist = History(B, horizon, MAX_DIMS)
    for i, obj in enumerate(objectives):
        hist.reset(i, obj.space)
    steps: list[dict[str, Any]] = []
    lookahead_best: list[np.ndarray] = []
    regret_curve = np.zeros((B, horizon))
    start = _play_designs(hist, objectives, designs, regret_curve) if designs is not None else 0
    evaluations = B * start
    for t in range(start, horizon):
        branch = hist.repeated(group_size) if lookahead else None  # the prefix, before this step's trial
        step = _advance(policy, hist, objectives, group_size, rng, gen, device, score_all=score_all,
                        encodings=bool(lookahead), rule_logp=rule_logp, continue_rule=continue_rule)
        evaluations += step["evaluations"]
        if branch is not None:  # lookahead
            enc = step["encodings"].reshape(B * group_size, MAX_DIMS)
            best, n = _lookahead_best(policy, branch, objectives, step["scores"], enc,
                                      min(lookahead, horizon - t - 1), rng, gen, device)
            lookahead_best.append(best)
            evaluations += n
        for i, obj in enumerate(objectives):
            if obj.oracle is not None:
                regret_curve[i, t] = obj.oracle.normalized_regret(hist.best[i])
        if record:
            steps.append(step)
    out: dict[str, Any] = {"final_regret": regret_curve[:, -1], "mean_regret": regret_curve.mean(1), "best": hist.best.copy(),
                           "evaluations": evaluations}
    if record:
        out.update({k: [s[k] for s in steps] for k in ("states", "actions", "logps", "scores", "prev_best", "chosen",
                                                        "chosen_scores", "chosen_logp")})
        if lookahead:
            out["lookahead_best"] = lookahead_best
    return out


InitialDesign = Callable[[TabularObjective, np.random.Generator], np.ndarray]


def collect(policy: GRPOformerPolicy, task_pool: list[TabularObjective], cfg: LearnerConfig, rng: np.random.Generator,
            gen: torch.Generator, device: str = "cpu", weights: np.ndarray | None = None,
            initial_design: InitialDesign | None = None) -> Rollout:
    """One batch of experience with GRPO groups (see the module docstring); tasks drawn with ``weights``.

    With ``cfg.warm_start`` > 0, ``initial_design(objective, rng)`` gives each episode's first trials (step groups)."""
    G = cfg.group_size
    p = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)
    if cfg.warm_start and initial_design is None:
        raise ValueError(f"warm_start={cfg.warm_start} needs an initial_design (train() builds one from the training "
                         "tables: train.initial_designs)")
    if cfg.group_mode in ("step", "both"):
        if cfg.group_mode == "both":  # trajectory_group episodes per task, so episodes on a task can be compared
            m = cfg.trajectory_group
            objs = [task_pool[i] for i in rng.choice(len(task_pool), size=cfg.episodes // m, p=p) for _ in range(m)]
        else:
            objs = [task_pool[i] for i in rng.choice(len(task_pool), size=cfg.episodes, p=p)]
        designs = [initial_design(o, rng) for o in objs] if cfg.warm_start and initial_design is not None else None
        ep = run_episodes(policy, objs, cfg.horizon, G, rng, gen, device=device, lookahead=cfg.lookahead, designs=designs,
                          rule_logp=cfg.group_mode == "both", continue_rule=cfg.continue_rule)
        T = cfg.horizon - cfg.warm_start  # policy steps per episode
        # state order: step-major -> (t, i); rewards per candidate
        rewards = []
        for t in range(T):
            sc, pb = ep["scores"][t], ep["prev_best"][t]
            if cfg.lookahead:
                sc = ep["lookahead_best"][t]  # >= the candidate's own score: what it leads to
            rewards.append(sc if cfg.reward == "score" else improvement_rewards(sc, pb))
        rewards_np = np.concatenate(rewards)
        if cfg.algo == "reinforce":
            adv = mean_baseline(rewards_np)
        elif cfg.algo == "ppo-critic":  # placeholder: update() replaces it with r - V(s) from the critic
            adv = torch.as_tensor(rewards_np, dtype=torch.float32)
        elif cfg.advantage_norm == "batch":  # states are step-major: row t * episodes + i is episode i's step t
            adv = batch_advantages(rewards_np, np.tile([score_span(o) for o in objs], T))
        else:
            adv = group_advantages(rewards_np, cfg.std_normalize)
        states, actions, old_logp = concat_states(ep["states"]), torch.cat(ep["actions"]), torch.cat(ep["logps"])
        first_new_group = 0
        if cfg.group_mode == "both":  # one more action column: the continued candidate, credited for its episode
            picked = continued_actions(ep)  # row t * episodes + i: the candidate episode i continued with
            adv_ep = trajectory_advantages(episode_returns(ep), cfg.trajectory_group, cfg.std_normalize)
            actions = torch.cat([actions, picked[:, None]], 1)
            old_logp = torch.cat([old_logp, torch.cat(ep["chosen_logp"])[:, None]], 1)
            adv = torch.cat([adv, adv_ep.repeat(T)[:, None]], 1)
            first_new_group = G
        return Rollout(states, actions, old_logp, rewards_np, adv,
                       evaluations=ep["evaluations"], final_regret=ep["final_regret"], mean_best=ep["mean_regret"],
                       tasks=tuple(o.name for o in objs), first_new_group=first_new_group)
    tasks = [task_pool[i] for i in rng.choice(len(task_pool), size=cfg.episodes, p=p)]
    objs = [t for t in tasks for _ in range(G)]  # episode e belongs to group e // G
    # each step draws G candidates and plays the first new one, as the agent does; only that one is evaluated
    ep = run_episodes(policy, objs, cfg.horizon, G, rng, gen, device=device, score_all=False, rule_logp=True)
    r_ep = episode_returns(ep).reshape(len(tasks), G)
    if cfg.algo == "reinforce":
        adv_ep = mean_baseline(r_ep)
    elif cfg.advantage_norm == "batch":
        adv_ep = batch_advantages(r_ep, np.array([score_span(t) for t in tasks]))
    else:
        adv_ep = trajectory_advantages(r_ep, G, cfg.std_normalize)
    adv_ep = adv_ep.reshape(-1)  # per episode
    T = cfg.horizon
    adv = adv_ep[None, :].expand(T, -1).reshape(-1, 1)
    rewards_np = np.tile(r_ep.reshape(-1), T)[:, None]
    return Rollout(concat_states(ep["states"]), continued_actions(ep)[:, None], torch.cat(ep["chosen_logp"])[:, None],
                   rewards_np, adv, evaluations=ep["evaluations"], final_regret=ep["final_regret"],
                   mean_best=ep["mean_regret"], tasks=tuple(o.name for o in objs), first_new_group=G)


def episode_returns(ep: dict[str, Any]) -> np.ndarray:
    """Each episode's return, the mean of its best-so-far over its policy steps (the area under its anytime curve),
    from :func:`run_episodes`' record: (episodes,). The scores are those of the trials the episodes made."""
    picked = np.stack(ep["chosen_scores"], 1)  # (episodes, T)
    return np.maximum.accumulate(picked, axis=1).mean(1)


def trajectory_advantages(returns: np.ndarray, per_task: int, std_normalize: bool = True) -> torch.Tensor:
    """Group-relative advantages of whole episodes: their returns (:func:`episode_returns`) compared within each
    run of ``per_task`` consecutive episodes (those on one task), as GRPO compares a group's outputs: (episodes,)."""
    r = np.asarray(returns, dtype=np.float64).reshape(-1, per_task)
    # centred in float64 first: returns are ~0.8 and differ by ~1e-4, which float32 would round to 1e-3 of the result
    return group_advantages(r - r.mean(1, keepdims=True), std_normalize).reshape(-1)


def grpo_pcr_loss(policy: GRPOformerPolicy, f: Features, actions: torch.Tensor, old_logp: torch.Tensor,
                  adv: torch.Tensor, cfg: LearnerConfig, ref_f: Features | None = None,
                  ref_actions: torch.Tensor | None = None, snap_ref_logp: torch.Tensor | None = None,
                  frozen_logp: torch.Tensor | None = None,
                  first_new: tuple[torch.Tensor, torch.Tensor, int] | None = None):
    r"""The GRPO + PCR objective (to minimise) on one minibatch.

    With :math:`\rho_{i,g} = \pi_\theta(a_{i,g}\mid s_i) / \pi_{old}(a_{i,g}\mid s_i)` over the ``G``
    candidates :math:`a_{i,g}` of state :math:`s_i` and group-normalized advantages
    :math:`A_{i,g} = (r_{i,g} - \mathrm{mean}_g r_{i,\cdot}) / \mathrm{std}_g r_{i,\cdot}`:

    .. math::

        L(\theta) = -\frac{1}{NG}\sum_{i,g} \min\big(\rho_{i,g} A_{i,g},\
                    \mathrm{clip}(\rho_{i,g}, 1-\epsilon, 1+\epsilon) A_{i,g}\big)
                    - c_H \frac{1}{N}\sum_i \mathcal{H}[\pi_\theta(\cdot\mid s_i)]
                    + \beta \frac{1}{N}\sum_i \mathrm{KL}(\pi_\theta(\cdot\mid s_i)\,\|\,\pi_{ref}(\cdot\mid s_i))
                    + \lambda \frac{1}{M}\sum_{s\in\mathcal{R}} \mathrm{KL}(\pi_{snap}(\cdot\mid s)\,\|\,\pi_\theta(\cdot\mid s))

    where :math:`\pi_{snap}` is the policy snapshot taken at the start of the update and
    :math:`\mathcal{R}` are ``M`` reference states from the buffer of recent states, none of them drawn from this
    minibatch, compared by what the policy sees of a state (:func:`state_keys`; Policy Churn Regularization, after CHAIN, Tang & Berseth 2024). For a factorized
    policy all KLs and entropies are exact (sums over each dimension's bins); for an autoregressive one they are
    sums of exact per-dimension conditional terms along configurations (``ref_actions``, drawn from the
    snapshot for the PCR term; the minibatch's own candidates, drawn from the rollout policy, for the entropy and the
    reference KL): the PCR term is an unbiased estimate of the joint KL; the other two are unbiased at the rollout
    policy and drift from the joint quantities as the epochs move the policy. The PCR term's gradient is exact too (its configurations come from
    the fixed snapshot); the entropy's and the reference KL's gradients leave out the score-function term of
    sampling those configurations from the current policy, a small bias at the default entropy weight (0.003) and
    ``kl_beta`` (0). ``cfg.algo == "reinforce"`` replaces the clipped surrogate
    with :math:`-\frac{1}{NG}\sum \log\pi_\theta(a_{i,g}\mid s_i) A_{i,g}` (mean-baseline advantages).

    Trajectory advantages (``first_new = (past trials' bins, their distinct mask, G)``, from a rollout with
    ``first_new_group``): the last action column is the configuration the episode continued with, picked by the
    first-new rule among G draws, so its :math:`\pi_\theta` in :math:`\rho` is that rule's exact probability
    (:func:`first_new_log_prob`) rather than a single draw's. In ``"both"`` that column comes after the G step
    candidates, so the surrogate's mean runs over G + 1 columns there.

    Returns ``(loss, stats)``.
    """
    logp = policy.action_logp(f, actions)  # (N, G, D, K) conditional log-probabilities
    new = log_prob(logp, actions, f)
    if first_new is not None:  # factorized (checked by collect): logp[:, 0] is the per-state distribution
        hist, distinct, rule_group = first_new
        picked = first_new_log_prob(logp[:, 0], f, actions[:, -1], hist, distinct, rule_group)
        new = torch.cat([new[:, :-1], picked[:, None]], 1)
    if cfg.algo == "reinforce":
        policy_loss = -(new * adv).mean()
        ratio = torch.ones_like(new)
    else:
        ratio = torch.exp(new - old_logp)
        surr = torch.minimum(ratio * adv, ratio.clamp(1 - cfg.clip_eps, 1 + cfg.clip_eps) * adv)
        policy_loss = -surr.mean()
    ent = entropy(logp, f).mean()
    loss = policy_loss - cfg.ent_coef * ent
    kl_ref = torch.zeros(())
    if cfg.kl_beta > 0 and frozen_logp is not None:
        kl_ref = kl(logp, frozen_logp, f).mean()
        loss = loss + cfg.kl_beta * kl_ref
    pcr = torch.zeros(())
    if cfg.pcr_lambda > 0 and ref_f is not None and ref_actions is not None and snap_ref_logp is not None:
        pcr = kl(snap_ref_logp, policy.action_logp(ref_f, ref_actions), ref_f).mean()
        loss = loss + cfg.pcr_lambda * pcr
    stats = {"policy_loss": policy_loss.item(), "entropy": ent.item(), "kl_ref": kl_ref.item(), "pcr": pcr.item(),
             "clip_frac": float(((ratio - 1).abs() > cfg.clip_eps).float().mean())}
    return loss, stats


@torch.no_grad()
def reference_actions(snapshot: GRPOformerPolicy, f: Features, cfg: LearnerConfig,
                      gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Configurations drawn from the snapshot on reference states and their conditional log-probabilities.

    A factorized policy's KL is exact from its per-state distribution, so one (arbitrary) configuration
    carries it and no random draw is spent; an autoregressive one needs ``cfg.kl_paths`` samples per state.
    """
    if not snapshot.autoregressive:
        logp = snapshot(f)
        return mode_bins(logp)[:, None], logp[:, None]
    return snapshot.sample(f, cfg.kl_paths, gen)


def policy_kl(snap_logp: torch.Tensor, policy: GRPOformerPolicy, f: Features, actions: torch.Tensor) -> torch.Tensor:
    """``KL(snapshot || policy)`` per state, from :func:`reference_actions`' output (mean over its paths)."""
    return kl(snap_logp, policy.action_logp(f, actions), f).mean(1)


class StateBuffer:
    """Recent states (raw observation arrays) for PCR reference states and churn probes, with their digests
    (:func:`state_keys`, computed once per added part) so that draws can leave out given states. ``parts`` is
    read-only: :meth:`add` and :meth:`restore` keep the digests in step with the states."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._parts: list[dict[str, np.ndarray]] = []
        self._part_keys: list[np.ndarray] = []

    @property
    def parts(self) -> list[dict[str, np.ndarray]]:
        """The buffered rollouts' states, oldest first (a copy of the list: what a training state saves)."""
        return list(self._parts)

    def add(self, states: dict[str, np.ndarray], keys: np.ndarray | None = None) -> None:
        """Append a rollout's ``states``; ``keys`` are their :func:`state_keys` when the caller has them already."""
        self._parts.append(states)
        self._part_keys.append(state_keys(states) if keys is None else keys)
        while sum(len(p["y"]) for p in self._parts) > self.capacity and len(self._parts) > 1:
            self._parts.pop(0)
            self._part_keys.pop(0)

    def restore(self, parts: Sequence[dict[str, np.ndarray]]) -> None:
        """Replace the contents with ``parts`` (a saved training state's ``buffer.parts``), oldest first."""
        self._parts, self._part_keys = [], []
        for part in parts:
            self.add(part)

    def __len__(self) -> int:
        return sum(len(p["y"]) for p in self._parts)

    def keys(self) -> np.ndarray:
        """Digests of the buffered states, in buffer order (the positions ``sample_with_indices`` returns)."""
        return np.concatenate(self._part_keys) if self._part_keys else np.empty(0, dtype=object)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        drawn = self.sample_with_indices(n, rng)
        return None if drawn is None else drawn[0]

    def sample_with_indices(self, n: int, rng: np.random.Generator,
                            exclude: set[bytes] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
        """Up to ``n`` distinct states and their positions in the buffer (the same draw as :meth:`sample`), so that
        states drawn for one purpose can be told apart from those drawn for another within one update. States whose
        digest (:func:`state_keys`) is in ``exclude`` are never drawn (``None`` when nothing is left); with nothing excluded the
        draw is the one an unfiltered buffer gives."""
        if not self._parts:
            return None
        allst = concat_states(self._parts)
        pool = np.arange(len(allst["y"]))
        if exclude:
            pool = pool[not_in(self.keys(), exclude)]
            if not len(pool):
                return None
        idx = pool[rng.choice(len(pool), size=min(n, len(pool)), replace=False)]
        return take_states(allst, idx), idx


def update(policy: GRPOformerPolicy, optimizer: torch.optim.Optimizer, ro: Rollout, buffer: StateBuffer,
           cfg: LearnerConfig, rng: np.random.Generator, frozen: GRPOformerPolicy | None = None,
           device: str = "cpu", critic: tuple[StateValue, torch.optim.Optimizer] | None = None) -> dict[str, float]:
    """One update: snapshot, ``epochs`` passes of minibatches with GRPO + PCR, then churn on held-out states.

    ``critic`` (the value network and its optimizer) is required by ``cfg.algo == "ppo-critic"``: the
    advantages become ``r - V(s)`` (batch-normalized) and the critic is fitted on the same minibatches."""
    if cfg.algo == "ppo-critic" and critic is None:
        raise ValueError("algo='ppo-critic' needs critic=(StateValue, optimizer); train() makes one")
    policy.train()
    snapshot = copy.deepcopy(policy).eval()
    # update_states and minibatch count states with their G candidates; a trajectory rollout has one action per
    # state, so it takes G times the states: the same (state, action) pairs per update and per gradient step
    scale = cfg.group_size if cfg.group_mode == "trajectory" else 1
    update_states, minibatch = cfg.update_states * scale, cfg.minibatch * scale
    # digests of the rollout's states as the policy sees them (one state can sit at several rollout/buffer positions),
    # computed once: the trained subset's are a slice, and the buffer keeps them all
    buffer_states, buffer_keys = ro.states, state_keys(ro.states)
    trained_keys = buffer_keys
    if update_states and len(ro.states["y"]) > update_states:  # a random subset of the rollout's states
        keep = np.sort(rng.choice(len(ro.states["y"]), update_states, replace=False))
        trained_keys = buffer_keys[keep]
        ro = dataclasses.replace(ro, states=take_states(ro.states, keep), actions=ro.actions[keep],
                                 old_logp=ro.old_logp[keep], rewards=ro.rewards[keep], advantages=ro.advantages[keep])
    f_all = featurize_states(ro.states, device)
    # the subset is featurized at its own widest space; the actions keep the rollout's width, whose extra columns are
    # padding dimensions (bin 0) for every state of the subset, so they are dropped
    ro = dataclasses.replace(ro, actions=ro.actions[..., :f_all.n_bins.shape[1]])
    N = len(ro.states["y"])
    history: tuple[torch.Tensor, torch.Tensor] | None = None  # past trials' bins and distinct mask (first-new column)
    if ro.first_new_group:
        hb, distinct = distinct_history_bins(ro.states, f_all.n_bins.cpu().numpy())
        history = torch.as_tensor(hb, device=device), torch.as_tensor(distinct, device=device)
    # Churn probes: earlier states from the buffer. The PCR reference states are drawn from the same buffer, so the
    # probes equal to one of them, or to a state this update trains on, are left out of the churn after the update:
    # churn is the drift on states this update neither trained on nor anchored. (The first update has no earlier
    # states: its probes are drawn from the states it trains on, and all counted, so the first logged churn is the
    # drift on trained states, unlike every later one. Drawing them from the rollout's untrained states
    # instead would change the training's random stream, and with it every recorded run, for one log entry.)
    drawn = buffer.sample_with_indices(cfg.churn_probe_states, rng) if len(buffer) else None
    probe_keys: np.ndarray | None
    if drawn is not None:
        probe_st, probe_idx = drawn
        probe_keys = buffer.keys()[probe_idx]
    else:
        probe_st, probe_keys = take_states(ro.states, rng.choice(N, min(N, cfg.churn_probe_states), replace=False)), None
    anchored: set[bytes] = set()  # digests of the states used as PCR reference states in this update
    probe_f = featurize_states(probe_st, device)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1))) if policy.autoregressive else None
    probe_actions, probe_before = reference_actions(snapshot, probe_f, cfg, gen)
    epochs = 1 if cfg.algo == "reinforce" else cfg.epochs
    stats_acc: dict[str, list[float]] = {}
    if cfg.algo == "ppo-critic":
        assert critic is not None  # checked on entry
        rewards_t = torch.as_tensor(np.asarray(ro.rewards), dtype=torch.float32, device=device)
        adv = critic_advantages(critic[0], f_all, rewards_t)
    else:
        adv = ro.advantages.to(device)
    for _ in range(epochs):
        perm = rng.permutation(N)
        for start in range(0, N, minibatch):
            mb = perm[start:start + minibatch]
            idx = torch.as_tensor(mb)
            f = f_all.index(idx)
            ref_f = ref_actions = snap_ref = frozen_lp = None
            if cfg.pcr_lambda > 0:
                ref_st: dict[str, np.ndarray] | None = None
                in_minibatch = set(trained_keys[mb])  # reference states are never minibatch states, by digest
                if len(buffer):
                    drawn = buffer.sample_with_indices(cfg.pcr_states, rng, exclude=in_minibatch)
                    if drawn is not None:
                        ref_st, ref_idx = drawn
                        anchored.update(buffer.keys()[ref_idx])
                else:  # first update: states of this rollout outside the minibatch
                    rest = np.setdiff1d(np.arange(N), mb)
                    rest = rest[not_in(trained_keys[rest], in_minibatch)]
                    ref_st = take_states(ro.states, rng.choice(rest, min(len(rest), cfg.pcr_states), replace=False)) if len(rest) else None
                if ref_st is not None:
                    ref_f = featurize_states(ref_st, device)
                    ref_actions, snap_ref = reference_actions(snapshot, ref_f, cfg, gen)
            actions = ro.actions[idx].to(device)
            if cfg.kl_beta > 0 and frozen is not None:
                with torch.no_grad():
                    frozen_lp = frozen.action_logp(f, actions)
            first_new = None if history is None else (history[0][idx], history[1][idx], ro.first_new_group)
            loss, st = grpo_pcr_loss(policy, f, actions, ro.old_logp[idx].to(device), adv[idx],
                                     cfg, ref_f, ref_actions, snap_ref, frozen_lp, first_new)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
            optimizer.step()
            if cfg.algo == "ppo-critic":
                assert critic is not None  # checked on entry
                value, value_opt = critic
                vloss = critic_loss(value, f, rewards_t[idx])
                value_opt.zero_grad()
                vloss.backward()
                torch.nn.utils.clip_grad_norm_(value.parameters(), cfg.max_grad_norm)
                value_opt.step()
                st["value_loss"] = vloss.item()
            for k, v in st.items():
                stats_acc.setdefault(k, []).append(v)
    policy.eval()
    with torch.no_grad():
        drift = policy_kl(probe_before, policy, probe_f, probe_actions)
    held_out = (np.ones(len(drift), dtype=bool) if probe_keys is None
                else not_in(probe_keys, anchored | set(trained_keys)))
    churn = float(drift[torch.as_tensor(held_out, device=drift.device)].mean()) if held_out.any() else float("nan")
    buffer.add(buffer_states, buffer_keys)
    out = {k: float(np.mean(v)) for k, v in stats_acc.items()}
    out["churn"] = churn
    out["churn_states"] = float(held_out.sum())
    return out
