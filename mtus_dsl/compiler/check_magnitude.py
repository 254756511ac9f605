"""How large an integer a program can compute: a bound, in digits, on every integer expression (E120).

Literals have at most 9 digits (E011), but products of facts do not stop there:
`f = a * a` doubles the digits at each step, and ten such facts compute numbers
no decision can print (Python refuses to convert integers over 4,300 digits) or
finish (a billion digits). Counts in guidelines are small; a computation that
can pass MAX_DIGITS is a mistake in the file, reported where it is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

from mtus_dsl.case import MAX_INT_DIGITS
from mtus_dsl.compiler import ir
from mtus_dsl.diagnostics import Diagnostic
from mtus_dsl.types import Type

#: The most digits a computation in a guideline may reach (every count a guideline states has at most 4).
MAX_DIGITS = 100
#: The digits of an integer input with no declared range: what a case may give.
UNRANGED_DIGITS = MAX_INT_DIGITS
#: The digits of a count of days, weeks, months or years between two case dates (1900-2199), or of units dated.
CALENDAR_DIGITS = 6


def check(program: ir.Program) -> list[Diagnostic]:
    """E120 for each fact and rule whose integer computations can pass MAX_DIGITS."""
    bounds = _Bounds(program)
    found: list[Diagnostic] = []
    for fact in program.facts:
        owned = [fact.expr, *_template(fact.explain_true), *_template(fact.explain_false)]
        found.extend(bounds.report(f"fact '{fact.name}'", fact.origin, owned))
    for rule in program.rules:
        owned = [*rule.when, *rule.unless, *(e for e in ir.operands(rule.action) if e is not None),
                 *_template(rule.rationale)]
        found.extend(bounds.report(f"{rule.kind} '{rule.name}'", rule.origin, owned))
    return found


def _template(template: ir.Template | None) -> list[ir.Expr]:
    return [part for part in template or () if not isinstance(part, str)]


class _Bounds:
    """Digits bounds of expressions; a fact's bound is its definition's, worked out once."""

    def __init__(self, program: ir.Program):
        self.facts = {fact.name: fact for fact in program.facts}
        self.tables = {table.name: table for table in program.tables}
        self.known: dict[str, int] = {}

    def report(self, what: str, origin: ir.Origin, exprs: Iterable[ir.Expr]) -> list[Diagnostic]:
        """E120 at `origin` when one of the expressions can compute a number over MAX_DIGITS."""
        worst = max((self.digits(sub) for expr in exprs for sub in ir.walk(expr) if _own(sub)), default=0)
        if worst <= MAX_DIGITS:
            return []
        message = (f"{what} can compute a number of up to {worst} digits; "
                   f"a computation in a guideline stays within {MAX_DIGITS}")
        note = ("a product has as many digits as its factors together, and a fact is as large as its definition: "
                "counts, limits and periods are small numbers; write the number the guideline states")
        return [Diagnostic("E120", message, origin.span(), notes=(note,))]

    def digits(self, expr: ir.Expr) -> int:
        """At most how many digits the integer `expr` computes has (0 for an expression that is not an integer)."""
        if expr.type.kind != "integer":
            return 0
        match expr:
            case ir.Const():
                return len(str(abs(expr.value))) if isinstance(expr.value, int) else 0
            case ir.Input() | ir.Var():
                return _typed(expr.type)
            case ir.Fact():
                if expr.name not in self.known:
                    self.known[expr.name] = 0  # circles are E106, found before this pass
                    fact = self.facts.get(expr.name)
                    self.known[expr.name] = self.digits(fact.expr) if fact is not None else UNRANGED_DIGITS
                return self.known[expr.name]
            case ir.Attr():
                if isinstance(expr.obj, ir.Lookup) and expr.obj.table in self.tables:
                    return self._column(self.tables[expr.obj.table], expr.field)
                return _typed(expr.type)
            case ir.Arith():
                left, right = self.digits(expr.left), self.digits(expr.right)
                return left + right if expr.op == "*" else max(left, right) + 1
            case ir.Div():
                return self.digits(expr.left)
            case ir.Call():
                return max([CALENDAR_DIGITS, *(self.digits(arg) for arg in expr.args)])
            case ir.Lookup() | ir.Not() | ir.And() | ir.Or() | ir.Compare() | ir.Member() | ir.Exists() \
                    | ir.Quant() | ir.SetOf() | ir.Applies():
                return UNRANGED_DIGITS  # not integers (typed otherwise above); kept for exhaustiveness
            case _:
                assert_never(expr)

    def _column(self, table: ir.TableInfo, field: str) -> int:
        names = table.key_names + table.value_names
        if field not in names:
            return UNRANGED_DIGITS
        index = names.index(field)
        rows: list[tuple[object, ...]] = [key + values for key, values in table.rows]
        if table.otherwise is not None:
            rows.append((None,) * len(table.key_names) + table.otherwise)
        cells = [row[index] for row in rows]
        return max((len(str(abs(cell))) for cell in cells if isinstance(cell, int) and not isinstance(cell, bool)),
                   default=1)


def _own(expr: ir.Expr) -> bool:
    """Whether the expression computes (a fact's own computation is reported at the fact)."""
    return isinstance(expr, (ir.Arith, ir.Div, ir.Call))


def _typed(type_: Type) -> int:
    """Digits of an integer of this type: its declared range, else what a case may give."""
    if type_.low is None or type_.high is None:
        return UNRANGED_DIGITS
    return max(len(str(abs(type_.low))), len(str(abs(type_.high))))

