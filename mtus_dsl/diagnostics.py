"""Diagnostics: the one error type every compiler stage reports, and its renderer."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

#: How many diagnostics one run reports before saying "... and N more".
MAX_REPORTED = 50


@attrs.frozen
class Span:
    """A region of a source file: 1-based line and column, 0-based offsets."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def shifted(self, text_before: str, base: Span) -> Span:
        """Return this span moved into `base`, as if it started after `text_before`."""
        # Placeholders inside a string are parsed on their own; their spans are
        # relative to the placeholder text and must be moved into the file.
        lines_before = text_before.count("\n")
        if self.line == 1:
            column = base.column + len(text_before.rsplit("\n", 1)[-1]) + self.column - 1
        else:
            column = self.column
        end_column = column + (self.end_column - self.column) if self.end_line == self.line else self.end_column
        return Span(
            base.path,
            base.line + lines_before + self.line - 1,
            column,
            base.line + lines_before + self.end_line - 1,
            end_column,
            base.start + len(text_before) + self.start,
            base.start + len(text_before) + self.end,
        )


class Severity(enum.Enum):
    """How serious a diagnostic is: errors stop compilation, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@attrs.frozen
class Diagnostic:
    """One problem in a guideline file: a code, a message, where, and notes."""

    code: str
    message: str
    span: Span | None
    severity: Severity = Severity.ERROR
    notes: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        """Tell whether this diagnostic stops compilation."""
        return self.severity is Severity.ERROR


class CompileError(Exception):
    """Raised by the facade when guideline files have errors; carries all of them."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]):
        self.diagnostics = tuple(diagnostics)
        self.sources = dict(sources)
        super().__init__(render_all(self.diagnostics, self.sources))

    def __reduce__(self) -> tuple[Any, ...]:
        # Made again from its diagnostics and sources (the default would call __init__ with the rendered
        # message alone, which fails): a CompileError raised in a worker process (multiprocessing,
        # concurrent.futures) or copied is itself. The state keeps what was added since (add_note()).
        return (type(self), (self.diagnostics, self.sources), self.__dict__)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return "; did you mean 'x'?" for the closest candidate, or ""."""
    # Only a near miss (a letter or two wrong, a third of a long word, or a name with letters
    # more or less at its end: knee_rule, knee; maximum, max) is a likely typo: `age` is not a misspelled `massage`,
    # nor `s` a misspelled `is`.
    limit = max(1, len(word) // 3)
    close = [c for c in difflib.get_close_matches(word, sorted(set(candidates)), n=5, cutoff=0.6)
             if len(word) > 1 and (_edits(word, c) <= limit or _shortened(word, c))]
    return f"; did you mean '{close[0]}'?" if close else ""


def _shortened(a: str, b: str) -> bool:
    """Whether one word is the other cut short (at least 3 letters of it): `max` of `maximum`."""
    short, long = sorted((a, b), key=len)
    return len(short) >= 3 and long.startswith(short)


def _edits(a: str, b: str) -> int:
    """How many letters to insert, delete, replace or swap to turn `a` into `b` (Damerau-Levenshtein)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def render(diagnostic: Diagnostic, sources: Mapping[str, str]) -> str:
    """Render one diagnostic: location, code, message, source line, caret, notes."""
    span = diagnostic.span
    where = f"{span}: " if span else ""
    out = [f"{where}{diagnostic.severity.value}[{diagnostic.code}]: {diagnostic.message}"]
    text = sources.get(span.path) if span else None
    if span and text is not None:
        # Lines as the parser counts them: at \n only (splitlines() would also break at a form feed or U+2028,
        # and show another line than the one the diagnostic names).
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        if 1 <= span.line <= len(lines):
            source_line = lines[span.line - 1].expandtabs(1)
            if not source_line.isprintable():  # a NUL or escape would garble the terminal: one mark each
                source_line = "".join(c if c.isprintable() else "\ufffd" for c in source_line)
            width = 1
            if span.end_line == span.line and span.end_column > span.column:
                width = span.end_column - span.column
            gutter = f"{span.line:>4} | "
            out.append(gutter + source_line)
            out.append(" " * (len(gutter) + span.column - 1) + "^" * max(1, width))
    out.extend(f"  = note: {note}" for note in diagnostic.notes)
    return "\n".join(out)


def render_all(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    """Render diagnostics in file order, capped at MAX_REPORTED."""
    ordered = sorted(diagnostics, key=_order)
    shown = [render(d, sources) for d in ordered[:MAX_REPORTED]]
    if len(ordered) > MAX_REPORTED:
        shown.append(f"... and {len(ordered) - MAX_REPORTED} more")
    return "\n".join(shown)


def _order(d: Diagnostic) -> tuple[str, int, int, str]:
    if d.span is None:
        return ("", 0, 0, d.code)
    return (d.span.path, d.span.line, d.span.column, d.code)
