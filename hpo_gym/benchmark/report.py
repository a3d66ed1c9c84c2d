"""Turn a benchmark's step table into Markdown, JSON and PNG plots (what ``hpo-gym report`` prints)."""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pandas as pd

from hpo_gym.benchmark.metrics import (
    best_score_at,
    coverage,
    held_out_by_agent,
    ok_steps,
    paired_ratio_bootstrap,
    per_task_details,
    per_task_table,
    run_budget,
    summary_table,
    task_means,
)
from hpo_gym.benchmark.provenance import read_records, version_differences
from hpo_gym.benchmark.runner import in_sample_fix
from hpo_gym.benchmark.store import MANIFEST, ResultStore


def load_results(out: str | Path) -> pd.DataFrame:
    """All stored steps of a benchmark directory; ``FileNotFoundError`` naming the fix when it is empty."""
    store = ResultStore(out)
    if not store.root.exists():
        raise FileNotFoundError(f"no benchmark directory {store.root}; run `hpo-gym bench --out {store.root}` first")
    if not store.root.is_dir():
        raise FileNotFoundError(f"{store.root} is a file, not a benchmark directory: give the directory that "
                                "`hpo-gym bench --out DIR` wrote")
    df = store.load()
    if df.empty:
        raise FileNotFoundError(_where_the_runs_are(store.root))
    if not (store.root / MANIFEST).exists() and df["budget"].nunique() > 1:  # bench refuses such a directory too
        raise ValueError(f"{store.root} holds runs of budgets {sorted(map(int, df['budget'].unique()))} and no "
                         f"{MANIFEST} saying which benchmark they belong to, so one report would mix them; move each "
                         "budget's shards into a directory of its own (DIR/runs/) and report those")
    return df


def _where_the_runs_are(root: Path) -> str:
    """Why ``root`` has no runs to report, with the fix: it is a benchmark's ``runs/`` folder (report the directory
    above), it holds benchmark directories (report one), or nothing ran yet. Following "run bench --out DIR/runs"
    would have nested a new benchmark inside another's runs folder."""
    if any(root.glob("*.parquet")):
        return (f"{root} is the runs folder of a benchmark, not a benchmark directory; report the directory above it: "
                f"`hpo-gym report {shlex.quote(str(root.parent))}`")
    trained = [name for name in ("log.csv", "state.pt", "policy.pt", "online.json") if (root / name).exists()]
    if trained:  # "run bench --out" there would have mixed a benchmark into a training run's directory
        return (f"{root} is a training run directory of `hpo-gym train-grpoformer` ({', '.join(trained)}), not a "
                f"benchmark: its log.csv holds the training curves; score its policy with `hpo-gym bench --agents "
                f"grpoformer:{shlex.quote(str(root / 'policy.pt'))} --out DIR` into another directory")
    below = sorted(p.parent for p in root.glob(f"*/{MANIFEST}"))
    if below:
        listed = ", ".join(p.name for p in below[:5]) + (", ..." if len(below) > 5 else "")
        return (f"{root} holds benchmark directories ({listed}), not runs of its own; report one of them, e.g. "
                f"`hpo-gym report {shlex.quote(str(below[0]))}`")
    return f"{root} holds no finished runs yet; run `hpo-gym bench --out {shlex.quote(str(root))}`"


def in_sample_tasks(df: pd.DataFrame) -> dict[str, tuple[list[str], int]]:
    """Per agent with in-sample rows (see :mod:`.runner`): the tasks it was trained on and scored on, and how many
    tasks it was scored on in all. Empty for step tables without the ``in_sample`` column (older stores)."""
    if "in_sample" not in df or df.empty:
        return {}
    marked = df[df["in_sample"].astype(bool)]
    return {cast(str, agent): (sorted(rows["task"].unique()), int(df.loc[df["agent"] == agent, "task"].nunique()))
            for agent, rows in marked.groupby("agent")}  # the agent column holds agent names


#: The versions the setup line names (all are in provenance.json).
SETUP_PACKAGES = ("hpo-gym", "optuna", "cmaes", "numpy", "scikit-learn", "torch")


def setup(out: str | Path) -> dict[str, Any]:
    """A benchmark directory's settings (``benchmark.json``) and what made its runs (``provenance.json``: how many
    commands, the last one's versions, the packages whose versions differ among them)."""
    store = ResultStore(out)
    records = read_records(out)
    packages = records[-1].get("packages") if records else None
    return {"settings": store.manifest(), "commands": len(records),
            "versions": dict(packages) if isinstance(packages, Mapping) else {},
            "python": records[-1].get("python") if records else None,
            "runs_before_records": records[0].get("runs_stored_before", 0) if records else None,
            "version_differences": version_differences(records)}


def setup_note(out: str | Path) -> str:
    """The lines a report of ``out`` ends with: its settings, the versions its runs were made with, a warning when
    the commands that filled it ran on different versions, and what ``noise=True`` does to the best-score columns
    (found by a user: a reader could not tell how the numbers were made, and MP/MnP under noise were best noisy
    draws, above the table's best score)."""
    info = setup(out)
    settings = info["settings"]
    parts = [f"budget {settings.get('budget')}", f"protocol {settings.get('protocol')}"
             + (f" ({settings['folds']} folds)" if settings.get("folds") else "")]
    parts += [f"suite {settings['suite']}"] if settings.get("suite") else []
    parts += [f"env kwargs {settings['env_kwargs']}"] if settings.get("env_kwargs") else []
    lines = [f"Setup ({out}/benchmark.json): " + ", ".join(parts) + "."]
    if info["commands"]:
        named = ", ".join(f"{name} {info['versions'][name]}" for name in SETUP_PACKAGES if info["versions"].get(name))
        lines.append(f"Made by {info['commands']} command{'s' * (info['commands'] != 1)} with Python {info['python']}, "
                     f"{named} (every package, seed and command line: provenance.json).")
        if info["runs_before_records"]:  # a directory resumed after provenance.json came in (2026-11-28)
            lines.append(f"{info['runs_before_records']} of its runs were stored before these records began; what "
                         "made them is not recorded.")
    else:
        lines.append("The versions the runs were made with are not recorded (a directory written before 2026-11-28).")
    if info["version_differences"]:
        differ = "; ".join(f"{name} {', '.join(v)}" for name, v in info["version_differences"].items())
        lines.append(f"WARNING: the commands that filled this directory ran on different versions ({differ}); runs "
                     "of one agent may differ for that alone.")
    if dict(settings.get("env_kwargs") or {}).get("noise"):
        lines.append("noise=True: each evaluation scored one seed of the table, so MP and MnP (the best scores seen) are "
                     "best noisy draws, above what those configurations score on average; regret is of the incumbent's "
                     "noise-free score.")
    return "\n".join(lines)


def held_out_reasons(df: pd.DataFrame) -> dict[str, str]:
    """Per held-out agent (:func:`~hpo_gym.benchmark.metrics.held_out_by_agent`), why its runs are held-out: ``k-fold``
    (a k-fold benchmark: fitted per fold on the other tasks, or, without fit, trained on none of them by its
    ``trained_on``: the stored runs do not say which, and the legend line names both), or ``not in trained_on`` (an
    agent that arrived trained, scored only on tasks outside the ones it declares; such runs read "no" before
    2026-11-28, found by a new user)."""
    held = held_out_by_agent(df)
    kfold = (df["fold"] >= 0).groupby(df["agent"]).all()
    return {cast(str, a): "k-fold" if kfold[a] else "not in trained_on" for a in held.index[held]}


def _held_out_label(heldout: bool, in_sample: tuple[list[str], int] | None, reason: str = "k-fold") -> str:
    """``yes (REASON)``, ``no``, or ``no (in-sample)`` when scored on its own training tasks (all, or k of n)."""
    if in_sample is not None:
        tasks, total = in_sample
        return "no (in-sample)" if len(tasks) >= total else f"no (in-sample on {len(tasks)} of {total} tasks)"
    return f"yes ({reason})" if heldout else "no"


def _seed_ranges(seeds: list[int]) -> str:
    """``[0, 1, 2, 3, 7]`` as ``seeds 0-3, 7``; ``[2]`` as ``seed 2``."""
    parts: list[str] = []
    for s in seeds:
        if parts and s == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{s}"
        else:
            parts.append(str(s))
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(parts)


def _tasks_text(tasks: list[str], all_tasks: list[str], limit: int = 8) -> str:
    """``all 8 tasks``, or ``3 of 8 tasks (a, b, c)`` naming them (the first ``limit``)."""
    if len(tasks) == len(all_tasks):
        return f"all {len(all_tasks)} tasks"
    named = ", ".join(map(str, tasks[:limit])) + (", ..." if len(tasks) > limit else "")
    return f"{len(tasks)} of {len(all_tasks)} tasks ({named})"


def coverage_note(df: pd.DataFrame) -> str | None:
    """A warning that agents cover different (task, seed) sets, naming each agent's runs, tasks and seeds and what the
    cross-agent metrics are computed on; None when coverage is equal (see :func:`~hpo_gym.benchmark.metrics.coverage`)."""
    cov = coverage(df)
    if cov is None:
        return None
    who = "; ".join(f"{a}: {c['runs']} run{'' if c['runs'] == 1 else 's'} on {_tasks_text(c['tasks'], cov['all_tasks'])}, "
                    f"{_seed_ranges(c['seeds'])}" if c["runs"] else f"{a}: no finished run" for a, c in cov["agents"].items())
    shared = cov["shared"]
    idle = [a for a, c in cov["agents"].items() if not c["runs"]]  # they shrink no pair (metrics.shared_runs)
    sharers = f"the agents with a finished run ({len(cov['agents']) - len(idle)}) share" if idle else "all agents share"
    if shared["runs"]:
        on = (f"are computed only on the {shared['runs']} (task, seed) pairs {sharers}: "
              f"{_tasks_text(shared['tasks'], cov['all_tasks'])}, {_seed_ranges(shared['seeds'])}")
    else:
        on = "are undefined (-): no (task, seed) pair has a finished run of every agent"
    return (f"WARNING: the agents finished runs on different (task, seed) sets (failed runs, or a partly finished or "
            f"resumed benchmark), so their numbers are not over the same runs. {who}. Regret, MP, MnP, s/suggestion "
            f"and the per-task regret cover each agent's own finished runs; BtR, MnR and the per-task ranks {on}. "
            f"Finish the missing runs (`hpo-gym bench` with the same --out for every agent, task and seed; "
            f"`--retry-failed` reruns failed ones) to compare like with like.")


def regret_out_of_range(df: pd.DataFrame, slack: float = 1e-9) -> dict[str, Any] | None:
    """Runs with a normalized regret outside [0, 1] at some step, or None. A suite table's regret stays inside by
    construction; a user objective's own ``oracle`` (best, worst) may not bound the scores reached, and then its
    regrets, their means and the plots (which clip at a floor) are on another scale than the other tasks'."""
    ok = ok_steps(df)
    off = ok[(ok["normalized_regret"] < -slack) | (ok["normalized_regret"] > 1 + slack)]
    if off.empty:
        return None
    runs = off[["agent", "task", "seed"]].drop_duplicates()
    return {"runs": int(len(runs)), "tasks": sorted(map(str, off["task"].unique())),
            "min": float(off["normalized_regret"].min()), "max": float(off["normalized_regret"].max())}


def regret_range_note(df: pd.DataFrame) -> str | None:
    """The Markdown report's warning for :func:`regret_out_of_range`; None when every regret is in [0, 1]."""
    off = regret_out_of_range(df)
    if off is None:
        return None
    return (f"WARNING: {off['runs']} run(s) on {', '.join(off['tasks'])} have a normalized regret outside [0, 1] "
            f"(from {off['min']:.4g} to {off['max']:.4g}): those tasks' oracle (best, worst score) does not bound the "
            "scores reached, so their regrets are on another scale than the other tasks' and weigh accordingly in every "
            "mean; give the objective the true best and worst scores (or no oracle).")


def _escape_cell(value: Any) -> Any:
    """Text for a Markdown table cell: ``|`` escaped and line breaks flattened. An agent or task named ``tpe|v2`` or
    with a newline would otherwise split its cell, and every number after it would sit under the wrong header."""
    if isinstance(value, str):
        return value.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return value


def markdown_table(frame: pd.DataFrame, **to_markdown: Any) -> str:
    """``frame.to_markdown(**to_markdown)`` with its labels and text cells escaped (:func:`_escape_cell`)."""
    return frame.rename(index=_escape_cell, columns=_escape_cell).map(_escape_cell).to_markdown(**to_markdown)


def _fmt(value: float, spec: str) -> str:
    """``value`` formatted, or ``-`` when it is undefined (NaN), as the regret columns show it."""
    return "-" if pd.isna(value) else format(value, spec)


def _score_text(value: float) -> str:
    """A score (MP, MnP) in the units of the tasks' metric: 4 decimals for the usual 0-1 metrics, 4 significant digits
    for a metric on another scale (a loss of 1e-12 would print 0.0000 for every agent; 7.4e11 as twelve digits)."""
    return _fmt(value, ".4f" if pd.isna(value) or value == 0 or 1e-3 <= abs(value) < 1e5 else ".4g")


def regret_text(value: float) -> str:
    """A normalized regret: 4 decimals, and 3 significant digits below 1e-3, where 4 decimals keep one digit at most
    (on car, random's 0.000557 and gp's 0.000575 both read 0.0006, hiding the loss that costs gp a BtR point)."""
    return _fmt(value, ".4f" if pd.isna(value) or value == 0 or abs(value) >= 1e-3 else ".3g")


def format_summary(table: pd.DataFrame, in_sample: Mapping[str, tuple[list[str], int]] | None = None,
                   reasons: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Readable column set: regret as ``mean ± std`` per budget, the rest rounded.

    ``in_sample`` (from :func:`in_sample_tasks`) marks agents scored on tasks they were trained on: their
    held-out column reads ``no (in-sample)``, so such a row never looks like a plain baseline's ``no``. ``reasons``
    (from :func:`held_out_reasons`) says why a held-out agent is (``yes (k-fold)`` without it).
    """
    in_sample = in_sample or {}
    out = pd.DataFrame(index=table.index)
    budgets = [c.split("@")[1] for c in table.columns if c.startswith("regret@")]
    for b in budgets:
        out[f"regret@{b}"] = [("-" if math.isnan(m) else f"{regret_text(m)} ± {regret_text(s)}")
                              for m, s in zip(table[f"regret@{b}"], table[f"std@{b}"])]  # one run: no std
    out["BtR"] = table["BtR"].map(lambda v: _fmt(v, ".2f"))
    out["MP"] = table["MP"].map(_score_text)
    out["MnP"] = table["MnP"].map(_score_text)
    out["MnR"] = table["MnR"].map(lambda v: _fmt(v, ".2f"))
    out["s/suggestion"] = table["sec/suggestion"].map(lambda v: _fmt(v, ".2g"))
    reasons = reasons or {}
    out["held-out"] = [_held_out_label(bool(h), in_sample.get(cast(str, a)), reasons.get(cast(str, a), "k-fold"))
                       for a, h in table["heldout"].items()]
    out["runs"] = table["runs"]
    if table["failed"].any():
        out["failed"] = table["failed"]
    return out


def _exception_line(error: str) -> str:
    """The exception's own first line from a stored traceback (the line after the last frame, not the message's last
    line, which for a multi-line message is not the one that names the exception)."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    last_frame = max((i for i, line in enumerate(lines) if line.startswith("  File ")), default=-1)
    after = [line for line in lines[last_frame + 1:] if not line.startswith(" ")]
    return after[0] if after else lines[-1]


def failed_evaluations_note(df: pd.DataFrame) -> str | None:
    """A line on the steps of finished runs whose evaluation failed (a model fit that raised or ran past its time
    limit), which scored the metric's worst and count in every metric like any step; None when there were none.

    Why: the run is ``ok`` (the agent did nothing wrong), so without this line a table of live fits that mostly timed
    out read like one of poor configurations."""
    if "eval_error" not in df:
        return None
    steps = df[(df["status"] == "ok") & (df["step"] > 0)]
    failed = steps[steps["eval_error"].fillna("") != ""]
    if failed.empty:
        return None
    per_agent = failed.groupby("agent").size()
    totals = steps.groupby("agent").size().to_dict()
    first = failed.sort_values(["agent", "task", "seed", "step"]).iloc[0]
    counts = ", ".join(f"{a}: {int(n)} of {int(totals[a])}" for a, n in per_agent.items())
    where = f"{first['agent']} on {first['task']} seed {int(first['seed'])} step {int(first['step'])}"
    return (f"failed evaluations: steps whose evaluation failed and scored the metric's worst ({counts}). First "
            f"({where}): {_escape_cell(str(first['eval_error']))}; each step's reason is in its 'eval_error' column.")


def column_legend(table: pd.DataFrame, budget: int) -> str:
    """What the summary's columns mean, printed under it (a reader should not need the README to read a report).
    MnR counts the agents of :func:`summary_table`'s ``table`` with a finished run: one without is in no rank."""
    n_agents = int((table["runs"] > 0).sum())
    ranks = (f"MnR = mean rank among the {n_agents} agent{'' if n_agents == 1 else 's'} with a finished run on each (task, "
             "seed), 1 = best; " if n_agents else "MnR = mean rank on each (task, seed), 1 = best (no agent finished "
             "a run, so there is none); ")
    return (f"Columns: regret@b = normalized regret of the best configuration after b evaluations (0 = the task's best, "
            f"1 = its worst; lower is better), mean ± std over all runs on tasks with a known best (live tasks have no "
            f"regret), so the ± mostly spreads across tasks (`hpo-gym report --compare A:B` gives a paired interval); BtR = "
            f"share of tasks on which the agent's mean regret@{budget} beats random's (on a live task its mean best score; - "
            "without a random agent); MP / MnP = median / mean over tasks of the best score (mean over "
            "seeds per task), in the tasks' "
            f"metric (negated for a metric to minimize, so higher is better); {ranks}"
            "s/suggestion = mean seconds per step the agent spends choosing and learning (act + observe); held-out = "
            "whether every run of the agent was on a task it was not trained on (the line below the table says how "
            "that is known; no = a classic method, or not known); runs = finished runs; failed = runs in which the "
            "agent raised.")


def markdown_report(df: pd.DataFrame, per_task: bool = True) -> str:
    """The summary table per agent (and the per-task regret table) as Markdown."""
    budget = run_budget(df)
    table = summary_table(df)
    in_sample = in_sample_tasks(df)
    reasons = held_out_reasons(df)
    note = coverage_note(df)
    parts = [] if note is None else [note, ""]  # first: every number below depends on it
    parts += [f"Normalized regret mean ± std over runs at each budget; BtR, MP, MnP, MnR at budget {budget}.",
              "", markdown_table(format_summary(table, in_sample, reasons), disable_numparse=True),
              "", column_legend(table, budget)]
    if "k-fold" in reasons.values():
        parts += ["", "held-out = yes (k-fold): scored only on tasks the agent was not trained on (k-fold over tasks): an "
                      "agent with fit was fitted per fold on the other tasks; one that arrived trained declares tasks "
                      "(its trained_on) none of which it was scored on."]
    if "not in trained_on" in reasons.values():
        parts += ["", "held-out = yes (not in trained_on): an agent that arrived trained, scored only on tasks outside "
                      "the training tasks it declares (its trained_on)."]
    if in_sample:
        parts += ["", "held-out = no (in-sample): scored on tasks the agent was trained on ("
                  + "; ".join(f"{a}: {', '.join(t)}" for a, (t, _) in in_sample.items())
                  + "), so these are not numbers for a new task; "
                  # the in-sample rows' own flag: the agent's other rows may be held-out (outside its trained_on)
                  + in_sample_fix(bool(df.loc[df["in_sample"].astype(bool), "heldout"].astype(bool).any()),
                                  bool((df["fold"] >= 0).any())) + "."]
    if table["failed"].any():
        failed = {a: int(n) for a, n in table["failed"].items() if n}
        first = df[df["status"] != "ok"].sort_values(["agent", "task", "seed"]).iloc[0]
        reason = _exception_line(str(first["error"]))
        parts += ["", "failed: runs in which the agent raised (" + ", ".join(f"{a}: {n}" for a, n in failed.items())
                  + "). They are left out of every metric above, so those agents' numbers cover only the runs they "
                  f"finished and may flatter them. First error ({first['agent']} on {first['task']} seed "
                  f"{int(first['seed'])}): {_escape_cell(reason)}; each run's traceback is in its 'error' column "
                  "(`hpo_gym.benchmark.report.load_results(DIR)` reads every step), and `--retry-failed` reruns them."]
    eval_note = failed_evaluations_note(df)
    if eval_note is not None:
        parts += ["", eval_note]
    range_note = regret_range_note(df)
    if range_note is not None:
        parts += ["", range_note]
    if per_task:
        regret = per_task_table(df, budget)
        no_best = [t for t in regret.index if regret.loc[t].isna().all()]  # tasks without an oracle (live ones)
        if len(no_best) < len(regret):
            parts += ["", f"Mean normalized regret per task at budget {budget} (over seeds):", "",
                      markdown_table(regret.drop(index=no_best).map(regret_text), disable_numparse=True)]
        if no_best:
            scores = task_means(best_score_at(df, budget), "best_score").T.reindex(no_best)  # task x agent
            parts += ["", f"Mean best score per task at budget {budget} (over seeds; higher is better) on the tasks "
                      "without a known best score, which have no regret:", "",
                      markdown_table(scores.map(_score_text), disable_numparse=True)]
    return "\n".join(parts)


def ratio_comparison(df: pd.DataFrame, agent: str, reference: str, b: int | None = None,
                     threshold: float | None = None) -> tuple[str, dict[str, Any]]:
    """``agent``'s mean regret over ``reference``'s with its paired bootstrap interval, as a line and as facts.

    A ratio from one benchmark run is a point estimate; the interval says whether "better than TPE" (or a
    target such as "<= 0.5 x TPE") could be seed luck (:func:`~hpo_gym.benchmark.metrics.paired_ratio_bootstrap`).
    """
    b = run_budget(df) if b is None else b
    ci = paired_ratio_bootstrap(df, agent, reference, b, threshold=threshold)
    if math.isnan(ci["low"]):
        return f"{agent} / {reference} mean regret@{b}: {ci['ratio']:.2f}, {ci['note']}", ci
    dash = "-" if ci["low"] >= 0 else " to "  # "-5.50-7.69" would read as a range from a negative number, or not
    line = (f"{agent} / {reference} mean regret@{b}: {ci['ratio']:.2f}, {ci['level']:.0%} interval "
            f"{ci['low']:.2f}{dash}{ci['high']:.2f} (paired bootstrap over seeds, drawn {ci['seeds_drawn']}, {ci['n_boot']} "
            f"resamples, "
            f"{ci['runs']} runs on {ci['tasks']} tasks"
            + (f"; left out, without a known best: {', '.join(ci['without_regret'])}" if "without_regret" in ci else "")
            + ")")
    if threshold is not None:
        line += f"; share of resamples at or below {threshold:g}: {ci['share_at_or_below_threshold']:.2%}"
    if "note" in ci:
        line += f"; {ci['note']}"
    return line, ci


def json_report(df: pd.DataFrame) -> dict[str, Any]:
    """``{"budget", "agents": {agent: {summary metrics, "in_sample_tasks"}}, "tasks": {agent: {task: {...}}}}``.

    ``in_sample_tasks`` lists the tasks the agent was scored on although it was trained on them (see
    :func:`in_sample_tasks`); empty for a clean row. When the agents cover different (task, seed) sets, a
    ``"coverage"`` entry (absent otherwise) holds :func:`~hpo_gym.benchmark.metrics.coverage` (each agent's runs,
    tasks and seeds; the shared pairs), ``"shared_metrics"`` (the metrics computed on the shared pairs only) and
    the ``"note"`` the Markdown report prints.
    """
    table = summary_table(df)
    in_sample = in_sample_tasks(df)
    agents = {a: {**{k: json_value(v) for k, v in row.items()}, "in_sample_tasks": in_sample.get(cast(str, a), ([], 0))[0]}
              for a, row in table.iterrows()}
    report: dict[str, Any] = {"budget": run_budget(df), "definitions": column_legend(table, run_budget(df))}
    cov = coverage(df)
    if cov is not None:
        del cov["all_tasks"]
        report["coverage"] = {"equal": False, **cov, "shared_metrics": ["BtR", "MnR", "tasks.rank"],
                              "note": coverage_note(df)}
    off = regret_out_of_range(df)
    if off is not None:
        report["regret_out_of_range"] = {**off, "note": regret_range_note(df)}
    return {**report, "agents": agents, "tasks": per_task_details(df)}


def write_plots(df: pd.DataFrame, plot_dir: str | Path) -> list[Path]:
    """Write ``regret_per_task.png`` and ``average_rank.png`` into ``plot_dir``.

    ``ValueError`` naming the fix when no run finished ok (only ok runs have curves); ``hpo-gym report`` then
    skips the plots with that message and still prints the table, which shows the failures.
    """
    from hpo_gym.benchmark.plots import plot_average_rank, plot_regret_per_task, require_ok_runs

    require_ok_runs(df)
    plot_dir = Path(plot_dir)
    return [plot_regret_per_task(df, plot_dir / "regret_per_task.png"), plot_average_rank(df, plot_dir / "average_rank.png")]


def json_value(v: Any) -> Any:
    """A value as plain JSON: numpy scalars unwrapped, NaN and +-inf (not JSON numbers) as null, dicts and lists
    converted entry by entry."""
    if isinstance(v, dict):
        return {k: json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if hasattr(v, "item") and getattr(v, "size", 1) == 1:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, float):  # a mean rank of 2.6249999999999996 is 2.625: 12 significant digits drop float noise only
        return float(f"{v:.12g}")
    return v
