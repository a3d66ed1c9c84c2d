"""Rules at the edges of the native vector env and of the support modules (parallel, lock, threads, tasks, atomic)
that a hand mutation review found unpinned: each test fails when its rule is broken by a one-token change.

Real components throughout: the embedded tables, user tables registered as suites for one test, real process pools and
real signals, real files.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs_registry  # noqa: F401  (registers the env ids)
from hpo_gym import suites
from hpo_gym.atomic import atomic_write_bytes, atomic_write_text, temporaries_of, writer_pid
from hpo_gym.parallel import map_jobs
from hpo_gym.space import Ordinal, SearchSpace
from hpo_gym.tabular import TabularObjective
from hpo_gym.tasks import held_out_while_fitting
from tests.core.test_executors_rules_at_their_edges import _running
from tests.core.test_parallel import _marks, mark_and_sleep


def _suite(monkeypatch, name: str, objectives: dict, loader=None) -> None:
    """Register a suite of user tables on one shared space for one test only."""
    space = next(iter(objectives.values())).space
    suite = suites.Suite(name, dict.fromkeys(objectives), loader or objectives.__getitem__, "", space)
    monkeypatch.setitem(suites._SUITES, name, suite)


# -- native vector env ----------------------------------------------------------------------------------------------
def test_the_native_vector_env_takes_max_dims_equal_to_the_number_of_hyperparameters_as_make_does():
    """``max_dims`` is the padding of the observation: a space of exactly ``max_dims`` hyperparameters fits, and
    ``gym.make`` takes it. A native env that refused it (``>=`` for ``>``) would make a policy trained on unpadded
    5-wide observations unusable with ``make_vec`` while the single env runs it."""
    single = gym.make("HPO-OpenML-v0", task="kc1", budget=2, max_dims=5)
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, task="kc1", budget=2, max_dims=5)
    assert vec.single_observation_space == single.observation_space
    obs, _ = vec.reset(seed=0)
    assert obs["x"].shape == (2, 2, 5)
    vec.close()


def test_the_native_vector_env_has_make_s_defaults():
    """"Same arguments as HPOEnv": without ``budget=`` or ``reward=`` both modes run 50-trial episodes rewarded by
    the score, so a script that switches ``gym.make`` for ``gym.make_vec`` keeps its episode length and observation
    shape."""
    single = gym.make("HPO-OpenML-v0", task="kc1")
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, task="kc1")
    assert vec.single_observation_space == single.observation_space
    _, info = vec.reset(seed=0)
    _, single_info = single.reset(seed=0)
    assert list(info["budget"]) == [single_info["budget"]] * 2 == [50, 50]
    _, rewards, *_, info = vec.step(np.full((2, 5), 0.5))
    np.testing.assert_array_equal(rewards, info["score"])
    vec.close()


def test_the_native_vector_env_refuses_the_live_backend_instead_of_playing_the_tables():
    """The native env steps tables only: ``backend='live'`` must be refused with the fix
    (``vectorization_mode='sync'``). Dropping the check built a tabular env for ``task=31`` without a word: the user
    believed a model was trained live."""
    with pytest.raises(ValueError, match=r"supports backend='tabular' with action_type='box'.*"
                                         r"vectorization_mode='sync'"):
        gym.make_vec("HPO-OpenML-v0", num_envs=2, backend="live", task=31)


def test_noise_draws_every_seed_of_the_table(monkeypatch):
    """With ``noise=True`` each trial is one of the table's seeds: a draw that never reached the last seed (an
    off-by-one in the draw's bound) would give noisy scores of another distribution than the single env's."""
    space = SearchSpace([Ordinal("a", [1, 2, 3])])
    _suite(monkeypatch, "test-two-seeds", {"two": TabularObjective("two", space, np.array([[0.1, 0.9]] * 3))})
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=16, suite="test-two-seeds", budget=4, noise=True)
    vec.reset(seed=0)
    seen = set()
    for _ in range(4):
        seen |= {round(float(s), 9) for s in vec.step(np.full((16, 1), 0.5))[4]["score"]}
    assert seen == {0.1, 0.9}
    vec.close()


def test_a_missing_seed_of_a_complete_table_scores_its_cells_mean_under_noise(monkeypatch):
    """A complete table (every cell has a mean) may lack a seed in some cells; under noise that seed's draw falls back
    to the cell's mean, as the single env's lookup does. Without the fallback the score, the reward and the best score
    became NaN for every row that drew the missing seed."""
    space = SearchSpace([Ordinal("a", [1, 2, 3])])
    seeds = np.array([[0.2, np.nan], [0.4, 0.6], [0.8, np.nan]])
    table = TabularObjective("gappy", space, seeds)
    assert table.complete
    _suite(monkeypatch, "test-gappy-seeds", {"gappy": table})
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=16, suite="test-gappy-seeds", budget=3, noise=True)
    vec.reset(seed=0)
    for u in (0.0, 0.99, 0.0):
        _, rewards, *_, info = vec.step(np.full((16, 1), u))
        expected = 0.2 if u == 0.0 else 0.8  # the one present seed is the mean
        assert np.isfinite(rewards).all() and np.isfinite(info["best_score"]).all()
        np.testing.assert_allclose(info["score"], expected)
    vec.close()


def test_a_caller_that_edits_the_returned_terminated_array_does_not_cancel_the_autoreset():
    """The arrays ``step`` returns are the caller's: code that reuses ``terminated`` in place (``done = terminated;
    done &= ...``, a wrapper clearing it) must not change which rows the env restarts. Kept as the env's own state, a
    cleared array made the finished rows step past their budget."""
    vec = gym.make_vec("HPO-OpenML-v0", num_envs=2, task="kc1", budget=1)
    vec.reset(seed=0)
    *_, terminated, _, _ = vec.step(np.full((2, 5), 0.5))
    assert terminated.all()
    terminated[:] = False
    _, rewards, terminated, _, info = vec.step(np.full((2, 5), 0.5))
    assert (info["step"] == 0).all() and not info["_score"].any() and (rewards == 0).all() and not terminated.any()
    vec.close()


def test_a_partial_reset_gives_the_sync_vector_env_s_info_in_every_row():
    """Partial reset: the reset info of the rows not reset holds the sync vector env's empty values (0 for the OpenML
    id), not the running task's id, so the two modes' infos are equal entry for entry, masked-out ones included."""
    mask = np.array([True, False, True])
    infos = []
    for mode in ("vector_entry_point", "sync"):
        vec = gym.make_vec("HPO-OpenML-v0", num_envs=3, budget=3, vectorization_mode=mode)
        vec.reset(seed=0, options={"task": "kc1"})
        vec.step(np.full((3, 5), 0.5))
        infos.append(vec.reset(options={"reset_mask": mask, "task": "kc1"})[1])
        vec.close()
    native, sync = infos
    assert native.keys() == sync.keys()
    for key in native:
        assert native[key].tolist() == sync[key].tolist(), key
    assert native["openml_task_id"].tolist() == [3917, 0, 3917]


# -- map_jobs: Ctrl-C and progress ----------------------------------------------------------------------------------
def identity(x: int) -> int:
    return x


class _Stderr(io.StringIO):
    """sys.stderr for one test: it keeps what was written and says when the interrupted note arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.note = threading.Event()

    def write(self, s: str) -> int:
        n = super().write(s)
        if "interrupted; waiting for the jobs in flight" in s:
            self.note.set()
        return n


def _ctrl_c_when_two_jobs_run(folder: Path, stderr: _Stderr, again: bool) -> None:
    """A terminal's Ctrl-C once both workers run a job (SIGINT to this process and to them); with ``again``, a second
    one to this process once the first has been handled (its note written) and map_jobs waits for the jobs."""
    deadline = time.time() + 120
    while len(list(folder.glob("start-*"))) < 2 and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the pids are written
    workers = {int(p.read_text() or 0) for p in folder.glob("start-*")} - {0}
    for pid in workers | {os.getpid()}:
        os.kill(pid, signal.SIGINT)
    if again and stderr.note.wait(120):
        time.sleep(2.0)  # map_jobs now waits for the jobs in flight
        os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_says_that_it_waits_for_the_jobs_in_flight(tmp_path, ctrl_c_works, monkeypatch):
    """After Ctrl-C the map waits for the jobs in flight: without the note saying so (and that a second Ctrl-C ends
    them) the terminal looks hung for as long as the longest job runs."""
    stderr = _Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    signaller = threading.Thread(target=_ctrl_c_when_two_jobs_run, args=(tmp_path, stderr, False), daemon=True)
    signaller.start()
    with pytest.raises(KeyboardInterrupt):
        map_jobs(mark_and_sleep, [(str(tmp_path), i, 3.0) for i in range(6)], 2, desc="fits", progress=False)
    signaller.join(timeout=30)
    assert "fits: interrupted; waiting for the jobs in flight to finish (Ctrl-C again to end them)" in stderr.getvalue()
    started = _marks(tmp_path, "start")
    assert started == _marks(tmp_path, "done") and {0, 1} <= started and len(started) <= 3  # no queued job started


def test_a_second_ctrl_c_ends_the_jobs_in_flight(tmp_path, ctrl_c_works, monkeypatch):
    """The note promises it: Ctrl-C again ends the jobs in flight (their work is lost) instead of waiting for them.
    Without that, a user whose jobs run for hours has no way out but to kill the workers by hand."""
    stderr = _Stderr()
    monkeypatch.setattr(sys, "stderr", stderr)
    signaller = threading.Thread(target=_ctrl_c_when_two_jobs_run, args=(tmp_path, stderr, True), daemon=True)
    signaller.start()
    with pytest.raises(KeyboardInterrupt):
        map_jobs(mark_and_sleep, [(str(tmp_path), i, 90.0) for i in range(4)], 2, progress=False)
    signaller.join(timeout=30)
    assert stderr.note.is_set()
    workers = {int(p.read_text()) for p in tmp_path.glob("start-*")}
    assert _marks(tmp_path, "start") == {0, 1} and len(workers) == 2
    deadline = time.time() + 20  # ended now: well before their 90-second jobs would end by themselves
    while any(_running(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in workers)
    assert _marks(tmp_path, "done") == set()  # their work was ended, not finished in the background


def test_stop_pool_abandons_the_jobs_in_flight_on_a_second_ctrl_c(tmp_path, ctrl_c_works):
    """``stop_pool`` (the Ctrl-C rule of map_jobs and of the benchmark runner): a second Ctrl-C while it waits for the
    jobs in flight calls ``abandon`` (which ends them) before the interrupt propagates. Without that call whether the
    jobs end is left to the interpreter: on CPython 3.11 an interrupted ``join`` happens to let the pool break and kill
    its workers, elsewhere the caller's final ``shutdown`` waits for jobs the user asked to end."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from hpo_gym.parallel import stop_pool

    context = mp.get_context()
    pool, stop = ProcessPoolExecutor(2, mp_context=context), context.Event()
    futures = [pool.submit(mark_and_sleep, (str(tmp_path), i, 90.0)) for i in range(2)]
    noted, abandoned = threading.Event(), threading.Event()
    deadline = time.time() + 120
    while len(list(tmp_path.glob("start-*"))) < 2 and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the pids are written
    workers = {int(p.read_text()) for p in tmp_path.glob("start-*")}

    def ctrl_c_again():
        if noted.wait(120):
            time.sleep(1.0)  # stop_pool now waits for the jobs in flight
            os.kill(os.getpid(), signal.SIGINT)

    def abandon():
        abandoned.set()
        for pid in workers:
            os.kill(pid, signal.SIGTERM)

    signaller = threading.Thread(target=ctrl_c_again, daemon=True)
    signaller.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            stop_pool(pool, futures, stop, lambda text: noted.set(), "interrupted", abandon, KeyboardInterrupt())
    finally:
        signaller.join(timeout=30)
        for pid in workers:  # the test's own cleanup, whatever stop_pool did
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        pool.shutdown(wait=False)
    assert noted.is_set() and abandoned.is_set() and stop.is_set()


def count_my_parents_children(_: int) -> int:
    """map_jobs job: how many processes the map's process has started (its children, read from /proc)."""
    parent, count = os.getppid(), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            count += int(stat.read_text().rsplit(")", 1)[-1].split()[1]) == parent
        except (OSError, ValueError, IndexError):
            pass
    return count


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_map_jobs_starts_no_more_workers_than_jobs():
    """``workers`` is an upper bound: two jobs with ``workers=48`` start two processes. A fork-started pool starts every
    worker at once, so without the bound ``--jobs 48`` on a two-job run forked 48 copies of the caller (the benchmark
    runner caps its pool the same way)."""
    counts = map_jobs(count_my_parents_children, [0, 1], 48, progress=False)
    assert max(counts) <= 4, counts  # the two workers (and a helper process multiprocessing may start)


def test_the_progress_bar_counts_every_job_that_finished(capsys):
    """The bar advances by the jobs each wait returns, several at once when they finish together: counting one per
    wait left the finished map's bar short of its total, as if jobs were lost."""
    assert map_jobs(identity, range(300), 2, desc="cells") == list(range(300))
    err = capsys.readouterr().err
    assert "300/300" in err


# -- directory lock -------------------------------------------------------------------------------------------------
def test_a_benchmark_into_a_new_nested_directory_creates_it(tmp_path):
    """``--out results/2024/run1`` where neither folder exists yet: the lock creates the whole path (its parents too),
    as the benchmark's "a new one is created" says, instead of failing on a missing parent."""
    from agents.registry import make_agent
    from hpo_gym.benchmark import run_benchmark

    out = tmp_path / "results" / "2024" / "run1"
    df = run_benchmark(["random"], tasks=["credit_g"], budget=2, seeds=1, out=out, resolve_agent=make_agent,
                       progress=False)
    assert len(df) == 2 and (out / ".hpo_gym.lock").is_file()


# -- torch threads --------------------------------------------------------------------------------------------------
def test_torch_threads_runs_on_one_thread_by_default():
    """``torch_threads()`` without a count is the one-thread block the module is for (small models on a busy
    machine)."""
    import torch

    from hpo_gym.threads import torch_threads

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with torch_threads():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


# -- task pools -----------------------------------------------------------------------------------------------------
def test_nested_held_out_tasks_add_up():
    """Nested ``held_out_while_fitting`` blocks hold out the union of their tasks, by name and by OpenML id alike: an
    inner block that forgot the outer one's held-out task would let an agent's own envs train on it (a user table
    without an OpenML id is held out by its name alone)."""
    for outer, inner in (((["kc1"], []), (["car"], [])), (([], [3917]), ([], [146821]))):  # kc1 and car
        with held_out_while_fitting(*outer):
            with held_out_while_fitting(*inner):
                _, info = gym.make_vec("HPO-OpenML-v0", num_envs=64, budget=2).reset(seed=0)
                drawn = set(info["task"])
                assert drawn and not drawn & {"kc1", "car"}, (outer, inner, drawn)
                with pytest.raises(ValueError, match="held out in this k-fold fold"):
                    gym.make("HPO-OpenML-v0", task="kc1", budget=2)
            with pytest.raises(ValueError, match="held out in this k-fold fold"):
                gym.make("HPO-OpenML-v0", task="kc1", budget=2)  # the outer block's task is still held out
            assert gym.make("HPO-OpenML-v0", task="car", budget=2).reset(seed=0)[1]["task"] == "car"


def test_a_suite_task_is_loaded_once_however_many_episodes_play_it(monkeypatch):
    """The pool caches each task it loads: a user suite whose loader reads a big file must not read it again at every
    ``reset`` (a live task rebuilt per episode would also lose its evaluation cache)."""
    space = SearchSpace([Ordinal("a", [1, 2, 3])])
    tables = {"one": TabularObjective("one", space, np.array([0.1, 0.5, 0.9]))}
    loads: list[str] = []

    def loader(name):
        loads.append(name)
        return tables[name]

    _suite(monkeypatch, "test-counted-loads", tables, loader)
    env = gym.make("HPO-OpenML-v0", suite="test-counted-loads", budget=2)
    for seed in range(4):
        env.reset(seed=seed)
        env.step(np.array([0.5], dtype=np.float32))
    assert loads == ["one"]


def test_a_suite_loader_s_keyword_only_option_is_taken(monkeypatch):
    """A user's loader may take its options keyword-only (``def load(name, *, metric="acc")``): ``metric=`` and
    ``backend_options`` reach it, and are not refused as options it does not take."""
    space = SearchSpace([Ordinal("a", [1, 2, 3])])
    by_metric = {"acc": np.array([0.1, 0.5, 0.9]), "f1": np.array([0.3, 0.2, 0.1])}

    def load(name, *, metric="acc"):
        return TabularObjective(name, space, by_metric[metric], metric=metric)

    monkeypatch.setitem(suites._SUITES, "test-kwonly", suites.Suite("test-kwonly", {"t": None}, load, "", space))
    env = gym.make("HPO-OpenML-v0", suite="test-kwonly", metric="f1", budget=2)
    env.reset(seed=0)
    assert env.step(np.array([0.0], dtype=np.float32))[4]["score"] == pytest.approx(0.3)
    env = gym.make("HPO-OpenML-v0", suite="test-kwonly", backend_options={"metric": "f1"}, budget=2)
    env.reset(seed=0)
    assert env.step(np.array([0.0], dtype=np.float32))[4]["score"] == pytest.approx(0.3)


def test_an_objective_whose_openml_id_is_held_out_is_refused_inside_fit():
    """Held out by OpenML id too: an agent's fit that builds an env on its own copy of a held-out task (another name,
    the same OpenML task, e.g. a live ``31-xgb`` for the table ``credit_g``) must be refused, or it trains on the fold's
    held-out task and is still reported held-out."""
    space = SearchSpace([Ordinal("a", [1, 2, 3])])
    copy = TabularObjective("my-credit-g", space, np.array([0.1, 0.5, 0.9]), metadata={"openml_task_id": 31})
    with held_out_while_fitting(["credit_g"], [31]):
        with pytest.raises(ValueError, match="held out in this k-fold fold"):
            gym.make("HPO-OpenML-v0", objective=copy, budget=2)
    assert gym.make("HPO-OpenML-v0", objective=copy, budget=2).reset(seed=0)[1]["task"] == "my-credit-g"


# -- atomic writes --------------------------------------------------------------------------------------------------
def test_only_names_with_tmp_dash_are_a_files_temporaries(tmp_path):
    """The cleaners delete what ``temporaries_of`` names: a user's ``.state.pt.tmp`` or ``.state.pt.tmpold`` beside
    ``state.pt`` is no atomic write's temporary (those are ``.state.pt.tmp-PID-THREAD``) and must be left alone."""
    target = tmp_path / "state.pt"
    for name in (".state.pt.tmp", ".state.pt.tmpold", ".state.pt.tmp-12", "state.pt"):
        (tmp_path / name).write_bytes(b"x")
    assert temporaries_of(target) == [tmp_path / ".state.pt.tmp-12"]


def test_the_writer_pid_of_a_temporary_whose_file_name_holds_a_hyphen():
    """Live task names hold hyphens (``31-xgb``), and so do the store's shard names for them: the pid is the number
    after ``.tmp-`` (then the writer's thread). Read as "no pid" (-1), an unlocked rerun would delete a live writer's
    temporary mid-write."""
    assert writer_pid(Path(".xgb__31-xgb__s0.parquet.tmp-4242")) == 4242
    assert writer_pid(Path(".my-table.json.tmp-17")) == 17
    assert writer_pid(Path(".xgb__31-xgb__s0.parquet.tmp-4242-139872")) == 4242  # the pid before the writer's thread


def test_a_reader_of_the_old_file_keeps_reading_the_old_bytes(tmp_path):
    """Atomic means the new content arrives under a new inode: a process that has the old checkpoint open (loading it)
    while it is rewritten reads the whole old file, never a mix of old and new bytes. An in-place write would change
    the bytes under the reader."""
    for write, old, new in ((atomic_write_bytes, b"old weights", b"NEW WEIGHTS!"),
                            (atomic_write_text, "old log\n", "new log, longer\n")):
        target = tmp_path / f"file-{write.__name__}"
        write(target, old)
        with open(target, "rb") as reader:
            write(target, new)
            assert reader.read() == (old if isinstance(old, bytes) else old.encode())
        assert target.read_bytes() == (new if isinstance(new, bytes) else new.encode())
        assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
