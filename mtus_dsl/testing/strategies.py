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

def aimed_cases(program: ir.Program) -> list[dict[str, Any]]:
    """The solver's cases on both sides of every rule's conditions (aim.aimed_cases; about 45 s for the
    shipped corpus, so `--thorough` only, and once per set of strategies)."""
    from mtus_dsl.testing import aim  # the solver: loaded only when aimed cases are wanted

    found: list[dict[str, Any]] = aim.aimed_cases(program)
    return found


def counterexample(program: ir.Program, prop: ir.PropertyInfo) -> dict[str, Any] | None:
    """The solver's case breaking a stated property (aim.counterexample)."""
    from mtus_dsl.testing import aim

    return aim.counterexample(program, prop)


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


@attrs.frozen
class Aim:
    """Where one rule decides: its (service, region) pairs, its edition, and values that meet or miss its conditions."""

    rule: str
    pairs: tuple[tuple[str, str], ...]
    edition: str
    hints: Mapping[str, tuple[Any, ...]]  # input -> JSON values on both sides of a condition on it
    focus: tuple[tuple[str, str], ...]  # the pairs its own conditions name (`when service = massage`)


def aims(program: ir.Program, rules: Iterable[str]) -> list[Aim]:
    """One aim per rule (and cap): the scope it is dispatched to, and its conditions' boundary values."""
    dispatch = [(key, set(names + caps)) for key, (names, caps) in program.dispatch]
    facts = {f.name: f for f in program.facts}
    codes = {name: _codes([(name, patterns)]) for name, patterns in program.codesets}
    inputs = {spec.name: spec.type for spec in program.schema.inputs}
    out: list[Aim] = []
    for name in rules:
        rule = program.rule(name)
        pairs = tuple(sorted(key for key, names in dispatch if name in names))
        hints: dict[str, set[Any]] = {}
        pending: list[ir.Expr] = [*rule.when, *rule.unless]
        seen: set[str] = set()
        while pending:
            for node in ir.walk(pending.pop()):
                if isinstance(node, ir.Fact) and node.name in facts and node.name not in seen:
                    seen.add(node.name)
                    pending.append(facts[node.name].expr)
                elif isinstance(node, ir.Compare):
                    _compare_hints(node, inputs, hints)
                elif isinstance(node, ir.Member) and isinstance(node.item, ir.Input):
                    if isinstance(node.collection, ir.Const) and isinstance(node.collection.value, frozenset):
                        hints.setdefault(node.item.name, set()).update(to_json(v) for v in node.collection.value)
                elif isinstance(node, ir.Member) and isinstance(node.item, ir.Const):
                    # `crps in conditions`: the condition word, or a diagnosis in its code set.
                    condition = node.item.value
                    for input_name, type_ in inputs.items():
                        if type_.kind == "enum" and type_ == node.item.type:
                            hints.setdefault(input_name, set()).add(condition)
                        elif type_.kind == "list" and type_.of is not None and type_.of.kind == "code":
                            found = codes.get(str(condition), [])
                            hints.setdefault(input_name, set()).update((code,) for code in found[:4])
        shaped = {k: tuple(sorted(v, key=repr)) for k, v in hints.items() if v}
        focus = tuple(
            (service, region)
            for service, region in pairs
            if service in shaped.get("service", (service,)) and region in shaped.get("body_region", (region,))
        )
        out.append(Aim(name, pairs, rule.guideline, shaped, focus or pairs))
    return out


def _compare_hints(node: ir.Compare, inputs: Mapping[str, Type], hints: dict[str, set[Any]]) -> None:
    """Values of an input compared with a constant: the constant, and one step either side of it."""
    left, right = node.left, node.right
    if isinstance(left, ir.Const) and isinstance(right, ir.Input):
        left, right = right, left
    if not (isinstance(left, ir.Input) and isinstance(right, ir.Const)) or left.name not in inputs:
        return
    value, type_ = right.value, inputs[left.name]
    found = hints.setdefault(left.name, set())
    if type(value) is int and type_.kind == "integer":
        low = type_.low if type_.low is not None else value - 1
        high = type_.high if type_.high is not None else value + 1
        found.update(v for v in (value - 1, value, value + 1) if low <= v <= high)
    elif isinstance(value, datetime.date) and type_.kind == "date":
        found.update(d.isoformat() for k in (-1, 0, 1) if (d := _shift(value, k)) is not None)
    elif isinstance(value, (str, bool)) and type_.kind in ("enum", "boolean", "text"):
        found.add(value)


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


def weighted(*branches: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Draw from one of the strategies, picked with the given weights (one_of picks evenly, and drops repeats)."""
    chosen = [strategy for weight, strategy in branches for _ in range(weight)]
    return st.sampled_from(chosen).flatmap(lambda strategy: strategy)


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
        #: Mix the solver's aimed cases into the draws (`mtus test --thorough`: they take a while to find).
        self.solver = False
        self._solved: list[dict[str, Any]] | None = None

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
        return weighted(
            (1, st.integers(low, small)), (1, st.just(low)), (2 if near else 0, st.sampled_from(near or [low])),
            (1, st.integers(low, high)),
        )

    def date(self, editions: Iterable[str] | None = None, inside: int = 3) -> st.SearchStrategy[datetime.date]:
        """Dates around every date constant and edition bound (the day before, on, after), or any nearby.

        Most dates fall while one of `editions` (default: any) is in force, where its rules can decide:
        `inside` in `inside + 2` of them.
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
        # In-force dates matter most: `inside` times as often as the edges, or any date nearby. An edition
        # in force only outside the days a case may name gives none.
        options = [
            (inside, st.dates(max(a, FIRST_CASE_DATE), min(b, LAST_CASE_DATE)))
            for a, b in spans
            if max(a, FIRST_CASE_DATE) <= min(b, LAST_CASE_DATE)
        ]
        if near:
            options.append((1, st.sampled_from(near)))
        options.append((1, st.dates(min(low, high), max(low, high))))
        return weighted(*options)

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
        unknown: bool | float | Sequence[float] = True,
        fields: Mapping[str, Any] | None = None,
    ) -> st.SearchStrategy[dict[str, Any]]:
        """Cases as JSON-ready dicts; see `case_data` in this package for the arguments."""
        fixed = dict(fields or {})
        allowed = set(self.schema.field_names())
        for name in fixed:
            if name not in allowed:
                raise ValueError(f"unknown case field '{name}'{did_you_mean(name, sorted(allowed))}")
        pairs = self._pairs(rules)
        targets = aims(self.program, sorted(set(rules))) if rules is not None else []
        targets = [t for t in targets if t.pairs]
        # A case aimed at a rule falls while its edition is in force nine times in ten (edges included).
        dates = {t.edition: self.date([t.edition], inside=18).map(datetime.date.isoformat) for t in targets}
        hinted = {
            # The quantity is drawn last, at its own boundaries (`_quantity`).
            t.rule: {name: st.sampled_from(v) for name, v in t.hints.items() if name not in {*fixed, "quantity"}}
            for t in targets
        }
        if self.solver and self._solved is None:
            self._solved = [c for c in aimed_cases(self.program) if c.get("service") and c.get("body_region")]
        solved = self._solved if self.solver and self._solved is not None else []
        # The values a fixed service or region may take: one value, or a sampled_from strategy's elements.
        scope: dict[str, set[Any]] = {}
        for name in ("service", "body_region"):
            if name in fixed:
                value = fixed[name]
                elements = getattr(value, "elements", None) if isinstance(value, st.SearchStrategy) else [value]
                scope[name] = set(elements) if elements is not None else set()
        solved = [c for c in solved if not pairs or (c["service"], c["body_region"]) in pairs]
        # The chance an optional input is left out: True is one in ten; of several, one is picked per case.
        chances = [unknown] if isinstance(unknown, (bool, int, float)) else list(unknown)
        absences = st.sampled_from([round(100 * (0.1 if c is True else float(c))) for c in chances])
        request_date = None
        if rules is not None and "request_date" not in fixed:
            editions = {self.program.rule(name).guideline for name in rules}
            request_date = self.date(editions).map(datetime.date.isoformat)
        order = sorted(self.schema.inputs, key=lambda s: s.type.kind in ("list", "set", "record"))

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            data: dict[str, Any] = {}
            absent = draw(absences)
            hints: Mapping[str, st.SearchStrategy[Any]] = {}
            compared: tuple[Any, ...] = ()  # the quantities the rule aimed at compares with, one either side
            # Nine cases in ten fall where one of the rules decides (its services, regions and edition),
            # with its conditions' boundary values now and then; the tenth tests the scope itself.
            aimed = bool(pairs) and draw(st.integers(0, 9)) > 0
            free = "service" not in fixed and "body_region" not in fixed
            if aimed and free and solved and draw(st.integers(0, 9)) == 0:
                return {k: v for k, v in draw(st.sampled_from(solved)).items() if k in allowed}
            # A fixed service or region (a stated property's `for` lines) narrows the rules aimed at to those
            # deciding there; the pair is then the rule's own, within the values fixed.
            def fits(pair: tuple[str, str]) -> bool:
                return all(v in scope[f] for f, v in zip(("service", "body_region"), pair) if f in scope)

            within = [t for t in targets if any(fits(pair) for pair in t.pairs)]
            if aimed and within:
                target = draw(st.sampled_from(within))
                # Mostly where its own conditions point (`when service = massage`).
                focused = [pair for pair in target.focus if fits(pair)]
                options = focused if focused and draw(st.integers(0, 3)) > 0 else [p for p in target.pairs if fits(p)]
                data["service"], data["body_region"] = draw(st.sampled_from(options))
                if request_date is not None:
                    data["request_date"] = draw(dates[target.edition])
                hints = hinted[target.rule]
                compared = target.hints.get("quantity", ())
            elif aimed and free:
                data["service"], data["body_region"] = draw(st.sampled_from(pairs))
            if request_date is not None and "request_date" not in data:
                data["request_date"] = draw(request_date)
            for spec in order:
                name = spec.name
                if name in data:
                    continue
                if name in hints and draw(_COIN):
                    data[name] = to_json(draw(hints[name]))
                    continue
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
                data["quantity"] = self._quantity(draw, data, compared)
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

    def _quantity(self, draw: st.DrawFn, data: dict[str, Any], compared: Sequence[int] = ()) -> int:
        """Draw the quantity last: any, or one at a boundary (the units still allowed, a limit less the units counted).

        One draw, so that shrinking moves it down like any number (and past the boundaries).
        """
        spec = self.specs["quantity"].type
        low = spec.low if spec.low is not None else 1
        high = spec.high if spec.high is not None else 1000
        targets: set[int] = set()
        allowed: list[int] = []
        # What the rules allow this case: decide it asking for as much as possible.
        try:
            decision = self.schedule.decide({**data, "quantity": high})
        except Exception:
            decision = None
        if decision is not None and decision.outcome.value in DECIDED:
            targets.add(decision.approved)
            allowed = [v for v in (decision.approved - 1, decision.approved, decision.approved + 1) if low <= v <= high]
        counted = [0] + [data[c] for c in self.bounds.counting if isinstance(data.get(c), int)]
        targets.update(n - c for n in self.bounds.integers for c in counted)
        near = sorted({t + d for t in targets for d in (-1, 0, 1) if low <= t + d <= high})
        plain = self.scalar(spec)
        # Boundaries first, so shrinking lands on the smallest one that fails; what the rules still
        # allow this very case (one either side) is a branch of its own: where limits bind or break.
        options: list[tuple[int, st.SearchStrategy[Any]]] = [(2, st.sampled_from(near))] if near else []
        if allowed:
            options.append((2, st.sampled_from(allowed)))
        # The quantities the rule aimed at compares the request with (`when quantity > 12`), one either side.
        within = [v for v in compared if low <= v <= high]
        if within:
            options.append((2, st.sampled_from(within)))
        return int(draw(weighted(*options, (1, plain))))


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
