"""The IR: a resolved, typed program that both the interpreter and the code generator consume.

Names are resolved (an input, a derived fact, a bound variable, a rule), enum
members are constants, `overrides` are folded into the overridden rule's
`unless`, and the dispatch index maps each (service, body region) to the rules
and caps that may decide it.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping
from typing import Any, assert_never

import attrs

from mtus_dsl.case import CaseSchema
from mtus_dsl.decision import Citation
from mtus_dsl.diagnostics import Span
from mtus_dsl.types import BOOLEAN, Type

# --- expressions -------------------------------------------------------------------


@attrs.frozen
class Const:
    """A constant: int, date, Duration, str, bool, None or a frozenset of those."""

    value: Any
    type: Type


@attrs.frozen
class Input:
    """A field of the case."""

    name: str
    type: Type


@attrs.frozen
class Fact:
    """A derived fact, computed once per case on first use."""

    name: str
    type: Type


@attrs.frozen
class Var:
    """A quantifier's variable, or a number a rationale may show (`requested`, `allowed`)."""

    name: str
    type: Type


@attrs.frozen
class Attr:
    """A field of a record or table row."""

    obj: Expr
    field: str
    type: Type


@attrs.frozen
class Lookup:
    """A row of a table, by key."""

    table: str
    keys: tuple[Expr, ...]
    type: Type


@attrs.frozen
class Not:
    """Three-valued negation."""

    operand: Expr
    type: Type = BOOLEAN


@attrs.frozen
class And:
    """Three-valued conjunction, evaluated left to right, short-circuiting on False."""

    left: Expr
    right: Expr
    type: Type = BOOLEAN


@attrs.frozen
class Or:
    """Three-valued disjunction, evaluated left to right, short-circuiting on True."""

    left: Expr
    right: Expr
    type: Type = BOOLEAN


@attrs.frozen
class Compare:
    """`=`, `!=`, `<`, `<=`, `>`, `>=`."""

    op: str
    left: Expr
    right: Expr
    type: Type = BOOLEAN


@attrs.frozen
class Member:
    """Membership in a set or list."""

    item: Expr
    collection: Expr
    negated: bool
    type: Type = BOOLEAN


@attrs.frozen
class Exists:
    """Not `none`."""

    operand: Expr
    type: Type = BOOLEAN


@attrs.frozen
class Arith:
    """Integer arithmetic, or a date moved by a duration."""

    op: str
    left: Expr
    right: Expr
    type: Type


@attrs.frozen
class Div:
    """Integer division with its stated rounding."""

    left: Expr
    right: Expr
    rounding: str
    type: Type


@attrs.frozen
class Call:
    """A built-in function; `conditions_of` also receives the program's code sets."""

    func: str
    args: tuple[Expr, ...]
    type: Type


@attrs.frozen
class Quant:
    """`any`, `all`, `latest` or `count` over a list, binding `var`."""

    kind: str
    var: str
    collection: Expr
    condition: Expr
    type: Type


@attrs.frozen
class SetOf:
    """A set built from expressions that are not all constants."""

    items: tuple[Expr, ...]
    type: Type


@attrs.frozen
class Applies:
    """Whether a rule applies (used by `unless other_rule` and `overrides`)."""

    rule: str
    type: Type = BOOLEAN


Expr = (
    Const
    | Input
    | Fact
    | Var
    | Attr
    | Lookup
    | Not
    | And
    | Or
    | Compare
    | Member
    | Exists
    | Arith
    | Div
    | Call
    | Quant
    | SetOf
    | Applies
)

#: A rationale or explanation: literal text and expressions to show.
Template = tuple[str | Expr, ...]


# --- declarations ------------------------------------------------------------------


@attrs.frozen
class Origin:
    """Where a declaration was written: file and line, for comments and traces."""

    path: str
    line: int
    column: int = 1
    width: int = 1  # the declaration's name, for a caret under it

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"

    def span(self) -> Span:
        """The declaration's name, as a diagnostic points at it."""
        return Span(self.path, self.line, self.column, self.line, self.column + self.width)


@attrs.frozen
class GuidelineInfo:
    """A guideline edition."""

    name: str
    title: str
    edition: str
    regulation: str | None
    in_force_from: datetime.date | None
    in_force_to: datetime.date | None


@attrs.frozen
class FactInfo:
    """A derived fact with its definition and explanations."""

    name: str
    type: Type
    expr: Expr
    explain_true: Template | None
    explain_false: Template | None
    origin: Origin


@attrs.frozen
class TableInfo:
    """A lookup table with its rows already converted to runtime values."""

    name: str
    key_names: tuple[str, ...]
    value_names: tuple[str, ...]
    rows: tuple[tuple[tuple[Any, ...], tuple[Any, ...]], ...]
    otherwise: tuple[Any, ...] | None


@attrs.frozen
class Limit:
    """`max_visits N [over P] [counting C]`: N units in all, less the C already given."""

    unit: str
    amount: Expr
    period: Expr | None
    counting: Expr  # the prior units it counts: `prior_visits` unless stated


@attrs.frozen
class Trial:
    """`trial N [over P] up to M [over Q] with E`: N units, up to M while E holds."""

    unit: str
    initial: Expr
    initial_period: Expr | None
    total: Expr
    total_period: Expr | None
    extension: Expr
    counting: Expr


@attrs.frozen
class Certify:
    """Certify all that is requested."""

    unit: str


@attrs.frozen
class NonCertify:
    """Certify nothing."""

    unit: str


#: What a rule does with a request.
Action = Limit | Trial | Certify | NonCertify


def operands(action: Action) -> tuple[Expr | None, ...]:
    """Return an action's operands in the order the engine receives their values (engine.ActionKind)."""
    match action:
        case Limit():
            return (action.amount, action.period, action.counting)
        case Trial():
            return (action.initial, action.initial_period, action.total, action.total_period, action.extension,
                    action.counting)
        case Certify() | NonCertify():
            return ()
        case _:
            assert_never(action)


def action_kind(action: Action) -> str:
    """Name an action as the engine does: limit, trial, certify, non_certify."""
    match action:
        case Limit():
            return "limit"
        case Trial():
            return "trial"
        case Certify():
            return "certify"
        case NonCertify():
            return "non_certify"
        case _:
            assert_never(action)


@attrs.frozen
class RuleInfo:
    """A rule or cap, resolved."""

    name: str
    kind: str  # rule | cap
    guideline: str
    section: str
    citation: Citation
    action: Action
    when: tuple[Expr, ...]
    unless: tuple[Expr, ...]
    reasons: tuple[str, ...]  # for the trace: why it does not apply, per clause
    rationale: Template | None
    explained: tuple[str, ...]
    services: tuple[str, ...]
    regions: tuple[str, ...]
    origin: Origin
    clauses: tuple[str, ...] = ()  # each when/unless clause as written, for the trace


@attrs.frozen
class ExampleInfo:
    """An example case and the decision it must get."""

    title: str
    case: Mapping[str, Any]  # JSON-ready case
    outcome: str
    approved: int | None
    by: tuple[str, ...]
    missing: tuple[str, ...]
    origin: Origin
    section: str | None
    on_record: bool = False  # decided on the record
    assumed: tuple[str, ...] = ()  # the inputs it must read on the record (`expect ... assuming a, b`)


@attrs.frozen
class PropertyInfo:
    """An author-stated property, checked by `mtus test` over generated cases."""

    name: str
    description: str
    conditions: tuple[Expr, ...]  # `for`: the cases it is about
    expectations: tuple[Expr, ...]  # `expect`: what must hold of them
    texts: tuple[str, ...]  # each `expect` line as written, for failure reports
    origin: Origin


@attrs.frozen
class Program:
    """A whole set of guidelines, ready to interpret or to compile."""

    schema: CaseSchema
    guidelines: tuple[GuidelineInfo, ...]
    facts: tuple[FactInfo, ...]  # in dependency order
    tables: tuple[TableInfo, ...]
    codesets: tuple[tuple[str, tuple[str, ...]], ...]
    rules: tuple[RuleInfo, ...]  # rules in an order where exceptions come first
    dispatch: tuple[tuple[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]], ...]
    examples: tuple[ExampleInfo, ...]
    sources: tuple[str, ...]
    properties: tuple[PropertyInfo, ...] = ()
    #: The hash of the guideline sources (names and texts, the prelude included): provenance.source_hash.
    source_hash: str = ""

    @functools.cached_property
    def _rules_by_name(self) -> dict[str, RuleInfo]:
        return {rule.name: rule for rule in self.rules}

    def rule(self, name: str) -> RuleInfo:
        """Return the rule called `name`."""
        return self._rules_by_name[name]


EXPR_TYPES = (
    Const,
    Input,
    Fact,
    Var,
    Attr,
    Lookup,
    Not,
    And,
    Or,
    Compare,
    Member,
    Exists,
    Arith,
    Div,
    Call,
    Quant,
    SetOf,
    Applies,
)


#: For each expression class, the fields that may hold expressions (walk reads only these).
_CHILDREN: dict[type, tuple[str, ...]] = {}


def walk(expr: Expr) -> list[Expr]:
    """Return `expr` and every expression inside it, parents first."""
    out: list[Expr] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        cls = type(node)
        names = _CHILDREN.get(cls)
        if names is None:
            names = _CHILDREN[cls] = tuple(f.name for f in attrs.fields(cls) if f.name != "type")
        for name in names:
            value = getattr(node, name)
            if isinstance(value, tuple):
                stack.extend(v for v in value if isinstance(v, EXPR_TYPES))
            elif isinstance(value, EXPR_TYPES):
                stack.append(value)
    return out


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return the names on one cycle of `graph` (name -> names it depends on), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt) :]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
