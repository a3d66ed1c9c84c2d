"""The density-ratio choice among GRPOformer's candidates: its settings, selected on training tasks only, then scored
held-out against the policy alone.

``GRPOformerAgent(select="density-ratio")`` (the default agent) draws G candidates from the policy and proposes the new
one that a Parzen density ratio of the run's own history ranks highest (:mod:`agents.grpoformer.candidate_selection`);
the policy alone (``select="first-new"``, G = 8) proposes the first new candidate, the rule GRPO trains. Selection never
looks at a held-out task: every setting runs with each fold's shipped checkpoint on that fold's 6 *training* tasks
(protocol "all", budget 50, inner seeds from 100, disjoint from the held-out seeds 0-9), and the score is regret@50 (the
choice acts once ``select_after`` = 10 trials are in, from the 11th proposal on, so regret@10 differs between settings by
their draws alone).

1. Scan (10 inner seeds): G in {8, 16, 32, 64} x bandwidth in {0.05, 0.1, 0.2}, gamma 0.25.
2. Grid (30 inner seeds, where the scan's settings all beat the policy alone): G in {16, 32} x bandwidth in {0.05, 0.1}
   x gamma in {0.1 (Optuna's default split), 0.15}; the lowest regret@50 is chosen.
3. When the choice starts (30 inner seeds, added 2026-11-27 with its rule fixed before any run): the grid's choice with
   ``select_after`` in {5, 10 (Optuna's ``n_startup_trials``, the value set before), 20}; the lowest regret@50 is
   chosen, as in the grid.
4. Pool size (30 inner seeds, added 2026-11-27 with its rule fixed before any run): the start stage's choice with
   G in {32 (the default), 64, 128}; the scan's lowest cell was G = 64, which the grid had left out. The larger pool
   replaces G = 32 only if its inner regret@50 is lower by more than two paired standard errors (the grid is a plateau,
   so a smaller gap is read as noise); the held-out stage reports the result either way and decides nothing.
5. On tasks no played policy trained on (``--inner-runs``, added 2026-11-27; it decides nothing): stages 1-4 play fold
   checkpoints on their own training tasks, so a setting could suit a policy that knows the task. Each outer fold's
   inner 3-fold policies (trained by ``grpoformer_inner_selection.py --inner-cv 3``, each on 4 of the fold's 6
   training tasks) play the other 2 (20 inner seeds): the chosen setting against the policy alone and against one
   step either way in temperature (0.7, 1.5) and the grid's other bandwidth and gamma (0.1 and 0.15 for the chosen 0.05
   and 0.1).
6. The chosen setting and the policy alone through the held-out k-fold protocol (4 folds, budget 50, seeds 0-9)::

    nice -n 10 python benchmarks/grpoformer_candidate_selection.py \\
        --inner-runs 'runs/inner_v2/fold{f}/factorized/inner{k}of3/policy.pt'

Rerunning continues from the stored runs (``--out``, default ``runs/grpoformer_candidate_selection``).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grpoformer_inference_settings import (inner_selection, print_heldout, selection_arguments,  # noqa: E402
                                           unseen_inner_check)
from agents.grpoformer.agent import SELECT_AFTER  # noqa: E402
from hpo_gym.cli import run_script  # noqa: E402

POLICY_ALONE = "grpoformer-policy"
SCAN_SEEDS, GRID_SEEDS, UNSEEN_SEEDS = 10, 30, 20


def ratio_settings(groups: tuple[int, ...], bandwidths: tuple[float, ...], gammas: tuple[float, ...]) -> dict[str, dict]:
    return {f"ratio[G={g},bw={bw:g},gamma={ga:g}]": {"select": "density-ratio", "group_size": g, "select_bandwidth": bw,
                                                     "select_gamma": ga}
            for g, bw, ga in itertools.product(groups, bandwidths, gammas)}


def inner_table(stage: str, settings: dict[str, dict], n: int, budget: int, out: Path,
                reference: str = POLICY_ALONE) -> pd.DataFrame:
    """One inner stage: every setting on each fold's own training tasks with ``n`` inner seeds, printed and returned
    sorted by regret@``budget``, with its paired difference to ``reference``."""
    table = inner_selection(settings, budget, list(range(100, 100 + n)), out / "inner", reference, (budget,))
    print(f"Inner {stage} ({n} seeds; fold checkpoints on their own training tasks, mean over 4 folds x 6 tasks;"
          f" paired differences to {reference}):")
    print(table.to_markdown(floatfmt=".4f"))
    print()
    return table


def best_ratio(table: pd.DataFrame) -> str:
    """The stage's lowest density-ratio setting: the next stage varies one of its settings, which the policy alone
    (the reference row, which could rank first at a tiny --budget) does not have."""
    return str(next(name for name in table.index if name != POLICY_ALONE))


def start_settings(chosen: str, settings: dict[str, dict], afters: tuple[int, ...]) -> dict[str, dict]:
    """The grid's ``chosen`` setting with each ``select_after`` in ``afters``; the agent's default keeps its grid name,
    so its stored inner runs count."""
    return {chosen if a == SELECT_AFTER else f"{chosen[:-1]},after={a}]": {**settings[chosen], "select_after": a}
            for a in afters}


def pool_settings(chosen: str, setting: dict, groups: tuple[int, ...]) -> dict[str, dict]:
    """``chosen`` and the same setting with each pool size in ``groups``; ``chosen`` keeps its name, so its stored
    inner runs count."""
    return {chosen: setting, **{chosen.replace(f"G={setting['group_size']},", f"G={g},"): {**setting, "group_size": g}
                                for g in groups}}


def larger_pool_if_clear(table: pd.DataFrame, default: str) -> str:
    """The pool stage's rule: the lowest inner regret@50 replaces ``default`` only when its paired difference to it is
    below minus two standard errors."""
    best = str(table.index[0])
    row = table.loc[best]
    return best if best != default and row["score diff vs reference"] < -2 * row["paired s.e."] else default


def neighbour_settings(chosen: str, setting: dict) -> dict[str, dict]:
    """The unseen-task check's settings: ``chosen``, one step either way from it in temperature, and the grid's other
    bandwidth and gamma (0.05 <-> 0.1, 0.1 <-> 0.15), so every row is a step away whatever the grid chose."""
    out = {chosen: setting, f"{chosen[:-1]},T=0.7]": {**setting, "temperature": 0.7},
           f"{chosen[:-1]},T=1.5]": {**setting, "temperature": 1.5}}
    for key, label, (low, high) in (("select_bandwidth", "bw", (0.05, 0.1)), ("select_gamma", "gamma", (0.1, 0.15))):
        other = low if setting[key] == high else high
        out[f"{chosen[:-1]},{label}->{other:g}]"] = {**setting, key: other}
    return out


def inner_runs_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--inner-runs", default="", help="inner 3-fold policies, {f} = outer fold, {k} = inner fold: adds "
                    "the check on tasks no played policy trained on (stage 5)")


def main(argv: list[str] | None = None) -> int:
    args = selection_arguments(__doc__, "grpoformer_candidate_selection", "held-out seeds 0..n-1", argv,
                               inner_runs_option)
    if args.inner_runs and not ("{f}" in args.inner_runs and "{k}" in args.inner_runs):
        raise SystemExit(f"--inner-runs {args.inner_runs}: the pattern needs {{f}} (outer fold) and {{k}} (inner fold)")
    out = Path(args.out)
    alone = {POLICY_ALONE: {"select": "first-new"}}
    stages = [("scan", {**alone, **ratio_settings((8, 16, 32, 64), (0.05, 0.1, 0.2), (0.25,))}, SCAN_SEEDS),
              ("grid", {**alone, **ratio_settings((16, 32), (0.05, 0.1), (0.1, 0.15))}, GRID_SEEDS)]
    for stage, settings, n in stages:
        table = inner_table(stage, settings, n, args.budget, out)
    settings = {**alone, **start_settings(best_ratio(table), settings, (5, SELECT_AFTER, 20))}
    table = inner_table("start", settings, GRID_SEEDS, args.budget, out)
    chosen = best_ratio(table)
    settings = pool_settings(chosen, settings[chosen], (64, 128))
    table = inner_table("pool", settings, GRID_SEEDS, args.budget, out, reference=chosen)
    chosen = larger_pool_if_clear(table, chosen)
    print(f"chosen: {chosen}\n")
    if args.inner_runs:
        check = {POLICY_ALONE: alone[POLICY_ALONE], **neighbour_settings(chosen, settings[chosen])}
        table = unseen_inner_check(check, args.inner_runs, args.budget, list(range(100, 100 + UNSEEN_SEEDS)),
                                   out / "unseen", chosen, (args.budget,))
        print(f"On tasks the playing policy never trained on ({UNSEEN_SEEDS} seeds; inner 3-fold policies on their own "
              f"validation tasks, mean over 4 folds x 6 tasks; paired differences to {chosen}):")
        print(table.to_markdown(floatfmt=".4f"))
        print()
    print_heldout({**alone, chosen: settings[chosen]}, POLICY_ALONE, args.budget, args.seeds, out / "heldout")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: finished inner and held-out runs are kept"))
