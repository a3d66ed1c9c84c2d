"""The learner's hyperparameters as recipes: CLI flags, cache keys, clear errors, and the nested inner selection.

Why: tuning the learning rate, the group size or the entropy bonus must never load a checkpoint trained with
other settings (the recipe tag keys fold caches), and the inner selection must choose from training tasks only.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from agents.grpoformer.learner import LearnerConfig
from agents.grpoformer.train import TrainConfig, changed_fields, recipe_tag
from hpo_gym.benchmark import kfold_splits
from hpo_gym.cli import main
from hpo_gym.suites import HPOBENCH_NN_TASKS
from tests.benchmark_scripts import load_script
from tests.grpoformer.conftest import tiny_training_run


def _inner_selection():
    return load_script("grpoformer_inner_selection")


def test_cli_learner_flags_reach_the_training_config(tmp_path):
    """`--lr/--ent-coef/--group-size` are what the run trains with (saved in the checkpoint), and G candidates are
    scored per state: twice the evaluations with G=16 as with G=8."""
    runs = {}
    for name, flags in {"g8": [], "g16": ["--lr", "0.001", "--ent-coef", "0.01", "--group-size", "16"]}.items():
        runs[name] = tiny_training_run(tmp_path / name, *flags)[1]
    learner = runs["g16"]["train_config"]["learner"]
    assert (learner["lr"], learner["ent_coef"], learner["group_size"]) == (0.001, 0.01, 16)
    assert runs["g8"]["train_config"]["learner"]["group_size"] == 8
    assert runs["g16"]["evaluations"] == 2 * runs["g8"]["evaluations"] > 0


def test_online_mode_trains_with_the_learner_flags_and_refuses_table_only_ones(tmp_path, capsys):
    """Paper mode used to drop every learner flag: `--lr/--group-size` now reach its LearnerConfig (saved in
    online.json, on top of paper mode's epochs 4 / minibatch 16), and options that need training tables are refused."""
    out = tmp_path / "online"
    assert main(["train-grpoformer", "--online", "--holdout", "credit_g", "--budget", "12", "--group-size", "4",
                 "--lr", "0.001", "--out", str(out)]) == 0
    learner = json.loads((out / "online.json").read_text())["credit_g"]["learner"]
    assert (learner["lr"], learner["group_size"], learner["epochs"], learner["minibatch"]) == (0.001, 4, 4, 16)
    # a second task into the same --out keeps the first one's results (online.json was rewritten with its own only)
    assert main(["train-grpoformer", "--online", "--holdout", "car", "--budget", "12", "--out", str(out)]) == 0
    assert set(json.loads((out / "online.json").read_text())) == {"credit_g", "car"}
    # a rerun skips the finished tasks (an interrupted multi-task run trained them all again), and one with other
    # settings is refused (it replaced the entry silently, and the entry did not say which seed it held)
    before = (out / "online.json").read_text()
    capsys.readouterr()
    assert main(["train-grpoformer", "--online", "--holdout", "car", "--budget", "12", "--out", str(out)]) == 0
    assert "car: finished in" in capsys.readouterr().out and (out / "online.json").read_text() == before
    assert json.loads(before)["car"]["seed"] == 0
    assert main(["train-grpoformer", "--online", "--holdout", "car", "--budget", "12", "--seed", "1",
                 "--out", str(out)]) == 2
    assert "holds car run with other settings (seed: seed=0); give another --out" in capsys.readouterr().err
    older = json.loads(before)  # an online.json of the version before seeds were recorded: run again, not refused
    del older["car"]["seed"]
    (out / "online.json").write_text(json.dumps(older))
    assert main(["train-grpoformer", "--online", "--holdout", "car", "--budget", "12", "--out", str(out)]) == 0
    assert "car: its entry in" in capsys.readouterr().out
    assert json.loads((out / "online.json").read_text())["car"]["seed"] == 0
    for flags, message in ((["--warm-start", "2"], "use warm_start=0 with --online"),
                           (["--lookahead", "2"], "use lookahead=0 with --online"),
                           (["--continue-rule", "density-ratio"], "drop --continue-rule"),
                           (["--advantage-norm", "batch"], "advantage_norm='group' with --online"),
                           (["--updates", "9", "--resume"], "--resume, --updates: options of transfer training"),
                           (["--synthetic", "4"], "--synthetic: options of transfer training"),
                           (["--reward", "score"], "drop --reward with --online")):
        assert main(["train-grpoformer", "--online", "--holdout", "credit_g", "--budget", "12", "--out", str(out),
                     *flags]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --budget 0 used to run 500 evaluations, -5 to fail in numpy
        main(["train-grpoformer", "--online", "--holdout", "credit_g", "--budget", "0", "--out", str(out)])
    assert "--budget: 0 is not >= 1" in capsys.readouterr().err
    from hpo_gym.lock import directory_lock

    with directory_lock(out, "another train-grpoformer --online run"):  # two online runs overwrote each other's files
        assert main(["train-grpoformer", "--online", "--holdout", "credit_g", "--budget", "12", "--out", str(out)]) == 2
    assert f"{out} is being written by another train-grpoformer --online run" in capsys.readouterr().err


def test_online_mode_builds_the_policy_the_architecture_flags_ask_for(tmp_path):
    """`--head/--width/--layers` used to be accepted and ignored by paper mode; they now shape its policy (online.json)."""
    out = tmp_path / "online_arch"
    assert main(["train-grpoformer", "--online", "--holdout", "credit_g", "--budget", "8", "--group-size", "4",
                 "--width", "16", "--layers", "1", "--head", "autoregressive", "--out", str(out)]) == 0
    policy = json.loads((out / "online.json").read_text())["credit_g"]["policy"]
    assert (policy["d_model"], policy["n_layers"], policy["autoregressive"]) == (16, 1, True)


def test_recipe_tag_names_changed_learner_settings_only():
    """The shipped recipe keeps its empty tag (its fold checkpoints stay valid); a changed setting enters the tag."""
    assert recipe_tag(TrainConfig()) == ""
    assert changed_fields(LearnerConfig()) == {}
    assert recipe_tag(TrainConfig(learner=LearnerConfig(lr=1e-3, group_size=16))) == "group_size=16,lr=0.001"
    assert recipe_tag(TrainConfig(learner=LearnerConfig(ent_coef=0.01))) == "ent_coef=0.01"


def test_recipe_tag_names_a_longer_run_and_other_synthetic_tasks_and_keeps_the_shipped_keys():
    """`benchmarks/grpoformer_vs_tpe.py --updates 250` found the shipped 150-update checkpoints under the key of its
    recipe (the tag left out updates and the synthetic tasks) and reported them as the longer run's."""
    import dataclasses

    from agents.grpoformer.agent import CHECKPOINT_DIR, fold_key
    from hpo_gym.benchmark.runner import kfold_splits
    from hpo_gym.suites import HPOBENCH_NN_TASKS

    assert recipe_tag(TrainConfig(updates=250)) == "updates=250"
    assert recipe_tag(TrainConfig(synthetic=0)) == "synthetic=0@0.15"
    assert recipe_tag(TrainConfig(synthetic_frac=0.3)) == "synthetic=32@0.3"
    cfg = TrainConfig()
    assert recipe_tag(dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, dropout=0.1))) == "dropout=0.1"
    assert recipe_tag(TrainConfig(eval_every=5, eval_seeds=3, ckpt_every=2, threads=2, device="cuda")) == ""
    tasks = list(HPOBENCH_NN_TASKS)
    for k, held in enumerate(kfold_splits(tasks, 4)):  # the shipped recipe's fold checkpoints keep their keys
        key = fold_key([t for t in tasks if t not in held], k, recipe_tag(TrainConfig(seed=k)))
        assert (CHECKPOINT_DIR / "folds" / f"{key}.pt").is_file()


def test_cli_names_a_bad_setting_by_its_flag(tmp_path, capsys):
    assert main(["train-grpoformer", "--holdout", "credit_g", "--out", str(tmp_path / "r"), "--group-size", "1"]) == 2
    assert "--group-size 1: a group needs at least 2 candidates" in capsys.readouterr().err  # the flag, not the field
    assert main(["train-grpoformer", "--holdout", "credit_g", "--out", str(tmp_path / "r"), "--synthetic", "-1"]) == 2
    captured = capsys.readouterr()
    assert "--synthetic -1: a number of extra training tasks" in captured.err and "training on" not in captured.out
    assert main(["train-grpoformer", "--holdout", "credit_g", "--out", str(tmp_path / "r"), "--no-std", "--algo",
                 "reinforce"]) == 2  # a switch is named without a value ("--no-std False (--no-std) changes ...")
    assert ("error: --no-std: only GRPO divides its group advantages by the group std, and algo='reinforce' has its own "
            "baseline") in capsys.readouterr().err
    assert main(["train-grpoformer", "--holdout", "credit_g", "--out", str(tmp_path / "c"), "--algo", "ppo-critic",
                 "--group-mode", "trajectory"]) == 2  # refused before the banner, the tables and a run folder
    captured = capsys.readouterr()
    assert "--algo 'ppo-critic' learns V(s) of per-step states: use it with group_mode='step'" in captured.err
    assert "training on" not in captured.out and not (tmp_path / "c").exists()


def test_ckpt_every_sets_how_often_the_resumable_state_is_saved(tmp_path, capsys):
    from tests.grpoformer.conftest import tiny_training_run

    _, extra = tiny_training_run(tmp_path / "k", "--ckpt-every", "3")
    assert extra["train_config"]["ckpt_every"] == 3
    assert main(["train-grpoformer", "--holdout", "credit_g", "--out", str(tmp_path / "o"), "--online", "--ckpt-every",
                 "3"]) == 2  # paper mode keeps no resumable state
    assert "--ckpt-every: options of transfer training across a suite's tables" in capsys.readouterr().err


def test_inner_selection_recipes_combine_parts_and_reject_typos():
    sel = _inner_selection()
    cfg = sel.recipe("autoregressive+lr=0.001+group_size=16", updates=5, seed=3)
    assert cfg.policy.autoregressive and (cfg.learner.lr, cfg.learner.group_size, cfg.updates, cfg.seed) == (0.001, 16, 5, 3)
    assert sel.recipe("factorized+mixed", 5, 0).mixed == 24
    assert sel.recipe("std_normalize=false", 5, 0).learner.std_normalize is False
    with pytest.raises(ValueError, match="unknown recipe part 'learning_rate=0.1'"):
        sel.recipe("learning_rate=0.1", 5, 0)
    with pytest.raises(ValueError, match="group_size=1"):
        sel.recipe("group_size=1", 5, 0)
    with pytest.raises(ValueError, match="true or false"):
        sel.recipe("std_normalize=no", 5, 0)


def test_inner_selection_recipe_seed_part_offsets_the_fold_seed_like_the_outer_seed_sets():
    sel = _inner_selection()
    assert sel.recipe("factorized", 5, 2).seed == 2
    assert sel.recipe("factorized+seed=10", 5, 2).seed == 12  # fold 2 of the seeds-10 set trains with seed 12
    assert sel.recipe("seed=0+lr=0.001", 5, 3).seed == 3
    with pytest.raises(ValueError, match="whole number"):
        sel.recipe("seed=-1", 5, 0)


@pytest.mark.parametrize("fold", range(4))
def test_inner_cv_validates_every_training_task_once_and_never_an_outer_one(fold):
    sel = _inner_selection()
    tasks = list(HPOBENCH_NN_TASKS)
    outer = set(kfold_splits(tasks, 4)[fold])
    splits = sel.inner_splits(fold, 3)
    validated = [t for _, val in splits for t in val]
    assert sorted(validated) == sorted(set(tasks) - outer)
    for inner_train, val in splits:
        assert not (set(inner_train) | set(val)) & outer and not set(inner_train) & set(val) and len(inner_train) == 4
    (inner_train, val), = sel.inner_splits(fold, 0)  # the original hardest-two split
    assert len(val) == 2 and not set(val) & outer


def test_select_averages_every_validated_task_and_picks_the_lowest():
    sel = _inner_selection()
    rows = [{"fold": 0, "recipe": "a", "inner": 0, "val:x": 0.01, "val:y": 0.03},
            {"fold": 0, "recipe": "a", "inner": 1, "val:z": 0.02},
            {"fold": 0, "recipe": "b", "inner": 0, "val:x": 0.00, "val:y": 0.05},
            {"fold": 0, "recipe": "b", "inner": 1, "val:z": 0.04}]
    score, chosen = sel.select(rows)
    assert score.set_index("recipe")["inner_regret@50"].round(6).to_dict() == {"a": 0.02, "b": 0.03}
    assert chosen.to_dict() == {0: "a"}


def test_inner_selection_script_trains_scores_and_resumes(tmp_path, capsys):
    """The script end to end on a tiny budget: one inner run per recipe and inner fold, a per-fold choice written to
    chosen.json, every validated task scored; a second call reuses the finished runs instead of retraining."""
    sel = _inner_selection()
    args = ["--inner-cv", "2", "--folds", "1", "--recipes", "factorized,group_size=4+warm_start=2", "--updates", "1", "--seeds", "1",
            "--jobs", "1", "--out", str(tmp_path)]
    assert sel.main(args) == 0
    rows = pd.read_csv(tmp_path / "inner_selection.csv")
    assert len(rows) == 4 and set(rows["recipe"]) == {"factorized", "group_size=4+warm_start=2"}
    validated = {c[4:] for c in rows.columns if c.startswith("val:")}
    assert validated == set(HPOBENCH_NN_TASKS) - set(kfold_splits(list(HPOBENCH_NN_TASKS), 4)[1])
    assert json.loads((tmp_path / "chosen.json").read_text())["1"] in {"factorized", "group_size=4+warm_start=2"}
    policies = sorted(tmp_path.glob("fold1/*/inner*of2/policy.pt"))
    assert len(policies) == 4
    stamps = [p.stat().st_mtime_ns for p in policies]
    assert sel.main(args) == 0
    assert [p.stat().st_mtime_ns for p in policies] == stamps
    assert "per-fold choice" in capsys.readouterr().out


def test_eval_every_without_a_held_out_task_is_refused(tmp_path, capsys):
    """Found in review: --eval-every without --holdout was accepted and did nothing (no held-out task to score)."""
    assert main(["train-grpoformer", "--eval-every", "5", "--updates", "1", "--out", str(tmp_path / "run")]) == 2
    assert "--eval-every sets how often the held-out regret is logged, and --holdout names no task" in \
        capsys.readouterr().err
    assert not (tmp_path / "run").exists()
