"""Run the examples written next to the rules: each case must get the decision it states."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from mtus_dsl.case import CaseError
from mtus_dsl.compiler import ir
from mtus_dsl.decision import Decision
from mtus_dsl.runtime import RuleError


@attrs.frozen
class ExampleResult:
    """How one example fared under one backend."""

    example: ir.ExampleInfo
    backend: str
    decision: Decision | None
    failure: str | None

    @property
    def passed(self) -> bool:
        """Tell whether the example got the decision it states."""
        return self.failure is None


def check_example(
    example: ir.ExampleInfo, decide: Callable[..., Decision], backend: str
) -> ExampleResult:
    """Decide an example's case (on the record if it says so) and compare the decision with its `expect` line."""
    try:
        decision = decide(example.case, on_record=True) if example.on_record else decide(example.case)
    except CaseError as error:
        return ExampleResult(example, backend, None, f"the case is not valid: {error}")
    except RuleError as error:
        return ExampleResult(example, backend, None, f"a rule failed: {error}")
    problems = []
    if decision.outcome.value != example.outcome:
        problems.append(f"outcome {decision.outcome.value}, expected {example.outcome}")
    if example.approved is not None and decision.approved != example.approved:
        problems.append(f"approved {decision.approved}, expected {example.approved}")
    if example.by and tuple(decision.rules) != example.by:
        decided = ", ".join(decision.rules) or "no rule"
        problems.append(f"decided by {decided}, expected {', '.join(example.by)}")
    if example.missing and tuple(sorted(decision.missing)) != tuple(sorted(example.missing)):
        problems.append(f"missing {', '.join(decision.missing) or 'nothing'}, expected {', '.join(example.missing)}")
    assumed = tuple(sorted(a.field for a in decision.assumed))
    if example.assumed and assumed != tuple(sorted(example.assumed)):
        problems.append(f"assumed {', '.join(assumed) or 'nothing'}, expected {', '.join(example.assumed)}")
    if problems:
        return ExampleResult(example, backend, decision, "; ".join(problems) + f" (rationale: {decision.rationale})")
    return ExampleResult(example, backend, decision, None)
