"""JSON Schema (draft 2020-12) of the case a set of guidelines accepts, and of the decision: for OpenAPI.

The case schema is generated from the CaseSchema (the prelude's inputs and every
input the guideline files add), so it is exactly what `Case.from_dict` accepts,
except what a schema cannot say: a date that does not exist (2015-02-30) and
an ICD code's exact shape are checked by validation, which names them. The
dates' bounds (FIRST_CASE_DATE to LAST_CASE_DATE) are in their pattern, as
JSON Schema cannot compare dates.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from mtus_dsl.case import FIRST_CASE_DATE, LAST_CASE_DATE, CaseSchema
from mtus_dsl.decision import Outcome
from mtus_dsl.types import Type

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: ICD-9-CM (722.10, V57.1, E888.9) or ICD-10-CM (M51.26); case-insensitive and trimmed by validation.
CODE_PATTERN = (
    r"^\s*([0-9]{3}|[Vv][0-9]{2}|[Ee][0-9]{3})(\.[0-9]{1,2})?\s*$"
    r"|^\s*[A-Za-z][0-9][0-9A-Za-z](\.[0-9A-Za-z]{1,4})?\s*$"
)



def date_pattern(first: datetime.date, last: datetime.date) -> str:
    """A pattern of the YYYY-MM-DD texts from `first` to `last`; `format: date` says which of them exist."""
    whole_from = first.year if (first.month, first.day) == (1, 1) else first.year + 1
    whole_to = last.year if (last.month, last.day) == (12, 31) else last.year - 1
    parts = []
    if first.year == last.year and whole_from > whole_to:  # part of one year
        parts.append(f"{first.year:04d}-" + _between(_day(first), _day(last)))
    else:
        if whole_from > first.year:
            parts.append(f"{first.year:04d}-" + _between(_day(first), "12-31"))
        if whole_from <= whole_to:
            parts.append(_between(f"{whole_from:04d}", f"{whole_to:04d}") + "-[0-9]{2}-[0-9]{2}")
        if whole_to < last.year:
            parts.append(f"{last.year:04d}-" + _between("01-01", _day(last)))
    return "^" + _one_of(parts) + "$"


def _day(date: datetime.date) -> str:
    return f"{date.month:02d}-{date.day:02d}"


def _between(low: str, high: str) -> str:
    """A pattern of the texts from `low` to `high`, both of one shape: digits, and the same `-` between them.

    Texts of one shape compare as their numbers do, so this is a range of numbers (or of
    dates written YYYY-MM-DD); a digit is bounded only while the ones before it are at a bound.
    """
    if not low:
        return ""
    if low[0] == high[0]:
        return low[0] + _between(low[1:], high[1:])
    a, b, rest_low, rest_high = int(low[0]), int(high[0]), low[1:], high[1:]
    zeros, nines = re.sub("[0-9]", "0", rest_low), re.sub("[0-9]", "9", rest_low)
    lowest = a if rest_low == zeros else a + 1  # the first digits whose every rest is in range
    highest = b if rest_high == nines else b - 1
    parts = []
    if lowest > a:
        parts.append(low[0] + _between(rest_low, nines))
    if lowest <= highest:
        digit = str(lowest) if lowest == highest else f"[{lowest}-{highest}]"
        parts.append(digit + _between(zeros, nines))
    if highest < b:
        parts.append(high[0] + _between(zeros, rest_high))
    return _one_of(parts)


def _one_of(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


#: What a case's date may be (`parse_case_date`), as a pattern: YYYY-MM-DD within the validator's bounds.
DATE_PATTERN = date_pattern(FIRST_CASE_DATE, LAST_CASE_DATE)


def case_schema(schema: CaseSchema, title: str = "MTUS treatment request") -> dict[str, Any]:
    """Return the JSON Schema of a case in this case format."""
    properties: dict[str, Any] = {"id": {"type": ["string", "null"], "description": "the request's identifier"}}
    required = []
    for spec in schema.inputs:
        prop = _type(spec.type, schema)
        if spec.required:
            required.append(spec.name)
        else:  # an optional field may be absent or null
            prop = {"anyOf": [prop, {"type": "null"}]}
        if spec.doc:
            prop["description"] = spec.doc
        properties[spec.name] = prop
    return {
        "$schema": DRAFT,
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _type(type_: Type, schema: CaseSchema) -> dict[str, Any]:
    """The JSON Schema of one value of `type_`, as Case.from_dict converts it."""
    kind = type_.kind
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "integer":
        out: dict[str, Any] = {"type": "integer"}
        if type_.low is not None:
            out["minimum"] = type_.low
        if type_.high is not None:
            out["maximum"] = type_.high
        return out
    if kind == "date":
        return {"type": "string", "format": "date", "pattern": DATE_PATTERN}
    if kind == "code":
        return {"type": "string", "pattern": CODE_PATTERN, "description": "an ICD-9-CM or ICD-10-CM code"}
    if kind == "text":
        return {"type": "string"}
    if kind == "enum":
        return {"type": "string", "enum": list(schema.enums.get(type_.name or "", ()))}
    if kind == "record":
        fields = schema.records.get(type_.name or "", ())
        return {
            "type": "object",
            "title": type_.name,
            "properties": {name: _type(field, schema) for name, field in fields},
            "required": [name for name, _ in fields],
            "additionalProperties": False,
        }
    if kind in ("list", "set"):
        assert type_.of is not None
        return {"type": "array", "items": _type(type_.of, schema)}
    raise ValueError(f"an input of type {type_} has no JSON form")  # the checker allows none such (E103)


_STRINGS = {"type": "array", "items": {"type": "string"}}
_CITATION = {
    "type": "object",
    "properties": {
        "document": {"type": "string"},
        "edition": {"type": "string"},
        "section": {"type": "string"},
        "pages": {"type": ["string", "null"]},
        "subsection": {"type": ["string", "null"]},
        "regulation": {"type": ["string", "null"]},
    },
    "required": ["document", "edition", "section", "pages", "subsection", "regulation"],
}
_CLAUSE = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "value": {"enum": ["true", "false", "unknown"]},
        "reads": {
            "type": "array",
            "items": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}], "items": False,
                      "minItems": 2},
            "description": "each input or fact the clause read, and its value as shown",
        },
        "matched": {"type": ["string", "null"], "description": "the diagnoses that made a condition it names hold"},
    },
    "required": ["text", "value", "reads", "matched"],
}
_TRACE = {
    "type": "object",
    "properties": {
        "rule": {"type": "string"},
        "kind": {"enum": ["rule", "cap"]},
        "status": {"enum": ["governs", "applies", "binds", "not_applicable", "not_in_force", "unknown"]},
        "detail": {"type": "string"},
        "source": {"type": "string", "description": "path:line of the rule, relative to its guideline root"},
        # Only when there are some (TraceEntry.to_dict), so not required.
        "clauses": {"type": "array", "items": _CLAUSE, "description": "the clause that decided, or each of a "
                    "governing rule's"},
    },
    "required": ["rule", "kind", "status", "detail", "source"],
}
_ASSUMPTION = {
    "type": "object",
    "properties": {
        "field": {"type": "string"},
        "value": {"description": "what the absent field was read as, in the case's JSON form"},
        "reason": {"type": "string"},
    },
    "required": ["field", "value", "reason"],
}
_PROVENANCE = {
    "type": ["object", "null"],
    "properties": {
        "version": {"type": "string", "description": "the mtus-dsl that compiled the rules"},
        "sources": {"type": "string", "pattern": "^(sha256:[0-9a-f]{64})?$"},
        "editions": {**_STRINGS, "description": "the guideline editions in force on the request date and consulted"},
    },
    "required": ["version", "sources", "editions"],
}


def decision_schema() -> dict[str, Any]:
    """Return the JSON Schema of a decision (`Decision.to_dict`, `mtus decide --json` with or without --no-trace)."""
    return {
        "$schema": DRAFT,
        "title": "MTUS decision",
        "type": "object",
        "properties": {
            "id": {"type": ["string", "null"]},
            "outcome": {"enum": [o.value for o in Outcome]},
            "requested": {"type": "integer", "minimum": 1},
            "unit": {"type": "string"},
            "approved": {"type": "integer", "minimum": 0},
            "citations": {"type": "array", "items": _CITATION},
            "rationale": {"type": "string"},
            "missing": _STRINGS,
            "rules": _STRINGS,
            "assumed": {"type": "array", "items": _ASSUMPTION, "description": "on the record: absent inputs read"},
            "trace": {"type": "array", "items": _TRACE, "description": "absent from `mtus decide --json --no-trace`"},
            "provenance": _PROVENANCE,
        },
        # Every field `to_dict` writes, but the trace: `--no-trace` leaves it out.
        "required": ["id", "outcome", "requested", "unit", "approved", "citations", "rationale", "missing", "rules",
                     "assumed", "provenance"],
    }


def batch_line_schema() -> dict[str, Any]:
    """Return the JSON Schema of one line `mtus decide FILE.jsonl --json` writes: a decision, or a line's error."""
    decision = decision_schema()
    del decision["$schema"]
    error = {
        "title": "a line that could not be decided",
        "type": "object",
        "properties": {
            "line": {"type": "integer", "minimum": 1, "description": "its line number in the input"},
            "id": {"description": "the line's id when it is an object that gives one, else null"},
            "error": {"type": "string", "description": "what is wrong, as standard error says it"},
        },
        "required": ["line", "id", "error"],
        "additionalProperties": False,
    }
    return {"$schema": DRAFT, "title": "MTUS batch line", "oneOf": [decision, error]}

