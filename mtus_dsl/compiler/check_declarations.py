"""Check declarations: collect every name of every file, resolve types, convert table rows.

The first layer of the checker (checker.py drives the layers): what is declared, and
with which type. Expressions are typed in check_expressions.py, rules in
check_rules.py, examples and properties in checker.py.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import attrs

from mtus_dsl import types as t
from mtus_dsl.case import (
    FIRST_CASE_DATE,
    LAST_CASE_DATE,
    CaseSchema,
    FieldError,
    InputSpec,
    Reading,
    Relation,
    convert_value,
)
from mtus_dsl.compiler import ir
from mtus_dsl.compiler import nodes as n
from mtus_dsl.decision import Outcome
from mtus_dsl.diagnostics import Diagnostic, Severity, Span, did_you_mean
from mtus_dsl.runtime import Duration

#: Stands for an operand the grammar requires (it is never None once parsed); keeps the types honest.
_ERROR_OPERAND = ir.Const(None, t.ERROR)
#: The longest period, in each unit, between two dates a case may give: no period a guideline counts is longer.
_CASE_YEARS = LAST_CASE_DATE.year - FIRST_CASE_DATE.year + 1
_CASE_DAYS = (LAST_CASE_DATE - FIRST_CASE_DATE).days + 1
_LONGEST = {"days": _CASE_DAYS, "weeks": _CASE_DAYS // 7, "months": _CASE_YEARS * 12, "years": _CASE_YEARS}

# Inputs every program must have: the decision engine dispatches and counts on them.
CORE_INPUTS = {
    "request_date": t.DATE,
    "service": t.enum("service"),
    "body_region": t.enum("body_region"),
    "quantity": t.INTEGER,
}

# Numbers a rationale may show, besides any fact.
RATIONALE_LOCALS = {
    "requested": t.INTEGER,
    "approved": t.INTEGER,
    "limit": t.INTEGER,
    "prior": t.INTEGER,
    "allowed": t.INTEGER,
    "period": attrs.evolve(t.DURATION, optional=True),
    "unit": t.TEXT,
}

# What a property may read of the decision, besides any fact.
PROPERTY_LOCALS = {
    "outcome": t.enum("outcome"),
    "approved": t.INTEGER,
    "requested": t.INTEGER,
}
OUTCOMES = tuple(o.value for o in Outcome)

BUILTIN_TYPES = {
    "boolean": t.BOOLEAN,
    "integer": t.INTEGER,
    "date": t.DATE,
    "duration": t.DURATION,
    "text": t.TEXT,
    "code": t.CODE,
}

UNITS = ("visits", "treatments", "sessions", "days", "units", "months")


@attrs.define
class _Declarations:
    guidelines: dict[str, n.Guideline] = attrs.Factory(dict)
    enums: dict[str, tuple[str, ...]] = attrs.Factory(dict)
    inputs: dict[str, n.InputDecl] = attrs.Factory(dict)
    records: dict[str, n.RecordDecl] = attrs.Factory(dict)
    facts: dict[str, n.FactDecl] = attrs.Factory(dict)
    conditions: dict[str, n.ConditionDecl] = attrs.Factory(dict)
    tables: dict[str, n.TableDecl] = attrs.Factory(dict)
    sections: dict[str, n.Section] = attrs.Factory(dict)
    rules: dict[str, tuple[n.Rule, n.Section]] = attrs.Factory(dict)
    examples: list[tuple[n.Example, n.Section | None]] = attrs.Factory(list)
    properties: dict[str, n.Property] = attrs.Factory(dict)
    spans: dict[str, Span] = attrs.Factory(dict)



class DeclarationChecker:
    """Collect declarations and resolve their types; report problems as diagnostics."""

    def __init__(self, modules: Sequence[n.Module], sources: Mapping[str, str]):
        self.modules = modules
        self.sources = sources
        self.diagnostics: list[Diagnostic] = []
        self.d = _Declarations()
        self.input_types: dict[str, t.Type] = {}
        self.record_types: dict[str, tuple[tuple[str, t.Type], ...]] = {}
        self.table_types: dict[str, tuple[tuple[tuple[str, t.Type], ...], tuple[tuple[str, t.Type], ...]]] = {}
        self.fact_types: dict[str, t.Type] = {}
        self.member_of: dict[str, list[str]] = {}
        self._guarded: set[str] = set()  # while typing a rule's action: the names its `when` says exist


    def error(self, code: str, message: str, span: Span | None, *notes: str) -> None:
        """Record an error (once: a section's line is checked for each of its rules)."""
        diagnostic = Diagnostic(code, message, span, Severity.ERROR, tuple(n for n in notes if n))
        if diagnostic not in self.diagnostics:
            self.diagnostics.append(diagnostic)

    def period(self, amount: int, unit: str, span: Span | None) -> None:
        """E122 for a period longer than the dates a case can give span: counting it back leaves the calendar."""
        if amount > _LONGEST[unit]:
            self.error("E122", f"a period of {amount} {unit} is longer than the span of the dates a case can give "
                       f"({FIRST_CASE_DATE} to {LAST_CASE_DATE})", span,
                       "a guideline counts units over days, weeks, months or a few years")

    def _text(self, span: Span) -> str:
        source = self.sources.get(span.path, "")
        # A clause continued with a backslash reads as one line in the trace.
        return " ".join(source[span.start : span.end].replace("\\\n", " ").split())

    # --- declarations --------------------------------------------------------------
    def _declare(self, kind: str, name: str, span: Span) -> bool:
        key = f"{kind}:{name}"
        if key in self.d.spans:
            self.error("E101", f"{kind} '{name}' is declared twice", span, f"first declared at {self.d.spans[key]}")
            return False
        self.d.spans[key] = span
        return True

    def _collect(self) -> None:
        for module in self.modules:
            for item in module.items:
                if isinstance(item, n.Guideline):
                    if self._declare("guideline", item.name, item.span):
                        self.d.guidelines[item.name] = item
                        for what, text in (("title", item.title), ("edition", item.edition),
                                           ("regulation", item.regulation)):
                            if text is not None and not text.strip():
                                self.error("E116", f"guideline '{item.name}' has an empty {what}", item.span,
                                           f"every citation of its rules shows its {what}: write it"
                                           + (", or delete the line" if what == "regulation" else ""))
                        if item.in_force_from and item.in_force_to and item.in_force_to < item.in_force_from:
                            self.error("E115", f"guideline '{item.name}' ends before it starts", item.span)
                elif isinstance(item, n.EnumDecl):
                    if self._declare("enumeration", item.name, item.span):
                        names = [m for m, _ in item.members]
                        seen: set[str] = set()
                        for member, span in item.members:
                            if member in seen:
                                self.error("E101", f"'{member}' is listed twice in enum '{item.name}'", span)
                            seen.add(member)
                        self.d.enums[item.name] = tuple(dict.fromkeys(names))
                elif isinstance(item, n.InputDecl):
                    if self._declare("fact", item.name, item.span):
                        self.d.inputs[item.name] = item
                elif isinstance(item, n.RecordDecl):
                    if self._declare("record", item.name, item.span):
                        self.d.records[item.name] = item
                elif isinstance(item, n.FactDecl):
                    if self._declare("fact", item.name, item.span):
                        self.d.facts[item.name] = item
                elif isinstance(item, n.ConditionDecl):
                    if self._declare("condition", item.name, item.span):
                        self.d.conditions[item.name] = item
                elif isinstance(item, n.TableDecl):
                    if self._declare("table", item.name, item.span):
                        self.d.tables[item.name] = item
                elif isinstance(item, n.Section):
                    if self._declare("section", item.name, item.span):
                        self.d.sections[item.name] = item
                        if not item.title.strip():
                            self.error("E116", f"section '{item.name}' has an empty title", item.span,
                                       "every citation of its rules shows its title: write it")
                    for rule in item.rules:
                        if self._declare("rule", rule.name, rule.span):
                            self.d.rules[rule.name] = (rule, item)
                    self.d.examples.extend((example, item) for example in item.examples)
                elif isinstance(item, n.Example):
                    self.d.examples.append((item, None))
                elif isinstance(item, n.Property):
                    if self._declare("property", item.name, item.span):
                        self.d.properties[item.name] = item
        self.d.enums["condition"] = tuple(self.d.conditions)
        for enum_name, members in self.d.enums.items():
            for member in members:
                self.member_of.setdefault(member, []).append(enum_name)
        for name, expected in CORE_INPUTS.items():
            decl = self.d.inputs.get(name)
            if decl is None:
                self.error(
                    "E110",
                    f"the program declares no input '{name}'",
                    None,
                    f"every program needs: input {name}: {expected} required (the prelude declares it)",
                )

    def _type(self, ref: n.TypeRef) -> t.Type:
        if ref.optional:
            return attrs.evolve(self._type(attrs.evolve(ref, optional=False)), optional=True)
        if ref.name in ("list", "set"):
            assert ref.of is not None
            return t.Type(ref.name, of=self._type(ref.of))
        if ref.name == "integer":
            if ref.low is not None and ref.high is not None and ref.low > ref.high:
                self.error("E104", f"integer {ref.low}..{ref.high} runs backwards: no number is in it", ref.span)
            return t.Type("integer", low=ref.low, high=ref.high)
        if ref.name in BUILTIN_TYPES:
            return BUILTIN_TYPES[ref.name]
        if ref.name in self.d.enums:
            return t.enum(ref.name)
        if ref.name in self.d.records:
            return t.Type("record", ref.name)
        if ref.name in self.d.tables:  # a named row: `fact course: postsurgical_course = postsurgical_course[...]`
            return t.Type("row", ref.name)
        known = list(BUILTIN_TYPES) + list(self.d.enums) + list(self.d.records) + list(self.d.tables)
        self.error(
            "E103", f"unknown type '{ref.name}'{did_you_mean(ref.name, known)}", ref.span, "types: " + ", ".join(known)
        )
        return t.ERROR

    def _resolve_types(self) -> None:
        for name, record in self.d.records.items():
            self.record_types[name] = tuple((f.name, self._type(f.type)) for f in record.fields)
        for name, decl in self.d.inputs.items():
            self.input_types[name] = self._type(decl.type)
            if "duration" in str(self.input_types[name]):
                self.error("E103", f"input '{name}' cannot be a duration: a case gives numbers, dates and words",
                           decl.type.span, "give the length as an integer number of days, weeks or months")
            if "row of " in str(self.input_types[name]):
                self.error("E103", f"input '{name}' cannot be a table row: a case gives numbers, dates and words",
                           decl.type.span, "look the row up in a fact: fact NAME: TABLE = TABLE[key, ...]")
            expected = CORE_INPUTS.get(name)
            if expected is not None and not decl.required:
                self.error("E110", f"input '{name}' must be required", decl.span)
            if expected is not None and self.input_types[name].kind != expected.kind:
                self.error("E104", f"input '{name}' must be {expected}", decl.type.span)
        for name, fact in self.d.facts.items():
            self.fact_types[name] = self._type(fact.type)
        for name, table in self.d.tables.items():
            keys = tuple((f.name, self._type(f.type)) for f in table.keys)
            values = tuple((f.name, self._type(f.type)) for f in table.values)
            self.table_types[name] = (keys, values)

    def _schema(self) -> CaseSchema:
        return self._case_format

    @functools.cached_property
    def _case_format(self) -> CaseSchema:
        """The case format: the inputs with their on-record readings, and the relations between them."""
        plain = tuple(
            InputSpec(name, self.input_types[name], decl.required, decl.doc) for name, decl in self.d.inputs.items()
        )
        bare = CaseSchema(plain, dict(self.d.enums), dict(self.record_types))
        readings = {name: self._reading(decl, bare) for name, decl in self.d.inputs.items()}
        self._reading_cycles(readings)
        inputs = tuple(attrs.evolve(spec, on_record=readings[spec.name]) for spec in plain)
        return CaseSchema(inputs, bare.enums, bare.records, self._relations())

    def _relations(self) -> tuple[Relation, ...]:
        """Each `at most` clause, checked: both sides integer inputs, no cycle."""
        out = []
        for name, decl in self.d.inputs.items():
            for clause in decl.at_most:
                other = self.input_types.get(clause.other)
                if other is None:
                    self.error("E102", f"unknown input '{clause.other}'{did_you_mean(clause.other, self.input_types)}",
                               clause.span, "'at most' names another input of the case")
                    continue
                mine = self.input_types[name]
                if mine.kind != "integer" or other.kind != "integer":
                    self.error("E104", f"'at most' relates two integer inputs, not {mine} and {other}", clause.span)
                    continue
                if clause.other == name:
                    self.error("E104", f"input '{name}' cannot be at most itself", clause.span)
                    continue
                out.append(Relation(name, clause.other, clause.reason))
        graph: dict[str, list[str]] = {}
        for relation in out:
            graph.setdefault(relation.lower, []).append(relation.upper)
        cycle = ir.find_cycle(graph)
        if cycle:
            decl = self.d.inputs[cycle[0]]
            self.error("E106", "inputs bound by 'at most' in a circle: " + " <= ".join(cycle), decl.span,
                       "only equal values could satisfy it; keep one direction")
            return tuple(out)
        return _closure(out)

    def _reading(self, decl: n.InputDecl, schema: CaseSchema) -> Reading | None:
        """The on-record reading of an input, checked against its type (a value, or another input of its type)."""
        clause = decl.on_record
        if clause is None:
            return None
        mine = self.input_types[decl.name]
        if decl.required:
            self.error("E104", f"input '{decl.name}' is required: a case always gives it, so it needs no reading "
                               "on the record", clause.span)
            return None
        value = clause.value
        if isinstance(value, n.ScalarValue) and value.kind == "name" and value.value in self.input_types:
            source = str(value.value)
            other = self.input_types[source]
            if not mine.accepts(other) or not other.accepts(mine) or source == decl.name:
                self.error("E104", f"input '{decl.name}' ({mine}) cannot be read as input '{source}' ({other})",
                           clause.span, "on the record, an absent input may take the value of another of its type")
                return None
            return Reading(clause.reason, source=source)
        errors: list[FieldError] = []
        converted = convert_value(_json(value), mine, (decl.name,), schema, errors)
        for error in errors:
            self.error("E104", f"input '{decl.name}' cannot be read as {error.message}", clause.span,
                       f"its type is {mine}")
        if errors:
            return None
        return Reading(clause.reason, value=converted)

    def _reading_cycles(self, readings: Mapping[str, Reading | None]) -> None:
        graph = {name: [r.source] for name, r in readings.items() if r is not None and r.source is not None}
        cycle = ir.find_cycle(graph)
        if cycle:
            decl = self.d.inputs[cycle[0]]
            self.error("E106", "on the record, inputs read as each other in a circle: " + " -> ".join(cycle),
                       decl.span, "end the chain with a value (on record 0 \"...\")")

    def _tables(self) -> tuple[ir.TableInfo, ...]:
        out = []
        for name, decl in self.d.tables.items():
            keys, values = self.table_types[name]
            rows = []
            seen: dict[tuple[Any, ...], Span] = {}
            for key_values, cell_values, span in decl.rows:
                key = self._cells(key_values, keys, span)
                cells = self._cells(cell_values, values, span)
                if key in seen:
                    self.error(
                        "E101",
                        f"table '{name}' has two rows for {', '.join(map(str, key))}",
                        span,
                        f"the first is at {seen[key]}",
                    )
                seen[key] = span
                rows.append((key, cells))
            otherwise = self._cells(decl.otherwise, values, decl.span) if decl.otherwise is not None else None
            out.append(
                ir.TableInfo(name, tuple(k for k, _ in keys), tuple(v for v, _ in values), tuple(rows), otherwise)
            )
        return tuple(out)

    def _cells(
        self, cells: tuple[n.Value, ...], columns: tuple[tuple[str, t.Type], ...], span: Span
    ) -> tuple[Any, ...]:
        if len(cells) != len(columns):
            self.error(
                "E113",
                f"this row has {_count(len(cells), 'value')}; the table has {_count(len(columns), 'column')} "
                f"({', '.join(c for c, _ in columns)})",
                span,
            )
            return tuple(None for _ in columns)
        out: list[Any] = []
        for cell, (column, type_) in zip(cells, columns):
            if isinstance(cell, n.ScalarValue) and cell.kind == "none" and not type_.optional:
                # Rules read such a column as a number or a condition: a none there would reach
                # arithmetic or a guard that cannot take it.
                self.error(
                    "E113",
                    f"column '{column}' holds {type_}, not none",
                    cell.span,
                    f"declare the column '{column}: {type_} or none' if a row may have no value",
                )
                out.append(None)
                continue
            value = self._cell(cell, type_)
            if value is _BAD:
                self.error("E113", f"column '{column}' holds {type_}", cell.span)
                value = None
            out.append(value)
        return tuple(out)

    def _cell(self, cell: n.Value, type_: t.Type) -> Any:
        if not isinstance(cell, n.ScalarValue):
            return _BAD
        if cell.kind == "none":
            return None
        kind = type_.kind
        if kind == "integer" and cell.kind == "int":
            return cell.value
        if kind == "duration" and cell.kind == "duration":
            amount, unit = cast(tuple[int, str], cell.value)
            self.period(amount, unit, cell.span)
            return Duration(amount, unit)
        if kind == "date" and cell.kind == "date":
            return cell.value
        if kind == "boolean" and cell.kind == "bool":
            return cell.value
        if kind in ("text", "code") and cell.kind in ("name", "string"):
            return cell.value
        if kind == "enum" and cell.kind == "name":
            members = self.d.enums.get(type_.name or "", ())
            if cell.value in members:
                return cell.value
            self.error(
                "E102", f"'{cell.value}' is not a {type_.name}{did_you_mean(str(cell.value), members)}", cell.span
            )
            return None
        return _BAD


#: A table cell that could not be converted (already reported).
_BAD = object()


def _a(type_: t.Type) -> str:
    """The type with its article: 'an integer', 'a date'."""
    text = str(type_)
    return ("an " if text[:1] in "aeiou" else "a ") + text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _cycle(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """The names on one circle of definitions (deps has one)."""
    return ir.find_cycle(deps) or sorted(deps)


def _members(enums: Mapping[str, tuple[str, ...]], name: str) -> tuple[str, ...]:
    """The members of an enumeration; `outcome` (what properties compare decisions with) is built in."""
    if name == "outcome" and name not in enums:
        return OUTCOMES
    return enums.get(name, ())


def _unit(action: n.Action, section_unit: str | None) -> str:
    if isinstance(action, n.Limit):
        return action.unit
    return section_unit or "visits"


def _json(value: n.Value) -> Any:
    if isinstance(value, n.ScalarValue):
        if isinstance(value.value, datetime.date):
            return value.value.isoformat()
        if value.kind == "duration":
            amount, unit = cast(tuple[int, str], value.value)
            return f"{amount} {unit}"
        return value.value
    if isinstance(value, n.ListValue):
        return [_json(v) for v in value.items]
    if isinstance(value, n.RecordValue):
        return {k: _json(v) for k, v in value.fields}
    return None


def _toposort(deps: Mapping[str, Iterable[str]]) -> list[str] | None:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        if state.get(node) == 2:
            return True
        if state.get(node) == 1:
            return False
        state[node] = 1
        for dep in deps.get(node, ()):
            if dep in deps and not visit(dep):
                return False
        state[node] = 2
        order.append(node)
        return True

    for node in deps:
        if not visit(node):
            return None
    return order


def _consulted(rule: ir.RuleInfo) -> set[str]:
    """The rules whose applicability `rule`'s clauses ask about (its exceptions and overriders)."""
    return {e.rule for clause in rule.when + rule.unless for e in ir.walk(clause) if isinstance(e, ir.Applies)}


def _dispatch(
    rules: tuple[ir.RuleInfo, ...], enums: Mapping[str, tuple[str, ...]]
) -> tuple[tuple[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]], ...]:
    table: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for rule in rules:
        for service in rule.services:
            for region in rule.regions:
                entry = table.setdefault((service, region), ([], []))
                entry[0 if rule.kind == "rule" else 1].append(rule.name)
    # In the order of the enumerations, whatever order the rules name them in.
    order = {key: i for i, key in enumerate(
        (s, r) for s in enums.get("service", ()) for r in enums.get("body_region", ()))}
    return tuple((key, (tuple(r), tuple(c))) for key, (r, c) in sorted(table.items(), key=lambda kv: order[kv[0]]))


def _closure(relations: list[Relation]) -> tuple[Relation, ...]:
    """The declared relations and those they imply through a chain (a <= b <= c gives a <= c).

    A case that gives the two ends of a chain but not its middle still breaks the
    chain when the ends are out of order: no value of the middle could complete it.
    """
    out = list(relations)
    known = {(r.lower, r.upper) for r in out}
    grew = True
    while grew:
        grew = False
        for first in list(out):
            for second in list(out):
                pair = (first.lower, second.upper)
                if first.upper != second.lower or pair in known:
                    continue
                known.add(pair)
                out.append(Relation(first.lower, second.upper,
                                    f"{first.lower} never exceeds {first.upper}, which never exceeds {second.upper}",
                                    first.upper))
                grew = True
    return tuple(out)
