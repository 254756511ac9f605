"""The meaning of rules: exceptions, scope, trials, cumulative caps; the same under both backends."""

from __future__ import annotations

import mtus_dsl
from mtus_dsl.compiler import compile_sources
from mtus_dsl.decision import Outcome

HEADER = '''
guideline g "Test Guideline" edition "1":
    in force from 2009-01-01
'''

BASE = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 12,
        "prior_visits": 0, "prior_visits_all_regions": 0}


def _both(schedule, case):
    decision = schedule.decide(case)
    assert decision == schedule.interpret(case)
    return decision


def test_a_rule_consulted_outside_its_scope_does_not_apply():
    """`unless other_rule` only excepts where the other rule covers the service and body region."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
section s "S" pages 1:
    services physical_therapy
    general: max_visits 10 unless knee_only
    knee_only: max_visits 4
        for regions knee
'''})
    assert _both(schedule, BASE).rules == ("knee_only",)
    lumbar = _both(schedule, {**BASE, "body_region": "lumbar_spine"})
    assert lumbar.rules == ("general",) and lumbar.approved == 10


def test_every_binding_limit_is_cited():
    """Caps hold together with the governing rule: the tightest binds, and every limit that binds is cited."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
section s "S" pages 7:
    services physical_therapy
    rule_ten: max_visits 10
    cap cap_a: max_visits 8
    cap cap_b: max_visits 8
    cap cap_loose: max_visits 30
'''})
    decision = _both(schedule, BASE)
    assert decision.outcome is Outcome.MODIFY and decision.approved == 8
    assert decision.rules == ("rule_ten", "cap_a", "cap_b")
    statuses = {t.rule: t.status for t in decision.trace}
    assert statuses == {"rule_ten": "governs", "cap_a": "binds", "cap_b": "binds", "cap_loose": "applies"}


def test_trial_then_extension_only_with_improvement():
    """A trial allows its first units; more only when functional improvement is documented."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
section s "S" pages 58:
    services chiropractic
    manipulation: trial 6 over 2 weeks, up to 18 over 8 weeks with functional_improvement
'''})
    # Prior visits for all regions are left out: they never fall below those for the region (the prelude's
    # `at most`), and no rule here reads them.
    case = {**BASE, "service": "chiropractic"}
    del case["prior_visits_all_regions"]
    assert _both(schedule, case).approved == 6
    assert _both(schedule, {**case, "prior_visits": 6, "functional_improvement": True}).approved == 12
    assert _both(schedule, {**case, "prior_visits": 6, "functional_improvement": False}).outcome is Outcome.NON_CERTIFY
    unknown = _both(schedule, {**case, "prior_visits": 6})
    assert unknown.outcome is Outcome.NEEDS_INFORMATION and unknown.missing == ("functional_improvement",)
    # Within the trial, functional improvement is not needed: it is not asked for.
    assert _both(schedule, {**case, "prior_visits": 2}).approved == 4


def test_an_exception_overrides_the_rule_it_excepts():
    """With `overrides`, the exception decides wherever it applies; the general rule elsewhere."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
input severe: boolean
section s "S" pages 1:
    services physical_therapy
    general: max_visits 10
    severe_cases: max_visits 20 when severe
        overrides general
'''})
    assert _both(schedule, {**BASE, "severe": True}).approved == 12
    assert _both(schedule, {**BASE, "severe": False}).approved == 10
    asked = _both(schedule, BASE)
    assert asked.outcome is Outcome.NEEDS_INFORMATION and asked.missing == ("severe",)


def test_unknown_facts_that_cannot_matter_are_not_asked_for():
    """A cap whose facts are unknown but which cannot bind does not turn the answer into needs_information."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
section s "S" pages 1:
    services physical_therapy
    rule_ten: max_visits 10
    cap late: max_visits 24 counting prior_visits_all_regions
        when injury_date >= 2004-01-01
'''})
    decision = _both(schedule, BASE)
    assert decision.outcome is Outcome.MODIFY and decision.approved == 10
    near = _both(schedule, {**BASE, "prior_visits_all_regions": 20})
    assert near.outcome is Outcome.NEEDS_INFORMATION and near.missing == ("injury_date",)


def test_editions_select_by_request_date():
    """A request dated outside every edition is not addressed, naming the editions there are."""
    schedule = mtus_dsl.loads({"t.mtus": '''
guideline old "Old Guideline" edition "2009":
    in force 2009-07-18 to 2017-11-30
section s "S" in old pages 1:
    services physical_therapy
    r: max_visits 10
'''})
    first_day = _both(schedule, {**BASE, "request_date": "2009-07-18"})
    assert first_day.outcome is Outcome.MODIFY
    day_after = _both(schedule, {**BASE, "request_date": "2017-12-01"})
    assert day_after.outcome is Outcome.NOT_ADDRESSED
    assert "Old Guideline (2009), in force 2009-07-18 to 2017-11-30" in day_after.rationale


OPTIONAL_LIMIT = '''
guideline g "G" edition "1":
    in force from 2009-01-01
table course:
    key body_region: body_region
    value visits: integer or none
    knee -> 12
    otherwise -> none
fact visits: integer or none = course[body_region].visits
section s "S" pages 1:
    services physical_therapy
    r: max_visits visits
'''


def test_a_limit_that_may_be_none_needs_a_guard():
    """`max_visits X` with X `integer or none` is E104 unless the rule says `when X exists`; guarded, it decides."""
    compilation = compile_sources({"g.mtus": OPTIONAL_LIMIT})
    [error] = [d for d in compilation.diagnostics if d.is_error]
    assert error.code == "E104" and "may be none (visits may be none)" in error.message
    assert "add 'when visits exists'" in error.notes[0]
    guarded = mtus_dsl.loads({"g.mtus": OPTIONAL_LIMIT + "        when visits exists\n"})
    case = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "hip", "quantity": 3,
            "prior_visits": 0}
    assert guarded.decide(case).outcome.value == "not_addressed"
    assert guarded.decide({**case, "body_region": "knee"}).approved == 3


NONE_CELL = '''
guideline g "G" edition "1":
    in force from 2009-01-01
table flags:
    key name: text
    value ok: COLUMN
    other -> true
    otherwise -> none
section s "S" pages 1:
    services physical_therapy
    r: certify
        when CONDITION
'''


def test_none_only_where_a_column_allows_it_and_never_as_a_condition():
    """`none` in a `boolean` column is E113; a condition that may be none is E104; `= true` decides alike."""
    def errors(column: str, condition: str) -> list[str]:
        text = NONE_CELL.replace("COLUMN", column).replace("CONDITION", condition)
        return [f"{d.code} {d.message}" for d in compile_sources({"t.mtus": text}).diagnostics if d.is_error]

    assert errors("boolean", 'flags["other"].ok') == ["E113 column 'ok' holds boolean, not none"]
    assert errors("boolean or none", 'flags["other"].ok') == [
        "E104 a condition must be true or false, but this may be none"
    ]
    assert errors("boolean or none", 'flags["other"].ok = true') == []
    schedule = mtus_dsl.loads({"t.mtus": NONE_CELL.replace("COLUMN", "boolean or none").replace(
        "CONDITION", 'flags["missing"].ok = true')})
    case = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 3}
    assert schedule.decide(case) == schedule.interpret(case)
    assert schedule.decide(case).outcome.value == "not_addressed"
