"""Does averaging GRPOformer policies trained with different seeds lower held-out regret?

Training-seed variance is large per task (blood_transfusion moves between 0.033 and 0.050 across
training seeds with the same recipe), so an ensemble of the fold checkpoints of several training-seed
sets is the obvious variance-reduction experiment. Each member is a factorized GRPOformer policy; the
ensemble proposes from the *average of the members' per-dimension bin distributions* (a mixture of their
marginals, still factorized), with the agent's usual rule (G candidates, first non-repeat). It runs the
torch inference path, so its suggestion costs about one torch forward per member.

Scored with the harness on the held-out k-fold protocol (4 folds, budget 50, 10 seeds), next to every
member set alone, so all numbers come from one run with the same tasks and seeds::

    nice -n 10 python benchmarks/grpoformer_ensemble.py \\
        'runs/grpoformer_vs_tpe/fold{k}/policy.pt' 'runs/rep/factorized/fold{k}/policy.pt' \\
        'runs/rep/factorized20/fold{k}/policy.pt'

(the member sets are the shipped recipe trained with seeds k, 10 + k and 20 + k for fold k, each by
``hpo-gym train-grpoformer --holdout <fold k's 2 tasks> --seed S --out <its folder>/fold$k``: the protocol script plays
the shipped checkpoints and writes no ``runs/grpoformer_vs_tpe/fold{k}`` for the default recipe; see the training-seed
replication in docs/grpoformer.md).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # its sibling scripts, also when a test loads it from its path

from agents.grpoformer.agent import GRPOformerAgent, fold_file, load_fold_policy  # noqa: E402
from agents.grpoformer.policy import Features, GRPOformerPolicy, draw_factorized  # noqa: E402
from hpo_gym.benchmark import run_benchmark  # noqa: E402
from hpo_gym.benchmark.metrics import regret_by_run, require_finished_runs  # noqa: E402
from hpo_gym.cli import add_protocol_options, directory, run_script  # noqa: E402
from hpo_gym.fingerprint import files_fingerprint  # noqa: E402
from grpoformer_fold_checkpoints import check_fold_pattern  # noqa: E402


#: The k-fold protocol's folds: one checkpoint per fold in every member set.
FOLDS = 4


class MarginalEnsemble(nn.Module):
    """Factorized GRPOformer policies whose per-dimension bin distributions are averaged.

    Offers the two calls :class:`GRPOformerAgent`'s torch path makes (``encode``, ``sample``)."""

    autoregressive = False

    def __init__(self, members: list[GRPOformerPolicy]):
        super().__init__()
        if any(m.autoregressive for m in members):
            raise ValueError(f"{type(self).__name__} combines factorized heads; got an autoregressive member")
        self.members = nn.ModuleList(members)

    def encode(self, f: Features) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [m.encode(f) for m in self.members]

    def member_logp(self, f: Features, encoded: list | None = None) -> torch.Tensor:
        """Every member's per-dimension bin log-probabilities, ``(M, N, D, K)``."""
        encoded = encoded if encoded is not None else self.encode(f)
        return torch.stack([m._masked_logp(head_in, f.bin_mask, f.dim_mask)
                            for m, (_, head_in) in zip(self.members, encoded)])

    def sample(self, f: Features, n: int, generator: torch.Generator | None = None, temperature: float = 1.0,
               greedy: bool = False, encoded: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logp = torch.logsumexp(self.member_logp(f, encoded), 0) - math.log(len(self.members))  # log of the mean
        return draw_factorized(logp, n, generator, temperature, greedy), logp[:, None].expand(-1, n, -1, -1)


class PooledEnsemble(MarginalEnsemble):
    """Factorized GRPOformer policies that share one candidate pool: each member draws ``ceil(n / M)`` of the ``n``
    candidates from its own distribution and the pool is shuffled with the run's generator, the first ``n`` kept: each
    candidate is a draw from the members' equal-weight mixture and keeps its own policy's joint draw, while the pool is
    stratified (a member supplies at most ``ceil(n / M)``, not a multinomial count). With several states (``N > 1``)
    one shuffle serves them all (the agent samples one state at a time). Why not
    :class:`MarginalEnsemble`: averaging the marginals mixes dimensions across members, so no candidate need be any
    member's, and the density ratio cannot choose between the members' regions.

    ``greedy`` (deterministic mode, ``mode_first``) proposes the mode of the averaged marginals, as
    :class:`MarginalEnsemble` does."""

    def sample(self, f: Features, n: int, generator: torch.Generator | None = None, temperature: float = 1.0,
               greedy: bool = False, encoded: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if greedy:
            return super().sample(f, n, generator, temperature, True, encoded)
        member_logp = self.member_logp(f, encoded)  # (M, N, D, K)
        share = -(-n // len(self.members))
        bins = torch.cat([draw_factorized(lp, share, generator, temperature) for lp in member_logp], 1)  # (N, M*share, D)
        owner = torch.arange(len(self.members)).repeat_interleave(share)
        keep = torch.randperm(len(owner), generator=generator)[:n]
        return bins[:, keep], member_logp[owner[keep]].permute(1, 0, 2, 3)


def ensemble_agent(patterns: list[str]) -> type[GRPOformerAgent]:
    """A GRPOformer agent class whose ``fit`` loads fold ``seed``'s checkpoint of every pattern as one ensemble."""

    class EnsembleAgent(GRPOformerAgent):
        def __init__(self):
            super().__init__(fast=False, select="first-new")  # the policies alone, as measured

        def fit(self, train_objectives, seed: int = 0) -> None:
            members = [load_fold_policy(fold_file(p, seed), train_objectives, seed, self.device)[0] for p in patterns]
            self.policy, self.meta = MarginalEnsemble(members).eval(), {"members": len(members)}

        @property
        def fingerprint(self) -> str:
            """The member sets' fold files (the parent's hashed the shipped checkpoints, which this agent never plays:
            runs of one set of patterns were handed out as another's from a reused --out)."""
            return files_fingerprint([fold_file(p, k) for p in patterns for k in range(FOLDS)])

    return EnsembleAgent


def single_agent(pattern: str) -> type[GRPOformerAgent]:
    """One member set alone, on the same (torch) inference path as the ensemble."""
    return ensemble_agent([pattern])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("patterns", nargs="+", help="fold checkpoint patterns with {k} = fold index, one per member set")
    ap.add_argument("--out", type=directory, default=ROOT / "runs" / "grpoformer_ensemble")
    add_protocol_options(ap)
    args = ap.parse_args(argv)
    for i, pattern in enumerate(args.patterns):  # files: the ensemble loads each fold's checkpoint itself
        check_fold_pattern(ap, f"member set {i}", pattern, folds=FOLDS, allow_shipped=False)
    torch.set_num_threads(1)
    agents = {f"member{i}": single_agent(p) for i, p in enumerate(args.patterns)}
    agents["ensemble"] = ensemble_agent(args.patterns)
    df = run_benchmark(agents, budget=args.budget, seeds=args.seeds, out=args.out, jobs=1, protocol="kfold", folds=FOLDS,
                       retry_failed=True)
    require_finished_runs(df, args.out)  # a mean over the runs that finished would compare the sets on different tasks
    final = regret_by_run(df, args.budget)
    members = final.drop("ensemble", level="agent").groupby(["task", "seed"]).mean()
    diff = final.loc["ensemble"] - members
    per_task = pd.DataFrame({a: final.loc[a].groupby("task").mean() for a in agents})
    print(per_task.to_markdown(floatfmt=".4f"))
    print(f"\nregret@{args.budget}: " + ", ".join(f"{a} {final.loc[a].mean():.4f}" for a in agents)
          + f"; ensemble - mean of members {diff.mean():+.4f} (paired s.e. {diff.std(ddof=1) / np.sqrt(len(diff)):.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: finished benchmark runs are kept"))
