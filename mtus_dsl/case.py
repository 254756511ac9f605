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
class Reading:
    """What an absent input means when deciding on the record, and why: a value, or another input's value."""

    reason: str
    value: Any = None
    source: str | None = None  # the input whose value it takes (`on record prior_visits`)


@attrs.frozen
class InputSpec:
    """One field of the case format: its name, type, whether required, what it means."""

    name: str
    type: Type
    required: bool
    doc: str | None
    on_record: Reading | None = None


@attrs.frozen
class Relation:
    """Two integer inputs in order: `lower` never exceeds `upper` (`input lower: ... at most upper`)."""

    lower: str
    upper: str
    reason: str | None = None
    #: An implied relation's middle input (a <= b <= c gives a <= c through b): when the case gives
    #: the middle, the declared relations on either side say what is wrong instead.
    through: str | None = None

    def broken(self, values: Mapping[str, Any]) -> FieldError | None:
        """The error of a case whose values break the relation, or None (an absent side breaks nothing)."""
        low, high = values.get(self.lower), values.get(self.upper)
        if low is None or high is None or low <= high or (self.through is not None and self.through in values):
            return None
        why = f": {self.reason}" if self.reason else ""
        message = f"{self.lower} = {low} is more than {self.upper} = {high}, and it never exceeds {self.upper}{why}"
        return FieldError(self.lower, message, (self.lower,), "relation")


@attrs.frozen
class CaseSchema:
    """The case format a set of guidelines accepts: inputs, enumerations, records, relations between inputs."""

    inputs: tuple[InputSpec, ...]
    enums: Mapping[str, tuple[str, ...]]
    records: Mapping[str, tuple[tuple[str, Type], ...]]
    relations: tuple[Relation, ...] = ()

    def field_names(self) -> list[str]:
        """Return every field a case may carry, `id` included."""
        return ["id"] + [i.name for i in self.inputs]


#: A field's place in a case, as a path: ("surgeries", 0, "body_region"); () is the case as a whole.
Loc = tuple[str | int, ...]


def field_name(loc: Loc) -> str:
    """Write a path as the messages name a field: `surgeries[0].body_region`; the empty key as `""` (`surgeries[0].""`),
    so that a message names it."""
    text = ""
    for part in loc:
        if part == "":
            part = '""'
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _loc_of(error: FieldError) -> Loc:
    """The path of a FieldError made with only its field's name (a name with no dots or brackets)."""
    return (error.field,) if error.field else ()


@attrs.frozen
class FieldError:
    """One problem with one field of a case: where (`field` as text, `loc` as a path), what kind (`type`), and why.

    `type` is one of: missing, null, unknown_field, wrong_type, out_of_range, not_a_date,
    not_a_code, not_a_member, not_an_object, relation (two fields out of their declared
    order), invalid. `loc` and `type` are what an HTTP
    service needs for a 422 answer (`{"loc": [...], "type": ..., "msg": ...}`).
    """

    field: str
    message: str
    loc: Loc = attrs.field(default=attrs.Factory(_loc_of, takes_self=True))
    type: str = "invalid"

    def __str__(self) -> str:
        if not self.field:
            return self.message
        # An unknown field's name is what the case gave: a name of a megabyte is not repeated whole.
        field = self.field if len(self.field) <= MAX_QUOTED else f"{self.field[:MAX_QUOTED]}..."
        return f"{field}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as JSON-ready data: loc (a list), type, msg, field."""
        return {"loc": list(self.loc), "type": self.type, "msg": self.message, "field": self.field}


def _problem(loc: Loc, type_: str, message: str) -> FieldError:
    """A FieldError located by its path."""
    return FieldError(field_name(loc), message, loc, type_)


#: How many problems a CaseError's message shows before "... and N more" (`errors` keeps them all).
MAX_SHOWN = 20
#: How many characters of a value (or of an unknown field's name) a message shows: a 422 answer
#: does not repeat a megabyte back.
MAX_QUOTED = 80


class CaseError(ValueError):
    """A case that does not follow the case format; lists every problem found."""

    def __init__(self, errors: Sequence[FieldError]):
        self.errors = tuple(errors)
        shown = [str(e) for e in self.errors[:MAX_SHOWN]]
        if len(self.errors) > MAX_SHOWN:
            shown.append(f"... and {len(self.errors) - MAX_SHOWN} more")
        super().__init__("; ".join(shown))

    def __reduce__(self) -> tuple[Any, ...]:
        # Made again from its problems (not its message): a CaseError raised in a worker process
        # (multiprocessing, concurrent.futures) or copied says the same thing.
        return (CaseError, (self.errors,))

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every problem as JSON-ready data (`FieldError.to_dict`): the body of an HTTP 422 answer."""
        return [e.to_dict() for e in self.errors]


class FrozenValues(dict[str, Any]):
    """A case's values: a dict that cannot be changed (copying it into a dict stays as fast as a dict's)."""

    __slots__ = ()

    def _frozen(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a case's values cannot be changed; build a new case")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _frozen

    def __hash__(self) -> int:  # type: ignore[override]
        # Immutable, so hashable (a Case and a Record are): equal values, equal hashes.
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenValues, (dict(self),))

    def __copy__(self) -> FrozenValues:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenValues:
        return self


@attrs.frozen
class Record:
    """A structured value: one surgery, or one row of a table; its values cannot be changed, as a case's."""

    type: str
    values: Mapping[str, Any] = attrs.field(converter=FrozenValues)

    def __str__(self) -> str:
        # Called for every surgery shown in a rationale: kept to one tight loop over the usual classes.
        parts = []
        for v in self.values.values():
            cls = v.__class__
            parts.append(v.replace("_", " ") if cls is str else v.isoformat() if cls is datetime.date else _show(v))
        return ", ".join(parts)


@attrs.frozen(init=False)
class Case:
    """A validated request: its id and the input facts it gives (absent ones are unknown).

    A case is immutable (`values` is a FrozenValues, records' values too). Build one by
    validation: `schedule.case(data)` or `Case.from_dict(data, schema)`. Built directly,
    `Case(id, values)` checks what holds for every case format (the core inputs'
    types and ranges: quantity, request_date, service, body_region) and raises
    CaseError otherwise; every engine checks such a case, or one validated against
    another case format, against its own before deciding it (`validated_for`).
    """

    id: str | None
    values: Mapping[str, Any]
    #: The case format this case was validated against (None: built directly, not yet).
    #: Not an argument of `__init__` (nor of `attrs.evolve`): only validation sets it.
    _schema: CaseSchema | None = attrs.field(init=False, eq=False, repr=False)

    def __init__(self, id: str | None, values: Mapping[str, Any]) -> None:
        # The generated validators build every case this way: the check of a good one is one quick pass.
        if not _direct_ok(id, values):
            raise CaseError(_direct_problems(id, values))
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "values", FrozenValues(values))
        object.__setattr__(self, "_schema", None)

    @classmethod
    def _validated(cls, case_id: str | None, values: dict[str, Any], schema: CaseSchema | None) -> Case:
        """Make a case from values validation has just converted (no check: validation did it)."""
        case = object.__new__(cls)
        object.__setattr__(case, "id", case_id)
        object.__setattr__(case, "values", FrozenValues(values))
        object.__setattr__(case, "_schema", schema)
        return case

    def validated_for(self, schema: CaseSchema) -> Case:
        """Return this case validated against `schema` (itself if it already was); raise CaseError.

        Its values are read back as JSON and validated as a dict would be: the same
        messages, and the same converted values. An equal case format (the same
        guidelines compiled twice) validates alike, so it is not checked again.
        """
        known = self._schema
        if known is schema or (known is not None and known == schema):
            return self
        return Case.from_dict(self.to_json(), schema)

    def to_dict(self) -> dict[str, Any]:
        """Return the case as the JSON object it would be read from (dates as YYYY-MM-DD, lists as lists)."""
        return self.to_json()

    def to_json(self) -> dict[str, Any]:
        """Return the case as the JSON object it would be read from (the same as `to_dict`)."""
        data: dict[str, Any] = {} if self.id is None else {"id": self.id}
        data.update((name, _to_json(value)) for name, value in self.values.items())
        return data

    @classmethod
    def from_dict(cls, data: Any, schema: CaseSchema) -> Case:
        """Validate `data` against `schema`; raise CaseError naming every bad field."""
        errors: list[FieldError] = []
        if not isinstance(schema, CaseSchema):
            raise TypeError(f"Case.from_dict(data, schema) takes a CaseSchema (schedule.schema, or a compiled "
                            f"module's schema), not {type(schema).__name__}")
        if not isinstance(data, Mapping):
            raise CaseError([_problem((), "not_an_object", f"a case must be a JSON object, not {_json_kind(data)}")])
        specs = {i.name: i for i in schema.inputs}
        allowed = schema.field_names()
        unknown = 0
        for key in data:
            if key != "id" and key not in specs:
                unknown += 1
                if unknown > MAX_SHOWN:  # past what is shown, no suggestion is worked out
                    errors.append(_problem((str(key),), "unknown_field", "unknown field"))
                    continue
                # The fields are listed once, with the first unknown one.
                listed = f" (fields: {', '.join(allowed)})" if unknown == 1 else ""
                errors.append(
                    _problem((str(key),), "unknown_field", f"unknown field{did_you_mean(str(key), allowed)}{listed}")
                )
        case_id = data.get("id")
        if case_id is not None and not isinstance(case_id, str):
            errors.append(_problem(("id",), "wrong_type", f"must be a string, not {_json_kind(case_id)}"))
        values: dict[str, Any] = {}
        for spec in schema.inputs:
            raw = data.get(spec.name)
            if raw is None:
                if spec.required:
                    what = "is required" if spec.name not in data else "is required and cannot be null"
                    kind = "missing" if spec.name not in data else "null"
                    errors.append(_problem((spec.name,), kind, f"{what}; {_describe(spec.type, schema)}"))
                continue
            value = _convert(raw, spec.type, (spec.name,), schema, errors)
            if value is not _BAD:
                values[spec.name] = value
        for relation in schema.relations:
            broken = relation.broken(values)
            if broken is not None:
                errors.append(broken)
        if errors:
            raise CaseError(errors)
        return cls._validated(case_id, values, schema)


_DATE_CLASS = datetime.date


def _direct_ok(case_id: Any, values: Any) -> bool:
    """Tell quickly whether the core of a case built directly is good (see _direct_problems)."""
    if values.__class__ is not dict and not isinstance(values, Mapping):
        return False
    quantity = values.get("quantity")
    return not (
        (case_id is not None and case_id.__class__ is not str)
        or quantity.__class__ is not int
        or not 1 <= quantity <= 1000
        or values.get("request_date").__class__ is not _DATE_CLASS
        or values.get("service").__class__ is not str
        or values.get("body_region").__class__ is not str
    )


def _direct_problems(case_id: Any, values: Any) -> list[FieldError]:
    """What is wrong with the core of a case built directly, whatever the case format: [] for a good one.

    The core inputs every case format has (the prelude's, which the engine reads
    directly) are checked in full. A Schedule checks the rest against its case
    format before deciding a case built directly (`validated_for`).
    """
    if not isinstance(values, Mapping):
        return [_problem((), "not_an_object", f"a case's values must be a mapping, not {type(values).__name__}")]
    errors = []
    if case_id is not None and case_id.__class__ is not str:
        errors.append(_problem(("id",), "wrong_type", f"must be a string, not {_json_kind(case_id)}"))
    quantity = values.get("quantity")
    if quantity.__class__ is not int or not 1 <= quantity <= 1000:
        given = _json_kind(quantity)
        if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity.__class__ is not int:
            given = f"a {type(quantity).__name__} (an int subclass: give int(quantity))"
        errors.append(_problem(("quantity",), "wrong_type", f"expected a whole number from 1 to 1000, not {given}"))
    request_date = values.get("request_date")
    if request_date.__class__ is not datetime.date:
        given = ("a datetime (its .date() is the day)" if isinstance(request_date, datetime.datetime)
                 else _json_kind(request_date))
        errors.append(_problem(("request_date",), "wrong_type", f"expected a datetime.date, not {given}"))
    for name in ("service", "body_region"):
        if values.get(name).__class__ is not str:
            errors.append(_problem((name,), "wrong_type", f"expected a string, not {_json_kind(values.get(name))}"))
    return errors


def _to_json(value: Any) -> Any:
    if value.__class__ is datetime.date:
        return value.isoformat()
    if isinstance(value, Record):
        return {name: _to_json(v) for name, v in value.values.items()}
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if isinstance(value, frozenset):
        return sorted((_to_json(v) for v in value), key=repr)
    if isinstance(value, Mapping):
        # A record given as a plain dict in a case built directly: its dates are written as validation reads them.
        return {name: _to_json(v) for name, v in value.items()}
    return value


_BAD = object()
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

#: The days a case's dates may name (every date input, record fields included): far enough either
#: side of any real request that date arithmetic on them (a period of months or years) stays a date.
FIRST_CASE_DATE = datetime.date(1900, 1, 1)
LAST_CASE_DATE = datetime.date(2199, 12, 31)
#: The most digits an integer in a case may have (every integer field is far smaller).
MAX_INT_DIGITS = 30


def parse_date(raw: str) -> datetime.date | None:
    """Read a date written YYYY-MM-DD; None if it is not one."""
    if _DATE.fullmatch(raw):
        try:
            return datetime.date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def parse_case_date(raw: str) -> datetime.date | None:
    """Read a case's date: YYYY-MM-DD from FIRST_CASE_DATE to LAST_CASE_DATE; None otherwise."""
    date = parse_date(raw)
    return date if date is not None and FIRST_CASE_DATE <= date <= LAST_CASE_DATE else None


def parse_code(raw: str) -> str | None:
    """Read an ICD-9-CM or ICD-10-CM code, normalised (trimmed, upper case); None if it is not one."""
    code = raw.strip().upper()
    return code if _ICD9.match(code) or _ICD10.match(code) else None


def convert_value(raw: Any, type_: Type, where: Loc, schema: CaseSchema, errors: list[FieldError]) -> Any:
    """Convert one JSON value to the value of `type_` a case holds; append what is wrong to `errors`."""
    value = _convert(raw, type_, where, schema, errors)
    return None if value is _BAD else value


def _convert(raw: Any, type_: Type, where: Loc, schema: CaseSchema, errors: list[FieldError]) -> Any:
    kind = type_.kind
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
    elif kind == "integer":
        if isinstance(raw, int) and not isinstance(raw, bool):
            low, high = type_.low, type_.high
            if abs(raw) >= 10 ** MAX_INT_DIGITS:
                # Compared, not printed: Python will not print an integer of over 4,300 digits.
                message = f"a number of more than {MAX_INT_DIGITS} digits; a case's numbers have at most that many"
                errors.append(_problem(where, "out_of_range", message))
                return _BAD
            if (low is not None and raw < low) or (high is not None and raw > high):
                errors.append(_problem(where, "out_of_range", f"{raw} is out of range; {_describe(type_, schema)}"))
                return _BAD
            # An int subclass (an IntEnum) is read as the integer, as the generated validator reads an int.
            return raw if raw.__class__ is int else int.__int__(raw)
    elif kind == "date":
        if isinstance(raw, str):
            date = parse_date(raw)
            if date is not None:
                if FIRST_CASE_DATE <= date <= LAST_CASE_DATE:
                    return date
                errors.append(_problem(where, "date_out_of_range", f"{_quoted(raw)} is out of range; {_DATE_RANGE}"))
                return _BAD
            message = f"{_quoted(raw)} is not a date; write YYYY-MM-DD, for example 2015-09-23"
            errors.append(_problem(where, "not_a_date", message))
            return _BAD
    elif kind == "text":
        if isinstance(raw, str):
            return raw if raw.__class__ is str else str.__str__(raw)
    elif kind == "code":
        if isinstance(raw, str):
            code = parse_code(raw)
            if code is not None:
                return code
            message = f"{_quoted(raw)} is not an ICD-9-CM or ICD-10-CM code (for example 722.10 or M51.26)"
            errors.append(_problem(where, "not_a_code", message))
            return _BAD
    elif kind == "enum":
        members = schema.enums.get(type_.name or "", ())
        if isinstance(raw, str):
            if raw in members:
                return raw if raw.__class__ is str else str.__str__(raw)
            errors.append(
                _problem(
                    where,
                    "not_a_member",
                    f"{_quoted(raw)} is not a known {type_.name}{did_you_mean(raw, members)} (allowed: "
                    f"{', '.join(members)})",
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
            items = [_convert(item, type_.of, (*where, i), schema, errors) for i, item in enumerate(raw)]
            if any(item is _BAD for item in items):
                return _BAD
            return tuple(items) if kind == "list" else frozenset(items)
    errors.append(_problem(where, "wrong_type", f"{_describe(type_, schema)}, not {_json_kind(raw)}"))
    return _BAD


def _convert_record(
    raw: Mapping[str, Any],
    name: str,
    fields: tuple[tuple[str, Type], ...],
    where: Loc,
    schema: CaseSchema,
    errors: list[FieldError],
) -> Any:
    names = [f for f, _ in fields]
    bad = False
    for key in raw:
        if key not in names:
            errors.append(
                _problem(
                    (*where, str(key)),
                    "unknown_field",
                    f"unknown field of a {name}{did_you_mean(str(key), names)} (fields: {', '.join(names)})",
                )
            )
            bad = True
    values: dict[str, Any] = {}
    for field, field_type in fields:
        if raw.get(field) is None:
            errors.append(_problem((*where, field), "missing", f"is required; {_describe(field_type, schema)}"))
            bad = True
            continue
        value = _convert(raw[field], field_type, (*where, field), schema, errors)
        bad = bad or value is _BAD
        values[field] = value
    return _BAD if bad else Record(name, values)


_DATE_RANGE = f"expected a date from {FIRST_CASE_DATE.isoformat()} to {LAST_CASE_DATE.isoformat()}"


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
        return f"the string {_quoted(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, datetime.date):
        # Only in a dict: a case's dates are JSON text (a Case built directly takes datetime.date).
        day = value.date() if isinstance(value, datetime.datetime) else value
        return f"a {type(value).__name__} object (write it as text: '{day.isoformat()}')"
    return type(value).__name__



def _quoted(text: str) -> str:
    """A value as a message shows it: in quotes, control characters escaped, cut short past MAX_QUOTED."""
    cut = text[:MAX_QUOTED]
    if not cut.isprintable():
        cut = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in cut)
    return f"'{cut}...' ({len(text)} characters)" if len(text) > MAX_QUOTED else f"'{cut}'"


def _show(value: Any) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).replace("_", " ")
