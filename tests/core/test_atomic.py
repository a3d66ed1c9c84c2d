"""atomic_path: a write that fails (or is killed) leaves the earlier file whole and no temporary behind."""

from __future__ import annotations

import os
import threading

import pytest

from hpo_gym.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_a_finished_write_replaces_the_file(tmp_path):
    target = tmp_path / "cache.json"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["cache.json"]


def test_a_write_that_fails_halfway_keeps_the_earlier_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "policy.pt"
    target.write_bytes(b"earlier checkpoint")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half of the new")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"earlier checkpoint" and [p.name for p in tmp_path.iterdir()] == ["policy.pt"]


def test_the_temporaries_a_killed_writer_leaves_are_found_with_the_pid_that_wrote_them(tmp_path):
    """The benchmark store's and train-grpoformer's cleaners find a killed writer's leftovers by these two helpers."""
    from hpo_gym.atomic import temporaries_of, temporary_sibling, writer_pid

    target = tmp_path / "state.pt"
    left = [tmp_path / ".state.pt.tmp-4242", temporary_sibling(target)]
    for p in left + [tmp_path / ".policy.pt.tmp-7", tmp_path / "state.pt"]:
        p.write_bytes(b"x")
    assert temporaries_of(target) == sorted(left)  # another file's temporaries and the file itself are not its
    assert writer_pid(left[0]) == 4242 and writer_pid(tmp_path / ".state.pt.tmp-abc") == -1
    bracketed, starred = tmp_path / "policy[1].pt", tmp_path / "a*.pt"  # glob characters in a name are no pattern
    mine = temporary_sibling(bracketed)
    mine.write_bytes(b"x")
    assert temporaries_of(bracketed) == [mine] and temporaries_of(starred) == []
    assert writer_pid(left[1]) == os.getpid() and writer_pid(tmp_path / ".state.pt.tmp-4242-77") == 4242
    assert writer_pid(tmp_path / ".state.pt.tmp-4242-x") == -1


def test_threads_writing_one_file_at_once_each_move_whole_bytes_into_place(tmp_path):
    """Threads of one process write too (the thread executor's runs, a training run's files). With one temporary per
    process they shared it: one truncated the other's half-written bytes, moved them into place, and the other's move
    then failed with FileNotFoundError. Each thread now has its own temporary, so every write lands whole."""
    target = tmp_path / "shared.json"
    contents = [bytes([65 + i]) * 200_000 for i in range(2)]
    errors: list[BaseException] = []
    seen: set[bytes] = set()

    def write(data: bytes) -> None:
        try:
            for _ in range(60):
                atomic_write_bytes(target, data)
                seen.add(target.read_bytes())
        except BaseException as e:  # noqa: BLE001 - collected and asserted on below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(c,)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and seen <= set(contents) and target.read_bytes() in contents
    assert [p.name for p in tmp_path.iterdir()] == ["shared.json"]
