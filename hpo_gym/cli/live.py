"""``hpo-gym fetch`` (fill the OpenML cache for offline use) and ``hpo-gym live`` (random search, live).

``hpo-gym fetch`` downloads OpenML tasks into the local cache.

Run it on a machine with internet, then copy the cache directory to the offline machine and point
``HPO_GYM_OPENML_CACHE`` at it::

    HPO_GYM_OPENML_CACHE=./openml-cache hpo-gym fetch 167149 167097      # or: --suite grpoformer-paper
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
from tqdm.auto import tqdm

import hpo_gym.live  # noqa: F401  (registers the grpoformer-paper suite for `hpo-gym tasks --suite`)
from hpo_gym.cli import EXIT_FAILED, non_negative_int, positive_int, positive_seconds
from hpo_gym.executors import EXECUTORS
from hpo_gym.live.objective import MAX_SEED

#: Seconds a fit may take when --time-limit is not given (the process, serial and ray executors stop it there).
DEFAULT_TIME_LIMIT = 300.0


def _fit_seed(text: str) -> int:
    """``--seed``: also the fits' ``random_state``, which scikit-learn takes up to 2**32 - 1 (refused when the command
    line is read, not after the task has loaded)."""
    value = non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is past 2**32 - 1, the largest seed a fit takes")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fetch", help="download OpenML tasks (data + splits) into the cache for offline live training",
                              description="Download OpenML tasks (data, features, splits) into openml-python's cache, so "
                                          "that the live backend later trains offline. Example: hpo-gym fetch --suite "
                                          "grpoformer-paper")
    p.add_argument("task_ids", nargs="*", type=int, help="OpenML task ids, e.g. 167149 167097")
    p.add_argument("--suite", help="fetch every OpenML task of a suite (e.g. grpoformer-paper, hpobench-nn)")
    p.add_argument("--cache-dir", help="root cache directory (default: $HPO_GYM_OPENML_CACHE, else openml's setting)")
    p.set_defaults(func=run)

    q = subparsers.add_parser("live", help="random search on an OpenML task with real training (checks a live setup end to end)",
                              description="Train N random configurations of a model family on an OpenML task and print "
                                          "each validation score, fit time and failure: a live setup (download or cache, "
                                          "executor, time limit) checked end to end.",
                              epilog="examples:\n  hpo-gym live 31 --model rf -n 8\n"
                                     "  hpo-gym live 31 --model xgb --fidelity n_estimators=64,subsample=0.5 --executor process",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("task", type=int, help="OpenML task id")
    q.add_argument("--model", default="rf", help="lr, svm, rf, xgb, histgb or mlp (default rf)")
    q.add_argument("-n", "--n-configs", type=positive_int, default=8, help="random configurations to train (default 8)")
    q.add_argument("--metric", default="accuracy", help="scikit-learn scorer name (default accuracy)")
    q.add_argument("--worst-score", type=float, default=None,
                   help="score of a failed fit; needed only for a metric without a known worst (e.g. d2_log_loss_score); "
                        "give a negative one as --worst-score=-10")
    q.add_argument("--fidelity", default="", help="e.g. n_estimators=64,subsample=0.5 (default: full fidelity)")
    q.add_argument("--executor", default="serial", choices=EXECUTORS, help="serial, process, ray or inline (default serial)")
    q.add_argument("--workers", type=positive_int, default=None,
                   help="process workers / Ray CPUs (default: the executor's own, the machine's cores)")
    q.add_argument("--ray-address", default=None, help="join a Ray cluster (e.g. auto, ray://head:10001)")
    q.add_argument("--time-limit", type=positive_seconds, default=None,
                   help=f"seconds per fit (default {DEFAULT_TIME_LIMIT:g}; not with --executor inline, which cannot stop a fit)")
    q.add_argument("--seed", type=_fit_seed, default=0, help="seed of the random search and of the fits (default 0)")
    q.add_argument("--cache-dir", help="OpenML cache root (default: $HPO_GYM_OPENML_CACHE, else openml's setting)")
    q.set_defaults(func=run_live)


def run(args: argparse.Namespace) -> int:
    from hpo_gym.live import GRPOFORMER_PAPER, GRPOFORMER_PAPER_TASKS, fetch
    from hpo_gym.live.data import OpenMLUnavailableError, configure_openml_cache
    from hpo_gym.suites import get_suite

    ids = list(args.task_ids)
    if args.suite:
        suite_ids = GRPOFORMER_PAPER_TASKS if args.suite == GRPOFORMER_PAPER else \
            [t for t in get_suite(args.suite).tasks.values() if t is not None]
        ids += [t for t in suite_ids if t not in ids]
    if not ids:
        raise ValueError("name OpenML task ids (hpo-gym fetch 167149 167097) or a suite (--suite grpoformer-paper)")
    root = configure_openml_cache(args.cache_dir)
    rows = []
    for tid in tqdm(ids, desc="fetching OpenML tasks", unit="task", disable=len(ids) < 2):
        try:
            rows.extend(fetch([tid], cache_dir=args.cache_dir))
        except OpenMLUnavailableError as e:  # its advice is to run this very command elsewhere: say that plainly
            done = f"; the {len(rows)} task(s) before it are cached under {root}" if rows else ""
            raise OpenMLUnavailableError(
                f"OpenML task {e.task_id} could not be downloaded from {e.server} ({e.reason}): this machine cannot "
                f"reach the OpenML server{done}. Check its network (a proxy is set with HTTPS_PROXY), or run this "
                f"command on a machine that reaches {e.server}, copy the directory it writes to (--cache-dir, or "
                "HPO_GYM_OPENML_CACHE) here, and set HPO_GYM_OPENML_CACHE to it", task_id=e.task_id, server=e.server,
                reason=e.reason) from None
    print(pd.DataFrame(rows).to_markdown(index=False))
    print(f"\ncached under {root}; copy that directory to an offline machine and set HPO_GYM_OPENML_CACHE to it")
    return 0


def _parse_fidelity(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"--fidelity takes name=value pairs separated by commas, got {part!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"--fidelity {key.strip()}={value!r}: the value must be a number, e.g. n_estimators=64") from None
        if key.strip() in out:  # the last value won without a word, where every other option refuses a name twice
            raise ValueError(f"--fidelity names {key.strip()} twice ({out[key.strip()]:g}, then {value.strip()}): "
                             "give each fidelity once")
        out[key.strip()] = int(number) if number.is_integer() and key.strip() != "subsample" else number
    return out


def run_live(args: argparse.Namespace) -> int:
    import numpy as np

    from hpo_gym.live import LiveObjective

    options: dict = {}
    if args.workers and args.executor not in ("process", "ray"):
        raise ValueError(f"--workers {args.workers} has no effect with --executor {args.executor} (one fit at a time); "
                         "use --executor process or ray")
    if args.time_limit is not None and args.executor == "inline":  # it was accepted, and the fits ran past it
        raise ValueError(f"--time-limit {args.time_limit:g} has no effect with --executor inline (a fit in this process "
                         "cannot be stopped); use --executor serial, process or ray to enforce it")
    time_limit = DEFAULT_TIME_LIMIT if args.time_limit is None else args.time_limit
    if args.ray_address and args.executor != "ray":  # it was ignored: the fits ran here
        raise ValueError(f"--ray-address applies to --executor ray only (got --executor {args.executor})")
    if args.executor == "process" and args.workers:
        options["n_workers"] = args.workers
    if args.executor == "ray":
        options.update({k: v for k, v in {"address": args.ray_address, "num_cpus": args.workers}.items() if v is not None})
    objective = LiveObjective(args.task, args.model, args.metric, fidelity=_parse_fidelity(args.fidelity),
                              time_limit=time_limit, executor=args.executor, executor_options=options,
                              openml_cache_dir=args.cache_dir, worst_score=args.worst_score)
    meta = objective.metadata
    print(f"{objective.name}: {meta['dataset']} ({meta['n_rows']} rows, {meta['n_features']} features, "
          f"{meta['n_classes']} classes), {args.n_configs} random configs, executor {args.executor}")
    configs = objective.space.sample(np.random.default_rng(args.seed), args.n_configs)
    batch = objective.evaluate_batch(configs, seeds=[args.seed] * len(configs))  # --seed seeds the fits too
    rows = [{**c, args.metric: e.score, "seconds": round(e.cost, 2), "cached": e.info.get("cached"),
             "error": e.info.get("error", "")} for c, e in zip(configs, batch)]
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4g"))
    errors = [e.info.get("error", "") for e in batch]
    if all(errors):  # nothing fitted: a missing extra, a time limit below any fit; the setup is not working (checked
        # before the test score, which refitted a failed configuration: one more time limit spent, found in review)
        print(f"hpo-gym live: error: every fit failed (first: {errors[0]})", file=sys.stderr)
        return EXIT_FAILED
    best = max((i for i, error in enumerate(errors) if not error), key=lambda i: batch.scores[i])  # first on a tie
    test = objective.test_score(configs[best], seed=args.seed)
    print(f"best validation {args.metric}: {batch.scores[best]:.4f}; its outer-test {args.metric}: "
          f"{test.score:.4f}{' (' + test.info['error'] + ')' if test.failed else ''}")
    return 0
