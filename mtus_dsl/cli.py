"""The `mtus` command: check, compile and decide. It only calls the facade.

Exit statuses (also in docs/cli.md):
  0  success
  1  the guideline files have errors (diagnostics printed)
  2  bad input: a usage error, or a case (or some batch lines) that does not follow the case format
  3  a guideline failed while deciding a valid case (a bug in the guideline; reported, never a traceback)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import click

from mtus_dsl import colour
from mtus_dsl import runtime as rt
from mtus_dsl.case import MAX_SHOWN, CaseError
from mtus_dsl.case_text import BOM, MAX_CASE_BYTES, BadJSON, read_json
from mtus_dsl.compiler import Compilation, compile_paths, expand
from mtus_dsl.decision import Decision, Outcome
from mtus_dsl.diagnostics import CompileError, Diagnostic, Span, render_all
from mtus_dsl.engine import THREE_VALUED_ON_RECORD
from mtus_dsl.schedule import Schedule, load
from mtus_dsl.text import printable, printable_lines

EXIT_OK, EXIT_GUIDELINE_ERRORS, EXIT_BAD_INPUT, EXIT_RULE_FAILURE = 0, 1, 2, 3
#: The reader of the output closed it early (`mtus decide big.jsonl | head`): as a process SIGPIPE stops.
EXIT_OUTPUT_CLOSED = 141


def _show(text: str, kind: str, err: bool = False) -> None:
    """Print diagnostics or a letter: coloured on a terminal (colour.wanted), else exactly the plain text."""
    stream = sys.stderr if err else sys.stdout
    if colour.wanted(stream):
        colour.echo(text, kind, stream)
    else:
        click.echo(text, err=err)


def _examples(*lines: str) -> str:
    """A command's --help epilog: its examples, one a line, kept as written (click's \\b)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


#: The option every deciding command takes: which guidelines (default: the shipped corpus).
_guidelines_option = click.option(
    "-g",
    "--guidelines",
    "guideline_paths",
    multiple=True,
    type=click.Path(),
    help="Guideline files or directories (default: the shipped corpus).",
)


class _Commands(click.Group):
    """The command group; output whose reader went away ends the command quietly, with its own status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Nobody reads what is left: no message (stderr may be the same closed pipe), nothing flushed at exit.
            # Click's own handling would exit 1, which means guideline errors here.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_OUTPUT_CLOSED)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=_examples(
        "mtus check guidelines/                    every problem, located",
        "mtus decide examples/seed_imr.json        decide the seed case with the shipped corpus",
        "mtus fmt --check guidelines/              is every file in the canonical layout?",
        "mtus COMMAND --help                       a command's options and examples",
    ),
)
@click.version_option(package_name="mtus-dsl")
def main() -> None:
    """Check, compile and run MTUS guideline files (.mtus)."""
    # A warning (the cache folder not used) is a line for the user, not Python's file:line and source.
    warnings.formatwarning = _warning_line


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  line: str | None = None) -> str:
    return f"warning: {message}\n"


def _report(compilation: Compilation) -> None:
    if compilation.diagnostics:
        _show(render_all(compilation.diagnostics, compilation.sources), "diagnostics", err=True)


def _schedule(paths: Iterable[str]) -> Schedule:
    try:
        return load(list(paths) or None)
    except CompileError as error:
        _show(render_all(error.diagnostics, error.sources), "diagnostics", err=True)
        errors = sum(d.is_error for d in error.diagnostics)
        _show(f"error: the guidelines have {errors} error(s); stopped before using them", "diagnostics", err=True)
        sys.exit(EXIT_GUIDELINE_ERRORS)


@main.command(epilog=_examples(
    "mtus check guidelines/                    the shipped corpus",
    "mtus check my_rules.mtus guidelines/      one program: names in one file are seen in the others",
))
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--gaps", is_flag=True, help="Also report requests in a section's scope that no rule governs (W203).")
def check(paths: tuple[str, ...], gaps: bool) -> None:
    """Check guideline files and directories; print every problem found."""
    compilation = compile_paths(paths)
    if gaps and compilation.program is not None and compilation.module is not None:
        from mtus_dsl.compiler import analysis

        found = analysis.gaps(compilation.program, compilation.module.__dict__["_ENGINE"])
        compilation = attrs.evolve(compilation, diagnostics=compilation.diagnostics + tuple(found))
    _report(compilation)
    errors = sum(d.is_error for d in compilation.diagnostics)
    warnings = len(compilation.diagnostics) - errors
    if compilation.program is None or errors:
        _show(f"{errors} error(s), {warnings} warning(s)", "diagnostics", err=True)
        sys.exit(EXIT_GUIDELINE_ERRORS)
    program = compilation.program
    files = len([s for s in program.sources if not s.startswith("<")])
    click.echo(
        f"ok: {files} file(s), {len(program.guidelines)} guideline(s), {len(program.rules)} rule(s), "
        f"{len(program.examples)} example(s), {warnings} warning(s)"
    )


@main.command(name="compile", epilog=_examples(
    "mtus compile guidelines/ -o mtus_rules.py   then: import mtus_rules; mtus_rules.decide(case)",
    "mtus compile guidelines/ --sql --dialect spark -o decide.sql   one query deciding a table of cases",
))
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True),
    help="The Python module to write (with --sql: the query; default standard output).",
)
@click.option("--sql", "as_sql", is_flag=True, help="Write one SQL query that decides a table of cases instead.")
@click.option("--dialect", default="duckdb", show_default=True, help="The SQL dialect of --sql (any sqlglot knows).")
@click.option("--source", default="cases", show_default=True, help="The table or view the --sql query reads.")
def compile_command(paths: tuple[str, ...], output: str | None, as_sql: bool, dialect: str, source: str) -> None:
    """Compile guideline files into one standalone Python module with decide(case), or one SQL query."""
    if not as_sql and output is None:
        raise click.UsageError("Missing option '-o' / '--output' (or give --sql to write a query).")
    if as_sql:
        _compile_sql(paths, output, dialect, source)
        return
    assert output is not None
    schedule = _schedule(paths)
    if output == "-":  # standard output, as for --sql without -o
        click.echo(schedule.python_source, nl=False)
        return
    _write(output, schedule.python_source, paths)
    click.echo(f"wrote {output}: {len(schedule.program.rules)} rule(s)")


def _compile_sql(paths: tuple[str, ...], output: str | None, dialect: str, source: str) -> None:
    """`mtus compile --sql`: the query (compiler/sql.py) to a file or standard output."""
    try:
        from mtus_dsl.compiler import sql
    except ImportError as error:
        click.echo(f"error: --sql needs the 'sql' extra (pip install 'mtus-dsl[sql]'): {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if dialect not in sql.dialects():
        raise click.BadParameter(f"unknown SQL dialect '{dialect}'; sqlglot knows: {', '.join(sql.dialects())}",
                                 param_hint="'--dialect'")
    try:
        sql.source_table(source)
    except sql.SqlBackendError as error:
        raise click.BadParameter(str(error), param_hint="'--source'") from None
    schedule = _schedule(paths)
    try:
        text = sql.compile_sql(schedule, dialect=dialect, source=source) + "\n"
    except sql.DialectError as error:
        raise click.BadParameter(str(error), param_hint="'--dialect'") from None
    except sql.SqlBackendError as error:
        click.echo(f"error: the SQL backend cannot compile these guidelines: {error}", err=True)
        sys.exit(EXIT_GUIDELINE_ERRORS)
    if dialect not in sql.RUN_DIALECTS:
        click.echo(f"note: the {dialect} query is sqlglot's translation, read back but never run by mtus-dsl's "
                   f"tests (they run {' and '.join(sql.RUN_DIALECTS)}); try it on your data first", err=True)
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    _write(output, text, paths)
    click.echo(f"wrote {output}: one {dialect} query, {len(schedule.program.rules)} rule(s)")


#: File endings read as a batch, one case per line (`-`, standard input, is a batch too).
BATCH_SUFFIXES = (".jsonl", ".ndjson")


@main.command(epilog=_examples(
    "mtus decide examples/seed_imr.json                  one case, as an IMR decision letter",
    "mtus decide cases.jsonl --json --no-trace           a batch: one decision per line, as JSON",
    "cat cases.ndjson | mtus decide - --json             a batch from standard input",
    "mtus decide case.json --trace -g my_rules.mtus      every rule consulted, with other guidelines",
))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@_guidelines_option
@click.option("--json", "as_json", is_flag=True, help="Print decisions as JSON (one per line for a batch).")
@click.option("--trace", is_flag=True, help="Also show every rule consulted and why it did or did not apply.")
@click.option("--no-trace", is_flag=True, help="Leave the trace out of the JSON output (smaller, for big batches).")
@click.option("--interpret", is_flag=True, help="Decide with the reference interpreter instead of compiled code.")
@click.option("--on-record", is_flag=True,
              help="Decide on the record: read absent inputs as the guidelines declare (listed as assumed).")
@click.option("--three-valued", is_flag=True,
              help="Decide by three-valued logic alone, as mtus audit's SQL does: needs_information is not searched "
              "(faster; it names the facts of the first rules it cannot settle, whether or not they change the "
              "answer).")
def decide(file: str, guideline_paths: tuple[str, ...], as_json: bool, trace: bool, no_trace: bool,
           interpret: bool, on_record: bool, three_valued: bool) -> None:
    """Decide the case in FILE (.json), or each case in FILE (.jsonl, .ndjson or - for stdin: one per line)."""
    if trace and no_trace:
        raise click.UsageError("--trace and --no-trace contradict each other; give one of them")
    if three_valued and on_record:
        raise click.UsageError(THREE_VALUED_ON_RECORD)
    schedule = _schedule(guideline_paths)
    decide_one: Callable[[Any], Decision]
    if three_valued:
        engine = schedule.interpreter if interpret else schedule.engine

        def decide_one(data: Any) -> Decision:
            return engine.three_valued(schedule.case(data))
    else:
        decide_one = functools.partial(schedule.interpret if interpret else schedule.decide, on_record=on_record)
    if file == "-":
        sys.exit(_decide_batch("<stdin>", sys.stdin.buffer, decide_one, as_json, trace, no_trace))
    if file.endswith(BATCH_SUFFIXES):
        try:
            with open(file, "rb") as stream:
                status = _decide_batch(file, stream, decide_one, as_json, trace, no_trace)
        except BrokenPipeError:
            raise  # writing the decisions failed, not reading the cases (see _Commands)
        except OSError as error:
            click.echo(f"error: cannot read {file}: {error.strerror or error}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        sys.exit(status)
    data = _read_case(file)
    try:
        decision = decide_one(data)
    except CaseError as error:
        for problem in capped(error.errors):
            click.echo(f"{file}: error: {printable(str(problem))}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except rt.RuleError as error:
        _show(rule_failure(error, schedule, file), "diagnostics", err=True)
        sys.exit(EXIT_RULE_FAILURE)
    if as_json:
        click.echo(json.dumps(_as_json(decision, no_trace), indent=2))
    else:
        _show(letter(decision, data, trace), "letter")


def _read_case(file: str) -> Any:
    """Read the one case in a .json file; a file that cannot be read or is not JSON is bad input (exit 2)."""
    try:
        with open(file, "rb") as stream:
            raw = stream.read(MAX_CASE_BYTES + 1)
    except OSError as error:
        click.echo(f"error: cannot read {file}: {error.strerror or error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    try:
        if len(raw) > MAX_CASE_BYTES:
            raise BadJSON(f"the file is larger than {MAX_CASE_BYTES} bytes; a case is much smaller", 1, 1)
        return read_json(raw)
    except BadJSON as error:
        click.echo(f"{file}:{error.line}:{error.column}: error: {printable(error.message)}", err=True)
        sys.exit(EXIT_BAD_INPUT)


@main.command(name="explain", epilog=_examples(
    "mtus explain examples/seed_imr.json                the seed's decision as a tree",
    "mtus explain case.json -g my_rules/ --json          the same tree as JSON",
))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_guidelines_option
@click.option("--json", "as_json", is_flag=True, help="Print the tree as JSON.")
@click.option("--on-record", is_flag=True,
              help="Explain the decision on the record, as `mtus decide --on-record` makes it.")
def explain_command(file: str, guideline_paths: tuple[str, ...], as_json: bool, on_record: bool) -> None:
    """Explain the decision on the case in FILE as a tree: rules consulted, values read, caps, arithmetic."""
    from mtus_dsl import explain

    schedule = _schedule(guideline_paths)
    data = _read_case(file)
    try:
        tree = explain.explain(schedule.engine, schedule.case(data), on_record=on_record)
    except CaseError as error:
        for problem in capped(error.errors):
            click.echo(f"{file}: error: {printable(str(problem))}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except rt.RuleError as error:
        click.echo(rule_failure(error, schedule, file), err=True)
        sys.exit(EXIT_RULE_FAILURE)
    if as_json:
        click.echo(json.dumps(tree, indent=2))
        return
    if colour.wanted(sys.stdout):
        try:
            from rich.console import Console
        except ModuleNotFoundError:  # rich is optional: plain text below
            pass
        else:
            Console().print(explain.render_rich(tree))
            return
    click.echo(explain.render(tree))


# --- reading cases: JSON with bounds, each problem located ----------------------------

#: How many problems with one case are printed before "... and N more".
MAX_CASE_ERRORS = MAX_SHOWN


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Yield (number, line) for each line split on b"\\n" only; None for a line longer than MAX_CASE_BYTES.

    Memory stays bounded by the longest line read, whatever the file's size.
    """
    number = 0
    while True:
        chunk = stream.readline(MAX_CASE_BYTES + 1)
        if not chunk:
            return
        number += 1
        if len(chunk) > MAX_CASE_BYTES and not chunk.endswith(b"\n"):
            while chunk and not chunk.endswith(b"\n"):  # skip the rest of the line, a block at a time
                chunk = stream.readline(MAX_CASE_BYTES)
            yield number, None
            continue
        yield number, chunk


def capped(items: Iterable[Any], limit: int = MAX_CASE_ERRORS) -> list[str]:
    """Return the first `limit` items as strings, then "... and N more" if there were more."""
    items = list(items)
    shown = [str(item) for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"... and {len(items) - limit} more")
    return shown


def rule_failure(error: rt.RuleError, schedule: Schedule, case: str) -> str:
    """Report a guideline that failed on a valid case as a located diagnostic (E301)."""
    from mtus_dsl.text import show_value

    if error.where is None or error.source is None:
        return f"{case}: error: a guideline failed on this case: {error.message}"
    path, line, column = error.source.rsplit(":", 2)
    span = Span(path, int(line), int(column), int(line), int(column) + 1)
    notes = [f"deciding the case in {case}"]
    if error.values:
        notes.append("it read " + ", ".join(f"{k} = {show_value(v)}" for k, v in error.values.items()))
    diagnostic = Diagnostic("E301", f"{error.where} failed on this case: {error.message}", span, notes=tuple(notes))
    return render_all([diagnostic], schedule.sources)


def _write(output: str, text: str, paths: Iterable[str] = ()) -> None:
    """Write an output file; a path that cannot be written, or a file of `paths` read, is bad input (exit 2)."""
    for source in expand(paths)[0]:
        # By identity, not by name: a symlink or another spelling of an input is still the input.
        with contextlib.suppress(OSError):
            if os.path.samefile(source, output):
                click.echo(f"error: cannot write {output}: it is the input {source}; give another output path",
                           err=True)
                sys.exit(EXIT_BAD_INPUT)
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        click.echo(f"error: cannot write {output}: {error.strerror or error}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _as_json(decision: Decision, no_trace: bool) -> dict[str, Any]:
    """The decision's documented JSON form, without its trace when asked."""
    data = decision.to_dict()
    if no_trace:
        del data["trace"]
    return data


def _decide_batch(file: str, stream: BinaryIO, decide_one: Any, as_json: bool, trace: bool,
                  no_trace: bool = False) -> int:
    """Decide each line of a batch, streaming: one bad line is reported and the others are still decided."""
    status = EXIT_OK
    decided = failed = 0
    for number, line in _lines(stream):
        if line is not None and not line.strip():
            continue
        problem = None
        data: Any = None
        try:
            if line is None:
                raise BadJSON(f"the line is longer than {MAX_CASE_BYTES} bytes; a case is much smaller", number, 1)
            if number > 1 and line.startswith(BOM):
                raise BadJSON("a byte order mark (BOM) is allowed only at the start of the file", number, 1)
            data = read_json(line.rstrip(b"\r\n"), number)  # an error at its end is on this line, not the next
            decision = decide_one(data)
        except BadJSON as error:
            problem, code = f"{error.message} (column {error.column})", EXIT_BAD_INPUT
        except CaseError as error:
            problem, code = "; ".join(capped(error.errors)), EXIT_BAD_INPUT
        except rt.RuleError as error:
            problem = str(error) if error.where is not None else f"a guideline failed on this case: {error}"
            code = EXIT_RULE_FAILURE
        except Exception as error:  # one line must never stop the others
            problem = f"internal error (a bug in mtus-dsl, please report it): {type(error).__name__}: {error}"
            code = EXIT_RULE_FAILURE
        if problem is not None:
            failed += 1
            status = max(status, code)
            click.echo(f"{file}:{number}: error: {printable(problem)}", err=True)
            if as_json:
                case_id = data.get("id") if isinstance(data, dict) else None
                click.echo(json.dumps({"line": number, "id": case_id, "error": problem}))
            continue
        decided += 1
        if as_json:
            click.echo(json.dumps(_as_json(decision, no_trace)))
        else:
            click.echo(f"--- line {number} ---")
            _show(letter(decision, data, trace), "letter")
    click.echo(f"{file}: {decided} decided, {failed} could not be decided", err=True)
    return status


_HEADLINES = {
    Outcome.CERTIFY: "MEDICALLY NECESSARY: certified, {approved} of {requested} {unit}.",
    Outcome.MODIFY: "NOT MEDICALLY NECESSARY AS REQUESTED: modified to {approved} of {requested} {unit}.",
    Outcome.NON_CERTIFY: "NOT MEDICALLY NECESSARY: non-certified, 0 of {requested} {unit}.",
    Outcome.NOT_ADDRESSED: "NOT ADDRESSED by the encoded MTUS: no guideline here decides this request.",
    Outcome.NEEDS_INFORMATION: "NEEDS INFORMATION: cannot decide without {missing}.",
}


def letter(decision: Decision, case: Any, trace: bool = False) -> str:
    """Render a decision like the decision paragraph of an IMR determination."""
    case = case if isinstance(case, dict) else {}
    service = str(case.get("service", "")).replace("_", " ")
    region = str(case.get("body_region", "")).replace("_", " ")
    lines = []
    title = f"{service.capitalize()} times {decision.requested} for the {region}"
    lines.append(f"Request{' ' + decision.id if decision.id else ''}: {title}, requested {case.get('request_date')}")
    lines.append("")
    headline = _HEADLINES[decision.outcome].format(
        approved=decision.approved,
        requested=decision.requested,
        unit=decision.unit,
        missing=", ".join(decision.missing),
    )
    lines.append(f"Decision: {headline}")
    if decision.citations:
        lines.append("")
        lines.append("Decision based on MTUS " + "; ".join(str(c) for c in decision.citations) + ".")
    lines.append("")
    lines.append("Rationale: " + decision.rationale)
    if decision.assumed:
        lines.append("")
        lines.append("Read on the record (the case does not give them):")
        for assumption in decision.assumed:
            lines.append(f"  {assumption.field} = {json.dumps(assumption.to_dict()['value'])}: {assumption.reason}")
    if trace:
        lines.append("")
        lines.append("Rules consulted:")
        for entry in decision.trace:
            lines.append(f"  {entry.rule} ({entry.kind}, {entry.source}): {entry.status}: {entry.detail}")
    # Every line is made printable: text from the case cannot start a line of its own.
    return printable_lines(lines)


@main.command(epilog=_examples(
    "mtus schema > case.schema.json                    the case the shipped corpus accepts",
    "mtus schema -g my_rules/ --decision               the decision, for an OpenAPI response",
    "mtus schema --batch-line                          each line of mtus decide FILE.jsonl --json",
))
@_guidelines_option
@click.option("--decision", is_flag=True, help="Print the JSON Schema of a decision instead of a case.")
@click.option("--batch-line", is_flag=True,
              help="Print the JSON Schema of a line of `mtus decide FILE.jsonl --json`: a decision or a line's error.")
def schema(guideline_paths: tuple[str, ...], decision: bool, batch_line: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of the case these guidelines accept, or of a decision: for OpenAPI."""
    from mtus_dsl.json_schema import batch_line_schema, case_schema, decision_schema

    if decision and batch_line:
        raise click.UsageError("--decision and --batch-line are two schemas: give one of them")
    if batch_line:
        document = batch_line_schema()
    else:
        document = decision_schema() if decision else case_schema(_schedule(guideline_paths).schema)
    click.echo(json.dumps(document, indent=2))


@main.command(epilog=_examples(
    "mtus catalogue guidelines/ -o docs/guidelines.md   the shipped corpus's catalogue",
    "mtus catalogue my_rules.mtus                        any files' catalogue, printed",
))
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="The Markdown file to write (default: print)"
)
def catalogue(paths: tuple[str, ...], output: str | None) -> None:
    """Write a Markdown catalogue of guideline files: sections, rules in plain words, citations, notes."""
    from mtus_dsl.catalogue import render  # imported here: only this command needs it

    compilation = compile_paths(paths)
    if compilation.program is None:
        _report(compilation)
        click.echo("error: the guidelines have errors; no catalogue was written", err=True)
        sys.exit(EXIT_GUIDELINE_ERRORS)
    text = render(compilation)
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    _write(output, text, paths)
    click.echo(f"wrote {output}")


@main.command(name="test", epilog=_examples(
    "mtus test guidelines/                     examples and properties, fast and deterministic",
    "mtus test guidelines/ --thorough          many more random cases (for releases)",
    "mtus test guidelines/ -k neuritis         only the checks whose name contains 'neuritis'",
))
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--thorough", is_flag=True, help="Many more cases, random each run (for releases); default: fast and deterministic."
)
@click.option("-k", "select", default=None, help="Run only the checks whose name contains this text (none: exit 5).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object on standard output.")
@click.option("--junit-xml", type=click.Path(dir_okay=False), help="Also write the results to FILE as JUnit XML.")
@click.option(
    "--coverage", is_flag=True, help="Report, per section, the rules, caps, exceptions, outcomes and pages exercised."
)
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    help="Fail (exit 1) when under this percent of rules and caps decided some case.",
)
def test_command(
    paths: tuple[str, ...],
    thorough: bool,
    select: str | None,
    as_json: bool,
    junit_xml: str | None,
    coverage: bool,
    fail_under: float | None,
) -> None:
    """Run each file's examples and properties; print shrunk counterexamples ready to paste."""
    from mtus_dsl.testing.runner import run_command  # Hypothesis loads only for this command

    err = lambda text: click.echo(text, err=True)  # noqa: E731
    progress = _progress() if sys.stderr.isatty() else None
    try:
        status = run_command(
            paths, thorough=thorough, select=select, out=click.echo, err=err, progress=progress, as_json=as_json,
            junit_xml=junit_xml, coverage=coverage, fail_under=fail_under,
        )
    except OSError as error:  # the JUnit file cannot be written
        click.echo(f"error: cannot write {error.filename}: {error.strerror}", err=True)
        status = EXIT_BAD_INPUT
    if progress is not None:
        progress("")
    sys.exit(status)


def _progress() -> Callable[[str], None]:
    """Show what runs now on one line of the terminal (standard error), overwritten by the next."""
    width = shutil.get_terminal_size().columns - 1

    def show(text: str) -> None:
        click.echo("\r" + text[:width].ljust(width) + "\r", err=True, nl=False)

    return show


@main.command(
    name="fmt",
    epilog=_examples(
        "mtus fmt guidelines/                      format every .mtus file in place",
        "mtus fmt --check guidelines/              in CI: exit 1 and list the files that are not formatted",
        "mtus fmt --diff rules.mtus                show what would change, change nothing",
        "mtus fmt - < rules.mtus                   format standard input to standard output",
    ),
)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file is not formatted, listing it.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print a unified diff of each change.")
def fmt_command(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Format guideline files in the canonical layout, comments kept (PATH - reads standard input)."""
    from mtus_dsl.fmt import run_command

    err = lambda text: _show(text, "diagnostics", err=True)  # noqa: E731
    out = lambda text: click.echo(text, nl=False)  # noqa: E731
    stdin = lambda: sys.stdin.read()  # noqa: E731
    sys.exit(run_command(paths, check=check, show_diff=show_diff, out=out, err=err, stdin=stdin))


@main.command(
    name="lsp",
    epilog=_examples(
        "mtus lsp                                  serve an editor over standard input and output",
        "(VS Code: the extension in editors/; any other LSP client: run `mtus lsp` for .mtus; docs/editors.md)",
    ),
)
def lsp_command() -> None:
    """Run the language server (diagnostics, hover, go to definition, completion, formatting) on stdio."""
    try:
        from mtus_dsl.lsp import main as serve
    except ImportError as error:
        click.echo(f"error: mtus lsp needs pygls ({error}); install it with: pip install 'mtus-dsl[lsp]'", err=True)
        sys.exit(EXIT_BAD_INPUT)
    serve()


@main.command(epilog=_examples(
    "mtus audit examples/requests.csv -o decisions.parquet       a table decided, with a summary",
    "mtus audit claims.parquet -o out.csv --mapping claims.toml   the table's own column names",
    "cat requests.ndjson | mtus audit - -o decisions.jsonl         from standard input",
))
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, allow_dash=True))
# A directory is refused by the audit itself, except by --engine spark, which writes datasets (directories).
@click.option("-o", "--output", required=True, type=click.Path(),
              help="The decisions to write: .parquet, .csv or .jsonl (one row per decided input row).")
@click.option("--errors", "errors_path", type=click.Path(),
              help="Where bad rows go (default: OUTPUT's name with .errors before its ending).")
@_guidelines_option
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]),
              help="The input's format (default: told by its ending; jsonl for -).")
@click.option("--mapping", "mapping_path", type=click.Path(dir_okay=False),
              help="A TOML file mapping the table's columns to case fields (see docs/audit.md).")
@click.option("--engine", type=click.Choice(["auto", "duckdb", "python", "spark"]), default="auto",
              show_default=True, help="Who decides: the SQL backend in DuckDB or on Spark (outputs are then Spark "
              "datasets: directories), or the Python engine row by row.")
@click.option("--on-record", is_flag=True, help="Decide on the record, as `mtus decide --on-record` does.")
@click.option("--rationale", is_flag=True, help="Add each decision's rationale as a column.")
@click.option("--trace", is_flag=True, help="Add each decision's trace (JSON) as a column.")
@click.option("--threads", type=click.IntRange(1, 256), help="DuckDB's worker threads (default: one per core).")
@click.option("--three-valued", is_flag=True,
              help="Decide by three-valued logic alone, as the SQL query does: a needs_information row is not "
              "searched (much faster where many facts are unknown; it names the facts of the first rules it cannot "
              "settle, whether or not they change the answer).")
def audit(input_path: str, output: str, errors_path: str | None, guideline_paths: tuple[str, ...], fmt: str | None,
          mapping_path: str | None, engine: str, on_record: bool, rationale: bool, trace: bool,
          threads: int | None, three_valued: bool) -> None:
    """Decide every row of a table (JSONL, CSV, Parquet or - for stdin) into a table of decisions."""
    try:
        from mtus_dsl import audit as auditing  # DuckDB and rich load only for this command
        from mtus_dsl.audit.report import progress_bar, render_summary
    except ImportError as error:
        click.echo(f"error: mtus audit needs its extra: pip install 'mtus-dsl[audit]' ({error})", err=True)
        sys.exit(EXIT_BAD_INPUT)
    schedule = _schedule(guideline_paths)
    try:
        mapping = auditing.read_mapping(mapping_path, schedule.schema) if mapping_path else None
        with progress_bar(input_path) as progress:
            summary = auditing.audit(
                schedule, input_path, output, errors=errors_path, fmt=fmt, mapping=mapping, engine=engine,
                on_record=on_record, rationale=rationale, trace=trace, progress=progress, threads=threads,
                redecide=not three_valued,
            )
    except auditing.AuditError as error:
        click.echo(printable(str(error)), err=True)
        sys.exit(EXIT_BAD_INPUT)
    render_summary(summary, input_path)
    if summary.failed:
        sys.exit(EXIT_RULE_FAILURE)
    sys.exit(EXIT_BAD_INPUT if summary.rejected else EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()
