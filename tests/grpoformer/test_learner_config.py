"""``LearnerConfig``'s refusals in one place: every setting that could not train, or could only mean something the
learner would silently not do, must fail at construction with a message that names the setting and the fix.

Paper mode (``train_online``: one live run, no tables) has its own refusals: options that need several episodes on a
task or a task's known score range. Those run on a real table (kc1) and must refuse before any evaluation.
"""

from __future__ import annotations

import pytest

from agents.grpoformer.learner import LearnerConfig
from agents.grpoformer.train import TrainConfig, train, train_online
from hpo_gym.suites import load_hpobench_nn

REFUSED = {
    # settings that cannot train
    "one candidate per group": ({"group_size": 1}, "at least 2 candidates"),
    "zero learning rate": ({"lr": 0.0}, "must be positive"),
    "negative entropy bonus": ({"ent_coef": -0.1}, "must be >= 0"),
    "unknown algorithm": ({"algo": "a2c"}, "use 'grpo', 'reinforce' or 'ppo-critic'"),
    "unknown reward": ({"reward": "regret"}, "use 'improvement'"),
    "empty episodes (--budget 0)": ({"horizon": 0}, "horizon=0: needs a whole number >= 1"),
    "negative PCR weight": ({"pcr_lambda": -1.0}, "must be >= 0"),
    # sizes that failed deep inside torch or numpy, or turned PCR or churn into NaN without a word
    "PCR with no reference states": ({"pcr_states": 0}, "pcr_states=0: PCR needs >= 1 .* set pcr_lambda=0"),
    "no sampled paths for the KLs": ({"kl_paths": 0}, "kl_paths=0: needs a whole number >= 1"),
    "no churn probes": ({"churn_probe_states": 0}, "churn_probe_states=0: needs a whole number >= 1"),
    "an empty state buffer": ({"buffer_states": 0}, "buffer_states=0: needs a whole number >= 1"),
    "a negative state subset": ({"update_states": -1}, "update_states=-1: needs a whole number >= 0"),
    # settings a mode would silently ignore
    "trajectory_group without both": ({"trajectory_group": 2}, "only applies to group_mode='both'"),
    "score reward on trajectory groups": ({"reward": "score", "group_mode": "trajectory"}, "per-step reward"),
    "no-std without GRPO": ({"std_normalize": False, "algo": "reinforce"}, "drop --no-std"),
    # group modes
    "unknown group mode": ({"group_mode": "episode"}, "use 'step', 'trajectory' or 'both'"),
    "both: groups that do not divide the episodes": ({"group_mode": "both", "trajectory_group": 3}, "divide episodes"),
    "both: a group of one episode": ({"group_mode": "both", "trajectory_group": 1}, ">= 2"),
    "both with batch advantages": ({"group_mode": "both", "advantage_norm": "batch"}, "group_mode='both' mixes per-step and "
                                    "trajectory groups of GRPO: it needs algo='grpo'"),
    # failed in collect(), after the banner, the tables and the progress bar
    "a critic on trajectory groups": ({"algo": "ppo-critic", "group_mode": "trajectory"},
                                      "algo='ppo-critic' learns V\\(s\\) of per-step states: use it with group_mode='step'"),
    "both: without GRPO": ({"group_mode": "both", "algo": "reinforce"}, "algo='grpo'"),
    # advantage normalization
    "unknown advantage norm": ({"advantage_norm": "global"}, "use 'group'"),
    "batch norm without the std": ({"advantage_norm": "batch", "std_normalize": False}, "drop --no-std"),
    "batch norm without GRPO": ({"advantage_norm": "batch", "algo": "reinforce"}, "algo='grpo'"),
    # lookahead
    "negative lookahead": ({"lookahead": -1}, "lookahead="),
    "lookahead on the score reward": ({"lookahead": 2, "reward": "score"}, "lookahead="),
    "lookahead on trajectory groups": ({"lookahead": 2, "group_mode": "trajectory"}, "lookahead="),
    # the rule training episodes continue with
    "unknown continue rule": ({"continue_rule": "best"}, "continue_rule='best': use one of"),
    "ratio continuation on trajectory groups": ({"continue_rule": "density-ratio", "group_mode": "trajectory"},
                                                "needs group_mode='step' and lookahead=0"),
    "ratio continuation with lookahead": ({"continue_rule": "density-ratio", "lookahead": 2},
                                          "needs group_mode='step' and lookahead=0"),
    # initial design
    "negative design": ({"warm_start": -1}, "warm_start="),
    "design as long as the default episode": ({"warm_start": 50}, "warm_start="),
    "design as long as the episode": ({"warm_start": 4, "horizon": 4}, "warm_start="),
    "design with trajectory groups": ({"warm_start": 2, "group_mode": "trajectory"}, "warm_start="),
    # counts that are no whole numbers passed every range check and failed at the first rollout inside torch
    "a fractional group": ({"group_size": 4.0}, r"group_size=4.0: needs a whole number \(default 8\)"),
    "a fractional horizon": ({"horizon": 5.5}, r"horizon=5.5: needs a whole number \(default 50\)"),
    "a bool count": ({"episodes": True}, r"episodes=True: needs a whole number \(default 8\)"),
}


@pytest.mark.parametrize("bad, message", REFUSED.values(), ids=REFUSED.keys())
def test_config_refuses_with_the_setting_and_the_fix(bad, message):
    with pytest.raises(ValueError, match=message):
        LearnerConfig(**bad)


def test_pcr_off_needs_no_reference_states():
    """pcr_states only matters with PCR on: pcr_lambda=0 with pcr_states=0 is a consistent way to say 'no PCR'."""
    assert LearnerConfig(pcr_lambda=0.0, pcr_states=0).pcr_states == 0


PAPER_MODE_REFUSED = {
    "warm start": ({"warm_start": 2}, "use warm_start=0 with --online"),
    "batch advantage norm (the live score range is unknown)": ({"advantage_norm": "batch"}, "score range is unknown"),
    "trajectory groups (one live run)": ({"group_mode": "trajectory"}, "use group_mode='step' with --online"),
    "another reward (it was recorded in online.json and not used)": ({"reward": "score"}, "drop --reward with --online"),
    "a critic (it failed after the progress bar started)": ({"algo": "ppo-critic"}, "no value network to train"),
}


@pytest.mark.parametrize("setting, message", PAPER_MODE_REFUSED.values(), ids=PAPER_MODE_REFUSED.keys())
def test_paper_mode_refuses_what_needs_tables_instead_of_ignoring_it(setting, message):
    with pytest.raises(ValueError, match=message):
        train_online(load_hpobench_nn("kc1"), budget=8, cfg=LearnerConfig(**setting), progress=False)


def test_paper_mode_refuses_two_different_group_sizes():
    """``train_online(group_size=...)`` and ``cfg.group_size`` were both accepted and the learner's was ignored."""
    with pytest.raises(ValueError, match="group_size=16 differs from cfg.group_size=8"):
        train_online(load_hpobench_nn("kc1"), budget=8, group_size=16, cfg=LearnerConfig(), progress=False)


TRAIN_REFUSED = {
    "no updates": ({"updates": 0}, "updates=0: needs a whole number >= 1"),
    "held-out regret every 0 updates": ({"eval_every": 0}, "eval_every=0"),
    "negative synthetic tasks": ({"synthetic": -2}, "synthetic=-2: a number of extra training tasks"),
    "a share of 1": ({"mixed_frac": 1.0}, r"mixed_frac=1.0: a share of the episodes, in \[0, 1\)"),
}


@pytest.mark.parametrize("bad, message", TRAIN_REFUSED.values(), ids=TRAIN_REFUSED.keys())
def test_training_refuses_before_any_update(bad, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        train([load_hpobench_nn("kc1")], tmp_path, TrainConfig(**bad), progress=False)
    assert not (tmp_path / "log.csv").exists()


def test_the_defaults_train_grpoformer_help_states_are_the_configs_defaults():
    """The CLI cannot import the configs to build its help (``hpo-gym tasks`` must not load torch), so the defaults
    in the help text are written out; this keeps them equal to the dataclasses'."""
    import re

    from agents.grpoformer.learner import LearnerConfig
    from agents.grpoformer.policy import PolicyConfig
    from agents.grpoformer.train import TrainConfig
    from hpo_gym.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train-grpoformer"]
    helps = {a.option_strings[0]: a.help for a in sub._actions if a.option_strings}
    learner, train_cfg, policy = LearnerConfig(), TrainConfig(), PolicyConfig()
    expected = {"--updates": train_cfg.updates, "--eval-every": train_cfg.eval_every, "--synthetic": train_cfg.synthetic,
                "--mixed": train_cfg.mixed, "--grid-synthetic": train_cfg.grid_synthetic, "--seed": 0,
                "--pcr-lambda": learner.pcr_lambda, "--lr": learner.lr, "--ent-coef": learner.ent_coef,
                "--group-size": learner.group_size, "--trajectory-group": learner.trajectory_group,
                "--lookahead": learner.lookahead, "--warm-start": learner.warm_start, "--budget": learner.horizon,
                "--width": policy.d_model, "--layers": policy.n_layers}
    for option, value in expected.items():
        stated = re.search(r"\(default (-?[\d.e-]+)", helps[option])
        assert stated, f"{option}: no '(default N' in its help {helps[option]!r}"
        assert float(stated.group(1)) == float(value), f"{option}: help says {stated.group(1)}, the config {value}"


class _FailsRightOfPointSeven:
    """A live-like objective whose fit fails (NaN, the marker the env accepts) for ``a > 0.7``."""

    def __init__(self, oracle):
        from hpo_gym.space import Float, SearchSpace

        self.name, self.metadata, self.oracle = "fails-right", {}, oracle
        self.space = SearchSpace([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0)])

    def evaluate(self, config, seed=None):
        from hpo_gym.objective import Evaluation

        score = float("nan") if config["a"] > 0.7 else 1.0 - (config["a"] - 0.3) ** 2 - config["b"] ** 2
        return Evaluation(score, 0.0, {"config": config})

    def evaluate_batch(self, configs, seeds=None):
        from hpo_gym.objective import EvaluationBatch, as_config_list

        return EvaluationBatch.from_evaluations([self.evaluate(c) for c in as_config_list(self.space, configs)])


def test_paper_mode_scores_a_failed_fit_as_the_env_does_instead_of_diverging():
    """One NaN reached the rewards and then the weights, and the run stopped blaming the learning rate."""
    import numpy as np

    from hpo_gym.objective import Oracle

    curve, scores = train_online(_FailsRightOfPointSeven(Oracle(1.0, -1.0)), budget=40, seed=0, progress=False)
    assert np.isfinite(scores).all() and (scores == -1.0).any() and len(scores) == 40
    assert curve[-1] == scores.max() > 0.5
    with pytest.raises(ValueError, match=r"objective 'fails-right' returned the score nan for .*scores must be finite"):
        train_online(_FailsRightOfPointSeven(None), budget=40, seed=0, progress=False)
