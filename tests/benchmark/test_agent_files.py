"""A result directory records the content of the files an agent plays from, so a checkpoint retrained in place
under the same path is never credited with the old checkpoint's stored runs."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from agents.grpoformer.agent import SHIPPED_CHECKPOINT
from agents.registry import make_agent
from hpo_gym.benchmark import run_benchmark
from hpo_gym.fingerprint import files_fingerprint

pytestmark = pytest.mark.filterwarnings("ignore:in-sample results")  # the shipped checkpoint saw credit_g
FOLD_CHECKPOINT = sorted((SHIPPED_CHECKPOINT.parent / "folds").glob("*.pt"))[0]


def _bench(agent: str, out):
    return run_benchmark([agent], tasks=["credit_g"], budget=3, seeds=2, out=out, resolve_agent=make_agent, progress=False)


def test_a_checkpoint_replaced_under_the_same_path_is_refused_not_resumed(tmp_path):
    ckpt = tmp_path / "policy.pt"
    shutil.copy(SHIPPED_CHECKPOINT, ckpt)
    agent, out = f"grpoformer-policy:{ckpt}", tmp_path / "bench"  # the policy alone: its files are all it plays from
    first = _bench(agent, out)
    assert json.loads((out / "agents.json").read_text()) == {agent: files_fingerprint([ckpt])}
    assert _bench(agent, out).equals(first)  # the same file: a resume returns the stored runs
    shutil.copy(FOLD_CHECKPOINT, ckpt)  # retrained in place, as `train-grpoformer --out` does
    with pytest.raises(ValueError, match=r"holds runs of agents whose files or settings have changed since: 'grpoformer-policy:.*policy\.pt' "
                                         r"\(stored [0-9a-f]{16}, now [0-9a-f]{16}\).*Use another --out directory"):
        _bench(agent, out)
    assert len(_bench(agent, tmp_path / "fresh")) == len(first)  # a new directory runs the new checkpoint


def test_a_fold_pattern_is_fingerprinted_over_every_fold_file(tmp_path):
    for k in range(2):
        shutil.copy(SHIPPED_CHECKPOINT, tmp_path / f"fold{k}.pt")
    pattern = f"grpoformer-policy:{tmp_path}/fold{{k}}.pt"
    before = make_agent(pattern).fingerprint
    assert before == files_fingerprint([tmp_path / "fold0.pt", tmp_path / "fold1.pt"])
    shutil.copy(FOLD_CHECKPOINT, tmp_path / "fold1.pt")  # one fold retrained
    assert make_agent(pattern).fingerprint != before


def test_the_shipped_checkpoints_are_fingerprinted_too(tmp_path, monkeypatch):
    """The shipped checkpoints change only with the package, but they did change (retrained for input features v2):
    an earlier package's stored runs in a result directory were returned as the new checkpoints' runs."""
    import agents.grpoformer.agent as agent_module

    shipped = [SHIPPED_CHECKPOINT, *sorted((SHIPPED_CHECKPOINT.parent / "folds").glob("*.pt"))]
    assert make_agent("grpoformer-policy").fingerprint == files_fingerprint(shipped)
    assert make_agent("grpoformer").fingerprint == files_fingerprint(shipped) + make_agent("grpoformer").selection_tag
    copy = tmp_path / "checkpoints"
    shutil.copytree(SHIPPED_CHECKPOINT.parent, copy)
    monkeypatch.setattr(agent_module, "CHECKPOINT_DIR", copy)
    monkeypatch.setattr(agent_module, "SHIPPED_CHECKPOINT", copy / SHIPPED_CHECKPOINT.name)
    before = make_agent("grpoformer").fingerprint
    shutil.copy(FOLD_CHECKPOINT, copy / "folds" / sorted(p.name for p in (copy / "folds").glob("*.pt"))[-1])
    assert make_agent("grpoformer").fingerprint != before  # one fold checkpoint re-shipped


def test_runs_stored_before_files_were_recorded_are_not_checked_and_say_so(tmp_path):
    ckpt = tmp_path / "policy.pt"
    shutil.copy(SHIPPED_CHECKPOINT, ckpt)
    agent, out = f"grpoformer:{ckpt}", tmp_path / "bench"
    _bench(agent, out)
    (out / "agents.json").unlink()  # a directory from before this check
    with pytest.warns(RuntimeWarning, match=r"has runs of \['grpoformer:.*'\] from before agent files were recorded"):
        _bench(agent, out)
    assert not (out / "agents.json").exists()  # nothing recorded: which file those runs came from is unknown


def test_a_checkpoint_replaced_while_the_benchmark_runs_stops_it_instead_of_mixing_two_models(tmp_path):
    from hpo_gym.benchmark.runner import AgentFilesChanged

    ckpt = tmp_path / "policy.pt"
    shutil.copy(SHIPPED_CHECKPOINT, ckpt)
    builds = []

    def resolve(spec):  # the registry, while a training run finishes into the same path after the first run
        builds.append(spec)
        if len(builds) == 3:  # 1: the harness's check before any run, 2: run 1, 3: run 2
            shutil.copy(FOLD_CHECKPOINT, ckpt)
        return make_agent(spec)

    out = tmp_path / "bench"
    with pytest.raises(AgentFilesChanged, match=r"the files of agent 'grpoformer:.*policy\.pt' changed while this "
                                                r"benchmark ran .*the runs stored so far are of the first"):
        run_benchmark([f"grpoformer:{ckpt}"], tasks=["credit_g"], budget=3, seeds=3, out=out, resolve_agent=resolve,
                      progress=False)
    assert len(list((out / "runs").glob("*.parquet"))) == 1  # the first checkpoint's run, kept; nothing of the second


def test_a_directory_without_runs_of_the_agent_takes_its_new_files(tmp_path):
    """A first command killed before the agent's first run left agents.json behind, which then refused the retrained
    checkpoint with 'holds runs', although it held none (the README says such a directory takes new settings)."""
    from hpo_gym.benchmark.store import ResultStore, _slug

    ckpt = tmp_path / "policy.pt"
    shutil.copy(SHIPPED_CHECKPOINT, ckpt)
    agent, out = f"grpoformer-policy:{ckpt}", tmp_path / "bench"
    first = _bench(agent, out)
    store = ResultStore(out)
    for shard in store.shard_paths():  # as if killed before any run was stored
        shard.unlink()
    (out / "fitted").mkdir(exist_ok=True)
    stale_fit = out / "fitted" / f"{_slug(agent)}__fold0__0123456789.pkl"
    stale_fit.write_bytes(b"a fit of the old checkpoint")
    shutil.copy(FOLD_CHECKPOINT, ckpt)  # retrained in place
    again = _bench(agent, out)
    assert json.loads((out / "agents.json").read_text()) == {agent: files_fingerprint([ckpt])}
    assert len(again) == len(first) and not again["config"].equals(first["config"]) and not stale_fit.exists()


def test_a_fold_fit_cached_before_the_files_changed_is_not_played_under_another_label(tmp_path):
    """Killed after a fold's fit was cached and before its first run, then the model file replaced in place: the
    fits of changed files were removed by the agent's label, but the cache file was named by its spec, so under a
    label of its own ({"mine": "grpoformer:..."}) the old fit was read back and its runs recorded as the new file's."""
    import torch

    from agents.grpoformer.agent import fold_key
    from agents.grpoformer.policy import load_policy, save_policy
    from hpo_gym.benchmark import ResultStore
    from hpo_gym.benchmark.runner import kfold_splits
    from hpo_gym.suites import HPOBENCH_NN_TASKS

    tasks = list(HPOBENCH_NN_TASKS)
    for k, held in enumerate(kfold_splits(tasks, 4)):
        key = fold_key([t for t in tasks if t not in held], k)
        shutil.copy(SHIPPED_CHECKPOINT.parent / "folds" / f"{key}.pt", tmp_path / f"fold{k}.pt")
    agents = {"mine": f"grpoformer:{tmp_path}/fold{{k}}.pt"}

    def bench(out):
        return run_benchmark(agents, budget=4, seeds=2, out=out, protocol="kfold", folds=4, only_tasks=["credit_g"],
                             resolve_agent=make_agent, progress=False)["config"].tolist()

    old = bench(tmp_path / "bench")
    assert list((tmp_path / "bench" / "fitted").glob("mine__fold0__*.pkl"))  # the fit is cached under the label
    for shard in ResultStore(tmp_path / "bench").shard_paths():
        shard.unlink()  # killed after the fit was cached, before a run was stored
    policy, extra = load_policy(tmp_path / "fold0.pt")
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.5 * torch.randn_like(p))
    save_policy(policy, tmp_path / "fold0.pt", extra)  # retrained in place
    new = bench(tmp_path / "fresh")
    assert new != old and bench(tmp_path / "bench") == new


MINE = "from agents.random_search import RandomSearch\n\n\nclass Mine(RandomSearch):\n    STEPS = {steps}\n"


def _write_module(folder, name: str, text: str):
    (folder / f"{name}.py").write_text(text)
    return folder / f"{name}.py"


def test_an_edited_agent_module_is_another_agent_and_its_stored_runs_are_not_returned(tmp_path, monkeypatch):
    """Found by a new user: an agent of the user's (``--agents my_agents:MyAgent``) was recorded by its class name
    only, so after an edit of its module a rerun into the same directory exited 0 and averaged the old code's runs (and
    played its pickled fits) with the new code's under one label. The module's content is now part of the record, so
    the rerun is refused, and a resume of unchanged code still returns the stored runs."""
    monkeypatch.syspath_prepend(str(tmp_path))
    module = _write_module(tmp_path, "edited_agent", MINE.format(steps=1))
    out = tmp_path / "bench"
    first = _bench("edited_agent:Mine", out)
    recorded = json.loads((out / "agents.json").read_text())["edited_agent:Mine"]
    assert recorded.startswith("agent: edited_agent.Mine random code ")
    assert _bench("edited_agent:Mine", out).equals(first)  # unchanged code: a resume
    module.write_text(MINE.format(steps=2))
    with pytest.raises(ValueError, match=r"'edited_agent:Mine' \(stored agent: edited_agent.Mine random code [0-9a-f]{12}, "
                                         r"now agent: edited_agent.Mine random code [0-9a-f]{12}\).*their code was edited"):
        _bench("edited_agent:Mine", out)
    # a directory recorded before the code was: the same class resumes, and its record is completed
    (out / "agents.json").write_text(json.dumps({"edited_agent:Mine": "agent: edited_agent.Mine random"}))
    assert _bench("edited_agent:Mine", out).equals(first)
    assert json.loads((out / "agents.json").read_text())["edited_agent:Mine"] != recorded  # now the edited code's


def test_a_factory_of_the_users_counts_a_new_agent_beside_it_does_not_and_library_agents_carry_no_hash(tmp_path,
                                                                                                     monkeypatch):
    """``my_agents:make`` whose ``make()`` builds a library class with the user's settings: an edit of ``make`` is an
    edit of the agent. A second agent added to the same module is none (found by a second user: hashing the whole
    module refused every stored agent of it). An agent of the package's own carries no code hash, so directories of
    ``random`` or ``tpe`` stay as earlier versions recorded them."""
    from hpo_gym.benchmark.runner import agent_identity

    monkeypatch.syspath_prepend(str(tmp_path))
    factory = "from agents.optuna_agents import OptunaAgent\n\n\ndef make():\n    return OptunaAgent('tpe'{more})\n"
    module = _write_module(tmp_path, "factory_agents", factory.format(more=""))

    def identity() -> str:
        sys.modules.pop("factory_agents", None)  # as a new command imports it
        return agent_identity(make_agent("factory_agents:make"), "factory_agents:make")

    before = identity()
    assert before.startswith("agent: agents.optuna_agents.OptunaAgent tpe code ")
    module.write_text(factory.format(more="") + "\n\nclass Another:\n    pass\n")
    assert identity() == before  # another agent beside it
    module.write_text(factory.format(more=", initial_configs=None"))
    assert identity() != before  # the factory's own source changed
    assert agent_identity(make_agent("tpe"), "tpe") == "agent: agents.optuna_agents.OptunaAgent tpe"


def test_the_script_that_runs_the_benchmark_counts_only_the_agent_it_defines(tmp_path, monkeypatch):
    """A class defined in the script that calls ``run_benchmark`` (``__main__``): that script also holds the run's
    settings, so an edit of ``seeds=`` must stay a resume, while an edit of the class is another agent; a lambda there
    carries no code of its own (its source line is the ``run_benchmark`` call itself)."""
    import importlib.util

    from hpo_gym.user_code import users_code_fingerprint

    def load_as_main(text: str):  # the script run as `python driver.py`
        path = _write_module(tmp_path, "driver", text)
        spec = importlib.util.spec_from_file_location("__main__", path)
        script = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "__main__", script)
        spec.loader.exec_module(script)
        return script

    agent = "class Mine:\n    steps = {steps}\n\n\nfactory = lambda: Mine()\nSEEDS = {seeds}\n"
    first = load_as_main(agent.format(steps=1, seeds=1))
    fingerprint = users_code_fingerprint(first.Mine)
    assert fingerprint and users_code_fingerprint(first.factory) == ""
    assert users_code_fingerprint(load_as_main(agent.format(steps=1, seeds=3)).Mine) == fingerprint  # more seeds
    assert users_code_fingerprint(load_as_main(agent.format(steps=2, seeds=3)).Mine) != fingerprint  # another agent


def test_an_edit_of_a_base_class_of_the_users_is_an_edit_of_the_agent(tmp_path, monkeypatch):
    """The agent's class is often a thin subclass of the user's own base (a shared policy, a shared training loop):
    an edit there changes the agent as much as one in the subclass, so the base's source is part of the hash."""
    from hpo_gym.user_code import users_code_fingerprint

    monkeypatch.syspath_prepend(str(tmp_path))
    text = ("from agents.random_search import RandomSearch\n\n\nclass Base(RandomSearch):\n    lr = {lr}\n\n\n"
            "class Mine(Base):\n    pass\n")

    def fingerprint(lr: float) -> str:
        _write_module(tmp_path, "based_agents", text.format(lr=lr))
        sys.modules.pop("based_agents", None)
        return users_code_fingerprint(make_agent("based_agents:Mine").__class__)

    assert fingerprint(0.1) == fingerprint(0.1) != fingerprint(0.2)
