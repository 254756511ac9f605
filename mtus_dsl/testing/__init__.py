"""Property-based testing of guidelines: case strategies, built-in properties, `mtus test`, a pytest plugin.

```python
from hypothesis import given
from mtus_dsl.testing import cases
import mtus_dsl

schedule = mtus_dsl.load(["guidelines/"])

@given(cases(schedule, service="physical_therapy"))
def test_never_more_than_24(case):
    assert schedule.decide(case).approved <= 24
```

`st.from_type(mtus_dsl.Case)` draws cases for the shipped corpus (or for the
guidelines named by `use_guidelines(...)` or $MTUS_GUIDELINES). See docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import strategies as st

from mtus_dsl.case import Case
from mtus_dsl.schedule import Schedule
from mtus_dsl.testing.profiles import CI, THOROUGH, profile
from mtus_dsl.testing.properties import BUILTIN_PROPERTIES, BuiltinProperty, Context, Violation
from mtus_dsl.testing.runner import Check, CheckResult, Suite, example_block, render_result
from mtus_dsl.testing.strategies import (
    Boundaries,
    boundaries,
    builder,
    case_to_data,
    default_schedule,
    use_guidelines,
)

__all__ = [
    "BUILTIN_PROPERTIES",
    "CI",
    "THOROUGH",
    "Boundaries",
    "BuiltinProperty",
    "Check",
    "CheckResult",
    "Context",
    "Suite",
    "Violation",
    "boundaries",
    "case_data",
    "case_to_data",
    "cases",
    "default_schedule",
    "example_block",
    "profile",
    "render_result",
    "use_guidelines",
]


def case_data(
    schedule: Schedule | None = None,
    *,
    rules: Iterable[str] | None = None,
    unknown: bool | float | Sequence[float] = True,
    **fields: Any,
) -> st.SearchStrategy[dict[str, Any]]:
    """Cases as JSON-ready dicts for `schedule` (default: `default_schedule()`).

    `rules` aims most cases at the services and body regions those rules cover;
    `unknown` is the chance an optional input is left out (True: 0.1; False: never; a list: one per case);
    each keyword fixes a field to a value or a strategy (None leaves it out: unknown).
    """
    return builder(schedule or default_schedule()).case_data(rules=rules, unknown=unknown, fields=fields)


def cases(
    schedule: Schedule | None = None,
    *,
    rules: Iterable[str] | None = None,
    unknown: bool | float | Sequence[float] = True,
    **fields: Any,
) -> st.SearchStrategy[Case]:
    """Validated `Case` objects for `schedule`; the arguments are those of `case_data`."""
    chosen = schedule or default_schedule()
    strategy = case_data(chosen, rules=rules, unknown=unknown, **fields)
    return strategy.map(lambda data: Case.from_dict(data, chosen.schema))
