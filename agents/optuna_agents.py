"""Optuna samplers as hpo-gym agents through ask/tell: ``tpe``, ``gp``, ``cmaes``, ``qmc``.

Each run is a fresh in-memory Optuna study whose distributions are derived from the task's
:class:`~hpo_gym.space.SearchSpace`:

=========== ===================================================================================
kind        Optuna distribution
=========== ===================================================================================
float       ``FloatDistribution(low, high, log=log)``
int         ``IntDistribution(low, high, log=log)``; for ``gp`` an int of more than :data:`GP_MAX_INT_VALUES`
            values is ``FloatDistribution(low - 1/2, high + 1/2, log=log)``, rounded as the env decodes it
ordinal     ``IntDistribution(0, n - 1)`` over the value *index*, so samplers that model order
            (TPE's Parzen estimators, the GP kernel, CMA-ES) can exploit it
categorical ``CategoricalDistribution(range(n))`` over the value index (any value type works)
=========== ===================================================================================

``act`` asks for a trial, maps its parameters to native values and returns their unit-cube encoding
(the env's Box action). ``observe`` tells the trial the score the environment reports. The env may
snap an action to the nearest grid value of a table; the objective as a function of the asked point
*is* that snapped score, so telling the asked trial ``info["score"]`` gives every sampler a
consistent (piecewise-constant) function, and the evaluated configuration ``info["config"]`` is kept
in the trial's user attributes. The same holds when a partial table answers a configuration it lacks
with its nearest present one (``info["config_substituted"]``). Otherwise, on grids (ordinal/categorical)
the asked and evaluated configurations are identical; a mismatch there means agent and env are out of
step and raises.

Warm starts: ``initial_configs`` (constructor) are evaluated first in every run, and
:meth:`OptunaAgent.enqueue` queues configurations for the current run (``study.enqueue_trial``).
Either way they are real evaluations that count toward the budget; the sampler then sees them as
ordinary completed trials. This is what ``portfolio+tpe`` builds on.

Sampler settings are Optuna's defaults, seeded with the run's seed, with two exceptions: ``tpe`` sets
``multivariate=True`` explicitly (Optuna 5's default for one objective; 3.6-4.x default to univariate TPE, and every
number here was measured multivariate), and ``qmc`` uses a *scrambled* Sobol sequence, because the default
unscrambled sequence ignores the seed and every seed would repeat the same run.
"""

from __future__ import annotations

import importlib
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler
from optuna.trial import TrialState

from agents.registry import register_agent
from hpo_gym.space import Config, Hyperparameter, SearchSpace
from hpo_gym.threads import torch_threads

optuna.logging.set_verbosity(optuna.logging.WARNING)

SamplerFactory = Callable[[int | None], BaseSampler]


def _tpe(seed: int | None) -> BaseSampler:
    """Optuna's TPE, multivariate: Optuna 5's default for one objective (the README's numbers were measured with it),
    set explicitly because Optuna 3.6-4.x, which pyproject allows, default to the univariate TPE, so ``tpe`` would be
    another algorithm there (they mark the option experimental, a warning silenced here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)


class SingleThreadGPSampler(optuna.samplers.GPSampler):
    """Optuna's GPSampler with all of its torch work on one thread. Optuna already limits the kernel fit and the
    L-BFGS acquisition search to one thread; the rest of a GP step (posterior setup, the acquisition function on a
    few thousand random points, the discrete searches) ran on torch's default pool, which made a kc1 run 4-6x slower
    on a busy 2-core machine (:mod:`hpo_gym.threads`). Proposals are the same (tested). The random startup trials
    skip it, so a run that never leaves them does not import torch."""

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not search_space or len(completed) < getattr(self, "_n_startup_trials", 0):
            return super().sample_relative(study, trial, search_space)  # no model yet: random startup trials
        with torch_threads(1):
            return super().sample_relative(study, trial, search_space)


def _gp(seed: int | None) -> BaseSampler:
    return SingleThreadGPSampler(seed=seed)


def _cmaes(seed: int | None) -> BaseSampler:
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _qmc(seed: int | None) -> BaseSampler:
    with warnings.catch_warnings():  # "QMCSampler is experimental": expected, not news to a benchmark user
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_asynchronous_seeding=False,
                                          warn_independent_sampling=False)


#: What each sampler imports at its first model step (after its ``_n_startup_trials`` random ones): ``reset``
#: (untimed) imports them when the run gets that far, so the timed ``act`` of the first run in a process no longer
#: carries cmaes' scipy import (about 1.2 s) or GP's torch (about 3 s): cmaes' s/suggestion read 2.8x too high in a
#: 10-run benchmark (found in review). A GP run that never leaves its random startup trials still imports no torch.
LAZY_IMPORTS: dict[str, tuple[str, ...]] = {"cmaes": ("cmaes",), "qmc": ("scipy.stats.qmc",),
                                            "gp": ("torch", "optuna._gp.gp")}


#: Samplers that leave categorical hyperparameters to an independent random sampler (Optuna's CMA-ES and QMC model
#: numbers only; ordinals are given to them as an index, so only true categoricals are affected).
RANDOM_CATEGORICALS = ("cmaes", "qmc")

#: Agent name -> sampler factory ``(seed) -> sampler``.
SAMPLERS: dict[str, SamplerFactory] = {"tpe": _tpe, "gp": _gp, "cmaes": _cmaes, "qmc": _qmc}


#: Optuna's GP sampler lists every value of an IntDistribution at each model step: Int(0, 2**40) failed a run with an
#: 8 TiB allocation and a range of 1e8 took seconds per suggestion (found in review); above this many values ``gp``
#: models the int as a float over the same bins (TPE, CMA-ES and QMC sample such ranges directly).
GP_MAX_INT_VALUES = 2**16


def distribution_of(hp: Hyperparameter, wide_int_as_float: bool = False) -> BaseDistribution:
    """The Optuna distribution of one hyperparameter (see the module table)."""
    if hp.kind == "float" or hp.kind == "int":
        low, high = hp.bounds()
        if hp.kind == "float":
            return FloatDistribution(float(low), float(high), log=hp.log)
        if wide_int_as_float and int(high) - int(low) + 1 > GP_MAX_INT_VALUES:
            return FloatDistribution(float(low) - 0.5, float(high) + 0.5, log=hp.log)  # the bins decode rounds to
        return IntDistribution(int(low), int(high), log=hp.log)
    if hp.kind == "ordinal":
        return IntDistribution(0, len(hp.values) - 1)
    return CategoricalDistribution(list(range(len(hp.values))))


def distributions_of(space: SearchSpace, wide_ints_as_floats: bool = False) -> dict[str, BaseDistribution]:
    """Optuna distributions for every hyperparameter of ``space``, in the space's order."""
    return {hp.name: distribution_of(hp, wide_ints_as_floats) for hp in space}


def params_to_config(space: SearchSpace, params: Mapping[str, Any]) -> Config:
    """Optuna trial parameters (indices for ordinal/categorical) -> native configuration; an int modelled as a float
    (:data:`GP_MAX_INT_VALUES`) is rounded into its range, as the env's decoding rounds it."""
    return {hp.name: hp.values[int(params[hp.name])] if hp.is_discrete
            else _nearest_int(hp, params[hp.name]) if hp.kind == "int" and isinstance(params[hp.name], float)
            else params[hp.name] for hp in space}


def _nearest_int(hp: Hyperparameter, value: float) -> int:
    low, high = hp.bounds()
    return int(min(max(round(value), low), high))


def config_to_params(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """Native configuration -> Optuna trial parameters; raises ``ValueError`` naming a bad value (a value outside
    the space or NaN: a warm start must be a point of the space, not something Optuna would reject later)."""
    space.validate(config, in_range=True)
    params: dict[str, Any] = {}
    for hp in space:
        v = config[hp.name]
        if hp.is_discrete:
            params[hp.name] = hp.index_of(v)
            continue
        low, high = hp.bounds()
        if hp.kind == "int":
            params[hp.name] = _nearest_int(hp, float(v))
        else:
            params[hp.name] = float(min(max(float(v), low), high))
    return params


class OptunaAgent:
    """An Optuna sampler driven through ask/tell, one fresh study per ``reset``.

    Args:
        sampler: a registered sampler name (``"tpe"``, ``"gp"``, ``"cmaes"``, ``"qmc"``) or a
            factory ``seed -> optuna.samplers.BaseSampler``.
        name: the agent's name in results (default: the sampler name).
        initial_configs: native configurations evaluated first in every run (warm start; they
            count toward the budget).
    """

    def __init__(self, sampler: str | SamplerFactory = "tpe", name: str | None = None,
                 initial_configs: Iterable[Mapping[str, Any]] | None = None):
        if isinstance(sampler, str):
            if sampler not in SAMPLERS:
                raise ValueError(f"unknown Optuna sampler {sampler!r}; choose one of {sorted(SAMPLERS)} or pass a factory")
            self.name = name or sampler
            self._sampler_factory = SAMPLERS[sampler]
            self._lazy_imports: tuple[str, ...] = LAZY_IMPORTS.get(sampler, ())
            self._wide_ints_as_floats = sampler == "gp"
            self._draws_categoricals_at_random = sampler in RANDOM_CATEGORICALS
        else:
            self._draws_categoricals_at_random = False
            self._lazy_imports = ()
            self._wide_ints_as_floats = False
            default_name: str = getattr(sampler, "__name__", "optuna")
            self.name = name or default_name
            self._sampler_factory = sampler
        self.initial_configs: list[dict[str, Any]] = [dict(c) for c in (initial_configs or [])]
        self._deferred: list[dict[str, Any]] = []
        self.study: optuna.Study | None = None
        self.space: SearchSpace | None = None
        self._distributions: dict[str, BaseDistribution] = {}
        self._trial: optuna.Trial | None = None
        self._action: np.ndarray | None = None
        self._budget: int | None = None

    # -- warm start -------------------------------------------------------------------------------
    def enqueue(self, configs: Iterable[Mapping[str, Any]]) -> None:
        """Evaluate ``configs`` (native dicts) next in the current run, before the sampler proposes.

        What the current run's budget has no room left for (all of them before the first ``reset`` or after a run
        spent its budget) is queued for the next run. Each one is a real evaluation and counts toward the budget.
        """
        given = [dict(c) for c in configs]
        room = self._room_left()
        now, later = given[:room], given[room:]
        if now:
            assert self.study is not None and self.space is not None  # room > 0 only in a run
            params = [config_to_params(self.space, config) for config in now]  # all checked before any is queued
            for p in params:
                self.study.enqueue_trial(p)
        self._deferred.extend(later)  # checked by the next reset, against that run's space

    def _room_left(self) -> int:
        """How many more trials the current run can start: its budget less the trials told, asked (the one in flight)
        and queued. ``study.trials`` holds all three; counting the queued ones as told sent a second enqueue into an
        unevaluated run to the next run, and not counting the one in flight lost what was enqueued before its
        ``observe`` (queued in a run that had no room for it, dropped at the next reset)."""
        if self.study is None:
            return 0
        if self._budget is None:
            return sys.maxsize  # a run without a budget takes every enqueued configuration
        taken = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED,
                                                               TrialState.RUNNING, TrialState.WAITING))
        return max(0, self._budget - len(taken))

    # -- Agent protocol -----------------------------------------------------------------------------
    def reset(self, space: SearchSpace, seed: int | None = None, budget: int | None = None) -> None:
        categoricals = [hp.name for hp in space if hp.kind == "categorical"]
        if categoricals and self._draws_categoricals_at_random:  # Optuna's per-trial warning is off: say it once here
            warnings.warn(f"agent {self.name!r}: Optuna's sampler does not model categorical hyperparameters, so it draws "
                          f"{categoricals} at random in every trial; tpe and gp optimize them", UserWarning, stacklevel=2)
        self.space = space
        self._action_dtype = space.action_dtype
        self._distributions = distributions_of(space, getattr(self, "_wide_ints_as_floats", False))
        self.study = optuna.create_study(direction="maximize", sampler=self._sampler_factory(seed))
        random_trials = getattr(self.study.sampler, "_n_startup_trials", 0)
        if budget is None or budget > random_trials:
            for module in getattr(self, "_lazy_imports", ()):  # () for an agent pickled before it existed
                importlib.import_module(module)
        self._trial = None
        self._action = None
        self._budget = budget
        # initial_configs open every run: the ones past its budget cannot be played in it, and deferring them queued
        # them behind the next run's own initial_configs again, a queue that grew by the overflow on every reset
        initial = self.initial_configs if budget is None else self.initial_configs[:budget]
        pending, self._deferred = initial + self._deferred, []
        self.enqueue(pending)

    def act(self, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.study is None or self.space is None:
            raise RuntimeError(f"agent {self.name!r}: act called before reset(space, seed)")
        if self._trial is not None:
            raise RuntimeError(f"agent {self.name!r}: act called twice without observe(); the harness must report "
                               "each evaluation with observe(action, reward, info)")
        self._trial = self.study.ask(self._distributions)
        config = params_to_config(self.space, self._trial.params)
        self._config = config
        # the Box's dtype, which is float64 where float32 would move an int in a 1e8-wide range by a few units (Optuna
        # was told the score of a value it never proposed)
        self._action = self.space.encode(config).astype(self._action_dtype)
        return self._action.copy()

    def observe(self, action: np.ndarray, reward: float, info: Mapping[str, Any]) -> None:
        """Tell the pending trial the evaluated score ``info["score"]`` (falls back to ``reward``)."""
        if self._trial is None or self.study is None or self.space is None:
            raise RuntimeError(f"agent {self.name!r}: observe called without a pending act()")
        score = float(info.get("score", reward))
        evaluated = info.get("config")
        if evaluated is not None:
            if not info.get("config_substituted", False):  # a partial table's nearest present cell is no desync
                self._check_in_step(evaluated)
            self._trial.set_user_attr("evaluated_config", {k: _jsonable(v) for k, v in evaluated.items()})
        if not math.isfinite(score):
            self.study.tell(self._trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(self._trial, score)
        self._trial = None

    def _check_in_step(self, evaluated: Mapping[str, Any]) -> None:
        """On a grid the env evaluates exactly the proposed value; anything else means a mixed-up act/observe."""
        assert self.space is not None
        for hp in self.space:
            if hp.is_discrete and hp.index_of(evaluated[hp.name]) != hp.index_of(self._config[hp.name]):
                raise RuntimeError(f"agent {self.name!r}: the env evaluated {hp.name}={evaluated[hp.name]!r} but the "
                                   f"agent proposed {self._config[hp.name]!r}; agent and env are out of step")


def _jsonable(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def make_optuna_agent(sampler: str, initial_configs: Sequence[Mapping[str, Any]] | None = None) -> OptunaAgent:
    """Convenience constructor, e.g. ``make_optuna_agent("tpe", initial_configs=portfolio_configs)``."""
    return OptunaAgent(sampler, initial_configs=initial_configs)


def _factory(sampler: str) -> Callable[[str | None], OptunaAgent]:
    def make(arg: str | None) -> OptunaAgent:
        if arg:
            raise ValueError(f"agent {sampler!r} takes no argument, got {arg!r}")
        return OptunaAgent(sampler)

    return make


for _name in SAMPLERS:
    register_agent(_name, _factory(_name))
