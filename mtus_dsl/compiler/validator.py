"""Generate a case validator specialised to one case format, as attrs generates `__init__`.

The generated `_validate(data)` takes the common path, a valid case, in straight
Python: one read per declared input, a type test, a conversion. Anything else
(a wrong type, an unknown or missing field, a value out of range) goes to
`Case.from_dict`, the one place that words case errors, so messages are the
same whichever path a case takes; a case it accepts gets the same values too.
"""

from __future__ import annotations

from mtus_dsl.case import CaseSchema
from mtus_dsl.compiler.pysource import SourceWriter
from mtus_dsl.types import Type


def write_validator(w: SourceWriter, schema: CaseSchema) -> None:
    """Write `_validate(data)` for `schema` (which the module names `_SCHEMA`)."""
    w.line("from mtus_dsl.case import Case as _Case, parse_case_date as _date, parse_code as _code")
    w.line()
    for name, members in schema.enums.items():
        if name.isidentifier():
            w.line(f"_MEMBERS_{name} = frozenset({sorted(members)!r})")
    w.line()
    w.line()
    w.line("def _general(data):")
    with w.indent():
        w.line('"""Validate any case, naming every problem: the path of every case the fast path cannot take."""')
        w.line("return _Case.from_dict(data, _SCHEMA)")
    w.line()
    w.line()
    w.line("def _validate(data):")
    with w.indent():
        w.line('"""Validate a case dict: a valid one in straight Python, any other by _general."""')
        w.line("if data.__class__ is not dict:")
        with w.indent():
            w.line("return _general(data)")
        w.line("case_id = data.get('id')")
        w.line("if case_id is not None and case_id.__class__ is not str:")
        with w.indent():
            w.line("return _general(data)")
        w.line("v = {}")
        for spec in schema.inputs:
            w.line(f"x = data.get({spec.name!r})")
            if spec.required:
                _convert(w, spec.type, "x", f"v[{spec.name!r}]", schema, 0)
            else:
                w.line("if x is not None:")
                with w.indent():
                    _convert(w, spec.type, "x", f"v[{spec.name!r}]", schema, 0)
        # Every key was read, unless some are unknown (or null: an optional field may be null).
        w.line("if len(data) != len(v) + ('id' in data) and not _nulls_only(data, v):")
        with w.indent():
            w.line("return _general(data)")
        for relation in schema.relations:
            # A broken relation is worded by _general, with both fields.
            lower, upper = repr(relation.lower), repr(relation.upper)
            through = f" and {relation.through!r} not in v" if relation.through is not None else ""
            w.line(f"if {lower} in v and {upper} in v and v[{lower}] > v[{upper}]{through}:")
            with w.indent():
                w.line("return _general(data)")
        w.line("return _Case._validated(case_id, v, _SCHEMA)  # converted just above: no second check")
    w.line()
    w.line()
    optional = sorted(spec.name for spec in schema.inputs if not spec.required)
    w.line(f"_OPTIONAL = frozenset({optional!r})")
    w.line()
    w.line()
    w.line("def _nulls_only(data, v):")
    with w.indent():
        w.line('"""Tell whether the keys not read are all optional fields given as null."""')
        w.line("return all(k in v or k == 'id' or (k in _OPTIONAL and data[k] is None) for k in data)")


def _convert(w: SourceWriter, type_: Type, raw: str, target: str, schema: CaseSchema, depth: int) -> None:
    """Write statements that set `target` from `raw` (never None when required), or take the general path."""
    slow = "return _general(data)"
    kind = type_.kind
    if kind == "boolean":
        w.line(f"if {raw} is not True and {raw} is not False:")
        with w.indent():
            w.line(slow)
        w.line(f"{target} = {raw}")
    elif kind == "integer":
        bounds = []
        if type_.low is not None:
            bounds.append(f"{raw} < {type_.low!r}")
        if type_.high is not None:
            bounds.append(f"{raw} > {type_.high!r}")
        w.line(f"if {raw}.__class__ is not int" + "".join(f" or {b}" for b in bounds) + ":")
        with w.indent():
            w.line(slow)
        w.line(f"{target} = {raw}")
    elif kind in ("date", "code"):
        parse = "_date" if kind == "date" else "_code"
        w.line(f"{raw} = {parse}({raw}) if {raw}.__class__ is str else None")
        w.line(f"if {raw} is None:")
        with w.indent():
            w.line(slow)
        w.line(f"{target} = {raw}")
    elif kind == "text":
        w.line(f"if {raw}.__class__ is not str:")
        with w.indent():
            w.line(slow)
        w.line(f"{target} = {raw}")
    elif kind == "enum" and (type_.name or "").isidentifier() and type_.name in schema.enums:
        w.line(f"if {raw}.__class__ is not str or {raw} not in _MEMBERS_{type_.name}:")
        with w.indent():
            w.line(slow)
        w.line(f"{target} = {raw}")
    elif kind in ("list", "set") and type_.of is not None and depth < 2:
        items, item = f"_items{depth}", f"_r{depth}"
        w.line(f"if {raw}.__class__ is not list:")
        with w.indent():
            w.line(slow)
        w.line(f"{items} = []")
        w.line(f"for {item} in {raw}:")
        with w.indent():
            _convert(w, type_.of, item, f"_y{depth}", schema, depth + 1)
            w.line(f"{items}.append(_y{depth})")
        w.line(f"{target} = tuple({items})" if kind == "list" else f"{target} = frozenset({items})")
    elif kind == "record" and depth < 3:
        fields = schema.records.get(type_.name or "", ())
        values = f"_f{depth}"
        w.line(f"if {raw}.__class__ is not dict or len({raw}) != {len(fields)}:")
        with w.indent():
            w.line(slow)
        w.line(f"{values} = {{}}")
        for field, field_type in fields:
            w.line(f"_x{depth} = {raw}.get({field!r})")
            _convert(w, field_type, f"_x{depth}", f"{values}[{field!r}]", schema, depth + 1)
        w.line(f"{target} = _Record({type_.name!r}, {values})")
    else:
        # Rarer shapes take the general path, which handles every type.
        w.line(slow)
