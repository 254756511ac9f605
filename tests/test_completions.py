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
