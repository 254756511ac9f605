"""Generated code: debuggable in memory, safe against anything written in a .mtus file."""

from __future__ import annotations

import inspect
import traceback

import pytest

import mtus_dsl
from mtus_dsl import runtime as rt

NASTY = r'''
guideline g "Title \"\"\" + __import__('os').system('echo pwned') + \"\"\" \\ {quantity}" edition "1\n2":
    regulation "x'); import os; os._exit(3) #"
    in force from 2009-01-01

fact danger: boolean = quantity > 5 "doc \"\"\" with quotes"
    explain true "{{ not a placeholder }} \"\"\" \n__import__('os') {quantity}"

section class_ "Section # not a comment \n" pages 1:
    services physical_therapy
    lambda_: max_visits 10 when danger
        rationale "\"\"\"); __import__('os')._exit(4); (\"\"\" {requested} {unit}"
'''


def test_injection_attempts_stay_strings():
    """Quotes, backslashes, newlines and code inside strings and names reach decisions as plain text."""
    schedule = mtus_dsl.loads({"nasty.mtus": NASTY})
    compile(schedule.python_source, "nasty", "exec")
    case = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 12,
            "prior_visits": 0}
    decision = schedule.decide(case)
    assert decision == schedule.interpret(case)
    assert decision.approved == 10
    [citation] = decision.citations
    assert citation.document == "Title \"\"\" + __import__('os').system('echo pwned') + \"\"\" \\ {quantity}"
    assert citation.edition == "1\n2"
    assert citation.regulation == "x'); import os; os._exit(3) #"
    assert decision.rationale.startswith("\"\"\"); __import__('os')._exit(4); (\"\"\" 12 visits")
    assert "{ not a placeholder }" in decision.rationale


def test_generated_code_is_in_linecache(corpus):
    """inspect.getsource and tracebacks show the generated code of an in-memory module."""
    source = inspect.getsource(corpus.module.__dict__["_check_neuritis"])
    assert source.startswith("def _check_neuritis(f):")
    assert corpus.module.__file__.startswith("<mtus-compiled ")


def test_rule_failures_point_into_generated_code():
    """A rule that fails at run time raises RuleError with a traceback through the generated source."""
    text = '''
guideline g "G" edition "1":
    in force from 2009-01-01
fact bad: integer = quantity / prior_visits rounded down
section s "S" pages 1:
    services physical_therapy
    r: max_visits bad
'''
    schedule = mtus_dsl.loads({"bad.mtus": text})
    case = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 3,
            "prior_visits": 0}
    with pytest.raises(rt.RuleError) as info:
        schedule.decide(case)
    formatted = "".join(traceback.format_exception(info.value))
    assert "_fact_bad" in formatted and "_divide(" in formatted


def test_comments_cite_rule_sources(corpus):
    """Each generated rule function is preceded by a comment with its .mtus file and line."""
    assert "# rule neuritis  (" in corpus.python_source
    line = next(x for x in corpus.python_source.splitlines() if x.startswith("# rule neuritis"))
    assert "cpmtg_2009" in line and "Physical Medicine" in line


_FAST_PATH_AND_EDITIONS = (
    "issue 9: the straight-line path gives up whenever a rule or cap filed under the request's (service, body "
    "region) belongs to an edition not in force on its date (straightline._in_force); with the CPMTG 2009 and "
    "2016, the acupuncture 2007 and 2009 and the two Labor Code numberings filed together, it never answers for "
    "the shipped corpus. Decisions are unaffected (the engine decides); remove this mark when the fast path "
    "checks editions per rule"
)


@pytest.mark.xfail(strict=True, reason=_FAST_PATH_AND_EDITIONS)
def test_fast_path_answers_the_seed_and_agrees(corpus, seed_case):
    """The straight-line path decides the seed itself, with the interpreter's exact decision."""
    case = corpus.case(seed_case)
    fast = corpus.engine.fast[(case.values["service"], case.values["body_region"])]
    decision = fast(case.values, case.id)
    assert decision is not None
    assert decision == corpus.interpret(case)


@pytest.mark.xfail(strict=True, reason=_FAST_PATH_AND_EDITIONS)
def test_fast_path_agrees_wherever_it_answers(corpus):
    """On every corpus example the straight-line path either hands over (None) or decides exactly as the interpreter.

    It must also answer most of them itself: a path that always handed over would be correct but slow.
    """
    answered = 0
    for example in corpus.program.examples:
        case = corpus.case(example.case)
        fast = corpus.engine.fast.get((case.values["service"], case.values["body_region"]))
        decision = fast(case.values, case.id) if fast else None
        if decision is not None:
            answered += 1
            assert decision == corpus.interpret(case), example.title
    assert answered >= len(corpus.program.examples) // 2


def test_bytecode_cache_is_reused_and_survives_corruption(tmp_path, monkeypatch, seed_case):
    """Compiled bytecode is kept per source; a damaged cache file just means compiling again."""
    monkeypatch.setenv("MTUS_DSL_CACHE", str(tmp_path))
    first = mtus_dsl.load()
    [cached] = list(tmp_path.glob("*.bytecode"))
    assert mtus_dsl.load().decide(seed_case) == first.decide(seed_case)
    cached.write_bytes(b"not bytecode")
    assert mtus_dsl.load().decide(seed_case) == first.decide(seed_case)
    monkeypatch.setenv("MTUS_DSL_CACHE", "off")
    assert mtus_dsl.load().decide(seed_case) == first.decide(seed_case)
