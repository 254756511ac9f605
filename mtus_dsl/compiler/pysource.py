"""Writing Python source: the line writer both code generators use, and safe comments."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class SourceWriter:
    """Collect lines of Python at an indentation level."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.level = 0

    def line(self, text: str = "") -> None:
        """Add one line at the current indentation (an empty line stays empty)."""
        self.lines.append("    " * self.level + text if text else "")

    @contextlib.contextmanager
    def indent(self) -> Iterator[None]:
        """Indent the lines written inside the `with` block one level deeper."""
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1


def comment(text: str) -> str:
    """Make text safe inside a # comment: no newline or control character survives."""
    return repr(str(text))[1:-1]
