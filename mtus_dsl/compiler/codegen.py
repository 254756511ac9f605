"""Generate a readable, deterministic Python module from the IR, with the interpreter's meaning.

Every value from a .mtus file reaches the source through `literal()`, which
writes only Python literals (strings through repr) and calls of a fixed set of
runtime constructors; names become identifiers only after a check that they
are identifiers, behind a fixed prefix. Comments carry each rule's file and
line, escaped. Loaded in memory, the module is registered in `linecache`, so
tracebacks, pdb and `inspect.getsource` show the generated code.
"""

from __future__ import annotations

import datetime
import hashlib
import linecache
import marshal
import os
import sys
import types
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from mtus_dsl import runtime as rt
from mtus_dsl.case import CaseSchema, InputSpec, Record
from mtus_dsl.compiler import ir, straightline
from mtus_dsl.compiler.interpreter import guideline_meta, rule_meta
from mtus_dsl.compiler.pysource import SourceWriter, comment
from mtus_dsl.decision import Citation, TraceEntry
from mtus_dsl.types import Type

HEADER = '''"""Decision functions compiled by mtus-dsl from .mtus guideline files. Do not edit.

Sources:
{sources}
Call decide(case) with a dict in the case format (or a mtus_dsl.case.Case).
"""

# ruff: noqa
# mypy: ignore-errors
import datetime as _dt
import functools as _functools

from mtus_dsl import runtime as _rt
from mtus_dsl.case import CaseSchema as _CaseSchema, InputSpec as _InputSpec, Record as _Record
from mtus_dsl.decision import Citation as _Citation, Decision as _Decision, Outcome as _Outcome
from mtus_dsl.decision import TraceEntry as _TraceEntry
from mtus_dsl.types import Type as _Type

_U = _rt.Unknown
_join = _rt.join
_and_rest = _rt.and_rest
_or_rest = _rt.or_rest
_not = _rt.not_
_cmp = _rt.compare
_member = _rt.member
_exists = _rt.exists
_attr = _rt.attr
_arith = _rt.arith
_divide = _rt.divide
_show = _rt.show
_sentence = _rt.sentence
_int = _rt.known_int
_known = _rt.known
_GiveUp = _rt.GiveUp
'''


def _ident(prefix: str, name: str) -> str:
    ident = f"{prefix}{name}"
    if not ident.isidentifier():
        raise ValueError(f"cannot make an identifier of {name!r}")
    return ident


_CONSTRUCTORS = {
    Type: "_Type",
    Citation: "_Citation",
    TraceEntry: "_TraceEntry",
    InputSpec: "_InputSpec",
    CaseSchema: "_CaseSchema",
    Record: "_Record",
    rt.GuidelineMeta: "_rt.GuidelineMeta",
    rt.RuleMeta: "_rt.RuleMeta",
}

#: Literals longer than this are written one item per line.
_WIDTH = 100


def literal(value: Any, level: int = 0) -> str:
    """Write a value as Python source: only known types, strings through repr, long ones wrapped."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, datetime.date):
        return f"_dt.date({value.year}, {value.month}, {value.day})"
    if isinstance(value, rt.Duration):
        return f"_rt.Duration({value.amount!r}, {value.unit!r})"
    if isinstance(value, frozenset):
        # Sorted so the generated source does not depend on hash order.
        return "frozenset({" + ", ".join(sorted(literal(v) for v in value)) + "})" if value else "frozenset()"
    if isinstance(value, tuple):
        items, open_, close, trailing = [literal(v, level + 1) for v in value], "(", ")", len(value) == 1
    elif isinstance(value, list):
        items, open_, close, trailing = [literal(v, level + 1) for v in value], "[", "]", False
    elif isinstance(value, dict):
        items = [f"{literal(k, level + 1)}: {literal(v, level + 1)}" for k, v in value.items()]
        open_, close, trailing = "{", "}", False
    elif type(value) in _CONSTRUCTORS:
        cls = type(value)
        items = [f"{f.name}={literal(_plain(getattr(value, f.name)), level + 1)}" for f in attrs.fields(cls)]
        open_, close, trailing = _CONSTRUCTORS[cls] + "(", ")", False
    else:
        raise TypeError(f"no literal for {type(value).__name__}")
    flat = open_ + ", ".join(items) + ("," if trailing else "") + close
    if len(flat) + 4 * level <= _WIDTH and "\n" not in flat:
        return flat
    inner = "    " * (level + 1)
    return open_ + "\n" + "".join(f"{inner}{item},\n" for item in items) + "    " * level + close


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return dict(value)
    return value


class _Function:
    """Emit the statements of one function body, one temporary per intermediate value."""

    def __init__(self, writer: SourceWriter, env: Mapping[str, str] | None = None):
        self.w = writer
        self.count = 0
        self.env = dict(env or {})

    def temp(self) -> str:
        self.count += 1
        return f"_t{self.count}"

    def expr(self, e: ir.Expr) -> str:
        """Emit statements computing `e`; return a Python expression for its value."""
        w = self.w
        if isinstance(e, ir.Const):
            return literal(e.value)
        if isinstance(e, (ir.Input, ir.Fact)):
            return f"f[{e.name!r}]"
        if isinstance(e, ir.Var):
            return self.env[e.name]
        if isinstance(e, ir.Attr):
            return self._assign(f"_attr({self.expr(e.obj)}, {e.field!r})")
        if isinstance(e, ir.Lookup):
            keys = ", ".join(self.expr(k) for k in e.keys)
            return self._assign(f"{_ident('_table_', e.table)}.lookup(({keys},))")
        if isinstance(e, ir.Not):
            return self._assign(f"_not({self.expr(e.operand)})")
        if isinstance(e, (ir.And, ir.Or)):
            stop, finish = ("False", "_and_rest") if isinstance(e, ir.And) else ("True", "_or_rest")
            left = self._assign(self.expr(e.left))
            result = self.temp()
            w.line(f"if {left} is {stop}:")
            with w.indent():
                w.line(f"{result} = {stop}")
            w.line("else:")
            with w.indent():
                right = self.expr(e.right)
                w.line(f"{result} = {finish}({left}, {right})")
            return result
        if isinstance(e, ir.Compare):
            left, right = self._operand(e.left), self._operand(e.right)
            if e.op in ("=", "!="):
                fast = f"{left} {'==' if e.op == '=' else '!='} {right}"
                return self._assign(
                    self._guarded(fast, f"_cmp({e.op!r}, {left}, {right})", [(e.left, left), (e.right, right)])
                )
            return self._assign(f"_cmp({e.op!r}, {left}, {right})")
        if isinstance(e, ir.Member):
            item, coll = self._operand(e.item), self._operand(e.collection)
            fast = f"{item} {'not in' if e.negated else 'in'} {coll}"
            return self._assign(
                self._guarded(fast, f"_member({item}, {coll}, {e.negated!r})", [(e.item, item), (e.collection, coll)])
            )
        if isinstance(e, ir.Exists):
            return self._assign(f"_exists({self.expr(e.operand)})")
        if isinstance(e, ir.Arith):
            return self._assign(f"_arith({e.op!r}, {self.expr(e.left)}, {self.expr(e.right)})")
        if isinstance(e, ir.Div):
            return self._assign(f"_divide({self.expr(e.left)}, {self.expr(e.right)}, {e.rounding!r})")
        if isinstance(e, ir.Call):
            args = ", ".join(self.expr(a) for a in e.args)
            if e.func == "conditions_of":
                return self._assign(f"_rt.conditions_of(_CODE_INDEX, {args})")
            return self._assign(f"_rt.extremum({e.func!r}, [{args}])")
        if isinstance(e, ir.Quant):
            return self._quantifier(e)
        if isinstance(e, ir.SetOf):
            return self._assign("_rt.set_of([" + ", ".join(self.expr(i) for i in e.items) + "])")
        if isinstance(e, ir.Applies):
            return self._assign(f"f.applies({e.rule!r})")
        raise AssertionError(f"unhandled IR node {e!r}")

    def _operand(self, e: ir.Expr) -> str:
        code = self.expr(e)
        return code if isinstance(e, ir.Const) or code.startswith("_t") else self._assign(code)

    def _guarded(self, fast: str, slow: str, operands: list[tuple[ir.Expr, str]]) -> str:
        """Use plain Python when no operand is unknown; the runtime's three-valued op otherwise."""
        checks = [f"{code}.__class__ is _U" for e, code in operands if not isinstance(e, ir.Const)]
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
            with w.indent():
                cond = self.expr(e.condition)
                w.line(f"{pairs}.append(({var}, {cond}))")
            if saved is None:
                del self.env[e.var]
            else:
                self.env[e.var] = saved
            w.line(f"{result} = _rt.quantify({e.kind!r}, {pairs})")
        return result

    def template(self, template: ir.Template) -> str:
        pieces = [repr(p) if isinstance(p, str) else f"_show({self.expr(p)})" for p in template]
        return "".join(["''.join([", ", ".join(pieces), "])"])


def generate(program: ir.Program) -> str:
    """Return the Python source of a module whose `decide(case)` decides like the interpreter."""
    w = SourceWriter()
    # The sources are listed in the module docstring: no quote may close it.
    sources = "\n".join(f"  {comment(s)}".replace('"', '\\"') for s in program.sources)
    for line in HEADER.format(sources=sources).splitlines():
        w.line(line)
    w.line()
    w.line("# --- data from the guideline files ---------------------------------------")
    w.line(f"_SCHEMA = {literal(program.schema)}")
    w.line(f"_GUIDELINES = {literal(tuple(guideline_meta(g) for g in program.guidelines))}")
    w.line(f"_CODESETS = {literal(dict(program.codesets))}")
    w.line("_CODE_INDEX = _rt.CodeIndex(_CODESETS)")
    w.line(f"_DISPATCH = {literal(dict(program.dispatch))}")
    for table in program.tables:
        names = table.key_names + table.value_names
        rows = {key: Record(table.name, dict(zip(names, key + values))) for key, values in table.rows}
        otherwise = (
            Record(table.name, dict(zip(names, (None,) * len(table.key_names) + table.otherwise)))
            if table.otherwise is not None
            else None
        )
        w.line(f"{_ident('_table_', table.name)} = _rt.Table({table.name!r}, {literal(rows)}, {literal(otherwise)})")
    w.line()
    for fact in program.facts:
        _fact(w, fact)
    for rule in program.rules:
        _rule(w, rule)
    w.line()
    w.line("# --- the engine that combines them ------------------------------------------")
    w.line("_ENGINE = _rt.Engine(")
    with w.indent():
        w.line("schema=_SCHEMA,")
        w.line("guidelines=_GUIDELINES,")
        w.line("rules=[")
        with w.indent():
            for rule in program.rules:
                rationale = _ident("_rationale_", rule.name) if rule.rationale is not None else "None"
                w.line(f"_rt.RuleHandle({literal(rule_meta(rule))},")
                w.line(
                    f"               {_ident('_check_', rule.name)}, {_ident('_operands_', rule.name)}, {rationale}),"
                )
        w.line("],")
        w.line("dispatch=_DISPATCH,")
        w.line("derive={" + ", ".join(f"{f.name!r}: {_ident('_fact_', f.name)}" for f in program.facts) + "},")
        explained = [f for f in program.facts if f.explain_true or f.explain_false]
        w.line("explain={" + ", ".join(f"{f.name!r}: {_ident('_explain_', f.name)}" for f in explained) + "},")
    w.line(")")
    w.line()
    w.line("_unknown_entry = _functools.partial(_rt.unknown_entry, _ENGINE)")
    lines, fast = straightline.generate(program, literal)
    for line in lines:
        w.line(line)
    w.line()
    w.line("_ENGINE.fast.update({")
    with w.indent():
        for key, function in fast:
            w.line(f"{literal(key)}: {function},")
    w.line("})")
    w.line("schema = _SCHEMA")
    w.line()
    w.line()
    w.line("def decide(case):")
    with w.indent():
        w.line('"""Decide one request: a dict in the case format, or a mtus_dsl.case.Case."""')
        w.line("return _ENGINE.decide(case)")
    return "\n".join(w.lines) + "\n"


def _fact(w: SourceWriter, fact: ir.FactInfo) -> None:
    w.line()
    w.line()
    w.line(f"# fact {fact.name}  ({comment(str(fact.origin))})")
    w.line(f"def {_ident('_fact_', fact.name)}(f):")
    with w.indent():
        fn = _Function(w)
        w.line(f"return {fn.expr(fact.expr)}")
    if fact.explain_true or fact.explain_false:
        w.line()
        w.line()
        w.line(f"def {_ident('_explain_', fact.name)}(f, value):")
        with w.indent():
            for flag, template in ((True, fact.explain_true), (False, fact.explain_false)):
                if template is None:
                    continue
                w.line(f"if value is {flag}:")
                with w.indent():
                    fn = _Function(w)
                    w.line(f"return {fn.template(template)}")
            w.line("return None")


def _rule(w: SourceWriter, rule: ir.RuleInfo) -> None:
    w.line()
    w.line()
    w.line(f"# {rule.kind} {rule.name}  ({comment(str(rule.origin))}): {comment(str(rule.citation))}")
    w.line(f"def {_ident('_check_', rule.name)}(f):")
    with w.indent():
        fn = _Function(w)
        w.line("u = None")
        for index, clause in enumerate(rule.when + rule.unless):
            value = fn._assign(fn.expr(clause))
            decisive = "False" if index < len(rule.when) else "True"
            w.line(f"if {value} is {decisive}:")
            with w.indent():
                w.line(f"return (False, {index})")
            w.line(f"if {value}.__class__ is _U:")
            with w.indent():
                w.line(f"u = {value} if u is None else _join(u, {value})")
        w.line("return (True, -1) if u is None else (u, -1)")
    w.line()
    w.line()
    w.line(f"def {_ident('_operands_', rule.name)}(f):")
    with w.indent():
        fn = _Function(w)
        values = [("None" if e is None else fn.expr(e)) for e in rule.action.operands()]
        w.line("return (" + "".join(v + ", " for v in values) + ")")
    if rule.rationale is not None:
        w.line()
        w.line()
        w.line(f"def {_ident('_rationale_', rule.name)}(f, n):")
        with w.indent():
            fn = _Function(
                w,
                {
                    name: f"n[{name!r}]"
                    for name in ("requested", "approved", "limit", "prior", "allowed", "period", "unit")
                },
            )
            w.line(f"return {fn.template(rule.rationale)}")


def load_module(source: str, name: str = "mtus_compiled") -> types.ModuleType:
    """Execute generated source as a module registered in linecache under a readable name."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"<mtus-compiled {name} {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    # The source stays readable for as long as the module lives, and no longer:
    # a process that compiles many schedules does not keep every one.
    weakref.finalize(module, linecache.cache.pop, filename, None)
    exec(_bytecode(source, filename), module.__dict__)
    return module


def _cache_dir() -> Path | None:
    """Where compiled bytecode is kept: $MTUS_DSL_CACHE, else the user's cache directory; None when off."""
    configured = os.environ.get("MTUS_DSL_CACHE")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mtus-dsl"


def _bytecode(source: str, filename: str) -> types.CodeType:
    """Compile generated source, reusing the bytecode of an identical earlier compilation.

    Compiling the corpus's module costs tens of milliseconds on every load; like
    Python's own __pycache__ (and Jinja's bytecode cache) we keep the result,
    keyed by the source and the interpreter version, in a directory only the
    user can write. Any problem with the cache just means compiling again.
    """
    directory = _cache_dir()
    key = hashlib.sha256(f"{sys.version}\0{filename}\0{source}".encode()).hexdigest()
    path = directory / f"{key}.bytecode" if directory else None
    if path is not None:
        try:
            code = marshal.loads(path.read_bytes())
            if isinstance(code, types.CodeType):
                return code
        except (OSError, ValueError, EOFError, TypeError):
            pass
    code = compile(source, filename, "exec")
    if path is not None and directory is not None:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(marshal.dumps(code))
            os.replace(partial, path)
        except OSError:
            pass
    return code


def iter_rules(module: types.ModuleType) -> Iterator[str]:
    """Name the rules a compiled module holds."""
    engine = module.__dict__["_ENGINE"]
    yield from engine.rules
