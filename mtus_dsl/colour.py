"""Colour for the command line: diagnostics and decision letters, on a terminal only.

The text is exactly what is printed without colour (tests and pipes see that); colour is
added on top with rich, when the stream is a terminal, NO_COLOR is not set and TERM is
not `dumb`. rich is imported only when colour is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

#: (regular expression, rich style) pairs for each kind of output; a later pair wins where they overlap.
STYLES: dict[str, tuple[tuple[str, str], ...]] = {
    "diagnostics": (
        (r"(?m)^\S[^\n]*?:\d+:\d+:", "bold"),
        (r"error\[E\d+\]:?|\d+ error\(s\)", "bold red"),
        (r"warning\[W\d+\]:?|\d+ warning\(s\)", "bold yellow"),
        (r"(?m)^ *\^+$", "bold red"),
        (r"(?m)^ +\d+ \|", "blue"),
        (r"(?m)^  = note:", "bold cyan"),
        (r"(?m)^error:", "bold red"),
    ),
    "letter": (
        (r"(?m)^(Request[^:]*:|Decision:|Decision based on MTUS|Rationale:|Rules consulted:)", "bold"),
        (r"MEDICALLY NECESSARY: certified[^\n]*", "bold green"),
        (r"NOT MEDICALLY NECESSARY AS REQUESTED:[^\n]*", "bold yellow"),
        (r"NOT MEDICALLY NECESSARY: non-certified[^\n]*", "bold red"),
        (r"NOT ADDRESSED[^\n]*|NEEDS INFORMATION:[^\n]*", "bold magenta"),
    ),
}


def wanted(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether to colour what goes to `stream`: a terminal, NO_COLOR unset or empty, TERM not dumb."""
    environ = os.environ if environ is None else environ
    # no-color.org: NO_COLOR set to any non-empty value turns colour off; an empty one does not.
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def echo(text: str, kind: str, stream: TextIO) -> None:
    """Print `text` and a newline to the terminal `stream`, coloured by STYLES[kind]."""
    from rich.console import Console
    from rich.text import Text

    coloured = Text(text)
    for pattern, style in STYLES[kind]:
        coloured.highlight_regex(pattern, style)
    console = Console(file=stream, force_terminal=True, highlight=False, soft_wrap=True, emoji=False, markup=False)
    console.print(coloured)
