"""Golden files: parse trees, diagnostics and generated code, one file per case.

Set MTUS_UPDATE_GOLDEN=1 to rewrite the expected files after an intended change,
then read the diff before committing it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from mtus_dsl.compiler import compile_sources
from mtus_dsl.compiler.codegen import generate
from mtus_dsl.compiler.nodes import dump
from mtus_dsl.compiler.parser import parse_module
from mtus_dsl.diagnostics import render_all

from .conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("MTUS_UPDATE_GOLDEN") == "1"


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _check(expected_path: Path, actual: str) -> None:
    if UPDATE or not expected_path.exists():
        expected_path.write_text(actual, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"wrote new golden file {expected_path.name}; check it and commit it")
    expected = expected_path.read_text(encoding="utf-8")
    if expected != actual:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            str(expected_path.name), "actual"))
        pytest.fail(f"{expected_path.name} differs (MTUS_UPDATE_GOLDEN=1 to accept):\n{diff}")


def _cases(folder: str) -> list[Path]:
    return sorted((GOLDEN / folder).glob("*.mtus"))


@pytest.mark.parametrize("path", _cases("parse"), ids=lambda p: p.stem)
def test_parse_tree(path: Path) -> None:
    """The file parses without diagnostics into the recorded AST."""
    module, diagnostics = parse_module(path.read_text(encoding="utf-8"), _relative(path))
    assert diagnostics == []
    assert module is not None
    _check(path.with_suffix(".ast"), dump(module.items) + "\n")


@pytest.mark.parametrize("path", _cases("diagnostics"), ids=lambda p: p.stem)
def test_diagnostics(path: Path) -> None:
    """The file gets exactly the recorded diagnostics, rendered with location, code and caret."""
    compilation = compile_sources({_relative(path): path.read_text(encoding="utf-8")})
    assert not compilation.ok
    assert all(d.span is not None and d.code for d in compilation.diagnostics)
    _check(path.with_suffix(".txt"), render_all(compilation.diagnostics, compilation.sources) + "\n")


@pytest.mark.parametrize("path", _cases("codegen"), ids=lambda p: p.stem)
def test_generated_code(path: Path) -> None:
    """The generated module is the recorded one: deterministic, readable, commented with sources."""
    compilation = compile_sources({_relative(path): path.read_text(encoding="utf-8")})
    assert compilation.program is not None, render_all(compilation.diagnostics, compilation.sources)
    source = generate(compilation.program, compilation.sources)
    assert source == compilation.python_source == generate(compilation.program, compilation.sources)
    compile(source, "golden", "exec")
    _check(path.with_suffix(".py.txt"), source)


def test_parsing_from_many_threads_at_once():
    """Each thread parses with a parser of its own: concurrent loads of the corpus all succeed alike."""
    import threading

    from mtus_dsl.compiler import compile_paths

    from .conftest import ROOT

    results: list[object] = []

    def load() -> None:
        for _ in range(3):
            try:
                compilation = compile_paths([ROOT / "guidelines"], use_cache=False)
            except Exception as error:  # reported by the assertion below
                results.append(repr(error))
                continue
            results.append(None if compilation.program is None else len(compilation.program.rules))

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 18 and len(set(results)) == 1 and isinstance(results[0], int), results


def test_keywords_come_from_the_grammar():
    """The keyword list (for did-you-mean) is read off grammar.lark: its quoted words and word terminals."""
    from mtus_dsl.compiler.syntax import KEYWORDS

    assert {"guideline", "max_visits", "non_certify", "latest", "true", "rounded"} <= set(KEYWORDS)
    assert "NAME" not in KEYWORDS and "days" not in KEYWORDS
