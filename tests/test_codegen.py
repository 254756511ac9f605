"""Generated code: debuggable in memory, safe against anything written in a .mtus file."""

from __future__ import annotations

import inspect
import traceback

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mtus_dsl
from mtus_dsl import runtime as rt
from mtus_dsl.testing import case_data

from .conftest import ROOT

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


def test_generated_code_is_in_linecache():
    """inspect.getsource and tracebacks show the generated code of an in-memory module, while it lives."""
    import gc
    import linecache

    from mtus_dsl.compiler import cache

    schedule = mtus_dsl.load([ROOT / "guidelines"])
    again = mtus_dsl.load([ROOT / "guidelines"])  # the same source: the two modules share one entry
    source = inspect.getsource(schedule.module.__dict__["_guard_neuritis"])
    assert source.startswith("def _guard_neuritis(f):")
    filename = schedule.module.__file__
    assert filename.startswith("<mtus-compiled ") and filename == again.module.__file__
    del schedule
    gc.collect()
    assert inspect.getsource(again.module.__dict__["_guard_neuritis"]) == source
    live = cache._LIVE[filename]
    del again
    gc.collect()
    assert cache._LIVE.get(filename, 0) == live - 1
    assert (filename in linecache.cache) == (filename in cache._LIVE)


BAD_DIVISION = '''
guideline g "G" edition "1":
    in force from 2009-01-01
fact bad: integer = quantity / prior_visits rounded down
section s "S" pages 1:
    services physical_therapy
    r: max_visits bad
'''


def test_rule_failures_point_into_generated_code():
    """A fact that fails at run time raises RuleError with a traceback through the generated source."""
    schedule = mtus_dsl.loads({"bad.mtus": BAD_DIVISION})
    case = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 3,
            "prior_visits": 0}
    with pytest.raises(rt.RuleError) as info:
        schedule.decide(case)
    formatted = "".join(traceback.format_exception(info.value))
    assert "_derive_bad" in formatted and "_divide(" in formatted


@pytest.mark.parametrize("backend", ["decide", "interpret"])
def test_rule_failures_are_located_in_the_mtus_source(backend):
    """A failing fact names itself, its .mtus path:line:col and the values it read, in either backend."""
    schedule = mtus_dsl.loads({"bad.mtus": BAD_DIVISION})
    case = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 3,
            "prior_visits": 0}
    with pytest.raises(rt.RuleError) as info:
        getattr(schedule, backend)(case)
    error = info.value
    assert (error.where, error.source) == ("fact 'bad'", "bad.mtus:4:1")
    assert error.values == {"quantity": 3, "prior_visits": 0}
    assert str(error) == (
        "bad.mtus:4:1: fact 'bad' failed on this case: division by zero (it read prior_visits = 0, quantity = 3)"
    )


def test_comments_cite_rule_sources(corpus):
    """Each rule's functions are headed by its .mtus path:line, its citation and the line itself."""
    lines = corpus.python_source.splitlines()
    index = lines.index("def _guard_neuritis(f):")
    assert lines[index - 2].startswith("# ") and "guidelines/cpmtg_2009.mtus:" in lines[index - 2]
    assert "Physical Medicine" in lines[index - 2]
    assert lines[index - 1].startswith("#     neuritis: max_visits 10")


def test_generated_module_has_no_decision_procedure(corpus):
    """The module builds a plan and hands it to the engine: no dispatch, caps or outcome written out."""
    source = corpus.python_source
    assert "_ENGINE = _Engine(_PLAN)" in source
    for procedure in ("_DISPATCH", "Outcome.", "approved =", "_NON_CERTIFY", "needs_information", "Decision(", "min("):
        assert procedure not in source, procedure


def test_generated_size_is_linear_in_rules(corpus):
    """The shipped corpus compiles to at most 60 lines per rule."""
    lines = len(corpus.python_source.splitlines())
    assert lines <= 60 * len(corpus.program.rules), lines


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_outcome_agrees_with_decide(corpus, data):
    """`outcome(case)` gives decide's (outcome, approved) on generated cases, from a dict and from a Case."""
    case = data.draw(case_data(corpus))
    try:
        decision = corpus.decide(case)
    except rt.RuleError:
        with pytest.raises(rt.RuleError):
            corpus.outcome(case)
        return
    assert corpus.outcome(case) == (decision.outcome, decision.approved)
    assert corpus.outcome(corpus.case(case)) == (decision.outcome, decision.approved)


def test_generated_validator_gives_the_general_messages(corpus, seed_case):
    """The generated validator accepts what Case.from_dict accepts, with the same values, and words errors alike."""
    from mtus_dsl.case import Case, CaseError

    fast = corpus.module.__dict__["_validate"]
    assert fast(seed_case) == Case.from_dict(seed_case, corpus.schema)
    with_null = {**seed_case, "prior_visits": None}
    assert fast(with_null) == Case.from_dict(with_null, corpus.schema)
    for bad in ({**seed_case, "quantity": "12"}, {**seed_case, "servce": 1}, {**seed_case, "surgeries": [{}]}, []):
        with pytest.raises(CaseError) as fast_error:
            fast(bad)
        with pytest.raises(CaseError) as general_error:
            Case.from_dict(bad, corpus.schema)
        assert fast_error.value.errors == general_error.value.errors


def test_compilation_cache_is_reused_and_survives_corruption(tmp_path, monkeypatch, seed_case):
    """A load keeps its compilation; a damaged entry is rebuilt, never used, and caching can be turned off."""
    monkeypatch.setenv("MTUS_DSL_CACHE", str(tmp_path))
    first = mtus_dsl.load()
    [cached] = list(tmp_path.glob("*.compilation"))
    assert mtus_dsl.load().decide(seed_case) == first.decide(seed_case)
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0x01
    cached.write_bytes(bytes(data))
    assert mtus_dsl.load().decide(seed_case) == first.decide(seed_case)
    cached.write_bytes(b"not a cache entry")
    assert mtus_dsl.load().decide(seed_case) == first.decide(seed_case)
    for off in ("off", "OFF", "Off"):
        monkeypatch.setenv("MTUS_DSL_CACHE", off)
        assert mtus_dsl.load().decide(seed_case) == first.decide(seed_case)
    assert not (tmp_path.parent / "OFF").exists()


def test_a_cache_folder_others_can_write_is_not_used(tmp_path, monkeypatch, seed_case):
    """Cache entries are code: a folder writable by other users is refused with a warning, and loads still work."""
    import os
    import warnings

    folder = tmp_path / "shared-cache"
    folder.mkdir()
    os.chmod(folder, 0o777)
    monkeypatch.setenv("MTUS_DSL_CACHE", str(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decision = mtus_dsl.load().decide(seed_case)
    assert decision.approved == 10
    assert any("not using the cache folder" in str(w.message) for w in caught)
    assert list(folder.iterdir()) == []


def test_corrupting_a_cache_entry_byte_by_byte_never_changes_a_decision(tmp_path, monkeypatch, seed_case):
    """Each of many single-byte changes to a cache entry is caught by its checksum: same decision, no crash."""
    monkeypatch.setenv("MTUS_DSL_CACHE", str(tmp_path))
    expected = mtus_dsl.load().decide(seed_case)
    [entry] = list(tmp_path.glob("*.compilation"))
    original = entry.read_bytes()
    step = max(1, len(original) // 24)
    for position in range(0, len(original), step):
        damaged = bytearray(original)
        damaged[position] ^= 0xFF
        entry.write_bytes(bytes(damaged))
        assert mtus_dsl.load().decide(seed_case) == expected, position
