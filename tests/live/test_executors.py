"""Executors: process pool (timeouts, crashes, shared data) and a local Ray instance running live fits."""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from live_fixtures import BREAST_CANCER, DEFAULTS, SMALL

from hpo_gym.executors import InlineExecutor, ProcessExecutor, get_executor
from hpo_gym.live import LiveObjective


def square_plus_shared(shared, job):
    if job == "crash":
        os._exit(3)
    if job == "sleep":
        time.sleep(30)
    if isinstance(job, tuple) and job[0] == "marked sleep":  # says it is busy (a file named by its pid), then sleeps
        open(os.path.join(job[1], str(os.getpid())), "w").close()
        time.sleep(30)
    if job == "raise":
        raise ArithmeticError("bad job")
    if job == "no module":
        raise ImportError("No module named 'xgboost'")
    return job * job + shared["offset"], os.getpid()


def test_process_pool_runs_in_parallel_and_survives_timeouts_crashes_and_errors():
    with ProcessExecutor(n_workers=2) as ex:
        out = ex.run(square_plus_shared, [1, 2, 3, 4], shared=("k", {"offset": 10}))
        assert [o.value[0] for o in out] == [11, 14, 19, 26] and len({o.value[1] for o in out}) == 2
        out = ex.run(square_plus_shared, ["sleep", "crash", "raise", 5], shared=("k", {"offset": 10}), time_limit=1.5)
        assert out[0].error.startswith("timeout") and "died (exit code 3" in out[1].error
        assert out[2].error == "ArithmeticError: bad job" and out[3].value[0] == 35
        # the machinery's failures may not repeat on a rerun; the job's own exception would
        assert [o.transient for o in out] == [True, True, False, False]
        assert [o.value[0] for o in ex.run(square_plus_shared, [6], shared=("k", {"offset": 1}))] == [37]


def _refuse_to_be_rebuilt():
    raise RuntimeError("planted: this object cannot be rebuilt in a worker")


class RebuildsNowhere:
    """Pickles in the parent; unpickling it (in a worker) raises, as a MemoryError on a large dataset would."""

    def __reduce__(self):
        return _refuse_to_be_rebuilt, ()


def test_shared_data_a_worker_could_not_unpickle_is_shipped_again_never_a_cacheable_failure():
    """Found in review: the parent marked the data delivered, so the worker's next jobs ran fn(None, job), an error
    that was not transient and that a LiveObjective cached as the configuration's own. Every job now gets the
    transient delivery error, and the same worker then takes data it can rebuild."""
    with ProcessExecutor(n_workers=1) as ex:
        out = ex.run(square_plus_shared, [1, 2, 3], shared=("k", RebuildsNowhere()), time_limit=30)
        assert all(o.transient and "could not unpickle the job" in o.error for o in out), out
        assert [o.value[0] for o in ex.run(square_plus_shared, [2], shared=("k2", {"offset": 1}))] == [5]


def test_a_missing_module_is_a_transient_outcome_and_a_jobs_own_error_is_not():
    """An ImportError (or MemoryError, OSError) says something about this machine now, so it must not be cached as
    the configuration's result; an ordinary exception of the job is that result."""
    out = InlineExecutor().run(square_plus_shared, ["no module", "raise"], shared=("k", {"offset": 0}))
    assert out[0].error.startswith("ImportError") and out[0].transient
    assert out[1].error == "ArithmeticError: bad job" and not out[1].transient


def test_get_executor_names():
    assert isinstance(get_executor("inline"), InlineExecutor)
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        get_executor("dask")
    # options an executor would ignore, and worker counts that are no positive whole number, are refused
    with pytest.raises(ValueError, match=r"executor 'process' takes only \['n_workers'\], got \['n_wokers'\]"):
        get_executor("process", n_wokers=4)
    with pytest.raises(ValueError, match=r"executor 'serial' takes no options, got \['n_workers'\]"):
        get_executor("serial", n_workers=2)
    with pytest.raises(ValueError, match="executor 'ray' takes num_cpus .* not n_workers"):  # before Ray starts
        get_executor("ray", n_workers=2)
    for bad in (0, -3, 2.7, True):
        with pytest.raises(ValueError, match="n_workers must be a whole number >= 1"):
            get_executor("process", n_workers=bad)


def test_unknown_live_backend_options_are_refused_at_make_with_the_valid_keys(openml_session):
    import gymnasium as gym

    import envs_registry  # noqa: F401

    with pytest.raises(ValueError, match=r"unknown backend_options key 'time_limt'.*did you mean 'time_limit'\?"):
        gym.make("HPO-OpenML-v0", backend="live", task=990001, model="rf", backend_options={"time_limt": 5})
    with pytest.raises(ValueError, match=r"backend_options\['metric'\]: pass metric= to gym.make itself"):
        gym.make("HPO-OpenML-v0", backend="live", task=990001, model="rf", backend_options={"metric": "f1_macro"})
    with pytest.raises(ValueError, match=r"metric 'neg_log_loss' needs predicted probabilities, which \['svm'\]"):
        gym.make("HPO-OpenML-v0", backend="live", task=990001, metric="neg_log_loss")  # svm among the six: fails at make
    for bad in (float("nan"), -1.0, "60"):  # the executors' rule: a number > 0, finite
        with pytest.raises(ValueError, match=r"time_limit=.*: give the seconds a job may run, a number > 0, or None"):
            LiveObjective(990001, "rf", time_limit=bad)


def test_live_batch_on_process_pool_matches_inline(openml_session, tmp_path):
    rng = np.random.default_rng(0)
    inline = LiveObjective(BREAST_CANCER, "rf", fidelity=SMALL["rf"], executor="inline", cache=False)
    configs = inline.space.sample(rng, 4)
    pooled = LiveObjective(BREAST_CANCER, "rf", fidelity=SMALL["rf"], executor="process",
                           executor_options={"n_workers": 2}, cache=False)
    np.testing.assert_array_equal(pooled.evaluate_batch(configs).scores, inline.evaluate_batch(configs).scores)


def test_live_batch_on_a_local_ray_instance(openml_session):
    ray = pytest.importorskip("ray")
    from hpo_gym.executors import RayExecutor

    executor = RayExecutor(num_cpus=2)
    try:
        assert ray.is_initialized() and executor.n_workers == 2
        obj = LiveObjective(BREAST_CANCER, "histgb", fidelity=SMALL["histgb"], executor=executor, cache=False)
        configs = [DEFAULTS["histgb"], {**DEFAULTS["histgb"], "learning_rate": 0.01}, {**DEFAULTS["histgb"], "max_leaf_nodes": 4}]
        batch = obj.evaluate_batch(configs)
        reference = LiveObjective(BREAST_CANCER, "histgb", fidelity=SMALL["histgb"], executor="inline", cache=False)
        np.testing.assert_array_equal(batch.scores, reference.evaluate_batch(configs).scores)
        assert all("error" not in e.info for e in batch)
        # a process forked now (an async vector env's worker, run_benchmark(jobs=2)) inherits the parent's Ray
        # connection; its own RayExecutor blocked forever in ray.cluster_resources() (found in review): refused
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child reports what RayExecutor did, and leaves without running the parent's cleanup
            try:
                RayExecutor(num_cpus=1)
                message = "no error"
            except RuntimeError as e:
                message = str(e)
            os.write(write, message.encode()[:4000])
            os._exit(0)
        os.close(write)
        ready, _, _ = select.select([read], [], [], 60)
        reply = os.read(read, 4000).decode() if ready else "no reply in 60 s (the child hung)"
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert reply.startswith("executor='ray' in a process forked after Ray started in its parent"), reply
    finally:
        executor.close()
    assert not ray.is_initialized()
    # used again after close (a shared executor is handed out again): Ray restarts with the executor's own settings,
    # where it auto-started with Ray's defaults, every CPU where 1 was asked (found in review)
    one = RayExecutor(num_cpus=1)
    import pickle

    # an objective given the instance pickles (a Ray executor holds the ray module, which does not): the copy joins
    # the running Ray with the same settings (found in review)
    copy = pickle.loads(pickle.dumps(LiveObjective(BREAST_CANCER, "histgb", executor=one, cache=False)))
    assert isinstance(copy.executor, RayExecutor) and copy.executor._settings == one._settings
    one.close()
    try:
        again = LiveObjective(BREAST_CANCER, "histgb", fidelity=SMALL["histgb"], executor=one, cache=False)
        assert again.evaluate_batch(configs[:1]).scores[0] == batch.scores[0]
        assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 1 and one.n_workers == 1
    finally:
        one.close()
    assert not ray.is_initialized()


def test_a_ray_task_error_keeps_its_cause_without_terminal_colours():
    """Ray's own first line (`ray::_ray_job() (pid=...)`) was all a failed fit's info["error"] kept."""
    from hpo_gym.executors import _ray_error_text

    error = RuntimeError("\x1b[36mray::_ray_job()\x1b[39m (pid=12, ip=10.0.0.2)\n  File \"job.py\", line 3, in run\n"
                         "ModuleNotFoundError: No module named 'mylib'")
    assert _ray_error_text(error) == "ray::_ray_job() (pid=12, ip=10.0.0.2): ModuleNotFoundError: No module named 'mylib'"
    assert _ray_error_text(ValueError("a plain message")) == "a plain message"


def test_workers_keep_the_newest_shared_objects_in_step_with_the_parent():
    from hpo_gym.executors import SHARED_SLOTS

    with ProcessExecutor(n_workers=1) as ex:
        for round_ in range(2):  # the second round finds evicted keys and must ship them again
            for k in range(SHARED_SLOTS + 2):
                out = ex.run(square_plus_shared, [round_], shared=(f"key{k}", {"offset": k}))
                assert out[0].value[0] == round_ * round_ + k, out[0]
        out = ex.run(lambda shared, job: job, [1])  # a lambda cannot be pickled: an error, not a crash
        assert "could not be sent" in out[0].error and ex.run(square_plus_shared, [2], shared=("z", {"offset": 0}))[0].value[0] == 4


def test_an_interrupted_batch_reports_what_finished_and_leaves_no_reply_for_the_next_batch(ctrl_c_works):
    """Ctrl-C during a batch: the finished job was already handed to on_outcome, and the worker still running the
    abandoned job is replaced, so the next batch cannot read that job's reply as its own (it used to: one
    configuration got another's score, and the cache kept it)."""
    import signal
    import threading

    with ProcessExecutor(n_workers=1) as ex:
        ex.run(square_plus_shared, [1], shared=("k", {"offset": 0}))  # the worker is up before the clock starts
        first_worker = ex._workers[0].process.pid
        seen: list = []
        # Ctrl-C shortly after the first job's outcome, while the second (30 s) runs: a fixed 1.5 s from the start
        # assumed the first job had finished by then, which a slow machine need not do
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))

        def on_outcome(i, o):
            seen.append((i, o.value[0]))
            timer.start()

        try:
            with pytest.raises(KeyboardInterrupt):
                ex.run(square_plus_shared, [2, "sleep"], shared=("k", {"offset": 0}), on_outcome=on_outcome)
        finally:
            timer.cancel()
        assert seen == [(0, 4)]
        assert [o.value[0] for o in ex.run(square_plus_shared, [3], shared=("k", {"offset": 0}))] == [9]
        assert ex._workers[0].process.pid != first_worker  # replaced: not stuck behind the abandoned 30 s job


def test_fits_finished_before_an_interrupt_are_cached(openml_session, tmp_path):
    """The cache is written as each fit finishes, so rerunning an interrupted batch retrains only what was missing."""

    class InterruptAfter:
        def __init__(self, inner, n):
            self.inner, self.n = inner, n

        def run(self, fn, jobs, on_outcome=None, **kwargs):
            def report(i, outcome):
                on_outcome(i, outcome)
                if i + 1 == self.n:
                    raise KeyboardInterrupt

            return self.inner.run(fn, jobs, on_outcome=report, **kwargs)

    configs = [{**DEFAULTS["rf"], "max_depth": d} for d in (2, 4, 6, 8)]
    obj = LiveObjective(BREAST_CANCER, "rf", fidelity=SMALL["rf"], executor="inline", cache_dir=tmp_path / "evals")
    obj.executor = InterruptAfter(obj.executor, 2)
    with pytest.raises(KeyboardInterrupt):
        obj.evaluate_batch(configs)
    assert len(obj.cache) == 2
    obj.executor = InlineExecutor()
    again = obj.evaluate_batch(configs)
    assert [e.info["cached"] for e in again] == [True, True, False, False]


def test_workers_never_score_new_data_on_arrays_they_hold_for_data_gone_before(openml_session):
    """Workers keep each dataset's arrays under a key that held id(data): a collected TaskData's id is reused by the
    next one, so relabelled data in a loop (a label-noise study) was scored on the previous labels, without an error."""
    import dataclasses

    from hpo_gym.live import load_task

    base = load_task(BREAST_CANCER)
    config, fidelity = DEFAULTS["rf"], {"n_estimators": 8}
    labels = []
    for k in range(5):  # more label noise each round: other scores
        y = base.y.copy()
        flip = np.random.default_rng(k).random(len(y)) < 0.08 * k
        y[flip] = 1 - y[flip]
        labels.append(y)
    for k in range(5):
        data = dataclasses.replace(base, y=labels[k])  # may get the id of the previous round's, deleted below
        served = LiveObjective(BREAST_CANCER, "rf", fidelity=fidelity, data=data, executor="serial", cache=False)
        score = served.evaluate(config).score
        truth = LiveObjective(BREAST_CANCER, "rf", fidelity=fidelity, data=data, executor="inline", cache=False)
        assert score == truth.evaluate(config).score, f"round {k}: scored on an earlier round's labels"
        del served, truth, data


def test_workers_end_when_the_process_that_started_them_is_killed(tmp_path):
    """A SIGKILLed (or SIGTERMed) parent runs no atexit, and its workers (children of the forkserver) kept fitting, with
    no time limit, until the fit ended. They now notice within about a second and exit."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    pids, busy = tmp_path / "worker_pids", tmp_path / "busy"
    busy.mkdir()
    script = (
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_executors import square_plus_shared\n"
        "from hpo_gym.executors import ProcessExecutor\n"
        "ex = ProcessExecutor(n_workers=2)\n"
        "out = ex.run(square_plus_shared, [1, 2], shared=('k', {'offset': 0}))\n"
        f"open({str(pids)!r}, 'w').write(' '.join(str(o.value[1]) for o in out))\n"
        f"ex.run(square_plus_shared, [('marked sleep', {str(busy)!r})] * 2, shared=('k', {{'offset': 0}}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=str(Path(__file__).resolve().parents[2]))
    try:  # a failed setup check must not leave the parent and its two sleeping workers behind
        deadline = time.time() + 60
        while not (pids.exists() and pids.read_text()) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert pids.exists() and pids.read_text(), f"the parent never wrote its workers' pids (exit code {proc.poll()})"
        workers = [int(p) for p in pids.read_text().split()]
        deadline = time.time() + 60  # both workers in their 30 s job (a fixed 0.5 s wait could kill the parent before)
        while sorted(int(p.name) for p in busy.iterdir()) != sorted(workers) and time.time() < deadline:
            time.sleep(0.05)
        assert sorted(int(p.name) for p in busy.iterdir()) == sorted(workers), "the workers never started their jobs"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"

    deadline = time.time() + 10
    while any(alive(p) for p in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers), f"workers {workers} outlived their parent"


def echo_after(shared, job):
    """Return ``job[0]`` after ``job[1]`` seconds (shared: unused)."""
    time.sleep(job[1])
    return job[0]


def mark_then_echo(shared, job):
    """Write the file ``job[0]`` (the job is running), then return ``job[1]`` after ``job[2]`` seconds."""
    Path(job[0]).write_text("started")
    time.sleep(job[2])
    return job[1]


def test_two_threads_sharing_one_pool_each_get_their_own_replies():
    """Live objectives in one process share one executor; two threads' batches on it read each other's replies from
    the workers' pipes (and the evaluation cache kept them as their scores). Batches now run one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    with ProcessExecutor(n_workers=2) as ex:
        def batch(tag: str) -> list:
            jobs = [(f"{tag}{i}", 0.02 * ((i * 7) % 5)) for i in range(8)]
            return [o.value for o in ex.run(echo_after, jobs)]

        with ThreadPoolExecutor(2) as threads:
            a, b = threads.map(batch, ["a", "b"])
    assert a == [f"a{i}" for i in range(8)] and b == [f"b{i}" for i in range(8)]


def test_ctrl_c_reaching_a_worker_does_not_fail_the_fit_it_runs(ctrl_c_works, tmp_path):  # ignored by the worker's own doing
    """Ctrl-C reaches the terminal's whole process group: a worker turned it into a failed fit with the worst score,
    which a benchmark finishing its run in flight stored. Workers ignore it; the owner stops them itself."""
    import signal
    import threading

    with ProcessExecutor(n_workers=1) as ex:
        ex.run(echo_after, [(0, 0.0)])  # the worker is up
        pid = ex._workers[0].process.pid
        started = tmp_path / "started"

        def interrupt_the_running_fit():  # once the job is running, not after a guessed delay (an idle worker proves nothing)
            deadline = time.monotonic() + 30
            while not started.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(pid, signal.SIGINT)

        sender = threading.Thread(target=interrupt_the_running_fit)
        sender.start()
        out = ex.run(mark_then_echo, [(str(started), "done", 1.0)])
        sender.join()
    assert started.exists() and out[0].error is None and out[0].value == "done"


def _fit_in_a_forked_child(results) -> None:
    with ProcessExecutor(n_workers=1) as ex:
        results.put(ex.run(echo_after, [("child", 0.0)])[0].value)


def test_a_forked_process_starts_its_own_forkserver():
    """A forked benchmark worker inherited the parent's forkserver record and checked on a process that was not its
    child (ChildProcessError): after any live fit in the calling process, every fit of run_benchmark(jobs=2) failed."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    with ProcessExecutor(n_workers=1) as ex:  # the parent's forkserver is up
        assert ex.run(echo_after, [("parent", 0.0)])[0].value == "parent"
        fork = mp.get_context("fork")
        results = fork.Queue()
        child = fork.Process(target=_fit_in_a_forked_child, args=(results,))
        child.start()
        child.join(60)
    assert child.exitcode == 0 and results.get(timeout=5) == "child"


@pytest.mark.parametrize("executor", [InlineExecutor, lambda: ProcessExecutor(n_workers=1)])
def test_a_time_limit_or_shared_key_that_cannot_work_is_refused_with_the_fix(executor):
    """NaN made the process executor spin with no limit, -1 timed every job out at once, and a shared object keyed
    None reached its jobs as None (a failure cached as the job's own); the inline executor took them silently."""
    with executor() as ex:
        for bad in (float("nan"), -1.0, 0, float("inf"), True):
            with pytest.raises(ValueError, match=rf"time_limit={bad!r}: give the seconds a job may run, a number > 0, "
                                                 "or None for no limit"):
                ex.run(square_plus_shared, [1], shared=("k", {"offset": 0}), time_limit=bad)
        with pytest.raises(ValueError, match="shared must be a \\(key, object\\) pair whose key names the object "
                                             "\\(hashable, not None\\), got tuple with key None"):
            ex.run(square_plus_shared, [1], shared=(None, {"offset": 0}))
        assert [o.value[0] for o in ex.run(square_plus_shared, [3], shared=("k", {"offset": 1}), time_limit=np.float64(30))] == [10]


def test_a_dropped_copy_of_a_process_executor_takes_its_workers_with_it():
    """Each pickled copy registered its own exit hook, which kept it (and its workers) alive until the interpreter
    exited: four round trips of a one-worker executor left five workers running."""
    import gc
    import pickle

    with ProcessExecutor(n_workers=1) as ex:
        ex.run(square_plus_shared, [1], shared=("k", {"offset": 0}))
        processes = []
        for _ in range(3):
            copy = pickle.loads(pickle.dumps(ex))
            copy.run(square_plus_shared, [1], shared=("k", {"offset": 0}))
            processes += [w.process for w in copy._workers]
            del copy
        gc.collect()
        deadline = time.time() + 10
        while any(p.is_alive() for p in processes) and time.time() < deadline:
            time.sleep(0.05)
        assert not any(p.is_alive() for p in processes)
        assert all(w.process.is_alive() for w in ex._workers)  # the original keeps its own
