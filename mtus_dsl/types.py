"""Types of facts: shared by the checker, the IR and case validation."""

from __future__ import annotations

import attrs

SCALARS = ("boolean", "integer", "date", "duration", "text", "code")


@attrs.frozen
class Type:
    """A fact's type: a scalar, an enumeration, a record, a table row, a list or a set."""

    kind: str  # one of SCALARS, "enum", "record", "row", "list", "set", "none", "error"
    name: str | None = None  # enumeration, record or table name
    of: Type | None = None  # element type of a list or set
    low: int | None = None  # integer bounds, inclusive
    high: int | None = None
    optional: bool = False  # may be `none` (a lookup or `latest` that found nothing)

    def __str__(self) -> str:
        if self.kind in ("list", "set"):
            text = f"{self.kind} of {self.of}"
        elif self.kind == "integer" and self.low is not None:
            text = f"integer {self.low}..{self.high}"
        elif self.kind == "row":
            text = f"row of {self.name}"
        elif self.name:
            text = self.name
        else:
            text = self.kind
        return f"optional {text}" if self.optional else text

    def required(self) -> Type:
        """Return this type without `optional`."""
        return attrs.evolve(self, optional=False)

    def accepts(self, other: Type) -> bool:
        """Tell whether a value of type `other` may stand where this type is expected."""
        if self.kind == "error" or other.kind == "error":
            return True
        if other.kind == "none":
            return True
        if self.kind != other.kind:
            return False
        if self.kind in ("enum", "record", "row"):
            return self.name == other.name
        if self.kind in ("list", "set"):
            assert self.of is not None and other.of is not None
            return self.of.accepts(other.of) or other.of.kind == "none"
        return True


BOOLEAN = Type("boolean")
INTEGER = Type("integer")
DATE = Type("date")
DURATION = Type("duration")
TEXT = Type("text")
CODE = Type("code")
NONE = Type("none")
ERROR = Type("error")


def enum(name: str) -> Type:
    """Return the type of members of enumeration `name`."""
    return Type("enum", name)
