"""Benchmark metrics over the step table of a benchmark (columns as in :mod:`hpo_gym.benchmark.store`).

Definitions (every number in the README means this):

* **normalized regret at b**: of the best configuration found in the first ``b`` evaluations,
  ``(best possible - best found) / (best possible - worst possible)`` on the noise-free score. The
  report gives its mean and standard deviation over all runs (tasks x seeds) on tasks with a known best and worst
  score; a live task has none, so it has no regret and is left out of these columns.
* **BtR** (beats-random ratio): share of tasks on which the agent's mean regret over seeds at the
  budget is *strictly* below the reference agent's (``random``); on a task without a regret (live), its mean best
  score strictly above the reference's. The reference itself scores 0.
* **MP / MnP**: median / mean over tasks of the best validation score found at the budget (mean
  over seeds per task first), in the envs' higher-is-better score units: a minimized metric (a loss
  table built with ``direction="minimize"``) counts as its negative, and a run mixing metrics averages
  unlike units. Regret, BtR and MnR are unit-free and compare across any tasks.
* **MnR**: on each (task, seed) the agents are ranked by regret at the budget (1 = best, ties get
  the average of the ranks they span); ranks are averaged over seeds, then over tasks.
* **seconds per suggestion**: mean agent time per step (``act`` plus ``observe``).

Failed runs are excluded from every metric and counted in ``failed``.

Coverage: normally every agent has a finished run on the same (task, seed) pairs. A failed run, or a partly
finished or resumed result directory, breaks that (one agent on 8 tasks x 5 seeds, another on 3 tasks).
Then the per-agent numbers (regret, MP, MnP, seconds per suggestion) still cover each agent's own runs, but
the metrics that set agents against each other (BtR, MnR, the per-task ranks and the rank curve) are computed
only on the (task, seed) pairs every agent has a finished run on (:func:`shared_runs`), and :func:`coverage` says who
covers what. With equal coverage :func:`shared_runs` returns the table itself, so nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

REFERENCE_AGENT = "random"
STANDARD_BUDGETS = (10, 25, 50, 100)
_RUN = ["agent", "task", "seed"]
#: Regrets are compared at this many decimals. A table's noise-free score is a mean over seeds, so two cells with the
#: same seed scores in another order can differ in the last bit (0.15 vs 0.15000000000000002): compared exactly,
#: that float noise would decide a tie in MnR, BtR and the per-task ranks. Far below the 4 decimals reported.
REGRET_DECIMALS = 12


def ok_steps(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of runs that finished without an agent error."""
    return df[df["status"] == "ok"]


class RunsFailed(RuntimeError):
    """Runs of a script's benchmark failed: not refused input (a script, like ``hpo-gym bench``, exits 1 for it)."""


def require_finished_runs(df: pd.DataFrame, out: Any) -> None:
    """Raise :class:`RunsFailed` (a ``RuntimeError``) naming the first failed run when ``df`` holds any. For a script
    that sets agents' means against each other (ratios, paired differences, per-task tables): without this, a failed
    run either crashed it (a task missing from an agent's runs) or left it comparing agents on different (task, seed)
    sets without a word.
    Such scripts pass ``retry_failed=True`` to the harness, so rerunning them runs the failed runs again."""
    failed = df[df["status"] != "ok"]
    if failed.empty:
        return
    first = failed.iloc[0]
    last_line = (str(first["error"]).strip().splitlines() or ["(no message)"])[-1]
    raise RunsFailed(f"{len(failed[_RUN].drop_duplicates())} runs failed (first: {first['agent']} on {first['task']} "
                     f"seed {int(first['seed'])}: {last_line}); their tracebacks are stored in {out}; fix the cause "
                     "and rerun the same command (finished runs are kept, failed ones run again)")


def run_budget(df: pd.DataFrame) -> int:
    """The benchmark's evaluation budget (the ``budget`` column, else the longest run)."""
    if "budget" in df and len(df):
        return int(df["budget"].max())
    return int(df["step"].max()) if len(df) else 0


def report_budgets(budget: int, budgets: Sequence[int] = STANDARD_BUDGETS) -> list[int]:
    """The standard budgets up to ``budget``, plus ``budget`` itself."""
    out = [b for b in budgets if b <= budget]
    return out if budget in out else out + [budget]


def at_budget(df: pd.DataFrame, b: int) -> pd.DataFrame:
    """One row per finished run: normalized regret and best score after ``b`` evaluations.

    Columns: agent, task, seed, heldout, regret, best_score. Runs shorter than ``b`` are left out.
    """
    ok = ok_steps(df)
    rows = ok[ok["step"] == b]
    out = rows[_RUN + ["heldout", "normalized_regret", "best_score"]].rename(columns={"normalized_regret": "regret"})
    return out.reset_index(drop=True)


def regret_at(df: pd.DataFrame, b: int) -> pd.DataFrame:
    """Normalized regret of every finished run at budget ``b`` (columns agent, task, seed, regret)."""
    return at_budget(df, b)[_RUN + ["regret"]]


def regret_by_run(df: pd.DataFrame, b: int) -> pd.Series:
    """Normalized regret at budget ``b`` indexed by (agent, task, seed), so that two agents' runs on the same
    task and seed line up for paired differences."""
    return regret_at(df, b).set_index(_RUN)["regret"]


def best_score_at(df: pd.DataFrame, b: int) -> pd.DataFrame:
    """Best score found by every finished run within ``b`` evaluations (columns agent, task, seed, best_score)."""
    return at_budget(df, b)[_RUN + ["best_score"]]


def shared_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The rows on the (task, seed) pairs on which every agent has a finished run: ``df`` itself when coverage is equal.

    Ranks and "beats" comparisons need this: an agent ranked on a task its rival never ran would be ranked alone. A
    failed run counts as no run (every metric leaves it out): counted as a run, it let BtR set the failing agent's
    mean over its other seeds against Random's mean over all of them, and ranked the others without it on that
    pair. An agent with no finished run at all has no numbers to rank and does not shrink the others' pairs.
    """
    runs = ok_steps(df)[_RUN].drop_duplicates()
    counts = runs.groupby(["task", "seed"])["agent"].nunique()  # agents with a finished run on each (task, seed)
    n_agents = runs["agent"].nunique()
    if (counts == n_agents).all() and len(counts) == len(df[["task", "seed"]].drop_duplicates()):
        return df
    keep = counts.index[counts == n_agents]
    return df[pd.MultiIndex.from_frame(df[["task", "seed"]]).isin(keep)]


def _names(values: Sequence[Any]) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values]  # plain ints and strings (JSON)


def coverage(df: pd.DataFrame) -> dict[str, Any] | None:
    """Who ran what, when agents cover different (task, seed) sets; None when coverage is equal (the normal case).

    ``{"agents": {agent: {"runs", "tasks", "seeds"}}, "shared": {"runs", "tasks", "seeds"}, "all_tasks"}``: per agent
    its finished runs (a run is one (task, seed); failed runs are counted apart, in ``failed``), the tasks and the
    seeds they are on; ``shared`` the (task, seed) pairs every agent has a finished run on, which BtR, MnR and the
    per-task ranks are computed on.
    """
    runs = ok_steps(df)[_RUN].drop_duplicates()
    finished = {a: frozenset(zip(r["task"], r["seed"])) for a, r in runs.groupby("agent")}
    if len({finished.get(a, frozenset()) for a in df["agent"].unique()}) <= 1:  # every agent finished the same pairs
        return None
    shared = frozenset.intersection(*finished.values())  # the pairs of shared_runs: agents with a finished run
    agents = {str(a): {"runs": 0, "tasks": [], "seeds": []} for a in sorted(df["agent"].unique())}  # none finished too
    agents.update({str(a): {"runs": int(len(r)), "tasks": _names(sorted(r["task"].unique())),
                            "seeds": _names(sorted(r["seed"].unique()))} for a, r in runs.groupby("agent")})
    return {"agents": agents, "shared": {"runs": len(shared), "tasks": _names(sorted({t for t, _ in shared})),
                                         "seeds": _names(sorted({s for _, s in shared}))},
            "all_tasks": _names(sorted(df["task"].unique()))}


def task_means(values: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean over seeds per (agent, task) as an agent x task table."""
    return values.groupby(["agent", "task"])[column].mean().unstack("task")


def beats_random_ratio(per_task: pd.DataFrame, reference: str = REFERENCE_AGENT) -> pd.Series:
    """BtR from an agent x task table of mean regret (minus the mean best score on a task without a regret, see
    :func:`with_score_where_no_regret`): share of tasks with a value strictly below ``reference``'s.

    Only tasks where both the agent and the reference have a value count; NaN when the reference
    agent is absent.
    """
    if reference not in per_task.index:
        return pd.Series(np.nan, index=per_task.index, name="BtR")
    return wins_over(per_task, reference).mean(axis=1).rename("BtR")  # NaN where no task has both


def wins_over(per_task: pd.DataFrame, reference: str = REFERENCE_AGENT) -> pd.DataFrame:
    """Agent x task: 1.0 where the agent's value is strictly below ``reference``'s at :data:`REGRET_DECIMALS` decimals
    (means of equal regrets summed in another order tie, as they should), 0.0 where not, NaN where either is missing.
    The one per-task win rule, for BtR and for any script's "beats random on k of n tasks"."""
    per_task = per_task.round(REGRET_DECIMALS)
    ref = cast(pd.Series, per_task.loc[reference])  # one row: the table has one row per agent
    wins = per_task.lt(ref, axis=1).astype(float)
    return wins.where(per_task.notna() & ref.notna())


def with_score_where_no_regret(values: pd.DataFrame, regret: str, score: str = "best_score") -> pd.Series:
    """``values[regret]``, except on a task without an oracle (a live task: its regret is NaN throughout), where it is
    minus ``values[score]``: on one task regret falls as the best score rises, so ranks by either are the same, and a
    benchmark on live tasks still gets its ranks. A failed run's NaN on a task with an oracle stays NaN."""
    no_oracle = values[regret].isna().groupby(values["task"]).transform("all")
    return values[regret].where(~no_oracle, -values[score])


def task_ranks(values: pd.DataFrame, column: str = "regret", lower_is_better: bool = True) -> pd.Series:
    """Rank of each agent within each (task, seed) (average ranks for ties; values equal at :data:`REGRET_DECIMALS`
    decimals tie), mean over seeds: a Series indexed by (agent, task). ``values`` has columns agent, task, seed and
    ``column``; ranking by ``"regret"`` uses the best score on tasks without an oracle
    (:func:`with_score_where_no_regret`)."""
    values = values.copy()
    if column == "regret" and "best_score" in values:
        values[column] = with_score_where_no_regret(values, column)
    v = values.dropna(subset=[column])
    v[column] = v[column].round(REGRET_DECIMALS)  # last-bit differences are ties
    v["rank"] = v.groupby(["task", "seed"])[column].rank(method="average", ascending=lower_is_better)
    return v.groupby(["agent", "task"])["rank"].mean()


def mean_rank(values: pd.DataFrame, column: str = "regret", lower_is_better: bool = True) -> pd.Series:
    """MnR: :func:`task_ranks` (rank within each (task, seed), mean over seeds), then the mean over tasks."""
    return task_ranks(values, column, lower_is_better).groupby("agent").mean().rename("MnR")


def rank_curve(df: pd.DataFrame) -> pd.DataFrame:
    """Average rank (by regret of the best so far; by the best score on a task without an oracle) after each
    evaluation: a step x agent table.

    Ranked within each (task, seed) over the agents present, averaged over seeds, then over tasks; only on the (task,
    seed) pairs every agent has a finished run on (:func:`shared_runs`).
    """
    ok = ok_steps(shared_runs(df))
    if ok.empty:
        return pd.DataFrame()
    ok = ok.assign(rank_by=with_score_where_no_regret(ok, "normalized_regret"))
    wide = ok.pivot_table(index=["task", "seed", "step"], columns="agent", values="rank_by",
                          aggfunc="first").round(REGRET_DECIMALS)
    ranks = wide.rank(axis=1, method="average")
    return ranks.groupby(["task", "step"]).mean().groupby("step").mean()


def step_curves(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean and standard error over seeds of ``column`` per (agent, task, step), from the runs that finished ok."""
    ok = ok_steps(df)
    g = ok.groupby(["agent", "task", "step"])[column]
    out = pd.DataFrame({"mean": g.mean(), "sem": g.sem(ddof=1).fillna(0.0), "n": g.count()})
    return out.reset_index()


def regret_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error over seeds of the regret of the best so far, per (agent, task, step)."""
    return step_curves(df, "normalized_regret")


def held_out_by_agent(df: pd.DataFrame) -> pd.Series:
    """Per agent: True when it was scored only on tasks it was not fitted on (k-fold) and no run is marked
    ``in_sample`` (a task it declared it trained on): the report's "yes (k-fold)" and the plots' "(held-out)"."""
    in_sample = df["in_sample"].astype(bool) if "in_sample" in df else False
    return (df["heldout"].astype(bool) & ~in_sample).groupby(df["agent"]).all()


def summary_table(df: pd.DataFrame, budgets: Sequence[int] | None = None, reference: str = REFERENCE_AGENT) -> pd.DataFrame:
    """One row per agent: regret mean/std at each budget, BtR, MP, MnP, MnR, seconds per suggestion.

    Also: ``heldout`` (True when the agent was scored only on tasks it was not fitted on, k-fold; a run marked
    ``in_sample``, a task the agent declared it trained on, makes it False, as the report's "no (in-sample)" says),
    ``runs`` (finished runs) and ``failed`` (runs where the agent raised). BtR and MnR compare agents, so they use
    only the (task, seed) pairs every agent has a finished run on (:func:`shared_runs`; all of them when coverage is equal).
    """
    budget = run_budget(df)
    budgets = list(budgets) if budgets is not None else report_budgets(budget)
    agents = sorted(df["agent"].unique())
    runs = df.groupby(_RUN)["status"].first()
    table = pd.DataFrame(index=pd.Index(agents, name="agent"))
    table["heldout"] = held_out_by_agent(df).reindex(agents).astype(bool)
    table["runs"] = (runs == "ok").groupby("agent").sum().reindex(agents).fillna(0).astype(int)
    table["failed"] = (runs != "ok").groupby("agent").sum().reindex(agents).fillna(0).astype(int)
    for b in budgets:
        r = regret_at(df, b).groupby("agent")["regret"]
        table[f"regret@{b}"] = r.mean()
        table[f"std@{b}"] = r.std(ddof=1)
    final = at_budget(df, budget)
    shared = at_budget(shared_runs(df), budget)  # == final when every agent ran the same (task, seed) pairs
    # a live task has no regret: it counts by best score, as MnR ranks it (it used to drop out of BtR unsaid)
    shared = shared.assign(btr_value=with_score_where_no_regret(shared, "regret"))
    table["BtR"] = beats_random_ratio(task_means(shared, "btr_value"), reference)
    best = task_means(final, "best_score")
    table["MP"] = best.median(axis=1)
    table["MnP"] = best.mean(axis=1)
    table["MnR"] = mean_rank(shared)
    table["sec/suggestion"] = ok_steps(df).groupby("agent")["choose_seconds"].mean()
    return table


def per_task_table(df: pd.DataFrame, b: int | None = None) -> pd.DataFrame:
    """Task x agent table of mean normalized regret over seeds at budget ``b`` (default: the run budget)."""
    b = run_budget(df) if b is None else b
    return task_means(at_budget(df, b), "regret").T


def per_task_details(df: pd.DataFrame, b: int | None = None) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{agent: {task: {regret_mean, regret_std, best_score_mean, rank, seeds}}}`` at budget ``b``.

    ``rank`` is over the (task, seed) pairs every agent has a finished run on (:func:`shared_runs`), None on a task with none;
    the other entries cover the agent's own runs on the task (``seeds`` of them).
    """
    b = run_budget(df) if b is None else b
    final = at_budget(df, b)
    rank = task_ranks(at_budget(shared_runs(df), b))
    g = final.groupby(["agent", "task"])
    stats = pd.DataFrame({"regret_mean": g["regret"].mean(), "regret_std": g["regret"].std(ddof=1),
                          "best_score_mean": g["best_score"].mean(), "rank": rank, "seeds": g["seed"].count()})
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for key, row in stats.iterrows():
        agent, task = cast("tuple[str, str]", key)  # the (agent, task) index
        out.setdefault(agent, {})[task] = {str(k): (float(v) if np.isfinite(v) else None) for k, v in row.items()}  # JSON
        out[agent][task]["seeds"] = int(row["seeds"])
    return out


#: Below this many seeds per task a percentile bootstrap's interval is clearly too narrow, and the comparison says so.
FEW_SEEDS = 5


def _resampled_means(pairs: pd.DataFrame, agent: str, reference: str, n_boot: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Bootstrap means over tasks of the per-task mean regret of ``agent`` and ``reference`` (``pairs``: one row per
    (task, seed) both finished), and whether the tasks shared one seed set.

    A seed is one random stream on every task (random search plays the same configurations for seed 3 on all of them),
    so a run's regrets on different tasks are correlated through its seed; resampling seeds per task threw that away
    and gave too narrow an interval (the transfer comparison's 0.72-0.97 was 0.68-1.00 with one draw for all tasks).
    When every task has the same seeds, each resample draws the seeds once and uses them on every task; otherwise
    (missing runs) each task's seeds are drawn on their own, which the caller notes."""
    table = pairs.unstack("seed")  # (tasks, agent x seed); NaN where a task lacks a seed
    a, r = np.asarray(table[agent], dtype=np.float64), np.asarray(table[reference], dtype=np.float64)  # (tasks, seeds)
    if not np.isnan(a).any():  # one seed set: draw seed indices once per resample, for all tasks at once
        n_seeds = a.shape[-1]
        counts = np.stack([np.bincount(row, minlength=n_seeds) for row in rng.integers(n_seeds, size=(n_boot, n_seeds))])
        weights = counts / n_seeds  # (n_boot, seeds): a resample's mean over seeds is weights @ values
        return (weights @ a.T).mean(1), (weights @ r.T).mean(1), True
    boot_a, boot_r = np.zeros(n_boot), np.zeros(n_boot)
    tasks = pairs.index.get_level_values("task").unique()
    for task in tasks:  # mean over tasks of the per-task mean over resampled seeds
        v = pairs.xs(task, level="task").to_numpy()  # (seeds, 2)
        idx = rng.integers(len(v), size=(n_boot, len(v)))
        boot_a += v[idx, 0].mean(1) / len(tasks)
        boot_r += v[idx, 1].mean(1) / len(tasks)
    return boot_a, boot_r, False


def paired_ratio_bootstrap(df: pd.DataFrame, agent: str, reference: str, b: int | None = None, n_boot: int = 10_000,
                           level: float = 0.95, threshold: float | None = None, seed: int = 0) -> dict[str, Any]:
    """How sure is "``agent``'s mean regret is r x ``reference``'s"? A paired, task-stratified bootstrap.

    The mean regret at budget ``b`` is a mean over a *fixed* set of tasks of a mean over seeds, so the
    resampling keeps the tasks and redraws seeds with replacement, the *same* seeds for both agents (runs on one task
    and seed share the env's randomness, so their errors are correlated and pairing narrows the interval) and, when
    the tasks share one seed set, the same seeds on every task (a seed is one random stream on all of them, so its
    runs are correlated across tasks, which widens the interval). Only (task, seed) runs that both agents finished
    are used.

    A percentile bootstrap treats the seeds it has as all there are, so its interval is too narrow: on the GRPOformer
    protocol's own runs a "95 %" interval held the true ratio 89 % of the time at 10 seeds per task and 73 % at 3
    (``benchmarks/bootstrap_coverage.py`` measures this on any benchmark). Spreading the resampled means by
    ``sqrt(n / (n - 1))`` helped a little in a trial but pushed resampled regrets below 0 at few seeds, so it is not
    used; below :data:`FEW_SEEDS` seeds the result carries a note saying the interval is too narrow.

    Returns the point ratio, the percentile interval at ``level`` and, when ``threshold`` is given, the share
    of bootstrap ratios at or below it (e.g. how often the resampled ratio meets a ``<= 0.5`` target). A task
    with a single common seed has nothing to resample, so the interval would claim a certainty the run does
    not have: then ``low``, ``high`` and the share are NaN and ``note`` names the tasks and the fix.
    """
    b = run_budget(df) if b is None else b
    runs = regret_by_run(df, b).unstack("agent")
    missing = [a for a in (agent, reference) if a not in runs.columns]
    if missing:
        raise ValueError(f"no finished runs at budget {b} for {missing}; agents present: {sorted(runs.columns)}")
    # a task without a known best (live): no finished run of any agent has a regret there; a table task whose runs of
    # these two agents failed is another matter (no common runs), whatever its NaNs look like in this table
    without = ok_steps(df).groupby("task")["normalized_regret"].apply(lambda r: bool(r.isna().all()))
    no_regret = sorted(without[without].index)
    all_tasks = runs.index.get_level_values("task").unique()
    if no_regret and set(all_tasks) <= set(no_regret):  # live tasks: no known best, so no regret to take a ratio of
        unfinished = sorted(set(map(str, df["task"])) - set(map(str, all_tasks)))  # every run there failed
        raise ValueError(f"--compare needs tasks with a known best score, and {', '.join(map(str, no_regret))} "
                         "(live tasks) have none, so no regret; compare their best scores in the report's per-task table"
                         + (f" ({', '.join(unfinished)}: no finished run)" if unfinished else ""))
    pairs = runs[[agent, reference]].dropna()
    if pairs.empty or pairs[reference].max() <= 0:
        raise ValueError(f"{reference!r} has no common finished runs with {agent!r} or found every optimum (mean regret "
                         f"0 at budget {b}), so a ratio to it is undefined; compare at a smaller budget or to another agent")
    tasks = pairs.index.get_level_values("task").unique()
    point_a = pairs[agent].groupby("task").mean().mean()
    point_r = pairs[reference].groupby("task").mean().mean()
    out: dict[str, Any] = {"ratio": float(point_a / point_r), "budget": int(b), "level": level, "n_boot": n_boot,
                           "runs": int(len(pairs)), "tasks": int(len(tasks))}  # budget: --at's, not the run's (JSON)
    if threshold is not None:
        out["threshold"] = float(threshold)
    if no_regret:  # a mixed benchmark: the ratio covers the tasks with a regret only
        out["without_regret"] = [str(t) for t in no_regret]
    seeds_per_task = pairs.groupby(level="task").size()
    single = sorted(seeds_per_task[seeds_per_task < 2].index)
    if single:
        named = ", ".join(map(str, single[:5])) + (", ..." if len(single) > 5 else "")
        out.update(low=math.nan, high=math.nan, note=f"no interval: {len(single)} task(s) have a single seed both agents "
                   f"finished ({named}), so resampling seeds cannot vary them; run at least 2 seeds")
        if threshold is not None:
            out["share_at_or_below_threshold"] = math.nan
        return out
    rng = np.random.default_rng(seed)
    boot_a, boot_r, shared_seeds = _resampled_means(pairs, agent, reference, n_boot, rng)
    out["seeds_drawn"] = "once for all tasks" if shared_seeds else "per task"
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = boot_a / boot_r
    tail = (1.0 - level) / 2.0
    # a resample where the reference found every optimum makes the ratio infinite: take order statistics there (an
    # interpolation between infinities is NaN), so the interval's end is reported as unbounded, not undefined
    method: Literal["inverted_cdf", "linear"] = "inverted_cdf" if np.isinf(ratios).any() else "linear"
    # a resample where both agents found every optimum has the ratio 0/0: undefined, so it is left out of the interval
    # and of the share's denominator alike (counting it as a miss would understate the share), and reported
    defined = ~np.isnan(ratios)
    if not defined.any():
        out.update(low=math.nan, high=math.nan, note="no interval: in every resample both agents found every optimum")
        if threshold is not None:
            out["share_at_or_below_threshold"] = math.nan
        return out
    low, high = np.quantile(ratios[defined], [tail, 1.0 - tail], method=method)
    out.update(low=float(low), high=float(high))
    notes = []
    if not defined.all():
        out["undefined_resamples"] = int((~defined).sum())
        notes.append(f"{out['undefined_resamples']} of {n_boot} resamples left out: both agents found every optimum "
                     "in them, so their ratio is 0/0")
    if not shared_seeds:
        notes.append("the tasks' finished seeds differ, so seeds were resampled per task: that ignores what one seed "
                     "shares across tasks (its random stream), and the interval may be too narrow; rerun the benchmark "
                     "to finish the missing runs (failed ones with --retry-failed) and compare on one seed set")
    fewest = int(seeds_per_task.min())
    if fewest < FEW_SEEDS:  # benchmarks/bootstrap_coverage.py: at 2 seeds a "95 %" interval held the true ratio about half the time
        notes.append(f"only {fewest} seeds on some task: a bootstrap over so few seeds gives too narrow an interval "
                     f"(it resamples the seeds it has as if they were all there are); run {FEW_SEEDS} or more seeds")
    if notes:
        out["note"] = "; ".join(notes)
    if threshold is not None:
        out["share_at_or_below_threshold"] = float(np.mean(ratios[defined] <= threshold))
    return out
