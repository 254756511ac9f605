"""What `mtus audit` shows on standard error: a progress bar on a terminal, then the summary (rich)."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator

from rich import box
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mtus_dsl.audit import Summary

#: Outcomes in the order the summary shows them.
OUTCOMES = ("certify", "modify", "non_certify", "not_addressed", "needs_information")


@contextlib.contextmanager
def progress_bar(name: str) -> Iterator[Callable[[int], None] | None]:
    """A function to call with the rows decided so far, shown as a live count on a terminal; None elsewhere."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with Progress(SpinnerColumn(), TextColumn("auditing {task.fields[name]}: {task.completed:,} rows"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("audit", total=None, name=name)
        yield lambda done: progress.update(task, completed=done)


def render_summary(summary: Summary, name: str, console: Console | None = None) -> None:
    """Print the outcomes by service and region, the facts most often missing, and the rows rejected."""
    console = console or Console(stderr=True, highlight=False, width=None if _terminal() else 160)
    table = Table(title=f"{name}: outcomes by service and body region ({summary.engine} engine)", box=box.SIMPLE_HEAD)
    table.add_column("service")
    table.add_column("body region")
    for outcome in OUTCOMES:
        table.add_column(outcome, justify="right")
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for service, region, outcome, rows in summary.outcomes:
        counts[(service, region)][outcome] = rows
    for (service, region), by_outcome in sorted(counts.items()):
        table.add_row(service, region, *[f"{by_outcome.get(o, 0):,}" for o in OUTCOMES])
    if counts:
        console.print(table)
    if summary.missing:
        missing = Table(title="facts most often missing", box=box.SIMPLE_HEAD)
        missing.add_column("fact")
        missing.add_column("rows", justify="right")
        for fact, rows in summary.missing:
            missing.add_row(fact, f"{rows:,}")
        console.print(missing)
    console.print(
        f"{name}: {summary.rows:,} rows: {summary.decided:,} decided, {summary.rejected:,} rejected"
        + (f" ({summary.failed:,} by a guideline failure)" if summary.failed else "")
        + f"; wrote {summary.output}"
        + (f"; bad rows in {summary.errors}" if summary.rejected else "")
    )


def _terminal() -> bool:
    return Console(stderr=True).is_terminal
