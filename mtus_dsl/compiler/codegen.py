"""Generate a readable Python module from the IR: the plan as data, one small function per guard and limit.

The module decides nothing by itself: it builds a plan (mtus_dsl.engine.Plan)
once at import and hands it to the engine, the same procedure the interpreter
runs. What it writes is only what is specific to the guidelines: per fact, a
function deriving it; per rule, a function for its guard (does it apply?), one
for its limit's operands and one for its rationale, each headed by the `.mtus`
path:line and the line itself; then the rule's data (citation, scope, reasons).
So the module reads rule by rule beside its source, and grows linearly with it.

Every value from a .mtus file reaches the source through `literal()`, which
writes only Python literals (strings through repr) and calls of a fixed set of
runtime constructors; names become identifiers only after a check that they
are identifiers, behind a fixed prefix; comments are escaped.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, assert_never

import attrs

from mtus_dsl import engine
from mtus_dsl import runtime as rt
from mtus_dsl.case import CaseSchema, InputSpec, Reading, Record, Relation
from mtus_dsl.compiler import ir
from mtus_dsl.compiler.lower import boundaries, fact_inputs, fact_source, guideline_meta, reads, rule_fields
from mtus_dsl.compiler.pysource import SourceWriter, comment
from mtus_dsl.compiler.validator import write_validator
from mtus_dsl.completions import Boundaries
from mtus_dsl.decision import Citation
from mtus_dsl.provenance import PLAN_FORMAT, version
from mtus_dsl.types import Type

HEADER = '''"""Decision functions compiled by mtus-dsl from .mtus guideline files. Do not edit.

Sources:
{sources}
decide(case) answers a dict in the case format (or a mtus_dsl.Case) with a Decision;
outcome(case) answers only (outcome, approved); schema is the case format; provenance
names the mtus-dsl that compiled it and the hash of its sources.
"""

# ruff: noqa
# mypy: ignore-errors
# (The module's own functions are untyped; the names callers use, at the end, are annotated.)
from mtus_dsl.provenance import Provenance as _Provenance, require as _require

# Before anything is built: a runtime that cannot execute this plan says so, and what to do.
_require({plan_format!r}, {version!r})

import datetime as _dt
from collections.abc import Mapping as _Mapping
from typing import Protocol as _Protocol

from mtus_dsl import runtime as _rt
from mtus_dsl.case import Case as _Case
from mtus_dsl.decision import Decision as _Decision, Outcome as _Outcome
from mtus_dsl.case import CaseSchema as _CaseSchema, InputSpec as _InputSpec, Record as _Record
from mtus_dsl.case import Reading as _Reading, Relation as _Relation
from mtus_dsl.completions import Boundaries as _Boundaries
from mtus_dsl.decision import Citation as _Citation
from mtus_dsl.engine import ActionKind as _Action, Engine as _Engine, Fact as _Fact, GuidelineMeta as _Guideline
from mtus_dsl.engine import Plan as _Plan, Rule as _Rule
from mtus_dsl.text import show as _show
from mtus_dsl.types import Type as _Type

_U = _rt.Unknown
_join = _rt.join
_and_rest = _rt.and_rest
_or_rest = _rt.or_rest
_cmp = _rt.compare
_member = _rt.member
_attr = _rt.attr
_arith = _rt.arith
_divide = _rt.divide
'''

#: The names callers use, typed. decide and outcome are the engine's methods, `on_record` included,
#: which a Callable type cannot name: a Protocol does.
TYPED_NAMES = '''
# --- what callers use, typed ---------------------------------------------------------------
class _Decide(_Protocol):
    """decide(case, on_record=False) -> Decision; on_record reads absent inputs as the guidelines declare."""

    def __call__(self, case: _Mapping[str, object] | _Case, on_record: bool = False) -> _Decision: ...


class _DecideOutcome(_Protocol):
    """outcome(case, on_record=False) -> (outcome, approved): the same answer as decide, nothing else built."""

    def __call__(self, case: _Mapping[str, object] | _Case, on_record: bool = False) -> tuple[_Outcome, int]: ...


schema: _CaseSchema = _SCHEMA
provenance: _Provenance = _PROVENANCE
decide: _Decide = _ENGINE.decide
outcome: _DecideOutcome = _ENGINE.outcome
'''

_CONSTRUCTORS = {
    Type: "_Type",
    Citation: "_Citation",
    InputSpec: "_InputSpec",
    Reading: "_Reading",
    Boundaries: "_Boundaries",
    Relation: "_Relation",
    CaseSchema: "_CaseSchema",
    Record: "_Record",
    engine.GuidelineMeta: "_Guideline",
}

#: The decision's numbers a rationale may show that are always whole numbers.
_COUNTS = ("requested", "approved", "limit", "prior", "allowed")

#: Literals longer than this are written one item per line.
_WIDTH = 100


def _ident(prefix: str, name: str) -> str:
    ident = f"{prefix}{name}"
    if not ident.isidentifier():
        raise ValueError(f"cannot make an identifier of {name!r}")
    return ident


def literal(value: Any, level: int = 0, wrap: bool = True) -> str:
    """Write a value as Python source at indentation `level`: known types only, strings through repr.

    A literal too long for a line is written one item per line, each item on one
    line however long (a row of data reads best whole).
    """
    if value is None or (isinstance(value, (bool, int, str)) and not isinstance(value, engine.ActionKind)):
        return repr(value)
    if isinstance(value, engine.ActionKind):
        return f"_Action.{value.name}"
    if isinstance(value, datetime.date):
        return f"_dt.date({value.year}, {value.month}, {value.day})"
    if isinstance(value, rt.Duration):
        return f"_rt.Duration({value.amount!r}, {value.unit!r})"
    if isinstance(value, frozenset):
        # Sorted so the generated source does not depend on hash order.
        return "frozenset({" + ", ".join(sorted(literal(v) for v in value)) + "})" if value else "frozenset()"
    if isinstance(value, tuple):
        items, open_, close, trailing = [literal(v, level + 1, False) for v in value], "(", ")", len(value) == 1
    elif isinstance(value, list):
        items, open_, close, trailing = [literal(v, level + 1, False) for v in value], "[", "]", False
    elif isinstance(value, Mapping):
        items = [f"{literal(k, level + 1, False)}: {literal(v, level + 1, False)}" for k, v in value.items()]
        open_, close, trailing = "{", "}", False
    elif type(value) in _CONSTRUCTORS:
        cls = type(value)
        # Required fields by position; the others by name, and only when not at their default:
        # the literal says what is particular to this value.
        items = [
            literal(getattr(value, f.name), level + 1, False)
            if f.default is attrs.NOTHING
            else f"{f.name}={literal(getattr(value, f.name), level + 1, False)}"
            for f in attrs.fields(cls)
            if f.default is attrs.NOTHING or getattr(value, f.name) != f.default
        ]
        open_, close, trailing = _CONSTRUCTORS[cls] + "(", ")", False
    else:
        raise TypeError(f"no literal for {type(value).__name__}")
    flat = open_ + ", ".join(items) + ("," if trailing else "") + close
    if not wrap or len(flat) + 4 * level <= _WIDTH:
        return flat
    inner = "    " * (level + 1)
    return open_ + "\n" + "".join(f"{inner}{item},\n" for item in items) + "    " * level + close


class _Constants:
    """Values that cost a call to build (dates, durations, sets), named once at the top of the module."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # literal source -> name

    def name(self, value: Any) -> str:
        """Return the name of a constant holding `value` (a plain literal for ints, strings, booleans)."""
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        source = literal(value, wrap=False)
        if source not in self.names:
            kind = "_cite" if isinstance(value, Citation) else "_scope" if isinstance(value, tuple) else "_k"
            self.names[source] = f"{kind}{len(self.names) + 1}"
        return self.names[source]


class _Function:
    """Emit the statements of one function body, one temporary per intermediate value.

    Each operation is plain Python when its operands are known (the common case)
    and the runtime's three-valued operation when one is Unknown.
    """

    def __init__(
        self,
        writer: SourceWriter,
        constants: _Constants,
        env: Mapping[str, str] | None = None,
        known: frozenset[str] = frozenset(),
    ):
        self.w = writer
        self.constants = constants
        self.count = 0
        self.env = dict(env or {})
        # Inputs and facts that are never Unknown (required inputs, facts only of them), and bound
        # variables that never are: their operations need no three-valued fallback.
        self.known = known
        self.known_vars: set[str] = set(self.env)
        self.base_level = writer.level
        self.reads: dict[str, str] = {}  # input or fact -> the temporary that holds it

    def sure(self, e: ir.Expr) -> bool:
        """Tell whether `e` can never be Unknown, whatever the case leaves out."""
        for node in ir.walk(e):
            if isinstance(node, (ir.Input, ir.Fact)) and node.name not in self.known:
                return False
            if isinstance(node, ir.Var) and node.name not in self.known_vars:
                return False
            if isinstance(node, ir.Applies):
                return False
        return True

    def temp(self) -> str:
        self.count += 1
        return f"_t{self.count}"

    def expr(self, e: ir.Expr) -> str:
        """Emit statements computing `e`; return a Python expression for its value."""
        w = self.w
        match e:
            case ir.Const():
                return self.constants.name(e.value)
            case ir.Input() | ir.Fact():
                return f"f[{e.name!r}]"
            case ir.Var():
                return self.env[e.name]
            case ir.Attr():
                if self.sure(e.obj) and not e.obj.type.optional:
                    return self._assign(f"{self._operand(e.obj)}.values[{e.field!r}]")
                return self._assign(f"_attr({self.expr(e.obj)}, {e.field!r})")
            case ir.Lookup():
                keys = ", ".join(self.expr(k) for k in e.keys)
                return self._assign(f"{_ident('_table_', e.table)}.lookup(({keys},))")
            case ir.Not():
                operand = self._operand(e.operand)
                if self.sure(e.operand):
                    return self._assign(f"not {operand}")
                return self._assign(f"{operand} if {operand}.__class__ is _U else not {operand}")
            case ir.And() | ir.Or():
                stop, finish = ("False", "_and_rest") if isinstance(e, ir.And) else ("True", "_or_rest")
                left = self._assign(self.expr(e.left))
                result = self.temp()
                w.line(f"if {left} is {stop}:")
                with w.indent():
                    w.line(f"{result} = {stop}")
                w.line("else:")
                with w.indent():
                    right = self.expr(e.right)
                    # A known left operand that did not decide leaves the answer to the right one.
                    w.line(f"{result} = {right}" if self.sure(e.left) else f"{result} = {finish}({left}, {right})")
                return result
            case ir.Compare():
                left, right = self._operand(e.left), self._operand(e.right)
                python = {"=": "==", "!=": "!="}.get(e.op, e.op)
                slow = f"_cmp({e.op!r}, {left}, {right})"
                if self.sure(e.left) and self.sure(e.right):
                    if e.op in ("=", "!="):
                        return self._assign(f"{left} {python} {right}")
                    # Ordering `none` is a RuleError, which the runtime's operation raises.
                    nones = [f"{code} is None" for x, code in ((e.left, left), (e.right, right))
                             if not isinstance(x, ir.Const)]
                    fast = f"{left} {python} {right}"
                    return self._assign(f"{slow} if {' or '.join(nones)} else {fast}" if nones else fast)
                if e.op in ("=", "!="):
                    return self._assign(self._guarded(f"{left} {python} {right}", slow, [(e.left, left),
                                                                                          (e.right, right)]))
                # Ordering `none` is a RuleError: the runtime's operation says so.
                return self._assign(self._guarded(f"{left} {python} {right}", slow, [(e.left, left), (e.right, right)],
                                                  none=True))
            case ir.Member():
                item, coll = self._operand(e.item), self._operand(e.collection)
                fast = f"{item} {'not in' if e.negated else 'in'} {coll}"
                slow = f"_member({item}, {coll}, {e.negated!r})"
                if self.sure(e.item) and self.sure(e.collection) and not e.collection.type.optional:
                    return self._assign(fast)
                checks = [f"{code}.__class__ is _U" for x, code in ((e.item, item), (e.collection, coll))
                          if not isinstance(x, ir.Const)]
                if not isinstance(e.collection, ir.Const) and e.collection.type.optional:
                    checks.append(f"{coll} is None")  # the runtime's operation says why that fails
                return self._assign(f"{slow} if {' or '.join(checks)} else {fast}" if checks else fast)
            case ir.Exists():
                operand = self._operand(e.operand)
                if self.sure(e.operand):
                    return self._assign(f"{operand} is not None")
                return self._assign(f"{operand} if {operand}.__class__ is _U else {operand} is not None")
            case ir.Arith():
                left, right = self._operand(e.left), self._operand(e.right)
                slow = f"_arith({e.op!r}, {left}, {right})"

                if e.type.kind == "integer":
                    fast = f"{left} {e.op} {right}"
                    checks = [f"{code}.__class__ is int" for x, code in ((e.left, left), (e.right, right))
                              if not isinstance(x, ir.Const)]
                    if checks:
                        return self._assign(f"{fast} if {' and '.join(checks)} else {slow}")
                return self._assign(slow)
            case ir.Div():
                return self._assign(f"_divide({self.expr(e.left)}, {self.expr(e.right)}, {e.rounding!r})")
            case ir.Call():
                if e.func == "units_within":
                    # Most cases do not date their prior units: then the count is the number given.
                    dates, *rest = (self._operand(a) for a in e.args)
                    return self._assign(f"{rest[-1]} if {dates}.__class__ is _U else "
                                        f"_rt.units_within({dates}, {', '.join(rest)})")
                args = ", ".join(self.expr(a) for a in e.args)
                if e.func == "conditions_of":
                    return self._assign(f"_rt.conditions_of(_CODE_INDEX, {args})")
                if e.func.endswith("_between"):
                    return self._assign(f"_rt.between({e.func.removesuffix('_between')!r}, {args})")
                return self._assign(f"_rt.extremum({e.func!r}, [{args}])")
            case ir.Quant():
                return self._quantifier(e)
            case ir.SetOf():
                return self._assign("_rt.set_of([" + ", ".join(self.expr(i) for i in e.items) + "])")
            case ir.Applies():
                return self._assign(f"f.applies({e.rule!r})")
            case _:
                assert_never(e)

    def _shown(self, e: ir.Expr) -> str:
        """How a value reads in a rationale: a decision's count as its digits, anything else through show()."""
        if isinstance(e, ir.Var) and e.name in _COUNTS:
            return f"str({self.expr(e)})"
        return f"_show({self.expr(e)})"

    def _operand(self, e: ir.Expr) -> str:
        if isinstance(e, (ir.Input, ir.Fact)) and e.name in self.reads:
            return self.reads[e.name]
        code = self.expr(e)
        if isinstance(e, ir.Const) or code.startswith("_t") or code.isidentifier():
            return code
        name = self._assign(code)
        if isinstance(e, (ir.Input, ir.Fact)) and self.w.level == self.base_level:
            # Read at the top of the function, so bound on every path after it: read once.
            self.reads[e.name] = name
        return name

    def _guarded(self, fast: str, slow: str, operands: list[tuple[ir.Expr, str]], none: bool = False) -> str:
        """Use plain Python when no operand is unknown (nor none, for `none=True`); the runtime's op otherwise."""
        checks = []
        for e, code in operands:
            if isinstance(e, ir.Const):
                continue
            checks.append(f"{code}.__class__ is _U")
            if none:
                checks.append(f"{code} is None")
        if not checks:
            return fast
        return f"{slow} if {' or '.join(checks)} else {fast}"

    def _assign(self, code: str) -> str:
        if code.startswith("_t") and code[2:].isdigit():
            return code
        name = self.temp()
        self.w.line(f"{name} = {code}")
        return name

    def _quantifier(self, e: ir.Quant) -> str:
        w = self.w
        coll = self._assign(f"_rt.collection({self.expr(e.collection)})")
        result = self.temp()
        w.line(f"if {coll}.__class__ is _U:")
        with w.indent():
            w.line(f"{result} = {coll}")
        w.line("else:")
        with w.indent():
            pairs = self.temp()
            var = _ident(f"_v{self.count}_", e.var)
            w.line(f"{pairs} = []")
            w.line(f"for {var} in {coll}:")
            saved = self.env.get(e.var)
            self.env[e.var] = var
            element = e.collection.type.of
            was_known = e.var in self.known_vars
            if element is not None and not element.optional:
                # Inside the loop the list is known (an Unknown one took the branch above), and so
                # is each of its items.
                self.known_vars.add(e.var)
            else:
                self.known_vars.discard(e.var)
            with w.indent():
                cond = self.expr(e.condition)
                w.line(f"{pairs}.append(({var}, {cond}))")
            if was_known:
                self.known_vars.add(e.var)
            else:
                self.known_vars.discard(e.var)
            if saved is None:
                del self.env[e.var]
            else:
                self.env[e.var] = saved
            w.line(f"{result} = _rt.quantify({e.kind!r}, {pairs})")
        return result

    def template(self, template: ir.Template) -> str:
        pieces = [repr(p) if isinstance(p, str) else self._shown(p) for p in template]
        return "''.join([" + ", ".join(pieces) + "])"


class _Generator:
    """Write the module: header, constants, data, then fact by fact and rule by rule, then the plan."""

    def __init__(self, program: ir.Program, sources: Mapping[str, str]):
        self.program = program
        self.fact_inputs = fact_inputs(program)
        # Lines split at \n only, as the parser counts them (splitlines would also split at U+2028, a form feed).
        self.lines = {name: text.split("\n") for name, text in sources.items()}
        self.constants = _Constants()
        self.body = SourceWriter()
        # Required inputs are always given; a fact only of known values is known too (in dependency order).
        known = {spec.name for spec in program.schema.inputs if spec.required}
        probe = _Function(SourceWriter(), self.constants)
        for fact in program.facts:
            probe.known = frozenset(known)
            if probe.sure(fact.expr):
                known.add(fact.name)
        self.known = frozenset(known)

    def source_line(self, origin: ir.Origin) -> str:
        """The .mtus line a declaration starts on, as a comment."""
        lines = self.lines.get(origin.path, [])
        text = lines[origin.line - 1].strip() if 0 < origin.line <= len(lines) else ""
        return comment(text)

    def module(self) -> str:
        program, w = self.program, self.body
        for table in program.tables:
            w.line()
            w.line(f"{_ident('_table_', table.name)} = _rt.Table.from_rows(")
            with w.indent():
                w.line(f"{table.name!r},")
                w.line(f"{literal(table.key_names, w.level)},")
                w.line(f"{literal(table.value_names, w.level)},")
                w.line("(")
                with w.indent():
                    for key, values in table.rows:
                        w.line(f"{literal(key + values)},")
                w.line("),")
                w.line(f"{literal(table.otherwise, w.level)},")
            w.line(")")
        for fact in program.facts:
            self.fact(fact)
        for rule in program.rules:
            self.rule(rule)
        w.line()
        w.line()
        w.line("# --- the plan: rules in priority order, each exception before the rules it overrides --------")
        w.line("_PLAN = _Plan(")
        with w.indent():
            w.line("schema=_SCHEMA,")
            w.line("guidelines=_GUIDELINES,")
            w.line("facts=(" + "".join(f"{_ident('_fact_', f.name)}, " for f in program.facts) + "),")
            w.line("rules=(")
            with w.indent():
                for rule in program.rules:
                    w.line(f"{_ident('_rule_', rule.name)},")
            w.line("),")
            w.line("validate=_validate,")
            w.line(f"boundaries={literal(boundaries(program), w.level)},")
            w.line("codes=_CODE_INDEX,")
            w.line("provenance=_PROVENANCE,")
        w.line(")")
        w.line("_ENGINE = _Engine(_PLAN)")
        w.line()
        for line in TYPED_NAMES.splitlines():
            w.line(line)

        out = SourceWriter()
        # The sources are listed in the module docstring: no quote may close it.
        listed = "\n".join(f"  {comment(s)}".replace('"', '\\"') for s in program.sources)
        for line in HEADER.format(sources=listed, plan_format=PLAN_FORMAT, version=version()).splitlines():
            out.line(line)
        out.line()
        out.line("# --- data from the guideline files ---------------------------------------------------------")
        out.line(f"_SCHEMA = {literal(program.schema)}")
        out.line(f"_GUIDELINES = {literal(tuple(guideline_meta(g) for g in program.guidelines))}")
        out.line(f"_CODE_INDEX = _rt.CodeIndex({literal(dict(program.codesets))})")
        out.line(f"_PROVENANCE = _Provenance({version()!r}, {program.source_hash!r})")
        for source, name in self.constants.names.items():
            out.line(f"{name} = {source}")
        out.line()
        out.line()
        write_validator(out, program.schema)
        return "\n".join(out.lines + w.lines) + "\n"

    def heading(self, origin: ir.Origin, citation: Citation | None = None) -> None:
        """Head a declaration's functions with its .mtus path:line (and citation) and the line itself."""
        w = self.body
        w.line()
        w.line()
        cited = f"  {comment(str(citation))}" if citation is not None else ""
        w.line(f"# {comment(str(origin))}{cited}")
        w.line(f"#     {self.source_line(origin)}")

    def fact(self, fact: ir.FactInfo) -> None:
        w = self.body
        self.heading(fact.origin)
        derive = _ident("_derive_", fact.name)
        w.line(f"def {derive}(f):")
        with w.indent():
            fn = _Function(w, self.constants, known=self.known)
            w.line(f"return {fn.expr(fact.expr)}")
        explain = "None"
        if fact.explain_true or fact.explain_false:
            explain = _ident("_explain_", fact.name)
            w.line()
            w.line(f"def {explain}(f, value):")
            with w.indent():
                for flag, template in ((True, fact.explain_true), (False, fact.explain_false)):
                    if template is None:
                        continue
                    w.line(f"if value is {flag}:")
                    with w.indent():
                        fn = _Function(w, self.constants, known=self.known)
                        w.line(f"return {fn.template(template)}")
                w.line("return None")
        w.line()
        data = (f"{fact.name!r}, {derive}, {explain}, {fact_source(fact)!r}, {literal(reads([fact.expr]))}, "
                f"inputs={literal(self.fact_inputs[fact.name])}")
        w.line(f"{_ident('_fact_', fact.name)} = _Fact({data})")

    def rule(self, rule: ir.RuleInfo) -> None:
        w = self.body
        self.heading(rule.origin, rule.citation)
        guard = _ident("_guard_", rule.name)
        w.line(f"def {guard}(f):")
        with w.indent():
            fn = _Function(w, self.constants, known=self.known)
            # Each clause in order: one that rules the rule out returns at once, with its index;
            # an unknown one is remembered (`u`), and the rule's applicability stays unknown.
            # A `when a and b` is tested a part at a time (same verdict, same clause index: `and`
            # evaluates b unless a is false, and is false if either part is).
            clauses = [(index, part) for index, clause in enumerate(rule.when) for part in _conjuncts(clause)]
            clauses += list(enumerate(rule.unless, start=len(rule.when)))
            maybe = False  # whether some clause so far may be unknown (`u` then exists)
            for index, clause in clauses:
                value = fn._assign(fn.expr(clause))
                decisive = "False" if index < len(rule.when) else "True"
                w.line(f"if {value} is {decisive}:")
                with w.indent():
                    w.line(f"return (False, {index})")
                if fn.sure(clause):
                    continue
                if not maybe:
                    w.line(f"u = {value} if {value}.__class__ is _U else None")
                else:
                    w.line(f"if {value}.__class__ is _U:")
                    with w.indent():
                        w.line(f"u = _join(u, {value})")
                maybe = True
            w.line("return (True, -1) if u is None else (u, -1)" if maybe else "return (True, -1)")
        fields = rule_fields(rule, self.program)
        fields["guard"] = guard
        operands = ir.operands(rule.action)
        if operands:
            limit = _ident("_limit_", rule.name)
            w.line()
            w.line(f"def {limit}(f):")
            with w.indent():
                fn = _Function(w, self.constants, known=self.known)
                values = [("None" if e is None else fn.expr(e)) for e in operands]
                w.line("return (" + ", ".join(values) + ")")
            fields["operands"] = limit
        if rule.rationale is not None:
            rationale = _ident("_rationale_", rule.name)
            w.line()
            w.line(f"def {rationale}(f, n):")
            with w.indent():
                numbers = ("requested", "approved", "limit", "prior", "allowed", "period", "unit")
                fn = _Function(w, self.constants, {name: f"n[{name!r}]" for name in numbers}, self.known)
                w.line(f"return {fn.template(rule.rationale)}")
            fields["rationale"] = rationale
        w.line()
        # The rule's data: identity, citation and scope by position, on one line; the rest by name.
        shown: dict[str, str] = {}
        for name, value in fields.items():
            if name in ("guard", "operands", "rationale"):
                shown[name] = str(value)
            elif isinstance(value, Citation) or (name in ("services", "regions") and len(literal(value)) > 60):
                # Citations and long scopes are shared by a section's rules: written once, above.
                shown[name] = self.constants.name(value)
            else:
                shown[name] = literal(value, 1)
        defaults = {f.name: f.default for f in attrs.fields(engine.Rule)}
        required = [f.name for f in attrs.fields(engine.Rule) if f.default is attrs.NOTHING]
        w.line(f"{_ident('_rule_', rule.name)} = _Rule(")
        with w.indent():
            w.line(", ".join(shown[name] for name in required) + ",")
            for name, value in fields.items():
                if name not in required and value != defaults[name]:
                    w.line(f"{name}={shown[name]},")
        w.line(")")


def _conjuncts(clause: ir.Expr) -> list[ir.Expr]:
    """The parts of `a and b and ...`, in order (a clause that is no conjunction is its own part)."""
    if isinstance(clause, ir.And):
        return _conjuncts(clause.left) + _conjuncts(clause.right)
    return [clause]


def generate(program: ir.Program, sources: Mapping[str, str] | None = None) -> str:
    """Return the Python source of a module whose `decide(case)` decides like the interpreter."""
    return _Generator(program, sources or {}).module()
