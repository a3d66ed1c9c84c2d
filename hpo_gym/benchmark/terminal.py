"""What an agent prints during a serial benchmark, kept apart from the progress bar.

Why: an agent's ``print`` in ``fit`` or ``reset`` landed on the bar's line, glued to its end (found by a new user).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

from tqdm.auto import tqdm


class LinesAboveTheBar:
    """A text stream that writes each complete line with the progress bars cleared first and drawn again after it
    (tqdm's ``external_write_mode``), so that the line stands above the bar instead of glued to its end. tqdm's own
    ``DummyTqdmFile`` clears a bar only when both write to the same stream, and ours draws on stderr."""

    def __init__(self, stream: Any):
        self._stream, self._partial = stream, ""

    def write(self, text: str) -> int:
        lines, newline, self._partial = (self._partial + text).rpartition("\n")
        if newline:
            with tqdm.external_write_mode():
                self._stream.write(lines + newline)
                self._stream.flush()
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # io's own writelines would pass by write()
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flushes what was written; a line without its end waits for it (``print(".", end="", flush=True)`` dots stay
        on one line)."""
        self._stream.flush()

    def finish(self) -> None:
        """What is left of a line without its end goes out on a line of its own, at the end of the runs."""
        if self._partial:
            with tqdm.external_write_mode():
                self._stream.write(self._partial + "\n")
            self._partial = ""
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding: the terminal's
        return getattr(self._stream, name)


@contextmanager
def prints_above_the_bar(progress: bool) -> Iterator[None]:
    """Serial runs with a progress bar: what agents print goes out on lines of their own above the bar. Why: an agent's
    ``print`` in ``fit`` landed on the bar's line, glued to it (found by a new user). Worker processes (``jobs`` > 1)
    write to the terminal themselves, so there it cannot be done."""
    if not progress or sys.stdout is None:  # no stdout (pythonw, `>&-`): nothing to keep apart from the bar
        yield
        return
    above = LinesAboveTheBar(sys.stdout)
    try:
        with redirect_stdout(above):  # type: ignore[type-var]
            yield
    finally:
        try:
            above.finish()
        except (OSError, ValueError):  # a closed pipe (`| head`): the runs matter, and so does an error in flight
            pass
