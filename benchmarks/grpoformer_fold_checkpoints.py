"""Score sets of GRPOformer fold checkpoints side by side on the held-out k-fold protocol.

Each set is one checkpoint per fold (a path pattern with ``{k}`` = fold index): training stages of one
run (does longer training help?), or recipes (factorized vs autoregressive head, interpolated training
tasks, or the per-fold choice of ``grpoformer_inner_selection.py``). These held-out numbers report on sets; they do
not choose one to ship: choosing a stage or recipe by them would score the winner on the tasks that chose it, so a
choice goes through ``grpoformer_inner_selection.py`` (training tasks only) and this script then reports it.

The examples below name ``runs/grpoformer_vs_tpe/fold{k}/policy.pt``, the shipped recipe trained per fold
(``hpo-gym train-grpoformer --holdout <fold k's 2 tasks> --seed k --out runs/grpoformer_vs_tpe/fold$k``; the protocol
script itself plays the shipped checkpoints and writes no fold folders for the default recipe); ``NAME=shipped``
scores the shipped fold checkpoints without training anything.

Example, longer training: continue each fold's run from its saved state (constant learning rate, so this
is the same as training that long from scratch), keep a copy of each stage, then score every stage::

    nice -n 10 hpo-gym train-grpoformer --holdout credit_g,vehicle --out runs/grpoformer_long/fold0 \\
        --resume --updates 250 --seed 0 --threads 1          # likewise folds 1-3 (seed = fold index)
    cp runs/grpoformer_long/fold0/policy.pt runs/grpoformer_long/fold0/policy_250.pt
    nice -n 10 python benchmarks/grpoformer_fold_checkpoints.py \\
        150='runs/grpoformer_vs_tpe/fold{k}/policy.pt' 250='runs/grpoformer_long/fold{k}/policy_250.pt'

Example, recipes: ``factorized='runs/grpoformer_vs_tpe/fold{k}/policy.pt' autoregressive='runs/ar/fold{k}/policy.pt'``.

Example, leave-one-task-out (7 training tasks per fold instead of 6; fold k holds out the k-th task of
``kfold_splits(tasks, 8)``, trained with ``--seed k``), next to TPE and Random in the same harness run::

    nice -n 10 hpo-gym train-grpoformer --holdout credit_g --seed 0 --out runs/loto/fold0   # ... fold 7
    nice -n 10 python benchmarks/grpoformer_fold_checkpoints.py --folds 8 --baselines random,tpe \\
        --out runs/loto/bench loto='runs/loto/fold{k}/policy.pt'

Each ``NAME=PATTERN`` is run with the harness (``run_benchmark``, protocol kfold,
4 folds unless ``--folds``, budget 50, 10 seeds; the same protocol as ``grpoformer_vs_tpe.py``), its ``fit`` loading that
set's checkpoint for the fold instead of the shipped one. Each set is played by the policy alone (``--select first-new``) unless ``--select density-ratio`` asks for the
default agent's candidate choice. ``NAME=shipped`` scores the shipped fold checkpoints. Prints regret@10/25/50, per-fold and
per-task regret@50, each stage's paired difference (same task and seed) to the first stage with its standard error, and,
when ``--baselines`` runs them, each stage's ratio to TPE (``x tpe``) and the tasks it beats Random on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.grpoformer.agent import GRPOformerAgent, fold_file  # noqa: E402
from agents.grpoformer.candidate_selection import SELECTIONS  # noqa: E402
from agents.registry import make_agent  # noqa: E402
from hpo_gym.benchmark import kfold_splits, run_benchmark  # noqa: E402
from hpo_gym.benchmark.metrics import beats_random_ratio, regret_by_run, require_finished_runs  # noqa: E402
from hpo_gym.suites import HPOBENCH_NN_TASKS  # noqa: E402
from hpo_gym.cli import add_protocol_options, directory, name_list, named_values, positive_int, run_script  # noqa: E402


#: The pattern that names the shipped fold checkpoints (``agents/grpoformer/checkpoints/folds/``, which ``fit`` finds by
#: training task set and seed = fold index): ``s0=shipped`` scores the set every README number is measured on.
SHIPPED = "shipped"


def checkpoint_of(pattern: str) -> str | None:
    """What ``GRPOformerAgent`` takes for a set's ``pattern``: ``None`` (its shipped fold checkpoints) for
    :data:`SHIPPED`, else the ``{k}`` path pattern."""
    return None if pattern == SHIPPED else pattern


def check_fold_pattern(ap: argparse.ArgumentParser, label: str, pattern: str, folds: int,
                       allow_shipped: bool = True) -> None:
    """Refuse, before any run, a pattern without ``{k}`` or with a fold's checkpoint missing: a set whose other folds
    failed used to print a table of the folds that loaded (and exit 0), or a pandas KeyError when none did."""
    if pattern == SHIPPED and allow_shipped:
        if folds != 4:
            ap.error(f"{label}: the shipped fold checkpoints cover the 4-fold protocol; train --folds {folds}'s with "
                     "hpo-gym train-grpoformer and give their pattern")
        return
    if "{k}" not in pattern:
        ap.error(f"{label}={pattern!r}: give a pattern with {{k}} for the fold index, e.g. 'runs/x/fold{{k}}/policy.pt'"
                 + (f", or {SHIPPED!r} for the shipped fold checkpoints" if allow_shipped else ""))
    missing = [fold_file(pattern, k) for k in range(folds) if not Path(fold_file(pattern, k)).is_file()]
    if missing:
        ap.error(f"{label}: no checkpoint at {', '.join(missing)} (of {pattern!r}, one policy.pt per fold)")


def fold_sets(ap: argparse.ArgumentParser, texts: list[str], folds: int = 4) -> dict[str, str]:
    """``NAME=PATTERN`` arguments as ``{name: pattern}`` (:func:`~hpo_gym.cli.named_values`: each name once), each
    pattern checked (:func:`check_fold_pattern`)."""
    try:
        sets = named_values(texts, "set", f"s0='runs/x/fold{{k}}/policy.pt' or s0={SHIPPED}", "PATTERN")
    except ValueError as err:
        ap.error(str(err))
    for name, pattern in sets.items():
        check_fold_pattern(ap, f"set {name}", pattern, folds)
    return sets


def stage_agent(pattern: str, select: str = "first-new") -> Callable[[], GRPOformerAgent]:
    """A factory of GRPOformer agents whose ``fit`` loads ``{k}`` in ``pattern`` replaced by the fold index (fit seed = fold index) and refuses
    a checkpoint trained on other tasks than the fold's (``GRPOformerAgent`` with a ``{k}`` path), or the shipped fold
    checkpoints (:data:`SHIPPED`); ``select`` is the agent's candidate rule (the policy alone, ``first-new``, unless
    told)."""
    return partial(GRPOformerAgent, checkpoint_of(pattern), select=select)


def targets_columns(table: pd.DataFrame, per_task: pd.DataFrame, budget: int) -> pd.DataFrame:
    """``table`` (one row per agent, with ``regret@{budget}``) with the targets' columns, from the same harness run:
    ``x tpe`` when TPE ran, and ``beats random`` (tasks of ``per_task``, one column per agent) when Random ran, by the
    harness's own rule (BtR: ties at the stored precision do not count)."""
    table = table.copy()
    if "tpe" in table.index:
        table["x tpe"] = table[f"regret@{budget}"] / table.loc["tpe", f"regret@{budget}"]
    if "random" in per_task.columns:
        btr = beats_random_ratio(per_task.T)
        table["beats random"] = [f"{round(btr[a] * len(per_task))}/{len(per_task)}" if a != "random" else "-"
                                 for a in table.index]
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stages", nargs="+", help="NAME=PATTERN, e.g. 250='runs/x/fold{k}/policy_250.pt', or NAME=shipped "
                                              "for the shipped fold checkpoints")
    ap.add_argument("--out", type=directory, default=ROOT / "runs" / "grpoformer_long" / "bench",
                    help="result directory (resumable; default runs/grpoformer_long/bench)")
    add_protocol_options(ap)
    ap.add_argument("--folds", type=positive_int, default=4, help="k of the k-fold protocol (8 = leave one task out)")
    ap.add_argument("--baselines", type=name_list, default=[],
                    help="comma-separated agents to run in the same harness run, e.g. random,tpe")
    ap.add_argument("--jobs", type=positive_int, default=1)
    ap.add_argument("--select", choices=SELECTIONS, default="first-new",
                    help="the agent's candidate rule: first-new (default: the policy alone, what every recipe comparison "
                         "in docs/grpoformer.md measured) or density-ratio (the default agent's)")
    args = ap.parse_args(argv)
    stages = fold_sets(ap, args.stages, args.folds)
    agents = {f"grpoformer@{name}": stage_agent(pattern, args.select) for name, pattern in stages.items()}
    agents.update({b: b for b in args.baselines})
    df = run_benchmark(agents, budget=args.budget, seeds=args.seeds, out=args.out, jobs=args.jobs, protocol="kfold",
                       folds=args.folds, resolve_agent=make_agent, retry_failed=True)
    require_finished_runs(df, args.out)  # else a KeyError on a task an agent never finished, or unpaired means
    at = {b: regret_by_run(df, b) for b in sorted({10, 25, args.budget}) if b <= args.budget}  # a budget below 25 too
    folds = kfold_splits(list(HPOBENCH_NN_TASKS), args.folds)
    first = next(iter(agents))
    rows = []
    for agent in agents:
        final = at[args.budget].loc[agent]
        per_task = final.groupby("task").mean()
        diff = final - at[args.budget].loc[first]
        rows.append({"stage": agent, **{f"regret@{b}": at[b].loc[agent].mean() for b in at},
                     **{f"fold{k}": per_task[list(held)].mean() for k, held in enumerate(folds)},
                     f"diff vs {first}": diff.mean(), "paired s.e.": diff.std(ddof=1) / np.sqrt(len(diff))})
    table = pd.DataFrame(rows).set_index("stage")
    per_task = pd.DataFrame({a: at[args.budget].loc[a].groupby("task").mean() for a in agents})
    table = targets_columns(table, per_task, args.budget)
    print(table.to_markdown(floatfmt=".4f"))
    print()
    print(per_task.to_markdown(floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: finished benchmark runs are kept"))
