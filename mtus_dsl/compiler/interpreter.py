"""The reference interpreter: evaluates guards and limits from the IR; the meaning compiled code must match.

It decides nothing itself: it gives the engine (mtus_dsl.engine) a plan whose
functions evaluate the IR, one node at a time, with the runtime's operations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, assert_never

from mtus_dsl import engine as en
from mtus_dsl import runtime as rt
from mtus_dsl.compiler import ir
from mtus_dsl.compiler.lower import (
    boundaries,
    build_table,
    fact_inputs,
    fact_source,
    guideline_meta,
    reads,
    rule_fields,
)
from mtus_dsl.provenance import Provenance, version
from mtus_dsl.text import show


class Interpreter:
    """Evaluate IR expressions over the facts of a case, in three-valued logic."""

    def __init__(self, program: ir.Program):
        self.program = program
        self.tables = {t.name: build_table(t) for t in program.tables}
        self.codesets = dict(program.codesets)

    def eval(self, expr: ir.Expr, facts: en.Facts, env: Mapping[str, Any]) -> Any:
        """Evaluate one expression."""
        match expr:
            case ir.Const():
                return expr.value
            case ir.Input() | ir.Fact():
                return facts[expr.name]
            case ir.Var():
                return env[expr.name]
            case ir.Attr():
                return rt.attr(self.eval(expr.obj, facts, env), expr.field)
            case ir.Lookup():
                return self.tables[expr.table].lookup(tuple(self.eval(k, facts, env) for k in expr.keys))
            case ir.Not():
                return rt.not_(self.eval(expr.operand, facts, env))
            case ir.And():
                left = self.eval(expr.left, facts, env)
                if left is False:
                    return False
                return rt.and_rest(left, self.eval(expr.right, facts, env))
            case ir.Or():
                left = self.eval(expr.left, facts, env)
                if left is True:
                    return True
                return rt.or_rest(left, self.eval(expr.right, facts, env))
            case ir.Compare():
                return rt.compare(expr.op, self.eval(expr.left, facts, env), self.eval(expr.right, facts, env))
            case ir.Member():
                item = self.eval(expr.item, facts, env)
                return rt.member(item, self.eval(expr.collection, facts, env), expr.negated)
            case ir.Exists():
                return rt.exists(self.eval(expr.operand, facts, env))
            case ir.Arith():
                return rt.arith(expr.op, self.eval(expr.left, facts, env), self.eval(expr.right, facts, env))
            case ir.Div():
                return rt.divide(self.eval(expr.left, facts, env), self.eval(expr.right, facts, env), expr.rounding)
            case ir.Call():
                args = [self.eval(a, facts, env) for a in expr.args]
                if expr.func == "conditions_of":
                    return rt.conditions_of(self.codesets, *args)
                if expr.func == "units_within":
                    return rt.units_within(*args)
                if expr.func.endswith("_between"):
                    return rt.between(expr.func.removesuffix("_between"), *args)
                return rt.extremum(expr.func, args)
            case ir.Quant():
                return self._quantifier(expr, facts, env)
            case ir.SetOf():
                return rt.set_of([self.eval(i, facts, env) for i in expr.items])
            case ir.Applies():
                return facts.applies(expr.rule)
            case _:
                assert_never(expr)

    def _quantifier(self, expr: ir.Quant, facts: en.Facts, env: Mapping[str, Any]) -> Any:
        items = rt.collection(self.eval(expr.collection, facts, env))
        if items.__class__ is rt.Unknown:
            return items
        inner = dict(env)
        results = []
        for item in items:
            inner[expr.var] = item
            results.append((item, self.eval(expr.condition, facts, inner)))
        return rt.quantify(expr.kind, results)

    def render(self, template: ir.Template, facts: en.Facts, env: Mapping[str, Any]) -> str:
        """Fill a rationale or explanation with the case's values."""
        return "".join(p if isinstance(p, str) else show(self.eval(p, facts, env)) for p in template)

    # --- the plan ----------------------------------------------------------------
    def plan(self) -> en.Plan:
        """Return the decision plan whose guards, limits and facts this interpreter evaluates."""
        program = self.program
        inputs = fact_inputs(program)
        facts = tuple(
            en.Fact(f.name, self._deriver(f), self._explainer(f), fact_source(f), reads([f.expr]), inputs[f.name])
            for f in program.facts
        )
        rules = tuple(
            en.Rule(
                **rule_fields(r, program),
                guard=self._guard(r),
                operands=self._operands(r),
                rationale=self._rationale(r),
            )
            for r in program.rules
        )
        provenance = Provenance(version(), program.source_hash)
        return en.Plan(program.schema, tuple(guideline_meta(g) for g in program.guidelines), facts, rules,
                       boundaries=boundaries(program), codes=rt.CodeIndex(dict(program.codesets)),
                       provenance=provenance)

    def engine(self) -> en.Engine:
        """Return an engine executing this interpreter's plan."""
        return en.Engine(self.plan())

    def _deriver(self, fact: ir.FactInfo) -> Callable[[en.Facts], Any]:
        return lambda facts: self.eval(fact.expr, facts, {})

    def _explainer(self, fact: ir.FactInfo) -> Callable[[en.Facts, Any], str | None] | None:
        if not (fact.explain_true or fact.explain_false):
            return None

        def explain(facts: en.Facts, value: Any) -> str | None:
            template = fact.explain_true if value is True else fact.explain_false if value is False else None
            return self.render(template, facts, {}) if template is not None else None

        return explain

    def _guard(self, rule: ir.RuleInfo) -> en.Guard:
        def guard(facts: en.Facts) -> tuple[Any, int]:
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

        return guard

    def _operands(self, rule: ir.RuleInfo) -> en.Operands | None:
        operands = ir.operands(rule.action)
        if not operands:
            return None

        def evaluate(facts: en.Facts) -> tuple[Any, ...]:
            return tuple(None if e is None else self.eval(e, facts, {}) for e in operands)

        return evaluate

    def _rationale(self, rule: ir.RuleInfo) -> en.Render | None:
        template = rule.rationale
        if template is None:
            return None
        return lambda facts, numbers: self.render(template, facts, numbers)
