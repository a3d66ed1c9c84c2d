"""The session's new behaviour at its edges (a mutation review of the changes since ec62d18: 40 mutants, these tests
kill the real survivors): the user's code in a result directory's record, ``LABEL=SPEC``, SIGTERM as Ctrl-C, the
held-out label of an agent that arrived trained, and the k-fold hint for ``tasks=``."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import textwrap
import threading
import warnings

import pytest

from agents.registry import labelled_specs, make_agent
from hpo_gym.benchmark import run_benchmark
from hpo_gym.benchmark.report import markdown_report
from hpo_gym.benchmark.runner import agent_identity
from hpo_gym.cli import main, run_script
from hpo_gym.user_code import users_code_fingerprint
from tests.benchmark.test_agent_files import MINE, _write_module
from tests.benchmark.test_report_and_store_edges import ArrivedTrained, summary_rows


# -- the user's code in the record -----------------------------------------------------------------------------------
def test_a_checkout_moved_to_another_folder_is_the_same_agent(tmp_path, monkeypatch):
    """The record names the user's code by module and content, not by where the file lies: a result directory resumed
    from a moved or second checkout (another clone on a cluster node) must not be refused as "code edited"."""
    identities = []
    for folder in ("checkout", "moved"):
        (tmp_path / folder).mkdir()
        path = _write_module(tmp_path / folder, "moved_agent", MINE.format(steps=1))
        spec = importlib.util.spec_from_file_location("moved_agent", path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "moved_agent", module)
        spec.loader.exec_module(module)
        identities.append(agent_identity(module.Mine(), "moved_agent:Mine"))
    assert " code " in identities[0] and identities[0] == identities[1]


def test_a_class_made_by_exec_in_the_running_script_has_no_code_hash_and_does_not_fail(tmp_path, monkeypatch):
    """A class the script that runs the benchmark makes with ``exec`` (or one whose source cannot be read) has no source
    to hash: it counts as no code of the user's, and recording it must not raise (a benchmark would fail before any run
    over bookkeeping)."""
    path = _write_module(tmp_path, "driver", 'exec("class Made:\\n    pass\\n")\n')
    spec = importlib.util.spec_from_file_location("__main__", path)
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "__main__", script)
    spec.loader.exec_module(script)
    assert script.Made.__module__ == "__main__"
    assert users_code_fingerprint(script.Made) == ""


# -- held-out and in-sample ------------------------------------------------------------------------------------------
def _fixes(tasks: list[str]) -> tuple[str, str]:
    """The fix the in-sample warning and the report give for ``ArrivedTrained`` (trained on kc1 and car) on ``tasks``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = run_benchmark({"mine": ArrivedTrained}, tasks, budget=2, seeds=1, progress=False)
    [warning] = [str(w.message) for w in caught if "in-sample results" in str(w.message)]
    note = next(line for line in markdown_report(df).splitlines() if line.startswith("held-out = no (in-sample)"))
    return warning.split("reported as 'no (in-sample...)'; ")[1], note.split("not numbers for a new task; ")[1]


def test_the_in_sample_fix_does_not_change_when_the_agents_other_runs_are_held_out():
    """An agent that arrived trained and is also run on a task outside its trained_on now has held-out rows; the fix the
    warning and the report give for its in-sample rows must stay the one for those rows (outside k-fold: use k-fold),
    not switch to the k-fold wording because some row is held-out."""
    alone, mixed = _fixes(["kc1"]), _fixes(["credit_g", "kc1"])
    assert alone == mixed
    assert alone[0].startswith("use --protocol kfold") and alone[1].startswith("use --protocol kfold")


ELSEWHERE = """
from agents.random_search import RandomSearch


class Elsewhere(RandomSearch):
    trained_on = ("a_task_of_another_suite",)
"""


def test_demo_names_labelled_agents_and_says_why_an_arrived_trained_agent_is_held_out(tmp_path, monkeypatch, capsys):
    """``hpo-gym demo`` takes ``LABEL=SPEC`` as bench does, and its summary says why an agent that arrived trained on
    other tasks is held-out ("not in trained_on"), not "k-fold": demo has no folds, and the wrong reason would tell the
    user the agent was fitted per fold."""
    _write_module(tmp_path, "elsewhere_agents", ELSEWHERE)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["demo", "--agents", "mine=elsewhere_agents:Elsewhere,base=random", "--budget", "2", "--seeds", "1",
                 "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hpo-gym demo: mine, base on the hpobench-nn suite")
    summary = out.split("Summary per agent")[1]
    rows = {line.split("|")[1].strip(): line for line in summary.splitlines() if line.startswith("| ")}
    assert "yes (not in trained_on)" in rows["mine"] and "k-fold" not in summary
    assert "| no " in rows["base"]


# -- LABEL=SPEC -------------------------------------------------------------------------------------------------------
def test_spaces_around_a_labels_equals_sign_are_not_part_of_the_label_or_the_spec():
    """``--agents "random, mine = my_agents:Mine"`` is how people type lists; the label is ``mine`` and the spec builds
    (a label ``"mine "`` would not match ``--compare mine:random``, and a spec ``" random"`` is no agent)."""
    specs = labelled_specs(["mine = random", " tpe "])
    assert specs == {"mine": "random", "tpe": "tpe"}
    assert make_agent(specs["mine"]).name == "random"


# -- k-fold hint -------------------------------------------------------------------------------------------------------
def test_the_only_tasks_hint_is_given_only_when_tasks_were_given():
    """Too many folds for the default suite is about ``folds``: the hint to pass ``only_tasks=`` instead of ``tasks=``
    would point a user who passed no tasks at an argument they never used."""
    with pytest.raises(ValueError, match=r"2 <= folds <= number of tasks \(8\), got folds=9") as refused:
        run_benchmark(["random"], protocol="kfold", folds=9, budget=2, seeds=1, progress=False, resolve_agent=make_agent)
    assert "only_tasks" not in str(refused.value) and "tasks=" not in str(refused.value)


# -- SIGTERM as Ctrl-C -------------------------------------------------------------------------------------------------
def _python(code: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def test_a_process_forked_during_a_command_still_dies_on_sigterm(ctrl_c_works):
    """Pools and forked workers are ended with SIGTERM: a child forked while a command runs must die of it, not take it
    for a Ctrl-C and go on (a worker that outlives its pool keeps a core and the result directory's lock busy)."""
    proc = _python("""
        import os, signal, time
        from hpo_gym.cli import sigterm_as_ctrl_c
        with sigterm_as_ctrl_c():
            ready, tell = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    os.write(tell, b"x")
                    time.sleep(30)
                finally:
                    os._exit(3)  # reached only if SIGTERM was taken for a Ctrl-C
            os.read(ready, 1)
            os.kill(pid, signal.SIGTERM)
            _, status = os.waitpid(pid, 0)
            print(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM)
    """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip() == "True", err


def test_sigterm_interrupts_a_script_started_with_ctrl_c_ignored(tmp_path):
    """``nohup python run.py &`` (or any background job of a non-interactive shell) starts with SIGINT ignored; a
    ``kill`` must still interrupt the script as Ctrl-C would (exit 130, the resume hint), not be ignored with it, which
    would leave only ``kill -9`` and lose the runs in flight."""
    proc = _python("""
        import time
        from hpo_gym.cli import run_script

        def main():
            print("ready", flush=True)
            time.sleep(60)
            return 0

        raise SystemExit(run_script(main, "rerun it to resume"))
    """, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "interrupted; rerun it to resume" in err, err


def test_the_callers_sigterm_handler_is_back_after_the_command():
    """A program that calls ``run_script`` (or the CLI's ``main``) and lives on, a notebook or a service, keeps its own
    SIGTERM handling afterwards: the Ctrl-C one is for the length of the command only."""
    def own(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, own)
    try:
        assert run_script(lambda: 0, "rerun it") == 0
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_script_run_from_a_thread_is_not_refused_over_signal_handlers():
    """Outside the main thread no signal handler can be installed; a script started from a thread (a notebook's
    background job, a web service) still runs and returns its own status, not exit 2 for "signal only works in main
    thread"."""
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(run_script(lambda: 7, "rerun it")))
    worker.start()
    worker.join(30)
    assert results == [7]
