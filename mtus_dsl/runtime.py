"""Values and three-valued operations: what guards and limits compute with, in both backends.

The runtime is three modules: this one (values and operations), `engine` (the
decision plan and the one procedure that executes it) and `text` (rationales,
trace entries, how values read). Compiled guideline modules import those (and
case, decision, types), never the compiler.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Mapping
from typing import Any

import attrs

from mtus_dsl.case import Record

# --- values --------------------------------------------------------------------


class Unknown:
    """A value the case does not give; carries the input facts it depends on."""

    __slots__ = ("facts",)

    def __init__(self, facts: frozenset[str]):
        self.facts = facts

    def __repr__(self) -> str:
        return f"Unknown({sorted(self.facts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown) and other.facts == self.facts

    def __hash__(self) -> int:
        return hash(self.facts)


def join(*values: Any) -> Unknown:
    """Return the Unknown that depends on every unknown among `values` (one of them, when it says it all)."""
    found: Unknown | None = None
    facts: frozenset[str] = frozenset()
    for value in values:
        if value.__class__ is Unknown:
            if found is None:
                found, facts = value, value.facts
            elif not value.facts <= facts:
                facts = facts | value.facts
                found = None
    if found is not None and found.facts == facts:
        return found
    return Unknown(facts)


#: A guard's verdict is (value, reason): the index of the clause that ruled the rule out, or one of these.
NOT_IN_FORCE = -2  # its edition is not in force on the request date
OUT_OF_SCOPE = -3  # consulted by another rule for a service or body region it does not cover


class RuleError(Exception):
    """A guideline evaluated something undefined (a field of `none`, a division by zero).

    The engine locates it: `where` names the rule or fact that failed, `source` its
    `.mtus` path:line:col, and `values` the inputs and facts it had read.
    """

    def __init__(self, message: str, *, where: str | None = None, source: str | None = None,
                 values: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.source = source
        self.values: dict[str, Any] = dict(values or {})

    def __str__(self) -> str:
        if self.where is None:
            return self.message
        text = f"{self.source}: {self.where} failed on this case: {self.message}"
        if self.values:
            from mtus_dsl.text import show_value

            text += " (it read " + ", ".join(f"{k} = {show_value(v)}" for k, v in self.values.items()) + ")"
        return text


@attrs.frozen
class Duration:
    """A length of time: `4 weeks`, `6 months`."""

    amount: int
    unit: str  # days, weeks, months, years

    def __str__(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"


def add_duration(date: datetime.date, duration: Duration, sign: int = 1) -> datetime.date:
    """Add (or subtract) a duration; months and years keep the day, clamped to the month's end.

    A date beyond the calendar (before 0001-01-01, after 9999-12-31) is a RuleError.
    """
    try:
        return _add_duration(date, duration, sign)
    except (OverflowError, ValueError):
        raise RuleError(f"{date.isoformat()} {'+' if sign > 0 else '-'} {duration} is not a date") from None


def _add_duration(date: datetime.date, duration: Duration, sign: int) -> datetime.date:
    amount = duration.amount * sign
    if duration.unit == "days":
        return date + datetime.timedelta(days=amount)
    if duration.unit == "weeks":
        return date + datetime.timedelta(weeks=amount)
    months = amount * (12 if duration.unit == "years" else 1)
    month_index = date.year * 12 + date.month - 1 + months
    year, month = divmod(month_index, 12)
    day = min(date.day, calendar.monthrange(year, month + 1)[1])
    return datetime.date(year, month + 1, day)


#: The units `days_between`, `weeks_between`, `months_between` and `years_between` count in.
BETWEEN_UNITS = ("days", "weeks", "months", "years")


def between(unit: str, start: Any, end: Any) -> Any:
    """Whole `unit`s from `start` to `end` (negative when `end` comes first); unknown if either date is.

    Days are calendar days; a week is 7 of them, rounded down. A month is counted
    when `start` moved by that many months (the day kept, clamped to the month's
    end, as `start + N months` does) is not after `end`; a year is 12 such months.
    So 2015-01-31 to 2015-02-28 is 1 month, and someone born on 2016-02-29 is 1
    year old on 2017-02-28.
    """
    if start.__class__ is Unknown or end.__class__ is Unknown:
        return join(start, end)
    if start is None or end is None:
        raise RuleError(f"{unit}_between() of none")
    if end < start:
        return -_between(unit, end, start)
    return _between(unit, start, end)


def _between(unit: str, start: datetime.date, end: datetime.date) -> int:
    days = (end - start).days
    if unit == "days":
        return days
    if unit == "weeks":
        return days // 7
    months = (end.year - start.year) * 12 + end.month - start.month
    if _add_duration(start, Duration(months, "months"), 1) > end:
        months -= 1
    return months if unit == "months" else months // 12


def units_within(dates: Any, request_date: Any, period: Any, otherwise: Any) -> Any:
    """The prior units a limit `over PERIOD` counts: those dated within the period up to the request date.

    A unit dated `d` counts when `request_date - period < d <= request_date` (with
    `over 4 weeks` and a request on 2015-03-01: the units from 2015-02-02 to
    2015-03-01). When the case does not date its prior units (or the period is
    none), the limit counts `otherwise`, the prior units as a number.
    """
    if dates.__class__ is Unknown or dates is None or period is None:
        return otherwise
    if request_date.__class__ is Unknown or period.__class__ is Unknown:
        return join(request_date, period)
    start = add_duration(request_date, period, -1)
    return sum(1 for date in dates if start < date <= request_date)


# --- three-valued operations ----------------------------------------------------------
# Both backends evaluate the left operand first and skip the right one when the
# left decides (False for `and`, True for `or`); these finish the job.


def and_rest(left: Any, right: Any) -> Any:
    """Finish `left and right` when `left` is not False."""
    if right is False:
        return False
    if left is True:
        return right
    return join(left, right)


def or_rest(left: Any, right: Any) -> Any:
    """Finish `left or right` when `left` is not True."""
    if right is True:
        return True
    if left is False:
        return right
    return join(left, right)


def not_(value: Any) -> Any:
    """Negate a three-valued boolean."""
    return value if value.__class__ is Unknown else not value


def compare(op: str, left: Any, right: Any) -> Any:
    """Compare two values; unknown if either is."""
    if left.__class__ is Unknown or right.__class__ is Unknown:
        return join(left, right)
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        raise RuleError(f"cannot order 'none' with {op}")
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def arith(op: str, left: Any, right: Any) -> Any:
    """Add, subtract or multiply integers; add or subtract a duration to a date."""
    if left.__class__ is Unknown or right.__class__ is Unknown:
        return join(left, right)
    if left is None or right is None:
        raise RuleError(f"cannot compute with 'none' ({op})")
    if right.__class__ is Duration:
        return add_duration(left, right, -1 if op == "-" else 1)
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    return left * right


def divide(left: Any, right: Any, rounding: str) -> Any:
    """Divide integers, rounding as the guideline states."""
    if left.__class__ is Unknown or right.__class__ is Unknown:
        return join(left, right)
    if left is None or right is None:
        raise RuleError("cannot divide 'none'")
    if right == 0:
        raise RuleError("division by zero")
    return left // right if rounding == "down" else -(-left // right)


def member(item: Any, collection: Any, negated: bool) -> Any:
    """`item in collection`, three-valued."""
    if item.__class__ is Unknown or collection.__class__ is Unknown:
        return join(item, collection)
    if collection is None:
        raise RuleError("'in' a collection that is none")
    found = item in collection
    return not found if negated else found


def exists(value: Any) -> Any:
    """`value exists`: not none; unknown stays unknown."""
    return value if value.__class__ is Unknown else value is not None


def attr(obj: Any, name: str) -> Any:
    """A field of a record or table row; reading a field of `none` is a rule error."""
    if obj.__class__ is Unknown:
        return obj
    if obj is None:
        raise RuleError(f"read '.{name}' of none (guard the rule with '... exists')")
    return obj.values[name]


def collection(value: Any) -> Any:
    """Return a list to quantify over, or an Unknown."""
    if value is None:
        raise RuleError("quantify over none")
    return value


def quantify(kind: str, results: list[tuple[Any, Any]]) -> Any:
    """Combine (item, condition value) pairs for `any`, `all`, `latest` or `count`."""
    unknown = [v for _, v in results if v.__class__ is Unknown]
    if kind == "any":
        if any(v is True for _, v in results):
            return True
        return join(*unknown) if unknown else False
    if kind == "all":
        if any(v is False for _, v in results):
            return False
        return join(*unknown) if unknown else True
    if unknown:
        # Which item matches (or how many) depends on what the case does not say.
        return join(*unknown)
    matches = [item for item, v in results if v is True]
    if kind == "count":
        return len(matches)
    if not matches:
        return None
    return max(matches, key=record_date)


def record_date(record: Record) -> Any:
    """The date of a record: what `latest` picks by."""
    return record.values["date"]


def extremum(func: str, args: list[Any]) -> Any:
    """`min(...)` or `max(...)` of integers."""
    if any(a.__class__ is Unknown for a in args):
        return join(*args)
    if any(a is None for a in args):
        raise RuleError(f"{func}() of none")
    return min(args) if func == "min" else max(args)


def set_of(items: list[Any]) -> Any:
    """A set built at run time; unknown if any item is."""
    if any(i.__class__ is Unknown for i in items):
        return join(*items)
    return frozenset(items)


# --- built-in functions and tables ------------------------------------------------------


@attrs.frozen
class Table:
    """A lookup table declared in a guideline file."""

    name: str
    rows: Mapping[tuple[Any, ...], Record]
    otherwise: Record | None

    @classmethod
    def from_rows(
        cls,
        name: str,
        key_names: tuple[str, ...],
        value_names: tuple[str, ...],
        rows: tuple[tuple[Any, ...], ...],
        otherwise: tuple[Any, ...] | None,
    ) -> Table:
        """Build a table from its rows as written: key cells then value cells; `otherwise` has value cells only."""
        names = key_names + value_names
        width = len(key_names)
        records = {row[:width]: Record(name, dict(zip(names, row))) for row in rows}
        default = None
        if otherwise is not None:
            default = Record(name, dict(zip(names, (None,) * width + otherwise)))
        return cls(name, records, default)

    def lookup(self, keys: tuple[Any, ...]) -> Any:
        """Return the row for `keys`, the `otherwise` row, or none; unknown keys give unknown."""
        for key in keys:
            if key.__class__ is Unknown:
                return join(*keys)
        row = self.rows.get(keys)
        return row if row is not None else self.otherwise


class CodeIndex:
    """Code sets indexed by code: exact codes and each prefix length map to their conditions.

    `conditions_of` then costs a few dict lookups per diagnosis however many code
    sets the guidelines declare, instead of a scan of every pattern.
    """

    __slots__ = ("exact", "lengths", "prefixes")

    def __init__(self, codesets: Mapping[str, tuple[str, ...]]):
        exact: dict[str, list[str]] = {}
        prefixes: dict[str, list[str]] = {}
        for name, patterns in codesets.items():
            for pattern in patterns:
                if pattern.endswith("*"):
                    prefixes.setdefault(pattern[:-1], []).append(name)
                else:
                    exact.setdefault(pattern, []).append(name)
        self.exact = {code: tuple(names) for code, names in exact.items()}
        self.prefixes = {prefix: tuple(names) for prefix, names in prefixes.items()}
        self.lengths = tuple(sorted({len(prefix) for prefix in prefixes}))

    def add_conditions(self, code: str, found: set[str]) -> None:
        """Add the conditions whose code sets hold `code` to `found`."""
        names = self.exact.get(code)
        if names:
            found.update(names)
        for length in self.lengths:
            if length > len(code):
                break
            names = self.prefixes.get(code[:length])
            if names:
                found.update(names)


def conditions_of(codesets: Mapping[str, tuple[str, ...]] | CodeIndex, condition: Any, diagnoses: Any) -> Any:
    """The set of conditions a case has: its `condition` word and its diagnoses' code sets.

    Unknown while the diagnoses are: a condition word alone cannot say that no
    diagnosis adds another condition (a CRPS code would change the limit). A
    case with no diagnoses says so with an empty list.
    """
    if diagnoses.__class__ is Unknown:
        return diagnoses
    found: set[str] = set()
    if condition.__class__ is not Unknown:
        found.add(condition)
    if diagnoses.__class__ is not Unknown:
        if isinstance(codesets, CodeIndex):
            for code in diagnoses:
                codesets.add_conditions(code, found)
            return frozenset(found)
        for name, patterns in codesets.items():
            if any(_code_matches(code, p) for code in diagnoses for p in patterns):
                found.add(name)
    return frozenset(found)


def _code_matches(code: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return code.startswith(pattern[:-1])
    return code == pattern
