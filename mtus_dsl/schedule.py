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
        One case (a dict or a Case), a string or anything not iterable raises TypeError at once.
        """
        if isinstance(cases, (Mapping, Case, str, bytes)):
            what = "one case" if isinstance(cases, (Mapping, Case)) else f"a {type(cases).__name__}"
            raise TypeError(f"decide_many() takes an iterable of cases, not {what}; to decide one case, call "
                            "decide(case)")
        try:
            iterator = iter(cases)
        except TypeError:
            raise TypeError(f"decide_many() takes an iterable of cases (a list, a generator, ...), not "
                            f"{type(cases).__name__}") from None
        return self._decide_each(iterator, on_record)

    def _decide_each(self, cases: Iterator[Case | Mapping[str, Any]], on_record: bool) -> Iterator[Decision]:
        decide = self.engine.decide
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
    if isinstance(paths, (bytes, bytearray)):
        # A path as bytes (os.fsencode) is one path, not a list of byte values.
        paths = os.fsdecode(bytes(paths))
    if isinstance(paths, (str, Path)):
        paths = [paths]
    elif isinstance(paths, Mapping):
        raise _usage("load() takes paths of guideline files; to compile texts given as {name: text}, "
                     "call loads()")
    try:
        paths = list(paths)
    except TypeError:
        raise _usage(f"load() takes one path (a str or a Path) or an iterable of paths, not "
                     f"{type(paths).__name__} ({paths!r:.80})") from None
    if not paths:
        raise _usage("no guideline files given (load() with no argument loads the shipped corpus)")
    wrong = [p for p in paths if not isinstance(p, (str, Path, os.PathLike))]
    if wrong:
        raise _usage(f"a guideline path is a str or a Path, not {type(wrong[0]).__name__} ({wrong[0]!r:.80}); "
                     "load() takes one path or an iterable of paths")
    if any(isinstance(p, str) and not p for p in paths):
        # Path("") is the working directory: an unset setting read as "" would load whatever is there.
        raise _usage("a guideline path is empty; give a file or directory ('.' for the working directory)")
    return Schedule(compile_paths(paths))


def loads(sources: Mapping[str, str]) -> Schedule:
    """Compile guideline texts given as {name: text} (a leading BOM is dropped); raise CompileError on errors.

    An empty mapping is an error (E000), as `load([])` is; so is a name or text that is not a str.
    """
    if not isinstance(sources, Mapping):
        raise _usage(f"loads() takes guideline texts by name, a {{name: text}} mapping, not "
                     f"{type(sources).__name__}; to read files, call load()")
    if not sources:
        raise _usage("no guideline texts given (loads() takes {name: text}; load() with no argument loads the "
                     "shipped corpus)")
    for name, text in sources.items():
        if not isinstance(name, str):
            raise _usage(f"a guideline's name must be a str, not {type(name).__name__} ({name!r:.80})")
        if not isinstance(text, str):
            hint = " (decode it: text.decode('utf-8'))" if isinstance(text, (bytes, bytearray)) else ""
            raise _usage(f"the text of {name!r:.80} must be a str, not {type(text).__name__}{hint}")
    return Schedule(compile_sources({name: text.removeprefix("\ufeff") for name, text in sources.items()}))


def _usage(message: str) -> CompileError:
    """A call of load() or loads() that names no guidelines it can read: one E000, located nowhere."""
    return CompileError([Diagnostic("E000", message, None)], {})
