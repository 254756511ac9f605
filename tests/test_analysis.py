"""Exact analysis (analysis.py on solver.py): conflicts, dead rules and exceptions, witnesses made of inputs.

The three cases of issue 10 (named facts splitting a score, a six-week window,
two overlapping windows) give clean, clean and an E107 whose witness, pasted
into the file, decides as its `expect` line says.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import mtus_dsl
from mtus_dsl.cli import main
from mtus_dsl.compiler import compile_paths, compile_sources
from mtus_dsl.examples import check_example

from .conftest import ROOT

HEAD = '''guideline demo "Demo Guidelines" edition "1":
    in force from 2020-01-01

input pain_score: integer 0..10 "pain on a 0 to 10 scale"
'''

NAMED_FACTS = HEAD + '''
fact severe: boolean = pain_score >= 7
fact mild: boolean = pain_score < 7

section massage "Massage" page 60:
    services massage
    heavy: max_visits 10 when severe
    light: max_visits 6 when mild
'''

SIX_WEEKS = HEAD + '''
section massage "Massage" page 60:
    services massage
    acute_phase: max_visits 8 when request_date <= injury_date + 6 weeks

    example "ten days after the injury":
        request_date: 2021-01-11
        injury_date: 2021-01-01
        service: massage
        body_region: knee
        quantity: 4
        prior_visits: 0
        expect certify 4 by acute_phase
'''

OVERLAP = HEAD + '''
section massage "Massage" page 60:
    services massage
    acute_phase: max_visits 8 when request_date <= injury_date + 6 weeks
    later_phase: max_visits 4 when request_date > injury_date + 1 month
'''


def _compile(text: str, name: str = "case.mtus") -> mtus_dsl.compiler.Compilation:
    return compile_sources({name: text}, use_cache=False)


def _codes(compilation: mtus_dsl.compiler.Compilation) -> list[str]:
    return [d.code for d in compilation.diagnostics]


def _pasted(note: str) -> str:
    """The `example` block a diagnostic's note shows, as it would be pasted."""
    return note[note.index("\nexample ") + 1:] + "\n"


def _decides_as_stated(compilation: mtus_dsl.compiler.Compilation) -> None:
    schedule = mtus_dsl.Schedule(compilation)
    assert schedule.program.examples
    for example in schedule.program.examples:
        for backend, decide in (("compiled", schedule.decide), ("interpreter", schedule.interpret)):
            result = check_example(example, decide, backend)
            assert result.passed, f"{example.title} ({backend}): {result.failure}"


def test_named_facts_that_split_a_score_do_not_conflict():
    """Facts stand for their definitions: `severe` and `mild` never hold together, so no E107."""
    assert _codes(_compile(NAMED_FACTS)) == []


def test_a_six_week_window_is_not_dead():
    """`request_date <= injury_date + 6 weeks` holds ten days after the injury: no W201, and the example passes."""
    compilation = _compile(SIX_WEEKS)
    assert _codes(compilation) == []
    _decides_as_stated(compilation)


def test_overlapping_windows_conflict_with_a_witness_that_pastes_and_decides():
    """Days 32 to 42 after the injury are in both windows: E107, whose example parses, and decides once one wins."""
    compilation = _compile(OVERLAP)
    assert _codes(compilation) == ["E107"]
    (diagnostic,) = compilation.diagnostics
    example = _pasted(diagnostic.notes[1])
    assert example.startswith('example "both \'acute_phase\' and \'later_phase\' apply":')
    fields = dict(re.findall(r"^    (\w+): (.*)$", example, re.M))
    assert set(fields) <= {"request_date", "service", "body_region", "quantity", "injury_date", "prior_visits"}
    assert "expect certify 1 by later_phase" in example
    # Pasted as it is, the clash is still there; with the rule said to win, the example decides as stated.
    assert _codes(_compile(OVERLAP + "\n" + example)) == ["E107"]
    resolved = OVERLAP.replace("request_date > injury_date + 1 month",
                               "request_date > injury_date + 1 month\n        overrides acute_phase")
    pasted = _compile(resolved + "\n" + example)
    assert _codes(pasted) == []
    _decides_as_stated(pasted)


def test_month_ends_move_as_the_calendar_does():
    """`+ 1 month` from January 31 is February 28 (or 29): the solver finds a clash only the calendar allows."""
    text = HEAD + '''
section massage "Massage" page 60:
    services massage
    early: max_visits 8 when request_date <= injury_date + 1 month and injury_date = 2021-01-31
    late: max_visits 4 when request_date >= 2021-02-28 and request_date <= 2021-03-01
'''
    compilation = _compile(text)
    assert _codes(compilation) == ["E107"]
    assert "request_date: 2021-02-28" in compilation.diagnostics[0].notes[1]
    clear = text.replace("request_date >= 2021-02-28", "request_date >= 2021-03-01")
    assert _codes(_compile(clear)) == []


def test_a_rule_dead_through_its_facts_is_reported():
    """W201 follows facts to their definitions: `severe and pain_score < 3` never holds."""
    text = HEAD + '''
fact severe: boolean = pain_score >= 7

section massage "Massage" page 60:
    services massage
    odd: max_visits 10 when severe and pain_score < 3
'''
    compilation = _compile(text)
    assert _codes(compilation) == ["W201"]
    assert len(compilation.diagnostics[0].notes) == 1  # proved, not searched


def test_an_exception_that_never_holds_is_reported():
    """W202: `unless` a condition the rule's own `when` rules out."""
    text = HEAD + '''
section massage "Massage" page 60:
    services massage
    severe: max_visits 10 when pain_score >= 7 unless pain_score < 5
    mild: max_visits 6 when pain_score < 7 unless pain_score < 2
'''
    compilation = _compile(text)
    assert _codes(compilation) == ["W202"]
    assert "'severe'" in compilation.diagnostics[0].message


def test_code_sets_and_surgeries_are_encoded():
    """A conflict that needs a diagnosis code and a recent surgery is found, with a witness of inputs."""
    text = HEAD + '''
condition myalgia "myalgia":
    icd9 729.1
    icd10 M79.1*

fact post_op: boolean = any s in surgeries where (s.body_region = body_region and request_date <= s.date + 3 months)

section massage "Massage" page 60:
    services massage
    regions knee
    general: max_visits 6 unless myalgia in conditions or post_op
    post_op_myalgia: max_visits 10 when post_op and myalgia in conditions
    after_surgery: max_visits 8 when post_op
'''
    compilation = _compile(text)
    assert _codes(compilation) == ["E107"]
    note = compilation.diagnostics[0].notes[1]
    assert "'post_op_myalgia' and 'after_surgery'" in note or "'after_surgery' and 'post_op_myalgia'" in note
    example = _pasted(note)
    assert "surgeries: [{procedure:" in example and "body_region: knee" in example
    assert re.search(r'diagnoses: \["?(729\.1|M79\.1\w*)', example)


def test_a_second_document_beside_the_corpus_gets_witnesses_of_inputs_only():
    """An ODG-style file beside the corpus: each E107's example names inputs only, never a derived fact."""
    odg = '''guideline odg "Official Disability Guidelines" edition "2015":
    in force from 2015-01-01

section odg_knee "Knee and Leg" page 12:
    services physical_therapy
    regions knee
    odg_postsurgical: max_visits 12 when post_surgical and general_course exists
    odg_general: max_visits 9 unless post_surgical
'''
    corpus = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
              for path in sorted((ROOT / "guidelines").rglob("*.mtus"))}
    compilation = compile_sources({**corpus, "odg.mtus": odg}, use_cache=False)
    conflicts = [d for d in compilation.diagnostics if d.code == "E107"]
    assert conflicts
    program_inputs = {"request_date", "service", "body_region", "quantity", "diagnoses", "condition", "prior_visits",
                      "prior_visits_all_regions", "surgeries", "functional_improvement", "injury_date"}
    inputs = program_inputs | set(re.findall(r"^input (\w+):", "\n".join(corpus.values()), re.M))
    facts = set(re.findall(r"^fact (\w+):", "\n".join(corpus.values()), re.M))
    for diagnostic in conflicts:
        example = _pasted(diagnostic.notes[1])
        fields = set(re.findall(r"^    (\w+): ", example, re.M))
        assert fields <= inputs and not fields & facts, (fields - inputs, diagnostic.message)


def test_what_the_solver_cannot_express_falls_back_and_says_so():
    """Durations compared with `=`: the bounded search decides, and the note says it did."""
    text = HEAD + '''
fact period: duration = 6 months

section massage "Massage" page 60:
    services massage
    general: max_visits 6
    long: max_visits 10 when period = 6 months
'''
    compilation = _compile(text)
    assert _codes(compilation) == ["E107"]
    assert "found by the bounded search: the solver cannot express" in compilation.diagnostics[0].notes[1]


def test_the_shipped_corpus_checks_clean():
    """The corpus has no conflict, no dead rule and no dead exception under the exact analysis."""
    compilation = compile_paths([ROOT / "guidelines"], use_cache=False)
    assert list(compilation.diagnostics) == []


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("    general: max_visits 1-2\n", "E118"),
        ("    general: max_visits 0\n", "E117"),
        ("    general: max_visits 6\n        subsection \"\"\n", "E116"),
    ],
)
def test_each_fault_fails_mtus_check(fault, code, tmp_path):
    """The faults of issue 10 that used to check clean now fail `mtus check` (exit status 1)."""
    text = HEAD + '\nsection massage "Massage" page 60:\n    services massage\n' + fault
    (tmp_path / "fault.mtus").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(tmp_path / "fault.mtus")])
    assert result.exit_code == 1 and f"error[{code}]" in result.output


def test_an_empty_edition_fails_mtus_check(tmp_path):
    """`edition ""` is E116."""
    (tmp_path / "fault.mtus").write_text(HEAD.replace('edition "1"', 'edition ""'), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(tmp_path / "fault.mtus")])
    assert result.exit_code == 1 and "error[E116]" in result.output


def test_gaps_are_reported_with_mtus_check_gaps(tmp_path, monkeypatch):
    """errors.md's W203 example: a pain score of 4 falls between two bands; --gaps shows it, plain check does not."""
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8").split("## W203", 1)[1].split("\n## ", 1)[0]
    source, shown = re.findall(r"```text\n(.*?)```", text, re.S)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example.mtus").write_text(source, encoding="utf-8")
    assert CliRunner().invoke(main, ["check", "example.mtus"]).output.endswith("0 warning(s)\n")
    result = CliRunner().invoke(main, ["check", "--gaps", "example.mtus"])
    assert result.exit_code == 0 and result.output == shown
    example = _pasted(result.output.split("= note: ", 1)[1].split("\nok: ")[0])
    pasted = _compile(source + "\n" + example)
    assert _codes(pasted) == []
    _decides_as_stated(pasted)


def test_z3_is_a_check_time_dependency_only():
    """`import mtus_dsl` and a warm load never import z3; compiled guideline modules never name it."""
    import subprocess
    import sys

    script = "import sys, mtus_dsl; mtus_dsl.load(); print('z3' in sys.modules)"
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)  # warms the cache
    warm = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert warm.stdout.strip() == "False"
    assert "z3" not in (mtus_dsl.load().python_source or "")
