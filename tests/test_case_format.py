"""The case format: every bad field is named with what would be right; nothing is silently defaulted."""

from __future__ import annotations

import pytest

from mtus_dsl.case import CaseError
from mtus_dsl.decision import Outcome


def _errors(corpus, data) -> dict[str, str]:
    with pytest.raises(CaseError) as info:
        corpus.case(data)
    return {e.field: e.message for e in info.value.errors}


def test_unknown_field_is_named_with_a_suggestion(corpus, seed_case):
    """A misspelled field is rejected, with the closest field and the list of fields."""
    errors = _errors(corpus, {**seed_case, "prior_visit": 0})
    assert "did you mean 'prior_visits'" in errors["prior_visit"]
    assert "request_date" in errors["prior_visit"]


def test_every_bad_field_is_reported_at_once(corpus, seed_case):
    """A case with several problems lists all of them, each under its field."""
    bad = {**seed_case, "request_date": "2015-13-01", "service": "physical_therapie", "quantity": "12"}
    errors = _errors(corpus, bad)
    assert set(errors) == {"request_date", "service", "quantity"}
    assert "YYYY-MM-DD" in errors["request_date"]
    assert "did you mean 'physical_therapy'" in errors["service"]
    assert "allowed:" in errors["service"]
    assert "whole number" in errors["quantity"] and "string" in errors["quantity"]


def test_required_fields(corpus):
    """request_date, service, body_region and quantity are required."""
    errors = _errors(corpus, {})
    assert {"request_date", "service", "body_region", "quantity"} <= set(errors)


def test_nested_surgery_fields_are_located(corpus, seed_case):
    """A bad surgery is named by its index and field."""
    bad = {**seed_case, "surgeries": [{"procedure": "x", "body_region": "leg"}]}
    errors = _errors(corpus, bad)
    assert "not a known body_region" in errors["surgeries[0].body_region"]
    assert "required" in errors["surgeries[0].date"]


@pytest.mark.parametrize("value", [[1, 2], "text", 3, None])
def test_a_case_must_be_an_object(corpus, value):
    """Anything but a JSON object is rejected with what it was."""
    errors = _errors(corpus, value)
    assert "JSON object" in errors[""]


def test_bad_codes_and_ranges(corpus, seed_case):
    """Diagnosis codes must look like ICD codes; integers respect their declared bounds."""
    errors = _errors(corpus, {**seed_case, "diagnoses": ["banana"], "quantity": 0, "prior_visits": -1})
    assert "ICD" in errors["diagnoses[0]"]
    assert "out of range" in errors["quantity"] and "out of range" in errors["prior_visits"]


def test_null_means_unknown_not_false(corpus, seed_case):
    """A null optional fact is unknown: a decision that needs it asks for it by name."""
    decision = corpus.decide({**seed_case, "prior_visits": None})
    assert decision.outcome is Outcome.NEEDS_INFORMATION
    assert decision.missing == ("prior_visits",)
    assert decision.approved == 0 and decision.citations == ()


def test_absent_surgeries_are_unknown(corpus, seed_case):
    """Leaving surgeries out does not mean 'no surgery': post-surgical status becomes unknown."""
    case = {k: v for k, v in seed_case.items() if k != "surgeries"}
    decision = corpus.decide(case)
    assert decision.outcome is Outcome.NEEDS_INFORMATION
    assert "surgeries" in decision.missing


def test_the_empty_key_is_named_where_it_is(corpus, seed_case, tmp_path):
    """A key "" is an unknown field like any other, named as `""` (as the case and the record give it), not a
    message with no field: in the problem's text, its field, and `mtus decide`'s line; its loc is the key itself."""
    import json

    from click.testing import CliRunner

    from mtus_dsl.cli import EXIT_BAD_INPUT, main

    surgery = {"procedure": "meniscectomy", "body_region": "knee", "date": "2015-07-16", "": 1}
    with pytest.raises(CaseError) as info:
        corpus.decide({"": 1, **seed_case, "surgeries": [surgery]})
    first, nested = info.value.errors
    assert (first.field, first.loc, first.type) == ('""', ("",), "unknown_field")
    assert str(first).startswith('"": unknown field (fields: id, request_date, ')
    assert (nested.field, nested.loc) == ('surgeries[0].""', ("surgeries", 0, ""))
    assert str(nested) == 'surgeries[0]."": unknown field of a surgery (fields: procedure, body_region, date)'
    case = tmp_path / "c.json"
    case.write_text(json.dumps({"": 1, "request_date": "2015-09-23", "service": "physical_therapy",
                                "body_region": "knee", "quantity": 12}))
    result = CliRunner().invoke(main, ["decide", str(case)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.output.startswith(f'{case}: error: "": unknown field (fields: id, request_date, ')


def test_a_json_error_pickles_and_copies_as_itself():
    """Once it could not be unpickled (three arguments, pickle passed one): a worker process's error reads whole."""
    import copy
    import pickle

    from mtus_dsl.case_text import BadJSON, read_json

    with pytest.raises(BadJSON) as raised:
        read_json(b'{"quantity": 12,\n "service": }')
    error = raised.value
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(again) is BadJSON
        assert (again.message, again.line, again.column, str(again)) == (
            error.message, error.line, error.column, str(error))
