"""Rules of the shared episode state, the torch thread guard and the cache folder that the other tests left unpinned
(found by hand mutation testing): each test names the behaviour it pins and why it matters."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs_registry  # noqa: F401
from hpo_gym.episode import History, check_budget, is_whole_number, positive_count, repeated, space_descriptor
from hpo_gym.space import Categorical, Float, Int, SearchSpace


def test_a_bool_is_no_whole_number_and_no_positive_count():
    """``True`` is an int to Python: taken as a count it would silently mean 1 (``budget=True`` a one-step episode,
    ``num_envs=True`` one env). ``is_whole_number`` must refuse it, and so every count checked with it."""
    assert not is_whole_number(True) and not is_whole_number(np.bool_(True))
    assert is_whole_number(3) and is_whole_number(np.int64(3))
    with pytest.raises(ValueError, match="budget must be a positive integer, got True"):
        check_budget(True)
    with pytest.raises(ValueError, match="budget must be a positive integer, got True"):
        gym.make("HPO-OpenML-v0", budget=True)


def test_a_numpy_count_comes_back_as_a_python_int():
    """``positive_count`` returns ``int(value)``: a ``np.int64`` budget or seed count kept as NumPy would reach the
    harness's JSON records and ``json.dumps`` refuses ``np.int64``."""
    for got in (positive_count(np.int64(7), "n"), check_budget(np.int32(5))):
        assert type(got) is int
    assert json.dumps({"budget": check_budget(np.int64(5))}) == '{"budget": 5}'


def test_repeated_names_each_item_given_twice_or_more_sorted():
    """The harness and the commands refuse a task, seed or agent listed twice, naming ``repeated``'s list: an item
    given exactly twice must be in it (not only three times), and the list is sorted so the message is stable."""
    assert repeated([3, 1, 3, 2, 1]) == [1, 3]
    assert repeated(["kc1", "car", "kc1", "car"]) == ["car", "kc1"]
    assert repeated(["b", "a", "b", "a", "b"]) == ["a", "b"]
    assert repeated([0, 1, 2]) == []


def test_every_observation_array_has_its_spaces_dtype():
    """Each observation array has the dtype its space declares (``dim_log`` int8 as MultiBinary, ``dim_kind`` int64 as
    MultiDiscrete, float32 Boxes): Gymnasium's ``contains`` does not compare dtypes, so a float ``dim_log`` would pass
    it, but a replay buffer or a model typed by the space would get a different array."""
    space = SearchSpace([Float("lr", 1e-4, 1.0, log=True), Categorical("kernel", ["rbf", "linear"]), Int("d", 1, 8)])
    desc = space_descriptor(space, 6)
    assert desc["dim_kind"].dtype == np.int64 and desc["dim_choices"].dtype == np.float32
    assert desc["dim_log"].dtype == np.int8 and desc["dim_log"].tolist() == [1, 0, 0, 0, 0, 0]
    env = gym.make("HPO-OpenML-v0", budget=3)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(env.action_space.sample())
    for key, sub in env.observation_space.spaces.items():
        assert obs[key].dtype == sub.dtype, key
    env.close()


def test_a_reset_forgets_the_previous_episodes_incumbent_noise_free_score():
    """``reset`` sets ``best_true`` back to -inf with ``best``: an episode whose first score is no number (NaN never
    beats -inf) must not report the previous episode's incumbent as its own in a regret reward."""
    space = SearchSpace([Float("a", 0.0, 1.0)])
    hist = History(2, 3, 4)
    hist.reset(np.array([0, 1]), space)
    hist.record(0, np.array([0.5], np.float32), 0.9, 0.8)
    hist.record_batch(np.array([1]), np.array([[0.5]], np.float32), np.array([0.7]), np.array([0.6]))
    hist.reset(np.array([0, 1]), space)
    assert hist.best_true.tolist() == [-np.inf, -np.inf] and hist.best.tolist() == [-np.inf, -np.inf]
    hist.record(0, np.array([0.5], np.float32), float("nan"), float("nan"))
    assert hist.best_true[0] == -np.inf


def test_torch_threads_sets_the_count_it_is_given():
    """``torch_threads(n)`` runs the block on ``n`` threads, not always one, and restores the count after it."""
    import torch

    from hpo_gym.threads import torch_threads

    before = torch.get_num_threads()
    with torch_threads(3):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before


def test_the_cache_folder_expands_a_tilde_and_ignores_an_empty_variable(monkeypatch, tmp_path):
    """``HPO_GYM_CACHE=~/x`` means the home folder's ``x`` (a shell does not expand ``~`` inside quotes or a .env
    file): without ``expanduser`` a folder literally named ``~`` appeared in the working directory. An empty variable
    (``HPO_GYM_CACHE=``) means unset, not the working directory."""
    from hpo_gym.paths import ENV_CACHE_DIR, default_cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(ENV_CACHE_DIR, "~/hpo-cache")
    assert default_cache_dir() == tmp_path / "hpo-cache"
    monkeypatch.setenv(ENV_CACHE_DIR, "")
    assert default_cache_dir() == tmp_path / ".cache" / "hpo-gym"
    monkeypatch.delenv(ENV_CACHE_DIR)
    assert default_cache_dir() == Path.home() / ".cache" / "hpo-gym" == tmp_path / ".cache" / "hpo-gym"
