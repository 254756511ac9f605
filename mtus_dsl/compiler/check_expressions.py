"""Check expressions: resolve each name and type each expression, producing typed IR.

Resolution and type checking happen in one walk, so there is exactly one place
(ExpressionChecker.expr and _name) that decides what a name means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from mtus_dsl import types as t
from mtus_dsl.compiler import ir
from mtus_dsl.compiler import nodes as n
from mtus_dsl.compiler.check_declarations import (
    DeclarationChecker,
    _a,
    _cycle,
    _members,
    _toposort,
)
from mtus_dsl.diagnostics import did_you_mean
from mtus_dsl.runtime import BETWEEN_UNITS, Duration

#: The functions that count whole units between two dates, by name.
_BETWEEN = {f"{unit}_between": unit for unit in BETWEEN_UNITS}
_FUNCTIONS = ("conditions_of", "min", "max", *_BETWEEN)


class ExpressionChecker(DeclarationChecker):
    """Type expressions, facts and templates."""

    # --- facts ---------------------------------------------------------------------
    def _facts(self) -> tuple[ir.FactInfo, ...]:
        infos: dict[str, ir.FactInfo] = {}
        for name, decl in self.d.facts.items():
            declared = self.fact_types[name]
            expr = self.expr(decl.expr, {}, declared)
            self._expect(declared, expr.type, decl.expr, f"fact '{name}' is declared {declared}")
            explain_true = self.template(decl.explain_true, {}) if decl.explain_true else None
            explain_false = self.template(decl.explain_false, {}) if decl.explain_false else None
            infos[name] = ir.FactInfo(
                name, declared, expr, explain_true, explain_false, ir.Origin(decl.span.path, decl.span.line)
            )
        # Order facts so each comes after those it uses; a cycle is an error.
        deps = {name: {e.name for e in ir.walk(info.expr) if isinstance(e, ir.Fact)} for name, info in infos.items()}
        order = _toposort(deps)
        if order is None:
            cycle = _cycle(deps)
            self.error(
                "E106",
                "facts are defined in a circle: " + ", ".join(cycle),
                self.d.facts[cycle[0]].span if cycle else None,
            )
            return tuple(infos.values())
        return tuple(infos[name] for name in order)

    # --- expressions ---------------------------------------------------------------
    def _expect(self, expected: t.Type, got: t.Type, node: Any, what: str) -> None:
        if not expected.accepts(got):
            self.error("E104", f"{what}, but this is {got}", node.span)

    def expr(self, node: n.Expr, scope: Mapping[str, t.Type], hint: t.Type | None = None) -> ir.Expr:
        """Resolve and type one expression; `hint` picks the enumeration of a bare member name."""
        if isinstance(node, n.IntLit):
            return ir.Const(node.value, t.INTEGER)
        if isinstance(node, n.DateLit):
            return ir.Const(node.value, t.DATE)
        if isinstance(node, n.DurationLit):
            self.period(node.amount, node.unit, node.span)
            return ir.Const(Duration(node.amount, node.unit), t.DURATION)
        if isinstance(node, n.StringLit):
            return ir.Const(node.value, t.TEXT)
        if isinstance(node, n.BoolLit):
            return ir.Const(node.value, t.BOOLEAN)
        if isinstance(node, n.NoneLit):
            return ir.Const(None, t.NONE)
        if isinstance(node, n.Name):
            return self._name(node, scope, hint)
        if isinstance(node, n.SetLit):
            element = hint.of if hint is not None and hint.kind == "set" else None
            items = [self.expr(i, scope, element) for i in node.items]
            item_type = items[0].type
            for item, source in zip(items[1:], node.items[1:]):
                self._expect(item_type, item.type, source, f"a set holds one type ({item_type})")
            set_type = t.Type("set", of=item_type.required())
            if all(isinstance(i, ir.Const) for i in items):
                return ir.Const(frozenset(i.value for i in items if isinstance(i, ir.Const)), set_type)
            return ir.SetOf(tuple(items), set_type)
        if isinstance(node, n.Attr):
            obj = self.expr(node.obj, scope)
            fields = self._fields(obj.type)
            if fields is None:
                if obj.type.kind != "error":
                    self.error(
                        "E104", f"'.{node.name}' needs a record or a table row, but this is {obj.type}", node.obj.span
                    )
                return ir.Attr(obj, node.name, t.ERROR)
            if node.name not in fields:
                self.error(
                    "E102",
                    f"{obj.type.required()} has no field '{node.name}'{did_you_mean(node.name, fields)}",
                    node.span,
                    "fields: " + ", ".join(fields),
                )
                return ir.Attr(obj, node.name, t.ERROR)
            field_type = fields[node.name]
            if obj.type.optional:
                field_type = attrs.evolve(field_type, optional=True)
            return ir.Attr(obj, node.name, field_type)
        if isinstance(node, n.Lookup):
            if not isinstance(node.table, n.Name) or node.table.id not in self.table_types:
                name = node.table.id if isinstance(node.table, n.Name) else "this"
                self.error("E102", f"unknown table '{name}'{did_you_mean(name, self.table_types)}", node.table.span)
                return ir.Const(None, t.ERROR)
            keys_t, _ = self.table_types[node.table.id]
            if len(node.keys) != len(keys_t):
                self.error(
                    "E104",
                    f"table '{node.table.id}' is looked up by {len(keys_t)} keys ({', '.join(k for k, _ in keys_t)})",
                    node.span,
                )
            keys = []
            for key, (key_name, key_type) in zip(node.keys, keys_t):
                value = self.expr(key, scope, key_type)
                self._expect(key_type, value.type, key, f"key '{key_name}' is {key_type}")
                keys.append(value)
            optional = self.d.tables[node.table.id].otherwise is None
            return ir.Lookup(node.table.id, tuple(keys), t.Type("row", node.table.id, optional=optional))
        if isinstance(node, n.Not):
            operand = self.expr(node.operand, scope)
            self._expect(t.BOOLEAN, operand.type, node.operand, "'not' needs a boolean")
            return ir.Not(operand)
        if isinstance(node, n.BoolOp):
            left = self.expr(node.left, scope)
            right = self.expr(node.right, scope)
            self._expect(t.BOOLEAN, left.type, node.left, f"'{node.op}' needs booleans")
            self._expect(t.BOOLEAN, right.type, node.right, f"'{node.op}' needs booleans")
            return ir.And(left, right) if node.op == "and" else ir.Or(left, right)
        if isinstance(node, n.Compare):
            left = self.expr(node.left, scope)
            right = self.expr(node.right, scope, left.type)
            if isinstance(left, ir.Const) and left.type.kind == "none":
                left = self.expr(node.left, scope, right.type)
            lt, rt = left.type.required(), right.type.required()
            if not (lt.accepts(rt) or rt.accepts(lt)):
                self.error("E104", f"cannot compare {left.type} with {right.type}", node.span)
            # Durations do not order (is 1 month more than 30 days?): compare dates instead.
            elif node.op not in ("=", "!=") and lt.kind == "duration":
                self.error(
                    "E104",
                    f"'{node.op}' does not order durations: is 1 month more or less than 30 days?",
                    node.span,
                    "compare dates (request_date <= injury_date + 6 months) or whole units "
                    "(weeks_between(injury_date, request_date) < 6)",
                )
            elif node.op not in ("=", "!=") and lt.kind not in ("integer", "date", "error"):
                self.error("E104", f"'{node.op}' orders numbers and dates, not {lt}", node.span)
            return ir.Compare(node.op, left, right)
        if isinstance(node, n.Member):
            # The side that is not a literal set decides which enumeration a
            # bare member name belongs to (`crps in conditions`).
            if isinstance(node.collection, n.SetLit):
                item = self.expr(node.item, scope)
                collection = self.expr(node.collection, scope, t.Type("set", of=item.type.required()))
            else:
                collection = self.expr(node.collection, scope)
                item = self.expr(node.item, scope, collection.type.of)
            ct = collection.type
            if ct.kind not in ("set", "list", "error"):
                self.error("E104", f"'in' needs a set or a list on its right, but this is {ct}", node.collection.span)
            elif ct.of is not None and not (ct.of.accepts(item.type.required()) or item.type.accepts(ct.of)):
                self.error("E104", f"{item.type} can never be in a {ct}", node.span)
            return ir.Member(item, collection, node.negated)
        if isinstance(node, n.Exists):
            operand = self.expr(node.operand, scope)
            if not operand.type.optional and operand.type.kind not in ("error", "none"):
                self.error(
                    "E104",
                    f"'exists' tests something that may be none, but this is always {_a(operand.type)}",
                    node.span,
                )
            return ir.Exists(operand)
        if isinstance(node, n.Arith):
            left = self.expr(node.left, scope)
            right = self.expr(node.right, scope)
            lk, rk = left.type.kind, right.type.kind
            if "error" in (lk, rk):
                result = t.ERROR
            elif lk == "integer" and rk == "integer":
                result = t.INTEGER
            elif lk == "date" and rk == "duration" and node.op in "+-":
                result = t.DATE
            elif lk == "date" and rk == "date" and node.op == "-":
                # How long is "date - date": days, or months? The author says which.
                start, end = self._text(node.right.span), self._text(node.left.span)
                self.error(
                    "E104",
                    "two dates do not subtract: say in which unit to count the time between them",
                    node.span,
                    f"write days_between({start}, {end}) (or weeks_, months_, years_between): "
                    "whole units from the first date to the second",
                )
                result = t.ERROR
            else:
                self.error(
                    "E104",
                    f"cannot compute {left.type} {node.op} {right.type}",
                    node.span,
                    "integers add, subtract and multiply; a date moves by a duration (date + 6 months)",
                )
                result = t.ERROR
            if left.type.optional or right.type.optional:
                result = attrs.evolve(result, optional=True)
            return ir.Arith(node.op, left, right, result)
        if isinstance(node, n.Div):
            left = self.expr(node.left, scope)
            right = self.expr(node.right, scope)
            for side, source in ((left, node.left), (right, node.right)):
                self._expect(t.INTEGER, side.type.required(), source, "division needs integers")
            if constant(node.right) == 0:
                self.error("E121", f"'{self._text(node.span)}' divides by zero", node.right.span,
                           "the divisor is 0 whatever the case: every case would fail here (E301)")
            result = attrs.evolve(t.INTEGER, optional=left.type.optional or right.type.optional)
            return ir.Div(left, right, node.rounding, result)
        if isinstance(node, n.Call):
            return self._call(node, scope)
        if isinstance(node, n.Quantifier):
            return self._quantifier(node, scope)
        raise AssertionError(f"unhandled node {node!r}")

    def _fields(self, type_: t.Type) -> dict[str, t.Type] | None:
        if type_.kind == "record" and type_.name in self.record_types:
            return dict(self.record_types[type_.name])
        if type_.kind == "row" and type_.name in self.table_types:
            keys, values = self.table_types[type_.name]
            return dict(keys + values)
        return None

    def _name(self, node: n.Name, scope: Mapping[str, t.Type], hint: t.Type | None) -> ir.Expr:
        name = node.id
        if name in scope:
            return ir.Var(name, scope[name])
        if hint is not None and hint.kind == "enum" and name in _members(self.d.enums, hint.name or ""):
            return ir.Const(name, t.enum(hint.name or ""))
        if name in self.input_types:
            type_ = self.input_types[name]
            if not self.d.inputs[name].required:
                type_ = attrs.evolve(type_, optional=False)
            return ir.Input(name, type_)
        if name in self.fact_types:
            return ir.Fact(name, self.fact_types[name])
        if name in self.d.rules:
            return ir.Applies(name)
        enums = self.member_of.get(name, [])
        if len(enums) == 1:
            return ir.Const(name, t.enum(enums[0]))
        if len(enums) > 1:
            self.error(
                "E102", f"'{name}' is a member of {', '.join(enums)}; compare it with a fact of one of them", node.span
            )
            return ir.Const(name, t.ERROR)
        if hint is not None and hint.kind == "enum":
            members = _members(self.d.enums, hint.name or "")
            if members:
                note = f"{hint.name} values: {', '.join(members)}"
            elif hint.name == "condition":
                note = (f"the program declares no condition: declare it with its codes, "
                        f"'condition {name} \"{name.replace('_', ' ')}\":' and an indented 'icd10 ...' line")
            else:
                note = f"the enumeration {hint.name} has no members"
            self.error("E102", f"'{name}' is not a {hint.name}{did_you_mean(name, members)}", node.span, note)
            return ir.Const(None, t.ERROR)
        candidates = list(scope) + list(self.input_types) + list(self.fact_types) + list(self.member_of)
        suggestion = did_you_mean(name, candidates)
        notes = [] if suggestion else [
            f"no input or fact is called '{name}': declare it ('input {name}: TYPE \"what it means\"' for a "
            f"field of the case, 'fact {name}: TYPE = ...' to derive it)"
        ]
        if name == "age" or name.endswith("_age"):
            notes.append("an age in whole years is years_between(birth_date, request_date), "
                         "with 'input birth_date: date'")
        self.error("E102", f"unknown fact '{name}'{suggestion}", node.span, *notes)
        return ir.Const(None, t.ERROR)

    def _call(self, node: n.Call, scope: Mapping[str, t.Type]) -> ir.Expr:
        args = tuple(self.expr(a, scope) for a in node.args)
        if node.func == "conditions_of":
            if len(args) != 2:
                self.error("E104", "conditions_of(condition, diagnoses) takes two arguments", node.span)
            return ir.Call("conditions_of", args, t.Type("set", of=t.enum("condition")))
        if node.func in ("min", "max"):
            if not args:
                self.error("E104", f"{node.func}() needs at least one argument", node.span)
            for arg, source in zip(args, node.args):
                self._expect(t.INTEGER, arg.type.required(), source, f"{node.func}() takes integers")
            return ir.Call(node.func, args, t.INTEGER)
        if node.func in _BETWEEN:
            if len(args) != 2:
                self.error("E104", f"{node.func}(start, end) takes two dates", node.span,
                           f"for example {node.func}(injury_date, request_date)")
            for arg, source in zip(args, node.args):
                self._expect(t.DATE, arg.type.required(), source, f"{node.func}() takes dates")
            return ir.Call(node.func, args, attrs.evolve(t.INTEGER, optional=any(a.type.optional for a in args)))
        self.error(
            "E102",
            f"unknown function '{node.func}'{did_you_mean(node.func, _FUNCTIONS)}",
            node.span,
            "functions: " + ", ".join(_FUNCTIONS),
        )
        return ir.Const(None, t.ERROR)

    def _quantifier(self, node: n.Quantifier, scope: Mapping[str, t.Type]) -> ir.Expr:
        collection = self.expr(node.collection, scope)
        ct = collection.type
        element = ct.of if ct.kind in ("list", "set") and ct.of is not None else t.ERROR
        if ct.kind not in ("list", "set", "error"):
            self.error("E104", f"'{node.kind}' goes over a list, but this is {ct}", node.collection.span)
        inner = dict(scope)
        inner[node.var] = element
        condition = self.expr(node.condition, inner)
        self._expect(t.BOOLEAN, condition.type, node.condition, f"'{node.kind} ... where' needs a boolean condition")
        if node.kind in ("any", "all"):
            result = t.BOOLEAN
        elif node.kind == "count":
            result = t.INTEGER
        else:
            fields = self._fields(element) or {}
            if element.kind != "error" and ("date" not in fields or fields["date"].kind not in ("date", "error")):
                self.error("E104", f"'latest' picks by date, and {element} has no date field", node.span)
            result = attrs.evolve(element, optional=True)
        return ir.Quant(node.kind, node.var, collection, condition, result)

    def template(self, template: n.Template, scope: Mapping[str, t.Type]) -> ir.Template:
        """Resolve the placeholders of a rationale or explanation."""
        parts: list[str | ir.Expr] = []
        for part in template.parts:
            parts.append(part if isinstance(part, str) else self.expr(part, scope))
        return tuple(parts)


def constant(node: n.Expr) -> int | None:
    """The value of an integer expression of literals only (`10`, `2 * 6 - 12`), or None."""
    if isinstance(node, n.IntLit):
        return node.value
    if isinstance(node, n.Arith):
        left, right = constant(node.left), constant(node.right)
        if left is None or right is None:
            return None
        return left + right if node.op == "+" else left - right if node.op == "-" else left * right
    return None
