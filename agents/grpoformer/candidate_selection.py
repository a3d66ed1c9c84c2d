"""Which of the policy's G candidates the agent proposes: the first new one, or the one a density ratio fitted to the
run's own history ranks highest.

Why a second rule: GRPOformer's policy reads the history, but its candidates spread over the region it believes in, and
the first new one is a draw from that spread. Ranking the candidates by the ratio of two Parzen densities of the
history, ``l(x)`` of the best ``ceil(gamma * n)`` trials over ``g(x)`` of the others (TPE's acquisition, Bergstra et al.
2011; ``gamma = 0.1`` is Optuna's default split, which Optuna caps at 25 trials, a cap that matters only past 250
trials), keeps the policy as the proposal distribution (only its samples can be
proposed) and lets the run's own scores pick among them. The settings were chosen on the fold checkpoints' *training*
tasks only (``benchmarks/grpoformer_candidate_selection.py``), never on a held-out task.
"""

from __future__ import annotations

import math

import numpy as np

#: ``GRPOformerAgent(select=...)``: the policy's first candidate that repeats no past trial (the rule GRPO trains), or
#: the candidate of highest density ratio among the new ones.
SELECTIONS = ("first-new", "density-ratio")
#: The density ratio's settings (chosen on training tasks: benchmarks/grpoformer_candidate_selection.py; SELECT_AFTER set).
#: Here rather than in the agent so that training (``LearnerConfig.continue_rule``) plays the agent's exact rule.
SELECT_GAMMA, SELECT_BANDWIDTH, SELECT_AFTER = 0.1, 0.05, 10
#: Squared unit-cube distance between two different categories of a categorical dimension, whose codes have no order.
#: (The embedded tasks have no categorical dimension, so this was not tuned: it counts a mismatch as half the cube.)
CATEGORY_MISMATCH = 0.25


def split_size(n: int, gamma: float) -> int:
    """Number of trials in the 'good' group: ``ceil(gamma * n)``, at least 1 and leaving at least one 'bad' trial."""
    return min(max(1, math.ceil(gamma * n)), n - 1)


def log_kernels(points: np.ndarray, centres: np.ndarray, categorical: np.ndarray, bandwidth: float) -> np.ndarray:
    """``log N(points_i; centres_j, bandwidth^2 I)`` up to a constant shared by every pair: ``(P, m)`` for ``points
    (P, D)`` and ``centres (m, D)`` in the unit cube. On categorical dimensions two different codes are
    :data:`CATEGORY_MISMATCH` apart, equal ones 0."""
    diff = points[:, None, :] - centres[None, :, :]
    sq = diff * diff
    if categorical.any():
        sq = np.where(categorical, np.where(diff != 0.0, CATEGORY_MISMATCH, 0.0), sq)
    return -sq.sum(-1) / (2.0 * bandwidth * bandwidth)


def log_mean_exp(a: np.ndarray) -> np.ndarray:
    """``log mean_j exp(a_ij)`` per row, without overflow."""
    top = a.max(1)
    return top + np.log(np.exp(a - top[:, None]).mean(1))


def density_ratio(candidates: np.ndarray, history_x: np.ndarray, history_y: np.ndarray, categorical: np.ndarray,
                  gamma: float, bandwidth: float) -> np.ndarray:
    """``log l(x) - log g(x)`` for each candidate ``(P, D)`` (unit-cube codes), from past trials ``history_x (n, D)``
    and their scores ``history_y (n,)`` (higher is better; ``n >= 2``): ``l`` and ``g`` are the mean Gaussian kernel
    (:func:`log_kernels`) over the best ``ceil(gamma * n)`` trials and over the others. Ties in the scores split in
    trial order."""
    n = len(history_y)
    if n < 2:
        raise ValueError(f"a density ratio needs at least 2 past trials (got {n})")
    order = np.argsort(-np.asarray(history_y, dtype=np.float64), kind="stable")
    k = split_size(n, gamma)
    logk = log_kernels(candidates, history_x[order], categorical, bandwidth)  # one pass over every past trial
    return log_mean_exp(logk[:, :k]) - log_mean_exp(logk[:, k:])


def choose_candidate(new: np.ndarray, candidates: np.ndarray, history_x: np.ndarray, history_y: np.ndarray,
                     categorical: np.ndarray, gamma: float, bandwidth: float) -> int:
    """Index of the new candidate (``new``: bool ``(G,)``) of highest :func:`density_ratio` (the first on a tie), or
    the first candidate when none is new. When every past score is the same (every fit of the run failed and was
    recorded at the worst score, or a flat objective), the scores carry no order and the split would be trial order
    alone, pulling proposals toward the first trials: the first new candidate is proposed, as the policy alone does."""
    if len(history_y) == 0:  # no trial to split into good and bad: an IndexError below
        raise ValueError("choose_candidate needs at least one past trial (the agent calls it from select_after >= 2)")
    idx = np.flatnonzero(new)
    if idx.size == 0:
        return 0
    ranked = np.where(np.isnan(history_y), -np.inf, np.asarray(history_y, dtype=np.float64))  # NaN ranks as the worst
    if idx.size == 1 or (ranked == ranked[0]).all():
        return int(idx[0])
    scores = density_ratio(candidates[idx], history_x, history_y, categorical, gamma, bandwidth)
    return int(idx[int(np.argmax(scores))])
