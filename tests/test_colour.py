"""Colour on a terminal only: the same text with ANSI styles on a TTY; plain with NO_COLOR, TERM=dumb or a pipe."""

from __future__ import annotations

import io
import re

import pytest

from mtus_dsl import cli, colour

ANSI = re.compile(r"\x1b\[[0-9;]*m")
DIAGNOSTICS = """\
x.mtus:1:8: error[E001]: unexpected 'boolean'
   1 | fact x boolean = true
              ^^^^^^^
  = note: expected ':', end of line
1 error(s), 0 warning(s)"""


class Terminal(io.StringIO):
    """Standard output as a terminal would be."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    """A terminal for standard output and error; attach() it in the test (pytest re-captures after setup)."""
    for name in ("NO_COLOR", "TERM", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    stream = Terminal()

    def attach() -> Terminal:
        monkeypatch.setattr("sys.stdout", stream)
        monkeypatch.setattr("sys.stderr", stream)
        return stream

    return attach


def test_diagnostics_are_coloured_on_a_terminal_and_the_text_is_unchanged(terminal):
    """On a TTY the error code is red; without the escapes the text is exactly the plain text."""
    stream = terminal()
    cli._show(DIAGNOSTICS, "diagnostics", err=True)
    shown = stream.getvalue()
    assert "\x1b[1;31merror[E001]:" in shown
    assert ANSI.sub("", shown) == DIAGNOSTICS + "\n"


def test_a_letters_decision_is_coloured_by_its_outcome(terminal):
    """A modified request's headline is yellow, a certified one green."""
    stream = terminal()
    cli._show("Decision: NOT MEDICALLY NECESSARY AS REQUESTED: modified to 10 of 12 visits.", "letter")
    cli._show("Decision: MEDICALLY NECESSARY: certified, 8 of 8 visits.", "letter")
    shown = stream.getvalue()
    assert "\x1b[1;33mNOT MEDICALLY NECESSARY AS REQUESTED" in shown
    assert "\x1b[1;32mMEDICALLY NECESSARY: certified" in shown


@pytest.mark.parametrize(("name", "value"), [("NO_COLOR", "1"), ("NO_COLOR", "yes"), ("TERM", "dumb")])
def test_no_color_and_dumb_terminals_get_plain_text(terminal, monkeypatch, name, value):
    """NO_COLOR (any non-empty value) and TERM=dumb turn colour off."""
    monkeypatch.setenv(name, value)
    stream = terminal()
    cli._show(DIAGNOSTICS, "diagnostics", err=True)
    assert stream.getvalue() == DIAGNOSTICS + "\n"


def test_an_empty_no_color_is_ignored():
    """no-color.org: NO_COLOR counts only when it is not empty."""
    assert colour.wanted(Terminal(), {"NO_COLOR": "", "TERM": "xterm-256color"})
    assert not colour.wanted(Terminal(), {"NO_COLOR": "1", "TERM": "xterm-256color"})


def test_a_pipe_gets_plain_text():
    """Output that is not a terminal (a file, a pipe, the test runner) is never coloured."""
    assert not colour.wanted(io.StringIO(), {})
    assert colour.wanted(Terminal(), {"TERM": "xterm-256color"})
