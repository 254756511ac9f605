"""The compiler: one driver running the passes in order, one module each.

  read       compile_paths        files and directories -> {name: text} (E000)
  parse      parser.py            text -> AST (nodes.py), syntax diagnostics (E001-E010)
  check      checker.py           AST -> typed IR (ir.py): names, types, citations, exception order (E1xx)
  generate   lower.py, codegen.py IR -> the decision plan as a Python module, loaded
  analyse    analysis.py          conflicts, rules and exceptions that never apply (E107, W201, W202; solver.py)

Analysis evaluates rules on thousands of candidate cases, so it runs after
generation, on the compiled plan (the interpreter's plan gives the same answers,
several times slower). The interpreter (interpreter.py) is not a pass: it is the
reference backend a Schedule builds on demand from the same IR.
A successful compilation is cached (cache.py), keyed by its sources and the
compiler itself: a warm load neither parses nor analyses.
"""

from __future__ import annotations

import errno
import importlib.resources
import marshal
import os
import stat
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from mtus_dsl.compiler import cache, ir
from mtus_dsl.diagnostics import Diagnostic, Span
from mtus_dsl.provenance import source_hash

if TYPE_CHECKING:
    from mtus_dsl.compiler.nodes import Module

# The passes import their stages when they run: a warm load (a cache hit) needs none of them,
# nor Lark.

PRELUDE_NAME = "<prelude>"


def prelude_text() -> str:
    """Return the case-format declarations every program starts with."""
    return importlib.resources.files("mtus_dsl").joinpath("prelude.mtus").read_text(encoding="utf-8")


@attrs.frozen
class Compilation:
    """The result of compiling a set of files: a Program and its module (if no errors), and every diagnostic."""

    program: ir.Program | None
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    python_source: str | None = None
    module: types.ModuleType | None = attrs.field(default=None, eq=False, repr=False)
    #: The parsed files, for tools that read the AST (the catalogue); empty when loaded from the cache.
    modules: tuple[Module, ...] = attrs.field(default=(), eq=False, repr=False)

    @property
    def ok(self) -> bool:
        """Tell whether compilation produced a program."""
        return self.program is not None


@attrs.define
class _Unit:
    """What the passes hand each other."""

    sources: dict[str, str]
    diagnostics: list[Diagnostic] = attrs.Factory(list)
    modules: list[Module] = attrs.Factory(list)
    program: ir.Program | None = None
    python_source: str | None = None
    code: tuple[types.CodeType, ...] = ()
    module: types.ModuleType | None = None


def _parse(unit: _Unit) -> bool:
    try:
        from mtus_dsl.compiler import parser
    except ModuleNotFoundError as error:
        if error.name != "lark":
            raise
        raise ModuleNotFoundError(
            "compiling .mtus files needs lark, which this installation lacks: install mtus-dsl[authoring] "
            "(the base install runs compiled modules, and the shipped corpus as the wheel precompiled it)",
            name="lark",
        ) from None

    for path, text in unit.sources.items():
        module, found = parser.parse_module(text, path)
        unit.diagnostics.extend(found)
        if module is not None:
            unit.modules.append(module)
    return not any(d.is_error for d in unit.diagnostics)


def _check(unit: _Unit) -> bool:
    from mtus_dsl.compiler.checker import Checker

    checker = Checker(unit.modules, unit.sources)
    program = checker.check()
    unit.program = None if program is None else attrs.evolve(program, source_hash=source_hash(unit.sources))
    unit.diagnostics.extend(checker.diagnostics)
    return unit.program is not None


def _generate(unit: _Unit) -> bool:
    from mtus_dsl.compiler.codegen import generate

    assert unit.program is not None
    unit.python_source = generate(unit.program, unit.sources)
    unit.code = cache.compile_module(unit.python_source, cache.module_filename(unit.python_source))
    unit.module = cache.load_module(unit.python_source, code=unit.code)
    return True


def _analyse(unit: _Unit) -> bool:
    from mtus_dsl.compiler import analysis

    assert unit.program is not None and unit.module is not None
    found = analysis.analyse(unit.program, unit.module.__dict__["_ENGINE"])
    unit.diagnostics.extend(found)
    if any(d.is_error for d in found):
        unit.program = None
        return False
    return True


#: The passes, in order; each returns False to stop the compilation there.
PASSES: tuple[Callable[[_Unit], bool], ...] = (_parse, _check, _generate, _analyse)


def line_ends(text: str) -> str:
    """A text with its lines ended by \n: a line ends at \n, \r\n or a lone \r, as a file read from disk does."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def compile_sources(sources: dict[str, str], *, use_cache: bool = True) -> Compilation:
    """Compile named source texts (the prelude is added first)."""
    all_sources = {PRELUDE_NAME: prelude_text(), **{name: line_ends(text) for name, text in sources.items()}}
    entry = cache.key("compilation", all_sources) + ".compilation"
    if use_cache:
        cached = cache.load_compilation(entry)
        if isinstance(cached, tuple) and len(cached) == 2 and isinstance(cached[0], Compilation):
            compilation, code = cached
            if compilation.sources == all_sources and compilation.python_source is not None:
                module = cache.load_module(compilation.python_source, code=tuple(marshal.loads(code)))
                loaded: Compilation = attrs.evolve(compilation, module=module)
                return loaded
    unit = _Unit(all_sources)
    for run in PASSES:
        if not run(unit):
            break
    compilation = Compilation(unit.program, tuple(unit.diagnostics), all_sources, unit.python_source,
                              unit.module if unit.program is not None else None, tuple(unit.modules))
    if use_cache and compilation.program is not None:
        cache.save_compilation(entry, (attrs.evolve(compilation, module=None, modules=()), marshal.dumps(unit.code)))
    return compilation


def expand(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Turn files and directories into the sorted list of .mtus files they hold."""
    files, problems = _expand(paths)
    return [file for file, _ in files], problems


def source_name(file: Path, given: Path) -> str:
    """The name of a .mtus file found under the path `given` to the compiler (see _expand)."""
    if not given.is_absolute():
        return str(file)
    if given.is_dir():
        return (Path(given.name) / file.relative_to(given)).as_posix()
    return given.name


def _expand(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[Diagnostic]]:
    """Each .mtus file the paths hold, with its name: a path given relative as given; one given absolute
    relative to its guideline root (a directory by its own name, `guidelines/x.mtus`; a file by its
    name), so traces and compiled modules never carry a machine's paths.

    A file is listed once, however often it is given (twice, or itself and through its directory, or
    under another spelling or a link), under the first name it was given: read twice, every
    declaration in it would be declared twice."""
    files: list[tuple[Path, str]] = []
    problems: list[Diagnostic] = []
    seen: set[tuple[int, int]] = set()

    def add(file: Path, info: os.stat_result, given: Path) -> None:
        identity = (info.st_dev, info.st_ino)
        if identity not in seen:
            seen.add(identity)
            files.append((file, source_name(file, given)))

    for raw in paths:
        path = Path(raw)
        try:
            info = path.stat()
        except OSError as error:
            problems.append(Diagnostic("E000", _unreadable(path, error), None))
            continue
        if stat.S_ISDIR(info.st_mode):
            found = sorted(path.rglob("*.mtus"))
            if not found:
                problems.append(Diagnostic("E000", f"no .mtus files in directory '{path}'", None))
            for file in found:
                try:
                    found_info = file.stat()
                except OSError as error:
                    problems.append(Diagnostic("E000", _unreadable(file, error), None))
                    continue
                if stat.S_ISREG(found_info.st_mode):
                    add(file, found_info, path)
                elif not stat.S_ISDIR(found_info.st_mode):  # a directory named x.mtus: rglob reads its files
                    problems.append(Diagnostic(
                        "E000", f"'{file}' is {_kind(found_info.st_mode)}, not a regular file: a guideline file "
                                "is a regular .mtus file (remove or rename it)", None))
        elif stat.S_ISREG(info.st_mode):
            add(path, info, path)
        else:  # /dev/null, a named pipe (which reading would wait on), a socket
            problems.append(Diagnostic(
                "E000", f"'{path}' is {_kind(info.st_mode)}, not a regular file: give a .mtus file or a directory "
                        "of them", None))
    return files, problems


def _kind(mode: int) -> str:
    """What a file that is neither a regular file nor a directory is, for a message."""
    for test, kind in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def _unreadable(path: Path, error: OSError) -> str:
    """Why `path` cannot be looked at: missing (a dangling link says where it points) or not accessible."""
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        if path.is_symlink():
            return (f"no such file or directory: '{path}' is a symbolic link to '{os.readlink(path)}', "
                    "which does not exist")
        return f"no such file or directory: '{path}'"
    return f"cannot read '{path}': {error.strerror or error}"


def not_utf8(file: Path, name: str) -> Diagnostic:
    """E000 at the first byte of `file` that is not UTF-8: its line and column (in characters), and the byte."""
    raw = file.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        start = error.start
    else:  # changed since it was read: nothing to point at
        start = 0
    # Positions count after a BOM, as compile_paths reads the file (utf-8-sig) and mtus fmt counts them.
    line_start = max(raw.rfind(b"\n", 0, start) + 1, 3 if raw.startswith(b"\xef\xbb\xbf") else 0)
    line = raw.count(b"\n", 0, start) + 1
    column = len(raw[line_start:start].decode("utf-8", "replace")) + 1
    byte = raw[start:start + 1].hex()
    return Diagnostic("E000", f"not valid UTF-8: byte 0x{byte}; a guideline file must be UTF-8 (save it as UTF-8)",
                      Span(name, line, column, line, column + 1))


def read_source(file: Path, name: str) -> str | Diagnostic:
    """A guideline file's text, named `name` in messages; or the E000 that says why it cannot be read."""
    try:
        # utf-8-sig: a byte order mark at the start (as some editors write) is dropped.
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return not_utf8(file, name)
    except OSError as error:
        return Diagnostic("E000", f"cannot read '{file}': {error.strerror or error}", Span(name, 1, 1, 1, 1))


def compile_paths(
    paths: Iterable[str | Path], *, label: tuple[Path, str] | None = None, use_cache: bool = True
) -> Compilation:
    """Read and compile .mtus files and directories.

    `label` = (directory, name) shows files under that directory as `name/...` in
    diagnostics, traces and generated code, wherever the directory is installed.
    """
    files, problems = _expand(paths)
    sources: dict[str, str] = {}
    for file, name in files:
        if label is not None and file.is_relative_to(label[0]):
            name = (Path(label[1]) / file.relative_to(label[0])).as_posix()
        if name in sources:  # two roots with the same name: the second keeps its whole path
            name = str(file)
        text = read_source(file, name)
        if isinstance(text, Diagnostic):
            problems.append(text)
        else:
            sources[name] = text
    if problems:
        return Compilation(None, tuple(problems), sources)
    return compile_sources(sources, use_cache=use_cache)
