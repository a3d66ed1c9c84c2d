"""The README's Python examples, as the tests run them.

A README example that no test runs drifts from the code without anyone noticing. The tests pick an
example by a line only it contains and may replace a few literal strings (a task only openml.org
serves by one the loopback server serves, ten seeds by two); every replacement must match the README,
so an edit to the example fails the test instead of silently running something else.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_example(marker: str, replacements: dict[str, str] | None = None) -> str:
    """The one ```python block of README.md containing ``marker``, with ``replacements`` applied."""
    blocks = [b for b in _PYTHON_BLOCK.findall(README.read_text()) if marker in b]
    assert len(blocks) == 1, f"{len(blocks)} README python blocks contain {marker!r}; expected exactly one"
    code = blocks[0]
    for old, new in (replacements or {}).items():
        assert code.count(old) == 1, f"the README example no longer contains {old!r} exactly once"
        code = code.replace(old, new)
    return code


def run_example(code: str, namespace: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """Execute an example; return its namespace (what it defined) and what it printed."""
    namespace = dict(namespace or {})
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)
    return namespace, printed.getvalue()
