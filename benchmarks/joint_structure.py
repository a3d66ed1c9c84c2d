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
from hpo_gym.cli import positive_int, non_negative_int  # noqa: E402


def joint_vs_marginals(task: str, share: float, draws: int, rng: np.random.Generator) -> dict[str, float]:
    """Mean normalized regret of a task's top ``share`` vs draws from the product of that top share's marginals."""
    obj = load_hpobench_nn(task)
    m = obj.mean_scores
    regret = (m.max() - m) / (m.max() - m.min())
    top = np.argsort(-m)[: max(1, int(share * len(m)))]
    idx = np.array(np.unravel_index(top, obj.grid_shape)).T  # (n_top, d) grid indices
    sampled = np.stack([rng.choice(idx[:, j], size=draws) for j in range(idx.shape[1])], 1)
    cells = np.ravel_multi_index(sampled.T, obj.grid_shape)
    return {"task": task, "top share": share, "joint (top configs)": float(regret[top].mean()),
            "product of marginals": float(regret[cells].mean()),
            "ratio": float(regret[cells].mean() / max(regret[top].mean(), 1e-12))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shares", default="0.01,0.05")
    ap.add_argument("--draws", type=positive_int, default=20_000)
    ap.add_argument("--seed", type=non_negative_int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows = [joint_vs_marginals(t, float(q), args.draws, rng) for q in args.shares.split(",") for t in HPOBENCH_NN_TASKS]
    table = pd.DataFrame(rows)
    print("Mean normalized regret: a task's top configurations vs per-hyperparameter draws from their marginals\n")
    print(table.to_markdown(index=False, floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
