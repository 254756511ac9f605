"""The competitor for target [1]: the CPMTG physical-medicine table as a GoRules JDM decision graph.

zen-engine (GoRules' ZEN Engine, Rust with Python bindings; `pip install zen-engine`)
is only a benchmark comparison: it is not a dependency of mtus-dsl, and the
benchmark skips it, saying so, when it is not installed.

The graph is what a team using a generic rules engine would write for the same
section: an input node, a decision table (hit policy "first") over service,
body region, request date (yyyymmdd), post-surgical flag, conditions and
radicular findings, giving the governing rule and its visit limit, then an
expression node that subtracts the prior visits and names the outcome. The
numbers come from handwritten.py (the one place where guideline numbers are
typed into Python), so the two baselines cannot drift apart.

The table takes facts already derived (the conditions from the ICD codes, the
post-surgical flag from the surgeries): `context(case)` derives them with the
hand-written helpers, outside the timed call. So zen-engine is timed on less
work than `Schedule.outcome`, which derives them itself. It has no notion of
an unknown fact and no Labor Code cap: it covers the cases whose decision
needs neither (the agreement check skips the others).
"""

from __future__ import annotations

import datetime
from typing import Any

import handwritten as hw

from mtus_dsl import Case, Outcome

KEY = "cpmtg_physical_medicine.json"


def available() -> str | None:
    """None if zen-engine can be imported, else why not (for the skip message)."""
    try:
        import zen  # noqa: F401
    except ImportError as error:
        return f"zen-engine is not installed ({error}); `pip install zen-engine` to compare with it"
    return None


def _day(date: datetime.date) -> int:
    return date.year * 10000 + date.month * 100 + date.day


def graph() -> dict[str, Any]:
    """The JDM decision graph: input -> decision table -> expression -> output."""
    at = {"x": 0, "y": 0}
    services = ", ".join(f'"{s}"' for s in sorted(hw._PM_SERVICES))
    in_force = f"[{_day(hw._CPMTG_FROM)}..{_day(hw._CPMTG_TO)}]"

    def row(n: int, rule: str, conditions: str, radicular: str = "") -> dict[str, str]:
        return {
            "_id": f"row{n}", "service": services, "region": "", "date": in_force, "post": "false",
            "conditions": conditions, "radicular": radicular, "rule": f'"{rule}"', "limit": str(hw._LIMIT[rule]),
        }

    rows = [  # first hit wins: the corpus's priority order (crps, neuritis_type, myalgia, general)
        row(1, hw._CRPS, 'contains($, "crps")'),
        row(2, hw._NEURITIS, 'contains($, "neuritis") or contains($, "lumbar_disc_radiculopathy")'),
        row(3, hw._NEURITIS, 'contains($, "lumbar_disc_displacement")', "true"),
        row(4, hw._MYALGIA, 'contains($, "myalgia")'),
        row(5, hw._GENERAL, ""),
    ]
    table = {
        "hitPolicy": "first",
        "inputs": [
            {"id": "service", "name": "Service", "field": "service"},
            {"id": "region", "name": "Body region", "field": "body_region"},
            {"id": "date", "name": "Request date", "field": "request_date"},
            {"id": "post", "name": "Post-surgical", "field": "post_surgical"},
            {"id": "conditions", "name": "Conditions", "field": "conditions"},
            {"id": "radicular", "name": "Radicular findings", "field": "radicular_findings"},
        ],
        "outputs": [
            {"id": "rule", "name": "Rule", "field": "rule"},
            {"id": "limit", "name": "Visit limit", "field": "limit"},
        ],
        "rules": rows,
        "passThrough": True,
        "inputField": None,
        "outputPath": None,
        "executionMode": "single",
    }
    expressions = {
        "expressions": [
            {"id": "approved", "key": "approved",
             "value": "limit == null ? 0 : min([quantity, max([limit - prior_visits, 0])])"},
            {"id": "outcome", "key": "outcome",
             "value": "limit == null ? 'not_addressed' : ($.approved == quantity ? 'certify' : "
                      "($.approved == 0 ? 'non_certify' : 'modify'))"},
            {"id": "rule", "key": "rule", "value": "rule"},
        ],
        "passThrough": False,
        "inputField": None,
        "outputPath": None,
        "executionMode": "single",
    }
    return {
        "nodes": [
            {"id": "request", "type": "inputNode", "name": "request", "position": at},
            {"id": "table", "type": "decisionTableNode", "name": "physical medicine", "position": at, "content": table},
            {"id": "outcome", "type": "expressionNode", "name": "outcome", "position": at, "content": expressions},
            {"id": "response", "type": "outputNode", "name": "response", "position": at},
        ],
        "edges": [
            {"id": "e1", "sourceId": "request", "targetId": "table", "type": "edge"},
            {"id": "e2", "sourceId": "table", "targetId": "outcome", "type": "edge"},
            {"id": "e3", "sourceId": "outcome", "targetId": "response", "type": "edge"},
        ],
    }


def decision() -> Any:
    """A ZenEngine with a static loader holding the graph, and the decision it loads (evaluate is synchronous)."""
    import zen

    engine = zen.ZenEngine({"loader": {"type": "static", "content": {KEY: graph()}}})
    return engine.get_decision(KEY)


def context(case: Case) -> dict[str, Any] | None:
    """The table's input for a validated case, derived facts included; None if the table cannot take it."""
    v = case.values
    conditions = hw._conditions(v)
    surgery = hw._qualifying_surgery(v, v["body_region"], v["request_date"])
    if conditions.__class__ is hw._Missing or surgery.__class__ is hw._Missing or v.get("prior_visits") is None:
        return None  # an unknown fact: the table has no way to say "needs information"
    return {
        "service": v["service"],
        "body_region": v["body_region"],
        "request_date": _day(v["request_date"]),
        "post_surgical": surgery is not None,
        "conditions": sorted(conditions),
        "radicular_findings": v.get("radicular_findings"),
        "prior_visits": v["prior_visits"],
        "quantity": v["quantity"],
    }


def outcome(result: dict[str, Any]) -> tuple[Outcome, int]:
    """(outcome, approved) from an evaluation's response."""
    answer = result["result"]
    return Outcome(answer["outcome"]), int(answer["approved"])
