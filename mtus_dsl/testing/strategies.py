"""Hypothesis strategies for cases, drawn from what a set of guidelines declares, biased to their boundaries.

Nothing here knows a guideline's numbers: the values worth trying come from the
compiled program (`boundaries`): every integer, date and period its rules,
facts and tables state, every edition's first and last day, every code set,
every table row. A limit N gives N-1, N and N+1; a period gives the day
inside and the day outside it, counted back from the request date; every
optional input is sometimes absent (unknown).
"""

from __future__ import annotations

import datetime
import os
import string
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from hypothesis import strategies as st

from mtus_dsl import runtime as rt
from mtus_dsl.case import _ICD9, _ICD10, FIRST_CASE_DATE, LAST_CASE_DATE, Case, CaseSchema, Record
from mtus_dsl.compiler import ir
from mtus_dsl.diagnostics import did_you_mean
from mtus_dsl.schedule import Schedule, load
from mtus_dsl.types import Type

#: Outcomes that decide a request (the others say no guideline decides it, or what is missing).
DECIDED = ("certify", "modify", "non_certify")


# --- what the rules single out ---------------------------------------------------------------


@attrs.frozen
class TableRow:
    """A table row as a hint for generating records: its key cells by column name, and its periods."""

    keys: Mapping[str, Any]
    periods: tuple[rt.Duration, ...]


@attrs.frozen
class Boundaries:
    """The values a program's rules single out, which generated cases gather around."""

    integers: tuple[int, ...]  # every integer constant: limits, thresholds, table cells
    dates: tuple[datetime.date, ...]  # every date constant
    editions: tuple[datetime.date, ...]  # every edition's first and last day in force
    periods: tuple[rt.Duration, ...]  # every duration: `over` periods, postsurgical periods
    texts: tuple[str, ...]  # every text constant and text table key (procedure names)
    codes: tuple[str, ...]  # codes inside (and just outside) every condition's code set
    rows: tuple[TableRow, ...]  # table rows, to build records that hit them
    counting: tuple[str, ...]  # the inputs limits count prior units from


def expressions(program: ir.Program) -> Iterable[ir.Expr]:
    """Yield every expression of a program: facts, rule conditions, actions and properties."""
    for fact in program.facts:
        yield fact.expr
    for rule in program.rules:
        yield from rule.when
        yield from rule.unless
        yield from (e for e in ir.operands(rule.action) if e is not None)
    for prop in program.properties:
        yield from prop.conditions
        yield from prop.expectations


def boundaries(program: ir.Program) -> Boundaries:
    """Collect the constants a program's rules, facts, tables and editions state."""
    constants: list[Any] = []
    texts: set[str] = set()
    for expr in expressions(program):
        for node in ir.walk(expr):
            if isinstance(node, ir.Const):
                found = list(node.value) if isinstance(node.value, frozenset) else [node.value]
                constants.extend(found)
                element = node.type.of if node.type.kind == "set" and node.type.of else node.type
                if element.kind == "text":
                    texts.update(v for v in found if isinstance(v, str))
    rows: list[TableRow] = []
    for table in program.tables:
        for key, values in table.rows:
            constants.extend(key + values)
            keys = dict(zip(table.key_names, key))
            texts.update(v for v in key if isinstance(v, str))
            rows.append(TableRow(keys, tuple(v for v in values if isinstance(v, rt.Duration))))
        if table.otherwise is not None:
            constants.extend(table.otherwise)
    editions = {d for g in program.guidelines for d in (g.in_force_from, g.in_force_to) if d is not None}
    counting = {
        e.name
        for rule in program.rules
        for e in (getattr(rule.action, "counting", None),)
        if isinstance(e, ir.Input) and e.type.kind == "integer"
    }
    enum_members = {m for members in program.schema.enums.values() for m in members}
    return Boundaries(
        integers=tuple(sorted({c for c in constants if type(c) is int})),
        dates=tuple(sorted({c for c in constants if type(c) is datetime.date})),
        editions=tuple(sorted(editions)),
        periods=tuple(sorted({c for c in constants if type(c) is rt.Duration}, key=lambda d: (d.unit, d.amount))),
        texts=tuple(sorted(texts - enum_members)),
        codes=tuple(_codes(program.codesets)),
        rows=tuple(rows),
        counting=tuple(sorted(counting)),
    )


def _is_code(code: str) -> bool:
    return bool(_ICD9.match(code) or _ICD10.match(code))


def _codes(codesets: Iterable[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Valid codes inside each code set's patterns, and the parent code just outside an exact one."""
    found: set[str] = set()
    for _name, patterns in codesets:
        for pattern in patterns:
            if pattern.endswith("*"):
                prefix = pattern[:-1]
                for tail in ("", "0", "1", "9", ".0", ".1", ".9", "0.1", "00", "01", "1.1", ".01"):
                    if _is_code(prefix + tail):
                        found.add(prefix + tail)
                        break
                found.update(prefix + tail for tail in ("1", "9", "19") if _is_code(prefix + tail))
            else:
                found.add(pattern)
                parent = pattern[:-1].rstrip(".")
                if _is_code(parent):
                    found.add(parent)
    return sorted(c for c in found if _is_code(c))


# --- JSON values -----------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """Write a runtime value (date, record, list, set) as the case format's JSON value."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Record):
        return {k: to_json(v) for k, v in value.values.items()}
    if isinstance(value, frozenset):
        return sorted((to_json(v) for v in value), key=repr)
    if isinstance(value, (tuple, list)):
        return [to_json(v) for v in value]
    return value


def case_to_data(case: Case) -> dict[str, Any]:
    """Write a validated Case back as the JSON-ready dict it came from."""
    data: dict[str, Any] = {} if case.id is None else {"id": case.id}
    data.update({name: to_json(value) for name, value in case.values.items()})
    return data


# --- strategies ------------------------------------------------------------------------------

# Dates are drawn from these years when the rules name no date at all.
_FIRST = datetime.date(2000, 1, 1)
_LAST = datetime.date(2020, 12, 31)
_WORD = string.ascii_lowercase + "_"
_LENGTHS = st.integers(0, 3)
_COMPOUND = ("list", "set", "record")
_COIN = st.booleans()
#: A day inside, on, or outside a boundary.
_OFFSETS = st.sampled_from((0, -1, 1))
#: Below the chance of leaving an optional input out leaves it out; shrinks towards leaving it out.
_PERCENT = st.integers(0, 99)


def _shift(date: datetime.date, days: int = 0, period: rt.Duration | None = None) -> datetime.date | None:
    """Move a date back by a period and forward by days; None when it leaves the calendar."""
    try:
        moved = rt.add_duration(date, period, -1) if period is not None else date
        return moved + datetime.timedelta(days=days)
    except (OverflowError, ValueError, rt.RuleError):
        return None


def _in_range(date: datetime.date) -> datetime.date:
    """The nearest day a case may name: editions may start or end anywhere in the calendar, cases may not."""
    return min(max(date, FIRST_CASE_DATE), LAST_CASE_DATE)


class CaseStrategies:
    """Draw the inputs of one compiled set of guidelines; strategies are built once and reused."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.program = schedule.program
        self.schema: CaseSchema = schedule.program.schema
        self.bounds = boundaries(schedule.program)
        self.specs = {spec.name: spec for spec in self.schema.inputs}
        self.rows_for = {
            name: [r for r in self.bounds.rows if r.keys and set(r.keys) <= {f for f, _ in fields}]
            for name, fields in self.schema.records.items()
        }
        self._cache: dict[Type, st.SearchStrategy[Any]] = {}

    # scalars: built once per type
    def integer(self, type_: Type) -> st.SearchStrategy[int]:
        """Integers in the type's bounds, gathered around every integer constant (N-1, N, N+1)."""
        known = self.bounds.integers
        low = type_.low if type_.low is not None else min([0, *known])
        high = type_.high if type_.high is not None else max([100, *known]) * 2
        if low > high:
            return st.nothing()
        near = sorted({v for n in (*known, low) for v in (n - 1, n, n + 1) if low <= v <= high})
        small = min(high, max([low + 12, *(v + 3 for v in near)]))
        # Branches are picked about evenly: the lowest (no prior visits), small numbers and the
        # boundaries, now and then any.
        options = [st.integers(low, small), st.just(low)]
        if near:
            options += [st.sampled_from(near)] * 2
        options.append(st.integers(low, high))
        return st.one_of(options)

    def date(self, editions: Iterable[str] | None = None) -> st.SearchStrategy[datetime.date]:
        """Dates around every date constant and edition bound (the day before, on, after), or any nearby.

        Most dates fall while one of `editions` (default: any) is in force, where its rules can decide.
        """
        marks = self.bounds.dates + self.bounds.editions
        # A date beyond the days a case may name gives the nearest that it may: the range's end.
        near = sorted({_in_range(d) for m in marks for k in (-1, 0, 1) if (d := _shift(m, k)) is not None})
        # Three years either side of the dates the rules name, within the days a case may name.
        low = _in_range(_shift(min(marks), -1095) or datetime.date.min) if marks else _FIRST
        high = _in_range(_shift(max(marks), 1095) or datetime.date.max) if marks else _LAST
        wanted = set(editions) if editions is not None else {g.name for g in self.program.guidelines}
        spans = [
            (g.in_force_from or low, g.in_force_to or max(high, _shift(g.in_force_from or low, 3652) or high))
            for g in self.program.guidelines
            if g.name in wanted
        ]
        # Listed three times: one_of picks a branch uniformly, and in-force dates matter most.
        # An edition in force only outside the days a case may name gives none.
        options = [
            st.dates(max(a, FIRST_CASE_DATE), min(b, LAST_CASE_DATE))
            for a, b in spans
            if max(a, FIRST_CASE_DATE) <= min(b, LAST_CASE_DATE)
        ] * 3
        if near:
            options.append(st.sampled_from(near))
        options.append(st.dates(min(low, high), max(low, high)))
        return st.one_of(options)

    def text(self) -> st.SearchStrategy[str]:
        """Text constants of the rules (procedure names), or another word."""
        other = st.text(_WORD, min_size=1, max_size=10)
        return st.one_of(st.sampled_from(self.bounds.texts), other) if self.bounds.texts else other

    def code(self) -> st.SearchStrategy[str]:
        """Codes in (and just outside) the condition code sets, or any other valid code."""
        icd9 = st.builds(lambda a, b: f"{a:03d}.{b}", st.integers(1, 999), st.integers(0, 9))
        icd10 = st.builds(
            lambda letter, a, b: f"{letter}{a:02d}.{b}",
            st.sampled_from(string.ascii_uppercase),
            st.integers(0, 99),
            st.integers(0, 9),
        )
        if self.bounds.codes:
            return st.one_of(st.sampled_from(self.bounds.codes), icd9, icd10)
        return st.one_of(icd9, icd10)

    def scalar(self, type_: Type) -> st.SearchStrategy[Any]:
        """The strategy for a scalar or enumeration type, as JSON values."""
        found = self._cache.get(type_)
        if found is None:
            kind = type_.kind
            members = self.schema.enums.get(type_.name or "", ()) if kind == "enum" else ()
            if kind == "boolean":
                found = st.booleans()
            elif kind == "integer":
                found = self.integer(type_)
            elif kind == "date":
                found = self.date().map(datetime.date.isoformat)
            elif kind == "text":
                found = self.text()
            elif kind == "code":
                found = self.code()
            elif kind == "enum" and members:
                found = st.sampled_from(members)
            else:
                found = st.nothing()
            self._cache[type_] = found
        return found

    # any value, drawn in the context of the case drawn so far
    def draw_value(self, draw: Callable[..., Any], type_: Type, drawn: Mapping[str, Any]) -> Any:
        """Draw a JSON value of `type_`; dates and records may depend on the case `drawn` so far."""
        kind = type_.kind
        if kind == "date" and isinstance(drawn.get("request_date"), str) and draw(_COIN):
            return self.draw_before(draw, drawn["request_date"], self.bounds.periods)
        if kind == "record":
            return self.draw_record(draw, type_.name or "", drawn)
        if kind in ("list", "set"):
            assert type_.of is not None
            items: list[Any] = []
            for _ in range(draw(_LENGTHS)):
                item = self.draw_value(draw, type_.of, drawn)
                if kind == "list" or item not in items:
                    items.append(item)
            return items
        return draw(self.scalar(type_))

    def draw_before(self, draw: Callable[..., Any], anchor: str, periods: Sequence[rt.Duration]) -> str:
        """A date one day inside, on, or outside the end of a period counted back from `anchor` (or of none)."""
        start = datetime.date.fromisoformat(anchor)
        period = draw(st.sampled_from((None, *periods))) if periods else None
        moved = _shift(start, draw(_OFFSETS), period)
        return _in_range(moved or start).isoformat()

    def draw_record(self, draw: Callable[..., Any], name: str, drawn: Mapping[str, Any]) -> dict[str, Any]:
        """A record; often built from a table row and dated one day inside or outside the row's period."""
        rows = self.rows_for.get(name, [])
        row = draw(st.sampled_from(rows)) if rows and draw(_COIN) else None
        values: dict[str, Any] = {}
        for field, type_ in self.schema.records.get(name, ()):
            if row is not None and row.keys.get(field) is not None:
                values[field] = to_json(row.keys[field])
                if type_.kind != "enum" or draw(_COIN):
                    continue
            if type_.kind == "enum":
                # Records often describe the case's own region: a surgery on the requested body region.
                same = [v for n, v in drawn.items() if n in self.specs and self.specs[n].type == type_]
                if same and draw(_COIN):
                    values[field] = draw(st.sampled_from(same))
                    continue
            if type_.kind == "date" and isinstance(drawn.get("request_date"), str):
                periods = (row.periods if row else ()) + self.bounds.periods
                values[field] = self.draw_before(draw, drawn["request_date"], periods)
                continue
            values[field] = self.draw_value(draw, type_, drawn)
        return values

    def value(self, type_: Type, drawn: Mapping[str, Any] | None = None) -> st.SearchStrategy[Any]:
        """A strategy for JSON values of `type_`, in the context of the case `drawn` so far."""
        context = dict(drawn or {})
        return st.composite(lambda draw: self.draw_value(draw, type_, context))()

    # whole cases
    def case_data(
        self,
        *,
        rules: Iterable[str] | None = None,
        unknown: bool | float = True,
        fields: Mapping[str, Any] | None = None,
    ) -> st.SearchStrategy[dict[str, Any]]:
        """Cases as JSON-ready dicts; see `case_data` in this package for the arguments."""
        fixed = dict(fields or {})
        allowed = set(self.schema.field_names())
        for name in fixed:
            if name not in allowed:
                raise ValueError(f"unknown case field '{name}'{did_you_mean(name, sorted(allowed))}")
        pairs = self._pairs(rules)
        # The chance an optional input is left out: True is one in ten.
        absent = round(100 * (0.1 if unknown is True else float(unknown)))
        request_date = None
        if rules is not None and "request_date" not in fixed:
            editions = {self.program.rule(name).guideline for name in rules}
            request_date = self.date(editions).map(datetime.date.isoformat)
        order = sorted(self.schema.inputs, key=lambda s: s.type.kind in ("list", "set", "record"))

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            data: dict[str, Any] = {}
            if pairs and "service" not in fixed and "body_region" not in fixed and draw(st.integers(0, 9)) > 0:
                data["service"], data["body_region"] = draw(st.sampled_from(pairs))
            if request_date is not None:
                data["request_date"] = draw(request_date)
            for spec in order:
                name = spec.name
                if name in fixed:
                    value = fixed[name]
                    value = draw(value) if isinstance(value, st.SearchStrategy) else to_json(value)
                    if value is not None:
                        data[name] = value
                    continue
                if name in data or name == "quantity":
                    continue
                # Absent (unknown) shrinks first, so counterexamples show only the facts that matter.
                if absent and not spec.required and draw(_PERCENT) < absent:
                    continue
                if not spec.required and self.scalar(spec.type).is_empty and spec.type.kind not in _COMPOUND:
                    continue  # no value is valid (an enumeration with no members): leave it out
                data[name] = self.draw_value(draw, spec.type, data)
            self.keep_relations(data, fixed)
            if "quantity" not in fixed and "quantity" in self.specs:
                data["quantity"] = self._quantity(draw, data)
            return {name: data[name] for name in self.schema.field_names() if name in data}

        return build()

    def keep_relations(self, data: dict[str, Any], fixed: Mapping[str, Any]) -> None:
        """Raise (or lower) counts drawn independently so the case keeps its declared `at most` relations."""
        for _ in self.schema.relations:  # a chain of n relations settles in n passes
            for relation in self.schema.relations:
                low, high = data.get(relation.lower), data.get(relation.upper)
                if not isinstance(low, int) or not isinstance(high, int) or low <= high:
                    continue
                if relation.upper not in fixed:
                    data[relation.upper] = low
                elif relation.lower not in fixed:
                    data[relation.lower] = high

    def _pairs(self, rules: Iterable[str] | None) -> list[tuple[str, str]]:
        if rules is None:
            return []
        wanted = set(rules)
        unknown = wanted - {r.name for r in self.program.rules}
        if unknown:
            name = sorted(unknown)[0]
            raise ValueError(f"unknown rule '{name}'{did_you_mean(name, [r.name for r in self.program.rules])}")
        return sorted(key for key, (names, caps) in self.program.dispatch if wanted & set(names + caps))

    def _quantity(self, draw: st.DrawFn, data: dict[str, Any]) -> int:
        """Draw the quantity last: any, or one at a boundary (the units still allowed, a limit less the units counted).

        One draw, so that shrinking moves it down like any number (and past the boundaries).
        """
        spec = self.specs["quantity"].type
        low = spec.low if spec.low is not None else 1
        high = spec.high if spec.high is not None else 1000
        targets: set[int] = set()
        # What the rules allow this case: decide it asking for as much as possible.
        try:
            decision = self.schedule.decide({**data, "quantity": high})
        except Exception:
            decision = None
        if decision is not None and decision.outcome.value in DECIDED:
            targets.add(decision.approved)
        counted = [0] + [data[c] for c in self.bounds.counting if isinstance(data.get(c), int)]
        targets.update(n - c for n in self.bounds.integers for c in counted)
        near = sorted({t + d for t in targets for d in (-1, 0, 1) if low <= t + d <= high})
        plain = self.scalar(spec)
        # Boundaries first (two branches of three), so shrinking lands on the smallest one that fails.
        chosen = st.one_of(st.sampled_from(near), st.sampled_from(near), plain) if near else plain
        return int(draw(chosen))


# --- the default guidelines ----------------------------------------------------------------------

_default: Schedule | None = None


def use_guidelines(guidelines: Schedule | Iterable[str | Path] | None) -> Schedule | None:
    """Set the guidelines `st.from_type(Case)` draws cases for (a Schedule or paths; None: the default)."""
    global _default
    if guidelines is None or isinstance(guidelines, Schedule):
        _default = guidelines
    else:
        _default = load(list(guidelines))
    return _default


def default_schedule() -> Schedule:
    """The guidelines `st.from_type(Case)` uses: set by use_guidelines, else $MTUS_GUIDELINES, else the corpus."""
    global _default
    if _default is None:
        paths = os.environ.get("MTUS_GUIDELINES")
        _default = load(paths.split(os.pathsep) if paths else None)
    return _default


_builders: weakref.WeakKeyDictionary[Schedule, CaseStrategies] = weakref.WeakKeyDictionary()


def builder(schedule: Schedule) -> CaseStrategies:
    """Return the strategy builder of a schedule, made once."""
    found = _builders.get(schedule)
    if found is None:
        found = _builders[schedule] = CaseStrategies(schedule)
    return found
