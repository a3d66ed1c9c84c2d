"""hpo-gym: hyperparameter optimization as Gymnasium environments.

Importing ``hpo_gym`` registers the environment ids (see :mod:`envs_registry`).
"""

from hpo_gym.objective import Evaluation, EvaluationBatch, Objective, Oracle
from hpo_gym.space import Categorical, Float, Hyperparameter, Int, Ordinal, SearchSpace
from hpo_gym.suites import HPOBENCH_NN, HPOBENCH_NN_TASKS, get_suite, load_hpobench_nn, register_suite
from hpo_gym.tabular import TabularObjective

import envs_registry  # noqa: E402,F401  (registers the gym ids)

__version__ = "0.1.0"

__all__ = [
    "Categorical", "Evaluation", "EvaluationBatch", "Float", "HPOBENCH_NN", "HPOBENCH_NN_TASKS", "Hyperparameter",
    "Int", "Objective", "Oracle", "Ordinal", "SearchSpace", "TabularObjective", "get_suite", "load_hpobench_nn",
    "register_suite",
]
