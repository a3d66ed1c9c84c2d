"""How joint are the good configurations of the embedded tables? (the case for an autoregressive head)

For each task: take its top ``q`` share of configurations (by mean score over the table's seeds) and
compare their mean normalized regret with that of configurations drawn *independently per
hyperparameter* from the same top share's marginals -- what a factorized policy that had learned those
marginals exactly would propose. A large ratio means the good region is a set of joint configurations
that per-dimension sampling cannot reproduce::

    python benchmarks/joint_structure.py            # top 1 % and 5 %, 20,000 draws per task
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpo_gym.suites import HPOBENCH_NN_TASKS, load_hpobench_nn  # noqa: E402
from hpo_gym.cli import non_negative_int, positive_int, run_script  # noqa: E402


def joint_vs_marginals(task: str, share: float, draws: int, rng: np.random.Generator) -> dict[str, float]:
    """Mean normalized regret of a task's top ``share`` vs draws from the product of that top share's marginals."""
    obj = load_hpobench_nn(task)
    m = obj.mean_scores
    regret = (m.max() - m) / (m.max() - m.min())
    top = np.argsort(-m, kind="stable")[: max(1, int(share * len(m)))]  # ties by cell index, on every CPU
    idx = np.array(np.unravel_index(top, obj.grid_shape)).T  # (n_top, d) grid indices
    sampled = np.stack([rng.choice(idx[:, j], size=draws) for j in range(idx.shape[1])], 1)
    cells = np.ravel_multi_index(sampled.T, obj.grid_shape)
    return {"task": task, "top share": share, "joint (top configs)": float(regret[top].mean()),
            "product of marginals": float(regret[cells].mean()),
            "ratio": float(regret[cells].mean() / max(regret[top].mean(), 1e-12))}


def shares(text: str) -> list[float]:
    """``--shares``: fractions in (0, 1]; 0 or a negative one printed all-zero ratios, 1.5 silently used every
    configuration, and a word gave a traceback."""
    try:
        values = [float(q) for q in text.split(",") if q.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated fractions, e.g. 0.01,0.05") from None
    if not values or not all(0.0 < q <= 1.0 for q in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every share must lie in (0, 1], e.g. 0.01,0.05")
    return values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shares", type=shares, default=shares("0.01,0.05"),
                    help="comma-separated shares of each table's best configurations, each in (0, 1] (default 0.01,0.05)")
    ap.add_argument("--draws", type=positive_int, default=20_000, help="configurations drawn from the marginals (default 20000)")
    ap.add_argument("--seed", type=non_negative_int, default=0, help="seed of the draws (default 0)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows = [joint_vs_marginals(t, q, args.draws, rng) for q in args.shares for t in HPOBENCH_NN_TASKS]
    table = pd.DataFrame(rows)
    print("Mean normalized regret: a task's top configurations vs per-hyperparameter draws from their marginals\n")
    print(table.to_markdown(index=False, floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command: it takes seconds"))
