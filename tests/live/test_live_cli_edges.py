"""``hpo-gym live`` at the edges of its options, against the loopback OpenML server (real downloads, real fits)."""

from __future__ import annotations

import pytest
from live_fixtures import IRIS

from hpo_gym.cli import main

FAST = ["--model", "lr", "-n", "1", "--fidelity", "iter=20"]


def test_live_takes_every_seed_a_fit_takes_and_refuses_the_first_past_it(openml_session, capsys):
    """scikit-learn's random_state goes up to 2**32 - 1: that seed runs, 2**32 is refused when the line is read."""
    assert main(["live", str(IRIS), *FAST, "--seed", str(2**32 - 1), "--executor", "inline"]) == 0
    assert "best validation accuracy" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["live", str(IRIS), *FAST, "--seed", str(2**32)])
    assert refused.value.code == 2
    assert f"argument --seed: {2**32} is past 2**32 - 1, the largest seed a fit takes" in capsys.readouterr().err


def test_live_refuses_workers_for_an_executor_that_fits_one_at_a_time_before_loading_the_task(openml_session, capsys):
    """--workers with the serial or inline executor was ignored; it is refused before anything is downloaded."""
    asked = len(openml_session.requests)
    for executor in ("serial", "inline"):
        assert main(["live", "31", *FAST, "--workers", "2", "--executor", executor]) == 2
        assert (f"--workers 2 has no effect with --executor {executor} (one fit at a time); use --executor process or "
                "ray") in capsys.readouterr().err
    assert len(openml_session.requests) == asked  # refused before the task was asked for
    assert main(["live", str(IRIS), *FAST, "--workers", "2", "--executor", "process"]) == 0
    assert "executor process" in capsys.readouterr().out
