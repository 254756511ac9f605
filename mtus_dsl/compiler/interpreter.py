"""The reference interpreter: evaluates IR directly; the meaning compiled code must match."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mtus_dsl import runtime as rt
from mtus_dsl.case import Record
from mtus_dsl.compiler import ir


class Interpreter:
    """Evaluate IR expressions over the facts of a case, in three-valued logic."""

    def __init__(self, program: ir.Program):
        self.program = program
        self.tables = {t.name: build_table(t) for t in program.tables}
        self.codesets = dict(program.codesets)

    def eval(self, expr: ir.Expr, facts: rt.Facts, env: Mapping[str, Any]) -> Any:
        """Evaluate one expression."""
        if isinstance(expr, ir.Const):
            return expr.value
        if isinstance(expr, (ir.Input, ir.Fact)):
            return facts[expr.name]
        if isinstance(expr, ir.Var):
            return env[expr.name]
        if isinstance(expr, ir.Attr):
            return rt.attr(self.eval(expr.obj, facts, env), expr.field)
        if isinstance(expr, ir.Lookup):
            return self.tables[expr.table].lookup(tuple(self.eval(k, facts, env) for k in expr.keys))
        if isinstance(expr, ir.Not):
            return rt.not_(self.eval(expr.operand, facts, env))
        if isinstance(expr, ir.And):
            left = self.eval(expr.left, facts, env)
            if left is False:
                return False
            return rt.and_rest(left, self.eval(expr.right, facts, env))
        if isinstance(expr, ir.Or):
            left = self.eval(expr.left, facts, env)
            if left is True:
                return True
            return rt.or_rest(left, self.eval(expr.right, facts, env))
        if isinstance(expr, ir.Compare):
            return rt.compare(expr.op, self.eval(expr.left, facts, env), self.eval(expr.right, facts, env))
        if isinstance(expr, ir.Member):
            return rt.member(self.eval(expr.item, facts, env), self.eval(expr.collection, facts, env), expr.negated)
        if isinstance(expr, ir.Exists):
            return rt.exists(self.eval(expr.operand, facts, env))
        if isinstance(expr, ir.Arith):
            return rt.arith(expr.op, self.eval(expr.left, facts, env), self.eval(expr.right, facts, env))
        if isinstance(expr, ir.Div):
            return rt.divide(self.eval(expr.left, facts, env), self.eval(expr.right, facts, env), expr.rounding)
        if isinstance(expr, ir.Call):
            args = [self.eval(a, facts, env) for a in expr.args]
            if expr.func == "conditions_of":
                return rt.conditions_of(self.codesets, *args)
            return rt.extremum(expr.func, args)
        if isinstance(expr, ir.Quant):
            return self._quantifier(expr, facts, env)
        if isinstance(expr, ir.SetOf):
            return rt.set_of([self.eval(i, facts, env) for i in expr.items])
        if isinstance(expr, ir.Applies):
            return facts.applies(expr.rule)
        raise AssertionError(f"unhandled IR node {expr!r}")

    def _quantifier(self, expr: ir.Quant, facts: rt.Facts, env: Mapping[str, Any]) -> Any:
        items = rt.collection(self.eval(expr.collection, facts, env))
        if items.__class__ is rt.Unknown:
            return items
        inner = dict(env)
        results = []
        for item in items:
            inner[expr.var] = item
            results.append((item, self.eval(expr.condition, facts, inner)))
        return rt.quantify(expr.kind, results)

    def render(self, template: ir.Template, facts: rt.Facts, env: Mapping[str, Any]) -> str:
        """Fill a rationale or explanation with the case's values."""
        return "".join(p if isinstance(p, str) else rt.show(self.eval(p, facts, env)) for p in template)

    # --- building the engine ---------------------------------------------------
    def engine(self) -> rt.Engine:
        """Return a decision Engine whose rules and facts are evaluated by this interpreter."""
        program = self.program
        derive = {f.name: self._deriver(f) for f in program.facts}
        explain = {f.name: self._explainer(f) for f in program.facts if f.explain_true or f.explain_false}
        handles = [
            rt.RuleHandle(rule_meta(r), self._checker(r), self._operands(r), self._rationale(r)) for r in program.rules
        ]
        return rt.Engine(
            schema=program.schema,
            guidelines=[guideline_meta(g) for g in program.guidelines],
            rules=handles,
            dispatch=dict(program.dispatch),
            derive=derive,
            explain=explain,
        )

    def _deriver(self, fact: ir.FactInfo) -> Callable[[rt.Facts], Any]:
        return lambda facts: self.eval(fact.expr, facts, {})

    def _explainer(self, fact: ir.FactInfo) -> Callable[[rt.Facts, Any], str | None]:
        def explain(facts: rt.Facts, value: Any) -> str | None:
            template = fact.explain_true if value is True else fact.explain_false if value is False else None
            return self.render(template, facts, {}) if template is not None else None

        return explain

    def _checker(self, rule: ir.RuleInfo) -> rt.Check:
        def check(facts: rt.Facts) -> tuple[Any, int]:
            unknown = None
            for index, clause in enumerate(rule.when):
                value = self.eval(clause, facts, {})
                if value is False:
                    return (False, index)
                if value is not True:
                    unknown = value if unknown is None else rt.join(unknown, value)
            for index, clause in enumerate(rule.unless, start=len(rule.when)):
                value = self.eval(clause, facts, {})
                if value is True:
                    return (False, index)
                if value is not False:
                    unknown = value if unknown is None else rt.join(unknown, value)
            return (unknown, -1) if unknown is not None else (True, -1)

        return check

    def _operands(self, rule: ir.RuleInfo) -> rt.Operands:
        operands = rule.action.operands()

        def evaluate(facts: rt.Facts) -> tuple[Any, ...]:
            return tuple(None if e is None else self.eval(e, facts, {}) for e in operands)

        return evaluate

    def _rationale(self, rule: ir.RuleInfo) -> rt.Render | None:
        template = rule.rationale
        if template is None:
            return None
        return lambda facts, numbers: self.render(template, facts, numbers)


def build_table(table: ir.TableInfo) -> rt.Table:
    """Build the runtime table for a declared one."""
    names = table.key_names + table.value_names
    rows = {key: Record(table.name, dict(zip(names, key + values))) for key, values in table.rows}
    otherwise = None
    if table.otherwise is not None:
        otherwise = Record(table.name, dict(zip(names, (None,) * len(table.key_names) + table.otherwise)))
    return rt.Table(table.name, rows, otherwise)


def rule_meta(rule: ir.RuleInfo) -> rt.RuleMeta:
    """Return what the runtime needs to know of a rule."""
    return rt.RuleMeta(
        rule.name,
        rule.kind,
        rule.guideline,
        rule.citation,
        rule.action.kind,
        rule.action.unit,
        rule.reasons,
        rule.explained,
        str(rule.origin),
    )


def guideline_meta(g: ir.GuidelineInfo) -> rt.GuidelineMeta:
    """Return what the runtime needs to know of a guideline edition."""
    return rt.GuidelineMeta(g.name, g.title, g.edition, g.regulation, g.in_force_from, g.in_force_to)
