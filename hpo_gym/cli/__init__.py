"""The ``hpo-gym`` command line: ``hpo-gym tasks``, ``hpo-gym demo``, and the subcommands of later layers.

The CLI is the application layer on top of the library: each subcommand lives in its own module with
``register(subparsers)``, listed in :data:`COMMAND_MODULES`, imported only when the CLI starts, so that
``import hpo_gym`` never pulls in torch or the agents.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import math
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from hpo_gym.signals import end_by_default, handling

#: One module per subcommand group; each defines ``register(subparsers) -> None``.
COMMAND_MODULES: list[str] = [
    "hpo_gym.cli.tasks",
    "hpo_gym.cli.bench",
    "hpo_gym.cli.demo",
    "hpo_gym.cli.grpoformer",
    "hpo_gym.cli.live",
]
#: Exit status of a command whose work failed rather than its input (``bench``: runs in which an agent raised, or a
#: worker process that died); 2 is bad input, as argparse uses it.
EXIT_FAILED = 1
#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports a command it interrupted).
EXIT_INTERRUPTED = 130
#: Exit status when the reader of stdout went away (128 + SIGPIPE, as a shell reports it).
EXIT_BROKEN_PIPE = 141
#: The fix for the file-system errors a command line can cause, by errno.
PATH_FIXES = {errno.EACCES: "give a path you can write", errno.EPERM: "give a path you can write",
              errno.EROFS: "give a path on a writable file system",
              errno.ENOTDIR: "a part of the path is a file: give a path whose parents are directories",
              errno.EEXIST: "a file is where a directory is needed: give another path",
              errno.ENOSPC: "free disk space, or give a directory on another disk",
              getattr(errno, "EDQUOT", errno.ENOSPC): "free disk space within your quota, or give a directory on another "
                                                      "disk"}  # EDQUOT: not on every platform
#: Errors of the machine, not of the command line: they exit 1, with the command's resume hint.
MACHINE_ERRNOS = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
#: What a ``BrokenProcessPool`` means to a user: nothing in the command line was wrong.
WORKER_DIED = ("a worker process died (killed by a signal or by the out-of-memory killer, e.g. with too many --jobs "
               "for the memory)")


def import_from_working_directory() -> None:
    """Let ``MODULE:FACTORY`` agent specs import a module from the working directory, as ``python -m`` would (worker
    processes inherit ``sys.path``): ``bench`` and ``demo`` take the same specs."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """For the length of a command, ``kill PID`` (SIGTERM, also sent by ``timeout``, SLURM's ``scancel`` and ``docker
    stop``) is handled as Ctrl-C is: the runs in flight finish and are stored, the command says how to resume, and a
    second one abandons them. Why: SIGTERM ended a benchmark at once, silently, losing its runs in flight (found by a
    new user). A process forked while this holds inherits the handler; there SIGTERM does what it did (the process
    ends), since pools end their workers with it."""
    owner = os.getpid()

    def as_ctrl_c(signum: int, frame: Any) -> None:
        if os.getpid() != owner:  # a forked worker: end as SIGTERM asks
            end_by_default(signal.SIGTERM)
            return
        handler = signal.getsignal(signal.SIGINT)  # the harness's "finish the run in flight" while it runs
        if not callable(handler):
            raise KeyboardInterrupt
        handler(signal.SIGINT, frame)

    with handling(signal.SIGTERM, as_ctrl_c):
        yield


def _int_at_least(minimum: int, why: str) -> Callable[[str], int]:
    """An argparse type for whole numbers >= ``minimum``: refused when the command line is read, before any banner,
    data loading or training, instead of failing later with an unrelated message."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is not >= {minimum}")
        return value

    parse.__doc__ = why
    return parse


#: Counts that must be at least 1: budgets, seeds, jobs, workers, updates.
positive_int = _int_at_least(1, "a count: budgets, seeds, jobs, workers, updates")
#: Seeds: NumPy would refuse a negative one later, without naming the option.
non_negative_int = _int_at_least(0, "a seed")


def episode_budget(text: str) -> int:
    """An argparse type for an evaluation budget: a whole number in [1, MAX_BUDGET], refused when the command line is
    read (``demo --budget 200000`` printed its banner before the refusal; found in review)."""
    from hpo_gym.episode import check_budget

    try:
        return check_budget(positive_int(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def directory(text: str) -> Path:
    """An argparse type for a directory to write or read: an empty or blank one (``--out "$OUT"`` with ``OUT`` unset)
    was ``Path("")``, the working directory, where a benchmark then wrote its manifest and put its shards in the
    ``runs/`` folder that holds other benchmarks (found in review)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names no directory; give one, e.g. runs/mybench (or "
                                         "runs/mybench/plots for figures)")
    # `--out=~/x` reaches us unexpanded (the shell expands no ~ after '='): a literal ./~ took the manifest while
    # pandas expanded it for the shards, so no such bench could finish (found in review)
    return Path(text).expanduser()


def file_path(text: str) -> Path:
    """An argparse type for a file to write (a figure, a report) or read (a checkpoint): refused when empty or blank,
    as :func:`directory` is (``--plot "$PNG"`` with ``PNG`` unset silently fell back to a default path, or drew
    nothing), and with ``~`` expanded (``--floor-plot=~/x.png`` wrote into a literal ``./~`` folder; found in review)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names no file; give the file's path, e.g. results/regret.png")
    return Path(text).expanduser()


class GivenOnce(argparse.Action):
    """``store`` that refuses the option given twice. Why: argparse keeps the last value without a word, and an option
    that applies to every repeated ``--compare`` was read per pair (``--compare a:tpe --threshold 0.5 --compare
    a:portfolio --threshold 1`` reported the first pair's share at 1; found in review)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        seen = f"_given_{self.dest}"
        if getattr(namespace, seen, False):
            parser.error(f"{option_string} given twice ({getattr(namespace, self.dest)}, then {values}): one value "
                         "applies to the whole command; give it once (run the command again for another value)")
        setattr(namespace, seen, True)
        setattr(namespace, self.dest, values)


def positive_seconds(text: str) -> float:
    """An argparse type for a time limit: a finite number of seconds > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not > 0 seconds")
    return value


def finite_float(text: str) -> float:
    """An argparse type for a finite number: ``float`` alone takes ``nan`` and ``inf``, with which a threshold
    compares as never (or always) reached without a word."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def name_list(text: str) -> list[str]:
    """A comma-separated list of names (agents, tasks, baselines, devices), at least one, each once: ``--agents ""``
    used to reach the harness and come back with its Python wording (``agents=[...]``), and a name given twice was
    run twice, or dropped without a word, depending on the command. One refusal here, for every option of this type,
    instead of one per command; argparse prefixes the option (``argument --agents: ...``)."""
    from hpo_gym.episode import repeated  # here, not at the top: the CLI's entry module imports no numpy or gymnasium

    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names nothing; give one or more comma-separated names")
    if twice := repeated(names):
        raise argparse.ArgumentTypeError(f"{text!r} names {', '.join(twice)} more than once; list each once")
    return names


def named_values(texts: Sequence[str], what: str, example: str, value: str = "VALUE") -> dict[str, str]:
    """``NAME=VALUE`` arguments (the benchmark scripts' named checkpoint sets and patterns) as ``{name: value}`` in
    order. A ``ValueError`` names a missing ``=``, an empty name or value, and a name given twice: a repeated name
    silently replaced the first set. ``what`` names an argument (``"set"``), ``value`` its value (``"PATTERN"``),
    ``example`` shows one."""
    from hpo_gym.episode import repeated  # here, not at the top: the CLI's entry module imports no numpy or gymnasium

    out: dict[str, str] = {}
    for text in texts:
        name, sep, given = text.partition("=")
        if not (sep and name and given):
            raise ValueError(f"{text!r}: give each {what} as NAME={value}, e.g. {example}")
        out[name] = given
    if twice := repeated([t.partition("=")[0] for t in texts]):
        raise ValueError(f"{what} name(s) {twice} given more than once; name each {what} once")
    return out


#: The benchmark protocol of the project's reported numbers: seeds per task and evaluations per run.
PROTOCOL_SEEDS, PROTOCOL_BUDGET = 10, 50


def add_protocol_options(parser: argparse.ArgumentParser, seeds_help: str = "seeds per task") -> None:
    """``--seeds`` and ``--budget``, defaulting to the protocol's 10 and 50: the benchmark scripts that score on it
    declare them here, once, so that every script's defaults (and the protocol, if it changes) stay one setting."""
    parser.add_argument("--seeds", type=positive_int, default=PROTOCOL_SEEDS,
                        help=f"{seeds_help} (default {PROTOCOL_SEEDS})")
    parser.add_argument("--budget", type=episode_budget, default=PROTOCOL_BUDGET,
                        help=f"evaluations per run (default {PROTOCOL_BUDGET})")


def build_parser() -> argparse.ArgumentParser:
    from hpo_gym import __version__

    parser = argparse.ArgumentParser(prog="hpo-gym", description="Hyperparameter optimization as Gymnasium environments.")
    parser.add_argument("--version", action="version", version=f"hpo-gym {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hpo-gym`` console script."""
    try:
        parser = build_parser()  # imports every command's module (scikit-learn among them): ~1 s
        if not (sys.argv[1:] if argv is None else argv):  # a bare `hpo-gym`: the commands, not "COMMAND is required"
            parser.print_help()
            return 2
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print("hpo-gym: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    with warnings.catch_warnings(), sigterm_as_ctrl_c():  # Python's own warning display is restored on return
        warnings.showwarning = _one_line_warning
        try:
            return int(args.func(args) or 0)
        except (ValueError, FileNotFoundError, RuntimeError, ImportError) as e:  # user errors (a missing extra's
            return report_error(f"hpo-gym {args.command}", e)                 # ImportError names its pip install)
        except BrokenPipeError:  # `hpo-gym report DIR | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit would fail again
            return EXIT_BROKEN_PIPE
        except OSError as e:  # a path that cannot be written (permissions, a file where a directory is needed, a full disk)
            hint = getattr(args, "interrupt_hint", None)
            return report_os_error(f"hpo-gym {args.command}", e, hint(args) if hint is not None else "")
        except KeyboardInterrupt:  # one line, and how this command resumes: its ``interrupt_hint(args)``, if it has one
            hint = getattr(args, "interrupt_hint", None)
            resume = hint(args) if hint is not None else ""
            print(f"hpo-gym {args.command}: interrupted{'; ' + resume if resume else ''}", file=sys.stderr)
            return EXIT_INTERRUPTED


def refuse_ignored(parser: argparse.ArgumentParser, args: argparse.Namespace, mode: str, names: Sequence[str]) -> None:
    """``parser.error`` naming the options among ``names`` given away from their defaults, which ``mode`` (a mode of a
    benchmark script, e.g. ``--suggest-time-only``) would otherwise ignore without a word."""
    given = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) != parser.get_default(n)]
    if given:
        parser.error(f"{', '.join(given)} {'has' if len(given) == 1 else 'have'} no effect with {mode}: leave "
                     f"{'it' if len(given) == 1 else 'them'} out")


def run_script(main: Callable[[], int], resume_hint: str) -> int:
    """Run a benchmark script's ``main()`` as an ``hpo-gym`` command runs: Ctrl-C ends it with one line saying how to
    resume (``resume_hint``) and exit status 130, not a traceback out of the harness's interrupt handling (which has
    already stored the run in flight); a refused input (an unknown agent, a missing checkpoint, an ``--out`` holding
    another benchmark) is one line naming the problem and the fix, with exit status 2, as on the command line."""
    name = os.path.basename(sys.argv[0])
    try:
        with sigterm_as_ctrl_c():
            return main()
    except KeyboardInterrupt:
        print(f"{name}: interrupted; {resume_hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as e:
        return report_error(name, e)
    except OSError as e:  # an --out that is a file, a read-only or full disk: one line, as the commands give
        return report_os_error(name, e, resume_hint)


def report_os_error(program: str, error: OSError, resume_hint: str = "") -> int:
    """One line for a path that cannot be used (permissions, a file where a directory is needed, a full disk) with its
    fix, and the exit status: 1 for a full disk (the machine, not the command: ``resume_hint`` says how to go on), 2
    otherwise (the path given is the problem)."""
    fix = PATH_FIXES.get(error.errno or 0)
    machine = error.errno in MACHINE_ERRNOS
    resume = f"; then {resume_hint}" if machine and resume_hint else ""
    print(f"{program}: error: {error}{'; ' + fix if fix else ''}{resume}", file=sys.stderr)
    return EXIT_FAILED if machine else 2


def report_error(program: str, error: BaseException) -> int:
    """One line on stderr for the error that ends a command or a benchmark script, and its exit status: 1 when the
    work failed and a rerun resumes it (a worker process died; a task could not load, e.g. OpenML unreachable; a
    script's runs failed), 2 when the input was refused (the command line, a missing checkpoint, an ``--out`` of other
    settings)."""
    from hpo_gym.benchmark.metrics import RunsFailed
    from hpo_gym.benchmark.runner import TaskNotLoaded

    if isinstance(error, BrokenProcessPool):  # a RuntimeError, but no user error: exit 2 would blame the command line
        print(f"{program}: error: {WORKER_DIED}; rerun the same command (a benchmark with --out resumes, keeping its "
              "finished runs)", file=sys.stderr)
        return EXIT_FAILED
    print(f"{program}: error: {error}", file=sys.stderr)
    live_data = sys.modules.get("hpo_gym.live.data")  # only loaded where a live task was asked for (it imports openml)
    unreachable = live_data is not None and isinstance(error, live_data.OpenMLUnavailableError)  # offline: not the input
    return EXIT_FAILED if unreachable or isinstance(error, (TaskNotLoaded, RunsFailed)) else 2


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """A warning on the command line as one line: the source line that raised it means nothing to a user."""
    print(f"hpo-gym: {category.__name__}: {message}", file=file if file is not None else sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
