"""atomic_path: a write that fails (or is killed) leaves the earlier file whole and no temporary behind."""

from __future__ import annotations

import pytest

from hpo_gym.atomic import atomic_path, atomic_write_text


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
