"""``hpo-gym bench`` (run agents x tasks x seeds into a result directory) and ``hpo-gym report`` (read it).

``bench`` is resumable: rerun the same command after an interruption and only the missing runs are
done. Agent names are resolved through :mod:`agents.registry`, imported here (the app layer) only
when the command runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import textwrap
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from hpo_gym.cli import (EXIT_FAILED, WORKER_DIED, GivenOnce, directory, episode_budget, finite_float,
                         import_from_working_directory, name_list, positive_int)
from hpo_gym.suites import HPOBENCH_NN, suite_names
from hpo_gym.user_code import users_traceback

if TYPE_CHECKING:
    import pandas as pd


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="benchmark agents on a suite (resumable; results in --out)",
                              description=textwrap.fill(  # filled here: the raw formatter keeps the examples' lines
                                          "Run agents x tasks x seeds through HPO-OpenML-v0 and store every step. Exit status 0 when "
                                          "every run finished, 1 when some agent raised (its runs are stored as failed), "
                                          "2 on bad input, 130 when interrupted (Ctrl-C, or a plain kill: SIGTERM), after the runs in flight "
                                          "are stored. After an interruption, or a worker process killed "
                                          "(e.g. out of memory; exit status 1), rerun the same command: finished runs are kept.",
                                          width=100),
                              epilog="examples:\n"
                                     "  hpo-gym bench --agents random,tpe,cmaes --out runs/b\n"
                                     "  hpo-gym bench --agents tpe,portfolio+tpe,grpoformer --protocol kfold --out runs/t\n"
                                     "  hpo-gym bench --agents tpe,mine=my_agents:MyAgent --tasks credit_g,kc1 --seeds 3 --out runs/m\n"
                                     "  hpo-gym report runs/b --compare tpe:random",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agents", type=name_list, default=["random", "tpe"],
                   help="comma-separated agent specs (NAME or NAME:ARG; default random,tpe): random, tpe, gp, cmaes, qmc; "
                        "transfer agents, fitted per fold under --protocol kfold: portfolio, portfolio+tpe[:K], "
                        "grpoformer[:PATH] (PATH may hold {k} for the fold; grpoformer-policy[:PATH]: the policy alone, without the "
                        "density-ratio choice among its candidates), ppo[:STEPS or :MODEL.zip]; your own: "
                        "MODULE:FACTORY, e.g. my_agents:MyAgent (a module in the working directory). LABEL=SPEC names "
                        "an agent in the results, e.g. mine=my_agents:MyAgent")
    p.add_argument("--suite", default=HPOBENCH_NN, help=f"task suite (default {HPOBENCH_NN}); known: {', '.join(suite_names())}")
    p.add_argument("--tasks", type=name_list, default=None,
                   help="comma-separated task names or OpenML ids to run (an id runs every task with it; default: "
                        "all of the suite; `hpo-gym tasks` lists them); under --protocol kfold the folds are still "
                        "made over the whole suite")
    p.add_argument("--budget", type=episode_budget, default=50, help="evaluations per run (default 50)")
    p.add_argument("--seeds", type=positive_int, default=10, help="seeds 0..N-1 per (agent, task) (default 10)")
    p.add_argument("--out", required=True, type=directory, help="result directory; rerunning skips finished runs")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="worker processes (default 1: runs one at a time in this process, so an agent's own threads, "
                        "Ray fits and memory are not multiplied; demo uses 2. --jobs N runs N at a time, up to the "
                        "cores)")
    p.add_argument("--protocol", choices=["all", "kfold"], default="all",
                   help="all (default): every agent plays every task as it is; kfold: agents with fit() are fitted per "
                        "fold on its training tasks and scored on its held-out tasks only")
    p.add_argument("--folds", type=int, default=None, help="number of folds for --protocol kfold (default 4)")
    p.add_argument("--retry-failed", action="store_true", help="run again the stored runs in which the agent raised")
    p.add_argument("--no-report", action="store_true", help="do not print the summary at the end")
    # Ctrl-C (hpo_gym.cli.main): the finished runs are stored; a traceback would only hide that
    p.set_defaults(func=run_bench, interrupt_hint=lambda a: f"rerun the same command to resume ({_stored_runs(a.out)})")

    r = subparsers.add_parser("report", help="summarize a benchmark directory (Markdown or JSON) and write PNG plots",
                              description="Print the summary of a benchmark directory (Markdown on stdout by default, "
                                          "or --json) and write regret_per_task.png and average_rank.png (to OUT/plots "
                                          "unless --plots or --no-plots). Example: hpo-gym report runs/b --compare tpe:random")
    r.add_argument("out", type=directory, help="the directory given to `hpo-gym bench --out`")
    r.add_argument("--json", action="store_true", help="print JSON per agent and per task instead of Markdown")
    where = r.add_mutually_exclusive_group()  # --no-plots --plots DIR ignored DIR
    where.add_argument("--plots", type=directory, default=None, help="where to write the PNGs (default OUT/plots)")
    where.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    r.add_argument("--compare", action="append", default=[], metavar="AGENT:REFERENCE",
                   help="also print AGENT's mean regret at the budget over REFERENCE's with a 95%% paired bootstrap "
                        "interval (repeatable; e.g. --compare myagent:tpe)")
    r.add_argument("--at", type=positive_int, default=None, metavar="B", action=GivenOnce,
                   help="compare at B evaluations instead of the whole budget (e.g. --at 25; once, for every --compare)")
    r.add_argument("--threshold", type=finite_float, default=None, metavar="R", action=GivenOnce,
                   help="also print the share of bootstrap resamples whose ratio is at or below R (e.g. a target: 0.5; "
                        "once, for every --compare)")
    r.set_defaults(func=run_report)


def run_bench(args: argparse.Namespace) -> int:
    from agents.registry import labelled_specs, make_agent

    from hpo_gym.benchmark import run_benchmark
    from hpo_gym.benchmark.report import markdown_report, setup_note

    if args.folds is not None and args.protocol != "kfold":  # it would be ignored, and look as if it asked for k-fold
        raise ValueError(f"--folds {args.folds} applies to --protocol kfold only; add --protocol kfold, or drop --folds")
    import_from_working_directory()
    try:
        df = run_benchmark(labelled_specs(args.agents), suite=args.suite, budget=args.budget, seeds=args.seeds, out=args.out,
                           jobs=args.jobs, protocol=args.protocol, folds=4 if args.folds is None else args.folds,
                           only_tasks=args.tasks, resolve_agent=make_agent, retry_failed=args.retry_failed)
    except BrokenProcessPool:  # not bad input (exit 2): a worker was killed, e.g. by the out-of-memory killer
        print(f"hpo-gym bench: error: {WORKER_DIED}; the runs in flight are lost. Rerun the same command to resume: "
              f"finished runs are kept ({_stored_runs(args.out)})", file=sys.stderr)
        return EXIT_FAILED
    where = f"results in {args.out}; `hpo-gym report {shlex.quote(str(args.out))}` prints the report and writes the plots"
    if args.no_report:  # stdout stays empty for a script; the location still reaches the user
        print(where, file=sys.stderr)
    else:
        print(markdown_report(df) + "\n\n" + setup_note(args.out))
        print("\n" + where)
    return exit_status(df, "stored; rerun them with --retry-failed once fixed")


def exit_status(df: pd.DataFrame, where: str) -> int:
    """0 when every run finished; else ``EXIT_FAILED`` (1), after naming how many runs failed and the first one's error
    on stderr: failed runs are stored and reported, but a script calling the command must see them."""
    failed = df[df["status"] != "ok"].drop_duplicates(["agent", "task", "seed"])
    if len(failed):
        first = failed.iloc[0]
        print(f"{len(failed)} run(s) failed ({where}); first: {first['agent']} "
              f"on {first['task']} seed {first['seed']}:\n{users_traceback(str(first['error']))}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _stored_runs(out: Path) -> str:
    """How many runs ``out`` holds, for the resume hint (the runs of this command and of earlier ones)."""
    from hpo_gym.benchmark import ResultStore

    n = len(ResultStore(out).shard_paths())
    return f"{n} run{'' if n == 1 else 's'} stored in {out}"


def _split_comparison(text: str, agents: set[str]) -> tuple[str, str]:
    """``AGENT:REFERENCE`` -> the two names. Agent names may hold colons themselves (``grpoformer:PATH``,
    ``portfolio+tpe:10``), so the split is the colon at which both sides are agents of the benchmark."""
    splits = [(text[:i], text[i + 1:]) for i, ch in enumerate(text) if ch == ":"]
    for a, ref in splits:
        if a in agents and ref in agents:
            if a == ref:
                raise ValueError(f"--compare {text!r} compares {a!r} with itself (the ratio is 1); name two agents")
            return a, ref
    if not splits:
        raise ValueError(f"--compare takes AGENT:REFERENCE (e.g. grpoformer:tpe), got {text!r}")
    unknown = sorted({name for pair in splits for name in pair if name and name not in agents})
    raise ValueError(f"--compare {text!r}: no split into two agents of this benchmark (unknown: {unknown}); "
                     f"agents: {sorted(agents)}")


def run_report(args: argparse.Namespace) -> int:
    from hpo_gym.benchmark.metrics import run_budget
    from hpo_gym.benchmark.report import (json_report, json_value, load_results, markdown_report, ratio_comparison,
                                          setup, setup_note)

    df = load_results(args.out)
    if (args.at is not None or args.threshold is not None) and not args.compare:
        raise ValueError("--at and --threshold set how --compare AGENT:REFERENCE compares; add a --compare")
    if args.at is not None and args.at > run_budget(df):
        raise ValueError(f"--at {args.at} is past this benchmark's budget of {run_budget(df)} evaluations")
    comparisons, problems = [], []
    for text in args.compare:  # a bad --compare is reported after the report, which it does not change
        try:
            a, ref = _split_comparison(text, set(df["agent"].unique()))
            comparisons.append((f"{a}:{ref}", *ratio_comparison(df, a, ref, b=args.at, threshold=args.threshold)))
        except ValueError as e:
            problems.append(str(e))
    if args.json:
        report = {**json_report(df), "setup": setup(args.out)}
        if comparisons:
            report["comparisons"] = {key: {k: json_value(v) for k, v in ci.items()} for key, _, ci in comparisons}
        if problems:  # a pipe reads the JSON, not stderr: the refused comparisons are in it too (and the exit is 2)
            report["errors"] = problems
        print(json.dumps(report, indent=2, allow_nan=False))
    else:
        print(markdown_report(df) + "\n\n" + setup_note(args.out))  # the coverage warning stays first
        for _, line, _ in comparisons:
            print("\n" + line)
    if not args.no_plots:
        _plots(df, args)
    for problem in problems:
        print(f"hpo-gym report: error: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _plots(df: pd.DataFrame, args: argparse.Namespace) -> None:
    """Write the PNGs and say where; when there is nothing to plot (every run failed) say why on stderr and go on,
    since the table above already holds what the benchmark found (its failures)."""
    from hpo_gym.benchmark.plots import NothingToPlot
    from hpo_gym.benchmark.report import write_plots

    try:
        paths = write_plots(df, args.plots or args.out / "plots")
    except NothingToPlot as e:
        print(f"plots skipped: {e}", file=sys.stderr)
        return
    print("plots: " + ", ".join(map(str, paths)), file=sys.stderr)  # stdout stays the report (`report DIR > r.md`)
