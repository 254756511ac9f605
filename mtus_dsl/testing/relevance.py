"""The relevance property: a decision asks only for what changes the answer, and decides whatever the rest is.

Checked from outside the engine, through `decide` on complete cases:

- a decided case keeps its (outcome, approved) however its absent inputs are
  filled in (drawn at random, and at the plan's boundaries);
- a needs_information case names inputs the case leaves out, and for each one
  there are two completions that differ only in it and get different answers.
  The completions are enumerated over the values the plan's boundaries give the
  named inputs (`completions.candidates`), the other absent inputs drawn once: an
  input that cannot change the answer cannot hide a witness for another one.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from mtus_dsl.case import CaseError
from mtus_dsl.completions import ABSENT, candidates
from mtus_dsl.decision import Decision, Outcome
from mtus_dsl.testing.properties import Context, Violation, summary
from mtus_dsl.testing.strategies import to_json

#: At most this many completions of the named inputs are decided for one case.
ENUMERATED = 64


def _answer(decision: Decision) -> tuple[Outcome, int]:
    return (decision.outcome, decision.approved)


def _decide(ctx: Context, data: Mapping[str, Any]) -> Decision | None:
    """Decide a completion; None for one that breaks a declared relation (not a case at all)."""
    try:
        return ctx.compiled(data)
    except CaseError:
        return None


def relevance(ctx: Context, data: dict[str, Any], more: st.DataObject) -> None:
    """needs_information names exactly the absent inputs that can change (outcome, approved); else it decides."""
    decision = ctx.decide(data)
    schema = ctx.program.schema
    absent = [spec for spec in schema.inputs if data.get(spec.name) is None]
    absent_names = {spec.name for spec in absent}
    named = set(decision.missing)
    if (decision.outcome is Outcome.NEEDS_INFORMATION) != bool(named):
        raise Violation(f"{summary(decision)} names missing facts {sorted(named)}")
    strange = sorted(named - absent_names)
    if strange:
        raise Violation(f"needs_information names {strange}, which the case gives (or are not inputs)")
    # Every absent input not named gets a drawn value: it cannot matter. (Not an input the language reads
    # as "none" once its partner is given: a condition word beside known diagnoses.)
    # Nor one bound to a named input by `at most`: its value would narrow what the named one can be.
    bound = {side for r in schema.relations if r.lower in named or r.upper in named for side in (r.lower, r.upper)}
    fill = [spec for spec in absent if spec.name not in named and spec.name not in bound
            and not any(data.get(p) is not None for p in ctx.closed.get(spec.name, ()))]
    filled = dict(data)
    for spec in fill:
        filled[spec.name] = ctx.strategies.draw_value(more.draw, spec.type, filled)
    ctx.strategies.keep_relations(filled, data)
    rest = _decide(ctx, filled)
    assume(rest is not None)
    assert rest is not None
    given = ", ".join(spec.name for spec in fill)
    related = [("the same case with the inputs it does not ask for given", filled)]
    if decision.outcome is not Outcome.NEEDS_INFORMATION:
        if rest.outcome is Outcome.NEEDS_INFORMATION:
            raise Violation(f"with every fact given, the decision still needs {', '.join(rest.missing)}", related)
        if _answer(rest) != _answer(decision):
            raise Violation(f"{summary(decision)} does not say it needs {given}, but giving them changes it to "
                            f"{summary(rest)}", related)
        return
    if ctx.schedule.engine.exhausted(data):
        # Past the search budget needs_information is the bounded search's answer, documented to ask
        # for more than it may need (docs/testing.md): exactness is not claimed, so not checked.
        ctx.skip("needs_information", "past the search budget")
    if rest.outcome is not Outcome.NEEDS_INFORMATION or not named <= set(rest.missing):
        raise Violation(f"{summary(decision)}, but giving {given}, which it does not ask for, gives {summary(rest)}",
                        related)
    # Enumerate the named inputs at the plan's boundaries: each needs a witness.
    known = {**ctx.schedule.case(filled).values}
    domains = []
    order = sorted(named)
    specs = {spec.name: spec for spec in absent}
    boundaries = ctx.schedule.engine.plan.boundaries
    closable = {name for name, _ in boundaries.partners}
    for name in order:
        values = candidates(name, specs[name].type, known, schema, boundaries)
        # An input read as nothing beside its partner may also be left out (the condition word).
        domains.append([ABSENT, *values] if name in closable else values)
    # Completions by the index of each value in its domain: records (surgeries) are not hashable.
    completions = list(itertools.islice(itertools.product(*(range(len(d)) for d in domains)), ENUMERATED))
    answers: dict[tuple[int, ...], tuple[Outcome, int]] = {}
    for chosen in completions:
        case = dict(filled)
        case.update((name, to_json(domain[index])) for name, domain, index in zip(order, domains, chosen)
                    if domain[index] is not ABSENT)
        decided = _decide(ctx, case)
        if decided is None:
            continue
        if decided.outcome is Outcome.NEEDS_INFORMATION:
            raise Violation(f"with {', '.join(order)} given, the decision still needs {', '.join(decided.missing)}",
                            [("the completed case", case)])
        answers[chosen] = _answer(decided)
    if len(completions) == ENUMERATED:
        return  # too many to look for every witness: the check above (no completion still asks) holds
    for i, name in enumerate(order):
        if not _witnessed(answers, i):
            raise Violation(
                f"{summary(decision)} asks for {name}, but no two completions that differ only in it get different "
                f"answers (tried {len(answers)} completions at the plan's boundaries)",
                related,
            )


def _witnessed(answers: Mapping[tuple[int, ...], tuple[Outcome, int]], index: int) -> bool:
    """Whether two completions equal except at `index` get different answers."""
    seen: dict[tuple[int, ...], tuple[Outcome, int]] = {}
    for values, answer in answers.items():
        key = values[:index] + values[index + 1:]
        other = seen.setdefault(key, answer)
        if other != answer:
            return True
    return False
