"""Parse .mtus text into the AST; turn every Lark error into a located Diagnostic."""

from __future__ import annotations

import ast as pyast
import datetime
import functools
import importlib.resources
import re
import warnings
from collections.abc import Iterator
from typing import Any

import attrs
import lark
from lark.indenter import Indenter
from lark.lexer import Token

from mtus_dsl.compiler import nodes as n
from mtus_dsl.diagnostics import MAX_REPORTED, Diagnostic, Span, did_you_mean

# Readable names for the grammar's terminals, used in "expected ..." messages.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "DATE": "a date (YYYY-MM-DD)",
    "STRING": 'a "string"',
    "CODE": "a diagnosis code",
    "CODE_SYSTEM": "icd9 or icd10",
    "_NL": "end of line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "$END": "end of file",
    "MAX_UNITS": "max_visits (or max_treatments, max_sessions, max_days, max_units)",
    "OUTCOME": "an outcome (certify, modify, non_certify, not_addressed, needs_information)",
    "DURATION_UNIT": "days, weeks, months or years",
    "BOOL": "true or false",
    "QUANTIFIER": "any, all, latest or count",
    "COMPARE": "a comparison (=, !=, <, <=, >, >=)",
    "ROUNDING": "down or up",
    "REQUIRED": "required",
}

# Words with a fixed meaning in .mtus files; misspellings of these get a did-you-mean.
KEYWORDS = (
    "guideline",
    "edition",
    "regulation",
    "in",
    "force",
    "from",
    "to",
    "enum",
    "input",
    "required",
    "record",
    "fact",
    "explain",
    "condition",
    "icd9",
    "icd10",
    "table",
    "key",
    "value",
    "otherwise",
    "list",
    "set",
    "of",
    "integer",
    "section",
    "services",
    "regions",
    "unit",
    "page",
    "pages",
    "cap",
    "when",
    "unless",
    "overrides",
    "subsection",
    "rationale",
    "for",
    "trial",
    "up",
    "with",
    "certify",
    "non_certify",
    "over",
    "counting",
    "example",
    "defaults",
    "expect",
    "by",
    "missing",
    "unknown",
    "none",
    "or",
    "and",
    "not",
    "is",
    "exists",
    "rounded",
    "where",
    "any",
    "all",
    "latest",
    "count",
    "true",
    "false",
    "max_visits",
    "max_treatments",
    "max_sessions",
    "max_days",
    "max_units",
    "modify",
    "not_addressed",
    "needs_information",
    "property",
)


class _MtusIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 4


class _IndentationError(Exception):
    def __init__(self, token: Token):
        self.token = token


class _CheckedIndenter(_MtusIndenter):
    """Report a dedent to a column that no block opened as a syntax error, not a crash."""

    def handle_NL(self, token: Token) -> Iterator[Token]:
        indent_str = token.rsplit("\n", 1)[1]
        indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
        if self.paren_level == 0 and indent < self.indent_level[-1] and indent not in self.indent_level:
            raise _IndentationError(token)
        yield from super().handle_NL(token)


@functools.cache
def _lark() -> lark.Lark:
    grammar = importlib.resources.files("mtus_dsl.compiler").joinpath("grammar.lark").read_text()
    return lark.Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=_CheckedIndenter(),
        propagate_positions=True,
        maybe_placeholders=False,
        start=["start", "expr"],
        # Lark keeps the analysed LALR tables in the temp directory, keyed by
        # the grammar's hash: a cold start then skips the grammar analysis.
        cache=True,
    )


def parse_module(text: str, path: str) -> tuple[n.Module | None, list[Diagnostic]]:
    """Parse a whole file, reporting every syntax error (up to the cap), not only the first."""
    diagnostics: list[Diagnostic] = []
    lines = text.split("\n")
    # Recovery: blank out the offending line (and the block it opens) and parse
    # again, so one mistake does not hide the next. Line numbers never move.
    for _ in range(MAX_REPORTED):
        source = "\n".join(lines)
        if not source.endswith("\n"):
            source += "\n"
        try:
            tree = _lark().parse(source, start="start")
        except (lark.exceptions.UnexpectedInput, _IndentationError) as error:
            diagnostic, line = _syntax_diagnostic(error, source, path)
            diagnostics.append(diagnostic)
            if not _blank_out(lines, line, with_block=diagnostic.code != "E005"):
                break
            continue
        if diagnostics:
            return None, diagnostics
        too_deep = _too_deep(tree, path)
        if too_deep is not None:
            return None, [too_deep]
        builder = _AstBuilder(path, text)
        try:
            module = n.Module(path, tuple(builder.transform(tree).children))
        except lark.exceptions.VisitError as error:
            if not isinstance(error.orig_exc, _BadString):
                raise
            return None, [*builder.diagnostics, error.orig_exc.diagnostic(builder)]
        return module, builder.diagnostics
    return None, diagnostics


#: How deeply a file's declarations and expressions may nest. Every later stage recurses on them,
#: and each `and`/`or` nested on the right is one more indented block in the generated Python,
#: which allows at most 100.
MAX_DEPTH = 100
#: Each quantifier is a loop in the generated Python, which nests at most 20 blocks.
MAX_QUANTIFIERS = 16


def _too_deep(tree: lark.Tree[Token], path: str, start: int = 1) -> Diagnostic | None:
    """Report a declaration nested more than MAX_DEPTH levels, or quantifiers more than MAX_QUANTIFIERS."""
    stack: list[tuple[lark.Tree[Token], int, int, Any]] = [(tree, start, 0, tree.meta)]
    while stack:
        node, depth, quantifiers, anchor = stack.pop()
        quantifiers += node.data == "quantifier"
        if depth > MAX_DEPTH or quantifiers > MAX_QUANTIFIERS:
            line, column = getattr(anchor, "line", 1), getattr(anchor, "column", 1)
            what = f"{MAX_DEPTH} levels" if depth > MAX_DEPTH else f"{MAX_QUANTIFIERS} quantifiers"
            return Diagnostic(
                "E001",
                f"this declaration nests more than {what} deep",
                Span(path, line, column, line, column + 1),
                notes=("split a long expression into facts: fact NAME: boolean = ...",),
            )
        for child in node.children:
            if isinstance(child, lark.Tree):
                stack.append((child, depth + 1, quantifiers, child.meta if depth == 1 else anchor))
    return None


def parse_template(value: str, span: Span) -> tuple[n.Template, list[Diagnostic]]:
    """Split a string into text and `{expression}` placeholders, each parsed and located."""
    parts: list[str | n.Expr] = []
    diagnostics: list[Diagnostic] = []
    pos = 0
    for match in re.finditer(r"\{\{|\}\}|\{([^{}]*)\}", value):
        parts.append(value[pos : match.start()])
        pos = match.end()
        if match.group(1) is None:  # {{ or }} stands for a literal brace
            parts.append(match.group(0)[0])
            continue
        inner = match.group(1)
        # +1: the opening quote of the string literal precedes its value.
        prefix = '"' + value[: match.start(1)]
        try:
            tree = _lark().parse(inner, start="expr")
        except (lark.exceptions.UnexpectedInput, _IndentationError):
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
        too_deep = _too_deep(tree, span.path, start=6)  # a rationale sits as deep as a rule's clause
        if too_deep is not None:
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


def _offset_span(base: Span, prefix: str, width: int) -> Span:
    inner = Span(base.path, 1, 1, 1, 1 + width, 0, width)
    return inner.shifted(prefix, base)


def _syntax_diagnostic(error: Exception, source: str, path: str) -> tuple[Diagnostic, int]:
    if isinstance(error, _IndentationError):
        line = error.token.end_line or 1
        indent = len(error.token.rsplit("\n", 1)[1])
        return Diagnostic(
            "E005",
            "this line's indentation does not match any enclosing block",
            Span(path, line, 1, line, indent + 1),
            notes=("indent a block's lines by the same amount, deeper than the line ending in ':'",),
        ), line
    if isinstance(error, lark.exceptions.UnexpectedEOF) or (
        isinstance(error, lark.exceptions.UnexpectedToken) and error.token.type == "$END"
        and _unclosed_bracket(source, len(source)) is None
    ):
        line = len(source.rstrip().split("\n"))
        return Diagnostic(
            "E004", "the file ends in the middle of a declaration", Span(path, line, 1, line, 1),
            notes=(f"expected {_expected_words(sorted(getattr(error, 'expected', ())))}",),
        ), line
    assert isinstance(error, lark.exceptions.UnexpectedInput)
    line, column = error.line, error.column
    if line < 1:
        line = source.count("\n") or 1
        column = 1
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        pos = error.pos_in_stream or 0
        char = source[pos] if pos < len(source) else ""
        hint = ""
        if char.isupper():
            hint = "names are lower_case_with_underscores; write codes after icd9/icd10"
        notes = (hint,) if hint else ()
        return Diagnostic(
            "E003", f"unexpected character {char!r}", Span(path, line, column, line, column + 1), notes=notes
        ), line
    assert isinstance(error, lark.exceptions.UnexpectedToken)
    token = error.token
    opened = _unclosed_bracket(source, token.start_pos or 0)
    at_end = token.type in ("_NL", "_DEDENT", "$END")
    if opened is not None and (opened[0] < line or at_end):
        # Inside an unclosed bracket newlines do not end lines, so the error shows
        # up later; point at the bracket instead.
        open_line, open_column, char = opened
        return Diagnostic(
            "E010",
            f"this '{char}' is never closed",
            Span(path, open_line, open_column, open_line, open_column + 1),
            notes=(f"close it with '{_CLOSING[char]}' before the end of the line or expression",),
        ), open_line
    expected = sorted(error.expected)
    width = max(1, len(str(token))) if token.type not in ("_NL", "_DEDENT", "_INDENT", "$END") else 1
    span = Span(path, line, column, line, column + width)
    word = str(token)
    # A misspelled keyword arrives as a NAME (or as the token after a NAME that
    # was meant to be a keyword at the start of the line).
    if token.type == "NAME":
        suggestion = did_you_mean(word, KEYWORDS)
        if suggestion:
            return Diagnostic(
                "E002",
                f"unknown keyword '{word}'{suggestion}",
                span,
                notes=(f"expected {_expected_words(expected, words_only=True, first=suggestion)}",),
            ), line
    # A line that starts with an unknown word followed by more words (not by
    # ':', which starts a rule) most likely misspells a line keyword.
    first_word = re.match(r"\s*([a-z_]+)\s+[^:\s]", source.split("\n")[line - 1])
    if first_word and first_word.group(1) not in KEYWORDS and column > first_word.end(1):
        suggestion = did_you_mean(first_word.group(1), KEYWORDS)
        if suggestion:
            col = first_word.start(1) + 1
            return Diagnostic(
                "E002",
                f"unknown keyword '{first_word.group(1)}'{suggestion}",
                Span(path, line, col, line, col + len(first_word.group(1))),
            ), line
    if "ROUNDED" in expected and set(expected) <= {"ROUNDED", "DOT", "LSQB"}:
        return Diagnostic(
            "E001",
            "a division must say how it rounds",
            span,
            notes=("write 'general_course / 2 rounded down' (or 'rounded up')",),
        ), line
    shown = {
        "_NL": "end of line",
        "_DEDENT": "end of block",
        "_INDENT": "indented block",
        "$END": "end of file",
    }.get(token.type, f"'{word}'")
    return Diagnostic("E001", f"unexpected {shown}", span, notes=(f"expected {_expected_words(expected)}",)), line


_CLOSING = {"(": ")", "[": "]", "{": "}"}


def _unclosed_bracket(source: str, upto: int) -> tuple[int, int, str] | None:
    """The innermost bracket still open at offset `upto` (strings and comments skipped)."""
    stack: list[tuple[int, int, str]] = []
    line, column = 1, 1
    i = 0
    while i < min(upto, len(source)):
        char = source[i]
        if char == '"':
            j = i + 1
            while j < len(source) and source[j] not in '"\n':
                j += 2 if source[j] == "\\" else 1
            column += j - i
            i = j
        elif char == "#":
            while i < len(source) and source[i] != "\n":
                i += 1
            continue
        elif char == "\n":
            line, column = line + 1, 0
        elif char in _CLOSING:
            stack.append((line, column, char))
        elif char in ")]}" and stack:
            stack.pop()
        i += 1
        column += 1
    return stack[-1] if stack else None


def _expected_words(expected: list[str], words_only: bool = False, first: str = "") -> str:
    words: list[str] = []
    for name in expected:
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
            continue
        try:
            pattern = _lark().get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str" and (not words_only or pattern.value.isidentifier()):
            words.append(f"'{pattern.value}'")
    # The suggested word first, then words (what an author most likely meant), punctuation last.
    suggested = first.split("'")[1] if first.count("'") >= 2 else None
    words = sorted(set(words), key=lambda w: (w.strip("'") != suggested, not w.strip("'").isidentifier(), w))
    if len(words) > 8:
        words = words[:8] + ["..."]
    return ", ".join(words) if words else "something else"


def _blank_out(lines: list[str], line: int, with_block: bool = True) -> bool:
    """Blank the line with the error and the lines indented under it (its block or its clauses)."""
    index = line - 1
    if not 0 <= index < len(lines) or not lines[index].strip():
        # The error is reported at a blank line or end of file: blank the
        # nearest non-empty line above instead, so recovery still advances.
        while index >= len(lines) or (index >= 0 and not lines[index].strip()):
            index -= 1
        if index < 0:
            return False
    indent = len(lines[index]) - len(lines[index].lstrip())
    lines[index] = ""
    # Lines indented deeper belong to the broken one (a section's body, a
    # rule's clauses): left alone, each would report an error of its own.
    # (A line indented wrongly has no block: the lines after it are its neighbours.)
    j = index + 1
    while with_block and j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
        lines[j] = ""
        j += 1
    return True


class _BadString(Exception):
    """A string literal whose escapes mean nothing (\\x4, \\N{NOPE}): reported as E003, never a crash."""

    def __init__(self, token: str, reason: str):
        super().__init__(reason)
        self.token = token
        self.reason = reason

    def diagnostic(self, builder: _AstBuilder) -> Diagnostic:
        """Locate the string (in the file, or inside a placeholder)."""
        span = builder._tok_span(self.token) if isinstance(self.token, Token) else Span(builder.path, 1, 1, 1, 2)
        return Diagnostic(
            "E003",
            f"unexpected character after a backslash in this string ({self.reason})",
            span,
            notes=('write \\" for a quote and \\\\ for a backslash',),
        )


def _unquote(token: str) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # \q: an unknown escape stays as written
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
        for kind, *args in lines:
            if kind == "regulation":
                regulation = args[0]
            else:
                start, end = args
        self.current_guideline = str(name)
        return n.Guideline(str(name), _unquote(title), _unquote(edition), regulation, start, end, self._span(meta))

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
        return n.InputDecl(str(name), type_, required, docs[0] if docs else None, self._span(meta))

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
        guideline = self.current_guideline
        if lines and isinstance(lines[0], tuple) and lines[0][0] == "in":
            guideline = lines.pop(0)[1]
        pages = lines.pop(0) if lines and isinstance(lines[0], n.Pages) else None
        services: list[tuple[str, Span]] = []
        regions: list[tuple[str, Span]] = []
        unit = None
        rules: list[n.Rule] = []
        examples: list[n.Example] = []
        defaults: list[n.Given] = []
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
        )

    def section_of(self, c: list[Token]) -> tuple[str, str]:
        return ("in", str(c[0]))

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
        return n.Example(_unquote(title), given, expects[0] if expects else None, span)

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
        for item in c[1:]:
            if isinstance(item, Token):
                approved = int(item)
            elif item[0] == "by":
                by = item[1]
            else:
                missing = item[1]
        return n.Expect(outcome, approved, tuple(by), tuple(missing), self._span(meta))

    def expect_by(self, c: list[Any]) -> tuple[str, Any]:
        return ("by", c[0])

    def expect_missing(self, c: list[Any]) -> tuple[str, Any]:
        return ("missing", c[0])

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
