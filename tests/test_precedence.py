"""Precedence and repetition: section-level clauses, sections and guidelines that override, 'otherwise' order.

Each lowers to the exceptions rules already have (`unless other_rule`), so the engine
and both backends stay one procedure; where no order is given, a clash stays E107.
"""

from __future__ import annotations

import datetime

import pytest

import mtus_dsl
from mtus_dsl import runtime as rt
from mtus_dsl.compiler import compile_sources

HEADER = '''
guideline g "Test Guideline" edition "1":
    in force from 2009-01-01
'''

BASE = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 12,
        "prior_visits": 0, "surgeries": []}


def _both(schedule, case):
    decision = schedule.decide(case)
    assert decision == schedule.interpret(case)
    return decision


def _codes(source: str) -> list[str]:
    return [d.code for d in compile_sources({"t.mtus": source}).diagnostics]


def test_section_unless_applies_to_every_rule_of_the_section():
    """A section's `unless` excepts each of its rules, and the trace names the clause."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
input flare_up: boolean "a flare-up"
input severe: boolean "severe"

section s "S" pages 1:
    services physical_therapy
    unless flare_up
    general: max_visits 10 unless severe
    severe_rule: max_visits 4 when severe
'''})
    assert _both(schedule, {**BASE, "flare_up": False, "severe": True}).rules == ("severe_rule",)
    assert _both(schedule, {**BASE, "flare_up": False, "severe": False}).approved == 10
    decision = _both(schedule, {**BASE, "flare_up": True, "severe": True})
    assert decision.outcome.value == "not_addressed"
    assert "flare_up" in {t.rule: t.detail for t in decision.trace}["severe_rule"]
    unknown = _both(schedule, {**BASE, "severe": False})
    assert unknown.outcome.value == "needs_information" and unknown.missing == ("flare_up",)


def test_section_when_applies_to_every_rule_and_guards_their_numbers():
    """A section's `when NAME exists` lets its rules count with a number that may be none."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
input course: integer 0..100 "course"
fact course_or_none: integer or none = course "the course"

section s "S" pages 1:
    services physical_therapy
    when course_or_none exists
    by_course: max_visits course_or_none
'''})
    assert _both(schedule, {**BASE, "course": 6}).approved == 6


def test_otherwise_is_first_match_in_order():
    """Rules written with 'otherwise' apply only when no rule above them in the chain does."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
input pain: integer 0..10 "pain"

section s "S" pages 1:
    services physical_therapy
    severe: max_visits 12 when pain >= 7
    otherwise moderate: max_visits 8 when pain >= 4
    otherwise mild: max_visits 4
'''})
    assert _both(schedule, {**BASE, "pain": 9}).rules == ("severe",)
    assert _both(schedule, {**BASE, "pain": 5}).rules == ("moderate",)
    mild = _both(schedule, {**BASE, "pain": 1})
    assert mild.rules == ("mild",)
    reasons = {t.rule: t.detail for t in mild.trace}
    assert "written after it with 'otherwise'" in reasons["moderate"] or reasons["moderate"].startswith("its condition")
    assert _both(schedule, BASE).missing == ("pain",)


def test_without_otherwise_the_same_rules_conflict():
    """No order given: two rules that can both decide a request are still E107."""
    assert "E107" in _codes(HEADER + '''
input pain: integer 0..10 "pain"

section s "S" pages 1:
    services physical_therapy
    severe: max_visits 12 when pain >= 7
    mild: max_visits 4
''')


def test_a_section_overrides_another_for_the_requests_both_address():
    """`overrides SECTION` excepts the other section's rules where scopes meet, and only there."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
section general "General" pages 1:
    services physical_therapy, occupational_therapy
    pt_general: max_visits 10

section knee "Knee" pages 2:
    services physical_therapy
    regions knee
    overrides general
    knee_rule: max_visits 6
'''})
    assert _both(schedule, BASE).rules == ("knee_rule",)
    assert _both(schedule, {**BASE, "body_region": "lumbar_spine"}).rules == ("pt_general",)
    assert _both(schedule, {**BASE, "service": "occupational_therapy"}).rules == ("pt_general",)


def test_a_guideline_overrides_another_without_naming_rules():
    """`overrides GUIDELINE` in a guideline's header: its rules win over all of the other's rules, caps aside."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
guideline odg "ODG" edition "2015":
    in force 2015-01-01 to 2015-12-31
    overrides g

section general "General" in g pages 1:
    services physical_therapy
    a: max_visits 10
    b: max_visits 12 when quantity > 100
        overrides a
    cap visit_cap: max_visits 4

section knee "Knee" in odg pages 2:
    services physical_therapy
    regions knee
    odg_knee: max_visits 6
'''})
    assert _both(schedule, {**BASE, "request_date": "2016-01-01"}).rules == ("a", "visit_cap")
    capped = _both(schedule, BASE)
    assert capped.rules == ("odg_knee", "visit_cap") and capped.approved == 4


@pytest.mark.parametrize(("source", "code"), [
    (HEADER + '''
section s "S" pages 1:
    services physical_therapy
    otherwise first: max_visits 4
''', "E119"),
    (HEADER + '''
section s "S" pages 1:
    services physical_therapy
    a: max_visits 4
    otherwise cap c: max_visits 4
''', "E001"),
    (HEADER + '''
section s "S" pages 1:
    services physical_therapy
    overrides nothing_here
    a: max_visits 4
''', "E105"),
    (HEADER + '''
section s "S" pages 1:
    services physical_therapy
    overrides s
    a: max_visits 4
''', "E106"),
    ('''
guideline g "Test Guideline" edition "1":
    overrides h
''', "E105"),
    (HEADER + '''
section s "S" pages 1:
    services physical_therapy
    overrides t
    a: max_visits 4

section t "T" pages 2:
    services physical_therapy
    overrides s
    b: max_visits 4
''', "E106"),
])
def test_misplaced_precedence_is_an_error(source, code):
    """An 'otherwise' with nothing above, an unknown or circular 'overrides': each a located error."""
    assert code in _codes(source)


@pytest.mark.parametrize(("unit", "start", "end", "expected"), [
    ("days", "2015-01-01", "2015-03-01", 59),
    ("weeks", "2015-01-01", "2015-02-11", 5),
    ("weeks", "2015-02-11", "2015-01-01", -5),
    ("months", "2015-01-31", "2015-02-28", 1),
    ("months", "2015-01-31", "2015-02-27", 0),
    ("months", "2015-03-31", "2015-04-30", 1),
    ("years", "2016-02-29", "2017-02-28", 1),
    ("years", "2016-02-29", "2017-02-27", 0),
    ("years", "1950-06-15", "2015-06-14", 64),
    ("years", "1950-06-15", "2015-06-15", 65),
    ("months", "2015-05-10", "2015-05-10", 0),
])
def test_whole_units_between_two_dates(unit, start, end, expected):
    """Whole units, months and years by the calendar (the day kept, clamped to the month's end)."""
    assert rt.between(unit, datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)) == expected


def test_between_is_unknown_when_a_date_is():
    """An unknown date makes the count unknown, naming the input."""
    value = rt.between("years", rt.Unknown(frozenset({"birth_date"})), datetime.date(2015, 1, 1))
    assert isinstance(value, rt.Unknown) and value.facts == {"birth_date"}


def test_an_age_and_a_phase_decide_under_both_backends():
    """years_between and weeks_between in rules: the compiled code and the interpreter agree."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
input birth_date: date "birth date"

section s "S" pages 1:
    services physical_therapy
    acute: max_visits 6 when weeks_between(injury_date, request_date) < 6
    otherwise older: max_visits 9 when years_between(birth_date, request_date) >= 65
    otherwise other: max_visits 3
'''})
    case = {**BASE, "injury_date": "2014-01-01", "birth_date": "1950-01-01"}
    assert _both(schedule, case).rules == ("older",)
    assert _both(schedule, {**case, "birth_date": "1950-01-02"}).rules == ("other",)
    assert _both(schedule, {**case, "injury_date": "2014-11-21"}).rules == ("acute",)
    assert _both(schedule, {**case, "injury_date": "2014-11-20"}).rules == ("older",)  # 6 weeks to the day


def test_a_named_row_is_looked_up_once():
    """A table's name is the type of one of its rows: a fact holds the row, others read its columns."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
table course:
    key region: body_region
    value visits: integer
    knee -> 8
    otherwise -> 4

fact region_course: course = course[body_region] "the row for the requested region"

section s "S" pages 1:
    services physical_therapy
    by_region: max_visits region_course.visits
'''})
    assert _both(schedule, BASE).approved == 8
    assert _both(schedule, {**BASE, "body_region": "hip"}).approved == 4
    assert "E103" in _codes(HEADER + '''
table course:
    key region: body_region
    value visits: integer
    knee -> 8

input given_course: course "a row"
''')


# --- periods that limit: `max_visits N over PERIOD` and dated prior units -------------------------


def test_a_period_counts_the_dated_units_within_it():
    """Dated prior units: only those in (request_date - period, request_date] count; undated, all of them."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
section s "S" pages 1:
    services physical_therapy
    general: max_visits 6 over 4 weeks
    cap flare_cap: max_visits 5 over 4 weeks counting prior_visits
'''})
    case = {**BASE, "request_date": "2021-03-01", "quantity": 6, "prior_visits": 8}
    assert _both(schedule, case).approved == 0
    dated = {**case, "prior_visit_dates": ["2021-02-01", "2021-02-02", "2021-03-01", "2021-03-02"]}
    decision = _both(schedule, dated)
    # general counts 2 (02-02 and 03-01); the cap says 'counting prior_visits', so it counts all 8.
    assert decision.approved == 0 and decision.rules[-1] == "flare_cap"
    without_cap = mtus_dsl.loads({"t.mtus": HEADER + '''
section s "S" pages 1:
    services physical_therapy
    general: max_visits 6 over 4 weeks
'''})
    assert _both(without_cap, dated).approved == 4
    assert _both(without_cap, {**dated, "prior_visit_dates": []}).approved == 6
    unknown = _both(without_cap, {k: v for k, v in case.items() if k != "prior_visits"})
    assert unknown.outcome.value == "needs_information" and unknown.missing == ("prior_visits",)
    assert _both(without_cap, {**dated, "prior_visits": None}).approved == 4


@pytest.mark.parametrize(("period", "dates", "expected"), [
    (rt.Duration(4, "weeks"), ["2021-02-01", "2021-02-02", "2021-03-01", "2021-03-02"], 2),
    (rt.Duration(1, "months"), ["2021-01-31", "2021-02-01", "2021-02-28"], 1),
    (rt.Duration(1, "days"), ["2021-02-28", "2021-03-01"], 1),
])
def test_units_within_a_period(period, dates, expected):
    """The window ends on the request date and starts the period before it, that day excluded."""
    request = datetime.date(2021, 3, 1)
    assert rt.units_within(tuple(datetime.date.fromisoformat(d) for d in dates), request, period, 99) == expected
    assert rt.units_within(rt.Unknown(frozenset({"prior_visit_dates"})), request, period, 7) == 7


def test_a_section_over_its_own_guideline_orders_the_other_sections():
    """`overrides GUIDELINE` naming the section's own guideline: its rules win over the other sections' rules."""
    schedule = mtus_dsl.loads({"t.mtus": HEADER + '''
section general "General" pages 1:
    services physical_therapy
    pt_general: max_visits 10

section knee "Knee" pages 2:
    services physical_therapy
    regions knee
    overrides g
    knee_rule: max_visits 6
    knee_severe: max_visits 8 when quantity > 100
        overrides knee_rule
'''})
    assert _both(schedule, BASE).rules == ("knee_rule",)


def test_a_section_clause_is_checked_without_rules():
    """A section's `unless` is typed even when the section has no rule yet."""
    assert "E104" in _codes(HEADER + '''
section s "S" pages 1:
    services physical_therapy
    unless quantity
''')


@pytest.mark.parametrize("line, first, second", [
    ("general: max_visits 6 unlesspost_surgical", "unless", "post_surgical"),
    ("general: max_visits 6 whenprior_visits < 3", "when", "prior_visits"),
    ("general: max_visits 6 over 4weeks", "4", "weeks"),
])
def test_a_keyword_run_into_the_next_word_is_an_error_not_a_shorter_name(line, first, second):
    """`unlesspost_surgical` is not `unless post_surgical`: the rule would change without a word said."""
    source = ('guideline demo "Demo" edition "1":\n    in force from 2020-01-01\n\n'
              f'section massage "Massage" page 60:\n    services massage\n    {line}\n')
    found = compile_sources({"t.mtus": source}).diagnostics
    assert [(d.code, d.message) for d in found] == [
        ("E001", f"'{first}' runs into '{second}': a keyword or number is a word of its own")]
    assert found[0].span is not None and (found[0].span.line, found[0].span.column) == (6, 5 + line.index(first + second))
    spaced = source.replace(first + second, f"{first} {second}")
    assert "E001" not in [d.code for d in compile_sources({"t.mtus": spaced}).diagnostics]
