"""``GRPOformerAgent`` with a given checkpoint in the k-fold protocol, and the warm start it may play.

Why: ``grpoformer:PATH`` must score PATH (not silently the shipped fold checkpoints) and never on a task PATH was
trained on; a checkpoint trained with ``--warm-start K`` must open each run with the K portfolio trials it learned
to continue from. Real tables, real (tiny) trained fold policies, the real portfolio, and the harness's own
``run_episode``, so the warm-start trials are counted in the budget like any other.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs_registry  # noqa: F401  (registers the gym ids)
from agents.grpoformer.agent import GRPOformerAgent, trained_warm_start
from agents.grpoformer.learner import LearnerConfig
from agents.grpoformer.train import TrainConfig, train
from agents.portfolio import build_portfolio
from agents.registry import make_agent
from hpo_gym.benchmark.runner import run_episode
from hpo_gym.suites import HPOBENCH_NN_TASKS, load_hpobench_nn
from tests.benchmark_scripts import load_script


FOLD_TASKS = ("kc1", "credit_g")


def _train_fold0(runs: Path, warm_start: int = 0) -> str:
    """A one-update policy trained on kc1 and credit_g (the fold's training tasks) as fold 0's checkpoint; its pattern."""
    learner = LearnerConfig(horizon=4, episodes=2, warm_start=warm_start)
    train(_tables(), runs / "fold0", TrainConfig(updates=1, synthetic=0, learner=learner), progress=False)
    return str(runs / "fold{k}" / "policy.pt")


def _tables():
    return [load_hpobench_nn(t) for t in FOLD_TASKS]


def _played(agent, budget: int = 8) -> list[dict]:
    rows, error = run_episode(agent, gym.make("HPO-OpenML-v0", task="vehicle", budget=budget), seed=0, budget=budget)
    assert error is None and len(rows) == budget
    return [json.loads(r["config"]) for r in rows]


def _portfolio_configs(n: int) -> list[dict]:
    return load_hpobench_nn("vehicle").space.decode_many(build_portfolio(_tables()).encodings[:n])


@pytest.fixture(scope="module")
def plain_pattern(tmp_path_factory):
    return _train_fold0(tmp_path_factory.mktemp("plain"))


@pytest.mark.parametrize("k", [0, 3])
def test_first_k_trials_are_the_portfolio_then_the_policy_continues(plain_pattern, k):
    agent = GRPOformerAgent(plain_pattern, warm_start=k)
    agent.fit(_tables(), seed=0)
    played, expected = _played(agent), _portfolio_configs(8)
    assert played[:k] == expected[:k]
    assert played[k:] != expected[k:]  # the policy's own proposals, not the portfolio's next entries
    assert len({json.dumps(c, sort_keys=True) for c in played}) == 8  # the policy does not repeat a warm-start trial


def test_a_warm_start_checkpoint_plays_the_design_it_was_trained_with(tmp_path, plain_pattern):
    ws_pattern = _train_fold0(tmp_path, warm_start=2)
    for pattern, k in ((ws_pattern, 2), (plain_pattern, 0)):
        agent = make_agent(f"grpoformer:{pattern}")  # the CLI's spec: the {k} path is loaded per fold
        agent.fit(_tables(), seed=0)
        assert agent.warm_start == k == trained_warm_start(agent.meta)
        played, expected = _played(agent, 5), _portfolio_configs(5)
        assert played[:k] == expected[:k] and played[k] != expected[k]


def test_a_warm_start_without_a_portfolio_says_how_to_get_one(tmp_path):
    agent = GRPOformerAgent(Path(_train_fold0(tmp_path, warm_start=2).format(k=0)))
    env = gym.make("HPO-OpenML-v0", task="vehicle", budget=5)
    obs, _ = env.reset(seed=0)
    agent.reset(env.unwrapped.space, seed=0)
    with pytest.raises(RuntimeError, match="call fit\\(train_objectives\\) first"):
        agent.act(obs)
    plain = GRPOformerAgent(agent.checkpoint, warm_start=0)  # the policy alone needs no portfolio
    plain.reset(env.unwrapped.space, seed=0)
    action = plain.act(obs)
    assert action.shape == (len(env.unwrapped.space),) and ((0 <= action) & (action <= 1)).all()


def test_a_single_checkpoint_is_kept_for_a_fold_that_trains_on_its_tasks_and_refused_otherwise(plain_pattern):
    path = Path(plain_pattern.format(k=0))
    agent = GRPOformerAgent(path)
    agent.fit(_tables() + [load_hpobench_nn("vehicle")], seed=2)  # trained on a subset of this fold's tasks: held-out
    assert agent.checkpoint == path and agent.meta["train_tasks"] == sorted(FOLD_TASKS)
    with pytest.raises(ValueError, match=r"trained on \['kc1'\], which fold 1 holds out"):
        GRPOformerAgent(path).fit([load_hpobench_nn("credit_g"), load_hpobench_nn("vehicle")], seed=1)


def test_a_checkpoint_without_its_training_tasks_is_refused_under_kfold(plain_pattern, tmp_path):
    """The shipped policy re-saved without its record (save_policy's extra is optional) was scored as held-out on the
    8 tasks it was trained on; the PPO agent already refused such a model."""
    from agents.grpoformer.policy import load_policy, save_policy
    from hpo_gym.benchmark import run_benchmark

    policy, _ = load_policy(Path(plain_pattern.format(k=0)))
    bare = tmp_path / "bare.pt"
    save_policy(policy, bare)
    with pytest.raises(ValueError, match=r"bare.pt records no training tasks .* cannot be shown to be held-out"):
        GRPOformerAgent(bare).fit(_tables(), seed=0)
    synthetic_only = tmp_path / "synthetic.pt"  # an empty record is a record: trained on no task, held-out on all
    save_policy(policy, synthetic_only, extra={"train_tasks": []})
    GRPOformerAgent(synthetic_only).fit(_tables(), seed=0)
    with pytest.raises(ValueError, match=r"records no training tasks"):
        run_benchmark([f"grpoformer:{bare}"], ["credit_g", "vehicle"], budget=2, seeds=1, protocol="kfold", folds=2,
                      progress=False, resolve_agent=make_agent)


def test_a_per_fold_pattern_refuses_another_folds_checkpoint_and_needs_fit(plain_pattern):
    with pytest.raises(ValueError, match="not on fold 0's training tasks"):
        GRPOformerAgent(plain_pattern).fit([load_hpobench_nn("car"), load_hpobench_nn("segment")], seed=0)
    agent = GRPOformerAgent(plain_pattern)  # not fitted: which fold's checkpoint is unknown
    env = gym.make("HPO-OpenML-v0", task="vehicle", budget=3)
    obs, _ = env.reset(seed=0)
    agent.reset(env.unwrapped.space, seed=0)
    with pytest.raises(RuntimeError, match=r"one checkpoint per fold \(\{k\} = fold index\)"):
        agent.act(obs)


def test_a_fold_pattern_may_hold_other_braces(tmp_path):
    """Found in review: `grpoformer:'runs/exp{v2}/fold{k}/policy.pt'` ended hpo-gym bench in a KeyError traceback
    (str.format read {v2} as a field); {k} is replaced literally now."""
    from agents.grpoformer.agent import fold_file

    assert fold_file("runs/exp{v2}/fold{k}/policy.pt", 3) == "runs/exp{v2}/fold3/policy.pt"
    pattern = _train_fold0(tmp_path / "exp{v2}")
    agent = GRPOformerAgent(pattern)
    agent.fit(_tables(), seed=0)
    assert set(agent.trained_on) == set(FOLD_TASKS)  # fold 0 loaded from the directory with braces


def test_negative_warm_start_is_refused(plain_pattern):
    with pytest.raises(ValueError, match="warm_start must be a whole number >= 0"):
        GRPOformerAgent(plain_pattern, warm_start=-1)


def test_warm_start_script_rejects_sets_without_a_fold_pattern(capsys):
    script = load_script("grpoformer_warm_start")
    with pytest.raises(SystemExit):
        script.main(["s0=runs/x/policy.pt"])
    assert "{k} for the fold index" in capsys.readouterr().err


def test_the_shipped_checkpoint_is_reported_in_sample_on_its_training_tasks_and_held_out_under_kfold():
    """The shipped checkpoint trained on all 8 tables: under --protocol all its rows are in-sample (and say so),
    under k-fold each fold's checkpoint never saw the fold's held-out task."""
    from hpo_gym.benchmark import run_benchmark
    from hpo_gym.benchmark.report import markdown_report

    assert GRPOformerAgent().trained_on == tuple(sorted(HPOBENCH_NN_TASKS))
    with pytest.warns(UserWarning, match="in-sample results: grpoformer on credit_g"):
        shipped = run_benchmark(["grpoformer"], only_tasks=["credit_g"], budget=3, seeds=1, resolve_agent=make_agent,
                                progress=False)
    assert shipped["in_sample"].all() and "no (in-sample)" in markdown_report(shipped)
    held = run_benchmark(["grpoformer"], only_tasks=["credit_g"], budget=3, seeds=1, resolve_agent=make_agent,
                         protocol="kfold", folds=4, progress=False)
    assert not held["in_sample"].any() and held["heldout"].all()


def test_a_file_that_is_not_a_checkpoint_is_named_as_such(tmp_path):
    """A wrong path (a text file, another torch object, another network's weights) used to surface as torch's
    UnpicklingError / KeyError deep inside loading."""
    import torch

    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    torch.save({"a": 1}, tmp_path / "dict.pt")
    torch.save({"config": {"d_model": 64}, "state_dict": {}}, tmp_path / "other_net.pt")
    torch.save({"config": {"d_model": 50}, "state_dict": {}}, tmp_path / "odd_width.pt")  # was a bare AssertionError
    for path, reason in [(text, "torch cannot read it"), (tmp_path / "dict.pt", "holds no 'config' and 'state_dict'"),
                         (tmp_path / "other_net.pt", "its network does not match"),
                         (tmp_path / "odd_width.pt", "d_model=50 .* must be a multiple of n_heads=4")]:
        with pytest.raises(ValueError, match=f"is not a GRPOformer checkpoint .*hpo-gym train-grpoformer.*{reason}"):
            GRPOformerAgent(path)
    with pytest.raises(FileNotFoundError, match="not found; train one"):
        GRPOformerAgent(tmp_path / "missing.pt")


def test_a_checkpoint_whose_metadata_is_none_loads(tmp_path):
    """A hand-made file with ``extra: None`` failed with an AttributeError on ``None.get``: it is a checkpoint without
    metadata (features version 1, no training tasks)."""
    import torch

    from agents.grpoformer.policy import GRPOformerPolicy, PolicyConfig, load_policy

    policy = GRPOformerPolicy(PolicyConfig())
    torch.save({"config": {}, "state_dict": policy.state_dict(), "extra": None}, tmp_path / "bare.pt")
    with pytest.warns(UserWarning, match="input features of version 1"):
        loaded, meta = load_policy(tmp_path / "bare.pt")
    assert meta == {} and all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                                policy.state_dict().values()))


@pytest.mark.parametrize("bad, message", [({"d_model": 50}, "must be a multiple of n_heads=4"),
                                          ({"n_layers": 0}, "n_layers=0: needs a whole number >= 1"),
                                          ({"dropout": 1.0}, r"dropout=1.0: needs a probability in \[0, 1\)")])
def test_policy_config_refuses_sizes_torch_would_assert_on(bad, message):
    from agents.grpoformer.policy import PolicyConfig

    with pytest.raises(ValueError, match=message):
        PolicyConfig(**bad)


@pytest.mark.parametrize("kwargs, message", [({"group_size": 0}, "group_size must be an integer >= 1"),
                                             ({"group_size": 2.5}, "group_size must be an integer >= 1"),
                                             # 2.5 was cut to 2 (mode_first) or played 3 entries (warm_start), True as 1
                                             ({"mode_first": 2.5}, r"mode_first must be a whole number >= 0 \(got 2.5\)"),
                                             ({"mode_first": True}, r"mode_first must be a whole number >= 0 \(got True\)"),
                                             ({"warm_start": 2.5}, "warm_start must be a whole number >= 0 of portfolio"),
                                             ({"device": "banana"}, "device='banana' is not a torch device"),
                                             ({"device": "cpu:0"}, "device='cpu:0': torch has one CPU device")])
def test_bad_agent_settings_are_refused_when_the_agent_is_built(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRPOformerAgent(**kwargs)


def test_numpy_integers_are_whole_numbers_for_every_count_of_the_agent():
    """group_size=np.int64(8) (a sweep over np.arange) was refused as "must be an integer (got np.int64(8))"."""
    agent = GRPOformerAgent(group_size=np.int64(8), select_after=np.int64(10), mode_first=np.int64(1),
                            warm_start=np.int64(0))
    assert (agent.group_size, agent.select_after, agent.mode_first, agent.warm_start) == (8, 10, 1, 0)
    assert all(type(v) is int for v in (agent.group_size, agent.select_after, agent.mode_first, agent.warm_start))


def test_a_benchmark_checks_the_fold_checkpoints_it_needs_before_any_run(tmp_path, plain_pattern):
    """A fold checkpoint missing (or of another fold) failed that fold's runs one by one, the stored failures then
    locked the directory ('files changed'), and a --warm-start checkpoint failed every run outside k-fold."""
    from hpo_gym.benchmark import run_benchmark

    tasks = ["vehicle", "car", *FOLD_TASKS]  # 2 folds: fold 0 trains on kc1 + credit_g, as plain_pattern's fold0 did
    kwargs = dict(budget=3, seeds=1, protocol="kfold", folds=2, resolve_agent=make_agent, progress=False)
    with pytest.raises(ValueError, match=r"fold 1: .*fold1/policy.pt is missing \(train it: hpo-gym train-grpoformer "
                                         r"--holdout kc1,credit_g --seed 1 --out .*fold1\)"):
        run_benchmark([f"grpoformer:{plain_pattern}"], tasks, out=tmp_path / "b", **kwargs)
    assert not (tmp_path / "b").exists()  # nothing stored, so nothing locks the directory
    df = run_benchmark([f"grpoformer:{plain_pattern}"], tasks, only_tasks=["vehicle"], out=tmp_path / "b", **kwargs)
    assert (df["status"] == "ok").all() and set(df["task"]) == {"vehicle"}  # only fold 0 is needed: it runs
    with pytest.raises(ValueError, match=r"fold 0: .*fold0/policy.pt was trained on \['credit_g', 'kc1'\], not on "
                                         r"fold 0's training tasks \['car', 'vehicle'\]"):
        run_benchmark([f"grpoformer:{plain_pattern}"], tasks[::-1], only_tasks=["kc1"], **kwargs)
    ws_path = _train_fold0(tmp_path / "ws", warm_start=2).format(k=0)
    with pytest.raises(ValueError, match="opens each run with 2 portfolio trials .* use --protocol kfold"):
        run_benchmark([f"grpoformer:{ws_path}"], ["vehicle"], budget=3, seeds=1, resolve_agent=make_agent, progress=False)


def test_a_shipped_fold_checkpoint_under_another_folds_key_is_refused(tmp_path, monkeypatch):
    """The default agent finds its fold checkpoint by a key of the fold's training tasks; a file under the wrong key
    (fold 1's checkpoint as fold 0's) was played on tasks it had trained on and reported as held-out."""
    import shutil

    import agents.grpoformer.agent as agent_module
    from agents.grpoformer.agent import CHECKPOINT_DIR, fold_key
    from hpo_gym.benchmark.runner import kfold_splits
    from hpo_gym.suites import HPOBENCH_NN_TASKS, load_hpobench_nn

    tasks = list(HPOBENCH_NN_TASKS)
    folds = kfold_splits(tasks, 4)
    train0, train1 = ([t for t in tasks if t not in held] for held in folds[:2])
    copy = tmp_path / "checkpoints"
    shutil.copytree(CHECKPOINT_DIR, copy)
    shutil.copy(copy / "folds" / f"{fold_key(train1, 1)}.pt", copy / "folds" / f"{fold_key(train0, 0)}.pt")
    monkeypatch.setattr(agent_module, "CHECKPOINT_DIR", copy)
    monkeypatch.setenv("HPO_GYM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=r"was trained on .*'credit_g'.*not on fold 0's training tasks"):
        GRPOformerAgent().fit([load_hpobench_nn(t) for t in train0], seed=0)
    GRPOformerAgent().fit([load_hpobench_nn(t) for t in train1], seed=1)  # in its own place it loads


def test_the_protocol_script_plays_the_fold_checkpoints_it_trained_for_another_recipe(tmp_path):
    """`benchmarks/grpoformer_vs_tpe.py --updates N` trained its folds into OUT/fold{k} and then benchmarked the default
    agent, which plays the shipped recipe's checkpoints: the report's GRPOformer rows were not the run's."""
    import shutil

    from agents.grpoformer.agent import SHIPPED_CHECKPOINT

    script = load_script("grpoformer_vs_tpe")
    elsewhere = tmp_path / "shipped_for_that_recipe.pt"
    shutil.copy(SHIPPED_CHECKPOINT, elsewhere)
    (tmp_path / "fold1").mkdir()
    shutil.copy(SHIPPED_CHECKPOINT, tmp_path / "fold1" / "policy.pt")
    facts = {0: {"checkpoint": str(elsewhere)}, 1: {"checkpoint": str(tmp_path / "fold1" / "policy.pt")}}
    assert script.fold_checkpoint_spec(tmp_path, TrainConfig(), facts) == "grpoformer"  # the shipped recipe's own
    spec_string = script.fold_checkpoint_spec(tmp_path, TrainConfig(updates=250), facts)
    assert spec_string == f"grpoformer:{tmp_path}/fold{{k}}/policy.pt"
    assert (tmp_path / "fold0" / "policy.pt").read_bytes() == elsewhere.read_bytes()  # copied where the spec plays it


def test_a_checkpoint_path_with_a_tilde_is_expanded_and_the_policy_alone_has_its_own_name(tmp_path, monkeypatch):
    """`--agents grpoformer:~/run/policy.pt` reached Path('~/run/policy.pt') (no shell expands ~ after a colon), and
    grpoformer-policy called itself "grpoformer", which base.Agent says identifies the agent in results."""
    import shutil

    from agents.grpoformer.agent import SHIPPED_CHECKPOINT

    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copy(SHIPPED_CHECKPOINT, tmp_path / "policy.pt")
    agent = make_agent("grpoformer:~/policy.pt")
    assert agent.checkpoint == tmp_path / "policy.pt" and agent.checkpoint.exists()
    assert make_agent("grpoformer-policy").name == "grpoformer-policy" and make_agent("grpoformer").name == "grpoformer"
