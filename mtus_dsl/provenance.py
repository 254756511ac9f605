"""Provenance: which mtus-dsl, which guideline sources and which editions produced a decision.

A plan records the mtus-dsl version that compiled it and a hash of its guideline
sources; a decision adds the editions it consulted. A module written by
`mtus compile` records the plan format it was written for and checks, when it is
imported, that the installed runtime executes that format (`require`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

#: The shape of the plan a compiled module builds (engine.Plan, Rule, Fact and the runtime's
#: operations it calls). A module written for another format cannot run on this runtime.
PLAN_FORMAT = 1


@functools.cache
def version() -> str:
    """The installed mtus-dsl's version (from its package metadata)."""
    try:
        return importlib.metadata.version("mtus-dsl")
    except importlib.metadata.PackageNotFoundError:  # a source tree used without installing it
        return "0+unknown"


def source_hash(sources: Mapping[str, str]) -> str:
    """Hash guideline sources: each name (relative to its guideline root) and text, in name order."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        for part in (name, sources[name]):
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "big") + data)
    return f"sha256:{digest.hexdigest()}"


@attrs.frozen
class Provenance:
    """What produced a decision: the mtus-dsl that compiled the rules, their sources' hash, the editions used."""

    version: str
    sources: str  # "sha256:<hex>" over the guideline sources (source_hash)
    editions: tuple[str, ...] = ()  # the guideline editions (by name) in force on the request date and consulted

    def to_dict(self) -> dict[str, Any]:
        """Return the provenance as JSON-ready data."""
        return {"version": self.version, "sources": self.sources, "editions": list(self.editions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Read a provenance back from `to_dict`'s form."""
        return cls(str(data["version"]), str(data["sources"]), tuple(str(e) for e in data.get("editions", ())))

    def with_editions(self, editions: Iterable[str]) -> Provenance:
        """The same provenance, naming the editions a decision used."""
        return Provenance(self.version, self.sources, tuple(editions))


#: The provenance of a plan built by hand, which records none.
UNRECORDED = Provenance("0+unknown", "")


class IncompatibleRuntime(ImportError):
    """A compiled module written for a plan format the installed mtus-dsl does not execute."""


def require(plan_format: int, compiled_with: str) -> None:
    """Check, as a compiled module is imported, that this runtime executes the plan format it was written for."""
    if plan_format != PLAN_FORMAT:
        raise IncompatibleRuntime(
            f"this module was compiled by mtus-dsl {compiled_with} for plan format {plan_format}, but the installed "
            f"mtus-dsl {version()} runs plan format {PLAN_FORMAT}: compile the guidelines again with this "
            f"version (mtus compile ... -o MODULE.py), or install mtus-dsl=={compiled_with}"
        )
