"""Paper mode on every embedded task: GRPOformer learning from scratch on the target task, vs Random and TPE.

In the paper's setting the policy is trained *on the task it optimizes*: every evaluation -- the GRPO
groups included -- is counted against the budget (:func:`agents.grpoformer.train.train_online`). This
script runs it on each task and seed (cached per run in ``OUT/online/``, so an interrupted run resumes),
runs Random and TPE through the harness at the same budget and number of seeds (``OUT/bench``, resumable),
and prints normalized regret at 50, 100, 250 and the budget, per task and overall::

    nice -n 10 python benchmarks/grpoformer_online.py --budget 500 --seeds 3 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpo_gym.atomic import atomic_write_text  # noqa: E402
from hpo_gym.benchmark import run_benchmark  # noqa: E402
from hpo_gym.benchmark.metrics import require_finished_runs  # noqa: E402
from hpo_gym.suites import HPOBENCH_NN, HPOBENCH_NN_TASKS, get_suite, load_hpobench_nn  # noqa: E402
from hpo_gym.cli import directory, episode_budget, name_list, positive_int, run_script  # noqa: E402
from hpo_gym.episode import repeated  # noqa: E402
from hpo_gym.parallel import map_jobs  # noqa: E402


def checkpoints_of(budget: int) -> list[int]:
    return sorted({b for b in (50, 100, 250, budget) if b <= budget})


def online_recipe() -> dict:
    """What a cached run was trained with (paper mode's learner and policy settings, the input features' version),
    as JSON stores it: a run cached under another recipe is run again, not mixed with fresh baselines."""
    from agents.grpoformer.policy import FEATURES_VERSION, PolicyConfig
    from agents.grpoformer.train import online_learner_config

    recipe = {"learner": asdict(online_learner_config()), "policy": asdict(PolicyConfig()),
              "features": FEATURES_VERSION}
    return json.loads(json.dumps(recipe))


def online_run(job: tuple[str, int, int, str]) -> dict:
    """One paper-mode run (cached as JSON, keyed by task, seed and budget and holding its recipe; written atomically,
    and a file that does not parse or holds another recipe is run again): normalized regret of the best-so-far at each
    checkpoint."""
    from agents.grpoformer.learner import LearnerConfig

    task, seed, budget, out = job
    path = Path(out) / "online" / f"{task}-seed{seed}-budget{budget}.json"
    recipe = online_recipe()
    if path.exists():
        try:
            cached = json.loads(path.read_text())
            if cached.pop("recipe", None) == recipe:
                return cached
        except json.JSONDecodeError:
            pass
    from agents.grpoformer.train import train_online

    obj = load_hpobench_nn(task)
    curve, _ = train_online(obj, budget=budget, seed=seed, cfg=LearnerConfig(**recipe["learner"]), threads=1,
                            progress=False)
    regret = obj.oracle.normalized_regret(curve)
    row = {"agent": "grpoformer-online", "task": task, "seed": seed,
           **{f"regret@{b}": float(regret[b - 1]) for b in checkpoints_of(budget)}}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({**row, "recipe": recipe}))
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=name_list, default=list(HPOBENCH_NN_TASKS),
                    help="comma-separated tasks, names or OpenML ids, each once (default: all 8 embedded)")
    ap.add_argument("--seeds", type=positive_int, default=3, help="seeds per task, online runs and baselines alike (default 3)")
    ap.add_argument("--budget", type=episode_budget, default=500, help="evaluations per run, GRPO groups included (default 500)")
    ap.add_argument("--jobs", type=positive_int, default=1, help="parallel online runs (default 1; 1 on a GPU, see the docs)")
    ap.add_argument("--out", type=directory, default=ROOT / "runs" / "grpoformer_online_all", help="run directory, resumable (default runs/grpoformer_online_all)")
    args = ap.parse_args(argv)
    suite = get_suite(HPOBENCH_NN)
    try:  # ids to names once: the online rows and the harness's would otherwise name one task two ways ('31', 'credit_g')
        tasks = [suite.task_name(t) for t in args.tasks]
    except ValueError as e:
        ap.error(f"--tasks: {e}")
    if twice := repeated(tasks):  # one task by its name and its id: name_list saw two names
        ap.error(f"--tasks names {', '.join(twice)} more than once (by name and by id); list each task once")
    from agents.registry import make_agent

    # the baselines first: the harness refuses an unknown task or an OUT/bench of other settings before any run, where
    # the online runs (minutes each at budget 500) would have come first and been refused after
    df = run_benchmark(["random", "tpe"], tasks, budget=args.budget, seeds=args.seeds, out=Path(args.out) / "bench",
                       jobs=args.jobs, resolve_agent=make_agent, retry_failed=True)
    require_finished_runs(df, Path(args.out) / "bench")
    rows = map_jobs(online_run, [(t, s, args.budget, args.out) for t in tasks for s in range(args.seeds)], args.jobs,
                    desc="online runs")
    for b in checkpoints_of(args.budget):
        at = df[df.step == b].groupby(["agent", "task", "seed"])["normalized_regret"].first().reset_index()
        for r in at.itertuples():
            rows.append({"agent": r.agent, "task": r.task, "seed": r.seed, f"regret@{b}": r.normalized_regret})
    res = pd.DataFrame(rows).groupby(["agent", "task", "seed"]).first().reset_index()
    cols = [f"regret@{b}" for b in checkpoints_of(args.budget)]
    overall = res.groupby("agent")[cols].mean()
    per_task = res.pivot_table(index="task", columns="agent", values=f"regret@{args.budget}", aggfunc="mean")
    std = res.groupby(["agent", "task"])[f"regret@{args.budget}"].mean().groupby("agent").std()
    overall[f"std over tasks @{args.budget}"] = std
    print(f"Paper mode: learning on the target task, every evaluation counted (budget {args.budget}, "
          f"{args.seeds} seeds, {len(tasks)} tasks); mean normalized regret\n")
    print(overall.to_markdown(floatfmt=".4f"))
    print(f"\nper task, regret@{args.budget}:\n")
    print(per_task.to_markdown(floatfmt=".4f"))
    wins = int((per_task["grpoformer-online"] < per_task["tpe"]).sum())
    tpe_mean = overall.loc["tpe", cols[-1]]
    ratio = (f"ratio of means {overall.loc['grpoformer-online', cols[-1]] / tpe_mean:.2f}" if tpe_mean > 0
             else "no ratio of means: TPE's regret is 0")
    print(f"\ngrpoformer-online below TPE on {wins}/{len(per_task)} tasks; {ratio}")
    res.to_csv(Path(args.out) / "online_results.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "rerun the same command to continue: finished online runs and benchmark runs are kept"))
