"""Check parsed modules (names, types, citations, examples) and lower them to the IR.

Resolution and type checking happen in one walk that produces typed IR
expressions, so there is exactly one place that decides what a name means.
Checks that need to evaluate rules (conflicts, unreachable rules) run later,
over the IR, in `analysis.py`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import attrs

from mtus_dsl import types as t
from mtus_dsl.case import CaseError, CaseSchema, InputSpec
from mtus_dsl.compiler import ir
from mtus_dsl.compiler import nodes as n
from mtus_dsl.decision import Citation, Outcome
from mtus_dsl.diagnostics import Diagnostic, Severity, Span, did_you_mean
from mtus_dsl.runtime import Duration

#: Stands for an operand the grammar requires (it is never None once parsed); keeps the types honest.
_ERROR_OPERAND = ir.Const(None, t.ERROR)

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


class Checker:
    """Resolve and type-check modules, collecting diagnostics, and build the IR Program."""

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
        return ir.Program(
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

    def error(self, code: str, message: str, span: Span | None, *notes: str) -> None:
        """Record an error (once: a section's line is checked for each of its rules)."""
        diagnostic = Diagnostic(code, message, span, Severity.ERROR, tuple(n for n in notes if n))
        if diagnostic not in self.diagnostics:
            self.diagnostics.append(diagnostic)

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
        known = list(BUILTIN_TYPES) + list(self.d.enums) + list(self.d.records)
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
        inputs = tuple(
            InputSpec(name, self.input_types[name], decl.required, decl.doc) for name, decl in self.d.inputs.items()
        )
        return CaseSchema(inputs, dict(self.d.enums), dict(self.record_types))

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
        out = []
        for cell, (column, type_) in zip(cells, columns):
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
            elif node.op not in ("=", "!=") and lt.kind not in ("integer", "date", "error"):
                self.error("E104", f"'{node.op}' orders numbers, dates or durations, not {lt}", node.span)
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
            self.error(
                "E102",
                f"'{name}' is not a {hint.name}{did_you_mean(name, members)}",
                node.span,
                f"{hint.name} values: {', '.join(members)}",
            )
            return ir.Const(None, t.ERROR)
        candidates = list(scope) + list(self.input_types) + list(self.fact_types) + list(self.member_of)
        self.error("E102", f"unknown fact '{name}'{did_you_mean(name, candidates)}", node.span)
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
        self.error(
            "E102",
            f"unknown function '{node.func}'{did_you_mean(node.func, ['conditions_of', 'min', 'max'])}",
            node.span,
            "functions: conditions_of, min, max",
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

    # --- rules ---------------------------------------------------------------------
    def _rules(self) -> list[ir.RuleInfo]:
        out: list[ir.RuleInfo] = []
        extra_unless: dict[str, list[tuple[ir.Expr, str]]] = {}
        for name, (rule, _section) in self.d.rules.items():
            for target, span in rule.overrides:
                if target not in self.d.rules:
                    self.error(
                        "E105",
                        f"'{name}' overrides an unknown rule '{target}'{did_you_mean(target, self.d.rules)}",
                        span,
                    )
                elif target == name:
                    self.error("E106", f"rule '{name}' overrides itself", span)
                else:
                    extra_unless.setdefault(target, []).append(
                        (ir.Applies(name), f"excepted: '{name}' applies, and it overrides this rule")
                    )
        for name, (rule, section) in self.d.rules.items():
            info = self._rule(rule, section, extra_unless.get(name, []))
            if info is not None:
                out.append(info)
        return out

    def _scope_names(self, names: tuple[tuple[str, Span], ...], enum: str) -> tuple[str, ...]:
        members = self.d.enums.get(enum, ())
        out = []
        for member, span in names:
            if member not in members:
                self.error(
                    "E102",
                    f"'{member}' is not a {enum}{did_you_mean(member, members)}",
                    span,
                    f"{enum} values: {', '.join(members)}",
                )
            else:
                out.append(member)
        return tuple(out)

    def _rule(self, rule: n.Rule, section: n.Section, extra: list[tuple[ir.Expr, str]]) -> ir.RuleInfo | None:
        guideline = self.d.guidelines.get(section.guideline or "")
        if guideline is None:
            self.error(
                "E109",
                f"section '{section.name}' belongs to no guideline",
                section.span,
                'declare \'guideline NAME "Title" edition "...":\' above it in the same file, '
                "or name it: section NAME \"Title\" in GUIDELINE",
            )
            return None
        services = self._scope_names(rule.services or section.services, "service")
        regions = self._scope_names(rule.regions or section.regions, "body_region") or self.d.enums.get(
            "body_region", ()
        )
        if not (rule.services or section.services):
            self.error(
                "E114",
                f"section '{section.name}' does not say which services it covers",
                section.span,
                "add a line: services physical_therapy, occupational_therapy",
            )
        pages = rule.pages or section.pages
        if rule.subsection is None and pages is None:
            self.error(
                "E108",
                f"rule '{rule.name}' can decide requests but cites no page or subsection",
                rule.span,
                "add 'page N' (or 'subsection \"(c)(1)\"') to the rule or 'pages N-M' to its section",
            )
        citation = Citation(
            guideline.title,
            guideline.edition,
            section.title,
            str(pages) if pages else None,
            rule.subsection,
            guideline.regulation,
        )
        self._guarded = self._guarded_names(rule)
        action = self._action(rule)
        self._guarded = set()
        if rule.kind == "cap" and not isinstance(action, ir.Limit):
            self.error(
                "E111",
                f"cap '{rule.name}' must be a limit (max_visits N ...)",
                rule.action.span,
                "caps hold together with whatever rule governs; only a limit can do that",
            )
        when = []
        reasons = []
        for clause in rule.when:
            expr = self.expr(clause, {})
            self._expect(t.BOOLEAN, expr.type, clause, "'when' needs a condition")
            when.append(expr)
            reasons.append(f"its condition '{self._text(clause.span)}' does not hold")
        unless = []
        for clause in rule.unless:
            expr = self.expr(clause, {})
            self._expect(t.BOOLEAN, expr.type, clause, "'unless' needs a condition")
            unless.append(expr)
            reasons.append(f"excepted: '{self._text(clause.span)}' holds")
        for expr, reason in extra:
            unless.append(expr)
            reasons.append(reason)
        rationale = self.template(rule.rationale, RATIONALE_LOCALS) if rule.rationale else None
        explained = []
        for expr in when + unless:
            for e in ir.walk(expr):
                if isinstance(e, ir.Fact) and e.name not in explained:
                    decl = self.d.facts[e.name]
                    if decl.explain_true or decl.explain_false:
                        explained.append(e.name)
        return ir.RuleInfo(
            name=rule.name,
            kind=rule.kind,
            guideline=guideline.name,
            section=section.name,
            citation=citation,
            action=action,
            when=tuple(when),
            unless=tuple(unless),
            reasons=tuple(reasons),
            rationale=rationale,
            explained=tuple(explained),
            services=services,
            regions=tuple(regions),
            origin=ir.Origin(rule.span.path, rule.span.line, rule.span.column, len(rule.name)),
        )

    def _operand(self, node: n.Expr | None, expected: t.Type, what: str) -> ir.Expr | None:
        if node is None:
            return None
        expr = self.expr(node, {}, expected)
        self._expect(expected, expr.type.required(), node, what)
        if expr.type.optional and expected.kind == "integer":
            # A number of units cannot be none: each fact or input that may be none must be
            # guarded by a `when NAME exists` of the rule (a period of none just means no period).
            leaves = {e.name for e in ir.walk(expr) if isinstance(e, (ir.Fact, ir.Input)) and e.type.optional}
            unguarded = sorted(leaves - self._guarded)
            if unguarded:
                self.error(
                    "E104",
                    f"{what}, but this may be none ({', '.join(unguarded)} may be none)",
                    node.span,
                    f"add 'when {unguarded[0]} exists' to the rule, so it applies only when there is a number",
                )
            elif not leaves:
                self.error(
                    "E104",
                    f"{what}, but this may be none",
                    node.span,
                    "name it as a fact ('fact course: integer or none = ...') and add 'when course exists' "
                    "to the rule",
                )
        return expr

    def _guarded_names(self, rule: n.Rule) -> set[str]:
        """The facts and inputs a rule's `when` clauses say exist (`when x exists and ...`)."""
        found: set[str] = set()
        pending: list[n.Expr] = list(rule.when)
        while pending:
            clause = pending.pop()
            if isinstance(clause, n.BoolOp) and clause.op == "and":
                pending += [clause.left, clause.right]
            elif isinstance(clause, n.Exists) and isinstance(clause.operand, n.Name):
                found.add(clause.operand.id)
        return found

    def _action(self, rule: n.Rule) -> ir.Action:
        action = rule.action
        counting_default = ir.Input("prior_visits", self.input_types.get("prior_visits", t.INTEGER))
        unit = _unit(action, self.d.rules[rule.name][1].unit)
        if (
            isinstance(action, (n.Limit, n.Trial))
            and action.counting is None
            and "prior_visits" not in self.input_types
        ):
            self.error(
                "E102",
                "a limit counts 'prior_visits' unless it says 'counting ...', and no such input is declared",
                action.span,
            )

        def counting(action: n.Limit | n.Trial) -> ir.Expr:
            given = self._operand(action.counting, t.INTEGER, "'counting' takes a number of prior units")
            return given or counting_default

        if isinstance(action, n.Limit):
            return ir.Limit(
                unit,
                amount=self._operand(action.amount, t.INTEGER, "a limit is a number of units") or _ERROR_OPERAND,
                period=self._operand(action.period, t.DURATION, "'over' takes a duration (4 weeks)"),
                counting=counting(action),
            )
        if isinstance(action, n.Trial):
            return ir.Trial(
                unit,
                initial=self._operand(action.initial, t.INTEGER, "a trial is a number of units") or _ERROR_OPERAND,
                initial_period=self._operand(action.initial_period, t.DURATION, "'over' takes a duration"),
                total=self._operand(action.total, t.INTEGER, "'up to' takes a number of units") or _ERROR_OPERAND,
                total_period=self._operand(action.total_period, t.DURATION, "'over' takes a duration"),
                extension=self._operand(action.extension, t.BOOLEAN, "'with' takes a condition") or _ERROR_OPERAND,
                counting=counting(action),
            )
        return ir.Certify(unit) if isinstance(action, n.Certify) else ir.NonCertify(unit)

    def _order_rules(self, rules: list[ir.RuleInfo]) -> tuple[ir.RuleInfo, ...]:
        """Put rules in priority order: each after the rules its exceptions consult; a circle is E106."""
        by_name = {r.name: r for r in rules}
        deps = {r.name: sorted(_consulted(r)) for r in rules}
        order = _toposort(deps)
        if order is None:
            cycle = ir.find_cycle(deps) or []
            if cycle:
                rule = by_name[cycle[0]]
                self.error(
                    "E106",
                    "rules except each other in a circle: " + " -> ".join(cycle + [cycle[0]]),
                    Span(rule.origin.path, rule.origin.line, rule.origin.column, rule.origin.line,
                         rule.origin.column + rule.origin.width),
                    "an exception must not, through others, except itself",
                )
            return tuple(rules)
        return tuple(by_name[name] for name in order)

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
    def _examples(self) -> tuple[ir.ExampleInfo, ...]:
        schema = self._schema()
        out = []
        for example, section in self.d.examples:
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
            for fact, span in expect.missing:
                if fact not in self.input_types:
                    self.error("E102", f"unknown input '{fact}'{did_you_mean(fact, self.input_types)}", span)
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
                )
            )
        return tuple(out)


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
