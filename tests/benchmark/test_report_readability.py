"""What a reader of a report sees: column definitions, tasks without a known best, a bad --compare, plot styles.

Real benchmarks on the embedded tables and on a real (noise-free, closed-form) objective without an oracle, as a live
task has none."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agents.registry import make_agent
from hpo_gym.benchmark import run_benchmark
from hpo_gym.benchmark.plots import KNOWN_AGENT_COLOURS, _styles
from hpo_gym.benchmark.metrics import summary_table
from hpo_gym.benchmark.report import json_value, markdown_report
from hpo_gym.cli import main
from hpo_gym.objective import Evaluation, EvaluationBatch, as_config_list
from hpo_gym.space import Float, SearchSpace


class Bowl:
    """A smooth objective with no known best score (``oracle`` None), as a live task."""

    name = "bowl"
    space = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])
    oracle = None
    metadata = {"task": "bowl"}

    def evaluate(self, config, seed=None):
        return Evaluation(1.0 - (config["x"] - 0.3) ** 2 - (config["y"] - 0.6) ** 2, 0.0, {})

    def evaluate_batch(self, configs, seeds=None):
        return EvaluationBatch.from_evaluations([self.evaluate(c) for c in as_config_list(self.space, configs)])


def test_the_markdown_report_defines_its_columns_and_the_json_report_too():
    df = run_benchmark(["random", "tpe", "cmaes"], ["car"], budget=4, seeds=2, resolve_agent=make_agent, progress=False)
    text = markdown_report(df)
    assert "Columns: regret@b = normalized regret of the best configuration after b evaluations" in text
    assert "MnR = mean rank among the 3 agents with a finished run on each (task, seed), 1 = best" in text
    # every column is defined, held-out and runs too (found by a user: those two were not)
    assert "held-out = whether every run of the agent was on a task it was not trained on" in text
    assert "runs = finished runs" in text
    assert "BtR = share of tasks on which the agent's mean regret@4 beats random's (on a live task its mean best score; " \
           "- without a random agent)" in text


def test_a_task_without_a_known_best_gets_its_best_scores_in_the_report_and_the_plot(tmp_path):
    df = run_benchmark(["random", "tpe"], [Bowl(), "car"], budget=5, seeds=2, resolve_agent=make_agent,
                       progress=False)
    text = markdown_report(df)
    regret_table = text.split("Mean normalized regret per task")[1].split("Mean best score per task")[0]
    assert "| car " in regret_table and "bowl" not in regret_table  # no row of dashes for bowl
    scores = text.split("on the tasks without a known best score, which have no regret:")[1]
    best = df[df["task"] == "bowl"].groupby("agent")["best_score"].max()  # best_score is the running best
    for agent in ("random", "tpe"):
        mean = df[(df["task"] == "bowl") & (df["step"] == 5) & (df["agent"] == agent)]["best_score"].mean()
        assert f"{mean:.4f}" in scores and mean <= best[agent]
    # BtR counts bowl by best score, as MnR ranks it; it used to count car alone, without a word
    final = df[df["step"] == 5].groupby(["agent", "task"])[["normalized_regret", "best_score"]].mean()
    tpe_wins = [final.loc[("tpe", "car"), "normalized_regret"] < final.loc[("random", "car"), "normalized_regret"],
                final.loc[("tpe", "bowl"), "best_score"] > final.loc[("random", "bowl"), "best_score"]]
    assert summary_table(df).loc["tpe", "BtR"] == sum(tpe_wins) / 2
    # --compare takes its ratio over car and says that bowl is left out; on bowl alone it names why there is none
    from hpo_gym.benchmark.report import ratio_comparison

    line, facts = ratio_comparison(df, "tpe", "random")
    assert facts["tasks"] == 1 and "left out, without a known best: bowl" in line
    with pytest.raises(ValueError, match=r"--compare needs tasks with a known best score, and bowl \(live tasks\) have "
                                         r"none"):
        ratio_comparison(df[df["task"] == "bowl"], "tpe", "random")
    # both compared agents failed on car while a third finished there: car has a known best, it was called a live task
    failed_on_car = pd.concat([df, df[df["agent"] == "tpe"].assign(agent="third")], ignore_index=True)
    failed_on_car.loc[(failed_on_car["task"] == "car") & failed_on_car["agent"].isin(["tpe", "random"]), "status"] = "failed"
    with pytest.raises(ValueError, match="has no common finished runs with 'tpe'"):
        ratio_comparison(failed_on_car, "tpe", "random")
    every_agent_failed_on_car = df.assign(status=np.where(df["task"] == "car", "failed", df["status"]))
    with pytest.raises(ValueError, match=r"bowl \(live tasks\) have none.* \(car: no finished run\)"):
        ratio_comparison(every_agent_failed_on_car, "tpe", "random")
    worse = df.copy()  # the same runs with tpe's bowl scores far below random's: it wins car only
    on_bowl = (worse["agent"] == "tpe") & (worse["task"] == "bowl")
    worse.loc[on_bowl, ["score", "best_score"]] -= 10.0
    assert summary_table(worse).loc["tpe", "BtR"] == (0.5 if tpe_wins[0] else 0.0)
    from hpo_gym.benchmark.plots import plot_regret_per_task

    path = plot_regret_per_task(df, tmp_path / "p.png")
    assert path.stat().st_size > 10_000


def test_a_bad_compare_still_prints_the_report_and_writes_the_plots(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["bench", "--agents", "random,tpe", "--tasks", "car", "--budget", "3", "--seeds", "2", "--out", str(out),
                 "--no-report"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--compare", "tpe:random", "--compare", "tpe:nosuch"]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("Normalized regret mean ± std") and "tpe / random mean regret@3" in captured.out
    assert "--compare 'tpe:nosuch': no split into two agents" in captured.err
    assert "plots: " in captured.err and "plots: " not in captured.out  # stdout is the report alone
    assert (out / "plots" / "regret_per_task.png").exists()


def test_known_agents_keep_their_colour_whatever_else_is_plotted():
    alone, crowd = _styles(["tpe"]), _styles(["aaa", "tpe", "random", "zzz", "grpoformer:x.pt"])
    assert alone["tpe"]["color"] == crowd["tpe"]["color"]
    assert crowd["random"]["color"] == _styles(["random", "gp"])["random"]["color"]
    colours = [crowd[a]["color"] for a in crowd]
    assert len(set(colours)) == len(colours)  # the others take colours that are left
    assert len(KNOWN_AGENT_COLOURS) <= 10
    many = _styles([f"agent{i:02d}" for i in range(25)])
    assert len({(s["color"], s["ls"]) for s in many.values()}) == 25  # past ten: the colours again, dashed


def test_json_numbers_lose_float_noise_only():
    assert json_value(2.6249999999999996) == 2.625 and json_value(1.23456789012e-9) == 1.23456789012e-9
    assert json_value(np.float64(0.1 + 0.2)) == 0.3 and json_value(float("nan")) is None
    assert json.dumps(json_value({"a": [np.float32(0.5), 3]})) == '{"a": [0.5, 3]}'


@pytest.mark.parametrize("command", ["bench", "demo"])
def test_bench_and_demo_take_a_module_of_the_working_directory(tmp_path, monkeypatch, capsys, command):
    import sys

    module = f"cwd_agents_{command}"  # a name of its own: sys.modules keeps an imported module for the session
    (tmp_path / f"{module}.py").write_text("from agents.random_search import RandomSearch\n"
                                           f"def Mine():\n    return RandomSearch(name='{module}:Mine')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in sys.path if p not in ("", str(tmp_path))])  # restored afterwards
    args = ["--agents", f"{module}:Mine", "--budget", "2", "--seeds", "1", "--jobs", "1"]
    args += ["--tasks", "car", "--out", str(tmp_path / "o"), "--no-report"] if command == "bench" else []
    assert main([command, *args]) == 0, capsys.readouterr().err


def test_a_family_spec_takes_its_familys_colour_and_the_first_exception_line_is_quoted():
    from hpo_gym.benchmark.report import _exception_line

    assert _styles(["ppo:20000", "random"])["ppo:20000"]["color"] == _styles(["ppo"])["ppo"]["color"]
    assert _styles(["ppo", "ppo:20000"])["ppo:20000"]["color"] != _styles(["ppo"])["ppo"]["color"]  # taken: another
    traceback = ("Traceback (most recent call last):\n  File \"x.py\", line 3, in act\n    raise ValueError(msg)\n"
                 "ValueError: the first line of the message\nsecond line of the message")
    assert _exception_line(traceback) == "ValueError: the first line of the message"
    assert _exception_line("plain message") == "plain message" and _exception_line("") == "(no message)"


def test_agents_whose_curves_coincide_show_their_markers_at_different_points():
    """Found in review: below 12 points every agent marked every point, so a curve drawn over an identical one hid it
    (a failing agent's finished seeds equal random's: 0 of its pixels showed in the rank plot)."""
    from hpo_gym.benchmark.plots import _line_kwargs

    for n_points in (3, 10, 15, 50):
        starts = [_line_kwargs({}, n_points, slot)["markevery"] for slot in range(2)]
        assert starts[0][0] != starts[1][0] and starts[0][1] == starts[1][1] >= 2, (n_points, starts)
    assert _line_kwargs({}, 1, 3)["markevery"] == (0, 1)  # a single point is marked


def test_the_rank_legend_counts_only_agents_with_a_finished_run():
    """Found in review: an agent whose every run failed was counted in "mean rank among the N agents", although the
    other agent was ranked alone."""
    from agents.random_search import RandomSearch
    from hpo_gym.benchmark import run_benchmark
    from hpo_gym.benchmark.report import json_report, markdown_report
    from tests.benchmark.test_runner import FailingAgent

    df = run_benchmark({"failing": FailingAgent, "random": RandomSearch}, ["car"], budget=4, seeds=1, progress=False)
    assert "MnR = mean rank among the 1 agent with a finished run on each" in markdown_report(df)
    assert "mean rank among the 1 agent with a finished run on each" in json_report(df)["definitions"]
    # every run failed: no "mean rank among the 0 agents" (found by a user)
    failed = run_benchmark({"failing": FailingAgent}, ["car"], budget=4, seeds=1, progress=False)
    assert "among the 0" not in markdown_report(failed) and "no agent finished a run" in markdown_report(failed)


def test_the_plot_legends_say_which_agents_ran_held_out_and_which_in_sample(tmp_path, monkeypatch):
    """The plots named agents alone: a learned agent's in-sample curve looked like a result next to the baselines
    (found in review). Its legend entry now says (in-sample), a k-fold agent's (held-out)."""
    import matplotlib.pyplot as plt

    from hpo_gym.benchmark.plots import plot_average_rank, plot_regret_per_task

    tasks = ["car", "kc1", "credit_g", "vehicle"]
    df = run_benchmark(["portfolio", "random"], tasks, budget=4, seeds=1, protocol="kfold", folds=2,
                       resolve_agent=make_agent, progress=False)
    shown: list[str] = []
    monkeypatch.setattr(plt.Figure, "legend", lambda fig, handles, labels, **kw: shown.extend(labels))
    plot_regret_per_task(df, tmp_path / "per_task.png")
    assert sorted(shown) == ["portfolio (held-out)", "random"]
    in_sample = df.assign(in_sample=df["agent"] == "portfolio", heldout=False)
    ranked: list[str] = []
    monkeypatch.setattr(plt.Axes, "legend", lambda ax, **kw: ranked.extend(ax.get_legend_handles_labels()[1]))
    plot_average_rank(in_sample, tmp_path / "rank.png")
    assert ranked == ["portfolio (in-sample)", "random"]


def test_the_per_task_regrets_keep_three_significant_digits_on_an_easy_task():
    """On car every agent ends within 0.00075 of the best: 4 decimals printed random's 0.000557 and gp's 0.000575 alike
    as 0.0006, hiding the loss to random that costs gp a BtR point. Every printed regret now reads back within 1 %."""
    from hpo_gym.benchmark.metrics import per_task_table

    df = run_benchmark(["random", "tpe"], ["car"], budget=50, seeds=3, resolve_agent=make_agent, progress=False)
    true = per_task_table(df, 50)
    assert (true.loc["car"] < 1e-3).any()  # the case the rule is for
    row = next(line for line in markdown_report(df).splitlines() if line.startswith("| car "))
    printed = [float(cell) for cell in row.strip("|").split("|")[1:]]
    assert printed == pytest.approx(true.loc["car"].tolist(), rel=0.01, abs=1e-12)


def test_regret_zero_is_drawn_below_every_positive_regret_on_the_log_axes(tmp_path, monkeypatch):
    """A fixed floor of 1e-4 drew a mean regret of 3e-5 (and 0) past the suite's runner-up mark at 6.5e-5 (vehicle's),
    the opposite of the truth, and put 5e-5 on the "optimum found (regret 0)" line."""
    import matplotlib.pyplot as plt

    from hpo_gym.benchmark.plots import REGRET_FLOOR, log_axis_floor, plot_regret_vs_floor

    assert log_axis_floor([0.02, 0.0, 3e-5], [6.5e-5]) == pytest.approx(1.5e-5)
    assert log_axis_floor([0.02, 0.0]) == REGRET_FLOOR and log_axis_floor([0.0]) == REGRET_FLOOR
    widths: dict[str, list[float]] = {}
    real_barh = plt.Axes.barh

    def record(ax, y, width, *args, label=None, **kwargs):
        widths[label] = list(np.asarray(width, dtype=float))
        return real_barh(ax, y, width, *args, label=label, **kwargs)

    monkeypatch.setattr(plt.Axes, "barh", record)
    per_task = pd.DataFrame({"finds it": [3e-5, 0.0], "misses": [0.004, 0.01]}, index=["vehicle", "phoneme"])
    plot_regret_vs_floor(per_task, pd.Series({"vehicle": 6.5e-5, "phoneme": 5.9e-5}), tmp_path / "floor.png")
    assert widths["finds it"][0] == 3e-5 and 0 < widths["finds it"][1] < 3e-5 and widths["misses"] == [0.004, 0.01]


def test_an_agent_named_with_a_leading_underscore_keeps_its_legend_entry(tmp_path, monkeypatch):
    """matplotlib leaves an artist labelled "_mine" out of get_legend_handles_labels(): the per-task plot dropped it."""
    import matplotlib.pyplot as plt

    from agents.random_search import RandomSearch
    from hpo_gym.benchmark.plots import plot_regret_per_task

    df = run_benchmark({"_mine": RandomSearch, "random": RandomSearch}, ["car"], budget=3, seeds=1, progress=False)
    shown: list[str] = []
    monkeypatch.setattr(plt.Figure, "legend", lambda fig, handles, labels, **kw: shown.extend(labels))
    plot_regret_per_task(df, tmp_path / "per_task.png")
    assert sorted(shown) == [" _mine", "random"]


class Talkative:
    """Random search that prints, as research code does (a line per run, and one without its end at the last run)."""

    def reset(self, space, seed=None, budget=None):
        print(f"my agent starts a run, seed {seed}")
        if seed == 1:
            print("no newline here", end="")
        self.rng, self.d, self.dtype = np.random.default_rng(seed), len(space), space.action_dtype

    def act(self, observation):
        return self.rng.random(self.d).astype(self.dtype)


def test_an_agent_s_prints_stand_on_lines_of_their_own_above_the_progress_bar(monkeypatch):
    """Found by a new user: an agent's ``print`` landed on the progress bar's line, glued to its end
    (``... 2.98run/s]my agent starts``). On a terminal that shows both (here one buffer for stdout and stderr), each
    printed line now comes after the bar is cleared; a line without its end goes out when the runs are done."""
    import io
    import sys

    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    run_benchmark({"talkative": Talkative}, ["car", "kc1"], budget=2, seeds=2)
    monkeypatch.undo()
    text = terminal.getvalue()
    assert text.count("my agent starts a run, seed ") == 4 and text.count("no newline here") == 2
    assert "]my agent" not in text and "]no newline" not in text  # never glued to the bar's end
    assert all(line.rsplit("\r", 1)[-1].startswith(("my agent", "no newline", "bench"))
               for line in text.splitlines() if "my agent" in line)


def test_a_report_says_how_its_runs_were_made_and_warns_of_mixed_library_versions(tmp_path):
    """Found by a user writing a paper: neither the report nor the directory said which seeds, agents and library
    versions made the numbers (TPE's and CMA-ES's trajectories move with Optuna's and cmaes' versions). Each command
    appends a record to provenance.json; the report's setup lines name the versions, and warn when the commands that
    filled the directory ran on different ones."""
    import optuna

    from hpo_gym.benchmark.provenance import PROVENANCE, read_records
    from hpo_gym.benchmark.report import setup, setup_note

    kwargs = dict(budget=3, out=tmp_path, resolve_agent=make_agent, progress=False)
    run_benchmark(["random", "tpe"], ["car"], seeds=1, **kwargs)
    run_benchmark(["random", "tpe"], ["car"], seeds=2, **kwargs)  # one more seed: a second command
    records = read_records(tmp_path)
    assert [r["seeds"] for r in records] == [[0], [0, 1]] and records[1]["agents"] == {"random": "random", "tpe": "tpe"}
    assert records[1]["packages"]["optuna"] == optuna.__version__ and records[1]["tasks"] == ["car"]
    note = setup_note(tmp_path)
    assert note.startswith(f"Setup ({tmp_path}/benchmark.json): budget 3, protocol all, suite hpobench-nn.")
    assert "Made by 2 commands with Python " in note and f"optuna {optuna.__version__}" in note
    assert "WARNING" not in note and "noise=True" not in note
    records[0]["packages"]["optuna"] = "3.0.0"  # as if the first command had run before an upgrade
    (tmp_path / PROVENANCE).write_text(json.dumps(records))
    assert f"WARNING: the commands that filled this directory ran on different versions (optuna 3.0.0, " \
           f"{optuna.__version__})" in setup_note(tmp_path)
    assert setup(tmp_path)["version_differences"] == {"optuna": ["3.0.0", optuna.__version__]}


def test_a_report_of_noisy_runs_says_its_best_scores_are_noisy_draws(tmp_path):
    """Found by a user: under ``noise=True`` MP and MnP are the best single-seed draws seen, above the table's best
    score on credit_g, and nothing said the runs were noisy. The setup lines say so, with the env kwargs."""
    from hpo_gym.benchmark.report import setup_note
    from hpo_gym.suites import load_hpobench_nn

    df = run_benchmark(["random"], ["credit_g"], budget=30, seeds=3, out=tmp_path, env_kwargs={"noise": True},
                       resolve_agent=make_agent, progress=False)
    note = setup_note(tmp_path)
    assert "env kwargs {'noise': True}" in note and "noise=True: each evaluation scored one seed of the table" in note
    best_seen = df.groupby("seed")["best_score"].max()
    assert (best_seen > load_hpobench_nn("credit_g").oracle.best).any()  # what the note warns of, on this table
