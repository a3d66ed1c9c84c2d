"""Choose each fold's GRPOformer training seed by how its checkpoint plays its own training tasks, after measuring
on the inner folds whether that choice carries over to tasks the checkpoint never saw.

Why: the training seed moves a fold checkpoint's held-out regret more than any recipe change did (five seed sets:
0.49-0.58x TPE). Training several seeds and keeping the one that plays its training tasks best is ordinary model
selection, but it helps only if a seed's in-sample lead is skill rather than luck on those tables. The adoption rule
(``docs/grpoformer.md``, "Choosing the training seed on training tasks") was committed before any run:

1. *Inner stage* (no outer held-out task is loaded). Each ``--inner NAME=PATTERN`` names one seed's inner 3-fold
   policies (``{f}`` = outer fold, ``{k}`` = inner fold; trained by ``grpoformer_inner_selection.py --inner-cv 3
   --recipes factorized,factorized+seed=10,...``). Every policy plays, with the default agent (density ratio, 32
   candidates; budget 50, inner seeds from 100), the 4 tasks it trained on and the 2 its split held out. Per inner
   split (4 outer folds x 3) the seed with the lowest in-sample regret@50 is chosen; the split's *gain* is the chosen
   seed's unseen regret@50 minus the mean unseen regret@50 of all seeds. Adopted only if the mean gain over the 12
   splits is below zero by more than two standard errors.
2. *Outer choice* (training tasks only). Each ``--outer NAME=PATTERN`` is a set of fold checkpoints (``{k}`` = outer
   fold, or ``shipped``); each plays its fold's 6 training tasks the same way, the lowest in-sample regret@50 per fold
   is chosen and copied to ``OUT/chosen/fold{k}/policy.pt``. The script prints the held-out command for that choice
   (``grpoformer_fold_checkpoints.py``), which reports it whatever the inner verdict.

::

    nice -n 10 python benchmarks/grpoformer_seed_selection.py \\
        --inner s0='runs/inner_v2/fold{f}/factorized/inner{k}of3/policy.pt' \\
                s10='runs/inner_v2/fold{f}/factorized+seed=10/inner{k}of3/policy.pt' ... \\
        --outer s0=shipped s10='runs/rep_v3/s10/fold{k}/policy.pt' ...

Runs are stored under ``--out`` (default ``runs/grpoformer_seed_selection``), so a rerun continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grpoformer_fold_checkpoints import SHIPPED, fold_sets  # noqa: E402
from grpoformer_inference_settings import checkpoint_regrets, inner_policy_runs  # noqa: E402
from grpoformer_inner_selection import fold_training_tasks  # noqa: E402
from grpoformer_recipe_unseen import AGENT, check_folder_name, inner_play_options, parsed_patterns  # noqa: E402
from agents.grpoformer.agent import check_fold_checkpoint, fold_file, shipped_fold_checkpoint  # noqa: E402
from agents.grpoformer.policy import load_policy  # noqa: E402
from hpo_gym.cli import run_script  # noqa: E402

#: Standard errors by which the mean gain must lie below zero for the choice to be adopted (fixed before any run).
ADOPT_SES = 2.0


def inner_regrets(patterns: dict[str, str], budget: int, seeds: list[int], out: Path) -> pd.DataFrame:
    """Mean regret@``budget`` per seed set (column ``seed_set``) and inner split (``fold``, ``inner``), in-sample
    (``trained``: the 4 tasks the inner policy trained on) and on the split's 2 unseen tasks (``unseen``)."""
    rows = []
    for name, pattern in patterns.items():
        trained = inner_policy_runs({AGENT: {}}, pattern, budget, seeds, out / name, played="trained")
        unseen = inner_policy_runs({AGENT: {}}, pattern, budget, seeds, out / name, played="unseen")
        for played, runs in (("trained", trained), ("unseen", unseen)):
            per_split = runs.groupby(["fold", "inner"])[f"regret@{budget}"].mean()
            rows += [{"seed_set": name, "fold": f, "inner": k, "played": played, "regret": r}
                     for (f, k), r in per_split.items()]
    return pd.DataFrame(rows).pivot_table(index=["fold", "inner", "seed_set"], columns="played", values="regret")


def split_gains(table: pd.DataFrame) -> pd.DataFrame:
    """Per inner split: the seed set with the lowest in-sample regret, its unseen regret, the mean unseen regret of all
    sets, and the gain (chosen minus mean; negative = the choice helps)."""
    rows = []
    for (f, k), split in table.groupby(level=["fold", "inner"]):
        split = split.droplevel(["fold", "inner"])
        chosen = split["trained"].idxmin()
        rows.append({"fold": f, "inner": k, "chosen": chosen, "chosen unseen": split.loc[chosen, "unseen"],
                     "mean unseen": split["unseen"].mean(),
                     "gain": split.loc[chosen, "unseen"] - split["unseen"].mean()})
    return pd.DataFrame(rows).set_index(["fold", "inner"])


def verdict(gains: pd.Series) -> tuple[float, float, bool]:
    """Mean gain, its standard error over the splits, and whether the adoption rule holds (below zero by more than
    :data:`ADOPT_SES` standard errors)."""
    mean, se = float(gains.mean()), float(gains.std(ddof=1) / np.sqrt(len(gains)))
    return mean, se, mean < -ADOPT_SES * se


def outer_checkpoint(pattern: str, fold: int) -> Path:
    """Fold ``fold``'s checkpoint of an outer set: the shipped one (the file the agent's ``fit`` loads for the fold's
    training tasks and seed = fold index) or the ``{k}`` pattern's."""
    if pattern == SHIPPED:
        return shipped_fold_checkpoint(fold_training_tasks(fold), fold)
    return Path(fold_file(pattern, fold))


def outer_sets(ap: argparse.ArgumentParser, texts: list[str]) -> dict[str, str]:
    """``--outer NAME=PATTERN`` arguments (:func:`fold_sets`), refused before any run when a name is no folder name or
    is ``chosen`` (the table's column), or a fold's checkpoint is missing or was trained on other tasks than the fold's
    6 training tasks: protocol "all" fits nothing, so a swapped pattern would be played, and chosen, silently."""
    sets = fold_sets(ap, texts)
    for name, pattern in sets.items():
        try:
            check_folder_name(name, "set", "s10")
            if name == "chosen":
                raise ValueError("set name 'chosen' names the table's choice column; give the set another name")
            for k in range(4):
                path = outer_checkpoint(pattern, k)
                if not path.is_file():
                    raise FileNotFoundError(f"set {name}: no checkpoint at {path} for fold {k}")
                check_fold_checkpoint(path, load_policy(path, "cpu")[1].get("train_tasks", []),
                                      fold_training_tasks(k), k)
        except (ValueError, FileNotFoundError) as err:
            ap.error(str(err))
    return sets


def outer_choice(sets: dict[str, str], budget: int, seeds: list[int], out: Path) -> pd.DataFrame:
    """In-sample regret@``budget`` of every outer set's fold checkpoint on the fold's 6 training tasks (rows: fold,
    columns: set) and, per fold, the chosen set (lowest; column ``chosen``)."""
    def in_sample(name: str, pattern: str, k: int) -> float:
        runs = checkpoint_regrets({AGENT: {}}, outer_checkpoint(pattern, k), fold_training_tasks(k), budget, seeds,
                                  out / name / f"fold{k}", in_sample=True)
        return float(runs[f"regret@{budget}"].mean())

    table = pd.DataFrame({name: {k: in_sample(name, pattern, k) for k in range(4)} for name, pattern in sets.items()})
    table.index.name = "fold"
    table["chosen"] = table[list(sets)].idxmin(axis=1)
    return table


def copy_chosen(table: pd.DataFrame, sets: dict[str, str], out: Path) -> str:
    """Copy each fold's chosen checkpoint to ``out/fold{k}/policy.pt``; the ``{k}`` pattern that names them."""
    for k, name in table["chosen"].items():
        dest = out / f"fold{k}" / "policy.pt"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(outer_checkpoint(sets[name], int(k)), dest)
    return str(out / "fold{k}" / "policy.pt")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inner", nargs="+", required=True, metavar="NAME=PATTERN",
                    help="one seed's inner 3-fold policies per argument, {f} = outer fold, {k} = inner fold")
    ap.add_argument("--outer", nargs="*", default=[], metavar="NAME=PATTERN",
                    help="one seed set of fold checkpoints per argument ({k} = fold, or shipped); none: inner only")
    inner_play_options(ap, "grpoformer_seed_selection")
    args = ap.parse_args(argv)
    patterns = parsed_patterns(ap, args.inner)
    if len(patterns) < 2:
        ap.error("--inner: give at least two seeds' inner policies to choose between")
    sets = outer_sets(ap, args.outer) if args.outer else {}
    seeds = list(range(100, 100 + args.seeds))
    out = Path(args.out)

    table = inner_regrets(patterns, args.budget, seeds, out / "inner")
    gains = split_gains(table)
    mean, se, adopt = verdict(gains["gain"])
    print(f"Inner stage: each inner policy with the default agent, regret@{args.budget} ({args.seeds} seeds), "
          "in-sample (trained) and on its split's unseen tasks:")
    wide = table.unstack("seed_set")
    wide.columns = [f"{played} {name}" for played, name in wide.columns]
    print(wide.to_markdown(floatfmt=".4f"))
    print("\nPer inner split, the seed with the lowest in-sample regret and what it scores unseen:")
    print(gains.to_markdown(floatfmt=".4f"))
    print(f"\nmean gain {mean:+.5f} ± {se:.5f} (s.e. over {len(gains)} splits); unseen regret of the chosen seeds "
          f"{gains['chosen unseen'].mean():.4f} against {gains['mean unseen'].mean():.4f} for a seed on average; "
          f"adoption rule (gain below zero by more than {ADOPT_SES:g} s.e.): {'ADOPTED' if adopt else 'not adopted'}")
    result = {"budget": args.budget, "seeds": seeds, "inner_sets": patterns, "outer_sets": sets,
              "inner_mean_gain": mean, "inner_gain_se": se, "adopted": adopt,
              "inner_chosen_unseen": float(gains["chosen unseen"].mean()),
              "inner_mean_unseen": float(gains["mean unseen"].mean())}
    if sets:
        outer = outer_choice(sets, args.budget, seeds, out / "outer")
        pattern = copy_chosen(outer, sets, out / "chosen")
        print(f"\nOuter choice: each set's fold checkpoint on the fold's 6 training tasks, regret@{args.budget}:")
        print(outer.to_markdown(floatfmt=".4f"))
        print(f"\nchosen checkpoints: {pattern}\nheld-out (reports the choice; it does not make it): "
              "nice -n 10 python "
              f"benchmarks/grpoformer_fold_checkpoints.py --jobs 2 --select density-ratio --baselines random,tpe "
              f"--out {shlex.quote(str(out / 'heldout'))} s0=shipped {shlex.quote('chosen=' + pattern)}")
        result["outer_chosen"] = {int(k): v for k, v in outer["chosen"].items()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "verdict.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: finished runs are kept in --out"))
