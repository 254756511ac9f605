"""The committed catalogue (docs/guidelines.md) is what `mtus catalogue` generates from the corpus now."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from mtus_dsl.catalogue import COMMAND, render
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
