"""hpo_gym.user_code: which files are the user's, and a failed run's traceback cut to them for the terminal."""

from __future__ import annotations

import os
import traceback

import numpy as np
import pytest

import hpo_gym.space
from hpo_gym.space import Float, SearchSpace
from hpo_gym.user_code import is_users_file, users_traceback


def test_the_users_files_are_those_outside_python_the_installed_libraries_and_hpo_gym():
    assert is_users_file(__file__)
    assert not any(is_users_file(f) for f in (hpo_gym.space.__file__, np.__file__, os.__file__))


def _users_helper(space: SearchSpace) -> None:
    space.decode(np.zeros(3))  # the space has two dimensions: hpo-gym raises, two frames below this one


def _formatted_error(chained: bool) -> str:
    try:
        try:
            _users_helper(SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)]))
        except ValueError as e:
            if chained:
                raise RuntimeError("my agent gave up") from e
            raise
    except (ValueError, RuntimeError):
        return traceback.format_exc()
    raise AssertionError("decode accepted a vector of the wrong width")


def test_a_traceback_keeps_the_users_frames_and_the_error_and_says_how_many_it_left_out():
    full = _formatted_error(chained=False)
    library = full.count('File "') - full.count(f'File "{__file__}"')
    assert library >= 1 and "space.py" in full  # the case the cut is for: frames of hpo-gym below the user's
    cut = users_traceback(full)
    assert "space.py" not in cut and cut.count(f'File "{__file__}"') == full.count(f'File "{__file__}"') == 2
    assert "_users_helper(SearchSpace(" in cut and "space.decode(np.zeros(3))" in cut  # the user's source lines stay
    lines = cut.splitlines()
    assert lines[0] == "Traceback (most recent call last):" and lines[-2] == full.rstrip().splitlines()[-1]
    assert lines[-1] == f"({library} frame{'s' * (library != 1)} of hpo-gym, Gymnasium or other libraries left out here)"


def test_a_chained_traceback_keeps_both_errors_and_the_line_between_them():
    full = _formatted_error(chained=True)
    cut = users_traceback(full)
    assert "The above exception was the direct cause of the following exception:" in cut
    assert cut.count("Traceback (most recent call last):") == 2 and "RuntimeError: my agent gave up" in cut
    assert "ValueError" in cut and "space.py" not in cut


@pytest.mark.parametrize("text", ["ValueError: boom", "", "worker process died (exit code -9)"])
def test_text_that_is_no_traceback_is_left_as_it_is(text):
    assert users_traceback(text) == text
