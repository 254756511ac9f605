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

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Registers the mtus-ci and mtus-thorough profiles before Hypothesis reads --hypothesis-profile.
from mtus_dsl.testing import profiles  # noqa: F401

_SUITES = pytest.StashKey[dict[tuple[Path, bool], Any]]()


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
        from mtus_dsl.compiler import compile_paths, source_name
        from mtus_dsl.diagnostics import render_all
        from mtus_dsl.schedule import Schedule
        from mtus_dsl.testing.runner import Suite

        thorough = bool(self.config.getoption("mtus_thorough"))
        root = corpus_root(self.path, self.config)
        cache = self.config.stash.setdefault(_SUITES, {})
        if (root, thorough) not in cache:
            compilation = compile_paths([root])
            if compilation.program is None:
                cache[root, thorough] = render_all(compilation.diagnostics, compilation.sources)
            else:
                cache[root, thorough] = Suite(Schedule(compilation), thorough=thorough)
        suite = cache[root, thorough]
        if isinstance(suite, str):
            yield MtusItem.from_parent(self, name="compile", suite=None, check=None, report=suite)
            return
        mine = source_name(self.path.resolve(), root)  # the name the compiler gave this file
        for file in suite.files():
            if file == mine:
                for check in suite.checks(file):
                    name = check.name.replace("::", ": ")
                    yield MtusItem.from_parent(self, name=name, suite=suite, check=check, report=None)


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
            raise MtusCheckFailed(f"the guidelines do not compile:\n{self.report}")
        from mtus_dsl.testing.runner import render_result

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
