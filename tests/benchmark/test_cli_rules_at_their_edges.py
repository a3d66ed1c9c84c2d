"""Killer tests from the mutation review of the CLI, the plots and the difficulty profile (real CLI entry, real embedded
tables, real matplotlib with Agg): each pins a behaviour whose change no other test noticed."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

import pytest

from hpo_gym.cli import main, name_list
from hpo_gym.suites import HPOBENCH_NN


def test_demo_runs_random_and_tpe_on_the_embedded_suite_at_budget_50_with_3_seeds_and_2_processes(monkeypatch, capsys):
    """The module docstring and --help promise what `hpo-gym demo` runs; a changed default changed the demo silently.
    The benchmark is stopped at its start (Ctrl-C), after the banner: the settings it was given are those defaults."""
    import hpo_gym.benchmark

    given: dict = {}

    def stop(agents, **kwargs):
        given.update(kwargs, agents=list(agents))
        raise KeyboardInterrupt

    monkeypatch.setattr(hpo_gym.benchmark, "run_benchmark", stop)
    assert main(["demo"]) == 130
    captured = capsys.readouterr()
    assert captured.out.strip() == (f"hpo-gym demo: random, tpe on the {HPOBENCH_NN} suite (8 tasks), budget 50, 3 seeds, "
                                    "2 processes")
    assert given["agents"] == ["random", "tpe"] and given["suite"] == HPOBENCH_NN
    assert (given["budget"], given["seeds"], given["jobs"], given["out"]) == (50, 3, 2, None)
    assert captured.err.strip() == "hpo-gym demo: interrupted"  # no --out: nothing kept, so no resume hint


def test_a_worker_that_dies_in_demo_exits_1_naming_the_dead_worker_not_2(tmp_path, monkeypatch, capsys):
    """demo does not catch BrokenProcessPool itself (bench does): the CLI's report_error must map it to exit 1 and the
    worker-died line, not to exit 2 (bad input), which tells a script the command line was wrong."""
    (tmp_path / "dying_agent.py").write_text(
        "import os\n\nimport numpy as np\n\n"
        "class Dies:\n"
        "    def reset(self, space, seed=None, budget=None):\n"
        "        self.d = len(space)\n"
        "    def act(self, observation):\n"
        "        if str(os.getpid()) != os.environ['KILLER_TEST_MAIN_PID']:  # only ever in a worker process\n"
        "            os._exit(1)\n"
        "        return np.full(self.d, 0.5, dtype=np.float32)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KILLER_TEST_MAIN_PID", str(os.getpid()))
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    assert main(["demo", "--agents", "dying_agent:Dies", "--budget", "2", "--seeds", "1", "--jobs", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("hpo-gym demo: error: a worker process died (killed by a signal or by the out-of-memory killer")
    assert "rerun the same command" in err


@pytest.fixture(scope="module")
def small_bench(tmp_path_factory):
    """random and tpe on car, budget 3, 2 seeds: a benchmark directory for `hpo-gym report` (about 1 s)."""
    out = tmp_path_factory.mktemp("killers") / "bench"
    assert main(["bench", "--agents", "random,tpe", "--tasks", "car", "--budget", "3", "--seeds", "2", "--out", str(out),
                 "--no-report"]) == 0
    return out


def test_report_compares_at_the_whole_budget_when_at_equals_it(small_bench, capsys):
    """`--at B` with B the budget itself is the default comparison spelled out: it must be accepted (the refusal is for B
    past the budget only)."""
    capsys.readouterr()
    assert main(["report", str(small_bench), "--no-plots", "--compare", "tpe:random", "--at", "3"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("tpe / random mean regret@3: ")
    assert main(["report", str(small_bench), "--no-plots", "--compare", "tpe:random", "--at", "4"]) == 2
    assert "--at 4 is past this benchmark's budget of 3 evaluations" in capsys.readouterr().err


def test_report_refuses_to_compare_an_agent_with_itself(small_bench, capsys):
    """`--compare random:random` is a ratio of 1 by construction: refused with exit 2, naming the mistake, while the
    report itself is still printed."""
    capsys.readouterr()
    assert main(["report", str(small_bench), "--no-plots", "--compare", "random:random"]) == 2
    captured = capsys.readouterr()
    assert "--compare 'random:random' compares 'random' with itself (the ratio is 1); name two agents" in captured.err
    assert "random / random" not in captured.out and "| random" in captured.out


@pytest.fixture(scope="module")
def found_the_optimum():
    """Real runs of random and tpe on car and kc1 (budget 4, 2 seeds), with tpe's regret on car set to 0 from its
    second evaluation on: the case of a run that found the optimum, which a log axis cannot show as it is."""
    from agents.registry import make_agent
    from hpo_gym.benchmark import run_benchmark

    df = run_benchmark(["random", "tpe"], ["car", "kc1"], budget=4, seeds=2, resolve_agent=make_agent, progress=False)
    df = df.copy()
    df.loc[(df["agent"] == "tpe") & (df["task"] == "car") & (df["step"] >= 2), "normalized_regret"] = 0.0
    return df


def _drawn(monkeypatch):
    """The figures the plot functions save (real matplotlib, Agg): kept for inspection after they are written."""
    from hpo_gym.benchmark import plots

    figures = []
    real = plots.save_figure

    def keep(fig, path):
        figures.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def test_the_regret_plot_draws_every_agent_labels_its_axes_and_puts_regret_0_on_the_marked_floor(found_the_optimum,
                                                                                                  tmp_path, monkeypatch):
    from hpo_gym.benchmark.plots import log_axis_floor, plot_regret_per_task

    figures = _drawn(monkeypatch)
    plot_regret_per_task(found_the_optimum, tmp_path / "p.png")
    (fig,) = figures
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible() and ax.get_title()}
    assert sorted(panels) == ["car", "kc1"]
    assert panels["car"].get_ylabel() == "normalized regret" and panels["car"].get_yscale() == "log"
    assert all(ax.get_xlabel() == "evaluations" for ax in panels.values())
    for task, ax in panels.items():
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 4]  # the agents' curves, not the floor line
        assert len(curves) == 2, task  # random and tpe, each on every panel
        texts = [t.get_text() for t in ax.texts]
        assert texts == (["optimum found (regret 0)"] if task == "car" else []), task
    car = panels["car"]
    floor = log_axis_floor(found_the_optimum.loc[found_the_optimum["task"] == "car"]
                           .groupby(["agent", "step"])["normalized_regret"].mean())
    drawn = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in car.get_lines()])
    assert drawn.min() == pytest.approx(floor) and (drawn > 0).all()  # regret 0 sits on the floor line, not off the axis


def test_the_rank_plot_and_the_floor_plot_label_their_axes_and_draw_every_agent(found_the_optimum, tmp_path,
                                                                                  monkeypatch):
    from hpo_gym.benchmark.metrics import per_task_table
    from hpo_gym.benchmark.plots import plot_average_rank, plot_regret_vs_floor

    figures = _drawn(monkeypatch)
    plot_average_rank(found_the_optimum, tmp_path / "rank.png")
    per_task = per_task_table(found_the_optimum, 4)
    plot_regret_vs_floor(per_task, pd.Series({"car": 0.0, "kc1": 0.002}), tmp_path / "floor.png", budget=4)
    rank, floor = (fig.axes[0] for fig in figures)
    assert rank.get_ylabel() == "average rank (lower is better)" and rank.get_xlabel() == "evaluations"
    assert sorted(line.get_label() for line in rank.get_lines()) == ["random", "tpe"]
    assert floor.get_xlabel() == "mean normalized regret at 4 evaluations (log scale)" and floor.get_xscale() == "log"
    bars = {c.get_label(): len(c.patches) for c in floor.containers}
    assert bars == {"random": 2, "tpe": 2}
    marks = [line for line in floor.get_lines() if line.get_label().startswith("runner-up")]
    assert len(floor.get_lines()) == 1 and len(marks) == 1  # one mark: kc1's; car's floor of 0 has none on a log axis


def test_tasks_difficulty_counts_the_cells_within_001_of_the_best_on_every_embedded_table(capsys):
    """`hpo-gym tasks --difficulty`'s within_0.01 column: the cells whose normalized regret is at most 0.01, counted
    here from each embedded table's mean scores (blood_transfusion's 1 alone did not tell 0.01 from 0.02)."""
    from hpo_gym.suites import get_suite

    assert main(["tasks", "--difficulty"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {cells[0]: dict(zip(header, cells)) for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}
    suite = get_suite(HPOBENCH_NN)
    assert sorted(rows) == sorted(suite.tasks)
    for task, row in rows.items():
        obj = suite.load(task)
        mean = np.asarray(obj.mean_scores, dtype=float)
        regret = (obj.oracle.best - mean) / (obj.oracle.best - obj.oracle.worst)
        assert int(row["within_0.01"]) == int(np.sum(regret <= 0.01)), task
        second = np.sort(regret[np.isfinite(regret)])[1]
        assert float(row["runner_up_regret"]) == pytest.approx(second, abs=5e-5), task


def test_a_run_that_lands_on_the_runner_up_cell_is_no_hit_and_the_floor_is_the_mean_over_the_suite():
    """On the embedded tables: a run whose regret is exactly the runner-up cell's found that cell, not the best one (no
    hit); and the miss-the-best floor is the mean of the 8 runner-up regrets (3 tasks with a shared best add 0, so
    a median would be far lower)."""
    from hpo_gym.benchmark.difficulty import best_cell_hits, miss_the_best_floor, suite_profile
    from hpo_gym.suites import get_suite

    suite = get_suite(HPOBENCH_NN)
    profile = suite_profile({name: suite.load(name) for name in suite.tasks})
    runner_up = profile["runner_up_regret"].astype(float)
    assert miss_the_best_floor(profile) == pytest.approx(runner_up.sum() / 8)
    final = pd.DataFrame({"agent": ["a", "a", "b", "b"], "task": ["credit_g", "credit_g", "kc1", "kc1"],
                          "regret": [0.0, runner_up["credit_g"], runner_up["kc1"], runner_up["kc1"] / 2]})
    hits = best_cell_hits(final, profile)
    assert hits.loc["a", "credit_g"] == 0.5 and hits.loc["b", "kc1"] == 0.5
    assert "car" not in hits.columns  # a shared best: "the" best cell is not defined


def test_fetch_without_a_task_or_a_suite_is_refused_naming_both_forms(capsys):
    assert main(["fetch"]) == 2
    assert ("hpo-gym fetch: error: name OpenML task ids (hpo-gym fetch 167149 167097) or a suite (--suite "
            "grpoformer-paper)") in capsys.readouterr().err


def test_live_goes_on_to_the_test_score_when_only_the_first_fit_failed(monkeypatch, capsys):
    """`every fit failed` (exit 1) is for a setup that fits nothing; one failed configuration among working ones (a
    fit past its time limit) is a result: the best working one gets its outer-test score, exit 0. The objective is a
    stand-in with a real search space: no real fit can be made to fail first, and only first, on every machine (the
    real objective's failure recording is tested in tests/live)."""
    import hpo_gym.live
    from hpo_gym.live.models import get_model
    from hpo_gym.objective import Evaluation, EvaluationBatch

    tested = []

    class FirstFitFails:
        name, metadata = "openml-31-rf", {"dataset": "credit-g", "n_rows": 1000, "n_features": 20, "n_classes": 2}
        space = get_model("rf").space

        def __init__(self, *args, **kwargs):
            pass

        def evaluate_batch(self, configs, seeds=None):
            return EvaluationBatch.from_evaluations([Evaluation(0.0, 0.1, {"error": "timeout: still running after the time limit"})]
                                   + [Evaluation(0.7 + 0.01 * i, 0.1, {}) for i in range(1, len(configs))])

        def test_score(self, config, seed=None):
            tested.append(config)
            return Evaluation(0.68, 0.1, {})

    monkeypatch.setattr(hpo_gym.live, "LiveObjective", FirstFitFails)
    assert main(["live", "31", "-n", "3"]) == 0
    out = capsys.readouterr().out
    assert "best validation accuracy: 0.7200; its outer-test accuracy: 0.6800" in out and len(tested) == 1


def test_train_grpoformer_takes_the_widest_policy_it_documents_and_refuses_one_step_past_it(tmp_path, capsys):
    """--width goes up to MAX_WIDTH (1024) inclusive. Checked without training: a bad --synthetic, refused by the config
    after the width was taken, ends the command (so the refusal names --synthetic, not --width)."""
    from hpo_gym.cli.grpoformer import MAX_WIDTH

    assert MAX_WIDTH == 1024
    assert main(["train-grpoformer", "--out", str(tmp_path / "r"), "--width", "1024", "--synthetic", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--synthetic -1" in err and "--width" not in err
    assert main(["train-grpoformer", "--out", str(tmp_path / "r"), "--width", "1028", "--synthetic", "-1"]) == 2
    assert "--width 1028: give a multiple of 4 (the attention heads) from 8 to 1024" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing written by a refused command


def test_train_grpoformer_refuses_a_policy_without_encoder_layers(tmp_path, capsys):
    """--layers 0 is no Transformer at all: refused by name (a bad --synthetic given too only keeps a mutant that lets
    it through from training)."""
    assert main(["train-grpoformer", "--out", str(tmp_path / "r"), "--layers", "0", "--synthetic", "-1"]) == 2
    assert "--layers 0: give at least 1 encoder layer" in capsys.readouterr().err


def test_train_grpoformer_refuses_an_episode_past_the_largest_budget_before_anything_else(tmp_path, capsys):
    """In transfer training --budget is an episode's length: past MAX_BUDGET it is refused at once (a bad --synthetic
    given too would be refused only after it, and keeps a mutant that lets the budget through from training)."""
    from hpo_gym.episode import MAX_BUDGET

    assert main(["train-grpoformer", "--out", str(tmp_path / "r"), "--budget", str(MAX_BUDGET + 1), "--synthetic",
                 "-1"]) == 2
    err = capsys.readouterr().err
    assert f"--budget {MAX_BUDGET + 1:,}: at most {MAX_BUDGET:,} evaluations per episode" in err and "--synthetic" not in err


def test_train_grpoformer_online_runs_500_evaluations_by_default(tmp_path, capsys):
    """--help: --budget is, with --online, the run's total, default 500. Checked without training: an online.json that
    holds this task finished at the default settings (budget 500, seed 0, paper mode's learner, the default policy) is
    skipped; at any other default budget it would be refused as a run of other settings."""
    import dataclasses
    import json

    from agents.grpoformer.policy import PolicyConfig
    from agents.grpoformer.train import online_learner_config

    out = tmp_path / "online"
    out.mkdir()
    settings = {"budget": 500, "seed": 0, "learner": dataclasses.asdict(online_learner_config()),
                "policy": dataclasses.asdict(PolicyConfig())}
    (out / "online.json").write_text(json.dumps({"credit_g": {**settings, "best_score": 0.75, "regret": 0.0123,
                                                              "random_regret": 0.05}}))
    assert main(["train-grpoformer", "--online", "--holdout", "credit_g", "--out", str(out)]) == 0
    assert f"credit_g: finished in {out / 'online.json'} (regret@500 = 0.0123); skipped" in capsys.readouterr().out


def test_train_grpoformer_ctrl_c_before_any_state_says_to_rerun_not_to_resume(tmp_path, monkeypatch, capsys):
    """Ctrl-C before the first state.pt: `--resume` would find nothing to continue, so the line says to rerun; with
    --online it says the finished tasks are kept. (Only the case with a saved state was tested.)"""
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("agents.grpoformer.train.train", interrupted)
    monkeypatch.setattr("agents.grpoformer.train.train_online", interrupted)
    out = tmp_path / "run"
    assert main(["train-grpoformer", "--holdout", "credit_g", "--out", str(out), "--synthetic", "0"]) == 130
    assert capsys.readouterr().err.strip() == (f"hpo-gym train-grpoformer: interrupted; nothing was saved yet in {out}: "
                                               "rerun the same command")
    assert main(["train-grpoformer", "--online", "--holdout", "credit_g", "--out", str(tmp_path / "o")]) == 130
    assert capsys.readouterr().err.strip() == (f"hpo-gym train-grpoformer: interrupted; rerun the same command: the "
                                               f"tasks finished in {tmp_path / 'o' / 'online.json'} are kept and skipped")


def test_a_name_list_strips_each_name_and_refuses_nothing_or_any_name_twice_naming_every_repeat():
    """The one refusal behind every comma-separated option of names (bench, demo and the benchmark scripts): a repeat
    was run twice or dropped without a word, depending on the command."""
    import argparse

    assert name_list(" random, tpe ,,gp") == ["random", "tpe", "gp"]
    with pytest.raises(argparse.ArgumentTypeError, match=r"^' , ' names nothing; give one or more"):
        name_list(" , ")
    with pytest.raises(argparse.ArgumentTypeError,
                       match=r"^'tpe,random, tpe,gp,random' names random, tpe more than once; list each once$"):
        name_list("tpe,random, tpe,gp,random")
