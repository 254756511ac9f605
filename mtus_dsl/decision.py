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
        """Read a citation back from `to_dict`'s form."""
        return cls(str(data["document"]), str(data["edition"]), str(data["section"]),
                   data.get("pages"), data.get("subsection"), data.get("regulation"))


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
        """Read a clause back from `to_dict`'s form."""
        reads = tuple((str(name), str(value)) for name, value in data.get("reads", ()))
        return cls(str(data["text"]), str(data["value"]), reads, data.get("matched"))


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
        """Read a trace entry back from `to_dict`'s form."""
        clauses = tuple(Clause.from_dict(c) for c in data.get("clauses", ()))
        return cls(str(data["rule"]), str(data["kind"]), str(data["status"]), str(data["detail"]),
                   str(data["source"]), clauses)


@attrs.frozen
class Assumption:
    """What a decision on the record read an absent input as, and why."""

    field: str
    value: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the assumption as JSON-ready data (dates as YYYY-MM-DD, lists as lists)."""
        return {"field": self.field, "value": _json(self.value), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Assumption:
        """Read an assumption back from `to_dict`'s form (its value as JSON gives it)."""
        return cls(str(data["field"]), data.get("value"), str(data["reason"]))


def _json(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (tuple, list, frozenset)):
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
        """Read a decision back from its JSON form (`to_dict`), as a client of a service would."""
        provenance = data.get("provenance")
        return cls(
            data.get("id"),
            Outcome(data["outcome"]),
            int(data["requested"]),
            int(data["approved"]),
            tuple(Citation.from_dict(c) for c in data.get("citations", ())),
            str(data.get("rationale", "")),
            tuple(data.get("missing", ())),
            tuple(TraceEntry.from_dict(t) for t in data.get("trace", ())),
            tuple(data.get("rules", ())),
            str(data.get("unit", "units")),
            tuple(Assumption.from_dict(a) for a in data.get("assumed", ())),
            None if provenance is None else Provenance.from_dict(provenance),
        )


_set = object.__setattr__
_new = object.__new__
