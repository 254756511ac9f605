"""The committed catalogue (docs/guidelines.md) is what `mtus catalogue` generates from the corpus now."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from mtus_dsl.catalogue import COMMAND, _paragraphs, render
from mtus_dsl.cli import main
from mtus_dsl.compiler import PRELUDE_NAME, compile_paths, compile_sources

from .conftest import ROOT

_COMMITTED = ROOT / "docs" / "guidelines.md"


def _generated() -> str:
    return render(compile_paths([ROOT / "guidelines"]))


def test_committed_catalogue_matches_the_corpus():
    """docs/guidelines.md cannot drift from the corpus: regenerate it with the command when this fails."""
    assert _COMMITTED.read_text(encoding="utf-8") == _generated(), f"run: {COMMAND}"


def test_command_writes_the_same_catalogue(tmp_path):
    """`mtus catalogue PATH -o FILE` writes exactly what render() returns."""
    out = tmp_path / "guidelines.md"
    result = CliRunner().invoke(main, ["catalogue", str(ROOT / "guidelines"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == _generated()


def test_catalogue_names_every_rule_with_its_citation(corpus):
    """Each rule appears with its citation; each section with its pages; status notes are kept."""
    text = _generated()
    for rule in corpus.program.rules:
        assert f"#### `{rule.name}`" in text
        assert str(rule.citation) in text
    assert "### Physical Medicine, pp. 98-99" in text
    assert "| meniscectomy | knee | 12 | 12 weeks | 6 months | source: postsurgical-meniscectomy (quoted) |" in text
    assert "recalled" in text and "quoted" in text


def test_catalogue_shows_comments_as_notes():
    """Comments above a rule and inside its block become its notes; the file's opening comment, the guideline's."""
    source = (
        "# The document's opening note.\n"
        'guideline g "G" edition "1":\n'
        "    in force from 2010-01-01\n"
        "\n"
        'section s "S" pages 3:\n'
        "    services massage\n"
        "    # above the rule (recalled)\n"
        "    r: max_visits 4\n"
        "        # inside the rule\n"
        "        page 3\n"
    )
    text = render(compile_sources({"g/a.mtus": source}))
    assert "> The document's opening note." in text
    assert "> above the rule (recalled) inside the rule" in text
    assert "certifies at most 4 visits, counting the `prior_visits` already given" in text


def test_catalogue_refuses_guidelines_with_errors(tmp_path):
    """A corpus with errors gets its diagnostics and exit status 1, not a catalogue."""
    bad = tmp_path / "bad.mtus"
    bad.write_text('guideline g "G" edition "1":\n    in force from 2010-01-01\n\nsection s "S" pages 1:\n'
                   "    services massage\n    r: max_visits 4 when no_such_fact\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["catalogue", str(bad)])
    assert result.exit_code == 1
    assert "no catalogue was written" in result.output


_BASE = 'guideline g "G" edition "1":\n    in force from 2010-01-01\n\nsection s "S" pages 3:\n    services massage\n' \
        "    r: max_visits 4\n"


def _declared_in(*args: str) -> set[str]:
    """The file names `mtus catalogue ARGS` shows."""
    result = CliRunner().invoke(main, ["catalogue", *args])
    assert result.exit_code == 0, result.output
    return set(re.findall(r"in:? `([^`]+)` line", result.output))


@pytest.mark.parametrize("where", ["root", "folder", "mut", "repository"])
def test_catalogue_names_files_as_the_other_commands_do(tmp_path, monkeypatch, where):
    """A file is named as `check`, `decide` and `compile` name it, wherever the command runs from."""
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "base.mtus").write_text(_BASE, encoding="utf-8")
    (tmp_path / "mut").mkdir()
    (tmp_path / "mut" / "base.mtus").write_text(_BASE, encoding="utf-8")
    monkeypatch.chdir({"root": "/", "folder": folder, "mut": tmp_path / "mut", "repository": ROOT}[where])
    # Absolute: from the guideline root (the file itself, or the folder given); relative: as given.
    cases = {str(folder / "base.mtus"): "base.mtus", str(folder): "x/base.mtus"}
    if where == "mut":
        cases["base.mtus"] = "base.mtus"
    if where == "folder":
        cases[os.path.join("..", "mut", "base.mtus")] = os.path.join("..", "mut", "base.mtus")
    for given, name in cases.items():
        assert _declared_in(given) == {name}, given
        assert set(compile_paths([given]).sources) - {PRELUDE_NAME} == {name}  # what check, decide and compile show


# --- text from the files renders as the text it is ----------------------------------------

# Text that Markdown would read as markup, each a piece of a title, a rationale, a label, ...
HOSTILE = (
    "[link](http://x) <b>bold</b> <script>alert(1)</script> <!-- c --> <http://x.y> ![img](y.png)",
    "*star* _under_ __double__ **strong** `tick` ``two`` a*b*c x_y_ _z ~~gone~~ ~one~ *",
    "&amp; &#65; &#x41; & AT&T &copy back\\slash \\* \\\\ \\` ends&",
    "# not a heading", "- not a list", "1. not a list", "2) nor this", "> not a quote", "+ plus", "***",
    "---", "~~~ fence", "[ref]: /url", "| a | b |", "snake_case_word and trailing #", "ends with \\",
    "line\nbreak", "    indented",
)


def _lit(text: str) -> str:
    """A .mtus string literal holding `text`."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _plain(text: str) -> str:
    """The text as it reads once rendered: line breaks are spaces, outer spaces go."""
    return " ".join(text.split())


def _hostile_source(text: str, comment: str | None = None) -> str:
    """A file with `text` in every place the catalogue shows text; `comment` (by default the text, its backticks
    made quotes: test_notes_keep_their_code_spans) in its comments."""
    if comment is None:
        comment = text.replace("\n", " ").replace("`", "'") + " (note)"  # (a ruler alone is dropped)
    return (
        f"# {comment}\n"
        f"guideline g {_lit(text)} edition {_lit(text)}:\n"
        f"    regulation {_lit(text)}\n"
        "    in force from 2010-01-01\n"
        "\n"
        f"condition c {_lit(text)}:\n"
        f"    # M54.5 = {comment}\n"
        "    icd10 M54.5\n"
        "\n"
        f"input flag: boolean {_lit(text)}\n"
        f"    on record false {_lit(text)}\n"
        f"fact flagged: boolean = flag {_lit(text)}\n"
        "\n"
        f"# `kept code` {comment}\n"
        f"section s {_lit(text)} pages 3:\n"
        "    services massage\n"
        "    r: max_visits 4\n"
        "        page 3\n"
        f"        rationale {_lit(text)}\n"
        f"    example {_lit(text)}:\n"
        "        request_date: 2015-01-01\n"
        "        service: massage\n"
        "        body_region: knee\n"
        "        injury_date: 2014-01-01\n"
        "        quantity: 2\n"
        "        expect certify 2 by r\n"
    )


def _parse(markdown: str) -> list:
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(markdown)


def _shape(markdown: str) -> list[str]:
    """The rendered document's structure, its text left out: blocks, and the markup (links, emphasis, HTML) in them."""
    shape = []
    for token in _parse(markdown):
        shape.append(token.type)
        for child in token.children or []:
            if child.type != "text":
                shape.append(f"  {child.type} {child.content if child.type == 'html_inline' else ''}")
    return shape


def _rendered(markdown: str) -> set[tuple[str, str]]:
    """Each run of inline text of the rendered Markdown, with the tag of the block it is in: (tag, plain text)."""
    tokens = _parse(markdown)
    blocks = set()
    for index, token in enumerate(tokens):
        if token.type == "inline":
            text = "".join(c.content if c.type in ("text", "code_inline") else " " for c in token.children or []
                           if c.type in ("text", "code_inline", "softbreak", "hardbreak"))
            blocks.add((tokens[index - 1].tag, _plain(text)))
    return blocks


@pytest.mark.parametrize("text", HOSTILE)
def test_file_text_renders_as_itself(text):
    """Every piece of file text in the catalogue renders as the literal text, with no HTML, emphasis or link."""
    markdown = render(compile_sources({"g/a.mtus": _hostile_source(text)}))
    blocks = _rendered(markdown)
    plain = _plain(text)
    capital = plain[0].upper() + plain[1:]
    comment = text.replace("`", "'") + " (note)"
    note = _plain(" ".join(_paragraphs([f"# {comment}"])))  # as the catalogue reads a comment line (rulers go)
    edition = _plain(f"{text} ({text})")
    expected = {
        ("h1", f"Catalogue: {edition}"),  # the header: the guideline's title and edition
        ("h2", edition),
        ("h3", f"{plain}, p. 3"),  # the section's heading
        ("p", f"Regulation: {plain}"),
        ("p", _plain(f"Rationale: “{text}”")),
        ("td", plain),  # the example's title, the condition's label, the input's meaning
        ("td", f"M54.5 ({_plain(comment)})"),  # the code's title, from the comment
        ("td", f"false: {plain}"),  # the on-record reason
        ("p", f"{capital}."),  # the fact's description starts a paragraph
        ("p", note),  # the file's opening comment, a note
        ("p", _plain(" ".join(_paragraphs([f"# `kept code` {comment}"])).replace("`", ""))),  # its code kept
    }
    missing = expected - blocks
    assert not missing, (missing, markdown)
    # Nothing in the text became markup: the document has the structure it has with a harmless text.
    assert _shape(markdown) == _shape(render(compile_sources({"g/a.mtus": _hostile_source("harmless")})))
    # The contents link to the guideline and the section with the text of their headings.
    toc = dict(_toc_links(markdown))
    assert toc["#g"] == edition and toc["#s"] == plain
    assert '<a id="g"></a>' in markdown and '<a id="s"></a>' in markdown


def _toc_links(markdown: str) -> list[tuple[str, str]]:
    """The contents' links: each target with the plain text of its label."""
    out = []
    for token in _parse(markdown):
        if token.type != "inline":
            continue
        children = token.children or []
        for index, child in enumerate(children):
            if child.type == "link_open":
                end = next(i for i in range(index, len(children)) if children[i].type == "link_close")
                label = "".join(c.content for c in children[index + 1:end] if c.type in ("text", "code_inline"))
                out.append((str(child.attrs["href"]), _plain(label)))
    return out


def test_notes_keep_their_code_spans():
    """A comment's `code` is code (the corpus writes names so); the rest of it, and a lone backtick, is text."""
    comment = "`frp-*` and ``a ` b`` are code; *this* <b>is</b> [not](x), nor is ` this"
    markdown = render(compile_sources({"g/a.mtus": _hostile_source("harmless", comment)}))
    assert "  > `frp-*` and ``a ` b`` are code; \\*this* \\<b>is\\</b> \\[not\\](x), nor is \\` this" in markdown
    assert ("p", "frp-* and a ` b are code; *this* <b>is</b> [not](x), nor is ` this") in _rendered(markdown)
    assert _shape(markdown) == _shape(render(compile_sources({"g/a.mtus": _hostile_source("harmless", "`x` `y`")})))


def test_code_spans_hold_any_backticks():
    """Expressions and file names shown as code keep their backticks: the fence is longer than any run in them."""
    from mtus_dsl.catalogue import _code

    assert _code("a") == "`a`"
    assert _code("a`b") == "``a`b``"
    assert _code("`a``") == "``` `a`` ```"
    assert _code(" a ") == "`  a  `"
    for text in ("a`b", "`a``", " a ", "x ``` y", "`"):
        assert ("p", text) in {(tag, t) for tag, t in _raw_inline(_code(text))}


def _raw_inline(markdown: str) -> list[tuple[str, str]]:
    tokens = _parse(markdown)
    return [(tokens[i - 1].tag, "".join(c.content for c in t.children or []))
            for i, t in enumerate(tokens) if t.type == "inline"]


def test_table_cells_escape_pipes():
    """`|` in an example's title or a table's value is the text, not a new column."""
    markdown = render(compile_sources({"g/a.mtus": _hostile_source("a | b")}))
    assert "| a \\| b | certify 2 | `r` |  |" in markdown
    assert "| `flag` | boolean | a \\| b | `false`: a \\| b | `g/a.mtus` line 10 |" in markdown


def test_shipped_corpus_needs_no_escapes_it_did_not_have():
    """Escaping only what needs it: intraword `_`, a code's trailing `*`, ` & ` and `<` in code stay as written."""
    text = _COMMITTED.read_text(encoding="utf-8")
    assert "M79.1* (Myalgia" in text and "Manual therapy & manipulation" in text
    assert "`prior_visits < 6`" in text


def test_table_values_are_text():
    """A table's text values and row notes are one cell each, their markup inert (the note's code kept)."""
    source = _BASE.replace("section s", 'table t:\n    key k: text\n    value v: text\n'
                           '    "a | b" -> "<b>x</b>"  # a `note` | *here*\n\nsection s')
    markdown = render(compile_sources({"g/a.mtus": source}))
    assert "| a \\| b | \\<b>x\\</b> | a `note` \\| \\*here\\* |" in markdown
    assert ("td", "<b>x</b>") in _rendered(markdown) and ("td", "a note | *here*") in _rendered(markdown)


def test_a_heading_keeps_its_trailing_hashes():
    """`#`s ending a heading after a space would close it: escaped, they are text; inside a word they need nothing."""
    from mtus_dsl.catalogue import _text

    assert _text("C #") == "C \\#" and _text("C##") == "C##" and _text("#") == "\\#"
    assert ("h3", "Grade #") in _rendered(f"### {_text('Grade #')}")
    assert _text("snake_case a_b_c") == "snake_case a_b_c" and _text("_a_") == "\\_a_"
    assert _text("M79.1*", after=" ") == "M79.1*" and _text("a*b") == "a\\*b"
