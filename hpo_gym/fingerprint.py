"""Content fingerprints: one spelling for every "has this data changed?" key.

:func:`array_fingerprint` keys data held in arrays (a user table's scores in a result directory's manifest, the live
evaluation cache's dataset); :func:`files_fingerprint` the files an agent plays from (checkpoints, saved models).
Why the latter: a result directory keys its stored runs by the agent's label, e.g. ``grpoformer:runs/mine/policy.pt``.
Retrain that checkpoint in place and the label stays the same, so without a fingerprint of the file's bytes a rerun
would return the old checkpoint's runs as the new one's. The harness records each agent's fingerprint and refuses a rerun
whose files changed (see :meth:`hpo_gym.benchmark.store.ResultStore.check_agent_files`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

_CHUNK = 1 << 20


def array_fingerprint(arrays: Sequence[np.ndarray], prefix: bytes = b"") -> str:
    """sha256 of ``prefix`` and each array's dtype, shape and bytes (the live evaluation cache's data fingerprint, a
    result directory's record of a user table)."""
    digest = hashlib.sha256(prefix)
    for array in arrays:
        a = np.ascontiguousarray(array)  # makes a 0-d array 1-d: the shape is read from the array as given
        digest.update(f"{a.dtype.str}{np.shape(array)}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def files_fingerprint(paths: Sequence[str | Path]) -> str:
    """sha256 over the files' bytes, in the given order (a missing file counts as such, so adding one changes it)."""
    digest = hashlib.sha256()
    for path in map(Path, paths):
        if not path.is_file():
            digest.update(b"\x00missing\x00")
            continue
        digest.update(str(path.stat().st_size).encode() + b"\x00")
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def named_bytes_fingerprint(pieces: Mapping[str, bytes], length: int = 12) -> str:
    """sha256 over ``pieces`` in the order of their names, each name with its bytes, cut to ``length`` hex digits (the
    source of a user's agent code, :func:`hpo_gym.user_code.users_code_fingerprint`: the same code gives the same key
    in any order of discovery)."""
    digest = hashlib.sha256()
    for name in sorted(pieces):
        digest.update(name.encode() + b"\x00" + pieces[name] + b"\x00")
    return digest.hexdigest()[:length]
