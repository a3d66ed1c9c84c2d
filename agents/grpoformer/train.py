"""Training entry points: transfer training on tables (+ synthetic objectives), and the online paper mode.

``train`` runs GRPO + PCR updates on a pool of training tables, logs a CSV row per update (reward,
churn, evaluations, wall time, and the held-out regret every ``eval_every`` updates), writes a
resumable training state every ``ckpt_every`` updates and the final policy to ``policy.pt``.
Held-out tasks are only *evaluated* (monitoring); they never enter the training pool.
"""

from __future__ import annotations

import copy
import csv
import functools
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import torch

from agents.grpoformer.critic import StateValue
from agents.grpoformer.learner import (
    AUTOREGRESSIVE_TRAJECTORY,
    InitialDesign,
    LearnerConfig,
    StateBuffer,
    collect,
    featurize_states,
    improvement_rewards,
    run_episodes,
    step_advantages,
    update,
)
from agents.grpoformer.policy import (
    FEATURES_VERSION,
    MAX_DIMS,
    GRPOformerPolicy,
    PolicyConfig,
    bins_to_unit,
    check_device,
    check_intact,
    load_policy,
    log_prob,
    save_atomically,
    save_policy,
)
from agents.grpoformer.synthetic import (grid_synthetic_bank, interpolation_groups, mixed_tables, seed_tables,
                                         synthetic_bank)
from hpo_gym.atomic import atomic_path, temporaries_of
from hpo_gym.lock import directory_lock
from hpo_gym.objective import Objective, finite_evaluation
from hpo_gym.tabular import TabularObjective, tables_only
from hpo_gym.threads import torch_threads

#: ``churn``: mean KL(snapshot || updated policy) on the ``churn_states`` probe states this update neither trained on
#: nor used as PCR reference (NaN when none was left, as in the first updates of a tiny run; see learner.update). The
#: first update has no earlier states: its probes are states it trains on, all of them counted (its churn is the drift
#: on trained states, unlike the later updates').
#: ``heldout_evaluations``: the held-out tables' lookups made by the monitoring so far (one per episode step), kept
#: apart from ``evaluations``, which counts the training data.
LOG_FIELDS = ["update", "evaluations", "wall_s", "reward", "train_regret", "churn", "churn_states", "pcr", "entropy",
              "policy_loss", "clip_frac", "heldout_regret", "heldout_evaluations"]


#: The kinds of extra training task beside the real tables: each is a TrainConfig count field (``seed_tables`` a
#: switch) with a ``<kind>_frac`` share of the episodes; one list so the option check and the pool agree.
EXTRA_TASK_KINDS = ("synthetic", "mixed", "grid_synthetic", "seed_tables")


@dataclass
class TrainConfig:
    """What to train and for how long (defaults: one k-fold fold in a few minutes on 2 CPU cores)."""

    updates: int = 150
    seed: int = 0
    synthetic: int = 32            # synthetic objectives in the training pool (0 = none)
    synthetic_frac: float = 0.15   # share of episodes drawn from synthetic objectives
    mixed: int = 0                 # interpolated training tasks (synthetic.mixed_tables; 0 = none)
    mixed_frac: float = 0.3        # share of episodes drawn from them
    grid_synthetic: int = 0        # random smooth objectives on the training tables' own grid (0 = none)
    grid_synthetic_frac: float = 0.3  # share of episodes drawn from them
    seed_tables: bool = False      # also train on each table's per-seed score tables (synthetic.seed_tables)
    seed_tables_frac: float = 0.5  # share of episodes drawn from them
    task_priority: float = 0.0     # share of the real tables' episodes drawn by difficulty (task_priority_weights)
    eval_every: int = 10
    eval_seeds: int = 10
    ckpt_every: int = 10
    threads: int = 1
    device: str = "cpu"
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    def validate(self) -> None:
        """Raise a ValueError naming the setting and a valid value (called by :func:`train`, after any attribute was
        set: the CLI sets them one by one)."""
        for name in ("updates", "eval_every", "eval_seeds", "ckpt_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: needs a whole number >= 1 (default "
                                 f"{type(self).__dataclass_fields__[name].default})")
        for name in ("synthetic", "mixed", "grid_synthetic"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: a number of extra training tasks, >= 0 (0 = none)")
        for name in (f"{kind}_frac" for kind in EXTRA_TASK_KINDS):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: a share of the episodes, in [0, 1)")
        if not 0 <= self.task_priority <= 1:
            raise ValueError(f"task_priority={self.task_priority}: the share of the real tables' episodes drawn by "
                             "difficulty, in [0, 1] (0 = uniform, the default)")
        if self.policy.autoregressive and self.learner.group_mode != "step":
            raise ValueError(AUTOREGRESSIVE_TRAJECTORY)

    def extra_task_shares(self) -> dict[str, float]:
        """Each extra training task kind in use (:data:`EXTRA_TASK_KINDS`) and its share of the episodes."""
        return {kind: getattr(self, f"{kind}_frac") for kind in EXTRA_TASK_KINDS if getattr(self, kind)}


#: TrainConfig fields a resumed run may change: how long, where and how often it reports, not what it learns (a
#: change of threads or device continues the run close to, not bit for bit as, the uninterrupted one: a warning says so).
RESUMABLE_CHANGES = ("updates", "eval_every", "eval_seeds", "ckpt_every", "threads", "device")


def recipe_tag(cfg: TrainConfig) -> str:
    """What distinguishes ``cfg``'s recipe from the original one (150 updates, 32 synthetic tasks, factorized head, no
    interpolated, grid-synthetic or per-seed training tasks, default size and learner hyperparameters): ``""`` for the
    original, else e.g. ``"updates=250"``, ``"head=autoregressive"`` or ``"lr=0.001"``; part of fold checkpoints'
    cache keys, so a checkpoint of another recipe (a longer run too) is never loaded in its place."""
    parts = []
    default = TrainConfig()
    if cfg.updates != default.updates:
        parts.append(f"updates={cfg.updates}")
    if (cfg.synthetic, cfg.synthetic_frac) != (default.synthetic, default.synthetic_frac):
        parts.append(f"synthetic={cfg.synthetic}@{cfg.synthetic_frac:g}")
    if cfg.policy.autoregressive:
        parts.append("head=autoregressive")
    if cfg.mixed:
        parts.append(f"mixed={cfg.mixed}@{cfg.mixed_frac:g}")
    if cfg.grid_synthetic:
        parts.append(f"grid_synthetic={cfg.grid_synthetic}@{cfg.grid_synthetic_frac:g}")
    if cfg.seed_tables:
        parts.append(f"seed_tables@{cfg.seed_tables_frac:g}")
    if cfg.task_priority:
        parts.append(f"task_priority={cfg.task_priority:g}")
    size = {k: v for k, v in changed_fields(cfg.policy).items()
            if k in ("d_model", "n_heads", "n_layers", "d_ff", "head_hidden", "dropout")}
    if size:
        parts.append(",".join(f"{k}={v}" for k, v in size.items()))
    learner = changed_fields(cfg.learner)
    if learner:
        parts.append(",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in learner.items()))
    return "|".join(parts)


def changed_fields(config) -> dict:
    """The fields of a config dataclass (``PolicyConfig``, ``LearnerConfig``) that differ from its class defaults
    (the shipped recipe's), in field order."""
    default = type(config)()
    return {f.name: getattr(config, f.name) for f in fields(config) if getattr(config, f.name) != getattr(default, f.name)}


def heldout_episodes(policy: GRPOformerPolicy, objectives: Sequence[TabularObjective], seeds: int, budget: int = 50,
                     group_size: int = 8, seed: int = 12345, device: str = "cpu",
                     initial_design: np.ndarray | None = None) -> tuple[float, int]:
    """Mean final normalized regret of the policy (sampling mode, the agent's rule) on ``objectives``, each episode
    opened by ``initial_design`` (encoded ``(k, d)`` trials, e.g. the training tables' portfolio) when given, and the
    table lookups it took: one per trial, as the agent spends them (only the candidate an episode continues with is
    looked up; the others' scores would not change the regret)."""
    if not objectives:
        return float("nan"), 0
    objs = [o for o in objectives for _ in range(seeds)]
    designs = None if initial_design is None else [initial_design] * len(objs)
    ep = run_episodes(policy, objs, budget, group_size, np.random.default_rng(seed), torch.Generator().manual_seed(seed),
                      record=False, device=device, designs=designs, score_all=False)
    return float(np.mean(ep["final_regret"])), int(ep["evaluations"])


def heldout_regret(policy: GRPOformerPolicy, objectives: Sequence[TabularObjective], seeds: int, budget: int = 50,
                   group_size: int = 8, seed: int = 12345, device: str = "cpu",
                   initial_design: np.ndarray | None = None) -> float:
    """The mean final normalized regret of :func:`heldout_episodes`."""
    return heldout_episodes(policy, objectives, seeds, budget, group_size, seed, device, initial_design)[0]


def check_disjoint(tables: Sequence[TabularObjective], holdout: Sequence[TabularObjective]) -> None:
    """Refuse a held-out task that is also a training task, by name or by its table's data under another name, and a
    held-out task given twice: the held-out regret must measure tasks the policy never trained on, each once."""
    names = [o.name for o in holdout]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"held-out task(s) {twice} given more than once; list each once")
    names_trained, data_trained = {o.name for o in tables}, {o.data_fingerprint for o in tables}
    both = sorted(o.name for o in holdout if o.name in names_trained or o.data_fingerprint in data_trained)
    if both:
        raise ValueError(f"held-out task(s) {both} are also training tasks (by name or table data); remove them from "
                         "the training objectives (the CLI trains on the suite minus --holdout)")


def check_warm_start_tables(n_tables: int) -> None:
    """``warm_start`` builds each training table's design from a portfolio of the others: it needs two tables."""
    if n_tables < 2:
        raise ValueError(f"--warm-start (warm_start) needs at least 2 training tables (a portfolio from the others for "
                         f"each); got {n_tables}: hold out fewer tasks, or leave --warm-start out")


def check_episode_shares(shares: Sequence[float]) -> float:
    """The real tables' share of episodes once the extra training tasks (``shares``, one per kind in use) have theirs;
    ``ValueError`` when they leave none."""
    rest = 1.0 - sum(shares)
    if rest <= 0:
        raise ValueError(f"the extra training tasks take {1 - rest:.0%} of the episodes, leaving none for the real "
                         "tables; combine fewer of --synthetic/--mixed/--grid-synthetic/--seed-tables, or lower "
                         "TrainConfig's synthetic_frac/mixed_frac/grid_synthetic_frac/seed_tables_frac")
    return rest


def check_training_options(tables: Sequence[TabularObjective], cfg: TrainConfig) -> None:
    """The option refusals that need only the training tables, checked before any banner or work: they came after the
    banner (and after building 32 synthetic tables, about 7 s), the warm-start one inside the progress bar, leaving a
    header-only log.csv that a later --resume took for a run (found in review)."""
    if cfg.learner.warm_start:
        check_warm_start_tables(len(tables))
    if cfg.mixed:
        interpolation_groups(tables)
    check_episode_shares(list(cfg.extra_task_shares().values()))


def initial_designs(tables: Sequence[TabularObjective], k: int) -> InitialDesign:
    """The initial design of ``k`` trials that opens each training episode (``LearnerConfig.warm_start``).

    A training table gets the first ``k`` entries of the portfolio built from the *other* training tables
    (``agents.portfolio.build_portfolio``, leave one out), so its design knows as little about it as a held-out
    task's portfolio knows about that task; any other objective of the pool (synthetic spaces, where no portfolio
    transfers) gets ``k`` uniformly random configurations.
    """
    from agents.portfolio import build_portfolio

    check_warm_start_tables(len(tables))
    loo = {t.name: build_portfolio([o for o in tables if o is not t]).encodings[:k] for t in tables}

    def design(objective: TabularObjective, rng: np.random.Generator) -> np.ndarray:
        if objective.name in loo:
            return loo[objective.name]
        return rng.random((k, len(objective.space)))

    return design


def training_pool(tables: list[TabularObjective], extras: Sequence[tuple[list[TabularObjective], float]]
                  ) -> tuple[list[TabularObjective], np.ndarray | None]:
    """The training pool and the episode-sampling weights: each non-empty group of ``extras`` gets its share of
    episodes (split evenly within it), the real tables share what is left; ``None`` (uniform) without extras."""
    if not tables:
        raise ValueError("no training tables: give at least one TabularObjective to train on")
    extras = [(objs, frac) for objs, frac in extras if objs]
    pool = tables + [o for objs, _ in extras for o in objs]
    if not extras:
        return pool, None
    rest = check_episode_shares([frac for _, frac in extras])
    weights = [rest / len(tables)] * len(tables) + [frac / len(objs) for objs, frac in extras for _ in objs]
    return pool, np.array(weights)


def task_priority_weights(weights: np.ndarray | None, pool_size: int, difficulty: np.ndarray, share: float
                          ) -> np.ndarray:
    """Episode-sampling weights that draw ``share`` of the real tables' episodes by rank of difficulty.

    Why: on most tables the policy's episodes soon end near the best cell (car: 39 % of the grid is within 0.02 of it),
    so their per-step groups are mostly flat and teach little, while the tables where regret remains carry what the
    held-out regret is made of. This is Prioritized Level Replay's rank prioritization (Jiang et al. 2021) with the
    table's recent final regret as its score: the hardest of n tables gets ``1 / H_n`` of the prioritized share, the
    next ``1 / (2 H_n)`` and so on (harmonic weights, temperature 1); a table not yet seen (NaN) ranks first. The rest,
    ``1 - share``, stays uniform, and the extra tasks' shares (synthetic, mixed, ...) are left as they were.
    ``difficulty`` holds one score per real table: the first ``len(difficulty)`` entries of the pool.
    """
    n = len(difficulty)
    w = np.full(pool_size, 1.0 / pool_size) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    real = w[:n].sum()
    order = np.argsort(-np.nan_to_num(np.asarray(difficulty, dtype=np.float64), nan=np.inf), kind="stable")
    ranks = np.empty(n)
    ranks[order] = np.arange(1, n + 1)
    prioritized = (1.0 / ranks) / np.sum(1.0 / ranks)
    w[:n] = real * ((1.0 - share) / n + share * prioritized)
    return w


def update_difficulty(difficulty: np.ndarray, names: Sequence[str], ro_tasks: Sequence[str], final_regret: np.ndarray,
                      decay: float = 0.8) -> np.ndarray:
    """Each real table's running difficulty (:func:`task_priority_weights`' score): an exponential moving average of
    the mean final regret of its episodes in each rollout (``decay`` on the old value; the first rollout sets it)."""
    out = np.asarray(difficulty, dtype=np.float64).copy()
    tasks = np.asarray(ro_tasks)
    for i, name in enumerate(names):
        here = final_regret[tasks == name]
        if len(here):
            now = float(np.nanmean(here))
            out[i] = now if np.isnan(out[i]) else decay * out[i] + (1 - decay) * now
    return out


def check_not_diverged(policy: torch.nn.Module, step: int, lr: float, unit: str = "update") -> None:
    """A ``RuntimeError`` naming the fix once an update left a weight NaN or infinite: the next rollout would fail
    inside torch's sampler ("invalid multinomial distribution"), which says nothing about the learning rate."""
    if not all(bool(torch.isfinite(p).all()) for p in policy.parameters()):
        raise RuntimeError(f"training diverged at {unit} {step}: the policy's weights are no longer finite; lower the "
                           f"learning rate (--lr, now {lr:g}; default {LearnerConfig().lr:g}) and start over")


#: What a training state (state.pt) holds; a checkpoint (policy.pt) holds only the policy.
STATE_KEYS = ("policy", "optimizer", "update", "evaluations", "wall_s", "rng", "gen")


def _dropout_rng(device: str) -> dict[str, torch.Tensor]:
    """The global torch generator's state, which draws the dropout masks in ``update()`` (``PolicyConfig.dropout``):
    saved with the training state so that a resumed run continues bit for bit with dropout too."""
    state = {"torch_rng": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    return state


def _restore_dropout_rng(state: Mapping[str, Any], device: str) -> None:
    """Undo :func:`_dropout_rng` (a state saved before it existed has neither entry: dropout 0 never drew from it)."""
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"].cpu())  # map_location may have moved it
    if "cuda_rng" in state and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)


def _saved(state: dict[str, Any], name: str) -> Any:
    """A TrainConfig field as the state's run saved it (its default when the state predates the field)."""
    return state["policy"].get("extra", {}).get("train_config", {}).get(name, TrainConfig.__dataclass_fields__[name].default)


def cfg_differs_in_arithmetic(state: dict[str, Any], cfg: TrainConfig) -> bool:
    """Whether a resume changes ``threads`` or ``device``: allowed (:data:`RESUMABLE_CHANGES`), since they say where the
    run computes, not what it learns, but torch's reductions then sum in another order, so the resumed run is no
    longer the uninterrupted one bit for bit (2 threads instead of 1 moved weights by up to 0.018 in 3 updates)."""
    return (_saved(state, "threads"), _saved(state, "device")) != (cfg.threads, cfg.device)


def _read_state(path: Path, device: str) -> dict[str, Any]:
    """``state.pt`` for a resume, or a ``ValueError`` naming the file and the fix: a damaged or foreign file used to
    end in torch's own error (no path) or a ``KeyError``."""
    fix = "remove it to start over from update 0, or restore it from a copy"
    check_intact(path)
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # noqa: BLE001  (torch raises many kinds for a torn or foreign file)
        raise ValueError(f"{path} is not a readable training state ({type(e).__name__}: {e}); {fix}") from None
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path} is not a training state (it lacks {missing}; a policy.pt checkpoint holds only the "
                         f"policy); {fix}")
    return state


def _logged_rows(state: dict[str, Any], log_path: Path, start: int) -> list[dict[str, Any]]:
    """The log rows of updates 1..``start`` for a resume. A state saved with its rows (``state["log"]``) has them exact:
    ``log.csv`` is appended without a sync to disk at every update, so after a machine crash it can lack rows or end
    in a torn one while the (synced) state survives. A state from before the rows were saved with it falls back to
    ``log.csv``, checked to hold each of those updates once."""
    if "log" in state:
        return list(state["log"])
    fix = f"remove {log_path.parent} to start over, or restore log.csv from a copy"
    try:
        with log_path.open(newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if int(r["update"]) <= start]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{log_path} cannot be read back to continue from update {start} ({type(e).__name__}: {e}); "
                         f"{fix}") from None
    if [int(r["update"]) for r in rows] != list(range(1, start + 1)):
        raise ValueError(f"{log_path} does not hold updates 1..{start} once each, as the state to continue from "
                         f"says; {fix}")
    return rows


def _write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    """log.csv with its header and ``rows``, atomically (rows already there are never lost to a kill)."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, LOG_FIELDS)
        w.writeheader()
        w.writerows(rows)


def check_features_version(path: Path, saved: Mapping[str, Any], consequence: str) -> None:
    """Refuse a checkpoint or training state whose policy was trained on other input features than this code computes
    (``saved`` is its metadata): continuing, reusing or shipping it would feed it inputs it never learned from.
    ``consequence`` ends the message with what that would mean here and the fix."""
    version = saved.get("features", 1)
    if version != FEATURES_VERSION:
        raise ValueError(f"{path} was trained on the policy's input features of version {version}, this version "
                         f"computes version {FEATURES_VERSION}{consequence}")


def check_resumable(state: Mapping[str, Any], extra: Mapping[str, Any], updates: int, path: Path) -> None:
    """Refuse to resume ``state`` (a ``state.pt``) into a run that would learn something else: other training tasks
    (the checkpoint would then claim tasks it was never trained on, or hide one it was: a held-out leak), another seed
    or recipe, or fewer updates than already done; or that would monitor other held-out tasks (the log's regret
    column would change meaning mid-run; only the Python API can ask for that, as the CLI's --holdout also sets the
    training tasks). Only :data:`RESUMABLE_CHANGES` may differ."""
    saved = state["policy"].get("extra", {})
    fix = f"rerun with the original settings, or train into a new --out (not {path.parent})"
    check_features_version(path, saved, f": resuming would train one policy on both; train into a new --out (not "
                                        f"{path.parent})")
    if saved.get("train_tasks") != extra["train_tasks"]:
        raise ValueError(f"{path} was trained on {saved.get('train_tasks')}, this run trains on {extra['train_tasks']} "
                         f"(another --holdout?): resuming would mix them; {fix}")
    if "heldout_tasks" in saved and saved["heldout_tasks"] != extra["heldout_tasks"]:  # states before it: unchecked
        raise ValueError(f"{path} monitored held-out regret on {saved['heldout_tasks']}, this run on "
                         f"{extra['heldout_tasks']}: log.csv's heldout_regret column would mix two task sets; {fix}")
    _refuse_other_settings(path, saved.get("train_config", {}), extra["train_config"], RESUMABLE_CHANGES, fix)
    if updates < state["update"]:
        raise ValueError(f"{path} already holds {state['update']} updates; --updates {updates} would save a checkpoint "
                         f"that claims fewer: give --updates >= {state['update']}")


def check_finished_run(path: Path, extra: Mapping[str, Any], cfg: TrainConfig, train_tasks: Sequence[str],
                       fix: str | None = None) -> None:
    """A finished ``policy.pt`` that a benchmark script finds in its run folder is used instead of training only when
    it is the run the script asks for: the same training tasks and every setting that shapes the weights, the number
    of updates included (a rerun with ``--updates 2`` into a folder of 1-update runs scored, and could ship, the old
    ones under the new recipe's name). ``extra`` is the checkpoint's metadata (:func:`load_policy`); ``fix`` replaces
    the refusal's advice."""
    fix = fix or f"give another --out, or remove {path.parent} to train it anew"
    if sorted(extra.get("train_tasks", [])) != sorted(train_tasks):
        raise ValueError(f"{path} was trained on {sorted(extra.get('train_tasks', []))}, not on {sorted(train_tasks)}; "
                         f"{fix}")
    ignored = set(RESUMABLE_CHANGES) - {"updates"}  # how it was run, not what it learned
    _refuse_other_settings(path, extra.get("train_config", {}), _plain(asdict(cfg)), ignored, fix)


class OtherSettings(ValueError):
    """A checkpoint trained with other settings than the ones asked for. ``changes`` holds ``(setting, saved, asked)``
    with settings as dotted config names (``learner.horizon``), so that the CLI can name its own flags instead
    (``--budget``)."""

    def __init__(self, path: Path, changes: list[tuple[str, Any, Any]], fix: str,
                 name: Callable[[str], str] = lambda setting: setting):
        self.path, self.changes, self.fix = path, changes, fix
        listed: dict[str, str] = {}
        for k, saved, asked in changes:  # several settings of one flag (--width sets three): the first one speaks
            listed.setdefault(name(k), f"{name(k)}: {saved!r} -> {asked!r}")
        super().__init__(f"{path} was trained with other settings ({', '.join(listed.values())}); {fix}")

    def __reduce__(self):  # a worker process's refusal must reach its parent (map_jobs) as itself, not as a broken pool
        return (OtherSettings, (self.path, self.changes, self.fix))

    def named(self, name: Callable[[str], str], first: Sequence[str] = ()) -> OtherSettings:
        """The same refusal with every setting written as ``name(setting)`` (a flag, say); of several settings with one
        name, the one listed in ``first`` is shown (``policy.d_model`` for ``--width``, not its derived ``d_ff``)."""
        ordered = sorted(self.changes, key=lambda change: change[0] not in first)
        return OtherSettings(self.path, ordered, self.fix, name)


def _refuse_other_settings(path: Path, saved: Mapping[str, Any], asked: Mapping[str, Any], ignored: Iterable[str],
                           fix: str) -> None:
    """:class:`OtherSettings` naming every setting (outside ``ignored``) whose saved value differs from the asked one.
    A setting added to the code after the checkpoint was saved is not in it: it counts as its default, which is what
    the code that saved it did (a run saved before ``continue_rule`` existed resumed under ``--continue-rule
    density-ratio`` and then claimed that recipe for updates made with the first-new rule)."""
    new, ignored = _flat(asked), set(ignored)
    old = {**{k: v for k, v in _flat(_plain(asdict(TrainConfig()))).items() if k in new}, **_flat(saved)}
    changed = sorted(k for k in old.keys() & new.keys() if k not in ignored and old[k] != new[k])
    if changed:
        raise OtherSettings(path, [(k, old[k], new[k]) for k in changed], fix)


def _flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as ``{"learner.lr": 0.003, ...}`` (top-level keys keep their names)."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


_P = ParamSpec("_P")
_R = TypeVar("_R")


def keeps_torch_state(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with torch's thread count and CPU random state restored afterwards: training sets both for its own
    reproducibility (``threads``, ``seed``), and a caller in the same process (an agent's ``fit`` inside a benchmark,
    a notebook) kept one thread and a reseeded generator after it (found in review)."""
    @functools.wraps(fn)
    def restoring(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with torch_threads(torch.get_num_threads()), torch.random.fork_rng(devices=[]):
            return fn(*args, **kwargs)
    return restoring


@keeps_torch_state
def train(train_objectives: Sequence[Objective], out_dir: str | Path, cfg: TrainConfig | None = None,
          holdout: Sequence[Objective] = (), resume: bool = False, progress: bool = True,
          wait_for_lock: bool = False, announce: Callable[[], None] | None = None) -> GRPOformerPolicy:
    """Train a policy from scratch (or resume) on ``train_objectives`` (+ synthetic); returns it.

    Files in ``out_dir``: ``log.csv`` (one row per update), ``state.pt`` (resumable), ``policy.pt`` (final). One
    process trains into ``out_dir`` at a time: another one's run raises :class:`~hpo_gym.lock.DirectoryInUse`, or with
    ``wait_for_lock`` is waited for (then ``resume`` continues from, or returns, its result). ``announce`` is called
    once ``out_dir`` is checked (a refusal, such as a finished run without ``resume`` or a resume with other settings,
    comes before it): the CLI prints its banner there, so a refused command prints only the refusal.
    """
    cfg = cfg or TrainConfig()
    cfg.validate()
    fix = "wrap your data with TabularObjective.from_dataframe, or use --online on a live task"
    tables = tables_only(train_objectives, "GRPOformer training (batched lookups)", fix)
    holdout = tables_only(holdout, "GRPOformer's held-out regret monitoring (batched lookups)", fix)
    check_disjoint(tables, holdout)
    check_training_options(tables, cfg)
    check_device(cfg.device)
    out = Path(out_dir)
    with directory_lock(out, "a train-grpoformer run", wait=wait_for_lock) as locked:  # a second run stops here
        if locked:  # no other process writes log.csv, state.pt or policy.pt: the temporaries are a killed run's
            for name in ("state.pt", "policy.pt", "log.csv"):  # (atomic_path); unlocked, they may be a live one's
                for stale in temporaries_of(out / name):
                    stale.unlink(missing_ok=True)
        return _train_holding_the_lock(tables, holdout, out, cfg, resume, progress, announce)


def _finished_run_without_state(path: Path, extra: Mapping[str, Any], cfg: TrainConfig) -> GRPOformerPolicy:
    """``--resume`` of a finished run whose state.pt was removed (16 MB, the file a user deletes first): its policy.pt,
    when it is the run asked for (training tasks, every setting, the number of updates), as a resume of a finished run
    with its state returns it; a benchmark script that reruns its training commands then goes on (it stopped there).
    Any other request is refused by name: with no state nothing can be continued, and resuming such a directory once
    deleted policy.pt and trained from update 0 under the message of a run killed before its first state."""
    fix = (f"{path.parent} holds a finished policy.pt but no state.pt to continue it from: give the settings it was "
           f"trained with to use it as it is, give another --out, or remove {path.parent} to train again")
    policy, saved = load_policy(path, cfg.device)
    check_features_version(path, saved, f"; {fix}")
    check_finished_run(path, saved, cfg, extra["train_tasks"], fix)
    return policy.eval()


def _train_holding_the_lock(tables: list[TabularObjective], holdout: list[TabularObjective], out: Path,
                            cfg: TrainConfig, resume: bool, progress: bool,
                            announce: Callable[[], None] | None = None) -> GRPOformerPolicy:
    """:func:`train` once its arguments are checked and it holds ``out``'s lock (:mod:`hpo_gym.lock`)."""
    state_path, log_path = out / "state.pt", out / "log.csv"
    extra = {"train_tasks": sorted(o.name for o in tables), "heldout_tasks": sorted(o.name for o in holdout),
             "seed": cfg.seed, "train_config": _plain(asdict(cfg)), "features": FEATURES_VERSION}
    # the directory's refusals first, before any banner or work
    st = _read_state(state_path, cfg.device) if resume and state_path.exists() else None
    if st is not None:
        check_resumable(st, extra, cfg.updates, state_path)
    earlier = [p for p in (state_path, out / "policy.pt") if p.exists()]
    if resume and st is None and (out / "policy.pt").exists():
        return _finished_run_without_state(out / "policy.pt", extra, cfg)
    if st is not None and cfg_differs_in_arithmetic(st, cfg):
        warnings.warn(f"{state_path} was trained with threads={_saved(st, 'threads')}, device="
                      f"{_saved(st, 'device')!r}; this resume uses threads={cfg.threads}, device={cfg.device!r}: torch's "
                      "sums run in another order there, so the run continues close to, not bit for bit as, the "
                      "uninterrupted run", RuntimeWarning, stacklevel=2)
    if st is None and earlier and not resume:
        # a fresh run: an earlier run's state.pt would be picked up by a later --resume and spliced onto this log,
        # and its policy.pt would sit beside this run's log until this run ends. Without --resume such a run is
        # refused, not removed: rerunning a command (after a Ctrl-C, say) must not wipe minutes of training
        raise ValueError(f"{out} holds a training run ({', '.join(p.name for p in earlier)}); continue it with "
                         f"--resume (train(..., resume=True) in Python), or give another --out (or remove {out}) "
                         "to start over")
    if announce is not None:
        announce()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = cfg.device
    syn = synthetic_bank(cfg.synthetic, seed=10_000 + cfg.seed) if cfg.synthetic else []
    mix = mixed_tables(tables, cfg.mixed, seed=20_000 + cfg.seed) if cfg.mixed else []
    grid = grid_synthetic_bank(tables, cfg.grid_synthetic, seed=30_000 + cfg.seed) if cfg.grid_synthetic else []
    per_seed = seed_tables(tables) if cfg.seed_tables else []
    extras = {"synthetic": syn, "mixed": mix, "grid_synthetic": grid, "seed_tables": per_seed}
    pool, weights = training_pool(tables, [(extras[kind], share) for kind, share in cfg.extra_task_shares().items()])
    # eval mode, the mode update() leaves it in and a resume sets: rollouts sample without dropout from the first one
    policy = GRPOformerPolicy(cfg.policy).to(device).eval()
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.learner.lr)
    critic = None
    if cfg.learner.algo == "ppo-critic":  # the ablation's value network (critic.py), saved with the training state
        value = StateValue(cfg.policy).to(device)
        critic = (value, torch.optim.Adam(value.parameters(), lr=cfg.learner.lr))
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    frozen = copy.deepcopy(policy).eval() if cfg.learner.kl_beta > 0 else None  # the initial policy, also on resume
    start, evaluations, wall0, heldout_evaluations = 0, 0, 0.0, 0
    log_rows: list[dict[str, Any]] = []  # saved with the state, so a resume never depends on log.csv's durability
    buffer = StateBuffer(cfg.learner.buffer_states)
    table_names = [o.name for o in tables]
    difficulty = np.full(len(tables), np.nan)  # task_priority's per-table score, kept in the training state
    if st is not None:
        try:  # a state of another code version failed with torch's own error (no path) or a KeyError traceback
            policy.load_state_dict(st["policy"]["state_dict"])
            optimizer.load_state_dict(st["optimizer"])
            if critic is not None:
                critic[0].load_state_dict(st["critic"])
                critic[1].load_state_dict(st["critic_optimizer"])
            buffer.restore(st.get("buffer", []))  # PCR reference states: a resumed run sees what it would have
            rng.bit_generator.state = st["rng"]
            gen.set_state(st["gen"].cpu())  # map_location moved it to the policy's device; the generator is CPU
            _restore_dropout_rng(st, device)
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{state_path} does not fit this version's network, optimizer or random state "
                             f"({type(e).__name__}: {str(e).splitlines()[0]}); train into another --out, or remove "
                             f"{out} to start over") from None
        policy.eval()  # the mode update() leaves it in, so the next rollout is computed as without the interruption
        difficulty = np.asarray(st.get("difficulty", difficulty), dtype=np.float64)
        start, evaluations, wall0 = st["update"], st["evaluations"], st["wall_s"]
        heldout_evaluations = st.get("heldout_evaluations", 0)
        log_rows = _logged_rows(st, log_path, start)
        _write_log(log_path, log_rows)  # the rows up to the state; atomic, so a kill now cannot lose them
    else:
        if resume and log_path.exists():  # killed before the first state.pt (every ckpt_every updates): say so
            print(f"--resume: no {state_path} yet (the state is saved every {cfg.ckpt_every} updates); "
                  "starting from update 0")
        _write_log(log_path, [])
    t0 = time.time() - wall0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.updates, initial=start, desc="train-grpoformer", unit="upd")
    k = cfg.learner.warm_start
    design = initial_designs(tables, k) if k else None
    heldout_design = portfolio_design(tables, k, holdout) if k and holdout else None
    try:  # the bar is closed on an error or Ctrl-C too: the CLI's one-line message then starts a line of its own
        for u in range(start, cfg.updates):
            drawn = weights if not cfg.task_priority else task_priority_weights(weights, len(pool), difficulty,
                                                                                 cfg.task_priority)
            ro = collect(policy, pool, cfg.learner, rng, gen, device=device, weights=drawn, initial_design=design)
            evaluations += ro.evaluations
            if cfg.task_priority:
                difficulty = update_difficulty(difficulty, table_names, ro.tasks, ro.final_regret)
            stats = update(policy, optimizer, ro, buffer, cfg.learner, rng, frozen, device=device, critic=critic)
            check_not_diverged(policy, u + 1, cfg.learner.lr)
            row = {"update": u + 1, "evaluations": evaluations, "wall_s": round(time.time() - t0, 2),
                   "reward": float(np.mean(ro.rewards)), "train_regret": float(np.nanmean(ro.final_regret)),
                   **{k: stats.get(k, float("nan")) for k in ("churn", "churn_states", "pcr", "entropy", "policy_loss",
                                                            "clip_frac")},
                   "heldout_regret": ""}
            if holdout and ((u + 1) % cfg.eval_every == 0 or u + 1 == cfg.updates):
                row["heldout_regret"], n = heldout_episodes(policy, holdout, cfg.eval_seeds, cfg.learner.horizon,
                                                            cfg.learner.group_size, device=device,
                                                            initial_design=heldout_design)
                heldout_evaluations += n
            row["heldout_evaluations"] = heldout_evaluations
            log_rows.append(row)
            with log_path.open("a", newline="") as fh:
                csv.DictWriter(fh, LOG_FIELDS).writerow(row)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(regret=f"{row['train_regret']:.4f}", churn=f"{row['churn']:.4f}",
                                heldout=row["heldout_regret"] if row["heldout_regret"] == "" else f"{row['heldout_regret']:.4f}")
            if (u + 1) % cfg.ckpt_every == 0 or u + 1 == cfg.updates:
                blob = {"policy": {"config": asdict(policy.config), "state_dict": policy.state_dict(), "extra": extra},
                        "optimizer": optimizer.state_dict(), "rng": rng.bit_generator.state, "gen": gen.get_state(),
                        "update": u + 1, "evaluations": evaluations, "wall_s": time.time() - t0,
                        "heldout_evaluations": heldout_evaluations, "log": log_rows, **_dropout_rng(device)}
                blob["buffer"] = buffer.parts
                blob["difficulty"] = difficulty
                if critic is not None:
                    blob.update(critic=critic[0].state_dict(), critic_optimizer=critic[1].state_dict())
                save_atomically(blob, state_path)
    finally:
        if bar is not None:
            bar.close()
    extra.update(evaluations=evaluations, heldout_evaluations=heldout_evaluations, wall_s=round(time.time() - t0, 1),
                 updates=cfg.updates)
    save_policy(policy, out / "policy.pt", extra)
    return policy


def portfolio_design(tables: Sequence[TabularObjective], k: int, holdout: Sequence[TabularObjective]) -> np.ndarray:
    """The held-out tasks' initial design: the first ``k`` entries of the portfolio of all training tables (what the
    agent plays on a new task of the same grid)."""
    from agents.portfolio import build_portfolio

    if any(o.space != tables[0].space for o in holdout):
        raise ValueError("warm_start monitors held-out tasks with the training tables' portfolio; give held-out tasks "
                         "of the same search space (grid) as the training tables")
    return build_portfolio(tables).encodings[:k]


def _plain(d):
    return {k: (_plain(v) if isinstance(v, dict) else v) for k, v in d.items()}


# -- paper mode: learn online on the target task --------------------------------------------------------
def online_learner_config(group_size: int = 8) -> LearnerConfig:
    """Paper mode's learner: more epochs on smaller minibatches than transfer training, since one live run gives it
    a few hundred evaluations, not hundreds of thousands."""
    return LearnerConfig(epochs=4, minibatch=16, group_size=group_size)


def check_online_config(cfg: LearnerConfig | None, group_size: int | None = None) -> LearnerConfig:
    """Paper mode's learner settings (``online_learner_config`` when ``cfg`` is None), or a ``ValueError`` naming a
    setting that needs training tables or several episodes: checked before any work (the CLI checks them before it
    looks at an earlier run's results)."""
    cfg = cfg or online_learner_config(8 if group_size is None else group_size)
    if group_size is not None and group_size != cfg.group_size:
        raise ValueError(f"group_size={group_size} differs from cfg.group_size={cfg.group_size}: give it once, in cfg")
    if cfg.advantage_norm != "group":
        raise ValueError("paper mode learns on a live task whose score range is unknown; advantage_norm='batch' needs "
                         "a table's span, so use the default advantage_norm='group' with --online")
    if cfg.warm_start:
        raise ValueError("paper mode starts from an empty history on the target task (no training tables to build a "
                         "portfolio from); use warm_start=0 with --online")
    if cfg.lookahead:
        raise ValueError("paper mode scores each group once on the live task (no table to branch the history on); "
                         "use lookahead=0 with --online")
    if cfg.continue_rule != "first-new":
        raise ValueError(f"paper mode appends the whole scored group to its one history (continue_rule="
                         f"{cfg.continue_rule!r} picks one candidate per training episode); drop --continue-rule")
    if cfg.group_mode != "step":
        raise ValueError(f"paper mode learns from per-step groups on one live run (group_mode={cfg.group_mode!r} needs "
                         "several whole episodes on the task); use group_mode='step' with --online")
    if cfg.reward != "improvement":  # it was accepted, recorded in online.json, and not used
        raise ValueError(f"paper mode rewards each candidate by its gain over the run's best so far; reward="
                         f"{cfg.reward!r} applies to transfer training only: drop --reward with --online")
    if cfg.algo == "ppo-critic":  # it failed after the progress bar had started, with an internal message
        raise ValueError("paper mode has no value network to train on one live run; use algo='grpo' or 'reinforce' "
                         "with --online")
    return cfg


@keeps_torch_state
def train_online(objective, budget: int = 500, group_size: int | None = None, seed: int = 0, cfg: LearnerConfig | None = None,
                 policy: GRPOformerPolicy | None = None, context: int = 50, threads: int = 1, progress: bool = True,
                 device: str = "cpu"):
    """Paper mode: GRPO + PCR from scratch on the target task itself; every evaluation counts against ``budget``.

    Each round samples ``group_size`` candidates from the current history (the best ``context`` trials),
    evaluates all of them (``objective.evaluate_batch``), updates the policy on that group (advantages =
    group-normalized gains over the best-so-far, PCR on earlier states), and appends them to the history.
    ``device`` is where the policy learns (a given ``policy`` is moved there); sampling stays on the seeded CPU
    generator, so the proposals do not depend on it beyond float rounding.
    ``group_size`` defaults to ``cfg.group_size`` (8); one that differs from a given ``cfg``'s is refused (one of
    the two was silently ignored).
    Returns ``(best_curve, scores)``: best-so-far after each evaluation, and every score.
    """
    cfg = check_online_config(cfg, group_size)
    group_size = cfg.group_size
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    # eval mode, as update() leaves it: the first group is sampled as every later one
    policy = (policy or GRPOformerPolicy()).to(check_device(device)).eval()
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    frozen = copy.deepcopy(policy).eval() if cfg.kl_beta > 0 else None  # the initial policy, as in transfer training
    space = objective.space
    d = len(space)
    xs: list[np.ndarray] = []
    ys: list[float] = []
    buffer = StateBuffer(cfg.buffer_states)
    from agents.grpoformer.learner import Rollout

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=budget, desc=f"online {objective.name}", unit="eval")
    try:  # closed on an error or Ctrl-C too, as in _train_holding_the_lock
        while len(ys) < budget:
            g_n = min(group_size, budget - len(ys))
            st = _online_state(space, xs, ys, len(ys) / budget, context)
            f = featurize_states(st, device)
            with torch.no_grad():
                cand, logp = policy.sample(f, g_n, gen)
            u = bins_to_unit(cand, f, rng)[0]
            batch = objective.evaluate_batch(u[:, :d])
            configs = [batch[i].info.get("config", space.decode(u[i, :d])) for i in range(g_n)]
            # a failed fit's NaN would reach the rewards, then the weights (and be blamed on the learning rate): the
            # env's rule instead, the worst score standing in, or a ValueError naming the fix without an oracle
            scores = np.array([finite_evaluation(objective, c, batch[i]).score for i, c in enumerate(configs)], dtype=float)
            enc = [space.encode(c) for c in configs]
            rewards = improvement_rewards(scores, max(ys) if ys else -np.inf)
            adv = step_advantages(rewards[None, :], cfg)
            ro = Rollout(st, cand, log_prob(logp, cand, f), rewards[None, :], adv, g_n, np.array([np.nan]), np.array([np.nan]))
            if g_n > 1:
                update(policy, optimizer, ro, buffer, cfg, rng, frozen, device=device)
                check_not_diverged(policy, len(ys) + g_n, cfg.lr, unit="evaluation")
            xs.extend(enc)
            ys.extend(scores.tolist())
            if bar is not None:
                bar.update(g_n)
    finally:
        if bar is not None:
            bar.close()
    ys_arr = np.array(ys)
    return np.maximum.accumulate(ys_arr), ys_arr


def _online_state(space, xs, ys, step_fraction, context):
    from hpo_gym.episode import space_descriptor

    x = np.zeros((1, context, MAX_DIMS), dtype=np.float32)
    y = np.zeros((1, context), dtype=np.float32)
    mask = np.zeros((1, context), dtype=np.int8)
    if ys:
        keep = np.argsort(ys, kind="stable")[::-1][:context]  # ties: the latest trial first, on every CPU
        keep = np.sort(keep)
        x[0, :len(keep), :len(space)] = np.array(xs)[keep]
        y[0, :len(keep)] = np.array(ys)[keep]
        mask[0, :len(keep)] = 1
    desc = space_descriptor(space, MAX_DIMS)
    return {"x": x, "y": y, "mask": mask, "step_fraction": np.array([[step_fraction]], dtype=np.float32),
            **{k: v[None] for k, v in desc.items()}}
