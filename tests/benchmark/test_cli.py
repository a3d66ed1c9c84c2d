"""``hpo-gym bench``, ``hpo-gym report`` and ``hpo-gym demo`` end to end (small budgets)."""

from __future__ import annotations

import json

import gymnasium as gym
import pandas as pd
import pytest

from hpo_gym.cli import main
from hpo_gym.suites import HPOBENCH_NN_TASKS


def test_bench_then_report_markdown_json_and_plots(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "--agents", "random,tpe", "--tasks", "credit_g,car", "--budget", "12", "--seeds", "2",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| agent" in text and "regret@10" in text and "| tpe" in text
    assert main(["report", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["budget"] == 12 and set(report["agents"]) == {"random", "tpe"}
    assert set(report["tasks"]["tpe"]) == {"credit_g", "car"}
    assert report["agents"]["random"]["BtR"] == 0.0 and report["agents"]["tpe"]["runs"] == 4
    for name in ["regret_per_task.png", "average_rank.png"]:
        png = (out / "plots" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert main(["report", str(out), "--no-plots"]) == 0
    assert "Mean normalized regret per task" in capsys.readouterr().out
    assert main(["report", str(out), "--no-plots", "--compare", "tpe:random"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("tpe / random mean regret@12: ") and "95% interval" in line and "4 runs on 2 tasks" in line
    assert main(["report", str(out), "--no-plots", "--json", "--compare", "tpe:random"]) == 0
    ci = json.loads(capsys.readouterr().out)["comparisons"]["tpe:random"]
    assert ci["low"] <= ci["ratio"] <= ci["high"] and ci["runs"] == 4
    assert main(["report", str(out), "--no-plots", "--compare", "tpe:random", "--at", "5", "--threshold", "1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("tpe / random mean regret@5: ") and "share of resamples at or below 1: " in line
    for bad, message in [(["--compare", "tpe:random", "--at", "13"], "--at 13 is past this benchmark's budget of 12"),
                         (["--threshold", "0.5"], "add a --compare")]:
        assert main(["report", str(out), "--no-plots", *bad]) == 2
        assert message in capsys.readouterr().err
    assert main(["report", str(out), "--no-plots", "--compare", "tpe"]) == 2
    assert "AGENT:REFERENCE" in capsys.readouterr().err
    assert main(["report", str(out), "--no-plots", "--compare", "nosuch:tpe"]) == 2
    assert "unknown: ['nosuch']" in capsys.readouterr().err
    assert main(["report", str(out), "--no-plots", "--json", "--compare", "nosuch:tpe"]) == 2  # a pipe sees it too
    assert "unknown: ['nosuch']" in json.loads(capsys.readouterr().out)["errors"][0]


def test_report_names_the_benchmark_directory_and_refuses_mixed_budgets_without_settings(tmp_path, capsys):
    """Found in review: `report DIR/runs` and `report runs` said "run hpo-gym bench --out DIR/runs", which would nest a
    new benchmark inside another's runs folder; shards of two budgets copied into a directory without benchmark.json
    were reported as one benchmark (bench refuses that directory)."""
    import shutil

    for budget, agent in ((5, "random"), (6, "tpe")):
        assert main(["bench", "--agents", agent, "--tasks", "car", "--budget", str(budget), "--seeds", "1",
                     "--out", str(tmp_path / f"b{budget}"), "--no-report"]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "b5" / "runs"), "--no-plots"]) == 2
    assert (f"is the runs folder of a benchmark, not a benchmark directory; report the directory above it: "
            f"`hpo-gym report {tmp_path / 'b5'}`") in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--no-plots"]) == 2
    assert f"holds benchmark directories (b5, b6), not runs of its own; report one of them, e.g. " \
           f"`hpo-gym report {tmp_path / 'b5'}`" in capsys.readouterr().err
    mixed = tmp_path / "mixed" / "runs"
    mixed.mkdir(parents=True)
    shutil.copy(next((tmp_path / "b5" / "runs").glob("*.parquet")), mixed)
    assert main(["report", str(mixed.parent), "--no-plots"]) == 0  # one budget and no settings: reported, as before
    capsys.readouterr()
    shutil.copy(next((tmp_path / "b6" / "runs").glob("*.parquet")), mixed)
    assert main(["report", str(mixed.parent), "--no-plots"]) == 2
    assert "holds runs of budgets [5, 6] and no benchmark.json" in capsys.readouterr().err
    # a training run's directory (with a space in its path): the advice was to run a benchmark into it
    trained = tmp_path / "my run"
    trained.mkdir()
    (trained / "log.csv").write_text("update\n")
    assert main(["report", str(trained), "--no-plots"]) == 2
    assert (f"is a training run directory of `hpo-gym train-grpoformer` (log.csv), not a benchmark: its log.csv holds "
            f"the training curves; score its policy with `hpo-gym bench --agents grpoformer:'{trained / 'policy.pt'}' "
            "--out DIR` into another directory") in capsys.readouterr().err


def test_report_compare_splits_agent_names_that_hold_colons():
    from hpo_gym.cli.bench import _split_comparison

    agents = {"grpoformer:runs/x/policy.pt", "portfolio+tpe:10", "tpe"}
    assert _split_comparison("grpoformer:runs/x/policy.pt:tpe", agents) == ("grpoformer:runs/x/policy.pt", "tpe")
    assert _split_comparison("tpe:portfolio+tpe:10", agents) == ("tpe", "portfolio+tpe:10")


def test_bench_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["bench", "--agents", "nosuch", "--out", str(tmp_path / "x")]) == 2
    assert "unknown agent 'nosuch'" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "hpo-gym bench --out" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert main(["report", str(tmp_path / "afile")]) == 2
    assert "is a file, not a benchmark directory" in capsys.readouterr().err


def test_paths_that_cannot_be_written_are_one_line_with_exit_2(tmp_path, capsys):
    """An --out under a file, or a --plots path that is a file, ended in an OSError traceback with exit 1 (which
    `hpo-gym bench --help` documents as failed runs)."""
    (tmp_path / "afile").write_text("")
    assert main(["bench", "--agents", "random", "--tasks", "car", "--budget", "3", "--seeds", "1",
                 "--out", str(tmp_path / "afile" / "sub"), "--no-report"]) == 2
    assert "error: [Errno 20] Not a directory" in capsys.readouterr().err  # + "a part of the path is a file: ..."
    out = tmp_path / "bench"
    assert main(["bench", "--agents", "random", "--tasks", "car", "--budget", "3", "--seeds", "2", "--out", str(out),
                 "--no-report"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--plots", str(tmp_path / "afile")]) == 2
    assert capsys.readouterr().err.strip().endswith("a file is where a directory is needed: give another path")


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`hpo-gym report DIR | head -1` printed a BrokenPipeError traceback and exited 1."""
    import subprocess
    import sys

    out = tmp_path / "bench"
    assert main(["bench", "--agents", "random", "--tasks", "car", "--budget", "3", "--seeds", "2", "--out", str(out),
                 "--no-report"]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "hpo_gym", "report", str(out), "--no-plots"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the command has printed anything (its imports take a while)
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_ctrl_c_in_a_command_without_its_own_handler_is_one_line_with_exit_130(tmp_path, monkeypatch, capsys):
    """`hpo-gym demo` and `hpo-gym live` ended Ctrl-C in a traceback, without the resume hint bench gives."""
    import hpo_gym.cli.demo

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(hpo_gym.cli.demo, "run", interrupted)
    assert main(["demo", "--out", str(tmp_path / "d")]) == 130
    assert capsys.readouterr().err.strip() == (f"hpo-gym demo: interrupted; rerun the same command to resume (finished "
                                              f"runs in {tmp_path / 'd'} are kept)")


def test_demo_prints_regret_per_task_for_random_search(capsys):
    assert main(["demo", "--agents", "random", "--budget", "5", "--seeds", "1", "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "Normalized regret per task" in text
    for task in HPOBENCH_NN_TASKS:
        assert f"| {task}" in text
    assert "| random" in text and "8 runs in" in text


def test_a_rerun_into_the_same_out_says_its_runs_were_stored_before(tmp_path, capsys):
    """A rerun's progress bar jumped to 8/8 with nothing saying the runs were not run now (found by a new user)."""
    command = ["demo", "--agents", "random", "--budget", "3", "--seeds", "1", "--jobs", "1", "--out", str(tmp_path)]
    assert main(command) == 0
    assert "resumed" not in capsys.readouterr().err
    assert main(command) == 0
    assert "bench (resumed: 8 stored before)" in capsys.readouterr().err


def test_demo_says_when_runs_failed_and_exits_1_as_bench_does(capsys):
    """demo printed its tables over the finished runs only and exited 0, with no word of the failures."""
    agents = "random,tests.benchmark.test_runner:FailingAgent"
    assert main(["demo", "--agents", agents, "--budget", "4", "--seeds", "1", "--jobs", "1"]) == 1
    out, err = capsys.readouterr()
    assert "WARNING" in out and "tests.benchmark.test_runner:FailingAgent" in out.split("Normalized regret per task")[0]
    assert "8 run(s) failed (not kept: --out DIR keeps every run); first: tests.benchmark.test_runner:FailingAgent" in err
    assert "boom at step 3" in err
    assert "hpo_gym/benchmark/runner.py" not in err and "frame of hpo-gym, Gymnasium or other libraries left out here" in err  # the
    # harness's frame is cut from the terminal's traceback, the agent's own frames stay (found by a new user)
    assert 'test_runner.py", line' in err


def test_demo_refuses_an_agent_that_must_be_fitted_first_before_its_banner_and_names_bench(capsys):
    """demo plays every task with no folds; it used to print its banner, then suggest a --protocol it does not have."""
    assert main(["demo", "--agents", "random,portfolio", "--budget", "5", "--seeds", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "hpo-gym bench --agents portfolio --protocol kfold --out DIR" in err


@pytest.mark.parametrize("argv, message", [(["demo", "--jobs", "0"], "argument --jobs: 0 is not >= 1"),
                                           (["bench", "--seeds", "-1", "--agents", "random"], "argument --seeds: -1"),
                                           (["live", "31", "-n", "0"], "argument -n/--n-configs: 0 is not >= 1"),
                                           (["bench", "--budget", "ten", "--agents", "random"], "'ten' is not a whole number"),
                                           (["bench", "--agents", ""], "argument --agents: '' names nothing"),
                                           (["demo", "--agents", " , "], "argument --agents: ' , ' names nothing"),
                                           (["train-grpoformer", "--out", "x", "--updates", "0"], "--updates: 0 is not >= 1"),
                                           (["train-grpoformer", "--out", "x", "--seed", "-1"], "--seed: -1 is not >= 0"),
                                           (["report", "x", "--threshold", "nan"], "--threshold: 'nan' is not a finite number"),
                                           (["report", "x", "--threshold", "half"], "--threshold: 'half' is not a number"),
                                           # the last value silently applied to every --compare, the first pair's too
                                           (["report", "x", "--compare", "a:b", "--threshold", "0.5", "--compare", "a:c",
                                             "--threshold", "1"], "--threshold given twice (0.5, then 1.0): one value"),
                                           (["report", "x", "--at", "5", "--at", "9"], "--at given twice (5, then 9)"),
                                           (["report", "x", "--no-plots", "--plots", "p"],
                                            "argument --plots: not allowed with argument --no-plots"),
                                           # an unset shell variable (--out "$OUT") was the working directory
                                           (["bench", "--agents", "random", "--out", ""],
                                            "argument --out: an empty path names no directory"),
                                           (["demo", "--out", " "], "argument --out: an empty path names no directory"),
                                           (["report", ""], "argument out: an empty path names no directory"),
                                           (["report", "x", "--plots", ""], "argument --plots: an empty path names no"),
                                           (["train-grpoformer", "--out", ""], "argument --out: an empty path names no")])
def test_counts_below_one_are_refused_when_the_command_line_is_read(argv, message, capsys):
    """Before any banner, data loading or training: `demo --jobs 0` used to print its banner and run, `live -n 0` to
    fail after loading the data with 'attempt to get argmax of an empty sequence'."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_budget_beyond_the_largest_is_bad_input_not_a_task_that_failed_to_load(tmp_path, capsys):
    """A budget of 10^11 reached the env, failed as a 1.5 TiB MemoryError, and was reported as the task failing to
    load, exit 1, with advice to rerun the same command (found in review)."""
    from hpo_gym.episode import MAX_BUDGET

    # refused when the command line is read (demo printed its banner before the refusal), exit status 2
    for command in (["bench", "--agents", "random", "--tasks", "credit_g", "--seeds", "1", "--no-report"], ["demo"]):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--budget", str(MAX_BUDGET + 1), "--out", str(tmp_path / command[0])])
        out, err = capsys.readouterr()
        assert exited.value.code == 2 and out == "" and not (tmp_path / command[0]).exists()
        assert f"argument --budget: budget={MAX_BUDGET + 1:,}: at most {MAX_BUDGET:,} evaluations per episode" in err
    with pytest.raises(ValueError, match="at most 100,000 evaluations"):
        gym.make("HPO-OpenML-v0", budget=MAX_BUDGET + 1)


def test_live_names_a_fidelity_value_that_is_not_a_number():
    from hpo_gym.cli.live import _parse_fidelity

    with pytest.raises(ValueError, match="--fidelity n_estimators='abc': the value must be a number"):
        _parse_fidelity("n_estimators=abc")
    # the last value won without a word (found in review)
    with pytest.raises(ValueError, match=r"--fidelity names n_estimators twice \(4, then 8\): give each fidelity once"):
        _parse_fidelity("n_estimators=4,n_estimators=8")
    assert _parse_fidelity("n_estimators=4, subsample=0.5") == {"n_estimators": 4, "subsample": 0.5}


def test_a_warning_on_the_command_line_is_one_line_without_the_raising_source(tmp_path, capsys):
    """The shipped GRPOformer checkpoint was trained on every embedded task, so a plain bench warns in-sample."""
    assert main(["bench", "--agents", "grpoformer", "--tasks", "credit_g", "--budget", "3", "--seeds", "1",
                 "--out", str(tmp_path), "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "hpo-gym: UserWarning: in-sample results: grpoformer on credit_g" in err
    assert "warnings.warn" not in err and "run_benchmark(" not in err


def test_your_own_agent_is_benchmarked_from_the_command_line_as_module_colon_factory(tmp_path, monkeypatch, capsys):
    """`--agents my_agents:MyAgent` imports a module from the working directory (as `python -m` would) and builds the
    agent per run, in worker processes too; a missing class or a non-agent is named."""
    (tmp_path / "my_agents.py").write_text(
        "import numpy as np\n\n"
        "class MyAgent:\n"
        "    def reset(self, space, seed=None, budget=None):\n"
        "        self.rng, self.d = np.random.default_rng(seed), len(space)\n"
        "    def act(self, observation):\n"
        "        return self.rng.random(self.d).astype(np.float32)\n\n"
        "def not_an_agent():\n"
        "    return 42\n\n"
        "def needs_an_argument(x):\n"
        "    return MyAgent()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    out = tmp_path / "bench"
    assert main(["bench", "--agents", "random,my_agents:MyAgent", "--tasks", "credit_g", "--budget", "6", "--seeds", "2",
                 "--jobs", "2", "--out", str(out), "--no-report"]) == 0
    assert main(["report", str(out), "--json", "--no-plots"]) == 0
    assert json.loads(capsys.readouterr().out)["agents"]["my_agents:MyAgent"]["runs"] == 2
    assert main(["bench", "--agents", "my_agents:Nope", "--out", str(tmp_path / "x")]) == 2
    assert "'my_agents' has no class or function 'Nope'" in capsys.readouterr().err
    assert main(["bench", "--agents", "my_agents:not_an_agent", "--out", str(tmp_path / "x")]) == 2
    assert "returned a int, which lacks the Agent methods" in capsys.readouterr().err
    assert main(["bench", "--agents", "my_agents:needs_an_argument", "--out", str(tmp_path / "x")]) == 2
    assert ("agent my_agents:needs_an_argument: calling needs_an_argument() failed (TypeError: needs_an_argument() "
            "missing 1 required positional argument: 'x'); it must build the agent with no arguments") in capsys.readouterr().err


def test_train_grpoformer_names_a_repeated_holdout_and_an_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["train-grpoformer", "--holdout", "credit_g,credit_g", "--out", str(tmp_path / "r")]) == 2
    assert "--holdout names ['credit_g'] more than once" in capsys.readouterr().err
    assert main(["train-grpoformer", "--holdout", "credit_g", "--out", str(tmp_path / "afile")]) == 2
    assert "is a file; give a run directory" in capsys.readouterr().err


def test_a_full_disk_names_the_fix_and_how_to_resume_with_exit_1(tmp_path, capsys, monkeypatch):
    """A full disk is no bad input (exit 2): it exits 1 with the fix and the command's resume hint. The write that runs
    out of space is simulated; everything before it is real."""
    import errno

    from hpo_gym.benchmark.store import ResultStore

    def disk_full(self, key, steps):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path_of(key)))

    monkeypatch.setattr(ResultStore, "write_run", disk_full)
    assert main(["bench", "--agents", "random", "--tasks", "car", "--budget", "3", "--seeds", "1",
                 "--out", str(tmp_path / "b"), "--no-report"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "free disk space, or give a directory on another disk; then rerun the " \
                                               "same command to resume" in err


def test_torch_running_out_of_disk_is_an_enospc_naming_the_file(tmp_path, monkeypatch):
    """torch reports a save that ran out of disk as '[enforce fail at inline_container.cc] unexpected pos'."""
    import errno
    import shutil
    from collections import namedtuple

    import torch

    from agents.grpoformer import policy

    def torch_out_of_disk(obj, f, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", torch_out_of_disk)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1024))
    with pytest.raises(OSError) as caught:
        policy.save_atomically({"x": 1}, tmp_path / "state.pt")
    assert caught.value.errno == errno.ENOSPC and "while saving state.pt" in str(caught.value)
    assert not list(tmp_path.iterdir())  # no torn file, no temporary
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**9, 10**11))  # space left: another cause
    with pytest.raises(RuntimeError, match=r"could not save .*state.pt: \[enforce fail"):
        policy.save_atomically({"x": 1}, tmp_path / "state.pt")


def test_the_bench_help_examples_name_real_agents(capsys):
    from agents.registry import labelled_specs, make_agent

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    examples = capsys.readouterr().out.split("examples:")[1].strip().splitlines()
    benches = [line.split() for line in examples if line.strip().startswith("hpo-gym bench")]
    assert len(benches) >= 3
    for words in benches:
        for spec in labelled_specs(words[words.index("--agents") + 1].split(",")).values():
            if not spec.startswith("my_agents:"):  # the user's own module, as the README's example
                make_agent(spec)


def test_a_benchmark_script_stopped_by_ctrl_c_says_how_to_resume_in_one_line(capsys):
    """The scripts under benchmarks/ end a Ctrl-C as hpo-gym commands do: exit 130 and one line with the resume hint
    (the harness has stored the run in flight by then), not a traceback; a refused input is one line too."""
    from hpo_gym.cli import EXIT_INTERRUPTED, run_script

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_script(interrupted, "rerun the same command to continue") == EXIT_INTERRUPTED == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(": interrupted; rerun the same command to continue\n")
    assert run_script(lambda: 3, "unused") == 3 and capsys.readouterr().err == ""
    # a refused input is one line and exit 2, as on the command line (it was a traceback); a bug still raises
    assert run_script(lambda: int("x"), "unused") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(": error: invalid literal for int() with base 10: 'x'\n")
    with pytest.raises(KeyError):
        run_script(lambda: {}["x"], "unused")


def test_version(capsys):
    from hpo_gym import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"hpo-gym {__version__}"


def test_a_bare_hpo_gym_lists_the_commands_instead_of_saying_one_is_required(capsys):
    """``hpo-gym`` alone used to answer "the following arguments are required: COMMAND", which names none of them."""
    from hpo_gym.cli import main

    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: hpo-gym") and all(command in out for command in ("tasks", "bench", "report", "demo"))


def test_bench_refuses_an_agent_or_task_named_twice(tmp_path, capsys):
    """Found in review: `--tasks car,car` and `--agents random,random` were silently dropped to one, where the scripts and
    train-grpoformer refuse a repeat."""
    for option, value in (("--agents", "random,tpe,random"), ("--tasks", "car,kc1,car")):
        flags = {"--agents": "random", "--tasks": "car", option: value}
        with pytest.raises(SystemExit) as exited:  # argparse's exit status 2, from the name_list type
            main(["bench", *[x for kv in flags.items() for x in kv], "--budget", "2", "--seeds", "1", "--out",
                  str(tmp_path / option.strip("-")), "--no-report"])
        assert exited.value.code == 2
        assert (f"argument {option}: '{value}' names {value.split(',')[0]} more than once; list each once"
                in capsys.readouterr().err)
        assert not (tmp_path / option.strip("-")).exists()
    # a task named once by name and once by its OpenML id ran once without a word; demo ran a repeated agent once
    assert main(["bench", "--agents", "random", "--tasks", "kc1,3917", "--budget", "2", "--seeds", "1", "--out",
                 str(tmp_path / "by_id"), "--no-report"]) == 2
    assert "task(s) selected more than once (kc1 by kc1 and 3917); list each task once" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--agents", "random,random", "--budget", "2", "--seeds", "1"])
    assert exited.value.code == 2
    refused = capsys.readouterr()
    assert refused.out == "" and "argument --agents: 'random,random' names random more than once" in refused.err
    from hpo_gym.benchmark import run_benchmark

    with pytest.raises(ValueError, match=r"agent\(s\) \['tpe'\] given more than once"):
        run_benchmark(["tpe", "random", "tpe"], ["car"], budget=2, seeds=1, progress=False)


def test_a_benchmark_script_with_an_unusable_out_is_one_line_with_exit_2(tmp_path, capsys):
    """Found in review: run_script let OSError through, so `grpoformer_vs_tpe.py --out FILE` ended in a traceback with
    exit 1 ("work failed, rerun"), where the hpo-gym commands give one line with the fix and exit 2."""
    import errno

    from hpo_gym.cli import run_script

    afile = tmp_path / "afile"
    afile.write_text("x")
    assert run_script(lambda: (afile / "bench").mkdir(parents=True) or 0, "rerun") == 2
    err = capsys.readouterr().err
    assert "error: [Errno 20] Not a directory" in err and "Traceback" not in err

    def full_disk():
        raise OSError(errno.ENOSPC, "No space left on device")

    assert run_script(full_disk, "rerun the same command to continue") == 1
    assert capsys.readouterr().err.strip().endswith("then rerun the same command to continue")


def test_a_benchmark_script_exits_1_for_a_task_that_could_not_load_as_hpo_gym_bench_does(capsys):
    """run_script returned 2 ("bad input") for it, where hpo-gym bench returns 1: the same command resumes later."""
    from hpo_gym.benchmark.runner import TaskNotLoaded
    from hpo_gym.cli import run_script

    def unreachable() -> int:
        raise TaskNotLoaded("task 'late' could not start a run (OSError: offline)")

    def refused() -> int:
        raise ValueError("--folds 1: needs at least 2")

    assert run_script(unreachable, "rerun") == 1 and "error: task 'late' could not start a run" in capsys.readouterr().err
    assert run_script(refused, "rerun") == 2

    def runs_failed() -> int:  # a script's require_finished_runs: runs failed, as hpo-gym bench's exit 1 says
        from hpo_gym.benchmark.metrics import require_finished_runs

        require_finished_runs(pd.DataFrame([{"agent": "a", "task": "kc1", "seed": 0, "status": "failed", "error": "boom"}]),
                              "OUT")
        return 0

    assert run_script(runs_failed, "rerun") == 1 and "1 runs failed (first: a on kc1 seed 0: boom)" in capsys.readouterr().err


def test_demo_and_the_benchmark_start_no_more_processes_than_runs(capsys, monkeypatch):
    """A fork-started pool starts every worker at once: ``--jobs 1000`` forked 1000 processes for 8 runs, and the
    banner said 1000. The pool is the real one, spied on for the workers it is asked for."""
    from hpo_gym.benchmark import runner

    asked = []

    class SpiedPool(runner.ProcessPoolExecutor):
        def __init__(self, max_workers=None, **kwargs):
            asked.append(max_workers)
            super().__init__(max_workers=max_workers, **kwargs)

    monkeypatch.setattr(runner, "ProcessPoolExecutor", SpiedPool)
    assert main(["demo", "--agents", "random", "--budget", "3", "--seeds", "1", "--jobs", "1000"]) == 0
    assert "1 seed, 8 processes" in capsys.readouterr().out and asked and max(asked) <= 8


def test_label_equals_spec_names_an_agent_in_the_results_and_bad_labels_are_refused(tmp_path, capsys):
    """Found by a new user: the command line could not name an agent, so ``my_agents:MyAgent`` headed every table,
    legend and ``--compare``. ``LABEL=SPEC`` names it; an ``=`` after the spec's colon belongs to the spec (a path)."""
    from agents.registry import labelled_specs

    assert labelled_specs(["mine=random", "tpe", "grpoformer:runs/a=b/policy.pt"]) == {
        "mine": "random", "tpe": "tpe", "grpoformer:runs/a=b/policy.pt": "grpoformer:runs/a=b/policy.pt"}
    for items, message in ((["=random"], "write LABEL=SPEC with both parts"), (["mine="], "write LABEL=SPEC"),
                           (["mine=random", "mine=tpe"], "label 'mine' is given twice"),
                           (["tpe=random"], "'tpe' in 'tpe=random' is the name of a built-in agent.*my_tpe=random")):
        with pytest.raises(ValueError, match=message):
            labelled_specs(items)
    out = tmp_path / "labelled"
    assert main(["bench", "--agents", "mine=random,tpe", "--tasks", "car", "--budget", "4", "--seeds", "2",
                 "--out", str(out), "--no-report"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--json", "--no-plots", "--compare", "mine:tpe"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["agents"]) == {"mine", "tpe"} and "mine:tpe" in json.dumps(report)
    assert main(["bench", "--agents", "tpe=random", "--out", str(tmp_path / "x")]) == 2
    assert "is the name of a built-in agent" in capsys.readouterr().err
