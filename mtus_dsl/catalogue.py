"""Render a Markdown catalogue of a compiled corpus: guidelines, sections, rules in plain words, notes.

The catalogue is for people who check the encoding against the guideline text
page by page. It reads the compiled program (citations, rule kinds) and the
parsed source files (the order things were written in, their exact
expressions and the `#` comments next to them, which carry the status notes:
"verified", "quoted", "recalled").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar, cast

import attrs

from mtus_dsl.compiler import PRELUDE_NAME, Compilation, ir, parser
from mtus_dsl.compiler import nodes as n
from mtus_dsl.compiler.check_rules import DATED_UNITS
from mtus_dsl.diagnostics import Span

_T = TypeVar("_T")

COMMAND = "mtus catalogue guidelines/ -o docs/guidelines.md"

# Where the facts the corpus encodes are listed with their status and source,
# relative to the catalogue (docs/guidelines.md). A `# source: ID (STATUS)`
# comment next to a declaration names one of them.
SOURCES = "sources.md"
_SOURCE_TAG = re.compile(r"^#\s*source:\s*([a-z0-9][a-z0-9-]*)\s*\(([^()]+)\)\s*$")

_OUTCOME_WORDS = {
    "certify": "certify",
    "modify": "modify",
    "non_certify": "non-certify",
    "not_addressed": "not addressed",
    "needs_information": "needs information",
}


@attrs.frozen
class _File:
    """One parsed source file, with its lines for reading comments."""

    # Its name in the compilation, which every command shows (a path given relative as given, one given
    # absolute from its guideline root: compiler.source_name): never the current directory's.
    path: str
    module: n.Module
    lines: tuple[str, ...]


def render(compilation: Compilation) -> str:
    """Return the Markdown catalogue of a compilation that produced a program."""
    program = compilation.program
    if program is None:
        raise ValueError("the guidelines have errors; there is no program to catalogue")
    files = _files(compilation)
    return _Catalogue(program, files).render()


def _files(compilation: Compilation) -> list[_File]:
    """The compilation's files with their AST: the parsed modules it kept (parsed again if it came from a cache)."""
    sources = compilation.sources
    paths = [p for p in sources if p != PRELUDE_NAME]
    parsed = {m.path: m for m in compilation.modules}
    files = []
    for path in paths:
        module = parsed.get(path) or parser.parse_module(sources[path], path)[0]
        if module is not None:
            files.append(_File(path, module, tuple(sources[path].split("\n"))))
    return files


class _Catalogue:
    """Collects the parts of the corpus in the order they were written and renders them."""

    def __init__(self, program: ir.Program, files: list[_File]):
        self.program = program
        self.files = files
        self.rules = {r.name: r for r in program.rules}
        self.out: list[str] = []
        # Which rules give way to which: `b overrides a` (or b's section or guideline overrides a's,
        # or a is written `otherwise` below b) means a gives way to b. The checker folded each into
        # a's exceptions; an exception written by hand (`unless b`) is shown as written instead.
        written = {clause.id for file in files for section in self._items(file, n.Section)
                   for rule in section.rules for clause in rule.unless if isinstance(clause, n.Name)}
        self.gives_way: dict[str, list[str]] = {}
        for info in program.rules:
            for clause in info.unless:
                if isinstance(clause, ir.Applies) and clause.rule not in written:
                    self.gives_way.setdefault(info.name, []).append(clause.rule)

    @staticmethod
    def _items(file: _File, kind: type[_T]) -> list[_T]:
        return [item for item in file.module.items if isinstance(item, kind)]

    def line(self, text: str = "") -> None:
        """Append one line of Markdown."""
        self.out.append(text)

    # --- the document ------------------------------------------------------------
    def render(self) -> str:
        """Return the whole catalogue."""
        program = self.program
        written = [(f, s) for f in self.files for s in self._items(f, n.Section)]
        # Page order within a guideline, as a reviewer reads the PDF; sections
        # without pages (regulations cited by subsection) keep their file order.
        sections = sorted(written, key=lambda fs: fs[1].pages.ranges[0][0] if fs[1].pages else 0)
        rules = sum(len(s.rules) for _f, s in sections)
        # The header is the files' own: their guideline declarations, and the sources note only
        # when their comments cite sources.
        titles = [_edition(g) for g in program.guidelines]
        self.line(f"# Catalogue: {titles[0]}" if len(titles) == 1 else "# Guideline catalogue")
        self.line()
        self.line(f"Generated from {len(self.files)} `.mtus` file(s) by `mtus catalogue`; do not edit it by hand.")
        self.line()
        self.line(
            f"{_count(len(program.guidelines), 'guideline edition')}, {_count(len(sections), 'section')}, "
            f"{_count(rules, 'rule')}, {_count(len(program.examples), 'example')}."
        )
        self.line()
        cites_sources = any(source_tags(line.strip() for line in file.lines) for file in self.files)
        self.line(
            (f"Every fact a rule encodes is listed in [{SOURCES}]({SOURCES}) with its source and status: "
             '"verified" (seen in the regulation, the statute or an official page), "quoted" (as IMR '
             'reviewers, courts or practitioners quote it; the primary page not checked), "recalled" (from '
             'general knowledge: check against the PDF), "derived" (computed from other facts), "policy" (a '
             'number or reading no source prints, chosen by the corpus; flagged on the rule). Each rule shows '
             "its sources under **Sources**. " if cites_sources else "")
            + "Rules of one section are alternatives: exactly one governs a request. Caps hold together "
            "with whichever rule governs. A fact the case does not give is unknown, never false: when a "
            "decision depends on it, the answer is needs_information naming it."
        )
        self.line()
        # The parts after the guidelines, each only if the files declare something for it.
        parts = [
            (anchor, title, render)
            for anchor, title, kinds, render in (
                ("tables", "Tables", (n.TableDecl,), self._tables),
                ("conditions", "Conditions and their codes", (n.ConditionDecl,), self._conditions),
                ("case-fields", "Case fields the guidelines add", (n.InputDecl, n.EnumDecl), self._inputs),
                ("derived-facts", "Derived facts", (n.FactDecl,), self._facts),
            )
            if any(isinstance(item, kinds) for file in self.files for item in file.module.items)
        ]
        self.line("## Contents")
        self.line()
        for guideline in program.guidelines:
            self.line(f"- [{_edition(guideline)}](#{_anchor(guideline.name)})")
            for file, section in sections:
                if self._guideline_of(file, section) == guideline.name:
                    self.line(f"  - [{_text(section.title)}](#{_anchor(section.name)})")
        for anchor, title, _render in parts:
            self.line(f"- [{title}](#{anchor})")
        self.line()
        for guideline in program.guidelines:
            self._guideline(guideline, sections)
        for _anchor_name, _title, render in parts:
            render()
        return "\n".join(self.out).rstrip("\n") + "\n"

    def _guideline_of(self, file: _File, section: n.Section) -> str | None:
        if section.guideline is not None:
            return section.guideline
        for rule in section.rules:
            info = self.rules.get(rule.name)
            if info is not None:
                return info.guideline
        return None

    def _guideline(self, guideline: ir.GuidelineInfo, sections: list[tuple[_File, n.Section]]) -> None:
        self.line(f'<a id="{_anchor(guideline.name)}"></a>')
        self.line()
        self.line(f"## {_edition(guideline)}")
        self.line()
        declared = self._declaration(guideline.name)
        start = guideline.in_force_from.isoformat() if guideline.in_force_from else "always"
        end = guideline.in_force_to.isoformat() if guideline.in_force_to else "today (no end date)"
        self.line(f"- Name in the corpus: `{guideline.name}`")
        if guideline.regulation:
            self.line(f"- Regulation: {_text(guideline.regulation)}")
        self.line(f"- In force for requests dated: {start} to {end}")
        overrides = declared[1].overrides if declared is not None else ()
        if overrides:
            names = ", ".join(f"`{name}`" for name, _ in overrides)
            self.line(f"- Takes precedence over: {names} (for the requests both address)")
        if declared is not None:
            file, node = declared
            self.line(f"- Declared in: {_code(file.path)} line {node.span.line}")
            header = _header_comment(file.lines)
            self._notes(header + [line for line in _comment_above(file.lines, node.span.line) if line not in header])
        self.line()
        for file, section in sections:
            if self._guideline_of(file, section) == guideline.name:
                self._section(file, section)

    def _declaration(self, name: str) -> tuple[_File, n.Guideline] | None:
        for file in self.files:
            for item in self._items(file, n.Guideline):
                if item.name == name:
                    return file, item
        return None

    # --- sections and rules ------------------------------------------------------
    def _section(self, file: _File, section: n.Section) -> None:
        self.line(f'<a id="{_anchor(section.name)}"></a>')
        self.line()
        pages = f", {_pages_words(section.pages)}" if section.pages else ""
        self.line(f"### {_text(section.title, after=pages[:1] or None)}{pages}")
        self.line()
        services = ", ".join(_words(s) for s, _ in section.services) or "none"
        regions = ", ".join(_words(r) for r, _ in section.regions) or "every body region"
        self.line(f"- Section `{section.name}` in {_code(file.path)} line {section.span.line}")
        self.line(f"- Services: {services}; body regions: {regions}; counted in {section.unit or 'visits'}")
        first_section = self._items(file, n.Section)[0] is section
        notes = _comment_above(file.lines, section.span.line)
        if first_section and not self._items(file, n.Guideline):
            # A file that only adds sections: its opening comment describes them.
            header = _header_comment(file.lines)
            notes = header + [line for line in notes if line not in header]
        for clause in section.when:
            self.line(f"- **Every rule here applies only when:** {_code(_source(file, clause.span))}")
        for clause in section.unless:
            self.line(f"- **Every rule here is excepted when:** {_code(_source(file, clause.span))}")
        if section.overrides:
            names = ", ".join(f"`{name}`" for name, _ in section.overrides)
            self.line(f"- **Takes precedence over:** {names} (for the requests both address)")
        self._notes(notes)
        self.line()
        for rule in section.rules:
            self._rule(file, section, rule)
        self._examples(section)

    def _rule(self, file: _File, section: n.Section, rule: n.Rule) -> None:
        info = self.rules.get(rule.name)
        kind = "cap" if rule.kind == "cap" else "rule"
        self.line(f"#### `{rule.name}` ({kind})")
        self.line()
        unit = _unit_of(rule.action, section.unit)
        self.line(f"- **Decides:** {self._action(rule, unit, file)}")
        for clause in section.when:
            self.line(f"- **Applies when:** {_code(_source(file, clause.span))} (the section's)")
        for clause in rule.when:
            self.line(f"- **Applies when:** {_code(_source(file, clause.span))}")
        for clause in section.unless:
            self.line(f"- **Except when:** {_code(_source(file, clause.span))} (the section's)")
        for clause in rule.unless:
            self.line(f"- **Except when:** {_code(_source(file, clause.span))}")
        if rule.overrides:
            names = ", ".join(f"`{name}`" for name, _ in rule.overrides)
            self.line(f"- **Wins over:** {names} (when both apply, this rule governs)")
        if rule.name in self.gives_way:
            names = ", ".join(f"`{name}`" for name in self.gives_way[rule.name])
            self.line(f"- **Gives way to:** {names}")
        if rule.services:
            self.line(f"- **Services:** {', '.join(_words(s) for s, _ in rule.services)}")
        if rule.regions:
            self.line(f"- **Body regions:** {', '.join(_words(r) for r, _ in rule.regions)}")
        if info is not None:
            self.line(f"- **Cites:** {_text(str(info.citation))}")
        if rule.rationale is not None:
            self.line(f"- **Rationale:** “{_text(_template(rule.rationale), before='“', after='”')}”")
        self.line(f"- **Source:** {_code(file.path)} line {rule.span.line}")
        self._notes(_comment_above(file.lines, rule.span.line) + _comments_inside(file.lines, rule.span.line))
        self.line()

    def _action(self, rule: n.Rule, unit: str, file: _File) -> str:
        action = rule.action
        if isinstance(action, n.Limit):
            amount = _number(file, action.amount)
            if amount == "1":
                unit = unit.removesuffix("s")
            over = f" over {_text(_source(file, action.period.span))}" if action.period is not None else ""
            counted = _counted(file, action.counting)
            dated = any(i.name == DATED_UNITS for i in self.program.schema.inputs)
            if action.period is not None and action.counting is None and dated:
                counted += f" (when the case dates them in `{DATED_UNITS}`, only those within the period)"
            if rule.kind == "cap":
                return (
                    f"a cap of {amount} {unit}{over}, {counted}; it holds together with whichever rule governs "
                    "and can only lower the number approved"
                )
            return f"certifies at most {amount} {unit}{over}, {counted}; more is modified to what remains"
        if isinstance(action, n.Trial):
            first = _number(file, action.initial)
            first_over = f" over {_text(_source(file, action.initial_period.span))}" if action.initial_period else ""
            total = _number(file, action.total)
            total_over = f" over {_text(_source(file, action.total_period.span))}" if action.total_period else ""
            extension = _code(_source(file, action.extension.span))
            counted = _counted(file, action.counting)
            return (
                f"a trial of {first} {unit}{first_over}; once it is given, up to {total} {unit}{total_over} in all, "
                f"only with {extension} (without it, nothing more); {counted}"
            )
        if isinstance(action, n.Certify):
            return f"certifies every {unit[:-1] if unit.endswith('s') else unit} requested (caps still apply)"
        return "non-certifies the request: not medically necessary"

    def _examples(self, section: n.Section) -> None:
        if not section.examples:
            return
        self.line(f"#### Examples ({len(section.examples)})")
        self.line()
        self.line("| example | expected | by rules | missing |")
        self.line("| --- | --- | --- | --- |")
        for example in section.examples:
            expect = example.expect
            if expect is None:
                continue
            outcome = _OUTCOME_WORDS.get(expect.outcome, expect.outcome)
            if expect.approved is not None and expect.outcome in ("certify", "modify", "non_certify"):
                outcome += f" {expect.approved}"
            by = ", ".join(f"`{r}`" for r, _ in expect.by)
            missing = ", ".join(f"`{m}`" for m, _ in expect.missing)
            self.line(f"| {_cell(_text(example.title))} | {outcome} | {by} | {missing} |")
        self.line()

    def _notes(self, notes: Iterable[str]) -> None:
        notes = list(notes)
        tags = source_tags(notes)
        if tags:
            cited = "; ".join(f"[`{ident}`]({SOURCES}#{ident}) ({_text(status)})" for ident, status in tags)
            self.line(f"- **Sources:** {cited}")
            if any(status == "policy" for _ident, status in tags):
                self.line(
                    "- **Policy choice:** a number or reading that no source prints; the corpus chose it "
                    f"(see [{SOURCES}]({SOURCES}))"
                )
        paragraphs = _paragraphs(line for line in notes if not _SOURCE_TAG.match(line))
        if not paragraphs:
            return
        self.line("- **Notes:**")
        for paragraph in paragraphs:
            self.line(f"  > {_note(paragraph)}")
            self.line("  >")
        self.out.pop()

    # --- declarations --------------------------------------------------------------
    def _tables(self) -> None:
        self.line('<a id="tables"></a>')
        self.line()
        self.line("## Tables")
        self.line()
        for file in self.files:
            for table in self._items(file, n.TableDecl):
                self.line(f"### `{table.name}`")
                self.line()
                self.line(f"- Declared in {_code(file.path)} line {table.span.line}")
                self._notes(_comment_above(file.lines, table.span.line))
                self.line()
                columns = [f.name for f in table.keys] + [f.name for f in table.values]
                self.line("| " + " | ".join(columns) + " | notes |")
                self.line("|" + " --- |" * (len(columns) + 1))
                for keys, values, span in table.rows:
                    cells = [_cell(_text(_value(v))) for v in keys + values]
                    comments = _comment_above(file.lines, span.line) + _trailing_comment(file.lines[span.line - 1])
                    note = " ".join(_paragraphs(comments))
                    self.line("| " + " | ".join(cells) + f" | {_cell(_note(note, block=False))} |")
                if table.otherwise is not None:
                    cells = ["any other"] * len(table.keys) + [_cell(_text(_value(v))) for v in table.otherwise]
                    self.line("| " + " | ".join(cells) + " |  |")
                self.line()

    def _conditions(self) -> None:
        self.line('<a id="conditions"></a>')
        self.line()
        self.line("## Conditions and their codes")
        self.line()
        self.line(
            "A trailing `*` matches every code that starts with what precedes it. Each code is shown with "
            "the official title its file gives in a `# CODE = title` comment, for checking against the "
            "ICD-9-CM and ICD-10-CM tabular lists."
        )
        self.line()
        self.line("| condition | meaning | ICD-9-CM | ICD-10-CM | declared in |")
        self.line("| --- | --- | --- | --- | --- |")
        for file in self.files:
            for condition in self._items(file, n.ConditionDecl):
                titles = code_titles(_comments_inside(file.lines, condition.span.line))
                icd9 = "; ".join(_titled(code, titles) for code in condition.icd9) or "-"
                icd10 = "; ".join(_titled(code, titles) for code in condition.icd10) or "-"
                self.line(
                    f"| `{condition.name}` | {_cell(_text(condition.label))} | {icd9} | {icd10} | "
                    f"{_cell(_code(file.path))} line {condition.span.line} |"
                )
        self.line()

    def _inputs(self) -> None:
        self.line('<a id="case-fields"></a>')
        self.line()
        self.line("## Case fields the guidelines add")
        self.line()
        self.line(
            "Optional fields of the case format, besides those of the prelude (docs/case-format.md). "
            "A decision that depends on one the case leaves out is needs_information naming it; "
            "decided on the record, an absent field is read as the last column says."
        )
        self.line()
        self.line("| field | type | meaning | on the record, when absent | declared in |")
        self.line("| --- | --- | --- | --- | --- |")
        for file in self.files:
            for item in self._items(file, n.InputDecl):
                meaning = _text(item.doc or "")
                for bound in item.at_most:
                    meaning += f" (never more than `{bound.other}`)"
                self.line(
                    f"| `{item.name}` | {type_text(item.type)} | {_cell(meaning)} | {_reading(item)} | "
                    f"{_cell(_code(file.path))} line {item.span.line} |"
                )
        for file in self.files:
            for enum in self._items(file, n.EnumDecl):
                members = ", ".join(f"`{m}`" for m, _ in enum.members)
                self.line()
                self.line(f"`{enum.name}` is one of: {members}.")
        self.line()

    def _facts(self) -> None:
        self.line('<a id="derived-facts"></a>')
        self.line()
        self.line("## Derived facts")
        self.line()
        self.line("Facts the guidelines compute from the case; rules test them by name.")
        self.line()
        for file in self.files:
            for fact in self._items(file, n.FactDecl):
                self.line(f"### `{fact.name}`")
                self.line()
                doc = fact.doc.lstrip() if fact.doc else ""
                if doc:
                    self.line(_text(doc[0].upper() + doc[1:], after=".", block=True) + ".")
                    self.line()
                self.line(f"- Type: {type_text(fact.type)}")
                self.line(f"- Definition: {_code(_source(file, fact.expr.span))}")
                self.line(f"- Declared in {_code(file.path)} line {fact.span.line}")
                self._notes(_comment_above(file.lines, fact.span.line))
                self.line()


# --- helpers -----------------------------------------------------------------------


def source_tags(comments: Iterable[str]) -> list[tuple[str, str]]:
    """The `# source: ID (STATUS)` comments among `comments`: each fact's id and status, in order."""
    tags = []
    for comment in comments:
        match = _SOURCE_TAG.match(comment.strip())
        if match:
            tags.append((match.group(1), match.group(2).strip()))
    return tags


def code_titles(comments: Iterable[str]) -> dict[str, str]:
    """The `# CODE = title` comments of a condition block: each code pattern with its official title."""
    titles = {}
    for comment in comments:
        code, sep, title = comment.lstrip("#").partition(" = ")
        if sep and code.strip() and " " not in code.strip():
            titles[code.strip()] = title.strip()
    return titles


def _titled(code: str, titles: Mapping[str, str]) -> str:
    title = titles.get(code)
    shown = _cell(_text(code, after=" "))
    return f"{shown} ({_cell(_text(title, before='(', after=')'))})" if title else f"{shown} (no title given)"


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


def _anchor(name: str) -> str:
    return name.replace("_", "-")


def _words(name: str) -> str:
    return name.replace("_", " ")


def _cell(markdown: str) -> str:
    """Markdown (already escaped) as a table cell: every `|` escaped, in code spans too, as GFM tables need."""
    return markdown.replace("|", "\\|")


def _edition(guideline: ir.GuidelineInfo) -> str:
    return f"{_text(guideline.title)} ({_text(guideline.edition, before='(', after=')')})"


# CommonMark escaping of text from the files, so that it renders as the text it is. Only what could
# mean something is escaped: `_` inside a word never opens emphasis and stays bare, `*` and `~` (GFM
# strikethrough) only where they could open it; backslashes only before punctuation; `&` only where
# it would start an entity; a line's first character only where it would start a block.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]*);")
_BLOCK_START = re.compile(r"[#>]|[-+*](?:[ \t]|$)|~~~|([-*_])(?:[ \t]*\1){2,}[ \t]*$|[0-9]{1,9}(?=[.)](?:[ \t]|$))")
_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _space(char: str | None) -> bool:
    return char is not None and (char.isspace() or unicodedata.category(char) == "Zs")


def _punctuation(char: str | None) -> bool:
    return char is not None and unicodedata.category(char)[0] in "PS"


def _may_open(char: str, before: str | None, after: str | None) -> bool:
    """Whether a run of `char` (`*`, `_`, `~`) between `before` and `after` could open emphasis.

    None is a neighbour that is not known (the run ends the text): whatever could stand there is assumed.
    A run that can only close is harmless: every opener in the text is escaped, and the catalogue's own
    (`**Rationale:**`) are closed before any text from a file.
    """
    left = after is None or (not _space(after) and (not _punctuation(after) or before is None or _space(before)
                                                    or _punctuation(before)))
    if not left or char != "_":
        return left
    right = before is None or (not _space(before) and (not _punctuation(before) or after is None or _space(after)
                                                       or _punctuation(after)))
    return not right or before is None or _punctuation(before)


def _text(text: str, *, before: str | None = None, after: str | None = None, block: bool = False) -> str:
    """Text from a file as Markdown that renders as that text, between `before` and `after` (None: unknown).

    A line break (or any control character) is a space: the catalogue's text sits on one line. With
    `block`, the text starts a paragraph: leading spaces are dropped and a first character that would
    make it a heading, quote, list, rule or code fence is escaped.
    """
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    forced: set[int] = set()
    if block:
        text = text.lstrip()
        start = _BLOCK_START.match(text)
        if start:
            forced.add(start.end() if text[0].isdigit() else 0)
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        prev = text[index - 1] if index else before
        if char in "*_~":
            end = index
            while end < len(text) and text[end] == char:
                end += 1
            nxt = text[end] if end < len(text) else after
            escape = _may_open(char, prev, nxt) or bool(forced & set(range(index, end)))
            out.append(("\\" + char if escape else char) * (end - index))
            index = end
            continue
        nxt = text[index + 1] if index + 1 < len(text) else after
        if char == "#":
            # A heading's closing sequence: `#`s at its end after a space.
            end = index
            while end < len(text) and text[end] == "#":
                end += 1
            escape = index in forced or (end == len(text) and (prev is None or _space(prev)))
        elif char == "\\":
            escape = nxt is None or nxt in _ASCII_PUNCTUATION
        elif char == "&":
            # An entity reference (`&amp;`), or the start of one the text after it could finish.
            at_end = index + 1 == len(text) and (nxt is None or nxt == "#" or nxt.isalnum())
            escape = at_end or _ENTITY.match(text, index) is not None
        else:
            escape = char in "`[]<" or index in forced
        out.append("\\" + char if escape else char)
        index += 1
    return "".join(out)


def _code(text: str) -> str:
    """Text as a code span: a fence longer than any run of backticks in it, padded where it needs to be."""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = text[:1] == "`" or text[-1:] == "`" or (text[:1] == " " == text[-1:] and text.strip() != "")
    if not text:
        return "` `"
    return f"{fence} {text} {fence}" if pad else f"{fence}{text}{fence}"


def _note(paragraph: str, *, block: bool = True) -> str:
    """A comment paragraph as Markdown: its `code` spans kept as code (the corpus writes names so), the rest text.

    A code span is as CommonMark reads one: a run of backticks up to the next run of the same length; a run
    with none after it is text (escaped).
    """
    runs = list(re.finditer(r"`+", paragraph))
    out: list[str] = []
    done = 0  # the end of what `out` holds
    i = 0
    while i < len(runs):
        close = next((j for j in range(i + 1, len(runs)) if len(runs[j].group()) == len(runs[i].group())), None)
        if close is None:
            i += 1
            continue
        out.append(_text(paragraph[done:runs[i].start()], before=paragraph[done - 1] if done else None,
                         after="`", block=block and done == 0))
        out.append(paragraph[runs[i].start():runs[close].end()])
        done = runs[close].end()
        i = close + 1
    out.append(_text(paragraph[done:], before=paragraph[done - 1] if done else None, block=block and done == 0))
    return "".join(out)


def _pages_words(pages: n.Pages) -> str:
    text = str(pages)
    return ("pp. " if "-" in text or "," in text else "p. ") + text


def _unit_of(action: n.Action, section_unit: str | None) -> str:
    if isinstance(action, n.Limit):
        return action.unit
    return section_unit or "visits"


def _source(file: _File, span: Span) -> str:
    """The text of a span, on one line (continuation backslashes and line breaks folded)."""
    text = "\n".join(file.lines)[span.start : span.end]
    return " ".join(text.replace("\\\n", " ").split())


def _number(file: _File, expr: n.Expr) -> str:
    text = _source(file, expr.span)
    return text if isinstance(expr, n.IntLit) else _code(text)


def _counted(file: _File, counting: n.Expr | None) -> str:
    if counting is None:
        return "counting the `prior_visits` already given"
    if isinstance(counting, n.IntLit) and counting.value == 0:
        return "counting nothing already given"
    return f"counting the {_code(_source(file, counting.span))} already given"


def _template(template: n.Template) -> str:
    parts = []
    for part in template.parts:
        if isinstance(part, str):
            parts.append(part)
        else:
            parts.append("{" + _expr_words(part) + "}")
    return "".join(parts)


def _expr_words(expr: n.Expr) -> str:
    """A placeholder's expression, as written (placeholders are short: names, fields, a division)."""
    if isinstance(expr, n.Name):
        return expr.id
    if isinstance(expr, n.Attr):
        return f"{_expr_words(expr.obj)}.{expr.name}"
    if isinstance(expr, n.Div):
        return f"{_expr_words(expr.left)} / {_expr_words(expr.right)} rounded {expr.rounding}"
    if isinstance(expr, n.IntLit):
        return str(expr.value)
    return "…"


def _value(value: n.Value) -> str:
    if isinstance(value, n.ScalarValue):
        if value.kind == "none":
            return "none"
        if value.kind == "duration":
            amount, unit = cast(tuple[int, str], value.value)
            return f"{amount} {unit[:-1] if amount == 1 else unit}"
        return str(value.value)
    return "…"


def type_text(ref: n.TypeRef) -> str:
    """A type as the .mtus file writes it: `list of code`, `integer 0..1000`, `date or none`."""
    if ref.name in ("list", "set") and ref.of is not None:
        text = f"{ref.name} of {type_text(ref.of)}"
    elif ref.name == "integer" and ref.low is not None:
        text = f"integer {ref.low}..{ref.high}"
    else:
        text = ref.name
    return f"{text} or none" if ref.optional else text


def _header_comment(lines: Sequence[str]) -> list[str]:
    """The comment block a file opens with."""
    out = []
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        out.append(stripped)
    return out


def _comment_above(lines: Sequence[str], line_number: int) -> list[str]:
    """The comment lines directly above 1-based line `line_number` (no blank line between)."""
    out: list[str] = []
    index = line_number - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        out.append(lines[index].strip())
        index -= 1
    return list(reversed(out))


def _trailing_comment(line: str) -> list[str]:
    """The comment that ends a line of code (a `#` outside any string), if any."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return [line[index:].strip()] if line[:index].strip() else []
    return []


def _comments_inside(lines: Sequence[str], line_number: int) -> list[str]:
    """Comment lines inside the indented block that line `line_number` opens."""
    header = lines[line_number - 1]
    indent = len(header) - len(header.lstrip())
    out = []
    for line in lines[line_number:]:
        stripped = line.strip()
        if not stripped:
            break
        if len(line) - len(line.lstrip()) <= indent:
            break
        if stripped.startswith("#"):
            out.append(stripped)
    return out


def _paragraphs(comments: Iterable[str]) -> list[str]:
    """Join comment lines into paragraphs; a bare `#` line separates them; rulers are dropped."""
    paragraphs: list[str] = []
    current: list[str] = []
    for comment in comments:
        text = comment.lstrip("#").strip()
        if not text or set(text) <= set("-= "):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        current.append(text.strip("- ").strip() if text.startswith("---") else text)
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def _reading(item: n.InputDecl) -> str:
    """An input's on-record reading as a catalogue cell: the value read, and why."""
    clause = item.on_record
    if clause is None:
        return "stays unknown"
    value = clause.value
    shown = _source_value(value)
    return _cell(f"{_code(shown)}: {_text(clause.reason, before=' ')}")


def _source_value(value: n.Value) -> str:
    if isinstance(value, n.ListValue):
        return "[" + ", ".join(_source_value(v) for v in value.items) + "]"
    if isinstance(value, n.ScalarValue):
        if isinstance(value.value, bool):
            return "true" if value.value else "false"
        return str(value.value)
    return "unknown"
