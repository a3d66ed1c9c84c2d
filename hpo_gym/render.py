"""Rendering of an HPO episode: text (``render_mode="ansi"`` or ``"human"``) and a picture (``"rgb_array"``).

A person watching an agent wants the same few facts a tuning log shows: which task, how much budget is spent, the
incumbent and how far it is from the table's best, and what was just tried. The picture is the run's trace (every
trial's score and the best so far), so that video recorders (Gymnasium's ``RecordVideo``, SB3's ``VecVideoRecorder``)
and Stable-Baselines3's ``make_vec_env``, which asks for ``rgb_array``, work as with any other env.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Size of an ``rgb_array`` frame in pixels (width, height); video encoders want even sizes.
FRAME_SIZE = (480, 320)


def format_config(config: Mapping[str, Any]) -> str:
    """``name=value`` pairs, floats to 4 significant digits, so one trial fits on a line."""
    return ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in config.items())


def render_episode(task: str | None, budget: int, last_step: Mapping[str, Any] | None) -> str:
    """The episode's state: the task, trials used, the incumbent (and its normalized regret when the task has an
    oracle); then, once a trial exists, a second line with the last trial's score and configuration (and its error when
    the fit failed).

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


def render_episode_frame(task: str | None, budget: int, scores: np.ndarray, last_step: Mapping[str, Any] | None) -> np.ndarray:
    """The run's trace as an ``(H, W, 3)`` uint8 image: each trial's score (dots) and the best so far (line) against
    the trial number, titled with the first line of :func:`render_episode`.

    ``scores`` are the trials' scores so far in order. Drawn with matplotlib's object API (no pyplot state), so
    frames can be made from several envs or threads at once."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = FRAME_SIZE
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    trials = np.arange(1, len(scores) + 1)
    if len(scores):
        ax.plot(trials, scores, "o", ms=3, color="tab:blue", alpha=0.6, label="trial")
        ax.step(trials, np.maximum.accumulate(scores), where="post", color="tab:orange", lw=1.8, label="best so far")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.set_xlim(0, budget + 1)
    ax.set_xlabel("trial", fontsize=8)
    ax.set_ylabel("score", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    ax.set_title(render_episode(task, budget, last_step).split("\n")[0], fontsize=8)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
