"""`mtus fmt`: one canonical layout for .mtus files, comments kept, the meaning never changed.

The formatter works on the concrete syntax: the grammar's tree with every token kept
(syntax.parse_concrete), so a construct added to the grammar formats with the generic
rules below without a change here. The layout:

- a block's lines indented by 4 spaces per level; tokens separated by one space, none
  inside brackets, before `,` `:` `.` or after `.`, around `-` in page ranges and `..`;
- a rule's clauses in one order (when, unless, for services, for regions, overrides,
  pages, subsection, rationale), each clause's comments moving with it;
- blank lines kept where the author put them, at most one in a row, none opening a block;
- a line longer than LINE_LENGTH broken before `when`, `unless`, `with`, `counting`,
  `and`, `or` and a declaration's closing description if it then fits (continued with
  `\\`, indented two levels), and inside brackets before `and`, `or` and between a
  list's items;
  strings are never split, so a long rationale stays on its clause's line;
- comments kept: a comment on its own line stays above the line it preceded (at that
  line's indentation), a comment after code stays after that code.

format_source checks that the result parses to the same AST as the input (spans aside)
before it returns it, so formatting can never change what a file means. A byte order mark
at the start is accepted, as the compiler accepts it, and dropped (as `\r\n` becomes `\n`).
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import lark
from lark.lexer import Token

from mtus_dsl.compiler import line_ends, syntax
from mtus_dsl.diagnostics import Diagnostic, Span

#: The longest line the formatter makes when it can break it (strings are never broken).
LINE_LENGTH = 120
INDENT = "    "
#: Continuation lines (after a `\` or inside brackets) are indented this many levels deeper.
CONTINUATION = 2

#: A rule's clauses in their canonical order; a body with any other clause keeps its order.
CLAUSE_ORDER = ("when", "unless", "for_services", "for_regions", "overrides", "rule_pages", "subsection", "rationale")
#: Words before which a long line may break (`and`/`or` only as operators, not in `integer or none`).
_BREAK_BEFORE = frozenset({"when", "unless", "with", "counting"})
_OPERATORS = {"and": "and_", "or": "or_"}

#: Values whose items a long line may break between (an example's list of surgeries).
_LISTS = frozenset({"list_value", "set_lit"})
_LAYOUT = frozenset({"_NL", "_INDENT", "_DEDENT"})
_OPENING, _CLOSING = frozenset("([{"), frozenset(")]}")
_NO_SPACE_BEFORE = frozenset({",", ":", ")", "]", "}", ".", ".."})
_NO_SPACE_AFTER = frozenset({"(", "[", "{", ".", ".."})
#: Tokens glued to the token before them in these constructs: `f(x)`, `table[key]`, `98-99`, `-3`.
_GLUED = {("(", "call"), ("[", "lookup"), ("-", "page_range")}
_GLUED_AFTER = {("-", "page_range"), ("-", "neg_int_lit")}

_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*')
#: A byte order mark, which some editors write first; compile_paths drops it (utf-8-sig), so fmt does.
BOM = "\ufeff"
_BOM_BYTES = BOM.encode("utf-8")


class FormatError(Exception):
    """A file that cannot be formatted: it has syntax errors or is not UTF-8; carries the located diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__(f"{len(diagnostics)} syntax error(s)")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its diagnostics (pickle would pass the message as them): it crosses processes whole.
        return (type(self), (self.diagnostics,), self.__dict__)


class FormatBug(Exception):
    """The formatted text would mean something else than the input: a bug in fmt, never written out."""


def format_source(text: str, path: str = "<text>") -> str:
    """Return `text` in the canonical layout; raise FormatError (syntax errors) or FormatBug."""
    from mtus_dsl.compiler import parser

    # The canonical file has no BOM and ends lines with \n: a file with a BOM, \r\n or a lone \r is (re)formatted.
    text = line_ends(text.removeprefix(BOM))
    if not text.endswith("\n"):
        text += "\n"
    before, diagnostics = parser.parse_module(text, path)
    if before is None or any(d.is_error for d in diagnostics):
        raise FormatError([d for d in diagnostics if d.is_error])
    formatted = _Formatter(text).format(syntax.parse_concrete(text))
    after, _ = parser.parse_module(formatted, path)
    if after is None or without_spans(after) != without_spans(before):
        raise FormatBug(f"{path}: formatting would change the file's meaning; it was left as it is")
    if sorted(_comments(formatted).values()) != sorted(_comments(text).values()):
        raise FormatBug(f"{path}: formatting would lose or move a comment; the file was left as it is")
    return formatted


def without_spans(node: Any) -> Any:
    """A node as nested tuples with every Span left out: two parses of the same meaning compare equal."""
    # Recursion is safe here, unlike on the concrete tree: the parser refuses an AST nested deeper than
    # syntax.MAX_DEPTH, and brackets, which nest without limit, leave no node in the AST.
    if isinstance(node, Span):
        return None
    if attrs.has(type(node)):
        return (type(node).__name__, *(without_spans(getattr(node, f.name)) for f in attrs.fields(type(node))))
    if isinstance(node, tuple | list):
        return tuple(without_spans(item) for item in node)
    if isinstance(node, dict):
        return tuple((key, without_spans(value)) for key, value in node.items())
    return node


def decode_source(raw: bytes, path: str) -> str:
    """A file's text from its bytes (a BOM kept: format_source drops it); raise FormatError if it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FormatError([_not_utf8(raw, error.start, path)]) from None


def _not_utf8(raw: bytes, at: int, path: str) -> Diagnostic:
    """The diagnostic for a byte that is not UTF-8, at the line and column (in characters) where it stands."""
    # Counted after the BOM, as every other position in a file is (compile_paths reads utf-8-sig).
    before = raw[len(_BOM_BYTES) if raw.startswith(_BOM_BYTES) else 0 : at].decode("utf-8")  # valid up to `at`
    line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
    # The words of mtus check's E000 (compiler.not_utf8, docs/errors.md): one message for one problem.
    return Diagnostic(
        "E000",
        f"not valid UTF-8: byte 0x{raw[at]:02x}; a guideline file must be UTF-8 (save it as UTF-8)",
        Span(path, line, column, line, column + 1, len(before), len(before) + 1),
    )


def _quoted(raw: bytes) -> str:
    """The text a diagnostic quotes a file's line from: positions count after a BOM, a bad byte shows as U+FFFD."""
    return raw.decode("utf-8", "replace").removeprefix(BOM)


def diff(path: str, old: str, new: str) -> str:
    """A unified diff from a file's text to its formatted text."""
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


# --- the formatter -------------------------------------------------------------------------------


@attrs.define
class _Leaf:
    """A token with what the layout needs: its construct, comments before it and after it."""

    token: Token
    parent: str
    leading: list[str | None] = attrs.Factory(list)  # comments on lines of their own, None for a blank line
    trailing: str | None = None


class _Formatter:
    """Lay out one file's concrete tree; comments come from the text, located by the tokens."""

    def __init__(self, text: str):
        self.text = text
        self.lines: list[str] = []
        self.depth = 0  # the depth of the last logical line emitted
        self.leading: dict[int, list[str | None]] = {}  # by id of a token: the comments above it
        self.trailing: dict[int, str] = {}  # by id of a token: the comment after it on its line

    def format(self, tree: lark.Tree[Token]) -> str:
        """Return the formatted text of the file `tree` was parsed from."""
        # Comments are hung on tokens in the order of the text, before the clauses move.
        tail = self._attach_comments(list(_leaves(tree, "start")))
        _order_clauses(tree)
        leaves = list(_leaves(tree, "start"))
        for leaf in leaves:
            leaf.leading = self.leading.get(id(leaf.token), [])
            leaf.trailing = self.trailing.get(id(leaf.token))
        depth = start = 0
        line: list[_Leaf] = []
        for leaf in leaves:
            kind = leaf.token.type
            if kind == "_INDENT":
                depth += 1
            elif kind == "_DEDENT":
                depth -= 1
            elif kind == "_NL":
                if line:
                    self._emit(line, start)
                    line = []
            else:
                if not line:
                    start = depth
                line.append(leaf)
        if line:
            self._emit(line, start)
        self._emit_comments(tail, 0)
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n"

    def _attach_comments(self, leaves: list[_Leaf]) -> list[str | None]:
        """Hang each comment and blank line on a token; return those after the last token."""
        source_lines = self.text.split("\n")
        comments = _comments(self.text)
        previous_line = 0
        previous: _Leaf | None = None
        for leaf in [*(leaf for leaf in leaves if leaf.token.type not in _LAYOUT), None]:
            first = leaf.token.line or 1 if leaf is not None else len(source_lines) + 1
            if previous is not None and first > previous_line and previous_line in comments:
                self.trailing[id(previous.token)] = comments[previous_line]  # after the last code of its line
            between: list[str | None] = []
            for number in range(previous_line + 1, first):
                if number in comments:
                    between.append(comments[number])
                elif source_lines[number - 1].strip() in ("", "\\"):
                    between.append(None)
            if leaf is None:
                return between
            self.leading[id(leaf.token)] = between
            previous, previous_line = leaf, leaf.token.end_line or first
        raise AssertionError("unreachable")  # pragma: no cover

    def _emit_comments(self, items: list[str | None], depth: int) -> None:
        for item in items:
            if item is None:
                if self.lines and self.lines[-1] != "":  # never two blank lines, nor one opening the file
                    self.lines.append("")
            else:
                self.lines.append(INDENT * depth + item)

    def _emit(self, line: list[_Leaf], depth: int) -> None:
        """Append one logical line (a declaration or clause), broken if it is too long."""
        leading = line[0].leading
        if depth > self.depth:  # no blank line right after a line that opens a block
            while leading and leading[0] is None:
                leading = leading[1:]
        self._emit_comments(leading, depth)
        self.lines.extend(_break(line, depth))
        self.depth = depth


def _comments(text: str) -> dict[int, str]:
    """Each line's comment (strings skipped, so a '#' inside one is not a comment), by line number."""
    comments = {}
    line, counted = 1, 0
    for match in _COMMENT_OR_STRING.finditer(text):
        if match.group().startswith("#"):
            line += text.count("\n", counted, match.start())
            counted = match.start()
            comments[line] = match.group().rstrip()
    return comments



def _leaves(node: lark.Tree[Token] | Token, parent: str) -> Iterator[_Leaf]:
    """Every token of the tree in order, with the name of the construct it belongs to."""
    # A stack, not recursion: brackets nest as deep as the author likes (the parser bounds only the AST's
    # depth, where brackets leave no node), and each is a level of the concrete tree.
    stack: list[tuple[str, Iterator[lark.Tree[Token] | Token]]] = [(parent, iter([node]))]
    while stack:
        construct, children = stack[-1]
        for child in children:
            if isinstance(child, Token):
                yield _Leaf(child, construct)
            else:
                stack.append((str(child.data), iter(child.children)))
                break
        else:
            stack.pop()


def _order_clauses(tree: lark.Tree[Token]) -> None:
    """Put each rule's clauses in CLAUSE_ORDER (stable: clauses of one kind keep their order)."""
    for body in tree.find_data("rule_body"):
        clauses = [c for c in body.children if isinstance(c, lark.Tree)]
        if not clauses or any(str(c.data) not in CLAUSE_ORDER for c in clauses):
            continue  # a clause this formatter does not know may depend on its place
        clauses.sort(key=lambda c: CLAUSE_ORDER.index(str(c.data)))
        body.children = [body.children[0], *clauses, body.children[-1]]


def _spacing(before: _Leaf, after: _Leaf) -> str:
    """The space between two tokens on a line: one, or none in and around brackets and punctuation."""
    left, right = str(before.token), str(after.token)
    if right in _NO_SPACE_BEFORE or left in _NO_SPACE_AFTER:
        return ""
    if (right, after.parent) in _GLUED or (left, before.parent) in _GLUED_AFTER:
        return ""
    return " "


@attrs.define
class _Chunk:
    """Tokens that stay on one line; `glue` is what ends the line before it if it starts a new one."""

    leaves: list[_Leaf]
    glue: str = ""  # " \\" (a continuation) or "" (inside brackets)
    forced: bool = False  # it must start a new line: a comment ends the line before or precedes it


def _break(line: list[_Leaf], depth: int) -> list[str]:
    """Lay out one logical line: on one line if it fits, else in chunks at the break points."""
    chunks = [_Chunk([])]
    brackets = 0
    for index, leaf in enumerate(line):
        value = str(leaf.token)
        if index and leaf.leading and any(item is not None for item in leaf.leading):
            chunks.append(_Chunk([], "", True))  # comments on lines of their own inside brackets
        elif brackets == 0 and index > (leaf.token.type == "STRING") and _breaks_before(leaf, index, line, depth):
            chunks.append(_Chunk([], " \\"))
        elif brackets > 0 and _OPERATORS.get(value) == leaf.parent and leaf.token.type != "NAME":
            chunks.append(_Chunk([]))  # inside brackets a line may end without a backslash
        chunks[-1].leaves.append(leaf)
        if value in _OPENING:
            brackets += 1
        elif value in _CLOSING:
            brackets -= 1
        if index < len(line) - 1 and (
            leaf.trailing is not None or (brackets == 1 and value == "," and leaf.parent in _LISTS)
        ):
            chunks.append(_Chunk([], "", leaf.trailing is not None))
    chunks = [chunk for chunk in chunks if chunk.leaves]
    deeper = INDENT * (depth + CONTINUATION)
    out: list[str] = []
    current = INDENT * depth + _join(chunks[0].leaves)
    for previous, chunk in itertools.pairwise(chunks):
        text, space = _join(chunk.leaves), _spacing(previous.leaves[-1], chunk.leaves[0])
        if chunk.forced or len(current) + len(space) + len(text) + len(chunk.glue) > LINE_LENGTH:
            tail = previous.leaves[-1].trailing
            out.append(current + chunk.glue + (f"  {tail}" if tail is not None else ""))
            out.extend(deeper + item for item in chunk.leaves[0].leading if item is not None)
            current = deeper + text
        else:
            current += space + text
    tail = line[-1].trailing
    out.append(current + (f"  {tail}" if tail is not None else ""))
    return out


def _breaks_before(leaf: _Leaf, index: int, line: list[_Leaf], depth: int) -> bool:
    """Tell whether a long line may break (with a backslash) before this token, outside brackets."""
    value = str(leaf.token)
    if leaf.token.type == "STRING":
        # A description closing a declaration moves to a line of its own if it fits there; a
        # clause's string (`rationale "..."`) stays with its keyword (the caller skips index 1).
        return index == len(line) - 1 and len(INDENT * (depth + CONTINUATION) + value) <= LINE_LENGTH
    return leaf.token.type != "NAME" and (value in _BREAK_BEFORE or _OPERATORS.get(value) == leaf.parent)


def _join(leaves: list[_Leaf]) -> str:
    parts: list[str] = []
    for index, leaf in enumerate(leaves):
        if index:
            parts.append(_spacing(leaves[index - 1], leaf))
        parts.append(str(leaf.token))
    return "".join(parts)


# --- the command ---------------------------------------------------------------------------------


def run_command(
    paths: tuple[str, ...],
    *,
    check: bool,
    show_diff: bool,
    out: Callable[[str], None],
    err: Callable[[str], None],
    stdin: Callable[[], str | bytes] | None = None,
) -> int:
    """`mtus fmt`: format files in place, or with --check/--diff only report; return the exit status.

    0: every file is (now) formatted; 1: a file has syntax errors or cannot be read (is not UTF-8),
    or (--check, --diff) would be reformatted. `-` with other paths raises click.UsageError (status 2).
    """
    from mtus_dsl.compiler import expand
    from mtus_dsl.diagnostics import render_all

    if "-" in paths and paths != ("-",):
        import click

        # Standard input goes to standard output and files are rewritten in place: no mix of the two
        # means one thing (`- -` would read standard input twice), so this is a usage error, not a file.
        raise click.UsageError("'-' (standard input) must be the only PATH", click.get_current_context(silent=True))
    if paths == ("-",):
        assert stdin is not None
        raw = _stdin_bytes(stdin)
        try:
            text = decode_source(raw, "<stdin>")
            formatted = format_source(text, "<stdin>")
        except FormatError as error:
            err(render_all(error.diagnostics, {"<stdin>": _quoted(raw)}))
            return 1
        except FormatBug as error:
            err(f"error: {error} (a bug in mtus fmt; please report it)")
            return 1
        if show_diff:
            out(diff("<stdin>", text, formatted))
        elif not check:
            out(formatted)
        return 1 if (check or show_diff) and formatted != text else 0
    files, problems = expand(paths)
    status = 0
    for problem in problems:
        err(f"error[{problem.code}]: {problem.message}")
        status = 1
    changed: list[str] = []
    for file in files:
        name = str(file)
        try:
            raw = file.read_bytes()
        except OSError as error:
            err(f"{name}: error[E000]: cannot read the file: {error.strerror or error}")
            status = 1
            continue
        try:
            text = decode_source(raw, name)
        except FormatError as error:
            err(render_all(error.diagnostics, {name: _quoted(raw)}))
            status = 1
            continue
        try:
            formatted = format_source(text, name)
        except FormatError as error:
            err(render_all(error.diagnostics, {name: _quoted(raw)}))
            err(f"error: {name} has syntax errors; it was left as it is")
            status = 1
            continue
        except FormatBug as error:
            err(f"error: {error} (a bug in mtus fmt; please report it)")
            status = 1
            continue
        if formatted == text:
            continue
        # Said, because a diff cannot show it: the mark is invisible on the line it removes.
        changed.append(f"{name} (its byte order mark is dropped)" if text.startswith(BOM) else name)
        if show_diff:
            out(diff(name, text, formatted))
        if check or show_diff:
            continue
        try:
            file.write_text(formatted, encoding="utf-8")
        except OSError as error:
            err(f"{name}: error: cannot write the file: {error.strerror or error}")
            status = 1
    if check or show_diff:
        for name in changed:
            err(f"would reformat {name}")
        if changed:
            err(f"{len(changed)} of {len(files)} file(s) would be reformatted")
            status = 1
    else:
        for name in changed:
            err(f"reformatted {name}")
    if status == 0 and not changed:
        err(f"{len(files)} file(s) already formatted")
    return status


def _stdin_bytes(stdin: Callable[[], str | bytes]) -> bytes:
    """Standard input as the bytes it held, however the stream decoded them, so they are checked as a file's are."""
    try:
        data = stdin()
    except UnicodeDecodeError as error:  # a strict text stream: read() had all the bytes, and stopped at a bad one
        return bytes(error.object)
    # A text stream under a C or POSIX locale decodes with surrogateescape: each byte that is not UTF-8
    # arrives as a lone surrogate (U+DCFF for 0xff), which encodes back to that byte.
    return data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
