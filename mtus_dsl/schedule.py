"""The facade: load guideline files, compile them, decide cases. The CLI calls only this."""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from mtus_dsl import runtime as rt
from mtus_dsl.case import Case, CaseSchema
from mtus_dsl.compiler import Compilation, analysis, compile_paths, compile_sources, ir
from mtus_dsl.compiler.codegen import generate, load_module
from mtus_dsl.compiler.interpreter import Interpreter
from mtus_dsl.decision import Decision
from mtus_dsl.diagnostics import CompileError


def default_guidelines() -> Path:
    """Return the directory of the shipped corpus (inside the installed package, or the checkout)."""
    packaged = importlib.resources.files("mtus_dsl").joinpath("guidelines")
    if packaged.is_dir():
        return Path(str(packaged))
    # A source checkout (tests, editable installs): the corpus sits next to the package.
    return Path(__file__).resolve().parent.parent / "guidelines"


class Schedule:
    """A compiled set of guidelines: decide cases with the generated code or the interpreter."""

    def __init__(self, compilation: Compilation):
        if compilation.program is None:
            raise CompileError(compilation.diagnostics, compilation.sources)
        self.program: ir.Program = compilation.program
        self.diagnostics = compilation.diagnostics
        self.sources = compilation.sources
        self.python_source = generate(self.program)
        self.module: ModuleType = load_module(self.python_source)
        self.engine: rt.Engine = self.module.__dict__["_ENGINE"]
        if not compilation.analysed:
            # The conflict search evaluates rules many times: the compiled engine
            # just built does it several times faster than the interpreter.
            found = analysis.analyse(self.program, self.engine)
            self.diagnostics = self.diagnostics + tuple(found)
            if any(d.is_error for d in found):
                raise CompileError(self.diagnostics, self.sources)

    @property
    def schema(self) -> CaseSchema:
        """The case format these guidelines accept."""
        return self.program.schema

    @functools.cached_property
    def interpreter(self) -> rt.Engine:
        """An engine that evaluates the IR directly: the reference meaning."""
        return Interpreter(self.program).engine()

    def case(self, data: Case | Mapping[str, Any]) -> Case:
        """Validate a case; raise CaseError naming every bad field."""
        return data if isinstance(data, Case) else Case.from_dict(data, self.schema)

    def decide(self, case: Case | Mapping[str, Any]) -> Decision:
        """Decide one request with the compiled code."""
        return self.engine.decide(self.case(case))

    def interpret(self, case: Case | Mapping[str, Any]) -> Decision:
        """Decide one request with the reference interpreter."""
        return self.interpreter.decide(self.case(case))


def load(paths: Iterable[str | Path] | None = None) -> Schedule:
    """Load, check and compile guideline files (None: the shipped corpus); raise CompileError on errors."""
    if paths is None:
        corpus = default_guidelines()
        return Schedule(compile_paths([corpus], label=(corpus, "guidelines"), analyse=False))
    return Schedule(compile_paths(list(paths), analyse=False))


def loads(sources: Mapping[str, str]) -> Schedule:
    """Compile guideline texts given as {name: text}; raise CompileError on errors."""
    return Schedule(compile_sources(dict(sources), analyse=False))
