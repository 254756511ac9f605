"""Decisions: the outcome of a request, with its citations, rationale and trace."""

from __future__ import annotations

import enum
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


@attrs.frozen
class Decision:
    """The decision on one request."""

    id: str | None
    outcome: Outcome
    requested: int
    approved: int
    citations: tuple[Citation, ...]
    rationale: str
    missing: tuple[str, ...] = ()
    trace: tuple[TraceEntry, ...] = ()
    rules: tuple[str, ...] = ()  # the rules (and caps) that decided it
    unit: str = "units"  # what requested and approved count: visits, treatments, days

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
