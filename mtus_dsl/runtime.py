"""The runtime shared by the interpreter and compiled code: values, three-valued logic, deciding.

Compiled guideline modules import only this module (and the small modules it
imports: case, decision, types), never the compiler.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import attrs

from mtus_dsl.case import Case, CaseSchema, Record
from mtus_dsl.decision import Citation, Decision, Outcome, TraceEntry

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
    """Return the Unknown that depends on every unknown among `values`."""
    facts: frozenset[str] = frozenset()
    for value in values:
        if value.__class__ is Unknown:
            facts = facts | value.facts
    return Unknown(facts)


class RuleError(Exception):
    """A guideline evaluated something undefined (a field of `none`, a division by zero)."""


class ConflictError(RuleError):
    """Two rules both govern one case: the checks should have caught it."""


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


BUILTINS: dict[str, Callable[..., Any]] = {}


# --- the decision engine --------------------------------------------------------------


@attrs.frozen
class GuidelineMeta:
    """A guideline edition as the runtime needs it: names and dates in force."""

    name: str
    title: str
    edition: str
    regulation: str | None
    in_force_from: datetime.date | None
    in_force_to: datetime.date | None

    def in_force(self, date: datetime.date) -> bool:
        """Tell whether this edition governs requests dated `date`."""
        if self.in_force_from is not None and date < self.in_force_from:
            return False
        return self.in_force_to is None or date <= self.in_force_to

    def describe(self) -> str:
        """Name the edition and its dates, for not_addressed answers."""
        start = self.in_force_from.isoformat() if self.in_force_from else "always"
        end = self.in_force_to.isoformat() if self.in_force_to else "today"
        return f"{self.title} ({self.edition}), in force {start} to {end}"


@attrs.frozen
class RuleMeta:
    """What the runtime knows of a rule: identity, citation, action kind, trace texts."""

    name: str
    kind: str  # "rule" | "cap"
    guideline: str
    citation: Citation
    action: str  # limit | trial | certify | non_certify
    unit: str
    reasons: tuple[str, ...]  # why the rule does not apply, per when/unless clause
    explained: tuple[str, ...]  # facts whose explanation joins the rationale
    source: str  # path:line


#: How a backend checks a rule: (True | False | Unknown, index of the deciding clause or -1).
Check = Callable[["Facts"], tuple[Any, int]]
#: How a backend evaluates an action's operands; see Engine.allowance for their order.
Operands = Callable[["Facts"], tuple[Any, ...]]
#: How a backend renders a rule's rationale from the facts and the decision's numbers.
Render = Callable[["Facts", Mapping[str, Any]], str]


@attrs.frozen
class RuleHandle:
    """A rule as the engine calls it: metadata plus the backend's functions."""

    meta: RuleMeta
    check: Check
    operands: Operands
    rationale: Render | None


@attrs.frozen
class Bucket:
    """The rules and caps that may decide requests for one service and body region."""

    rules: tuple[RuleHandle, ...]
    caps: tuple[RuleHandle, ...]

    @property
    def unit(self) -> str:
        """What requests here count (visits, treatments, days): the unit of the first rule."""
        first = self.rules or self.caps
        return first[0].meta.unit if first else "units"


class Facts(dict[str, Any]):
    """The facts of one case: inputs filled in, derived facts computed once, on first use."""

    __slots__ = ("engine",)

    def __init__(self, engine: Engine, values: Mapping[str, Any]):
        super().__init__(values)
        self.engine = engine

    def __missing__(self, name: str) -> Any:
        value = self.engine.derive[name](self)
        self[name] = value
        return value

    def applies(self, rule: str) -> Any:
        """Whether `rule` applies to this case (memoised): True, False or Unknown."""
        key = "@" + rule
        if key in self:
            return dict.__getitem__(self, key)
        engine = self.engine
        if (self["service"], self["body_region"]) in engine.scopes[rule]:
            value = engine.applies(engine.rules[rule], self)[0]
        else:
            # A rule applies only to the services and body regions it covers.
            value = False
        self[key] = value
        return value


@attrs.frozen
class Allowance:
    """What a limit allows for one case: its number, the prior units counted, what remains, its period."""

    limit: int
    prior: int
    allowed: int
    period: Any


class Engine:
    """Decide cases: pick the governing rule, apply every cap, explain, cite, trace."""

    def __init__(
        self,
        *,
        schema: CaseSchema,
        guidelines: Iterable[GuidelineMeta],
        rules: Iterable[RuleHandle],
        dispatch: Mapping[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]],
        derive: Mapping[str, Callable[[Facts], Any]],
        explain: Mapping[str, Callable[[Facts, Any], str | None]],
        fast: Mapping[tuple[str, str], Callable[[Mapping[str, Any], str | None], Decision | None]] | None = None,
    ):
        self.schema = schema
        self.guidelines = {g.name: g for g in guidelines}
        self.rules = {r.meta.name: r for r in rules}
        self.buckets = {
            key: Bucket(tuple(self.rules[r] for r in rule_names), tuple(self.rules[c] for c in cap_names))
            for key, (rule_names, cap_names) in dispatch.items()
        }
        self.scopes: dict[str, set[tuple[str, str]]] = {name: set() for name in self.rules}
        for key, (rule_names, cap_names) in dispatch.items():
            for name in rule_names + cap_names:
                self.scopes[name].add(key)
        self.derive = derive
        self.explain = explain
        # Compiled code's straight-line decisions, by (service, body region): each
        # returns None to hand the case to the generic path below (an unknown fact,
        # an edition not in force, no rule or several rules governing).
        self.fast: dict[tuple[str, str], Callable[[Mapping[str, Any], str | None], Decision | None]] = dict(
            fast or {}
        )
        self.input_names = tuple(spec.name for spec in schema.inputs)
        # One Unknown per input, made once: a missing input depends on itself.
        self._unknowns = {name: Unknown(frozenset([name])) for name in self.input_names}
        # The trace entries that do not depend on the case, made once per rule.
        self._governs = {name: _entry(r, "governs", "applies to this request") for name, r in self.rules.items()}
        self._excepted = {
            name: tuple(_entry(r, "not_applicable", reason) for reason in r.meta.reasons)
            for name, r in self.rules.items()
        }

    def facts(self, case: Case) -> Facts:
        """Return the facts of a validated case, absent inputs unknown."""
        values = dict(self._unknowns)
        values.update(case.values)
        return Facts(self, values)

    def facts_from(self, values: Mapping[str, Any], memo: Mapping[str, Any]) -> Facts:
        """Facts from given inputs and derived facts already computed (compiled code's fast path)."""
        return Facts(self, {**self._unknowns, **values, **memo})

    def decide(self, case: Case | Mapping[str, Any]) -> Decision:
        """Decide one request."""
        if not isinstance(case, Case):
            case = Case.from_dict(case, self.schema)
        values = case.values
        key = (values["service"], values["body_region"])
        if key not in self.buckets:
            return self.not_addressed(case.id, values, [], out_of_force=(), unit="units")
        fast = self.fast.get(key)
        if fast is not None:
            decision = fast(values, case.id)
            if decision is not None:
                return decision
        return self._decide(case.id, self.facts(case))

    def applies(self, rule: RuleHandle, facts: Facts) -> tuple[Any, int]:
        """Check a rule's edition, `when` and `unless` clauses."""
        guideline = self.guidelines[rule.meta.guideline]
        if not guideline.in_force(facts["request_date"]):
            return (False, -2)
        return rule.check(facts)

    def _decide(self, case_id: str | None, facts: Facts) -> Decision:
        quantity: int = facts["quantity"]
        bucket = self.buckets.get((facts["service"], facts["body_region"]))
        trace: list[TraceEntry] = []
        if bucket is None:
            return self.not_addressed(case_id, facts, trace, out_of_force=(), unit="units")
        governing: list[RuleHandle] = []
        unknown: list[Any] = []
        out_of_force: list[str] = []
        for rule in bucket.rules:
            value, reason = self.applies(rule, facts)
            facts["@" + rule.meta.name] = value
            if value is True:
                governing.append(rule)
                trace.append(self._governs[rule.meta.name])
            elif value is False:
                if reason == -2 and rule.meta.guideline not in out_of_force:
                    out_of_force.append(rule.meta.guideline)
                trace.append(
                    self._excepted[rule.meta.name][reason]
                    if reason >= 0
                    else _entry(rule, "not_in_force", self._reason(rule, reason, facts))
                )
            else:
                unknown.append(value)
                trace.append(_entry(rule, "unknown", f"depends on {_names(value.facts)}, which the case does not give"))
        if len(governing) > 1:
            raise ConflictError("rules " + " and ".join(r.meta.name for r in governing) + " both govern this case")
        if not governing:
            if unknown:
                return self.needs_information(case_id, quantity, join(*unknown).facts, trace, bucket.unit)
            return self.not_addressed(case_id, facts, trace, out_of_force, bucket.unit)
        rule = governing[0]
        allowance = self.allowance(rule, facts, quantity)
        if allowance.__class__ is Unknown:
            # The rule governs, but its count is unknown: one entry says both.
            trace[trace.index(self._governs[rule.meta.name])] = limit_unknown_entry(rule, allowance)
            return self.needs_information(case_id, quantity, allowance.facts, trace, rule.meta.unit)
        approved = min(quantity, allowance.allowed)
        cap_results: list[tuple[RuleHandle, Allowance]] = []
        doubtful: list[tuple[RuleHandle, Any, Any]] = []
        if approved > 0:
            for cap in bucket.caps:
                applies, reason = self.applies(cap, facts)
                if applies is False:
                    trace.append(
                        self._excepted[cap.meta.name][reason]
                        if reason >= 0
                        else _entry(cap, "not_in_force", self._reason(cap, reason, facts))
                    )
                    continue
                result = self.allowance(cap, facts, quantity)
                if result.__class__ is not Unknown and (
                    result.allowed >= quantity
                    or result.allowed > approved
                    or (result.allowed == approved and applies is not True)
                ):
                    # It does not hold the request down. A cap that ties with the
                    # limit binds too and is cited, but only if it surely applies: a
                    # tie cannot change the numbers, so it never asks for facts.
                    trace.append(
                        _entry(
                            cap,
                            "applies" if applies is True else "unknown",
                            f"allows {result.allowed} more {cap.meta.unit}; does not bind",
                        )
                    )
                    continue
                if applies.__class__ is Unknown or result.__class__ is Unknown:
                    # Whether it binds is settled once the caps that surely apply have had their say.
                    doubtful.append((cap, applies, result))
                    continue
                cap_results.append((cap, result))
                approved = min(approved, result.allowed)
            missing: frozenset[str] = frozenset()
            for cap, applies, result in doubtful:
                if result.__class__ is not Unknown and (
                    result.allowed > approved or (result.allowed == approved and applies is not True)
                ):
                    trace.append(_entry(cap, "unknown", f"allows {result.allowed} more {cap.meta.unit}; does not bind"))
                    continue
                depends = join(applies, result).facts
                trace.append(_entry(cap, "unknown", f"may bind; depends on {_names(depends)}"))
                missing |= depends
            if missing:
                return self.needs_information(case_id, quantity, missing, trace, rule.meta.unit)
        return self.conclude(case_id, facts, quantity, rule, allowance, approved, cap_results, trace)

    def conclude(
        self,
        case_id: str | None,
        facts: Facts,
        quantity: int,
        rule: RuleHandle,
        allowance: Allowance,
        approved: int,
        cap_results: list[tuple[RuleHandle, Allowance]],
        trace: list[TraceEntry],
    ) -> Decision:
        """Finish a decision once the governing rule and the caps are known: outcome, citations, rationale."""
        binding = [(c, r) for c, r in cap_results if r.allowed == approved]
        for cap, result in cap_results:
            status = "binds" if (cap, result) in binding else "applies"
            trace.append(_entry(cap, status, f"allows {result.allowed} more {cap.meta.unit}"))
        if approved == quantity:
            outcome = Outcome.CERTIFY
        elif approved == 0:
            outcome = Outcome.NON_CERTIFY
        else:
            outcome = Outcome.MODIFY
        numbers = {
            "requested": quantity,
            "approved": approved,
            "limit": allowance.limit,
            "prior": allowance.prior,
            "allowed": allowance.allowed,
            "period": allowance.period,
            "unit": rule.meta.unit,
        }
        texts = [self._rationale(rule, facts, numbers)]
        for cap, result in binding:
            cap_numbers = dict(
                numbers,
                limit=result.limit,
                prior=result.prior,
                allowed=result.allowed,
                period=result.period,
                unit=cap.meta.unit,
            )
            texts.append(self._rationale(cap, facts, cap_numbers))
        for fact in rule.meta.explained:
            text = self.explain[fact](facts, facts[fact])
            if text:
                texts.append(text)
        if binding:
            citations = tuple(_unique([rule.meta.citation] + [c.meta.citation for c, _ in binding]))
            names = (rule.meta.name, *(c.meta.name for c, _ in binding))
        else:
            citations = (rule.meta.citation,)
            names = (rule.meta.name,)
        return Decision(
            id=case_id,
            outcome=outcome,
            requested=quantity,
            approved=approved,
            citations=citations,
            rationale=" ".join([sentence(t) for t in texts]),
            missing=(),
            trace=tuple(trace),
            rules=names,
            unit=rule.meta.unit,
        )

    def allowance(self, rule: RuleHandle, facts: Facts, quantity: int) -> Any:
        """How many more units `rule` allows, or Unknown if that depends on unknown facts."""
        action = rule.meta.action
        if action == "certify":
            return Allowance(quantity, 0, quantity, None)
        if action == "non_certify":
            return Allowance(0, 0, 0, None)
        ops = rule.operands(facts)
        if action == "limit":
            amount, period, prior = ops
            if amount.__class__ is Unknown or prior.__class__ is Unknown or period.__class__ is Unknown:
                return join(amount, prior, period)
            return Allowance(amount, prior, max(0, amount - prior), period)
        initial, initial_period, total, total_period, extension, prior = ops
        if prior.__class__ is Unknown or initial.__class__ is Unknown:
            return join(prior, initial)
        if prior < initial:
            if initial_period.__class__ is Unknown:
                return initial_period
            return Allowance(initial, prior, initial - prior, initial_period)
        if extension.__class__ is Unknown:
            return extension
        if extension is True:
            if total.__class__ is Unknown or total_period.__class__ is Unknown:
                return join(total, total_period)
            return Allowance(total, prior, max(0, total - prior), total_period)
        return Allowance(initial, prior, 0, initial_period)

    def _reason(self, rule: RuleHandle, reason: int, facts: Facts) -> str:
        if reason == -2:
            g = self.guidelines[rule.meta.guideline]
            return f"{g.title} ({g.edition}) is not in force on {facts['request_date'].isoformat()}"
        return rule.meta.reasons[reason]

    def _rationale(self, rule: RuleHandle, facts: Facts, numbers: Mapping[str, Any]) -> str:
        if rule.rationale is not None:
            return rule.rationale(facts, numbers)
        return default_rationale(rule.meta.citation, numbers)

    def needs_information(
        self, case_id: str | None, quantity: int, missing: frozenset[str], trace: list[TraceEntry], unit: str
    ) -> Decision:
        """The answer when the decision depends on facts the case does not give: name them."""
        names = tuple(sorted(missing))
        return Decision(
            id=case_id,
            outcome=Outcome.NEEDS_INFORMATION,
            requested=quantity,
            approved=0,
            citations=(),
            rationale=f"The decision depends on {_names(missing)}, which the case does not give; "
            "supply it and ask again.",
            missing=names,
            trace=tuple(trace),
            rules=(),
            unit=unit,
        )

    def not_addressed(
        self,
        case_id: str | None,
        facts: Mapping[str, Any],
        trace: list[TraceEntry],
        out_of_force: Collection[str],
        unit: str,
    ) -> Decision:
        """The answer when no encoded rule governs the request (reads only the case's inputs).

        `out_of_force` names the editions whose rules were passed over only because
        they are not in force on the request date.
        """
        service = str(facts["service"]).replace("_", " ")
        region = str(facts["body_region"]).replace("_", " ")
        date = facts["request_date"].isoformat()
        if out_of_force:
            stale = [self.guidelines[name] for name in out_of_force]
            named = " and ".join(f"{g.title} ({g.edition})" for g in stale)
            verb = "is" if len(stale) == 1 else "are"
            editions = "; ".join(g.describe() for g in self.guidelines.values())
            text = (
                f"No encoded rule in force on {date} governs {service} for the {region}: {named} {verb} not in "
                f"force on that date. The corpus has: {editions}."
            )
        else:
            text = (
                f"The encoded MTUS does not address {service} for the {region} in this case; "
                "under 8 CCR 9792.21(d) the reviewer looks to other evidence-based guidelines."
            )
        return Decision(
            id=case_id,
            outcome=Outcome.NOT_ADDRESSED,
            requested=facts["quantity"],
            approved=0,
            citations=(),
            rationale=text,
            missing=(),
            trace=tuple(trace),
            rules=(),
            unit=unit,
        )


def default_rationale(citation: Citation, numbers: Mapping[str, Any]) -> str:
    """The rationale of a rule that states none: what was asked, what the guideline supports."""
    unit = numbers["unit"]
    over = f" over {numbers['period']}" if numbers["period"] is not None else ""
    if numbers["limit"] == 0:
        where = f"{citation.document}, {citation.section}"
        return f"{numbers['requested']} {unit} requested; {where}, does not support them"
    supports = f"{citation.document}, {citation.section}, supports {numbers['limit']} {unit}{over}"
    text = f"{numbers['requested']} {unit} requested; {supports}"
    if numbers["prior"]:
        text += f"; {numbers['prior']} already given, so {numbers['allowed']} remain"
    return text


class GiveUp(Exception):
    """Raised inside compiled code's fast path to hand a case to the three-valued path."""


def known_int(value: Any) -> int:
    """Return `value` if it is an integer; otherwise give up the fast path."""
    if value.__class__ is not int:
        raise GiveUp
    return int(value)


def known(value: Any) -> Any:
    """Return `value` unless it is unknown; otherwise give up the fast path."""
    if value.__class__ is Unknown:
        raise GiveUp
    return value


def limit_unknown_entry(rule: RuleHandle, value: Unknown) -> TraceEntry:
    """The trace entry of a governing rule whose limit depends on facts the case does not give."""
    return _entry(rule, "unknown", f"its limit depends on {_names(value.facts)}")


def unknown_entry(engine: Engine, rule: str, value: Unknown) -> TraceEntry:
    """The trace entry of a rule whose applicability depends on facts the case does not give."""
    return _entry(engine.rules[rule], "unknown", f"depends on {_names(value.facts)}, which the case does not give")


def _entry(rule: RuleHandle, status: str, detail: str) -> TraceEntry:
    return TraceEntry(rule.meta.name, rule.meta.kind, status, detail, rule.meta.source)


def _names(facts: Iterable[str]) -> str:
    names = sorted(facts)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def sentence(text: str) -> str:
    """Capitalise a text and end it with a period, as every rationale sentence is."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _unique(citations: Iterable[Citation]) -> list[Citation]:
    seen: list[Citation] = []
    for c in citations:
        if c not in seen:
            seen.append(c)
    return seen


def show(value: Any) -> str:
    """Render a value inside a rationale: dates ISO, names with spaces, sets and lists joined."""
    cls = value.__class__
    # The common cases first (numbers and names in every rationale); the same text as below.
    if cls is int:
        return str(value)
    if cls is str:
        text: str = value
        return text.replace("_", " ")
    if value is None:
        return "none"
    if value.__class__ is Unknown:
        return "unknown"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Record):
        return str(value)
    if isinstance(value, (tuple, frozenset, list)):
        items = sorted(show(v) for v in value) if isinstance(value, frozenset) else [show(v) for v in value]
        if not items:
            return "none"
        return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]
    return str(value).replace("_", " ")
