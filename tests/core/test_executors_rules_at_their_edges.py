"""Executors, map_jobs, the directory lock, atomic writes and fingerprints: behaviours a hand mutation review found
unpinned. Real processes, a real local Ray instance and real files; nothing of the code under test is replaced."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hpo_gym.atomic import atomic_path, temporaries_of, temporary_sibling
from hpo_gym.executors import ProcessExecutor
from hpo_gym.fingerprint import array_fingerprint, files_fingerprint
from hpo_gym.lock import DirectoryInUse, directory_lock
from hpo_gym.parallel import map_jobs


# -- job functions (module level: workers import them) ------------------------------------------------------------
def job(shared, spec):
    """``spec = (what, arg)``: ``("echo", v)`` returns ``(v, pid)``; ``("shared", v)`` returns ``(shared["offset"] + v,
    pid)``; ``("sleep", s)`` sleeps ``s`` seconds, then returns ``("slept", pid)`` (``("marked sleep", (file, s))``
    writes its pid to ``file`` first); ``("crash", path)`` appends a line to ``path`` and kills its own process;
    ``("unpicklable", _)`` returns a value that cannot be pickled."""
    what, arg = spec
    if what == "marked sleep":  # arg = (file, seconds): writes this process's pid to the file, then sleeps
        Path(arg[0]).write_text(str(os.getpid()))
        time.sleep(arg[1])
        return "slept", os.getpid()
    if what == "sleep":
        time.sleep(arg)
        return "slept", os.getpid()
    if what == "crash":
        with open(arg, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        os._exit(9)
    if what == "unpicklable":
        return lambda: None
    if what == "shared":
        return shared["offset"] + arg, os.getpid()
    return arg, os.getpid()


def sleep_then_echo(spec: tuple[int, float]) -> tuple[int, int]:
    """map_jobs job: sleep ``spec[1]`` seconds, return ``(spec[0], pid)``."""
    time.sleep(spec[1])
    return spec[0], os.getpid()


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is no zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _ends_within(pid: int, seconds: float) -> bool:
    deadline = time.time() + seconds
    while _running(pid) and time.time() < deadline:
        time.sleep(0.05)
    return not _running(pid)


# -- process executor ----------------------------------------------------------------------------------------------
def test_a_timed_out_worker_is_killed_and_the_next_job_runs_on_a_fresh_one():
    """A fit over the time limit must be stopped, not just reported: the worker that ran it is killed and replaced, so
    the next batch's fit neither waits behind the abandoned one (and times out in turn) nor shares its CPU."""
    with ProcessExecutor(n_workers=1) as ex:
        ex.run(job, [("echo", 0)])  # the worker is up before the clock starts
        first = ex._workers[0].process
        out = ex.run(job, [("sleep", 30)], time_limit=1.0)
        assert out[0].error.startswith("timeout: still running after the time limit of 1 s") and out[0].transient
        first.join(5)
        assert not first.is_alive(), "the timed-out fit still runs"
        t = time.perf_counter()
        again = ex.run(job, [("echo", 7)], time_limit=10)
        # a fresh worker starts in a second or two even on a busy machine; behind the abandoned fit it waited ~29 s
        assert again[0].ok and again[0].value[0] == 7 and time.perf_counter() - t < 15, again


def test_a_job_over_its_time_limit_is_stopped_at_its_own_limit_not_a_later_jobs():
    """The wait for replies ends at the earliest deadline of the jobs in flight: a job is reported timed out about
    ``time_limit`` after it started, not when a later-started job's deadline comes, nor when the runaway fit ends."""
    with ProcessExecutor(n_workers=2) as ex:
        ex.run(job, [("echo", 0), ("echo", 0)])  # both workers up
        t = time.perf_counter()
        # job 0 runs away; job 1 ends at 2 s, and job 2 then runs away from 2 s (its deadline 5 s): wide margins, so
        # that a busy machine's delays tell neither a late job 1 nor a late report from the rule
        out = ex.run(job, [("sleep", 30), ("sleep", 2.0), ("sleep", 30)], time_limit=3.0)
        wall = time.perf_counter() - t
    assert [o.ok for o in out] == [False, True, False] and out[0].error.startswith("timeout")
    assert out[0].seconds < 3.0 + 1.2, f"job 0 was stopped {out[0].seconds:.2f} s after its start, limit 3 s"
    assert wall < 15, wall


def test_the_default_process_pool_has_one_worker_per_core():
    """``executor="process"`` without n_workers is documented as one worker per core."""
    with ProcessExecutor() as ex:
        assert ex.n_workers == (os.cpu_count() or 1)


def test_a_result_that_cannot_be_sent_back_is_a_transient_failure_and_the_worker_stays():
    """An unpicklable return value is that job's failure, named, and the worker (with the data it holds) carries on,
    rather than a worker death reported as "out of memory or a crash in native code"."""
    with ProcessExecutor(n_workers=1) as ex:
        pid = ex.run(job, [("echo", 0)])[0].value[1]
        out = ex.run(job, [("unpicklable", 0), ("echo", 3)])
        assert out[0].error.startswith("result could not be sent back:") and out[0].transient, out[0]
        assert out[1].value == (3, pid)


def test_closing_a_pool_lets_its_idle_workers_exit_at_once():
    """close() asks each worker to stop and they exit on their own: waiting for each one's 2 s grace before killing it
    made every exit of a program with an n-core pool take 2 s per worker."""
    ex = ProcessExecutor(n_workers=2)
    ex.run(job, [("echo", 0), ("echo", 0)])
    processes = [w.process for w in ex._workers]
    t = time.perf_counter()
    ex.close()
    assert time.perf_counter() - t < 3.0 and not any(p.is_alive() for p in processes)  # 2 s of grace each: 4 s
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]  # left on their own, not killed


def _use_the_inherited_executor(ex, action, results):
    try:
        if action == "close":
            ex.close()
            results.put("closed")
        else:
            results.put(ex.run(job, [("echo", 5)])[0].value[0])
    except BaseException as e:  # noqa: BLE001
        results.put(f"{type(e).__name__}: {e}")


@pytest.mark.parametrize("action", ["close", "run"])
def test_a_forked_child_neither_stops_nor_borrows_the_parents_workers(action):
    """A process forked while the parent holds a pool (a benchmark worker, an async vector env) inherits the executor
    object. Closing it there must not stop the parent's workers (it sent them the stop message through the inherited
    pipes), and running it there starts the child's own workers rather than touching the parent's."""
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    fork = mp.get_context("fork")
    with ProcessExecutor(n_workers=1) as ex:
        pid = ex.run(job, [("echo", 0)])[0].value[1]
        results = fork.Queue()
        child = fork.Process(target=_use_the_inherited_executor, args=(ex, action, results))
        child.start()
        child.join(60)
        reply = results.get(timeout=5)
        assert child.exitcode == 0 and reply == ("closed" if action == "close" else 5), reply
        assert ex._workers[0].process.pid == pid and ex._workers[0].process.is_alive()
        assert ex.run(job, [("echo", 6)])[0].value == (6, pid)


def test_workers_end_when_their_parent_is_killed_but_not_yet_reaped(tmp_path):
    """A killed parent whose own parent has not reaped it yet is a zombie, and ``kill(pid, 0)`` still succeeds on it:
    its workers must notice by its state, or they fit on, unlimited, until whoever started it waits for it."""
    pids = tmp_path / "pids"
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from hpo_gym.executors import ProcessExecutor\n"
        "from tests.core.test_executors_rules_at_their_edges import job\n"
        "ex = ProcessExecutor(n_workers=1)\n"
        f"open({str(pids)!r}, 'w').write(str(ex.run(job, [('echo', 0)])[0].value[1]))\n"
        "ex.run(job, [('sleep', 60)])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 60
        while not (pids.exists() and pids.read_text()) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        worker = int(pids.read_text())
        time.sleep(0.3)  # the worker is in its 60 s job
        os.kill(proc.pid, 9)  # not waited for: the parent stays a zombie while the workers are watched

        def alive(pid: int) -> bool:
            try:
                return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
            except OSError:
                return False

        deadline = time.time() + 8
        while alive(worker) and time.time() < deadline:
            time.sleep(0.1)
        assert not alive(worker), "the worker outlived its killed (zombie) parent"
    finally:
        proc.kill()
        proc.wait(timeout=10)


# -- map_jobs -------------------------------------------------------------------------------------------------------
def test_map_jobs_returns_results_in_job_order_when_they_finish_out_of_order():
    """Callers zip the results with their jobs: the result list follows the jobs, not the order they finished in."""
    out = map_jobs(sleep_then_echo, [(i, 0.9 - 0.3 * i) for i in range(4)], 2, progress=False)
    assert [v for v, _ in out] == [0, 1, 2, 3]


def test_map_jobs_runs_a_single_job_in_this_process_even_with_several_workers():
    """One job needs no pool: nothing is forked (a forked child of a process that trained on CUDA cannot train)."""
    out = map_jobs(sleep_then_echo, [(3, 0.0)], 4, progress=False)
    assert out == [(3, os.getpid())]


def fail_or_sleep(seconds: float) -> float:
    """map_jobs job: raise at once for a negative ``seconds``, else sleep that long."""
    if seconds < 0:
        raise RuntimeError("this job failed")
    time.sleep(seconds)
    return seconds


def test_a_failing_job_does_not_claim_the_map_was_interrupted(capsys):
    """The "interrupted; waiting for the jobs in flight ... (Ctrl-C again to end them)" note is for Ctrl-C: after a
    job's own error it told the user to press Ctrl-C to end jobs nobody had interrupted."""
    with pytest.raises(RuntimeError, match="this job failed"):
        map_jobs(fail_or_sleep, [1.0, -1.0], 2, desc="fits", progress=False)
    assert "interrupted" not in capsys.readouterr().err


# -- directory lock -------------------------------------------------------------------------------------------------
def test_a_refusal_names_the_current_holder_not_an_earlier_one(tmp_path):
    """The lock file holds the current holder only: a refusal named the first process that ever held the directory
    when each holder appended its line."""
    with directory_lock(tmp_path, "an earlier benchmark with a long name"):
        pass
    with directory_lock(tmp_path, "the training run"):
        held = (tmp_path / ".hpo_gym.lock").read_text().splitlines()
        with pytest.raises(DirectoryInUse) as refused:
            with directory_lock(tmp_path, "a second writer"):
                pass
    assert "is being written by the training run (pid" in str(refused.value)
    assert "earlier" not in str(refused.value) and "stale" not in str(refused.value)  # the holder, not the file's note
    # while held: the holder, and a note that a name left after a kill is stale (found by a new user, who read a
    # finished benchmark's name there as one still running); after a clean exit: empty
    assert held[0].startswith("the training run (pid") and "stale and harmless" in held[1] and len(held) == 2
    assert (tmp_path / ".hpo_gym.lock").read_text() == ""


# -- atomic writes --------------------------------------------------------------------------------------------------
def test_the_new_content_is_on_disk_before_it_gets_the_files_name(tmp_path, monkeypatch):
    """A machine crash right after the rename must not leave a named but empty file: the temporary is fsynced before
    os.replace. A spy on the real os.fsync records which file it synced (nothing is replaced)."""
    import hpo_gym.atomic

    synced, real_fsync = [], os.fsync

    def spy(fd):
        synced.append(os.path.realpath(os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc")
    monkeypatch.setattr(hpo_gym.atomic.os, "fsync", spy)
    target = tmp_path / "policy.pt"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"weights")
    assert synced == [os.path.realpath(temporary_sibling(target))] and target.read_bytes() == b"weights"


def test_only_atomic_writes_temporaries_count_as_a_files_temporaries(tmp_path):
    """The cleaners delete what temporaries_of names: a user's ``.state.pt.bak`` beside ``state.pt`` is not one."""
    target = tmp_path / "state.pt"
    for name in (".state.pt.bak", ".state.pt.tmp-12", "state.pt"):
        (tmp_path / name).write_bytes(b"x")
    assert temporaries_of(target) == [tmp_path / ".state.pt.tmp-12"]


# -- fingerprints ---------------------------------------------------------------------------------------------------
def test_an_array_fingerprint_tells_shape_dtype_and_prefix_apart():
    """Two tables with the same bytes in another shape or dtype are other data (a 2x3 grid is no 3x2 grid); the prefix
    (a table's name, space, metric) is part of the key."""
    a = np.arange(6, dtype=np.int64)
    assert array_fingerprint([a]) != array_fingerprint([a.reshape(2, 3)])
    assert array_fingerprint([a.reshape(2, 3)]) != array_fingerprint([a.reshape(3, 2)])
    assert array_fingerprint([np.array(7.0)]) != array_fingerprint([np.array([7.0])])  # a 0-d array is no 1-vector
    assert array_fingerprint([a]) != array_fingerprint([a.view(np.float64)])
    assert array_fingerprint([a], prefix=b"t1") != array_fingerprint([a], prefix=b"t2") != array_fingerprint([a])
    # the same values, however laid out in memory, are the same data
    f = np.asfortranarray(a.reshape(2, 3))
    assert array_fingerprint([f]) == array_fingerprint([a.reshape(2, 3)])


def test_a_files_fingerprint_sees_a_missing_file_a_moved_boundary_and_a_change_after_the_first_mebibyte(tmp_path):
    """Agent files are checkpoints of many MiB: a retrained one that differs only late in the file, a fold file that
    appeared, or bytes moved from one file to the next must each change the fingerprint, or a rerun returns the old
    checkpoint's stored runs as the new one's."""
    a, b, big = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "big.pt"
    a.write_bytes(b"ab")
    b.write_bytes(b"c")
    before = files_fingerprint([a, b])
    assert files_fingerprint([a]) != files_fingerprint([a, tmp_path / "fold1.pt"])  # a missing fold counts
    a.write_bytes(b"a")
    b.write_bytes(b"bc")
    assert files_fingerprint([a, b]) != before  # same concatenated bytes, other files
    data = bytearray(3 << 20)
    big.write_bytes(bytes(data))
    first = files_fingerprint([big])
    data[-1] = 1
    big.write_bytes(bytes(data))
    assert files_fingerprint([big]) != first


def test_a_files_fingerprint_is_stable_across_versions(tmp_path):
    """Result directories store these fingerprints (agents.json) and refuse a rerun whose agent files changed: a change
    of the formula would refuse every earlier result directory. Pinned: sha256 over each file's size, a NUL and its
    bytes, missing files marked, the first 16 hex digits."""
    a = tmp_path / "policy.pt"
    a.write_bytes(b"weights")
    expected = hashlib.sha256(b"7\x00weights" + b"\x00missing\x00").hexdigest()[:16]
    assert files_fingerprint([a, tmp_path / "gone.pt"]) == expected


# -- Ray ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_executor():
    pytest.importorskip("ray")
    from hpo_gym.executors import RayExecutor

    executor = RayExecutor(num_cpus=2)
    executor.run(job, [("echo", 0), ("echo", 0)])  # Ray's workers up before any clock starts
    yield executor
    executor.close()


def test_ray_stops_a_job_at_its_time_limit_and_frees_its_cpu(ray_executor, tmp_path):
    """A runaway fit on Ray is reported as a transient timeout about time_limit after it started (on_outcome hears of
    it, so a caller's bookkeeping is complete), and its task is cancelled: the process running it ends, rather than
    fit on, unlimited, holding a CPU from the next batches."""
    seen, mark = [], tmp_path / "pid"
    t = time.perf_counter()
    out = ray_executor.run(job, [("marked sleep", (str(mark), 30)), ("echo", 1)], time_limit=1.5,
                           on_outcome=lambda i, o: seen.append(i))
    assert out[0].error.startswith("timeout: still running after the time limit of 1.5 s") and out[0].transient
    assert out[1].value[0] == 1 and sorted(seen) == [0, 1]
    assert time.perf_counter() - t < 15  # not the runaway's 30 s
    assert _ends_within(int(mark.read_text()), 10), "the timed-out task still runs"
    again = ray_executor.run(job, [("sleep", 0.3), ("sleep", 0.3)], time_limit=10)
    assert all(o.ok for o in again), again


def test_ray_runs_no_more_jobs_at_once_than_cpus_so_waiting_is_not_counted(ray_executor):
    """Each job's time limit counts from its submission, so jobs are submitted only when a CPU is free: four 2.5 s
    jobs on two CPUs under a 4.6 s limit all finish (submitted at once, the last two could finish no sooner than 5 s
    after their submission, and would time out in the queue)."""
    for _ in range(10):  # two Ray workers up (one whose task was cancelled is started again lazily, slowly when busy)
        if len({o.value[1] for o in ray_executor.run(job, [("sleep", 1.0)] * 2)}) == 2:
            break
    out = ray_executor.run(job, [("sleep", 2.5)] * 4, time_limit=4.6)
    assert all(o.ok for o in out), out


def test_a_crashed_ray_task_is_a_transient_failure_and_is_not_retried(ray_executor, tmp_path):
    """A worker killed mid-fit (out of memory) is the machinery's failure: transient, so not cached as the
    configuration's result; and Ray does not rerun it behind the executor's back (the fit ran once)."""
    marks = tmp_path / "runs"
    out = ray_executor.run(job, [("crash", str(marks)), ("echo", 2)], time_limit=30)
    assert out[0].error.startswith("ray task failed:") and out[0].transient, out[0]
    assert out[1].value[0] == 2
    assert len(marks.read_text().splitlines()) == 1


def test_ray_keeps_the_newest_shared_objects_and_serves_each_batch_its_own(ray_executor):
    """More datasets than slots in a row: each batch is scored on its own data (none evicted under it)."""
    from hpo_gym.executors import SHARED_SLOTS

    for k in range(SHARED_SLOTS + 2):
        out = ray_executor.run(job, [("shared", 1)], shared=(f"data{k}", {"offset": 10 * k}))
        assert out[0].ok and out[0].value[0] == 10 * k + 1, out[0]


def test_an_interrupted_ray_batch_cancels_the_tasks_still_running(ray_executor, tmp_path):
    """An error in on_outcome (or Ctrl-C) ends the batch: the task still running is cancelled (its process ends), so it
    does not fit on, unlimited, holding a CPU from the next batch."""
    mark = tmp_path / "pid"

    def stop(i, o):
        deadline = time.time() + 30
        while not (mark.exists() and mark.read_text()) and time.time() < deadline:  # the long job is running
            time.sleep(0.02)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ray_executor.run(job, [("echo", 0), ("marked sleep", (str(mark), 30))], on_outcome=stop)
    assert _ends_within(int(mark.read_text()), 10), "the abandoned task still runs"
    out = ray_executor.run(job, [("sleep", 0.3), ("sleep", 0.3)], time_limit=10)
    assert all(o.ok for o in out), out
