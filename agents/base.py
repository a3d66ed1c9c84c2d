"""The agent protocol: what the benchmark harness needs from anything that proposes configurations.

An HPO agent is told the task's search space at the start of a run (``reset``), proposes one
configuration per step (``act``, as a point of the unit cube, i.e. the env's default Box action),
and may learn from the result (``observe``). A trained Stable-Baselines3 model does not fit as it is (it has no
``reset``/``act``, and ``predict`` returns a tuple): a PPO model plays through ``agents.sb3_ppo.SB3PPOAgent(model=...)``,
another algorithm through a small class whose ``act`` returns ``model.predict(observation)[0]`` (mapped back to [0, 1]
when it was trained behind ``RescaleAction``).

Agents that learn *across* tasks (GRPOformer, portfolios) also implement :class:`TransferAgent`:
``fit`` sees only a fold's training tasks, and the harness scores them on the held-out tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hpo_gym.objective import Objective
from hpo_gym.space import SearchSpace


@runtime_checkable
class Agent(Protocol):
    """Proposes configurations for one HPO run at a time.

    ``name`` tells agents of one class apart (``tpe`` from ``gp``): it is part of what a result directory records for
    the agent's label, while the label itself comes from the benchmark's spec (``LABEL=SPEC`` on the command line,
    the keys of ``run_benchmark``'s dict). ``reset`` starts a run on a search space with a seed
    (agents must be reproducible given the seed). ``act`` maps the env's observation (see
    :class:`hpo_gym.env.HPOEnv`) to a Box action: a float vector in [0, 1]^d, d = ``len(space)``, of
    ``space.action_dtype`` (float32, or float64 for an Int too fine for float32), the env's Box dtype.
    """

    name: str

    def reset(self, space: SearchSpace, seed: int | None = None, budget: int | None = None) -> None: ...

    def act(self, observation: Mapping[str, np.ndarray]) -> np.ndarray: ...


@runtime_checkable
class ObservingAgent(Agent, Protocol):
    """An agent that is told the outcome of each of its actions (model-based optimizers need this)."""

    def observe(self, action: np.ndarray, reward: float, info: Mapping[str, Any]) -> None: ...


@runtime_checkable
class TransferAgent(Agent, Protocol):
    """An agent that learns from other tasks before it is scored on held-out ones.

    ``fit`` receives only the training tasks of a fold; the harness never passes a held-out task. It is called once
    per fold with ``seed`` = the fold's index, so the spread the report gives is over tasks and run seeds, not over
    training seeds. An agent that
    arrives already trained (a shipped checkpoint, a saved model) must expose ``trained_on``, the names of its
    training tasks, so that the harness labels a run on one of them in-sample rather than as a plain result; ``()``
    while unfitted. Outside ``protocol="kfold"`` nothing calls ``fit``, so the harness refuses an agent with ``fit``
    and no ``trained_on`` (it would play unfitted) and one whose ``trained_on`` is empty.
    ``fit`` may also take a ``budget`` keyword (the harness then passes the run's budget): for agents whose
    training depends on the episode length, such as a policy whose observation holds one row per evaluation.
    An agent that plays from files may define ``check_plan(protocol, held_out_by_fold, task_names)``, which the
    harness calls before any run and which raises ``ValueError`` when the agent cannot play that plan (e.g. a
    checkpoint missing for a fold), so that nothing is stored as failed for a problem known up front. A ``budget``
    keyword there gets the runs' budget too (a model trained for shorter episodes cannot play longer ones).
    """

    def fit(self, train_objectives: Sequence[Objective], seed: int = 0) -> None: ...


def observe_if_supported(agent: Agent, action: np.ndarray, reward: float, info: Mapping[str, Any]) -> None:
    """Call ``agent.observe`` when the agent has one (the optional part of the protocol)."""
    observe = getattr(agent, "observe", None)
    if observe is not None:
        observe(action, reward, info)
