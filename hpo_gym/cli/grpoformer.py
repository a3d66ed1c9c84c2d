"""``hpo-gym train-grpoformer``: train the GRPOformer policy (transfer on a suite, or ``--online`` on one task).

Imports torch and :mod:`agents.grpoformer` only when the subcommand runs, so the CLI stays light.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hpo_gym.atomic import atomic_write_text
from hpo_gym.cli import directory, non_negative_int, positive_int
from hpo_gym.episode import repeated
from hpo_gym.lock import directory_lock


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-grpoformer",
        help="train the GRPOformer policy with GRPO + PCR",
        description="Train GRPOformer from scratch on a suite's tables minus --holdout tasks (+ synthetic objectives), "
                    "logging reward, churn and held-out regret to RUN_DIR/log.csv; --resume continues after a kill. "
                    "--online learns on the held-out task itself, every evaluation counted against --budget.",
    )
    p.add_argument("--suite", default="hpobench-nn", help="task suite (default: hpobench-nn)")
    p.add_argument("--holdout", default="",
                   help="comma-separated tasks never trained on (evaluated for monitoring; default none: train on all)")
    p.add_argument("--out", required=True, type=directory, help="run directory (log.csv, state.pt, policy.pt)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu), e.g. cuda or cuda:1")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/state.pt")
    p.add_argument("--online", action="store_true", help="paper mode: learn on each --holdout task from scratch")
    p.add_argument("--budget", type=positive_int, default=None,  # an episode's length, checked in run; --online's total
                   help="evaluations per episode (default 50) or, --online, in total (default 500)")
    p.add_argument("--updates", type=positive_int, default=None, help="GRPO updates (default 150)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="training seed: tasks, rollouts, initial weights (default 0)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1: faster than 2 on busy shared cores)")
    p.add_argument("--pcr-lambda", type=float, default=None, help="PCR weight lambda (default 1; 0 disables PCR)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 3e-3)")
    p.add_argument("--ent-coef", type=float, default=None, help="entropy bonus weight (default 0.003)")
    p.add_argument("--group-size", type=int, default=None, help="G: candidates sampled and scored per state (default 8)")
    p.add_argument("--algo", choices=["grpo", "reinforce", "ppo-critic"], default=None,
                   help="grpo (default), or the no-GRPO ablations: REINFORCE with a mean baseline, PPO with a learned critic")
    p.add_argument("--group-mode", choices=["step", "trajectory", "both"], default=None,
                   help="GRPO groups: G candidates per history prefix (step, default), G whole episodes per task "
                        "(trajectory), or step groups plus each episode's advantage among --trajectory-group "
                        "episodes on its task (both); the same evaluations per update")
    p.add_argument("--trajectory-group", type=int, default=None,
                   help="--group-mode both: episodes per task compared by their returns (default 4; divides 8)")
    p.add_argument("--no-std", action="store_true", help="advantage r - mean (no division by the group std)")
    p.add_argument("--advantage-norm", choices=["group", "batch"], default=None,
                   help="group: divide by each group's std (GRPO, default); batch: normalized-regret gains over one "
                        "std of the whole rollout")
    p.add_argument("--reward", choices=["improvement", "score"], default=None,
                   help="per-step group reward: gain of the best-so-far (default) or the candidate's score")
    p.add_argument("--lookahead", type=int, default=None,
                   help="credit each candidate with the best-so-far after it and N more policy steps (default 0: one step)")
    p.add_argument("--continue-rule", choices=["first-new", "density-ratio"], default=None,
                   help="step groups: the scored candidate each training episode continues with: the first new one "
                        "(default), or, from 10 trials on, the one the default agent's density ratio ranks highest")
    p.add_argument("--warm-start", type=int, default=None,
                   help="open every training episode with K trials of a portfolio built from the other training "
                        "tables, then let the policy act (default 0)")
    p.add_argument("--synthetic", type=int, default=None, help="number of synthetic training objectives (default 32; 0 = none)")
    p.add_argument("--mixed", type=int, default=None,
                   help="interpolated training tasks made from pairs of training tables (default 0 = none)")
    p.add_argument("--grid-synthetic", type=int, default=None,
                   help="random smooth objectives on the training tables' own grid, optima anywhere (default 0 = none)")
    p.add_argument("--seed-tables", action="store_true",
                   help="also train on each training table's per-seed score tables (half of the episodes)")
    p.add_argument("--task-priority", type=float, default=None,
                   help="share of the real tables' episodes drawn by recent difficulty (prioritized level replay, "
                        "rank-based; default 0 = uniform)")
    p.add_argument("--eval-every", type=positive_int, default=None, help="held-out regret every N updates (default 10)")
    p.add_argument("--ckpt-every", type=positive_int, default=None,
                   help="save the resumable state (RUN_DIR/state.pt, ~16 MB) every N updates (default 10): after a kill, "
                        "--resume redoes at most N-1 updates, bit for bit with the same --threads and --device")
    p.add_argument("--head", choices=["factorized", "autoregressive"], default=None,
                   help="output head (default factorized): independent bins per dimension, or each dimension "
                        "conditioned on the earlier ones")
    p.add_argument("--width", type=int, default=None,
                   help="Transformer width d_model (default 48); the feed-forward layer is 2x, the head's hidden layer 1x")
    p.add_argument("--layers", type=int, default=None, help="Transformer encoder layers (default 2)")
    p.set_defaults(func=run_with_flag_names)


#: The training configs' field names this command's flags set, where the flag is not the field's own name in dashes.
FLAG_OF_FIELD = {"horizon": "--budget", "std_normalize": "--no-std"}


def run_with_flag_names(args: argparse.Namespace) -> int:
    """:func:`run`, with a config's refusal ("group_size=0: ...", from ``LearnerConfig``/``TrainConfig``, which also
    serve Python callers) worded with the flag the user typed ("--group-size 0: ...")."""
    from agents.grpoformer.train import OtherSettings

    try:
        return run(args)
    except OtherSettings as e:  # "learner.horizon: 2 -> 50" is "--budget: 2 -> 50" to whom typed the flags
        raise e.named(lambda setting: _flag_of_setting(setting, args), first=("policy.d_model",)) from None
    except ValueError as e:
        field, eq, rest = str(e).partition("=")
        flag = _flag_of_setting(field, args) if eq and field.isidentifier() else field
        if flag != field:  # a setting this command's flags set
            value, colon, reason = rest.partition(":")
            if value in ("True", "False"):  # a switch: "--no-std: ...", not "--no-std False: ..."
                raise ValueError(f"{flag}{colon}{reason}") from None
            raise ValueError(f"{flag} {rest}") from None
        raise


#: The widest policy ``--width`` takes: 1024 is 20x the default 48 (a 1e6 width failed inside torch's allocator).
MAX_WIDTH = 1024
#: Policy settings and the flag that sets them (``--width`` sets three of them).
FLAG_OF_POLICY_SETTING = {"d_model": "--width", "d_ff": "--width", "head_hidden": "--width", "n_layers": "--layers",
                          "autoregressive": "--head"}


def _flag_of_setting(setting: str, args: argparse.Namespace) -> str:
    """The flag that sets a dotted training setting (``learner.horizon`` -> ``--budget``), or the setting itself
    when no flag of this command sets it."""
    group, _, field = setting.rpartition(".")
    if group == "policy" and field in FLAG_OF_POLICY_SETTING:
        return FLAG_OF_POLICY_SETTING[field]
    if field in FLAG_OF_FIELD:
        return FLAG_OF_FIELD[field]
    return "--" + field.replace("_", "-") if hasattr(args, field) else setting


def run(args: argparse.Namespace) -> int:
    import dataclasses

    if not args.online:  # what the Ctrl-C message tells (hpo_gym.cli.main): a rerun without --resume is refused
        args.interrupt_hint = lambda a: (f"add --resume to the same command to continue from the last state saved in "
                                         f"{a.out}" if (a.out / "state.pt").exists() else
                                         f"nothing was saved yet in {a.out}: rerun the same command")
    else:
        args.interrupt_hint = lambda a: (f"rerun the same command: the tasks finished in {a.out / 'online.json'} are "
                                         "kept and skipped")

    from hpo_gym.episode import check_budget
    from hpo_gym.suites import get_suite

    if args.budget is not None and not args.online:  # an episode's length (MAX_BUDGET); --online's is a run's total
        check_budget(args.budget)
    suite = get_suite(args.suite)
    holdout = [suite.task_name(t.strip()) for t in args.holdout.split(",") if t.strip()]
    if twice := repeated(holdout):  # it would count twice in the held-out regret
        raise ValueError(f"--holdout names {twice} more than once; list each held-out task once")
    if args.eval_every is not None and not holdout:  # accepted and without effect before (found in review)
        raise ValueError("--eval-every sets how often the held-out regret is logged, and --holdout names no task: add "
                         "--holdout TASK[,TASK], or drop --eval-every")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a run directory (created if missing)")
    from agents.grpoformer.policy import check_device

    check_device(args.device)  # before the banner and the tables: a missing GPU is the first thing to hear
    from agents.grpoformer.learner import LearnerConfig

    overrides = {"pcr_lambda": args.pcr_lambda, "algo": args.algo, "group_mode": args.group_mode,
                 "trajectory_group": args.trajectory_group,
                 "horizon": args.budget, "reward": args.reward, "lr": args.lr, "ent_coef": args.ent_coef,
                 "group_size": args.group_size, "lookahead": args.lookahead,
                 "advantage_norm": args.advantage_norm, "warm_start": args.warm_start,
                 "continue_rule": args.continue_rule}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.no_std:
        overrides["std_normalize"] = False
    transfer_only = {"updates": args.updates, "synthetic": args.synthetic, "mixed": args.mixed,
                     "grid_synthetic": args.grid_synthetic, "seed_tables": args.seed_tables or None,
                     "task_priority": args.task_priority, "eval_every": args.eval_every, "ckpt_every": args.ckpt_every}
    if args.online:  # --budget is the run's total there, not an episode's horizon
        given = sorted("--" + k.replace("_", "-") for k, v in {**transfer_only, "resume": args.resume or None}.items()
                       if v is not None)
        if given:
            raise ValueError(f"{', '.join(given)}: options of transfer training across a suite's tables; --online learns "
                             "on the target task alone, in one run of --budget evaluations; drop them")
        online = {k: v for k, v in overrides.items() if k != "horizon"}
        from agents.grpoformer.train import online_learner_config

        return _run_online(args, suite, holdout, out, dataclasses.replace(online_learner_config(), **online),
                           _policy_config(args))
    from agents.grpoformer.train import TrainConfig, train

    lc = dataclasses.replace(LearnerConfig(), **overrides)
    cfg = TrainConfig(seed=args.seed, threads=args.threads, device=args.device, learner=lc)
    cfg.policy = _policy_config(args) or cfg.policy
    for k, v in transfer_only.items():
        if v is not None:
            setattr(cfg, k, v)
    cfg.validate()  # before the banner and the tables: `--synthetic -1` printed the banner, then its refusal
    train_tasks = [suite.load(t) for t in suite.tasks if t not in holdout]
    held = [suite.load(t) for t in holdout]
    if not train_tasks:
        raise ValueError("every task of the suite is held out; leave at least one to train on")

    def banner() -> None:  # printed once train() has checked --out: a refused command prints only its refusal
        print(f"training on {[o.name for o in train_tasks]} (+{cfg.synthetic} synthetic, +{cfg.mixed} mixed, "
              f"+{cfg.grid_synthetic} grid-synthetic{', + per-seed tables' if cfg.seed_tables else ''}), "
              f"held out: {holdout or 'none'}", flush=True)
        # a mistyped --out would otherwise train anew silently; a state.pt alone (its log removed) is continued
        if args.resume and not (out / "log.csv").exists() and not (out / "state.pt").exists():
            print(f"--resume: {out} holds no training run to continue; starting a new one there", file=sys.stderr)

    train(train_tasks, out, cfg, holdout=held, resume=args.resume, announce=banner)
    print(f"policy: {out / 'policy.pt'}  log: {out / 'log.csv'}")
    return 0


def _policy_config(args: argparse.Namespace):
    """The PolicyConfig that ``--head``, ``--width`` and ``--layers`` ask for, or None when none is given."""
    import dataclasses

    from agents.grpoformer.policy import PolicyConfig

    if args.head is None and args.width is None and args.layers is None:
        return None
    pc = PolicyConfig()
    if args.head is not None:
        pc = dataclasses.replace(pc, autoregressive=args.head == "autoregressive")
    if args.width is not None:
        if args.width < 8 or args.width % pc.n_heads or args.width > MAX_WIDTH:
            raise ValueError(f"--width {args.width}: give a multiple of {pc.n_heads} (the attention heads) from 8 to "
                             f"{MAX_WIDTH} (default {pc.d_model})")
        pc = dataclasses.replace(pc, d_model=args.width, d_ff=2 * args.width, head_hidden=args.width)
    if args.layers is not None:
        if args.layers < 1:
            raise ValueError(f"--layers {args.layers}: give at least 1 encoder layer")
        pc = dataclasses.replace(pc, n_layers=args.layers)
    return pc


def _run_online(args, suite, holdout, out: Path, learner, policy_config=None) -> int:
    """Paper mode on each held-out task, next to random search at the same budget, with the learner flags given
    (``learner``: paper mode's ``online_learner_config()`` plus them) and the policy the ``--head`` /
    ``--width`` / ``--layers`` flags ask for (``policy_config``; None: the default policy); both saved in
    ``online.json``. ``out`` is locked for the run: a second one into it stops at once, naming this one."""
    if not holdout:
        raise ValueError("--online needs the target task(s) in --holdout, e.g. --holdout credit_g")
    with directory_lock(out, "a train-grpoformer --online run"):  # a second run into out stops here, naming this one
        return _online_tasks(args, suite, holdout, out, learner, policy_config)


def _online_tasks(args, suite, holdout, out: Path, learner, policy_config) -> int:
    """:func:`_run_online`'s work, holding ``out``'s lock; its files are written atomically."""
    import dataclasses
    import io

    import numpy as np
    import torch

    from agents.grpoformer.policy import GRPOformerPolicy, PolicyConfig
    from agents.grpoformer.train import check_online_config, train_online

    check_online_config(learner)  # the flags' refusals before an earlier run's results are compared or skipped

    budget = 500 if args.budget is None else args.budget
    summary = out / "online.json"
    results: dict = {}
    if summary.exists():  # an earlier run's tasks are kept (a rerun on another task replaced the file with its own)
        try:
            results = json.loads(summary.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{summary} is not readable JSON ({e}); move it away or give another --out") from None
    for task in holdout:
        settings = {"budget": budget, "seed": args.seed, "learner": dataclasses.asdict(learner),
                    "policy": dataclasses.asdict(policy_config or PolicyConfig())}
        if task in results and "seed" not in results[task]:  # written before the seed was recorded: unknown settings
            print(f"{task}: its entry in {summary} predates recorded seeds; running it again, and replacing it")
        elif task in results:  # a rerun overwrote it silently, and online.json did not say which seed it held
            earlier = {k: results[task].get(k) for k in settings}
            if earlier == settings:
                print(f"{task}: finished in {summary} (regret@{budget} = {_short(results[task].get('regret'))}); skipped")
                continue
            changed = sorted(k for k in settings if earlier[k] != settings[k])
            raise ValueError(f"{summary} holds {task} run with other settings ({', '.join(changed)}: "
                             f"{', '.join(f'{k}={earlier[k]!r}' for k in changed if k in ('budget', 'seed'))}); give "
                             f"another --out to keep both, or remove {task} from {summary} to replace it")
        obj = suite.load(task)
        policy = None
        if policy_config is not None:
            torch.manual_seed(args.seed)  # the same initialization train_online gives its default policy for this seed
            policy = GRPOformerPolicy(policy_config)
        curve, _ = train_online(obj, budget=budget, group_size=learner.group_size, seed=args.seed, cfg=learner,
                                policy=policy, threads=args.threads, device=args.device)
        regret = obj.oracle.normalized_regret(curve) if obj.oracle is not None else None
        rng = np.random.default_rng(args.seed)
        rand = obj.evaluate_batch(rng.random((budget, len(obj.space)))).scores
        rand_regret = obj.oracle.normalized_regret(np.maximum.accumulate(rand)) if obj.oracle is not None else None
        results[task] = {**settings, "best_score": float(curve[-1]),
                         "regret": None if regret is None else float(regret[-1]),
                         "random_regret": None if rand_regret is None else float(rand_regret[-1])}
        print(f"{task}: online GRPOformer regret@{budget} = {_short(None if regret is None else float(regret[-1]))}, "
              f"random search = {_short(None if rand_regret is None else float(rand_regret[-1]))}")
        text = io.StringIO()
        np.savetxt(text, np.c_[np.arange(1, budget + 1), curve], delimiter=",", header="evaluations,best_score",
                   comments="")
        atomic_write_text(out / f"online_{task}.csv", text.getvalue())
        atomic_write_text(summary, json.dumps(results, indent=2))  # after each task: an interrupt keeps the finished
    print(f"results: {out / 'online.json'}, best-so-far curves: {out}/online_<task>.csv")
    return 0


def _short(value: float | None) -> str:
    """A regret for the console: 4 significant digits (online.json keeps the full value); n/a without an oracle."""
    return "n/a (no oracle)" if value is None else f"{value:.4g}"

