"""The `mtus` entry point: the command line if the authoring extra is installed, else a clear message."""

from __future__ import annotations

import sys

#: What `pip install mtus-dsl[authoring]` adds, and the command line needs.
AUTHORING = ("click", "lark", "hypothesis", "rich")
#: The exit status of a usage error (as in mtus_dsl.cli, which cannot be imported here without click).
EXIT_BAD_INPUT = 2


def main() -> None:
    """Run `mtus`; without the authoring extra, say what to install (exit status 2), never a traceback."""
    try:
        from mtus_dsl.cli import main as cli
    except ModuleNotFoundError as error:
        if error.name not in AUTHORING:
            raise
        print(
            f"error: the mtus command needs {error.name}, which this installation lacks: the base package is the\n"
            "runtime of compiled guideline modules only. Install the command with: pip install 'mtus-dsl[authoring]'",
            file=sys.stderr,
        )
        sys.exit(EXIT_BAD_INPUT)
    cli()
