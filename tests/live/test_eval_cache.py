"""The on-disk evaluation cache under concurrent use by several processes (vector-env workers)."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from hpo_gym.live.cache import EvaluationCache, evaluation_key


def _writer(directory: str, worker: int, n: int, barrier) -> None:
    barrier.wait()  # every process opens (and sets up) the same new file at the same moment
    cache = EvaluationCache(directory)
    for i in range(n):
        cache.put(evaluation_key(worker=worker, i=i), {"score": worker + i / 100, "cost": 0.1})


def test_processes_share_one_cache_file(tmp_path):
    ctx = mp.get_context("fork")
    for round_ in range(4):  # opening a new file concurrently used to fail with "database is locked"
        directory, n_procs = tmp_path / str(round_), 6
        barrier = ctx.Barrier(n_procs)
        procs = [ctx.Process(target=_writer, args=(str(directory), w, 20, barrier)) for w in range(n_procs)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        assert [p.exitcode for p in procs] == [0] * n_procs
        cache = EvaluationCache(directory)
        assert len(cache) == 20 * n_procs
        assert cache.get(evaluation_key(worker=3, i=7)) == {"score": 3.07, "cost": 0.1}
        assert cache.get(evaluation_key(worker=3, i=99)) is None


def test_keys_are_stable_and_sensitive():
    """Float round-off and key order do not matter; every part does, down to a value's 11th significant digit (keys
    rounded to 3 digits shared one entry for lr=0.01234 and 0.01231, and passed here: found in review)."""
    from hpo_gym.live.cache import canonical

    base = {"task": 1, "model": "rf", "config": {"x": 0.1 + 0.2, "y": 3}, "seed": None}
    a = evaluation_key(**base)
    assert a == evaluation_key(task=1, model="rf", config={"y": 3, "x": 0.3}, seed=None)  # order and float round-off
    for change in ({"seed": 0}, {"task": 2}, {"model": "lr"}, {"config": {"x": 0.3, "y": 4}},
                   {"config": {"x": 0.30000000001, "y": 3}}, {"config": {"x": 0.3, "y": 3, "z": 1}}):
        assert evaluation_key(**{**base, **change}) != a, change
    assert canonical({"score": 0.123456789012}) == {"score": 0.123456789012}  # a stored score keeps 12 digits


def test_data_with_the_same_ids_never_receives_another_datas_cached_scores(openml_session, tmp_path):
    """The key holds the data's fingerprint: the same task id, dataset id and row count with other labels (another
    server's copy, a data= override) is trained, not answered from the first data's cache."""
    import dataclasses

    import numpy as np
    from live_fixtures import BREAST_CANCER, DEFAULTS

    from hpo_gym.live import LiveObjective
    from hpo_gym.live.data import load_task

    data = load_task(BREAST_CANCER)
    relabelled = dataclasses.replace(data, y=np.random.default_rng(1).permutation(data.y))
    assert relabelled.fingerprint != data.fingerprint
    config = DEFAULTS["lr"]
    first = LiveObjective(BREAST_CANCER, "lr", fidelity={"iter": 50}, data=data, cache_dir=tmp_path, executor="inline")
    assert not first.evaluate(config).info["cached"] and first.evaluate(config).info["cached"]
    other = LiveObjective(BREAST_CANCER, "lr", fidelity={"iter": 50}, data=relabelled, cache_dir=tmp_path, executor="inline")
    scored = other.evaluate(config)
    assert not scored.info["cached"] and scored.score != first.evaluate(config).score


def test_another_library_version_is_trained_not_answered_from_the_cache(openml_session, tmp_path, monkeypatch):
    """A score is the score of the code that computed it: after a scikit-learn upgrade the same configuration is fitted
    again, and going back to the first version finds its own entry."""
    from live_fixtures import BREAST_CANCER, DEFAULTS

    from hpo_gym.live import LiveObjective
    from hpo_gym.live import models

    config = DEFAULTS["lr"]
    objective = LiveObjective(BREAST_CANCER, "lr", fidelity={"iter": 50}, cache_dir=tmp_path, executor="inline")
    assert not objective.evaluate(config).info["cached"] and objective.evaluate(config).info["cached"]
    real = models.module_version("sklearn")
    monkeypatch.setattr(models, "module_version", lambda name: "0.0-other" if name == "sklearn" else real)
    assert not objective.evaluate(config).info["cached"]
    monkeypatch.undo()
    assert objective.evaluate(config).info["cached"]
    assert set(models.MODELS["xgb"].library_versions()) == {"sklearn", "numpy", "scipy", "xgboost"}


def test_an_unusable_cache_location_is_named_with_the_fixes(tmp_path):
    """A file in the way, a file that is no database: a ValueError naming the path and the fixes, not sqlite's own."""
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "evaluations.sqlite").write_bytes(b"this is not a database" * 100)
    for directory in (blocker, damaged):
        with pytest.raises(ValueError, match=r"evaluation cache .*evaluations.sqlite cannot be used .*cache=False"):
            EvaluationCache(directory)


def test_a_cached_fit_that_ran_past_this_runs_time_limit_is_fitted_again(openml_session, tmp_path):
    """Found in review: the key holds no time limit, so a fit cached under a generous limit scored in full under one
    it would have run past (a timeout without the cache). It is fitted again; the generous limit still finds it."""
    from live_fixtures import BREAST_CANCER, DEFAULTS

    from hpo_gym.live import LiveObjective

    config = DEFAULTS["lr"]
    generous = LiveObjective(BREAST_CANCER, "lr", fidelity={"iter": 50}, cache_dir=tmp_path, executor="inline",
                             time_limit=600)
    first = generous.evaluate(config)
    assert not first.info["cached"] and generous.evaluate(config).info["cached"]
    tight = LiveObjective(BREAST_CANCER, "lr", fidelity={"iter": 50}, cache_dir=tmp_path, executor="inline",
                          time_limit=first.cost / 2)
    assert not tight.evaluate(config).info["cached"]  # the inline executor does not enforce it: the refit scores
    assert generous.evaluate(config).info["cached"]



@pytest.mark.parametrize("damage", ["{not json", "{}", '{"score": null, "cost": 0.1}', '[1, 2]', '{"error": 3}',
                                    # a non-finite score reached env.step and ended the run there (found in review)
                                    '{"score": "NaN", "cost": 0.1}', '{"score": Infinity, "cost": 0.1}',
                                    '{"score": 0.9, "cost": "nan"}', '{"score": 0.9, "cost": -1}'])
def test_a_damaged_cached_record_is_fitted_again_and_replaced(openml_session, tmp_path, damage):
    """Found in review: a row that did not read back as a record (edited by hand or by another tool) raised
    JSONDecodeError / KeyError / TypeError out of ``env.step``. It is a miss with a warning naming the file: the
    configuration is fitted again and its record replaces the damaged one."""
    from live_fixtures import BREAST_CANCER, DEFAULTS

    from hpo_gym.live import LiveObjective

    config = DEFAULTS["lr"]
    objective = LiveObjective(BREAST_CANCER, "lr", fidelity={"iter": 50}, cache_dir=tmp_path, executor="inline")
    first = objective.evaluate(config)
    with objective.cache._conn:
        assert objective.cache._conn.execute("UPDATE evaluations SET record = ?", (damage,)).rowcount == 1
    with pytest.warns(RuntimeWarning, match=r"a record in .*evaluations.sqlite is damaged .*training instead"):
        refitted = objective.evaluate(config)
    assert not refitted.info["cached"] and refitted.score == first.score
    again = objective.evaluate(config)
    assert again.info["cached"] and again.score == first.score


def test_every_record_the_objective_stores_reads_back():
    """The damage check accepts what LiveObjective writes: a finite score (a fit that scores NaN or infinity is stored
    as its error: fit_and_score raises on it) or an error, with a cost in seconds."""
    from hpo_gym.live.cache import canonical, usable_record

    for record in ({"score": 0.9, "cost": 1.5, "fit_seconds": 1.2}, {"score": 1, "cost": 0},
                   {"error": "ValueError: bad", "cost": 0.2}):
        assert usable_record(canonical(record)), record
    for record in ({"score": True}, {"score": "high"}, {"score": 0.5, "cost": None}, {"cost": 0.1}, "0.5",
                   canonical({"score": float("nan"), "cost": 0.1}), canonical({"score": float("inf")}),
                   {"score": 0.5, "cost": float("inf")}, {"score": 0.5, "cost": -0.1}):
        assert not usable_record(record), record
