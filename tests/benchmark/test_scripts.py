"""The benchmark scripts under ``benchmarks/`` refuse what they would otherwise get silently wrong (found in review):
stale runs of other settings in a reused --out, failed runs in a ratio, options a mode ignores, an agent scored on its
own training tasks as held-out."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from agents.grpoformer.train import TrainConfig, check_finished_run
from hpo_gym.benchmark.metrics import require_finished_runs
from tests.benchmark_scripts import load_script
from tests.grpoformer.conftest import tiny_training_run


def test_a_finished_run_of_other_settings_is_refused_not_reused(tmp_path):
    """A rerun with --updates 2 into a folder of 1-update runs scored (and with --ship would have shipped) the old ones
    under the new recipe's name."""
    _, extra = tiny_training_run(tmp_path / "run")
    path = tmp_path / "run" / "policy.pt"
    trained = TrainConfig(**{k: v for k, v in extra["train_config"].items() if k not in ("policy", "learner")})
    trained = dataclasses.replace(trained, policy=type(trained.policy)(**extra["train_config"]["policy"]),
                                  learner=type(trained.learner)(**extra["train_config"]["learner"]))
    tasks = extra["train_tasks"]
    check_finished_run(path, extra, trained, tasks)  # the run asked for: used as it is
    check_finished_run(path, extra, dataclasses.replace(trained, threads=2, eval_every=7), tasks)  # how, not what
    with pytest.raises(ValueError, match=r"policy.pt was trained with other settings \(updates: 1 -> 2\); give another "
                                         r"--out, or remove .* to train it anew"):
        check_finished_run(path, extra, dataclasses.replace(trained, updates=2), tasks)
    with pytest.raises(ValueError, match=r"other settings \(learner.lr: "):
        check_finished_run(path, extra, dataclasses.replace(trained, learner=dataclasses.replace(trained.learner, lr=0.5)),
                           tasks)
    with pytest.raises(ValueError, match=r"was trained on \[.*\], not on \['kc1'\]"):
        check_finished_run(path, extra, trained, ["kc1"])
    # raised in a map_jobs worker (the inner selection resuming with --jobs 2), the refusal must pickle: it could not,
    # and the parent saw a broken process pool, reported as a worker killed by the out-of-memory killer
    import pickle

    with pytest.raises(ValueError) as refused:
        check_finished_run(path, extra, dataclasses.replace(trained, updates=2), tasks)
    assert str(pickle.loads(pickle.dumps(refused.value))) == str(refused.value)


def test_a_failed_run_stops_a_script_that_compares_agents_run_for_run():
    rows = [{"agent": a, "task": "kc1", "seed": s, "status": "ok", "error": ""} for a in ("random", "tpe") for s in (0, 1)]
    require_finished_runs(pd.DataFrame(rows), "OUT")
    rows[3] = {**rows[3], "status": "failed", "error": "Traceback (most recent call last):\n  ...\nRuntimeError: boom"}
    with pytest.raises(RuntimeError, match=r"^1 runs failed \(first: tpe on kc1 seed 1: RuntimeError: boom\); their "
                                           r"tracebacks are stored in OUT; fix the cause and rerun the same command"):
        require_finished_runs(pd.DataFrame(rows), "OUT")


def test_the_inference_selection_reads_only_budgets_the_runs_reach():
    """--budget 5 made every selection score NaN (regret@10 and @25 of 5-step runs) and the held-out table a KeyError."""
    module = load_script("grpoformer_inference_settings")
    steps = pd.DataFrame([{"agent": "a", "task": "kc1", "seed": 0, "step": s, "status": "ok", "heldout": False,
                           "normalized_regret": 1.0 / s, "best_score": 0.0} for s in range(1, 6)])
    at = module.regret_at(steps, 5)
    assert list(at) == [5] and at[5].tolist() == [0.2]
    assert list(module.regret_at(steps, 50)) == [10, 25, 50]


@pytest.mark.parametrize("argv, message", [
    (["--suggest-time-only", "--ablations", "--updates", "7"], "--updates, --ablations have no effect with "
                                                               "--suggest-time-only: leave them out"),
    (["--skip-protocol", "--ablations", "--seeds", "3"], "--seeds has no effect with --skip-protocol: leave it out"),
    (["--suggest-time-only", "--checkpoint", "runs/x/fold{k}/policy.pt"], "give one file, not a per-fold {k} pattern"),
    # `--checkpoint "$CKPT"` with CKPT unset timed the shipped policy without a word
    (["--suggest-time-only", "--checkpoint", ""], "an empty path names no file"),
    (["--suggest-time-only", "--checkpoint", "runs/no/such/policy.pt"], "--checkpoint runs/no/such/policy.pt: no such file"),
    # the protocol ran and trained the folds with these ignored
    (["--ablation-seeds", "2", "--updates", "1"], "--ablation-seeds set the ablations: add --ablations"),
    (["--ablation-variants", "no-pcr"], "--ablation-variants set the ablations: add --ablations"),
    (["--skip-protocol", "--ablations", "--ablation-variants", "no-pcr,no-pcr"],
     "argument --ablation-variants: 'no-pcr,no-pcr' names no-pcr more than once"),
    (["--skip-protocol", "--ablations", "--ablation-variants", "sac"],
     "--ablation-variants names sac, not a variant; choose among grpo+pcr, no-pcr, reinforce, ppo-critic"),
])
def test_the_protocol_script_refuses_options_its_mode_would_ignore(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script("grpoformer_vs_tpe").main([*argv, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_an_ablation_subset_writes_files_of_its_own():
    """Scoring two variants with more seeds wrote over the full four-variant table and churn plot."""
    module = load_script("grpoformer_vs_tpe")
    assert module.ablation_suffix(module.ABLATION_VARIANTS) == ""
    assert module.ablation_suffix(["ppo-critic", "reinforce", "no-pcr", "grpo+pcr"]) == ""
    assert module.ablation_suffix(["grpo+pcr", "no-pcr"]) == "_grpo-pcr_no-pcr"
    assert module.ablation_suffix(["no-pcr", "grpo+pcr"]) == "_grpo-pcr_no-pcr"  # not a second copy under another name


def test_the_inner_selection_refuses_a_recipe_named_twice(capsys):
    """Two jobs trained into one folder, and the second stopped on the first's lock, as if another run held it."""
    with pytest.raises(SystemExit) as exit_info:
        load_script("grpoformer_inner_selection").main(["--recipes", "factorized,factorized"])
    assert exit_info.value.code == 2 and "argument --recipes: 'factorized,factorized' names factorized more than once" in capsys.readouterr().err


def test_transfer_baselines_refuses_an_agent_trained_on_a_task_it_would_score_as_held_out(tmp_path, monkeypatch):
    (tmp_path / "memo_agents.py").write_text(
        "import numpy as np\n"
        "class Memo:\n"
        "    trained_on = ('credit_g', 'vehicle', 'kc1', 'phoneme', 'blood_transfusion', 'australian', 'car', 'segment')\n"
        "    def reset(self, space, seed=None, budget=None):\n"
        "        self.rng, self.d = np.random.default_rng(seed), len(space)\n"
        "    def act(self, observation):\n"
        "        return self.rng.random(self.d).astype(np.float32)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = load_script("transfer_baselines")
    with pytest.raises(ValueError, match=r"agent memo_agents:Memo declares it was trained on \['credit_g'\], which fold 0 "
                                         r"holds out: this script scores held-out tasks only"):
        module.main(["--agents", "memo_agents:Memo", "--seeds", "1", "--budget", "2"])
    assert module.main(["--agents", "random", "--seeds", "1", "--budget", "2"]) == 0  # a plain agent still runs


def test_the_per_task_rank_rule_gives_tied_cells_one_rank_whatever_their_order():
    """Its ranks came from numpy's unstable argsort, whose order of tied cells differs between CPUs: the rule's row
    in the README did not repeat on another machine. Tied cells now share their average rank."""
    import numpy as np

    rank = load_script("transfer_baselines")._rank_normalized
    scores = np.array([[0.5, 0.9, 0.5, 0.1, 0.5]])
    assert rank(scores).tolist() == [[0.5, 1.0, 0.5, 0.0, 0.5]]
    order = np.array([2, 4, 0, 3, 1])
    assert rank(scores[:, order]).tolist() == rank(scores)[:, order].tolist()


@pytest.mark.parametrize("argv, message", [
    (["--compare-rules", "--folds", "4"], "--folds has no effect with --compare-rules: leave it out"),
    (["--plot-store", "DIR", "--seeds", "3"], "--seeds has no effect with --plot-store: leave it out"),
])
def test_transfer_baselines_refuses_options_its_mode_would_ignore(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script("transfer_baselines").main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("script, argv, message", [
    # an empty list ran the default set (or cpu / serial only) with exit status 0: a mistyped variable changed what
    # was measured without a word
    ("transfer_baselines", ["--agents", ""], "argument --agents: '' names nothing"),
    ("grpoformer_train_devices", ["--devices", ","], "argument --devices: ',' names nothing"),
    ("live_parallel", ["--executors", ","], "argument --executors: ',' names nothing"),
    # a repeated executor was timed again, a second row (every name_list option refuses a repeat)
    ("live_parallel", ["--executors", "process,process"], "argument --executors: 'process,process' names process more"),
    # an empty --out wrote into the working directory
    ("grpoformer_online", ["--out", ""], "argument --out: an empty path names no directory"),
    ("grpoformer_vs_tpe", ["--out", " "], "argument --out: an empty path names no directory"),
    # an empty --plot-store ran the whole leave-one-task-out benchmark instead of drawing; an empty --plot or
    # --floor-plot fell back to the default path, and an empty --plot-per-task drew nothing
    ("transfer_baselines", ["--plot-store", ""], "argument --plot-store: an empty path names no directory"),
    ("transfer_baselines", ["--plot-store", "D", "--plot", ""], "argument --plot: an empty path names no file"),
    ("transfer_baselines", ["--plot-store", "D", "--plot-per-task", " "], "argument --plot-per-task: an empty path"),
    ("grpoformer_vs_tpe", ["--floor-plot", ""], "argument --floor-plot: an empty path names no file"),
    ("bootstrap_coverage", ["--bench", ""], "argument --bench: an empty path names no directory"),
    # the same agent twice failed with pandas' "truth value of a Series is ambiguous"
    ("bootstrap_coverage", ["--agent", "tpe", "--reference", "tpe"], None),
])
def test_the_scripts_refuse_empty_lists_and_paths_with_the_fix(script, argv, message, capsys, tmp_path, monkeypatch):
    if script == "bootstrap_coverage" and message is None:  # a real benchmark directory: the refusal is the agents' one
        from hpo_gym.benchmark import run_benchmark
        from agents.registry import make_agent

        run_benchmark(["random", "tpe"], ["car"], budget=3, seeds=2, out=tmp_path / "b", resolve_agent=make_agent,
                      progress=False)
        argv = ["--bench", str(tmp_path / "b"), *argv]
        message = "--agent and --reference are both 'tpe': a ratio of an agent to itself is 1 by definition"
    with pytest.raises(SystemExit) as exit_info:
        load_script(script).main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_directory_argument_expands_a_tilde(monkeypatch, tmp_path):
    """`--out=~/x` reaches the program unexpanded: a literal ./~ took the manifest while pandas put the shards in ~."""
    from hpo_gym.cli import directory

    from hpo_gym.cli import file_path

    monkeypatch.setenv("HOME", str(tmp_path))
    assert directory("~/bench") == tmp_path / "bench"
    assert file_path("~/plots/floor.png") == tmp_path / "plots" / "floor.png"  # --floor-plot=~/x.png wrote ./~/x.png


def test_the_start_stage_keeps_the_default_under_its_grid_name_and_plays_each_start():
    """The agent's default ``select_after`` keeps the grid's name, so the stage reuses its stored inner runs instead of
    running them again under a second name; the other starts are new agents whose fingerprint names them."""
    from agents.grpoformer.agent import SELECT_AFTER, GRPOformerAgent

    script = load_script("grpoformer_candidate_selection")
    grid = script.ratio_settings((32,), (0.05,), (0.1,))
    starts = script.start_settings("ratio[G=32,bw=0.05,gamma=0.1]", grid, (5, SELECT_AFTER, 20))
    assert list(starts) == ["ratio[G=32,bw=0.05,gamma=0.1,after=5]", "ratio[G=32,bw=0.05,gamma=0.1]",
                            "ratio[G=32,bw=0.05,gamma=0.1,after=20]"]
    assert [kw["select_after"] for kw in starts.values()] == [5, SELECT_AFTER, 20]
    fingerprints = {name: GRPOformerAgent(**kw).fingerprint for name, kw in starts.items()}
    assert "after=5)" in fingerprints["ratio[G=32,bw=0.05,gamma=0.1,after=5]"]
    assert len(set(fingerprints.values())) == 3


def test_the_pool_stage_varies_the_best_ratio_setting_and_keeps_g32_unless_clearly_beaten():
    """Found in review: a stage won by the policy alone (possible at a tiny --budget) gave the next stage names such as
    'grpoformer-polic,after=5]' and then a KeyError; the next stage now varies the best density-ratio setting. The
    pool stage's rule (fixed before its run): a larger pool replaces G=32 only when lower by more than two standard
    errors."""
    script = load_script("grpoformer_candidate_selection")
    default = "ratio[G=32,bw=0.05,gamma=0.1]"
    table = pd.DataFrame({"score": [0.0070, 0.0071, 0.0080]},
                         index=[script.POLICY_ALONE, default, "ratio[G=16,bw=0.05,gamma=0.1]"])
    assert script.best_ratio(table) == default
    pools = script.pool_settings(default, {"select": "density-ratio", "group_size": 32}, (64, 128))
    assert list(pools) == [default, "ratio[G=64,bw=0.05,gamma=0.1]", "ratio[G=128,bw=0.05,gamma=0.1]"]
    assert [kw["group_size"] for kw in pools.values()] == [32, 64, 128]
    stage = pd.DataFrame({"score diff vs reference": [-0.0009, 0.0, 0.0013], "paired s.e.": [0.0004, 0.0, 0.001]},
                         index=["ratio[G=128,bw=0.05,gamma=0.1]", default, "ratio[G=64,bw=0.05,gamma=0.1]"])
    assert script.larger_pool_if_clear(stage, default) == "ratio[G=128,bw=0.05,gamma=0.1]"  # -0.0009 < -2 x 0.0004
    stage.loc["ratio[G=128,bw=0.05,gamma=0.1]", "paired s.e."] = 0.0005
    assert script.larger_pool_if_clear(stage, default) == default  # within two standard errors: noise


def test_paper_mode_script_names_a_task_one_way_and_reruns_a_run_cached_under_another_recipe(tmp_path, capsys):
    """``--tasks 31`` filed GRPOformer's rows under '31' and the baselines' under 'credit_g', and still printed a ratio
    of means over no common task; a cached online run was reused whatever recipe had trained it."""
    import json

    script = load_script("grpoformer_online")
    out = tmp_path / "online"
    assert script.main(["--tasks", "31", "--seeds", "1", "--budget", "16", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| credit_g " in printed and "| 31 " not in printed and "below TPE on" in printed and "/1 tasks" in printed
    cached = out / "online" / "credit_g-seed0-budget16.json"
    row = json.loads(cached.read_text())
    assert row["recipe"] == script.online_recipe() and row["task"] == "credit_g"
    row["recipe"]["learner"]["lr"] = 0.5  # as if an older recipe had trained it
    row["regret@16"] = -1.0
    cached.write_text(json.dumps(row))
    rerun = script.online_run(("credit_g", 0, 16, str(out)))
    assert rerun["regret@16"] >= 0 and json.loads(cached.read_text())["recipe"] == script.online_recipe()
    with pytest.raises(SystemExit):
        script.main(["--tasks", "credit_g,31", "--out", str(out)])
    assert "--tasks names credit_g more than once (by name and by id)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--tasks", "credit_g,kc1,credit_g", "--out", str(out)])
    assert "argument --tasks: 'credit_g,kc1,credit_g' names credit_g more than once" in capsys.readouterr().err


def test_the_insample_script_passes_a_training_commands_interrupt_and_status_through(tmp_path, monkeypatch, capsys):
    """Found in review: train-grpoformer catches Ctrl-C itself (exit 130), and the script turned every non-zero status
    into "training failed" with exit 2 ("bad input"), under the inner command's --resume hint. An interrupt is now the
    script's own (130, its resume line), and another status is passed on."""
    from hpo_gym.cli import EXIT_INTERRUPTED, run_script

    script = load_script("grpoformer_insample")
    for status in (EXIT_INTERRUPTED, 1, 2):
        monkeypatch.setattr(script, "cli_main", lambda argv, status=status: status)  # the command's exit status
        if status == EXIT_INTERRUPTED:
            assert run_script(lambda: script.main(["--out", str(tmp_path)]), "rerun the same command") == 130
            assert "interrupted; rerun the same command" in capsys.readouterr().err
        else:
            with pytest.raises(SystemExit) as exit_:
                run_script(lambda: script.main(["--out", str(tmp_path)]), "unused")
            assert exit_.value.code == status


def test_transfer_baselines_plots_agents_over_their_shared_tasks_and_titles_the_count(tmp_path, monkeypatch, capsys):
    """Found in review: --plot-store averaged each agent over its own tasks under a fixed "mean over 8 tasks" title, so
    TPE run on car alone sat 50x below Random run on all 8, without a word."""
    import matplotlib.pyplot as plt

    from hpo_gym.cli import main

    out = tmp_path / "cov"
    assert main(["bench", "--agents", "random", "--tasks", "car,kc1", "--budget", "4", "--seeds", "2", "--out", str(out),
                 "--no-report"]) == 0
    assert main(["bench", "--agents", "tpe", "--tasks", "car", "--budget", "4", "--seeds", "2", "--out", str(out),
                 "--no-report"]) == 0
    capsys.readouterr()
    titles = []
    monkeypatch.setattr(plt.Axes, "set_title", lambda ax, text, **kw: titles.append(text))
    load_script("transfer_baselines").plot_mean_regret(str(out), str(tmp_path / "mean.png"))
    assert titles == ["hpobench-nn: mean over 1 task of the best-so-far normalized regret"]
    assert "WARNING: the agents finished runs on different (task, seed) sets" in capsys.readouterr().err
    assert (tmp_path / "mean.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_coverage_script_finds_full_coverage_where_the_ratio_is_exact_and_less_where_it_varies():
    """benchmarks/bootstrap_coverage.py: every run at exactly half the reference's regret makes every interval [0.5,
    0.5], which holds the population's ratio every time; ratios that vary by run give intervals that sometimes miss."""
    import numpy as np

    from tests.benchmark.test_metrics import paired_frame

    script = load_script("bootstrap_coverage")
    rng = np.random.default_rng(0)
    ref = {(t, s): float(rng.uniform(0.01, 0.1)) for t in "ABC" for s in range(6)}
    exact = script.coverage(paired_frame({"ref": ref, "x": {k: v / 2 for k, v in ref.items()}}), "x", "ref", [2, 4],
                            n_sim=30, n_boot=200)
    assert exact["coverage of the 95 % interval"].tolist() == [1.0, 1.0]
    noisy = {k: v * rng.uniform(0.1, 1.5) for k, v in ref.items()}
    varied = script.coverage(paired_frame({"ref": ref, "x": noisy}), "x", "ref", [2], n_sim=60, n_boot=200)
    assert 0.0 < varied.loc[2, "coverage of the 95 % interval"] < 1.0
    # a misspelled agent was a KeyError traceback, agents without a shared run pandas' 'No objects to concatenate'
    # (found in review)
    frame = paired_frame({"ref": ref, "x": noisy})
    with pytest.raises(ValueError, match=r"--agent/--reference grpoformr: not in this benchmark; its agents are "
                                         r"\['ref', 'x'\]"):
        script.coverage(frame, "grpoformr", "ref", [2], n_sim=2, n_boot=10)
    apart = pd.concat([paired_frame({"ref": {("A", 0): 0.1}}), paired_frame({"x": {("B", 0): 0.1}})])
    with pytest.raises(ValueError, match="x and ref share no run with a normalized regret"):
        script.coverage(apart, "x", "ref", [2], n_sim=2, n_boot=10)
    with pytest.raises(ValueError, match="ref's mean regret@.* is 0: the ratio x / ref is undefined"):
        script.coverage(paired_frame({"ref": {k: 0.0 for k in ref}, "x": noisy}), "x", "ref", [2], n_sim=2, n_boot=10)


def test_the_warm_start_script_plays_the_selection_rule_it_is_given(capsys):
    """``--select density-ratio`` scores the design in front of the default agent's choice among its candidates; without
    it the script keeps measuring the policy alone, as its documented tables did. The rule must reach the agents the
    inner and held-out stages build (their fingerprint names it, so a reused --out cannot mix the two)."""
    from agents.grpoformer.agent import SHIPPED_CHECKPOINT

    script = load_script("grpoformer_warm_start")
    alone = script.warm_start_agent(str(SHIPPED_CHECKPOINT), 5)()
    ratio = script.warm_start_agent(str(SHIPPED_CHECKPOINT), 5, "density-ratio")()
    assert (alone.select, alone.group_size, alone.warm_start) == ("first-new", 8, 5)
    assert (ratio.select, ratio.group_size, ratio.warm_start) == ("density-ratio", 32, 5)
    assert "density-ratio" in ratio.fingerprint and "density-ratio" not in alone.fingerprint
    with pytest.raises(SystemExit) as exited:
        script.main(["s0=shipped", "--select", "ratio"])
    assert exited.value.code == 2 and "argument --select: invalid choice: 'ratio'" in capsys.readouterr().err


def test_the_unseen_task_check_steps_around_the_chosen_setting():
    """Stage 5 plays the chosen setting against one step either way in temperature and one step up in bandwidth and
    gamma; a step the chosen setting already has is left out rather than run twice under two names."""
    script = load_script("grpoformer_candidate_selection")
    chosen = "ratio[G=32,bw=0.05,gamma=0.1]"
    setting = {"select": "density-ratio", "group_size": 32, "select_bandwidth": 0.05, "select_gamma": 0.1}
    check = script.neighbour_settings(chosen, setting)
    assert list(check) == [chosen, "ratio[G=32,bw=0.05,gamma=0.1,T=0.7]", "ratio[G=32,bw=0.05,gamma=0.1,T=1.5]",
                           "ratio[G=32,bw=0.05,gamma=0.1,bw->0.1]", "ratio[G=32,bw=0.05,gamma=0.1,gamma->0.15]"]
    assert check["ratio[G=32,bw=0.05,gamma=0.1,T=1.5]"] == {**setting, "temperature": 1.5}
    assert check["ratio[G=32,bw=0.05,gamma=0.1,gamma->0.15]"] == {**setting, "select_gamma": 0.15}
    other = script.neighbour_settings("ratio[G=32,bw=0.1,gamma=0.15]", {**setting, "select_bandwidth": 0.1,
                                                                        "select_gamma": 0.15})
    assert [kw["select_bandwidth"] for kw in other.values()] == [0.1, 0.1, 0.1, 0.05, 0.1]  # the grid's other value:
    assert [kw["select_gamma"] for kw in other.values()] == [0.15, 0.15, 0.15, 0.15, 0.1]  # no row left out
    with pytest.raises(SystemExit, match=r"needs \{f\} \(outer fold\) and \{k\} \(inner fold\)"):
        script.main(["--inner-runs", "runs/inner/fold{f}/policy.pt"])


def test_the_unseen_task_check_refuses_a_policy_trained_on_other_tasks(tmp_path):
    """The check's point is that no played policy trained on its task: an inner policy file trained on another split
    (a pattern with {f} and {k} swapped, or a run of the outer fold) is refused by name before any run, even when the
    first file is the right one (every file is checked before fold 0 plays), and a missing one says how to train it."""
    import shutil

    from hpo_gym.cli import main
    from hpo_gym.suites import HPOBENCH_NN_TASKS

    script = load_script("grpoformer_inference_settings")
    tiny_training_run(tmp_path / "run")  # trained on the 7 tasks other than credit_g: no inner split's 4
    first_train = script.inner_splits(0, 3)[0][0]
    right = tmp_path / "right"
    assert main(["train-grpoformer", "--holdout", ",".join(t for t in HPOBENCH_NN_TASKS if t not in first_train),
                 "--out", str(right), "--synthetic", "0", "--updates", "1", "--budget", "4"]) == 0
    for f in range(4):
        for k in range(3):
            (tmp_path / f"fold{f}").mkdir(exist_ok=True)
            shutil.copy((right if (f, k) == (0, 0) else tmp_path / "run") / "policy.pt", tmp_path / f"fold{f}/inner{k}.pt")
    settings = {"ratio": {}}
    with pytest.raises(ValueError, match=r"inner1.pt was trained on \[.*\], not on outer fold 0's inner split 1 .* the "
                                         r"right way round"):
        script.unseen_inner_check(settings, str(tmp_path / "fold{f}" / "inner{k}.pt"), 50, [100], tmp_path / "out",
                                  "ratio", (50,))
    assert not (tmp_path / "out").exists()  # fold 0's right file did not play first
    with pytest.raises(FileNotFoundError, match=r"missing/fold0/inner0.pt is missing: train the inner policies with "
                                                r".*--inner-cv 3"):
        script.unseen_inner_check(settings, str(tmp_path / "missing" / "fold{f}" / "inner{k}.pt"), 50, [100],
                                  tmp_path / "out", "ratio", (50,))


def test_the_recipe_comparison_names_its_recipes_once_with_both_folds_in_each_pattern(tmp_path, capsys):
    """``NAME=PATTERN``: a missing '=', a pattern without {f} or {k}, or a name given twice is refused before any run,
    saying what to give; a pattern whose files are missing names the command that trains them."""
    script = load_script("grpoformer_recipe_unseen")
    good = "runs/x/fold{f}/r/inner{k}of3/policy.pt"
    assert script.named_patterns([f"a={good}", f"b={good}"]) == {"a": good, "b": good}
    with_equals = "runs/inner_cr/fold{f}/continue_rule=density-ratio/inner{k}of3/policy.pt"  # the docstring's example
    assert script.named_patterns([f"continue-ratio={with_equals}"]) == {"continue-ratio": with_equals}
    for specs, message in (([good], "give each recipe as NAME=PATTERN"), (["a=runs/fold{f}/policy.pt"], r"\{k\} \(inner fold\)"),
                           ([f"a={good}", f"a={good}"], r"\['a'\] given more than once"),
                           ([f"../up={good}"], "names a folder under --out"), ([f"..={good}"], "names a folder")):
        with pytest.raises(ValueError, match=message):
            script.named_patterns(specs)
    with pytest.raises(SystemExit):
        script.main([good])
    assert "give each recipe as NAME=PATTERN" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="grpoformer_inner_selection.py --inner-cv 3"):
        script.main([f"a={tmp_path}/fold{{f}}/inner{{k}}.pt", "--out", str(tmp_path / "out")])


def test_the_fold_set_scorer_refuses_a_set_without_a_name_or_named_twice_before_any_run(tmp_path, capsys):
    """``grpoformer_fold_checkpoints.py NAME=PATTERN ...``: a repeated name silently dropped the first set; a missing
    '=' or a pattern without {k} is refused, saying what to give, and nothing is run."""
    script = load_script("grpoformer_fold_checkpoints")
    out = tmp_path / "out"
    for args, message in ((["runs/x/fold{k}/policy.pt"], "give each set as NAME=PATTERN, e.g. s0="),
                          (["s0=shipped", "s0=shipped"], "set name(s) ['s0'] given more than once"),
                          (["s0=runs/x/policy.pt"], "give a pattern with {k} for the fold index")):
        with pytest.raises(SystemExit):
            script.main([*args, "--out", str(out)])
        assert message in capsys.readouterr().err
    assert not out.exists()


def test_named_values_keeps_order_and_an_equals_sign_inside_the_value_and_refuses_empty_parts():
    from hpo_gym.cli import named_values

    parsed = named_values(["b=x/seed=10/p.pt", "a=y"], "set", "s0=PATH", "PATTERN")
    assert list(parsed.items()) == [("b", "x/seed=10/p.pt"), ("a", "y")]
    for texts in (["a="], ["=x"], ["a"]):
        with pytest.raises(ValueError, match=r"give each set as NAME=PATTERN, e.g. s0=PATH"):
            named_values(texts, "set", "s0=PATH", "PATTERN")


def test_the_pooled_ensemble_stage_scores_each_split_against_its_own_members(tmp_path, capsys):
    """``grpoformer_pooled_ensemble.py``'s inner stage on three seeds' (untrained, saved) inner policies: every split's
    gain is the pooled ensemble's unseen regret minus the mean of the same policies alone on the same tasks and seeds,
    the largest size decides and the smallest passing size ships, the verdict file is strict JSON with every split, and
    a bad size or group is refused before any run."""
    import json

    import torch

    from agents.grpoformer.policy import GRPOformerPolicy, save_policy

    script = load_script("grpoformer_pooled_ensemble")
    patterns = {}
    for name, seed in (("a", 0), ("b", 1), ("c", 2)):
        for f in range(4):
            for k, (inner_train, _) in enumerate(script.inner_splits(f, 3)):
                torch.manual_seed(seed * 100 + f * 10 + k)
                (tmp_path / name / f"fold{f}").mkdir(parents=True, exist_ok=True)
                save_policy(GRPOformerPolicy().eval(), tmp_path / name / f"fold{f}" / f"inner{k}.pt",
                            {"train_tasks": inner_train})
        patterns[name] = str(tmp_path / name / "fold{f}" / "inner{k}.pt")
    table, result = script.inner_stage(patterns, [2, 3], 11, [100], tmp_path / "out", 1)
    alone = [script.inner_policy_runs({script.AGENT: {}}, p, 11, [100], tmp_path / "out" / "members" / n,
                                      played="unseen").groupby(["fold", "inner"])["regret@11"].mean()
             for n, p in patterns.items()]
    for m in (2, 3):
        split = table.xs(m, level="members")
        assert len(split) == 12
        assert split["members' mean"].to_numpy() == pytest.approx((sum(alone[:m]) / m).loc[split.index].to_numpy())
        assert split["gain"].to_numpy() == pytest.approx((split["pooled"] - split["members' mean"]).to_numpy())
        assert (split["pooled"] != split["members' mean"]).any()  # the pool plays its own proposals
        mean, se = split["gain"].mean(), split["gain"].std(ddof=1) / 12 ** 0.5
        assert result["passes"][m] == (mean < -2 * se)
        assert result["gains"][m]["mean gain"] == pytest.approx(mean)
    assert result["adopted"] == result["passes"][3]  # the largest size decides
    assert result["ship_members"] == (min(m for m in (2, 3) if result["passes"][m]) if result["adopted"] else None)

    argv = ["--inner", *(f"{n}={p}" for n, p in patterns.items()), "--out", str(tmp_path / "cli")]
    for extra, message in ((["--sizes", "4"], "between 2 and the 3 --inner seeds"),
                           (["--outer", "s0=shipped", "--groups", "g=s0,s9"], "unknown: s9"),
                           (["--outer", "s0=shipped", "--groups", "g=s0,s0"], "a set is named twice")):
        with pytest.raises(SystemExit):
            script.main(argv + ["--sizes", "2,3", "--seeds", "1", "--budget", "11"] + extra)
        assert message in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()
    assert script.main(argv + ["--sizes", "2,3", "--seeds", "1", "--budget", "11"]) == 0
    verdict = json.loads((tmp_path / "cli" / "verdict.json").read_text())  # json refuses bare NaN: strict JSON
    assert verdict["adopted"] == verdict["passes"]["3"] and verdict["sizes"] == [2, 3]
    assert len(verdict["splits"]) == 24 and {"pooled", "members' mean", "gain"} <= set(verdict["splits"][0])


def test_a_pooled_agent_is_refused_before_a_kfold_run_when_a_member_trained_on_another_fold(tmp_path):
    """The pooled agent checks every fold's members before the benchmark runs (``check_plan``), and its fingerprint
    changes with any member file, so stored runs of other members are not handed out as its own."""
    import torch

    from agents.grpoformer.policy import GRPOformerPolicy, save_policy
    from hpo_gym.suites import HPOBENCH_NN_TASKS

    script = load_script("grpoformer_pooled_ensemble")
    tasks = list(HPOBENCH_NN_TASKS)
    held = {k: tasks[2 * k: 2 * k + 2] for k in range(4)}
    files = {}
    for k in range(4):
        for i in range(2):
            torch.manual_seed(10 * k + i)
            files[k, i] = str(tmp_path / f"m{i}_fold{k}.pt")
            save_policy(GRPOformerPolicy().eval(), files[k, i], {"train_tasks": [t for t in tasks if t not in held[k]]})
    right = {k: [files[k, 0], files[k, 1]] for k in range(4)}
    script.PooledAgent(fold_checkpoints=right).check_plan("kfold", held, tasks)
    swapped = {**right, 2: [files[2, 0], files[3, 1]]}
    with pytest.raises(ValueError, match="not on fold 2's training tasks"):
        script.PooledAgent(fold_checkpoints=swapped).check_plan("kfold", held, tasks)
    with pytest.raises(ValueError, match="no pooled members for fold 3"):
        script.PooledAgent(fold_checkpoints={k: right[k] for k in range(3)}).check_plan("kfold", held, tasks)
    prints = {script.PooledAgent(fold_checkpoints=c).fingerprint for c in (right, swapped, {**right, 0: right[0][::-1]})}
    assert len(prints) == 3 and script.PooledAgent(fold_checkpoints=right).fingerprint in prints
