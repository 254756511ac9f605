"""The column mapping: a table's flat columns to the fields of the case format, written as DuckDB SQL.

Every row becomes, in SQL, the JSON object `Case.from_dict` would read (so the
Python engine and the errors file see exactly what `mtus decide` would), and,
for the DuckDB engine, the typed relation the SQL backend reads (`id` plus one
column per input field) with a flag telling whether the row is certainly valid.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

import attrs

from mtus_dsl.case import _ICD9, _ICD10, FIRST_CASE_DATE, LAST_CASE_DATE, CaseSchema, InputSpec
from mtus_dsl.diagnostics import did_you_mean
from mtus_dsl.types import Type


class AuditError(Exception):
    """A bad input to an audit (file, format, columns, mapping file): one located message, exit status 2."""


#: The keys a mapping file may have.
MAPPING_KEYS = ("columns", "ignore", "delimiter", "empty_is_none")
#: Words a text cell may hold for true and false (any case; blank is unknown).
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")


@attrs.frozen
class Mapping:
    """How a table's columns become a case: a column (or numbered groups) per field, columns to ignore."""

    #: field -> column name; for a list of records, a pattern with {n} and {field} names numbered groups.
    columns: MappingABC[str, str] = attrs.field(factory=dict)
    #: Columns of the table that are not case fields and are left out on purpose.
    ignore: tuple[str, ...] = ()
    #: What separates the items of a list written in one text cell.
    delimiter: str = ";"
    #: List fields whose blank cell (or, for groups, no filled group) means an empty list rather than unknown.
    empty_is_none: tuple[str, ...] = ()
    #: The mapping file it was read from (for messages), if any.
    path: str | None = None
    text: str = ""

    def where(self, key: str) -> str:
        """Locate a key of the mapping file as `path:line` (just `path` when it cannot be found)."""
        if self.path is None:
            return "the mapping"
        for number, line in enumerate(self.text.split("\n"), 1):
            if re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", line):
                return f"{self.path}:{number}"
        return self.path


def read_mapping(path: str, schema: CaseSchema) -> Mapping:
    """Read a mapping file (TOML); raise AuditError located at the first problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise AuditError(f"{path}: error: cannot read the mapping file: {reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
        where = f"{path}:{found.group(1)}:{found.group(2)}" if found else path
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        raise AuditError(f"{where}: error: not valid TOML: {message}") from None
    probe = Mapping(path=path, text=text)
    for key in data:
        if key not in MAPPING_KEYS:
            raise AuditError(
                f"{probe.where(key)}: error: unknown key '{key}'{did_you_mean(key, MAPPING_KEYS)} "
                f"(a mapping file has: {', '.join(MAPPING_KEYS)})"
            )
    fields = schema.field_names()
    columns = data.get("columns", {})
    if not isinstance(columns, dict):
        raise AuditError(
            f"{probe.where('columns')}: error: 'columns' must be a table: [columns] then FIELD = \"COLUMN\""
        )
    mapped: dict[str, str] = {}  # column -> the first field mapped to it
    for field, column in columns.items():
        if field not in fields:
            raise AuditError(
                f"{probe.where(field)}: error: '{field}' is not a case field{did_you_mean(field, fields)} "
                f"(fields: {', '.join(fields)})"
            )
        if not isinstance(column, str) or not column:
            raise AuditError(f"{probe.where(field)}: error: the column of '{field}' must be a non-empty string")
        if column in mapped:
            raise AuditError(f"{probe.where(field)}: error: {_mapped_twice(column, mapped[column], field, probe)}")
        mapped[column] = field
    ignore = _strings(data, "ignore", probe)
    for field, column in columns.items():
        if column in ignore:
            raise AuditError(f"{probe.where('ignore')}: error: {_ignored_and_read(column, field, probe.where(field))}")
    empty = _strings(data, "empty_is_none", probe)
    lists = [spec.name for spec in schema.inputs if spec.type.kind in ("list", "set")]
    for field in empty:
        if field not in lists:
            raise AuditError(
                f"{probe.where('empty_is_none')}: error: '{field}' is not a list field{did_you_mean(field, lists)} "
                f"(list fields: {', '.join(lists)})"
            )
    delimiter = data.get("delimiter", ";")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "[]{}\"' ":
        raise AuditError(
            f"{probe.where('delimiter')}: error: 'delimiter' must be one character other than a bracket, "
            "a quote or a space, for example \";\" or \"|\""
        )
    return Mapping(dict(columns), tuple(ignore), delimiter, tuple(empty), path, text)


def _ignored_and_read(column: str, field: str, mapped: str | None = None) -> str:
    """The message for a column both left out (ignore) and mapped to a field (`mapped`: where, "" when the mapping
    is no file), or read as the field of its name (`mapped` None)."""
    toml = json.dumps(column, ensure_ascii=False)  # a TOML basic string: its escapes are JSON's
    if mapped is not None:
        return (f"column '{column}' is both ignored and mapped to '{field}'{f' ({mapped})' if mapped else ''}; "
                f"remove one of them: {toml} from ignore, or {field} = {toml} from [columns]")
    return (f"column '{column}' is both ignored and read as the field '{field}', whose name it has; remove it "
            f"from ignore, or map '{field}' to another column under [columns]")


def _mapped_twice(column: str, first: str, second: str, mapping: Mapping) -> str:
    """The message for a column mapped to a second field (`second`) under [columns], told at the second's line.

    Never read twice: one column holding two fields is a slip of the pen far more often than a table whose one column
    is meant for both (that table can give the column twice, under two names)."""
    toml = json.dumps(column, ensure_ascii=False)  # a TOML basic string: its escapes are JSON's
    where = f" ({mapping.where(first)})" if mapping.path is not None else ""
    return (f"column '{column}' is already mapped to '{first}'{where}; a column is read as one field: map "
            f"'{second}' to another column, or remove {second} = {toml} from [columns]")


def _strings(data: dict[str, Any], key: str, probe: Mapping) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AuditError(f"{probe.where(key)}: error: '{key}' must be a list of strings, for example [\"notes\"]")
    return list(value)


# --- which columns hold which field ---------------------------------------------------


@attrs.frozen
class Source:
    """Where one field of the case comes from: a column, or numbered groups of columns (records)."""

    field: str
    type: Type
    column: str | None = None
    column_type: str = "VARCHAR"
    #: For a list of records from groups: per group, {record field: (column, its type)}.
    groups: tuple[tuple[tuple[str, str, str], ...], ...] = ()


#: Where a JSONL file's key is: (the first line that has it, how many lines have it), or None when not told.
Locate = Callable[[str], tuple[int, int] | None]
#: What reads a column: (its field, and for a group: the group's number and the record's field).
Reader = tuple[str, int, str] | tuple[str, None, None]


def plan_sources(schema: CaseSchema, table: MappingABC[str, str], mapping: Mapping, input_name: str,
                 locate: Locate | None = None) -> list[Source]:
    """Match the table's columns ({name: DuckDB type}) to the case fields; raise AuditError for what does not fit.

    `locate`: where a JSONL file's key is, so that a stray key is placed at its first line.
    """
    specs: list[InputSpec] = [InputSpec("id", Type("text"), False, None), *schema.inputs]
    used: dict[str, Reader] = {}  # each column read -> what reads it
    sources = []
    for spec in specs:
        mapped = mapping.columns.get(spec.name)
        record = _record_of(spec.type, schema)
        if record is not None and ((mapped and "{n}" in mapped) or (not mapped and spec.name not in table)):
            pattern = mapped or spec.name + "_{n}_{field}"
            groups = _groups(pattern, record, table, mapping, spec.name, input_name)
            if groups:
                for n, group in enumerate(groups, 1):
                    for name, column, _ in group:
                        _read_once(used, column, (spec.name, n, name), mapping, input_name)
                sources.append(Source(spec.name, spec.type, groups=groups))
                continue
        else:
            column = mapped or spec.name
            if column in table:
                _read_once(used, column, (spec.name, None, None), mapping, input_name)
                sources.append(Source(spec.name, spec.type, column, table[column]))
                continue
            if mapped:
                raise AuditError(
                    f"{mapping.where(spec.name)}: error: the table has no column '{mapped}' for '{spec.name}'"
                    f"{did_you_mean(mapped, list(table))} (columns: {_listed(table)})"
                )
        if spec.required:
            raise AuditError(
                f"{input_name}: error: no column for the required field '{spec.name}' "
                f"(columns: {_listed(table)}); name a column '{spec.name}', or map one in a mapping file: "
                f"[columns] {spec.name} = \"COLUMN\""
            )
    for column in mapping.ignore:
        if column in used:
            raise AuditError(f"{mapping.where('ignore')}: error: {_ignored_but_read(column, used[column], mapping)}")
    fields = schema.field_names()
    for column in table:
        if column not in used and column not in mapping.ignore:
            raise AuditError(_stray(column, fields, input_name, locate))
    return sources


def _read_once(used: dict[str, Reader], column: str, reader: Reader, mapping: Mapping, input_name: str) -> None:
    """Note that `reader` reads `column`; raise AuditError when another field reads it already."""
    first = used.get(column)
    if first is None:
        used[column] = reader
        return
    # Told at the line that maps one of them (the later one's first), else (none is mapped) in the table.
    told, other = (first, reader) if first[0] in mapping.columns and reader[0] not in mapping.columns else \
        (reader, first)
    where = mapping.where(told[0]) if told[0] in mapping.columns else input_name
    raise AuditError(f"{where}: error: column '{column}' is {_reading_as(column, told, mapping, where)}, and also "
                     f"{_reading_as(column, other, mapping, where)}; a column is read as one field: "
                     f"{_read_elsewhere(column, told, mapping)}, or {_read_elsewhere(column, other, mapping)}")


def _reading_as(column: str, reader: Reader, mapping: Mapping, told: str | None = None) -> str:
    """How a field reads a column, for a message (`told`: where the message is, not repeated)."""
    field, group, name = reader
    if group is not None:
        pattern = f"the pattern '{mapping.columns[field]}'" if field in mapping.columns else \
            f"the default pattern '{field}_{{n}}_{{field}}'"
        return f"read as '{name}' of group {group} of '{field}' ({pattern})"
    if mapping.columns.get(field) == column:
        where = mapping.where(field)
        return f"mapped to '{field}'{f' ({where})' if mapping.path is not None and where != told else ''}"
    return f"read as the field '{field}', whose name it has"


def _read_elsewhere(column: str, reader: Reader, mapping: Mapping) -> str:
    """The fix for one of two fields reading one column."""
    field, group, _ = reader
    if group is not None:
        return f"give '{field}' another pattern under [columns]"
    return f"map '{field}' to another column{'' if mapping.columns.get(field) == column else ' under [columns]'}"


def _ignored_but_read(column: str, reader: Reader, mapping: Mapping) -> str:
    """The message for an ignored column that a field reads: mapped to it, named as it, or one of its groups."""
    field, group, name = reader
    if group is not None:
        pattern = f"the pattern '{mapping.columns[field]}'" if field in mapping.columns else \
            f"the default pattern '{field}_{{n}}_{{field}}'"
        return (f"column '{column}' is both ignored and read as '{name}' of group {group} of '{field}' "
                f"({pattern}); remove it from ignore: a group needs a column for each field of its record")
    # A mapped one is refused by read_mapping already, unless the Mapping was made in Python.
    if mapping.columns.get(field) == column:
        return _ignored_and_read(column, field, mapping.where(field) if mapping.path is not None else "")
    return _ignored_and_read(column, field)


def _listed(columns: MappingABC[str, str]) -> str:
    """A table's columns, for a message: an empty name as `""`, so that it shows."""
    return ", ".join(column or '""' for column in columns)


def _stray(column: str, fields: list[str], input_name: str, locate: Locate | None) -> str:
    """The message for a column that is neither read nor ignored: placed at its first line in a JSONL file."""
    found = locate(column) if locate is not None else None
    where, lines, count = input_name, "", 0
    if found is not None:
        first, count = found
        where = f"{input_name}:{first}"
        lines = f"on line {first}" if count == 1 else f"on {count} lines, the first line {first}"
    if not column:
        # No field has an empty name, and a mapping file maps no field from one: it can only be left out.
        what = f"a key with an empty name, {lines}" if lines else "an empty name"
        fix = f", or remove it from the line{'s' if count > 1 else ''}" if lines else ""
        return (f"{where}: error: column \"\" ({what}) is not a case field and cannot be mapped to one; leave it out "
                f"(ignore = [\"\"]) in a mapping file (--mapping){fix}")
    toml = json.dumps(column, ensure_ascii=False)  # a TOML basic string: its escapes are JSON's
    return (f"{where}: error: column '{column}'{f' (a key {lines})' if lines else ''} is not a case field"
            f"{did_you_mean(column, fields)}; map it to one ([columns] FIELD = {toml}) or leave it out "
            f"(ignore = [{toml}]) in a mapping file (--mapping)")


def _record_of(type_: Type, schema: CaseSchema) -> tuple[tuple[str, Type], ...] | None:
    if type_.kind in ("list", "set") and type_.of is not None and type_.of.kind == "record":
        return tuple(schema.records.get(type_.of.name or "", ()))
    return None


def _groups(
    pattern: str, record: tuple[tuple[str, Type], ...], table: MappingABC[str, str], mapping: Mapping, field: str,
    input_name: str,
) -> tuple[tuple[tuple[str, str, str], ...], ...]:
    if "{n}" not in pattern or "{field}" not in pattern:
        raise AuditError(f"{mapping.where(field)}: error: a group pattern needs both {{n}} and {{field}}, "
                         f"for example \"{field}_{{n}}_{{field}}\"")
    groups = []
    n = 1
    while True:
        names = {name: pattern.replace("{n}", str(n)).replace("{field}", name) for name, _ in record}
        present = [column for column in names.values() if column in table]
        if not present:
            break
        if len(present) < len(names):
            absent = [column for column in names.values() if column not in table]
            # The table's fault when the pattern is the default one, the mapping file's when it gave the pattern.
            blamed = mapping.where(field) if field in mapping.columns else input_name
            raise AuditError(f"{blamed}: error: group {n} of '{field}' lacks the column(s) "
                             f"{', '.join(absent)} (each group needs one column per field: "
                             f"{', '.join(name for name, _ in record)})")
        groups.append(tuple((name, names[name], table[names[name]]) for name, _ in record))
        n += 1
    if not groups and "{n}" in (mapping.columns.get(field) or ""):
        raise AuditError(f"{mapping.where(field)}: error: no columns match the pattern '{pattern}' "
                         f"(the first would be {pattern.replace('{n}', '1').replace('{field}', record[0][0])})")
    return tuple(groups)


# --- SQL: each field as the JSON value Case.from_dict reads -----------------------------


def quote(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a string literal for DuckDB."""
    return "'" + text.replace("'", "''") + "'"


def _is_text(column_type: str) -> bool:
    return column_type == "VARCHAR"


def _scalar_json(column: str, column_type: str, type_: Type) -> str:
    """The JSON value of a scalar cell: text is read as the field's kind says (12 -> 12, yes -> true)."""
    if column_type == "JSON":
        return column
    if not _is_text(column_type):
        return f"to_json({column})"
    if type_.kind == "boolean":
        trues = ", ".join(literal(w) for w in TRUE_WORDS)
        falses = ", ".join(literal(w) for w in FALSE_WORDS)
        return (f"CASE WHEN lower(trim({column})) IN ({trues}) THEN 'true'::JSON "
                f"WHEN lower(trim({column})) IN ({falses}) THEN 'false'::JSON ELSE to_json({column}) END")
    if type_.kind == "integer":
        return (f"CASE WHEN regexp_full_match(trim({column}), '[+-]?[0-9]{{1,18}}') "
                f"THEN to_json(CAST(trim({column}) AS BIGINT)) ELSE to_json({column}) END")
    return f"to_json({column})"


def _list_json(column: str, column_type: str, delimiter: str, records: bool = False) -> str:
    """The JSON value of a list cell: an array as it is; text holding a JSON array, or items split on the delimiter.

    A list of records has no delimited form: its text is JSON, or a string that Case.from_dict rejects as a string
    (so a bare object is told it is not a list, as `mtus decide` tells it).
    """
    if not _is_text(column_type):
        return column if column_type == "JSON" else f"to_json({column})"
    if records:
        return f"CASE WHEN json_valid({column}) THEN {column}::JSON ELSE to_json({column}) END"
    return (f"CASE WHEN {column} IS NULL THEN NULL "
            f"WHEN starts_with(ltrim({column}), '[') AND json_valid({column}) THEN {column}::JSON "
            f"ELSE to_json(list_transform(string_split({column}, {literal(delimiter)}), lambda x: trim(x))) END")


def field_json(source: Source, mapping: Mapping, schema: CaseSchema) -> str:
    """The SQL expression of one field as the JSON value a case would hold (NULL: unknown)."""
    type_ = source.type
    if source.field == "id":
        assert source.column is not None
        column = quote(source.column)
        if source.column_type == "JSON":
            return (f"CASE WHEN json_type({column}) IN ('VARCHAR', 'NULL') THEN {column} "
                    f"ELSE to_json({column}::VARCHAR) END")
        return f"to_json(CAST({column} AS VARCHAR))"
    empty_is_none = source.field in mapping.empty_is_none
    if source.groups:
        items = []
        for group in source.groups:
            cells = [(name, quote(column), column_type) for name, column, column_type in group]
            blank = " AND ".join(f"{c} IS NULL" for _, c, _ in cells)
            record = dict(_record_of(type_, schema) or ())
            parts = ", ".join(f"{literal(name)}, {_scalar_json(c, t, record[name])}" for name, c, t in cells)
            items.append(f"CASE WHEN NOT ({blank}) THEN json_object({parts}) END")
        filled = f"list_filter([{', '.join(items)}], lambda x: x IS NOT NULL)"
        empty = "'[]'::JSON" if empty_is_none else "NULL"
        return f"CASE WHEN len({filled}) = 0 THEN {empty} ELSE to_json({filled}) END"
    assert source.column is not None
    column = quote(source.column)
    if type_.kind in ("list", "set"):
        value = _list_json(column, source.column_type, mapping.delimiter, _record_of(type_, schema) is not None)
    else:
        value = _scalar_json(column, source.column_type, type_)
    if empty_is_none:
        return f"coalesce({value}, '[]'::JSON)"
    return value


def case_json(sources: list[Source], mapping: Mapping, schema: CaseSchema) -> str:
    """The SQL expression of the whole row as a case's JSON text (unknown fields left out)."""
    # A blank cell is a JSON null: unknown, as an absent field is (the reader drops the key).
    parts = ", ".join(f"{literal(s.field)}, {field_json(s, mapping, schema)}" for s in sources)
    return f"json_object({parts})"


# --- SQL: JSONL lines as rows ------------------------------------------------------

#: The column holding a JSONL line that is not a clean JSON object, for the Python engine to read and reject.
RAW = "__raw"
#: The column holding every JSONL line as it is, for the Python engine when the table's fields are the case's own.
TEXT = "__text"


def clean_object(line: str) -> str:
    """SQL: the JSONL line (a text column) is a JSON object giving each key once."""
    # A CASE, not AND: DuckDB may evaluate either side of an AND first, and json_type fails on a line not JSON.
    return (f"coalesce(CASE WHEN json_valid({line}) THEN CASE WHEN json_type({line}) = 'OBJECT' "
            f"THEN len(json_keys({line})) = len(list_distinct(json_keys({line}))) END END, false)")


def jsonl_rows(keys: list[str], source: str, line: str, keep: tuple[str, ...] = (),
               names: list[str] | None = None) -> str:
    """A query over `source`'s JSONL lines (its text column `line`): the `keep` columns, each key's value as JSON
    (NULL on a line that is not a clean object) named as in `names` (by default the key), RAW, the line itself when
    it is not one, and TEXT, every line.

    Raise AuditError for a key named RAW or TEXT when the columns are named by their keys.
    """
    if names is None:
        names = keys
        for kept in (RAW, TEXT):
            if kept in keys:
                raise AuditError(f"a line names the key '{kept}', which the audit keeps for itself; rename it")
    # A JSON pointer names the empty key, which a `$."..."` path cannot (DuckDB refuses a zero-length name).
    paths = "[" + ", ".join(literal("$." + json.dumps(key) if key else "/") for key in keys) + "]"
    columns = "".join(f"CAST(__values[{i}] AS JSON) AS {quote(name)}, " for i, name in enumerate(names, 1))
    # One parse a line for all its keys (json_extract of a list of paths).
    parsed = (f"(SELECT *, CASE WHEN __object THEN json_extract({line}, {paths}) END AS __values "
              f"FROM (SELECT *, {clean_object(line)} AS __object FROM {source}))")
    return (f"SELECT {''.join(k + ', ' for k in keep)}{columns}CASE WHEN NOT __object THEN {line} END AS {RAW}, "
            f"{line} AS {TEXT} FROM {parsed}")


def raw_line(fmt: str, sources: list[Source], mapping: Mapping) -> str:
    """SQL: the line the Python engine reads as it is, as `mtus decide` reads it (NULL: it reads the case the
    columns make). Every JSONL line when the table's fields are the case's own (each from the column of its name,
    no mapping file), so an explicit null stays null; else only the lines that are not clean objects."""
    if fmt != "jsonl":
        return "CAST(NULL AS VARCHAR)"
    return TEXT if mapping == Mapping() and all(s.column == s.field and not s.groups for s in sources) else RAW


# --- SQL: the typed relation the SQL backend reads -------------------------------------


def _text_of(column: str, column_type: str) -> str:
    """A cell as text when it holds text (a JSON string, a VARCHAR), else NULL."""
    if column_type == "JSON":
        return f"CASE WHEN json_type({column}) = 'VARCHAR' THEN {column}->>'$' END"
    return column if _is_text(column_type) else "NULL"


_DATES = f"BETWEEN DATE '{FIRST_CASE_DATE.isoformat()}' AND DATE '{LAST_CASE_DATE.isoformat()}'"
_ICD = f"'{_ICD9.pattern[1:-1]}|{_ICD10.pattern[1:-1]}'"
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT")


def typed_relation(sources: list[Source], mapping: Mapping, schema: CaseSchema,
                   types: MappingABC[str, str]) -> tuple[str, str, str]:
    """The SQL backend's input over the table's columns: (the id as text, a condition true when every field is
    certainly valid, the select list of each input field as its contract type `types`, named `__t_FIELD`)."""
    typed = {s.field: typed_column(s, mapping, schema) for s in sources}
    # A field the table lacks is a NULL of the field's type: an untyped NULL does not bind in `date + INTERVAL`.
    # The typed fields are prefixed so that no name of the table can clash with them.
    columns = ", ".join(f"CAST({typed[spec.name][0] if spec.name in typed else 'NULL'} AS {types[spec.name]}) "
                        f"AS {quote('__t_' + spec.name)}" for spec in schema.inputs)
    checks = [f"coalesce({check}, false)" for _, check in typed.values() if check != "true"]
    # A row breaking a relation between inputs goes to the Python engine, which rejects it with Case's message.
    checks += [f"coalesce({typed[r.lower][0]} <= {typed[r.upper][0]}, true)" for r in schema.relations
               if r.lower in typed and r.upper in typed]
    # A required field that is blank or null goes to the Python engine, which rejects it as `mtus decide` does.
    checks += [f"{typed[spec.name][0]} IS NOT NULL" for spec in schema.inputs if spec.required and spec.name in typed]
    ok = " AND ".join(checks) or "true"
    identity = f"CAST({typed['id'][0]} AS VARCHAR)" if "id" in typed else "CAST(NULL AS VARCHAR)"
    return identity, ok, columns


def typed_column(source: Source, mapping: Mapping, schema: CaseSchema) -> tuple[str, str]:
    """(the field as the SQL backend's column type, a condition true when that value is certainly valid).

    A fast path reads cells that already have the right type; anything else goes
    through the field's JSON value. A row whose condition is not true is decided
    (or rejected, with Case.from_dict's messages) by the Python engine instead.
    """
    type_ = source.type
    if source.groups or type_.kind in ("list", "set") or source.column is None:
        fast = None if source.groups or source.column is None else _typed_list_column(source, schema)
        return fast or _typed_list(source, mapping, schema)
    column = quote(source.column)
    column_type = source.column_type
    kind = type_.kind
    if source.field == "id":
        if column_type == "JSON":
            text = f"CASE WHEN json_type({column}) = 'VARCHAR' THEN {column}->>'$' ELSE CAST({column} AS VARCHAR) END"
            return text, "true"
        return f"CAST({column} AS VARCHAR)", "true"
    if kind == "boolean" and column_type == "BOOLEAN":
        return column, "true"
    if kind == "integer" and column_type in _INTEGERS:
        return f"CAST({column} AS BIGINT)", f"({column} IS NULL OR {column} BETWEEN {type_.low} AND {type_.high})" \
            if type_.low is not None else "true"
    if kind == "date" and column_type == "DATE":
        return column, f"({column} IS NULL OR {column} {_DATES})"
    if _is_text(column_type) and kind in _TEXT_KINDS:
        typed, good = _from_text(column, type_, schema)
        return typed, f"({column} IS NULL OR coalesce({good}, false))"
    value = field_json(source, mapping, schema)
    return _typed_from_json(value, type_, schema)


#: Kinds whose values are written as text: a text cell is read as it is.
_TEXT_KINDS = ("date", "enum", "code", "text")
_DATE_SHAPE = "'[0-9]{4}-[0-9]{2}-[0-9]{2}'"


def _from_text(text: str, type_: Type, schema: CaseSchema) -> tuple[str, str]:
    """(the typed value of a text, a condition true when that text is a good value), for _TEXT_KINDS."""
    kind = type_.kind
    if kind == "date":
        typed = f"CASE WHEN regexp_full_match({text}, {_DATE_SHAPE}) THEN TRY_CAST({text} AS DATE) END"
        return typed, f"({typed} IS NOT NULL AND {typed} {_DATES})"
    if kind == "enum":
        members = ", ".join(literal(m) for m in schema.enums.get(type_.name or "", ()))
        return text, f"({text} IN ({members}))"
    if kind == "code":
        typed = f"upper(trim({text}))"
        return typed, f"regexp_full_match({typed}, {_ICD})"
    return text, f"({text} IS NOT NULL)"


def _typed_cell(cell: str, cell_type: str, type_: Type, schema: CaseSchema) -> tuple[str, str] | None:
    """(typed, good) for a cell that already has a usable SQL type (not NULL-checked); None if it has not."""
    kind = type_.kind
    if kind in _TEXT_KINDS and cell_type == "VARCHAR":
        return _from_text(cell, type_, schema)
    if kind == "date" and cell_type == "DATE":
        return cell, f"({cell} {_DATES})"
    if kind == "boolean" and cell_type == "BOOLEAN":
        return cell, "true"
    if kind == "integer" and cell_type in _INTEGERS:
        bounds = f"({cell} BETWEEN {type_.low} AND {type_.high})" if type_.low is not None else "true"
        return f"CAST({cell} AS BIGINT)", bounds
    return None


def _typed_list_column(source: Source, schema: CaseSchema) -> tuple[str, str] | None:
    """The fast path for a list column that already is a SQL list of the right shape; None otherwise."""
    assert source.column is not None and source.type.of is not None
    column, element = quote(source.column), source.type.of
    if element.kind == "record":
        fields = schema.records.get(element.name or "", ())
        shape = {name: _SQL_TYPES.get(field_type.kind) for name, field_type in fields}
        if source.column_type.replace('"', '') != f"STRUCT({', '.join(f'{n} {t}' for n, t in shape.items())})[]":
            return None
        parts, checks = [], ["x IS NOT NULL"]
        for name, field_type in fields:
            cell = f"x.{quote(name)}"
            found = _typed_cell(cell, shape[name] or "", field_type, schema)
            if found is None:
                return None
            parts.append(f"{literal(name)}: {found[0]}")
            checks.append(f"{cell} IS NOT NULL AND {found[1]}")
        typed = f"list_transform({column}, lambda x: {{{', '.join(parts)}}})"
    else:
        item_type = _SQL_TYPES.get(element.kind)
        if item_type is None or source.column_type != f"{item_type}[]":
            return None
        found = _typed_cell("x", item_type, element, schema)
        if found is None:
            return None
        typed = f"list_transform({column}, lambda x: {found[0]})"
        checks = ["x IS NOT NULL", found[1]]
    every = f"list_bool_and(list_transform({column}, lambda x: {' AND '.join(checks)}))"
    return typed, f"({column} IS NULL OR coalesce({every}, true))"


#: The SQL type a table's column has when it already holds a kind's values as the SQL backend reads them.
_SQL_TYPES = {"boolean": "BOOLEAN", "integer": "BIGINT", "date": "DATE", "enum": "VARCHAR", "code": "VARCHAR",
              "text": "VARCHAR"}


def _typed_from_json(value: str, type_: Type, schema: CaseSchema) -> tuple[str, str]:
    kind = type_.kind
    unknown = f"({value} IS NULL OR json_type({value}) = 'NULL')"
    if kind == "boolean":
        typed = f"CASE WHEN json_type({value}) = 'BOOLEAN' THEN CAST({value} AS BOOLEAN) END"
        return typed, f"({unknown} OR {typed} IS NOT NULL)"
    if kind == "integer":
        typed = f"CASE WHEN json_type({value}) IN ('BIGINT', 'UBIGINT') THEN TRY_CAST({value} AS BIGINT) END"
        bounds = f" AND {typed} BETWEEN {type_.low} AND {type_.high}" if type_.low is not None else ""
        return typed, f"({unknown} OR ({typed} IS NOT NULL{bounds}))"
    if kind in _TEXT_KINDS:
        text = f"CASE WHEN json_type({value}) = 'VARCHAR' THEN {value}->>'$' END"
        typed, good = _from_text(text, type_, schema)
        return typed, f"({unknown} OR coalesce({good}, false))"
    return "NULL", "false"  # a kind the SQL backend does not read: the Python engine decides the row


def _typed_list(source: Source, mapping: Mapping, schema: CaseSchema) -> tuple[str, str]:
    type_ = source.type
    assert type_.of is not None
    value = field_json(source, mapping, schema)
    unknown = f"({value} IS NULL OR json_type({value}) = 'NULL')"
    items = f"CAST(json_extract({value}, '$[*]') AS JSON[])"
    is_array = f"json_type({value}) = 'ARRAY'"
    element = type_.of
    if element.kind == "record":
        fields = schema.records.get(element.name or "", ())
        names = sorted(name for name, _ in fields)
        checks = ["json_type(e) = 'OBJECT'",
                  f"list_sort(json_keys(e)) = [{', '.join(literal(n) for n in names)}]"]
        struct_parts = []
        for name, field_type in fields:
            sub = f"json_extract(e, {literal('$.' + name)})"
            typed, ok = _typed_from_json(sub, field_type, schema)
            checks.append(f"({ok}) AND {sub} IS NOT NULL AND json_type({sub}) <> 'NULL'")
            struct_parts.append(f"{literal(name)}: {typed}")
        every = f"coalesce(list_bool_and(list_transform({items}, lambda e: {' AND '.join(checks)})), true)"
        typed_list = f"list_transform({items}, lambda e: {{{', '.join(struct_parts)}}})"
        return (f"CASE WHEN {is_array} THEN {typed_list} END",
                f"({unknown} OR ({is_array} AND {every}))")
    typed_item, ok_item = _typed_from_json("e", element, schema)
    good = f"e IS NOT NULL AND json_type(e) <> 'NULL' AND {ok_item}"
    every = f"coalesce(list_bool_and(list_transform({items}, lambda e: {good})), true)"
    return (f"CASE WHEN {is_array} THEN list_transform({items}, lambda e: {typed_item}) END",
            f"({unknown} OR ({is_array} AND {every}))")
