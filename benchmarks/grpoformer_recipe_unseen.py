"""Compare training recipes by what ships: the default agent (the density-ratio choice among 32 policy samples)
played by each recipe's inner policies on the training tasks they never saw. No outer held-out task is loaded.

``grpoformer_inner_selection.py`` scores each inner policy alone (the first-new rule), which every recipe comparison
before the density ratio used. A recipe that changes the histories the policy is trained on (``continue_rule``) can
matter only through the agent that plays it, so its adoption is decided here: each ``NAME=PATTERN`` names a recipe's
inner 3-fold policies (``{f}`` = outer fold, ``{k}`` = inner fold, trained by ``grpoformer_inner_selection.py
--inner-cv 3``); every one plays the 2 training tasks its inner split held out (20 inner seeds from 100, budget 50),
and the table pairs each recipe with the first by (fold, task, seed)::

    nice -n 10 python benchmarks/grpoformer_recipe_unseen.py \\
        default='runs/inner_v2/fold{f}/factorized/inner{k}of3/policy.pt' \\
        continue-ratio='runs/inner_cr/fold{f}/continue_rule=density-ratio/inner{k}of3/policy.pt'

Runs are stored under ``--out`` (default ``runs/grpoformer_recipe_unseen``), so a rerun continues where it stopped.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grpoformer_inference_settings import paired_table, unseen_inner_runs  # noqa: E402
from hpo_gym.cli import directory, episode_budget, named_values, positive_int, run_script  # noqa: E402

#: The agent every recipe is played with: the default (density ratio, 32 candidates).
AGENT = "grpoformer"


def named_patterns(specs: list[str]) -> dict[str, str]:
    """``NAME=PATTERN`` arguments as ``{name: pattern}``; a clear error for a missing ``=``, ``{f}``/``{k}``, a name
    that is no folder name, or a repeated name."""
    example = "default='runs/inner_v2/fold{f}/factorized/inner{k}of3/policy.pt'"
    out = named_values(specs, "recipe", example, "PATTERN")
    for name, pattern in out.items():
        if "{f}" not in pattern or "{k}" not in pattern:
            raise ValueError(f"{name}={pattern!r}: give NAME=PATTERN with {{f}} (outer fold) and {{k}} (inner fold) in "
                             f"the pattern, e.g. {example}")
        check_folder_name(name, "recipe", "continue-ratio")
    return out


def check_folder_name(name: str, what: str, example: str) -> None:
    """``ValueError`` unless ``name`` is a plain folder name: a ``NAME`` is the folder of its runs under ``--out``,
    and ``../x`` wrote outside it."""
    if not re.fullmatch(r"[\w.+-]+", name) or name in (".", ".."):
        raise ValueError(f"{what} name {name!r}: use letters, digits and . _ + - only (it names a folder under "
                         f"--out), e.g. {example}")


def recipe_table(patterns: dict[str, str], budget: int, seeds: list[int], out: Path) -> pd.DataFrame:
    """Every recipe's runs (the default agent on unseen inner tasks), paired with the first recipe's."""
    runs = [unseen_inner_runs({AGENT: {}}, pattern, budget, seeds, out / name)
            .rename(index={AGENT: name}, level="agent") for name, pattern in patterns.items()]
    return paired_table(pd.concat(runs), next(iter(patterns)), (budget,))


def inner_play_options(ap: argparse.ArgumentParser, default_out: str) -> None:
    """``--seeds``, ``--budget`` and ``--out`` of the scripts that play inner policies on inner tasks."""
    ap.add_argument("--seeds", type=positive_int, default=20, help="inner seeds per task, from 100 (default 20)")
    ap.add_argument("--budget", type=episode_budget, default=50)
    ap.add_argument("--out", type=directory, default=ROOT / "runs" / default_out)


def parsed_patterns(ap: argparse.ArgumentParser, specs: list[str]) -> dict[str, str]:
    """:func:`named_patterns`, its refusal reported as a usage error."""
    try:
        return named_patterns(specs)
    except ValueError as err:
        ap.error(str(err))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("recipes", nargs="+", help="NAME=PATTERN, the first is the reference")
    inner_play_options(ap, "grpoformer_recipe_unseen")
    args = ap.parse_args(argv)
    patterns = parsed_patterns(ap, args.recipes)
    table = recipe_table(patterns, args.budget, list(range(100, 100 + args.seeds)), Path(args.out))
    print(f"The default agent on each recipe's unseen inner tasks ({args.seeds} seeds, budget {args.budget}; paired "
          f"differences to {next(iter(patterns))}):")
    print(table.to_markdown(floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: finished runs are kept in --out"))
