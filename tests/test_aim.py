"""Solver-aimed cases (mtus_dsl/testing/aim.py): every rule governed, both sides of guards, limits at their edges."""

from __future__ import annotations

import mtus_dsl
from mtus_dsl.compiler import compile_sources
from mtus_dsl.testing.aim import aimed_cases, counterexample

SOURCE = '''guideline demo "Demo Guidelines" edition "1":
    in force 2020-01-01 to 2024-12-31

input flare_up: boolean "a documented acute flare-up"
input pain_score: integer 0..10 "pain on a 0 to 10 scale"

condition myalgia "myalgia":
    icd9 729.1
    icd10 M79.1*

fact post_op: boolean = any s in surgeries where (s.body_region = body_region and request_date <= s.date + 3 months)

section massage "Massage" page 60:
    services massage
    general: max_visits 6
    severe: max_visits 10 when pain_score >= 7 unless flare_up
        overrides general
    flare: non_certify when flare_up
        overrides general, severe
    myalgia_after_surgery: max_visits 12 when post_op and myalgia in conditions
        overrides general, severe, flare

property never_beyond_ten "no massage request is certified beyond 10 visits":
    for service = massage
    expect approved <= 10

property never_beyond_twelve "no massage request is certified beyond 12 visits":
    for service = massage
    expect approved <= 12
'''


def _schedule() -> mtus_dsl.Schedule:
    compilation = compile_sources({"demo.mtus": SOURCE}, use_cache=False)
    assert not compilation.diagnostics, compilation.diagnostics
    return mtus_dsl.Schedule(compilation)


def test_every_rule_governs_some_aimed_case():
    """For each rule, some aimed case is decided by it, under both backends alike."""
    schedule = _schedule()
    cases = aimed_cases(schedule.program)
    governing = set()
    for case in cases:
        decision = schedule.decide(case)
        assert decision == schedule.interpret(case)
        governing |= set(decision.rules[:1])
    assert governing == {"general", "severe", "flare", "myalgia_after_surgery"}


def test_aimed_cases_are_inputs_only_and_valid():
    """Each case validates against the case format and names inputs only (no derived fact)."""
    schedule = _schedule()
    inputs = set(schedule.program.schema.field_names())
    for case in aimed_cases(schedule.program):
        assert set(case) <= inputs and "post_op" not in case
        schedule.case(case)


def test_both_sides_of_a_boundary():
    """`pain_score >= 7`: cases at 7 or more and below 7 both come out."""
    cases = aimed_cases(_schedule().program)
    scores = {case["pain_score"] for case in cases if "pain_score" in case}
    assert any(s >= 7 for s in scores) and any(s < 7 for s in scores)  # type: ignore[operator]


def test_limits_at_their_edges():
    """Requests at what a limit still allows and one either side: the 10 of `severe` after prior visits."""
    schedule = _schedule()
    seen = set()
    for case in aimed_cases(schedule.program):
        decision = schedule.decide(case)
        if decision.rules[:1] == ("severe",):
            remaining = 10 - case["prior_visits"]  # type: ignore[operator]
            seen.add(case["quantity"] - remaining)  # type: ignore[operator]
    assert {-1, 0, 1} <= seen


def test_edition_edges():
    """Request dates on the first and last day in force, and the days either side."""
    dates = {case["request_date"] for case in aimed_cases(_schedule().program)}
    assert {"2019-12-31", "2020-01-01", "2024-12-31", "2025-01-01"} <= dates


def test_counterexample_to_a_stated_property():
    """`approved <= 10` fails for a myalgia request after surgery: the solver finds it; `<= 12` holds."""
    schedule = _schedule()
    properties = {p.name: p for p in schedule.program.properties}
    found = counterexample(schedule.program, properties["never_beyond_ten"])
    assert found is not None
    decision = schedule.decide(found)
    assert decision.approved > 10 and decision.rules[0] == "myalgia_after_surgery"
    assert counterexample(schedule.program, properties["never_beyond_twelve"]) is None
