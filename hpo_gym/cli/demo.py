"""hpo-gym demo: the main job in one command, a small benchmark on the embedded suite in seconds (5-12 s on 2 cores).

About 5 s on an idle 2-core machine, about 12 s when other jobs share its cores.

Random search and Optuna's TPE run on all 8 tasks of the embedded HPOBench NN suite (budget 50,
3 seeds, 2 processes by default), then the normalized regret per task and the summary table are
printed. No network, no GPU. ``--out DIR`` keeps the results for ``hpo-gym report DIR`` (plots).
"""

from __future__ import annotations

import argparse
import shlex
import time

from hpo_gym.cli import directory, episode_budget, import_from_working_directory, name_list, positive_int
from hpo_gym.suites import HPOBENCH_NN


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="small benchmark on the embedded suite: random vs TPE, regret per task",
                              description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=name_list, default=["random", "tpe"],
                   help="comma-separated agents (default random,tpe), as for `hpo-gym bench --agents` (agents that must "
                        "be fitted first, e.g. portfolio, need bench's --protocol kfold)")
    p.add_argument("--budget", type=episode_budget, default=50, help="evaluations per run (default 50)")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds per (agent, task) (default 3)")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker processes (default 2)")
    p.add_argument("--out", type=directory, default=None, help="keep results here (resumable; `hpo-gym report DIR` plots them)")
    p.set_defaults(func=run, interrupt_hint=lambda a: f"rerun the same command to resume (finished runs in {a.out} are "
                                                      "kept)" if a.out else "")


def run(args: argparse.Namespace) -> int:
    from agents.registry import labelled_specs, make_agent

    from hpo_gym.benchmark import per_task_table, run_benchmark, summary_table
    from hpo_gym.benchmark.report import (column_legend, coverage_note, format_summary, held_out_reasons,
                                          in_sample_tasks, markdown_table, regret_text)
    from hpo_gym.cli.bench import exit_status
    from hpo_gym.benchmark.runner import declares_itself_unfitted

    import_from_working_directory()
    agents = labelled_specs(args.agents)
    for spec in agents.values():
        if declares_itself_unfitted(make_agent(spec), HPOBENCH_NN):
            raise ValueError(f"agent {spec!r} must be fitted on training tasks before it plays, and demo plays every "
                             f"task with no folds: run hpo-gym bench --agents {spec} --protocol kfold --out DIR, which "
                             "fits it per fold and scores it on the tasks each fold holds out")
    seeds = f"{args.seeds} seed{'s' * (args.seeds != 1)}"
    processes = min(args.jobs, len(agents) * 8 * args.seeds)  # the benchmark starts no more than it has runs
    print(f"hpo-gym demo: {', '.join(agents)} on the {HPOBENCH_NN} suite (8 tasks), budget {args.budget}, "
          f"{seeds}, {processes} process{'es' * (processes != 1)}")
    start = time.perf_counter()
    df = run_benchmark(agents, suite=HPOBENCH_NN, budget=args.budget, seeds=args.seeds, out=args.out,
                       jobs=args.jobs, resolve_agent=make_agent)
    seconds = time.perf_counter() - start
    note = coverage_note(df)  # a failed run leaves its agent fewer seeds than the header below says
    if note:
        print("\n" + note)
    print(f"\nNormalized regret per task after {args.budget} evaluations (mean over {seeds}; 0 = the table's "
          "best configuration, 1 = its worst):\n")
    print(markdown_table(per_task_table(df).map(regret_text), disable_numparse=True))  # 3 digits below 1e-3, as report
    table = summary_table(df)
    print("\nSummary per agent (the tasks' metric is validation accuracy):\n")
    print(markdown_table(format_summary(table, in_sample_tasks(df), held_out_reasons(df)), disable_numparse=True))
    print("\n" + column_legend(table, args.budget))
    print(f"\n{df.groupby(['agent', 'task', 'seed']).ngroups} runs in {seconds:.1f} s"
          + (f"; results in {args.out} (`hpo-gym report {shlex.quote(str(args.out))}` draws the plots)"
             if args.out else ""))
    return exit_status(df, f"stored in {args.out}" if args.out else "not kept: --out DIR keeps every run")
