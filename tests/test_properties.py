"""`mtus test`: each built-in property catches a guideline (or a backend) that breaks it, with a shrunk case."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import mtus_dsl
from mtus_dsl import runtime as rt
from mtus_dsl.cli import main
from mtus_dsl.compiler import check_rules, codegen, interpreter, ir
from mtus_dsl.decision import Citation
from mtus_dsl.testing import boundaries, case_data, cases, profile

from .conftest import ROOT

# A small, self-contained guideline: one edition, one section, physical therapy only.
HEADER = """\
guideline toy "Toy Guidelines" edition "1":
    in force from 2000-01-01

section toy "Toy section" pages 7:
    services physical_therapy
    unit visits
"""


def _write(tmp_path, rules: str, name: str = "toy.mtus"):
    path = tmp_path / name
    path.write_text(HEADER + textwrap.indent(textwrap.dedent(rules), "    "))
    return path


def _mtus_test(*args: str):
    result = CliRunner().invoke(main, ["test", *args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _failure(output: str, prop: str) -> str:
    """The report of one failed property: from its FAIL line to the next result line."""
    match = re.search(rf"^  FAIL  {prop}:.*?(?=^  (?:ok  |FAIL)|^\d+ passed)", output, re.S | re.M)
    assert match, f"{prop} did not fail:\n{output}"
    return match.group(0)


def _counterexample(report: str) -> dict:
    """The case JSON printed under 'counterexample'."""
    line = report.split("counterexample (decided:", 1)[1].split("\n")[1]
    return json.loads(line)


# --- properties a guideline can break -----------------------------------------------------------


def test_monotonicity_catches_a_rule_that_certifies_12_but_not_11(tmp_path):
    """A rule certifying exactly 12 visits, and non-certifying any other number, fails monotonicity at 12."""
    path = _write(
        tmp_path,
        """
        twelve: certify when quantity = 12
        other: non_certify when quantity != 12
        """,
    )
    result = _mtus_test(str(path), "-k", "monotonicity")
    assert result.exit_code == 1
    report = _failure(result.output, "monotonicity")
    assert "gives a stricter outcome" in report
    case = _counterexample(report)
    assert case["quantity"] == 12
    # Shrunk: only the fields a case must give.
    assert set(case) == {"request_date", "service", "body_region", "quantity"}
    assert 'example "monotonicity: counterexample":' in report
    assert "expect certify 12 by twelve" in report
    assert "expect non_certify 0 by other" in report


def test_totality_catches_a_division_by_zero(tmp_path):
    """A limit divided by prior visits fails on the case with none, and the example block says so."""
    path = _write(tmp_path, "split: max_visits 10 / prior_visits rounded down\n")
    result = _mtus_test(str(path), "-k", "totality")
    assert result.exit_code == 1
    report = _failure(result.output, "totality")
    assert "rule 'split' failed on this case: division by zero" in report
    # Shrunk: prior visits 0, or absent where no other value is possible (they never exceed the visits in all
    # regions, and the case gives none there): either way the rule divides by zero.
    case = _counterexample(report)
    assert case.get("prior_visits", 0) == 0
    assert "prior_visits" in case or case.get("prior_visits_all_regions") == 0
    assert "# deciding this case fails" in report


def test_totality_catches_two_rules_deciding_one_case(tmp_path):
    """Two rules that both govern large requests (a clash the compile-time search can miss) fail totality."""
    path = _write(
        tmp_path,
        """
        large: certify when quantity > 20
        huge: non_certify when quantity > 30
        """,
    )
    compilation = mtus_dsl.compiler.compile_paths([path])
    if compilation.program is None:  # the compiler's own search found it: nothing left for mtus test
        assert any(d.code == "E107" for d in compilation.diagnostics)
        return
    result = _mtus_test(str(path), "-k", "totality")
    report = _failure(result.output, "totality")
    assert "both govern" in report
    assert _counterexample(report)["quantity"] == 31


def test_modify_exact_catches_a_limit_that_moves_with_the_request(tmp_path):
    """A limit of `quantity - 1` modifies to N-1, yet asking for N-1 gets less: modify is not exact."""
    path = _write(tmp_path, "shifty: max_visits quantity - 1\n")
    result = _mtus_test(str(path), "-k", "modify_exact")
    report = _failure(result.output, "modify_exact")
    assert "but asking for exactly 1 gives non_certify 0 of 1" in report
    assert _counterexample(report)["quantity"] == 2


def test_a_stated_property_is_checked_and_its_counterexample_pastes_back(tmp_path):
    """An author's property that does not hold fails; its example block, pasted back, is a passing example."""
    path = _write(
        tmp_path,
        """
        general: max_visits 10
        """,
    )
    props = tmp_path / "props.mtus"
    props.write_text(
        'property at_most_nine "never more than nine visits":\n'
        "    for service = physical_therapy\n"
        "    expect approved <= 9\n"
    )
    result = _mtus_test(str(path), str(props), "-k", "property")
    assert result.exit_code == 1
    report = _failure(result.output, "property at_most_nine")
    assert "'expect approved <= 9' does not hold" in report
    assert _counterexample(report)["quantity"] == 10
    block = report.split("as an example block:\n", 1)[1]
    block = textwrap.dedent("\n".join(line for line in block.split("\n") if line.startswith(" " * 10)))
    props.write_text(props.read_text() + "\n" + block + "\n")
    again = _mtus_test(str(path), str(props), "-k", "example")
    assert "ok    1 example(s)" in again.output, again.output


def test_a_property_about_no_case_fails(tmp_path):
    """A property whose `for` lines no generated case meets fails rather than passing vacuously."""
    path = _write(tmp_path, "general: max_visits 10\n")
    props = tmp_path / "props.mtus"
    props.write_text('property never "about nothing":\n    for quantity > 1000\n    expect approved = 0\n')
    result = _mtus_test(str(path), str(props), "-k", "property")
    assert "nothing was checked" in _failure(result.output, "property never")


# --- properties the engine guarantees: broken backends -------------------------------------------
# No guideline can break these: the compiler and the decision engine enforce them. Each test
# breaks the backend on purpose (monkeypatch) and shows `mtus test` catches it.


def test_agreement_catches_compiled_code_that_differs(tmp_path, monkeypatch):
    """Compiled code with an off-by-one comparison disagrees with the interpreter at the boundary."""
    def off_by_one(program, sources=None):
        # Only the guard's comparison (`prior_visits <= 5`), not the clause's text the trace quotes.
        return original(program, sources).replace("_cmp('<=', ", "_cmp('<', ").replace("_t1 <= 5", "_t1 < 5")

    original = codegen.generate
    monkeypatch.setenv("MTUS_DSL_CACHE", "off")  # a broken compiler's work must not be cached
    monkeypatch.setattr(codegen, "generate", off_by_one)
    path = _write(
        tmp_path,
        """
        few: max_visits 10 when prior_visits <= 5
        many: non_certify when prior_visits > 5
        """,
    )
    result = _mtus_test(str(path), "-k", "agreement")
    report = _failure(result.output, "agreement")
    assert _counterexample(report)["prior_visits"] == 5


def test_exceptions_catches_an_engine_that_ignores_unless(tmp_path, monkeypatch):
    """A backend that lets an excepted rule apply is caught: its `unless` holds and it still decides."""
    original = interpreter.Interpreter._guard

    def ignore_exceptions(self, rule):
        return original(self, attrs.evolve(rule, unless=()))

    # The broken backend: the interpreter, checking rules without their `unless` clauses.
    monkeypatch.setattr(interpreter.Interpreter, "_guard", ignore_exceptions)
    monkeypatch.setattr(mtus_dsl.Schedule, "decide", mtus_dsl.Schedule.interpret)
    path = _write(tmp_path, "general: max_visits 10 unless functional_improvement\n")
    result = _mtus_test(str(path), "-k", "exceptions")
    report = _failure(result.output, "exceptions")
    assert "although its exception holds: excepted: 'functional_improvement' holds" in report
    assert _counterexample(report)["functional_improvement"] is True


def test_citations_catches_rules_that_lose_their_pages(tmp_path, monkeypatch):
    """Decisions citing no page or subsection (a checker that let one through) are caught."""

    def pageless(document, edition, section, pages=None, subsection=None, regulation=None):
        return Citation(document, edition, section, None, None, regulation)

    monkeypatch.setattr(check_rules, "Citation", pageless)
    # A text no other test compiles: a compilation kept from another test would have its pages.
    path = _write(tmp_path, "pageless: max_visits 10\n")
    report = _failure(_mtus_test(str(path), "-k", "citations").output, "citations")
    assert "without page or subsection" in report


def test_needs_information_catches_unknown_read_as_false(tmp_path, monkeypatch):
    """An engine that reads `unknown and x` as false decides without a fact it depends on."""

    def and_rest(left, right):
        return right if left is True else False

    monkeypatch.setattr(rt, "and_rest", and_rest)
    # Inside an `or`, so the `and` is one operation (a top-level `when a and b` is tested a part at a time).
    path = _write(tmp_path, "general: max_visits 10 when (functional_improvement and prior_visits < 5) or quantity > 900\n")
    report = _failure(_mtus_test(str(path), "-k", "needs_information").output, "needs_information")
    assert re.search(r"does not say it needs [a-z_, ]*functional_improvement", report)
    assert "functional_improvement" not in _counterexample(report)


# --- the corpus, and the strategies ---------------------------------------------------------------


def test_corpus_passes_mtus_test():
    """`mtus test guidelines/` runs every file's examples and properties and passes."""
    result = _mtus_test(str(ROOT / "guidelines"))
    assert result.exit_code == 0, result.output
    assert "guidelines/properties.mtus" in result.output.replace("\\", "/")
    assert ", 0 failed (ci profile" in result.output


def test_pytest_collects_mtus_files_with_readable_names(tmp_path):
    """`pytest DIR` collects each .mtus file's examples and properties as named items, and runs them."""
    _write(tmp_path, "general: max_visits 10\nexample \"ten\":\n    request_date: 2015-01-01\n"
           "    service: physical_therapy\n    body_region: knee\n    quantity: 10\n"
           "    prior_visits: 0\n    expect certify 10 by general\n")
    command = [sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
    collected = subprocess.run([*command, "--collect-only"], capture_output=True, text=True, cwd=tmp_path)
    names = [line for line in collected.stdout.splitlines() if "::" in line]
    assert "toy.mtus::example: ten" in names
    assert "toy.mtus::monotonicity: asking for fewer units never gives a stricter outcome" in names
    assert len(names) == len(set(names)) == 9
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "9 passed" in run.stdout


def test_pytest_reports_a_failing_property_with_its_counterexample(tmp_path):
    """A failing .mtus item shows the counterexample and example block, not a traceback."""
    _write(tmp_path, "twelve: certify when quantity = 12\nother: non_certify when quantity != 12\n")
    command = [sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
               "-k", "monotonicity"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1
    assert '"quantity": 12' in run.stdout
    assert "expect certify 12 by twelve" in run.stdout
    assert "Traceback" not in run.stdout


def test_boundaries_come_from_the_rules(corpus):
    """Limits, dates and periods are read from the program: the corpus's numbers are not in Python."""
    found = boundaries(corpus.program)
    limits = {r.action.amount.value for r in corpus.program.rules
              if isinstance(r.action, ir.Limit) and isinstance(r.action.amount, ir.Const)}
    assert limits <= set(found.integers)
    editions = {d for g in corpus.program.guidelines for d in (g.in_force_from, g.in_force_to) if d}
    assert editions == set(found.editions)
    assert found.periods and found.codes and found.rows


@settings(parent=profile(), max_examples=50)
@given(data=st.data())
def test_generated_cases_are_valid_and_respect_fixed_fields(corpus, data):
    """Every generated case validates; fixed fields keep their values; None leaves a field out."""
    case = data.draw(case_data(corpus, service="massage", prior_visits=None, quantity=st.integers(1, 3)))
    assert case["service"] == "massage" and "prior_visits" not in case and 1 <= case["quantity"] <= 3
    corpus.case(case)


def test_from_type_draws_cases_for_the_shipped_corpus():
    """`st.from_type(Case)` works in a user's own tests through Hypothesis's entry point."""
    found = []

    @settings(parent=profile(), max_examples=10)
    @given(st.from_type(mtus_dsl.Case))
    def draw(case):
        found.append(case)

    draw()
    assert found and all(isinstance(c, mtus_dsl.Case) for c in found)


def test_cases_rejects_unknown_fields(corpus):
    """Fixing a field the case format does not have is an error naming it."""
    with pytest.raises(ValueError, match="unknown case field 'servce'; did you mean 'service'"):
        cases(corpus, servce="massage")


def test_a_cap_that_cannot_bind_asks_for_nothing(tmp_path):
    """Found by the needs_information property: a cap that may apply asked for its facts although a cap that
    surely applies already held the request lower; the engine now settles the sure caps first."""
    path = _write(
        tmp_path,
        """
        general: max_visits 10
        cap maybe: max_visits 8 counting 0
            when functional_improvement
        cap surely: max_visits 5 counting 0
        """,
    )
    schedule = mtus_dsl.load([path])
    case = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 9,
            "prior_visits": 0}
    for decide in (schedule.decide, schedule.interpret):
        decision = decide(case)
        assert (decision.outcome.value, decision.approved, decision.rules) == ("modify", 5, ("general", "surely"))
    # With the surely-applying cap above the maybe-cap's allowance, the facts are asked for again.
    looser = mtus_dsl.loads({"toy.mtus": path.read_text().replace("max_visits 5", "max_visits 9")})
    assert looser.decide(case).missing == ("functional_improvement",)
    assert _mtus_test(str(path), "-k", "needs_information").exit_code == 0


def test_mtus_test_reports_compile_errors(tmp_path):
    """Files that do not compile print their diagnostics, test nothing, and exit 1."""
    bad = tmp_path / "bad.mtus"
    bad.write_text(HEADER + "    r: max_visit 10\n")
    result = _mtus_test(str(bad))
    assert result.exit_code == 1
    assert "error[E002]" in result.output and "nothing was tested" in result.output


def test_the_projects_own_pytest_collects_no_mtus_items():
    """`python -m pytest` (testpaths = tests) collects the Python tests once each and no .mtus file."""
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    items = [line for line in run.stdout.splitlines() if "::" in line]
    assert items and not [i for i in items if ".mtus::" in i]
    assert len(items) == len(set(items))
