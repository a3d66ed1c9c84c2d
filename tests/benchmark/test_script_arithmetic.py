"""The numbers the benchmark scripts print: which agent is the denominator of a ratio, which tasks a fold trains on, what
counts as beating Random, paired differences and their standard errors, the bootstrap's coverage count, and the
refusals of options a mode would ignore (killer tests of a mutation review of ``benchmarks/``)."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from tests.benchmark_scripts import load_script

AGENTS = ["random", "tpe", "grpoformer", "portfolio"]  # the issue's agents that matter here, and one transfer agent


@pytest.fixture(scope="module")
def kfold_run():
    """A small real k-fold harness run: Random, TPE, GRPOformer (its shipped fold checkpoints) and the portfolio."""
    from agents.registry import make_agent
    from hpo_gym.benchmark import run_benchmark

    return run_benchmark({a: a for a in AGENTS}, budget=4, seeds=2, protocol="kfold", folds=4, resolve_agent=make_agent,
                         progress=False)


def _report(df):
    return load_script("grpoformer_vs_tpe").protocol_report(df, {0: {"train_wall_s": 1, "train_evaluations": 2}})


# --- grpoformer_vs_tpe.py -------------------------------------------------------------------------------------------

def test_protocol_ratios_put_tpe_in_the_denominator_and_rank_only_the_issues_agents(kfold_run):
    from hpo_gym.benchmark import summary_table
    from hpo_gym.benchmark.metrics import per_task_table

    text, summary = _report(kfold_run)
    per_task = per_task_table(kfold_run, 4)
    assert summary["grpoformer_over_tpe_regret"] == pytest.approx(per_task["grpoformer"].mean() / per_task["tpe"].mean())
    issue = kfold_run[kfold_run["agent"].isin(["random", "tpe", "grpoformer"])]
    sec = summary_table(issue)["sec/suggestion"]
    assert summary["suggest_time_ratio_vs_tpe"] == pytest.approx(sec["grpoformer"] / sec["tpe"])
    assert set(summary["mean_rank"]) == {"random", "tpe", "grpoformer"}  # the portfolio is context, not ranked
    # the after-the-fact bound takes every agent of the run, and names the agent that reaches it on each task
    assert set(summary["oracle_agent_per_task"].values()) <= set(AGENTS)
    for task, agent in summary["oracle_agent_per_task"].items():
        assert per_task.loc[task, agent] == per_task.loc[task].min()
    assert summary["oracle_agent_per_task_regret@4"] == pytest.approx(per_task.min(axis=1).mean())


def test_leaving_one_task_out_drops_it_from_both_agents_and_names_the_extremes(kfold_run):
    from hpo_gym.benchmark.metrics import per_task_table

    text, summary = _report(kfold_run)
    per_task = per_task_table(kfold_run, 4)
    without = summary["ratio_bootstrap"]["ratio_without_task"]
    for t in per_task.index:
        rest = per_task.drop(t)
        assert without[t] == pytest.approx(rest["grpoformer"].mean() / rest["tpe"].mean())
    low, high = min(without, key=without.get), max(without, key=without.get)
    assert f"between {without[low]:.2f} (without {low}) and {without[high]:.2f} (without {high})" in text


def test_a_tie_with_random_is_not_a_win_in_the_protocol_report(kfold_run):
    """GRPOformer's runs on car made equal to Random's: the report counts car as not beaten."""
    df = kfold_run.copy()
    for seed in df["seed"].unique():
        src = (df["agent"] == "random") & (df["task"] == "car") & (df["seed"] == seed)
        dst = (df["agent"] == "grpoformer") & (df["task"] == "car") & (df["seed"] == seed)
        df.loc[dst, "normalized_regret"] = df.loc[src, "normalized_regret"].to_numpy()
    text, summary = _report(df)
    assert summary["beats_random_per_task"]["car"] is False
    n = len(summary["beats_random_per_task"])
    wins = sum(summary["beats_random_per_task"].values())
    assert f"- beats Random on {wins}/{n} tasks" in text and "car (no)" in text


def test_the_in_sample_reference_is_a_multiple_of_tpe(kfold_run):
    script = load_script("grpoformer_vs_tpe")
    alone = kfold_run[kfold_run["agent"] == "grpoformer"]
    line, facts = script.insample_line(alone, 0.08)
    assert facts["over_tpe"] == pytest.approx(facts["regret@4"] / 0.08)
    assert f"= {facts['regret@4'] / 0.08:.2f} x TPE" in line


def test_the_side_by_side_line_reads_means_as_means_and_medians_as_medians():
    script = load_script("grpoformer_vs_tpe")
    side = {"grpoformer": {"mean_s": 0.002, "median_s": 0.001}, "tpe": {"mean_s": 0.01, "median_s": 0.008},
            "ratio_mean": 0.2, "ratio_median": 0.125}
    line = script.side_by_side_line(side, budget=5, episodes=1)
    assert "-> ratio 0.20 (medians 0.12; target <= 0.3)" in line or "-> ratio 0.20 (medians 0.13; target <= 0.3)" in line


def test_the_side_by_side_medians_ratio_is_of_medians():
    script = load_script("grpoformer_vs_tpe")
    side = script.suggest_time_side_by_side(episodes=1, budget=6)
    assert side["ratio_median"] == pytest.approx(side["grpoformer"]["median_s"] / side["tpe"]["median_s"])
    assert side["ratio_mean"] == pytest.approx(side["grpoformer"]["mean_s"] / side["tpe"]["mean_s"])


def test_each_fold_plays_the_shipped_checkpoint_of_the_tasks_it_does_not_hold_out(tmp_path, monkeypatch):
    """No training: every fold's shipped checkpoint is found, and it is the one trained on the other 6 tasks."""
    from agents.grpoformer.agent import CHECKPOINT_DIR
    from agents.grpoformer.train import TrainConfig
    from hpo_gym.benchmark import kfold_splits
    from hpo_gym.suites import HPOBENCH_NN_TASKS

    script = load_script("grpoformer_vs_tpe")

    def no_training(*args, **kwargs):
        raise AssertionError("a shipped fold checkpoint was not found: train_folds started training")

    monkeypatch.setattr(script, "train", no_training)
    facts = script.train_folds(tmp_path, TrainConfig(eval_every=10), ship=False)
    tasks = list(HPOBENCH_NN_TASKS)
    for k, held in enumerate(kfold_splits(tasks, 4)):
        assert list(facts[k]["heldout"]) == list(held)
        assert facts[k]["train"] == [t for t in tasks if t not in held]
        assert facts[k]["checkpoint"].startswith(str(CHECKPOINT_DIR / "folds"))
    assert len({f["checkpoint"] for f in facts.values()}) == 4
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


@pytest.mark.parametrize("argv, message", [
    (["--checkpoint", "CKPT"], "--checkpoint sets the --suggest-time-only measurement: add --suggest-time-only"),
    (["--skip-protocol"], "--skip-protocol skips the k-fold protocol and leaves only the ablations: add --ablations"),
])
def test_the_protocol_script_refuses_timing_or_skip_options_without_their_mode(argv, message, tmp_path, capsys, monkeypatch):
    from agents.grpoformer.agent import SHIPPED_CHECKPOINT

    script = load_script("grpoformer_vs_tpe")
    monkeypatch.setattr(script, "train_folds", lambda *a, **k: (_ for _ in ()).throw(AssertionError("protocol ran")))
    argv = [str(SHIPPED_CHECKPOINT) if a == "CKPT" else a for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        script.main([*argv, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- grpoformer_fold_checkpoints.py ---------------------------------------------------------------------------------

def test_the_fold_set_table_divides_by_tpe_and_pairs_differences_run_for_run(tmp_path, monkeypatch, capsys):
    from hpo_gym.benchmark import kfold_splits
    from hpo_gym.benchmark.metrics import regret_by_run
    from hpo_gym.benchmark.store import ResultStore
    from hpo_gym.suites import HPOBENCH_NN_TASKS

    script = load_script("grpoformer_fold_checkpoints")
    seen = {}
    real = script.targets_columns

    def recording(table, per_task, budget):
        seen["out"] = real(table, per_task, budget)
        return seen["out"]

    monkeypatch.setattr(script, "targets_columns", recording)
    out = tmp_path / "bench"
    assert script.main(["s0=shipped", "--baselines", "random,tpe", "--seeds", "2", "--budget", "4", "--out", str(out)]) == 0
    capsys.readouterr()
    table = seen["out"]
    at = regret_by_run(ResultStore(out).load(), 4)
    assert table["x tpe"].to_dict() == pytest.approx({a: table.loc[a, "regret@4"] / table.loc["tpe", "regret@4"]
                                                      for a in table.index})
    diff = at.loc["random"] - at.loc["grpoformer@s0"]  # same task and seed
    assert table.loc["random", "diff vs grpoformer@s0"] == pytest.approx(diff.mean())
    assert table.loc["random", "paired s.e."] == pytest.approx(diff.std(ddof=1) / np.sqrt(len(diff)))
    per_task = at.loc["grpoformer@s0"].groupby("task").mean()
    for k, held in enumerate(kfold_splits(list(HPOBENCH_NN_TASKS), 4)):  # a fold's column: its held-out tasks only
        assert table.loc["grpoformer@s0", f"fold{k}"] == pytest.approx(per_task[list(held)].mean())


def test_the_fold_set_beats_random_column_does_not_count_a_tie():
    script = load_script("grpoformer_fold_checkpoints")
    per_task = pd.DataFrame({"random": [0.10, 0.20, 0.30], "grpoformer@s0": [0.05, 0.20, 0.40]},
                            index=["car", "kc1", "vehicle"])
    table = pd.DataFrame({"regret@50": [0.2, 0.216]}, index=["random", "grpoformer@s0"])
    out = script.targets_columns(table, per_task, 50)
    assert out.loc["grpoformer@s0", "beats random"] == "1/3"  # car only: kc1 is a tie


def test_the_fold_set_scorer_refuses_shipped_with_another_fold_count_and_a_missing_fold(tmp_path, monkeypatch, capsys):
    from agents.grpoformer.agent import SHIPPED_CHECKPOINT

    script = load_script("grpoformer_fold_checkpoints")
    monkeypatch.setattr(script, "run_benchmark", lambda *a, **k: (_ for _ in ()).throw(AssertionError("it ran")))
    with pytest.raises(SystemExit) as exited:
        script.main(["s0=shipped", "--folds", "2", "--out", str(tmp_path / "o")])
    assert exited.value.code == 2 and "the shipped fold checkpoints cover the 4-fold protocol" in capsys.readouterr().err
    for k in range(3):  # fold 3's file is missing
        (tmp_path / f"fold{k}").mkdir()
        shutil.copy(SHIPPED_CHECKPOINT, tmp_path / f"fold{k}" / "policy.pt")
    with pytest.raises(SystemExit) as exited:
        script.main([f"s0={tmp_path}/fold{{k}}/policy.pt", "--out", str(tmp_path / "o")])
    assert exited.value.code == 2 and f"no checkpoint at {tmp_path}/fold3/policy.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # the second name was dropped without a word
        script.main(["s0=shipped", "--baselines", "random,tpe,random", "--out", str(tmp_path / "o")])
    assert exited.value.code == 2 and "argument --baselines: 'random,tpe,random' names random more than once" in capsys.readouterr().err


def test_a_fold_set_plays_the_selection_rule_it_is_given():
    script = load_script("grpoformer_fold_checkpoints")
    assert script.stage_agent("shipped", "density-ratio")().select == "density-ratio"
    assert script.stage_agent("shipped")().select == "first-new"


# --- env_speed.py ---------------------------------------------------------------------------------------------------

def test_paired_rates_returns_the_subject_then_the_peer_each_at_its_fastest_turn():
    script = load_script("env_speed")
    peer_sleeps = iter([0.02, 0.004, 0.08])  # the fastest turn is not the last one

    def peer():
        time.sleep(next(peer_sleeps))

    rate, peer_rate = script.paired_rates(lambda: time.sleep(0.04), 100, peer, 10, repeats=3)
    assert 100 / 0.2 < rate <= 100 / 0.04  # the subject: 100 items in >= 0.04 s
    assert 10 / 0.05 < peer_rate <= 10 / 0.004  # the peer at its fastest turn (~0.004 s), not its last (0.08 s)


def test_env_speed_counts_the_vector_envs_steps_as_envs_times_steps(monkeypatch, capsys):
    script = load_script("env_speed")
    items = []
    real = script.paired_rates

    def recording(fn, n_items, peer, n_peer, repeats=3):
        items.append((n_items, n_peer))
        return real(fn, n_items, peer, n_peer, repeats=1)

    monkeypatch.setattr(script, "paired_rates", recording)
    assert script.main(["--steps", "200", "--batch", "100", "--num-envs", "4"]) == 0
    assert items == [(200, 200), (100, 200), (4 * 200, 200)]  # vec: ceil(4 x 200 / 4) steps x 4 envs
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        rate, peer, ratio = (float(c.replace(",", "")) for c in cells[1:4])
        assert ratio == pytest.approx(rate / peer, rel=0.01, abs=0.002)


# --- transfer_baselines.py ------------------------------------------------------------------------------------------

def test_transfer_baselines_fits_each_fold_on_its_training_tasks_with_the_fold_seed(monkeypatch, capsys):
    from hpo_gym.benchmark import kfold_splits
    from hpo_gym.suites import HPOBENCH_NN_TASKS

    script = load_script("transfer_baselines")
    fits = []
    real_make = script.make_agent

    def recording_make(spec):
        agent = real_make(spec)
        if hasattr(agent, "fit"):
            real_fit = agent.fit

            def fit(train, seed=None):
                fits.append(([o.name for o in train], seed))
                return real_fit(train, seed=seed)

            agent.fit = fit
        return agent

    monkeypatch.setattr(script, "make_agent", recording_make)
    assert script.main(["--agents", "portfolio", "--folds", "4", "--seeds", "1", "--budget", "2"]) == 0
    capsys.readouterr()
    tasks = list(HPOBENCH_NN_TASKS)
    assert fits == [([t for t in tasks if t not in held], k) for k, held in enumerate(kfold_splits(tasks, 4))]


def test_transfer_baselines_prints_every_agent_over_tpe_at_the_budget(capsys):
    script = load_script("transfer_baselines")
    assert script.main(["--agents", "random,portfolio", "--folds", "4", "--seeds", "2", "--budget", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[1].split()
    assert head[-3:] == ["x", "tpe", "@5"] and head[-4] == "@5"
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    assert rows["tpe"][-1] == "1.00"
    for agent in ("random", "portfolio"):
        at_budget, ratio = float(rows[agent][-2]), float(rows[agent][-1])
        assert ratio == pytest.approx(at_budget / float(rows["tpe"][-2]), abs=0.011)


def test_the_default_rule_of_compare_rules_scores_the_portfolio_that_never_saw_the_held_out_task(capsys):
    """The default rule's closed-form LOTO row is the shipped portfolio built on the 7 other tasks."""
    from agents.portfolio import build_portfolio, normalized_scores
    from hpo_gym.suites import HPOBENCH_NN_TASKS, load_hpobench_nn

    script = load_script("transfer_baselines")
    script.compare_rules(10)
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("greedy, then mean (default)"))
    loto_at_10 = float(row.split()[4])  # the name is 4 words; then LOTO@10, 4fold@10
    tables = {t: load_hpobench_nn(t) for t in HPOBENCH_NN_TASKS}
    expected = np.mean([1.0 - normalized_scores([tables[t]])[0][build_portfolio([o for n, o in tables.items() if n != t]).cells[:10]].max()
                        for t in tables])
    assert loto_at_10 == pytest.approx(expected, abs=1e-4)


def test_transfer_baselines_refuses_an_agent_named_twice(capsys):
    with pytest.raises(SystemExit) as exited:
        load_script("transfer_baselines").main(["--agents", "random,random", "--seeds", "1", "--budget", "2"])
    assert exited.value.code == 2 and "argument --agents: 'random,random' names random more than once" in capsys.readouterr().err


# --- bootstrap_coverage.py ------------------------------------------------------------------------------------------

def _runs(regret_of):
    return pd.DataFrame([{"agent": a, "task": t, "seed": s, "normalized_regret": regret_of(a, t, s)}
                         for a in ("x", "ref") for t in ("A", "B") for s in range(3)])


def test_a_simulated_benchmark_draws_seeds_with_replacement_and_once_for_all_tasks():
    script = load_script("bootstrap_coverage")
    runs = _runs(lambda a, t, s: s + (10 if t == "B" else 0) + (100 if a == "ref" else 0))
    sim = script.simulated_benchmark(runs, 12, np.random.default_rng(1))  # more seeds than there are: replacement
    assert sorted(sim["seed"].unique()) == list(range(12))
    src = sim.assign(orig=sim["normalized_regret"] % 10).pivot_table(index="seed", columns=["task", "agent"],
                                                                     values="orig")
    assert (src.nunique(axis=1) == 1).all()  # one drawn seed for both tasks and both agents
    assert src.iloc[:, 0].nunique() > 1


def test_the_coverage_population_ratio_averages_tasks_first(capsys):
    """Task A has 2 seeds, B 6: the population's ratio is the ratio of the means over tasks of the per-task means."""
    from tests.benchmark.test_metrics import paired_frame

    script = load_script("bootstrap_coverage")
    ref = {**{("A", s): 0.1 for s in range(2)}, **{("B", s): 0.1 for s in range(6)}}
    x = {**{("A", s): 0.02 for s in range(2)}, **{("B", s): 0.1 for s in range(6)}}
    script.coverage(paired_frame({"ref": ref, "x": x}), "x", "ref", [2], n_sim=2, n_boot=10)
    assert "(the population): 0.600;" in capsys.readouterr().out  # (0.02 + 0.1) / 2 / 0.1, not 0.8


def test_the_coverage_script_refuses_one_seed_per_task(tmp_path, capsys):
    (tmp_path / "benchmark.json").write_text("{}")
    with pytest.raises(SystemExit) as exited:
        load_script("bootstrap_coverage").main(["--bench", str(tmp_path), "--seeds", "1,3"])
    assert exited.value.code == 2 and "--seeds: each count must be >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:  # simulated twice, printed as two rows
        load_script("bootstrap_coverage").main(["--bench", str(tmp_path), "--seeds", "3,5,3"])
    assert exited.value.code == 2 and "--seeds names 3 more than once; give each count once" in capsys.readouterr().err


# --- grpoformer_train_devices.py ------------------------------------------------------------------------------------

def test_time_training_trains_on_the_folds_training_tasks_with_its_seed_and_times_updates_after_the_first(monkeypatch):
    from hpo_gym.benchmark import kfold_splits
    from hpo_gym.suites import HPOBENCH_NN_TASKS

    script = load_script("grpoformer_train_devices")
    calls = []

    def fake_train(objectives, out, cfg, progress=True):  # the log train writes, with known wall times
        calls.append(([o.name for o in objectives], cfg))
        pd.DataFrame({"wall_s": [1.0, 1.2, 1.5, 2.1], "train_regret": [0.4, 0.3, 0.2, 0.1],
                      "evaluations": [10, 20, 30, 40]}).to_csv(f"{out}/log.csv", index=False)

    monkeypatch.setattr(script, "train", fake_train)
    row = script.time_training("cpu", 4, 2, 1)
    tasks = list(HPOBENCH_NN_TASKS)
    (names, cfg), = calls
    assert names == [t for t in tasks if t not in kfold_splits(tasks, 4)[2]]
    assert (cfg.seed, cfg.updates, cfg.device) == (2, 4, "cpu")
    assert row["first_update_s"] == 1.0 and row["s_per_update"] == pytest.approx((0.2 + 0.3 + 0.6) / 3, abs=1e-3)
    assert row["train_regret_last"] == 0.1 and row["evaluations"] == 40


def test_train_devices_puts_the_cpu_first_and_divides_by_it(tmp_path, monkeypatch, capsys):
    script = load_script("grpoformer_train_devices")
    monkeypatch.setattr(script, "check_device", lambda device, flag: None)
    rows = {"cpu": 0.4, "gpu9": 0.1}
    monkeypatch.setattr(script, "time_training", lambda device, updates, fold, threads: {"device": device,
                        "s_per_update": rows[device]})
    out = tmp_path / "rows.json"
    assert script.main(["--devices", "gpu9,cpu", "--updates", "2", "--json", str(out)]) == 0
    capsys.readouterr()
    written = json.loads(out.read_text())
    assert [r["device"] for r in written] == ["cpu", "gpu9"]
    assert [r["speed_vs_cpu"] for r in written] == [1.0, 4.0]


def test_the_ablation_paired_difference_is_grpo_pcr_minus_no_pcr_by_training_seed(tmp_path, monkeypatch):
    """Training and held-out scoring stand in with known held-out regrets per (variant, seed): the printed paired
    difference and its standard error are of GRPO + PCR minus no PCR, seed by seed."""
    from agents.grpoformer.train import TrainConfig

    script = load_script("grpoformer_vs_tpe")
    regret = {("grpo+pcr", 0): 0.10, ("grpo+pcr", 1): 0.20, ("grpo+pcr", 2): 0.30,
              ("no-pcr", 0): 0.15, ("no-pcr", 1): 0.20, ("no-pcr", 2): 0.50}
    for (name, s) in regret:
        run = tmp_path / "ablations" / f"{name}-seed{s}"
        run.mkdir(parents=True)
        (run / "policy.pt").write_bytes(b"")
        pd.DataFrame({"update": [1, 2], "churn": [0.1, 0.05], "evaluations": [10, 20]}).to_csv(run / "log.csv", index=False)
    monkeypatch.setattr(script, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    monkeypatch.setattr(script, "load_policy", lambda path: (path.parent.name, {"wall_s": 1.0}))
    monkeypatch.setattr(script, "check_finished_run", lambda *a, **k: None)
    monkeypatch.setattr(script, "heldout_regret", lambda policy, objs, seeds, budget: regret[
        (policy.rsplit("-seed", 1)[0], int(policy.rsplit("-seed", 1)[1]))])
    md = script.run_ablations(tmp_path, TrainConfig(), 3, only=("grpo+pcr", "no-pcr"))
    diff = np.array([0.10 - 0.15, 0.20 - 0.20, 0.30 - 0.50])
    assert (f"GRPO + PCR minus no PCR: {diff.mean():+.4f} +- {diff.std(ddof=1) / np.sqrt(3):.4f} (standard error, 3 seeds)"
            in md)
