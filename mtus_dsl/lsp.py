"""`mtus lsp`: a language server for .mtus files (on pygls), over standard input and output.

It publishes the compiler's diagnostics as you type, hovers (a fact's or input's type and
description, a condition's code sets, a rule's citation), goes to a definition in any file
of the program, completes keywords and the program's names, and formats with `mtus fmt`.

The program a file belongs to: every .mtus file under the highest directory above it
that directly holds .mtus files (inside the workspace folder), the open editors' text
taking the place of what is on disk. pygls is an optional extra: `pip install 'mtus-dsl[lsp]'`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import attrs
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcServerNotInitialized
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import from_fs_path, to_fs_path

from mtus_dsl import fmt
from mtus_dsl.catalogue import type_text
from mtus_dsl.compiler import (
    PRELUDE_NAME,
    Compilation,
    compile_sources,
    expand,
    line_ends,
    parser,
    prelude_text,
    read_source,
)
from mtus_dsl.compiler import nodes as n
from mtus_dsl.compiler.syntax import KEYWORDS
from mtus_dsl.diagnostics import Diagnostic, Severity, Span

_WORD = re.compile(r"[a-z_][a-z0-9_]*")
_BOM = "\ufeff"
_LOG = logging.getLogger(__name__)


@attrs.frozen
class Symbol:
    """A name the program declares: what it is, where, and what hovering over it shows."""

    name: str
    kind: lsp.CompletionItemKind
    detail: str  # one line: `fact x: boolean`
    doc: str  # Markdown: the description, code sets, citation
    span: Span | None  # None for the prelude's names: they have no file to go to


class MtusProtocol(LanguageServerProtocol):
    """pygls's protocol, with the answers LSP requires where pygls gives none (or the wrong one).

    A request before `initialize` is answered ServerNotInitialized (pygls raised a traceback), one after
    `shutdown` InvalidRequest (pygls never answered it: the client waited for ever), and one whose
    parameters do not fit the method's types (a negative line) InvalidParams (pygls never answered it
    either). A notification in any of those cases is dropped, except `exit`.
    """

    initializing = False

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if "id" in data and "method" in data:
                self._send_response(data["id"], None, JsonRpcInvalidParams.of(error.__cause__ or error)
                                    .to_response_error())
            return _DROPPED

    def handle_message(self, message: Any) -> None:
        if message is _DROPPED:
            return
        method = getattr(message, "method", None)
        if method is not None and method != lsp.EXIT:
            error: JsonRpcException | None = None
            if method == lsp.INITIALIZE:
                self.initializing = True
            elif not self.initializing:
                error = JsonRpcServerNotInitialized("the server has not been initialized: send initialize first")
            elif self._shutdown:
                error = JsonRpcInvalidRequest("the server has been shut down: only exit is accepted now")
            if error is not None:
                if getattr(message, "id", None) is not None:
                    self._send_response(message.id, None, error.to_response_error())
                return
        super().handle_message(message)

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: lsp.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        """Apply the changes as LSP defines them (pygls misplaced some), then call the server's handler.

        A position past the end of a line is that line's end, a line past the last the end of the text;
        a line ends at \\n, \\r\\n or a lone \\r, as LSP and the compiler say.
        A change to a document that is not open is ignored.
        """
        uri = params.text_document.uri
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            return
        encoding = str(self.workspace.position_encoding or lsp.PositionEncodingKind.Utf16)
        text = document.source
        for change in params.content_changes:
            text = apply_change(text, change, encoding)
        self.workspace.put_text_document(lsp.TextDocumentItem(
            uri=document.uri, language_id=document.language_id or "mtus",
            version=params.text_document.version, text=text))
        handler = self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CHANGE)
        if handler is not None:
            yield handler, (params,), None


_DROPPED = object()


class MtusServer(LanguageServer):
    """The server: the open documents' programs, compiled on every change."""

    def __init__(self) -> None:
        super().__init__("mtus-lsp", _version(), protocol_cls=MtusProtocol)
        self.symbols: dict[str, dict[str, Symbol]] = {}  # program -> the names it declares
        self.program_of: dict[str, str] = {}  # document uri -> the program it was last compiled in
        self.published: dict[str, set[str]] = {}  # program -> uris given diagnostics last time
        self.lines: dict[str, list[str]] = {}  # a file of a program, as compiled -> its lines as the editor has them
        self.uri_of: dict[str, str] = {}  # a file of a program, as compiled -> its uri

    @property
    def encoding(self) -> str:
        """The position encoding agreed with the client (UTF-16 unless it offered another)."""
        return str(self.workspace.position_encoding or lsp.PositionEncodingKind.Utf16)

    def text(self, uri: str, as_sent: bool = False) -> str | None:
        """The text of the open document at `uri` (`as_sent`: with the client's line ends); None if it is not open."""
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            return None
        # Lines end with \n here: LSP positions count \r\n and a lone \r as one line end, as the compiler does.
        return document.source if as_sent else line_ends(document.source)

    def program(self, uri: str, text: str) -> tuple[str, dict[str, str], dict[str, str], list[Diagnostic]]:
        """The program the document at `uri` belongs to: its key, its files' texts (open editors win),
        each file's uri, and what stops `mtus check` on it (a file that is not UTF-8 or cannot be read)."""
        path = _path(uri)
        if path is None:
            return uri, {uri: text}, {uri: uri}, []
        root = _program_root(path, self._workspace_root())
        files, problems = expand([root])
        opened = {str(_path(document.uri)): document for document in self.workspace.text_documents.values()}
        sources: dict[str, str] = {}
        uris: dict[str, str] = {}
        for file in files:
            name = str(file)
            document = opened.get(name)
            uris[name] = document.uri if document is not None else from_fs_path(name) or name
            if document is not None:
                sources[name] = line_ends(document.source)
                continue
            text_on_disk = read_source(file, name)
            if isinstance(text_on_disk, Diagnostic):
                problems.append(text_on_disk)
            else:
                sources[name] = text_on_disk
        sources[str(path)] = text
        uris[str(path)] = uri
        return str(root), sources, uris, problems

    def _workspace_root(self) -> Path | None:
        root = self.workspace.root_path
        return Path(root) if root else None

    def check(self, uri: str, *, saved: bool) -> None:
        """Compile the document's program; publish each of its files' diagnostics; index its names.

        The diagnostics are `mtus check`'s: a file it cannot read (not UTF-8) is E000 and nothing is
        compiled; a byte order mark is dropped. Only a saved (or just opened) text goes into the
        compilation cache: not every keystroke's.
        """
        text = self.text(uri)
        if text is None:
            return
        key, sources, uris, problems = self.program(uri, text)
        compiled = {name: source.removeprefix(_BOM) for name, source in sources.items()}
        compilation = None if problems else compile_sources(compiled, use_cache=saved)
        diagnostics = problems if compilation is None else list(compilation.diagnostics)
        self.symbols[key] = index(compiled, compilation)
        for name, source in sources.items():
            self.lines[name] = source.split("\n")
        self.uri_of.update(uris)
        by_uri: dict[str, list[lsp.Diagnostic]] = {file_uri: [] for file_uri in uris.values()}
        for diagnostic in diagnostics:
            name = diagnostic.span.path if diagnostic.span is not None else _path_key(uri, sources)
            if name in uris:
                by_uri[uris[name]].append(to_lsp(diagnostic, self.lines.get(name), self.encoding))
        for stale in self.published.get(key, set()) - set(by_uri):
            self._publish(stale, [])
        for file_uri, found in by_uri.items():
            self._publish(file_uri, found)
            self.program_of[file_uri] = key
        self.published[key] = set(by_uri)

    def closed(self, uri: str) -> None:
        """A document was closed: its program is compiled again from what is on disk and still open;
        with none of its files open any more, its diagnostics are withdrawn."""
        key = self.program_of.get(uri)
        if key is None:
            return
        still_open = [other for other, program in self.program_of.items()
                      if program == key and self.text(other) is not None]
        if still_open:
            self.check(still_open[0], saved=True)
            return
        for stale in self.published.pop(key, set()):
            self._publish(stale, [])
        self.symbols.pop(key, None)
        self.program_of = {other: program for other, program in self.program_of.items() if program != key}

    def _publish(self, uri: str, found: list[lsp.Diagnostic]) -> None:
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=found))

    def position(self, span: Span, *, end: bool = False) -> lsp.Position:
        """Where the compiler's span starts (or ends) in the client's units, in its file as the editor has it."""
        return _client_position(self.lines.get(span.path), span.end_line if end else span.line,
                                span.end_column if end else span.column, self.encoding)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mtus-dsl")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        return "0"


def _path(uri: str) -> Path | None:
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path).resolve() if path else None


def _path_key(uri: str, sources: dict[str, str]) -> str:
    path = _path(uri)
    return str(path) if path is not None and str(path) in sources else uri


def _program_root(path: Path, workspace: Path | None) -> Path:
    """The highest directory above `path` holding .mtus files itself, at each step up (within the workspace)."""
    root = path.parent
    while root.parent != root and any(root.parent.glob("*.mtus")):
        if workspace is not None and not root.parent.is_relative_to(workspace):
            break
        root = root.parent
    return root


# --- positions: the compiler counts code points from 1 after a BOM; LSP the client's units from 0 ----


def _units(text: str, encoding: str) -> int:
    """How many of the encoding's code units `text` takes (UTF-16 unless the client chose another)."""
    if encoding == lsp.PositionEncodingKind.Utf32:
        return len(text)
    if encoding == lsp.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _index(line: str, units: int, encoding: str) -> int:
    """The index into `line` of the position `units` code units into it; past its end, its end
    (before a \\r that ends it); inside a character (half a surrogate pair), before it."""
    end = len(line) - 1 if line.endswith("\r") else len(line)
    if encoding == lsp.PositionEncodingKind.Utf32 or line.isascii():
        return min(units, end)
    count = 0
    for at, char in enumerate(line[:end]):
        count += _units(char, encoding)
        if count > units:
            return at
    return end


def _offset(text: str, position: lsp.Position, encoding: str) -> int:
    """The index into `text` of an LSP position (a line past the last is the end of the text)."""
    start = 0
    ends = _LINE_END.finditer(text)
    for _ in range(position.line):
        end = next(ends, None)
        if end is None:
            return len(text)
        start = end.end()
    end = next(ends, None)
    line = text[start:] if end is None else text[start:end.start()]
    return start + _index(line, position.character, encoding)


#: A line end, as LSP (and the compiler, compiler.line_ends) counts them.
_LINE_END = re.compile(r"\r\n|\r|\n")


def apply_change(text: str, change: lsp.TextDocumentContentChangeEvent, encoding: str) -> str:
    """`text` with one didChange content change made: a range replaced, or the whole text."""
    if not isinstance(change, lsp.TextDocumentContentChangePartial):
        return change.text
    start = _offset(text, change.range.start, encoding)
    end = max(start, _offset(text, change.range.end, encoding))
    return text[:start] + change.text + text[end:]


def _client_position(lines: list[str] | None, line: int, column: int, encoding: str) -> lsp.Position:
    """The LSP position of the compiler's 1-based line and column (code points, not counting a BOM)."""
    if lines is None or not 1 <= line <= len(lines):
        return lsp.Position(line=max(line - 1, 0), character=max(column - 1, 0))
    text = lines[line - 1]
    index = column - 1 + (1 if line == 1 and text.startswith(_BOM) else 0)
    return lsp.Position(line=line - 1, character=_units(text[:max(index, 0)], encoding))


def to_lsp(diagnostic: Diagnostic, lines: list[str] | None = None,
           encoding: str = lsp.PositionEncodingKind.Utf16) -> lsp.Diagnostic:
    """The compiler's diagnostic as LSP's: its range in the client's units in `lines` (its file as the
    editor has it), severity, code, the notes after the message."""
    span = diagnostic.span or Span("", 1, 1, 1, 1)
    end_line, end_column = span.end_line, span.end_column
    if (end_line, end_column) <= (span.line, span.column):
        end_line, end_column = span.line, span.column + 1
    start = _client_position(lines, span.line, span.column, encoding)
    end = _client_position(lines, end_line, end_column, encoding)
    message = "\n".join([diagnostic.message, *(f"note: {note}" for note in diagnostic.notes)])
    severity = lsp.DiagnosticSeverity.Error if diagnostic.severity is Severity.ERROR else lsp.DiagnosticSeverity.Warning
    return lsp.Diagnostic(range=lsp.Range(start=start, end=end), message=message, severity=severity,
                          code=diagnostic.code, source="mtus")


# --- the program's names -------------------------------------------------------------------------


def index(sources: dict[str, str], compilation: Compilation | None) -> dict[str, Symbol]:
    """Every name the program's files (and the prelude) declare, with its hover text."""
    citations = {}
    if compilation is not None and compilation.program is not None:
        citations = {rule.name: str(rule.citation) for rule in compilation.program.rules}
    symbols: dict[str, Symbol] = {}
    for path, text in {PRELUDE_NAME: prelude_text(), **sources}.items():
        module, _ = parser.parse_module(text, path)
        if module is None:
            continue
        for symbol in _declared(module, citations):
            if path == PRELUDE_NAME:
                symbol = attrs.evolve(symbol, span=None)
            symbols.setdefault(symbol.name, symbol)
    return symbols


def _declared(module: n.Module, citations: dict[str, str]) -> Iterable[Symbol]:
    kinds = lsp.CompletionItemKind
    guidelines = {item.name: item for item in module.items if isinstance(item, n.Guideline)}
    for item in module.items:
        match item:
            case n.InputDecl():
                yield Symbol(item.name, kinds.Variable, f"input {item.name}: {type_text(item.type)}",
                             item.doc or "", item.span)
            case n.FactDecl():
                yield Symbol(item.name, kinds.Variable, f"fact {item.name}: {type_text(item.type)}",
                             item.doc or "", item.span)
            case n.ConditionDecl():
                codes = [f"- ICD-9-CM: {', '.join(item.icd9)}" if item.icd9 else "",
                         f"- ICD-10-CM: {', '.join(item.icd10)}" if item.icd10 else ""]
                yield Symbol(item.name, kinds.Constant, f'condition {item.name} "{item.label}"',
                             "\n".join([item.label, "", *[c for c in codes if c]]), item.span)
            case n.EnumDecl():
                members = ", ".join(name for name, _ in item.members)
                yield Symbol(item.name, kinds.Enum, f"enum {item.name}", f"one of: {members}", item.span)
                for name, span in item.members:
                    yield Symbol(name, kinds.EnumMember, f"{name}: a value of {item.name}", "", span)
            case n.RecordDecl():
                fields = "\n".join(f"- {f.name}: {type_text(f.type)}" for f in item.fields)
                yield Symbol(item.name, kinds.Struct, f"record {item.name}", fields, item.span)
            case n.TableDecl():
                keys = ", ".join(f"{f.name}: {type_text(f.type)}" for f in item.keys)
                values = ", ".join(f"{f.name}: {type_text(f.type)}" for f in item.values)
                yield Symbol(item.name, kinds.Struct, f"table {item.name}",
                             f"key {keys}\n\nvalue {values}\n\n{len(item.rows)} row(s)", item.span)
            case n.Guideline():
                yield Symbol(item.name, kinds.Module, f'guideline {item.name} "{item.title}" edition "{item.edition}"',
                             item.regulation or "", item.span)
            case n.Section():
                pages = _pages(item.pages)
                yield Symbol(item.name, kinds.Module, f'section {item.name} "{item.title}"',
                             f"{item.title}{', ' + pages if pages else ''}", item.span)
                guideline = guidelines.get(item.guideline or "")
                for rule in item.rules:
                    where = citations.get(rule.name)
                    if where is None:
                        where = ", ".join(part for part in (
                            guideline.title if guideline else item.guideline or "", item.title,
                            _pages(rule.pages or item.pages), rule.subsection or "") if part)
                    yield Symbol(rule.name, kinds.Function, f"{rule.kind} {rule.name} (section {item.name})",
                                 f"Cited as: {where}", rule.span)
            case n.Property():
                yield Symbol(item.name, kinds.Event, f"property {item.name}", item.description, item.span)
            case _:
                continue  # examples, and declarations added to the language later, declare no name here




def _pages(pages: n.Pages | None) -> str:
    if pages is None:
        return ""
    ranges = [str(low) if low == high else f"{low}-{high}" for low, high in pages.ranges]
    plural = len(ranges) > 1 or "-" in ranges[0]
    return ("pp. " if plural else "p. ") + ", ".join(ranges)


def word_at(text: str, position: lsp.Position, encoding: str = lsp.PositionEncodingKind.Utf16) -> str | None:
    """The name under the cursor (its position in the client's units), if any: none in a string or a comment."""
    lines = text.split("\n")
    if not 0 <= position.line < len(lines):
        return None
    line = lines[position.line]
    if position.line == 0:
        line = line.removeprefix(_BOM)
    cursor = _index(lines[position.line], position.character, encoding) - (len(lines[position.line]) - len(line))
    code = _code_only(line)
    for match in _WORD.finditer(code):
        if match.start() <= cursor <= match.end():
            return match.group()
    return None


def _code_only(line: str) -> str:
    """The line with its strings' insides and its comment blanked out (as many characters)."""
    out: list[str] = []
    quoted = escaped = False
    for at, char in enumerate(line):
        if quoted:
            out.append(char if char == '"' and not escaped else " ")
            quoted = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == "#":
            return "".join(out) + " " * (len(line) - at)
        else:
            out.append(char)
            quoted = char == '"'
    return "".join(out)


# --- the server's features -----------------------------------------------------------------------


def build() -> MtusServer:
    """A server with every feature registered."""
    server = MtusServer()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: MtusServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.check(params.text_document.uri, saved=True)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: MtusServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.check(params.text_document.uri, saved=False)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: MtusServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls.check(params.text_document.uri, saved=True)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: MtusServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.closed(params.text_document.uri)

    def symbol_at(ls: MtusServer, uri: str, position: lsp.Position) -> Symbol | None:
        text = ls.text(uri)
        if text is None:  # not open: nothing of it was compiled
            return None
        word = word_at(text, position, ls.encoding)
        return ls.symbols.get(ls.program_of.get(uri, ""), {}).get(word or "")

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: MtusServer, params: lsp.HoverParams) -> lsp.Hover | None:
        symbol = symbol_at(ls, params.text_document.uri, params.position)
        if symbol is None:
            return None
        text = f"```mtus\n{symbol.detail}\n```" + (f"\n\n{symbol.doc}" if symbol.doc else "")
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: MtusServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        symbol = symbol_at(ls, params.text_document.uri, params.position)
        if symbol is None or symbol.span is None:
            return None
        span = symbol.span
        uri = ls.uri_of.get(span.path)
        if uri is None:
            return None
        start = ls.position(span)
        return lsp.Location(uri=uri, range=lsp.Range(start=start, end=start))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[" "]))
    def completion(ls: MtusServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        items = [lsp.CompletionItem(label=word, kind=lsp.CompletionItemKind.Keyword) for word in KEYWORDS]
        symbols = ls.symbols.get(ls.program_of.get(params.text_document.uri, ""), {})
        items += [lsp.CompletionItem(label=s.name, kind=s.kind, detail=s.detail, documentation=s.doc or None)
                  for s in symbols.values()]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: MtusServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        source = ls.text(params.text_document.uri)
        if source is None:
            return None
        try:
            formatted = fmt.format_source(source, params.text_document.uri)
        except (fmt.FormatError, fmt.FormatBug):
            return None  # the diagnostics already say what is wrong
        if formatted == ls.text(params.text_document.uri, as_sent=True):
            return []  # (a file with \r\n line ends is reformatted, as mtus fmt reformats it)
        lines = source.split("\n")
        end = lsp.Position(line=len(lines) - 1, character=_units(lines[-1], ls.encoding))
        return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=0, character=0), end=end), new_text=formatted)]

    return server


def main() -> None:
    """Serve over standard input and output until the client says exit."""
    build().start_io()
