"""Text rendering of an HPO episode (``render_mode="ansi"`` or ``"human"``).

An HPO run has no picture, but a person watching an agent wants the same few facts a tuning log shows: which
task, how much budget is spent, the incumbent and how far it is from the table's best, and what was just tried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def format_config(config: Mapping[str, Any]) -> str:
    """``name=value`` pairs, floats to 4 significant digits, so one trial fits on a line."""
    return ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in config.items())


def render_episode(task: str | None, budget: int, last_step: Mapping[str, Any] | None) -> str:
    """The episode's state in two lines: the task, trials used, the incumbent (and its normalized regret when the
    task has an oracle); then the last trial's score and configuration (and its error when the fit failed).

    ``last_step`` is the ``info`` dict of the last ``step`` (None before the first one)."""
    if task is None:
        return "no task yet: call reset()"
    if last_step is None:
        return f"task {task}  trial 0/{budget}  (no trials yet)"
    head = f"task {task}  trial {last_step['step']}/{budget}  best {last_step['best_score']:.4f}"
    if "normalized_regret" in last_step:
        head += f"  normalized regret {last_step['normalized_regret']:.4f}"
    last = f"last: score {last_step['score']:.4f}  {format_config(last_step['config'])}"
    if "error" in last_step:
        last += f"  (failed: {last_step['error']})"
    return f"{head}\n{last}"
