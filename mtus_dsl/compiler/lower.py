"""Lower the IR to the decision plan's data: what both backends give the engine besides their functions.

The interpreter pairs this data with closures over the IR; the code generator
writes it as literals beside the functions it generates. Either way the engine
receives the same rules, in the same priority order, with the same citations,
reasons and scopes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mtus_dsl import engine
from mtus_dsl.compiler import ir
from mtus_dsl.runtime import Table


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


def rule_fields(rule: ir.RuleInfo) -> dict[str, Any]:
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
    }


def fact_source(fact: ir.FactInfo) -> str:
    """Where a fact is defined, as a RuleError names it."""
    return f"{fact.origin}:{fact.origin.column}"


def build_table(table: ir.TableInfo) -> Table:
    """Build the runtime table for a declared one."""
    rows = tuple(key + values for key, values in table.rows)
    return Table.from_rows(table.name, table.key_names, table.value_names, rows, table.otherwise)
