"""Editors and highlighting: the TextMate grammar and the VS Code extension in editors/, the Pygments lexer."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mtus_dsl.compiler.syntax import KEYWORDS

from .conftest import ROOT
from .test_docs import _blocks

EDITORS = ROOT / "editors"
CORPUS = sorted((ROOT / "guidelines").rglob("*.mtus"))


def _generator():
    spec = importlib.util.spec_from_file_location("generate", EDITORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_textmate_grammar_is_generated_from_the_grammars_keywords():
    """editors/mtus.tmLanguage.json is what editors/generate.py writes (run it after adding a keyword)."""
    assert (EDITORS / "mtus.tmLanguage.json").read_text(encoding="utf-8") == _generator().text()


def test_textmate_grammar_highlights_every_keyword():
    """Every keyword of the Lark grammar is in one of the TextMate grammar's word lists, and nothing else is."""
    repository = json.loads((EDITORS / "mtus.tmLanguage.json").read_text())["repository"]
    words: set[str] = set()
    for rule in ("keyword", "constant", "declaration"):
        words |= set(re.search(r"\(\?:([a-z0-9_|]+)\)", repository[rule]["match"]).group(1).split("|"))
    assert words - {"unknown"} == set(KEYWORDS) - {"unknown"}
    assert set(KEYWORDS) <= words


def test_textmate_patterns_match_what_they_name():
    """The grammar's patterns compile, and find a date, a code and a placeholder where they should."""
    repository = json.loads((EDITORS / "mtus.tmLanguage.json").read_text())["repository"]
    assert re.search(repository["date"]["match"], "in force from 2009-07-18")
    assert re.fullmatch(repository["codes"]["patterns"][1]["match"], "M79.1*")
    assert re.search(repository["string"]["patterns"][1]["match"], '"{requested} visits"')
    assert re.match(repository["declaration"]["match"], "fact neuritis_type").group(1) == "neuritis_type"


def test_vscode_extension_names_its_files():
    """The extension's manifest points at files that exist, and starts `mtus lsp`."""
    manifest = json.loads((EDITORS / "package.json").read_text())
    contributes = manifest["contributes"]
    assert (EDITORS / manifest["main"]).is_file()
    assert (EDITORS / contributes["languages"][0]["configuration"]).is_file()
    assert (EDITORS / contributes["grammars"][0]["path"]).is_file()
    json.loads((EDITORS / "language-configuration.json").read_text())
    assert contributes["configuration"]["properties"]["mtus.server.command"]["default"] == ["mtus", "lsp"]


# --- Pygments -------------------------------------------------------------------------------------

pygments = pytest.importorskip("pygments")


def _lexer():
    from pygments.lexers import get_lexer_by_name

    return get_lexer_by_name("mtus")  # through the entry point: the package is installed


def _doc_blocks() -> list[str]:
    """The language reference's examples (errors.md's are wrong on purpose, some in ways a lexer sees)."""
    return [body for _, info, body in _blocks(ROOT / "docs" / "language.md") if info == "mtus"]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_pygments_lexes_the_corpus_without_errors(path):
    """Every corpus file lexes with no Error token, and its text comes back whole."""
    from pygments.token import Error

    text = path.read_text(encoding="utf-8")
    tokens = list(_lexer().get_tokens(text))
    assert [value for kind, value in tokens if kind in Error] == []
    assert "".join(value for _, value in tokens) == text


def test_pygments_lexes_the_docs_examples_without_errors():
    """The docs' ```mtus blocks (what a Markdown renderer highlights) lex with no Error token."""
    from pygments.token import Error

    for body in _doc_blocks():
        assert [v for kind, v in _lexer().get_tokens(body) if kind in Error] == [], body


def test_pygments_token_kinds():
    """Keywords, declared names, placeholders, codes, dates and comments get their own token kinds."""
    from pygments.token import Comment, Keyword, Name, Number, String

    text = ('fact f: boolean = a in conditions "{requested} x"  # note\ncondition c "c":\n    icd10 M79.1*\n'
            'example "x":\n    d: 2015-09-23\n')
    kinds = {value: kind for kind, value in _lexer().get_tokens(text)}
    assert kinds["fact"] in Keyword and kinds["f"] in Name.Class and kinds["in"] in Keyword
    assert kinds["{requested}"] in String.Interpol and kinds["M79.1*"] in Name.Constant
    assert kinds["2015-09-23"] in Number and kinds["# note"] in Comment
    for word in KEYWORDS:
        assert next(iter(_lexer().get_tokens(word)))[0] in Keyword, word


def test_pygmentize_highlights_a_corpus_file():
    """`pygmentize -l mtus guidelines/cpmtg_2009.mtus` works (the lexer is registered as an entry point)."""
    script = Path(sys.executable).parent / "pygmentize"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "pygments"]
    result = subprocess.run([*command, "-l", "mtus", "-f", "html", str(ROOT / "guidelines" / "cpmtg_2009.mtus")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert '<span class="kd">section</span>' in result.stdout and '<span class="c1">#' in result.stdout
