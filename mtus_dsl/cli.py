"""The `mtus` command: check, compile and decide. It only calls the facade.

Exit statuses (also in docs/cli.md):
  0  success
  1  the guideline files have errors (diagnostics printed)
  2  bad input: a usage error, or a case (or some batch lines) that does not follow the case format
  3  a guideline failed while deciding a valid case (a bug in the guideline; reported, never a traceback)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from mtus_dsl import runtime as rt
from mtus_dsl.case import CaseError
from mtus_dsl.compiler import Compilation, compile_paths
from mtus_dsl.decision import Decision, Outcome
from mtus_dsl.diagnostics import CompileError, Diagnostic, Span, render_all
from mtus_dsl.schedule import Schedule, load

EXIT_OK, EXIT_GUIDELINE_ERRORS, EXIT_BAD_INPUT, EXIT_RULE_FAILURE = 0, 1, 2, 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mtus-dsl")
def main() -> None:
    """Check, compile and run MTUS guideline files (.mtus)."""


def _report(compilation: Compilation) -> None:
    if compilation.diagnostics:
        click.echo(render_all(compilation.diagnostics, compilation.sources), err=True)


def _schedule(paths: Iterable[str]) -> Schedule:
    try:
        return load(list(paths) or None)
    except CompileError as error:
        click.echo(render_all(error.diagnostics, error.sources), err=True)
        errors = sum(d.is_error for d in error.diagnostics)
        click.echo(f"error: the guidelines have {errors} error(s); stopped before using them", err=True)
        sys.exit(EXIT_GUIDELINE_ERRORS)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def check(paths: tuple[str, ...]) -> None:
    """Check guideline files and directories; print every problem found."""
    compilation = compile_paths(paths)
    _report(compilation)
    errors = sum(d.is_error for d in compilation.diagnostics)
    warnings = len(compilation.diagnostics) - errors
    if compilation.program is None or errors:
        click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)
        sys.exit(EXIT_GUIDELINE_ERRORS)
    program = compilation.program
    files = len([s for s in program.sources if not s.startswith("<")])
    click.echo(
        f"ok: {files} file(s), {len(program.guidelines)} guideline(s), {len(program.rules)} rule(s), "
        f"{len(program.examples)} example(s), {warnings} warning(s)"
    )


@main.command(name="compile")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True), help="The Python module to write."
)
def compile_command(paths: tuple[str, ...], output: str) -> None:
    """Compile guideline files into one standalone Python module with decide(case)."""
    schedule = _schedule(paths)
    _write(output, schedule.python_source)
    click.echo(f"wrote {output}: {len(schedule.program.rules)} rule(s)")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-g",
    "--guidelines",
    "guideline_paths",
    multiple=True,
    type=click.Path(),
    help="Guideline files or directories (default: the shipped corpus).",
)
@click.option("--json", "as_json", is_flag=True, help="Print decisions as JSON (one per line for .jsonl).")
@click.option("--trace", is_flag=True, help="Also show every rule consulted and why it did or did not apply.")
@click.option("--interpret", is_flag=True, help="Decide with the reference interpreter instead of compiled code.")
def decide(file: str, guideline_paths: tuple[str, ...], as_json: bool, trace: bool, interpret: bool) -> None:
    """Decide the case in FILE (.json), or each case in FILE (.jsonl, one per line)."""
    schedule = _schedule(guideline_paths)
    decide_one = schedule.interpret if interpret else schedule.decide
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        click.echo(f"error: cannot read {file}: {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if file.endswith(".jsonl"):
        sys.exit(_decide_batch(file, text, decide_one, as_json, trace))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        click.echo(f"{file}:{error.lineno}:{error.colno}: error: not valid JSON: {error.msg}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    try:
        decision = decide_one(data)
    except CaseError as error:
        for problem in error.errors:
            click.echo(f"{file}: error: {problem}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except rt.RuleError as error:
        click.echo(rule_failure(error, schedule, file), err=True)
        sys.exit(EXIT_RULE_FAILURE)
    if as_json:
        click.echo(json.dumps(decision.to_dict(), indent=2))
    else:
        click.echo(letter(decision, data, trace))


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


def _write(output: str, text: str) -> None:
    """Write an output file; a path that cannot be written is bad input (exit 2), never a traceback."""
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        click.echo(f"error: cannot write {output}: {error.strerror or error}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _decide_batch(file: str, text: str, decide_one: Any, as_json: bool, trace: bool) -> int:
    status = EXIT_OK
    decided = failed = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        problem = None
        data: Any = None
        try:
            data = json.loads(line)
            decision = decide_one(data)
        except json.JSONDecodeError as error:
            problem, code = f"not valid JSON: {error.msg} (column {error.colno})", EXIT_BAD_INPUT
        except CaseError as error:
            problem, code = "; ".join(str(e) for e in error.errors), EXIT_BAD_INPUT
        except rt.RuleError as error:
            problem = str(error) if error.where is not None else f"a guideline failed on this case: {error}"
            code = EXIT_RULE_FAILURE
        if problem is not None:
            failed += 1
            status = max(status, code)
            click.echo(f"{file}:{number}: error: {problem}", err=True)
            if as_json:
                case_id = data.get("id") if isinstance(data, dict) else None
                click.echo(json.dumps({"line": number, "id": case_id, "error": problem}))
            continue
        decided += 1
        if as_json:
            click.echo(json.dumps(decision.to_dict()))
        else:
            click.echo(f"--- line {number} ---")
            click.echo(letter(decision, data, trace))
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
    if trace:
        lines.append("")
        lines.append("Rules consulted:")
        for entry in decision.trace:
            lines.append(f"  {entry.rule} ({entry.kind}, {entry.source}): {entry.status}: {entry.detail}")
    return "\n".join(lines)


@main.command()
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
    if output is None:
        click.echo(text, nl=False)
        return
    _write(output, text)
    click.echo(f"wrote {output}")


@main.command(name="test")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--thorough", is_flag=True, help="Many more cases, random each run (for releases); default: fast and deterministic."
)
@click.option("-k", "select", default=None, help="Run only the checks whose name contains this text.")
def test_command(paths: tuple[str, ...], thorough: bool, select: str | None) -> None:
    """Run each file's examples and properties; print shrunk counterexamples ready to paste."""
    from mtus_dsl.testing.runner import run_command  # Hypothesis loads only for this command

    err = lambda text: click.echo(text, err=True)  # noqa: E731
    sys.exit(run_command(paths, thorough=thorough, select=select, out=click.echo, err=err))


if __name__ == "__main__":  # pragma: no cover
    main()
