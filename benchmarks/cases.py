"""The benchmark cases: the seed IMR case and one case for each way a decision can go.

Every case is decided identically (rationale, citations and trace included) by
the compiled code, the interpreter and the hand-written baseline; the runner
asserts it before timing anything.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED: dict[str, Any] = json.loads((ROOT / "examples" / "seed_imr.json").read_text())

_BASE: dict[str, Any] = {
    "request_date": "2015-09-23",
    "service": "physical_therapy",
    "body_region": "lumbar_spine",
    "prior_visits": 0,
    "prior_visits_all_regions": 0,
    "surgeries": [],
    "injury_date": "2014-11-10",
}


def _case(name: str, **fields: Any) -> dict[str, Any]:
    case = {"id": name, **_BASE, **fields}
    return {k: v for k, v in case.items() if v is not _DROP}


_DROP = object()

#: (label, case dict). The first is the seed case, the headline figure.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("seed IMR (modify 10/12, neuritis)", SEED),
    ("certify (neuritis at limit)", _case("c1", quantity=10, diagnoses=["729.2"])),
    ("modify by prior visits", _case("c2", quantity=6, diagnoses=["M54.16"], prior_visits=8,
                                            prior_visits_all_regions=8)),
    ("non-certify (myalgia used up)", _case("c3", quantity=4, diagnoses=["729.1"], prior_visits=10,
                                                   prior_visits_all_regions=10)),
    ("certify CRPS 24", _case("c4", quantity=24, diagnoses=["337.21", "729.1"])),
    ("general rule", _case("c5", quantity=12, diagnoses=["847.2"], service="occupational_therapy")),
    ("cap binds (LC 4604.5)", _case("c6", quantity=10, diagnoses=["729.2"], prior_visits_all_regions=20)),
    (
        "post-surgical knee (not addressed)",
        _case(
            "c7",
            quantity=12,
            body_region="knee",
            diagnoses=["729.1"],
            surgeries=[{"procedure": "meniscectomy", "body_region": "knee", "date": "2015-07-16"}],
        ),
    ),
    ("needs info: prior visits", _case("c8", quantity=8, diagnoses=["729.2"], prior_visits=_DROP)),
    ("needs info: no diagnosis", _case("c9", quantity=8)),
    ("needs info: radicular findings", _case("c10", quantity=8, diagnoses=["722.10"])),
    ("not in force (2018)", _case("c11", quantity=8, diagnoses=["729.2"], request_date="2018-01-02")),
    ("not addressed (acupuncture)", _case("c12", quantity=6, diagnoses=["729.2"], service="acupuncture")),
]


def random_cases(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Random requests over the shipped corpus's vocabulary, some fields missing: for checking the baseline."""
    rng = random.Random(seed)
    codes = ["729.1", "M79.18", "M60.9", "729.2", "724.4", "M79.2", "M54.16", "337.21", "G90.50",
             "722.10", "M51.26", "722.73", "M51.17", "847.2", "M25.561"]
    regions = ["lumbar_spine", "knee", "cervical_spine", "shoulder"]
    cases = []
    for i in range(count):
        case: dict[str, Any] = {
            "id": f"r{i}",
            "request_date": rng.choice(["2015-09-23", "2016-02-29", "2018-01-02", "2009-07-18", "2015-01-16"]),
            "service": rng.choice(["physical_therapy", "occupational_therapy", "chiropractic", "acupuncture"]),
            "body_region": rng.choice(regions),
            "quantity": rng.randint(1, 30),
            "diagnoses": rng.sample(codes, rng.randint(0, 3)),
            "condition": rng.choice(["myalgia", "neuritis", "crps", "lumbar_disc_displacement"]),
            "radicular_findings": rng.choice([True, False]),
            "prior_visits": (prior := rng.randint(0, 26)),
            # The visits for all regions include this region's (a relation the prelude declares).
            "prior_visits_all_regions": prior + rng.randint(0, 4),
            "surgeries": [
                {
                    "procedure": rng.choice(["meniscectomy", "discectomy"]),
                    "body_region": rng.choice(regions),
                    "date": rng.choice(["2015-07-16", "2015-03-23", "2014-12-01", "2015-09-23"]),
                }
                for _ in range(rng.randint(0, 2))
            ],
            "injury_date": rng.choice(["2014-11-10", "2003-05-01"]),
        }
        for field in ("diagnoses", "condition", "radicular_findings", "prior_visits", "prior_visits_all_regions",
                      "surgeries", "injury_date"):
            if rng.random() < 0.25:
                del case[field]
        cases.append(case)
    return cases
