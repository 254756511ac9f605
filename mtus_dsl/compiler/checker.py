"""Check parsed modules (names, types, citations, examples) and lower them to the IR.

The checker is layered, one module each: check_declarations.py (what is declared,
with which type), check_expressions.py (names and types of expressions),
check_rules.py (rules, citations, exceptions, priority order) and this module
(examples, properties, and the driver). Checks that need to evaluate rules
(conflicts, unreachable rules) run later, over the IR, in `analysis.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mtus_dsl import types as t
from mtus_dsl.case import CaseError
from mtus_dsl.compiler import check_magnitude, ir
from mtus_dsl.compiler import nodes as n
from mtus_dsl.compiler.check_declarations import (
    PROPERTY_LOCALS,
    _dispatch,
    _json,
)
from mtus_dsl.compiler.check_rules import RuleChecker
from mtus_dsl.decision import Outcome
from mtus_dsl.diagnostics import Span, did_you_mean


class Checker(RuleChecker):
    """Resolve and type-check modules, collecting diagnostics, and build the IR Program."""

    # --- driver --------------------------------------------------------------------
    def check(self) -> ir.Program | None:
        """Run every check; return the Program, or None if there were errors."""
        self._collect()
        self._resolve_types()
        facts = self._facts()
        tables = self._tables()
        rules = self._rules()
        ordered = self._order_rules(rules)
        examples = self._examples()
        properties = self._properties()
        if any(d.is_error for d in self.diagnostics):
            return None
        schema = self._schema()
        guidelines = tuple(
            ir.GuidelineInfo(g.name, g.title, g.edition, g.regulation, g.in_force_from, g.in_force_to)
            for g in self.d.guidelines.values()
        )
        codesets = tuple((c.name, c.icd9 + c.icd10) for c in self.d.conditions.values())
        program = ir.Program(
            schema=schema,
            guidelines=guidelines,
            facts=facts,
            tables=tables,
            codesets=codesets,
            rules=ordered,
            dispatch=_dispatch(ordered, self.d.enums),
            examples=examples,
            sources=tuple(m.path for m in self.modules),
            properties=properties,
        )
        oversized = check_magnitude.check(program)
        self.diagnostics.extend(oversized)
        return None if oversized else program

    # --- properties ----------------------------------------------------------------
    def _properties(self) -> tuple[ir.PropertyInfo, ...]:
        out = []
        for name, prop in self.d.properties.items():
            lines = []
            for kind, clauses in (("for", prop.conditions), ("expect", prop.expectations)):
                checked = []
                for clause in clauses:
                    expr = self.expr(clause, PROPERTY_LOCALS)
                    self._expect(t.BOOLEAN, expr.type, clause, f"'{kind}' needs a condition")
                    checked.append(expr)
                lines.append(tuple(checked))
            origin = ir.Origin(prop.span.path, prop.span.line)
            texts = tuple(self._text(e.span) for e in prop.expectations)
            out.append(ir.PropertyInfo(name, prop.description, lines[0], lines[1], texts, origin))
        return tuple(out)

    # --- examples ------------------------------------------------------------------
    def _given_once(self, givens: Iterable[n.Given], what: str) -> None:
        """A field given twice is an error at the second, as in a JSON case: never silently the last one."""
        first: dict[str, n.Given] = {}
        for given in givens:
            if given.name in first:
                line = first[given.name].span.line
                self.error("E112", f"{what}: '{given.name}' is given twice (first on line {line}); give each field "
                           "once", given.span)
            else:
                first[given.name] = given

    def _examples(self) -> tuple[ir.ExampleInfo, ...]:
        schema = self._schema()
        out = []
        checked_defaults: set[int] = set()
        for example, section in self.d.examples:
            if section is not None and id(section) not in checked_defaults:
                checked_defaults.add(id(section))
                self._given_once(section.defaults, "example defaults")
            self._given_once(example.given, f"example '{example.title}'")
            if example.expect is None:
                continue
            givens = {g.name: g for g in (section.defaults if section else ())}
            givens.update({g.name: g for g in example.given})
            case: dict[str, Any] = {"id": example.title}
            spans: dict[str, Span] = {}
            for name, given in givens.items():
                if not isinstance(given.value, n.UnknownValue):
                    case[name] = _json(given.value)
                spans[name] = given.span
            try:
                from mtus_dsl.case import Case

                Case.from_dict(case, schema)
            except CaseError as error:
                for field_error in error.errors:
                    field = field_error.field.split("[", 1)[0].split(".", 1)[0]
                    self.error("E112", f"example '{example.title}': {field_error}", spans.get(field, example.span))
            expect = example.expect
            for rule, span in expect.by:
                if rule not in self.d.rules:
                    self.error("E105", f"unknown rule '{rule}'{did_you_mean(rule, self.d.rules)}", span)
            for fact, span in (*expect.missing, *expect.assumed):
                if fact not in self.input_types:
                    self.error("E102", f"unknown input '{fact}'{did_you_mean(fact, self.input_types)}", span)
            if expect.assumed and not example.on_record:
                self.error("E112", "only an example decided on the record assumes anything", expect.span,
                           f'write: example "{example.title}" on record:')
            if expect.outcome == Outcome.MODIFY.value and expect.approved is None:
                self.error("E112", "'expect modify' needs the number approved (expect modify 10)", expect.span)
            out.append(
                ir.ExampleInfo(
                    example.title,
                    case,
                    expect.outcome,
                    expect.approved,
                    tuple(r for r, _ in expect.by),
                    tuple(f for f, _ in expect.missing),
                    ir.Origin(example.span.path, example.span.line),
                    section.name if section else None,
                    example.on_record,
                    tuple(f for f, _ in expect.assumed),
                )
            )
        return tuple(out)




