"""The case format: validate a request (a JSON object) against the declared inputs."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from mtus_dsl.diagnostics import did_you_mean
from mtus_dsl.types import Type

# ICD-9-CM (722.10, V57.1, E888.9) and ICD-10-CM (M51.26, G90.50) code shapes.
_ICD9 = re.compile(r"^(\d{3}|V\d{2}|E\d{3})(\.\d{1,2})?$")
_ICD10 = re.compile(r"^[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?$")


@attrs.frozen
class InputSpec:
    """One field of the case format: its name, type, whether required, what it means."""

    name: str
    type: Type
    required: bool
    doc: str | None


@attrs.frozen
class CaseSchema:
    """The case format a set of guidelines accepts: inputs, enumerations, records."""

    inputs: tuple[InputSpec, ...]
    enums: Mapping[str, tuple[str, ...]]
    records: Mapping[str, tuple[tuple[str, Type], ...]]

    def field_names(self) -> list[str]:
        """Return every field a case may carry, `id` included."""
        return ["id"] + [i.name for i in self.inputs]


@attrs.frozen
class FieldError:
    """One problem with one field of a case."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class CaseError(ValueError):
    """A case that does not follow the case format; lists every problem found."""

    def __init__(self, errors: Sequence[FieldError]):
        self.errors = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


@attrs.frozen
class Record:
    """A structured value: one surgery, or one row of a table."""

    type: str
    values: Mapping[str, Any]

    def __str__(self) -> str:
        # Called for every surgery shown in a rationale: kept to one tight loop over the usual classes.
        parts = []
        for v in self.values.values():
            cls = v.__class__
            parts.append(v.replace("_", " ") if cls is str else v.isoformat() if cls is datetime.date else _show(v))
        return ", ".join(parts)


@attrs.frozen
class Case:
    """A validated request: its id and the input facts it gives (absent ones are unknown)."""

    id: str | None
    values: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Any, schema: CaseSchema) -> Case:
        """Validate `data` against `schema`; raise CaseError naming every bad field."""
        errors: list[FieldError] = []
        if not isinstance(data, Mapping):
            raise CaseError([FieldError("", f"a case must be a JSON object, not {_json_kind(data)}")])
        specs = {i.name: i for i in schema.inputs}
        allowed = schema.field_names()
        for key in data:
            if key != "id" and key not in specs:
                errors.append(
                    FieldError(
                        str(key), f"unknown field{did_you_mean(str(key), allowed)} (fields: {', '.join(allowed)})"
                    )
                )
        case_id = data.get("id")
        if case_id is not None and not isinstance(case_id, str):
            errors.append(FieldError("id", f"must be a string, not {_json_kind(case_id)}"))
        values: dict[str, Any] = {}
        for spec in schema.inputs:
            raw = data.get(spec.name)
            if raw is None:
                if spec.required:
                    what = "is required" if spec.name not in data else "is required and cannot be null"
                    errors.append(FieldError(spec.name, f"{what}; {_describe(spec.type, schema)}"))
                continue
            value = _convert(raw, spec.type, spec.name, schema, errors)
            if value is not _BAD:
                values[spec.name] = value
        if errors:
            raise CaseError(errors)
        return cls(case_id, values)


_BAD = object()
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(raw: str) -> datetime.date | None:
    """Read a date written YYYY-MM-DD; None if it is not one."""
    if _DATE.fullmatch(raw):
        try:
            return datetime.date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def parse_code(raw: str) -> str | None:
    """Read an ICD-9-CM or ICD-10-CM code, normalised (trimmed, upper case); None if it is not one."""
    code = raw.strip().upper()
    return code if _ICD9.match(code) or _ICD10.match(code) else None


def _convert(raw: Any, type_: Type, where: str, schema: CaseSchema, errors: list[FieldError]) -> Any:
    kind = type_.kind
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
    elif kind == "integer":
        if isinstance(raw, int) and not isinstance(raw, bool):
            low, high = type_.low, type_.high
            if (low is not None and raw < low) or (high is not None and raw > high):
                errors.append(FieldError(where, f"{raw} is out of range; {_describe(type_, schema)}"))
                return _BAD
            return raw
    elif kind == "date":
        if isinstance(raw, str):
            date = parse_date(raw)
            if date is not None:
                return date
            errors.append(FieldError(where, f"'{raw}' is not a date; write YYYY-MM-DD, for example 2015-09-23"))
            return _BAD
    elif kind == "text":
        if isinstance(raw, str):
            return raw
    elif kind == "code":
        if isinstance(raw, str):
            code = parse_code(raw)
            if code is not None:
                return code
            errors.append(
                FieldError(where, f"'{raw}' is not an ICD-9-CM or ICD-10-CM code (for example 722.10 or M51.26)")
            )
            return _BAD
    elif kind == "enum":
        members = schema.enums.get(type_.name or "", ())
        if isinstance(raw, str):
            if raw in members:
                return raw
            errors.append(
                FieldError(
                    where,
                    f"'{raw}' is not a known {type_.name}{did_you_mean(raw, members)} (allowed: {', '.join(members)})",
                )
            )
            return _BAD
    elif kind == "record":
        fields = schema.records.get(type_.name or "", ())
        if isinstance(raw, Mapping):
            return _convert_record(raw, type_.name or "", fields, where, schema, errors)
    elif kind in ("list", "set"):
        if isinstance(raw, list):
            assert type_.of is not None
            items = [_convert(item, type_.of, f"{where}[{i}]", schema, errors) for i, item in enumerate(raw)]
            if any(item is _BAD for item in items):
                return _BAD
            return tuple(items) if kind == "list" else frozenset(items)
    errors.append(FieldError(where, f"{_describe(type_, schema)}, not {_json_kind(raw)}"))
    return _BAD


def _convert_record(
    raw: Mapping[str, Any],
    name: str,
    fields: tuple[tuple[str, Type], ...],
    where: str,
    schema: CaseSchema,
    errors: list[FieldError],
) -> Any:
    names = [f for f, _ in fields]
    bad = False
    for key in raw:
        if key not in names:
            errors.append(
                FieldError(
                    f"{where}.{key}",
                    f"unknown field of a {name}{did_you_mean(str(key), names)} (fields: {', '.join(names)})",
                )
            )
            bad = True
    values: dict[str, Any] = {}
    for field, field_type in fields:
        if raw.get(field) is None:
            errors.append(FieldError(f"{where}.{field}", f"is required; {_describe(field_type, schema)}"))
            bad = True
            continue
        value = _convert(raw[field], field_type, f"{where}.{field}", schema, errors)
        bad = bad or value is _BAD
        values[field] = value
    return _BAD if bad else Record(name, values)


def _describe(type_: Type, schema: CaseSchema) -> str:
    kind = type_.kind
    if kind == "boolean":
        return "expected true or false"
    if kind == "integer":
        if type_.low is not None:
            return f"expected a whole number from {type_.low} to {type_.high}"
        return "expected a whole number"
    if kind == "date":
        return "expected a date written YYYY-MM-DD"
    if kind == "code":
        return "expected an ICD-9-CM or ICD-10-CM code as a string"
    if kind == "text":
        return "expected a string"
    if kind == "enum":
        return f"expected one of: {', '.join(schema.enums.get(type_.name or '', ()))}"
    if kind == "record":
        fields = schema.records.get(type_.name or "", ())
        return f"expected an object with fields {', '.join(f for f, _ in fields)}"
    if kind in ("list", "set"):
        assert type_.of is not None
        return f"expected a list; each item {_describe(type_.of, schema).removeprefix('expected ')}"
    return f"expected {type_}"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string '{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).replace("_", " ")
