"""Exact needs_information: decide when the unknown inputs cannot change the answer; else name those that can.

The procedure (engine.settle) is three-valued: a rule whose guard reads an input
the case does not give is unknown, and the decision needs that input. That is
sound but not exact: with or without radicular findings, the seed request is
allowed 10 visits. Here the inputs an unknown answer depends on are completed
one at a time, each with every value that can make a difference, and each partial
completion is settled again by the same procedure:

- booleans and enumerations: every value;
- integers: the ends of their range (narrowed by the case's `at most` relations)
  and each side of every number the rules compare or compute with, also offset by
  the integers the case gives;
- dates: each side of every date the rules name, and of the case's dates moved
  by every period the rules name;
- lists of codes: none, one code of each code set, or one of no code set;
- lists of records (surgeries): none, or one record: each word the rules name
  (each procedure), on the case's region or another, dated the day before the
  request or before the longest period the rules name.

"The rules" are those of the case's bucket (its service and body region) and what
they read, through facts, tables and `unless RULE`: no other rule is settled, so no
other value can change the answer. A table row counts only if each enumeration
member of its key is one the case, the search's records, or the rules can hold: no
other row is ever looked up (a knee request never reads the shoulder's procedures).

A branch whose answer is settled is a leaf. If every leaf gets the same (outcome,
approved), that is the decision. Otherwise an input is missing when two leaves
that differ only in it get different answers: exactly the inputs whose value can
change the answer. The search stops early once every absent input the bucket's
rules read is shown to matter by such a pair: no leaf could add one. It is bounded
(`BUDGET` settles); past it, the answer is the three-valued one, which may ask for
more than it needs but never decides what it cannot.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from mtus_dsl.case import FIRST_CASE_DATE, LAST_CASE_DATE, CaseSchema, Record, Relation
from mtus_dsl.decision import Outcome
from mtus_dsl.runtime import Duration, RuleError, add_duration
from mtus_dsl.types import Type

if TYPE_CHECKING:
    from mtus_dsl.engine import Bucket, Engine, Facts, Settled

#: At most this many partial completions are settled for one case.
BUDGET = 1000

#: The dates a case may give (docs/case-format.md): completions stay inside them.
FIRST_DATE, LAST_DATE = FIRST_CASE_DATE, LAST_CASE_DATE

_ONE_DAY = datetime.timedelta(days=1)


@attrs.frozen
class Boundaries:
    """The values at which the plan's rules can change their answer: what the search completes inputs with."""

    numbers: tuple[int, ...] = ()
    durations: tuple[Duration, ...] = ()
    dates: tuple[datetime.date, ...] = ()
    codes: tuple[str, ...] = ()  # one code of each code set, then one of none
    texts: tuple[str, ...] = ()  # the words the rules compare text with (surgical procedures)
    #: (input, partner): an absent input that reads as nothing once its partner is given (the condition
    #: word beside the diagnoses, in conditions_of): completing the partner opens it too.
    partners: tuple[tuple[str, str], ...] = ()
    #: The inputs the rules read, through facts, tables and `unless RULE`: all a bucket's search can ask.
    inputs: tuple[str, ...] = ()
    #: The enumeration members the expressions name: values an enumeration can take besides the case's.
    members: tuple[str, ...] = ()
    #: Table rows, each with the enumeration members of its key and its own values: a row whose members
    #: no value of the case or the search can take is never looked up, so its values change nothing.
    rows: tuple[tuple[tuple[str, ...], Boundaries], ...] = ()
    #: Plan-wide only: each rule's own boundaries (its guard, limit, and what they read, transitively),
    #: from which each bucket's are made (`scoped`). Empty: every bucket uses the plan's.
    scopes: tuple[tuple[str, Boundaries], ...] = ()

    def scoped(self, rules: Iterable[str]) -> Boundaries:
        """The boundaries of a bucket's rules (and caps) alone; the code sets stay the plan's."""
        if not self.scopes:
            return self
        own = dict(self.scopes)
        merged = merge([own[name] for name in rules if name in own])
        return attrs.evolve(merged, codes=self.codes)

    def reachable(self, strings: Iterable[str]) -> Boundaries:
        """Fold in the table rows whose key members are all named or among `strings` (what a case can hold)."""
        if not self.rows:
            return self
        can = {*self.members, *strings}
        kept = [row for members, row in self.rows if all(m in can for m in members)]
        return attrs.evolve(merge([attrs.evolve(self, rows=()), *kept]), codes=self.codes, partners=self.partners,
                            inputs=self.inputs)


def merge(parts: Sequence[Boundaries]) -> Boundaries:
    """The union of some boundaries, each field sorted (rows and scopes kept as they are, in order)."""
    def union(field: str) -> tuple[Any, ...]:
        return tuple(dict.fromkeys(v for part in parts for v in getattr(part, field)))

    return Boundaries(
        tuple(sorted(set(union("numbers")))),
        tuple(sorted(set(union("durations")), key=lambda d: (d.unit, d.amount))),
        tuple(sorted(set(union("dates")))),
        union("codes"),
        tuple(sorted(set(union("texts")))),
        tuple(sorted(set(union("partners")))),
        tuple(sorted(set(union("inputs")))),
        tuple(sorted(set(union("members")))),
        union("rows"),
    )


class _Absent:
    """A completion that leaves an input out (what an input read as nothing once its partner is given can be)."""

    def __repr__(self) -> str:
        return "absent"


ABSENT: Any = _Absent()


class Leaf(NamedTuple):
    """A partial completion whose answer is settled: the values it chose, and what the procedure concluded."""

    chosen: Mapping[str, Any]
    settled: Settled
    facts: Facts
    error: RuleError | None = None  # a rule failed on this completion (settled.approved is then -1)


class Resolution(NamedTuple):
    """What the search found: the leaves, and the inputs that can change the answer (empty: one answer)."""

    leaves: tuple[Leaf, ...]
    missing: frozenset[str]
    exhausted: bool  # the budget ran out: `missing` is the three-valued answer


class _OverBudget(Exception):
    pass


def resolve(engine: Engine, values: Mapping[str, Any], bucket: Bucket, settled: Settled,
            first_difference: bool = False, facts: Facts | None = None) -> Resolution:
    """Complete the inputs an unknown answer depends on; return the leaves and the inputs that matter.

    With `first_difference`, stop at the first leaf whose answer differs from
    another's (enough to know the answer is needs_information, not which inputs).
    `facts`: those `settled` was settled on, whose derived facts each completion keeps where it can.
    """
    search = _Search(engine, values, bucket, first_difference)
    try:
        search.explore({}, settled, facts)
    except _OverBudget:
        # Past the budget, ask for every input some partial completion still needed: more than
        # the answer may need, never less (the three-valued answer names only the first rule's).
        return Resolution((), settled.missing | search.asked, True)
    except _Differs:
        return Resolution(tuple(search.leaves), settled.missing, False)
    except _AllFound:
        # Every input the bucket's rules read and the case leaves out is shown to matter: the rest of
        # the search could show no other, and `_relevant` over every leaf would name these same inputs.
        return Resolution(tuple(search.leaves), search.askable, False)
    leaves = tuple(search.leaves)
    if not leaves:
        # No completion is consistent or has a value to try: the three-valued answer stands.
        return Resolution((), settled.missing, True)
    answers = {_answer(leaf.settled) for leaf in leaves}
    if len(answers) <= 1:
        return Resolution(leaves, frozenset(), False)
    return Resolution(leaves, _relevant(leaves), False)


class _Differs(Exception):
    pass


class _AllFound(Exception):
    pass


def _answer(settled: Settled) -> tuple[Outcome, int]:
    return (settled.outcome, settled.approved)


class _Search:
    """Depth-first completion of the unknown inputs, one input per level."""

    def __init__(self, engine: Engine, values: Mapping[str, Any], bucket: Bucket, first_difference: bool):
        self.engine = engine
        self.values = values
        self.bucket = bucket
        self.first_difference = first_difference
        self.leaves: list[Leaf] = []
        self.spent = 0
        self.asked: frozenset[str] = frozenset()  # every input a partial completion still needed
        self.domains: dict[str, list[Any]] = {}
        self.specs = {spec.name: spec.type for spec in engine.schema.inputs}
        scoped = bucket.boundaries if bucket.boundaries is not None else engine.plan.boundaries
        self.boundaries = scoped.reachable(_strings(values, engine.schema))
        self.partners = self.boundaries.partners
        #: The absent inputs the bucket's rules read: once each is shown to matter, no leaf can add one.
        self.askable = frozenset(name for name in self.boundaries.inputs if name not in values and name in self.specs)
        self.chosen_names: set[str] = set()  # every input some branch has chosen
        self.check_at = 8  # the number of leaves at which to look for `askable` next (doubled each time)
        self.relations: dict[str, list[Relation]] = {}  # each input's `at most` relations (either side, or through)
        for relation in engine.schema.relations:
            for side in {relation.lower, relation.upper, relation.through} - {None}:
                assert side is not None
                self.relations.setdefault(side, []).append(relation)

    def explore(self, chosen: dict[str, Any], settled: Settled, parent: Facts | None = None) -> None:
        open_inputs = [name for name in settled.missing if name not in chosen and name in self.specs] \
            if settled.outcome is Outcome.NEEDS_INFORMATION else []
        # An absent input its chosen partner would close (read as nothing) may still be anything.
        open_inputs += [name for name, partner in self.partners
                        if partner in chosen and name not in chosen and name not in self.values]
        if not open_inputs:
            # Unknown for a reason no input explains (it cannot happen with a checked plan): stop asking.
            raise _OverBudget
        # The input with the fewest values first: the tree stays narrow.
        domains = {n: self.domain(n, chosen) for n in open_inputs}
        name = min(open_inputs, key=lambda n: (len(domains[n]), n))
        self.chosen_names.add(name)
        # The values chosen before kept every relation: only those `name` takes part in can break now.
        relations = self.relations.get(name, ())
        known = {**self.values, **{k: v for k, v in chosen.items() if v is not ABSENT}}
        # A derived fact that cannot read `name` has the value it had before `name` was chosen: each
        # completion starts from those, and derives again only what `name` can change.
        kept = self.engine.kept(name)
        inherited = {k: v for k, v in parent.items() if k in kept} if parent is not None else {}
        for value in domains[name]:
            branch = {**chosen, name: value}
            merged = dict(known)
            if value is not ABSENT:
                merged[name] = value
            if any(relation.broken(merged) is not None for relation in relations):
                continue
            self.spent += 1
            if self.spent > BUDGET:
                raise _OverBudget
            facts = self.engine.facts_class(merged)
            if inherited:
                facts.update(inherited)
            error = None
            try:
                result = self.engine.settle(facts, self.bucket, self.values["quantity"])
            except RuleError as failure:
                # A rule fails on this completion: approved -1, an answer unlike any other's.
                result, error = settled._replace(approved=-1, missing=frozenset()), failure
            self.asked |= {name for name in result.missing if name in self.specs}
            if error is None and (result.outcome is Outcome.NEEDS_INFORMATION or self.opened(branch)):
                # Settled, but a partner just chosen opened an input that may still change it.
                self.explore(branch, result, facts)
                continue
            self.leaves.append(Leaf(branch, result, facts, error))
            if self.first_difference and _answer(result) != _answer(self.leaves[0].settled):
                raise _Differs
            if len(self.leaves) >= self.check_at and not self.first_difference:
                self.check_at *= 2
                # The inputs shown so far (pairs among the leaves so far: only more can be shown later),
                # looked for only once every input that could be asked has been chosen somewhere.
                if self.askable <= self.chosen_names and _relevant(self.leaves) >= self.askable:
                    raise _AllFound

    def opened(self, chosen: Mapping[str, Any]) -> bool:
        """Whether an absent input is left open by its chosen partner (it reads as nothing beside it)."""
        return any(partner in chosen and name not in chosen and name not in self.values
                   for name, partner in self.partners)

    def domain(self, name: str, chosen: Mapping[str, Any]) -> list[Any]:
        key = name if not chosen else None
        if key is not None and key in self.domains:
            return self.domains[key]
        known = {**self.values, **{k: v for k, v in chosen.items() if v is not ABSENT}}
        values = candidates(name, self.specs[name], known, self.engine.schema, self.boundaries)
        if any(name == input_ for input_, _ in self.partners):
            values = [ABSENT, *values]
        if key is not None:
            self.domains[key] = values
        return values


def _strings(values: Mapping[str, Any], schema: CaseSchema) -> set[str]:
    """The enumeration values a case and its completions can hold (what a table row's key may meet)."""
    found: set[str] = set()
    stack: list[Any] = list(values.values())
    while stack:
        value = stack.pop()
        if value.__class__ is str:
            found.add(value)
        elif isinstance(value, Record):
            stack.extend(value.values.values())
        elif isinstance(value, (tuple, frozenset, list)):
            stack.extend(value)
    enums: list[str] = []
    for spec in schema.inputs:
        # An absent input of an enumeration (or a list of them) may be completed with any member.
        type_ = spec.type.of if spec.type.kind in ("list", "set") and spec.type.of is not None else spec.type
        if spec.name not in values and type_.kind == "enum":
            enums.append(type_.name or "")
    for fields in schema.records.values():
        # A record the search makes is on the case's own member or the first other one (`_items`).
        for _, field_type in fields:
            if field_type.kind == "enum":
                found.update(schema.enums.get(field_type.name or "", ())[:2])
    for enum in enums:
        found.update(schema.enums.get(enum, ()))
    return found


def candidates(name: str, type_: Type, known: Mapping[str, Any], schema: CaseSchema,
               boundaries: Boundaries) -> list[Any]:
    """The values an unknown input is completed with (see the module docstring), in a fixed order."""
    kind = type_.kind
    if kind == "boolean":
        return [True, False]
    if kind == "enum":
        return list(schema.enums.get(type_.name or "", ()))
    if kind == "integer":
        return _integers(name, type_, known, schema, boundaries)
    if kind == "date":
        return _dates(known, boundaries)
    if kind == "text":
        return [*boundaries.texts, "other"]
    if kind == "code":
        return list(boundaries.codes)
    if kind in ("list", "set") and type_.of is not None:
        items = _items(type_.of, known, schema, boundaries)
        empty: Any = () if kind == "list" else frozenset()
        wrap = tuple if kind == "list" else frozenset
        return [empty, *(wrap([item]) for item in items)]
    return []


def _integers(name: str, type_: Type, known: Mapping[str, Any], schema: CaseSchema,
              boundaries: Boundaries) -> list[int]:
    low = type_.low if type_.low is not None else min([0, *boundaries.numbers])
    high = type_.high if type_.high is not None else max([low, *boundaries.numbers]) + 1
    for relation in schema.relations:
        # Known sides of an `at most` narrow the range.
        if relation.lower == name and isinstance(known.get(relation.upper), int):
            high = min(high, known[relation.upper])
        if relation.upper == name and isinstance(known.get(relation.lower), int):
            low = max(low, known[relation.lower])
    given = [v for k, v in known.items() if v.__class__ is int and k != name]
    points = {low, high}
    for number in boundaries.numbers:
        points.update((number - 1, number, number + 1))
        for other in given:
            points.update((number - other - 1, number - other, number + other, number + other + 1))
    for other in given:
        points.update((other - 1, other, other + 1))
    return sorted(p for p in points if low <= p <= high)


def _dates(known: Mapping[str, Any], boundaries: Boundaries) -> list[datetime.date]:
    # The dates the rules name (edition boundaries) are compared as they are; the case's
    # dates are also moved by every period.
    points = {d + shift * _ONE_DAY for d in boundaries.dates for shift in (-1, 0, 1)
              if datetime.date.min + _ONE_DAY <= d <= datetime.date.max - _ONE_DAY}
    for anchor in {v for v in known.values() if v.__class__ is datetime.date}:
        moved = [anchor]
        for duration in boundaries.durations:
            for sign in (1, -1):
                try:
                    moved.append(add_duration(anchor, duration, sign))
                except RuleError:
                    continue
        for date in moved:
            for shift in (-1, 0, 1):
                try:
                    points.add(date + shift * _ONE_DAY)
                except OverflowError:
                    continue
    return sorted(p for p in points if FIRST_DATE <= p <= LAST_DATE)


def _items(type_: Type, known: Mapping[str, Any], schema: CaseSchema, boundaries: Boundaries) -> Iterator[Any]:
    if type_.kind != "record":
        yield from candidates("", type_, known, schema, boundaries)
        return
    fields = schema.records.get(type_.name or "", ())
    choices: list[Sequence[Any]] = []
    for field, field_type in fields:
        if field_type.kind == "enum":
            members = schema.enums.get(field_type.name or "", ())
            # The case's own value of that enumeration (its body region), and one other.
            mine = [v for v in known.values() if isinstance(v, str) and v in members][:1]
            other = [m for m in members if m not in mine][:1]
            choices.append(mine + other)
        elif field_type.kind == "date":
            choices.append(_record_dates(known, boundaries))
        else:
            choices.append(candidates(field, field_type, known, schema, boundaries))
    for combination in itertools.product(*choices):
        yield Record(type_.name or "", dict(zip([f for f, _ in fields], combination)))


def _record_dates(known: Mapping[str, Any], boundaries: Boundaries) -> list[datetime.date]:
    """Dates of a record (a surgery): the day before the request, and the day before its longest period began.

    A record's date matters through periods counted from it; a record dated at a
    period's very edge is not tried (see docs/testing.md: records are the one
    kind of input searched by representatives rather than at every boundary).
    """
    request = known.get("request_date")
    if request.__class__ is not datetime.date:
        return _dates(known, boundaries)
    points = {request - _ONE_DAY}
    longest = max(boundaries.durations, key=lambda d: add_duration(request, d, -1), default=None)
    if longest is not None:
        try:
            points.add(add_duration(request, longest, -1) - _ONE_DAY)
        except RuleError:
            pass
    return sorted(p for p in points if FIRST_DATE <= p <= request)


def _relevant(leaves: Sequence[Leaf]) -> frozenset[str]:
    """The inputs that two leaves with different answers differ in, and only in.

    The leaves come from a depth-first search, in its order: leaves that share
    their first choices are neighbours, and two leaves first part at the input
    the search chose there. Every such pair differs in that input, so it is the
    only one the pair can show; an input already shown needs no more pairs.
    """
    found: set[str] = set()
    paths = [tuple(leaf.chosen.items()) for leaf in leaves]
    answers = [_answer(leaf.settled) for leaf in leaves]

    def shown(runs: Sequence[tuple[int, int]], depth: int) -> bool:
        # Two leaves in different runs, answering differently, that agree on every input both chose after
        # `depth` (before it they share their choices).
        try:
            return hashed(runs, depth)
        except TypeError:  # a value with no hashable form: compare the pairs one by one
            pass
        for i, (low, high) in enumerate(runs):
            for other_low, other_high in runs[i + 1:]:
                for a in range(low, high):
                    later = paths[a][depth + 1:]
                    for b in range(other_low, other_high):
                        second = leaves[b].chosen
                        if answers[a] != answers[b] and all(second[k] == v for k, v in later if k in second):
                            return True
        return False

    def hashed(runs: Sequence[tuple[int, int]], depth: int) -> bool:
        # `shown` by hashing: the later run's leaves grouped by the inputs they chose after `depth`, then by
        # their values on those both leaves chose; a leaf looks its own values up instead of scanning pairs.
        tables: dict[tuple[frozenset[str], frozenset[str]], dict[tuple[Any, ...], set[tuple[Outcome, int]]]] = {}
        for i, (low, high) in enumerate(runs):
            for other_low, other_high in runs[i + 1:]:
                groups: dict[frozenset[str], list[int]] = {}
                for b in range(other_low, other_high):
                    groups.setdefault(frozenset(k for k, _ in paths[b][depth + 1:]), []).append(b)
                tables.clear()
                for a in range(low, high):
                    mine = dict(paths[a][depth + 1:])
                    for keys, members in groups.items():
                        common = keys.intersection(mine)
                        order = sorted(common)
                        table = tables.get((keys, common))
                        if table is None:
                            table = tables[(keys, common)] = {}
                            for b in members:
                                second = leaves[b].chosen
                                table.setdefault(tuple(_hashable(second[k]) for k in order), set()).add(answers[b])
                        found_answers = table.get(tuple(_hashable(mine[k]) for k in order))
                        if found_answers and (len(found_answers) > 1 or answers[a] not in found_answers):
                            return True
        return False

    def walk(start: int, stop: int, depth: int) -> None:
        if stop - start < 2 or len({answers[i] for i in range(start, stop)}) < 2:
            return  # one answer below here: no pair of these leaves shows an input
        if depth >= len(paths[start]):
            return  # the same completion twice (a value tried twice): one answer
        # The runs of neighbours that chose the same value at this depth (values need not be hashable).
        runs: list[tuple[int, int]] = []
        for index in range(start, stop):
            if runs and paths[index][depth][1] == paths[runs[-1][0]][depth][1]:
                runs[-1] = (runs[-1][0], index + 1)
            else:
                runs.append((index, index + 1))
        name = paths[start][depth][0]
        if name not in found and len(runs) > 1 and shown(runs, depth):
            found.add(name)
        for low, high in runs:
            walk(low, high, depth + 1)

    walk(0, len(leaves), 0)
    return frozenset(found)



def _hashable(value: Any) -> Any:
    """A value as a hashable key equal exactly when the values are (records and lists of them included)."""
    if value.__class__ is Record:
        return (Record, value.type, frozenset((k, _hashable(v)) for k, v in value.values.items()))
    if value.__class__ is tuple:
        return tuple(_hashable(v) for v in value)
    hash(value)  # raises TypeError for a value this cannot key
    return value
