"""Reliability: SIGKILL a running ``hpo-gym bench`` and resume it; every run must be stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hpo_gym.benchmark import ResultStore

AGENTS, SEEDS, BUDGET, JOBS = "random,tpe", 5, 50, 2
TOTAL = 2 * 8 * SEEDS  # agents x tasks x seeds
KILL_AFTER = 10  # stored runs

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes in /proc")


def bench_command(out) -> list[str]:
    return [sys.executable, "-m", "hpo_gym", "bench", "--agents", AGENTS, "--budget", str(BUDGET), "--seeds", str(SEEDS),
            "--jobs", str(JOBS), "--out", str(out), "--no-report"]


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state, ppid, ...); None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """True while ``pid`` executes (an exited child awaiting its reaper, a zombie, has stopped running)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll ``condition``; the timeout is only a safety net that fails the test naming what never happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def test_sigkill_mid_benchmark_then_resume_stores_every_run_once(tmp_path):
    out = tmp_path / "bench"
    store = ResultStore(out)
    proc = subprocess.Popen(bench_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(store.shard_paths()) >= KILL_AFTER or proc.poll() is not None,
                 f"{KILL_AFTER} stored runs", timeout=600)
        assert proc.poll() is None, f"the benchmark exited (code {proc.returncode}) before {KILL_AFTER} runs were stored"
        workers = children_of(proc.pid)
        assert len(workers) >= JOBS, f"expected the {JOBS} worker processes of --jobs {JOBS}, found {workers}"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    at_kill = len(store.shard_paths())
    assert KILL_AFTER <= at_kill < TOTAL, f"the kill should land mid-benchmark, found {at_kill}/{TOTAL} runs"
    # orphaned workers notice the dead parent and exit; at most their in-flight runs land
    try:
        wait_for(lambda: not any(map(running, workers)), "the workers to exit after their parent was killed", timeout=120)
    finally:  # never leave a stray worker behind, even when the test fails
        for pid in filter(running, workers):
            os.kill(pid, signal.SIGKILL)
    settled = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    assert len(settled) <= at_kill + JOBS, f"{len(settled) - at_kill} runs landed after the kill, more than were in flight"

    done = subprocess.run(bench_command(out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    df = store.load()
    runs = df.groupby(["agent", "task", "seed"])
    assert runs.ngroups == TOTAL
    assert (runs.size() == BUDGET).all()  # no duplicated steps, no missing steps
    assert not df.duplicated(["agent", "task", "seed", "step"]).any()
    assert (df["status"] == "ok").all()
    assert len(store.shard_paths()) == TOTAL
    assert not list(store.runs_dir.glob(".*.tmp-*")), "temporary files were left behind"
    # the resume ran only the missing runs: every shard stored before it is untouched
    after = {p.name: p.stat().st_mtime_ns for p in store.shard_paths()}
    assert {name: after[name] for name in settled} == settled


# -- Ctrl-C, a killed worker, temporaries of a kill ------------------------------------------------------------------
SHORT_SEEDS, SHORT_BUDGET = 4, 30  # 64 short runs: a few seconds in all, so an interruption lands early
SHORT_TOTAL = 2 * 8 * SHORT_SEEDS


def short_bench(out) -> list[str]:
    return [sys.executable, "-m", "hpo_gym", "bench", "--agents", AGENTS, "--budget", str(SHORT_BUDGET),
            "--seeds", str(SHORT_SEEDS), "--jobs", str(JOBS), "--out", str(out), "--no-report"]


def start_and_wait_for_a_run(out, **popen) -> subprocess.Popen:
    """Start the short benchmark at a lower priority than this test, so that on a busy machine the test still sees its
    first stored run early (the 64 runs take a few seconds), and wait for that run."""
    proc = subprocess.Popen(short_bench(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.nice(5), **popen)
    wait_for(lambda: bool(ResultStore(out).shard_paths()) or proc.poll() is not None, "the first stored run", 120)
    assert proc.poll() is None, f"the benchmark exited (code {proc.returncode}) before it could be interrupted"
    return proc


def finish(proc: subprocess.Popen) -> tuple[str, float]:
    """Wait for ``proc`` (killing its group if it hangs); its stderr and how long it took to exit."""
    start = time.monotonic()
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return err, time.monotonic() - start


def assert_rerun_completes(out) -> None:
    done = subprocess.run(short_bench(out), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    store = ResultStore(out)
    runs = store.load().groupby(["agent", "task", "seed"])
    assert runs.ngroups == SHORT_TOTAL and (runs.size() == SHORT_BUDGET).all()
    assert not list(store.runs_dir.glob(".*.tmp-*"))


@pytest.mark.parametrize("target", ["process group", "parent only", "kill (SIGTERM) to the parent",
                                    "SIGTERM to the process group"])
def test_ctrl_c_with_jobs_stops_at_once_keeping_finished_runs_and_the_rerun_completes(tmp_path, target,
                                                                                     ctrl_c_works):
    """Ctrl-C reaches the whole process group; the audit also sent SIGINT to the parent alone. Either way `--jobs 2` used
    to run every queued run first (the pool's `with` exit undid cancel_futures), then end in a traceback. A plain
    `kill` (SIGTERM: `timeout`, `scancel`, `docker stop`) ended it at once, silently, losing the runs in flight (found by
    a new user); it is handled as Ctrl-C. `timeout` and `scancel` send it to the whole group, whose workers then died
    with their runs in flight (found in review); they finish and store them, as for Ctrl-C."""
    out = tmp_path / "bench"
    proc = start_and_wait_for_a_run(out, start_new_session=True)  # its own group: the signal never reaches pytest
    # frozen while the stored runs are counted and the signal is sent: a busy machine cannot slip runs in between
    os.killpg(proc.pid, signal.SIGSTOP)
    at_signal = len(ResultStore(out).shard_paths())
    assert at_signal < SHORT_TOTAL // 4, f"{at_signal}/{SHORT_TOTAL} runs were stored before Ctrl-C could be sent"
    if target.endswith("process group"):
        os.killpg(proc.pid, signal.SIGINT if target == "process group" else signal.SIGTERM)
    else:
        os.kill(proc.pid, signal.SIGINT if target == "parent only" else signal.SIGTERM)
    os.killpg(proc.pid, signal.SIGCONT)
    err, _ = finish(proc)
    stored = len(ResultStore(out).shard_paths())
    # the runs in flight finish, and a worker may finish a few millisecond runs before this process sets the stop
    # flag; the queued ones (most of the 64) must not run
    assert stored <= SHORT_TOTAL // 2, f"{stored}/{SHORT_TOTAL} runs stored after Ctrl-C at {at_signal}: the queued ran"
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    line = err.strip().splitlines()[-1]
    assert line == (f"hpo-gym bench: interrupted; rerun the same command to resume "
                    f"({stored} run{'' if stored == 1 else 's'} stored in {out})")
    if target != "parent only":
        assert_rerun_completes(out)


def put_ticks(ticks, n: int) -> None:
    for _ in range(n):
        ticks.put(1)


def test_the_progress_ticks_survive_ctrl_c_in_the_benchmark_process(ctrl_c_works):
    """CI once saw `--jobs 2` end in `EOFError: Ran out of input` instead of exit 130: Ctrl-C raised KeyboardInterrupt
    inside the benchmark process's read of the workers' tick queue, after a message's length and before its body, and
    the next read took the body for a length. The ticks are now read by a thread of their own, where no signal raises:
    Ctrl-C in the main thread while the ticks stream in leaves the reader running, every tick counted and the queue
    readable."""
    import io
    import multiprocessing as mp
    import threading

    from tqdm.auto import tqdm

    from hpo_gym.benchmark.runner import _count_ticks

    n = 20_000
    ctx = mp.get_context("fork")
    ticks, done = ctx.Queue(), threading.Event()
    bar = tqdm(total=n, file=io.StringIO())  # enabled: a disabled bar counts nothing
    counter = _count_ticks(ticks, bar, done)
    sender = ctx.Process(target=put_ticks, args=(ticks, n))
    sender.start()
    wait_for(lambda: bar.n > 0, "the first tick", 60)
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)
    assert counter.is_alive()
    sender.join(60)
    done.set()
    counter.join(60)
    assert not counter.is_alive() and bar.n == n
    ticks.put("after")  # the pipe is not left mid-message
    assert ticks.get(timeout=10) == "after"


def test_the_bar_counts_every_run_of_a_parallel_benchmark(tmp_path, capsys):
    """The bar advances from the workers' ticks; when the pool is done, every tick has been counted."""
    from agents.registry import make_agent
    from hpo_gym.benchmark import run_benchmark

    run_benchmark(["random"], ["car", "kc1"], budget=3, seeds=3, jobs=2, out=tmp_path, progress=True,
                  resolve_agent=make_agent)
    assert "6/6" in capsys.readouterr().err


#: An agent that says when each run starts (a marker file beside its module) and takes about 3 s per 60-step run.
MARKING_AGENT = """
import pathlib, time
from agents.random_search import RandomSearch

class MarksItsRuns(RandomSearch):
    def reset(self, space, seed=None, budget=None):
        super().reset(space, seed=seed, budget=budget)
        pathlib.Path(__file__).with_name(f"started-{time.time_ns()}").touch()

    def act(self, observation):
        time.sleep(0.05)
        return super().act(observation)
"""


@pytest.mark.parametrize("sent, jobs", [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGTERM, 2)],
                         ids=["ctrl-c", "kill", "kill with --jobs 2"])
def test_ctrl_c_or_kill_finishes_and_stores_the_runs_in_flight(tmp_path, ctrl_c_works, sent, jobs):
    """With --jobs 1 (the default) Ctrl-C used to throw the run in flight away; the pool stored it. The signal is sent
    to the process group, as a terminal, `timeout` and `scancel` send it, once a run has started and is not stored yet
    (the agent marks each start; a fixed sleep after a stored run was a guess that could land between two runs, with
    nothing in flight). A plain `kill` (SIGTERM) does as Ctrl-C does; with --jobs 2 the workers died of it, with their
    runs in flight (found in review). Every run that started is stored."""
    out = tmp_path / "bench"
    (tmp_path / "marking_agent.py").write_text(MARKING_AGENT)
    command = [sys.executable, "-m", "hpo_gym", "bench", "--agents", "marking_agent:MarksItsRuns", "--tasks", "car,kc1",
               "--budget", "60", "--seeds", "3", "--jobs", str(jobs), "--out", str(out), "--no-report"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            cwd=tmp_path)

    def a_second_run_in_flight() -> bool:
        started, stored = len(list(tmp_path.glob("started-*"))), len(ResultStore(out).shard_paths())
        return (stored >= 1 and started > stored) or proc.poll() is not None

    wait_for(a_second_run_in_flight, "a run in flight after the first stored one", 120)
    assert proc.poll() is None, f"the benchmark exited (code {proc.returncode}) before it could be interrupted"
    stored_before = len(ResultStore(out).shard_paths())
    os.killpg(proc.pid, sent)
    err, _ = finish(proc)
    stored = len(ResultStore(out).shard_paths())
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert ("interrupted: finishing the run in flight, which is stored (Ctrl-C again to abandon it)" if jobs == 1 else
            "interrupted: finishing the runs in flight, which are stored (Ctrl-C again to abandon them)") in err
    assert stored_before < stored < 6, (stored_before, stored)  # the run in flight was stored, and no new one started
    assert stored == len(list(tmp_path.glob("started-*")))  # every run that started finished and was stored
    assert err.strip().splitlines()[-1].endswith(f"({stored} runs stored in {out})")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def test_a_killed_worker_is_reported_as_a_dead_worker_with_the_failed_runs_status_and_the_rerun_resumes(tmp_path):
    """SIGKILL of a worker (what the out-of-memory killer does) used to print the pool's 'terminated abruptly' as
    an error of the command line and exit 2, which --help documents as bad input."""
    out = tmp_path / "bench"
    proc = start_and_wait_for_a_run(out, start_new_session=True)
    workers = [pid for pid in children_of(proc.pid) if _cmdline(pid) == _cmdline(proc.pid)]  # forked: same command line
    assert workers, f"no worker process of --jobs {JOBS} found"
    os.kill(workers[0], signal.SIGKILL)
    err, _ = finish(proc)
    assert proc.returncode == 1, err[-2000:]  # as for failed runs (see `hpo-gym bench --help`), not 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("hpo-gym bench: error: a worker process died (killed by a signal or by the out-of-memory")
    assert f"Rerun the same command to resume: finished runs are kept ({len(ResultStore(out).shard_paths())} run" in line
    assert "terminated abruptly" not in err and "Traceback" not in err
    assert_rerun_completes(out)


def test_a_rerun_removes_the_temporaries_a_kill_left_in_the_root_and_in_fitted(tmp_path):
    """Temp files of the manifest and of the fitted-agent cache (`.NAME.tmp-PID-THREAD`) of a killed writer used to survive
    every rerun: only runs/ was cleaned. The user's own files stay. A temp named by a live pid goes too: the rerun
    holds the directory's lock, so no other writer can be mid-write, and pids are reused (a container's rerun often
    gets the killed run's pid, whose full-size temporaries then stayed forever)."""
    from hpo_gym.cli import main

    out = tmp_path / "bench"
    command = ["bench", "--agents", "random", "--tasks", "credit_g", "--budget", "5", "--seeds", "1", "--out", str(out),
               "--no-report"]
    assert main(command) == 0
    store = ResultStore(out)
    fitted = store.fitted_path("grpoformer", "grpoformer", 0, ["car"], 0)
    fitted.parent.mkdir()
    # a writer killed in the middle of its atomic writes (under the names atomic_path gives its temporaries)
    writer = subprocess.Popen([sys.executable, "-c", f"""
import time
from pathlib import Path
from hpo_gym.atomic import temporary_sibling
for target, data in [({str(out / 'benchmark.json')!r}, b'{{"budg'), ({str(fitted)!r}, b'partial pickle')]:
    temporary = temporary_sibling(Path(target))
    temporary.write_bytes(data)
    print(temporary, flush=True)
time.sleep(600)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        left = [Path(writer.stdout.readline().strip()) for _ in range(2)]
    finally:
        writer.kill()
        writer.wait()
    assert all(p.exists() for p in left) and [p.parent for p in left] == [out, fitted.parent]
    live = fitted.parent / f".{fitted.name}.tmp-{os.getpid()}"  # a live pid, as a reused one is; the older naming
    mine = [out / "notes.txt", out / f".notes.txt.tmp-{writer.pid}", fitted.parent / f"my.pkl.tmp-{writer.pid}"]
    for path in [live, *mine]:
        path.write_text("keep")
    assert main(command) == 0
    assert not any(p.exists() for p in left), "the killed writer's temporaries survived the rerun"
    assert not live.exists() and all(p.read_text() == "keep" for p in mine)
    assert store.manifest()["budget"] == 5


@pytest.mark.parametrize("shared_space", [True, False], ids=["loads-at-reset", "loads-at-make"])
def test_a_task_that_fails_to_load_stops_the_benchmark_instead_of_storing_failed_runs(tmp_path, monkeypatch, capsys,
                                                                                      shared_space):
    """A task that cannot start a run (OpenML unreachable, a broken user loader) was stored as the agent's finished,
    failed run, which a rerun skipped once the task loaded again. The benchmark now stops, naming the task; the runs
    finished before are stored and the rerun plays the rest. A suite without a shared space loads its task when the env
    is made, which raised the loader's bare error (exit 2, "bad input") with no word of the stored runs."""
    from agents.registry import make_agent
    from hpo_gym import suites
    from hpo_gym.benchmark import run_benchmark
    from hpo_gym.benchmark.runner import TaskNotLoaded
    from hpo_gym.space import Ordinal, SearchSpace
    from hpo_gym.tabular import TabularObjective

    space = SearchSpace([Ordinal("a", [0, 1, 2, 3])])
    available = {"ok": TabularObjective("ok", space, np.arange(4) / 10)}

    def load(name: str) -> TabularObjective:
        if name not in available:
            raise OSError(f"the table of {name!r} is on a disk that is gone")
        return available[name]

    monkeypatch.setitem(suites._SUITES, "flaky", suites.Suite("flaky", {"ok": None, "late": None}, load, "",
                                                              space if shared_space else None))
    kwargs = dict(suite="flaky", tasks=["ok", "late"], budget=3, seeds=1, out=tmp_path, resolve_agent=make_agent,
                  progress=False)
    with pytest.raises(TaskNotLoaded, match=r"task 'late' could not start a run \(OSError: the table of 'late' is on a "
                                            r"disk that is gone\).*rerun the same command"):
        run_benchmark(["random"], **kwargs)
    assert [p.name for p in ResultStore(tmp_path).shard_paths()]  # the finished run on 'ok' is stored
    from hpo_gym.cli import main

    capsys.readouterr()
    command = ["bench", "--suite", "flaky", "--agents", "random", "--budget", "3", "--seeds", "1", "--out", str(tmp_path),
               "--jobs", "1"]
    assert main(command) == 1  # not bad input (2): the same command plays the rest once the task loads
    assert "error: task 'late' could not start a run" in capsys.readouterr().err
    available["late"] = TabularObjective("late", space, np.arange(4) / 20)
    df = run_benchmark(["random"], **kwargs)
    assert (df["status"] == "ok").all() and set(df["task"]) == {"ok", "late"}


def test_the_ctrl_c_note_says_runs_are_stored_only_with_an_out_directory():
    """Found in review: `hpo-gym demo` (no --out) said the runs in flight "are stored" when nothing was kept."""
    from hpo_gym.benchmark.runner import _in_flight_note

    assert _in_flight_note(True, one=True) == ("interrupted: finishing the run in flight, which is stored "
                                               "(Ctrl-C again to abandon it)")
    assert _in_flight_note(True, one=False).endswith("runs in flight, which are stored (Ctrl-C again to abandon them)")
    assert "stored" not in _in_flight_note(False, one=False).replace("nothing is kept", "")
    assert "without --out nothing is kept" in _in_flight_note(False, one=True)
    # a fold's fit in flight (found by a new user: the note promised runs, and "0 runs stored" followed)
    assert _in_flight_note(True, one=False, fits=True) == (
        "interrupted: finishing the runs in flight, which are stored; a fold's fit in flight finishes and is cached in "
        "DIR/fitted, and its runs wait for the rerun (Ctrl-C again to abandon them)")
    assert "fit" not in _in_flight_note(False, one=False, fits=True)


class InterruptedWhileFitting:
    """A k-fold transfer agent whose fit is interrupted by Ctrl-C (a SIGINT to this process) halfway through."""

    trained_on: tuple[str, ...] = ()

    def fit(self, train_objectives, seed=0):
        os.kill(os.getpid(), signal.SIGINT)
        self.trained_on = tuple(o.name for o in train_objectives)

    def reset(self, space, seed=None, budget=None):
        self.rng, self.d = np.random.default_rng(seed), len(space)

    def act(self, observation):
        return self.rng.random(self.d).astype(np.float32)


def test_ctrl_c_during_a_fold_s_fit_says_the_fit_is_cached_and_its_runs_wait(tmp_path, capsys, ctrl_c_works,
                                                                               monkeypatch):
    """Found by a new user: Ctrl-C while a fold was being fitted said the runs in flight are stored, and "0 runs
    stored" followed. The fit in flight finishes and is cached, and the note says so; the rerun plays the cached fit."""
    from agents import registry
    from agents.registry import make_agent
    from hpo_gym.benchmark import run_benchmark

    # a spec string (fits of spec agents are cached), registered for this test only
    monkeypatch.setitem(registry._FACTORIES, "interrupted-while-fitting", lambda arg: InterruptedWhileFitting())
    kwargs = dict(budget=2, seeds=1, protocol="kfold", folds=2, out=tmp_path, only_tasks=["car"],
                  resolve_agent=make_agent)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(["interrupted-while-fitting"], ["kc1", "car"], **kwargs)
    assert "a fold's fit in flight finishes and is cached in DIR/fitted, and its runs wait for the rerun" in \
        capsys.readouterr().err
    assert not ResultStore(tmp_path).shard_paths() and len(list((tmp_path / "fitted").glob("*.pkl"))) == 1
    rerun = run_benchmark(["interrupted-while-fitting"], ["kc1", "car"], **kwargs)  # a refit would interrupt again
    assert (rerun["status"] == "ok").all() and rerun["heldout"].all()
