"""The late changes of the session at their edges (from a mutation review: these tests kill the real survivors):
provenance.json and the report's setup lines, the warnings of ``from_dataframe``, SIGTERM in pool workers, agent
prints above the progress bar, and the code hash of a user's agent.

Real benchmarks on the embedded tables, real pool workers and real user modules written to ``tmp_path``."""

from __future__ import annotations

import io
import itertools
import json
import multiprocessing as mp
import os
import signal
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from agents.registry import make_agent
from hpo_gym.benchmark import run_benchmark
from hpo_gym.benchmark.provenance import PROVENANCE, read_records
from hpo_gym.benchmark.report import setup, setup_note
from hpo_gym.benchmark.runner import _init_worker
from hpo_gym.benchmark.terminal import LinesAboveTheBar
from hpo_gym.cli import main
from hpo_gym.tabular import TabularObjective
from hpo_gym.user_code import users_code_fingerprint
from tests.benchmark.test_agent_files import _write_module

QUICK = dict(budget=3, resolve_agent=make_agent, progress=False)


# -- provenance.json and the setup lines ---------------------------------------------------------------------------

def test_a_torn_provenance_file_does_not_stop_the_benchmark_and_this_command_is_recorded(tmp_path):
    """provenance.json is for reading: a file cut short (a full disk, a hand edit) must not stop a benchmark, whose
    runs matter more than the record; this command's record is still written."""
    (tmp_path / PROVENANCE).write_text('[{"started_utc": "2026-11-2')
    df = run_benchmark(["random"], ["car"], seeds=1, out=tmp_path, **QUICK)
    assert len(df) == 3 and read_records(tmp_path)[-1]["seeds"] == [0]


def test_entries_of_provenance_that_are_no_records_are_not_counted_as_commands(tmp_path):
    """A list holding other things than records (a hand edit, a merge) must not count as commands, nor break the
    report's setup lines: "Made by N commands" is what a paper quotes."""
    run_benchmark(["random"], ["car"], seeds=1, out=tmp_path, **QUICK)
    records = read_records(tmp_path)
    (tmp_path / PROVENANCE).write_text(json.dumps([5, "a note", None, *records]))
    assert setup(tmp_path)["commands"] == 1
    assert "Made by 1 command with Python " in setup_note(tmp_path)  # one command: no plural


def test_the_setup_line_names_the_latest_command_s_versions(tmp_path):
    """After an upgrade, the versions named are those of the latest command (the one a rerun would use), with the
    warning naming both; the first command's would describe a setup that no longer exists."""
    import optuna

    run_benchmark(["random"], ["car"], seeds=1, out=tmp_path, **QUICK)
    run_benchmark(["random"], ["car"], seeds=2, out=tmp_path, **QUICK)
    records = read_records(tmp_path)
    records[0]["packages"]["optuna"] = "3.0.0"
    (tmp_path / PROVENANCE).write_text(json.dumps(records))
    assert setup(tmp_path)["versions"]["optuna"] == optuna.__version__
    note = setup_note(tmp_path)
    made_by = next(line for line in note.splitlines() if line.startswith("Made by 2 commands"))
    assert f" optuna {optuna.__version__}" in made_by and "3.0.0" not in made_by and "(optuna 3.0.0, " in note


def test_noise_false_gets_no_noisy_draws_note_and_k_fold_names_its_folds(tmp_path):
    """The noise note is for ``noise=True`` only: under ``noise=False`` MP and MnP are noise-free, and saying otherwise
    would make a reader distrust right numbers. A k-fold directory's setup line says how many folds made it."""
    run_benchmark(["random"], ["car"], seeds=1, out=tmp_path / "quiet", env_kwargs={"noise": False}, **QUICK)
    note = setup_note(tmp_path / "quiet")
    assert "env kwargs {'noise': False}" in note and "noisy draws" not in note
    run_benchmark(["random"], ["car", "kc1"], seeds=1, out=tmp_path / "kfold", protocol="kfold", folds=2, **QUICK)
    assert setup_note(tmp_path / "kfold").startswith(f"Setup ({tmp_path / 'kfold'}/benchmark.json): budget 3, protocol "
                                                     "kfold (2 folds)")


def test_hpo_gym_bench_and_report_print_the_setup_and_report_json_has_it(tmp_path, capsys):
    """The setup lines are what the user sees at the end of ``hpo-gym bench`` and ``hpo-gym report``, and ``report
    --json`` carries them under "setup" for a script that writes a paper's table."""
    out = tmp_path / "bench"
    assert main(["bench", "--agents", "random", "--tasks", "car", "--budget", "3", "--seeds", "1", "--out",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Setup ({out}/benchmark.json): budget 3, protocol all" in printed and "Made by 1 command with" in printed
    assert main(["report", str(out), "--json", "--no-plots"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["setup"]["commands"] == 1 and report["setup"]["settings"]["budget"] == 3
    assert report["setup"]["python"] == read_records(out)[-1]["python"]


# -- from_dataframe's warnings -------------------------------------------------------------------------------------

def _grid(**columns) -> pd.DataFrame:
    rows = [dict(zip(columns, values)) for values in itertools.product(*columns.values())]
    df = pd.DataFrame(rows)
    df["acc"] = np.linspace(0.5, 0.9, len(df))
    return df


def test_listed_hyperparameters_get_no_name_warning_even_when_named_loss():
    """sklearn's SGDClassifier has a categorical hyperparameter named ``loss``: a user who lists the hyperparameters
    has said what each column is, and must not be warned (the warning says listing them silences it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TabularObjective.from_dataframe(_grid(loss=["hinge", "log_loss"], alpha=[1e-4, 1e-3]), "acc",
                                        hyperparameters=["loss", "alpha"])


def test_result_columns_named_score_or_loss_are_warned_of_and_their_warning_points_at_the_caller():
    """A sweep's other results (``val_loss``, ``test_score``) left as hyperparameters make a grid the report cannot be
    trusted on; the warning names them and points at the user's line, not at hpo-gym's."""
    df = _grid(lr=[0.1, 0.01], width=[8, 16])
    df["val_loss"], df["test_score"] = [1.0, 1.0, 2.0, 2.0], [0.1, 0.2, 0.1, 0.2]
    with pytest.warns(UserWarning, match=r"columns \[.val_loss., .test_score.\] are taken as hyperpar") as caught:
        TabularObjective.from_dataframe(df, "acc")
    assert {w.filename for w in caught} == {__file__}


def test_hyperparameters_whose_names_only_contain_those_words_are_not_warned_of():
    """``n_estimators``, ``timestep_limit``, ``costly_eval`` and ``cache_lifetime`` hold "time" or "cost" inside a word
    only: a whole word (between underscores or at the ends) says seed, time or cost, a part of one does not, or grids
    with common hyperparameter names would be warned of for nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TabularObjective.from_dataframe(_grid(n_estimators=[10, 50], timestep_limit=[100, 200],
                                              costly_eval=[0, 1], cache_lifetime=[1, 2]), "acc")


def test_the_seed_error_of_a_table_of_a_few_rows_blames_no_hyperparameter():
    """In a table of a few rows, every column of a one-row-per-configuration grid has a distinct value in each row:
    naming one as a forgotten cost column would send the user after a column that is a real hyperparameter."""
    df = pd.DataFrame({"C": [0.1, 1.0, 10.0, 100.0], "seed": [11, 22, 33, 44], "acc": [0.7, 0.8, 0.9, 0.6]})
    with pytest.raises(ValueError, match="seed column 'seed' holds 4 distinct labels") as refused:
        TabularObjective.from_dataframe(df, "acc", seed_column="seed")
    assert "But first" not in str(refused.value)


# -- SIGTERM in pool workers, and the caller's handler ---------------------------------------------------------------

def _a_pool_worker_that_sleeps(relayed, seconds: float) -> None:
    _init_worker(None, os.getppid(), sigterm_relayed=relayed)
    time.sleep(seconds)


@pytest.mark.parametrize("relayed", [False, True], ids=["not relayed: ends", "relayed: finishes"])
def test_a_pool_worker_ends_on_sigterm_unless_the_benchmark_took_it_as_ctrl_c(relayed):
    """A worker ignores SIGTERM only while the benchmark process takes the same signal as Ctrl-C (and then finishes
    its run in flight); any other SIGTERM (the pool's own terminate of a broken pool, a kill of the worker) must end
    it, or a join would wait on it forever."""
    ctx = mp.get_context("fork")
    event = ctx.Event()
    if relayed:
        event.set()
    worker = ctx.Process(target=_a_pool_worker_that_sleeps, args=(event, 4.0))
    worker.start()
    time.sleep(1.0)  # its handler is installed
    os.kill(worker.pid, signal.SIGTERM)
    worker.join(15)
    if worker.is_alive():
        worker.kill()
        worker.join()
    assert worker.exitcode == (0 if relayed else -signal.SIGTERM)


def test_the_callers_sigterm_handler_is_back_after_a_parallel_benchmark(tmp_path):
    """A script (or a service) calling run_benchmark(jobs=2) has its own SIGTERM handler; the benchmark relays SIGTERM
    to its workers for the length of the pool only, and the caller's handler must be back afterwards, or the
    service's own shutdown would set a dead pool's event instead of its own."""
    calls = []

    def own(signum, frame):
        calls.append(signum)

    previous = signal.signal(signal.SIGTERM, own)
    try:
        run_benchmark(["random"], ["car", "kc1"], seeds=1, jobs=2, out=tmp_path, **QUICK)
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- agent prints above the bar ------------------------------------------------------------------------------------

def test_a_line_without_its_end_waits_for_it_even_when_flushed():
    """``print(".", end="", flush=True)`` progress dots of an agent stay on one line: a flush writes nothing of a
    line without its end, which goes out whole, once ended (or at the end of the runs)."""
    terminal = io.StringIO()
    above = LinesAboveTheBar(terminal)
    for _ in range(3):
        print(".", end="", file=above, flush=True)
    assert terminal.getvalue() == ""
    print(" done", file=above)
    print("half", end="", file=above)
    above.finish()
    assert terminal.getvalue() == "... done\nhalf\n"


# -- the code hash of a user's agent -------------------------------------------------------------------------------

def test_a_subclass_named_as_its_base_in_another_module_is_hashed_with_its_own_source(tmp_path, monkeypatch):
    """``class Mine(base.Mine)`` in the user's ``my_agents.py`` over a ``Mine`` of their ``base.py``: both sources
    count, each under its module's name; keyed by the class name alone, the base's source replaced the subclass's, so
    an edit of the agent itself was not seen and its old runs were returned as the new code's."""
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_module(tmp_path, "same_name_base", "from agents.random_search import RandomSearch\n\n\n"
                                              "class Mine(RandomSearch):\n    lr = 0.1\n")
    text = "import same_name_base\n\n\nclass Mine(same_name_base.Mine):\n    steps = {steps}\n"

    def fingerprint(steps: int) -> str:
        _write_module(tmp_path, "same_name_agent", text.format(steps=steps))
        sys.modules.pop("same_name_agent", None)
        return users_code_fingerprint(make_agent("same_name_agent:Mine").__class__)

    assert fingerprint(1) == fingerprint(1) != fingerprint(2)


# -- the loopback OpenML server's cache filler ---------------------------------------------------------------------

def test_fill_cache_without_task_ids_fills_every_task_of_the_server(tmp_path):
    """The README's ``python -m tests.live.openml_server DIR`` with no task ids fills all five tasks, as it says,
    filed as openml.org's."""
    import openml

    from hpo_gym.live.data import configure_openml_cache
    from tests.live.openml_server import TASKS, fill_cache

    cfg = openml.config
    saved = (cfg.server, cfg._root_cache_directory, cfg.retry_policy, cfg.connection_n_retries)
    try:
        cfg.set_retry_policy("robot", n_retries=1)
        filled = fill_cache(tmp_path / "cache")
        assert sorted(int(p.name) for p in (filled / "tasks").iterdir()) == sorted(TASKS)
    finally:
        cfg.server = saved[0]
        cfg.set_retry_policy(saved[2], n_retries=saved[3])
        configure_openml_cache(None)
        cfg.set_root_cache_directory(saved[1])


# -- the second review's findings, fixed ----------------------------------------------------------------------------

def test_a_rerun_that_runs_nothing_records_no_command_and_older_runs_are_counted(tmp_path):
    """A rerun of a finished directory made no run, yet added a provenance record, so after an upgrade the report named
    versions that made nothing and warned of a mix that did not exist; a directory resumed after the records began
    was reported "made by 1 command" with most of its runs older than that. Now only commands with runs are recorded,
    and the first record says how many runs it found stored."""
    run_benchmark(["random"], ["car"], seeds=1, out=tmp_path, **QUICK)
    (tmp_path / PROVENANCE).unlink()  # as a directory written before provenance.json existed
    run_benchmark(["random"], ["car"], seeds=1, out=tmp_path, **QUICK)  # nothing to run
    assert not (tmp_path / PROVENANCE).exists()
    run_benchmark(["random"], ["car"], seeds=3, out=tmp_path, **QUICK)  # two more runs
    [record] = read_records(tmp_path)
    assert record["runs_stored_before"] == 1 and record["seeds"] == [0, 1, 2]
    assert "1 of its runs were stored before these records began; what made them is not recorded." in setup_note(tmp_path)


def test_an_unreadable_provenance_file_is_kept_aside_and_a_bad_record_does_not_stop_the_report(tmp_path, capsys):
    """provenance.json is the directory's history: one that cannot be read is renamed, not written over; and a record
    edited by hand into something else (packages not a mapping) must not stop ``hpo-gym report``."""
    run_benchmark(["random"], ["car"], seeds=1, out=tmp_path, **QUICK)
    (tmp_path / PROVENANCE).write_text("{not json")
    run_benchmark(["random"], ["car"], seeds=2, out=tmp_path, **QUICK)
    [kept] = tmp_path.glob(f"{PROVENANCE}.unreadable-*")
    assert kept.read_text() == "{not json" and len(read_records(tmp_path)) == 1
    (tmp_path / PROVENANCE).write_text(json.dumps([{"packages": ["numpy", "2.0"], "python": "3.11"}]))
    assert main(["report", str(tmp_path), "--no-plots"]) == 0
    assert "Made by 1 command with Python 3.11" in capsys.readouterr().out


def test_a_full_one_dimensional_grid_of_many_values_is_no_log_and_camel_case_names_are_read():
    """A full grid ``k = 1..30`` has a distinct value in each of its 30 configurations, but fills every cell: no
    proposal is answered by a neighbour, and the log warning said it would be. A ``fitTime`` column reads as
    ``fit_Time``, and a ``fold`` column is one of the run's labels, not a hyperparameter."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TabularObjective.from_dataframe(_grid(k=list(range(1, 31))), "acc")
    df = _grid(lr=[0.1, 0.01, 0.001], fold=[0, 1, 2, 3])
    df["fitTime"] = np.linspace(1.0, 2.0, len(df))
    with pytest.warns(UserWarning) as caught:
        TabularObjective.from_dataframe(df, "acc")
    assert any("columns ['fold', 'fitTime'] are taken as hyperparameters" in str(w.message) for w in caught)


def test_writelines_and_a_missing_stdout_are_handled_above_the_bar(monkeypatch):
    """``writelines`` passed by the line keeping (its output glued to the bar), and a serial benchmark whose process has
    no stdout (``>&-``, pythonw) crashed at its end, on a flush of None, after storing every run."""
    terminal = io.StringIO()
    above = LinesAboveTheBar(terminal)
    above.write("half ")
    above.writelines(["one\n", "two\n"])
    assert terminal.getvalue() == "half one\ntwo\n"
    monkeypatch.setattr(sys, "stdout", None)
    assert len(run_benchmark(["random"], ["car"], budget=2, seeds=1, resolve_agent=make_agent)) == 2


def _report_the_workers_sigterm_handler(queue) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the caller's, inherited as a pool worker inherits it
    _init_worker(None, os.getppid(), sigterm_relayed=mp.get_context("fork").Event())
    queue.put(signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)


def test_a_worker_of_a_caller_that_ignores_sigterm_ignores_it_too():
    """A script that ignores SIGTERM (``signal.signal(SIGTERM, SIG_IGN)``) had workers that inherited the ignoring;
    the relay's handler made them die of it a second later, failing their runs with BrokenProcessPool."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    worker = ctx.Process(target=_report_the_workers_sigterm_handler, args=(queue,))
    worker.start()
    assert queue.get(timeout=30) is True
    worker.join(30)
