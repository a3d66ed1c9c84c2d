"""What a training run records about itself: held-out tasks kept apart from training ones, the held-out monitoring's
table lookups counted, a log that a resume restores exactly, and an update that copes with a state subset narrower
than its rollout. Real HPOBench tables, real (tiny) training runs."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from agents.grpoformer.learner import LearnerConfig, StateBuffer, collect, update
from agents.grpoformer.policy import GRPOformerPolicy
from agents.grpoformer.synthetic import random_objective
from agents.grpoformer.train import TrainConfig, heldout_episodes, train
from hpo_gym.suites import load_hpobench_nn

TINY = dict(updates=2, synthetic=0, eval_every=1, eval_seeds=2, ckpt_every=1,
            learner=LearnerConfig(episodes=4, horizon=5, update_states=0, minibatch=40))


def test_a_heldout_task_that_is_also_trained_on_or_given_twice_is_refused(tmp_path):
    """``train`` is public API: only the CLI built the training set as the suite minus the held-out tasks, so a
    held-out regret could silently be measured on a training table (also one renamed), or count a task twice."""
    kc1, car = load_hpobench_nn("kc1"), load_hpobench_nn("car")
    renamed = copy.copy(kc1)
    renamed.name = "kc1_copy"
    cfg = TrainConfig(**TINY)
    with pytest.raises(ValueError, match=r"held-out task\(s\) \['kc1'\] are also training tasks"):
        train([kc1, car], tmp_path / "a", cfg, holdout=[kc1], progress=False)
    with pytest.raises(ValueError, match=r"held-out task\(s\) \['kc1_copy'\] are also training tasks .*table data"):
        train([kc1, car], tmp_path / "b", cfg, holdout=[renamed], progress=False)
    credit_g = load_hpobench_nn("credit_g")
    with pytest.raises(ValueError, match=r"held-out task\(s\) \['credit_g'\] given more than once"):
        train([kc1, car], tmp_path / "c", cfg, holdout=[credit_g, credit_g], progress=False)
    assert not any((tmp_path / d).exists() for d in "abc")  # refused before the run directory is made


def test_heldout_monitoring_looks_up_one_cell_per_trial_and_logs_the_count(tmp_path, monkeypatch):
    """The monitoring used to look up all G candidates per step (8x the lookups, none of them logged) though only the
    continued one moves the regret; it now spends one lookup per trial, as the agent does, and logs them apart
    from the training evaluations."""
    credit_g = load_hpobench_nn("credit_g")
    policy = GRPOformerPolicy().eval()
    calls: list[int] = []
    lookup = credit_g.lookup

    def counted(cells, *a, **k):
        calls.append(len(cells))
        return lookup(cells, *a, **k)

    # monkeypatch puts it back: the table is the process's cached one, and a local function left on it made every
    # later test that pickles credit_g fail (found by a reverse-order run)
    monkeypatch.setattr(credit_g, "lookup", counted)
    regret, n = heldout_episodes(policy, [credit_g], seeds=3, budget=6)
    assert n == sum(calls) == 3 * 6 and 0.0 <= regret <= 1.0

    cfg = TrainConfig(**TINY)
    train([load_hpobench_nn("kc1")], tmp_path, cfg, holdout=[load_hpobench_nn("vehicle")], progress=False)
    log = pd.read_csv(tmp_path / "log.csv")
    per_eval = 1 * cfg.eval_seeds * cfg.learner.horizon  # one held-out task
    assert list(log["heldout_evaluations"]) == [per_eval, 2 * per_eval]
    per_update = cfg.learner.episodes * cfg.learner.horizon * cfg.learner.group_size  # training lookups, unchanged
    assert list(log["evaluations"]) == [per_update, 2 * per_update]


def test_resume_restores_the_log_from_the_state_when_log_csv_lost_rows(tmp_path):
    """log.csv is appended without a sync to disk, the state is saved atomically and synced: after a machine crash
    the log can lack rows or end torn while the state survives. The state now carries the rows, so the resume
    writes them back exactly; the continued run equals an uninterrupted one."""
    kc1 = load_hpobench_nn("kc1")
    whole = tmp_path / "whole"
    train([kc1], whole, TrainConfig(**{**TINY, "updates": 3}), progress=False)
    crashed = tmp_path / "crashed"
    train([kc1], crashed, TrainConfig(**TINY), progress=False)
    header = (crashed / "log.csv").read_text().splitlines()[0]
    (crashed / "log.csv").write_text(header + "\n1,80\x00\x00")  # row 2 lost, row 1 torn, NUL bytes after a crash
    train([kc1], crashed, TrainConfig(**{**TINY, "updates": 3}), resume=True, progress=False)
    a, b = pd.read_csv(whole / "log.csv"), pd.read_csv(crashed / "log.csv")
    assert list(b["update"]) == [1, 2, 3]
    pd.testing.assert_frame_equal(a.drop(columns="wall_s"), b.drop(columns="wall_s"))


def test_a_state_saved_without_its_log_rows_checks_log_csv_and_names_the_fix(tmp_path):
    """States written before the rows were saved with them resume from log.csv, which must hold each update once."""
    kc1 = load_hpobench_nn("kc1")
    out = tmp_path / "run"
    train([kc1], out, TrainConfig(**TINY), progress=False)
    state = torch.load(out / "state.pt", weights_only=False)
    del state["log"]
    torch.save(state, out / "state.pt")
    rows = (out / "log.csv").read_text().splitlines()
    (out / "log.csv").write_text("\n".join(rows[:2]) + "\n")  # header and update 1: update 2 lost
    with pytest.raises(ValueError, match=r"log.csv does not hold updates 1..2 once each.*remove .* to start over"):
        train([kc1], out, TrainConfig(**{**TINY, "updates": 3}), resume=True, progress=False)
    (out / "log.csv").write_text("\n".join(rows) + "\n")
    train([kc1], out, TrainConfig(**{**TINY, "updates": 3}), resume=True, progress=False)
    assert list(pd.read_csv(out / "log.csv")["update"]) == [1, 2, 3]


def test_an_update_whose_state_subset_misses_the_widest_space_trains():
    """The subset of states an update trains on is featurized at its own widest search space; the actions kept the
    rollout's width, and gather failed whenever the subset held no state of the widest task (1 seed in 20 below).
    The extra columns are padding dimensions, always bin 0, and are dropped."""
    syn = random_objective(np.random.default_rng(1), "syn8", min_dims=8, max_dims=8, max_cells=3000)
    pool = [load_hpobench_nn("kc1"), syn]  # 5 and 8 dimensions
    cfg = LearnerConfig(episodes=4, horizon=5, update_states=6, minibatch=3)
    narrower = 0
    for seed in range(20):
        torch.manual_seed(seed)
        policy = GRPOformerPolicy()
        optimizer = torch.optim.Adam(policy.parameters(), 1e-3)
        rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
        ro = collect(policy, pool, cfg, rng, gen, weights=np.array([0.75, 0.25]))
        keep = np.sort(copy.deepcopy(rng).choice(len(ro.states["y"]), cfg.update_states, replace=False))
        wide = ro.actions.shape[-1]
        subset_dims = int((ro.states["dim_kind"][keep] > 0).sum(-1).max())
        if subset_dims < wide:
            narrower += 1
            assert not ro.actions[torch.as_tensor(keep)][..., subset_dims:].any()  # what is dropped is padding, bin 0
        stats = update(policy, optimizer, ro, StateBuffer(100), cfg, rng)
        assert np.isfinite(stats["policy_loss"])
    assert narrower >= 1  # the case that crashed was exercised


def test_resume_of_a_finished_run_without_its_state_keeps_the_policy_and_names_the_choices(tmp_path, capsys):
    """A finished run whose 16 MB state.pt was removed: --resume deleted policy.pt, emptied the log and trained from
    update 0 under the message of a run killed before its first state (found in review). Now the same request
    returns the finished policy as it is (as a resume with its state does), and any other is refused by name."""
    from hpo_gym.cli import main

    kc1 = load_hpobench_nn("kc1")
    out = tmp_path / "run"
    trained = train([kc1], out, TrainConfig(**TINY), progress=False)
    (out / "state.pt").unlink()
    policy, log = (out / "policy.pt").read_bytes(), (out / "log.csv").read_text()
    again = train([kc1], out, TrainConfig(**TINY), resume=True, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), again.state_dict().values()))
    for other, named in ((dict(updates=3), r"updates: 2 -> 3"), (dict(seed=1), r"seed: 0 -> 1")):
        with pytest.raises(ValueError, match=rf"{out}/policy.pt was trained with other settings \({named}\); {out} "
                                             "holds a finished policy.pt but no state.pt to continue it from"):
            train([kc1], out, TrainConfig(**{**TINY, **other}), resume=True, progress=False)
    with pytest.raises(ValueError, match=r"was trained on \['kc1'\], not on \['car', 'kc1'\]; .* no state.pt"):
        train([kc1, load_hpobench_nn("car")], out, TrainConfig(**TINY), resume=True, progress=False)
    assert (out / "policy.pt").read_bytes() == policy and (out / "log.csv").read_text() == log
    # a state.pt whose log.csv is gone is continued, and the CLI no longer says it starts a new run
    fresh = tmp_path / "fresh"
    argv = ["train-grpoformer", "--holdout", "credit_g,vehicle,phoneme,segment,car,australian,blood_transfusion",
            "--synthetic", "0", "--budget", "5", "--eval-every", "5", "--out", str(fresh)]
    assert main([*argv, "--updates", "1"]) == 0
    (fresh / "log.csv").unlink()
    (fresh / "policy.pt").unlink()
    capsys.readouterr()
    assert main([*argv, "--updates", "2", "--resume"]) == 0
    assert "holds no training run to continue" not in capsys.readouterr().err
    assert list(pd.read_csv(fresh / "log.csv")["update"]) == [1, 2]


def test_a_state_that_does_not_fit_or_a_checkpoint_with_flipped_bytes_is_named_with_the_fix(tmp_path):
    """torch.load does not check the zip's CRCs: flipped bytes loaded as weights, silently; and a state of another
    network failed with torch's own error, naming no file (found in review)."""
    from agents.grpoformer.policy import load_policy

    kc1 = load_hpobench_nn("kc1")
    out = tmp_path / "run"
    train([kc1], out, TrainConfig(**TINY), progress=False)
    state = torch.load(out / "state.pt", weights_only=False)
    renamed = state["policy"]["state_dict"]
    renamed["renamed"] = renamed.pop(next(iter(renamed)))
    torch.save(state, out / "state.pt")
    with pytest.raises(ValueError, match=rf"{out / 'state.pt'} does not fit this version's network, optimizer or random "
                                         r"state \(RuntimeError: .*\); train into another --out, or remove"):
        train([kc1], out, TrainConfig(**{**TINY, "updates": 3}), resume=True, progress=False)
    data = bytearray((out / "policy.pt").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    (out / "policy.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"policy.pt is damaged: its record .* fails its checksum .*restore it from a "
                                         "copy, or train it again"):
        load_policy(out / "policy.pt")


def test_a_resume_on_other_threads_warns_that_it_is_no_longer_bit_for_bit(tmp_path):
    """torch sums in another order on 2 threads: the resumed run is close to, not equal to, the uninterrupted one."""
    kc1 = load_hpobench_nn("kc1")
    out = tmp_path / "run"
    train([kc1], out, TrainConfig(**TINY), progress=False)
    with pytest.warns(RuntimeWarning, match=r"trained with threads=1, device='cpu'; this resume uses threads=2, "
                                            r"device='cpu': .*close to, not bit for bit as"):
        train([kc1], out, TrainConfig(**{**TINY, "updates": 3, "threads": 2}), resume=True, progress=False)


def test_a_resume_removes_the_temporaries_a_killed_run_left_and_keeps_other_files(tmp_path):
    """A run killed mid-save leaves ``.state.pt.tmp-PID-THREAD`` beside its state; the next run, holding the directory's
    lock, removes it (no other writer can be mid-write) and leaves files that are not its own writers' alone."""
    kc1 = load_hpobench_nn("kc1")
    out = tmp_path / "run"
    train([kc1], out, TrainConfig(**TINY), progress=False)
    killed = [out / ".state.pt.tmp-999999", out / ".policy.pt.tmp-1", out / ".log.csv.tmp-2"]
    other = out / ".notes.txt.tmp-3"
    for p in killed + [other]:
        p.write_bytes(b"half a file")
    train([kc1], out, TrainConfig(**{**TINY, "updates": 3}), resume=True, progress=False)
    assert not any(p.exists() for p in killed) and other.exists()
    assert list(pd.read_csv(out / "log.csv")["update"]) == [1, 2, 3]
