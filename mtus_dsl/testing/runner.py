"""Run a set of guidelines' examples and properties, file by file, and report shrunk counterexamples.

A `Suite` lists the checks of each file: one per example (decided by both
backends), one per built-in property when the file has rules (cases aimed at
the services and regions its rules cover), one per property the file states.
`mtus test` and the pytest plugin both run these checks.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException, Unsatisfiable, UnsatisfiedAssumption

from mtus_dsl.compiler import PRELUDE_NAME, compile_paths, ir
from mtus_dsl.compiler.lower import inputs_read
from mtus_dsl.compiler.syntax import KEYWORDS
from mtus_dsl.decision import Decision
from mtus_dsl.diagnostics import render_all
from mtus_dsl.examples import check_example
from mtus_dsl.schedule import Schedule
from mtus_dsl.testing.coverage import Coverage
from mtus_dsl.testing.coverage import render as render_coverage
from mtus_dsl.testing.profiles import hypothesis_home, profile
from mtus_dsl.testing.properties import (
    BUILTIN_PROPERTIES,
    BuiltinProperty,
    Context,
    Violation,
    attempt,
    check_stated,
    stated_fields,
    summary,
)
from mtus_dsl.testing.strategies import DECIDED, counterexample
from mtus_dsl.text import printable_lines


@attrs.frozen
class Counterexample:
    """The smallest case Hypothesis found that breaks a property, with the decision it gets now."""

    case: Mapping[str, Any]
    decision: Decision | None
    error: str | None
    message: str
    related: tuple[tuple[str, Mapping[str, Any], Decision | None, str | None], ...] = ()


@attrs.frozen
class Verdict:
    """What a check found: passed or not, what it tried (or what failed), and a counterexample if any."""

    passed: bool
    detail: str
    counterexample: Counterexample | None = None


@attrs.frozen(eq=False)
class Check:
    """One thing to test in one file: an example, a built-in property, or a property the file states."""

    file: str
    kind: str  # example | builtin | property
    name: str
    line: int
    judge: Callable[[], Verdict]
    #: The built-in properties of one file share one search; it runs the properties selected with this one.
    search: PropertySearch | None = None

    def run(self) -> CheckResult:
        """Run the check."""
        verdict = self.judge()
        return CheckResult(self, verdict.passed, verdict.detail, verdict.counterexample)


@attrs.frozen
class CheckResult:
    """How one check fared."""

    check: Check
    passed: bool
    detail: str
    counterexample: Counterexample | None = None


class Suite:
    """The checks of a compiled set of guidelines, grouped by file."""

    def __init__(self, schedule: Schedule, *, thorough: bool = False, settings_: settings | None = None):
        self.schedule = schedule
        self.program = schedule.program
        self.context = Context(schedule)
        self.context.strategies.solver = thorough  # the solver's aimed cases: worth their time in a thorough run
        self.settings = settings_ or profile(thorough)
        #: Set to record every case the checks decide (`mtus test --coverage`).
        self.coverage: Coverage | None = None

    def files(self) -> list[str]:
        """The guideline files compiled (not the prelude)."""
        return [path for path in self.program.sources if path != PRELUDE_NAME]

    def checks(self, file: str) -> list[Check]:
        """Every check of one file: its examples, the built-in properties if it has rules, its own properties."""
        out: list[Check] = []
        for example in self.program.examples:
            if example.origin.path == file:
                name = f"example: {example.title}"
                out.append(Check(file, "example", name, example.origin.line, self._example(example)))
        rules = [r for r in self.program.rules if r.origin.path == file]
        if rules:
            line = min(r.origin.line for r in rules)
            search = PropertySearch(self, [r.name for r in rules])
            for prop in BUILTIN_PROPERTIES:
                judge = functools.partial(search.verdict, prop.name)
                out.append(Check(file, "builtin", f"{prop.name}: {prop.title}", line, judge, search))
        for stated in self.program.properties:
            if stated.origin.path == file:
                name = f"property {stated.name}: {stated.description}"
                out.append(Check(file, "property", name, stated.origin.line, self._stated(stated)))
        return out

    def run(self, file: str) -> list[CheckResult]:
        """Run every check of one file."""
        return run_checks(self.checks(file))

    # --- the three kinds of check ----------------------------------------------------------
    def _example(self, example: ir.ExampleInfo) -> Callable[[], Verdict]:
        def judge() -> Verdict:
            if self.coverage is not None:
                self.coverage.record(example.case)
            results = [
                check_example(example, self.schedule.decide, "compiled"),
                check_example(example, self.schedule.interpret, "interpreter"),
            ]
            failures = [f"{r.backend}: {r.failure}" for r in results if not r.passed]
            return Verdict(not failures, "; ".join(failures) or "compiled and interpreted")

        return judge

    def _stated(self, stated: ir.PropertyInfo) -> Callable[[], Verdict]:
        def body(data: dict[str, Any], more: st.DataObject) -> bool:
            return check_stated(self.context, stated, data)

        fields = stated_fields(stated, self.program.schema)
        # Aim at the rules that may decide the cases it is about: those of the services it names.
        services = fields.get("service")
        named = {services} if isinstance(services, str) else set(getattr(services, "elements", ()))
        rules = [r.name for r in self.program.rules if named & set(r.services)] or None
        strategy = self.context.strategies.case_data(rules=rules, fields=fields)
        def run() -> Verdict:
            verdict = self._search(strategy, body, must_check=True)
            if not verdict.passed:
                return verdict  # found by the generated cases, and shrunk
            # The solver's case that breaks it, where random cases missed a corner (CRPS and one service).
            found = counterexample(self.program, stated)
            if found is None:
                return verdict
            again = self._search(st.just(found), body)
            return verdict if again.passed else again

        return run

    # --- searching for counterexamples -----------------------------------------------------
    def _search(
        self,
        strategy: st.SearchStrategy[dict[str, Any]],
        body: Callable[[dict[str, Any], st.DataObject], bool],
        must_check: bool = False,
    ) -> Verdict:
        failures: list[tuple[dict[str, Any], Exception]] = []
        counts = {"cases": 0, "checked": 0}

        @self.settings
        @given(data=strategy, more=st.data())
        def search(data: dict[str, Any], more: st.DataObject) -> None:
            counts["cases"] += 1
            if self.coverage is not None:
                self.coverage.record(data)
            try:
                if body(data, more):
                    counts["checked"] += 1
            except HypothesisException:
                raise
            except Exception as error:
                failures.append((data, error))
                raise

        try:
            search()
        except Unsatisfiable:
            return Verdict(False, "no generated case could be decided (see totality)")
        except Exception as error:
            if not failures:
                return Verdict(False, f"the search failed: {type(error).__name__}: {error}")
            # Hypothesis replays the shrunk case last: the last failure is the smallest one.
            data, found = failures[-1]
            return Verdict(False, _message(found), self._counterexample(data, found))
        if must_check and counts["checked"] == 0:
            return Verdict(
                False,
                f"none of {counts['cases']} generated cases met its 'for' lines with every 'expect' known: "
                "nothing was checked",
            )
        if must_check:
            return Verdict(True, f"{counts['checked']} cases it is about, of {counts['cases']} generated")
        return Verdict(True, f"{counts['checked']} cases")

    def _counterexample(self, data: dict[str, Any], error: Exception) -> Counterexample:
        decided = attempt(self.schedule.decide, data)
        decision = decided if isinstance(decided, Decision) else None
        failure = decided if isinstance(decided, str) else None
        related = []
        for label, case in getattr(error, "related", ()):
            other = attempt(self.schedule.decide, case)
            related.append(
                (label, case, other if isinstance(other, Decision) else None, other if isinstance(other, str) else None)
            )
        return Counterexample(dict(data), decision, failure, _message(error), tuple(related))


def _message(error: Exception) -> str:
    if isinstance(error, Violation):
        return error.message
    return f"the check itself failed: {type(error).__name__}: {error}"


class PropertySearch:
    """The built-in properties of one file, checked together: every generated case against each property.

    Generating a case costs more than checking it, so the properties share one search. A
    property that fails is searched for again on its own, so that its counterexample is
    shrunk for it; the others are searched for once more without it.
    """

    def __init__(self, suite: Suite, rules: Sequence[str]):
        self.suite = suite
        self.rules = tuple(rules)
        self.verdicts: dict[str, Verdict] = {}
        #: The properties to run when the first verdict is asked for (None: all).
        self.selected: set[str] | None = None

    def verdict(self, name: str) -> Verdict:
        """The verdict of one property, searching (with the other selected ones) on first use."""
        if name not in self.verdicts:
            wanted = ({name} | (self.selected or set())) if self.selected is not None else None
            pending = [p for p in BUILTIN_PROPERTIES if wanted is None or p.name in wanted]
            self._run([p for p in pending if p.name not in self.verdicts])
        return self.verdicts[name]

    def _run(self, pending: list[BuiltinProperty]) -> None:
        context = self.suite.context
        # Each case leaves inputs out with the chance one of the properties asks for, so each gets its cases.
        chances = sorted({p.unknown for p in pending})
        strategy = context.strategies.case_data(rules=self.rules, unknown=chances)
        while pending:
            counts = {p.name: 0 for p in pending}
            for prop in pending:
                context.unchecked.pop(prop.name, None)
            failed: list[BuiltinProperty] = []

            def body(
                data: dict[str, Any],
                more: st.DataObject,
                pending: list[BuiltinProperty] = pending,
                counts: dict[str, int] = counts,
                failed: list[BuiltinProperty] = failed,
            ) -> bool:
                context.forget()
                for prop in pending:
                    try:
                        prop.check(context, data, more)
                    except UnsatisfiedAssumption:
                        continue  # not a case this property is about
                    except Exception:
                        failed[:] = [prop]
                        raise
                    counts[prop.name] += 1
                return True

            verdict = self.suite._search(strategy, body)
            if verdict.passed or not failed:
                for prop in pending:
                    self.verdicts[prop.name] = (_tally(prop, counts[prop.name], context.unchecked.get(prop.name, {}))
                                                if verdict.passed else verdict)
                return
            self.verdicts[failed[0].name] = verdict
            pending = [p for p in pending if p is not failed[0]]


def _tally(prop: BuiltinProperty, checked: int, unchecked: Mapping[str, int]) -> Verdict:
    """A property that held on every case it checked passed, unless it checked none and must check some."""
    if checked == 0 and not prop.may_be_vacuous:
        return Verdict(False, "no generated case was one it checks (none decided? see totality): nothing was checked")
    # Say how many generated cases it had to leave unchecked, and why: a pass is over the cases counted.
    left = "".join(f"; {count} {why}, not checked" for why, count in sorted(unchecked.items()))
    return Verdict(True, f"{checked} cases{left}")


def run_checks(checks: Sequence[Check]) -> list[CheckResult]:
    """Run checks; the built-in properties among them share one search per file (the unselected ones are skipped)."""
    for check in checks:
        if check.search is not None:
            check.search.selected = {c.name.split(":")[0] for c in checks if c.search is check.search}
    return [check.run() for check in checks]


# --- reports -------------------------------------------------------------------------------------

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def mtus_value(value: Any) -> str:
    """Write a JSON case value as an .mtus example value."""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if (_NAME.fullmatch(value) and value not in KEYWORDS) or _DATE.fullmatch(value):
            return value
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(mtus_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {mtus_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def read_inputs(program: ir.Program, service: Any, region: Any) -> set[str]:
    """The inputs the rules for a service and body region read, through facts and other rules."""
    rules, caps = dict(program.dispatch).get((service, region), ((), ()))
    exprs: list[ir.Expr | None] = []
    for name in (*rules, *caps):
        rule = program.rule(name)
        exprs += [*rule.when, *rule.unless, *ir.operands(rule.action)]
    return inputs_read(program, exprs)


def example_block(
    title: str, case: Mapping[str, Any], decision: Decision | None, error: str | None, program: ir.Program
) -> str:
    """Write a case as an `example` block stating the decision it gets now, ready to paste into a .mtus file.

    It gives every input the case gives, and `unknown` for every other input the rules for its
    service and body region read (so a section's `example defaults` cannot fill them in).
    """
    lines = [f"example {json.dumps(title)}:"]
    read = read_inputs(program, case.get("service"), case.get("body_region"))
    for spec in program.schema.inputs:
        value = case.get(spec.name)
        if value is not None:
            lines.append(f"    {spec.name}: {mtus_value(value)}")
        elif spec.name in read:
            lines.append(f"    {spec.name}: unknown")
    if decision is None:
        lines.append(f"    # deciding this case fails ({error}); state the decision it should get")
        lines.append("    expect not_addressed")
        return "\n".join(lines)
    lines.append("    # the decision it gets now: change this line to the decision it should get")
    expect = f"    expect {decision.outcome.value}"
    if decision.outcome.value in DECIDED:
        expect += f" {decision.approved}"
    if decision.rules:
        expect += " by " + ", ".join(decision.rules)
    if decision.missing:
        expect += " missing " + ", ".join(decision.missing)
    lines.append(expect)
    return "\n".join(lines)


def render_result(result: CheckResult, program: ir.Program, indent: str = "  ") -> str:
    """Render one result: a line, and for a failure its message and counterexample (JSON and example block)."""
    mark = "ok  " if result.passed else "FAIL"
    if result.passed:
        return f"{indent}{mark}  {result.check.name} ({result.detail})"
    lines = [f"{indent}{mark}  {result.check.name}"]
    more = indent + "      "
    lines.append(f"{more}{result.detail}")
    lines.append(f"{more}at {result.check.file}:{result.check.line}")
    found = result.counterexample
    if found is None:
        return "\n".join(lines)
    shown = summary(found.decision) if found.decision else found.error
    if found.decision is not None and found.decision.rules:
        where = ", ".join(f"{name} at {_located(program, name)}" for name in found.decision.rules)
        lines.append(f"{more}decided by {where}")
    lines.append(f"{more}counterexample (decided: {shown}):")
    lines.append(_indented(json.dumps(found.case, indent=None), more + "  "))
    lines.append(f"{more}as an example block:")
    title = f"{result.check.name.split(':')[0]}: counterexample"
    lines.append(_indented(example_block(title, found.case, found.decision, found.error, program), more + "  "))
    for label, case, decision, error in found.related:
        lines.append(f"{more}{label} (decided: {summary(decision) if decision else error}):")
        lines.append(_indented(json.dumps(case, indent=None), more + "  "))
        lines.append(_indented(example_block(label, case, decision, error, program), more + "  "))
    return "\n".join(lines)


def _located(program: ir.Program, rule: str) -> str:
    """Where a rule is declared: path:line."""
    origin = program.rule(rule).origin
    return f"{origin.path}:{origin.line}"


def _indented(text: str, indent: str) -> str:
    return "\n".join(indent + line if line else line for line in text.split("\n"))


# --- `mtus test` ---------------------------------------------------------------------------------

#: The exit status when `-k` selects no check (as pytest's "no tests collected").
EXIT_NOTHING_SELECTED = 5


def run_command(
    paths: Sequence[str],
    *,
    thorough: bool,
    out: Callable[[str], None],
    err: Callable[[str], None],
    select: str | None = None,
    progress: Callable[[str], None] | None = None,
    as_json: bool = False,
    junit_xml: str | None = None,
    coverage: bool = False,
    fail_under: float | None = None,
) -> int:
    """Compile `paths`, run every file's checks (those whose name holds `select`), print results.

    Return the exit status: 0 when every check passed; 1 when a check failed, the files have
    errors, or rule coverage is under `fail_under`; 5 when `select` matches no check.
    `progress` is told each check before it runs; `as_json` prints the results as one JSON
    object instead of text; `junit_xml` also writes them as a JUnit XML file.
    """
    started = time.monotonic()
    hypothesis_home()
    compilation = compile_paths(paths)
    if compilation.program is None:
        err(render_all(compilation.diagnostics, compilation.sources))
        errors = sum(d.is_error for d in compilation.diagnostics)
        err(f"error: the guidelines have {errors} error(s); nothing was tested")
        return 1
    schedule = Schedule(compilation)
    suite = Suite(schedule, thorough=thorough)
    if coverage or fail_under is not None:
        suite.coverage = Coverage(schedule)
    def text(line: str) -> None:
        if as_json:
            return
        if progress is not None:
            progress("")  # clear the progress line before a result line
        # Titles, details and values come from the .mtus files and the cases: a control character in one
        # would act on the terminal, or forge a line of the report.
        out(printable_lines(line.split("\n")))

    plan = [(file, suite.checks(file)) for file in suite.files()]
    chosen = [(file, [c for c in checks if select is None or select in c.name]) for file, checks in plan]
    total = sum(len(checks) for _, checks in chosen)
    if total == 0:
        err(f"error: no check's name contains {select!r}; nothing was tested (names: 'example: TITLE', "
            "'monotonicity: ...', 'property NAME: ...'; see mtus test --help)" if select is not None
            else "error: these files hold no examples, rules or properties: nothing was tested")
        return EXIT_NOTHING_SELECTED
    results: list[CheckResult] = []
    done = 0
    for file, checks in chosen:
        if select is not None and not checks:
            continue
        text(file)
        if not checks:
            text("  (no examples, rules or properties here to test)")
        for check in checks:
            if check.search is not None:
                check.search.selected = {c.name.split(":")[0] for c in checks if c.search is check.search}
        mine = []
        for check in checks:
            done += 1
            if progress is not None:
                progress(f"[{done}/{total}] {file}: {check.name.split(':')[0]}")
            mine.append(check.run())
        results += mine
        examples = [r for r in mine if r.check.kind == "example"]
        if examples and all(r.passed for r in examples):
            text(f"  ok    {len(examples)} example(s), each decided as stated by compiled code and interpreter")
        for result in mine:
            if result.check.kind != "example" or not all(r.passed for r in examples):
                text(render_result(result, schedule.program))
    seconds = time.monotonic() - started
    which = "thorough" if thorough else "ci"
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    status = 1 if failed else 0
    report = suite.coverage
    if report is not None and coverage:
        text(render_coverage(report))
    if report is not None and fail_under is not None and report.percent() < fail_under:
        err(f"error: {report.percent():.1f}% of rules and caps were exercised, under --fail-under {fail_under:g}")
        status = 1
    text(f"{passed} passed, {failed} failed ({which} profile, {seconds:.1f}s)")
    if junit_xml is not None:
        write_junit(junit_xml, results, schedule.program, seconds)
    if as_json:
        out(json.dumps(results_json(results, schedule.program, which, seconds, report if coverage else None), indent=2))
    return status


def results_json(
    results: Sequence[CheckResult], program: ir.Program, which: str, seconds: float, coverage: Coverage | None
) -> dict[str, Any]:
    """The results of a run as JSON-ready data (what `mtus test --json` prints)."""
    checks = []
    for result in results:
        entry: dict[str, Any] = {
            "file": result.check.file,
            "line": result.check.line,
            "kind": result.check.kind,
            "name": result.check.name,
            "passed": result.passed,
            "detail": result.detail,
        }
        found = result.counterexample
        if found is not None:
            entry["counterexample"] = {
                "case": dict(found.case),
                "decision": found.decision.to_dict() if found.decision is not None else None,
                "error": found.error,
                "related": [{"label": label, "case": dict(case)} for label, case, _, _ in found.related],
            }
        checks.append(entry)
    passed = sum(r.passed for r in results)
    data: dict[str, Any] = {
        "profile": which,
        "seconds": round(seconds, 3),
        "passed": passed,
        "failed": len(results) - passed,
        "checks": checks,
    }
    if coverage is not None:
        data["coverage"] = {
            "percent": round(coverage.percent(), 1),
            "cases": coverage.cases,
            "sections": [s.to_json() for s in coverage.sections()],
        }
    return data


#: The characters XML 1.0 cannot hold: its Char production leaves out the C0 controls but tab, newline and
#: carriage return, the surrogates and U+FFFE, U+FFFF. A title may hold them (a .mtus string can), and a
#: parser refuses the whole file over one, even written as a character reference (&#1;).
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """Write each character XML 1.0 cannot hold as a visible escape (\\x01), keeping every other character."""
    return _NOT_XML.sub(lambda found: ascii(found.group())[1:-1], text)


def write_junit(path: str, results: Sequence[CheckResult], program: ir.Program, seconds: float) -> None:
    """Write the results as JUnit XML: one testsuite per file, one testcase per check, a failure element each."""
    root = ElementTree.Element("testsuites", name="mtus test", time=f"{seconds:.3f}")
    by_file: dict[str, list[CheckResult]] = {}
    for result in results:
        by_file.setdefault(result.check.file, []).append(result)
    for file, mine in by_file.items():
        failures = sum(not r.passed for r in mine)
        suite = ElementTree.SubElement(
            root, "testsuite", name=file, tests=str(len(mine)), failures=str(failures), errors="0", skipped="0"
        )
        for result in mine:
            case = ElementTree.SubElement(
                suite, "testcase", classname=file, name=result.check.name, file=file, line=str(result.check.line)
            )
            if not result.passed:
                failure = ElementTree.SubElement(case, "failure", message=result.detail, type=result.check.kind)
                failure.text = render_result(result, program, indent="")
    root.set("tests", str(len(results)))
    root.set("failures", str(sum(not r.passed for r in results)))
    # Every text written (names, messages, paths, counterexamples) is made one XML can hold: well-formed always.
    for element in root.iter():
        element.attrib = {name: xml_text(value) for name, value in element.attrib.items()}
        if element.text is not None:
            element.text = xml_text(element.text)
    ElementTree.indent(root)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
