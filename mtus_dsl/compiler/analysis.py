"""Checks that evaluate rules: conflicting rules, rules that never apply.

A conflict is two rules of one service and body region that can both govern
the same case while neither excepts the other. We look for a witness: an
assignment of the facts the two rules read, drawn from the values their
conditions single out (each enumeration member they name, each number they
compare with and its neighbours, true and false). A witness is a real clash,
so the error shows it; the search is bounded, so a clash that needs values
outside those candidates is left to the property tests (`mtus test`).

Before searching, a pair whose `when` clauses bound one integer input to
disjoint ranges (`score < 3` and `score >= 3`) is set aside: no case satisfies
both, whatever else they say. A table of many rules over bands of one input
then costs a comparison per pair, not a search, and analysis stays linear in
rules x rules per bucket.
"""

from __future__ import annotations

import datetime
import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mtus_dsl import engine as en
from mtus_dsl import runtime as rt
from mtus_dsl.compiler import ir
from mtus_dsl.diagnostics import Diagnostic, Severity, Span

#: The most assignments tried for one pair of rules before sampling instead.
MAX_ASSIGNMENTS = 4096


def analyse(program: ir.Program, engine: en.Engine) -> list[Diagnostic]:
    """Report conflicting rule pairs and unreachable rules, evaluating witnesses with `engine`."""
    bands = {rule.name: _bands(rule) for rule in program.rules}
    consulted = _consulted(program)
    # Rules of editions never in force on the same day never decide the same request.
    editions = {g.name: (g.in_force_from or datetime.date.min, g.in_force_to or datetime.date.max)
                for g in program.guidelines}
    windows = {rule.name: editions[rule.guideline] for rule in program.rules}
    diagnostics: list[Diagnostic] = []
    # Each pair that shares a service and body region is searched once, over
    # every service and region the two rules share.
    pairs = sorted({pair for _key, (rules, _caps) in program.dispatch for pair in itertools.combinations(rules, 2)})
    for a, b in pairs:
        if (
            _disjoint(bands[a], bands[b])
            or not _overlap(windows[a], windows[b])
            or b in consulted[a]
            or a in consulted[b]
        ):
            continue
        witness = _witness(program, engine, [a, b])
        if witness is not None:
            rule_a, rule_b = program.rule(a), program.rule(b)
            diagnostics.append(
                Diagnostic(
                    "E107",
                    f"rules '{a}' and '{b}' can both decide the same request, and neither is stated to win",
                    _span(rule_b.origin),
                    notes=(
                        f"'{a}' is at {rule_a.origin}",
                        "both apply to: " + _describe(witness),
                        f"say which wins: add 'overrides {a}' to '{b}' (or 'overrides {b}' to '{a}'), "
                        "or make their conditions exclusive with 'when'/'unless'",
                    ),
                )
            )
    reachable = {name for _key, (rules, caps) in program.dispatch for name in rules + caps}
    for rule in program.rules:
        if rule.name not in reachable:
            diagnostics.append(
                Diagnostic(
                    "W201",
                    f"{rule.kind} '{rule.name}' covers no service and body region",
                    _span(rule.origin),
                    Severity.WARNING,
                    ("check its 'services' and 'regions' lines",),
                )
            )
            continue
        if _witness(program, engine, [rule.name], exhaustive_only=True) is False:
            diagnostics.append(
                Diagnostic(
                    "W201",
                    f"{rule.kind} '{rule.name}' can never apply: no case satisfies its conditions",
                    _span(rule.origin),
                    Severity.WARNING,
                    ("its 'when' conditions contradict each other, or its exceptions always hold",),
                )
            )
    return diagnostics


def _span(origin: ir.Origin) -> Span:
    return Span(origin.path, origin.line, origin.column, origin.line, origin.column + origin.width)


def _bands(rule: ir.RuleInfo) -> dict[str, tuple[float, float]]:
    """The range each integer input must lie in for the rule to apply, from its `when` comparisons."""
    bands: dict[str, tuple[float, float]] = {}
    pending = list(rule.when)
    while pending:
        clause = pending.pop()
        if isinstance(clause, ir.And):
            pending += [clause.left, clause.right]
            continue
        if not isinstance(clause, ir.Compare) or clause.op in ("=", "!="):
            if isinstance(clause, ir.Compare) and clause.op == "=":
                pass
            else:
                continue
        left, right, op = clause.left, clause.right, clause.op
        if isinstance(left, ir.Const) and isinstance(right, ir.Input):
            left, right, op = right, left, {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}[op]
        if not (isinstance(left, ir.Input) and isinstance(right, ir.Const)):
            continue
        value = right.value
        if type(value) is not int:
            continue
        low, high = bands.get(left.name, (float("-inf"), float("inf")))
        if op in ("<", "<="):
            high = min(high, value - 1 if op == "<" else value)
        elif op in (">", ">="):
            low = max(low, value + 1 if op == ">" else value)
        else:
            low, high = max(low, value), min(high, value)
        bands[left.name] = (low, high)
    return bands


def _overlap(a: tuple[datetime.date, datetime.date], b: tuple[datetime.date, datetime.date]) -> bool:
    """Tell whether two editions are ever in force on the same day."""
    return a[0] <= b[1] and b[0] <= a[1]


def _disjoint(a: Mapping[str, tuple[float, float]], b: Mapping[str, tuple[float, float]]) -> bool:
    """Tell whether two rules bound some input to ranges that do not meet (so both never apply)."""
    for name, (low, high) in a.items():
        other = b.get(name)
        if other is not None and (high < other[0] or other[1] < low):
            return True
    return False


def _consulted(program: ir.Program) -> dict[str, set[str]]:
    """For each rule, the rules its clauses ask about (its exceptions and the rules overriding it)."""
    return {
        rule.name: {e.rule for c in rule.when + rule.unless for e in ir.walk(c) if isinstance(e, ir.Applies)}
        for rule in program.rules
    }


def _read_facts(program: ir.Program, names: Sequence[str]) -> dict[str, ir.Expr]:
    """The inputs and derived facts the rules' conditions read, directly or through other rules."""
    found: dict[str, ir.Expr] = {}
    for name in _reached_rules(program, names):
        rule = program.rule(name)
        for clause in rule.when + rule.unless:
            for e in ir.walk(clause):
                if isinstance(e, (ir.Input, ir.Fact)):
                    found.setdefault(e.name, e)
    return found


def _reached_rules(program: ir.Program, names: Sequence[str]) -> list[str]:
    """The rules in `names` and every rule their clauses consult, directly or not."""
    seen: list[str] = []
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.append(name)
        rule = program.rule(name)
        pending.extend(e.rule for c in rule.when + rule.unless for e in ir.walk(c) if isinstance(e, ir.Applies))
    return seen


def _candidates(
    program: ir.Program, fact: ir.Expr, constants: list[Any], rules: Sequence[ir.RuleInfo],
    reached: Sequence[ir.RuleInfo] = (),
) -> list[Any] | None:
    """Values worth trying for one fact, or None when it cannot be enumerated.

    `reached` are the rules the rules under test consult: a date one of them counts from is one to vary too.
    """
    type_ = fact.type
    name = fact.name if isinstance(fact, (ir.Input, ir.Fact)) else ""
    kind = type_.kind
    if kind == "boolean":
        return [True, False]
    if kind == "enum":
        members = list(program.schema.enums.get(type_.name or "", ()))
        named = [c for c in constants if c in members]
        others = [m for m in members if m not in named][:1]
        return named + others
    if kind == "set" and type_.of is not None and type_.of.kind == "enum":
        members = list(program.schema.enums.get(type_.of.name or "", ()))
        named = sorted({c for c in constants if c in members})
        return [frozenset()] + [frozenset([m]) for m in named] + ([frozenset(named)] if len(named) > 1 else [])
    if kind == "integer":
        numbers = {c for c in constants if isinstance(c, int) and not isinstance(c, bool)}
        low = type_.low if type_.low is not None else 0
        values = {0, low} | {x + d for x in numbers for d in (-1, 0, 1)}
        ordered = sorted(v for v in values if v >= low and (type_.high is None or v <= type_.high))
        # Ends first, then inwards: a rule that applies outside every band of the rules
        # overriding it (a general rule under a table of bands) is found at once.
        return [ordered[i // 2] if i % 2 == 0 else ordered[-1 - i // 2] for i in range(len(ordered))]
    if kind == "date":
        dates = {c for c in constants if isinstance(c, datetime.date)}
        # Any date a rule counts from (`weeks_between(injury_date, request_date) < 12`) also tries
        # the request's dates, so that a short time between them is among the candidates.
        counted = any(isinstance(e, ir.Call) and e.func.endswith("_between") and fact in e.args
                      for r in (*rules, *reached) for c in r.when + r.unless for e in ir.walk(c))
        if name == "request_date" or counted:
            guidelines = {g.name: g for g in program.guidelines}
            for rule in rules:
                g = guidelines[rule.guideline]
                dates |= {d for d in (g.in_force_from, g.in_force_to) if d is not None}
        # The day before 0001-01-01 and after 9999-12-31 do not exist: skip them.
        near = {x + datetime.timedelta(days=d) for x in dates for d in (-1, 0, 1) if _in_calendar(x, d)}
        if counted:
            near.add(datetime.date(1900, 1, 1))  # and a long time
        return sorted(near) or [datetime.date(2015, 1, 1)]
    return None


def _witness(
    program: ir.Program,
    engine: en.Engine,
    names: Sequence[str],
    exhaustive_only: bool = False,
) -> Any:
    """Find facts under which every rule in `names` applies.

    Returns the assignment, None when none was found, or (with exhaustive_only)
    False when the search covered every combination and found none.
    """
    rules = [program.rule(n) for n in names]
    facts = _read_facts(program, names)
    # Constants of the rules reached through `unless other_rule` too: their
    # conditions decide whether the rules under test apply.
    reached = [program.rule(n) for n in _reached_rules(program, names)]
    constants = [e.value for r in reached for c in r.when + r.unless for e in ir.walk(c) if isinstance(e, ir.Const)]
    constants = [v for c in constants for v in _flatten(c)]
    domains: dict[str, list[Any]] = {}
    complete = True
    for scope_name, members in (
        ("service", _shared(r.services for r in rules)),
        ("body_region", _shared(r.regions for r in rules)),
    ):
        if not members:
            return None
        named = [m for m in members if m in constants]
        domains[scope_name] = named + [m for m in members if m not in named][:1]
    for name, expr in sorted(facts.items()):
        if name in domains:
            continue
        values = _candidates(program, expr, constants, rules, reached)
        if values is None:
            complete = False
            values = [rt.Unknown(frozenset([name]))]
        domains[name] = values
    if "request_date" not in domains:
        domains["request_date"] = _candidates(
            program, ir.Input("request_date", program.schema.inputs[0].type), [], rules
        ) or [datetime.date(2015, 1, 1)]
    keys = list(domains)
    total = 1
    for values in domains.values():
        total *= len(values)
    combos: Iterator[tuple[Any, ...]]
    if total <= MAX_ASSIGNMENTS:
        combos = itertools.product(*(domains[k] for k in keys))
    else:
        complete = False
        rng = random.Random(0)
        combos = (tuple(rng.choice(domains[k]) for k in keys) for _ in range(MAX_ASSIGNMENTS))
    handles = [engine.rules[n] for n in names]
    for combo in combos:
        assignment = dict(zip(keys, combo))
        facts = engine.facts_class(assignment, quantity=1)
        facts.verdicts = {}
        try:
            if all(engine.check(h, facts)[0] is True for h in handles):
                return assignment
        except rt.RuleError:
            continue
    if exhaustive_only:
        return False if complete else None
    return None


def _shared(scopes: Iterator[tuple[str, ...]]) -> list[str]:
    """The members every scope has, in the first scope's order."""
    lists = list(scopes)
    return [m for m in lists[0] if all(m in other for other in lists[1:])]


def _in_calendar(date: datetime.date, days: int) -> bool:
    """Tell whether moving `date` by `days` stays within the dates Python can represent."""
    return datetime.date.min + datetime.timedelta(days=max(0, -days)) <= date <= datetime.date.max - datetime.timedelta(
        days=max(0, days)
    )


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, frozenset):
        return list(value)
    return [value]


def _describe(assignment: Mapping[str, Any]) -> str:
    parts = []
    for name, value in assignment.items():
        if isinstance(value, rt.Unknown):
            continue
        if isinstance(value, frozenset):
            shown = "{" + ", ".join(sorted(value)) + "}"
        elif isinstance(value, datetime.date):
            shown = value.isoformat()
        else:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"{name} = {shown}")
    return ", ".join(parts)
