"""Killer tests from the mutation review of the episode rendering (hpo_gym.render), the benchmark plots
(hpo_gym.benchmark.plots) and the difficulty profile (hpo_gym.benchmark.difficulty).

Real envs on the embedded tables, real benchmark runs of the registry's agents, real matplotlib (Agg). The figures are
inspected after they are drawn: a spy on matplotlib's own ``FigureCanvasAgg.draw`` / ``Figure.savefig`` keeps the
figure and calls the real method, so the code under test runs unchanged."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import hpo_gym  # noqa: F401  (registers HPO-OpenML-v0)
from agents.registry import make_agent
from hpo_gym.benchmark import run_benchmark
from hpo_gym.benchmark.metrics import regret_curves, step_curves
from hpo_gym.objective import Evaluation, EvaluationBatch, as_config_list
from hpo_gym.space import Float, SearchSpace
from hpo_gym.tabular import TabularObjective


def _frames_drawn(monkeypatch) -> list[Figure]:
    """The figures rendered to pixels (matplotlib's Agg canvas), kept for inspection; the real draw runs."""
    figures: list[Figure] = []
    real = FigureCanvasAgg.draw

    def keep(canvas, *args, **kwargs):
        figures.append(canvas.figure)
        return real(canvas, *args, **kwargs)

    monkeypatch.setattr(FigureCanvasAgg, "draw", keep)
    return figures


def _figures_saved(monkeypatch) -> list[Figure]:
    """The figures the plot functions write (matplotlib's ``Figure.savefig``), kept for inspection; the real save runs."""
    figures: list[Figure] = []
    real = Figure.savefig

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


# -- hpo_gym.render ------------------------------------------------------------------------------------------------


def test_the_text_render_prints_every_float_of_the_last_configuration_to_4_significant_digits():
    """The docstring's promise, so that one trial fits on a line: alpha=0.0021544348 is printed as 0.002154, not with
    the table's full float (a log line that wraps in a terminal). Integers are printed as they are."""
    env = gym.make("HPO-OpenML-v0", task="credit_g", budget=3, render_mode="ansi")
    env.reset(seed=0)
    env.action_space.seed(0)
    *_, info = env.step(env.action_space.sample())
    config = info["config"]
    assert any(isinstance(v, float) and f"{v:.4g}" != f"{v:.6g}" for v in config.values())  # the case the rule is for
    last = env.render().split("\n")[1]
    printed = dict(part.split("=") for part in last.split("  ", 1)[1].split(", "))
    assert sorted(printed) == sorted(config)
    for name, value in config.items():
        assert printed[name] == (f"{value:.4g}" if isinstance(value, float) else str(value)), name


def test_the_rgb_frame_draws_each_trial_at_its_number_and_the_best_so_far_as_a_step_after_it(monkeypatch):
    """The picture a video recorder gets is the run's trace: trial k's score as a dot at x = k (1-based, as the text's
    "trial k/B"), and the best score so far as a step line that rises at the trial that made the improvement
    (steps-post), not before it, and never falls when a later trial scores worse."""
    env = gym.make("HPO-OpenML-v0", task="kc1", budget=6, render_mode="rgb_array")
    env.reset(seed=0)
    env.action_space.seed(0)
    scores = [env.step(env.action_space.sample())[4]["score"] for _ in range(4)]
    assert (np.diff(scores) < 0).any() and (np.diff(scores) > 0).any()  # a worse trial after a better one, then a rise
    figures = _frames_drawn(monkeypatch)
    frame = env.render()
    assert frame.shape == (320, 480, 3)
    (ax,) = figures[-1].axes
    dots, best = ax.get_lines()
    assert list(dots.get_xdata()) == [1, 2, 3, 4]
    assert np.allclose(dots.get_ydata(), scores)
    assert dots.get_linestyle() == "None" and dots.get_marker() == "o"
    assert list(best.get_xdata()) == [1, 2, 3, 4]
    assert np.allclose(best.get_ydata(), np.maximum.accumulate(scores))
    assert best.get_drawstyle() == "steps-post"


def test_the_rgb_frame_spans_the_whole_budget_and_is_titled_with_the_text_renders_first_line(monkeypatch):
    """The x axis runs from 0 to budget + 1 whatever the number of trials so far: the frames of one video share their
    axis and show how much budget is left. The title is the first line of the text render (task, trial k/B, best,
    normalized regret), not the last trial's line."""
    env = gym.make("HPO-OpenML-v0", task="kc1", budget=6, render_mode="rgb_array")
    text = gym.make("HPO-OpenML-v0", task="kc1", budget=6, render_mode="ansi")
    env.reset(seed=0)
    text.reset(seed=0)
    env.action_space.seed(0)
    figures = _frames_drawn(monkeypatch)
    env.render()
    for _ in range(2):
        action = env.action_space.sample()
        env.step(action)
        text.step(action)
    env.render()
    before, after = (fig.axes[0] for fig in {id(fig): fig for fig in figures}.values())
    assert before.get_xlim() == after.get_xlim() == (0.0, 7.0)
    assert before.get_title() == "task kc1  trial 0/6  (no trials yet)"
    assert after.get_title() == text.render().split("\n")[0]
    assert after.get_title().startswith("task kc1  trial 2/6  best ") and "normalized regret" in after.get_title()


# -- hpo_gym.benchmark.plots ---------------------------------------------------------------------------------------


class Loss:
    """A smooth objective without a known best whose scores are negative (a loss, higher is better), as a live task
    that scores -log-loss has. Named so that it sorts before the embedded tasks: its panel comes first."""

    name = "aloss"
    space = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])
    oracle = None
    metadata = {"task": "aloss"}

    def evaluate(self, config, seed=None):
        return Evaluation(-0.2 - (config["x"] - 0.3) ** 2 - (config["y"] - 0.6) ** 2, 0.0, {})

    def evaluate_batch(self, configs, seeds=None):
        return EvaluationBatch.from_evaluations([self.evaluate(c) for c in as_config_list(self.space, configs)])


@pytest.fixture(scope="module")
def three_seeds():
    """random and tpe on kc1 and credit_g, budget 5, 3 seeds: real runs with a spread over seeds."""
    return run_benchmark(["random", "tpe"], ["kc1", "credit_g"], budget=5, seeds=3, resolve_agent=make_agent,
                         progress=False)


def _panels(fig: Figure) -> dict[str, object]:
    return {ax.get_title(): ax for ax in fig.axes if ax.get_visible() and ax.get_title()}


def test_the_per_task_band_is_one_standard_error_either_side_of_the_mean(three_seeds, tmp_path, monkeypatch):
    """The title says "mean ± s.e. over seeds": the shaded band of each curve runs from mean - s.e. to mean + s.e.
    (clipped at the log axis' floor). A wider band would tell a reader two agents are indistinguishable when they are
    not."""
    from hpo_gym.benchmark.plots import log_axis_floor, plot_regret_per_task

    figures = _figures_saved(monkeypatch)
    plot_regret_per_task(three_seeds, tmp_path / "p.png")
    (fig,) = figures
    assert "(mean ± s.e. over seeds)" in fig._suptitle.get_text()
    curves = regret_curves(three_seeds)
    checked = 0
    for task, ax in _panels(fig).items():
        on_task = curves[curves["task"] == task]
        floor = log_axis_floor(on_task["mean"])
        assert len(ax.collections) == 2, task  # one band per agent, in the agents' (sorted) order
        for agent, band in zip(["random", "tpe"], ax.collections):
            vertices = band.get_paths()[0].vertices
            for step, mean, sem in on_task.loc[on_task["agent"] == agent, ["step", "mean", "sem"]].itertuples(index=False):
                ys = vertices[np.isclose(vertices[:, 0], step), 1]
                assert ys.min() == pytest.approx(max(mean - sem, floor)), (task, agent, step)
                assert ys.max() == pytest.approx(max(mean + sem, floor)), (task, agent, step)
                checked += sem > 0 and mean - sem > floor
    assert checked > 0  # some band edge is neither flat nor on the floor: the case the rule is for


def test_the_per_task_plot_lays_out_at_most_4_panels_a_row_and_hides_the_empty_ones(tmp_path, monkeypatch):
    """Six tasks: two rows of four panels (the page width the figure is sized for), the two cells past the sixth task
    hidden, not drawn as empty axes with ticks that a reader takes for a task without runs. The lowest panel of every
    column carries the x axis: car and credit_g, above the hidden cells, had neither tick labels nor "evaluations"
    (shared axes label the last row only; found in review)."""
    from hpo_gym.benchmark.plots import plot_regret_per_task

    tasks = ["australian", "blood_transfusion", "car", "credit_g", "kc1", "vehicle"]
    df = run_benchmark(["random"], tasks, budget=3, seeds=1, resolve_agent=make_agent, progress=False)
    figures = _figures_saved(monkeypatch)
    plot_regret_per_task(df, tmp_path / "p.png")
    (fig,) = figures
    grids = {ax.get_subplotspec().get_gridspec().get_geometry() for ax in fig.axes if ax.get_subplotspec()}
    assert grids == {(2, 4)}
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in visible) == tasks and len(fig.axes) == 8
    labelled = {ax.get_title() for ax in visible if ax.get_xlabel() == "evaluations"
                and any(t.get_visible() and t.get_text() for t in ax.get_xticklabels())}
    assert labelled == {"car", "credit_g", "kc1", "vehicle"}


def test_a_task_without_a_known_best_is_drawn_at_its_own_negative_best_scores_and_every_panel_names_its_axis(
        tmp_path, monkeypatch):
    """A live task (no oracle) is drawn as the best score so far, in its own units, which may be negative (-log-loss):
    its curve is the mean best score, not clipped at 0 or at a log floor. Its panel's title says so, every panel of a
    mixed plot labels its own y axis (the regret panel beside it too), and the figure's title names both measures."""
    from hpo_gym.benchmark.plots import plot_regret_per_task

    df = run_benchmark(["random"], [Loss(), "car"], budget=4, seeds=2, resolve_agent=make_agent, progress=False)
    figures = _figures_saved(monkeypatch)
    plot_regret_per_task(df, tmp_path / "p.png")
    (fig,) = figures
    panels = _panels(fig)
    assert sorted(panels) == ["aloss (no known best: best score)", "car"]
    live, car = panels["aloss (no known best: best score)"], panels["car"]
    assert car.get_subplotspec().colspan.start == 1  # the regret panel is not in the first column
    assert live.get_ylabel() == "best score so far" and live.get_yscale() == "linear"
    assert car.get_ylabel() == "normalized regret" and car.get_yscale() == "log"
    expected = step_curves(df, "best_score")
    expected = expected[expected["task"] == "aloss"].sort_values("step")
    (line,) = live.get_lines()
    assert (expected["mean"] < 0).all()  # the case the rule is for
    assert np.allclose(line.get_ydata(), expected["mean"]) and list(line.get_xdata()) == [1, 2, 3, 4]
    assert fig._suptitle.get_text().startswith(
        "Normalized regret (best score where no best is known) of the best configuration so far")


def test_every_plot_takes_the_title_it_is_given(three_seeds, tmp_path, monkeypatch):
    """The scripts title their figures (grpoformer_vs_tpe's floor plot says which agents ran held out): a given title
    replaces the default one on each of the three plots."""
    from hpo_gym.benchmark.metrics import per_task_table
    from hpo_gym.benchmark.plots import plot_average_rank, plot_regret_per_task, plot_regret_vs_floor

    figures = _figures_saved(monkeypatch)
    plot_regret_per_task(three_seeds, tmp_path / "a.png", title="per task: mine")
    plot_average_rank(three_seeds, tmp_path / "b.png", title="rank: mine")
    per_task = per_task_table(three_seeds, 5)
    plot_regret_vs_floor(per_task, pd.Series({"kc1": 0.0085, "credit_g": 0.00037}), tmp_path / "c.png",
                         title="floor: mine")
    per_task_fig, rank_fig, floor_fig = figures
    assert per_task_fig._suptitle.get_text() == "per task: mine"
    assert rank_fig.axes[0].get_title() == "rank: mine"
    assert floor_fig.axes[0].get_title() == "floor: mine"


def test_the_rank_plot_says_why_it_is_empty_when_no_task_and_seed_has_a_run_of_every_agent(tmp_path, monkeypatch):
    """random ran car only and tpe kc1 only: no (task, seed) ranks both, so there is no curve; the plot says so in
    words instead of showing empty axes that read as a broken report."""
    from hpo_gym.benchmark.plots import plot_average_rank

    df = pd.concat([run_benchmark(["random"], ["car"], budget=3, seeds=1, resolve_agent=make_agent, progress=False),
                    run_benchmark(["tpe"], ["kc1"], budget=3, seeds=1, resolve_agent=make_agent, progress=False)],
                   ignore_index=True)
    figures = _figures_saved(monkeypatch)
    plot_average_rank(df, tmp_path / "rank.png")
    (ax,) = figures[0].axes
    assert not ax.get_lines() and ax.get_legend() is None
    assert [t.get_text() for t in ax.texts] == ["no ranks: no (task, seed) has a finished run of every agent"]


def test_the_rank_axis_shows_ranks_1_to_2_at_least_when_one_agent_ran(tmp_path, monkeypatch):
    """A lone agent is ranked 1 at every evaluation: the axis still spans ranks 1 to 2, so its flat line reads as
    "first of one", not as a curve wandering between 0.95 and 1.05 on a magnified axis."""
    from hpo_gym.benchmark.plots import plot_average_rank

    df = run_benchmark(["random"], ["car"], budget=3, seeds=1, resolve_agent=make_agent, progress=False)
    figures = _figures_saved(monkeypatch)
    plot_average_rank(df, tmp_path / "rank.png")
    (ax,) = figures[0].axes
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [1.0, 1.0, 1.0]
    assert ax.get_ylim() == pytest.approx((0.9, 2.1))


@pytest.fixture(scope="module")
def floor_inputs():
    """A real per-task table (random and an agent named "_mine", 2 seeds, budget 4) on vehicle, kc1 and credit_g, in
    that order, with _mine's vehicle regret set to 0 (a run that found the best cell), and the real runner-up regrets
    of those tables (vehicle's 6.5e-5 is below every positive bar)."""
    from agents.random_search import RandomSearch
    from hpo_gym.benchmark.difficulty import suite_profile
    from hpo_gym.benchmark.metrics import per_task_table
    from hpo_gym.suites import load_hpobench_nn

    tasks = ["vehicle", "kc1", "credit_g"]
    df = run_benchmark({"random": RandomSearch, "_mine": RandomSearch}, tasks, budget=4, seeds=2, progress=False)
    per_task = per_task_table(df, 4).loc[tasks, ["random", "_mine"]]
    per_task.loc["vehicle", "_mine"] = 0.0
    floor = suite_profile({t: load_hpobench_nn(t) for t in tasks})["runner_up_regret"].astype(float)
    return per_task, floor


def test_the_floor_plot_puts_tasks_top_down_with_each_label_at_the_middle_of_its_own_side_by_side_bars(
        floor_inputs, tmp_path, monkeypatch):
    """Tasks read top to bottom in the table's order; each task's agents have one bar each, side by side (not drawn
    over each other), and the task's name sits at the middle of its group, where its floor mark is."""
    from hpo_gym.benchmark.plots import plot_regret_vs_floor

    per_task, floor = floor_inputs
    figures = _figures_saved(monkeypatch)
    plot_regret_vs_floor(per_task, floor, tmp_path / "floor.png", budget=4)
    (ax,) = figures[0].axes
    ticks = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.get_yticks()))
    assert list(ticks) == ["vehicle", "kc1", "credit_g"]
    screen_y = [ax.transData.transform((1e-3, ticks[t]))[1] for t in ticks]
    assert screen_y[0] > screen_y[1] > screen_y[2]  # the first task at the top
    centres = {agent: [p.get_y() + p.get_height() / 2 for p in bars.patches]
               for agent, bars in zip(per_task.columns, ax.containers)}
    marks = {round(float(line.get_xdata()[0]), 12): line.get_ydata() for line in ax.get_lines()}
    for t, task in enumerate(per_task.index):
        group = [centres[agent][t] for agent in per_task.columns]
        assert len(set(group)) == len(group), task  # side by side
        assert np.mean(group) == pytest.approx(ticks[task]), task
        mark = marks[round(float(floor[task]), 12)]
        assert np.mean(mark) == pytest.approx(ticks[task]), task


def test_the_floor_plot_draws_regret_0_below_the_lowest_floor_mark_and_keeps_every_agent_in_its_legend(
        floor_inputs, tmp_path, monkeypatch):
    """A bar of regret 0 (the run found the best cell) is drawn below every floor mark: vehicle's runner-up mark at
    6.5e-5 is under the fixed 1e-4 floor, and a 0 drawn at 1e-4 would look like a run that missed the best cell. An
    agent named "_mine" keeps its legend entry (matplotlib drops labels that start with "_")."""
    from hpo_gym.benchmark.plots import plot_regret_vs_floor

    per_task, floor = floor_inputs
    positive = per_task.to_numpy()[per_task.to_numpy() > 0]
    assert 0 < floor["vehicle"] < 1e-4 and (positive / 2 > floor["vehicle"]).all()  # the mark is the lowest thing drawn
    figures = _figures_saved(monkeypatch)
    plot_regret_vs_floor(per_task, floor, tmp_path / "floor.png")
    fig = figures[0]
    (ax,) = fig.axes
    bars = dict(zip(per_task.columns, ax.containers))
    found = bars["_mine"].patches[0].get_width()
    assert 0 < found < floor["vehicle"]
    legend = sorted(t.get_text() for t in fig.legends[0].get_texts())
    assert legend == [" _mine", "random", "runner-up cell: the floor of runs that miss the best cell"]


# -- hpo_gym.benchmark.difficulty ----------------------------------------------------------------------------------


def test_the_lead_z_pairs_the_best_and_the_runner_up_on_the_seeds_both_have():
    """A seed missing from the best cell's row is left out of the paired lead, not counted as a lead of 0: per-seed
    leads 0.3 and 0.2 (the third seed has no score for the best cell) give z = 0.25 / (0.0707 / sqrt 2) = 5, a clear
    lead; counting the missing seed as 0 gave 1.9, inside the noise."""
    from hpo_gym.benchmark.difficulty import regret_profile

    scores = {0: [1.0, 0.8, None], 1: [0.7, 0.6, 0.65], 2: [0.0, 0.1, 0.2]}
    rows = [{"x": x, "seed": s, "acc": v} for x, vals in scores.items() for s, v in enumerate(vals) if v is not None]
    table = TabularObjective.from_dataframe(pd.DataFrame(rows), metric="acc", seed_column="seed", name="holes")
    assert np.isnan(table.seed_scores[0, 2])
    profile = regret_profile(table)
    assert profile["runner_up_regret"] == pytest.approx(0.25 / 0.8)
    assert profile["lead_z"] == pytest.approx(5.0)
