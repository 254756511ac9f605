"""The compiler: parser → AST → checks → IR → interpreter or Python code generator.

The stages run in this order; each module is one stage:
  parser.py      text → AST (nodes.py), syntax diagnostics
  checker.py     AST → typed IR (ir.py): names, types, citations, examples
  analysis.py    IR → diagnostics that need evaluation: conflicts, unreachable rules
  interpreter.py IR → decisions (the reference meaning)
  codegen.py     IR → Python source with the same meaning
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable
from pathlib import Path

import attrs

from mtus_dsl.compiler import analysis, ir, parser
from mtus_dsl.compiler.checker import Checker
from mtus_dsl.compiler.nodes import Module
from mtus_dsl.diagnostics import Diagnostic, Span

PRELUDE_NAME = "<prelude>"


def prelude_text() -> str:
    """Return the case-format declarations every program starts with."""
    return importlib.resources.files("mtus_dsl").joinpath("prelude.mtus").read_text(encoding="utf-8")


@attrs.frozen
class Compilation:
    """The result of compiling a set of files: a Program (if no errors) and every diagnostic."""

    program: ir.Program | None
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    analysed: bool = True  # False: conflicts and unreachable rules are still to be checked

    @property
    def ok(self) -> bool:
        """Tell whether compilation produced a program."""
        return self.program is not None


def expand(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Turn files and directories into the sorted list of .mtus files they hold."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.rglob("*.mtus"))
            if not found:
                problems.append(Diagnostic("E000", f"no .mtus files in directory '{path}'", None))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Diagnostic("E000", f"no such file or directory: '{path}'", None))
    return files, problems


def compile_sources(sources: dict[str, str], *, analyse: bool = True) -> Compilation:
    """Compile named source texts (the prelude is added first)."""
    all_sources = {PRELUDE_NAME: prelude_text(), **sources}
    diagnostics: list[Diagnostic] = []
    modules: list[Module] = []
    for path, text in all_sources.items():
        module, found = parser.parse_module(text, path)
        diagnostics.extend(found)
        if module is not None:
            modules.append(module)
    if any(d.is_error for d in diagnostics):
        return Compilation(None, tuple(diagnostics), all_sources)
    checker = Checker(modules, all_sources)
    program = checker.check()
    diagnostics.extend(checker.diagnostics)
    if program is not None and analyse:
        found_later = analysis.analyse(program)
        diagnostics.extend(found_later)
        if any(d.is_error for d in found_later):
            program = None
    return Compilation(program, tuple(diagnostics), all_sources, analysed=analyse)


def compile_paths(
    paths: Iterable[str | Path], *, label: tuple[Path, str] | None = None, analyse: bool = True
) -> Compilation:
    """Read and compile .mtus files and directories.

    `label` = (directory, name) shows files under that directory as `name/...` in
    diagnostics, traces and generated code, wherever the directory is installed.
    """
    files, problems = expand(paths)
    sources: dict[str, str] = {}
    for file in files:
        name = str(file)
        if label is not None and file.is_relative_to(label[0]):
            name = (Path(label[1]) / file.relative_to(label[0])).as_posix()
        try:
            sources[name] = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Diagnostic("E000", f"cannot read '{file}': {error}", Span(str(file), 1, 1, 1, 1)))
    if problems:
        return Compilation(None, tuple(problems), sources)
    return compile_sources(sources, analyse=analyse)
