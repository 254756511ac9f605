"""The pytest plugin: `pytest guidelines/` runs each .mtus file's examples and properties as test items.

Registered through the `pytest11` entry point. A collected file is compiled
together with every .mtus file of its corpus: the outermost directory named on
the command line that holds it (`pytest guidelines/` compiles guidelines/ as
one), else its own directory and the parents above it, strictly inside the
rootdir, for as long as they hold .mtus files too. Items are named after what they check:
`guidelines/cpmtg_2009.mtus::example: neuritis at the limit`,
`...::monotonicity: asking for fewer units never gives a stricter outcome`.
`--mtus-thorough` runs the properties with the thorough profile.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Registers the mtus-ci and mtus-thorough profiles before Hypothesis reads --hypothesis-profile.
from mtus_dsl.testing import profiles  # noqa: F401

_SUITES = pytest.StashKey[dict[tuple[Path, bool], Any]]()
_REPORTED = pytest.StashKey[set[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --mtus-thorough."""
    group = parser.getgroup("mtus", "mtus-dsl guideline files")
    group.addoption(
        "--mtus-thorough",
        action="store_true",
        default=False,
        help="check .mtus properties with the thorough profile (many more cases, random each run)",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> MtusFile | None:
    """Collect .mtus guideline files (not the case-format prelude inside the package)."""
    if file_path.suffix != ".mtus" or file_path.resolve() == _PRELUDE:
        return None
    return MtusFile.from_parent(parent, path=file_path)


_PRELUDE = (Path(__file__).resolve().parent.parent / "prelude.mtus").resolve()


def corpus_root(path: Path, config: pytest.Config) -> Path:
    """The directory compiled with a file: the outermost directory named on the command line holding it,
    else its own directory and each parent strictly inside the rootdir that also holds .mtus files."""
    path = path.resolve()
    named = [(config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in config.args]
    holding = [d for d in named if d.is_dir() and d in path.parents]
    if holding:
        return min(holding, key=lambda d: len(d.parts))
    root = path.parent
    top = config.rootpath.resolve()
    while top in root.parent.parents and any(p.resolve() != _PRELUDE for p in root.parent.glob("*.mtus")):
        root = root.parent
    return root


class MtusCheckFailed(Exception):
    """A check of a .mtus file failed; carries the rendered report."""


class MtusFile(pytest.File):
    """A .mtus file: one item per example, per built-in property (if it has rules), per stated property."""

    def collect(self) -> Iterator[pytest.Item]:
        """Compile the file's corpus (once per session) and yield its checks."""
        thorough = bool(self.config.getoption("mtus_thorough"))
        root = corpus_root(self.path, self.config)
        cache = self.config.stash.setdefault(_SUITES, {})
        if (root, thorough) not in cache:
            cache[root, thorough] = _compile_corpus(root, thorough)
        suite, broken = cache[root, thorough]
        resolved = self.path.resolve()
        if resolved in broken or suite is None:
            report = broken.get(resolved) or "\n\n".join(broken.values())
            yield MtusItem.from_parent(self, name="compile", suite=None, check=None, report=report)
            return
        # A broken file of the corpus that is not collected itself (`pytest one.mtus`) is reported once, as
        # its own failed item, under the first file collected with it.
        named = [(self.config.invocation_params.dir / arg.split("::")[0]).resolve() for arg in self.config.args]
        reported = self.config.stash.setdefault(_REPORTED, set())
        for path, report in sorted(broken.items()):
            if path not in reported and not any(path == n or n in path.parents for n in named):
                reported.add(path)
                yield MtusItem.from_parent(self, name=f"compile {path.name}", suite=None, check=None, report=report)
        mine = str(_relative(resolved))  # the name the compiler gave this file
        for file in suite.files():
            if file == mine:
                for check in suite.checks(file):
                    name = check.name.replace("::", ": ")
                    yield MtusItem.from_parent(self, name=name, suite=suite, check=check, report=None)


def _compile_corpus(root: Path, thorough: bool) -> tuple[Any, dict[Path, str]]:
    """Compile a corpus; a file with errors is left out (and reported on its own) so the others still compile.

    Return the suite of the files that compile (None if none do) and, per file left out, its diagnostics.
    """
    from mtus_dsl.compiler import compile_paths, expand
    from mtus_dsl.diagnostics import render_all
    from mtus_dsl.schedule import Schedule
    from mtus_dsl.testing.runner import Suite

    files = [f.resolve() for f in expand([root])[0] if f.resolve() != _PRELUDE]
    broken: dict[Path, str] = {}
    # Each round leaves out the files with errors; a file that needed one of them fails in the next.
    # Files are given relative to the working folder, so the compiler names each by that path (an
    # absolute path would be named by its file name alone): a diagnostic's path then finds its file.
    while True:
        compilation = compile_paths([_relative(f) for f in files if f not in broken])
        if compilation.program is not None:
            return Suite(Schedule(compilation), thorough=thorough), broken
        found: dict[Path, list[Any]] = {}
        for diagnostic in compilation.diagnostics:
            if diagnostic.is_error and diagnostic.span is not None:
                found.setdefault(Path(diagnostic.span.path).resolve(), []).append(diagnostic)
        found = {path: ds for path, ds in found.items() if path in files and path not in broken}
        if not found:  # errors no single file carries: every file reports them
            report = render_all(compilation.diagnostics, compilation.sources)
            return None, {**{f: report for f in files if f not in broken}, **broken}
        for path, diagnostics in found.items():
            broken[path] = render_all(tuple(diagnostics), compilation.sources)
        if len(broken) == len(files):
            return None, broken


def _relative(path: Path) -> Path:
    """A file's path relative to the working folder (as the compiler then names it), or as it is."""
    try:
        return Path(os.path.relpath(path))
    except ValueError:  # another drive (Windows)
        return path


class MtusItem(pytest.Item):
    """One check of a .mtus file."""

    def __init__(self, *, suite: Any, check: Any, report: str | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.suite = suite
        self.check = check
        self.report = report

    def runtest(self) -> None:
        """Run the check; a failure carries its counterexample, ready to paste."""
        if self.check is None:
            heading = "this file does not compile; the rest of its corpus is tested without it"
            raise MtusCheckFailed(f"{heading}:\n{self.report}")
        from mtus_dsl.testing.runner import render_result

        search = self.check.search
        if search is not None and search.selected is None:
            # The built-in properties share one search: run only those whose items were selected (-k).
            chosen = [i.check for i in self.session.items if isinstance(i, MtusItem) and i.check is not None]
            search.selected = {c.name.split(":")[0] for c in chosen if c.search is search}
        result = self.check.run()
        if not result.passed:
            raise MtusCheckFailed(render_result(result, self.suite.program, indent=""))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """Show the report, not a traceback through the plugin."""
        if isinstance(excinfo.value, MtusCheckFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Point at the example, the first rule, or the property in the .mtus file."""
        line = self.check.line - 1 if self.check is not None else 0
        return self.path, line, f"{self.path.name}::{self.name}"
