"""Fixtures of the live-backend tests: a loopback OpenML server and an isolated openml-python config.

openml-python reads ``~/.config/openml/config`` at import, so everything it uses (server, cache
root, retry policy, API key) is set here explicitly and restored afterwards. The server answers
like openml.org from ``tests/live/data`` (see ``data/make_data.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from openml_server import OpenMLTestServer  # noqa: E402



@pytest.fixture(scope="session")
def openml_server():
    with OpenMLTestServer() as server:
        yield server


@pytest.fixture(scope="session")
def openml_session(openml_server, tmp_path_factory):
    """openml-python pointed at the session's server and a temporary cache; restored at the end."""
    import openml

    from hpo_gym.live.data import ENV_CACHE

    cfg = openml.config
    saved = (cfg.server, cfg.apikey, cfg._root_cache_directory, cfg.retry_policy, cfg.connection_n_retries)
    mp = pytest.MonkeyPatch()
    mp.delenv(ENV_CACHE, raising=False)
    mp.setenv("HPO_GYM_CACHE", str(tmp_path_factory.mktemp("hpo-gym-cache")))
    cfg.server = openml_server.api_url
    cfg.apikey = ""
    cfg.set_root_cache_directory(tmp_path_factory.mktemp("openml-cache"))
    cfg.set_retry_policy("robot", n_retries=1)  # fail fast when the server is (deliberately) gone
    yield openml_server
    mp.undo()
    cfg.server, cfg.apikey = saved[0], saved[1]
    cfg.set_root_cache_directory(saved[2])
    cfg.set_retry_policy(saved[3], n_retries=saved[4])


@pytest.fixture()
def eval_cache(tmp_path):
    """A fresh on-disk evaluation cache directory per test."""
    return tmp_path / "evals"
