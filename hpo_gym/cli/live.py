"""``hpo-gym fetch``: download OpenML tasks into the local cache, for offline live training.

Run it on a machine with internet, then copy the cache directory to the offline machine and point
``HPO_GYM_OPENML_CACHE`` at it::

    HPO_GYM_OPENML_CACHE=./openml-cache hpo-gym fetch 167149 167097      # or: --suite grpoformer-paper
"""

from __future__ import annotations

import argparse

import pandas as pd
from tqdm.auto import tqdm

import hpo_gym.live  # noqa: F401  (registers the grpoformer-paper suite for `hpo-gym tasks --suite`)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fetch", help="download OpenML tasks (data + splits) into the cache for offline live training")
    p.add_argument("task_ids", nargs="*", type=int, help="OpenML task ids, e.g. 167149 167097")
    p.add_argument("--suite", help="fetch every OpenML task of a suite (e.g. grpoformer-paper, hpobench-nn)")
    p.add_argument("--cache-dir", help="root cache directory (default: $HPO_GYM_OPENML_CACHE, else openml's setting)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hpo_gym.live import GRPOFORMER_PAPER, GRPOFORMER_PAPER_TASKS, fetch
    from hpo_gym.live.data import configure_openml_cache
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
        rows.extend(fetch([tid], cache_dir=args.cache_dir))
    print(pd.DataFrame(rows).to_markdown(index=False))
    print(f"\ncached under {root}; copy that directory to an offline machine and set HPO_GYM_OPENML_CACHE to it")
    return 0
