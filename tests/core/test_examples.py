"""The examples under ``examples/`` run as the README says: a file nobody runs drifts from the code unnoticed."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from tests.readme_examples import README

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_cleanrl_style_agent_is_fitted_per_fold_and_scored_held_out_under_its_label(tmp_path, monkeypatch):
    """The README's command for ``examples/cleanrl_style_agent.py``, on one fold's task with a short training: the
    agent is fitted on the fold's training tasks only (its ``trained_on``), plays seeded held-out runs under the label
    ``mine``, and a rerun resumes from the stored runs without refitting."""
    from hpo_gym.benchmark import ResultStore
    from hpo_gym.cli import main

    assert "PYTHONPATH=examples hpo-gym bench --agents random,tpe,mine=cleanrl_style_agent:ReinforceAgent" in \
        README.read_text().replace("\n", " ")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    (tmp_path / "quick_reinforce.py").write_text(
        "from cleanrl_style_agent import ReinforceAgent\n\n\ndef quick():\n    return ReinforceAgent(iterations=3, num_envs=4)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    command = ["bench", "--agents", "random,mine=quick_reinforce:quick", "--protocol", "kfold", "--tasks", "car",
               "--budget", "6", "--seeds", "2", "--out", str(tmp_path / "out"), "--no-report"]
    assert main(command) == 0
    runs = ResultStore(tmp_path / "out").load()
    mine = runs[runs["agent"] == "mine"]
    assert (mine["status"] == "ok").all() and mine["heldout"].all() and not mine["in_sample"].any()
    assert mine.groupby("seed")["step"].max().tolist() == [6, 6]
    first_configs = mine[mine["step"] == 1]["config"].tolist()
    assert first_configs[0] != first_configs[1]  # seeded per run: the two seeds start apart
    [fitted] = (tmp_path / "out" / "fitted").glob("*.pkl")
    agent = pickle.loads(fitted.read_bytes())
    assert set(agent.trained_on) == {"credit_g", "vehicle", "kc1", "phoneme", "blood_transfusion", "australian"}
    assert np.isfinite(next(agent.policy.parameters()).detach().numpy()).all()
    assert main(command) == 0 and ResultStore(tmp_path / "out").load().equals(runs)
