"""Cases aimed by the solver: both sides of every guard, limits at their edges, counterexamples to stated properties.

Random generation rarely hits a rule that needs a diagnosis code, a surgery
three months back and a pain score of exactly 7; the solver (compiler/solver.py)
finds such cases directly. `aimed_cases` gives, for every rule and cap: a case
it governs (a cap: applies), a case just outside each of its `when` clauses and
inside each of its `unless` clauses, requests at its allowance and one unit
either side, prior units at its limit and either side, and request dates at the
edges of its edition. `counterexample` looks for a case that breaks an
author-stated property: for each rule that could govern a case the property is
about, the solver proposes cases that rule governs (asking for the most, the
least, with nothing given before), and the reference interpreter decides each
and evaluates the property; the engine stays the one place decisions are made.

Every case is JSON-ready and made of inputs only; analysis's fallback aside,
whatever the encoding cannot express is skipped, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mtus_dsl import runtime as rt
from mtus_dsl.case import Case, CaseError
from mtus_dsl.compiler import ir
from mtus_dsl.compiler.analysis import _relevant
from mtus_dsl.compiler.interpreter import Interpreter


def aimed_cases(program: ir.Program) -> list[dict[str, object]]:
    """Valid cases of inputs only, on both sides of each rule's guard and at the edges of its limits and edition."""
    from mtus_dsl.compiler import solver

    if not solver.available():
        return []
    out: list[dict[str, object]] = []
    with solver.LOCK:
        encoder = solver.Encoder(program)
        for rule in program.rules:
            relevant = _relevant(program, [rule.name], actions=True)
            for conditions in _aims(program, encoder, rule):
                found = _ask(encoder, conditions, relevant)
                if found is not None and found not in out:
                    out.append(found)
    return [case for case in out if _valid(program, case)]


def counterexample(program: ir.Program, prop: ir.PropertyInfo) -> dict[str, object] | None:
    """A case that the property is about and whose decision breaks one of its `expect` lines, or None."""
    from mtus_dsl.compiler import solver

    if not solver.available():
        return None
    interpreter = Interpreter(program)
    engine = interpreter.engine()
    with solver.LOCK:
        encoder = solver.Encoder(program)
        about = []
        for clause in prop.conditions:
            # Clauses about the decision (outcome, approved, requested) are checked once it is made.
            if any(isinstance(e, ir.Var) for e in ir.walk(clause)):
                continue
            try:
                value, ok = encoder.expr(clause, {})
            except solver.failures():
                continue
            about += [value.term, ok]
        candidates: list[dict[str, object]] = []
        for rule in program.rules:
            if rule.kind != "rule":
                continue
            relevant = _relevant(program, [rule.name], actions=True) | _read(program, prop)
            try:
                governs = _governs(program, encoder, rule)
            except solver.failures():
                continue
            for extra in [[], *_requests(encoder, rule)]:
                found = _ask(encoder, [*about, *governs, *extra], relevant)
                if found is not None and found not in candidates:
                    candidates.append(found)
    for case in candidates:
        if not _valid(program, case):
            continue
        facts = engine.facts(Case.from_dict(case, program.schema))
        try:
            decision = engine.decide(case)
            env = {"outcome": decision.outcome.value, "approved": decision.approved, "requested": decision.requested}
            if not all(interpreter.eval(c, facts, env) is True for c in prop.conditions):
                continue
            if any(interpreter.eval(c, facts, env) is False for c in prop.expectations):
                return case
        except rt.RuleError:
            continue
    return None


def _aims(program: ir.Program, encoder: Any, rule: ir.RuleInfo) -> Iterator[list[Any]]:
    """The questions asked for one rule: each a list of conditions, skipped when the encoding cannot say it."""
    from mtus_dsl.compiler import solver

    def attempt(build: Callable[[], list[Any]]) -> list[Any] | None:
        try:
            return build()
        except solver.failures():
            return None

    z = encoder.z
    base = attempt(lambda: [encoder.scope(rule), encoder.in_force(rule)])
    if base is None:
        return
    clauses = attempt(lambda: [encoder.expr(c, {}) for c in rule.when + rule.unless])
    if clauses is None:
        return
    whens, unlesses = clauses[: len(rule.when)], clauses[len(rule.when):]
    holds = [value.term for value, _ in whens] + [z.Not(value.term) for value, _ in unlesses]
    oks = [ok for _, ok in clauses]
    inside = attempt(lambda: _governs(program, encoder, rule)) if rule.kind == "rule" else [*base, *holds, *oks]
    if inside is not None:
        yield inside
        for extra in _requests(encoder, rule):
            yield [*inside, *extra]
    # Just outside: one `when` false (the others true), or one `unless` true.
    for index in range(len(holds)):
        others = [h for i, h in enumerate(holds) if i != index]
        yield [*base, *others, z.Not(holds[index]), *oks]
    # The edges of its edition: the first and last day in force, and the days either side.
    guideline = {g.name: g for g in program.guidelines}[rule.guideline]
    date = encoder.input("request_date")
    for edge in (guideline.in_force_from, guideline.in_force_to):
        if edge is None:
            continue
        for days in (-1, 0, 1):
            day = edge.toordinal() + days
            yield [encoder.scope(rule), *holds, *oks, date.term == day]


def _requests(encoder: Any, rule: ir.RuleInfo) -> Iterator[list[Any]]:
    """Requests at a limit's edges: quantity at what remains and either side, prior units at the limit and around."""
    from mtus_dsl.compiler import solver

    quantity = encoder.input("quantity").term
    yield [quantity == 1000]
    yield [quantity == 1]
    action = rule.action
    amounts = [action.amount] if isinstance(action, ir.Limit) else (
        [action.initial, action.total] if isinstance(action, ir.Trial) else [])
    if not amounts:
        return
    assert isinstance(action, (ir.Limit, ir.Trial))
    try:
        prior, prior_ok = encoder.expr(action.counting, {})
        limits = [encoder.expr(a, {}) for a in amounts]
    except solver.failures():  # an operand the encoding cannot express: no edges for it
        return
    for limit, limit_ok in limits:
        for step in (-1, 0, 1):
            yield [prior_ok, limit_ok, quantity == limit.term - prior.term + step]
            yield [prior_ok, limit_ok, prior.term == limit.term + step]


def _governs(program: ir.Program, encoder: Any, rule: ir.RuleInfo) -> list[Any]:
    """The rule applies and no rule before it in priority order, in a bucket it is filed under, does."""
    z = encoder.z
    for (service, region), (rules, _caps) in program.dispatch:
        if rule.name not in rules:
            continue
        applies, ok = encoder.applies(rule.name)
        conditions = [encoder.within([service], [region]), applies, ok]
        for earlier in rules[: rules.index(rule.name)]:
            other, other_ok = encoder.applies(earlier)
            conditions += [z.Not(other), other_ok]
        return conditions
    return [z.BoolVal(False)]


def _ask(encoder: Any, conditions: Sequence[Any], relevant: set[str]) -> dict[str, object] | None:
    from mtus_dsl.compiler import solver

    try:
        # Hypothesis shrinks what fails: no second solve for a case that reads well.
        status, case = encoder.solve(*conditions, plain=False)
    except solver.failures():
        return None
    if status != "sat" or case is None:
        return None
    required = {spec.name for spec in encoder.program.schema.inputs if spec.required}
    return {k: v for k, v in case.items() if k in required or k in relevant}


def _read(program: ir.Program, prop: ir.PropertyInfo) -> set[str]:
    """The inputs a property reads, through the facts it uses."""
    definitions = {f.name: f.expr for f in program.facts}
    found: set[str] = set()
    seen: set[str] = set()
    pending = list(prop.conditions + prop.expectations)
    while pending:
        for e in ir.walk(pending.pop()):
            if isinstance(e, ir.Input):
                found.add(e.name)
            elif isinstance(e, ir.Fact) and e.name not in seen:
                seen.add(e.name)
                pending.append(definitions[e.name])
    return found


def _valid(program: ir.Program, case: dict[str, object]) -> bool:
    try:
        Case.from_dict(case, program.schema)
    except CaseError:
        return False
    return True
