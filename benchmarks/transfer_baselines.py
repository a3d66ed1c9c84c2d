"""Held-out regret of the transfer baselines on the embedded suite, measured through the real env.

Leave-one-task-out (default) or k-fold over the 8 ``hpobench-nn`` tasks: for each fold a fresh agent
is built with :func:`agents.registry.make_agent`, fitted on the fold's training tables when it has
``fit`` (``portfolio``, ``portfolio+tpe``), and run for ``--seeds`` episodes of ``--budget``
evaluations on every held-out task through :class:`hpo_gym.env.HPOEnv` (noise-free scores). The
normalized regret of the best-so-far is averaged over tasks and seeds.

As a cross-check, the zero-shot portfolio's regret is also computed in closed form from the tables
(``1 - max`` of the held-out task's normalized scores over the portfolio prefix); the script fails
if the env run disagrees.

    nice -n 10 python benchmarks/transfer_baselines.py                     # leave-one-task-out
    nice -n 10 python benchmarks/transfer_baselines.py --folds 4           # 4-fold over tasks

``--plot-store DIR --plot PNG`` instead draws, from a result directory of ``hpo-gym bench``, the mean
over tasks of every agent's regret-vs-evaluations curve in one panel (the harness's own plot has one
panel per task), held-out agents marked:

    python benchmarks/transfer_baselines.py --plot-store results/transfer --plot docs/img/transfer_regret.png

``--compare-rules`` prints the closed-form held-out regret of alternative portfolio rules (what the
default rule was chosen against), for leave-one-task-out and 4-fold.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from tqdm import tqdm

from agents.base import observe_if_supported
from agents.portfolio import build_portfolio, greedy_order, normalized_scores
from agents.registry import make_agent
from hpo_gym.benchmark import kfold_splits
from hpo_gym.benchmark.runner import trained_on
from hpo_gym.cli import add_protocol_options, directory, file_path, name_list, refuse_ignored, run_script
from hpo_gym.env import HPOEnv
from hpo_gym.suites import HPOBENCH_NN, HPOBENCH_NN_TASKS, load_hpobench_nn


#: Every agent's regret at the budget is also printed as a ratio to this classic optimizer, run alongside.
PEER = "tpe"


def regret_curve(agent, objective, budget: int, seed: int) -> np.ndarray:
    """Normalized regret of the best-so-far after each of ``budget`` evaluations of one episode."""
    env = HPOEnv(objective=objective, budget=budget)
    obs, _ = env.reset(seed=seed)
    agent.reset(env.space, seed=seed, budget=budget)
    curve = np.empty(budget)
    for t in range(budget):
        action = agent.act(obs)
        obs, reward, terminated, _, info = env.step(action)
        observe_if_supported(agent, action, reward, info)
        curve[t] = info["normalized_regret"]
    assert terminated, "the env must end the episode after exactly `budget` evaluations"
    return curve


def _restart_rounds(scores: np.ndarray, n: int) -> np.ndarray:
    """After saturation, restart the greedy on the cells left (greedy 'rounds') until ``n`` entries."""
    chosen: list[int] = []
    left = np.arange(scores.shape[1])
    while len(chosen) < n:
        cells, n_greedy = greedy_order(scores[:, left])
        take = left[cells[: max(n_greedy, 1)]]
        chosen.extend(take.tolist())
        left = np.setdiff1d(left, take)
    return np.array(chosen[:n])


def _rank_normalized(scores: np.ndarray) -> np.ndarray:
    """Each task's scores as ranks in [0, 1], tied cells sharing their average rank: the tables hold many ties, and
    numpy's default (unstable) argsort orders them differently on different CPUs, which moved this rule's numbers."""
    return (rankdata(scores, axis=1) - 1.0) / (scores.shape[1] - 1)


#: Alternative portfolio rules: training normalized scores ``(n_tasks, n_cells)`` -> first ``n`` cells.
RULES = {
    "greedy, then mean (default)": lambda s, n: greedy_order(s)[0][:n],
    "greedy rounds (restart)": _restart_rounds,
    "greedy on per-task ranks": lambda s, n: greedy_order(_rank_normalized(s))[0][:n],
    "greedy on scores capped 0.99": lambda s, n: greedy_order(np.minimum(s, 0.99))[0][:n],
    "greedy on scores capped 0.98": lambda s, n: greedy_order(np.minimum(s, 0.98))[0][:n],
    "mean score only (no greedy)": lambda s, n: np.argsort(-s.mean(axis=0), kind="stable")[:n],
}


def compare_rules(budget: int) -> None:
    """Closed-form held-out regret (mean over tasks) of every rule in :data:`RULES`, LOTO and 4-fold."""
    tasks = list(HPOBENCH_NN_TASKS)
    scores = normalized_scores([load_hpobench_nn(t) for t in tasks])
    marks = sorted({m for m in (10, 25, 50) if m <= budget} | {budget})  # the budget's own column, always
    print(f"closed-form mean normalized regret on held-out tasks, budget {budget}")
    print(f"{'rule':<32}" + "".join(f"{p + '@' + str(m):>12}" for p in ("LOTO", "4fold") for m in marks))
    for name, rule in RULES.items():
        row = []
        for n_folds in (len(tasks), 4):
            curves = []
            for fold in kfold_splits(tasks, n_folds):
                held = [tasks.index(t) for t in fold]
                cells = rule(np.delete(scores, held, axis=0), budget)
                curves += [1.0 - np.maximum.accumulate(scores[i, cells]) for i in held]
            mean = np.mean(curves, axis=0)
            row += [mean[m - 1] for m in marks]
        print(f"{name:<32}" + "".join(f"{v:>12.4f}" for v in row))


def plot_mean_regret(store: str | Path, path: str | Path, agents: list[str] | None = None,
                     per_task: str | Path | None = None) -> None:
    """Mean over tasks of the per-task mean regret curves of a ``hpo-gym bench`` result directory, log scale.

    ``per_task``: also write the harness's one-panel-per-task plot of the same agents there.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpo_gym.benchmark.metrics import regret_curves, shared_runs
    from hpo_gym.benchmark.plots import log_axis_floor, plot_regret_per_task, save_figure
    from hpo_gym.benchmark.report import coverage_note, load_results
    from hpo_gym.benchmark.store import ResultStore

    df = load_results(store)
    if agents is not None:
        unknown = sorted(set(agents) - set(df["agent"]))
        if unknown:  # an empty figure was written
            raise ValueError(f"--agents {unknown} not in {store}; it holds {sorted(df['agent'].unique())}")
        df = df[df["agent"].isin(agents)]
    note = coverage_note(df)
    if note:  # each agent's mean over its own tasks put an agent run on car alone 50x below one run on all 8
        print(note + " The plot uses the shared pairs only.", file=sys.stderr)
        df = shared_runs(df)
        if df.empty:
            raise ValueError(f"the agents in {store} share no (task, seed) run, so their mean curves are over "
                             "different tasks; finish the missing runs, or plot the agents separately (--agents)")
    heldout = df.groupby("agent")["heldout"].any()
    curves = regret_curves(df).groupby(["agent", "step"])["mean"].mean().unstack("agent")
    suite = ResultStore(store).manifest().get("suite") or "tasks"
    fig, ax = plt.subplots(figsize=(7, 4.4))
    zero = log_axis_floor(curves.to_numpy())
    for i, agent in enumerate(sorted(curves.columns)):
        label = f"{agent} (held-out, k-fold)" if heldout[agent] else agent
        ax.plot(curves.index, curves[agent].clip(lower=zero), label=label, lw=1.8,
                ls="-" if heldout[agent] else "--", color=plt.get_cmap("tab10")(i % 10))
    ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("mean normalized regret")
    n_tasks = df["task"].nunique()
    ax.set_title(f"{suite}: mean over {n_tasks} task{'s' * (n_tasks != 1)} of the best-so-far normalized regret",
                 fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    print(f"wrote {save_figure(fig, path)}")
    if per_task is not None:
        print(f"wrote {plot_regret_per_task(df, per_task)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=name_list, default=None,
                        help="comma-separated specs (default random,tpe,portfolio,portfolio+tpe; with --plot-store: all in the store)")
    parser.add_argument("--folds", type=int, default=len(HPOBENCH_NN_TASKS), help="default: leave-one-task-out")
    add_protocol_options(parser, "seeds per held-out task")
    parser.add_argument("--plot-store", type=directory, default=None,
                        help="a `hpo-gym bench --out` directory to plot instead of running")
    parser.add_argument("--plot", type=file_path, default=None,
                        help="PNG path for --plot-store (default DIR/transfer_regret.png)")
    parser.add_argument("--plot-per-task", type=file_path, default=None,
                        help="with --plot-store: also the harness's per-task plot here")
    parser.add_argument("--compare-rules", action="store_true", help="closed-form regret of alternative portfolio rules")
    args = parser.parse_args(argv)
    if args.compare_rules:  # closed form over the tables, leave-one-task-out and 4-fold both
        refuse_ignored(parser, args, "--compare-rules", ("agents", "folds", "seeds", "plot_store", "plot", "plot_per_task"))
        compare_rules(args.budget)
        return 0
    if (args.plot is not None or args.plot_per_task is not None) and args.plot_store is None:
        parser.error("--plot and --plot-per-task draw a result directory: give it with --plot-store DIR")
    if args.plot_store is not None:  # draws what the directory holds
        refuse_ignored(parser, args, "--plot-store", ("folds", "budget", "seeds"))
        png = args.plot or args.plot_store / "transfer_regret.png"
        plot_mean_regret(args.plot_store, png, args.agents, args.plot_per_task)
        return 0

    tasks = list(HPOBENCH_NN_TASKS)
    tables = {t: load_hpobench_nn(t) for t in tasks}
    specs = args.agents or ["random", "tpe", "portfolio", "portfolio+tpe"]
    if PEER not in specs:  # every row is also printed as a ratio to this peer, run in the same process and seeds
        specs.append(PEER)
    folds = kfold_splits(tasks, args.folds)  # the harness's folds: `hpo-gym bench --protocol kfold` scores the same splits
    curves: dict[str, list[np.ndarray]] = {s: [] for s in specs}
    closed_form: list[np.ndarray] = []
    start = time.perf_counter()
    with tqdm(total=len(specs) * len(tasks) * args.seeds, desc="episodes", file=sys.stderr) as bar:
        for k, held_out in enumerate(folds):
            train = [tables[t] for t in tasks if t not in held_out]
            if "portfolio" in specs:  # its closed-form regret, the cross-check of its env runs printed below
                portfolio = build_portfolio(train)
                for task in held_out:
                    s = normalized_scores([tables[task]])[0]
                    closed_form.append(1.0 - np.maximum.accumulate(s[portfolio.cells[: args.budget]]))
            for spec in specs:
                agent = make_agent(spec)
                if hasattr(agent, "fit"):
                    agent.fit(train, seed=k)  # the harness's fit seed (the fold index), so fits match `hpo-gym bench`
                seen = sorted(trained_on(agent, HPOBENCH_NN) & set(held_out))
                if seen:  # a pre-trained agent would be scored on its own training tasks, printed as held-out
                    raise ValueError(f"agent {spec} declares it was trained on {seen}, which fold {k} holds out: this "
                                     "script scores held-out tasks only; give an agent that fits per fold, or use "
                                     "`hpo-gym bench --protocol kfold`, which marks such runs in-sample")
                for task in held_out:
                    for seed in range(args.seeds):
                        curves[spec].append(regret_curve(agent, tables[task], args.budget, seed))
                        bar.update()
    elapsed = time.perf_counter() - start

    protocol = "leave-one-task-out" if args.folds == len(tasks) else f"{args.folds}-fold over tasks"
    print(f"hpobench-nn, {protocol}, budget {args.budget}, {args.seeds} seeds; mean normalized regret "
          f"of the best-so-far over {len(tasks)} held-out tasks x seeds ({elapsed:.1f} s)")
    marks = sorted({m for m in (1, 5, 10, 25, 50, 100) if m <= args.budget} | {args.budget})  # the ratio's column too
    peer_last = float(np.mean(curves[PEER], axis=0)[args.budget - 1])
    print(f"{'agent':<16}" + "".join(f"{'@' + str(m):>9}" for m in marks) + f"{'x ' + PEER + ' @' + str(args.budget):>13}")
    for spec in specs:
        mean = np.mean(curves[spec], axis=0)
        ratio = f"{mean[args.budget - 1] / peer_last:.2f}" if peer_last > 0 else "-"  # no ratio to a zero regret
        print(f"{spec:<16}" + "".join(f"{mean[m - 1]:>9.4f}" for m in marks) + f"{ratio:>13}")
    if peer_last <= 0:
        print(f"(x {PEER}: '-', since {PEER}'s mean regret@{args.budget} is 0 and a ratio to it is undefined)")
    if "portfolio" in curves:  # the portfolio's regret without the env, as a cross-check of its env runs
        reference = np.mean(closed_form, axis=0)
        print(f"{'(closed form)':<16}" + "".join(f"{reference[m - 1]:>9.4f}" for m in marks))
        print("(closed form): the portfolio's regret computed from the tables without the env; its env row must match")
        env_curve = np.mean(curves["portfolio"], axis=0)
        if not np.allclose(env_curve, reference, atol=1e-12):
            print("MISMATCH: the portfolio's env run differs from its closed-form regret", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command: it takes under a minute (hpo-gym bench --out DIR resumes the same agents)"))
