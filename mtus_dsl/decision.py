"""Decisions: the outcome of a request, with its citations, rationale and trace."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from mtus_dsl.provenance import Provenance


class Outcome(enum.StrEnum):
    """The five answers a utilization review decision can give."""

    CERTIFY = "certify"
    MODIFY = "modify"
    NON_CERTIFY = "non_certify"
    NOT_ADDRESSED = "not_addressed"
    NEEDS_INFORMATION = "needs_information"

    def __str__(self) -> str:
        return self.value


#: Lower is stricter; used to compare outcomes (fewer units never stricter).
STRICTNESS = {
    Outcome.NON_CERTIFY: 0,
    Outcome.MODIFY: 1,
    Outcome.CERTIFY: 2,
}


@attrs.frozen
class Citation:
    """Where a decision comes from: document, edition, section, pages or subsection."""

    document: str
    edition: str
    section: str
    pages: str | None = None
    subsection: str | None = None
    regulation: str | None = None

    def __str__(self) -> str:
        where = [f"{self.document} ({self.edition})", self.section]
        if self.pages:
            where.append(("p. " if "-" not in self.pages and "," not in self.pages else "pp. ") + self.pages)
        if self.subsection:
            where.append(f"subsection {self.subsection}")
        if self.regulation:
            where.append(self.regulation)
        return ", ".join(where)

    def to_dict(self) -> dict[str, Any]:
        """Return the citation as JSON-ready data."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Citation:
        """Read a citation back from `to_dict`'s form; raise ValueError naming a field that is wrong."""
        return cls._read(_Json(data, "", "a citation"))

    @classmethod
    def _read(cls, j: _Json) -> Citation:
        return cls(j.text("document"), j.text("edition"), j.text("section"),
                   j.text("pages", None), j.text("subsection", None), j.text("regulation", None))


@attrs.frozen
class Clause:
    """One when/unless clause of a rule as a decision found it: its value, the values it read, what matched."""

    text: str
    value: str  # "true", "false" or "unknown"
    reads: tuple[tuple[str, str], ...] = ()  # (input or fact, its value as shown)
    matched: str | None = None  # the diagnoses that made a condition it names hold

    def to_dict(self) -> dict[str, Any]:
        """Return the clause as JSON-ready data."""
        return {"text": self.text, "value": self.value, "reads": [list(r) for r in self.reads],
                "matched": self.matched}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Clause:
        """Read a clause back from `to_dict`'s form; raise ValueError naming a field that is wrong."""
        return cls._read(_Json(data, "", "a clause"))

    @classmethod
    def _read(cls, j: _Json) -> Clause:
        reads = []
        for index, pair in enumerate(j.items("reads")):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                j.fail(f"reads[{index}]", f"expected [name, value], two strings, not {_kind(pair)}")
            reads.append((pair[0], pair[1]))
        return cls(j.text("text"), j.text("value"), tuple(reads), j.text("matched", None))


@attrs.frozen
class TraceEntry:
    """One rule consulted for a decision, and why it did or did not apply."""

    rule: str
    kind: str  # "rule" or "cap"
    status: str  # governs, applies, binds, not_applicable, not_in_force, unknown
    detail: str
    source: str  # path:line of the rule in its .mtus file
    clauses: tuple[Clause, ...] = ()  # the clause that decided (or each, for a rule that governs)

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-ready data (`clauses` only when there are some)."""
        data: dict[str, Any] = {"rule": self.rule, "kind": self.kind, "status": self.status, "detail": self.detail,
                                "source": self.source}
        if self.clauses:
            data["clauses"] = [c.to_dict() for c in self.clauses]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TraceEntry:
        """Read a trace entry back from `to_dict`'s form; raise ValueError naming a field that is wrong."""
        return cls._read(_Json(data, "", "a trace entry"))

    @classmethod
    def _read(cls, j: _Json) -> TraceEntry:
        return cls(j.text("rule"), j.text("kind"), j.text("status"), j.text("detail"), j.text("source"),
                   j.objects("clauses", "a clause", Clause._read))


def _json_key(value: Any) -> Any:
    """A value as its JSON form, hashable: an assumption read back from JSON equals the one written."""
    return _hashable(_json(value))


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


@attrs.frozen
class Assumption:
    """What a decision on the record read an absent input as, and why.

    It compares (and hashes) by its value's JSON form: `()` and `[]`, a date and its YYYY-MM-DD text.
    """

    field: str
    value: Any = attrs.field(eq=_json_key)
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the assumption as JSON-ready data (dates as YYYY-MM-DD, lists as lists)."""
        return {"field": self.field, "value": _json(self.value), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Assumption:
        """Read an assumption back from `to_dict`'s form (its value as JSON gives it); raise ValueError."""
        return cls._read(_Json(data, "", "an assumption"))

    @classmethod
    def _read(cls, j: _Json) -> Assumption:
        return cls(j.text("field"), j.data.get("value"), j.text("reason"))


def _json(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (frozenset, set)):
        # In one order, whatever the process's string hashing: the same decision writes the same JSON.
        return sorted((_json(v) for v in value), key=repr)
    if isinstance(value, (tuple, list)):
        return [_json(v) for v in value]
    values = getattr(value, "values", None)
    if isinstance(values, Mapping):
        return {k: _json(v) for k, v in values.items()}
    return value


class Explanation(Protocol):
    """Renders a decision's explanation on demand: (citations, rationale, trace), and its provenance."""

    def __call__(self) -> tuple[tuple[Citation, ...], str, tuple[TraceEntry, ...]]: ...

    def provenance(self) -> Provenance:
        """What produced the decision: mtus-dsl version, sources' hash, editions used."""
        ...


_FIELDS = (
    "id", "outcome", "requested", "approved", "citations", "rationale", "missing", "trace", "rules", "unit",
    "assumed", "provenance",
)
#: How many fields decide equality: all but provenance (what produced a decision, not what it says).
_COMPARED = 11


def _field(index: int) -> Any:
    """A read-only property reading one field of a decision's values."""
    return property(lambda self: self._values[index], doc=_FIELDS[index])


class Decision:
    """The decision on one request.

    The engine fills in the numbers at once and renders citations, rationale and
    trace on first access (a hot loop reading only the outcome never builds them);
    a Decision is immutable and compares by all its fields either way.
    """

    # The fields live in one tuple: building a decision is two stores, and nothing can assign to a field.
    __slots__ = ("_explain", "_values")
    _values: tuple[Any, ...]
    _explain: Explanation | None

    id: str | None = _field(0)
    outcome: Outcome = _field(1)
    requested: int = _field(2)
    approved: int = _field(3)
    missing: tuple[str, ...] = _field(6)
    rules: tuple[str, ...] = _field(8)  # the rules (and caps) that decided it
    unit: str = _field(9)  # what requested and approved count
    assumed: tuple[Assumption, ...] = _field(10)  # on the record: what absent inputs were read as

    def __init__(
        self,
        id: str | None,
        outcome: Outcome,
        requested: int,
        approved: int,
        citations: tuple[Citation, ...] = (),
        rationale: str = "",
        missing: tuple[str, ...] = (),
        trace: tuple[TraceEntry, ...] = (),
        rules: tuple[str, ...] = (),
        unit: str = "units",
        assumed: tuple[Assumption, ...] = (),
        provenance: Provenance | None = None,
    ):
        _set(self, "_values",
             (id, outcome, requested, approved, citations, rationale, missing, trace, rules, unit, assumed,
              provenance))
        _set(self, "_explain", None)

    @classmethod
    def deferred(
        cls,
        id: str | None,
        outcome: Outcome,
        requested: int,
        approved: int,
        missing: tuple[str, ...],
        rules: tuple[str, ...],
        unit: str,
        explain: Explanation,
        assumed: tuple[Assumption, ...] = (),
    ) -> Decision:
        """A decision whose citations, rationale and trace `explain` renders when first read."""
        self = _new(cls)
        _set(self, "_values",
             (id, outcome, requested, approved, None, None, missing, None, rules, unit, assumed, None))
        _set(self, "_explain", explain)
        return self

    def _rendered(self) -> tuple[Any, ...]:
        explain = self._explain
        if explain is not None:
            citations, rationale, trace = explain()
            v = self._values
            _set(self, "_values",
                 (v[0], v[1], v[2], v[3], citations, rationale, v[6], trace, v[8], v[9], v[10], explain.provenance()))
            _set(self, "_explain", None)
        return self._values

    @property
    def citations(self) -> tuple[Citation, ...]:
        """The document, edition, section and page of each rule that decided."""
        cited: tuple[Citation, ...] = self._rendered()[4]
        return cited

    @property
    def rationale(self) -> str:
        """Why, in sentences a reviewer would write."""
        text: str = self._rendered()[5]
        return text

    @property
    def trace(self) -> tuple[TraceEntry, ...]:
        """Every rule and cap consulted, and what it said."""
        entries: tuple[TraceEntry, ...] = self._rendered()[7]
        return entries

    @property
    def provenance(self) -> Provenance | None:
        """The mtus-dsl version, guideline sources' hash and editions that produced it (None if built by hand)."""
        made: Provenance | None = self._rendered()[11]
        return made

    def __setattr__(self, name: str, value: Any) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Decision:
            return NotImplemented
        assert isinstance(other, Decision)
        return self._rendered()[:_COMPARED] == other._rendered()[:_COMPARED]

    def __hash__(self) -> int:
        return hash(self._rendered()[:_COMPARED])

    def __repr__(self) -> str:
        return "Decision(" + ", ".join(f"{n}={v!r}" for n, v in zip(_FIELDS, self._rendered())) + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Decision, self._rendered())

    @staticmethod
    def field_names() -> tuple[str, ...]:
        """The fields a decision has, in order."""
        return _FIELDS

    def to_dict(self) -> dict[str, Any]:
        """Return the decision in its documented JSON form."""
        return {
            "id": self.id,
            "outcome": self.outcome.value,
            "requested": self.requested,
            "unit": self.unit,
            "approved": self.approved,
            "citations": [c.to_dict() for c in self.citations],
            "rationale": self.rationale,
            "missing": list(self.missing),
            "rules": list(self.rules),
            "assumed": [a.to_dict() for a in self.assumed],
            "trace": [t.to_dict() for t in self.trace],
            "provenance": None if self.provenance is None else self.provenance.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Read a decision back from its JSON form (`to_dict`), as a client of a service would.

        Raise ValueError naming the field that is wrong (`requested: expected a whole number, ...`);
        fields other than outcome, requested and approved may be absent.
        """
        j = _Json(data, "", "a decision")
        outcome = j.text("outcome")
        if outcome not in _OUTCOMES:
            j.fail("outcome", f"{outcome!r:.80} is not an outcome (allowed: {', '.join(_OUTCOMES)})")
        provenance = None
        if j.data.get("provenance") is not None:
            p = _Json(j.data["provenance"], "provenance", "a provenance")
            provenance = Provenance(p.text("version"), p.text("sources"), p.texts("editions"))
        return cls(
            j.text("id", None),
            Outcome(outcome),
            j.integer("requested"),
            j.integer("approved"),
            j.objects("citations", "a citation", Citation._read),
            j.text("rationale", ""),
            j.texts("missing"),
            j.objects("trace", "a trace entry", TraceEntry._read),
            j.texts("rules"),
            j.text("unit", "units"),
            j.objects("assumed", "an assumption", Assumption._read),
            provenance,
        )


_OUTCOMES = tuple(o.value for o in Outcome)
_REQUIRED: Any = object()


class _Json:
    """One JSON object read back as part of a decision: each wrong field is a ValueError saying where and what."""

    def __init__(self, data: Any, where: str, what: str):
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected {what} as a JSON object, not {_kind(data)}" if where
                             else f"{what} must be a JSON object, not {_kind(data)}")
        self.data: Mapping[str, Any] = data
        self.where = where

    def fail(self, key: str, message: str) -> Any:
        raise ValueError(f"{self.where}.{key}: {message}" if self.where else f"{key}: {message}")

    def _get(self, key: str, default: Any, expected: str, nullable: bool = True) -> Any:
        """The value of `key`: `default` when absent (or null, if it may be), else a ValueError."""
        value = self.data.get(key)
        if value is None:
            if default is _REQUIRED:
                self.fail(key, f"is required; expected {expected}")
            if key in self.data and not nullable:
                self.fail(key, f"expected {expected}, not null")
            return default
        return value

    def text(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self._get(key, default, "a string", default is None)
        if value is not default and not isinstance(value, str):
            self.fail(key, f"expected a string, not {_kind(value)}")
        return value

    def integer(self, key: str) -> int:
        value = self._get(key, _REQUIRED, "a whole number")
        if value.__class__ is not int:
            self.fail(key, f"expected a whole number, not {_kind(value)}")
        number: int = value
        return number

    def items(self, key: str) -> list[Any]:
        value = self._get(key, [], "a list", nullable=False)
        if not isinstance(value, (list, tuple)):
            self.fail(key, f"expected a list, not {_kind(value)}")
        return list(value)

    def texts(self, key: str) -> tuple[str, ...]:
        values = self.items(key)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                self.fail(f"{key}[{index}]", f"expected a string, not {_kind(value)}")
        return tuple(values)

    def objects(self, key: str, what: str, read: Any) -> Any:
        at = f"{self.where}.{key}" if self.where else key
        return tuple(read(_Json(item, f"{at}[{index}]", what)) for index, item in enumerate(self.items(key)))


def _kind(value: Any) -> str:
    """A JSON value as a message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) >= 10**30:
        return "a number of more than 30 digits"  # not printed: Python will not print one of 4,300
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r:.80}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


_set = object.__setattr__
_new = object.__new__
