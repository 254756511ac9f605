"""Syntax: the grammar, the parser, and every syntax error as a located Diagnostic.

`parse_tree` parses a whole file, recovering after each error (it blanks the
line in error, and the block it opens, and parses again) so that one run
reports them all; parser.py builds the AST from the tree. Lark stays inside
these two modules, but for `parse_concrete`'s tree, which only the formatter
(mtus_dsl/fmt.py) reads.
"""

from __future__ import annotations

import importlib.resources
import re
import threading
from collections.abc import Iterator
from typing import Any

import lark
from lark.indenter import Indenter
from lark.lexer import Token

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

# Terminals whose pattern is a set of words, which are keywords too (the grammar writes them
# as one regular expression so that, say, `certify` is one OUTCOME token).
_WORD_TERMINALS = ("MAX_UNITS", "OUTCOME", "QUANTIFIER", "BOOL")


def _keywords(grammar: str) -> tuple[str, ...]:
    """The words with a fixed meaning in .mtus files, read off the grammar: its quoted words and word terminals."""
    code = "\n".join(line.split("//", 1)[0] for line in grammar.splitlines())
    words = set(re.findall(r'"([a-z_][a-z0-9_]*)"', code))
    for name, prefix, alternatives in re.findall(r"^\s*([A-Z_]+)(?:\.\d+)?\s*:\s*/([a-z_]*)\(([a-z_|]+)\)", code, re.M):
        if name in _WORD_TERMINALS:
            words.update(prefix + word for word in alternatives.split("|"))
    return tuple(sorted(words))


def _grammar() -> str:
    return importlib.resources.files("mtus_dsl.compiler").joinpath("grammar.lark").read_text(encoding="utf-8")


#: Words with a fixed meaning in .mtus files; misspellings of these get a did-you-mean.
KEYWORDS = _keywords(_grammar())


class _MtusIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 4


class IndentationMismatch(Exception):
    """A dedent to a column no block opened."""

    def __init__(self, token: Token):
        self.token = token


class RunTogether(Exception):
    """A keyword (or number) written against the next word, as in `whenprior_visits`."""

    def __init__(self, first: Token, second: Token):
        self.first = first
        self.second = second


_WORD = re.compile(r"[a-z0-9_]+")


def _words_apart(stream: Iterator[Token]) -> Iterator[Token]:
    """Stop at two word tokens with nothing between them.

    A name swallows every letter it can, so two touching words are a keyword the
    lexer found at the start of a longer word (`whenprior_visits`, `unlessx`):
    read as `when prior_visits`, it would change the rule without a word said.
    """
    previous: Token | None = None
    for token in stream:
        if (previous is not None and previous.end_pos == token.start_pos and _WORD.fullmatch(previous)
                and _WORD.match(token)):
            raise RunTogether(previous, token)
        previous = token
        yield token


class _CheckedIndenter(_MtusIndenter):
    """Report a dedent to a column that no block opened as a syntax error, not a crash; words run together too."""

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        # Lark leaves Indenter.process untyped; it yields the tokens it is given, with indentation added.
        processed: Iterator[Token] = super().process(_words_apart(stream))  # type: ignore[no-untyped-call]
        return processed

    def handle_NL(self, token: Token) -> Iterator[Token]:
        indent_str = token.rsplit("\n", 1)[1]
        indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
        if self.paren_level == 0 and indent < self.indent_level[-1] and indent not in self.indent_level:
            raise IndentationMismatch(token)
        yield from super().handle_NL(token)


#: One parser per thread: the indenter keeps state while it lexes, so a parser is not shared.
_LOCAL = threading.local()


def _lark() -> lark.Lark:
    parser: lark.Lark | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = _build()
    return parser


def _build(keep_all_tokens: bool = False) -> lark.Lark:
    return lark.Lark(
        _grammar(),
        parser="lalr",
        lexer="contextual",
        postlex=_CheckedIndenter(),
        propagate_positions=True,
        maybe_placeholders=False,
        start=["start", "expr"],
        keep_all_tokens=keep_all_tokens,
        # Lark keeps the analysed LALR tables in the temp directory, keyed by
        # the grammar's hash: a cold start then skips the grammar analysis.
        cache=True,
    )


def parse_concrete(text: str) -> lark.Tree[Token]:
    """Parse a file parse_tree accepts into its concrete tree: every token kept, keywords and line ends too (fmt)."""
    parser: lark.Lark | None = getattr(_LOCAL, "concrete", None)
    if parser is None:
        parser = _LOCAL.concrete = _build(keep_all_tokens=True)
    return parser.parse(text, start="start")


def parse_tree(text: str, path: str) -> tuple[lark.Tree[Token] | None, list[Diagnostic]]:
    """Parse a whole file into Lark's tree, reporting every syntax error (up to the cap), not only the first."""
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
        except (lark.exceptions.UnexpectedInput, IndentationMismatch, RunTogether) as error:
            diagnostic, line = _syntax_diagnostic(error, source, path)
            diagnostics.append(diagnostic)
            if diagnostic.span is not None and (_NOT_A_HEADER_LINE in diagnostic.message
                                                or (diagnostic.code == "E001" and _in_header(lines, line))):
                # Stands in for the unknown line, so that a header left empty is not reported too.
                text = lines[line - 1]
                lines[line - 1] = text[: len(text) - len(text.lstrip())] + 'regulation ""'
                continue
            if not _blank_out(lines, line, with_block=diagnostic.code != "E005"):
                break
            continue
        if diagnostics:
            return None, diagnostics
        too_deep = too_deep_in(tree, path)
        if too_deep is not None:
            return None, [too_deep]
        return tree, []
    return None, diagnostics


def _in_header(lines: list[str], line: int) -> bool:
    """Whether 1-based `line` is an indented line of a guideline's header (an unknown field, a bad date)."""
    if line < 2 or line > len(lines) or not lines[line - 1][:1].isspace():
        return False
    for above in reversed(lines[: line - 1]):
        if above.strip() and not above[:1].isspace():
            return above.startswith("guideline ")
    return False


def parse_expression(text: str) -> lark.Tree[Token] | None:
    """Parse one expression (a `{placeholder}`); None if it is not one."""
    try:
        return _lark().parse(text, start="expr")
    except (lark.exceptions.UnexpectedInput, IndentationMismatch, RunTogether):
        return None


#: How deeply a file's declarations and expressions may nest. Every later stage recurses on them,
#: and each `and`/`or` nested on the right is one more indented block in the generated Python,
#: which allows at most 100.
MAX_DEPTH = 100
#: Each quantifier is a loop in the generated Python, which nests at most 20 blocks.
MAX_QUANTIFIERS = 16
#: The most digits a number in a .mtus file may have: every count, limit, page and bound
#: in the guidelines is far smaller, and products of such numbers stay cheap to compute and show.
MAX_DIGITS = 9


def too_deep_in(tree: lark.Tree[Token], path: str, start: int = 1) -> Diagnostic | None:
    """Report a declaration nested more than MAX_DEPTH levels, or quantifiers more than MAX_QUANTIFIERS.

    Also report the first number longer than MAX_DIGITS (E011), before anything converts it.
    """
    long_numbers: list[Token] = []
    stack: list[tuple[lark.Tree[Token], int, int, Any]] = [(tree, start, 0, tree.meta)]
    while stack:
        node, depth, quantifiers, anchor = stack.pop()
        quantifiers += node.data == "quantifier"
        if depth > MAX_DEPTH or quantifiers > MAX_QUANTIFIERS:
            line, column = getattr(anchor, "line", 1), getattr(anchor, "column", 1)
            what = f"{MAX_DEPTH} levels" if depth > MAX_DEPTH else f"{MAX_QUANTIFIERS} quantifiers"
            return Diagnostic(
                "E001",
                f"the expression nests more than {what} deep here",
                Span(path, line, column, line, column + 1),
                notes=("split a long expression into facts: fact NAME: boolean = ...",),
            )
        for child in node.children:
            if isinstance(child, lark.Tree):
                # Located where it goes too deep: the innermost node that has a place in the file.
                stack.append((child, depth + 1, quantifiers, anchor if child.meta.empty else child.meta))
            elif isinstance(child, Token) and child.type == "INT" and len(child) > MAX_DIGITS:
                long_numbers.append(child)
    if long_numbers:
        token = min(long_numbers, key=lambda t: t.start_pos or 0)
        line, column = token.line or 1, token.column or 1
        return Diagnostic(
            "E011",
            f"this number has {len(token)} digits; a number in a .mtus file has at most {MAX_DIGITS}",
            Span(path, line, column, line, column + len(token), token.start_pos or 0, token.end_pos or 0),
            notes=("counts, limits, pages and bounds are whole numbers below 1,000,000,000",),
        )
    return None


def _syntax_diagnostic(error: Exception, source: str, path: str) -> tuple[Diagnostic, int]:
    if isinstance(error, RunTogether):
        first, second = error.first, error.second
        line = first.line or 1
        return Diagnostic(
            "E001",
            f"'{first}' runs into '{second}': a keyword or number is a word of its own",
            Span(path, line, first.column or 1, second.end_line or line, second.end_column or (first.column or 1) + 1,
                 first.start_pos or 0, second.end_pos or 0),
            notes=(f"put a space between them: '{first} {second}'",),
        ), line
    if isinstance(error, IndentationMismatch):
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
        elif char == '"':
            hint = 'this string is never closed: a string ends with " on the same line (write \\" for a quote in it)'
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
    if token.type == "_INDENT":
        # The indentation arrives with the line break before it: the line indented too deep is the next one.
        line = token.end_line or line
        return Diagnostic(
            "E005",
            "this line is indented deeper than the line above it, which opens no block",
            Span(path, line, 1, line, len(str(token)) + 1),
            notes=("indent it as the line above: only a line that opens a block (a header ending in ':', "
                   "a declaration with clauses) has lines indented under it",),
        ), line
    expected = sorted(error.expected)
    width = max(1, len(str(token))) if token.type not in ("_NL", "_DEDENT", "_INDENT", "$END") else 1
    span = Span(path, line, column, line, column + width)
    word = str(token)
    if token.type == "NAME":
        known = _known_mistake(word, source.split("\n")[line - 1], column, expected, span)
        if known is not None:
            return known, line
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


#: The lines a guideline's header block may hold, for the message about one it does not know.
GUIDELINE_LINES = ('regulation "..."', "in force from DATE", "in force DATE to DATE", "overrides GUIDELINE, ...")

_NOT_A_HEADER_LINE = " is not a line a guideline's header knows"

#: Words an author may write after a limit's number, meaning its unit or its period.
_UNIT_WORDS = frozenset({"visit", "visits", "treatment", "treatments", "session", "sessions", "unit", "units",
                         "day", "days", "week", "weeks", "month", "months", "year", "years"})


def _known_mistake(word: str, text: str, column: int, expected: list[str], span: Span) -> Diagnostic | None:
    """A word in a place where authors are known to put it by mistake: say what the language wants instead."""
    before = text[: column - 1]
    if "REGULATION" in expected and "IN" in expected and not before.strip():
        # A line of a guideline's header block.
        fields = [line.split(" ", 1)[0] for line in GUIDELINE_LINES]
        suggestion = did_you_mean(word, ["regulation", "in", "overrides"]) if word not in fields else ""
        if not suggestion and word in ("effective", "valid", "from", "since", "starts", "until", "ends", "expires"):
            suggestion = "; the dates it is in force are written 'in force from DATE' or 'in force DATE to DATE'"
        return Diagnostic(
            "E002",
            f"'{word}'{_NOT_A_HEADER_LINE}{suggestion}",
            span,
            notes=("a guideline's header holds: " + ", ".join(GUIDELINE_LINES),),
        )
    limit = re.search(r"\b(max_[a-z]+|trial|up to)\s+[^\s,]+\s+$", before)
    if limit is not None and word in _UNIT_WORDS:
        keyword = limit.group(1)
        if word.rstrip("s") in ("day", "week", "month", "year"):
            hint = f"a limit's period follows 'over': {keyword} ... over 4 {word.rstrip('s')}s"
        else:
            hint = ("the unit is in the keyword (max_visits, max_treatments, max_sessions, max_days, max_units), "
                    "or in the section's 'unit' line for a trial")
        return Diagnostic("E001", f"'{word}' cannot follow the number of units", span, notes=(hint,))
    if word in ("contains", "includes", "has"):
        left = re.search(r"([a-z_][a-z0-9_.]*)\s+$", before)
        right = re.match(r"\s*(\S+)", text[column - 1 + len(word):])
        example = f"{right.group(1) if right else 'x'} in {left.group(1) if left else 'collection'}"
        return Diagnostic(
            "E001",
            f"'{word}' is not an operator: membership is written 'ITEM in COLLECTION'",
            span,
            notes=(f"write '{example}'; a diagnosis is matched through a condition's code set: "
                   "'low_back_pain in conditions'",),
        )
    quantifier = re.search(r"\b(any|all|latest|count)\s+([a-z_][a-z0-9_]*)\s+in\s+[a-z_][a-z0-9_.]*\s+$", before)
    if quantifier is not None:
        kind, var = quantifier.groups()
        return Diagnostic(
            "E001",
            f"'{kind} {var} in ...' needs 'where (' before its condition",
            span,
            notes=(f"write '{kind} {var} in COLLECTION where (CONDITION)': the condition is always in parentheses",),
        )
    return None


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
