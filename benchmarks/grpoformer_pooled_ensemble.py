"""Does pooling the candidates of GRPOformer policies trained with different seeds lower regret on unseen tasks?

The training seed moves a fold checkpoint's held-out regret more than any recipe change did, and choosing a seed by its
training tasks gained nothing (``grpoformer_seed_selection.py``). A pooled ensemble (:class:`PooledEnsemble`: each of M
members draws its share of the 32 candidates, the density ratio picks among them) turns the seeds' spread into a
mixture. The adoption rule (``docs/grpoformer.md``, "Pooling the candidates of several training seeds") was committed
before any run:

1. *Inner stage* (no outer held-out task is loaded). ``--inner NAME=PATTERN`` names one seed's inner 3-fold policies
   (``{f}`` = outer fold, ``{k}`` = inner fold), in order. Per inner split (4 outer folds x 3), the pooled ensemble of
   the first M seeds (each M of ``--sizes``) plays the split's 2 unseen tasks with the default agent's settings (budget
   50, inner seeds from 100), as does each seed alone; the split's *gain* is the ensemble's regret@50 minus the mean of
   its members'. The largest size decides: adopted only if its mean gain over the 12 splits lies below zero by more than
   two standard errors; then the smallest size that also passes is the one to ship.
2. *Held-out* (reports only): ``--outer NAME=PATTERN`` sets of fold checkpoints (``{k}`` = fold, or ``shipped``) and
   ``--groups GROUP=NAME,NAME,...`` pooled ensembles of them, scored in one k-fold harness run (4 folds, budget 50, seeds
   0-9) with every member set alone, Random and TPE; each group against the mean of its members, paired by task and
   seed.

::

    I='runs/inner_v2/fold{f}/factorized'
    nice -n 10 python benchmarks/grpoformer_pooled_ensemble.py \\
        --inner s0="$I/inner{k}of3/policy.pt" s10="$I+seed=10/inner{k}of3/policy.pt" ... \\
        --outer s0=shipped s10='runs/rep_v3/s10/fold{k}/policy.pt' ... \\
        --groups first5=s0,s10,s20,s30,s40 new4=s50,s60,s70,s80

Runs are stored under ``--out`` (default ``runs/grpoformer_pooled_ensemble``), so a rerun continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grpoformer_ensemble import PooledEnsemble  # noqa: E402
from grpoformer_fold_checkpoints import fold_sets, stage_agent, targets_columns  # noqa: E402
from grpoformer_inference_settings import inner_policy_runs  # noqa: E402
from grpoformer_inner_selection import inner_splits  # noqa: E402
from grpoformer_recipe_unseen import AGENT, inner_play_options, parsed_patterns  # noqa: E402
from grpoformer_seed_selection import ADOPT_SES, outer_checkpoint, verdict  # noqa: E402
from agents.registry import make_agent  # noqa: E402
from agents.grpoformer.agent import (GRPOformerAgent, check_fold_checkpoint, fold_file, load_fold_policy,  # noqa: E402
                                     trained_warm_start)
from agents.grpoformer.policy import load_policy  # noqa: E402
from hpo_gym.benchmark import run_benchmark  # noqa: E402
from hpo_gym.benchmark.metrics import regret_by_run, require_finished_runs  # noqa: E402
from hpo_gym.benchmark.report import json_value  # noqa: E402
from hpo_gym.cli import named_values, positive_int, run_script  # noqa: E402
from hpo_gym.fingerprint import files_fingerprint  # noqa: E402


#: Version of :class:`PooledEnsemble`'s draw (ceil(n / M) per member, one shuffle, the first n kept), part of the
#: fingerprint: bump it when the draw changes, so that stored runs of the old one are not handed out as the new one's.
POOL_SCHEME = 1


class PooledAgent(GRPOformerAgent):
    """The default agent (density ratio over 32 candidates) proposing from a :class:`PooledEnsemble` (torch path).

    Args:
        checkpoints: the members' checkpoint files, one run's policies (protocol "all").
        fold_checkpoints: ``{fold: member files}`` instead, for the k-fold protocol: ``fit(train, seed=fold)`` loads
            the fold's members and refuses one trained on other tasks than the fold's."""

    def __init__(self, checkpoints: Sequence[str] = (), fold_checkpoints: Mapping[int, Sequence[str]] | None = None):
        self.fold_checkpoints = {int(k): [str(p) for p in v] for k, v in (fold_checkpoints or {}).items()}
        self.member_files = [str(p) for p in checkpoints]
        if bool(self.member_files) == bool(self.fold_checkpoints):
            raise ValueError("give the members' checkpoints, or their files per fold (fold_checkpoints), not both")
        first = self.member_files[0] if self.member_files else min(self.fold_checkpoints.items())[1][0]
        super().__init__(first, fast=False)  # loads the first member
        if self.member_files:
            assert self.policy is not None
            self._pool([(self.policy, self.meta)] + [load_policy(p, self.device) for p in self.member_files[1:]])

    def _pool(self, loaded: list[tuple[torch.nn.Module, dict]]) -> None:
        trained = {tuple(sorted(meta.get("train_tasks", []))) for _, meta in loaded}
        if len(trained) != 1:
            raise ValueError(f"pooled members were trained on different task sets {sorted(trained)}: a member trained "
                             "on a task another member holds out would score it in-sample")
        if any(trained_warm_start(meta) for _, meta in loaded):
            raise ValueError("a pooled member was trained with --warm-start (it opens runs with a portfolio the pool "
                             "does not build): pool members trained without it")
        self.policy, self.meta = PooledEnsemble([p for p, _ in loaded]).eval(), loaded[0][1]

    def fit(self, train_objectives, seed: int = 0) -> None:
        if not self.fold_checkpoints:
            return
        self._pool([load_fold_policy(p, train_objectives, seed, self.device) for p in self._fold_members(seed)])

    def _fold_members(self, fold: int) -> list[str]:
        """Fold ``fold``'s member files; a ``ValueError`` when none were given for it."""
        if fold not in self.fold_checkpoints:
            raise ValueError(f"no pooled members for fold {fold} (given for folds {sorted(self.fold_checkpoints)})")
        return self.fold_checkpoints[fold]

    def check_plan(self, protocol, held_out_by_fold, task_names) -> None:
        """Before a k-fold benchmark runs: every fold has members, each trained on exactly the fold's training tasks
        (``fit`` would refuse them one fold at a time, after other folds' runs were stored)."""
        if protocol != "kfold":
            return
        if not self.fold_checkpoints:
            raise ValueError("a k-fold benchmark needs the members per fold: PooledAgent(fold_checkpoints={fold: files})")
        for k, held in held_out_by_fold.items():
            train = [t for t in task_names if t not in held]
            for path in self._fold_members(k):
                check_fold_checkpoint(path, load_policy(path, "cpu")[1].get("train_tasks", []), train, k)

    @property
    def fingerprint(self) -> str:
        """The members' files (per fold, in order), the pooling scheme's version (stored runs of another scheme are
        not this one's) and the play settings."""
        if self.member_files:
            files = files_fingerprint(self.member_files)
        else:
            files = "|".join(f"{k}:{files_fingerprint(v)}" for k, v in sorted(self.fold_checkpoints.items()))
        return files + f"+pooled(v{POOL_SCHEME})" + self.selection_tag + self.play_tag


def pooled_inner_runs(patterns: Sequence[str], budget: int, seeds: list[int], out: Path, jobs: int) -> pd.DataFrame:
    """Regret@``budget`` of the pooled ensemble of ``patterns``' inner policies on each inner split's unseen tasks
    (rows: one per task and seed, with ``fold`` and ``inner`` columns)."""
    frames = []
    for f in range(4):
        for k, (_, inner_val) in enumerate(inner_splits(f, 3)):
            members = [fold_file(p.replace("{f}", str(f)), k) for p in patterns]
            df = run_benchmark({"pooled": partial(PooledAgent, members)}, inner_val, budget=budget, seeds=seeds,
                               out=out / f"fold{f}" / f"inner{k}", jobs=jobs, protocol="all", retry_failed=True)
            require_finished_runs(df, out)
            frames.append(regret_by_run(df, budget).loc["pooled"].rename("regret").reset_index().assign(fold=f, inner=k))
    return pd.concat(frames)


def inner_stage(patterns: dict[str, str], sizes: list[int], budget: int, seeds: list[int], out: Path,
                jobs: int) -> tuple[pd.DataFrame, dict]:
    """Per inner split and ensemble size: the pooled ensemble's unseen regret@``budget``, its members' mean and the
    gain; and the verdict (the largest size decides; the smallest size that also passes ships)."""
    names = list(patterns)
    alone = {name: inner_policy_runs({AGENT: {}}, pattern, budget, seeds, out / "members" / name, played="unseen")
             .groupby(["fold", "inner"])[f"regret@{budget}"].mean() for name, pattern in patterns.items()}
    rows, passes, gains = [], {}, {}
    for m in sizes:
        pooled = pooled_inner_runs([patterns[n] for n in names[:m]], budget, seeds, out / f"pooled{m}", jobs)
        per_split = pooled.groupby(["fold", "inner"])["regret"].mean()
        members = pd.concat([alone[n] for n in names[:m]], axis=1).mean(axis=1)
        gain = per_split - members
        mean, se, ok = verdict(gain)
        passes[m], gains[m] = ok, {"pooled": float(per_split.mean()), "members' mean": float(members.mean()),
                                   "mean gain": mean, "gain s.e.": se}
        rows += [{"members": m, "fold": f, "inner": k, "pooled": per_split[(f, k)], "members' mean": members[(f, k)],
                  "gain": gain[(f, k)]} for f, k in per_split.index]
        print(f"pooled {m} ({', '.join(names[:m])}): unseen regret@{budget} {per_split.mean():.4f} against its members' "
              f"{members.mean():.4f}; mean gain {mean:+.5f} ± {se:.5f} over {len(gain)} splits "
              f"({'passes' if ok else 'does not pass'} the rule: below zero by more than {ADOPT_SES:g} s.e.)")
    adopted = passes[max(sizes)]
    ship = min(m for m in sizes if passes[m]) if adopted else None
    return pd.DataFrame(rows).set_index(["members", "fold", "inner"]), {"adopted": adopted, "ship_members": ship,
                                                                         "passes": passes, "gains": gains}


def heldout_stage(sets: dict[str, str], groups: dict[str, list[str]], budget: int, seeds: int, out: Path,
                  jobs: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every group pooled, every member set alone (density ratio), Random and TPE in one k-fold harness run: regret@b,
    x TPE, tasks beaten Random, and each group's paired difference to the mean of its members."""
    agents = {f"pooled@{g}": partial(PooledAgent, fold_checkpoints={k: [str(outer_checkpoint(sets[n], k)) for n in names]
                                                                    for k in range(4)})
              for g, names in groups.items()}
    agents.update({f"grpoformer@{n}": stage_agent(p, "density-ratio") for n, p in sets.items()})
    agents.update({"random": "random", "tpe": "tpe"})
    df = run_benchmark(agents, budget=budget, seeds=seeds, out=out, jobs=jobs, protocol="kfold", folds=4,
                       resolve_agent=make_agent, retry_failed=True)
    require_finished_runs(df, out)
    final = regret_by_run(df, budget)
    per_task = pd.DataFrame({a: final.loc[a].groupby("task").mean() for a in agents})
    table = targets_columns(pd.DataFrame({f"regret@{budget}": per_task.mean()}), per_task, budget)
    for g, names in groups.items():
        members = pd.concat([final.loc[f"grpoformer@{n}"] for n in names], axis=1).mean(axis=1)
        diff = final.loc[f"pooled@{g}"] - members
        table.loc[f"pooled@{g}", "members' mean"] = members.mean()
        table.loc[f"pooled@{g}", "vs members' mean"] = diff.mean()
        table.loc[f"pooled@{g}", "paired s.e."] = diff.std(ddof=1) / np.sqrt(len(diff))
    return table, per_task


def parsed_groups(ap: argparse.ArgumentParser, texts: list[str], sets: Mapping[str, str]) -> dict[str, list[str]]:
    """``GROUP=NAME,NAME,...`` arguments, each name one of ``--outer``'s and each group of at least two."""
    try:
        groups = {g: v.split(",") for g, v in named_values(texts, "group", "first5=s0,s10,s20", "NAMES").items()}
    except ValueError as err:
        ap.error(str(err))
    for g, names in groups.items():
        if len(set(names)) != len(names):
            ap.error(f"--groups {g}: a set is named twice in {names}; pool each set once")
        unknown = [n for n in names if n not in sets]
        if unknown or len(names) < 2:
            ap.error(f"--groups {g}: give at least two of --outer's set names ({', '.join(sets)}); "
                     + (f"unknown: {', '.join(unknown)}" if unknown else f"got {names}"))
    return groups


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inner", nargs="+", required=True, metavar="NAME=PATTERN",
                    help="one seed's inner 3-fold policies per argument, in order; {f} = outer fold, {k} = inner fold")
    ap.add_argument("--sizes", default="2,3,5", help="ensemble sizes: the first M --inner seeds (default 2,3,5)")
    ap.add_argument("--outer", nargs="*", default=[], metavar="NAME=PATTERN", help="fold checkpoint sets for the "
                    "held-out report ({k} = fold, or shipped)")
    ap.add_argument("--groups", nargs="*", default=[], metavar="GROUP=NAME,NAME", help="pooled ensembles of --outer sets")
    ap.add_argument("--jobs", type=positive_int, default=2)
    inner_play_options(ap, "grpoformer_pooled_ensemble")
    args = ap.parse_args(argv)
    patterns = parsed_patterns(ap, args.inner)
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",")})
    except ValueError:
        ap.error(f"--sizes {args.sizes!r}: give comma-separated member counts, e.g. 2,3,5")
    if sizes[0] < 2 or sizes[-1] > len(patterns):
        ap.error(f"--sizes {args.sizes}: each size must lie between 2 and the {len(patterns)} --inner seeds")
    sets = fold_sets(ap, args.outer) if args.outer else {}
    groups = parsed_groups(ap, args.groups, sets) if args.groups else {}
    torch.set_num_threads(1)
    out = Path(args.out)
    inner_seeds = list(range(100, 100 + args.seeds))
    table, result = inner_stage(patterns, sizes, args.budget, inner_seeds, out / "inner", args.jobs)
    wide = table.unstack("members")
    wide.columns = [f"{what}, {m} members" for what, m in wide.columns]
    print(wide.to_markdown(floatfmt=".4f"))
    print(f"\nverdict: {'ADOPTED, ship ' + str(result['ship_members']) + ' members' if result['adopted'] else 'not adopted'}")
    if groups:
        heldout, per_task = heldout_stage(sets, groups, args.budget, 10, out / "heldout", args.jobs)
        print("\nHeld-out k-fold (reports only):")
        print(heldout.to_markdown(floatfmt=".4f"))
        print()
        print(per_task.to_markdown(floatfmt=".4f"))
        result["heldout"] = json_value(heldout.reset_index(names="agent").to_dict("records"))  # NaN as null
    result["splits"] = json_value(table.reset_index().to_dict("records"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "verdict.json").write_text(json.dumps(
        {"inner": patterns, "sizes": sizes, "budget": args.budget, "seeds": inner_seeds, **result,
         "passes": {str(k): v for k, v in result["passes"].items()},
         "gains": {str(k): v for k, v in result["gains"].items()}}, indent=1, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: finished runs are kept in --out"))
