"""Inference-time settings for GRPOformer (no retraining), selected on training tasks only, then scored held-out.

Candidates are ``GRPOformerAgent(temperature=T, mode_first=k)`` settings (see the agent's docstring), played by the
policy alone (``select="first-new"``, as they were measured before the density-ratio choice became the default; that
choice has its own script, ``grpoformer_candidate_selection.py``, built on :func:`inner_selection` and
:func:`heldout_comparison` here).
Selection never looks at a held-out task: for each of the 4 k-fold folds, every candidate runs with that
fold's shipped checkpoint on the fold's 6 *training* tasks (the tasks the checkpoint was trained on; protocol
"all", budget 50, inner seeds 100-109, disjoint from the held-out seeds 0-9). The selection score, fixed
before any number was seen, is the mean over folds and training tasks of ``(regret@10 + regret@50) / 2``:
regret@50 is the target, regret@10 is included because early proposals are where GRPOformer trails the
portfolio. The best candidate (and the default ``T=1, k=0`` as the reference) is then run once through the
held-out k-fold protocol (``run_benchmark``, kfold, 4 folds, budget 50, seeds 0-9; ``fit`` loads the fold
checkpoint as usual)::

    nice -n 10 python benchmarks/grpoformer_inference_settings.py

Prints the inner-selection table, the chosen setting, and held-out regret@10/25/50 for default and chosen
with the paired (same task and seed) difference at 50 and its standard error.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grpoformer_inner_selection import inner_splits  # noqa: E402  (the inner folds the inner policies trained on)
from agents.grpoformer.agent import GRPOformerAgent, fold_file, shipped_fold_checkpoint  # noqa: E402
from agents.grpoformer.policy import load_policy  # noqa: E402
from hpo_gym.benchmark import kfold_splits, run_benchmark  # noqa: E402
from hpo_gym.benchmark.metrics import regret_by_run, require_finished_runs  # noqa: E402
from hpo_gym.suites import HPOBENCH_NN_TASKS  # noqa: E402
from hpo_gym.cli import add_protocol_options, directory, run_script  # noqa: E402

TEMPERATURES = (1.0, 0.7, 0.5, 0.3)
MODE_FIRST = (0, 1, 5)
#: The policy alone: what these settings were measured with.
POLICY_ALONE = {"select": "first-new"}


def setting_name(t: float, k: int) -> str:
    return f"grpoformer[T={t:g},k={k}]"


def regret_at(df: pd.DataFrame, budget: int) -> dict[int, pd.Series]:
    """Regret per run at 10, 25 and ``budget`` evaluations, leaving out those past ``budget`` (a --budget below 25 made
    every selection score NaN, the choice arbitrary, and the held-out table a KeyError)."""
    return {b: regret_by_run(df, b) for b in sorted({b for b in (10, 25) if b < budget} | {budget})}


def inner_selection(settings: Mapping[str, Mapping[str, Any]], budget: int, seeds: list[int], out: Path,
                    reference: str, score_budgets: Sequence[int]) -> pd.DataFrame:
    """Each setting (``{name: GRPOformerAgent keyword arguments}``) on each fold's training tasks with that fold's
    checkpoint; one row per setting, sorted by ``score`` = the mean over ``score_budgets`` of regret@b, with its paired
    (same fold, task and seed) difference to the ``reference`` setting and that difference's standard error."""
    tasks = list(HPOBENCH_NN_TASKS)
    per_fold = []
    for k, held in enumerate(kfold_splits(tasks, 4)):
        train = [t for t in tasks if t not in held]
        ckpt = shipped_fold_checkpoint(train, k)
        if not ckpt.exists():
            raise FileNotFoundError(f"fold {k} checkpoint {ckpt} is missing (train it with hpo-gym train-grpoformer)")
        per_fold.append(checkpoint_regrets(settings, ckpt, train, budget, seeds, out / f"fold{k}", in_sample=True)
                        .assign(fold=k))
    return paired_table(pd.concat(per_fold), reference, score_budgets)


def unseen_inner_check(settings: Mapping[str, Mapping[str, Any]], inner_runs: str, budget: int, seeds: list[int],
                       out: Path, reference: str, score_budgets: Sequence[int]) -> pd.DataFrame:
    """:func:`inner_selection`'s table, but every task is scored by a policy that never trained on it
    (:func:`unseen_inner_runs`)."""
    return paired_table(unseen_inner_runs(settings, inner_runs, budget, seeds, out), reference, score_budgets)


def unseen_inner_runs(settings: Mapping[str, Mapping[str, Any]], inner_runs: str, budget: int, seeds: list[int],
                      out: Path) -> pd.DataFrame:
    """Regret of every run of each setting (rows indexed by agent, task and seed, with a ``fold`` column) played by
    each outer fold's inner 3-fold policies (``inner_runs``, ``{f}`` = outer fold, ``{k}`` = inner fold, trained by
    ``grpoformer_inner_selection.py --inner-cv 3``) on their own validation tasks, so each of a fold's 6 training
    tasks is played once. Why: the fold checkpoints that :func:`inner_selection` plays were trained on the tasks they
    are scored on, and an inference setting chosen there could suit a policy that knows the task; the outer held-out
    tasks are still never loaded."""
    return inner_policy_runs(settings, inner_runs, budget, seeds, out, played="unseen").drop(columns="inner")


def inner_policy_runs(settings: Mapping[str, Mapping[str, Any]], inner_runs: str, budget: int, seeds: list[int],
                      out: Path, played: Literal["unseen", "trained"]) -> pd.DataFrame:
    """:func:`unseen_inner_runs` (``played="unseen"``: each inner policy on its inner split's 2 validation tasks), or
    each inner policy on the 4 tasks it trained on (``"trained"``, stored in ``inner{k}-trained``), with an ``inner``
    column (the inner split): a choice among inner policies may read their in-sample runs without touching the unseen
    ones it is checked on."""
    if played not in ("unseen", "trained"):  # a typo ("train") played the training tasks as if unseen
        raise ValueError(f"played={played!r}: give 'unseen' (the split's validation tasks) or 'trained'")
    splits = [(f, k, inner_val, Path(fold_file(inner_runs.replace("{f}", str(f)), k)), inner_train)
              for f in range(4) for k, (inner_train, inner_val) in enumerate(inner_splits(f, 3))]
    for f, k, _, path, inner_train in splits:  # every file before any run: a swapped {f}/{k} played fold 0 first
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: train the inner policies with python benchmarks/"
                                    "grpoformer_inner_selection.py --inner-cv 3 --recipes RECIPE --out DIR (e.g. "
                                    "--recipes factorized)")
        trained_on = load_policy(path, "cpu")[1].get("train_tasks", [])
        if sorted(trained_on) != sorted(inner_train):
            raise ValueError(f"{path} was trained on {sorted(trained_on)}, not on outer fold {f}'s inner split {k} "
                             f"({sorted(inner_train)}): is the pattern's {{f}} / {{k}} the right way round?")
    suffix = "" if played == "unseen" else "-trained"
    return pd.concat([checkpoint_regrets(settings, path, inner_val if played == "unseen" else inner_train, budget,
                                         seeds, out / f"fold{f}" / f"inner{k}{suffix}", in_sample=played == "trained")
                      .assign(fold=f, inner=k)
                      for f, k, inner_val, path, inner_train in splits])


def checkpoint_regrets(settings: Mapping[str, Mapping[str, Any]], checkpoint: Path, tasks: list[str], budget: int,
                       seeds: list[int], out: Path, *, in_sample: bool) -> pd.DataFrame:
    """Regret@10/25/``budget`` of every run of each setting with ``checkpoint`` on ``tasks`` (stored in ``out``).

    ``in_sample`` says which play the caller means: True, the checkpoint's own training tasks, on purpose (a choice
    made on training tasks only), so the harness's in-sample warning, one per play, says nothing new and is silenced;
    False, tasks it never trained on, and a task it did train on is refused."""
    agents = {name: partial(GRPOformerAgent, checkpoint, **kwargs) for name, kwargs in settings.items()}
    with warnings.catch_warnings():
        if in_sample:
            warnings.filterwarnings("ignore", message="in-sample results", category=UserWarning)
        df = run_benchmark(agents, tasks, budget=budget, seeds=seeds, out=out, jobs=1, protocol="all",
                           retry_failed=True)
    require_finished_runs(df, out)
    if not in_sample and df["in_sample"].astype(bool).any():
        seen = sorted(df.loc[df["in_sample"].astype(bool), "task"].unique())
        raise ValueError(f"{checkpoint} was trained on {seen}, which this play scores as unseen: pass in_sample=True "
                         "for a play on its training tasks, or leave those tasks out")
    at = regret_at(df, budget)
    return pd.DataFrame({f"regret@{b}": at[b] for b in at})


def paired_table(runs: pd.DataFrame, reference: str, score_budgets: Sequence[int]) -> pd.DataFrame:
    """One row per setting of ``runs`` (one row per setting, task and seed, with a ``fold`` column; a task appears
    once per fold), sorted by ``score`` = the mean over ``score_budgets`` of regret@b, with the paired (same fold,
    task and seed) difference to ``reference`` and that difference's standard error."""
    runs = runs.copy()
    runs["score"] = sum(runs[f"regret@{b}"] for b in score_budgets) / len(score_budgets)
    runs = runs.set_index("fold", append=True)
    table = runs.groupby(level="agent").mean()
    diff = runs["score"] - runs["score"].xs(reference, level="agent").reindex(runs.index.droplevel("agent")).to_numpy()
    table["score diff vs reference"] = diff.groupby(level="agent").mean()
    table["paired s.e."] = diff.groupby(level="agent").std(ddof=1) / np.sqrt(diff.groupby(level="agent").size())
    return table.sort_values("score", kind="stable")  # ties (budgets <= 10, before any choice acts) keep their order


def heldout_comparison(final: Mapping[str, Mapping[str, Any]], reference: str, budget: int, seeds: int,
                       out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The settings through the held-out k-fold protocol (``fit`` loads each fold's shipped checkpoint): regret@10/25/b
    per setting with the paired difference at ``budget`` to ``reference``, and regret@b per task."""
    agents = {name: partial(GRPOformerAgent, **kwargs) for name, kwargs in final.items()}
    df = run_benchmark(agents, budget=budget, seeds=seeds, out=out, jobs=1, protocol="kfold", folds=4, retry_failed=True)
    require_finished_runs(df, out)
    at = regret_at(df[df.heldout], budget)
    rows = []
    for name in final:
        diff = at[budget].loc[name] - at[budget].loc[reference]
        rows.append({"setting": name, **{f"regret@{b}": at[b].loc[name].mean() for b in at},
                     f"diff@{budget} vs {reference}": diff.mean(), "paired s.e.": diff.std(ddof=1) / np.sqrt(len(diff))})
    per_task = pd.DataFrame({a: at[budget].loc[a].groupby("task").mean() for a in final})
    return pd.DataFrame(rows).set_index("setting"), per_task


def print_heldout(final: Mapping[str, Mapping[str, Any]], reference: str, budget: int, seeds: int, out: Path) -> None:
    """Run :func:`heldout_comparison` and print its two tables."""
    heldout, per_task = heldout_comparison(final, reference, budget, seeds, out)
    print(f"Held-out k-fold (4 folds x 2 held-out tasks, seeds 0..{seeds - 1}):")
    print(heldout.to_markdown(floatfmt=".4f"))
    print()
    print(per_task.to_markdown(floatfmt=".4f"))


def selection_arguments(doc: str, default_out: str, seeds_help: str, argv: list[str] | None,
                        extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The selection scripts' shared options: ``--out`` (stored runs, resumed on a rerun), ``--budget``, ``--seeds``;
    ``extra`` adds a script's own."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--out", type=directory, default=ROOT / "runs" / default_out)
    add_protocol_options(ap, seeds_help)
    if extra is not None:
        extra(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = selection_arguments(__doc__, "grpoformer_inference", "held-out seeds 0..n-1; inner seeds are 100..100+n-1",
                               argv)
    out = Path(args.out)
    settings = {setting_name(t, k): {**POLICY_ALONE, "temperature": t, "mode_first": k}
                for t, k in itertools.product(TEMPERATURES, MODE_FIRST)}
    default = setting_name(1.0, 0)
    table = inner_selection(settings, args.budget, list(range(100, 100 + args.seeds)), out / "inner", default,
                            tuple(sorted({min(10, args.budget), args.budget})))
    print("Inner selection (fold checkpoints on their own training tasks, mean over 4 folds x 6 tasks x seeds):")
    print(table.to_markdown(floatfmt=".4f"))
    chosen = str(table.index[0])
    print(f"\nchosen: {chosen}\n")
    print_heldout({name: settings[name] for name in dict.fromkeys([default, chosen])}, default, args.budget, args.seeds,
                  out / "heldout")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: finished inner and held-out runs are kept"))
