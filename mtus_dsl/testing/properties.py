"""The properties every set of guidelines must satisfy, and the ones authors state in .mtus files.

Each built-in property is a function of one generated case (and more values it
may draw) that raises `Violation` when the property fails. Several re-derive
what a decision must be with the reference interpreter's plan: `approved` from
the deciding rule's allowance (the engine's own arithmetic, evaluated on the
interpreter's facts) and every cap taken one by one, exceptions from the
`unless` clauses.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from hypothesis import assume, target
from hypothesis import strategies as st

from mtus_dsl import runtime as rt
from mtus_dsl.case import FIRST_CASE_DATE, LAST_CASE_DATE, Case, CaseSchema
from mtus_dsl.compiler import ir
from mtus_dsl.compiler.interpreter import Interpreter
from mtus_dsl.decision import STRICTNESS, Decision, Outcome
from mtus_dsl.engine import Facts
from mtus_dsl.schedule import Schedule
from mtus_dsl.testing.strategies import DECIDED, CaseStrategies, builder, expressions, to_json
from mtus_dsl.types import Type


class Violation(AssertionError):
    """A property does not hold for a case; `related` holds other cases that show it (label, case)."""

    def __init__(self, message: str, related: Sequence[tuple[str, Mapping[str, Any]]] = ()):
        super().__init__(message)
        self.message = message
        self.related = tuple((label, dict(case)) for label, case in related)


class Context:
    """What the properties need of one compiled set of guidelines: both backends and the IR."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.program = schedule.program
        self.evaluator = Interpreter(schedule.program)
        self.engine = schedule.interpreter  # the reference plan: guards and limits evaluated from the IR
        self.strategies: CaseStrategies = builder(schedule)
        self.dispatch = dict(schedule.program.dispatch)
        # The compiled decisions of the case being checked and its variants: every property decides the
        # same case, and one with an unknown input searches its completions (tens of milliseconds).
        self.decided: dict[str, Decision | Exception] = {}
        #: Cases a property could not check, by property, with why (said beside its count of cases).
        self.unchecked: dict[str, dict[str, int]] = {}
        # Inputs the language reads as "none", not unknown, when a partner input is given:
        # conditions_of(condition, diagnoses) is known once the diagnoses are; the condition
        # word then only adds to them (absent, it adds nothing).
        self.closed: dict[str, set[str]] = {}
        for expr in expressions(schedule.program):
            for node in ir.walk(expr):
                if isinstance(node, ir.Call) and node.func == "conditions_of" and len(node.args) == 2:
                    first, second = node.args
                    if isinstance(first, ir.Input) and isinstance(second, ir.Input):
                        self.closed.setdefault(first.name, set()).add(second.name)
                elif isinstance(node, ir.Call) and node.func == "units_within" and isinstance(node.args[0], ir.Input):
                    # Prior units not dated: a limit's period counts the number given. Absent is a reading
                    # (undated), not unknown, whatever else the case gives (request_date always is).
                    self.closed.setdefault(node.args[0].name, set()).add("request_date")

    def compiled(self, data: Mapping[str, Any]) -> Decision:
        """Decide with the compiled code, once per case while one generated case is checked (see `forget`)."""
        key = json.dumps(data, sort_keys=True, default=_tagged)
        if key not in self.decided:
            try:
                self.decided[key] = self.schedule.decide(data)
            except Exception as error:
                self.decided[key] = error
        answer = self.decided[key]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def skip(self, prop: str, why: str) -> None:
        """Leave this case unchecked by `prop`, counted under `why`."""
        reasons = self.unchecked.setdefault(prop, {})
        reasons[why] = reasons.get(why, 0) + 1
        assume(False)

    def forget(self) -> None:
        """Drop the decisions kept for the last generated case (memory stays bounded)."""
        self.decided.clear()

    def decide(self, data: Mapping[str, Any]) -> Decision:
        """Decide with the compiled code; a case the engine cannot decide is left to `totality`."""
        try:
            return self.compiled(data)
        except Exception:
            assume(False)
            raise  # pragma: no cover

    def facts(self, data: Mapping[str, Any]) -> Facts:
        """The facts of a case, as the reference interpreter computes them."""
        return self.engine.facts(Case.from_dict(data, self.program.schema))

    def eval(self, expr: ir.Expr, facts: Facts, env: Mapping[str, Any] | None = None) -> Any:
        """Evaluate an IR expression with the reference interpreter; a failing one is left to `totality`."""
        try:
            return self.evaluator.eval(expr, facts, env or {})
        except rt.RuleError:
            assume(False)
            raise  # pragma: no cover


def _tagged(value: object) -> str:
    """A value JSON does not know, with its type: a date and the string of it are different cases."""
    return f"{type(value).__name__}:{value!r}"


def summary(decision: Decision | None) -> str:
    """Say a decision in a few words: `modify 10 of 12 by neuritis, visit_cap`."""
    if decision is None:
        return "no decision"
    text = decision.outcome.value
    if decision.outcome.value in DECIDED:
        text += f" {decision.approved} of {decision.requested}"
    if decision.rules:
        text += " by " + ", ".join(decision.rules)
    if decision.missing:
        text += " (missing " + ", ".join(decision.missing) + ")"
    return text


def attempt(decide: Callable[[Mapping[str, Any]], Decision], data: Mapping[str, Any]) -> Decision | str:
    """Decide a case; an exception becomes its type and message."""
    try:
        return decide(data)
    except Exception as error:
        return f"{type(error).__name__}: {error}"


# --- the built-in properties -------------------------------------------------------------------


def agreement(ctx: Context, data: dict[str, Any], more: st.DataObject) -> None:
    """Compiled code and the reference interpreter give the same whole decision (or the same error)."""
    compiled = attempt(ctx.compiled, data)
    interpreted = attempt(ctx.schedule.interpret, data)
    if compiled == interpreted:
        return
    if isinstance(compiled, Decision) and isinstance(interpreted, Decision):
        fields = [f for f in Decision.field_names() if getattr(compiled, f) != getattr(interpreted, f)]
        detail = "; ".join(f"{f}: {getattr(compiled, f)!r} vs {getattr(interpreted, f)!r}" for f in fields[:3])
        raise Violation(f"compiled code and interpreter differ in {', '.join(fields)} ({detail})")
    shown = [summary(x) if isinstance(x, Decision) else x for x in (compiled, interpreted)]
    raise Violation(f"compiled code gives {shown[0]}; the interpreter gives {shown[1]}")


def totality(ctx: Context, data: dict[str, Any], more: st.DataObject) -> None:
    """Every valid case gets exactly one well-formed decision, never an exception."""
    try:
        decision = ctx.compiled(data)
    except Exception as error:
        raise Violation(f"deciding this case raised {type(error).__name__}: {error}") from error
    problems = well_formed(decision, data)
    if problems:
        raise Violation(f"the decision ({summary(decision)}) is malformed: " + "; ".join(problems))
    if decision.rules:
        # The engine takes the first rule that applies: conflicts are compile-time errors. A clash
        # the compile-time search missed shows here, as a second rule that applies too.
        governing = [name for name in ctx.dispatch.get((data["service"], data["body_region"]), ((), ()))[0]
                     if ctx.engine.check(ctx.engine.rules[name], ctx.facts(data))[0] is True]
        if len(governing) > 1:
            raise Violation(f"rules {' and '.join(governing)} both govern this case ({summary(decision)})")


def well_formed(decision: Decision, data: Mapping[str, Any]) -> list[str]:
    """List what is inconsistent in a decision: its outcome, numbers, rules and missing facts."""
    problems = []
    outcome = decision.outcome.value
    if decision.requested != data.get("quantity"):
        problems.append(f"requested is {decision.requested}, the case asks for {data.get('quantity')}")
    if not 0 <= decision.approved <= decision.requested:
        problems.append(f"approved {decision.approved} is outside 0..{decision.requested}")
    expected_approved = {
        "certify": decision.approved == decision.requested,
        "modify": 0 < decision.approved < decision.requested,
    }.get(outcome, decision.approved == 0)
    if not expected_approved:
        problems.append(f"{outcome} with {decision.approved} of {decision.requested} approved")
    if (outcome in DECIDED) != bool(decision.rules):
        problems.append(f"{outcome} decided by {list(decision.rules)}")
    if (outcome == "needs_information") != bool(decision.missing):
        problems.append(f"{outcome} naming missing facts {list(decision.missing)}")
    return problems


def monotonicity(ctx: Context, data: dict[str, Any], more: st.DataObject) -> None:
    """Asking for fewer units never gives a stricter outcome, nor more units; approved never exceeds requested."""
    decision = ctx.decide(data)
    assume(decision.outcome in STRICTNESS)
    if decision.approved > decision.requested:
        raise Violation(f"approved {decision.approved} exceeds the {decision.requested} requested")
    quantity = data["quantity"]
    spec = ctx.program.schema.inputs
    low = next((s.type.low for s in spec if s.name == "quantity"), None) or 1
    if quantity <= low:
        return
    fewer = more.draw(st.integers(low, quantity - 1), label="fewer units")
    smaller = {**data, "quantity": fewer}
    other = ctx.decide(smaller)
    related = [(f"the same case asking for {fewer}", smaller)]
    before, after = decision.outcome, other.outcome
    if before in STRICTNESS and after in STRICTNESS and STRICTNESS[after] < STRICTNESS[before]:
        raise Violation(
            f"asking for {fewer} instead of {quantity} gives a stricter outcome: "
            f"{summary(other)} instead of {summary(decision)}",
            related,
        )
    if before in STRICTNESS and after in STRICTNESS and other.approved > decision.approved:
        raise Violation(
            f"asking for {fewer} instead of {quantity} approves more: {summary(other)} instead of {summary(decision)}",
            related,
        )
    if before in STRICTNESS and after is Outcome.NOT_ADDRESSED:
        raise Violation(
            f"asking for {fewer} instead of {quantity} is not addressed, although {quantity} is: {summary(decision)}",
            related,
        )


def modify_exact(ctx: Context, data: dict[str, Any], more: st.DataObject) -> None:
    """`approved` is exactly what the deciding rule still allows, lowered by the caps that apply."""
    decision = ctx.decide(data)
    assume(decision.outcome.value in DECIDED)
    # A decision reached by searching unknown inputs has a governing rule per completion: `needs_information` checks it.
    assume(three_valued(ctx, data) is not Outcome.NEEDS_INFORMATION)
    expected, binding, explain = expected_approval(ctx, data, decision.rules[0])
    if decision.approved != expected:
        raise Violation(f"approved {decision.approved} ({summary(decision)}), but {explain}: {expected}")
    listed = set(decision.rules[1:])
    if not listed <= binding:
        raise Violation(
            f"the decision names caps {sorted(listed)}, but only {sorted(binding) or 'none'} surely apply and "
            f"allow exactly {expected}"
        )
    held_down = expected < min(data["quantity"], ctx_allowance(ctx, data, decision.rules[0]))
    if held_down and not listed:
        raise Violation(f"{summary(decision)}: a cap holds it below what the rule allows, but no cap is named")
    if decision.outcome is Outcome.MODIFY:
        exact = {**data, "quantity": decision.approved}
        again = ctx.decide(exact)
        if again.outcome is not Outcome.CERTIFY or again.approved != decision.approved:
            raise Violation(
                f"{summary(decision)}, but asking for exactly {decision.approved} gives {summary(again)}",
                [(f"the same case asking for {decision.approved}", exact)],
            )


def expected_approval(ctx: Context, data: dict[str, Any], rule_name: str) -> tuple[int, set[str], str]:
    """Re-derive `approved` from the IR: the rule's allowance, then every cap that applies; and the binding caps."""
    facts = ctx.facts(data)
    quantity = data["quantity"]
    rule = ctx.program.rule(rule_name)
    allowed = allowance(ctx, rule, facts, quantity)
    if isinstance(allowed, rt.Unknown):
        raise Violation(f"decided, although {rule_name}'s allowance depends on {sorted(allowed.facts)}")
    approved = min(quantity, allowed)
    explain = f"{rule_name} allows {allowed} more"
    if approved == 0:
        return 0, set(), explain
    caps = ctx.dispatch.get((data["service"], data["body_region"]), ((), ()))[1]
    known: dict[str, int] = {}
    for name in caps:
        cap = ctx.program.rule(name)
        applies = ctx.engine.check(ctx.engine.rules[name], facts)[0]
        if applies is False:
            continue
        cap_allowed = allowance(ctx, cap, facts, quantity)
        if applies is True and not isinstance(cap_allowed, rt.Unknown):
            known[name] = cap_allowed
    for name, cap_allowed in known.items():
        explain += f", cap {name} allows {cap_allowed}"
    final = min([approved, *known.values()])
    for name in caps:
        if name in known:
            continue
        cap = ctx.program.rule(name)
        applies = ctx.engine.check(ctx.engine.rules[name], facts)[0]
        cap_allowed = allowance(ctx, cap, facts, quantity)
        if applies is not False and (isinstance(cap_allowed, rt.Unknown) or cap_allowed < final):
            raise Violation(f"decided, although cap {name} may bind and depends on facts the case does not give")
    # Caps that may be named: they surely apply and allow exactly what is approved (a tie with the rule
    # included), short of all that was requested.
    binding = {name for name, value in known.items() if value == final and value < quantity}
    return final, binding, explain + ", so it should approve"


def ctx_allowance(ctx: Context, data: dict[str, Any], rule_name: str) -> int:
    """What a rule that decided a case still allows it (known, since it decided)."""
    value = allowance(ctx, ctx.program.rule(rule_name), ctx.facts(data), data["quantity"])
    return int(value) if not isinstance(value, rt.Unknown) else data["quantity"]


def settled_approval(ctx: Context, data: dict[str, Any]) -> int | None:
    """The units approved whatever the unknown facts are, when one rule surely governs; else None.

    It is settled when the governing rule's allowance is known and every cap that may apply
    but is not sure to (or whose allowance is unknown) allows at least what the rule and the
    caps that surely apply leave.
    """
    facts = ctx.facts(data)
    quantity = data["quantity"]
    rules, caps = ctx.dispatch.get((data["service"], data["body_region"]), ((), ()))
    verdicts = [(name, ctx.engine.check(ctx.engine.rules[name], facts)[0]) for name in rules]
    governing = [name for name, verdict in verdicts if verdict is True]
    if len(governing) != 1:
        return None
    allowed = allowance(ctx, ctx.program.rule(governing[0]), facts, quantity)
    if isinstance(allowed, rt.Unknown):
        return None
    approved: int = min(quantity, allowed)
    if approved == 0:
        return 0
    doubtful = []
    for name in caps:
        applies = ctx.engine.check(ctx.engine.rules[name], facts)[0]
        if applies is False:
            continue
        cap_allowed = allowance(ctx, ctx.program.rule(name), facts, quantity)
        if applies is True and not isinstance(cap_allowed, rt.Unknown):
            approved = min(approved, cap_allowed)
        else:
            doubtful.append(cap_allowed)
    if any(isinstance(a, rt.Unknown) or a < approved for a in doubtful):
        return None
    return approved


def allowance(ctx: Context, rule: ir.RuleInfo, facts: Facts, quantity: int) -> Any:
    """How many more units a rule allows this case, or Unknown: the engine's arithmetic on the reference plan."""
    try:
        result = ctx.engine.allowance(ctx.engine.rules[rule.name], facts, quantity)
    except rt.RuleError:
        assume(False)
        raise  # pragma: no cover
    return result if isinstance(result, rt.Unknown) else result.allowed


def exceptions_dominate(ctx: Context, data: dict[str, Any], more: st.DataObject) -> None:
    """When a rule's `unless` condition (or an overriding rule) holds, that rule does not decide."""
    decision = ctx.decide(data)
    assume(bool(decision.rules))
    facts = ctx.facts(data)
    for name in decision.rules:
        rule = ctx.program.rule(name)
        for clause, reason in zip(rule.unless, rule.reasons[len(rule.when) :]):
            if ctx.eval(clause, facts) is True:
                raise Violation(f"{name} decides ({summary(decision)}), although its exception holds: {reason}")


def citations(ctx: Context, data: dict[str, Any], more: st.DataObject) -> None:
    """Every certify, modify and non_certify cites document, section, and page or subsection, of each deciding rule."""
    decision = ctx.decide(data)
    assume(decision.outcome.value in DECIDED)
    if not decision.citations:
        raise Violation(f"{summary(decision)} cites nothing")
    for citation in decision.citations:
        missing = [f for f in ("document", "edition", "section") if not getattr(citation, f)]
        if not (citation.pages or citation.subsection):
            missing.append("page or subsection")
        if missing:
            raise Violation(f"{summary(decision)} cites {citation}, without {', '.join(missing)}")
    if three_valued(ctx, data) is Outcome.NEEDS_INFORMATION:
        return  # decided whatever the unknown inputs are: it cites what every way of deciding it shares
    for name in decision.rules:
        if ctx.program.rule(name).citation not in decision.citations:
            raise Violation(f"{summary(decision)}, but the citation of {name} is not among its citations")


def needs_information(ctx: Context, data: dict[str, Any], more: st.DataObject) -> None:
    """needs_information names exactly the absent inputs that can change the answer; otherwise it decides."""
    from mtus_dsl.testing.relevance import relevance  # it builds on this module

    relevance(ctx, data, more)


def three_valued(ctx: Context, data: Mapping[str, Any]) -> Outcome:
    """The outcome before unknown inputs are searched: needs_information where any rule it consults is unknown."""
    engine = ctx.schedule.engine
    case = ctx.schedule.case(data)
    bucket = engine.buckets.get((case.values["service"], case.values["body_region"]))
    if bucket is None:
        return Outcome.NOT_ADDRESSED
    return engine.settle(engine.facts_class(case.values), bucket, case.values["quantity"]).outcome


def prior_visits(ctx: Context, data: dict[str, Any], more: st.DataObject) -> None:
    """More prior units never approve more; and they count once: each one more given is one fewer allowed.

    The case is decided by a rule whose limit counts an integer input (prior visits). The same
    case with K more prior units, decided by the same rule, approves no more. And asking for the
    most units a case may (so the limit binds), from no prior units or the case's own, K more
    prior units approve K fewer (none when fewer than K remained) while that rule alone decides:
    prior and approved together stay what the limit allows.
    """
    decision = ctx.decide(data)
    assume(decision.outcome.value in DECIDED)
    # One rule governs only a decision every rule consulted settles (not one searched over unknown inputs).
    assume(three_valued(ctx, data) is not Outcome.NEEDS_INFORMATION)
    rule = ctx.program.rule(decision.rules[0])
    action = rule.action
    counting = action.counting if isinstance(action, (ir.Limit, ir.Trial)) else None
    assume(isinstance(counting, ir.Input) and counting.type.kind == "integer")
    assert isinstance(counting, ir.Input)
    prior = data.get(counting.name)
    assume(isinstance(prior, int))
    assert isinstance(prior, int)
    high = counting.type.high if counting.type.high is not None else prior + 100
    assume(prior < high)
    # One more unit first: a limit counted twice shows at once, before the allowance runs out.
    extra = more.draw(st.one_of(st.just(1), st.integers(1, max(1, min(high - prior, 30)))), label="more prior units")
    given_more = {**data, counting.name: prior + extra}
    ctx.strategies.keep_relations(given_more, {counting.name: prior + extra})
    # A trial's course changes at its initial course (the extension starts there): prior units
    # are compared only within one course.
    initial = ctx.eval(action.initial, ctx.facts(data)) if isinstance(action, ir.Trial) else None
    assume(initial is None or isinstance(initial, int))

    def one_course(low: int, high: int) -> bool:
        return initial is None or high < initial or low >= initial

    other = ctx.decide(given_more)
    related = [(f"the same case with {counting.name} {prior + extra}", given_more)]
    if other.outcome.value not in DECIDED or other.rules[:1] != decision.rules[:1]:
        return  # not decided, or another rule governs (an extension after the initial course)
    if one_course(prior, prior + extra) and other.approved > decision.approved:
        raise Violation(
            f"with {extra} more {counting.name} ({prior + extra} instead of {prior}) it approves more: "
            f"{summary(other)} instead of {summary(decision)}",
            related,
        )
    # Counted once: asking for as many units as a case may (so that the limit binds), from no prior
    # units or the case's own, K more prior units leave K fewer, as long as the same rule alone decides.
    quantity = next((s.type.high for s in ctx.program.schema.inputs if s.name == "quantity"), None) or 1000
    base = more.draw(st.sampled_from(sorted({0, prior})), label="prior units to start from")
    first_case = {**data, counting.name: base, "quantity": quantity}
    second_case = {**data, counting.name: base + extra, "quantity": quantity}
    for case in (first_case, second_case):  # the counts it never exceeds (prior_visits_all_regions) follow
        ctx.strategies.keep_relations(case, {counting.name: case[counting.name], "quantity": quantity})
    first, second = ctx.decide(first_case), ctx.decide(second_case)
    if one_course(base, base + extra) and first.rules == second.rules == (rule.name,) and first.approved < quantity:
        expected = max(0, first.approved - extra)
        if second.approved != expected:
            raise Violation(
                f"{counting.name} are not counted once by {rule.name}: asking for {quantity} with {base} it "
                f"approves {first.approved} ({base + first.approved} in all), so with {base + extra} it should "
                f"approve {expected}, but approves {second.approved} ({base + extra + second.approved} in all)",
                [
                    (f"the same case asking for {quantity} with {counting.name} {base}", first_case),
                    (f"the same case asking for {quantity} with {counting.name} {base + extra}", second_case),
                ],
            )


@attrs.frozen
class BuiltinProperty:
    """A property every set of guidelines must satisfy."""

    name: str
    title: str
    check: Callable[[Context, dict[str, Any], st.DataObject], None]
    unknown: float = 0.1  # the chance each optional input is left out of a generated case
    #: Whether a file may have no case it is about (prior_visits: a file whose limits count nothing).
    may_be_vacuous: bool = False


BUILTIN_PROPERTIES = (
    BuiltinProperty("agreement", "compiled code and the interpreter give the same decision", agreement),
    BuiltinProperty("totality", "every valid case gets exactly one well-formed decision", totality),
    BuiltinProperty("monotonicity", "asking for fewer units never gives a stricter outcome", monotonicity),
    BuiltinProperty("modify_exact", "approved is exactly what the deciding rule and caps allow", modify_exact),
    BuiltinProperty(
        "exceptions", "when an unless condition holds, the excepted rule does not decide", exceptions_dominate
    ),
    BuiltinProperty("citations", "every decision cites document, section and page or subsection", citations),
    BuiltinProperty(
        "needs_information",
        "needs_information names exactly the unknown inputs that can change the answer",
        needs_information,
        unknown=0.4,
    ),
    BuiltinProperty(
        "prior_visits",
        "more prior units never approve more, and count once against the limit",
        prior_visits,
        may_be_vacuous=True,
    ),
)


# --- author-stated properties ------------------------------------------------------------------


def check_stated(ctx: Context, prop: ir.PropertyInfo, data: dict[str, Any]) -> bool:
    """Check an author's property on one case; return whether the case was one it is about (and known)."""
    decision = ctx.decide(data)
    # Steer the search toward large approvals: where stated limits break.
    target(float(decision.approved), label="approved")
    facts = ctx.facts(data)
    env = {"outcome": decision.outcome.value, "approved": decision.approved, "requested": decision.requested}
    for clause in prop.conditions:
        if ctx.eval(clause, facts, env) is not True:
            return False
    checked = True
    for clause, text in zip(prop.expectations, prop.texts):
        value = ctx.eval(clause, facts, env)
        if value is False:
            raise Violation(f"'expect {text}' does not hold: the decision is {summary(decision)}")
        checked = checked and value is True
    return checked


def stated_fields(prop: ir.PropertyInfo, schema: CaseSchema) -> dict[str, Any]:
    """Fields a property's `for` lines pin down or bound, to generate mostly cases it is about.

    `service = x` fixes a field, `service in {x, y}` picks among values, `request_date > D`
    (or <, <=, >=, on an integer or date input) draws values on the right side of D.
    """
    types = {spec.name: spec.type for spec in schema.inputs}
    fields: dict[str, Any] = {}
    stack = list(prop.conditions)
    while stack:
        expr = stack.pop()
        if isinstance(expr, ir.And):
            stack.extend((expr.left, expr.right))
        elif isinstance(expr, ir.Compare):
            left, right, op = expr.left, expr.right, expr.op
            if isinstance(right, ir.Input) and isinstance(left, ir.Const):
                left, right, op = right, left, _FLIPPED.get(op, op)
            if not (isinstance(left, ir.Input) and left.name in types and isinstance(right, ir.Const)):
                continue
            if right.value is None:
                continue
            if op == "=":
                fields[left.name] = to_json(right.value)
            elif op in _FLIPPED:
                side = _beyond(op, right.value, types[left.name])
                if side is not None:
                    fields[left.name] = side
        elif isinstance(expr, ir.Member) and not expr.negated:
            if isinstance(expr.item, ir.Input) and isinstance(expr.collection, ir.Const):
                if expr.item.name in types and expr.collection.value:
                    options = sorted(to_json(v) for v in expr.collection.value)
                    fields[expr.item.name] = st.sampled_from(options)
    return fields


_FLIPPED = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}


def _beyond(op: str, bound: Any, type_: Type) -> st.SearchStrategy[Any] | None:
    """Values on the side of `bound` that `op` asks for: the nearest first, then farther."""
    step = 0 if op in ("<=", ">=") else 1
    sign = 1 if op in (">", ">=") else -1
    if isinstance(bound, datetime.date) and type_.kind == "date":
        try:
            day = bound + datetime.timedelta(days=sign * step)
            far = bound + datetime.timedelta(days=sign * 3 * 365)
        except OverflowError:
            return None
        if not FIRST_CASE_DATE <= day <= LAST_CASE_DATE:
            return None  # no case may name a day on that side
        far = min(max(far, FIRST_CASE_DATE), LAST_CASE_DATE)
        dates = st.one_of(st.just(day), st.dates(min(day, far), max(day, far)))
        return dates.map(datetime.date.isoformat)
    if type(bound) is int and type_.kind == "integer":
        first = bound + sign * step
        low, high = min(first, first + sign * 30), max(first, first + sign * 30)
        if type_.low is not None:
            low = max(low, type_.low)
        if type_.high is not None:
            high = min(high, type_.high)
        return st.integers(low, high) if low <= high else None
    return None
