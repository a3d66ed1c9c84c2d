"""PNG plots of a benchmark: regret curves per task and the average rank over evaluations.

Matplotlib runs headless (``Agg``) so plotting works on servers and in worker processes.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from hpo_gym.benchmark.metrics import held_out_by_agent, ok_steps, rank_curve, regret_curves, step_curves  # noqa: E402

#: Floor for the log-scale regret axis (a run that found the optimum has regret 0), unless a smaller positive
#: regret is drawn (:func:`log_axis_floor`).
REGRET_FLOOR = 1e-4


def log_axis_floor(*values: Any) -> float:
    """Where regret 0 is drawn on a log axis: :data:`REGRET_FLOOR`, or half the smallest positive value drawn when that
    is lower. A fixed 1e-4 put a mean regret of 5e-5 on the "optimum found (regret 0)" line, and drew a bar of 3e-5
    past the suite's runner-up mark at 6.5e-5 on vehicle, the opposite of the truth (found in review)."""
    drawn = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values]) if values else np.empty(0)
    positive = drawn[np.isfinite(drawn) & (drawn > 0)]
    return min(REGRET_FLOOR, 0.5 * float(positive.min())) if positive.size else REGRET_FLOOR


#: Line styles that tell apart agents beyond tab10's ten colours (the 11th agent would repeat the 1st's colour).
_LINESTYLES = ("-", "--", ":", "-.")
#: Legend labels longer than this are shortened in the middle (``grpoformer:/a/long/path/policy.pt``).
_LABEL_CHARS = 38


#: Agents that keep one colour in every plot (tab10's first nine, in this order), so that a reader who learned that
#: TPE is orange in one report finds it orange in the next; other agents take the colours left, in name order.
KNOWN_AGENT_COLOURS = ("random", "tpe", "gp", "cmaes", "qmc", "portfolio", "portfolio+tpe", "grpoformer", "ppo")
#: Markers, a few per curve, offset per agent: curves that coincide (portfolio+tpe plays the portfolio's first
#: entries) stay visible as two marker sequences on one line.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _styles(agents: list[str]) -> dict[str, dict[str, Any]]:
    """Colour, line style and marker per agent: the known agents' fixed colours, the other agents the tab10 colours
    left, then the same colours dashed, dotted, ..."""
    cmap = plt.get_cmap("tab10")
    slots = {a: KNOWN_AGENT_COLOURS.index(a) for a in agents if a in KNOWN_AGENT_COLOURS}
    for a in sorted(agents):  # ppo:20000 or grpoformer:PATH take their family's colour when it is free
        family = a.split(":", 1)[0]
        if a not in slots and family in KNOWN_AGENT_COLOURS and KNOWN_AGENT_COLOURS.index(family) not in slots.values():
            slots[a] = KNOWN_AGENT_COLOURS.index(family)
    free = (i for i in range(10 * len(_LINESTYLES) * (len(agents) + 1)) if i not in slots.values())
    for a in sorted(agents):
        if a not in slots:
            slots[a] = next(free)
    return {a: {"color": cmap(i % 10), "ls": _LINESTYLES[(i // 10) % len(_LINESTYLES)], "marker": _MARKERS[i % 10]}
            for a, i in slots.items()}


def _line_kwargs(style: dict[str, Any], n_points: int, slot: int) -> dict[str, Any]:
    """Plot keywords of an agent's curve: its style with about six markers, offset by ``slot``, so that agents whose
    curves coincide still show their markers side by side (below 12 points every agent marked every point, at the
    same points, and a curve drawn over another hid it: found in review)."""
    every = max(min(2, n_points), n_points // 6)
    return {**style, "markevery": (slot % every, every), "markersize": 4.5}


#: Bar hatches in the role of _LINESTYLES: bars past the tenth agent repeat tab10's colours with a pattern.
_HATCHES = ("", "//", "..", "xx")


def _bar_styles(agents: list[str]) -> dict[str, dict[str, Any]]:
    """Colour and hatch per agent for bar charts: the line colours, and a hatch wherever a colour repeats."""
    return {a: {"color": style["color"], "hatch": _HATCHES[_LINESTYLES.index(style["ls"])]}
            for a, style in _styles(agents).items()}


def _label(agent: str) -> str:
    """An agent name short enough for a legend: the start and the end kept (where paths differ), the middle elided and
    a short hash of the whole name added, so that two long names that differ only in the middle stay apart. A leading
    ``_`` gets a space before it: matplotlib leaves labels starting with ``_`` out of legends."""
    if len(agent) > _LABEL_CHARS:
        keep = (_LABEL_CHARS - 7) // 2
        agent = f"{agent[:keep]}…{agent[-keep:]} #{hashlib.sha1(agent.encode()).hexdigest()[:4]}"
    return f" {agent}" if agent.startswith("_") else agent


def _scored_as(df: pd.DataFrame) -> dict[str, str]:
    """A legend suffix per agent saying how its runs count, by the report's rules: `` (in-sample)`` where it was scored
    on a task it trained on, `` (held-out)`` where every run was on tasks it was not fitted on (k-fold,
    :func:`~hpo_gym.benchmark.metrics.held_out_by_agent`). The plots named agents alone, so a learned agent's
    in-sample curve looked like a result next to the baselines (the reports' tables say it)."""
    in_sample = set(df.loc[df["in_sample"].astype(bool), "agent"]) if "in_sample" in df else set()
    held_out = held_out_by_agent(df)
    return {str(a): " (in-sample)" if a in in_sample else " (held-out)" for a in df["agent"].unique()
            if a in in_sample or held_out.get(a, False)}


def _legend_columns(labels: list[str], width_in: float, fontsize: float) -> int:
    """How many legend entries fit side by side in ``width_in`` inches (an entry: its handle plus its text)."""
    entry_in = 0.55 + 0.55 * fontsize / 72 * max(len(label) for label in labels)
    return max(1, min(len(labels), int(width_in // entry_in)))


class NothingToPlot(ValueError):
    """No run finished ok, so there is no curve to draw (``hpo-gym report`` skips the plots on it)."""


def require_ok_runs(df: pd.DataFrame) -> None:
    """Raise :class:`NothingToPlot` (a ``ValueError``) with the fix when no run finished ok: curves come only
    from ok runs, so there is nothing to draw (and an empty grid of panels would be a crash, not a plot)."""
    if ok_steps(df).empty:
        runs = df.drop_duplicates(["agent", "task", "seed"]) if len(df) else df
        raise NothingToPlot(f"nothing to plot: none of the {len(runs)} stored run(s) finished ok (every one failed); "
                            "fix the agent error (each run's 'error' column; `hpo-gym bench` prints the first), "
                            "then rerun the benchmark with --retry-failed")


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parent folders created) and free it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")  # legends and titles outside the axes are never clipped
    plt.close(fig)
    return path


def plot_regret_per_task(df: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """One panel per task: mean normalized regret of the best so far vs evaluations, with a +-1 standard
    error band over seeds, log y scale (regret 0 is drawn at :func:`log_axis_floor`, below every positive regret). ``ValueError`` when no run
    finished ok (:func:`require_ok_runs`)."""
    require_ok_runs(df)
    curves = regret_curves(df)
    scores = step_curves(df, "best_score")  # drawn instead on a task without an oracle (no regret there)
    tasks = sorted(curves["task"].unique())
    agents = sorted(curves["agent"].unique())
    styles = _styles(agents)
    marks = _scored_as(df)
    ncols = min(4, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    columns = _legend_columns([_label(a) + marks.get(a, "") for a in agents], 4.2 * ncols, 11)
    legend_in = 0.6 + 0.3 * math.ceil(len(agents) / columns)  # the legend's rows and the title, above the panels
    height_in = 3.4 * nrows + legend_in
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, height_in), squeeze=False, sharex=True)
    by_label: dict[str, Artist] = {}
    for ax, task in zip(axes.flat, tasks):
        task_curves = curves[curves["task"] == task]
        has_regret = bool(task_curves["mean"].notna().any())  # a task without an oracle (a live task) has none
        if not has_regret:
            task_curves = scores[scores["task"] == task]
        floor = log_axis_floor(task_curves["mean"]) if has_regret else -math.inf
        for slot, agent in enumerate(agents):
            c = task_curves[(task_curves["agent"] == agent) & task_curves["mean"].notna()]
            if c.empty:
                continue
            mean = c["mean"].clip(lower=floor)
            lo = (c["mean"] - c["sem"]).clip(lower=floor)
            hi = (c["mean"] + c["sem"]).clip(lower=floor)
            (line,) = ax.plot(c["step"], mean, lw=1.6, **_line_kwargs(styles[agent], len(c), slot))
            by_label.setdefault(agent, line)  # every agent, also one that has lines only in later panels
            ax.fill_between(c["step"], lo, hi, color=styles[agent]["color"], alpha=0.18, lw=0)
        if has_regret:
            ax.set_yscale("log")
            if (task_curves["mean"] <= 0).any():  # regret 0 cannot sit on a log axis: say where it is
                ax.axhline(floor, color="0.4", ls=":", lw=0.9)
                ax.text(0.99, floor, "optimum found (regret 0)", transform=ax.get_yaxis_transform(), ha="right",
                        va="bottom", fontsize=7.5, color="0.3")
            ax.set_title(task, fontsize=11)
        else:
            ax.set_title(f"{task} (no known best: best score)", fontsize=10)
            ax.set_ylabel("best score so far")
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    for i, ax in enumerate(axes.flat[:len(tasks)]):
        if i + ncols >= len(tasks):  # the lowest panel of its column: on 6 tasks car's, above a hidden cell, is one,
            ax.set_xlabel("evaluations")  # and shared axes label only the last row (found in review)
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # shared by the column: no ticks at 2.5
    mixed = any(ax.get_ylabel() for ax in axes.flat)  # some panels show best scores: label every panel's axis
    for ax in (axes.flat[:len(tasks)] if mixed else axes[:, 0]):
        if not ax.get_ylabel():
            ax.set_ylabel("normalized regret")
    # the handles were kept by agent as drawn: get_legend_handles_labels() skips a label starting with "_", so an agent
    # named "_mine" was left out of the legend (found in review)
    labels = sorted(by_label)
    handles = [by_label[label] for label in labels]
    fig.tight_layout(rect=(0, 0, 1, 1 - legend_in / height_in))
    top = axes[0, 0].get_position().y1
    gap = 0.25 / height_in  # about a quarter inch, in figure fraction
    fig.legend(handles, [_label(a) + marks.get(a, "") for a in labels], loc="lower center",
               bbox_to_anchor=(0.5, top + gap), ncol=columns,
               frameon=False, fontsize=11)
    what = "Normalized regret (best score where no best is known)" if mixed else "Normalized regret"
    fig.suptitle(title or f"{what} of the best configuration so far (mean ± s.e. over seeds)", fontsize=12,
                 y=top + gap + (legend_in - 0.5) / height_in, va="bottom")
    return save_figure(fig, path)


def plot_average_rank(df: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """Average rank of each agent (1 = best; ties averaged) vs evaluations, over tasks and seeds. ``ValueError``
    when no run finished ok (:func:`require_ok_runs`)."""
    require_ok_runs(df)
    ranks = rank_curve(df)
    agents = list(ranks.columns)
    styles = _styles(sorted(agents))
    marks = _scored_as(df)
    fig, ax = plt.subplots(figsize=(8.4, 4.2))
    for slot, agent in enumerate(sorted(agents)):
        if ranks[agent].notna().any():  # an agent without a run on a shared (task, seed) has no rank
            ax.plot(ranks.index, ranks[agent], label=_label(agent) + marks.get(agent, ""), lw=1.8,
                    **_line_kwargs(styles[agent], len(ranks.index), slot))
    ax.set_xlabel("evaluations")
    ax.set_ylabel("average rank (lower is better)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # evaluations are whole: no ticks at 2.5
    ax.set_ylim(0.9, max(2, len(agents)) + 0.1)  # ranks run from 1 to the number of agents
    ax.set_title(title or "Average rank of the best so far (over tasks and seeds)", fontsize=11)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()  # before the legend: the axes keep their size, the saved figure grows to hold the legend
    if ax.lines:
        ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: never hides a curve
    else:
        ax.text(0.5, 0.5, "no ranks: no (task, seed) has a finished run of every agent", ha="center", va="center",
                transform=ax.transAxes)
    return save_figure(fig, path)


def plot_regret_vs_floor(per_task: pd.DataFrame, floor: pd.Series, path: str | Path, budget: int | None = None,
                         title: str | None = None) -> Path:
    """Per task, every agent's mean regret (bars, log scale) next to what no agent can go below without finding the
    task's single best cell (a black mark at the runner-up cell's regret, :mod:`hpo_gym.benchmark.difficulty`).

    ``per_task`` is a task x agent table of mean regret (:func:`~hpo_gym.benchmark.metrics.per_task_table`),
    ``floor`` the runner-up regret per task. Shows at a glance which tasks hold an agent's regret and whether it
    is search (bar far above the mark) or the table's needle (bar at the mark).
    """
    tasks = list(per_task.index)
    agents = list(per_task.columns)
    bar_styles = _bar_styles(sorted(agents))
    height = 0.8 / len(agents)
    columns = min(4, len(agents) + 1)  # the agents and the floor mark
    legend_in = 0.2 + 0.28 * math.ceil((len(agents) + 1) / columns)  # below the axes and their label
    height_in = 0.45 * len(tasks) * max(1.0, len(agents) / 4) + 1.3 + legend_in
    fig, ax = plt.subplots(figsize=(8.4, height_in))
    zero = log_axis_floor(per_task.to_numpy(), floor.to_numpy())  # below every bar and mark that is not 0
    for i, agent in enumerate(agents):
        y = [t + i * height for t in range(len(tasks))]
        ax.barh(y, per_task[agent].clip(lower=zero), height=height, label=_label(agent),
                edgecolor="white", linewidth=0, **bar_styles[agent])
    label: str | None = "runner-up cell: the floor of runs that miss the best cell"
    for t, task in enumerate(tasks):
        f = float(floor.get(task, 0.0))
        if f > 0:
            ax.plot([f, f], [t - height / 2, t + 0.8 - height / 2], color="black", lw=2.2, label=label)
            label = None  # one legend entry for all marks
    ax.set_yticks([t + 0.4 - height / 2 for t in range(len(tasks))], tasks)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"mean normalized regret{f' at {budget} evaluations' if budget else ''} (log scale)")
    ax.grid(True, axis="x", which="major", alpha=0.3)
    ax.set_title(title or "Regret per task and the suite's floor", fontsize=11)
    fig.tight_layout(rect=(0, legend_in / height_in, 1, 1))  # the legend gets its own strip: it used to cover the
    handles, labels = ax.get_legend_handles_labels()          # axis label when there were few tasks
    fig.legend(handles, labels, frameon=False, loc="upper center", bbox_to_anchor=(0.5, legend_in / height_in),
               ncol=columns, fontsize=9)
    return save_figure(fig, path)
