"""A damaged result directory: a clear error naming the file and the fix, never silently other numbers.

Why: a shard copied in from another benchmark, a renamed one, a flipped bit or a deleted manifest used to change what
`hpo-gym report` printed with exit 0 (another budget for the whole report, a run counted twice, a different regret),
and torn files ended in pyarrow's or json's own messages. Real benchmarks on the embedded tables, real files.
"""

from __future__ import annotations

import shutil

import pytest

from agents.registry import make_agent
from hpo_gym.benchmark import ResultStore, run_benchmark
from hpo_gym.benchmark.store import DamagedShard
from hpo_gym.cli import main

KWARGS = dict(seeds=2, resolve_agent=make_agent, progress=False)


@pytest.fixture
def bench(tmp_path):
    """A finished benchmark (random on car and kc1, budget 5, 2 seeds) in tmp_path / 'b'."""
    out = tmp_path / "b"
    run_benchmark(["random"], ["car", "kc1"], budget=5, out=out, **KWARGS)
    return out


def shard(out, task="car", seed=0):
    return ResultStore(out).path_of(("random", task, seed))


def test_a_shard_from_another_benchmark_or_under_another_name_is_named_not_counted(bench, tmp_path):
    other = tmp_path / "other"
    run_benchmark(["random"], ["car"], budget=10, out=other, **KWARGS)
    shutil.copy(shard(other), shard(bench))  # another budget under a name this benchmark uses
    with pytest.raises(DamagedShard, match=r"random__car__s0__.*parquet was made at budget \[10\], but this directory's "
                                           r"benchmark has budget 5 \(copied in from another\?\); move it out of runs/"):
        ResultStore(bench).load()
    shutil.copy(shard(bench, "kc1", 1), shard(bench))  # kc1 seed 1 under car seed 0's name: counted twice before
    with pytest.raises(DamagedShard, match=r"holds the run\(s\) \[\('random', 'kc1', 1\)\], not the one its file name"):
        ResultStore(bench).load()


def test_a_damaged_shard_is_named_with_the_fix_and_a_flipped_bit_is_caught(bench, capsys):
    data = bytearray(shard(bench).read_bytes())
    flipped = 0
    for i in range(len(data) // 4, len(data) // 2):  # the pages: flip bits until one lands in checksummed data
        trial = bytearray(data)
        trial[i] ^= 0x10
        shard(bench).write_bytes(bytes(trial))
        try:
            ResultStore(bench).load()
        except DamagedShard as e:
            assert "is damaged" in str(e) and "rerun the same `hpo-gym bench` to recompute that run" in str(e)
            flipped += 1
            if flipped == 3:
                break
    assert flipped == 3, "no flipped bit was detected"
    shard(bench).write_bytes(b"")  # an empty file, as a kill during a non-atomic copy leaves
    assert main(["report", str(bench), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert f"{shard(bench)} is damaged" in err and "Traceback" not in err


def test_torn_json_files_and_a_deleted_manifest_are_named(bench, capsys):
    command = ["bench", "--agents", "random", "--tasks", "car,kc1", "--budget", "5", "--seeds", "2", "--out", str(bench)]
    (bench / "benchmark.json").write_text("[]")
    assert main(command) == 2
    assert "benchmark.json holds a list, not the JSON object hpo-gym writes there" in capsys.readouterr().err
    (bench / "benchmark.json").write_text('{"budg')
    assert main(command) == 2
    assert "benchmark.json cannot be read (JSONDecodeError" in capsys.readouterr().err
    (bench / "benchmark.json").unlink()  # its runs' settings are now unknown: taking a new budget would mix them
    assert main(command[:6] + ["10"] + command[7:]) == 2
    assert f"{bench} holds 4 runs but no benchmark.json, so the settings they were made with are unknown" in (
        capsys.readouterr().err)


def test_the_one_scan_read_equals_the_shard_by_shard_read_and_steps_aside_for_a_bad_shard(bench):
    """load() reads every shard in one pyarrow scan (one file at a time took ~5 ms a shard: 34 s for 8,000 runs) and
    checks the whole frame; any doubt sends it back to the shard-by-shard read, whose errors name the file."""
    import pandas as pd

    from hpo_gym.benchmark.store import _read_shards_at_once, read_shard

    store = ResultStore(bench)
    paths = store.shard_paths()
    at_once = _read_shards_at_once(paths, 5)
    assert at_once is not None and len(paths) == 4
    one_by_one = pd.concat([read_shard(p, 5) for p in paths], ignore_index=True)
    key = ["agent", "task", "seed", "step"]
    pd.testing.assert_frame_equal(at_once.sort_values(key, kind="stable").reset_index(drop=True),
                                  one_by_one.sort_values(key, kind="stable").reset_index(drop=True))
    pd.testing.assert_frame_equal(store.load().reset_index(drop=True),
                                  one_by_one.sort_values(key, kind="stable").reset_index(drop=True))
    assert _read_shards_at_once(paths, 10) is None  # another budget: the slow read names the file
    old = pd.read_parquet(paths[0]).drop(columns=["in_sample"])  # a shard from before the in_sample column
    old.to_parquet(paths[0], index=False)
    assert _read_shards_at_once(paths, 5) is None  # the scan would take the first file's columns for all of them
    assert not store.load()["in_sample"].any() and len(store.load()) == len(one_by_one)
    shard(bench).rename(shard(bench).with_name("random__car__s0__0000000000.parquet"))
    assert _read_shards_at_once(store.shard_paths(), 5) is None  # a renamed shard


def test_a_write_killed_halfway_leaves_no_shard_and_the_run_is_played_again(bench, monkeypatch):
    """Found in review: nothing checked that a run's shard is written atomically (a direct write passed every test).
    A writer that dies halfway (here: half the file, then an error) leaves no shard under the run's name, so a resume
    plays that run again instead of reading a torn file; the next write succeeds."""
    import pandas as pd

    store = ResultStore(bench)
    key = ("random", "car", 0)
    steps = store.load([key])
    store.path_of(key).unlink()
    real = pd.DataFrame.to_parquet

    def dies_halfway(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)
        with open(path, "r+b") as fh:
            fh.truncate(fh.seek(0, 2) // 2)
        raise OSError("killed while writing")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", dies_halfway)
    with pytest.raises(OSError, match="killed while writing"):
        store.write_run(key, steps)
    assert not store.has(key) and list(store.runs_dir.glob(".*tmp*")) == []
    monkeypatch.undo()
    df = run_benchmark(["random"], ["car", "kc1"], budget=5, out=bench, **KWARGS)  # the resume plays it again
    assert store.has(key) and len(df) == 20
    replayed, before = (frame.drop(columns="choose_seconds").reset_index(drop=True) for frame in (store.load([key]), steps))
    pd.testing.assert_frame_equal(replayed, before)  # the same seeded run (its timing aside)
