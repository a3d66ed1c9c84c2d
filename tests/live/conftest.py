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

from live_fixtures import openml_on  # noqa: E402
from openml_server import OpenMLTestServer  # noqa: E402



@pytest.fixture(scope="session")
def openml_server():
    with OpenMLTestServer() as server:
        yield server


@pytest.fixture(scope="session")
def openml_session(openml_server, tmp_path_factory):
    """openml-python pointed at the session's server and a temporary cache (one retry: fail fast when the server is
    deliberately gone), hpo-gym's evaluation cache in a temporary directory; all restored at the end."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HPO_GYM_CACHE", str(tmp_path_factory.mktemp("hpo-gym-cache")))
    with openml_on(openml_server, cache_root=tmp_path_factory.mktemp("openml-cache")):
        yield openml_server
    mp.undo()


@pytest.fixture()
def eval_cache(tmp_path):
    """A fresh on-disk evaluation cache directory per test."""
    return tmp_path / "evals"
