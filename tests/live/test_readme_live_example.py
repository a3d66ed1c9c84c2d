"""The README's live-backend example runs as written against the loopback OpenML server.

The only change is the task: 167149 lives on openml.org, the loopback server serves real small OpenML
datasets under test ids (see ``data/make_data.py``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from live_fixtures import BREAST_CANCER

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.readme_examples import readme_example, run_example  # noqa: E402


def test_live_example_trains_a_random_forest_and_scores_it_on_the_outer_test_split(openml_session):
    code = readme_example('backend="live", task=167149', {"task=167149": f"task={BREAST_CANCER}"})
    ns, printed = run_example(code)
    info = ns["info"]
    assert "error" not in info and 0.5 < ns["reward"] <= 1.0 and info["step"] == 1
    test_score = float(printed.splitlines()[1])
    assert math.isfinite(test_score) and 0.5 < test_score <= 1.0
    assert printed.splitlines()[0].startswith(f"{ns['reward']} {info['config']} None")
