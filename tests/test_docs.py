"""The documentation stays true: its examples compile, decide as stated and give the errors shown.

- docs/language.md: every ```mtus block compiles (with the prelude only) without a
  diagnostic, and every `example` it holds gets its `expect`ed decision under both
  backends. ```mtus-fragment blocks are pieces of a file and are skipped.
- any doc: a ```mtus-error CODE block gives diagnostics with exactly that code, and the
  ```text block right after it, if there is one, is what `mtus check example.mtus` prints.
- docs/errors.md: one `## CODE` section per diagnostic code the package can emit; each
  ```mtus block in a section gives diagnostics with exactly that code, and the ```text
  block after it is what `mtus check example.mtus` prints; a ```console block shows an
  `mtus check` command and its output.
- docs/case-format.md documents every field the prelude declares.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

import mtus_dsl
from mtus_dsl.cli import main
from mtus_dsl.compiler import compile_sources
from mtus_dsl.examples import check_example

from .conftest import ROOT

DOCS = ROOT / "docs"
CODE = re.compile(r"^[EW]\d{3}$")


def _blocks(path: Path) -> list[tuple[int, str, str]]:
    """Return (line, info string, body) for every fenced block in a Markdown file."""
    blocks = []
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        match = re.match(r"^```(.*)$", lines[i])
        if match:
            start, info, body = i + 1, match.group(1).strip(), []
            i += 1
            while i < len(lines) and lines[i] != "```":
                body.append(lines[i])
                i += 1
            blocks.append((start, info, "\n".join(body) + "\n"))
        i += 1
    return blocks


def _language_blocks() -> list[tuple[int, str]]:
    return [(line, body) for line, info, body in _blocks(DOCS / "language.md") if info == "mtus"]


def _error_blocks() -> list[tuple[str, int, str, str, str | None]]:
    """Return (doc, line, code, body, the ```text block right after it or None) for each ```mtus-error block."""
    out = []
    for path in sorted(DOCS.glob("*.md")):
        blocks = _blocks(path)
        for index, (line, info, body) in enumerate(blocks):
            if info.startswith("mtus-error"):
                following = blocks[index + 1] if index + 1 < len(blocks) else None
                shown = following[2] if following and following[1] == "text" else None
                out.append((path.name, line, info.split()[1], body, shown))
    return out


def _codes(diagnostics) -> set[str]:
    return {d.code for d in diagnostics}


def test_language_has_examples():
    """The language reference shows its constructs in compiled examples."""
    assert len(_language_blocks()) >= 20


@pytest.mark.parametrize(("line", "body"), _language_blocks(), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_language_block_compiles_and_decides(line, body):
    """A ```mtus block of the reference compiles cleanly and its examples get their stated decisions."""
    name = f"language.md:{line}"
    compilation = compile_sources({name: body})
    assert not compilation.diagnostics, mtus_dsl.CompileError(compilation.diagnostics, compilation.sources)
    schedule = mtus_dsl.Schedule(compilation)
    for example in schedule.program.examples:
        for backend, decide in (("compiled", schedule.decide), ("interpreter", schedule.interpret)):
            result = check_example(example, decide, backend)
            assert result.passed, f"{name}: example '{example.title}' ({backend}): {result.failure}"
        assert schedule.decide(example.case) == schedule.interpret(example.case)


@pytest.mark.parametrize(("doc", "line", "code", "body", "shown"), _error_blocks())
def test_error_block_gives_its_code(doc, line, code, body, shown, tmp_path, monkeypatch):
    """A ```mtus-error CODE block gives exactly that code, and the output shown after it (if any)."""
    compilation = compile_sources({f"{doc}:{line}": body})
    assert _codes(compilation.diagnostics) == {code}
    if shown is not None:
        (tmp_path / "example.mtus").write_text(body, encoding="utf-8")
        assert _check(tmp_path, monkeypatch, ["check", "example.mtus"]) == shown


# --- the error catalogue ---------------------------------------------------------------


def _catalogue() -> dict[str, list[tuple[int, str, str]]]:
    """Map each `## CODE` section of errors.md to its fenced blocks."""
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    sections: dict[str, list[tuple[int, str, str]]] = {}
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"^## ([EW]\d{3})\b.*$", text, re.M)]
    blocks = _blocks(DOCS / "errors.md")
    offsets = [len("\n".join(text.split("\n")[: line - 1])) for line, _, _ in blocks]
    for index, (start, code) in enumerate(headings):
        end = headings[index + 1][0] if index + 1 < len(headings) else len(text)
        sections[code] = [b for b, offset in zip(blocks, offsets) if start <= offset < end]
    return sections


def _emitted_codes() -> set[str]:
    found = set()
    for path in (ROOT / "mtus_dsl").rglob("*.py"):
        found |= set(re.findall(r"\"([EW]\d{3})\"", path.read_text(encoding="utf-8")))
    return found


def test_catalogue_covers_every_code():
    """errors.md has one section for each diagnostic code the package can emit, and no other."""
    assert sorted(_catalogue()) == sorted(_emitted_codes())


def _examples() -> list[tuple[str, int, str, str, str | None]]:
    out = []
    for code, blocks in _catalogue().items():
        for index, (line, info, body) in enumerate(blocks):
            if info in ("mtus", "console"):
                following = blocks[index + 1] if index + 1 < len(blocks) else None
                shown = following[2] if following and following[1] == "text" else None
                out.append((code, line, info, body, shown))
    return out


def _check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> str:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


@pytest.mark.parametrize(
    ("code", "line", "info", "body", "shown"),
    _examples(),
    ids=lambda v: v if isinstance(v, str) and CODE.match(v) else "",
)
def test_catalogue_example(code, line, info, body, shown, tmp_path, monkeypatch):
    """The example gives exactly its section's code, with the output the catalogue shows."""
    assert shown is not None, f"errors.md:{line}: show the output in a ```text block after the example"
    if info == "mtus":
        compilation = compile_sources({"example.mtus": body})
        assert _codes(compilation.diagnostics) == {code}, [str(d) for d in compilation.diagnostics]
        (tmp_path / "example.mtus").write_text(body, encoding="utf-8")
        output = _check(tmp_path, monkeypatch, ["check", "example.mtus"])
    else:
        command = body.strip().removeprefix("$ ")
        args = shlex.split(command)
        assert args[:2] == ["mtus", "check"], f"errors.md:{line}: a console example runs `mtus check`"
        output = _check(tmp_path, monkeypatch, args[1:])
        assert f"[{code}]" in output
    assert output == shown


def test_every_catalogue_section_has_an_example_or_says_why():
    """Each code shows an example, or says it cannot be triggered from a .mtus file."""
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    for code, blocks in _catalogue().items():
        if not any(info in ("mtus", "console") for _, info, _ in blocks):
            section = text.split(f"## {code}", 1)[1].split("\n## ", 1)[0]
            assert "<!-- no-example -->" in section, f"{code} has no example"


# --- the case format ---------------------------------------------------------------------


def test_case_format_documents_every_prelude_field():
    """Every field the prelude declares (and `id`) is documented in case-format.md."""
    text = (DOCS / "case-format.md").read_text(encoding="utf-8")
    schema = compile_sources({}).program.schema
    for name in schema.field_names():
        assert f"`{name}`" in text, f"case-format.md does not document `{name}`"


# --- the tutorial: every step's files written, every command run, every output as shown -------------

TUTORIAL = DOCS / "tutorial.md"
_FILE = re.compile(r"^\S+ file=(\S+)( append)?$")
_EXIT = re.compile(r"#\s*exit (\d+)\s*$")


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Whether output lines match the shown ones: `...` in a line stands for any text, a line `...` for any lines."""
    if not expected:
        return not actual
    head = expected[0]
    if head == "...":
        return any(_matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("..."))
    return re.fullmatch(pattern, actual[0]) is not None and _matches(expected[1:], actual[1:])


def _steps(path: Path) -> list[tuple[int, str, str, str]]:
    """The doc's steps in order: ("file", name, body, mode) for a block whose info says `file=NAME`
    (`append` adds to it), ("run", command, shown output, "") for each `$ ` line of a ```console block."""
    steps: list[tuple[int, str, str, str]] = []
    for line, info, body in _blocks(path):
        file = _FILE.match(info)
        if file:
            steps.append((line, "file", file.group(1), body + ("a" if file.group(2) else "w")))
        elif info == "console":
            command, shown = None, []
            for text in body.rstrip("\n").split("\n") + ["$ "]:
                if text.startswith("$ "):
                    if command is not None:
                        steps.append((line, "run", command, "\n".join(shown)))
                    command, shown = text[2:], []
                else:
                    shown.append(text)
    return steps


def test_the_tutorial_runs_as_written(tmp_path):
    """docs/tutorial.md: each file it shows is written, each command run in order, with the output it shows.

    Commands run in a shell in a fresh folder (examples/ beside it), with this Python's `mtus`, `python`,
    `pytest` and `mypy` first on the PATH; a command exits 0 unless it ends with `# exit N`.
    """
    import os
    import shutil
    import subprocess
    import sys

    steps = _steps(TUTORIAL)
    assert sum(kind == "run" for _, kind, _, _ in steps) >= 10
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLUMNS": "200", "NO_COLOR": "1"}
    for line, kind, what, data in steps:
        if kind == "file":
            target = tmp_path / what
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open(data[-1], encoding="utf-8") as out:
                out.write(data[:-1])
            continue
        wanted = _EXIT.search(what)
        result = subprocess.run(["bash", "-c", what], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=600)
        output = result.stdout.rstrip("\n")
        assert result.returncode == (int(wanted.group(1)) if wanted else 0), (
            f"tutorial.md:{line}: $ {what}\n{output}")
        assert _matches(data.split("\n") if data else [], output.split("\n") if output else []), (
            f"tutorial.md:{line}: $ {what}\nshown:\n{data}\nprinted:\n{output}")
