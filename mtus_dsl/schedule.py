"""The facade: load guideline files, compile them, decide cases. The CLI calls only this."""

from __future__ import annotations

import functools
import importlib.resources
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from mtus_dsl.case import Case, CaseSchema
from mtus_dsl.compiler import Compilation, compile_paths, compile_sources, ir
from mtus_dsl.compiler.interpreter import Interpreter
from mtus_dsl.decision import Decision, Outcome
from mtus_dsl.diagnostics import CompileError, Diagnostic
from mtus_dsl.engine import Engine


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
        if compilation.program is None or compilation.module is None or compilation.python_source is None:
            raise CompileError(compilation.diagnostics, compilation.sources)
        self.program: ir.Program = compilation.program
        self.diagnostics = compilation.diagnostics
        self.sources = compilation.sources
        self.python_source: str = compilation.python_source
        self.module: ModuleType = compilation.module
        self.engine: Engine = self.module.__dict__["_ENGINE"]

    @property
    def schema(self) -> CaseSchema:
        """The case format these guidelines accept (the compiled plan's: a case validated against it is trusted)."""
        return self.engine.schema

    @functools.cached_property
    def interpreter(self) -> Engine:
        """An engine whose plan evaluates the IR directly: the reference meaning."""
        # With the compiled plan's case format itself, so a case either engine validated is trusted by both.
        return Engine(attrs.evolve(Interpreter(self.program).plan(), schema=self.engine.schema))

    def case(self, data: Case | Mapping[str, Any]) -> Case:
        """Validate a case (a dict, or a Case built some other way); raise CaseError naming every bad field."""
        return self.engine.case(data)

    def decide(self, case: Case | Mapping[str, Any], on_record: bool = False) -> Decision:
        """Decide one request with the compiled code (the engine validates whatever it was not given validated);
        `on_record` reads absent inputs as the guidelines declare."""
        return self.engine.decide(case, on_record)

    def decide_many(self, cases: Iterable[Case | Mapping[str, Any]], on_record: bool = False) -> Iterator[Decision]:
        """Decide each case of any iterable, lazily and in order: memory stays that of one case.

        A bad case raises CaseError when its turn comes (the decisions before it were
        already yielded); to collect bad cases and go on, use `mtus audit` or catch it per case.
        """
        decide = self.decide
        for case in cases:
            yield decide(case, on_record)

    def outcome(self, case: Case | Mapping[str, Any], on_record: bool = False) -> tuple[Outcome, int]:
        """Decide only (outcome, approved), building nothing else: for hot loops."""
        return self.engine.outcome(case, on_record)

    def interpret(self, case: Case | Mapping[str, Any], on_record: bool = False) -> Decision:
        """Decide one request with the reference interpreter."""
        return self.interpreter.decide(self.case(case), on_record)


def load(paths: str | Path | Iterable[str | Path] | None = None) -> Schedule:
    """Load, check and compile guideline files and directories; raise CompileError on errors.

    `paths` is one path (a str or Path) or several; None means the shipped corpus.
    An empty list is an error (E000), not an empty set of guidelines.
    """
    if paths is None:
        corpus = default_guidelines()
        return Schedule(compile_paths([corpus], label=(corpus, "guidelines")))
    if isinstance(paths, (str, Path)):
        return Schedule(compile_paths([paths]))
    if isinstance(paths, (bytes, bytearray)):
        # A path as bytes (os.fsencode) is one path, not a list of byte values.
        return Schedule(compile_paths([os.fsdecode(bytes(paths))]))
    paths = list(paths)
    if not paths:
        message = "no guideline files given (load() with no argument loads the shipped corpus)"
        raise CompileError([Diagnostic("E000", message, None)], {})
    wrong = [p for p in paths if not isinstance(p, (str, Path, os.PathLike))]
    if wrong:
        message = (f"a guideline path is a str or a Path, not {type(wrong[0]).__name__} ({wrong[0]!r}); "
                   "load() takes one path or an iterable of paths")
        raise CompileError([Diagnostic("E000", message, None)], {})
    return Schedule(compile_paths(paths))


def loads(sources: Mapping[str, str]) -> Schedule:
    """Compile guideline texts given as {name: text} (a leading BOM is dropped); raise CompileError on errors."""
    return Schedule(compile_sources({name: text.removeprefix("\ufeff") for name, text in sources.items()}))
