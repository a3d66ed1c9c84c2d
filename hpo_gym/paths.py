"""Where hpo-gym keeps what it computes: one cache folder for all of it, so one variable moves it.

The live backend's evaluation cache (:mod:`hpo_gym.live.cache`) and GRPOformer's fold checkpoints trained on demand
(:func:`agents.grpoformer.agent.cache_dir`) live in subfolders or files of :func:`default_cache_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming hpo-gym's cache folder.
ENV_CACHE_DIR = "HPO_GYM_CACHE"


def default_cache_dir() -> Path:
    """``$HPO_GYM_CACHE`` when set, else ``~/.cache/hpo-gym``."""
    return Path(os.environ.get(ENV_CACHE_DIR) or Path.home() / ".cache" / "hpo-gym").expanduser()
