"""Checks that evaluate rules: conflicting rules, rules and exceptions that never apply, gaps.

Each question is asked of an SMT solver (z3, through `solver.py`): inputs are
free variables with their types' constraints, facts their definitions, so the
answer is exact and a witness is a case of inputs only, verified with the
compiled plan and shown as an `example` block ready to paste. Where a guard
holds something the encoding cannot express (or z3 is not installed), the
question falls back to a bounded search, and the diagnostic says so: it tries
the values the rules' conditions single out (each enumeration member they name,
each number they compare with and its neighbours, true and false, the dates
they name), evaluating cases of inputs with the compiled plan.

Before asking, cheap tests set pairs aside: `when` clauses that bound one
integer input to disjoint ranges (`score < 3` and `score >= 3`), editions never
in force on the same day, a rule that consults the other. A table of many rules
over bands of one input then costs a comparison per pair, not a solver call,
and analysis stays linear in rules x rules per bucket. A rule the bounded search
finds a case for is alive without asking the solver either.
"""

from __future__ import annotations

import datetime
import itertools
import random
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import attrs

from mtus_dsl import engine as en
from mtus_dsl import runtime as rt
from mtus_dsl.case import CaseError
from mtus_dsl.compiler import ir
from mtus_dsl.decision import Outcome
from mtus_dsl.diagnostics import Diagnostic, Severity, Span

#: The most assignments tried for one pair of rules before sampling instead.
MAX_ASSIGNMENTS = 4096


@attrs.frozen
class Witness:
    """A case (inputs only, JSON-ready) under which some question holds, and how it was found."""

    case: Mapping[str, Any]
    exact: bool  # found by the solver (else by the bounded search)
    why: str = ""  # why the bounded search was used


class _Exact:
    """The solver's side of analysis: None answers mean 'cannot say, use the bounded search' (with why)."""

    def __init__(self, program: ir.Program):
        from mtus_dsl.compiler import solver

        self.solver = solver
        self.program = program
        self.why = ""
        self.encoder: Any = None
        if solver.available():
            try:
                self.encoder = solver.Encoder(program)
            except solver.Unencodable as error:
                self.why = f"the solver cannot express {error}"
        else:
            self.why = "the z3-solver package is not installed"

    def ask(self, build: Any, relevant: Collection[str] | None) -> tuple[str, Mapping[str, Any] | None]:
        """Ask whether some case satisfies the conditions `build(encoder)` returns: sat, unsat or fallback."""
        if self.encoder is None:
            return "fallback", None
        try:
            conditions = build(self.encoder)
            status, case = self.encoder.solve(*conditions, witness=relevant is not None)
        except self.solver.failures() as error:
            self.why = f"the solver cannot express {error}"
            return "fallback", None
        if status == "unknown":
            self.why = "the solver gave up"
            return "fallback", None
        if case is not None and relevant is not None:
            required = {spec.name for spec in self.program.schema.inputs if spec.required}
            case = {k: v for k, v in case.items() if k in required or k in relevant}
        return status, case


def analyse(program: ir.Program, engine: en.Engine) -> list[Diagnostic]:
    """Report conflicting rules, rules and exceptions that never apply, and gaps; witnesses checked with `engine`."""
    from mtus_dsl.compiler import solver

    with solver.LOCK:
        return _analyse(program, engine)


def _analyse(program: ir.Program, engine: en.Engine) -> list[Diagnostic]:
    bands = {rule.name: _bands(rule) for rule in program.rules}
    settled = {rule.name: _settled(rule) for rule in program.rules}
    consulted = _consulted(program)
    # Rules of editions never in force on the same day never decide the same request.
    editions = {g.name: (g.in_force_from or datetime.date.min, g.in_force_to or datetime.date.max)
                for g in program.guidelines}
    windows = {rule.name: editions[rule.guideline] for rule in program.rules}
    exact = _Exact(program)
    diagnostics: list[Diagnostic] = []
    # Each pair that shares a service and body region is asked about once, over
    # every service and region the two rules share.
    pairs = sorted({pair for _key, (rules, _caps) in program.dispatch for pair in itertools.combinations(rules, 2)})
    for a, b in pairs:
        if (
            _disjoint(bands[a], bands[b])
            or _contradict(settled[a], settled[b])
            or not _overlap(windows[a], windows[b])
            or b in consulted[a]
            or a in consulted[b]
        ):
            continue
        witness = _conflict(program, engine, exact, a, b)
        if witness is not None:
            rule_a, rule_b = program.rule(a), program.rule(b)
            example = render_example(
                f"both '{a}' and '{b}' apply", witness.case, _expect(engine, witness.case, drop=a)
            )
            diagnostics.append(
                Diagnostic(
                    "E107",
                    f"rules '{a}' and '{b}' can both decide the same request, and neither is stated to win",
                    _span(rule_b.origin),
                    notes=(
                        f"'{a}' is at {rule_a.origin}",
                        _found(witness, "both apply to this case")
                        + f" (paste it at the end of the file; with 'overrides {a}' on '{b}' it decides as its "
                        "expect line says):\n" + example,
                        f"say which wins: add 'overrides {a}' to '{b}' (or 'overrides {b}' to '{a}'), "
                        "or make their conditions exclusive with 'when'/'unless'",
                    ),
                )
            )
    reachable = {name for _key, (rules, caps) in program.dispatch for name in rules + caps}
    alive: set[str] = set()
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
        dead = _dead(program, engine, exact, rule)
        if dead is None:
            alive.add(rule.name)
            continue
        diagnostics.append(
            Diagnostic(
                "W201",
                f"{rule.kind} '{rule.name}' can never apply: no case satisfies its conditions",
                _span(rule.origin),
                Severity.WARNING,
                ("its 'when' conditions contradict each other, or its exceptions always hold",
                 *([] if dead else [f"found by the bounded search ({exact.why}): check it with an example"])),
            )
        )
    for rule in program.rules:
        if rule.name in alive:
            diagnostics.extend(_dead_exceptions(program, exact, rule))
    return diagnostics


def gaps(program: ir.Program, engine: en.Engine) -> list[Diagnostic]:
    """W203 for each section with requests in its scope, while its edition is in force, that no rule governs.

    Not part of every load (`mtus check --gaps` asks for it): a guideline may leave
    requests to others on purpose (a surgery its table does not list).
    """
    from mtus_dsl.compiler import solver

    with solver.LOCK:
        exact = _Exact(program)
        if exact.encoder is None:
            return []
        buckets = dict(program.dispatch)
        guidelines = {g.name: g for g in program.guidelines}
        out = []
        sections: dict[str, list[ir.RuleInfo]] = {}
        for rule in program.rules:
            if rule.kind == "rule":
                sections.setdefault(rule.section, []).append(rule)
        for section, members in sections.items():
            first = members[0]
            for service, region in sorted({(s, r) for rule in members for s in rule.services for r in rule.regions}):
                rules = [program.rule(name) for name in buckets[(service, region)][0]]
                if _covered(rules, members):
                    continue
                names = [r.name for r in rules]

                def build(encoder: Any, rules: list[ir.RuleInfo] = rules, key: tuple[str, str] = (service, region),
                          edition: ir.GuidelineInfo = guidelines[first.guideline]) -> list[Any]:
                    conditions = [encoder.within([key[0]], [key[1]]), encoder.in_window(edition)]
                    for rule in rules:
                        applies, ok = encoder.applies(rule.name)
                        conditions += [encoder.z.Not(applies), ok]
                    return conditions

                status, case = exact.ask(build, _relevant(program, names))
                if status != "sat" or case is None or not _unaddressed(engine, case):
                    continue
                example = render_example(f"no rule governs a {service} request for the {region}", case,
                                         "expect not_addressed")
                out.append(
                    Diagnostic(
                        "W203",
                        f"section '{section}' covers {service} for the {region}, but no rule governs some of "
                        "those requests",
                        _span(first.origin),
                        Severity.WARNING,
                        ("no rule governs this case (paste it at the end of the file to keep the answer, or add a "
                         "rule):\n" + example,),
                    )
                )
                break  # one gap per section is enough to act on
        return out


def _unaddressed(engine: en.Engine, case: Mapping[str, Any]) -> bool:
    """Tell whether the compiled plan agrees that no rule governs the case."""
    try:
        return engine.outcome(dict(case))[0] is Outcome.NOT_ADDRESSED
    except (CaseError, rt.RuleError):
        return False


def _covered(rules: Sequence[ir.RuleInfo], members: Sequence[ir.RuleInfo]) -> bool:
    """Tell cheaply that a bucket has no gap: a rule of it always applies or is overridden by one that does."""
    names = {r.name for r in rules}
    for rule in rules:
        if (
            not rule.when
            and all(isinstance(c, ir.Applies) and c.rule in names for c in rule.unless)
            and any(rule.guideline == m.guideline for m in members)
        ):
            return True
    return False


def _conflict(program: ir.Program, engine: en.Engine, exact: _Exact, a: str, b: str) -> Witness | None:
    """A case where rules `a` and `b` both apply, or None."""
    rule_a, rule_b = program.rule(a), program.rule(b)
    services = _shared(iter([rule_a.services, rule_b.services]))
    regions = _shared(iter([rule_a.regions, rule_b.regions]))
    bucket = engine.buckets.get((services[0], regions[0])) if services and regions else None
    caps = [cap.name for cap in bucket.caps] if bucket is not None else []

    def build(encoder: Any) -> list[Any]:
        applies_a, ok_a = encoder.applies(a)
        applies_b, ok_b = encoder.applies(b)
        for name in [a, b, *caps]:
            # The witness gives what the limits and caps read too, so that it decides.
            encoder.operands(program.rule(name))
            try:
                encoder.applies(name)
            except exact.solver.failures():
                continue
        return [encoder.within(services, regions), applies_a, ok_a, applies_b, ok_b]

    status, case = exact.ask(build, _relevant(program, [a, b, *caps], actions=True))
    if status == "unsat":
        return None
    if case is not None and _verified(engine, case, [a, b]):
        return Witness(case, exact=True)
    if status == "sat":
        exact.why = "the solver's case did not decide as the encoding said"
    found = _witness(program, engine, [a, b])
    return Witness(found, exact=False, why=exact.why) if found is not None else None


def _dead(program: ir.Program, engine: en.Engine, exact: _Exact, rule: ir.RuleInfo) -> bool | None:
    """Tell whether a rule never applies: True (proved), False (the bounded search tried all it knows), None (alive)."""
    found = _witness(program, engine, [rule.name], exhaustive_only=True)
    if found:
        return None

    def build(encoder: Any) -> list[Any]:
        applies, ok = encoder.applies(rule.name)
        return [applies, ok]

    status, _case = exact.ask(build, None)
    if status == "unsat":
        return True
    if status == "sat":
        return None
    return False if found is False else None


def _dead_exceptions(program: ir.Program, exact: _Exact, rule: ir.RuleInfo) -> list[Diagnostic]:
    """W202 for each `unless` the rule states that never holds where the rule's scope and `when` clauses do."""
    out = []
    for index, clause in enumerate(rule.unless):
        if isinstance(clause, ir.Applies):
            continue  # an exception by name or an `overrides`: that rule's own reachability is W201's

        def build(encoder: Any, clause: ir.Expr = clause) -> list[Any]:
            conditions = [encoder.scope(rule), encoder.in_force(rule)]
            for when in rule.when:
                value, ok = encoder.expr(when, {})
                conditions += [value.term, ok]
            value, ok = encoder.expr(clause, {})
            return [*conditions, value.term, ok]

        status, _case = exact.ask(build, None)
        if status == "unsat":
            text = rule.reasons[len(rule.when) + index].removeprefix("excepted: ").removesuffix(" holds")
            out.append(
                Diagnostic(
                    "W202",
                    f"the exception {text} of {rule.kind} '{rule.name}' never holds where the {rule.kind} could apply",
                    _span(rule.origin),
                    Severity.WARNING,
                    ("no case in its services, body regions, edition dates and 'when' conditions satisfies it: "
                     "delete it, or correct it",),
                )
            )
    return out


def _verified(engine: en.Engine, case: Mapping[str, Any], names: Sequence[str]) -> bool:
    """Tell whether the compiled plan agrees that every rule in `names` applies to the case."""
    try:
        facts = engine.facts(engine.case(dict(case)))
        return all(engine.check(engine.rules[n], facts)[0] is True for n in names)
    except (CaseError, rt.RuleError):
        return False


def _expect(engine: en.Engine, case: Mapping[str, Any], drop: str) -> str:
    """The `expect` line of a witness: its decision once the rule `drop` no longer competes."""
    try:
        valid = engine.case(dict(case))
        values = valid.values
        bucket = engine.buckets[(values["service"], values["body_region"])]
        bucket = en.Bucket(tuple(r for r in bucket.rules if r.name != drop), bucket.caps,
                           tuple(s for s in bucket.steps if s[0].name != drop))
        settled = engine.settle(engine.facts(valid), bucket, values["quantity"])
    except (CaseError, rt.RuleError, KeyError) as error:
        return f"# expect ... (deciding it failed: {error})"
    outcome = settled.outcome.value
    if outcome == "needs_information":
        return f"expect needs_information missing {', '.join(sorted(settled.missing))}"
    if outcome == "not_addressed" or settled.rule is None:
        return "expect not_addressed"
    by = ", ".join([settled.rule.name, *[cap.name for cap, _ in settled.binding]])
    return f"expect {outcome} {settled.approved} by {by}"


def render_example(title: str, case: Mapping[str, Any], expect: str, indent: str = "") -> str:
    """An `example` block for a case (JSON-ready values), as a .mtus file writes it."""
    lines = [f'{indent}example "{title}":']
    lines += [f"{indent}    {name}: {_literal(value)}" for name, value in case.items()]
    lines.append(f"{indent}    {expect}")
    return "\n".join(lines)


def _literal(value: Any) -> str:
    """A JSON-ready value as an example line writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _is_word(text) or _is_date(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_word(text: str) -> bool:
    reserved = ("true", "false", "none", "unknown")
    return text.isidentifier() and text.islower() and text.isascii() and text not in reserved


def _is_date(text: str) -> bool:
    try:
        return datetime.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _found(witness: Witness, what: str) -> str:
    if witness.exact:
        return what
    return f"{what} (found by the bounded search: {witness.why})"


def _relevant(program: ir.Program, names: Sequence[str], actions: bool = False) -> set[str]:
    """The inputs the rules in `names` read, through their facts and the rules they consult."""
    facts = {f.name: f for f in program.facts}
    found: set[str] = set()
    seen_facts: set[str] = set()
    pending: list[ir.Expr] = []
    for name in _reached_rules(program, names):
        rule = program.rule(name)
        pending += list(rule.when + rule.unless)
        if actions and name in names:
            pending += [e for e in ir.operands(rule.action) if e is not None]
    while pending:
        for e in ir.walk(pending.pop()):
            if isinstance(e, ir.Input):
                found.add(e.name)
            elif isinstance(e, ir.Fact) and e.name not in seen_facts:
                seen_facts.add(e.name)
                pending.append(facts[e.name].expr)
            elif isinstance(e, ir.Applies):
                rule = program.rule(e.rule)
                found |= {"service", "body_region"}
                pending += list(rule.when + rule.unless)
    return found


def _span(origin: ir.Origin) -> Span:
    return origin.span()


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


def _settled(rule: ir.RuleInfo) -> dict[str, Any]:
    """The values a rule's `when` clauses fix: `flag` (true), `not flag` (false), `name = member`."""
    fixed: dict[str, Any] = {}
    pending = list(rule.when)
    while pending:
        clause = pending.pop()
        if isinstance(clause, ir.And):
            pending += [clause.left, clause.right]
        elif isinstance(clause, (ir.Input, ir.Fact)) and clause.type.kind == "boolean":
            fixed[clause.name] = True
        elif isinstance(clause, ir.Not) and isinstance(clause.operand, (ir.Input, ir.Fact)):
            fixed[clause.operand.name] = False
        elif (
            isinstance(clause, ir.Compare)
            and clause.op == "="
            and isinstance(clause.left, ir.Input)
            and isinstance(clause.right, ir.Const)
            and clause.left.type.kind == "enum"
        ):
            fixed[clause.left.name] = ("member", clause.right.value)
    return fixed


def _contradict(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Tell whether two rules' `when` clauses fix one name to different values (so both never apply)."""
    return any(name in b and b[name] != value for name, value in a.items())


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


def _read_inputs(program: ir.Program, names: Sequence[str]) -> tuple[dict[str, ir.Expr], list[Any]]:
    """The inputs the rules' conditions read, through facts and other rules, and the constants they name."""
    definitions = {f.name: f.expr for f in program.facts}
    found: dict[str, ir.Expr] = {}
    constants: list[Any] = []
    seen: set[str] = set()
    pending: list[ir.Expr] = []
    for name in _reached_rules(program, names):
        rule = program.rule(name)
        pending += list(rule.when + rule.unless)
    while pending:
        for e in ir.walk(pending.pop()):
            if isinstance(e, ir.Input):
                found.setdefault(e.name, e)
            elif isinstance(e, ir.Fact) and e.name not in seen:
                # A fact is derived from its inputs, never assigned: a witness is a case.
                seen.add(e.name)
                pending.append(definitions[e.name])
            elif isinstance(e, ir.Const):
                constants += _flatten(e.value)
    return found, constants


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
    if kind == "list":
        # Only the empty list: enough for the many rules that ask nothing of a list but that it says nothing.
        return [()]
    if kind == "date":
        dates = {c for c in constants if isinstance(c, datetime.date)}
        # Any date a rule counts from (`weeks_between(injury_date, request_date) < 12`) also tries
        # the request's dates, so that a short time between them is among the candidates.
        # (Through the facts too: `fact age = years_between(birth_date, request_date)`.)
        clauses = [c for r in (*rules, *reached) for c in r.when + r.unless] + [f.expr for f in program.facts]
        counted = any(isinstance(e, ir.Call) and e.func.endswith("_between") and fact in e.args
                      for c in clauses for e in ir.walk(c))
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

    Returns the case (inputs only, JSON-ready), None when none was found, or (with
    exhaustive_only) False when the search covered every combination and found none.
    """
    rules = [program.rule(n) for n in names]
    # Constants of the rules reached through `unless other_rule` and of the facts
    # read too: their conditions decide whether the rules under test apply.
    facts, constants = _read_inputs(program, names)
    # The rules they consult: a date one of them counts from (weeks_between) is one to vary too.
    reached = [program.rule(n) for n in _reached_rules(program, names)]
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
        if expr.type.kind == "list":
            complete = False
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
        assignment = {k: v for k, v in zip(keys, combo) if not isinstance(v, rt.Unknown)}
        assignment.setdefault("quantity", 1)
        facts = engine.facts_class(assignment)
        facts.verdicts = {}
        try:
            if all(engine.check(h, facts)[0] is True for h in handles):
                return {k: _json(v) for k, v in assignment.items()}
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


def _json(value: Any) -> Any:
    """A value as a case gives it (JSON-ready)."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value
