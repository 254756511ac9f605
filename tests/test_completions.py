"""The exact needs_information search: per-bucket candidates, its early stop, and cases it used to give up on."""

from __future__ import annotations

from typing import Any

import pytest

import mtus_dsl
from mtus_dsl import completions
from mtus_dsl.completions import candidates
from mtus_dsl.decision import Outcome

KNEE_OT = {
    # A row of benchmarks/bench_audit.py's table: surgeries, both postsurgical counts and the
    # improvement findings left out. The search used to run past its budget on it.
    "id": "r1", "request_date": "2015-01-16", "service": "occupational_therapy", "body_region": "knee",
    "quantity": 22, "diagnoses": ["M79.18", "847.2"], "condition": "crps", "radicular_findings": True,
    "prior_visits_all_regions": 3, "injury_date": "2014-11-10",
}


def _search(schedule: mtus_dsl.Schedule, data: dict[str, Any]) -> completions._Search:
    engine = schedule.engine
    case, bucket = engine._dispatch(data)
    assert bucket is not None
    return completions._Search(engine, case.values, bucket, False)


def _procedures(schedule: mtus_dsl.Schedule, data: dict[str, Any]) -> set[str]:
    """The procedures of the surgeries the search completes a case's absent surgeries with."""
    search = _search(schedule, data)
    values = candidates("surgeries", search.specs["surgeries"], search.values, schedule.schema, search.boundaries)
    return {record.values["procedure"] for surgeries in values for record in surgeries}


def test_a_knee_request_tries_the_knee_procedures_not_another_regions(corpus: mtus_dsl.Schedule) -> None:
    knee = _procedures(corpus, KNEE_OT)
    assert {"meniscectomy", "acl_repair", "knee_arthroplasty", "other"} <= knee
    # The shoulder's and the wrist's rows of the postsurgical table are never looked up for a knee request.
    assert not knee & {"rotator_cuff_repair_open", "rotator_cuff_repair_arthroscopic", "carpal_tunnel_release"}
    shoulder = _procedures(corpus, {**KNEE_OT, "body_region": "shoulder"})
    assert "rotator_cuff_repair_open" in shoulder and "meniscectomy" not in shoulder


def test_a_given_surgery_on_another_region_keeps_that_regions_rows(corpus: mtus_dsl.Schedule) -> None:
    # A surgery the case gives is on the shoulder: the table's shoulder rows may be looked up, so their
    # numbers stay among the values tried (rotator_cuff_rupture_repair's general course of 40 visits).
    surgery = {"procedure": "rotator_cuff_rupture_repair", "body_region": "shoulder", "date": "2014-12-01"}
    search = _search(corpus, {**KNEE_OT, "surgeries": [surgery]})
    assert 40 in search.boundaries.numbers
    assert 40 not in _search(corpus, KNEE_OT).boundaries.numbers


def test_each_bucket_gets_its_own_boundaries_from_both_backends(corpus: mtus_dsl.Schedule) -> None:
    compiled, interpreted = corpus.engine, corpus.interpreter
    assert compiled.plan.boundaries == interpreted.plan.boundaries
    key = ("occupational_therapy", "knee")
    assert compiled.buckets[key].boundaries == interpreted.buckets[key].boundaries
    knee = compiled.buckets[key].boundaries
    assert knee is not None and knee.inputs and set(knee.numbers) < set(compiled.plan.boundaries.numbers)


def test_a_case_that_ran_past_the_budget_gets_its_exact_missing(corpus: mtus_dsl.Schedule) -> None:
    assert not corpus.engine.exhausted(KNEE_OT)
    decision = corpus.decide(KNEE_OT)
    assert decision.outcome is Outcome.NEEDS_INFORMATION
    # Not further_improvement_expected or functional_improvement: no two completions differing only in
    # one of them get different answers (the superset past the budget named them both).
    assert decision.missing == ("employer_authorized_more", "postsurgical_visits", "prior_visits", "surgeries")


def test_the_search_stops_once_every_input_it_could_ask_is_shown(corpus: mtus_dsl.Schedule,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(e for e in corpus.program.examples if e.title == "days attended not stated")
    data = dict(example.case)
    full = _search(corpus, data)
    full.check_at = 10**9  # never looks: the whole tree
    engine = corpus.engine
    case, bucket = engine._dispatch(data)
    assert bucket is not None
    settled = engine.settle(engine.facts_class(case.values), bucket, case.values["quantity"])
    full.explore({}, settled)
    settles = 0
    settle = engine.settle

    def counted(*args: Any) -> Any:
        nonlocal settles
        settles += 1
        return settle(*args)

    monkeypatch.setattr(engine, "settle", counted)
    resolution = completions.resolve(engine, case.values, bucket, settled)
    assert resolution.missing == completions._relevant(full.leaves) == {"functional_improvement",
                                                                        "program_days_attended"}
    assert not resolution.exhausted
    assert settles < full.spent


def test_relevant_finds_what_every_pair_of_leaves_shows(corpus: mtus_dsl.Schedule) -> None:
    # `_relevant` hashes the leaves' values rather than comparing every pair: the same inputs either way.
    engine = corpus.engine
    for data in (KNEE_OT, {**KNEE_OT, "prior_visit_dates": [], "employer_authorized_more": False}):
        search = _search(corpus, data)
        search.check_at = 10**9
        case, bucket = engine._dispatch(data)
        assert bucket is not None
        search.explore({}, engine.settle(engine.facts_class(case.values), bucket, case.values["quantity"]))
        leaves = search.leaves
        shown: set[str] = set()
        for i, a in enumerate(leaves):
            for b in leaves[i + 1:]:
                if completions._answer(a.settled) == completions._answer(b.settled):
                    continue
                first, second = list(a.chosen.items()), list(b.chosen.items())
                depth = next(d for d, (x, y) in enumerate(zip(first, second)) if x != y)
                name = first[depth][0]
                if all(b.chosen[k] == v for k, v in first[depth + 1:] if k in b.chosen):
                    shown.add(name)
        assert shown and completions._relevant(leaves) == shown


FACT_READS = '''
guideline g "G" edition "1":
    in force from 2000-01-01

input pain: integer 0..10 "pain score"
input dates: list of date "visit dates"
input flagged: boolean "a flag"

table course:
    key body_region: body_region
    value visits: integer
    knee -> 8
    otherwise -> 6

fact by_table: course = course[body_region] "the row for the region"
fact any_recent: boolean = any d in dates where (d > 2010-01-01)
fact through: boolean = by_table.visits > pain and any_recent
fact asks_rule: boolean = flagged_rule or pain > 3

section s "S" pages 1:
    services physical_therapy
    flagged_rule: max_visits 4 when flagged
    general: max_visits 10 unless flagged_rule
'''


def test_each_fact_knows_every_input_it_can_read() -> None:
    """Through a table's key, a quantifier's list, other facts, and a rule it asks about (its guard, scope and
    in-force dates): what the search needs to reuse a fact across completions."""
    from mtus_dsl.compiler import compile_sources
    from mtus_dsl.compiler.lower import fact_inputs

    program = compile_sources({"f.mtus": FACT_READS}).program
    assert program is not None
    found = fact_inputs(program)
    assert found["by_table"] == ("body_region",)
    assert found["any_recent"] == ("dates",)
    assert found["through"] == ("body_region", "dates", "pain")
    assert found["asks_rule"] == ("body_region", "flagged", "pain", "request_date", "service")


def test_reusing_derived_facts_changes_no_decision(corpus: mtus_dsl.Schedule, monkeypatch: pytest.MonkeyPatch) -> None:
    """The search with every derived fact derived again in each completion decides every example as it does
    reusing them: outcome, approved, missing, rules and rationale, compiled and interpreted, on the record too."""
    import itertools

    cases = [dict(example.case) for example in corpus.program.examples]
    optional = {spec.name for spec in corpus.schema.inputs if not spec.required}
    # Each example with two of its optional fields left out (a few pairs each): searched cases of every bucket.
    variants = [{k: v for k, v in case.items() if k not in drop} for case in cases[::3]
                for drop in itertools.islice(itertools.combinations(sorted(optional & set(case)), 2), 2)]
    assert len(variants) > 100

    def answers() -> list[Any]:
        out = []
        for data in variants:
            for decide in (corpus.decide, corpus.interpret):
                for on_record in (False, True)[: 1 if decide is corpus.interpret else 2]:
                    try:
                        d = decide(data, on_record=on_record)
                    except Exception as error:  # a rule failing is an answer too
                        out.append(repr(error))
                        continue
                    out.append((d.outcome, d.approved, d.missing, d.rules, d.rationale))
        return out

    reused = answers()
    engines = [corpus.engine, corpus.interpreter]
    for engine in engines:
        monkeypatch.setattr(engine, "kept", lambda name: frozenset())
    derived = answers()
    assert derived == reused
    assert any(a[0] is Outcome.NEEDS_INFORMATION for a in reused if isinstance(a, tuple))
