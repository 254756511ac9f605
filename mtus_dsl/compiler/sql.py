"""The SQL backend: the decision plan compiled into one query that decides a whole table of cases.

The query is a sqlglot expression tree, rendered in any dialect sqlglot knows.
Buckets are a `CASE` on service and body region, guards are predicates in SQL's
three-valued logic (NULL is unknown, as in the language), code sets are `LIKE`,
limits, trials and caps are arithmetic, and the facts a `needs_information` row
misses are a list column (tracked through the query as bits of integers, one
per optional input, and named only at the end). It reads a relation with a
column `id` and one column per input of the case format (NULL: unknown; an
empty list: none) and returns one row per case: id, outcome, requested,
approved, unit, rules, missing, error.

The Python engine (mtus_dsl/engine.py) stays the reference. Where this module has
to restate a step of its procedure in SQL, the step is one function here
(`_allowance`, `_settle_columns`, `_cap_columns`) whose docstring names the engine
method it mirrors; everything else comes from the plan's data (buckets, rule
order, editions, caps) and the IR.

sqlglot (and duckdb, pyspark for running it) are optional extras: nothing that
`import mtus_dsl` or a compiled module imports imports this module.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, assert_never

import attrs
import sqlglot
from sqlglot import exp

from mtus_dsl.case import CaseSchema, Record
from mtus_dsl.compiler import cache, ir
from mtus_dsl.decision import Outcome
from mtus_dsl.runtime import Duration
from mtus_dsl.types import Type

if TYPE_CHECKING:
    import duckdb

    from mtus_dsl.schedule import Schedule

__all__ = [
    "OUTPUT_COLUMNS",
    "RUN_DIALECTS",
    "DialectError",
    "SqlBackendError",
    "column_types",
    "compile_sql",
    "decide_duckdb",
    "decide_spark",
    "dialects",
    "load_duckdb",
    "query",
    "rows",
    "source_table",
]

#: The columns of the query's result, in order.
OUTPUT_COLUMNS = ("id", "outcome", "requested", "approved", "unit", "rules", "missing", "error")


class SqlBackendError(Exception):
    """A program or an option the SQL backend cannot compile: an unknown dialect, or a construct it lacks."""


# --- compiled expressions ------------------------------------------------------------


#: Inputs per word of a Needs: 62 bits, so that every word is a positive BIGINT in every dialect.
WORD = 62


@attrs.frozen
class Needs:
    """The inputs an Unknown depends on, as bits: per word (WORD inputs each), an integer whose set bits name them.

    Integers ORed together cost a fraction of lists of names built on every row.
    `names` are the inputs it may name (known when compiling). `guarded`: every
    word is 0 where the value is not unknown; otherwise a word is read only where
    the value is unknown.
    """

    names: frozenset[str] = frozenset()
    words: Mapping[int, exp.Expr] = attrs.field(factory=dict)
    guarded: bool = True


NO_NEEDS = Needs()


@attrs.frozen
class Value:
    """An IR expression compiled to SQL, with what the engine's Unknown and RuleError carry.

    `sql` is the value (NULL when unknown, and when `none` for types that may be
    none); `unknown` is a predicate that holds when the value is Unknown (None:
    never unknown); `needs` names the inputs the Unknown depends on; `error` holds
    when evaluating it is a RuleError (None: never).
    """

    sql: exp.Expr
    unknown: exp.Expr | None = None
    needs: Needs = NO_NEEDS
    error: exp.Expr | None = None
    nulls: bool = True  # an unknown value is NULL (always so for types that cannot be none)


TRUE = exp.true()
FALSE = exp.false()
NULL = exp.null()
ZERO = exp.Literal.number(0)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _or(*terms: exp.Expr | None) -> exp.Expr | None:
    found = [t for t in terms if t is not None]
    if not found:
        return None
    if any(t == TRUE for t in found):
        return TRUE
    if len(found) == 1:
        return found[0]
    return exp.Or(this=_paren(found[0]), expression=_paren(_or(*found[1:]) or FALSE.copy()))


def _and(*terms: exp.Expr) -> exp.Expr:
    found = [t for t in terms if t != TRUE]
    if not found:
        return TRUE
    if len(found) == 1:
        return found[0]
    return exp.And(this=_paren(found[0]), expression=_paren(_and(*found[1:])))


def _not(term: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.paren(term, copy=False))


def _is_null(sql: exp.Expr) -> exp.Expr:
    return exp.Is(this=exp.paren(sql, copy=False), expression=exp.Null())


def _not_null(sql: exp.Expr) -> exp.Expr:
    return _not(_is_null(sql))


def _is_true(sql: exp.Expr) -> exp.Expr:
    """A two-valued test: the predicate holds (NULL counts as not)."""
    return exp.Coalesce(this=sql, expressions=[FALSE.copy()])


def _not_false(sql: exp.Expr) -> exp.Expr:
    return exp.Coalesce(this=sql, expressions=[TRUE.copy()])


def _case(ifs: Sequence[tuple[exp.Expr, exp.Expr]],
          default: exp.Expr | None = None) -> exp.Expr:
    if not ifs:
        return default if default is not None else NULL.copy()
    node = exp.Case()
    for condition, then in ifs:
        node = node.when(condition, then, copy=False)
    if default is not None:
        node = node.else_(default, copy=False)
    return node


def _paren(sql: exp.Expr) -> exp.Expr:
    return exp.paren(sql, copy=False)


def _size(array: exp.Expr) -> exp.Expr:
    return exp.ArraySize(this=array)


def _lambda(var: str, body: exp.Expr) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(var)])


def _filter(array: exp.Expr, var: str, condition: exp.Expr) -> exp.Expr:
    return exp.ArrayFilter(this=array, expression=_lambda(var, condition))


def _any_item(array: exp.Expr, var: str, condition: exp.Expr) -> exp.Expr:
    """Some item satisfies the (two-valued) condition."""
    return exp.GT(this=_size(_filter(array, var, condition)), expression=exp.Literal.number(0))


def _array(items: Sequence[exp.Expr], of: str) -> exp.Expr:
    if not items:
        return exp.cast(exp.Array(expressions=[]), exp.DataType.build(f"ARRAY<{of}>"))
    return exp.Array(expressions=list(items))


def _present(items: Sequence[tuple[exp.Expr, str]], first: Sequence[exp.Expr] = ()) -> exp.Expr:
    """The names whose predicate holds, as a VARCHAR list in the given order (after the lists `first`)."""
    # A concatenation of one-name lists, no lambda: several times faster than filtering out NULLs.
    parts = [*first, *(_case([(_is_true(cond), exp.Array(expressions=[exp.Literal.string(name)]))],
                              _array([], "VARCHAR")) for cond, name in items)]
    return _concat_balanced(parts) if parts else _array([], "VARCHAR")


def _concat_balanced(parts: Sequence[exp.Expr], width: int = 16) -> exp.Expr:
    """Lists concatenated in groups of `width`: in one call where the dialect can (DuckDB's nested LIST_CONCATs
    cost a third more); where it concatenates two at a time, the text nests about 2 * width deep, not len(parts)
    (a parser reading it back recurses per level)."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) > width:
        size = -(-len(parts) // width)
        parts = [_concat_balanced(parts[i:i + size], width) for i in range(0, len(parts), size)]
    return exp.ArrayConcat(this=parts[0], expressions=list(parts[1:]))


def _bitor(words: Sequence[exp.Expr]) -> exp.Expr:
    """Integers ORed bit by bit (0 when none)."""
    # The same test can reach a word twice (a fact read by two terms of one guard): once is enough.
    found = list(dict.fromkeys(w for w in words if w != ZERO))
    if not found:
        return ZERO.copy()
    if len(found) == 1:
        return found[0]
    # Balanced, so that the text nests log(n) deep: a parser reading it back recurses per level. Its operands
    # (literals, columns, CASEs, ORs) need no parentheses.
    half = len(found) // 2
    return exp.BitwiseOr(this=_bitor(found[:half]), expression=_bitor(found[half:]))


def _guarded(value: Value) -> dict[int, exp.Expr]:
    """A value's Needs words, each 0 where the value is not unknown."""
    if value.needs.guarded or value.unknown is None:
        return dict(value.needs.words)
    return {w: _case([(value.unknown, word)], ZERO.copy()) for w, word in value.needs.words.items()}


def _join_needs(children: Iterable[Value], *, strict: bool) -> Needs:
    """What the join of the unknown ones among `children` depends on (runtime.join).

    `strict`: the result is unknown exactly when some child is, so ORing their
    guarded words leaves the result guarded too.
    """
    unknown = [c for c in children if c.unknown is not None]
    if len(unknown) == 1:
        return unknown[0].needs if strict else attrs.evolve(unknown[0].needs, guarded=False)
    words: dict[int, list[exp.Expr]] = {}
    for child in unknown:
        for w, word in _guarded(child).items():
            words.setdefault(w, []).append(word)
    return Needs(frozenset().union(*(c.needs.names for c in unknown)),
                 {w: _bitor(found) for w, found in sorted(words.items())}, strict)


def _named(bits: Mapping[str, tuple[int, int]], group: int = 4) -> exp.Expr:
    """The inputs whose bits are set in the `missing` words, in name order (so sorted and each once, as the engine
    lists them): each `group` bits of a word index a constant table of the 2**group lists of their names.

    One lookup a group, no test a name: three times faster than a CASE a name,
    and with neither lambdas nor loops, so every dialect renders it."""
    chunks: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for name, (w, bit) in bits.items():
        position = bit.bit_length() - 1
        chunks.setdefault((w, position // group * group), []).append((name, position))
    parts = []
    for (w, shift), members in sorted(chunks.items()):
        width = max(p for _, p in members) - shift + 1
        table = [_array([exp.Literal.string(n) for n, p in members if value >> (p - shift) & 1], "VARCHAR")
                 for value in range(1 << width)]
        word = _col(_word_column("missing", w))
        shifted = exp.BitwiseRightShift(this=word, expression=exp.Literal.number(shift)) if shift else word
        index = exp.BitwiseAnd(this=_paren(shifted), expression=exp.Literal.number((1 << width) - 1))
        parts.append(_nth(table, exp.cast(index, exp.DataType.build("INT"))))  # Spark indexes by INT alone
    return _concat_balanced(parts) if parts else _array([], "VARCHAR")


def _has_bits(word: exp.Expr, mask: int) -> exp.Expr:
    """Some bit of `mask` is set in a Needs word."""
    return exp.NEQ(this=_paren(exp.BitwiseAnd(this=_paren(word), expression=exp.Literal.number(mask))),
                   expression=ZERO.copy())


def _nth(items: Sequence[exp.Expr], column: str | exp.Expr) -> exp.Expr:
    """The item at a 0-based index (a column or an integer expression) of a constant array (NULL when the index
    is), in each dialect's way."""
    index = _col(column) if isinstance(column, str) else column
    index.type = exp.DataType.build("BIGINT")  # typed, so that sqlglot shifts it for each dialect's first index
    return exp.Bracket(this=exp.Array(expressions=list(items)), expressions=[index], offset=0, safe=True)


def _pick_needs(ifs: Sequence[tuple[exp.Expr, Needs]], *, guarded: bool) -> Needs:
    """The Needs of the first case that holds (0 when none does)."""
    names: frozenset[str] = frozenset().union(*(n.names for _, n in ifs))
    words = sorted({w for _, n in ifs for w in n.words})
    return Needs(names, {w: _case([(c.copy(), n.words[w].copy() if w in n.words else ZERO.copy()) for c, n in ifs],
                                  ZERO.copy())
                         for w in words}, guarded)


def literal(value: Any) -> exp.Expr:
    """A constant of the language as SQL: booleans, integers, text, dates, durations, none, sets."""
    if value is None:
        return NULL.copy()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, datetime.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("DATE"))
    if isinstance(value, Duration):
        months, days = _duration_parts(value)
        return exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.to_identifier("months"), expression=exp.Literal.number(months)),
            exp.PropertyEQ(this=exp.to_identifier("days"), expression=exp.Literal.number(days)),
        ])
    if isinstance(value, frozenset | tuple):
        items = sorted(value, key=repr) if isinstance(value, frozenset) else list(value)
        return exp.Array(expressions=[literal(v) for v in items])
    if isinstance(value, Record):
        raise SqlBackendError(f"a {value.type} record as a constant is not supported by the SQL backend")
    raise SqlBackendError(f"the constant {value!r} has no SQL form")


def _duration_parts(duration: Duration) -> tuple[int, int]:
    """A duration as (months, days): the two ways the runtime moves a date (runtime.add_duration)."""
    match duration.unit:
        case "days":
            return (0, duration.amount)
        case "weeks":
            return (0, 7 * duration.amount)
        case "months":
            return (duration.amount, 0)
        case _:
            return (12 * duration.amount, 0)


def _add_duration(date: exp.Expr, duration: ir.Expr, amount: exp.Expr, sign: int) -> exp.Expr:
    """Move a date by a duration (runtime.add_duration): months keep the day, clamped to the month's end."""
    if isinstance(duration, ir.Const) and isinstance(duration.value, Duration):
        months, days = _duration_parts(duration.value)
        if months:
            return exp.cast(exp.AddMonths(this=date, expression=exp.Literal.number(sign * months)),
                            exp.DataType.build("DATE"))
        return exp.cast(exp.DateAdd(this=date, expression=exp.Literal.number(sign * days), unit=exp.var("DAY")),
                        exp.DataType.build("DATE"))
    months_sql = _field_of(amount, "months")
    days_sql = _field_of(amount, "days")
    if sign < 0:
        months_sql, days_sql = exp.Neg(this=_paren(months_sql)), exp.Neg(this=_paren(days_sql))
    moved = exp.cast(exp.AddMonths(this=date, expression=months_sql), exp.DataType.build("DATE"))
    return exp.cast(exp.DateAdd(this=moved, expression=days_sql, unit=exp.var("DAY")), exp.DataType.build("DATE"))


def _field_of(struct: exp.Expr, field: str) -> exp.Expr:
    """A field of a struct; through CASEs of struct constants (a table's durations), the CASE of the fields'
    constants, so that no struct is built on each row."""
    if isinstance(struct, exp.Struct):
        for prop in struct.expressions:
            if isinstance(prop, exp.PropertyEQ) and prop.this.name == field:
                value: exp.Expr = prop.expression.copy()
                return value
    if isinstance(struct, exp.Null):
        return NULL.copy()
    if isinstance(struct, exp.Case) and struct.this is None:
        default = struct.args.get("default")
        ifs = [(branch.this.copy(), _field_of(branch.args["true"], field)) for branch in struct.args["ifs"]]
        otherwise = _field_of(default, field) if default is not None else NULL.copy()
        if all(then == otherwise for _, then in ifs):  # the same in every case (a table's durations all in months)
            return otherwise
        return _case(ifs, otherwise)
    return exp.Dot(this=_paren(struct.copy()), expression=exp.to_identifier(field))


def _floor_div(left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """Python's `//` (floor) from SQL's integer division, which truncates toward zero."""
    quotient = exp.IntDiv(this=_paren(left), expression=_paren(right))
    remainder = exp.Mod(this=_paren(left.copy()), expression=_paren(right.copy()))
    signs_differ = exp.NEQ(this=_paren(exp.LT(this=left.copy(), expression=exp.Literal.number(0))),
                           expression=_paren(exp.LT(this=right.copy(), expression=exp.Literal.number(0))))
    correction = _case([(_and(exp.NEQ(this=remainder, expression=exp.Literal.number(0)), signs_differ),
                         exp.Literal.number(1))], exp.Literal.number(0))
    return exp.Sub(this=quotient, expression=correction)


# --- the compiler of expressions -------------------------------------------------------


class _Compiler:
    """Compile IR expressions to Values over the columns of the layers below."""

    def __init__(self, program: ir.Program):
        self.program = program
        self.schema = program.schema
        self.required = {spec.name for spec in program.schema.inputs if spec.required}
        self.inputs = {spec.name for spec in program.schema.inputs}
        self.facts = {f.name: f for f in program.facts}
        self.tables = {t.name: t for t in program.tables}
        self.codesets = dict(program.codesets)
        self.rules = {r.name: r for r in program.rules}
        # The compiled value of each fact, read through its columns (set as facts are laid out).
        self.fact_values: dict[str, Value] = {}
        self.condition_values: dict[str, Value] = {}  # `NAME in conditions`, by its column
        self.verdicts: dict[str, Value] = {}
        self.scopes: dict[str, tuple[tuple[str, str], ...]] = {}
        self.allowances: dict[str, _Allowance] = {}
        self.caps: _Caps | None = None
        self.bucket_keys: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self.bucket_of: dict[str, list[int]] = {}  # each rule's buckets (their indexes)
        self.layers: list[list[tuple[str, exp.Expr]]] = []
        self.depth: dict[str, int] = {}  # "fact:NAME" or "rule:NAME" -> its layer
        self.joined: set[str] = set()  # the `codes:INPUT` columns made
        # Each optional input's bit in a Needs: (its word, the bit), in name order so that names come out sorted.
        optional = sorted(spec.name for spec in program.schema.inputs if not spec.required)
        self.bits = {name: (i // WORD, 1 << (i % WORD)) for i, name in enumerate(optional)}
        self.words = sorted({w for w, _ in self.bits.values()})
        self.guards_missing: dict[int, exp.Expr] = {}  # what the unknown guards of the row's bucket depend on
        # Who reads each fact's column ("rule:NAME", another fact's column, None: unknown), so that a fact is
        # computed only on rows in the scope of a rule that can read it (`_scoped`).
        self.reader: str | None = None
        self.readers: dict[str, set[str | None]] = {}

    @contextlib.contextmanager
    def reading(self, reader: str) -> Iterator[None]:
        """Compile what is read by `reader` (a rule, as "rule:NAME", or a fact's column)."""
        outer, self.reader = self.reader, reader
        try:
            yield
        finally:
            self.reader = outer

    def read(self, column: str) -> None:
        """The current reader reads a fact's column."""
        self.readers.setdefault(column, set()).add(self.reader)

    def put(self, level: int, columns: list[tuple[str, exp.Expr]]) -> None:
        """Add columns to a layer."""
        while len(self.layers) <= level:
            self.layers.append([])
        self.layers[level].extend(columns)

    def level(self, reads: Iterable[ir.Expr]) -> int:
        """The first layer that can compute something reading these expressions (layer 0 is the bucket's)."""
        level = 1
        for expr in reads:
            for node in ir.walk(expr):
                if isinstance(node, ir.Fact) and node.type.kind == "row":
                    # A named row is never a column: its fields are read through its lookup (`_attr`).
                    level = max(level, self.level([self.facts[node.name].expr]))
                elif isinstance(node, ir.Fact):
                    self.fact(node.name)
                    level = max(level, self.depth[f"fact:{node.name}"] + 1)
                elif isinstance(node, ir.Applies):
                    level = max(level, self.depth[f"rule:{node.rule}"] + 1)
        return level

    def fact(self, name: str) -> Value:
        """A fact's value: its column, computed (with those it reads) the first time it is read."""
        column = self.fact_column(name)
        self.read(column)
        found = self.fact_values.get(name)
        if found is not None:
            return found
        fact = self.facts[name]
        with self.reading(column):
            level = self.level([fact.expr])
            value = self.compile(fact.expr, {})
        columns = [(column, value.sql)]
        unknown: exp.Expr | None = None
        if value.unknown is not None:
            if fact.type.optional:
                columns.append((column + ":unknown", value.unknown))
                unknown = _col(column + ":unknown")
            else:
                unknown = _is_null(_col(column))
        error: exp.Expr | None = None
        if value.error is not None:
            columns.append((column + ":error", _is_true(value.error)))
            error = _col(column + ":error")
        self.depth[f"fact:{name}"] = level
        self.put(level, columns)
        needs = _kept_needs(Value(_col(column), unknown, value.needs), column + ":needs", level, self)
        found = self.fact_values[name] = Value(_col(column), unknown, needs, error)
        return found

    # Facts and verdicts are columns once computed; these names are where they live.
    @staticmethod
    def fact_column(name: str) -> str:
        return f"fact:{name}"

    @staticmethod
    def verdict_column(name: str) -> str:
        return f"applies:{name}"

    def compile(self, expr: ir.Expr, env: Mapping[str, str]) -> Value:
        """Compile one expression; `env` maps quantifier variables to lambda parameters."""
        match expr:
            case ir.Const():
                return Value(literal(expr.value))
            case ir.Input():
                if expr.name in self.required:
                    return Value(_col(expr.name))
                w, bit = self.bits[expr.name]
                needs = Needs(frozenset({expr.name}), {w: exp.Literal.number(bit)}, guarded=False)
                return Value(_col(expr.name), _is_null(_col(expr.name)), needs)
            case ir.Fact():
                return self.fact(expr.name)
            case ir.Var():
                if expr.name not in env:
                    raise SqlBackendError(f"'{expr.name}' has no SQL form outside a rationale")
                return Value(exp.column(env[expr.name]))
            case ir.Attr():
                return self._attr(expr, env)
            case ir.Lookup():
                if expr.type.optional:
                    found = self._lookup_found(expr, env)
                    return Value(_case([(found.sql, TRUE)]), found.unknown, found.needs, found.error)
                raise SqlBackendError(f"a row of table '{expr.table}' as a value is not supported by the SQL "
                                      "backend (read one of its fields)")
            case ir.Not():
                inner = self.compile(expr.operand, env)
                return Value(_not(inner.sql), inner.unknown, inner.needs, inner.error)
            case ir.And() | ir.Or():
                return self._connective(expr, env)
            case ir.Compare():
                return self._compare(expr, env)
            case ir.Member():
                return self._member(expr, env)
            case ir.Exists():
                inner = self.compile(expr.operand, env)
                value = _not_null(inner.sql)
                if inner.unknown is not None:
                    value = _case([(inner.unknown, NULL.copy())], value)
                return Value(value, inner.unknown and _is_null(value), inner.needs, inner.error)
            case ir.Arith():
                return self._arith(expr, env)
            case ir.Div():
                return self._divide(expr, env)
            case ir.Call():
                return self._call(expr, env)
            case ir.Quant():
                return self._quantifier(expr, env)
            case ir.SetOf():
                items = [self.compile(i, env) for i in expr.items]
                return self._strict(exp.Array(expressions=[i.sql for i in items]), items, optional=False)
            case ir.Applies():
                return self._applies(expr.rule)
            case _:
                assert_never(expr)

    def _strict(self, sql: exp.Expr, children: Sequence[Value], *, optional: bool,
                error: exp.Expr | None = None, propagates: bool = False) -> Value:
        """A value unknown when any operand is (the runtime's strict operations); `error` adds its own failure.

        `propagates`: the SQL operation is NULL when an operand is, so an unknown
        operand that is NULL needs no CASE around it.
        """
        unknown = _or(*(c.unknown for c in children))
        nulls = propagates and all(c.nulls for c in children if c.unknown is not None)
        if unknown is not None and not optional and not nulls:
            sql = _case([(unknown, NULL.copy())], sql)
            nulls = True
        own = None
        if error is not None:
            own = _and(_not(unknown), error) if unknown is not None else error
        return Value(sql, unknown, _join_needs(children, strict=True), _or(*(c.error for c in children), own), nulls)

    def _none_in(self, children: Sequence[tuple[Value, Type]]) -> exp.Expr | None:
        """Some operand is `none` (a RuleError for arithmetic, ordering, a field): only optional types may be."""
        return _or(*(_is_null(v.sql) for v, t in children if t.optional))

    def _attr(self, expr: ir.Attr, env: Mapping[str, str]) -> Value:
        obj_expr = expr.obj
        if isinstance(obj_expr, ir.Fact) and obj_expr.type.kind == "row":
            # A named row (`fact course: table = table[keys]`): its field is read as the lookup's field.
            expr = attrs.evolve(expr, obj=self.facts[obj_expr.name].expr)
        if isinstance(expr.obj, ir.Lookup):
            return self._lookup_field(expr.obj, expr.field, env, expr.type.optional)
        obj = self.compile(expr.obj, env)
        if isinstance(obj.sql, exp.Column) and not obj.sql.table:
            sql: exp.Expr = exp.Column(this=exp.to_identifier(expr.field), table=obj.sql.this)
        else:
            sql = exp.Dot(this=_paren(obj.sql), expression=exp.to_identifier(expr.field))
        none = self._none_in([(obj, expr.obj.type)])
        return self._strict(sql, [obj], optional=expr.type.optional, error=none, propagates=True)

    def _lookup_keys(self, lookup: ir.Lookup, env: Mapping[str, str]) -> tuple[list[Value], ir.TableInfo]:
        return [self.compile(k, env) for k in lookup.keys], self.tables[lookup.table]

    def _row_match(self, keys: Sequence[Value], row: tuple[Any, ...]) -> exp.Expr:
        return _and(*(exp.EQ(this=k.sql, expression=literal(v)) for k, v in zip(keys, row)))

    def _lookup_field(self, lookup: ir.Lookup, field: str, env: Mapping[str, str], expr_optional: bool) -> Value:
        """`table[keys].field` (runtime.Table.lookup, then attr): a CASE over the table's rows."""
        keys, table = self._lookup_keys(lookup, env)
        if field in table.key_names:
            position = table.key_names.index(field)
            ifs = [(self._row_match(keys, key), literal(key[position])) for key, _ in table.rows]
            default = None
        else:
            position = table.value_names.index(field)
            default = literal(table.otherwise[position]) if table.otherwise is not None else None
            # A row giving what `otherwise` gives needs no branch (its key is the only one of its kind): the
            # CASE tests only the rows that differ, on every row (most postsurgical periods are the default's).
            once = Counter(key for key, _ in table.rows)
            ifs = [(self._row_match(keys, key), literal(values[position])) for key, values in table.rows
                   if default is None or once[key] > 1 or literal(values[position]) != default]
        found = self._lookup_found(lookup, env) if table.otherwise is None else None
        # Reading a field of no row (no match, no `otherwise`) is reading a field of none.
        error = _not(found.sql) if found is not None else None
        return self._strict(_case(ifs, default), keys, optional=expr_optional, error=error)

    def _lookup_found(self, lookup: ir.Lookup, env: Mapping[str, str]) -> Value:
        """Whether `table[keys]` is a row (not none)."""
        keys, table = self._lookup_keys(lookup, env)
        if table.otherwise is not None:
            return self._strict(TRUE.copy(), keys, optional=False)
        matches = [self._row_match(keys, key) for key, _ in table.rows]
        return self._strict(_or(*matches) or FALSE.copy(), keys, optional=False)

    def _connective(self, expr: ir.And | ir.Or, env: Mapping[str, str]) -> Value:
        """Three-valued `and`/`or`, left first, the right side skipped when the left decides (its errors too)."""
        left = self.compile(expr.left, env)
        right = self.compile(expr.right, env)
        is_and = isinstance(expr, ir.And)
        sql: exp.Expr = (exp.And if is_and else exp.Or)(this=_paren(left.sql), expression=_paren(right.sql))
        unknown = None
        if left.unknown is not None or right.unknown is not None:
            unknown = _is_null(sql)
        needs = _join_needs([left, right], strict=False)
        decides = _not_false(left.sql) if is_and else _not(_is_true(left.sql))
        error = _or(left.error, _and(decides, right.error) if right.error is not None else None)
        return Value(sql, unknown, needs, error)

    def _compare(self, expr: ir.Compare, env: Mapping[str, str]) -> Value:
        left = self.compile(expr.left, env)
        right = self.compile(expr.right, env)
        optional = expr.left.type.optional or expr.right.type.optional
        ops: dict[str, type[exp.Binary]] = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT,
                                            ">=": exp.GTE}
        error = None
        if optional and expr.op in ("=", "!="):
            # none equals none (runtime.compare): a null-safe comparison.
            sql: exp.Expr = exp.NullSafeEQ(this=left.sql, expression=right.sql)
            if expr.op == "!=":
                sql = _not(sql)
        else:
            sql = ops[expr.op](this=left.sql, expression=right.sql)
            error = self._none_in([(left, expr.left.type), (right, expr.right.type)])
            return self._strict(sql, [left, right], optional=False, error=error, propagates=True)
        return self._strict(sql, [left, right], optional=False, error=error)

    def _member(self, expr: ir.Member, env: Mapping[str, str]) -> Value:
        collection = expr.collection
        if (isinstance(expr.item, ir.Const) and isinstance(collection, ir.Fact)
                and isinstance(self.facts[collection.name].expr, ir.Call)
                and self.facts[collection.name].expr.func == "conditions_of"):  # type: ignore[union-attr]
            found = self._condition_column(collection.name, str(expr.item.value))
            if expr.negated:
                found = Value(_not(found.sql), found.unknown, found.needs, found.error)
            return found
        item = self.compile(expr.item, env)
        if isinstance(collection, ir.Const) and isinstance(collection.value, frozenset | tuple):
            members = [literal(v) for v in sorted(collection.value, key=repr)]
            sql: exp.Expr = exp.In(this=item.sql, expressions=members) if members else FALSE.copy()
            container = [item]
        else:
            within = self.compile(collection, env)
            sql = exp.ArrayContains(this=within.sql, expression=item.sql)
            container = [item, within]
        if expr.negated:
            sql = _not(sql)
        error = self._none_in([(container[-1], collection.type)]) if len(container) > 1 else None
        return self._strict(sql, container, optional=False, error=error)

    def _code_match(self, codeset: str, code: exp.Expr) -> exp.Expr:
        """A code in a code set: exact codes by `IN`, `*` patterns by `LIKE`."""
        patterns = self.codesets[codeset]
        exact = [exp.Literal.string(p) for p in patterns if not p.endswith("*")]
        terms: list[exp.Expr] = []
        if exact:
            terms.append(exp.In(this=code, expressions=exact) if len(exact) > 1 else exp.EQ(this=code,
                                                                                            expression=exact[0]))
        terms.extend(exp.Like(this=code.copy(), expression=exp.Literal.string(p[:-1] + "%"))
                     for p in patterns if p.endswith("*"))
        return _or(*terms) or FALSE.copy()

    def _codes_match(self, column: str, codeset: str) -> exp.Expr:
        """Some code of a list input is in a code set: `LIKE` on the codes joined once per row (`,A,B,`).

        One string per row and a few `LIKE`s are much cheaper than a lambda over the
        list for every code set a guard names; codes never hold a comma.
        """
        joined = f"codes:{column}"
        if joined not in self.joined:
            self.joined.add(joined)
            comma = exp.Literal.string(",")
            text = exp.DPipe(this=exp.DPipe(this=comma, expression=exp.ArrayToString(
                this=_col(column), expression=comma.copy())), expression=comma.copy())
            self.put(0, [(joined, text)])
        patterns = [f"%,{p[:-1]}%" if p.endswith("*") else f"%,{p},%" for p in self.codesets[codeset]]
        return _or(*(exp.Like(this=_col(joined), expression=exp.Literal.string(p)) for p in patterns)) or FALSE.copy()

    def _condition_column(self, fact: str, name: str) -> Value:
        """`name in FACT` for a fact that is `conditions_of(...)`: a column beside the fact's, computed once a row
        however many guards ask (the code set's `LIKE`s are the costly part)."""
        column = f"{self.fact_column(fact)}:has:{name}"
        self.read(column)
        found = self.condition_values.get(column)
        if found is None:
            call = self.facts[fact].expr
            assert isinstance(call, ir.Call)
            with self.reading(column):
                self.fact(fact)  # its layer is where the column goes: its readers come after it
                value = self._has_condition(call, name, {})  # a fact reads no quantifier's variable
            self.put(self.depth[f"fact:{fact}"], [(column, value.sql)])
            found = self.condition_values[column] = Value(_col(column), value.unknown, value.needs, value.error)
        return found

    def _has_condition(self, call: ir.Call, name: str, env: Mapping[str, str]) -> Value:
        """`name in conditions_of(condition, diagnoses)` without building the set (runtime.conditions_of)."""
        condition = self.compile(call.args[0], env)
        diagnoses = self.compile(call.args[1], env)
        word = exp.EQ(this=condition.sql, expression=exp.Literal.string(name))
        terms: list[exp.Expr] = [_is_true(word)]
        if name in self.codesets:
            if isinstance(call.args[1], ir.Input):
                terms.append(self._codes_match(call.args[1].name, name))
            else:
                terms.append(_any_item(diagnoses.sql, "d", self._code_match(name, exp.column("d"))))
        sql = _or(*terms) or FALSE.copy()
        # Unknown while the diagnoses are; an unknown condition word alone is not (runtime.conditions_of).
        return self._strict(sql, [diagnoses], optional=False, error=_or(condition.error))

    def _conditions(self, call: ir.Call, env: Mapping[str, str]) -> Value:
        """The set `conditions_of(condition, diagnoses)` as a sorted list (runtime.conditions_of)."""
        condition = self.compile(call.args[0], env)
        diagnoses = self.compile(call.args[1], env)
        names = sorted(self.codesets)
        items = [_case([(_any_item(diagnoses.sql, "d", self._code_match(n, exp.column("d"))),
                         exp.Literal.string(n))]) for n in names]
        items.append(condition.sql)
        array = exp.ArraySort(this=exp.ArrayDistinct(this=_filter(_array(items, "VARCHAR"), "n",
                                                                   _not_null(exp.column("n")))))
        return self._strict(array, [diagnoses], optional=False, error=condition.error)

    def _arith(self, expr: ir.Arith, env: Mapping[str, str]) -> Value:
        left = self.compile(expr.left, env)
        right = self.compile(expr.right, env)
        if expr.right.type.kind == "duration":
            sql = _add_duration(left.sql, expr.right, right.sql, -1 if expr.op == "-" else 1)
        else:
            ops: dict[str, type[exp.Binary]] = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}
            sql = ops[expr.op](this=_paren(left.sql), expression=_paren(right.sql))
        error = self._none_in([(left, expr.left.type), (right, expr.right.type)])
        return self._strict(sql, [left, right], optional=False, error=error, propagates=True)

    def _divide(self, expr: ir.Div, env: Mapping[str, str]) -> Value:
        left = self.compile(expr.left, env)
        right = self.compile(expr.right, env)
        zero = exp.EQ(this=right.sql, expression=exp.Literal.number(0))
        if expr.rounding == "down":
            quotient = _floor_div(left.sql, right.sql)
        else:
            quotient = exp.Neg(this=_paren(_floor_div(exp.Neg(this=_paren(left.sql)), right.sql)))
        # Guarded: a warehouse in ANSI mode fails the whole query on a division by zero.
        sql = _case([(_is_true(zero.copy()), NULL.copy())], quotient)
        error = _or(self._none_in([(left, expr.left.type), (right, expr.right.type)]), _is_true(zero))
        return self._strict(sql, [left, right], optional=False, error=error, propagates=True)

    def _call(self, expr: ir.Call, env: Mapping[str, str]) -> Value:
        if expr.func == "conditions_of":
            return self._conditions(expr, env)
        if expr.func == "units_within":
            return self._units_within(expr, env)
        if expr.func.endswith("_between"):
            raise SqlBackendError(f"{expr.func}() has no SQL form yet; --engine python decides with it")
        args = [self.compile(a, env) for a in expr.args]
        sql = (exp.Least if expr.func == "min" else exp.Greatest)(this=args[0].sql,
                                                                   expressions=[a.sql for a in args[1:]])
        error = self._none_in([(v, a.type) for v, a in zip(args, expr.args)])
        return self._strict(sql, args, optional=False, error=error)

    def _units_within(self, expr: ir.Call, env: Mapping[str, str]) -> Value:
        """The prior units a limit's period counts (runtime.units_within): the dates within it, or the count."""
        dates_expr, request_expr, period_expr, counted_expr = expr.args
        dates = self.compile(dates_expr, env)
        counted = self.compile(counted_expr, env)
        start = self.compile(ir.Arith("-", request_expr, period_expr, request_expr.type), env)
        request = self.compile(request_expr, env)
        within = _and(exp.GT(this=exp.column("d"), expression=start.sql),
                      exp.LTE(this=exp.column("d"), expression=request.sql))
        undated = _is_null(dates.sql)
        sql = _case([(undated, counted.sql)], _size(_filter(dates.sql.copy(), "d", within)))
        # Undated (absent) prior units: the count given decides, unknown as it may be.
        unknown = _and(undated.copy(), counted.unknown) if counted.unknown is not None else None
        needs = attrs.evolve(counted.needs, guarded=False)  # read only where undated and unknown
        return Value(sql, unknown, needs, _or(counted.error, start.error))

    def _quantifier(self, expr: ir.Quant, env: Mapping[str, str]) -> Value:
        """`any`, `all`, `count`, `latest` over a list (runtime.quantify): lambdas over the array."""
        items = self.compile(expr.collection, env)
        var = f"q_{expr.var}"
        condition = self.compile(expr.condition, {**env, expr.var: var})
        array = items.sql
        holds = _any_item(array, var, _is_true(condition.sql))
        unknown_items = (_any_item(array.copy(), var, _is_null(condition.sql)) if condition.unknown is not None
                         else None)
        fails = _any_item(array.copy(), var, _not(_not_false(condition.sql)))
        match expr.kind:
            case "any":
                sql = _case([(holds, TRUE.copy())] + ([(unknown_items, NULL.copy())] if unknown_items else []),
                            FALSE.copy())
                own_unknown = _and(_not(holds.copy()), unknown_items) if unknown_items is not None else None
            case "all":
                sql = _case([(fails, FALSE.copy())] + ([(unknown_items, NULL.copy())] if unknown_items else []),
                            TRUE.copy())
                own_unknown = _and(_not(fails.copy()), unknown_items) if unknown_items is not None else None
            case "count":
                sql = _size(_filter(array.copy(), var, _is_true(condition.sql)))
                own_unknown = unknown_items
            case "latest":
                matches = _filter(array.copy(), var, _is_true(condition.sql))
                latest = exp.ArrayMax(this=exp.Transform(this=matches.copy(), expression=_lambda(
                    "l", exp.Column(this=exp.to_identifier("date"), table=exp.to_identifier("l")))))
                first = _filter(matches.copy(), "l", exp.EQ(
                    this=exp.Column(this=exp.to_identifier("date"), table=exp.to_identifier("l")), expression=latest))
                pick = exp.Bracket(this=first, expressions=[exp.Literal.number(0)], offset=0, safe=True)
                sql = _case([(exp.EQ(this=_size(matches.copy()), expression=exp.Literal.number(0)), NULL.copy())],
                            pick)
                own_unknown = unknown_items
            case _:
                raise SqlBackendError(f"the quantifier '{expr.kind}' has no SQL form")
        # An item's Needs may read the item: each input it may name is tested over the items, one bit each.
        words: dict[int, list[exp.Expr]] = {}
        for name in sorted(condition.needs.names):
            w, bit = self.bits[name]
            named = _has_bits(condition.needs.words[w].copy(), bit)
            assert condition.unknown is not None
            some = _any_item(array.copy(), var, _and(_is_null(condition.sql), _is_true(named)))
            words.setdefault(w, []).append(_case([(some, exp.Literal.number(bit))], ZERO.copy()))
        needs = Needs(condition.needs.names, {w: _bitor(found) for w, found in sorted(words.items())}, False)
        inner = Value(sql, own_unknown, needs, None)
        error = None
        if condition.error is not None:
            error = _any_item(array.copy(), var, condition.error)
        none = self._none_in([(items, expr.collection.type)])
        if items.unknown is not None:
            sql = _case([(items.unknown, NULL.copy())], sql)
            unknown = _or(items.unknown, own_unknown)
            needs = _pick_needs([(items.unknown, items.needs), (TRUE.copy(), needs)], guarded=False)
            error = _and(_not(items.unknown), error) if error is not None else None
            inner = Value(sql, unknown, needs, None)
        return Value(inner.sql, inner.unknown, inner.needs, _or(items.error, none, error))

    def in_scope(self, rule: str) -> exp.Expr:
        """The row's (service, body region) is one `rule` covers: its bucket is one of the rule's."""
        return _in_buckets(self.bucket_of.get(rule, []))

    def _applies(self, rule: str) -> Value:
        """`unless RULE` (engine.Facts.applies): its verdict, which is false outside the rule's scope."""
        return self.verdicts[rule]


def _in_buckets(buckets: Iterable[int]) -> exp.Expr:
    """The row's bucket is one of these (false for none)."""
    found = [exp.Literal.number(i) for i in buckets]
    return exp.In(this=_col("bucket"), expressions=found) if found else FALSE.copy()


def _scope_predicate(pairs: Iterable[tuple[str, str]]) -> exp.Expr:
    """A (service, body region) among `pairs`: one `IN` of regions per service."""
    regions: dict[str, list[str]] = {}
    for service, region in pairs:
        regions.setdefault(service, []).append(region)
    terms = [
        _and(exp.EQ(this=_col("service"), expression=exp.Literal.string(service)),
             exp.In(this=_col("body_region"), expression=None,
                    expressions=[exp.Literal.string(r) for r in sorted(found)]))
        for service, found in sorted(regions.items())
    ]
    return _or(*terms) or FALSE.copy()


# --- the query ------------------------------------------------------------------------


def _program(schedule_or_program: Schedule | ir.Program) -> ir.Program:
    if isinstance(schedule_or_program, ir.Program):
        return schedule_or_program
    return schedule_or_program.program


@attrs.frozen
class _Allowance:
    """A rule's allowance (engine.Allowance) in SQL: the units allowed, unknown, its dependencies, its failure."""

    allowed: exp.Expr
    unknown: exp.Expr | None
    needs: Needs  # read only where `unknown` holds
    error: exp.Expr | None


@attrs.frozen
class _Caps:
    """What the caps conclude, read by the output columns (after `approved`)."""

    missing: exp.Expr  # some cap that may bind depends on unknown facts
    needs: Mapping[int, exp.Expr]  # the inputs those depend on: Needs words, guarded
    binding: Sequence[tuple[exp.Expr, str]]  # (binds, its name), in priority order
    error: exp.Expr  # the cap that failed, or NULL


def _allowance(compiler: _Compiler, rule: ir.RuleInfo) -> _Allowance:
    """Mirror of engine.Engine.allowance: how many more units a rule allows, or unknown, or a RuleError."""
    quantity = _col("quantity")
    action = rule.action
    match action:
        case ir.Certify():
            return _Allowance(quantity, None, NO_NEEDS, None)
        case ir.NonCertify():
            return _Allowance(exp.Literal.number(0), None, NO_NEEDS, None)
        case ir.Limit():
            amount = compiler.compile(action.amount, {})
            period = compiler.compile(action.period, {}) if action.period is not None else None
            prior = compiler.compile(action.counting, {})
            known = [amount, prior] + ([period] if period is not None else [])
            unknown = _or(*(v.unknown for v in known))
            none = compiler._none_in([(amount, action.amount.type), (prior, action.counting.type)])
            error = _or(*(v.error for v in known), _and(_not(unknown), none) if unknown is not None and none
                        is not None else none)
            left = exp.Sub(this=_paren(amount.sql), expression=_paren(prior.sql))
            allowed = _case([(exp.GT(this=amount.sql.copy(), expression=prior.sql.copy()), left)],
                            exp.Literal.number(0))
            return _Allowance(allowed, unknown, _join_needs(known, strict=True), error)
        case ir.Trial():
            ops = {name: compiler.compile(e, {}) if e is not None else None
                   for name, e in zip(("initial", "initial_period", "total", "total_period", "extension",
                                       "prior"), ir.operands(action))}
            initial, total, prior, extension = (ops["initial"], ops["total"], ops["prior"],  # type: ignore[assignment]
                                                ops["extension"])
            assert initial is not None and total is not None and prior is not None and extension is not None
            errors = [v.error for v in ops.values() if v is not None]
            none = compiler._none_in([(initial, action.initial.type), (total, action.total.type),
                                      (prior, action.counting.type)])
            # Steps in the engine's order: each (the case it takes, the Values it then needs to know).
            first = [initial, prior]
            first_unknown = _or(initial.unknown, prior.unknown)
            in_initial = exp.LT(this=prior.sql, expression=initial.sql)
            ip = ops["initial_period"]
            tp = ops["total_period"]
            steps: list[tuple[exp.Expr, list[Value], exp.Expr | None]] = []
            if first_unknown is not None:
                steps.append((first_unknown, first, None))
            steps.append((in_initial, [ip] if ip is not None else [],
                          exp.Sub(this=_paren(initial.sql.copy()), expression=_paren(prior.sql.copy()))))
            if extension.unknown is not None:
                steps.append((extension.unknown, [extension], None))
            rest = [v for v in (total, tp) if v is not None]
            beyond = exp.Sub(this=_paren(total.sql), expression=_paren(prior.sql.copy()))
            steps.append((_is_true(extension.sql),
                          rest, _case([(exp.GT(this=beyond, expression=exp.Literal.number(0)), beyond.copy())],
                                      exp.Literal.number(0))))
            allowed_ifs = []
            unknown_ifs = []
            step_needs = [_join_needs(needs, strict=True) for _, needs, _ in steps]
            for condition, needs, step_allowed in steps:
                step_unknown = _or(*(v.unknown for v in needs))
                unknown_ifs.append((condition, step_unknown or FALSE.copy()))
                if step_allowed is not None:
                    allowed_ifs.append((condition.copy(), step_allowed))
            unknown = _case(unknown_ifs, FALSE.copy())
            allowed_sql = _case(allowed_ifs, exp.Literal.number(0))
            # The first step whose case holds is the one taken: its needs are what the Unknown names.
            taken = _pick_needs([(c, n) for (c, _, _), n in zip(steps, step_needs)], guarded=True)
            error = _or(*errors, _and(_not(first_unknown), none) if first_unknown is not None and none
                        is not None else none)
            return _Allowance(allowed_sql, unknown, taken, error)
        case _:
            assert_never(action)


def _layers(compiler: _Compiler, program: ir.Program) -> list[list[tuple[str, exp.Expr]]]:
    """Rule verdicts and the facts they read as columns, in layers: each after the facts and verdicts it reads.

    Layer 0 holds the row's bucket; a fact is computed only if something reads it.
    """
    layers = compiler.layers
    for rule in program.rules:
        with compiler.reading(f"rule:{rule.name}"):
            verdict = _guard(compiler, rule)
            level = compiler.level([*rule.when, *rule.unless])
        column = compiler.verdict_column(rule.name)
        columns = [(column, verdict.sql)]
        error = None
        if verdict.error is not None:
            columns.append((column + ":error", _is_true(verdict.error)))
            error = _col(column + ":error")
        unknown = _is_null(_col(column)) if verdict.unknown is not None else None
        compiler.depth[f"rule:{rule.name}"] = level
        needs = _kept_needs(Value(_col(column), unknown, verdict.needs), f"needs:{rule.name}", level, compiler,
                            always=True)
        compiler.verdicts[rule.name] = Value(_col(column), unknown, needs, error)
        compiler.put(level, columns)
    return layers


def _kept_needs(value: Value, name: str, level: int, compiler: _Compiler, *, always: bool = False) -> Needs:
    """Keep what an unknown fact or verdict depends on in columns (a layer later), guarded, one per word.

    Without them every reader would repeat the whole dependency test; `always`
    makes them even when they are trivial (verdicts: the settlement reads them by name).
    """
    needs = value.needs
    if value.unknown is None or (not always and all(isinstance(w, exp.Literal) for w in needs.words.values())):
        return needs
    columns = {w: _word_column(name, w) for w in needs.words}
    compiler.put(level + 1, [(columns[w], word) for w, word in _guarded(value).items()])
    return Needs(needs.names, {w: _col(column) for w, column in columns.items()}, True)


def _word_column(name: str, word: int) -> str:
    """The column holding one word of a kept Needs."""
    return name if word == 0 else f"{name}:{word}"


def _guard(compiler: _Compiler, rule: ir.RuleInfo) -> Value:
    """A rule's verdict (engine.Engine.check with the interpreter's guard): not in force is False."""
    clauses = [(compiler.compile(c, {}), True) for c in rule.when]
    clauses += [(compiler.compile(c, {}), False) for c in rule.unless]
    terms = [value.sql if when else _not(value.sql) for value, when in clauses]
    sql = _and(*(_paren(t) for t in terms)) if terms else TRUE.copy()
    # A clause is evaluated only while no earlier one has ruled the rule out.
    errors = []
    decided: list[exp.Expr] = []
    for (value, _when), term in zip(clauses, terms):
        if value.error is not None:
            errors.append(_and(*[_not_false(d.copy()) for d in decided], value.error))
        decided.append(term)
    meta = {g.name: g for g in compiler.program.guidelines}[rule.guideline]
    window: list[exp.Expr] = []
    if meta.in_force_from is not None:
        window.append(exp.LT(this=_col("request_date"), expression=literal(meta.in_force_from)))
    if meta.in_force_to is not None:
        window.append(exp.GT(this=_col("request_date"), expression=literal(meta.in_force_to)))
    # Outside its scope a rule does not apply (engine.Facts.applies), and its guard is not evaluated.
    out_of_force = _or(_not(_is_true(compiler.in_scope(rule.name))), *window)
    error = _or(*errors)
    if out_of_force is not None:
        sql = _case([(out_of_force, FALSE.copy())], sql)
        error = _and(_not(out_of_force.copy()), error) if error is not None else None
    values = [v for v, _ in clauses]
    unknown = _is_null(sql) if any(v.unknown is not None for v in values) else None
    return Value(sql, unknown, _join_needs(values, strict=False), error)


def query(schedule_or_program: Schedule | ir.Program, *, source: str = "cases", keep: Sequence[str] = ()
          ) -> exp.Expr:
    """The query that decides every row of `source` (see the module's docstring for its columns).

    `keep`: columns of `source` passed through untouched, after the decision's (a
    caller's own, so that its rows need not be joined back; their names must not be
    an input's or start like the query's own: `fact:`, `applies:`, `needs:`).
    """
    program = _program(schedule_or_program)
    compiler = _Compiler(program)
    # The dispatch index, as engine.Engine builds it: each rule under every (service, region) it covers.
    scopes: dict[str, list[tuple[str, str]]] = {r.name: [] for r in program.rules}
    filed: dict[tuple[str, str], tuple[list[ir.RuleInfo], list[ir.RuleInfo]]] = {}
    for rule in program.rules:
        for service in rule.services:
            for region in rule.regions:
                rules, caps = filed.setdefault((service, region), ([], []))
                (caps if rule.kind == "cap" else rules).append(rule)
                scopes[rule.name].append((service, region))
    compiler.scopes = {name: tuple(pairs) for name, pairs in scopes.items()}
    # Buckets with the same rules and caps share one branch of the CASE.
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[str, str]]] = {}
    for pair, (rules, caps) in filed.items():
        groups.setdefault((tuple(r.name for r in rules), tuple(c.name for c in caps)), []).append(pair)
    buckets = sorted(groups.items(), key=lambda item: item[1][0])
    compiler.bucket_keys = [names for names, _ in buckets]
    for i, (names, _pairs) in enumerate(buckets):
        for name in (*names[0], *names[1]):
            compiler.bucket_of.setdefault(name, []).append(i)
    compiler.put(0, [("bucket", _case([(_scope_predicate(pairs), exp.Literal.number(i))
                                       for i, (_, pairs) in enumerate(buckets)]))])
    layers = _layers(compiler, program)
    settle = _settle_columns(compiler, program, buckets)
    decision, final = _output(compiler, program)
    table = source_table(source)
    ctes: list[tuple[str, exp.Expr]] = []
    for index, columns in enumerate(_read_only(final, _scoped(compiler, [*layers, *settle, decision]))):
        if not columns:
            continue
        select = exp.select(exp.Star(), *(exp.alias_(sql, alias, quoted=True, copy=False) for alias, sql in columns))
        select = select.from_(table.copy() if not ctes else exp.to_table(ctes[-1][0]))
        ctes.append((f"layer{index}", select))
    result = exp.select(*final, *(_col(name) for name in keep)).from_(exp.to_table(ctes[-1][0]))
    for name, layer in ctes:
        result = result.with_(name, as_=layer, copy=False)
    return result


def _scoped(compiler: _Compiler, layers: Sequence[list[tuple[str, exp.Expr]]]
            ) -> list[list[tuple[str, exp.Expr]]]:
    """The layers with each fact's columns computed only in the buckets of the rules that read it (directly or
    through other facts), NULL elsewhere, where nothing reads them: a TENS fact is not computed for a row of
    physical therapy."""
    every = len(compiler.bucket_keys)
    scopes: dict[str, frozenset[int] | None] = {}

    def scope(column: str) -> frozenset[int] | None:
        """The buckets in which `column` is read, None for all (or where it is not known who reads it)."""
        if column not in scopes:
            scopes[column] = None  # a cycle is impossible (facts are ordered); this only guards recursion
            found: set[int] = set()
            for reader in compiler.readers.get(column, {None}):
                if reader is None:
                    return None
                within = (frozenset(compiler.bucket_of.get(reader.removeprefix("rule:"), ()))
                          if reader.startswith("rule:") else scope(reader))
                if within is None:
                    return None
                found |= within
            scopes[column] = frozenset(found) if len(found) < every else None
        return scopes[column]

    def owner(alias: str) -> str | None:
        """The fact column whose scope a column shares: itself, or the fact whose unknown, error or needs it is."""
        if alias in compiler.readers:
            return alias
        if alias.startswith("fact:"):
            base = ":".join(alias.split(":", 2)[:2])
            return base if base in compiler.readers else None
        return None

    scoped: list[list[tuple[str, exp.Expr]]] = []
    for columns in layers:
        out = []
        for alias, sql in columns:
            fact = owner(alias)
            within = scope(fact) if fact is not None else None
            if within is not None:
                sql = _case([(_in_buckets(sorted(within)), sql)])
            out.append((alias, sql))
        scoped.append(out)
    return scoped


def _read_only(final: Sequence[exp.Expr], layers: Sequence[list[tuple[str, exp.Expr]]]
               ) -> list[list[tuple[str, exp.Expr]]]:
    """The layers without the columns nothing reads: a set fact compiled only for its layer (its members are
    columns of their own), a word no bit of which is tested. DuckDB prunes such columns itself; the query's
    text is shorter without them, for every dialect and for a reader of the generated SQL."""
    read = {column.name for expr in final for column in expr.find_all(exp.Column)}
    kept: list[list[tuple[str, exp.Expr]]] = []
    for columns in reversed(layers):
        used = [(alias, sql) for alias, sql in columns if alias in read]
        read.update(column.name for _, sql in used for column in sql.find_all(exp.Column))
        kept.append(used)
    return kept[::-1]


def _bucket_case(buckets: Sequence[tuple[Any, list[tuple[str, str]]]],
                 branch: Any, default: exp.Expr | None = None) -> exp.Expr:
    """A CASE on the row's bucket (its index), one branch per group of buckets."""
    ifs = []
    for index, (key, _pairs) in enumerate(buckets):
        then = branch(key)
        if then is not None:
            ifs.append((exp.EQ(this=_col("bucket"), expression=exp.Literal.number(index)), then))
    return _case(ifs, default)


def _settle_columns(compiler: _Compiler, program: ir.Program,
                    buckets: Sequence[tuple[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[str, str]]]]
                    ) -> list[list[tuple[str, exp.Expr]]]:
    """Mirror of engine.Engine.settle: the bucket, the governing rule, its allowance, the caps, per row.

    The first rule of the bucket (in priority order) whose verdict is True governs;
    with none, an unknown verdict means needs_information. The governing rule's
    allowance (`_allowance`), then the caps (`_cap_columns`).
    """
    index = {rule.name: i for i, rule in enumerate(program.rules)}
    verdicts = compiler.verdicts

    def governing(key: tuple[tuple[str, ...], tuple[str, ...]]) -> exp.Expr | None:
        ifs = [(_is_true(verdicts[name].sql), exp.Literal.number(index[name])) for name in key[0]]
        return _case(ifs) if ifs else None

    def guard_error(key: tuple[tuple[str, ...], tuple[str, ...]]) -> exp.Expr | None:
        # The guards run in order until one holds: the first that fails is the error.
        ifs: list[tuple[exp.Expr, exp.Expr]] = []
        for name in key[0]:
            verdict = verdicts[name]
            if verdict.error is not None:
                ifs.append((verdict.error, exp.Literal.string(name)))
            ifs.append((_is_true(verdict.sql), NULL.copy()))
        while ifs and ifs[-1][1] == NULL:  # after the last guard that can fail, a guard holding changes nothing
            ifs.pop()
        return _case(ifs) if ifs else None

    def unknown_guards(key: tuple[tuple[str, ...], tuple[str, ...]]) -> exp.Expr | None:
        terms = [verdicts[name].unknown for name in key[0] if verdicts[name].unknown is not None]
        return _or(*terms)

    def depends(key: tuple[tuple[str, ...], tuple[str, ...]], word: int) -> exp.Expr | None:
        # The verdicts' kept Needs are guarded: ORing them names what the unknown ones depend on.
        words = [verdicts[r].needs.words[word] for r in key[0]
                 if verdicts[r].unknown is not None and word in verdicts[r].needs.words]
        return _bitor(words) if words else None

    compiler.guards_missing = {w: _bucket_case(buckets, lambda key, w=w: depends(key, w), ZERO.copy())
                               for w in compiler.words}
    second = [
        ("governing", _bucket_case(buckets, governing)),
        ("guard_error", _bucket_case(buckets, guard_error)),
        ("guards_unknown", _is_true(_bucket_case(buckets, unknown_guards))),
    ]
    allowances = {}
    for rule in program.rules:
        with compiler.reading(f"rule:{rule.name}"):
            allowances[rule.name] = _allowance(compiler, rule)
    compiler.allowances = allowances

    def by_rule(pick: Any, default: exp.Expr | None = None) -> exp.Expr:
        ifs = [(exp.EQ(this=_col("governing"), expression=exp.Literal.number(index[r.name])),
                pick(r, allowances[r.name]))
               for r in program.rules if r.kind == "rule" and pick(r, allowances[r.name]) is not None]
        # A row no rule governs (most needs_information rows) leaves at once, not after a test per rule.
        return _case([(_is_null(_col("governing")), default.copy() if default is not None else NULL.copy())],
                     _case(ifs, default))

    third = [
        ("allowed", by_rule(lambda r, a: a.allowed)),
        ("allowance_unknown", _is_true(by_rule(lambda r, a: a.unknown))),
        ("allowance_error", by_rule(lambda r, a: _case([(a.error, exp.Literal.string(r.name))])
                                    if a.error is not None else None)),
    ]
    fourth = [
        ("approved0", _case([(exp.LT(this=_col("allowed"), expression=_col("quantity")), _col("allowed"))],
                            _col("quantity"))),
    ]
    fifth = _cap_columns(compiler, program)
    return [second, third, fourth, fifth]


def _cap_columns(compiler: _Compiler, program: ir.Program) -> list[tuple[str, exp.Expr]]:
    """Mirror of engine.Engine._apply_caps, without its passes: every cap that surely applies lowers `approved`.

    The engine's two passes reduce to: approved = the least of the governing
    allowance and each cap that surely applies with a known allowance below the
    request; such a cap that allows exactly that binds (and is cited); a cap whose
    verdict or allowance is unknown asks for its facts unless its allowance is
    known and above approved (or equal, and the cap might not apply).
    """
    caps = [r for r in program.rules if r.kind == "cap"]
    allowances = compiler.allowances
    quantity = _col("quantity")
    approved0 = _col("approved0")
    lowered: list[exp.Expr] = [approved0]
    binding: list[tuple[exp.Expr, str]] = []
    missing: list[exp.Expr] = []
    needs: dict[int, list[exp.Expr]] = {}
    errors: list[tuple[exp.Expr, exp.Expr]] = []
    capped = exp.GT(this=approved0.copy(), expression=exp.Literal.number(0))
    approved = _col("approved")
    for cap in caps:
        verdict = compiler.verdicts[cap.name]
        allowance = allowances[cap.name]
        active = compiler.in_scope(cap.name)
        known = _not(allowance.unknown) if allowance.unknown is not None else TRUE.copy()
        sure = _and(active, _is_true(verdict.sql), known)
        lowered.append(_case([(sure, allowance.allowed)], quantity.copy()))
        below = exp.LT(this=allowance.allowed.copy(), expression=quantity.copy())
        binding.append((_and(capped.copy(), sure.copy(), below,
                             exp.EQ(this=allowance.allowed.copy(), expression=approved.copy())), cap.name))
        if verdict.error is not None:
            errors.append((_and(active.copy(), verdict.error), exp.Literal.string(cap.name)))
        if allowance.error is not None:
            errors.append((_and(active.copy(), _not_false(verdict.sql), allowance.error), exp.Literal.string(cap.name)))
        if verdict.unknown is None and allowance.unknown is None:
            continue
        loose = _and(known.copy(), _or(exp.GT(this=allowance.allowed.copy(), expression=approved.copy()),
                                       _and(exp.EQ(this=allowance.allowed.copy(), expression=approved.copy()),
                                            _not(_is_true(verdict.sql)))) or FALSE.copy())
        doubtful = _and(active.copy(), capped.copy(), _not_false(verdict.sql),
                        _or(verdict.unknown, allowance.unknown) or FALSE.copy(), _not(loose))
        missing.append(doubtful)
        parts = [verdict] + ([Value(allowance.allowed, allowance.unknown, allowance.needs)]
                             if allowance.unknown is not None else [])
        for w, word in _join_needs(parts, strict=True).words.items():
            needs.setdefault(w, []).append(_case([(_is_true(doubtful.copy()), word)], ZERO.copy()))
    compiler.caps = _Caps(
        missing=_is_true(_or(*missing) or FALSE.copy()),
        needs={w: _bitor(words) for w, words in needs.items()},
        binding=binding,
        error=_case([(_and(capped.copy(), _is_true(c)), n) for c, n in errors]),
    )
    return [("approved", exp.Least(this=lowered[0], expressions=lowered[1:]) if len(lowered) > 1 else approved0)]


def _output(compiler: _Compiler, program: ir.Program
            ) -> tuple[list[tuple[str, exp.Expr]], list[exp.Expr]]:
    """The result columns (engine.Engine.decide): outcome from approved and requested, rules, unit, missing."""
    caps = compiler.caps
    assert caps is not None
    index = {rule.name: i for i, rule in enumerate(program.rules)}
    governing = _col("governing")
    has_rule = _not_null(governing)
    quantity = _col("quantity")
    approved = _col("approved")
    error = exp.Coalesce(this=_col("guard_error"), expressions=[
        _case([(has_rule, exp.Coalesce(this=_col("allowance_error"), expressions=[
            _case([(_not(_col("allowance_unknown")), caps.error)])]))])])
    outcome = _case([
        (_not_null(error), NULL.copy()),
        (_is_null(_col("bucket")), exp.Literal.string(Outcome.NOT_ADDRESSED.value)),
        (_is_null(governing.copy()), _case([(_col("guards_unknown"), exp.Literal.string(
            Outcome.NEEDS_INFORMATION.value))], exp.Literal.string(Outcome.NOT_ADDRESSED.value))),
        (_col("allowance_unknown"), exp.Literal.string(Outcome.NEEDS_INFORMATION.value)),
        (caps.missing, exp.Literal.string(Outcome.NEEDS_INFORMATION.value)),
        (exp.EQ(this=approved, expression=quantity), exp.Literal.string(Outcome.CERTIFY.value)),
        (exp.EQ(this=approved.copy(), expression=exp.Literal.number(0)), exp.Literal.string(Outcome.NON_CERTIFY.value)),
    ], exp.Literal.string(Outcome.MODIFY.value))
    decided = exp.In(this=_col("outcome"), expressions=[
        exp.Literal.string(o.value) for o in (Outcome.CERTIFY, Outcome.MODIFY, Outcome.NON_CERTIFY)])
    # By the governing rule's index (a cap never governs): one step a row, where a CASE tries every rule.
    governing_name = _nth([exp.Literal.string(r.name) if r.kind == "rule" else NULL.copy() for r in program.rules],
                          "governing")
    cited = _present([(c, n) for c, n in caps.binding], first=[_array([governing_name], "VARCHAR")])
    units = {r.name: r.action.unit for r in program.rules}
    rule_unit = _nth([exp.Literal.string(r.action.unit) for r in program.rules], "governing")
    bucket_units = _nth([exp.Literal.string(units[(key[0] or key[1])[0]] if key[0] or key[1] else "units")
                         for key in compiler.bucket_keys], "bucket")
    unit = _case([(has_rule.copy(), rule_unit)], exp.Coalesce(this=bucket_units, expressions=[
        exp.Literal.string("units")]))
    # The facts a needs_information row misses: from its guards, or its allowance, or its caps.
    # Each a word of Needs bits, kept in a column so that each input's test reads it rather than repeats it.
    unknown_allowances = [r for r in program.rules if r.kind == "rule" and compiler.allowances[r.name].unknown
                          is not None]
    words: list[tuple[str, exp.Expr]] = []
    for w in compiler.words:
        allowance_missing = _case([
            (exp.EQ(this=governing.copy(), expression=exp.Literal.number(index[r.name])),
             compiler.allowances[r.name].needs.words[w].copy())
            for r in unknown_allowances if w in compiler.allowances[r.name].needs.words], ZERO.copy())
        words.append((_word_column("missing", w), _case([
            (_is_null(governing.copy()), compiler.guards_missing[w]),
            (_col("allowance_unknown"), allowance_missing),
        ], caps.needs.get(w, ZERO).copy())))
    needs = _named(compiler.bits)
    is_needed = exp.EQ(this=_col("outcome"), expression=exp.Literal.string(Outcome.NEEDS_INFORMATION.value))
    return [("error", error), ("outcome", outcome), *words], [
        exp.alias_(_col("id"), "id", quoted=True),
        exp.alias_(_col("outcome"), "outcome", quoted=True),
        exp.alias_(exp.cast(quantity.copy(), exp.DataType.build("BIGINT")), "requested", quoted=True),
        exp.alias_(exp.cast(_case([(decided, approved.copy())],
                                  _case([(_is_null(_col("error")), exp.Literal.number(0))])),
                            exp.DataType.build("BIGINT")), "approved", quoted=True),
        exp.alias_(unit, "unit", quoted=True),
        exp.alias_(_case([(decided.copy(), cited)], _array([], "VARCHAR")), "rules", quoted=True),
        exp.alias_(_case([(_is_true(is_needed), needs)], _array([], "VARCHAR")), "missing", quoted=True),
        exp.alias_(_col("error"), "error", quoted=True),
    ]


# --- entry points ------------------------------------------------------------------------


def dialects() -> list[str]:
    """The dialects sqlglot can render the query in."""
    return sorted(d.value for d in sqlglot.Dialects if d.value)


def source_table(source: str) -> exp.Table:
    """The table (or view, `db.schema.name`) a query reads; SqlBackendError for a name that is not one.

    A part that is a reserved word (`order`, `select`, `user`) is quoted, so that it names the table in every
    dialect; a name of more than three parts, with an empty part or with a comment is not a table name.
    """
    problem = f"'{source}' is not a table name (give a name such as cases or warehouse.claims)"
    try:
        table = exp.to_table(source)
    except sqlglot.errors.SqlglotError:
        raise SqlBackendError(problem) from None
    parts = [table.args.get(key) for key in ("catalog", "db", "this")]
    present = [part for part in parts if part is not None and part != ""]
    if (table.comments or any(not isinstance(part, exp.Identifier) or not part.name for part in present)
            or any(part == "" for part in parts[parts.index(present[0]):])):
        raise SqlBackendError(problem)
    for part in present:
        if part.name.lower() in _RESERVED:
            part.set("quoted", True)
    return table


#: Words a table's name cannot be without quotes: the reserved words of DuckDB's parser, Postgres's own and
#: about the SQL standard's (most dialects reserve a subset).
_RESERVED = frozenset(getattr(sqlglot.Dialect.get_or_raise("duckdb").generator_class, "RESERVED_KEYWORDS", ()))


class DialectError(SqlBackendError):
    """A dialect sqlglot knows but cannot write the query in (it lacks arrays, lambdas or structs)."""


#: The dialects whose renderings run in the tests (tests/test_sql.py, tests/test_spark.py); any other is
#: sqlglot's translation, checked only by reading it back.
RUN_DIALECTS = ("duckdb", "spark")


def _render(tree: exp.Expr, dialect: str) -> str:
    """The query in `dialect`; DialectError when sqlglot cannot write it there or cannot read its writing back."""
    from sqlglot.dialects.postgres import Postgres
    from sqlglot.errors import ErrorLevel

    if isinstance(sqlglot.Dialect.get_or_raise(dialect), Postgres):
        # Postgres subscripts only a parenthesized array: (ARRAY(SELECT ...))[1], not ARRAY(SELECT ...)[1].
        tree = tree.transform(_parenthesize_subscripted)
    try:
        # RAISE: an unsupported construct is an error, not a line on standard error and a wrong query.
        text = tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as error:
        reason = str(error).split("\n")[0].strip()
        raise DialectError(f"sqlglot cannot write the query in {dialect}: {reason}; dialects whose query is run "
                           f"by the tests: {', '.join(RUN_DIALECTS)}") from None
    if dialect not in RUN_DIALECTS:
        try:
            sqlglot.parse_one(text, read=dialect)
        except sqlglot.errors.SqlglotError as error:
            reason = str(error).split("\n")[0].strip()
            raise DialectError(f"sqlglot cannot write the query in {dialect} (its {dialect} rendering does not "
                               f"read back: {reason}); the query needs arrays of structs and lambdas; dialects "
                               f"whose query is run by the tests: {', '.join(RUN_DIALECTS)}") from None
    return text


def _parenthesize_subscripted(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Bracket) and not isinstance(node.this, exp.Column | exp.Paren):
        node.set("this", exp.Paren(this=node.this))
    return node


def compile_sql(schedule_or_program: Schedule | ir.Program, *, dialect: str = "duckdb", source: str = "cases",
                keep: Sequence[str] = ()) -> str:
    """The query text, in `dialect`; raise SqlBackendError for a dialect sqlglot does not know."""
    if dialect not in dialects():
        raise SqlBackendError(f"unknown SQL dialect '{dialect}' (sqlglot knows: {', '.join(dialects())})")
    source_table(source)  # before the cache: a name that is not one is never a cached query's key
    if isinstance(schedule_or_program, ir.Program):
        return _render(query(schedule_or_program, source=source, keep=keep), dialect)
    # Cached as compilations are (compiler/cache.py), keyed also by sqlglot's version: building and rendering the
    # tree takes about 0.3 s for the corpus, on every audit.
    options = json.dumps([dialect, source, list(keep), importlib.metadata.version("sqlglot")])
    entry = cache.key("sql", {**schedule_or_program.sources, "\0options": options}) + ".sql"
    found = cache.read(entry)
    if found is not None:
        return found.decode("utf-8")
    text = _render(query(schedule_or_program, source=source, keep=keep), dialect)
    cache.write(entry, text.encode("utf-8"))
    return text


def _sql_type(type_: Type, schema: CaseSchema) -> str:
    """The column type of an input, as the input contract states it (DuckDB spelling; sqlglot translates)."""
    match type_.kind:
        case "boolean":
            return "BOOLEAN"
        case "integer":
            return "BIGINT"
        case "date":
            return "DATE"
        case "enum" | "text" | "code":
            return "VARCHAR"
        case "list" | "set":
            assert type_.of is not None
            return f"{_sql_type(type_.of, schema)}[]"
        case "record":
            fields = schema.records[type_.name or ""]
            inner = ", ".join(f'"{name}" {_sql_type(t, schema)}' for name, t in fields)
            return f"STRUCT({inner})"
        case _:
            raise SqlBackendError(f"an input of type {type_} has no column type")


def column_types(schema: CaseSchema, dialect: str = "duckdb") -> dict[str, str]:
    """The input contract: each case input's column and its type in `dialect` (`id` is not typed: any)."""
    types = {}
    for spec in schema.inputs:
        duck = _sql_type(spec.type, schema)
        types[spec.name] = exp.DataType.build(duck, dialect="duckdb").sql(dialect=dialect)
    return types


def rows(schema: CaseSchema, cases: Iterable[Any]) -> list[tuple[Any, ...]]:
    """Validated cases as rows of the input contract: (id, one value per input; None when absent)."""
    names = [spec.name for spec in schema.inputs]
    return [(case.id, *(_row_value(case.values.get(name)) for name in names)) for case in cases]


def _row_value(value: Any) -> Any:
    if isinstance(value, Record):
        return {name: _row_value(v) for name, v in value.values.items()}
    if isinstance(value, tuple | frozenset):
        items = sorted(value) if isinstance(value, frozenset) else value
        return [_row_value(v) for v in items]
    return value


def decide_duckdb(schedule: Schedule | ir.Program, con: duckdb.DuckDBPyConnection,
                  source: str = "cases", keep: Sequence[str] = ()) -> duckdb.DuckDBPyRelation:
    """Decide every row of `source` (a table or view of `con`) on embedded DuckDB; `keep` as for `query`."""
    return con.sql(compile_sql(schedule, dialect="duckdb", source=source, keep=keep))


def decide_spark(schedule: Schedule | ir.Program, spark_session: Any, source_df: Any) -> Any:
    """Decide every row of a Spark DataFrame: registered as a temporary view, then the spark-dialect query."""
    view = "mtus_cases"
    source_df.createOrReplaceTempView(view)
    return spark_session.sql(compile_sql(schedule, dialect="spark", source=view))


def load_duckdb(schedule: Schedule | ir.Program, con: duckdb.DuckDBPyConnection, cases: Iterable[Any],
                name: str = "cases") -> None:
    """Create table `name` in `con` holding validated cases as the input contract says (for tests and small runs)."""
    import os
    import tempfile

    schema = _program(schedule).schema
    types = {"id": "VARCHAR", **column_types(schema)}
    names = list(types)
    # One JSON line per case, read with the contract's column types: far faster than row-by-row inserts.
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as out:
        for row in rows(schema, cases):
            out.write(json.dumps(dict(zip(names, row)), default=_json_default) + "\n")
    try:
        columns = "{" + ", ".join(f"'{n}': '{t}'" for n, t in types.items()) + "}"
        select = ", ".join(f'"{n}"' for n in names)
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT {select} FROM '
                    f"read_json(?, format = 'newline_delimited', columns = {columns})", [out.name])
    finally:
        os.unlink(out.name)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a case value")
