"""openml-python's real download path against the loopback server, then offline from its cache."""

from __future__ import annotations

import sys

import numpy as np
import openml
import pytest
from live_fixtures import BREAST_CANCER, BREAST_CANCER_FALSE_TRUE, DIGITS, IRIS, WINE, openml_on
from openml_server import DATA, OpenMLTestServer

from hpo_gym.live.data import ENV_CACHE, OpenMLUnavailableError, _frame_to_numeric, _load_task_cached, load_task


def _fold0_test_rows(task_id: int) -> np.ndarray:
    lines = (DATA / "tasks" / str(task_id) / "splits.arff").read_text().splitlines()
    return np.array(sorted(int(line.split(",")[1]) for line in lines if line.startswith("TEST,") and line.endswith(",0,0")))


@pytest.fixture()
def private_openml(tmp_path):
    """A server and a cache of this test's own; openml's global config restored afterwards."""
    server = OpenMLTestServer().start()
    with openml_on(server):
        yield server, tmp_path / "openml"
    server.stop() if server._thread and server._thread.is_alive() else None


def test_download_through_openml_then_offline_from_cache(private_openml):
    server, cache = private_openml
    data = load_task(IRIS, cache_dir=cache)
    # openml-python really fetched every piece over HTTP
    assert server.requests == ["/api/v1/xml/task/990001", "/api/v1/xml/data/990101", "/api/v1/xml/data/features/990101",
                               "/data/v1/download/990101/iris.arff", "/api_splits/get/990001/Task_990001_splits.arff"]
    assert data.X.shape == (150, 4) and data.classes == ("setosa", "versicolor", "virginica")
    assert np.bincount(data.y).tolist() == [50, 50, 50]
    # the outer split is the task's own fold 0, and validation rows come from the outer train rows only
    np.testing.assert_array_equal(np.sort(data.test_idx), _fold0_test_rows(IRIS))
    fit, val = data.validation_split(0.33, seed=0)
    assert set(fit) | set(val) == set(data.train_idx) and not set(val) & set(data.test_idx) and not set(fit) & set(val)
    assert sorted(np.bincount(data.y[val]).tolist()) in ([14, 15, 15], [15, 15, 15], [14, 14, 15])  # stratified
    np.testing.assert_array_equal(val, data.validation_split(0.33, seed=0)[1])  # seeded

    server.stop()
    _load_task_cached.cache_clear()
    again = load_task(IRIS, cache_dir=cache)  # no server: openml-python reads its cache
    np.testing.assert_array_equal(again.X, data.X)
    np.testing.assert_array_equal(again.test_idx, data.test_idx)

    with pytest.raises(OpenMLUnavailableError) as err:
        load_task(WINE, cache_dir=cache)
    message = str(err.value)
    assert "OpenML task 990002" in message and str(cache) in message and "hpo-gym fetch 990002" in message
    assert ENV_CACHE in message and err.value.__cause__ is None  # one error, no chained traceback


def test_env_var_chooses_the_cache(private_openml, monkeypatch):
    server, cache = private_openml
    monkeypatch.setenv(ENV_CACHE, str(cache))
    load_task(WINE)
    # openml-python files the server's data under <root>/<reversed host>, here <root>/1/0/0/127:PORT
    assert [p.parent.name for p in cache.rglob("datasplits.arff")] == [str(WINE)]
    assert len(list(cache.rglob("dataset.arff"))) == 1


def test_an_explicit_cache_dir_wins_over_the_environment_variable(private_openml, monkeypatch, tmp_path):
    server, cache = private_openml
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "from_env"))
    load_task(WINE, cache_dir=cache)
    assert [p.parent.name for p in cache.rglob("datasplits.arff")] == [str(WINE)]
    assert not (tmp_path / "from_env").exists()


def test_one_loads_cache_dir_does_not_move_the_loads_that_give_none(private_openml, tmp_path):
    """Found in review: ``cache_dir=`` set openml-python's process-wide cache root and never put it back, so a later
    load without one looked in that folder and, offline, failed on a task cached in openml's own."""
    server, _ = private_openml
    own, other = tmp_path / "own", tmp_path / "other"
    openml.config.set_root_cache_directory(own)  # openml-python's own setting, e.g. from its config file
    load_task(IRIS)
    load_task(WINE, cache_dir=other)
    server.stop()
    _load_task_cached.cache_clear()
    assert load_task(IRIS).X.shape == (150, 4)  # offline, from openml's own cache
    assert openml.config._root_cache_directory == own
    # a setting the user makes after a load with cache_dir= is theirs: left as it is
    load_task(WINE, cache_dir=other)
    openml.config.set_root_cache_directory(tmp_path / "users")
    with pytest.raises(OpenMLUnavailableError, match=str(tmp_path / "users")):
        load_task(IRIS)


def test_a_cache_root_that_is_a_file_is_named(tmp_path):
    """It failed inside openml-python with the advice to remove a damaged task folder."""
    from hpo_gym.live.data import configure_openml_cache

    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match=r"OpenML cache root .*a_file is a file; give a directory"):
        configure_openml_cache(tmp_path / "a_file")


def test_a_false_true_target_keeps_its_labels(openml_session):
    """openml-python reads an ARFF {false,true} target (kc1's, for one) as booleans, whose str is False/True; the loader
    maps them back to the task's class labels instead of calling every row unlabeled."""
    data = load_task(BREAST_CANCER_FALSE_TRUE)
    reference = load_task(BREAST_CANCER)
    assert data.classes == ("false", "true")
    np.testing.assert_array_equal(data.y, reference.y)


def test_unknown_task_is_a_value_error(openml_session):
    with pytest.raises(ValueError, match="OpenML has no task 123"):
        load_task(123)


def test_fetch_cli_fills_the_cache(private_openml, capsys):
    from hpo_gym.cli import main

    server, cache = private_openml
    assert main(["fetch", str(IRIS), str(BREAST_CANCER), "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "breast_cancer" in out and "iris" in out and str(cache) in out
    assert sum(1 for p in cache.rglob("datasplits.arff")) == 2


def test_fetch_with_openml_unreachable_exits_1_as_bench_does(private_openml, capsys):
    """Found in review: fetch/live/tasks exited 2 ("bad input") when OpenML could not be reached, where bench exits 1:
    the command is right, the network is not; the same command works later."""
    from hpo_gym.cli import main

    server, cache = private_openml
    server.stop()
    assert main(["fetch", str(IRIS), "--cache-dir", str(cache)]) == 1
    err = capsys.readouterr().err
    assert f"OpenML task {IRIS} could not be downloaded" in err and "this machine cannot reach the OpenML server" in err
    assert "hpo-gym fetch" not in err.partition(":")[2]  # fetch's own advice is not to run fetch again (found by a user)


def test_nominal_and_missing_columns_become_codes_and_are_one_hot_encoded():
    import pandas as pd

    from hpo_gym.live.models import encoded_width, get_model

    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
                          "colour": pd.Categorical(["red", "blue", None, "red", "blue", "red"])})
    X, categorical = _frame_to_numeric(frame)
    assert categorical.tolist() == [False, True] and np.isnan(X[2, 1]) and np.isnan(X[1, 0])
    pipe = get_model("svm").pipeline({"C": 1.0, "gamma": 0.1}, {"subsample": 1.0}, categorical, 2, seed=0)
    pipe.fit(X, np.array([0, 1, 0, 0, 1, 0]))
    assert pipe.named_steps["preprocess"].transform(X).shape == (6, 1 + 2)  # scaled x + one-hot of 2 colours
    # the random forest's max_features is HPOBench's n_features ** v on that encoded width, not on the 2 raw columns
    assert encoded_width(X, categorical) == 3
    rf = get_model("rf").pipeline({"max_depth": 5, "min_samples_split": 2, "max_features": 1.0, "min_samples_leaf": 1},
                                  {"subsample": 1.0, "n_estimators": 4}, categorical, 2, seed=0,
                                  n_features=encoded_width(X, categorical))
    assert rf.named_steps["model"].max_features == 3


def test_live_cli_seed_seeds_the_fits_as_its_help_says(openml_session, capsys):
    """--seed drew the random configurations but every fit ran with seed 0."""
    import numpy as np

    from hpo_gym.cli import main
    from hpo_gym.live import LiveObjective

    assert main(["live", str(DIGITS), "--model", "rf", "-n", "1", "--fidelity", "n_estimators=4", "--seed", "5",
                 "--executor", "inline"]) == 0
    printed = float(capsys.readouterr().out.split("best validation accuracy: ")[1].split(";")[0])
    objective = LiveObjective(DIGITS, "rf", fidelity={"n_estimators": 4}, executor="inline", cache=False)
    config = objective.space.sample(np.random.default_rng(5), 1)[0]
    seeded, unseeded = (objective.evaluate(config, seed=s).score for s in (5, None))
    assert seeded != unseeded and printed == round(seeded, 4)


def test_live_cli_trains_a_random_search(openml_session, capsys):
    from hpo_gym.cli import main

    assert main(["live", str(IRIS), "--model", "histgb", "-n", "3", "--fidelity", "n_estimators=10",
                 "--executor", "inline"]) == 0
    out = capsys.readouterr().out
    assert "990001-histgb: iris" in out and "best validation accuracy" in out and "outer-test accuracy" in out
    # a scorer without a known worst score: the message names the CLI option, which the CLI used to lack
    assert main(["live", str(IRIS), "--model", "histgb", "-n", "2", "--metric", "d2_log_loss_score"]) == 2
    assert "pass worst_score=<float> (the score a failed fit gets) in backend_options (hpo-gym live: --worst-score)" in (
        capsys.readouterr().err)
    assert main(["live", str(IRIS), "--model", "histgb", "-n", "2", "--fidelity", "n_estimators=10", "--executor",
                 "inline", "--metric", "d2_log_loss_score", "--worst-score=-10"]) == 0
    assert "best validation d2_log_loss_score" in capsys.readouterr().out


def test_live_cli_says_when_its_setup_does_not_work(openml_session, capsys, monkeypatch):
    """Found in review: a missing extra was a traceback (exit 1), a run where every fit failed exited 0, --ray-address
    without --executor ray was ignored, and a bad --executor or --time-limit surfaced after the data loaded."""
    from hpo_gym.cli import main

    # every fit past its time limit: the table says why, and the exit status says the setup is not working
    assert main(["live", str(IRIS), "--model", "rf", "-n", "2", "--time-limit", "0.001"]) == 1
    out, err = capsys.readouterr()
    assert "hpo-gym live: error: every fit failed (first: timeout: still running after the time limit" in err
    assert "outer-test" not in out  # no test fit of a failed configuration: it cost one more time limit (found in review)
    assert main(["live", str(IRIS), "-n", "1", "--ray-address", "auto"]) == 2
    assert "--ray-address applies to --executor ray only (got --executor serial)" in capsys.readouterr().err
    assert main(["live", str(IRIS), "-n", "1", "--executor", "inline", "--time-limit", "5"]) == 2  # accepted, not enforced
    assert "--time-limit 5 has no effect with --executor inline" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    assert main(["live", str(IRIS), "-n", "1", "--executor", "ray"]) == 2
    assert "hpo-gym live: error: executor='ray' needs Ray: pip install 'hpo-gym[ray]'" in capsys.readouterr().err
    for bad, message in ((["--executor", "bogus"], "argument --executor: invalid choice: 'bogus'"),
                         (["--time-limit", "0"], "argument --time-limit: '0' is not > 0 seconds")):
        with pytest.raises(SystemExit):
            main(["live", str(IRIS), *bad])
        assert message in capsys.readouterr().err


def test_a_damaged_cached_task_file_is_fetched_anew(private_openml):
    """A truncated task.xml or datasplits file (an interrupted copy) made every load fail with the offline advice,
    although the server was up: openml-python removes the damaged folder, so one retry downloads it again. On a cache
    of its own: a failure here must not leave damaged files for the other live tests."""
    _, cache = private_openml
    first = load_task(IRIS, cache_dir=cache)
    for name in ("task.xml", "datasplits.pkl.py3"):
        damaged = next(p for p in cache.rglob(name) if f"{IRIS}" in str(p))
        damaged.write_bytes(damaged.read_bytes()[:40])
        _load_task_cached.cache_clear()
        assert load_task(IRIS, cache_dir=cache).fingerprint == first.fingerprint


def test_a_damaged_cached_dataset_file_is_downloaded_again(private_openml):
    """openml-python parses the ARFF lazily, in get_data: a truncated dataset.arff (with its pickle gone, or older than
    the ARFF) ended in liac-arff's bare BadDataFormat, with the server up and no advice (found in review)."""
    _, cache = private_openml
    first = load_task(IRIS, cache_dir=cache)
    arff = next(p for p in cache.rglob("*.arff") if "datasets" in p.parts)
    for pickled in arff.parent.glob("*.pkl.py3"):
        pickled.unlink()
    arff.write_bytes(arff.read_bytes()[: len(arff.read_bytes()) // 2])
    _load_task_cached.cache_clear()
    assert load_task(IRIS, cache_dir=cache).fingerprint == first.fingerprint


def test_a_damaged_cached_dataset_file_with_the_server_down_gives_the_offline_advice(private_openml):
    """The download that replaces a damaged dataset folder failed offline with requests' bare ConnectionError."""
    server, cache = private_openml
    load_task(IRIS, cache_dir=cache)
    arff = next(p for p in cache.rglob("*.arff") if "datasets" in p.parts)
    for pickled in arff.parent.glob("*.pkl.py3"):
        pickled.unlink()
    arff.write_bytes(arff.read_bytes()[: len(arff.read_bytes()) // 2])
    server.stop()
    _load_task_cached.cache_clear()
    with pytest.raises(OpenMLUnavailableError, match="OpenML task 990001 is not in the local OpenML cache and could "
                                                     "not be downloaded"):
        load_task(IRIS, cache_dir=cache)


def test_digits_split_for_validation_with_fewer_rows_than_classes_falls_back_to_a_plain_split(openml_session):
    """Stratifying 10 classes into a part of 3 rows failed with scikit-learn's "test_size = 3 should be greater or
    equal to the number of classes", naming no val_fraction; the docstring promises a plain split there."""
    data = load_task(DIGITS)
    n = len(data.train_idx)
    for fraction in (2 / n, 1 - 2 / n):
        fit, val = data.validation_split(fraction, seed=0)
        assert len(fit) + len(val) == n and not set(fit) & set(val) and min(len(fit), len(val)) < data.n_classes
    fit, val = data.validation_split(0.33, seed=0)  # stratified as before where it can be
    share = np.bincount(data.y[val], minlength=data.n_classes) / np.bincount(data.y[data.train_idx])
    assert share.min() > 0.25 and share.max() < 0.42


def test_a_categorical_column_empty_in_the_fit_rows_keeps_the_fit_going():
    """The categorical imputer dropped a column with no value in the fit rows; with no other categorical column the
    one-hot encoder got none and every fit of every family failed (at random under a subsample)."""
    import pandas as pd

    from hpo_gym.live.models import encoded_width, get_model

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "colour": pd.Categorical([None] * 40, categories=["red", "blue"])})
    X, categorical = _frame_to_numeric(frame)
    y = (frame["x"] > 0).astype(int).to_numpy()
    for family, config in (("svm", {"C": 1.0, "gamma": 0.1}), ("lr", {"alpha": 1e-3, "eta0": 1e-2})):
        pipe = get_model(family).pipeline(config, {"subsample": 1.0, "iter": 50}, categorical, 2, seed=0)
        pipe.fit(X, y)
        assert pipe.named_steps["preprocess"].transform(X).shape == (40, encoded_width(X, categorical))
        assert pipe.score(X, y) > 0.8


def _load_in_a_child(cache: str, task_id: int, queue) -> None:  # module level: a forked child runs it
    try:
        _load_task_cached.cache_clear()
        queue.put(("ok", load_task(task_id, cache_dir=cache).fingerprint))
    except Exception as e:  # noqa: BLE001
        queue.put(("error", f"{type(e).__name__}: {e}"))


def test_processes_filling_one_empty_cache_at_once_all_load_the_task(private_openml):
    """Two live envs of an async vector env on an empty cache: each process's openml-python removed the folder the
    other was writing, and the error came out as 'not cached and could not be downloaded' with the server up."""
    import multiprocessing as mp

    _, cache = private_openml
    ctx = mp.get_context("fork")
    for task_id in (WINE, BREAST_CANCER):
        queue = ctx.Queue()
        children = [ctx.Process(target=_load_in_a_child, args=(str(cache), task_id, queue)) for _ in range(3)]
        for child in children:
            child.start()
        results = [queue.get(timeout=120) for _ in children]
        for child in children:
            child.join(timeout=60)
        assert all(status == "ok" for status, _ in results), results
        assert len({fingerprint for _, fingerprint in results}) == 1


def test_a_cache_that_cannot_be_written_is_not_called_offline(private_openml):
    """Only an unreachable server gets the 'fill the cache on a machine with internet' advice; a cache problem names
    the cache (a file where openml-python wants the task's folder stands in for a half-written folder)."""
    server, cache = private_openml
    load_task(IRIS, cache_dir=cache)  # fills the cache's tree for this server
    tasks = next(p for p in cache.rglob("tasks") if p.is_dir())
    (tasks / str(WINE)).write_text("not a folder")
    with pytest.raises(RuntimeError) as err:
        load_task(WINE, cache_dir=cache)
    assert not isinstance(err.value, OpenMLUnavailableError)
    assert f"OpenML task {WINE}: reading or writing the local OpenML cache failed" in str(err.value)
    assert "the server was not the problem" in str(err.value) and "hpo-gym fetch" not in str(err.value)


def test_a_process_waiting_for_the_cache_lock_says_who_holds_it(private_openml):
    """A hung download of another process held every other one silently (openml-python's requests have no timeout)."""
    import threading
    import time

    from hpo_gym.lock import directory_lock

    _, cache = private_openml
    load_task(IRIS, cache_dir=cache)  # the cache exists and holds iris
    _load_task_cached.cache_clear()
    held, release = threading.Event(), threading.Event()

    def other_loader():
        with directory_lock(cache, "another hpo-gym downloading a big task"):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=other_loader)
    thread.start()
    assert held.wait(30)
    with pytest.warns(RuntimeWarning, match=r"waiting for the OpenML cache lock: .*another hpo-gym downloading a big task") \
            as said:
        def release_once_said() -> None:  # the holder lets go only after the waiter has said who is in its way
            deadline = time.monotonic() + 30
            while not len(said) and time.monotonic() < deadline:
                time.sleep(0.01)
            release.set()

        releaser = threading.Thread(target=release_once_said)
        releaser.start()
        assert load_task(IRIS, cache_dir=cache).n_classes == 3
    releaser.join(30)
    thread.join(30)


def test_a_cache_filled_from_the_loopback_server_serves_the_live_cli_as_openml_org_s_would(tmp_path, capsys,
                                                                                           monkeypatch):
    """Found by a user trying the live backend without network: a cache filled through this server is filed under the
    server's host and port, where a command pointed at openml.org does not look. ``python -m tests.live.openml_server
    DIR`` (``fill_cache``) files it as openml.org's; then ``hpo-gym live`` trains on it with the server gone and
    openml-python pointed at openml.org, which this machine cannot reach."""
    from openml_server import fill_cache

    from hpo_gym.cli import main
    from hpo_gym.live.data import configure_openml_cache

    cfg = openml.config
    saved = (cfg.server, cfg._root_cache_directory, cfg.retry_policy, cfg.connection_n_retries)
    try:
        cfg.set_retry_policy("robot", n_retries=1)
        filled = fill_cache(tmp_path / "cache", [IRIS])
        assert filled == tmp_path / "cache" / "org" / "openml" / "www" and (filled / "tasks" / str(IRIS)).is_dir()
        assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()) == ["org"]  # no loopback host folder
        cfg.server = cfg._defaults["server"]  # openml.org, out of reach here
        _load_task_cached.cache_clear()
        monkeypatch.delenv(ENV_CACHE, raising=False)
        capsys.readouterr()
        assert main(["live", str(IRIS), "--model", "histgb", "-n", "2", "--fidelity", "n_estimators=10", "--executor",
                     "inline", "--cache-dir", str(tmp_path / "cache")]) == 0
        assert "990001-histgb: iris" in capsys.readouterr().out
    finally:
        cfg.server = saved[0]
        cfg.set_retry_policy(saved[2], n_retries=saved[3])
        configure_openml_cache(None)
        cfg.set_root_cache_directory(saved[1])
        _load_task_cached.cache_clear()
