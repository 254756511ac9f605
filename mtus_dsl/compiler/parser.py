"""Build the AST from the syntax tree: one node class per grammar alias, strings and placeholders read.

syntax.py parses and reports syntax errors; this module turns its tree into
nodes.py's classes, so no Lark object leaves the two of them.
"""

from __future__ import annotations

import ast as pyast
import datetime
import re
import warnings
from typing import Any

import attrs
import lark
from lark.lexer import Token

from mtus_dsl.compiler import nodes as n
from mtus_dsl.compiler import syntax
from mtus_dsl.compiler.cache import PYTHON_AST
from mtus_dsl.diagnostics import Diagnostic, Span


def parse_module(text: str, path: str) -> tuple[n.Module | None, list[Diagnostic]]:
    """Parse a whole file into the AST, reporting every syntax error (up to the cap), not only the first."""
    tree, diagnostics = syntax.parse_tree(text, path)
    if tree is None:
        return None, diagnostics
    builder = _AstBuilder(path, text)
    try:
        module = n.Module(path, tuple(builder.transform(tree).children))
    except lark.exceptions.VisitError as error:
        if not isinstance(error.orig_exc, _BadString):
            raise
        return None, [*builder.diagnostics, error.orig_exc.diagnostic(builder)]
    return module, builder.diagnostics


def parse_template(value: str, span: Span) -> tuple[n.Template, list[Diagnostic]]:
    """Split a string into text and `{expression}` placeholders, each parsed and located."""
    parts: list[str | n.Expr] = []
    diagnostics: list[Diagnostic] = []
    pos = 0
    for brace, message, note in _LONE_BRACES:
        at = _lone_brace(value, brace)
        if at is not None:  # +1: the opening quote of the string literal precedes its value
            diagnostics.append(Diagnostic("E006", message, _offset_span(span, '"' + value[:at], 1), notes=(note,)))
    for match in re.finditer(r"\{\{|\}\}|\{([^{}]*)\}", value):
        parts.append(value[pos : match.start()])
        pos = match.end()
        if match.group(1) is None:  # {{ or }} stands for a literal brace
            parts.append(match.group(0)[0])
            continue
        inner = match.group(1)
        # +1: the opening quote of the string literal precedes its value.
        prefix = '"' + value[: match.start(1)]
        tree = syntax.parse_expression(inner)
        if tree is None:
            diagnostics.append(
                Diagnostic(
                    "E006",
                    f"cannot read the placeholder {{{inner}}}",
                    _offset_span(span, prefix, len(inner)),
                    notes=("a placeholder holds one expression, for example {requested} or {allowed}",),
                )
            )
            parts.append(n.StringLit("{" + inner + "}", span))
            continue
        builder = _AstBuilder(span.path, inner, base=(prefix, span))
        too_deep = syntax.too_deep_in(tree, span.path, start=6)  # a rationale sits as deep as a rule's clause
        if too_deep is not None:
            assert too_deep.span is not None
            if too_deep.code == "E011":  # a number too long: point at the number itself
                at, width = too_deep.span.column - 1, too_deep.span.end_column - too_deep.span.column
                diagnostics.append(attrs.evolve(too_deep, span=_offset_span(span, prefix + inner[:at], width)))
            else:
                diagnostics.append(attrs.evolve(too_deep, span=_offset_span(span, prefix, len(inner))))
            continue
        try:
            parts.append(builder.transform(tree))
        except lark.exceptions.VisitError as error:
            if not isinstance(error.orig_exc, _BadString):
                raise
            diagnostics.append(error.orig_exc.diagnostic(builder))
        diagnostics.extend(builder.diagnostics)
    parts.append(value[pos:])
    return n.Template(tuple(p for p in parts if p != ""), span), diagnostics


#: A brace standing alone in a template (not {{ or }}, in no placeholder): what E006 says of it.
_LONE_BRACES = (
    ("{", "this '{' is never closed", "close the placeholder with '}', or write {{ for a literal brace"),
    ("}", "this '}' closes no placeholder", "write }} for a literal brace"),
)


def _lone_brace(value: str, brace: str) -> int | None:
    """The offset of the first `brace` that is neither doubled nor part of a placeholder, or None."""
    for match in re.finditer(r"\{\{|\}\}|\{[^{}]*\}|[{}]", value):
        if match.group() == brace:
            return match.start()
    return None


def _offset_span(base: Span, prefix: str, width: int) -> Span:
    inner = Span(base.path, 1, 1, 1, 1 + width, 0, width)
    return inner.shifted(prefix, base)


class _BadString(Exception):
    """A string literal whose escapes mean nothing (\\x4, \\N{NOPE}), or holding a NUL: E003, never a crash."""

    def __init__(self, token: str, reason: str, nul: int | None = None, escape: int | None = None):
        super().__init__(reason)
        self.token = token
        self.reason = reason
        self.nul = nul
        self.escape = escape

    def diagnostic(self, builder: _AstBuilder) -> Diagnostic:
        """Locate the string (in the file, or inside a placeholder); a NUL character at its place."""
        span = builder._tok_span(self.token) if isinstance(self.token, Token) else Span(builder.path, 1, 1, 1, 2)
        if self.nul is not None:
            column = span.column + self.nul
            return Diagnostic(
                "E003",
                "unexpected character '\\x00' (a NUL) in this string",
                attrs.evolve(span, column=column, end_line=span.line, end_column=column + 1,
                             start=span.start + self.nul, end=span.start + self.nul + 1),
                notes=("a .mtus file is text: remove the NUL, or write \\x00 if it is meant",),
            )
        if self.escape is not None:
            column = span.column + self.escape
            return Diagnostic(
                "E003",
                f"unknown escape '{self.token[self.escape:self.escape + 2]}' in this string",
                attrs.evolve(span, column=column, end_line=span.line, end_column=column + 2,
                             start=span.start + self.escape, end=span.start + self.escape + 2),
                notes=("write \\\\ for a backslash; the escapes are \\\", \\\\, \\', \\n, \\t, \\r, \\xhh, \\uhhhh, "
                       "\\Uhhhhhhhh and \\N{name}",),
            )
        return Diagnostic(
            "E003",
            f"unexpected character after a backslash in this string ({self.reason})",
            span,
            notes=('write \\" for a quote and \\\\ for a backslash',),
        )


#: A backslash and the character after it.
_ESCAPE = re.compile(r"\\(.)")
#: The characters a backslash may stand before in a string (the rest, \q, \a or \0, are E003).
_ESCAPES = frozenset('\\"\'ntrxuUN')


def _unquote(token: str) -> str:
    if "\0" in token:  # literal_eval refuses it, as "source code cannot contain null bytes"
        raise _BadString(token, "a NUL character", nul=token.index("\0"))
    # Python keeps an unknown escape (\q) as written, with a warning: here it is an error, so that a backslash
    # means one thing (the escapes of a Python string, less its octal and one-letter control forms).
    for escape in _ESCAPE.finditer(token):
        if escape.group(1) not in _ESCAPES:
            raise _BadString(token, "an unknown escape", escape=escape.start())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with PYTHON_AST:
                value = pyast.literal_eval(token)
    except (SyntaxError, ValueError) as error:
        raise _BadString(token, str(error).split(" (<unknown>")[0].rsplit(": ", 1)[-1]) from None
    assert isinstance(value, str)
    return value


class _AstBuilder(lark.Transformer[Token, Any]):
    """Map each grammar alias to one AST node class."""

    def __init__(self, path: str, text: str, base: tuple[str, Span] | None = None):
        super().__init__()
        self.path = path
        self.text = text
        self.base = base
        self.diagnostics: list[Diagnostic] = []
        self.current_guideline: str | None = None

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.path, 1, 1, 1, 1)
        span = Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column, meta.start_pos, meta.end_pos)
        if self.base is not None:
            return span.shifted(*self.base)
        return span

    def _tok_span(self, token: Token) -> Span:
        span = Span(
            self.path,
            token.line or 1,
            token.column or 1,
            token.end_line or 1,
            token.end_column or 1,
            token.start_pos or 0,
            token.end_pos or 0,
        )
        if self.base is not None:
            return span.shifted(*self.base)
        return span

    def _template(self, token: Token) -> n.Template:
        template, diagnostics = parse_template(_unquote(token), self._tok_span(token))
        self.diagnostics.extend(diagnostics)
        return template

    def _date(self, token: Token) -> datetime.date:
        try:
            return datetime.date.fromisoformat(str(token))
        except ValueError:
            self.diagnostics.append(
                Diagnostic(
                    "E007",
                    f"'{token}' is not a real calendar date",
                    self._tok_span(token),
                    notes=("write dates as YYYY-MM-DD",),
                )
            )
            return datetime.date(1, 1, 1)

    # --- top level -------------------------------------------------------
    @lark.v_args(meta=True)
    def guideline(self, meta: Any, c: list[Any]) -> n.Guideline:
        name, title, edition, *lines = c
        regulation = start = end = None
        overrides: list[tuple[str, Span]] = []
        for kind, *args in lines:
            if kind == "regulation":
                regulation = args[0]
            elif kind == "overrides":
                overrides.extend(args[0])
            else:
                start, end = args
        self.current_guideline = str(name)
        return n.Guideline(
            str(name), _unquote(title), _unquote(edition), regulation, start, end, self._span(meta), tuple(overrides)
        )

    def guideline_overrides(self, c: list[Any]) -> tuple[str, Any]:
        return ("overrides", c[0])

    def regulation(self, c: list[Token]) -> tuple[str, str]:
        return ("regulation", _unquote(c[0]))

    def in_force_from(self, c: list[Token]) -> tuple[str, datetime.date, None]:
        return ("in_force", self._date(c[0]), None)

    def in_force_range(self, c: list[Token]) -> tuple[str, datetime.date, datetime.date]:
        return ("in_force", self._date(c[0]), self._date(c[1]))

    def name_list(self, c: list[Token]) -> list[tuple[str, Span]]:
        return [(str(t), self._tok_span(t)) for t in c]

    @lark.v_args(meta=True)
    def enum_decl(self, meta: Any, c: list[Any]) -> n.EnumDecl:
        members = [m for group in c[1:] for m in group]
        return n.EnumDecl(str(c[0]), tuple(members), self._span(meta))

    @lark.v_args(meta=True)
    def input_decl(self, meta: Any, c: list[Any]) -> n.InputDecl:
        name, type_, *rest = c
        required = any(isinstance(t, Token) and t.type == "REQUIRED" for t in rest)
        docs = [_unquote(t) for t in rest if isinstance(t, Token) and t.type == "STRING"]
        at_most = tuple(x for x in rest if isinstance(x, n.AtMost))
        readings = [x for x in rest if isinstance(x, n.OnRecord)]
        for extra in readings[1:]:
            self.diagnostics.append(
                Diagnostic("E009", f"input '{name}' says twice what its absence means on the record", extra.span)
            )
        return n.InputDecl(str(name), type_, required, docs[0] if docs else None, self._span(meta), at_most,
                           readings[0] if readings else None)

    @lark.v_args(meta=True)
    def at_most(self, meta: Any, c: list[Token]) -> n.AtMost:
        return n.AtMost(str(c[0]), _unquote(c[1]) if len(c) > 1 else None, self._span(meta))

    @lark.v_args(meta=True)
    def on_record(self, meta: Any, c: list[Any]) -> n.OnRecord:
        return n.OnRecord(as_value(c[0]), _unquote(c[1]), self._span(meta))

    def on_record_mode(self, c: list[Any]) -> str:
        return "on_record"

    @lark.v_args(meta=True)
    def record_decl(self, meta: Any, c: list[Any]) -> n.RecordDecl:
        return n.RecordDecl(str(c[0]), tuple(c[1:]), self._span(meta))

    @lark.v_args(meta=True)
    def record_field(self, meta: Any, c: list[Any]) -> n.RecordField:
        return n.RecordField(str(c[0]), c[1], self._span(meta))

    typed_field = record_field

    def field_list(self, c: list[n.RecordField]) -> list[n.RecordField]:
        return c

    @lark.v_args(meta=True)
    def fact_decl(self, meta: Any, c: list[Any]) -> n.FactDecl:
        name, type_, expr, *rest = c
        doc = None
        explain: dict[bool, n.Template] = {}
        for item in rest:
            if isinstance(item, Token):
                doc = _unquote(item)
            else:
                explain[item[0]] = item[1]
        return n.FactDecl(str(name), type_, expr, doc, explain.get(True), explain.get(False), self._span(meta))

    def explain(self, c: list[Token]) -> tuple[bool, n.Template]:
        return (str(c[0]) == "true", self._template(c[1]))

    @lark.v_args(meta=True)
    def condition_decl(self, meta: Any, c: list[Any]) -> n.ConditionDecl:
        name, label, *code_lines = c
        icd9 = tuple(code for system, codes in code_lines if system == "icd9" for code in codes)
        icd10 = tuple(code for system, codes in code_lines if system == "icd10" for code in codes)
        return n.ConditionDecl(str(name), _unquote(label), icd9, icd10, self._span(meta))

    def code_line(self, c: list[Any]) -> tuple[str, list[str]]:
        return (str(c[0]), c[1])

    def code_list(self, c: list[Token]) -> list[str]:
        return [str(t) for t in c]

    @lark.v_args(meta=True)
    def table_decl(self, meta: Any, c: list[Any]) -> n.TableDecl:
        name, keys, values, *rows = c
        body = tuple(r for r in rows if r[0] == "row")
        otherwise = [r[1] for r in rows if r[0] == "otherwise"]
        return n.TableDecl(
            str(name),
            tuple(keys),
            tuple(values),
            tuple((k, v, s) for _, k, v, s in body),
            otherwise[-1] if otherwise else None,
            self._span(meta),
        )

    def table_key(self, c: list[Any]) -> list[n.RecordField]:
        return list(c[0])

    table_value = table_key

    @lark.v_args(meta=True)
    def table_row(self, meta: Any, c: list[Any]) -> tuple[str, tuple[n.Value, ...], tuple[n.Value, ...], Span]:
        return ("row", tuple(c[0]), tuple(c[1]), self._span(meta))

    def table_otherwise(self, c: list[Any]) -> tuple[str, tuple[n.Value, ...]]:
        return ("otherwise", tuple(c[0]))

    def literal_list(self, c: list[Any]) -> list[n.Value]:
        return [as_value(x) for x in c]

    # --- types -----------------------------------------------------------
    def optional_type(self, c: list[n.TypeRef]) -> n.TypeRef:
        return attrs.evolve(c[0], optional=True)

    @lark.v_args(meta=True)
    def list_type(self, meta: Any, c: list[Any]) -> n.TypeRef:
        return n.TypeRef("list", self._span(meta), of=c[0])

    @lark.v_args(meta=True)
    def set_type(self, meta: Any, c: list[Any]) -> n.TypeRef:
        return n.TypeRef("set", self._span(meta), of=c[0])

    @lark.v_args(meta=True)
    def bounded_int_type(self, meta: Any, c: list[Token]) -> n.TypeRef:
        return n.TypeRef("integer", self._span(meta), low=int(c[0]), high=int(c[1]))

    @lark.v_args(meta=True)
    def int_type(self, meta: Any, c: list[Token]) -> n.TypeRef:
        return n.TypeRef("integer", self._span(meta))

    def named_type(self, c: list[Token]) -> n.TypeRef:
        return n.TypeRef(str(c[0]), self._tok_span(c[0]))

    # --- sections and rules ------------------------------------------------
    @lark.v_args(meta=True)
    def section(self, meta: Any, c: list[Any]) -> n.Section:
        name, title, *lines = c
        guideline, guideline_span = self.current_guideline, None
        if lines and isinstance(lines[0], tuple) and lines[0][0] == "in":
            _, guideline, guideline_span = lines.pop(0)
        pages = lines.pop(0) if lines and isinstance(lines[0], n.Pages) else None
        services: list[tuple[str, Span]] = []
        regions: list[tuple[str, Span]] = []
        unit = None
        rules: list[n.Rule] = []
        examples: list[n.Example] = []
        defaults: list[n.Given] = []
        clauses: dict[str, list[Any]] = {"when": [], "unless": [], "overrides": []}
        for line in lines:
            if isinstance(line, n.Rule):
                rules.append(line)
            elif isinstance(line, n.Example):
                examples.append(line)
            elif line[0] == "services":
                services.extend(line[1])
            elif line[0] == "regions":
                regions.extend(line[1])
            elif line[0] == "unit":
                unit = line[1]
            elif line[0] == "defaults":
                defaults.extend(line[1])
            elif line[0] == "overrides":
                clauses["overrides"].extend(line[1])
            else:
                clauses[line[0]].append(line[1])
        return n.Section(
            str(name),
            _unquote(title),
            pages,
            guideline,
            tuple(services),
            tuple(regions),
            unit,
            tuple(rules),
            tuple(examples),
            tuple(defaults),
            self._span(meta),
            tuple(clauses["when"]),
            tuple(clauses["unless"]),
            tuple(clauses["overrides"]),
            guideline_span,
        )

    def section_when(self, c: list[Any]) -> tuple[str, Any]:
        return ("when", c[0])

    def section_unless(self, c: list[Any]) -> tuple[str, Any]:
        return ("unless", c[0])

    def section_overrides(self, c: list[Any]) -> tuple[str, Any]:
        return ("overrides", c[0])

    def otherwise_rule(self, c: list[n.Rule]) -> n.Rule:
        return attrs.evolve(c[0], otherwise=True)

    def section_of(self, c: list[Token]) -> tuple[str, str, Span]:
        return ("in", str(c[0]), self._tok_span(c[0]))

    def services(self, c: list[Any]) -> tuple[str, Any]:
        return ("services", c[0])

    def regions(self, c: list[Any]) -> tuple[str, Any]:
        return ("regions", c[0])

    def unit(self, c: list[Token]) -> tuple[str, str]:
        return ("unit", str(c[0]))

    @lark.v_args(meta=True)
    def pages(self, meta: Any, c: list[tuple[int, int]]) -> n.Pages:
        return n.Pages(tuple(c), self._span(meta))

    @lark.v_args(meta=True)
    def page_range(self, meta: Any, c: list[Token]) -> tuple[int, int]:
        low = int(c[0])
        high = int(c[1]) if len(c) > 1 else low
        if high < low:
            self.diagnostics.append(Diagnostic("E008", f"page range {low}-{high} runs backwards", self._span(meta)))
        return (low, high)

    def _rule(self, meta: Any, c: list[Any], kind: str) -> n.Rule:
        name, action, *clauses = c
        fields: dict[str, Any] = {
            "when": [],
            "unless": [],
            "overrides": [],
            "pages": None,
            "subsection": None,
            "rationale": None,
            "services": [],
            "regions": [],
        }
        for clause in clauses:
            if clause is None:
                continue
            if isinstance(clause, list):  # a rule body
                for inner in clause:
                    self._rule_clause(fields, inner)
            else:
                self._rule_clause(fields, clause)
        return n.Rule(
            str(name),
            kind,
            action,
            tuple(fields["when"]),
            tuple(fields["unless"]),
            tuple(fields["overrides"]),
            fields["pages"],
            fields["subsection"],
            fields["rationale"],
            tuple(fields["services"]),
            tuple(fields["regions"]),
            self._span(meta),
        )

    def _rule_clause(self, fields: dict[str, Any], clause: tuple[str, Any]) -> None:
        key, value = clause
        if key in ("when", "unless", "overrides", "services", "regions"):
            if isinstance(value, list):
                fields[key].extend(value)
            else:
                fields[key].append(value)
        else:
            fields[key] = value

    @lark.v_args(meta=True)
    def rule(self, meta: Any, c: list[Any]) -> n.Rule:
        return self._rule(meta, c, "rule")

    @lark.v_args(meta=True)
    def cap(self, meta: Any, c: list[Any]) -> n.Rule:
        return self._rule(meta, c, "cap")

    def rule_body(self, c: list[Any]) -> list[Any]:
        return c

    def when(self, c: list[Any]) -> tuple[str, Any]:
        return ("when", c[0])

    def unless(self, c: list[Any]) -> tuple[str, Any]:
        return ("unless", c[0])

    def overrides(self, c: list[Any]) -> tuple[str, Any]:
        return ("overrides", c[0])

    def rule_pages(self, c: list[Any]) -> tuple[str, Any]:
        return ("pages", c[0])

    def subsection(self, c: list[Token]) -> tuple[str, str]:
        return ("subsection", _unquote(c[0]))

    def rationale(self, c: list[Token]) -> tuple[str, n.Template]:
        return ("rationale", self._template(c[0]))

    def for_regions(self, c: list[Any]) -> tuple[str, Any]:
        return ("regions", c[0])

    def for_services(self, c: list[Any]) -> tuple[str, Any]:
        return ("services", c[0])

    def over(self, c: list[Any]) -> tuple[str, Any]:
        return ("over", c[0])

    def counting(self, c: list[Any]) -> tuple[str, Any]:
        return ("counting", c[0])

    @lark.v_args(meta=True)
    def limit(self, meta: Any, c: list[Any]) -> n.Limit:
        unit = str(c[0]).removeprefix("max_")
        options = dict(c[2:])
        return n.Limit(unit, c[1], options.get("over"), options.get("counting"), self._span(meta))

    @lark.v_args(meta=True)
    def trial(self, meta: Any, c: list[Any]) -> n.Trial:
        # Children: initial, [over], total, [over], extension, [counting]
        initial = c[0]
        rest = c[1:]
        initial_period = None
        if rest and isinstance(rest[0], tuple) and rest[0][0] == "over":
            initial_period = rest.pop(0)[1]
        total = rest.pop(0)
        total_period = None
        if rest and isinstance(rest[0], tuple) and rest[0][0] == "over":
            total_period = rest.pop(0)[1]
        extension = rest.pop(0)
        counting = rest.pop(0)[1] if rest else None
        return n.Trial(initial, initial_period, total, total_period, extension, counting, self._span(meta))

    @lark.v_args(meta=True)
    def certify_action(self, meta: Any, c: list[Any]) -> n.Certify:
        return n.Certify(self._span(meta))

    @lark.v_args(meta=True)
    def non_certify_action(self, meta: Any, c: list[Any]) -> n.NonCertify:
        return n.NonCertify(self._span(meta))

    # --- examples ----------------------------------------------------------
    @lark.v_args(meta=True)
    def example(self, meta: Any, c: list[Any]) -> n.Example:
        title, *lines = c
        given = tuple(x for x in lines if isinstance(x, n.Given))
        expects = [x for x in lines if isinstance(x, n.Expect)]
        span = self._span(meta)
        if len(expects) != 1:
            self.diagnostics.append(
                Diagnostic(
                    "E009",
                    "an example needs exactly one 'expect' line",
                    span,
                    notes=("for example: expect modify 10 by physical_medicine",),
                )
            )
        return n.Example(_unquote(title), given, expects[0] if expects else None, span, "on_record" in lines)

    # --- properties ---------------------------------------------------------
    @lark.v_args(meta=True)
    def property_decl(self, meta: Any, c: list[Any]) -> n.Property:
        name, description, *lines = c
        conditions = tuple(expr for kind, expr in lines if kind == "for")
        expectations = tuple(expr for kind, expr in lines if kind == "expect")
        return n.Property(str(name), _unquote(description), conditions, expectations, self._span(meta))

    def property_for(self, c: list[Any]) -> tuple[str, Any]:
        return ("for", c[0])

    def property_expect(self, c: list[Any]) -> tuple[str, Any]:
        return ("expect", c[0])

    def example_defaults(self, c: list[n.Given]) -> tuple[str, list[n.Given]]:
        return ("defaults", c)

    @lark.v_args(meta=True)
    def given(self, meta: Any, c: list[Any]) -> n.Given:
        return n.Given(str(c[0]), as_value(c[1]), self._span(meta))

    @lark.v_args(meta=True)
    def expect(self, meta: Any, c: list[Any]) -> n.Expect:
        outcome = str(c[0])
        approved = None
        by: list[tuple[str, Span]] = []
        missing: list[tuple[str, Span]] = []
        assumed: list[tuple[str, Span]] = []
        for item in c[1:]:
            if isinstance(item, Token):
                approved = int(item)
            elif item[0] == "by":
                by = item[1]
            elif item[0] == "assumed":
                assumed = item[1]
            else:
                missing = item[1]
        return n.Expect(outcome, approved, tuple(by), tuple(missing), self._span(meta), tuple(assumed))

    def expect_by(self, c: list[Any]) -> tuple[str, Any]:
        return ("by", c[0])

    def expect_missing(self, c: list[Any]) -> tuple[str, Any]:
        return ("missing", c[0])

    def expect_assumed(self, c: list[Any]) -> tuple[str, Any]:
        return ("assumed", c[0])

    @lark.v_args(meta=True)
    def list_value(self, meta: Any, c: list[Any]) -> n.ListValue:
        return n.ListValue(tuple(as_value(x) for x in c if x is not None), self._span(meta))

    @lark.v_args(meta=True)
    def record_value(self, meta: Any, c: list[Any]) -> n.RecordValue:
        return n.RecordValue(tuple(x for x in c if x is not None), self._span(meta))

    def value_field(self, c: list[Any]) -> tuple[str, Any]:
        return (str(c[0]), as_value(c[1]))

    @lark.v_args(meta=True)
    def unknown_value(self, meta: Any, c: list[Any]) -> n.UnknownValue:
        return n.UnknownValue(self._span(meta))

    # Literals serve both as expressions (atoms) and as example values; the
    # expression forms are produced here and converted by `as_value` below.
    @lark.v_args(meta=True)
    def int_lit(self, meta: Any, c: list[Token]) -> n.IntLit:
        return n.IntLit(int(c[0]), self._span(meta))

    @lark.v_args(meta=True)
    def neg_int_lit(self, meta: Any, c: list[Token]) -> n.IntLit:
        return n.IntLit(-int(c[0]), self._span(meta))

    @lark.v_args(meta=True)
    def date_lit(self, meta: Any, c: list[Token]) -> n.DateLit:
        return n.DateLit(self._date(c[0]), self._span(meta))

    @lark.v_args(meta=True)
    def duration_lit(self, meta: Any, c: list[Token]) -> n.DurationLit:
        unit = str(c[1])
        return n.DurationLit(int(c[0]), unit if unit.endswith("s") else unit + "s", self._span(meta))

    @lark.v_args(meta=True)
    def string_lit(self, meta: Any, c: list[Token]) -> n.StringLit:
        return n.StringLit(_unquote(c[0]), self._span(meta))

    @lark.v_args(meta=True)
    def bool_lit(self, meta: Any, c: list[Token]) -> n.BoolLit:
        return n.BoolLit(str(c[0]) == "true", self._span(meta))

    @lark.v_args(meta=True)
    def none_lit(self, meta: Any, c: list[Token]) -> n.NoneLit:
        return n.NoneLit(self._span(meta))

    @lark.v_args(meta=True)
    def name(self, meta: Any, c: list[Token]) -> n.Name:
        return n.Name(str(c[0]), self._span(meta))

    # --- expressions -------------------------------------------------------
    @lark.v_args(meta=True)
    def or_(self, meta: Any, c: list[Any]) -> n.BoolOp:
        return n.BoolOp("or", c[0], c[1], self._span(meta))

    @lark.v_args(meta=True)
    def and_(self, meta: Any, c: list[Any]) -> n.BoolOp:
        return n.BoolOp("and", c[0], c[1], self._span(meta))

    @lark.v_args(meta=True)
    def not_(self, meta: Any, c: list[Any]) -> n.Not:
        return n.Not(c[0], self._span(meta))

    @lark.v_args(meta=True)
    def compare(self, meta: Any, c: list[Any]) -> n.Compare:
        return n.Compare(str(c[1]), c[0], c[2], self._span(meta))

    @lark.v_args(meta=True)
    def is_(self, meta: Any, c: list[Any]) -> n.Compare:
        return n.Compare("=", c[0], c[1], self._span(meta))

    @lark.v_args(meta=True)
    def is_not(self, meta: Any, c: list[Any]) -> n.Compare:
        return n.Compare("!=", c[0], c[1], self._span(meta))

    @lark.v_args(meta=True)
    def member(self, meta: Any, c: list[Any]) -> n.Member:
        return n.Member(c[0], c[1], False, self._span(meta))

    @lark.v_args(meta=True)
    def not_member(self, meta: Any, c: list[Any]) -> n.Member:
        return n.Member(c[0], c[1], True, self._span(meta))

    @lark.v_args(meta=True)
    def exists(self, meta: Any, c: list[Any]) -> n.Exists:
        return n.Exists(c[0], self._span(meta))

    @lark.v_args(meta=True)
    def add(self, meta: Any, c: list[Any]) -> n.Arith:
        return n.Arith("+", c[0], c[1], self._span(meta))

    @lark.v_args(meta=True)
    def sub(self, meta: Any, c: list[Any]) -> n.Arith:
        return n.Arith("-", c[0], c[1], self._span(meta))

    @lark.v_args(meta=True)
    def mul(self, meta: Any, c: list[Any]) -> n.Arith:
        return n.Arith("*", c[0], c[1], self._span(meta))

    @lark.v_args(meta=True)
    def div(self, meta: Any, c: list[Any]) -> n.Div:
        return n.Div(c[0], c[1], str(c[2]), self._span(meta))

    @lark.v_args(meta=True)
    def attr(self, meta: Any, c: list[Any]) -> n.Attr:
        return n.Attr(c[0], str(c[1]), self._span(meta))

    @lark.v_args(meta=True)
    def lookup(self, meta: Any, c: list[Any]) -> n.Lookup:
        return n.Lookup(c[0], tuple(c[1:]), self._span(meta))

    @lark.v_args(meta=True)
    def set_lit(self, meta: Any, c: list[Any]) -> n.SetLit:
        return n.SetLit(tuple(c), self._span(meta))

    @lark.v_args(meta=True)
    def call(self, meta: Any, c: list[Any]) -> n.Call:
        return n.Call(str(c[0]), tuple(x for x in c[1:] if x is not None), self._span(meta))

    @lark.v_args(meta=True)
    def quantifier(self, meta: Any, c: list[Any]) -> n.Quantifier:
        return n.Quantifier(str(c[0]), str(c[1]), c[2], c[3], self._span(meta))


def as_value(expr: Any) -> n.Value:
    """Convert a literal parsed in value position (example, table) into a Value node."""
    if isinstance(expr, (n.ListValue, n.RecordValue, n.UnknownValue)):
        return expr
    if isinstance(expr, n.IntLit):
        return n.ScalarValue("int", expr.value, expr.span)
    if isinstance(expr, n.DateLit):
        return n.ScalarValue("date", expr.value, expr.span)
    if isinstance(expr, n.DurationLit):
        return n.ScalarValue("duration", (expr.amount, expr.unit), expr.span)
    if isinstance(expr, n.StringLit):
        return n.ScalarValue("string", expr.value, expr.span)
    if isinstance(expr, n.BoolLit):
        return n.ScalarValue("bool", expr.value, expr.span)
    if isinstance(expr, n.NoneLit):
        return n.ScalarValue("none", None, expr.span)
    if isinstance(expr, n.Name):
        return n.ScalarValue("name", expr.id, expr.span)
    raise TypeError(f"not a value: {expr!r}")
