"""The GRPOformer policy: a small Transformer over the trial history that outputs the next configuration.

Tokens (all numeric, built by :func:`featurize` from the env's observation arrays, so training and
evaluation see exactly the same input):

* one token per past trial: its encoded configuration (padded to ``MAX_DIMS``), its score normalized
  *within the history* (z-score and min-max, rank, is-best flag), so the policy is scale-free;
* one token per search-space dimension: kind (one-hot), number of choices, log flag, slot index, and
  the best trial's value on that dimension;
* one budget token: fraction of the budget used and the history size.

Output distribution, per dimension, is a softmax over *bins* of [0, 1]:

* an ordinal or categorical dimension with ``n <= MAX_BINS`` values gets exactly ``n`` bins, the env's
  own encoding bins, and the action is the bin centre: a plain categorical distribution, exact for grids
  (no probability mass wasted between grid points, unlike a Beta or logit-normal);
* a float/int dimension (or one with more than ``MAX_BINS`` values) gets ``MAX_BINS`` bins and the
  action is uniform inside the chosen bin: a piecewise-uniform density whose log-density is
  ``log p_bin + log K`` and whose differential entropy is ``H(bins) - log K``, both exact.

Why bins rather than Beta/logit-normal: exact log-probabilities and entropies, multi-modality for free,
and exactness on ordinal grids (all of the embedded tasks); the cost is resolution ``1/32`` on floats.

The logit of bin ``b`` of dimension ``j`` is an MLP of the dimension token's contextual embedding plus
per-bin statistics of the history (how many trials fell in the bin, their best and mean normalized
score, distance to the best trial's value).

Two ways to turn per-dimension logits into a distribution over whole configurations
(``PolicyConfig.autoregressive``):

* factorized (``False``, the original checkpoints): the bins of a configuration are independent given
  the history; sampling is one batched pass and log-probabilities, entropies and KLs are exact sums.
* autoregressive (``True``): dimension ``j``'s logits also see the values already chosen for dimensions
  ``< j`` (the paper generates a configuration token by token too). Why: good configurations on these
  tables are joint, not per-dimension: sampling each hyperparameter independently from the marginals of
  a task's top-1 % configurations gives 1.8-6.6x their normalized regret on 7 tasks and 93x on car (e.g.
  credit_g 0.014 -> 0.051; ``python benchmarks/joint_structure.py``), so a factorized policy cannot place its mass on a few good *configurations*. The
  chosen prefix enters as the mean over earlier dimensions of an MLP of (the dimension's contextual
  embedding, Fourier features of the chosen bin centre, "equals the incumbent's bin"), projected into the
  head's hidden layer; the projection starts at zero, so an untrained autoregressive policy equals the
  factorized one. Log-probabilities are exact (teacher forcing, one pass); the entropy and KL of the
  joint are estimated along sampled configurations as sums of *exact* per-dimension conditional
  entropies / KLs (unbiased: ``H(p) = E_{a~p} sum_j H(p_j(. | a_<j))``, likewise for the KL).

All distribution helpers (:func:`log_prob`, :func:`entropy`, :func:`kl`) take either the factorized
``(N, D, K)`` log-probabilities or per-candidate conditional ones ``(N, G, D, K)``
(:meth:`GRPOformerPolicy.action_logp`, :meth:`GRPOformerPolicy.sample`).
"""

from __future__ import annotations

import errno
import math
import pickle
import shutil
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hpo_gym.atomic import atomic_path

MAX_DIMS = 16
MAX_BINS = 32
#: Version of the policy's input features, saved with every checkpoint (``extra["features"]``; absent = 1). 2: the
#: rank of tied scores is their average rank (:func:`average_rank`), not torch.argsort's unspecified tie order.
FEATURES_VERSION = 2
KIND_FLOAT, KIND_INT, KIND_ORDINAL, KIND_CATEGORICAL = 1, 2, 3, 4
TRIAL_FEATURES = MAX_DIMS + 5
DIM_FEATURES = 5 + 2 + MAX_DIMS + 3
BUDGET_FEATURES = 3
BIN_FEATURES = 6
VALUE_FEATURES = 8   # autoregressive prefix: Fourier features of a chosen bin centre + "is the incumbent's bin"


@dataclass
class PolicyConfig:
    """Architecture hyperparameters (saved in checkpoints)."""

    d_model: int = 48
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 96
    head_hidden: int = 48
    # > 0 biases GRPO + PCR a little: rollouts and the PCR snapshot are computed without dropout, the loss with it, so
    # the ratio is not 1 and the PCR term not 0 at the behaviour policy (PCR 1.7e-4 before any step at 0.2, 2e-9 at 0);
    # every shipped and measured recipe uses 0
    dropout: float = 0.0
    autoregressive: bool = False   # condition each dimension on the values chosen for the earlier ones

    def __post_init__(self) -> None:
        """Refuse sizes torch would reject deep inside the attention layer (a bare ``AssertionError``), naming the fix."""
        for name in ("d_model", "n_heads", "n_layers", "d_ff", "head_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: needs a whole number >= 1 (default "
                                 f"{type(self).__dataclass_fields__[name].default})")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} (--width) must be a multiple of n_heads={self.n_heads}: each "
                             f"attention head gets d_model / n_heads units (e.g. {self.n_heads * 12})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout}: needs a probability in [0, 1)")


def n_bins_of(dim_kind: np.ndarray | torch.Tensor, dim_choices: np.ndarray | torch.Tensor):
    """Number of output bins of each dimension (0 for padding): ``n`` for grids up to ``MAX_BINS``, else ``MAX_BINS``."""
    kind = torch.as_tensor(dim_kind)
    choices = torch.as_tensor(dim_choices).to(torch.int64)
    grid = (kind == KIND_ORDINAL) | (kind == KIND_CATEGORICAL)
    nb = torch.where(grid & (choices <= MAX_BINS) & (choices >= 1), choices, torch.full_like(choices, MAX_BINS))
    return torch.where(kind == 0, torch.zeros_like(nb), nb)


def is_continuous_dim(dim_kind: torch.Tensor, n_bins: torch.Tensor, dim_choices: torch.Tensor) -> torch.Tensor:
    """True where the action is uniform inside its bin (floats, ints, large grids); False for exact grid bins."""
    grid = (dim_kind == KIND_ORDINAL) | (dim_kind == KIND_CATEGORICAL)
    return (dim_kind > 0) & ~(grid & (dim_choices.to(torch.int64) == n_bins))


@dataclass
class Features:
    """The policy input for a batch of states, truncated to the widest dimension / bin count present."""

    trial: torch.Tensor        # (N, T, TRIAL_FEATURES)
    trial_mask: torch.Tensor   # (N, T) bool, True = trial exists
    dim: torch.Tensor          # (N, D, DIM_FEATURES)
    dim_mask: torch.Tensor     # (N, D) bool, True = dimension exists
    budget: torch.Tensor       # (N, BUDGET_FEATURES)
    bins: torch.Tensor         # (N, D, K, BIN_FEATURES)
    n_bins: torch.Tensor       # (N, D) int
    bin_mask: torch.Tensor     # (N, D, K) bool
    continuous: torch.Tensor   # (N, D) bool

    def index(self, idx: torch.Tensor) -> Features:
        return Features(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    def to(self, device: torch.device | str) -> Features:
        return Features(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def average_rank(y: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Each trial's rank among the valid trials of its row, 0 = worst, with tied scores sharing the mean of their
    positions (scipy's ``rankdata(method="average") - 1``): (N, T), float.

    Why not ``argsort().argsort()``: its order among tied scores (common on the tables) is unspecified and changes
    with the array's length, so the padded histories of training and the filled-only ones the agent featurizes got
    different ranks for the same trials. The average rank depends on the scores alone."""
    valid_other = valid[:, None, :]
    below = ((y[:, None, :] < y[:, :, None]) & valid_other).sum(2)
    tied = ((y[:, None, :] == y[:, :, None]) & valid_other).sum(2)  # counts the trial itself
    return below.float() + (tied.float() - 1.0) / 2.0


def check_observation_widths(x_width: int, dim_kind: Any, dim_choices: Any, dim_log: Any) -> None:
    """Refuse, by name, an observation whose configurations ``x`` and per-dimension descriptors have other widths:
    the torch path padded the descriptors by x's width and failed in ``torch.cat`` naming neither input, while the
    NumPy fast path padded each by its own and played it (found in review). The env gives all four ``max_dims``."""
    widths = {k: np.shape(v)[-1] for k, v in (("dim_kind", dim_kind), ("dim_choices", dim_choices), ("dim_log", dim_log))}
    if any(w != x_width for w in widths.values()):
        raise ValueError(f"the observation's x has {x_width} columns (one per hyperparameter slot) but its "
                         f"{', '.join(f'{k} has {w}' for k, w in widths.items())}: give them one width, as the env does "
                         "(max_dims)")


def featurize(x, y, mask, step_fraction, dim_kind, dim_choices, dim_log, device: str | torch.device = "cpu") -> Features:
    """Build policy inputs from observation arrays (batched: ``x`` (N, T, Dmax), ``y``/``mask`` (N, T),
    ``step_fraction`` (N,) or (N, 1), ``dim_*`` (N, Dmax)). The same function serves the env's observations
    (:class:`~agents.grpoformer.agent.GRPOformerAgent`) and the training rollouts, which keep their
    histories in :class:`hpo_gym.episode.History`, the env's own arrays.
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    y = torch.as_tensor(np.asarray(y, dtype=np.float32), device=device)
    m = torch.as_tensor(np.asarray(mask), device=device).bool()
    sf = torch.as_tensor(np.asarray(step_fraction, dtype=np.float32), device=device).reshape(-1)
    kind = torch.as_tensor(np.asarray(dim_kind), device=device).long()
    choices = torch.as_tensor(np.asarray(dim_choices, dtype=np.float32), device=device)
    logf = torch.as_tensor(np.asarray(dim_log, dtype=np.float32), device=device)
    N, T, Dobs = x.shape
    check_observation_widths(Dobs, kind, choices, logf)
    if Dobs > MAX_DIMS:
        raise ValueError(f"GRPOformer handles at most {MAX_DIMS} hyperparameters, the observation has {Dobs} slots")
    if Dobs < MAX_DIMS:  # pad to the fixed slot layout of the trial token
        x = torch.cat([x, x.new_zeros(N, T, MAX_DIMS - Dobs)], -1)
        pad = MAX_DIMS - Dobs
        kind = torch.cat([kind, kind.new_zeros(N, pad)], -1)
        choices = torch.cat([choices, choices.new_zeros(N, pad)], -1)
        logf = torch.cat([logf, logf.new_zeros(N, pad)], -1)
    mf = m.float()
    n = mf.sum(1).clamp(min=1.0)
    # score normalized within the history: z-score, min-max, rank, best flag
    big = torch.finfo(torch.float32).max
    # the z-score in float64: on scores a few float32 ulps apart the float32 mean is off by as much as the spread, so
    # z was rounding noise, and this path and the NumPy fast path (which sums in another order) disagreed in sign
    # (log-probabilities 1.8 apart on 23 trials scoring 0.97 or the next float32 up, found in review)
    y64, mf64 = y.double(), mf.double()
    mean = (y64 * mf64).sum(1) / n.double()
    std = (((y64 - mean[:, None]) ** 2 * mf64).sum(1) / n.double()).sqrt()
    z = ((y64 - mean[:, None]) / (std[:, None] + 1e-8)).clamp(-5, 5).float() * mf
    ymax = torch.where(m, y, torch.full_like(y, -big)).max(1).values
    ymin = torch.where(m, y, torch.full_like(y, big)).min(1).values
    # equal scores have z 0: the float32 mean of n equal values can be off by an ulp, whose std is that ulp, so z was
    # +-0.9 for every trial (and the NumPy fast path, which centres exactly, said 0)
    z = torch.where((ymax - ymin)[:, None] > 0, z, torch.zeros_like(z))
    span = (ymax - ymin).clamp(min=1e-12)
    ymm = torch.where(m, (y - ymin[:, None]) / span[:, None], torch.zeros_like(y))
    ymm = torch.where((ymax - ymin)[:, None] > 1e-12, ymm, mf)  # all-equal history: every trial is "best"
    masked_y = torch.where(m, y, torch.full_like(y, -big))
    rank = torch.where(m, average_rank(y, m) / (n[:, None] - 1).clamp(min=1.0), torch.zeros_like(y))  # 0 = worst
    best_idx = masked_y.argmax(1)
    is_best = torch.zeros_like(y).scatter_(1, best_idx[:, None], 1.0) * mf
    trial = torch.cat([x * mf[..., None], z[..., None], ymm[..., None], rank[..., None], is_best[..., None], mf[..., None]], -1)

    dim_mask = kind > 0
    D = max(int(dim_mask.sum(1).max().item()) if N else 1, 1)
    has_hist = (m.any(1)).float()
    x_best = x[torch.arange(N, device=device), best_idx] * has_hist[:, None]  # (N, MAX_DIMS)
    slot = torch.eye(MAX_DIMS, device=device).expand(N, MAX_DIMS, MAX_DIMS)
    dim = torch.cat([
        nn.functional.one_hot(kind, 5).float(),
        (torch.log1p(choices) / math.log(1 + 1000.0)).clamp(max=2.0)[..., None],
        logf[..., None],
        slot,
        x_best[..., None],
        has_hist[:, None, None].expand(N, MAX_DIMS, 1),
        dim_mask.float()[..., None],
    ], -1)
    budget = torch.stack([sf, 1.0 - sf, n / 100.0 * has_hist], -1)

    nb = n_bins_of(kind, choices)[:, :D]
    K = max(int(nb.max().item()) if N else 1, 1)
    xd = x[:, :, :D]
    nbf = nb.clamp(min=1).float()
    bin_idx = torch.minimum((xd * nbf[:, None, :]).long(), (nbf.long() - 1)[:, None, :]).clamp(min=0)  # (N, T, D)
    onehot = nn.functional.one_hot(bin_idx, K).float() * mf[:, :, None, None]  # (N, T, D, K)
    count = onehot.sum(1)  # (N, D, K)
    y_b = ymm[:, :, None, None]
    best_in = torch.where(onehot > 0, y_b.expand_as(onehot), torch.full_like(onehot, -1.0)).max(1).values
    mean_in = (onehot * y_b).sum(1) / count.clamp(min=1.0)
    mean_in = torch.where(count > 0, mean_in, torch.full_like(mean_in, -1.0))
    centers = (torch.arange(K, device=device).float()[None, None, :] + 0.5) / nbf[..., None]  # (N, D, K)
    dist_best = (centers - x_best[:, :D, None]).abs() * has_hist[:, None, None]
    bins = torch.stack([centers, count / n[:, None, None], (count > 0).float(), best_in, mean_in, dist_best], -1)
    bin_mask = torch.arange(K, device=device)[None, None, :] < nb[..., None]
    continuous = is_continuous_dim(kind[:, :D], nb, choices[:, :D])
    return Features(trial, m, dim[:, :D], dim_mask[:, :D], budget, bins, nb, bin_mask, continuous)


def featurize_observations(obs: Mapping[str, np.ndarray] | list[Mapping[str, np.ndarray]], device="cpu") -> Features:
    """Featurize one env observation (dict) or a list of them."""
    batch = [obs] if isinstance(obs, Mapping) else list(obs)
    st = {k: np.stack([np.asarray(o[k]) for o in batch]) for k in ("x", "y", "mask", "step_fraction", "dim_kind", "dim_choices", "dim_log")}
    return featurize(st["x"], st["y"], st["mask"], st["step_fraction"], st["dim_kind"], st["dim_choices"], st["dim_log"], device)


class HistoryEncoder(nn.Module):
    """The Transformer trunk: embeds [budget token, dimension tokens, trial tokens] and encodes them jointly.

    Its own class so that the PPO-critic ablation's value network (``critic.py``) can have the policy's
    trunk without carrying an unused output head; :class:`GRPOformerPolicy` extends it (same parameter
    names, so checkpoints are unchanged)."""

    def __init__(self, config: PolicyConfig | None = None):
        super().__init__()
        self.config = cfg = config or PolicyConfig()
        d = cfg.d_model
        self.trial_in = nn.Sequential(nn.Linear(TRIAL_FEATURES, d), nn.GELU(), nn.Linear(d, d))
        self.dim_in = nn.Sequential(nn.Linear(DIM_FEATURES, d), nn.GELU(), nn.Linear(d, d))
        self.budget_in = nn.Linear(BUDGET_FEATURES, d)
        self.type_emb = nn.Parameter(torch.zeros(3, d))
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.d_ff, cfg.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)

    def state_embedding(self, f: Features) -> torch.Tensor:
        """The budget token's contextual embedding ``(N, d)``: a summary of the whole state (the critic reads it)."""
        return self._tokens(f)[:, 0]

    def _tokens(self, f: Features) -> torch.Tensor:
        """Encoder output for [budget, dimension, trial] tokens, final-normed ``(N, 1 + D + T, d)``."""
        N = f.dim.shape[0]
        tokens = torch.cat([
            self.budget_in(f.budget)[:, None, :] + self.type_emb[0],
            self.dim_in(f.dim) + self.type_emb[1],
            self.trial_in(f.trial) + self.type_emb[2],
        ], 1)
        valid = torch.cat([torch.ones(N, 1, dtype=torch.bool, device=f.dim.device), f.dim_mask, f.trial_mask], 1)
        return self.norm(self.encoder(tokens, src_key_padding_mask=~valid))


class GRPOformerPolicy(HistoryEncoder):
    """Transformer encoder over [budget token, dimension tokens, trial tokens]; per-bin logits per dimension."""

    def __init__(self, config: PolicyConfig | None = None):
        super().__init__(config)
        cfg, d = self.config, self.config.d_model
        self.head_ctx = nn.Linear(2 * d, cfg.head_hidden)
        self.head_bin = nn.Linear(BIN_FEATURES, cfg.head_hidden)
        self.head_out = nn.Sequential(nn.GELU(), nn.Linear(cfg.head_hidden, cfg.head_hidden), nn.GELU(), nn.Linear(cfg.head_hidden, 1))
        if cfg.autoregressive:
            self.ar_value = nn.Sequential(nn.Linear(d + VALUE_FEATURES, cfg.head_hidden), nn.GELU(),
                                          nn.Linear(cfg.head_hidden, cfg.head_hidden))
            self.ar_ctx = nn.Linear(cfg.head_hidden, cfg.head_hidden, bias=False)
            nn.init.zeros_(self.ar_ctx.weight)  # untrained: exactly the factorized policy

    @property
    def autoregressive(self) -> bool:
        return self.config.autoregressive

    def encode(self, f: Features) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder pass: dimension embeddings ``(N, D, d)`` and the head's per-bin input ``(N, D, K, H)``."""
        N, D = f.dim.shape[:2]
        h = self._tokens(f)
        ctx = torch.cat([h[:, 1:1 + D], h[:, :1].expand(N, D, -1)], -1)
        return h[:, 1:1 + D], self.head_ctx(ctx)[:, :, None, :] + self.head_bin(f.bins)

    def _masked_logp(self, head_in: torch.Tensor, bin_mask: torch.Tensor, dim_mask: torch.Tensor) -> torch.Tensor:
        """Per-bin head + masked log-softmax; padding dimensions get a harmless one-bin distribution (log p = 0 on bin 0)."""
        logits = self.head_out(head_in).squeeze(-1).masked_fill(~bin_mask, float("-inf"))
        logp = torch.log_softmax(logits, -1)
        pad = ~dim_mask
        if pad.any():
            fill = torch.full_like(logp.reshape(-1, logp.shape[-1])[0], float("-inf"))
            fill[0] = 0.0
            logp = torch.where(pad[..., None], fill, logp)
        return logp

    def forward(self, f: Features) -> torch.Tensor:
        """Masked log-probabilities over bins, shape ``(N, D, K)`` (``-inf`` on invalid bins, 0 rows on padding dims).

        For a factorized policy this is the whole distribution; for an autoregressive one it is each
        dimension's distribution *before* any value is chosen (exact for the first dimension only); use
        :meth:`action_logp` / :meth:`sample` for configurations.
        """
        return self._masked_logp(self.encode(f)[1], f.bin_mask, f.dim_mask)

    def _value_embedding(self, h_dims: torch.Tensor, bins: torch.Tensor, f: Features) -> torch.Tensor:
        """MLP of (dimension embedding, chosen bin's features) for chosen bins ``(N, G, D')``, zero on padding dims."""
        D = bins.shape[-1]
        nb = f.n_bins[:, None, :D].clamp(min=1).float()
        u = (bins.float() + 0.5) / nb
        x_best = f.dim[:, None, :D, 5 + 2 + MAX_DIMS]
        has_hist = f.dim[:, None, :D, 5 + 2 + MAX_DIMS + 1]
        inc_bin = torch.minimum((x_best * nb).long(), nb.long() - 1)
        is_inc = ((bins == inc_bin) & (has_hist > 0)).float()
        freq = torch.arange(1, 4, device=bins.device, dtype=torch.float32) * math.pi
        ang = u[..., None] * freq
        phi = torch.cat([u[..., None], torch.sin(ang), torch.cos(ang), is_inc[..., None]], -1)  # VALUE_FEATURES
        G = bins.shape[1]
        e = self.ar_value(torch.cat([h_dims[:, None, :D].expand(-1, G, -1, -1), phi], -1))
        return e * f.dim_mask[:, None, :D, None]

    def action_logp(self, f: Features, bins: torch.Tensor) -> torch.Tensor:
        """Conditional log-probabilities ``(N, G, D, K)`` of each dimension given the candidate's earlier
        dimensions, for candidates ``bins`` ``(N, G, D)`` (teacher forcing, one pass). Factorized: ``forward``
        repeated over the candidates."""
        G = bins.shape[1]
        if not self.autoregressive:
            return self(f)[:, None].expand(-1, G, -1, -1)
        h_dims, head_in = self.encode(f)
        D = h_dims.shape[1]
        e = self._value_embedding(h_dims, bins, f)
        before = torch.cumsum(e, 2) - e  # exclusive prefix sum over dimensions
        count = torch.arange(D, device=e.device, dtype=torch.float32).clamp(min=1.0)[None, None, :, None]
        cond = self.ar_ctx(before / count)
        return self._masked_logp(head_in[:, None] + cond[..., None, :], f.bin_mask[:, None], f.dim_mask[:, None])

    def sample(self, f: Features, n: int, generator: torch.Generator | None = None, temperature: float = 1.0,
               greedy: bool = False, encoded: tuple[torch.Tensor, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` configurations per state: bins ``(N, n, D)`` and their conditional log-probabilities ``(N, n, D, K)``
        (untempered: the policy's own). ``temperature`` sharpens (< 1) the per-dimension softmax used for
        drawing; ``greedy`` takes each dimension's most probable bin given the earlier ones (the mode of a
        factorized policy; a greedy decode of an autoregressive one). ``encoded`` is :meth:`encode`'s result
        for ``f``, when the caller samples twice from one state (candidates and mode)."""
        h_dims, head_in = encoded if encoded is not None else self.encode(f)
        if not self.autoregressive:
            logp = self._masked_logp(head_in, f.bin_mask, f.dim_mask)
            return draw_factorized(logp, n, generator, temperature, greedy), logp[:, None].expand(-1, n, -1, -1)
        N, D, K, H = head_in.shape
        bins = torch.zeros(N, n, D, dtype=torch.long, device=head_in.device)
        logps = []
        total = head_in.new_zeros(N, n, H)
        for j in range(D):
            cond = self.ar_ctx(total / max(j, 1))
            lp = self._masked_logp(head_in[:, None, j] + cond[:, :, None, :], f.bin_mask[:, None, j], f.dim_mask[:, None, j].expand(N, n))
            logps.append(lp)
            draw = lp if temperature == 1.0 else torch.log_softmax(lp / temperature, -1)
            if greedy:
                b = draw.argmax(-1)
            else:
                b = multinomial(draw.exp().reshape(N * n, K), 1, generator).reshape(N, n)
            bins[:, :, j] = b
            total = total + self._value_embedding(h_dims[:, j:j + 1], b[..., None], _dim_slice(f, j))[:, :, 0]
        return bins, torch.stack(logps, 2)


def _dim_slice(f: Features, j: int) -> Features:
    """The features of dimension ``j`` alone (what :meth:`GRPOformerPolicy._value_embedding` reads)."""
    return Features(f.trial, f.trial_mask, f.dim[:, j:j + 1], f.dim_mask[:, j:j + 1], f.budget, f.bins[:, j:j + 1],
                    f.n_bins[:, j:j + 1], f.bin_mask[:, j:j + 1], f.continuous[:, j:j + 1])


# -- distribution helpers (exact per dimension) ------------------------------------------------------
def _per_state(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-state ``(N, D)`` tensor in the layout of ``like``: as is for ``(N, D)``, ``(N, 1, D)`` for ``(N, G, D)``."""
    return t if like.dim() == 2 else t[:, None]


def log_prob(logp: torch.Tensor, bins: torch.Tensor, f: Features, density: bool = False) -> torch.Tensor:
    """Log-probability of bin choices ``bins`` ``(N, D)`` or ``(N, G, D)`` summed over dimensions.

    ``logp`` is the factorized ``(N, D, K)`` or the per-candidate conditional ``(N, G, D, K)``. With
    ``density=True`` it is the log-density of the action on [0, 1]^d (continuous dims add ``log K``);
    GRPO ratios use the bin log-probability (the ``log K`` terms cancel).
    """
    lp = logp if bins.dim() == 2 or logp.dim() == 4 else logp[:, None].expand(-1, bins.shape[1], -1, -1)
    out = lp.gather(-1, bins[..., None]).squeeze(-1)
    valid = _per_state(f.dim_mask, out)
    out = out * valid
    if density:
        cont = _per_state(f.continuous, out)
        out = out + torch.where(cont & valid, _per_state(f.n_bins, out).float().log(), torch.zeros_like(out))
    return out.sum(-1)


def entropy(logp: torch.Tensor, f: Features, differential: bool = False) -> torch.Tensor:
    """Entropy summed over dimensions (bins entropy; ``differential`` subtracts ``log K`` on continuous dims):
    exact per state for factorized ``(N, D, K)``; per candidate for conditional ``(N, G, D, K)`` (the sum of
    the conditional entropies along that candidate, whose mean over samples estimates the joint entropy)."""
    p = logp.exp()
    h = -(p * torch.where(p > 0, logp, torch.zeros_like(logp))).sum(-1)
    h = h * _per_state(f.dim_mask, h)
    if differential:
        h = h - torch.where(_per_state(f.continuous, h), _per_state(f.n_bins, h).clamp(min=1).float().log(), torch.zeros_like(h))
    return h.sum(-1)


def kl(logp_p: torch.Tensor, logp_q: torch.Tensor, f: Features) -> torch.Tensor:
    """``KL(p || q)`` summed over dimensions (bins of a piecewise-uniform density share widths): exact per state
    for factorized ``(N, D, K)``; per candidate for conditional ``(N, G, D, K)`` (sum of exact conditional KLs
    along a candidate drawn from ``p``: an unbiased estimate of the joint KL)."""
    p = logp_p.exp()
    diff = torch.where(p > 0, logp_p - logp_q, torch.zeros_like(logp_p))
    k = (p * diff).sum(-1)
    return (k * _per_state(f.dim_mask, k)).sum(-1)


def multinomial(probs: torch.Tensor, n: int, generator: torch.Generator | None = None,
                replacement: bool = False) -> torch.Tensor:
    """``torch.multinomial`` drawn on the generator's device, returned on ``probs``' device.

    Training, evaluation and the agent seed one CPU ``torch.Generator`` (its state is what ``--resume``
    restores), and ``torch.multinomial`` refuses a CPU generator for CUDA probabilities. Drawing on the
    generator's device keeps one seeded stream for any policy device, so a run resumes across devices and
    the same seed draws the same bins on CPU and GPU (up to the devices' float rounding of ``probs``)."""
    if generator is not None and generator.device != probs.device:
        draws = torch.multinomial(probs.to(generator.device), n, replacement=replacement, generator=generator)
        return draws.to(probs.device)
    return torch.multinomial(probs, n, replacement=replacement, generator=generator)


def sample_bins(logp: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` independent bin choices per state: ``(N, n, D)``."""
    N, D, K = logp.shape
    probs = logp.exp().reshape(N * D, K)
    idx = multinomial(probs, n, generator, replacement=True)  # (N*D, n)
    return idx.reshape(N, D, n).permute(0, 2, 1)


def draw_factorized(logp: torch.Tensor, n: int, generator: torch.Generator | None = None, temperature: float = 1.0,
                    greedy: bool = False) -> torch.Tensor:
    """``n`` bin choices ``(N, n, D)`` from per-dimension log-probabilities ``(N, D, K)``: sampled at
    ``temperature``, or the mode (``greedy``) repeated ``n`` times."""
    draw = logp if temperature == 1.0 else torch.log_softmax(logp / temperature, -1)
    return mode_bins(draw)[:, None].expand(-1, n, -1).clone() if greedy else sample_bins(draw, n, generator)


def mode_bins(logp: torch.Tensor) -> torch.Tensor:
    """The most probable bin of each dimension ``(N, D)``."""
    return logp.argmax(-1)


def bins_to_unit(bins: torch.Tensor, f: Features, rng: np.random.Generator | None = None) -> np.ndarray:
    """Actions in [0, 1]: the bin centre on exact grid dims; uniform inside the bin on continuous dims
    (centre when ``rng`` is None, i.e. deterministic mode). Works on ``(N, D)`` or ``(N, G, D)``."""
    b = bins.cpu().numpy().astype(np.float64)
    nb = f.n_bins.clamp(min=1).cpu().numpy().astype(np.float64)
    cont = f.continuous.cpu().numpy()
    if b.ndim == 3:
        nb, cont = nb[:, None, :], cont[:, None, :]
    offset = np.full(b.shape, 0.5)
    if rng is not None:
        offset = np.where(np.broadcast_to(cont, b.shape), rng.random(b.shape), 0.5)
    return np.clip((b + offset) / nb, 0.0, 1.0)


def history_bins(x: np.ndarray, n_bins: np.ndarray) -> np.ndarray:
    """Bin index of each past trial ``x`` ``(n, d)`` given each dimension's bin count ``(d,)``."""
    nb = np.maximum(np.asarray(n_bins, dtype=np.int64), 1)
    # minimum/maximum, not np.clip's slower wrapper: the fast path of every suggestion calls this
    return np.maximum(np.minimum((np.asarray(x, dtype=np.float64) * nb).astype(np.int64), nb - 1), 0)


# -- checkpoints -------------------------------------------------------------------------------------
def save_policy(policy: GRPOformerPolicy, path, extra: dict | None = None) -> None:
    """Save weights (float32) and architecture; ``extra`` holds e.g. the training task set (``{"train_tasks": [...]}``,
    which ``hpo-gym bench --protocol kfold`` needs to show that a task is held-out). Atomic: a kill while
    saving leaves the earlier file (or none), never a torn one that a later bench run would fail to read."""
    save_atomically({"config": asdict(policy.config),
                     "state_dict": {k: v.detach().cpu() for k, v in policy.state_dict().items()},
                     "extra": {"features": FEATURES_VERSION, **(extra or {})}}, path)


#: Free bytes under which a failed ``torch.save`` is put down to a full disk.
FULL_DISK_BYTES = 64 * 2**20


def save_atomically(blob: Any, path: str | Path) -> None:
    """``torch.save`` to a temp file renamed into ``path``. torch reports a write that ran out of disk as
    ``RuntimeError: [enforce fail at inline_container.cc] ... unexpected pos``, which names neither the file nor the
    disk: that becomes an ``OSError(ENOSPC)`` naming the file, which the CLI answers with the fix and how to resume."""
    try:
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)
    except RuntimeError as e:
        folder = Path(path).parent
        if folder.exists() and shutil.disk_usage(folder).free < FULL_DISK_BYTES:
            raise OSError(errno.ENOSPC, f"No space left on the disk of {folder} while saving {Path(path).name}") from e
        raise RuntimeError(f"could not save {path}: {e}") from e


def check_device(device: str | torch.device, option: str = "--device") -> torch.device:
    """The torch device ``device`` names, or a clear error before any work when this torch cannot use it
    (rather than torch's own error deep inside the first rollout or checkpoint load). ``option``: how the
    caller's user spells the setting (``--device`` on the command line, ``device`` in Python)."""
    cli = option.startswith("--")
    given = f"{option} {device}" if cli else f"{option}={str(device)!r}"
    if cli:  # --device takes one device, a benchmark's --devices a list
        cpu_fix = "leave --device out to run on the CPU" if option == "--device" else f"leave {device} out of {option}"
    else:
        cpu_fix = f"use {option}='cpu'"
    try:
        dev = torch.device(device)
    except RuntimeError:
        named = f"{option} {str(device)!r}" if cli else given
        raise ValueError(f"{named} is not a torch device; use cpu, cuda or cuda:N") from None
    if dev.type == "cpu" and dev.index is not None:  # trained, then failed to load its own checkpoints (map_location)
        raise ValueError(f"{given}: torch has one CPU device, named cpu; write cpu")
    if dev.type == "meta":
        raise ValueError(f"{given}: meta tensors hold no values, so nothing can be trained or sampled on them; {cpu_fix}")
    if dev.type not in ("cpu", "cuda"):  # xpu, mps, hpu, ...: torch failed on them only deep inside the first update
        try:
            torch.zeros(1, device=dev)
        except Exception as e:  # noqa: BLE001  (AssertionError, RuntimeError, ModuleNotFoundError by backend)
            raise ValueError(f"{given}: this torch ({torch.__version__}) cannot use {dev.type} devices "
                             f"({type(e).__name__}: {str(e)[:120]}); {cpu_fix}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{given}: this torch ({torch.__version__}) sees no CUDA device; {cpu_fix}, "
                             "or install a CUDA build of torch on a machine with a GPU")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{given}: only {torch.cuda.device_count()} CUDA device(s) here; "
                             f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return dev


def check_intact(path: str | Path) -> None:
    """``ValueError`` when a checkpoint's zip records fail their CRC-32: ``torch.load`` does not check them, so bytes
    flipped inside a tensor's record loaded as that tensor, and training or a benchmark ran on damaged weights without
    a word (found in review). A file that is no zip at all (torn, empty, foreign) is left to ``torch.load``'s own
    error, which the callers name."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError):
        return
    if damaged is not None:
        raise ValueError(f"{path} is damaged: its record {damaged} fails its checksum (a disk or copy error changed "
                         "bytes inside it); restore it from a copy, or train it again")


def load_policy(path, device: str | torch.device = "cpu") -> tuple[GRPOformerPolicy, dict]:
    """Load a checkpoint written by :func:`save_policy` (or a training checkpoint holding ``policy``)."""
    device = check_device(device, "device")
    not_ours = (f"{path} is not a GRPOformer checkpoint (policy.pt or state.pt as written by `hpo-gym train-grpoformer`)")
    check_intact(path)
    try:
        blob = torch.load(path, map_location=device, weights_only=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"GRPOformer checkpoint {path} not found; train one with `hpo-gym train-grpoformer`") from None
    except (pickle.UnpicklingError, EOFError, ValueError, OSError, RuntimeError) as e:  # RuntimeError, OSError: torn zip
        raise ValueError(f"{not_ours}: torch cannot read it ({type(e).__name__}: {e})") from None
    if isinstance(blob, dict) and "policy" in blob:  # a training-state checkpoint
        blob = blob["policy"]
    if not (isinstance(blob, dict) and isinstance(blob.get("config"), dict) and "state_dict" in blob):
        raise ValueError(f"{not_ours}: it holds no 'config' and 'state_dict'")
    config = {"autoregressive": False, **blob["config"]}  # checkpoints from before the option are factorized
    try:
        policy = GRPOformerPolicy(PolicyConfig(**config))
        policy.load_state_dict(blob["state_dict"])
    except (TypeError, ValueError, RuntimeError) as e:  # another network's weights or a config of another version
        raise ValueError(f"{not_ours}: its network does not match this version's ({type(e).__name__}: {str(e)[:300]})") from None
    policy.to(device).eval()
    meta = blob.get("extra") or {}  # a hand-made file may hold None
    version = meta.get("features", 1)
    if version != FEATURES_VERSION:
        fix = ("retrain it with `hpo-gym train-grpoformer` to score the policy on the inputs it learned from"
               if version < FEATURES_VERSION else "use the hpo-gym version that trained it")
        warnings.warn(f"{path} was trained with the policy's input features of version {version}, this version "
                      f"computes version {FEATURES_VERSION} (tied scores get their average rank); it runs, with "
                      f"different inputs where they differ; {fix}", UserWarning, stacklevel=2)
    return policy, meta
