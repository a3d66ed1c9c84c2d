"""``benchmarks/grpoformer_seed_selection.py``: a seed is chosen by how its checkpoint plays the tasks it trained on, the
choice is scored on the tasks its split held out, and the adoption rule is the one committed in docs/grpoformer.md."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from hpo_gym.cli import main
from hpo_gym.suites import HPOBENCH_NN_TASKS
from tests.benchmark_scripts import load_script


def _gain_table(rows: list[tuple[int, int, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["fold", "inner", "seed_set", "trained", "unseen"]).set_index(
        ["fold", "inner", "seed_set"])


def test_each_split_keeps_the_seed_lowest_in_sample_and_its_gain_is_against_the_mean_seed():
    script = load_script("grpoformer_seed_selection")
    table = _gain_table([(0, 0, "s0", 0.010, 0.020), (0, 0, "s10", 0.005, 0.012), (0, 0, "s20", 0.008, 0.010),
                         (1, 2, "s0", 0.001, 0.004), (1, 2, "s10", 0.003, 0.002), (1, 2, "s20", 0.002, 0.003)])
    gains = script.split_gains(table)
    assert gains.loc[(0, 0), "chosen"] == "s10" and gains.loc[(1, 2), "chosen"] == "s0"  # by in-sample regret alone
    assert gains.loc[(0, 0), "gain"] == pytest.approx(0.012 - 0.014)
    assert gains.loc[(1, 2), "gain"] == pytest.approx(0.004 - 0.003)  # a choice that is worse than the mean seed


def test_the_choice_is_adopted_only_below_zero_by_more_than_two_standard_errors():
    script = load_script("grpoformer_seed_selection")
    mean, se, adopt = script.verdict(pd.Series([-0.002, -0.001, -0.0015, -0.0012]))
    assert mean == pytest.approx(-0.001425) and adopt
    _, _, adopt = script.verdict(pd.Series([-0.004, 0.003, -0.002, 0.001]))  # lower on average, within the noise
    assert not adopt
    _, _, adopt = script.verdict(pd.Series([0.001, 0.002, 0.0015]))
    assert not adopt
    # the standard error is the sample one (ddof=1): these gains pass with the population one (s.e. 0.00023), not with it
    mean, se, adopt = script.verdict(pd.Series([-0.00115, 0.00015, -0.0005, -0.0005]))
    assert mean == pytest.approx(-0.0005) and se == pytest.approx(0.000265, abs=1e-6) and not adopt


def test_the_shipped_outer_set_is_the_file_the_agent_loads_for_the_fold():
    from agents.grpoformer.agent import GRPOformerAgent
    from hpo_gym.suites import load_hpobench_nn

    script = load_script("grpoformer_seed_selection")
    sel = load_script("grpoformer_inner_selection")
    agent = GRPOformerAgent()
    agent.fit([load_hpobench_nn(t) for t in sel.fold_training_tasks(2)], seed=2)
    assert Path(agent.checkpoint) == script.outer_checkpoint("shipped", 2) and Path(agent.checkpoint).is_file()


def test_a_single_seed_or_a_pattern_without_both_folds_is_refused_before_any_run(tmp_path, capsys):
    script = load_script("grpoformer_seed_selection")
    good = "runs/x/fold{f}/s/inner{k}of3/policy.pt"
    with pytest.raises(SystemExit):
        script.main(["--inner", f"s0={good}", "--out", str(tmp_path)])
    assert "at least two seeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--inner", f"s0={good}", "s10=runs/x/fold{f}/policy.pt", "--out", str(tmp_path)])
    assert r"{k} (inner fold)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--inner", f"s0={good}", f"s10={good}", "--outer", "s0=runs/x/policy.pt", "--out", str(tmp_path)])
    assert "{k} for the fold index" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_an_outer_set_trained_on_other_tasks_or_named_like_a_column_or_a_path_is_refused_before_any_run(tmp_path,
                                                                                                          capsys):
    """Protocol "all" fits nothing, so an outer pattern with its folds swapped would be played and chosen silently."""
    import shutil

    from agents.grpoformer.agent import CHECKPOINT_DIR

    script = load_script("grpoformer_seed_selection")
    sel = load_script("grpoformer_inner_selection")
    for k in range(4):  # the shipped fold checkpoints, fold 1's and fold 2's swapped
        dest = tmp_path / "swapped" / f"fold{k}" / "policy.pt"
        dest.parent.mkdir(parents=True)
        shutil.copy(script.outer_checkpoint("shipped", {1: 2, 2: 1}.get(k, k)), dest)
    assert (CHECKPOINT_DIR / "folds").is_dir() and sel.fold_training_tasks(1) != sel.fold_training_tasks(2)
    good = "runs/x/fold{f}/s/inner{k}of3/policy.pt"
    inner = ["--inner", f"s0={good}", f"s10={good}", "--out", str(tmp_path / "out")]
    for outer, message in (([f"x={tmp_path}/swapped/fold{{k}}/policy.pt"], "not on fold 1's training tasks"),
                           (["chosen=shipped"], "names the table's choice column"),
                           (["..=shipped"], "it names a folder under --out"),
                           ([f"x={tmp_path}/none/fold{{k}}/policy.pt"], "no checkpoint at")):
        with pytest.raises(SystemExit):
            script.main([*inner, "--outer", *outer])
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _train(out: Path, train_tasks: list[str], seed: int) -> None:
    """One GRPO update on ``train_tasks`` (every other embedded task held out), 4-step episodes."""
    holdout = ",".join(t for t in HPOBENCH_NN_TASKS if t not in train_tasks)
    assert main(["train-grpoformer", "--holdout", holdout, "--out", str(out), "--synthetic", "0", "--updates", "1",
                 "--eval-every", "5", "--budget", "4", "--seed", str(seed)]) == 0


@pytest.mark.slow
def test_the_script_chooses_per_split_and_per_fold_from_in_sample_runs_and_copies_the_choice(tmp_path, capsys):
    """Two seeds' tiny inner policies (12 each) and outer fold checkpoints, played by the default agent on real tables:
    every split's choice is its in-sample argmin, the unseen score is the split's own held-out tasks', and the copied
    fold checkpoints are the chosen ones, byte for byte."""
    script = load_script("grpoformer_seed_selection")
    sel = load_script("grpoformer_inner_selection")
    for seed in (0, 1):
        for f in range(4):
            for k, (inner_train, _) in enumerate(sel.inner_splits(f, 3)):
                _train(tmp_path / f"s{seed}" / f"fold{f}" / f"inner{k}", inner_train, seed)
            _train(tmp_path / f"outer{seed}" / f"fold{f}", sel.fold_training_tasks(f), seed + 7)
    patterns = {f"s{s}": f"{tmp_path}/s{s}/fold{{f}}/inner{{k}}/policy.pt" for s in (0, 1)}
    inner = [f"{name}={pattern}" for name, pattern in patterns.items()]
    outer = [f"s{s}={tmp_path}/outer{s}/fold{{k}}/policy.pt" for s in (0, 1)]
    out = tmp_path / "sel"
    assert script.main(["--inner", *inner, "--outer", *outer, "--seeds", "2", "--budget", "12", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "adoption rule" in printed and "grpoformer_fold_checkpoints.py" in printed

    table = script.inner_regrets(patterns, 12, [100, 101], out / "inner")  # the stored runs
    assert len(table) == 24 and not table.isna().any().any()
    gains = script.split_gains(table)
    for (f, k), row in gains.iterrows():
        assert row["chosen"] == table.loc[(f, k)]["trained"].idxmin()
    inner_val = sel.inner_splits(2, 3)[1][1]  # one split's unseen score, recomputed from its own runs
    runs = load_script("grpoformer_inference_settings").checkpoint_regrets(
        {"grpoformer": {}}, tmp_path / "s1/fold2/inner1/policy.pt", inner_val, 12, [100, 101],
        out / "inner/s1/fold2/inner1", in_sample=False)
    assert table.loc[(2, 1, "s1"), "unseen"] == pytest.approx(runs["regret@12"].mean())
    inner_train = sel.inner_splits(2, 3)[1][0]  # and its in-sample score: the 4 tasks it trained on, nothing else
    trained = load_script("grpoformer_inference_settings").checkpoint_regrets(
        {"grpoformer": {}}, tmp_path / "s1/fold2/inner1/policy.pt", inner_train, 12, [100, 101],
        out / "inner/s1/fold2/inner1-trained", in_sample=True)
    assert sorted(trained.index.get_level_values("task").unique()) == sorted(inner_train)
    assert table.loc[(2, 1, "s1"), "trained"] == pytest.approx(trained["regret@12"].mean())
    with (pytest.raises(ValueError, match="which this play scores as unseen"),  # its training tasks, played as unseen
          pytest.warns(UserWarning, match="in-sample results")):  # the harness's warning is not silenced then
        load_script("grpoformer_inference_settings").checkpoint_regrets(
            {"grpoformer": {}}, tmp_path / "s1/fold2/inner1/policy.pt", inner_train, 12, [100, 101],
            out / "inner/s1/fold2/inner1-trained", in_sample=False)
    with pytest.raises(ValueError, match="played='train'"):
        load_script("grpoformer_inference_settings").inner_policy_runs({"grpoformer": {}}, patterns["s1"], 12, [100],
                                                                       out / "typo", played="train")

    sets = {f"s{s}": f"{tmp_path}/outer{s}/fold{{k}}/policy.pt" for s in (0, 1)}
    outer_table = script.outer_choice(sets, 12, [100, 101], out / "outer")  # the stored runs
    fold_runs = load_script("grpoformer_inference_settings").checkpoint_regrets(
        {"grpoformer": {}}, tmp_path / "outer0/fold3/policy.pt", sel.fold_training_tasks(3), 12, [100, 101],
        out / "outer/s0/fold3", in_sample=True)
    assert outer_table.loc[3, "s0"] == pytest.approx(fold_runs["regret@12"].mean())  # the fold's 6 training tasks
    chosen = json.loads((out / "verdict.json").read_text())["outer_chosen"]
    assert {int(k): v for k, v in chosen.items()} == outer_table[["s0", "s1"]].idxmin(axis=1).to_dict()
    for k, name in chosen.items():
        source = tmp_path / f"outer{name[1:]}" / f"fold{k}" / "policy.pt"
        assert (out / "chosen" / f"fold{k}" / "policy.pt").read_bytes() == source.read_bytes()
