"""Rules' guards as SMT formulas (z3): the exact questions analysis asks, answered with cases of inputs only.

Every input a guard reads is a free variable with its type's constraints: a
boolean, an integer within its declared range, an enumeration member (an
index), a date (year, month and day within DATES; dates compare on those, or as
day numbers once moved by days), a text (an index into the texts the program
names, or another text), a set of members (one boolean per member), the
diagnoses (one boolean per representative code of the program's code sets: each
code's conditions are what the runtime's CodeIndex says), a list of records (up
to RECORDS of them). Derived facts are their definitions, table lookups a choice
among the rows, `rule applies` that rule's scope, edition and guard. Months and
years move a date as the calendar does, on its year, month and day, exactly (a
date already moved by days cannot be moved by months: that falls back).
Whatever else a guard holds (durations compared, a record compared as a whole,
a code tested directly) raises Unencodable: analysis then falls back to its
bounded search and says so.

Only analysis (check time) imports this module, and it imports z3 when it runs:
compiled guideline modules and `import mtus_dsl` never do.
"""

from __future__ import annotations

import datetime
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from mtus_dsl import runtime as rt
from mtus_dsl.case import Record
from mtus_dsl.compiler import ir
from mtus_dsl.types import Type

#: The most records a list input (surgeries) holds in a witness: conflicts that need more are missed.
RECORDS = 2
#: The dates a witness may use: 1901-01-01 to 2099-12-31 (where every fourth year, and only it, is a leap year).
DATES = (datetime.date(1901, 1, 1), datetime.date(2099, 12, 31))
# Days before each month of a common year.
_CUMULATIVE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_ICD9 = re.compile(r"^(\d{3}|V\d{2}|E\d{3})(\.\d{1,2})?$")
_ICD10 = re.compile(r"^[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?$")


class Unencodable(Exception):
    """A guard holds something the encoding cannot express; the message says what."""


def failures() -> tuple[type[Exception], ...]:
    """What encoding or solving may raise: Unencodable, and z3's own errors (a fallback, never a traceback)."""
    import z3

    return (Unencodable, z3.Z3Exception)


def available() -> bool:
    """Tell whether z3 can be imported (it is a check-time dependency)."""
    try:
        import z3  # noqa: F401
    except ImportError:
        return False
    return True


@attrs.define
class Sym:
    """A symbolic value: a z3 term, or the parts of a set, record, list or duration."""

    kind: str  # bool | int | date | enum | text | set | record | list | codes | duration | none
    term: Any = None
    present: Any = True  # a z3 Bool when the value may be none
    members: dict[str, Any] | None = None  # set of enum: member -> Bool
    fields: dict[str, Sym] | None = None  # record
    items: list[tuple[Any, Sym]] | None = None  # list: (present, item)
    alternatives: list[tuple[Any, rt.Duration]] | None = None  # duration: (condition, value)
    #: A date's (q, r, month, day), its year being 4q + r + 1 (0 <= r <= 3), when known as terms:
    #: leap years (r = 3) and the days before the year are then linear.
    ymd: tuple[Any, Any, Any, Any] | None = None
    enum: str | None = None  # the enumeration of an enum or a set


#: z3 is not thread-safe: one question at a time in a process (each encoder has its own context too).
LOCK = threading.RLock()


class _Context:
    """The z3 module, making every variable and constant in one context of its own."""

    def __init__(self, z3: Any):
        self._z3 = z3
        self.ctx = z3.Context()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._z3, name)

    def BoolVal(self, value: bool) -> Any:
        return self._z3.BoolVal(value, self.ctx)

    def IntVal(self, value: int) -> Any:
        return self._z3.IntVal(value, self.ctx)

    def Bool(self, name: str) -> Any:
        return self._z3.Bool(name, self.ctx)

    def Int(self, name: str) -> Any:
        return self._z3.Int(name, self.ctx)

    def Solver(self) -> Any:
        return self._z3.Solver(ctx=self.ctx)


class Encoder:
    """Encode one program's guards; one instance serves every question asked about the program."""

    def __init__(self, program: ir.Program):
        import z3

        z: Any = _Context(z3)
        self.z = z
        self.program = program
        self.enums = program.schema.enums
        self.input_types = {spec.name: spec.type for spec in program.schema.inputs}
        self.required = [spec.name for spec in program.schema.inputs if spec.required]
        self.facts = {f.name: f for f in program.facts}
        self.tables = {t.name: t for t in program.tables}
        self.guidelines = {g.name: g for g in program.guidelines}
        self.codes = _representative_codes(program.codesets)
        self.axioms: list[Any] = []
        self.inputs: dict[str, Sym] = {}
        self.texts: list[str] = []
        self._facts: dict[str, tuple[Sym, Any]] = {}
        self._applies: dict[str, tuple[Any, Any]] = {}
        self._solver: Any = z.Solver()
        self._solver.set("timeout", 10_000)
        self._added = 0

    # --- questions ------------------------------------------------------------------
    def solve(self, *conditions: Any, witness: bool = True, plain: bool = True) -> tuple[str, dict[str, Any] | None]:
        """Ask whether some case makes every condition true: ('sat', case), ('unsat', None) or ('unknown', None)."""
        for name in self.required:
            self.input(name)
        solver = self._solver
        # Domain constraints hold in every question: added once, below every question's own.
        solver.add(*self.axioms[self._added:])
        self._added = len(self.axioms)
        solver.push()
        try:
            return self._check(solver, conditions, witness, plain)
        finally:
            solver.pop()

    def _check(
        self, solver: Any, conditions: Sequence[Any], witness: bool, plain: bool
    ) -> tuple[str, dict[str, Any] | None]:
        z = self.z
        solver.add(*[c for c in conditions if c is not True])
        answer = solver.check()
        if answer != z.sat:
            return ("unsat" if answer == z.unsat else "unknown"), None
        if not witness:
            return "sat", None
        model = solver.model()
        if plain:
            # A case that reads well, when there is one: dates near ours, small numbers.
            solver.add(*self._plain())
            if solver.check() == z.sat:
                model = solver.model()
        return "sat", self.case(model)

    def _plain(self) -> list[Any]:
        """Preferences for a witness: dates from 2000 to 2039, numbers from 0 to 100."""
        z = self.z
        out = []
        for sym in self.inputs.values():
            for leaf in _leaves(sym):
                if leaf.kind == "date" and leaf.ymd is not None:
                    year = 4 * leaf.ymd[0] + leaf.ymd[1] + 1
                    out += [year >= 2000, year <= 2039]
                elif leaf.kind == "int":
                    out += [leaf.term >= 0, leaf.term <= 100]
        return out or [z.BoolVal(True)]

    def applies(self, name: str) -> tuple[Any, Any]:
        """Whether rule `name` applies (its scope, edition and guard), and whether evaluating it raises nothing."""
        found = self._applies.get(name)
        if found is None:
            rule = self.program.rule(name)
            guard, ok = self.guard(rule)
            found = self._applies[name] = (self.z.And(self.scope(rule), self.in_force(rule), guard), ok)
        return found

    def guard(self, rule: ir.RuleInfo) -> tuple[Any, Any]:
        """A rule's `when` and `unless` clauses, in the order the guard tests them: (applies, raises nothing)."""
        z = self.z
        reached: Any = z.BoolVal(True)
        ok: Any = True
        for clause, holds_to_go_on in [(c, True) for c in rule.when] + [(c, False) for c in rule.unless]:
            value, clause_ok = self.expr(clause, {})
            if clause_ok is not True:
                ok = _all(z, ok, z.Implies(reached, clause_ok))
            reached = z.And(reached, value.term if holds_to_go_on else z.Not(value.term))
        return reached, ok

    def scope(self, rule: ir.RuleInfo) -> Any:
        """The request is for a service and body region the rule covers."""
        return self.within(rule.services, rule.regions)

    def within(self, services: Sequence[str], regions: Sequence[str]) -> Any:
        """The request's service is one of `services` and its body region one of `regions`."""
        z = self.z
        service, region = self.input("service").term, self.input("body_region").term
        return z.And(
            z.Or([service == self._member("service", s) for s in services]),
            z.Or([region == self._member("body_region", r) for r in regions]),
        )

    def in_force(self, rule: ir.RuleInfo) -> Any:
        """The rule's edition is in force on the request date."""
        return self.in_window(self.guidelines[rule.guideline])

    def in_window(self, guideline: ir.GuidelineInfo) -> Any:
        """The request date falls in the edition's dates in force."""
        z = self.z
        date = self.input("request_date").term
        start, end = guideline.in_force_from, guideline.in_force_to
        return z.And(
            date >= (start.toordinal() if start else DATES[0].toordinal()),
            date <= (end.toordinal() if end else DATES[1].toordinal()),
        )

    def operands(self, rule: ir.RuleInfo) -> None:
        """Make variables of the inputs a rule's limit or trial reads, so a witness gives them (best effort)."""
        for operand in ir.operands(rule.action):
            if operand is None:
                continue
            for e in ir.walk(operand):
                if isinstance(e, ir.Input):
                    try:
                        self.input(e.name)
                    except Unencodable:
                        continue

    # --- the witness ----------------------------------------------------------------
    def case(self, model: Any) -> dict[str, Any]:
        """Read a case (JSON-ready, inputs only) off a model: the inputs the questions made variables of."""
        case: dict[str, Any] = {}
        names = self.required + [n for n in self.inputs if n not in self.required]
        for name in names:
            sym = self.input(name)
            value = self._value(model, sym, self.input_types[name])
            if value is not _ABSENT:
                case[name] = value
        return case

    def _value(self, model: Any, sym: Sym, type_: Type) -> Any:
        z = self.z
        match sym.kind:
            case "bool":
                return z.is_true(model.eval(sym.term, model_completion=True))
            case "int":
                return model.eval(sym.term, model_completion=True).as_long()
            case "date":
                return datetime.date.fromordinal(model.eval(sym.term, model_completion=True).as_long()).isoformat()
            case "enum":
                index = model.eval(sym.term, model_completion=True).as_long()
                return _ABSENT if index < 0 else self.enums[sym.enum or ""][index]
            case "text":
                index = model.eval(sym.term, model_completion=True).as_long()
                return self.texts[index] if index < len(self.texts) else f"other text {index}"
            case "set":
                return [m for m, b in (sym.members or {}).items() if z.is_true(model.eval(b, model_completion=True))]
            case "codes":
                return [c for c, b in (sym.members or {}).items() if z.is_true(model.eval(b, model_completion=True))]
            case "record":
                fields = dict(self.program.schema.records.get(type_.name or "", ()))
                return {k: self._value(model, v, fields[k]) for k, v in (sym.fields or {}).items()}
            case "list":
                assert type_.of is not None
                return [
                    self._value(model, item, type_.of)
                    for present, item in sym.items or []
                    if z.is_true(model.eval(present, model_completion=True))
                ]
        raise Unencodable(f"an input of type {type_}")

    # --- variables ------------------------------------------------------------------
    def input(self, name: str) -> Sym:
        """The variable of an input, made on first use with its type's constraints."""
        sym = self.inputs.get(name)
        if sym is None:
            sym = self.inputs[name] = self._variable(name, self.input_types[name])
        return sym

    def _variable(self, name: str, type_: Type) -> Sym:
        z = self.z
        if type_.optional:
            raise Unencodable(f"an input that may be none ('{name}')")
        match type_.kind:
            case "boolean":
                return Sym("bool", z.Bool(name))
            case "integer":
                term = z.Int(name)
                if type_.low is not None:
                    self.axioms.append(term >= type_.low)
                if type_.high is not None:
                    self.axioms.append(term <= type_.high)
                return Sym("int", term)
            case "date":
                q, r = z.Int(f"{name}.q"), z.Int(f"{name}.r")
                month, day = z.Int(f"{name}.month"), z.Int(f"{name}.day")
                year = 4 * q + r + 1
                self.axioms += [r >= 0, r <= 3, year >= DATES[0].year, year <= DATES[1].year, month >= 1,
                                month <= 12, day >= 1, day <= _days_in_month(z, r, month)]
                return Sym("date", _ordinal(z, q, r, month, day), ymd=(q, r, month, day))
            case "enum":
                term = z.Int(name)
                # The condition word may be left out: index -1 (conditions_of then adds nothing).
                self.axioms += [term >= (-1 if name == "condition" else 0),
                                term < len(self.enums.get(type_.name or "", ()))]
                return Sym("enum", term, enum=type_.name)
            case "text":
                term = z.Int(name)
                self.axioms.append(term >= 0)
                return Sym("text", term)
            case "set" if type_.of is not None and type_.of.kind == "enum":
                members = self.enums.get(type_.of.name or "", ())
                return Sym("set", members={m: z.Bool(f"{name}.{m}") for m in members}, enum=type_.of.name)
            case "list" if type_.of is not None and type_.of.kind == "code":
                return Sym("codes", members={c: z.Bool(f"{name}.{c}") for c in self.codes})
            case "list" if type_.of is not None and type_.of.kind == "record":
                items: list[tuple[Any, Sym]] = []
                for i in range(RECORDS):
                    present = z.Bool(f"{name}[{i}]")
                    if items:
                        # Records fill the list from the front: one list, one way.
                        self.axioms.append(z.Implies(present, items[-1][0]))
                    items.append((present, self._variable(f"{name}[{i}]", type_.of)))
                return Sym("list", items=items)
            case "record":
                fields = self.program.schema.records.get(type_.name or "", ())
                return Sym("record", fields={f: self._variable(f"{name}.{f}", t) for f, t in fields})
        raise Unencodable(f"an input of type {type_} ('{name}')")

    def _member(self, enum: str, member: str) -> int:
        members = self.enums.get(enum, ())
        if member not in members:
            raise Unencodable(f"'{member}' as a member of '{enum}'")
        return members.index(member)

    def _text(self, text: str) -> int:
        if text not in self.texts:
            self.texts.append(text)
        return self.texts.index(text)

    # --- expressions ----------------------------------------------------------------
    def expr(self, e: ir.Expr, env: Mapping[str, Sym]) -> tuple[Sym, Any]:
        """Encode an expression: its value, and the condition under which evaluating it raises no RuleError."""
        z = self.z
        true = True  # evaluating it raises nothing, whatever the case (kept out of the formulas)
        match e:
            case ir.Const():
                return self.const(e.value, e.type), true
            case ir.Input():
                sym = self.input(e.name)
                # A condition word left out is unknown wherever it is read but in conditions_of.
                return sym, (sym.term >= 0 if e.name == "condition" else true)
            case ir.Fact():
                found = self._facts.get(e.name)
                if found is None:
                    found = self._facts[e.name] = self.expr(self.facts[e.name].expr, {})
                return found
            case ir.Var():
                if e.name not in env:
                    raise Unencodable(f"'{e.name}' outside a quantifier")
                return env[e.name], true
            case ir.Attr():
                obj, ok = self.expr(e.obj, env)
                if obj.kind != "record" or obj.fields is None or e.field not in obj.fields:
                    raise Unencodable(f"the field '.{e.field}'")
                return obj.fields[e.field], _all(z, ok, obj.present)
            case ir.Lookup():
                return self._lookup(e, env)
            case ir.Not():
                value, ok = self.expr(e.operand, env)
                return Sym("bool", z.Not(value.term)), ok
            case ir.And() | ir.Or():
                left, left_ok = self.expr(e.left, env)
                right, right_ok = self.expr(e.right, env)
                if isinstance(e, ir.And):
                    # The right side is evaluated only when the left one does not decide.
                    return Sym("bool", z.And(left.term, right.term)), _all(
                        z, left_ok, right_ok if right_ok is True else z.Or(z.Not(left.term), right_ok))
                return Sym("bool", z.Or(left.term, right.term)), _all(
                    z, left_ok, right_ok if right_ok is True else z.Or(left.term, right_ok))
            case ir.Compare():
                return self._compare(e, env)
            case ir.Member():
                return self._membership(e, env)
            case ir.Exists():
                value, ok = self.expr(e.operand, env)
                return Sym("bool", z.BoolVal(True) if value.present is True else value.present), ok
            case ir.Arith():
                return self._arith(e, env)
            case ir.Div():
                left, left_ok = self.expr(e.left, env)
                right, right_ok = self.expr(e.right, env)
                a, b = left.term, right.term
                if e.rounding == "down":
                    term = z.If(b > 0, a / b, (-a) / (-b))
                else:
                    term = z.If(b > 0, -((-a) / b), -(a / (-b)))
                ok = _all(z, left_ok, right_ok, left.present, right.present, b != 0)
                return Sym("int", term), ok
            case ir.Call():
                return self._call(e, env)
            case ir.Quant():
                return self._quantifier(e, env)
            case ir.SetOf():
                return self._set_of(e, env)
            case ir.Applies():
                return Sym("bool", self.applies(e.rule)[0]), self.applies(e.rule)[1]
        raise Unencodable(f"the expression {type(e).__name__}")

    def const(self, value: Any, type_: Type) -> Sym:
        """A constant of a type."""
        z = self.z
        kind = type_.kind
        if value is None:
            return attrs.evolve(self._default(type_), present=z.BoolVal(False))
        if isinstance(value, bool):
            return Sym("bool", z.BoolVal(value))
        if isinstance(value, rt.Duration):
            return Sym("duration", alternatives=[(z.BoolVal(True), value)])
        if isinstance(value, datetime.date):
            q, r = divmod(value.year - 1, 4)
            return Sym("date", z.IntVal(value.toordinal()),
                       ymd=(z.IntVal(q), z.IntVal(r), z.IntVal(value.month), z.IntVal(value.day)))
        if isinstance(value, int):
            return Sym("int", z.IntVal(value))
        if kind == "enum" and isinstance(value, str):
            return Sym("enum", z.IntVal(self._member(type_.name or "", value)), enum=type_.name)
        if kind == "text" and isinstance(value, str):
            return Sym("text", z.IntVal(self._text(value)))
        if kind == "set" and isinstance(value, frozenset) and type_.of is not None and type_.of.kind == "enum":
            members = self.enums.get(type_.of.name or "", ())
            return Sym("set", members={m: z.BoolVal(m in value) for m in members}, enum=type_.of.name)
        if kind == "row" and isinstance(value, Record):
            raise Unencodable("a table row as a constant")
        raise Unencodable(f"the constant {value!r} of type {type_}")

    def _default(self, type_: Type) -> Sym:
        """Some value of a type, for a cell that is none (only its `present` matters)."""
        z = self.z
        match type_.kind:
            case "boolean":
                return Sym("bool", z.BoolVal(False))
            case "integer":
                return Sym("int", z.IntVal(0))
            case "date":
                return Sym("date", z.IntVal(DATES[0].toordinal()))
            case "enum":
                return Sym("enum", z.IntVal(0), enum=type_.name)
            case "text":
                return Sym("text", z.IntVal(0))
            case "duration":
                return Sym("duration", alternatives=[])
            case "record" | "row" | "none":
                return Sym("none")
        raise Unencodable(f"none of type {type_}")

    def _ite(self, condition: Any, a: Sym, b: Sym) -> Sym:
        """`a` when the condition holds, else `b`."""
        z = self.z
        if a.kind == "none":
            return attrs.evolve(b, present=z.And(z.Not(condition), _bool(z, b.present)))
        if b.kind == "none":
            return attrs.evolve(a, present=z.And(condition, _bool(z, a.present)))
        present = True if a.present is True and b.present is True else z.If(
            condition, _bool(z, a.present), _bool(z, b.present))
        if a.kind != b.kind:
            raise Unencodable(f"a choice between a {a.kind} and a {b.kind}")
        if a.kind == "duration":
            alternatives = [(z.And(condition, c), d) for c, d in a.alternatives or []]
            alternatives += [(z.And(z.Not(condition), c), d) for c, d in b.alternatives or []]
            return Sym("duration", present=present, alternatives=alternatives)
        if a.kind == "record":
            assert a.fields is not None and b.fields is not None
            return Sym("record", present=present, fields={k: self._ite(condition, v, b.fields[k])
                                                          for k, v in a.fields.items()})
        if a.kind in ("set", "codes"):
            assert a.members is not None and b.members is not None
            return Sym(a.kind, present=present, enum=a.enum,
                       members={k: z.If(condition, v, b.members[k]) for k, v in a.members.items()})
        if a.term is None or b.term is None:
            raise Unencodable(f"a choice between two values of kind {a.kind}")
        ymd = None
        if a.ymd is not None and b.ymd is not None:
            q, r, month, day = (z.If(condition, x, y) for x, y in zip(a.ymd, b.ymd))
            ymd = (q, r, month, day)
        return Sym(a.kind, z.If(condition, a.term, b.term), present=present, enum=a.enum, ymd=ymd)

    def _lookup(self, e: ir.Lookup, env: Mapping[str, Sym]) -> tuple[Sym, Any]:
        z = self.z
        table = self.tables[e.table]
        keys = [self.expr(k, env) for k in e.keys]
        ok = _all(z, *[k_ok for _, k_ok in keys])
        key_types, value_types = _column_types(e.type, table, self.program)
        names = table.key_names + table.value_names
        types = key_types + value_types
        if table.otherwise is not None:
            result = Sym("record", fields={
                n: self.const(v, t) for n, v, t in zip(names, (None,) * len(table.key_names) + table.otherwise, types)
            })
        else:
            result = Sym("none")
        # A key cell is of its key's type (a member or a text); value columns' types are read off their cells.
        key_types = tuple(_kind_type(key) or t for (key, _), t in zip(keys, key_types))
        types = key_types + value_types
        for cells, values in reversed(table.rows):
            match = z.And([_equal(z, key, self.const(cell, t)) for (key, _), cell, t in zip(keys, cells, key_types)])
            row = Sym("record", fields={n: self.const(v, t) for n, v, t in zip(names, cells + values, types)})
            result = self._ite(match, row, result)
        return result, ok

    def _compare(self, e: ir.Compare, env: Mapping[str, Sym]) -> tuple[Sym, Any]:
        z = self.z
        left, left_ok = self.expr(e.left, env)
        right, right_ok = self.expr(e.right, env)
        ok = _all(z, left_ok, right_ok)
        if e.op in ("=", "!="):
            equal = _equal(z, left, right)
            return Sym("bool", equal if e.op == "=" else z.Not(equal)), ok
        if left.kind not in ("int", "date") or right.kind not in ("int", "date"):
            raise Unencodable(f"'{e.op}' between a {left.kind} and a {right.kind}")
        term = _order(z, e.op, left, right)
        # Ordering none is a RuleError.
        return Sym("bool", term), _all(z, ok, left.present, right.present)

    def _membership(self, e: ir.Member, env: Mapping[str, Sym]) -> tuple[Sym, Any]:
        z = self.z
        item, item_ok = self.expr(e.item, env)
        ok = item_ok
        if isinstance(e.collection, ir.Const) and isinstance(e.collection.value, frozenset):
            of = e.collection.type.of or item_type(e.item)
            found = z.Or([_equal(z, item, self.const(v, of)) for v in e.collection.value] + [z.BoolVal(False)])
        else:
            collection, collection_ok = self.expr(e.collection, env)
            ok = _all(z, ok, collection_ok, collection.present)
            if collection.kind != "set" or item.kind != "enum" or collection.members is None:
                raise Unencodable(f"membership of a {item.kind} in a {collection.kind}")
            enum = collection.enum or ""
            found = z.Or([z.And(item.term == self._member(enum, m), b) for m, b in collection.members.items()]
                         + [z.BoolVal(False)])
        return Sym("bool", z.Not(found) if e.negated else found), ok

    def _arith(self, e: ir.Arith, env: Mapping[str, Sym]) -> tuple[Sym, Any]:
        z = self.z
        left, left_ok = self.expr(e.left, env)
        right, right_ok = self.expr(e.right, env)
        ok = _all(z, left_ok, right_ok, left.present, right.present)
        if right.kind == "duration" and left.kind == "date":
            sign = -1 if e.op == "-" else 1
            # One move per distinct duration, chosen by the conditions that give it.
            grouped: dict[rt.Duration, list[Any]] = {}
            for condition, duration in right.alternatives or []:
                grouped.setdefault(duration, []).append(condition)
            if not grouped:
                raise Unencodable("a date moved by a duration that is always none")
            moves = [(z.Or(conditions), self._moved(left, duration, sign)) for duration, conditions in grouped.items()]
            result = moves[-1][1]
            for condition, moved in reversed(moves[:-1]):
                result = self._ite(condition, moved, result)
            return result, ok
        if left.kind != "int" or right.kind != "int":
            raise Unencodable(f"'{e.op}' of a {left.kind} and a {right.kind}")
        a, b = left.term, right.term
        return Sym("int", a + b if e.op == "+" else a - b if e.op == "-" else a * b), ok

    def _moved(self, date: Sym, duration: rt.Duration, sign: int) -> Sym:
        """A date moved by a duration as the calendar does (runtime.add_duration)."""
        z = self.z
        amount = duration.amount * sign
        if duration.unit in ("days", "weeks"):
            return Sym("date", date.term + amount * (7 if duration.unit == "weeks" else 1))
        if date.ymd is None:
            raise Unencodable("months or years added to a date moved by days")
        q, r, month, day = date.ymd
        carry, rest = divmod(amount * (12 if duration.unit == "years" else 1), 12)
        # month + rest is 1 to 23: past 12 it runs into the next year.
        over = month + rest > 12
        new_month = z.If(over, month + rest - 12, month + rest)
        # The year moves by carry (+1 when over): 4q + r moves, r stays within 0..3.
        carry_q, carry_r = divmod(carry, 4)
        shifted = r + carry_r + z.If(over, 1, 0)  # 0 to 7
        wraps = shifted >= 4
        new_q = q + carry_q + z.If(wraps, 1, 0)
        new_r = z.If(wraps, shifted - 4, shifted)
        last = _days_in_month(z, new_r, new_month)
        new_day = z.If(day > last, last, day)
        return Sym("date", _ordinal(z, new_q, new_r, new_month, new_day), ymd=(new_q, new_r, new_month, new_day))

    def _call(self, e: ir.Call, env: Mapping[str, Sym]) -> tuple[Sym, Any]:
        z = self.z
        if e.func == "conditions_of":
            if not all(isinstance(a, ir.Input) for a in e.args):
                raise Unencodable("conditions_of of these arguments")
            word, diagnoses = (self.input(a.name) for a in e.args if isinstance(a, ir.Input))
            if word.kind != "enum" or diagnoses.kind != "codes" or diagnoses.members is None:
                raise Unencodable("conditions_of of these arguments")
            members = {}
            for index, name in enumerate(self.enums.get("condition", ())):
                coded = [b for code, b in diagnoses.members.items() if name in self.codes[code]]
                members[name] = z.Or([word.term == index, *coded])
            return Sym("set", members=members, enum="condition"), True
        args = [self.expr(a, env) for a in e.args]
        ok = _all(z, *[a_ok for _, a_ok in args])
        if e.func in ("min", "max"):
            terms = [a.term for a, _ in args]
            best = terms[0]
            for term in terms[1:]:
                best = z.If(term < best, term, best) if e.func == "min" else z.If(term > best, term, best)
            ok = _all(z, ok, *[a.present for a, _ in args])
            return Sym("int", best), ok
        raise Unencodable(f"the function {e.func}()")

    def _quantifier(self, e: ir.Quant, env: Mapping[str, Sym]) -> tuple[Sym, Any]:
        z = self.z
        collection, ok = self.expr(e.collection, env)
        ok = _all(z, ok, collection.present)
        items: list[tuple[Any, Sym]]
        if collection.kind == "list" and collection.items is not None:
            items = collection.items
        elif collection.kind == "set" and collection.members is not None:
            items = [(b, Sym("enum", z.IntVal(self._member(collection.enum or "", m)), enum=collection.enum))
                     for m, b in collection.members.items()]
        else:
            raise Unencodable(f"a quantifier over a {collection.kind}")
        matches = []
        for present, item in items:
            holds, item_ok = self.expr(e.condition, {**env, e.var: item})
            # Every item's condition is evaluated (no short cut): each must evaluate.
            if item_ok is not True:
                ok = _all(z, ok, z.Implies(present, item_ok))
            matches.append(z.And(present, holds.term))
        match e.kind:
            case "any":
                return Sym("bool", z.Or(matches + [z.BoolVal(False)])), ok
            case "all":
                return Sym("bool", z.And([z.Implies(p, m) for (p, _), m in zip(items, matches)])), ok
            case "count":
                return Sym("int", z.Sum([z.If(m, 1, 0) for m in matches] + [z.IntVal(0)])), ok
            case "latest":
                if not items or items[0][1].kind != "record":
                    raise Unencodable("latest over items that are not records")
                result = Sym("none")
                for i in reversed(range(len(items))):
                    date = _field(items[i][1], "date")
                    # max() keeps the first of equal dates: earlier items must be earlier, later ones no later.
                    beats = [z.Implies(matches[j], _order(z, "<", _field(items[j][1], "date"), date))
                             for j in range(i)]
                    beats += [z.Implies(matches[j], _order(z, "<=", _field(items[j][1], "date"), date))
                              for j in range(i + 1, len(items))]
                    result = self._ite(z.And(matches[i], *beats), items[i][1], result)
                return result, ok
        raise Unencodable(f"the quantifier {e.kind}")

    def _set_of(self, e: ir.SetOf, env: Mapping[str, Sym]) -> tuple[Sym, Any]:
        z = self.z
        items = [self.expr(i, env) for i in e.items]
        of = e.type.of
        if of is None or of.kind != "enum":
            raise Unencodable("a set of values that are not enumeration members")
        enum = of.name or ""
        members = {m: z.Or([i.term == index for i, _ in items]) for index, m in enumerate(self.enums.get(enum, ()))}
        return Sym("set", members=members, enum=enum), _all(z, *[ok for _, ok in items])


_ABSENT = object()


def item_type(e: ir.Expr) -> Type:
    """The type of an expression (the element type of a constant set, when written without one)."""
    return e.type


def _leaves(sym: Sym) -> list[Sym]:
    """The scalar parts of an input's variable."""
    if sym.fields is not None:
        return [leaf for f in sym.fields.values() for leaf in _leaves(f)]
    if sym.items is not None:
        return [leaf for _, item in sym.items for leaf in _leaves(item)]
    return [sym]


def _order(z: Any, op: str, a: Sym, b: Sym) -> Any:
    """`a op b` for integers or dates; dates known by year, month and day compare on those (small numbers)."""
    if a.ymd is not None and b.ymd is not None:
        first, second = (b.ymd, a.ymd) if op in (">", ">=") else (a.ymd, b.ymd)
        op = {">": "<", ">=": "<="}.get(op, op)
        (qa, ra, ma, da), (qb, rb, mb, db) = first, second
        ya, yb = 4 * qa + ra, 4 * qb + rb
        last = da < db if op == "<" else da <= db
        return z.Or(ya < yb, z.And(ya == yb, z.Or(ma < mb, z.And(ma == mb, last))))
    x, y = a.term, b.term
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _kind_type(sym: Sym) -> Type | None:
    """The type of a key's value, when its kind says it."""
    return {"enum": Type("enum", sym.enum), "text": Type("text")}.get(sym.kind)


def _all(z: Any, *conditions: Any) -> Any:
    """The conjunction of conditions, any of which may be Python's True (left out): True when none is left."""
    kept = [c for c in conditions if c is not True]
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else z.And(*kept)


def _bool(z: Any, value: Any) -> Any:
    return z.BoolVal(True) if value is True else value


def _field(record: Sym, name: str) -> Sym:
    if record.fields is None or name not in record.fields:
        raise Unencodable(f"a record without a '{name}' field")
    return record.fields[name]


def _equal(z: Any, a: Sym, b: Sym) -> Any:
    """`a = b` on values that may be none (none equals none)."""
    if a.kind == "none" or b.kind == "none":
        other = b if a.kind == "none" else a
        return z.Not(_bool(z, other.present)) if a.kind != b.kind else z.BoolVal(True)
    if a.kind in ("set", "codes") and a.members is not None and b.members is not None:
        same: Any = z.And([a.members[k] == b.members[k] for k in a.members] + [z.BoolVal(True)])
    elif a.kind != b.kind or (a.kind == "enum" and a.enum != b.enum):
        raise Unencodable(f"'=' between a {a.kind} and a {b.kind}")
    elif a.kind == "date" and a.ymd is not None and b.ymd is not None:
        same = z.And([x == y for x, y in zip(a.ymd, b.ymd)])
    elif a.term is not None and b.term is not None and a.kind in ("bool", "int", "date", "enum", "text"):
        same = a.term == b.term
    else:
        raise Unencodable(f"'=' between a {a.kind} and a {b.kind}")
    if a.present is True and b.present is True:
        return same
    pa, pb = _bool(z, a.present), _bool(z, b.present)
    return z.Or(z.And(pa, pb, same), z.And(z.Not(pa), z.Not(pb)))


def _days_in_month(z: Any, r: Any, month: Any) -> Any:
    """The days of a month of the year 4q + r + 1 (a leap year when r = 3, within DATES)."""
    return z.If(month == 2, z.If(r == 3, 29, 28),
                z.If(z.Or(month == 4, month == 6, month == 9, month == 11), 30, 31))


def _ordinal(z: Any, q: Any, r: Any, month: Any, day: Any) -> Any:
    """datetime.date(4q + r + 1, month, day).toordinal(), as a linear term, for years within DATES."""
    cumulative: Any = z.IntVal(_CUMULATIVE[11])
    for m in range(11, 0, -1):
        cumulative = z.If(month == m, _CUMULATIVE[m - 1], cumulative)
    leap_day = z.If(z.And(month > 2, r == 3), 1, 0)
    # Days before the year: 365 (year - 1) + (year - 1) // 4 - (year - 1) // 100 + (year - 1) // 400,
    # the last two making -15 for every year from 1901 to 2099.
    return (4 * q + r) * 365 + q - 15 + cumulative + leap_day + day


def _column_types(
    row_type: Type, table: ir.TableInfo, program: ir.Program
) -> tuple[tuple[Type, ...], tuple[Type, ...]]:
    """The types of a table's key and value columns, read off its cells (the IR keeps values, not types)."""
    del row_type
    columns = list(zip(*[keys + values for keys, values in table.rows]))
    if table.otherwise is not None and not columns:
        columns = [(None,)] * len(table.key_names) + [(v,) for v in table.otherwise]
    types = []
    for index, cells in enumerate(columns):
        seen = [c for c in cells if c is not None]
        if table.otherwise is not None and index >= len(table.key_names):
            other = table.otherwise[index - len(table.key_names)]
            if other is not None:
                seen.append(other)
        types.append(_cell_type(seen, program))
    width = len(table.key_names)
    return tuple(types[:width]), tuple(types[width:])


def _cell_type(cells: Sequence[Any], program: ir.Program) -> Type:
    if not cells:
        return Type("none")
    sample = cells[0]
    if isinstance(sample, bool):
        return Type("boolean")
    if isinstance(sample, int):
        return Type("integer")
    if isinstance(sample, datetime.date):
        return Type("date")
    if isinstance(sample, rt.Duration):
        return Type("duration")
    if isinstance(sample, str):
        # A column of enumeration members, or of texts.
        for enum, members in program.schema.enums.items():
            if all(isinstance(c, str) and c in members for c in cells) and enum != "condition":
                return Type("enum", enum)
        return Type("text")
    raise Unencodable(f"a table cell {sample!r}")


def _representative_codes(codesets: Sequence[tuple[str, tuple[str, ...]]]) -> dict[str, frozenset[str]]:
    """Codes that between them give every set of conditions one diagnosis can give: code -> its conditions.

    For each pattern: the code itself (a prefix as written), and the prefix
    extended so that it avoids longer patterns. Each code's conditions are what
    the runtime's CodeIndex gives it, so a witness's diagnoses mean what it says.
    """
    index = rt.CodeIndex(dict(codesets))
    patterns = {p for _, ps in codesets for p in ps}
    candidates: list[str] = []
    for pattern in sorted(patterns):
        base = pattern[:-1] if pattern.endswith("*") else pattern
        options = [base]
        if pattern.endswith("*"):
            options += [base + s for s in ("0", "9", "Z", ".0", ".9", ".Z", "0.0", "9.9")]
        for code in options:
            if (_ICD9.match(code) or _ICD10.match(code)) and code not in candidates:
                candidates.append(code)
    codes: dict[str, frozenset[str]] = {}
    seen: set[frozenset[str]] = set()
    for code in candidates:
        found: set[str] = set()
        index.add_conditions(code, found)
        conditions = frozenset(found)
        if conditions and conditions not in seen:
            seen.add(conditions)
            codes[code] = conditions
    return codes
