"""A hostile but realistic embedder: the public Python API given what applications really pass it.

Every bad argument gets a documented exception (CaseError, CompileError, or a TypeError /
ValueError saying what would be right), never an internal traceback, never a silent wrong answer.
"""

from __future__ import annotations

import datetime
import enum
import json
import pickle
import re

import pytest

import mtus_dsl
from mtus_dsl import Case, CaseError, CompileError, Decision
from mtus_dsl.compiler import cache
from mtus_dsl.decision import Assumption

from .conftest import ROOT


# --- load() and loads() ---------------------------------------------------------------------


def test_load_of_an_empty_string_is_an_error_not_the_current_directory(tmp_path, monkeypatch):
    # An unset setting read as "" once loaded every .mtus file under the working directory.
    (tmp_path / "stray.mtus").write_text((ROOT / "guidelines" / "acupuncture.mtus").read_text())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CompileError) as caught:
        mtus_dsl.load("")
    assert [d.code for d in caught.value.diagnostics] == ["E000"]
    assert "empty" in str(caught.value)
    with pytest.raises(CompileError, match="empty"):
        mtus_dsl.load([ROOT / "guidelines", ""])


def test_load_of_something_not_a_path_is_a_compile_error():
    for wrong in (5, 3.5, object()):
        with pytest.raises(CompileError) as caught:
            mtus_dsl.load(wrong)  # type: ignore[arg-type]
        assert [d.code for d in caught.value.diagnostics] == ["E000"]
        assert type(wrong).__name__ in str(caught.value)


def test_load_of_texts_by_name_points_to_loads():
    with pytest.raises(CompileError, match=r"loads\(\)"):
        mtus_dsl.load({"a.mtus": "fact x: boolean = true\n"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sources", "says"),
    [
        (None, "NoneType"),
        ("fact x: boolean = true\n", "str"),
        (["a.mtus"], "list"),
        ({"a.mtus": None}, "'a.mtus'"),
        ({"a.mtus": b"fact x: boolean = true\n"}, "bytes"),
        ({1: "fact x: boolean = true\n"}, "int"),
    ],
)
def test_loads_of_something_not_texts_by_name_is_a_compile_error(sources, says):
    with pytest.raises(CompileError) as caught:
        mtus_dsl.loads(sources)
    assert [d.code for d in caught.value.diagnostics] == ["E000"]
    assert says in str(caught.value)


def test_loads_of_nothing_is_an_error_as_load_of_nothing_is():
    with pytest.raises(CompileError) as caught:
        mtus_dsl.loads({})
    assert [d.code for d in caught.value.diagnostics] == ["E000"]


# --- the cache folder -----------------------------------------------------------------------


def test_a_cache_folder_written_with_a_tilde_is_in_the_home_folder(monkeypatch, tmp_path):
    # Set without a shell (a systemd unit, a Dockerfile's ENV), "~" is not expanded for us.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MTUS_DSL_CACHE", "~/mtus-cache")
    assert cache.directory() == tmp_path / "home" / "mtus-cache"


def test_a_cache_setting_of_spaces_is_the_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("MTUS_DSL_CACHE", "   ")
    assert cache.directory() == tmp_path / "mtus-dsl"


# --- decide_many ----------------------------------------------------------------------------


def test_decide_many_of_one_case_says_to_call_decide(corpus, seed_case):
    # Iterating a dict gives its keys: each once came back as "a case must be a JSON object, not the string 'id'".
    with pytest.raises(TypeError, match=r"decide\(case\)"):
        corpus.decide_many(seed_case)
    with pytest.raises(TypeError, match=r"decide\(case\)"):
        corpus.decide_many(corpus.case(seed_case))


def test_decide_many_of_something_not_iterable_says_so_at_once(corpus):
    for wrong in (None, 5, "cases.jsonl"):
        with pytest.raises(TypeError, match="iterable of cases"):
            corpus.decide_many(wrong)  # type: ignore[arg-type]


def test_decide_many_passes_on_the_error_of_its_source(corpus, seed_case):
    def source():
        yield seed_case
        raise OSError("the queue went away")

    decisions = corpus.decide_many(source())
    assert next(decisions).approved == 10
    with pytest.raises(OSError, match="the queue went away"):
        next(decisions)


# --- cases ----------------------------------------------------------------------------------


def test_case_from_dict_with_something_not_a_schema_says_what_to_pass(corpus, seed_case):
    for wrong in (None, corpus, {}):
        with pytest.raises(TypeError, match=r"CaseSchema.*schedule\.schema"):
            Case.from_dict(seed_case, wrong)  # type: ignore[arg-type]


def test_a_case_is_hashable_as_it_is_immutable(corpus, seed_case):
    case = corpus.case(seed_case)
    again = corpus.case(dict(seed_case))
    assert case == again and hash(case) == hash(again)
    assert {case: 1}[again] == 1
    assert hash(case) != hash(corpus.case({**seed_case, "quantity": 11}))


def test_a_case_built_directly_may_hold_plain_dicts_and_lists_of_dates(corpus):
    surgery = {"procedure": "meniscectomy", "body_region": "knee", "date": datetime.date(2015, 7, 16)}
    values = {"request_date": datetime.date(2015, 9, 23), "service": "physical_therapy", "body_region": "knee",
              "quantity": 12, "diagnoses": ["836.0"], "prior_visits": 0, "surgeries": [surgery],
              "prior_visit_dates": [datetime.date(2015, 8, 1)]}
    direct = corpus.decide(Case("X", values))
    as_json = corpus.decide({**values, "id": "X", "request_date": "2015-09-23",
                             "surgeries": [{**surgery, "date": "2015-07-16"}], "prior_visit_dates": ["2015-08-01"]})
    assert direct == as_json


def test_an_integer_subclass_is_read_as_the_integer(corpus, seed_case):
    class Quantity(enum.IntEnum):
        TWELVE = 12

    decision = corpus.decide({**seed_case, "quantity": Quantity.TWELVE})
    assert decision.requested.__class__ is int
    assert corpus.case({**seed_case, "quantity": Quantity.TWELVE}).values["quantity"].__class__ is int
    assert decision == corpus.decide(seed_case)


def test_a_date_given_as_a_date_object_says_to_write_it_as_text(corpus, seed_case):
    for value in (datetime.date(2015, 9, 23), datetime.datetime(2015, 9, 23, 8, 0)):
        with pytest.raises(CaseError) as caught:
            corpus.decide({**seed_case, "request_date": value})
        (problem,) = caught.value.errors
        assert problem.type == "wrong_type"
        assert "'2015-09-23'" in problem.message, problem.message


def test_a_huge_string_is_not_echoed_whole(corpus, seed_case):
    # A 422 answer (and a log line) once repeated a megabyte the client sent.
    huge = "p" * 1_000_000
    for case in ({**seed_case, "service": huge}, {**seed_case, "request_date": huge},
                 {**seed_case, "diagnoses": [huge]}, {**seed_case, "quantity": huge}, {**seed_case, huge: 1}):
        with pytest.raises(CaseError) as caught:
            corpus.decide(case)
        assert len(str(caught.value)) < 2_000
        # Only an unknown field's loc and field name it whole: they say which key of the case it is.
        assert all(len(problem["msg"]) < 2_000 for problem in caught.value.to_dicts())


def test_control_characters_in_a_value_are_shown_escaped(corpus, seed_case):
    with pytest.raises(CaseError) as caught:
        corpus.decide({**seed_case, "request_date": "2015-09-23\n"})
    assert "\n" not in str(caught.value) and "\\n" in str(caught.value)


# --- decisions ------------------------------------------------------------------------------


def test_a_decision_on_the_record_reads_back_equal_and_hashable(corpus, seed_case):
    case = {k: v for k, v in seed_case.items() if k not in ("diagnoses", "surgeries")}
    decision = corpus.decide(case, on_record=True)
    assert any(a.value == () for a in decision.assumed)
    back = Decision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert back == decision
    assert hash(back) == hash(decision)
    assert pickle.loads(pickle.dumps(back)) == decision


def test_an_assumption_compares_by_its_json_form():
    assert Assumption("d", (), "r") == Assumption("d", [], "r")
    assert Assumption("d", datetime.date(2015, 1, 1), "r") == Assumption("d", "2015-01-01", "r")
    assert hash(Assumption("d", frozenset({"a", "b"}), "r")) == hash(Assumption("d", ["a", "b"], "r"))
    assert Assumption("d", (), "r") != Assumption("d", False, "r")


def test_a_set_in_an_assumption_writes_in_one_order():
    assert Assumption("s", frozenset({"b", "c", "a"}), "r").to_dict()["value"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"outcome": "yes"}, "outcome"),
        ({"requested": "twelve"}, "requested"),
        ({"requested": 12.7}, "requested"),
        ({"approved": True}, "approved"),
        ({"missing": "prior_visits"}, "missing"),
        ({"rules": "neuritis"}, "rules"),
        ({"citations": None}, "citations"),
        ({"citations": [{"document": "x"}]}, "citations[0]"),
        ({"trace": [5]}, "trace[0]"),
        ({"assumed": [{}]}, "assumed[0]"),
        ({"provenance": "sha256:x"}, "provenance"),
        ({"id": 5}, "id"),
    ],
)
def test_a_decision_read_from_bad_json_names_the_field(corpus, seed_case, change, field):
    data = {**corpus.decide(seed_case).to_dict(), **change}
    with pytest.raises(ValueError) as caught:
        Decision.from_dict(data)
    assert re.match(rf"{re.escape(field)}[.:]", str(caught.value)), str(caught.value)


def test_a_decision_read_from_json_that_is_not_an_object():
    for wrong in (None, [], "modify"):
        with pytest.raises(ValueError, match="JSON object"):
            Decision.from_dict(wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^outcome: is required"):
        Decision.from_dict({})


# --- exceptions across processes --------------------------------------------------------------


def test_a_case_error_pickles_and_copies_as_itself(corpus, seed_case):
    # A CaseError raised in a worker process reaches its parent pickled: its message once came back
    # as the letters of the old message joined by "; ".
    import copy

    with pytest.raises(CaseError) as caught:
        corpus.decide({**seed_case, "service": "physio", "quantity": 0})
    error = caught.value
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(again) is CaseError
        assert str(again) == str(error)
        assert again.errors == error.errors
        assert again.to_dicts() == error.to_dicts()


def test_a_case_built_directly_with_an_int_subclass_says_so():
    class Quantity(enum.IntEnum):
        TWELVE = 12

    values = {"request_date": datetime.date(2015, 9, 23), "service": "physical_therapy", "body_region": "knee",
              "quantity": Quantity.TWELVE}
    with pytest.raises(CaseError, match=r"not a Quantity \(an int subclass: give int\(quantity\)\)"):
        Case(None, values)
    with pytest.raises(CaseError, match=r"expected a datetime\.date, not a datetime \(its \.date\(\) is the day\)"):
        Case(None, {**values, "quantity": 12, "request_date": datetime.datetime(2015, 9, 23, 8, 0)})
