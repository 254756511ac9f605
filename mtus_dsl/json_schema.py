"""JSON Schema (draft 2020-12) of the case a set of guidelines accepts, and of the decision: for OpenAPI.

The case schema is generated from the CaseSchema (the prelude's inputs and every
input the guideline files add), so it is exactly what `Case.from_dict` accepts,
except what a schema cannot say: a date that does not exist (2015-02-30) and
an ICD code's exact shape are checked by validation, which names them.
"""

from __future__ import annotations

from typing import Any

from mtus_dsl.case import CaseSchema
from mtus_dsl.decision import Outcome
from mtus_dsl.types import Type

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: What `parse_date` accepts, as a pattern.
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
#: ICD-9-CM (722.10, V57.1, E888.9) or ICD-10-CM (M51.26); case-insensitive and trimmed by validation.
CODE_PATTERN = (
    r"^\s*([0-9]{3}|[Vv][0-9]{2}|[Ee][0-9]{3})(\.[0-9]{1,2})?\s*$"
    r"|^\s*[A-Za-z][0-9][0-9A-Za-z](\.[0-9A-Za-z]{1,4})?\s*$"
)


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
_TRACE = {
    "type": "object",
    "properties": {
        "rule": {"type": "string"},
        "kind": {"enum": ["rule", "cap"]},
        "status": {"enum": ["governs", "applies", "binds", "not_applicable", "not_in_force", "unknown"]},
        "detail": {"type": "string"},
        "source": {"type": "string", "description": "path:line of the rule, relative to its guideline root"},
    },
    "required": ["rule", "kind", "status", "detail", "source"],
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
    """Return the JSON Schema of a decision (`Decision.to_dict`, `mtus decide --json`)."""
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
            "trace": {"type": "array", "items": _TRACE},
            "provenance": _PROVENANCE,
        },
        "required": ["id", "outcome", "requested", "unit", "approved", "citations", "rationale", "missing", "rules",
                     "trace", "provenance"],
    }
