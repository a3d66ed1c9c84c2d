"""A NumPy forward pass of :class:`~agents.grpoformer.policy.GRPOformerPolicy` for one observation.

Why: the agent proposes one configuration per env step from one observation. The torch path
(:func:`~agents.grpoformer.policy.featurize` + ``policy(f)``) runs ~150 tiny tensor ops whose per-op
framework overhead (dispatch, autograd/inference-mode bookkeeping, ``nn.Module`` calls) dominates the
arithmetic: ~1.5 ms per suggestion for a 53k-parameter model over ~60 tokens. The same arithmetic on
plain float32 NumPy arrays costs a fraction of that.

What: :class:`FastPolicy` is built from a policy's ``state_dict`` (no parameter is renamed, the torch
module stays the training path) and computes what :func:`featurize` and :meth:`GRPOformerPolicy.forward`
compute for one state, in float32: the same tokens (trial / dimension / budget), the same pre-norm
encoder layers (multi-head self-attention with key padding, ReLU feed-forward, LayerNorm), the same
final LayerNorm, per-bin head (exact erf GELU) and masked log-softmax. Algebraically equal rewrites
that save work: LayerNorm affines folded into the following linear layer, the attention scale folded
into the query projection, the last encoder layer evaluated only for the budget and dimension rows that
the head reads, the mask multiplications dropped when every history slot is filled. The differences are
float round-off (<= 2e-5 on log-probabilities; ``tests/grpoformer/test_fast_inference.py`` checks it
against the torch policy). The within-history rank is the average rank (tied scores share the mean of their
positions, :func:`~agents.grpoformer.policy.average_rank`), a function of the scores alone, so both paths and the
training rollouts' padded histories give the same feature.

Per-search-space work (the static part of the dimension tokens and its first linear layer, the bin
layout) is cached, keyed by the descriptor arrays, since it does not change within an episode.

An autoregressive policy (``PolicyConfig.autoregressive``) is sampled dimension by dimension
(:meth:`FastPolicy.sample`): the encoder runs once, then for each dimension the head reads the running
mean of the chosen prefix's value embeddings, exactly as :meth:`GRPOformerPolicy.sample` does, with one
``torch.multinomial`` call per dimension on the caller's generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import erf

from agents.grpoformer.policy import (
    KIND_CATEGORICAL,
    KIND_ORDINAL,
    MAX_BINS,
    MAX_DIMS,
    GRPOformerPolicy,
    check_observation_widths,
)

_F32 = np.float32
_INV_SQRT2 = _F32(1.0 / math.sqrt(2.0))


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, ``nn.GELU()``'s default, in float32.

    Not ``torch.nn.functional.gelu`` on the array: torch's GELU kernel enters its intra-op thread pool even
    on a few thousand elements, and on 2 busy shared cores that cost ~8 ms per call (measured), vs ~15 us here.
    """
    return _F32(0.5) * x * (_F32(1.0) + erf(x * _INV_SQRT2))


def _normalize(x: np.ndarray, mean_vec: np.ndarray, eps: np.float32) -> np.ndarray:
    """LayerNorm without its affine part (folded into the next linear layer); means as matrix-vector products."""
    xc = x - (x @ mean_vec)[:, None]
    return xc / np.sqrt((xc * xc) @ mean_vec + eps)[:, None]


@dataclass
class _Layer:
    """One ``nn.TransformerEncoderLayer`` (norm_first=True, ReLU) as transposed float32 arrays, with the
    LayerNorm affines folded into the following linear layers and the attention scale into the queries."""

    qkv_w: np.ndarray  # (d, 3d): diag(norm1.weight) @ in_proj_weight.T, q columns times 1/sqrt(head_dim)
    qkv_b: np.ndarray
    out_w: np.ndarray  # (d, d)
    out_b: np.ndarray
    ff1_w: np.ndarray  # (d, d_ff): diag(norm2.weight) @ linear1.weight.T
    ff1_b: np.ndarray
    ff2_w: np.ndarray  # (d_ff, d)
    ff2_b: np.ndarray
    eps1: np.float32
    eps2: np.float32


@dataclass
class _SpaceCache:
    """Everything about one search-space descriptor that does not depend on the history."""

    key: bytes
    D: int                   # real dimensions (the torch path's truncation width)
    K: int                   # widest bin count
    n_bins: np.ndarray       # (D,) int64
    nbf: np.ndarray          # (D,) float32, n_bins clamped to >= 1
    nb_minus1: np.ndarray    # (D,) int64
    continuous: np.ndarray   # (D,) bool
    dim_mask: np.ndarray     # (D,) bool
    bin_mask: np.ndarray     # (D, K) bool
    centers: np.ndarray      # (D, K) float32
    dim_pre: np.ndarray      # (D, d) float32: dim_in[0] applied to the history-independent columns
    w_xbest: np.ndarray      # (d,) dim_in[0] weight column of x_best
    w_hashist: np.ndarray    # (d,) dim_in[0] weight column of has_hist
    flat_base: np.ndarray    # (D,) int64: d * K, offsets into a flattened (D, K) array


@dataclass
class _Encoded:
    """One observation after the encoder: what the head and the autoregressive sampler read."""

    head_in: np.ndarray            # (D, K, hh): head_ctx(ctx) + head_bin(bins)
    h_dims: np.ndarray | None      # (D, d): final-norm dimension embeddings (autoregressive policies only)
    x_best: np.ndarray             # (D,) the best trial's encoded values
    has_hist: np.float32
    space: _SpaceCache
    logp: np.ndarray | None = None  # (D, K) the head's log-probabilities, computed on first use (FastPolicy.head_logp)


class FastPolicy:
    """NumPy inference of a :class:`GRPOformerPolicy` on one observation (see the module docstring).

    ``log_probs(obs)`` returns the same ``(D, K)`` log-probabilities as
    ``policy(featurize_observations(obs))[0]`` (up to float round-off), plus the bin counts and the
    continuous-dimension flags the sampler needs.
    """

    def __init__(self, policy: GRPOformerPolicy):
        # copies: for CPU float32 weights .numpy() is a view, so a later in-place change (load_state_dict, an optimizer
        # step) reached some arrays and not the transposed or folded ones: a mix of two policies (found in review)
        sd = {k: v.detach().cpu().to(torch.float32).numpy().copy() for k, v in policy.state_dict().items()}
        cfg = policy.config
        self.d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.head_dim = self.d // self.n_heads
        t = np.ascontiguousarray
        self.type_emb = sd["type_emb"]
        self.trial_w1, self.trial_b1 = t(sd["trial_in.0.weight"].T), sd["trial_in.0.bias"]
        self.trial_w2, self.trial_b2 = t(sd["trial_in.2.weight"].T), sd["trial_in.2.bias"] + self.type_emb[2]
        self.dim_w1, self.dim_b1 = t(sd["dim_in.0.weight"].T), sd["dim_in.0.bias"]
        self.dim_w2, self.dim_b2 = t(sd["dim_in.2.weight"].T), sd["dim_in.2.bias"] + self.type_emb[1]
        self.budget_w, self.budget_b = t(sd["budget_in.weight"].T), sd["budget_in.bias"] + self.type_emb[0]
        self.layers = []
        d, scale = self.d, 1.0 / math.sqrt(self.head_dim)
        for i, mod in enumerate(policy.encoder.layers):
            if mod.activation_relu_or_gelu != 1 or not mod.norm_first:
                raise ValueError("FastPolicy reproduces pre-norm ReLU encoder layers only (GRPOformerPolicy's)")
            p = f"encoder.layers.{i}."
            g1, b1 = sd[p + "norm1.weight"], sd[p + "norm1.bias"]
            w_in, b_in = sd[p + "self_attn.in_proj_weight"].T, sd[p + "self_attn.in_proj_bias"]
            qkv_w, qkv_b = g1[:, None] * w_in, b1 @ w_in + b_in
            qkv_w[:, :d] *= scale
            qkv_b[:d] *= scale
            g2, b2 = sd[p + "norm2.weight"], sd[p + "norm2.bias"]
            w1 = sd[p + "linear1.weight"].T
            self.layers.append(_Layer(
                t(qkv_w, dtype=_F32), qkv_b.astype(_F32),
                t(sd[p + "self_attn.out_proj.weight"].T), sd[p + "self_attn.out_proj.bias"],
                t(g2[:, None] * w1, dtype=_F32), (b2 @ w1 + sd[p + "linear1.bias"]).astype(_F32),
                t(sd[p + "linear2.weight"].T), sd[p + "linear2.bias"],
                _F32(mod.norm1.eps), _F32(mod.norm2.eps),
            ))
        self.mean_vec = np.full(d, 1.0 / d, _F32)
        # final LayerNorm folded into head_ctx: ctx = [h_dim, h_budget] -> two (d, hh) blocks
        gn, bn, self.norm_eps = sd["norm.weight"], sd["norm.bias"], _F32(policy.norm.eps)
        wc = sd["head_ctx.weight"].T  # (2d, hh)
        self.ctx_w_dim = t(gn[:, None] * wc[:d], dtype=_F32)
        self.ctx_w_budget = t(gn[:, None] * wc[d:], dtype=_F32)
        self.ctx_b = (bn @ wc[:d] + bn @ wc[d:] + sd["head_ctx.bias"]).astype(_F32)
        self.bin_w, self.bin_b = t(sd["head_bin.weight"].T), sd["head_bin.bias"]
        self.h1_w, self.h1_b = t(sd["head_out.1.weight"].T), sd["head_out.1.bias"]
        self.out_w, self.out_b = t(sd["head_out.3.weight"][0]), sd["head_out.3.bias"][0]
        self.autoregressive = policy.autoregressive
        if self.autoregressive:  # the prefix MLP reads the *affine* final-norm output of the dimension tokens
            self.norm_g, self.norm_b = gn, bn
            w1 = sd["ar_value.0.weight"].T  # (d + VALUE_FEATURES, hh)
            self.arv_w_dim, self.arv_w_val, self.arv_b1 = t(w1[:d]), t(w1[d:]), sd["ar_value.0.bias"]
            self.arv_w2, self.arv_b2 = t(sd["ar_value.2.weight"].T), sd["ar_value.2.bias"]
            self.arc_w = t(sd["ar_ctx.weight"].T)
        self._space: _SpaceCache | None = None

    # -- per-space cache -----------------------------------------------------------------------------
    def _space_cache(self, kind: np.ndarray, choices: np.ndarray, logf: np.ndarray) -> _SpaceCache:
        key = kind.tobytes() + choices.tobytes() + logf.tobytes()
        if self._space is not None and self._space.key == key:
            return self._space
        dim_mask_full = kind > 0
        D = max(int(dim_mask_full.sum()), 1)
        grid = (kind == KIND_ORDINAL) | (kind == KIND_CATEGORICAL)
        ch = choices.astype(np.int64)
        nb_full = np.where(grid & (ch <= MAX_BINS) & (ch >= 1), ch, MAX_BINS)
        nb_full = np.where(kind == 0, 0, nb_full)
        nb = nb_full[:D]
        K = max(int(nb.max()), 1)
        nbf = np.maximum(nb, 1).astype(_F32)
        cont = (kind[:D] > 0) & ~(grid[:D] & (ch[:D] == nb))
        # the dimension token's history-independent columns: kind one-hot, log #choices, log flag, slot, mask
        static = np.zeros((MAX_DIMS, 26), _F32)
        static[np.arange(MAX_DIMS), kind] = 1.0
        static[:, 5] = np.minimum(np.log1p(choices) / _F32(math.log(1 + 1000.0)), _F32(2.0))
        static[:, 6] = logf
        static[:, 7:7 + MAX_DIMS] = np.eye(MAX_DIMS, dtype=_F32)
        static[:, 25] = dim_mask_full
        self._space = _SpaceCache(
            key=key, D=D, K=K, n_bins=nb, nbf=nbf, nb_minus1=nbf.astype(np.int64) - 1, continuous=cont,
            dim_mask=dim_mask_full[:D], bin_mask=np.arange(K)[None, :] < nb[:, None],
            centers=((np.arange(K, dtype=_F32)[None, :] + _F32(0.5)) / nbf[:, None]).astype(_F32),
            dim_pre=(static[:D] @ self.dim_w1 + self.dim_b1).astype(_F32),
            w_xbest=self.dim_w1[23], w_hashist=self.dim_w1[24], flat_base=np.arange(D) * K,
        )
        return self._space

    def _history(self, obs: Mapping[str, np.ndarray], sc: _SpaceCache, T: int):
        """Trial tokens ``(T, TRIAL_FEATURES)``, per-bin statistics ``(D, K, 6)``, the best trial's values
        ``(D,)`` and ``n`` for a history of ``T >= 1`` filled slots (the first ``T``; ``featurize`` with
        every mask entry 1, so the mask multiplications are dropped)."""
        D, K = sc.D, sc.K
        x = np.asarray(obs["x"], dtype=_F32)[:T]
        y = np.asarray(obs["y"], dtype=_F32)[:T]
        n = _F32(T)
        # score normalized within the history: z-score, min-max, rank, best flag
        y64 = y.astype(np.float64)  # the z-score in float64, as in featurize (float32 was noise on near-tied scores)
        yc = y64 - y64.sum() / T
        std = np.sqrt((yc * yc).sum() / T)
        z = np.minimum(np.maximum(yc / (std + 1e-8), -5.0), 5.0).astype(_F32)
        ymin, ymax = y.min(), y.max()
        diff = ymax - ymin
        if not diff > 0:  # equal scores have z 0, as in featurize
            z = np.zeros(T, _F32)
        ymm = (y - ymin) / diff if diff > 1e-12 else np.ones(T, _F32)  # all-equal history: every trial is "best"
        # average rank, as policy.average_rank: trials below, plus half the other trials tied with it
        rank = ((y[None, :] < y[:, None]).sum(1) + ((y[None, :] == y[:, None]).sum(1) - 1) / 2).astype(_F32)
        best = int(np.argmax(y))
        trial = np.zeros((T, MAX_DIMS + 5), _F32)
        Dx = min(x.shape[1], MAX_DIMS)
        trial[:, :Dx] = x[:, :Dx]
        trial[:, MAX_DIMS] = z
        trial[:, MAX_DIMS + 1] = ymm
        trial[:, MAX_DIMS + 2] = rank / max(n - _F32(1.0), _F32(1.0))
        trial[best, MAX_DIMS + 3] = 1.0
        trial[:, MAX_DIMS + 4] = 1.0
        x_best = trial[best, :D].copy()

        # per-bin statistics: count, occupied flag, best and mean min-max score in the bin, distance to x_best
        bin_idx = np.maximum(np.minimum((trial[:, :D] * sc.nbf).astype(np.int64), sc.nb_minus1), 0)  # (T, D)
        flat = (bin_idx + sc.flat_base).ravel()
        yrep = np.repeat(ymm, D)
        count = np.bincount(flat, minlength=D * K).astype(_F32).reshape(D, K)
        ysum = np.bincount(flat, weights=yrep, minlength=D * K).astype(_F32).reshape(D, K)
        best_in = np.full(D * K, -1.0, _F32)
        np.maximum.at(best_in, flat, yrep)
        occupied = count > 0
        bins = np.empty((D, K, 6), _F32)
        bins[..., 0] = sc.centers
        bins[..., 1] = count / n
        bins[..., 2] = occupied
        bins[..., 3] = best_in.reshape(D, K)
        bins[..., 4] = np.where(occupied, ysum / np.maximum(count, _F32(1.0)), _F32(-1.0))
        bins[..., 5] = np.abs(sc.centers - x_best[:, None])
        return trial, bins, x_best, n

    # -- featurize + forward -------------------------------------------------------------------------
    def log_probs(self, obs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, _SpaceCache]:
        """Masked bin log-probabilities ``(D, K)`` of one observation, and the space's bin layout
        (``policy(f)[0]``: for an autoregressive policy, each dimension before any value is chosen)."""
        enc = self.encode(obs)
        return self.head_logp(enc), enc.space

    def head_logp(self, enc: _Encoded) -> np.ndarray:
        """The head's ``(D, K)`` log-probabilities for an encoded observation (cached on it: the agent may read
        them twice, for the candidates and for the mode)."""
        if enc.logp is None:
            enc.logp = self._head_logp(enc.head_in, enc.space)
        return enc.logp

    def sample(self, obs: Mapping[str, np.ndarray], n: int, generator: torch.Generator | None, temperature: float = 1.0,
               greedy: bool = False, encoded: _Encoded | None = None) -> tuple[np.ndarray, _SpaceCache]:
        """``n`` candidate bin vectors ``(n, D)``: :meth:`GRPOformerPolicy.sample` for one observation, with the
        same ``torch.multinomial`` calls on the same generator (so a seeded agent draws what the torch path
        draws). ``encoded`` reuses :meth:`encode`'s result for a second call on the same observation."""
        enc = encoded or self.encode(obs)
        sc = enc.space
        if not self.autoregressive:
            logp = self.head_logp(enc)
            if temperature != 1.0:
                logp = tempered_log_probs(logp, temperature)
            if greedy:
                return np.repeat(logp.argmax(-1)[None], n, 0), sc
            # sample_bins: one multinomial over the D rows
            idx = torch.multinomial(torch.from_numpy(np.exp(logp)), n, replacement=True, generator=generator)
            return idx.numpy().T, sc
        D = sc.D
        bins = np.zeros((n, D), np.int64)
        total = np.zeros((n, self.arc_w.shape[0]), _F32)
        h_dims = enc.h_dims @ self.arv_w_dim + self.arv_b1  # (D, hh): the dimension half of ar_value's first layer
        freq = np.arange(1, 4, dtype=_F32) * _F32(math.pi)
        for j in range(D):
            cond = (total / _F32(max(j, 1))) @ self.arc_w  # (n, hh)
            row_mask = sc.bin_mask[j:j + 1]
            lp = self._head_logp(enc.head_in[j][None] + cond[:, None, :], sc, row_mask, sc.dim_mask[j])  # (n, K)
            draw = lp if temperature == 1.0 else tempered_log_probs(lp, temperature)
            if greedy:
                b = draw.argmax(-1)
            else:
                b = torch.multinomial(torch.from_numpy(np.exp(draw)), 1, generator=generator).numpy()[:, 0]
            bins[:, j] = b
            if not sc.dim_mask[j]:
                continue
            u = (b.astype(_F32) + _F32(0.5)) / sc.nbf[j]
            inc = min(int(enc.x_best[j] * sc.nbf[j]), int(sc.nb_minus1[j]))
            is_inc = ((b == inc) & (enc.has_hist > 0)).astype(_F32)
            ang = u[:, None] * freq
            phi = np.concatenate([u[:, None], np.sin(ang), np.cos(ang), is_inc[:, None]], 1)
            total = total + (_gelu(h_dims[j] + phi @ self.arv_w_val) @ self.arv_w2 + self.arv_b2)
        return bins, sc

    def _head_logp(self, head_in: np.ndarray, sc: _SpaceCache, bin_mask: np.ndarray | None = None,
                   dim_mask: np.ndarray | bool | None = None) -> np.ndarray:
        """The per-bin head MLP and masked log-softmax on ``head_in`` ``(..., K, hh)``; ``bin_mask`` /
        ``dim_mask`` default to the space's ``(D, K)`` / ``(D,)`` layout."""
        bin_mask = sc.bin_mask if bin_mask is None else bin_mask
        dim_mask = sc.dim_mask if dim_mask is None else np.asarray(dim_mask)
        z2 = _gelu(_gelu(head_in) @ self.h1_w + self.h1_b)
        logits = np.where(bin_mask, z2 @ self.out_w + self.out_b, _F32(-np.inf))
        mx = logits.max(-1, keepdims=True)
        sh = logits - mx
        logp = sh - np.log(np.exp(sh).sum(-1, keepdims=True))
        if dim_mask.ndim == 0:  # one dimension for all rows (the autoregressive sampler)
            if not dim_mask:  # a padding dimension: the torch path's one-bin distribution
                logp[...] = -np.inf
                logp[..., 0] = 0.0
        else:
            pad = ~dim_mask
            if pad.any():  # padding dimensions: the torch path's one-bin distribution
                logp[pad] = -np.inf
                logp[pad, 0] = 0.0
        return logp.astype(_F32, copy=False)

    def encode(self, obs: Mapping[str, np.ndarray]) -> _Encoded:
        """Featurize + encoder for one observation: the head's per-bin input and what the sampler needs."""
        kind = np.asarray(obs["dim_kind"]).astype(np.int64, copy=False)
        choices = np.asarray(obs["dim_choices"], dtype=_F32)
        logf = np.asarray(obs["dim_log"], dtype=_F32)
        Dobs = kind.shape[0]
        check_observation_widths(np.shape(obs["x"])[-1], kind, choices, logf)
        if Dobs > MAX_DIMS:
            raise ValueError(f"GRPOformer handles at most {MAX_DIMS} hyperparameters, the observation has {Dobs} slots")
        if Dobs < MAX_DIMS:
            pad = MAX_DIMS - Dobs
            kind = np.concatenate([kind, np.zeros(pad, np.int64)])
            choices = np.concatenate([choices, np.zeros(pad, _F32)])
            logf = np.concatenate([logf, np.zeros(pad, _F32)])
        sc = self._space_cache(kind, choices, logf)
        D, K = sc.D, sc.K

        mask = np.asarray(obs["mask"])
        n_valid = int(np.count_nonzero(mask))
        if n_valid and not mask[:n_valid].all():  # filled slots not first (the env fills in order): keep only them
            keep = mask.astype(bool)
            obs = {**obs, "x": np.asarray(obs["x"])[keep], "y": np.asarray(obs["y"])[keep]}
        if n_valid:
            trial, bins, x_best, n = self._history(obs, sc, n_valid)
            has_hist, key_bias = _F32(1.0), None
        else:  # empty history: the torch path keeps one all-masked trial slot (a zero token, masked as a key)
            trial, x_best, n, has_hist = np.zeros((1, MAX_DIMS + 5), _F32), np.zeros(D, _F32), _F32(1.0), _F32(0.0)
            bins = np.zeros((D, K, 6), _F32)
            bins[..., 0] = sc.centers
            bins[..., 3:5] = -1.0
            key_bias = np.zeros(2 + D, _F32)
            key_bias[-1] = -np.inf

        # -- tokens
        sf = _F32(np.asarray(obs["step_fraction"], dtype=_F32).reshape(-1)[0])
        budget = np.array([sf, _F32(1.0) - sf, n / _F32(100.0) * has_hist], _F32)
        dim_h = sc.dim_pre + x_best[:, None] * sc.w_xbest + has_hist * sc.w_hashist
        hidden = _gelu(np.concatenate([dim_h, trial @ self.trial_w1 + self.trial_b1], 0))  # one GELU call for both MLPs
        tokens = np.concatenate([
            (budget @ self.budget_w + self.budget_b)[None, :],
            hidden[:D] @ self.dim_w2 + self.dim_b2,
            hidden[D:] @ self.trial_w2 + self.trial_b2,
        ], 0)
        if not sc.dim_mask.all():  # (only a space with no dimension at all has a padding dimension token)
            kv = np.concatenate([[True], sc.dim_mask, [n_valid > 0]])
            key_bias = np.where(kv, _F32(0.0), _F32(-np.inf))

        # -- encoder (pre-norm), then the final norm
        # Only the budget and dimension tokens' outputs are read by the head, so the last layer computes
        # queries, attention output and feed-forward for those 1 + D rows only (keys/values: all tokens).
        L, d, H, hd = tokens.shape[0], self.d, self.n_heads, self.head_dim
        h = tokens
        last = len(self.layers) - 1
        mv = self.mean_vec
        for i, ly in enumerate(self.layers):
            qkv = _normalize(h, mv, ly.eps1) @ ly.qkv_w + ly.qkv_b  # (L, 3d), q pre-scaled
            Lq = 1 + D if i == last else L
            q = qkv[:Lq, :d].reshape(Lq, H, hd).transpose(1, 0, 2)
            k = qkv[:, d:2 * d].reshape(L, H, hd).transpose(1, 2, 0)
            v = qkv[:, 2 * d:].reshape(L, H, hd).transpose(1, 0, 2)
            s = q @ k  # (H, Lq, L)
            if key_bias is not None:
                s += key_bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            att = (s @ v).transpose(1, 0, 2).reshape(Lq, d)
            h = h[:Lq] + (att @ ly.out_w + ly.out_b)
            h = h + (np.maximum(_normalize(h, mv, ly.eps2) @ ly.ff1_w + ly.ff1_b, _F32(0.0)) @ ly.ff2_w + ly.ff2_b)
        hn = _normalize(h[:1 + D], mv, self.norm_eps)

        # -- the per-bin head's input (the head itself: _head_logp)
        ctx = hn[1:] @ self.ctx_w_dim + (hn[0] @ self.ctx_w_budget + self.ctx_b)  # (D, hh)
        z1 = ctx[:, None, :] + (bins @ self.bin_w + self.bin_b)  # (D, K, hh)
        h_dims = hn[1:] * self.norm_g + self.norm_b if self.autoregressive else None
        return _Encoded(z1, h_dims, x_best, has_hist, sc)


def tempered_log_probs(logp: np.ndarray, temperature: float) -> np.ndarray:
    """``log_softmax(logp / temperature)`` over the last axis (masked ``-inf`` bins stay ``-inf``): the NumPy
    twin of the torch path's ``torch.log_softmax(logp / temperature, -1)``, in float32."""
    z = np.asarray(logp, dtype=_F32) / _F32(temperature)
    z = z - z.max(-1, keepdims=True)
    return (z - np.log(np.exp(z).sum(-1, keepdims=True))).astype(_F32, copy=False)
