"""Does a transferred initial design help GRPOformer? The portfolio's first k configurations, then the policy.

Why ask: the zero-shot portfolio (``agents/portfolio.py``, built from a fold's training tables) beats GRPOformer at
budget 10 (0.0135 vs 0.0176) and GRPOformer's factorized head cannot put its first proposals on one joint
configuration, so letting the portfolio play the first ``k`` trials and the policy continue from that history
might combine the two. Every warm-start trial is a real evaluation on the task and counts in the budget.

``k`` is chosen per outer fold without the fold's held-out tasks (nested, as ``grpoformer_inner_selection.py``):
each outer fold's inner 3-fold runs of the shipped recipe (policies trained on 4 of its 6 training tasks) are given
a portfolio built from the same 4 tasks and scored on the other 2 for every ``k``, over 20 seeds (100-119); the
lowest mean regret@50 over the 6 validated tasks wins. Then every ``k`` and the nested choice are scored on the
outer held-out tasks (k-fold, budget 50, 10 seeds) for each set of fold checkpoints, next to TPE::

    nice -n 10 python benchmarks/grpoformer_warm_start.py --ks 0,3,5,10 --jobs 2 \\
        --inner-runs 'runs/hp_inner_remote/inner/fold{f}/factorized/inner{k}of3/policy.pt' \\
        s0=shipped s10='runs/rep/factorized/fold{k}/policy.pt' \\
        s20='runs/rep/factorized20/fold{k}/policy.pt'

(the inner runs are trained by ``grpoformer_inner_selection.py --inner-cv 3 --recipes factorized``, the fold sets by
``hpo-gym train-grpoformer --holdout <fold k's tasks> --seed k`` and with seeds 10 + k, 20 + k.) The policy plays
alone (``select="first-new"``) unless ``--select density-ratio`` gives it the default agent's choice among its
candidates (:mod:`agents.grpoformer.candidate_selection`); under it (added 2026-11-27, rule fixed and committed before
the run) a design replaces the default agent's none only if the nested per-fold choice picks k > 0 in at least 3 of the
4 folds *and* scores a lower held-out mean regret@50 than k = 0 over the five training-seed sets; otherwise it is
reported and nothing changes. ``--ks trained`` plays
each checkpoint with the design it was trained with (``--warm-start K``), so policies trained on warm-started episodes,
or a per-fold choice between them and the shipped recipe, are scored as their agent would play them. Runs are stored
in ``--out`` and reused by a rerun.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grpoformer_fold_checkpoints import checkpoint_of, fold_sets  # noqa: E402
from grpoformer_inner_selection import fold_training_tasks  # noqa: E402

from agents.grpoformer.agent import GRPOformerAgent  # noqa: E402
from agents.grpoformer.candidate_selection import SELECTIONS  # noqa: E402
from agents.registry import make_agent  # noqa: E402
from hpo_gym.benchmark import kfold_splits, run_benchmark  # noqa: E402
from hpo_gym.benchmark.metrics import regret_by_run, require_finished_runs  # noqa: E402
from hpo_gym.suites import HPOBENCH_NN_TASKS  # noqa: E402
from hpo_gym.cli import directory, positive_int, run_script  # noqa: E402

TASKS = list(HPOBENCH_NN_TASKS)
INNER_SEEDS = list(range(100, 120))


def warm_start_agent(pattern: str, k: int | None, select: str = "first-new") -> Callable[[], GRPOformerAgent]:
    """A factory of GRPOformer agents (fold checkpoint ``{k}`` in ``pattern`` replaced by the fold index) whose first ``k`` proposals are the
    entries of a portfolio built in ``fit`` from the same training tasks; from trial ``k`` on the policy reads the whole
    history. ``k=None`` plays the design each fold's checkpoint was trained with (a per-fold recipe choice may mix them).
    ``select``: how the policy's proposal is picked among its candidates (``GRPOformerAgent(select=...)``): the policy
    alone (``"first-new"``, which the tables in docs/grpoformer.md measured) or the default agent's density ratio."""
    if k is not None and k < 0:
        raise ValueError(f"k={k}: the number of portfolio entries played first must be >= 0")
    return partial(GRPOformerAgent, checkpoint_of(pattern), warm_start=k, select=select)


def inner_selection(inner_runs: str, ks: list[int], out: Path, jobs: int, select: str = "first-new") -> pd.DataFrame:
    """Per outer fold, the mean inner regret@50 of every ``k`` over its 6 training tasks (inner 3-fold), and the choice."""
    rows = {}
    for fold in range(4):
        pattern = inner_runs.replace("{f}", str(fold))
        agents = {f"k={k}": warm_start_agent(pattern, k, select) for k in ks}
        df = run_benchmark(agents, tasks=fold_training_tasks(fold), budget=50, seeds=INNER_SEEDS, out=out / f"inner/fold{fold}",
                           jobs=jobs, protocol="kfold", folds=3, resolve_agent=make_agent, progress=False, retry_failed=True)
        require_finished_runs(df, out / f"inner/fold{fold}")
        final = regret_by_run(df, 50)
        rows[fold] = {k: final.loc[f"k={k}"].groupby("task").mean().mean() for k in ks}
    table = pd.DataFrame(rows).T.rename_axis("fold")
    table["chosen k"] = table.idxmin(axis=1).astype(int)
    return table


def heldout(sets: dict[str, str], ks: list[int], chosen: dict[int, int] | None, out: Path, jobs: int,
            select: str = "first-new") -> pd.DataFrame:
    """Every set x ``k`` (and the nested per-fold choice) on the outer held-out tasks, with TPE in the same run."""
    agents = {f"{name}@k={'trained' if k is None else k}": warm_start_agent(pattern, k, select)
              for name, pattern in sets.items() for k in ks}
    agents["tpe"] = "tpe"
    df = run_benchmark(agents, budget=50, seeds=10, out=out / "heldout", jobs=jobs, protocol="kfold", folds=4,
                       resolve_agent=make_agent, progress=True, retry_failed=True)
    require_finished_runs(df, out / "heldout")
    at10, at50 = regret_by_run(df, 10), regret_by_run(df, 50)
    per_task = {a: at50.loc[a].groupby("task").mean() for a in agents}
    curves = {a: {"regret@10": at10.loc[a].mean(), "regret@50": at50.loc[a].mean()} for a in agents}
    if chosen:
        folds = kfold_splits(TASKS, 4)
        for name in sets:
            pick = pd.concat([at50.loc[f"{name}@k={chosen[f]}"].loc[list(folds[f])] for f in range(4)])
            pick10 = pd.concat([at10.loc[f"{name}@k={chosen[f]}"].loc[list(folds[f])] for f in range(4)])
            per_task[f"{name}@nested"] = pick.groupby("task").mean()
            curves[f"{name}@nested"] = {"regret@10": pick10.mean(), "regret@50": pick.mean()}
    table = pd.DataFrame(curves).T
    table["x TPE"] = table["regret@50"] / table.loc["tpe", "regret@50"]
    return table.join(pd.DataFrame(per_task).T)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", help="NAME=PATTERN of fold checkpoints, {k} = fold index")
    ap.add_argument("--ks", default="0,3,5,10",
                    help="portfolio entries played before the policy (0 = plain GRPOformer; 'trained' = the design each "
                         "checkpoint was trained with, --warm-start)")
    ap.add_argument("--inner-runs", default="",
                    help="inner 3-fold policies, {f} = outer fold and {k} = inner fold; chooses k per fold (nested)")
    ap.add_argument("--select", choices=SELECTIONS, default="first-new",
                    help="how the policy's proposal is picked: first-new (the policy alone, as the documented tables) or "
                         "density-ratio (the default agent's choice among 32 candidates)")
    ap.add_argument("--jobs", type=positive_int, default=2)
    ap.add_argument("--out", type=directory, default=ROOT / "runs" / "warm_start")
    args = ap.parse_args(argv)
    try:
        ks = [None if k == "trained" else int(k) for k in args.ks.split(",")]
    except ValueError:
        ap.error(f"--ks {args.ks}: give whole numbers >= 0 or 'trained', e.g. 0,3,5 or trained")
    if any(k is not None and k < 0 for k in ks):
        ap.error(f"--ks {args.ks}: every k must be >= 0")
    if args.inner_runs and None in ks:
        ap.error("--inner-runs chooses among fixed k; leave 'trained' out of --ks there")
    sets = fold_sets(ap, args.sets)
    out = Path(args.out)
    chosen = None
    if args.inner_runs:
        if "{f}" not in args.inner_runs or "{k}" not in args.inner_runs:
            ap.error("--inner-runs needs {f} (outer fold) and {k} (inner fold) in its pattern")
        inner = inner_selection(args.inner_runs, ks, out, args.jobs, args.select)
        print("inner 3-fold, mean regret@50 over each fold's 6 training tasks (seeds 100-119):")
        print(inner.to_markdown(floatfmt=["g"] + [".4f"] * len(ks) + ["g"]))
        print(inner.drop(columns="chosen k").mean().rename("mean").to_frame().T.to_markdown(floatfmt=".4f"))
        chosen = inner["chosen k"].astype(int).to_dict()
    print("\nheld-out k-fold (budget 50, 10 seeds):")
    print(heldout(sets, ks, chosen, out, args.jobs, args.select).to_markdown(floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: finished inner and held-out runs are kept"))
