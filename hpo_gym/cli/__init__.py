"""The ``hpo-gym`` command line: ``hpo-gym tasks``, ``hpo-gym demo``, and the subcommands of later layers.

The CLI is the application layer on top of the library: each subcommand lives in its own module with
``register(subparsers)``, listed in :data:`COMMAND_MODULES`, imported only when the CLI starts, so that
``import hpo_gym`` never pulls in torch or the agents.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: One module per subcommand group; each defines ``register(subparsers) -> None``.
COMMAND_MODULES: list[str] = [
    "hpo_gym.cli.tasks",
    "hpo_gym.cli.bench",
    "hpo_gym.cli.demo",
    "hpo_gym.cli.grpoformer",
    "hpo_gym.cli.live",
]


def positive_int(text: str) -> int:
    """argparse type for counts that must be at least 1 (budgets, seeds, jobs, workers): refused at parse time, before
    any banner or data loading, instead of failing later with an unrelated message."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpo-gym", description="Hyperparameter optimization as Gymnasium environments.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hpo-gym`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as e:  # user errors: one clear line, no traceback
        print(f"hpo-gym {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
