"""`mtus lsp`: a language server for .mtus files (on pygls), over standard input and output.

It publishes the compiler's diagnostics as you type, hovers (a fact's or input's type and
description, a condition's code sets, a rule's citation), goes to a definition in any file
of the program, completes keywords and the program's names, and formats with `mtus fmt`.

The program a file belongs to: every .mtus file under the highest directory above it
that directly holds .mtus files (inside the workspace folder), the open editors' text
taking the place of what is on disk. pygls is an optional extra: `pip install 'mtus-dsl[lsp]'`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import attrs
from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from mtus_dsl import fmt
from mtus_dsl.catalogue import type_text
from mtus_dsl.compiler import PRELUDE_NAME, Compilation, compile_sources, expand, parser, prelude_text
from mtus_dsl.compiler import nodes as n
from mtus_dsl.compiler.syntax import KEYWORDS
from mtus_dsl.diagnostics import Diagnostic, Severity, Span

_WORD = re.compile(r"[a-z_][a-z0-9_]*")


@attrs.frozen
class Symbol:
    """A name the program declares: what it is, where, and what hovering over it shows."""

    name: str
    kind: lsp.CompletionItemKind
    detail: str  # one line: `fact x: boolean`
    doc: str  # Markdown: the description, code sets, citation
    span: Span | None  # None for the prelude's names: they have no file to go to


class MtusServer(LanguageServer):
    """The server: the open documents' programs, compiled on every change."""

    def __init__(self) -> None:
        super().__init__("mtus-lsp", _version())
        self.symbols: dict[str, Symbol] = {}
        self.published: dict[str, set[str]] = {}  # program root -> paths given diagnostics last time

    def program(self, uri: str) -> tuple[Path | None, dict[str, str]]:
        """The root and the sources of the program the document at `uri` belongs to (open editors win)."""
        path = _path(uri)
        if path is None:
            return None, {uri: self.workspace.get_text_document(uri).source}
        root = _program_root(path, self._workspace_root())
        files, _ = expand([root])
        sources: dict[str, str] = {}
        for file in files:
            opened = self.workspace.text_documents.get(from_fs_path(str(file)) or "")
            if opened is not None:
                sources[str(file)] = opened.source
                continue
            try:
                sources[str(file)] = file.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError):
                continue  # the compiler reports the files it reads; one it cannot read here is left out
        sources[str(path)] = self.workspace.get_text_document(uri).source
        return root, sources

    def _workspace_root(self) -> Path | None:
        root = self.workspace.root_path
        return Path(root) if root else None

    def check(self, uri: str, *, saved: bool) -> None:
        """Compile the document's program; publish each of its files' diagnostics; index its names.

        Only a saved (or just opened) text goes into the compilation cache: not every keystroke's.
        """
        root, sources = self.program(uri)
        compilation = compile_sources(sources, use_cache=saved)
        self.symbols = index(sources, compilation)
        by_path: dict[str, list[lsp.Diagnostic]] = {path: [] for path in sources}
        for diagnostic in compilation.diagnostics:
            where = diagnostic.span.path if diagnostic.span is not None else _path_key(uri, sources)
            if where in by_path:
                by_path[where].append(to_lsp(diagnostic))
        key = str(root)
        for stale in self.published.get(key, set()) - set(by_path):
            self._publish(stale, [])
        for path, found in by_path.items():
            self._publish(path, found)
        self.published[key] = set(by_path)

    def _publish(self, path: str, found: list[lsp.Diagnostic]) -> None:
        uri = path if "://" in path else from_fs_path(path)
        if uri is not None:
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=found))


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


def to_lsp(diagnostic: Diagnostic) -> lsp.Diagnostic:
    """The compiler's diagnostic as LSP's: 0-based range, severity, code, the notes after the message."""
    span = diagnostic.span or Span("", 1, 1, 1, 1)
    start = lsp.Position(line=span.line - 1, character=span.column - 1)
    end_column = span.end_column if (span.end_line, span.end_column) > (span.line, span.column) else span.column + 1
    end = lsp.Position(line=span.end_line - 1, character=end_column - 1)
    message = "\n".join([diagnostic.message, *(f"note: {note}" for note in diagnostic.notes)])
    severity = lsp.DiagnosticSeverity.Error if diagnostic.severity is Severity.ERROR else lsp.DiagnosticSeverity.Warning
    return lsp.Diagnostic(range=lsp.Range(start=start, end=end), message=message, severity=severity,
                          code=diagnostic.code, source="mtus")


# --- the program's names -------------------------------------------------------------------------


def index(sources: dict[str, str], compilation: Compilation) -> dict[str, Symbol]:
    """Every name the program's files (and the prelude) declare, with its hover text."""
    citations = {}
    if compilation.program is not None:
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


def word_at(text: str, position: lsp.Position) -> str | None:
    """The name under the cursor, if any."""
    lines = text.split("\n")
    if not 0 <= position.line < len(lines):
        return None
    line = lines[position.line]
    for match in _WORD.finditer(line):
        if match.start() <= position.character <= match.end():
            return match.group()
    return None


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

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: MtusServer, params: lsp.HoverParams) -> lsp.Hover | None:
        word = word_at(ls.workspace.get_text_document(params.text_document.uri).source, params.position)
        symbol = ls.symbols.get(word or "")
        if symbol is None:
            return None
        text = f"```mtus\n{symbol.detail}\n```" + (f"\n\n{symbol.doc}" if symbol.doc else "")
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: MtusServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        word = word_at(ls.workspace.get_text_document(params.text_document.uri).source, params.position)
        symbol = ls.symbols.get(word or "")
        if symbol is None or symbol.span is None:
            return None
        span = symbol.span
        uri = span.path if "://" in span.path else from_fs_path(span.path)
        if uri is None:
            return None
        start = lsp.Position(line=span.line - 1, character=span.column - 1)
        return lsp.Location(uri=uri, range=lsp.Range(start=start, end=start))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[" "]))
    def completion(ls: MtusServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        items = [lsp.CompletionItem(label=word, kind=lsp.CompletionItemKind.Keyword) for word in KEYWORDS]
        items += [lsp.CompletionItem(label=s.name, kind=s.kind, detail=s.detail, documentation=s.doc or None)
                  for s in ls.symbols.values()]
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: MtusServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        document = ls.workspace.get_text_document(params.text_document.uri)
        try:
            formatted = fmt.format_source(document.source, params.text_document.uri)
        except (fmt.FormatError, fmt.FormatBug):
            return None  # the diagnostics already say what is wrong
        if formatted == document.source:
            return []
        lines = document.source.split("\n")
        end = lsp.Position(line=len(lines), character=0)
        return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=0, character=0), end=end), new_text=formatted)]

    return server


def main() -> None:
    """Serve over standard input and output until the client says exit."""
    build().start_io()
