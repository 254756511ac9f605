"""The typed AST of .mtus files: frozen attrs classes, each node with its source span."""

from __future__ import annotations

import datetime

import attrs

from mtus_dsl.diagnostics import Span

# --- expressions -------------------------------------------------------------


@attrs.frozen
class IntLit:
    """An integer literal: `10`."""

    value: int
    span: Span


@attrs.frozen
class DateLit:
    """A date literal: `2009-07-18`."""

    value: datetime.date
    span: Span


@attrs.frozen
class DurationLit:
    """A duration: `4 weeks`, `6 months`."""

    amount: int
    unit: str  # days, weeks, months or years (always plural)
    span: Span


@attrs.frozen
class StringLit:
    """A string literal; in a rationale its placeholders are parsed into `parts`."""

    value: str
    span: Span


@attrs.frozen
class BoolLit:
    """`true` or `false`."""

    value: bool
    span: Span


@attrs.frozen
class NoneLit:
    """`none`: the absent value of a lookup or a `latest` with no match."""

    span: Span


@attrs.frozen
class Name:
    """A reference to a fact, input, enumeration member, rule or bound variable."""

    id: str
    span: Span


@attrs.frozen
class SetLit:
    """A set of values: `{physical_therapy, occupational_therapy}`."""

    items: tuple[Expr, ...]
    span: Span


@attrs.frozen
class Attr:
    """A field of a record or table row: `surgery.date`."""

    obj: Expr
    name: str
    span: Span


@attrs.frozen
class Lookup:
    """A table lookup: `postsurgical_course[surgery.procedure, surgery.body_region]`."""

    table: Expr
    keys: tuple[Expr, ...]
    span: Span


@attrs.frozen
class Not:
    """`not x`."""

    operand: Expr
    span: Span


@attrs.frozen
class BoolOp:
    """`a and b`, `a or b`, with three-valued (Kleene) meaning."""

    op: str  # "and" | "or"
    left: Expr
    right: Expr
    span: Span


@attrs.frozen
class Compare:
    """A comparison: `=`, `!=`, `<`, `<=`, `>`, `>=` (`is` and `is not` are = and !=)."""

    op: str
    left: Expr
    right: Expr
    span: Span


@attrs.frozen
class Member:
    """`x in collection` or `x not in collection`."""

    item: Expr
    collection: Expr
    negated: bool
    span: Span


@attrs.frozen
class Exists:
    """`x exists`: true when x is not `none`."""

    operand: Expr
    span: Span


@attrs.frozen
class Arith:
    """`a + b`, `a - b`, `a * b` on integers, and date plus or minus a duration."""

    op: str  # "+" | "-" | "*"
    left: Expr
    right: Expr
    span: Span


@attrs.frozen
class Div:
    """`a / b rounded down` or `rounded up`: division always states its rounding."""

    left: Expr
    right: Expr
    rounding: str  # "down" | "up"
    span: Span


@attrs.frozen
class Call:
    """A call of a built-in function: `conditions_of(condition, diagnoses)`."""

    func: str
    args: tuple[Expr, ...]
    span: Span


@attrs.frozen
class Quantifier:
    """`any|all|latest|count s in surgeries where (condition)`."""

    kind: str
    var: str
    collection: Expr
    condition: Expr
    span: Span


Expr = (
    IntLit
    | DateLit
    | DurationLit
    | StringLit
    | BoolLit
    | NoneLit
    | Name
    | SetLit
    | Attr
    | Lookup
    | Not
    | BoolOp
    | Compare
    | Member
    | Exists
    | Arith
    | Div
    | Call
    | Quantifier
)


@attrs.frozen
class Template:
    """A rationale or explanation string: literal text and `{expression}` placeholders."""

    parts: tuple[str | Expr, ...]
    span: Span


# --- types -------------------------------------------------------------------


@attrs.frozen
class TypeRef:
    """A written type: `boolean`, `integer 0..1000`, `list of surgery`, `body_region`."""

    name: str  # a type name, or "list" / "set" with `of`
    span: Span
    of: TypeRef | None = None
    low: int | None = None
    high: int | None = None
    optional: bool = False  # `T or none`


# --- declarations ------------------------------------------------------------


@attrs.frozen
class Guideline:
    """A guideline document edition: name, title, edition, regulation, dates in force."""

    name: str
    title: str
    edition: str
    regulation: str | None
    in_force_from: datetime.date | None
    in_force_to: datetime.date | None
    span: Span
    # `overrides GUIDELINE, ...`: its rules take precedence over theirs for the requests both address.
    overrides: tuple[tuple[str, Span], ...] = ()


@attrs.frozen
class EnumDecl:
    """An enumeration: `enum service: physical_therapy, ...`."""

    name: str
    members: tuple[tuple[str, Span], ...]
    span: Span


@attrs.frozen
class InputDecl:
    """A fact the case supplies: one field of the case format."""

    name: str
    type: TypeRef
    required: bool
    doc: str | None
    span: Span
    at_most: tuple[AtMost, ...] = ()
    on_record: OnRecord | None = None


@attrs.frozen
class AtMost:
    """A relation between two inputs: this one never exceeds `other` (`at most prior_visits`)."""

    other: str
    reason: str | None
    span: Span


@attrs.frozen
class OnRecord:
    """What an input's absence means when deciding on the record: a value, or another input's."""

    value: Value
    reason: str
    span: Span


@attrs.frozen
class RecordField:
    """One field of a record type."""

    name: str
    type: TypeRef
    span: Span


@attrs.frozen
class RecordDecl:
    """A record type for structured case fields: `record surgery: ...`."""

    name: str
    fields: tuple[RecordField, ...]
    span: Span


@attrs.frozen
class FactDecl:
    """A fact derived from the case: `fact post_surgical: boolean = ...`."""

    name: str
    type: TypeRef
    expr: Expr
    doc: str | None
    explain_true: Template | None
    explain_false: Template | None
    span: Span


@attrs.frozen
class ConditionDecl:
    """A condition and its ICD-9-CM / ICD-10-CM code sets."""

    name: str
    label: str
    icd9: tuple[str, ...]
    icd10: tuple[str, ...]
    span: Span


@attrs.frozen
class TableDecl:
    """A lookup table: typed key columns, typed value columns, rows, an `otherwise` row."""

    name: str
    keys: tuple[RecordField, ...]
    values: tuple[RecordField, ...]
    rows: tuple[tuple[tuple[Value, ...], tuple[Value, ...], Span], ...]
    otherwise: tuple[Value, ...] | None
    span: Span


# --- rules -------------------------------------------------------------------


@attrs.frozen
class Limit:
    """`max_visits N [over PERIOD] [counting PRIOR]`."""

    unit: str
    amount: Expr
    period: Expr | None
    counting: Expr | None
    span: Span


@attrs.frozen
class Trial:
    """`trial N [over P], up to M [over P] with CONDITION [counting PRIOR]`."""

    initial: Expr
    initial_period: Expr | None
    total: Expr
    total_period: Expr | None
    extension: Expr
    counting: Expr | None
    span: Span


@attrs.frozen
class Certify:
    """`certify`: the rule certifies every unit requested (limits still apply)."""

    span: Span


@attrs.frozen
class NonCertify:
    """`non_certify`: the rule finds the request not medically necessary."""

    span: Span


Action = Limit | Trial | Certify | NonCertify


@attrs.frozen
class Pages:
    """Guideline pages: `pages 98-99` or `page 99, 101`."""

    ranges: tuple[tuple[int, int], ...]
    span: Span

    def __str__(self) -> str:
        return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in self.ranges)


@attrs.frozen
class Rule:
    """A rule (alternatives: one governs a case) or a cap (cumulative: all hold)."""

    name: str
    kind: str  # "rule" | "cap"
    action: Action
    when: tuple[Expr, ...]
    unless: tuple[Expr, ...]
    overrides: tuple[tuple[str, Span], ...]
    pages: Pages | None
    subsection: str | None
    rationale: Template | None
    services: tuple[tuple[str, Span], ...]
    regions: tuple[tuple[str, Span], ...]
    span: Span
    # Written `otherwise NAME: ...`: it gives way to the rules of its section just above it.
    otherwise: bool = False


# --- examples ----------------------------------------------------------------


@attrs.frozen
class ScalarValue:
    """A literal in an example or a table: int, date, duration, string, bool, name, none."""

    kind: str  # int | date | duration | string | bool | name | none
    value: object
    span: Span


@attrs.frozen
class ListValue:
    """`[a, b]` in an example."""

    items: tuple[Value, ...]
    span: Span


@attrs.frozen
class RecordValue:
    """`{procedure: meniscectomy, body_region: knee, date: 2015-07-16}`."""

    fields: tuple[tuple[str, Value], ...]
    span: Span


@attrs.frozen
class UnknownValue:
    """`unknown`: the case leaves this fact out."""

    span: Span


Value = ScalarValue | ListValue | RecordValue | UnknownValue


@attrs.frozen
class Given:
    """One field of an example case."""

    name: str
    value: Value
    span: Span


@attrs.frozen
class Expect:
    """What an example must decide: outcome, approved units, deciding rules, missing facts."""

    outcome: str
    approved: int | None
    by: tuple[tuple[str, Span], ...]
    missing: tuple[tuple[str, Span], ...]
    span: Span
    assumed: tuple[tuple[str, Span], ...] = ()


@attrs.frozen
class Example:
    """A case written next to the rules, with the decision it must get."""

    title: str
    given: tuple[Given, ...]
    expect: Expect | None
    span: Span
    on_record: bool = False  # decided on the record: absent inputs read as their declarations say


@attrs.frozen
class Section:
    """A guideline section: its pages, the services and regions it covers, its rules."""

    name: str
    title: str
    pages: Pages | None
    guideline: str | None  # the guideline declared above it in the same file
    services: tuple[tuple[str, Span], ...]
    regions: tuple[tuple[str, Span], ...]
    unit: str | None
    rules: tuple[Rule, ...]
    examples: tuple[Example, ...]
    defaults: tuple[Given, ...]
    span: Span
    # Clauses every rule and cap of the section gets, before its own.
    when: tuple[Expr, ...] = ()
    unless: tuple[Expr, ...] = ()
    # `overrides SECTION_OR_GUIDELINE, ...`: its rules take precedence over theirs.
    overrides: tuple[tuple[str, Span], ...] = ()
    guideline_span: Span | None = None  # the name in `in GUIDELINE`, when the section names its guideline


@attrs.frozen
class Property:
    """An author-stated property: every case meeting the `for` conditions meets the `expect` ones."""

    name: str
    description: str
    conditions: tuple[Expr, ...]  # `for` lines
    expectations: tuple[Expr, ...]  # `expect` lines
    span: Span


Item = (
    Guideline | EnumDecl | InputDecl | RecordDecl | FactDecl | ConditionDecl | TableDecl | Section | Example | Property
)


@attrs.frozen
class Module:
    """One parsed .mtus file."""

    path: str
    items: tuple[Item, ...]


def dump(node: object, indent: int = 0) -> str:
    """Render an AST as an indented tree without spans, for golden files and debugging."""
    pad = "  " * indent
    node = _plain(node)
    if isinstance(node, tuple) and _has_node(node):
        return "\n".join(f"{pad}- " + dump(item, indent + 1).lstrip() for item in node)
    if not attrs.has(type(node)):
        return pad + repr(node)
    simple = []
    nested = []
    for f in attrs.fields(type(node)):  # type: ignore[arg-type]  # attrs.has() checked it above
        if f.name == "span" or f.name.endswith("_span"):
            continue
        value = _plain(getattr(node, f.name))
        if _has_node(value):
            nested.append((f.name, value))
        else:
            simple.append(f"{f.name}={value!r}")
    lines = [f"{pad}{type(node).__name__}({', '.join(simple)})"]
    for name, value in nested:
        lines.append(f"{pad}  {name}:")
        lines.append(dump(value, indent + 2))
    return "\n".join(lines)


def _has_node(value: object) -> bool:
    if isinstance(value, tuple):
        return any(_has_node(v) for v in value)
    return attrs.has(type(value))


def _plain(value: object) -> object:
    """Drop spans: a (name, span) pair becomes the name, a span inside a tuple disappears."""
    if isinstance(value, tuple):
        if len(value) == 2 and isinstance(value[1], Span):
            return value[0]
        return tuple(_plain(v) for v in value if not isinstance(v, Span))
    return value
