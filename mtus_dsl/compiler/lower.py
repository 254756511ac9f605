"""Lower the IR to the decision plan's data: what both backends give the engine besides their functions.

The interpreter pairs this data with closures over the IR; the code generator
writes it as literals beside the functions it generates. Either way the engine
receives the same rules, in the same priority order, with the same citations,
reasons and scopes.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from mtus_dsl import engine
from mtus_dsl.compiler import ir
from mtus_dsl.completions import Boundaries
from mtus_dsl.runtime import CodeIndex, Duration, Table, conditions_of


def guideline_meta(g: ir.GuidelineInfo) -> engine.GuidelineMeta:
    """Return what the engine needs to know of a guideline edition."""
    return engine.GuidelineMeta(g.name, g.title, g.edition, g.regulation, g.in_force_from, g.in_force_to)


def reads(exprs: Iterable[ir.Expr | None]) -> tuple[str, ...]:
    """The inputs and facts some expressions read, in the order they first appear."""
    found: dict[str, None] = {}
    for expr in exprs:
        if expr is None:
            continue
        for node in ir.walk(expr):
            if isinstance(node, (ir.Input, ir.Fact)):
                found.setdefault(node.name, None)
    return tuple(found)


def clause_data(rule: ir.RuleInfo, program: ir.Program | None) -> tuple[tuple[str, tuple[str, ...],
                                                                               tuple[str, ...]], ...]:
    """Each when/unless clause for the trace: its text, what it reads, the conditions it names (through facts)."""
    if program is None:
        return ()
    known = set(program.schema.enums.get("condition", ()))
    definitions = {fact.name: fact.expr for fact in program.facts}

    def named(expr: ir.Expr, seen: set[str]) -> set[str]:
        found: set[str] = set()
        for node in ir.walk(expr):
            if isinstance(node, ir.Const):
                values = node.value if isinstance(node.value, frozenset) else (node.value,)
                found.update(v for v in values if isinstance(v, str) and v in known)
            elif isinstance(node, ir.Fact) and node.name not in seen and node.name in definitions:
                seen.add(node.name)
                found |= named(definitions[node.name], seen)
        return found

    return tuple((text, reads([expr]), tuple(sorted(named(expr, set()))))
                 for text, expr in zip(rule.clauses, (*rule.when, *rule.unless)))


def rule_fields(rule: ir.RuleInfo, program: ir.Program | None = None) -> dict[str, Any]:
    """The data of a rule in the plan (everything but its functions), by engine.Rule field name."""
    return {
        "name": rule.name,
        "kind": rule.kind,
        "guideline": rule.guideline,
        "citation": rule.citation,
        "action": engine.ActionKind(ir.action_kind(rule.action)),
        "unit": rule.action.unit,
        "source": str(rule.origin),
        "reasons": rule.reasons,
        "explained": rule.explained,
        "services": rule.services,
        "regions": rule.regions,
        "reads": reads([*rule.when, *rule.unless, *ir.operands(rule.action)]),
        "column": rule.origin.column,
        "clauses": clause_data(rule, program),
    }


def fact_inputs(program: ir.Program) -> dict[str, tuple[str, ...]]:
    """Each fact's inputs: all it can read, through other facts and the rules it names (`unless RULE`).

    What the needs_information search needs to know a fact keeps its value when one input is completed.
    """
    return {fact.name: tuple(sorted(inputs_read(program, [fact.expr]))) for fact in program.facts}


def inputs_read(program: ir.Program, exprs: Iterable[ir.Expr | None]) -> set[str]:
    """The inputs some expressions can read: themselves, through facts, and through the rules they ask about."""
    facts = {f.name: f.expr for f in program.facts}
    rules = {r.name: r for r in program.rules}
    inputs: set[str] = set()
    seen_facts, seen_rules = set[str](), set[str]()
    pending = [e for e in exprs if e is not None]
    while pending:
        for node in ir.walk(pending.pop()):
            if isinstance(node, ir.Input):
                inputs.add(node.name)
            elif isinstance(node, ir.Fact) and node.name not in seen_facts and node.name in facts:
                seen_facts.add(node.name)
                pending.append(facts[node.name])
            elif isinstance(node, ir.Applies) and node.rule not in seen_rules and node.rule in rules:
                seen_rules.add(node.rule)
                rule = rules[node.rule]
                # Whether a rule applies also turns on its scope and its edition's dates.
                inputs.update(("request_date", "service", "body_region"))
                pending.extend(e for e in (*rule.when, *rule.unless) if e is not None)
    return inputs


def fact_source(fact: ir.FactInfo) -> str:
    """Where a fact is defined, as a RuleError names it."""
    return f"{fact.origin}:{fact.origin.column}"


def build_table(table: ir.TableInfo) -> Table:
    """Build the runtime table for a declared one."""
    rows = tuple(key + values for key, values in table.rows)
    return Table.from_rows(table.name, table.key_names, table.value_names, rows, table.otherwise)


#: Codes tried, in order, as "a diagnosis in no code set" when completing a list of diagnoses.
_OUTSIDE_CODES = ("R69", "R68.89", "Z02.9", "799.9", "V68.9")


def boundaries(program: ir.Program) -> Boundaries:
    """The values at which the program's rules can change their answer (what exact needs_information tries).

    Plan-wide, and for each rule (`Boundaries.scopes`) from its own expressions and
    what they read: a bucket's search tries only the values its rules can tell apart.
    """
    members = {m for values in program.schema.enums.values() for m in values}
    exprs: list[ir.Expr | None] = [f.expr for f in program.facts]
    for rule in program.rules:
        exprs.extend([*rule.when, *rule.unless, *ir.operands(rule.action)])
    rows = [(key, values) for table in program.tables for key, values in table.rows]
    rows += [((), table.otherwise) for table in program.tables if table.otherwise is not None]
    found = _boundaries(exprs, rows, [d for g in program.guidelines for d in (g.in_force_from, g.in_force_to)],
                        members)
    codesets = dict(program.codesets)
    index = CodeIndex(codesets)
    codes: list[str] = []
    for patterns in codesets.values():
        for pattern in patterns:
            code = pattern.rstrip("*")
            code = code + "0" if code.endswith(".") or not code else code
            if conditions_of(index, None, (code,)):
                codes.append(code)
                break
    codes.extend([c for c in _OUTSIDE_CODES if not conditions_of(index, None, (c,))][:1])
    scopes = tuple((rule.name, _scope(program, rule, members)) for rule in program.rules)
    return attrs.evolve(found, codes=tuple(dict.fromkeys(codes)), rows=(), scopes=scopes)


def _scope(program: ir.Program, rule: ir.RuleInfo, members: set[str]) -> Boundaries:
    """One rule's boundaries: of its expressions and, transitively, the facts, rules and tables they read."""
    facts = {f.name: f.expr for f in program.facts}
    rules = {r.name: r for r in program.rules}
    tables = {t.name: t for t in program.tables}
    exprs: list[ir.Expr | None] = []
    guidelines: set[str] = set()
    read_tables: dict[str, None] = {}
    seen_facts: set[str] = set()
    seen_rules = {rule.name}
    pending: list[ir.Expr | None] = []

    def add_rule(info: ir.RuleInfo) -> None:
        guidelines.add(info.guideline)
        pending.extend([*info.when, *info.unless, *ir.operands(info.action)])

    add_rule(rule)
    while pending:
        expr = pending.pop()
        exprs.append(expr)
        if expr is None:
            continue
        for node in ir.walk(expr):
            if isinstance(node, ir.Fact) and node.name not in seen_facts and node.name in facts:
                seen_facts.add(node.name)
                pending.append(facts[node.name])
            elif isinstance(node, ir.Applies) and node.rule not in seen_rules and node.rule in rules:
                seen_rules.add(node.rule)
                add_rule(rules[node.rule])
            elif isinstance(node, ir.Lookup) and node.table in tables:
                read_tables.setdefault(node.table, None)
    dates = [d for g in program.guidelines if g.name in guidelines for d in (g.in_force_from, g.in_force_to)]
    found = _boundaries(exprs, [], dates, members)
    units = _counted_in(exprs)
    table_rows: list[tuple[tuple[str, ...], Boundaries]] = []
    for name in read_tables:
        table = tables[name]
        for key, values in table.rows:
            # A row is looked up only by a key equal to it: its enumeration members must be reachable.
            keyed = tuple(k for k in key if isinstance(k, str) and k in members)
            table_rows.append((keyed, _boundaries([], [(key, values)], [], members, units)))
        if table.otherwise is not None:
            table_rows.append(((), _boundaries([], [((), table.otherwise)], [], members, units)))
    inputs = {node.name for expr in exprs if expr is not None for node in ir.walk(expr) if isinstance(node, ir.Input)}
    named = {m for expr in exprs if expr is not None for node in ir.walk(expr) if isinstance(node, ir.Const)
             for m in _strings(node.value) if m in members}
    for name in read_tables:
        # What a table gives back (not its keys) is a value the rules may go on to compare.
        for _, values in tables[name].rows:
            named.update(m for m in _strings(values) if m in members)
        named.update(m for m in _strings(tables[name].otherwise) if m in members)
    return attrs.evolve(found, inputs=tuple(sorted(inputs)), members=tuple(sorted(named)), rows=tuple(table_rows))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (frozenset, tuple)):
        for item in value:
            yield from _strings(item)


def _counted_in(exprs: Iterable[ir.Expr | None]) -> set[str]:
    """Units of the date differences the expressions compute (years_between: years)."""
    return {node.func.removesuffix("_between") for expr in exprs if expr is not None for node in ir.walk(expr)
            if isinstance(node, ir.Call) and node.func.endswith("_between")}


def _boundaries(exprs: Iterable[ir.Expr | None], rows: Iterable[tuple[Any, Any]],
                dates_in_force: Iterable[datetime.date | None], members: set[str],
                units: set[str] | None = None) -> Boundaries:
    """The numbers, periods, dates, words and partners some expressions and table rows name (no code sets)."""
    numbers: set[int] = set()
    durations: set[Duration] = set()
    dates: set[datetime.date] = {d for d in dates_in_force if d is not None}
    texts: set[str] = set()

    def note(value: Any) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int):
            numbers.add(value)
        elif isinstance(value, Duration):
            durations.add(value)
        elif isinstance(value, datetime.date):
            dates.add(value)
        elif isinstance(value, str) and value not in members:
            texts.add(value)
        elif isinstance(value, (frozenset, tuple)):
            for item in value:
                note(item)

    exprs = list(exprs)
    partners: set[tuple[str, str]] = set()
    counted_in = _counted_in(exprs) if units is None else units
    for expr in exprs:
        if expr is not None:
            for node in ir.walk(expr):
                if isinstance(node, ir.Const):
                    note(node.value)
                elif isinstance(node, ir.Call) and node.func == "conditions_of" and len(node.args) == 2:
                    # conditions_of(condition, diagnoses): the condition word adds nothing once the
                    # diagnoses are given, so completing the diagnoses must complete it too.
                    first, second = node.args
                    if isinstance(first, ir.Input) and isinstance(second, ir.Input):
                        partners.add((first.name, second.name))
    for key, values in rows:
        note(key)
        note(values)
    # A number compared with a date difference (`years_between(birth_date, request_date) >= 65`) is a
    # period too: dates that many units (and one more) from the case's dates are where the answer changes.
    for unit in counted_in:
        durations.update(Duration(n + k, unit) for n in numbers if 0 < n <= 1000 for k in (0, 1))
    return Boundaries(
        tuple(sorted(numbers)),
        tuple(sorted(durations, key=lambda d: (d.unit, d.amount))),
        tuple(sorted(dates)),
        (),
        tuple(sorted(texts)),
        tuple(sorted(partners)),
    )
