"""Decisions: the outcome of a request, with its citations, rationale and trace."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs


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


@attrs.frozen
class TraceEntry:
    """One rule consulted for a decision, and why it did or did not apply."""

    rule: str
    kind: str  # "rule" or "cap"
    status: str  # governs, applies, binds, not_applicable, not_in_force, unknown
    detail: str
    source: str  # path:line of the rule in its .mtus file

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-ready data."""
        return attrs.asdict(self)


#: Renders a decision's explanation on demand: (citations, rationale, trace).
Explanation = Callable[[], tuple[tuple[Citation, ...], str, tuple[TraceEntry, ...]]]

_FIELDS = ("id", "outcome", "requested", "approved", "citations", "rationale", "missing", "trace", "rules", "unit")


class Decision:
    """The decision on one request.

    The engine fills in the numbers at once and renders citations, rationale and
    trace on first access (a hot loop reading only the outcome never builds them);
    a Decision is immutable and compares by all its fields either way.
    """

    __slots__ = ("_citations", "_explain", "_rationale", "_trace", "approved", "id", "missing", "outcome", "requested",
                 "rules", "unit")

    _citations: tuple[Citation, ...]
    _rationale: str
    _trace: tuple[TraceEntry, ...]
    _explain: Explanation | None
    id: str | None
    outcome: Outcome
    requested: int
    approved: int
    missing: tuple[str, ...]
    rules: tuple[str, ...]  # the rules (and caps) that decided it
    unit: str  # what requested and approved count: visits, treatments, days

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
    ):
        setter = object.__setattr__
        setter(self, "id", id)
        setter(self, "outcome", outcome)
        setter(self, "requested", requested)
        setter(self, "approved", approved)
        setter(self, "_citations", citations)
        setter(self, "_rationale", rationale)
        setter(self, "missing", missing)
        setter(self, "_trace", trace)
        setter(self, "rules", rules)
        setter(self, "unit", unit)
        setter(self, "_explain", None)

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
    ) -> Decision:
        """A decision whose citations, rationale and trace `explain` renders when first read."""
        self = cls.__new__(cls)
        setter = object.__setattr__
        setter(self, "id", id)
        setter(self, "outcome", outcome)
        setter(self, "requested", requested)
        setter(self, "approved", approved)
        setter(self, "missing", missing)
        setter(self, "rules", rules)
        setter(self, "unit", unit)
        setter(self, "_explain", explain)
        return self

    def _render(self) -> None:
        explain = self._explain
        if explain is not None:
            citations, rationale, trace = explain()
            setter = object.__setattr__
            setter(self, "_citations", citations)
            setter(self, "_rationale", rationale)
            setter(self, "_trace", trace)
            setter(self, "_explain", None)

    @property
    def citations(self) -> tuple[Citation, ...]:
        """The document, edition, section and page of each rule that decided."""
        self._render()
        return self._citations

    @property
    def rationale(self) -> str:
        """Why, in sentences a reviewer would write."""
        self._render()
        return self._rationale

    @property
    def trace(self) -> tuple[TraceEntry, ...]:
        """Every rule and cap consulted, and what it said."""
        self._render()
        return self._trace

    def __setattr__(self, name: str, value: Any) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Decision:
            return NotImplemented
        assert isinstance(other, Decision)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Decision(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS) + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Decision, tuple(getattr(self, name) for name in _FIELDS))

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
            "trace": [t.to_dict() for t in self.trace],
        }
