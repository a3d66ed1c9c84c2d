"""GRPOformer vs TPE (and Random, GP, CMA-ES) under the k-fold protocol, plus the GRPO/PCR ablations.

Default run (the whole protocol, one command)::

    nice -n 10 python benchmarks/grpoformer_vs_tpe.py                 # train 4 folds (cached), bench, report
    nice -n 10 python benchmarks/grpoformer_vs_tpe.py --ablations     # + no-PCR / REINFORCE / PPO-critic, 3 training seeds
    python benchmarks/grpoformer_vs_tpe.py --suggest-time-only        # only the side-by-side suggest time (~10 s)

1. For each of the 4 folds of the embedded suite (2 held-out tasks each, :func:`kfold_splits`), train
   GRPOformer on the 6 other tasks (+ synthetic objectives) with training seed = fold index, unless a
   checkpoint for that task set already exists (shipped in ``agents/grpoformer/checkpoints/folds/`` or
   in the run directory). ``--ship`` copies fresh fold checkpoints into the package.
2. Run the harness (``hpo_gym.benchmark.run_benchmark``, protocol ``kfold``, budget 50, 10 seeds):
   GRPOformer's ``fit`` loads the fold checkpoint, so every GRPOformer number is on tasks it was not
   trained on; the baselines run on every task with the same seeds, and the transfer baselines
   (``portfolio``, ``portfolio+tpe``) are fitted on the same folds, as context.
3. Write ``report.md`` / ``report.json``: the harness's summary, GRPOformer/TPE regret ratio, per-task
   beats-Random, mean ranks (among the issue's agents: Random, TPE, GP, CMA-ES, GRPOformer), suggest-time
   ratio vs TPE (same run, same machine), and two reference bounds: the best agent of the run chosen
   separately per task after the fact, and the shipped checkpoint (trained on all 8 tasks) scored on
   those same tasks, in-sample, with the same seeds: what the recipe reaches when the test tasks are
   its training tasks (never a GRPOformer result, a ceiling on what held-out transfer could give).
   Two lines say how firm the ratio is and what the suite allows: a paired bootstrap interval of the ratio
   (seeds drawn once for all tasks, as in :func:`hpo_gym.benchmark.metrics.paired_ratio_bootstrap`) with its range
   when one task is left out, and the suite's floor (the mean
   regret of any agent that never evaluates a task's single best cell, :mod:`hpo_gym.benchmark.difficulty`),
   drawn per task against every agent's regret in ``--floor-plot`` (default ``OUT/regret_vs_floor.png``).

``--ablations`` trains the fold-0 split with the same training budget for: full GRPO+PCR, no PCR
(lambda = 0) and no GRPO (REINFORCE with a mean baseline; PPO with a learned critic instead of the group
baseline), 3 training seeds each; it reports held-out
regret (mean/std over training seeds; 10 episodes per held-out task, budget 50) and plots churn curves.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.grpoformer.agent import CHECKPOINT_DIR, SHIPPED_CHECKPOINT, check_fold_checkpoint, fold_key  # noqa: E402
from agents.grpoformer.train import (TrainConfig, check_features_version, check_finished_run, heldout_regret,  # noqa: E402
                                     recipe_tag, train)
from agents.grpoformer.policy import load_policy  # noqa: E402
from hpo_gym.benchmark import kfold_splits, run_benchmark, summary_table  # noqa: E402
from hpo_gym.benchmark.difficulty import best_cell_hits, miss_the_best_floor, suite_profile  # noqa: E402
from hpo_gym.benchmark.metrics import (  # noqa: E402
    per_task_table, regret_at, require_finished_runs, run_budget, wins_over)
from hpo_gym.benchmark.plots import plot_regret_vs_floor, save_figure  # noqa: E402
from hpo_gym.benchmark.report import json_value, markdown_report, ratio_comparison  # noqa: E402
from hpo_gym.cli import add_protocol_options, directory, file_path, name_list, positive_int, refuse_ignored, run_script  # noqa: E402
from hpo_gym.suites import HPOBENCH_NN_TASKS, load_hpobench_nn  # noqa: E402

TASKS = list(HPOBENCH_NN_TASKS)
BASELINES = ["random", "tpe", "gp", "cmaes"]  # the comparison set (with grpoformer): targets are on these
TRANSFER = ["portfolio", "portfolio+tpe"]     # fitted on the same folds; context, and the per-task oracle bound
#: The same fold checkpoints played by the policy alone (the first-new rule it is trained with, 8 candidates), without the
#: default agent's density-ratio choice among 32 candidates: context, so the choice's share of the result stays visible.
POLICY_ALONE = "grpoformer-policy"


def train_folds(out: Path, cfg: TrainConfig, ship: bool) -> dict[int, dict]:
    """Train (or find) one checkpoint per fold; returns per-fold facts (tasks, training time, evaluations)."""
    facts = {}
    for k, held in enumerate(kfold_splits(TASKS, 4)):
        train_names = [t for t in TASKS if t not in held]
        key = fold_key(train_names, k, recipe_tag(cfg))
        shipped = CHECKPOINT_DIR / "folds" / f"{key}.pt"
        run_dir, fold_cfg = out / f"fold{k}", dataclasses.replace(cfg, seed=k)
        path = shipped if shipped.exists() else run_dir / "policy.pt"
        if not path.exists():
            print(f"fold {k}: training on {train_names}, held out {held}", flush=True)
            train([load_hpobench_nn(t) for t in train_names], run_dir, fold_cfg,
                  holdout=[load_hpobench_nn(t) for t in held], resume=True)
        _, extra = load_policy(path)
        if path != shipped:  # found in --out (or just trained there): the run this command asks for, or refused
            check_finished_run(path, extra, fold_cfg, train_names)
        check_fold_checkpoint(path, extra.get("train_tasks", []), train_names, k)  # a file under another fold's key
        # a run directory of an earlier version: never ship it
        check_features_version(path, extra, ": give another --out to train the folds anew")
        if ship and path != shipped:
            shipped.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, shipped)
        facts[k] = {"heldout": held, "train": train_names, "checkpoint": str(path),
                    "train_wall_s": extra.get("wall_s"), "train_evaluations": extra.get("evaluations")}
        print(f"fold {k}: {path} (trained in {extra.get('wall_s')} s, {extra.get('evaluations')} evaluations)", flush=True)
    return facts


def oracle_agent_per_task(per_task: pd.DataFrame) -> tuple[float, dict[str, str]]:
    """Mean over tasks of the best agent's regret *on that task*, chosen after the fact (a bound no single
    agent of the run reaches), and which agent that was per task."""
    return float(per_task.min(axis=1).mean()), {t: str(per_task.loc[t].idxmin()) for t in per_task.index}


def fold_checkpoint_spec(out: Path, cfg: TrainConfig, facts: dict[int, dict]) -> str:
    """The harness's spec that plays exactly the fold checkpoints :func:`train_folds` returned.

    The shipped recipe's are the default agent's own (``grpoformer`` finds them by the same key). For another recipe
    (``--updates 250``, say) the default agent would look up the shipped recipe's checkpoints instead, so the script
    plays ``OUT/fold{k}/policy.pt``, copying a checkpoint shipped under that recipe's key there first."""
    if not recipe_tag(cfg):
        return "grpoformer"
    for k, fact in facts.items():
        target = out / f"fold{k}" / "policy.pt"
        if Path(fact["checkpoint"]).resolve() != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(fact["checkpoint"], target)
    return f"grpoformer:{out}/fold{{k}}/policy.pt"


def insample_reference(out: Path, budget: int, seeds: int, jobs: int, checkpoint: Path = SHIPPED_CHECKPOINT) -> pd.DataFrame:
    """Run a checkpoint trained on *all* tasks on those same tasks (protocol ``all``, same budget and seeds as
    the k-fold run). Not a held-out result: it shows how far the training recipe gets when it may memorize
    the test tasks, so a held-out target below it asks for more than fitting the tasks themselves."""
    from agents.registry import make_agent

    df = run_benchmark({"grpoformer in-sample": f"grpoformer:{checkpoint}"}, budget=budget, seeds=seeds,
                       out=out / "bench_insample", jobs=jobs, protocol="all", resolve_agent=make_agent, retry_failed=True)
    require_finished_runs(df, out / "bench_insample")  # its mean is set against TPE's over every task and seed
    return df


def insample_line(insample: pd.DataFrame, tpe_regret: float) -> tuple[str, dict]:
    """The report line (and JSON facts) for :func:`insample_reference`."""
    b = run_budget(insample)
    per_task = per_task_table(insample, b).iloc[:, 0]
    mean = float(per_task.mean())
    facts = {f"regret@{b}": mean, "over_tpe": mean / tpe_regret, "per_task": per_task.round(4).to_dict()}
    line = (f"- reference: the shipped checkpoint, trained on all 8 tasks, scored in-sample on them (same seeds): "
            f"regret@{b} {mean:.4f} = {mean / tpe_regret:.2f} x TPE (not held-out); per task: "
            + ", ".join(f"{t} {v:.4f}" for t, v in per_task.items()))
    return line, facts


def uncertainty_line(df: pd.DataFrame, target: float = 0.5) -> tuple[str, dict]:
    """How sure the regret ratio is: a paired bootstrap over seeds, one draw for all tasks (the tasks are fixed)."""
    b = run_budget(df)
    line, ci = ratio_comparison(df, "grpoformer", "tpe", b, threshold=target)
    per_task = per_task_table(df, b)
    without = {t: float(per_task.drop(t)["grpoformer"].mean() / per_task.drop(t)["tpe"].mean()) for t in per_task.index}
    ci["ratio_without_task"] = without
    low, high = min(without, key=without.get), max(without, key=without.get)
    line += (f"; leaving one task out moves it between {without[low]:.2f} (without {low}) and {without[high]:.2f} "
             f"(without {high})")
    return "- uncertainty of the ratio: " + line, ci


def suite_floor_line(df: pd.DataFrame, tpe_regret: float, plot: Path | None = None) -> tuple[str, dict]:
    """What the suite itself puts under every agent's mean regret (:mod:`hpo_gym.benchmark.difficulty`): the
    floor for runs that never evaluate a task's single best cell, the task that dominates it, and how often
    each agent of the run found that task's best cell; ``plot``: also draw every agent's per-task regret
    against the per-task floor there."""
    profile = suite_profile({t: load_hpobench_nn(t) for t in TASKS})
    b = run_budget(df)
    if plot is not None:
        per_task = per_task_table(df, b)
        preferred = ["grpoformer", POLICY_ALONE, "portfolio", "portfolio+tpe", "tpe", "cmaes", "gp", "random"]
        order = [a for a in preferred if a in per_task.columns] + sorted(set(per_task.columns) - set(preferred))
        plot_regret_vs_floor(per_task[order], profile["runner_up_regret"].astype(float), plot, budget=b,
                             title=f"Regret@{b} per task (grpoformer, portfolio and their variants: held-out) and "
                                   "the suite's floor")
    floor = miss_the_best_floor(profile)
    worst = str(profile["runner_up_regret"].astype(float).idxmax())
    final = regret_at(df, b)
    hits = best_cell_hits(final, profile)[worst]
    runs = final.query("task == @worst").groupby("agent").size()
    row = profile.loc[worst]
    facts = {"floor": floor, "floor_over_tpe": floor / tpe_regret, "task": worst,
             "runner_up_regret": float(row["runner_up_regret"]), "lead_z": float(row["lead_z"]),
             "best_cell_found": {a: int(round(hits[a] * runs[a])) for a in hits.index}, "runs": runs.to_dict(),
             "profile": profile.astype(float).round(4).to_dict(orient="index")}
    line = (f"- suite floor: an agent that never evaluates a task's single best cell has mean regret@{b} >= {floor:.4f} "
            f"({floor / tpe_regret:.2f} x TPE); {worst} alone gives {float(row['runner_up_regret']) / len(profile):.4f} "
            f"of it (runner-up cell at regret {float(row['runner_up_regret']):.4f}; the best cell leads it by "
            f"{float(row['lead_z']):.2f} standard errors of the table's seeds); runs that found {worst}'s best cell: "
            + ", ".join(f"{a} {facts['best_cell_found'][a]}/{runs[a]}" for a in hits.index))
    return line, facts


def protocol_report(df: pd.DataFrame, facts: dict, floor_plot: Path | None = None) -> tuple[str, dict]:
    """The harness's report plus the GRPOformer-vs-TPE ratios the issue's targets are stated in (computed
    among the issue's agents: Random, TPE, GP, CMA-ES, GRPOformer; other agents in ``df`` are context)."""
    b, n_seeds = run_budget(df), df["seed"].nunique()
    reg = f"regret@{b}"
    full_df, full_per_task = df, per_task_table(df, b)
    df = df[df["agent"].isin(BASELINES + ["grpoformer"])]
    table = summary_table(df)
    per_task = per_task_table(df, b)
    g, t, r = "grpoformer", "tpe", "random"
    ratio = table.loc[g, reg] / table.loc[t, reg]
    wins = wins_over(per_task.T, r)  # per_task is task x agent; the rule of BtR, so the two counts agree
    beats = {task: bool(wins.loc[g, task] == 1.0) for task in per_task.index}
    ranks = table["MnR"].sort_values()
    time_ratio = table.loc[g, "sec/suggestion"] / table.loc[t, "sec/suggestion"]
    summary = {
        reg: {a: float(table.loc[a, reg]) for a in table.index},
        "grpoformer_over_tpe_regret": float(ratio),
        "beats_random_per_task": beats, "beats_random_all": all(beats.values()),
        "mean_rank": {a: float(v) for a, v in ranks.items()}, "best_mean_rank": ranks.index[0],
        "sec_per_suggestion": {a: float(table.loc[a, "sec/suggestion"]) for a in table.index},
        "suggest_time_ratio_vs_tpe": float(time_ratio),
        "folds": facts,
    }
    bound, picks = oracle_agent_per_task(full_per_task)
    summary[f"oracle_agent_per_task_{reg}"] = bound
    summary["oracle_agent_per_task"] = picks
    lines = [
        f"# GRPOformer vs TPE: k-fold over the 8 embedded HPOBench-NN tasks (budget {b}, {n_seeds} seed"
        f"{'s' * (n_seeds != 1)})", "",
        markdown_report(full_df), "",
        "## Targets (among " + ", ".join(BASELINES + ["grpoformer"]) + ")", "",
        f"- held-out {reg}: GRPOformer {summary[reg][g]:.4f} vs TPE {summary[reg][t]:.4f} "
        f"-> ratio {ratio:.2f} (target <= 0.5); Random {summary[reg][r]:.4f}",
        f"- beats Random on {sum(beats.values())}/{len(beats)} tasks: "
        + ", ".join(f"{k}{'' if v else ' (no)'}" for k, v in beats.items()),
        "- mean rank: " + ", ".join(f"{a} {v:.2f}" for a, v in ranks.items()) + f" (best: {ranks.index[0]})",
        f"- seconds per suggestion in the harness runs (timed agent by agent, not paired, so load moves it; the "
        f"target is read from the side-by-side line below): GRPOformer {summary['sec_per_suggestion'][g]:.2g} vs TPE "
        f"{summary['sec_per_suggestion'][t]:.2g} -> ratio {time_ratio:.3f}",
        "- training per fold: " + ", ".join(f"fold {k}: {f['train_wall_s']} s / {f['train_evaluations']} evals"
                                          for k, f in facts.items()),
        f"- reference: choosing the best of this run's {full_per_task.shape[1]} agents separately for every task, "
        f"after the fact, gives mean {reg} {bound:.4f} (target 0.5 x TPE = {0.5 * summary[reg][t]:.4f}); "
        "per task: " + ", ".join(f"{task} {a}" for task, a in picks.items()),
    ]
    if POLICY_ALONE in full_per_task.columns:
        alone = float(full_per_task[POLICY_ALONE].mean())
        summary[f"policy_alone_{reg}"] = alone
        lines.insert(lines.index(next(x for x in lines if x.startswith("- beats Random"))),
                     f"- the policy alone ({POLICY_ALONE}: first-new rule, 8 candidates, same fold checkpoints): "
                     f"{reg} {alone:.4f} -> ratio {alone / summary[reg][t]:.2f}")
    line, summary["ratio_bootstrap"] = uncertainty_line(df)
    lines.insert(lines.index(next(x for x in lines if x.startswith("- beats Random"))), line)
    line, summary["suite_floor"] = suite_floor_line(full_df, summary[reg][t], floor_plot)
    lines.append(line)
    return "\n".join(lines), summary


def suggest_time_side_by_side(episodes: int = 6, task: str = "kc1", budget: int = 50, with_torch_path: bool = False,
                              checkpoint: str | Path | None = None) -> dict:
    """Seconds per suggestion of TPE and GRPOformer, interleaved episode by episode in this one process.

    On shared cores the harness's per-agent timings drift with the other jobs' load; alternating the two
    agents on the same env and seeds makes the ratio a side-by-side measurement. ``grpoformer`` is the
    registered agent (NumPy inference path); ``with_torch_path`` adds ``grpoformer-torch`` (the same
    agent with ``fast=False``, the torch forward) to the rotation, for a before/after on the same load;
    ``checkpoint`` times that policy (e.g. an autoregressive one) instead of the shipped one.
    """
    import gymnasium as gym

    import envs_registry  # noqa: F401
    from agents.grpoformer.agent import GRPOformerAgent
    from agents.registry import make_agent
    from hpo_gym.benchmark import run_episode

    agents = {"tpe": make_agent("tpe"), "grpoformer": GRPOformerAgent(checkpoint) if checkpoint else make_agent("grpoformer")}
    if with_torch_path:
        agents["grpoformer-torch"] = GRPOformerAgent(checkpoint, fast=False)
    times: dict[str, list[float]] = {a: [] for a in agents}
    env = gym.make("HPO-OpenML-v0", task=task, budget=budget)
    for seed in range(episodes):
        for name, agent in agents.items():
            rows, err = run_episode(agent, env, seed, budget)
            if err:
                raise RuntimeError(f"{name} failed: {err}")
            times[name] += [r["choose_seconds"] for r in rows]
    out = {a: {"mean_s": float(np.mean(t)), "median_s": float(np.median(t))} for a, t in times.items()}
    out["ratio_mean"] = out["grpoformer"]["mean_s"] / out["tpe"]["mean_s"]
    out["ratio_median"] = out["grpoformer"]["median_s"] / out["tpe"]["median_s"]
    if with_torch_path:
        out["torch_ratio_median"] = out["grpoformer-torch"]["median_s"] / out["tpe"]["median_s"]
    return out


def side_by_side_line(side: dict, task: str = "kc1", budget: int = 50, episodes: int = 6) -> str:
    """One report line for :func:`suggest_time_side_by_side`'s result."""
    line = (f"- side by side (interleaved episodes, {task}, budget {budget}, {episodes} episodes each, one process): GRPOformer "
            f"{side['grpoformer']['mean_s']:.2g} s (median {side['grpoformer']['median_s']:.2g}) vs TPE "
            f"{side['tpe']['mean_s']:.2g} s (median {side['tpe']['median_s']:.2g}) -> ratio "
            f"{side['ratio_mean']:.2f} (medians {side['ratio_median']:.2f}; target <= 0.3)")
    if "grpoformer-torch" in side:
        line += (f"; torch inference path (fast=False, torch threads: {side.get('torch_threads', '?')}): median "
                 f"{side['grpoformer-torch']['median_s']:.2g} s, ratio {side['torch_ratio_median']:.2f}")
    return line


ABLATION_VARIANTS = ("grpo+pcr", "no-pcr", "reinforce", "ppo-critic")


def ablation_suffix(only: Sequence[str]) -> str:
    """File-name suffix of an ablation run over ``only`` ("" for all variants): scoring a subset with more seeds
    (``--ablation-variants grpo+pcr,no-pcr --ablation-seeds 8``) wrote over the full table and churn plot."""
    if set(only) == set(ABLATION_VARIANTS):
        return ""
    return "_" + "_".join(v.replace("+", "-") for v in ABLATION_VARIANTS if v in only)  # one name whatever the order


def run_ablations(out: Path, cfg: TrainConfig, seeds: int, fold: int = 0,
                  only: Sequence[str] = ABLATION_VARIANTS) -> str:
    """Full / no-PCR / REINFORCE / PPO-critic (or the ``only`` ones) on one fold with the same training budget,
    ``seeds`` training seeds each; with both GRPO variants, also their paired difference by training seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    held = kfold_splits(TASKS, 4)[fold]
    train_objs = [load_hpobench_nn(t) for t in TASKS if t not in held]
    held_objs = [load_hpobench_nn(t) for t in held]
    variants = {
        "grpo+pcr": cfg.learner,
        "no-pcr": dataclasses.replace(cfg.learner, pcr_lambda=0.0),
        "reinforce": dataclasses.replace(cfg.learner, algo="reinforce"),
        "ppo-critic": dataclasses.replace(cfg.learner, algo="ppo-critic"),
    }
    variants = {name: lc for name, lc in variants.items() if name in only}
    rows, logs = [], {}
    for name, lc in variants.items():
        for s in range(seeds):
            run_dir = out / "ablations" / f"{name}-seed{s}"
            c = dataclasses.replace(cfg, seed=s, learner=lc)
            if not (run_dir / "policy.pt").exists():
                print(f"ablation {name} seed {s}", flush=True)
                train(train_objs, run_dir, c, holdout=held_objs, resume=True)
            policy, extra = load_policy(run_dir / "policy.pt")
            check_finished_run(run_dir / "policy.pt", extra, c, [o.name for o in train_objs])
            reg = heldout_regret(policy, held_objs, seeds=10, budget=50)
            log = pd.read_csv(run_dir / "log.csv")
            logs[(name, s)] = log
            rows.append({"variant": name, "seed": s, "heldout_regret@50": reg, "mean_churn": log["churn"].mean(),
                         "final_churn": log["churn"].tail(10).mean(), "evaluations": int(log["evaluations"].iloc[-1]),
                         "wall_s": extra.get("wall_s")})
    res = pd.DataFrame(rows)
    agg = res.groupby("variant").agg(regret_mean=("heldout_regret@50", "mean"), regret_std=("heldout_regret@50", "std"),
                                     churn_mean=("mean_churn", "mean"), churn_last10=("final_churn", "mean"),
                                     evaluations=("evaluations", "mean"), wall_s=("wall_s", "mean"))
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = {"grpo+pcr": "C0", "no-pcr": "C1", "reinforce": "C2", "ppo-critic": "C3"}
    for (name, s), log in logs.items():
        ax.plot(log["update"], log["churn"].rolling(5, min_periods=1).mean(), color=colors[name], alpha=0.8,
                label=name if s == 0 else None)
    ax.set_xlabel("update")
    ax.set_ylabel("churn: mean KL(snapshot || updated)")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title(f"Policy churn per update (fold {fold}, {seeds} training seeds each)")
    fig.tight_layout()
    png = save_figure(fig, out / f"churn_curves{ablation_suffix(only)}.png")
    paired = ""
    if {"grpo+pcr", "no-pcr"} <= set(variants):  # the same training seed pairs the two GRPO variants
        by_seed = res.pivot(index="seed", columns="variant", values="heldout_regret@50")
        diff = by_seed["grpo+pcr"] - by_seed["no-pcr"]
        paired = (f"paired by training seed, GRPO + PCR minus no PCR: {diff.mean():+.4f} +- "
                  f"{diff.std(ddof=1) / np.sqrt(len(diff)):.4f} (standard error, {len(diff)} seeds)")
    md = ["## Ablations (fold %d: held out %s; same training budget; held-out regret of the policy alone, the "
          "first-new rule that training monitors, not the default agent's density-ratio choice)" % (fold, ", ".join(held)), "",
          agg.to_markdown(floatfmt=".4f"), "", *([paired, ""] if paired else []),
          res.to_markdown(index=False, floatfmt=".4f"), "", f"churn curves: {png}"]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=directory, default=ROOT / "runs" / "grpoformer_vs_tpe", help="run directory: fold checkpoints, bench/, report.md/json (default runs/grpoformer_vs_tpe)")
    add_protocol_options(ap)
    ap.add_argument("--jobs", type=positive_int, default=1, help="parallel benchmark workers (default 1)")
    ap.add_argument("--updates", type=positive_int, default=None, help="training updates per fold (default TrainConfig)")
    ap.add_argument("--ship", action="store_true", help="copy fold checkpoints into agents/grpoformer/checkpoints/folds")
    ap.add_argument("--floor-plot", type=file_path, default=None,
                    help="where to draw per-task regret against the suite's floor (default OUT/regret_vs_floor.png)")
    ap.add_argument("--ablations", action="store_true", help="also run the no-PCR / REINFORCE / PPO-critic ablations")
    ap.add_argument("--ablation-seeds", type=positive_int, default=3, help="training seeds per ablation variant (default 3)")
    ap.add_argument("--ablation-updates", type=positive_int, default=None, help="GRPO updates per ablation run (default: --updates, else 150)")
    ap.add_argument("--ablation-variants", type=name_list, default=list(ABLATION_VARIANTS),
                    help=f"which ablation variants to train and score (default all: {','.join(ABLATION_VARIANTS)})")
    ap.add_argument("--skip-protocol", action="store_true", help="only the ablations (with --ablations)")
    ap.add_argument("--suggest-time-only", action="store_true",
                    help="only the side-by-side suggest-time measurement (TPE, GRPOformer, and its torch path), "
                         "no training or protocol; writes OUT/suggest_time.json")
    ap.add_argument("--episodes", type=positive_int, default=6,
                    help="episodes per agent of the side-by-side suggest-time measurement (default 6)")
    ap.add_argument("--checkpoint", type=file_path, default=None, help="--suggest-time-only: time this policy instead of the shipped one")
    ap.add_argument("--torch-threads", type=positive_int, default=None,
                    help="torch.set_num_threads for --suggest-time-only (default: torch's own; the torch path's "
                         "small ops slow down sharply with 2 intra-op threads on busy shared cores)")
    args = ap.parse_args(argv)
    if args.skip_protocol and not args.ablations:
        ap.error("--skip-protocol skips the k-fold protocol and leaves only the ablations: add --ablations")
    only_for_timing = [f"--{k.replace('_', '-')}" for k in ("checkpoint", "torch_threads") if getattr(args, k) is not None]
    if only_for_timing and not args.suggest_time_only:  # they were ignored, and the whole protocol ran
        ap.error(f"{' and '.join(only_for_timing)} {'set' if len(only_for_timing) > 1 else 'sets'} the "
                 "--suggest-time-only measurement: add --suggest-time-only")
    if args.suggest_time_only:
        refuse_ignored(ap, args, "--suggest-time-only", ("seeds", "jobs", "updates", "ship", "floor_plot", "ablations",
                                                         "ablation_seeds", "ablation_updates", "ablation_variants",
                                                         "skip_protocol"))
        if args.checkpoint is not None and "{k}" in str(args.checkpoint):
            ap.error("--checkpoint times one policy: give one file, not a per-fold {k} pattern")
        if args.checkpoint is not None and not args.checkpoint.is_file():  # before the TPE episodes, not after them
            ap.error(f"--checkpoint {args.checkpoint}: no such file; give a policy.pt that train-grpoformer wrote")
    elif args.skip_protocol:  # the ablations alone: fold 0, their own 10 seeds and budget 50
        refuse_ignored(ap, args, "--skip-protocol", ("seeds", "budget", "jobs", "ship", "floor_plot", "episodes"))
    unknown = sorted(set(args.ablation_variants) - set(ABLATION_VARIANTS))
    if unknown:  # a repeat is refused by name_list
        ap.error(f"--ablation-variants names {', '.join(unknown)}, not a variant; choose among "
                 f"{', '.join(ABLATION_VARIANTS)}")
    # in the table's order, whatever order they were given in: 'no-pcr,grpo+pcr' wrote a second copy of the same table
    # under another file name, and the full set in another order was taken for a change of the default
    args.ablation_variants = [v for v in ABLATION_VARIANTS if v in args.ablation_variants]
    ablation_only = [f"--{n.replace('_', '-')}" for n in ("ablation_seeds", "ablation_updates", "ablation_variants")
                     if getattr(args, n) != ap.get_default(n)]
    if ablation_only and not args.ablations and not args.suggest_time_only:  # ignored: the protocol ran without a word
        ap.error(f"{' and '.join(ablation_only)} set the ablations: add --ablations")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.suggest_time_only:
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        side = suggest_time_side_by_side(episodes=args.episodes, budget=args.budget, with_torch_path=True,
                                         checkpoint=args.checkpoint)
        side["torch_threads"] = torch.get_num_threads()
        (out / "suggest_time.json").write_text(json.dumps(side, indent=2))
        print(side_by_side_line(side, budget=args.budget, episodes=args.episodes))
        return 0
    cfg = TrainConfig(eval_every=10)
    if args.updates:
        cfg.updates = args.updates
    text = ""
    if not args.skip_protocol:
        t0 = time.time()
        facts = train_folds(out, cfg, args.ship)
        from agents.registry import make_agent

        agents = {a: a for a in BASELINES + TRANSFER}
        agents["grpoformer"] = fold_checkpoint_spec(out, cfg, facts)
        agents[POLICY_ALONE] = POLICY_ALONE + agents["grpoformer"].removeprefix("grpoformer")
        df = run_benchmark(agents, budget=args.budget, seeds=args.seeds, out=out / "bench", jobs=args.jobs,
                           protocol="kfold", folds=4, resolve_agent=make_agent, retry_failed=True)
        require_finished_runs(df, out / "bench")  # the ratios and ranks compare agents run for run
        text, summary = protocol_report(df, facts, args.floor_plot or out / "regret_vs_floor.png")
        line, summary["insample_reference"] = insample_line(
            insample_reference(out, args.budget, args.seeds, args.jobs), summary[f"regret@{args.budget}"]["tpe"])
        text += "\n" + line
        side = suggest_time_side_by_side(episodes=args.episodes, budget=args.budget)
        summary["suggest_time_side_by_side"] = side
        text += "\n" + side_by_side_line(side, budget=args.budget, episodes=args.episodes)
        summary["wall_s"] = time.time() - t0
        (out / "report.json").write_text(json.dumps(json_value(summary), indent=2, default=str, allow_nan=False))
    if not args.skip_protocol:
        (out / "report.md").write_text(text + "\n")
        print(text)
        print(f"\nreport: {out / 'report.md'}")
    if args.ablations:
        acfg = dataclasses.replace(cfg, updates=args.ablation_updates or cfg.updates)
        abl = run_ablations(out, acfg, args.ablation_seeds, only=args.ablation_variants)
        md = out / f"ablations{ablation_suffix(args.ablation_variants)}.md"
        md.write_text(abl + "\n")
        print(abl)
        print(f"\nablations: {md}")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: trained folds, a fold's last training checkpoint and finished benchmark runs are kept"))
