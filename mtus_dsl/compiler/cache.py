"""Caches that only ever save time: compiled bytecode, and whole compilations.

Loading the corpus means parsing, checking, analysing and compiling the module
it generates; like Python's own __pycache__ (and Jinja's bytecode cache) we keep
the result, keyed by everything it was made from: the source texts, the
compiler's own code and the Python version. Each entry carries a checksum of
its content, verified before anything in it is used: an entry that does not
verify, cannot be read or does not load is ignored and rebuilt, so a damaged
cache costs time, never a different decision. The directory is
$MTUS_DSL_CACHE (default ~/.cache/mtus-dsl; a leading ~ is the home folder),
created readable by its user only; MTUS_DSL_CACHE=off (any case) disables caching.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import linecache
import os
import pickle
import sys
import threading
import types
import warnings
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_MAGIC = b"mtus-dsl cache 2\n"
_OFF = ("off", "0", "false", "no", "none")


def directory() -> Path | None:
    """Where cache entries are kept; None when caching is off."""
    configured = (os.environ.get("MTUS_DSL_CACHE") or "").strip()
    if configured.lower() in _OFF:
        return None
    if configured:
        # "~" as a shell would read it: a setting made without a shell (a service's unit, ENV) is not expanded.
        try:
            folder = Path(configured).expanduser()
        except RuntimeError:  # ~name of no such user: a folder of that name, as given
            folder = Path(configured)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = Path(base) / "mtus-dsl"
    return folder if _private(folder) else None


def _private(folder: Path) -> bool:
    """Tell whether a cache folder is safe to use: absent (it will be made 0700), or ours and not writable by others.

    Entries are code this process runs, so a folder another user can write is not used (with a warning).
    """
    try:
        info = folder.stat()
    except OSError:
        return True
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # no owners to compare (Windows): rely on the folder's own permissions
        return True
    if info.st_uid != getuid() or info.st_mode & 0o022:
        if folder not in _WARNED:
            _WARNED.add(folder)
            warnings.warn(
                f"mtus-dsl: not using the cache folder {folder}: another user owns it or can write to it "
                "(make it yours with mode 0700, or set MTUS_DSL_CACHE)",
                stacklevel=3,
            )
        return False
    return True


_WARNED: set[Path] = set()


@functools.cache
def compiler_fingerprint() -> str:
    """A hash of the package's own code and of Python's version: a new compiler never reads an old entry."""
    digest = hashlib.sha256(sys.version.encode())
    package = importlib.resources.files("mtus_dsl")
    for folder in (package, package.joinpath("compiler")):
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith((".py", ".lark", ".mtus")) and entry.is_file():
                digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()


def key(kind: str, texts: Mapping[str, str]) -> str:
    """The cache key of an entry made from named texts."""
    digest = hashlib.sha256(f"{kind}\0{compiler_fingerprint()}".encode())
    for name, text in texts.items():
        digest.update(b"\0" + name.encode("utf-8", "surrogatepass") + b"\0" + text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def packaged() -> Path:
    """Where a wheel keeps entries made when it was built (the shipped corpus, compiled)."""
    return Path(str(importlib.resources.files("mtus_dsl").joinpath("precompiled")))


def read(name: str, folder: Path | None = None) -> bytes | None:
    """The content of a verified entry (in the cache, or in `folder`), or None (absent, unreadable, or damaged)."""
    folder = folder or directory()
    if folder is None:
        return None
    try:
        data = (folder / name).read_bytes()
    except OSError:
        return None
    header = len(_MAGIC) + 65
    if len(data) < header or not data.startswith(_MAGIC):
        return None
    checksum, payload = data[len(_MAGIC) : header - 1], data[header:]
    if hashlib.sha256(payload).hexdigest().encode() != checksum:
        return None
    return payload


def write(name: str, payload: bytes) -> None:
    """Keep an entry (atomically); a cache that cannot be written is simply not used."""
    folder = directory()
    if folder is None:
        return
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = folder / f"{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        partial.write_bytes(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        os.replace(partial, folder / name)
    except OSError:
        pass


def load_compilation(name: str) -> Any:
    """Unpickle a cached compilation (from the cache, else from those the wheel carries), or None."""
    payload = read(name)
    if payload is None and directory() is not None:
        payload = read(name, packaged())
    if payload is None:
        return None
    try:
        return pickle.loads(payload)
    except Exception:  # a verified entry from an incompatible build: rebuild it
        return None


def save_compilation(name: str, value: Any) -> None:
    """Cache a compilation."""
    if directory() is None:
        return
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # something unpicklable: just do not cache it
        return
    write(name, payload)


#: CPython 3.11 keeps the depth of the syntax tree it is building per interpreter, not per thread:
#: two threads building one at once fail ("AST constructor recursion depth mismatch"). Every
#: compile() and ast.literal_eval of the compiler holds this lock.
PYTHON_AST = threading.Lock()

#: Generated source is compiled this many lines at a time (at least): compile() of one very large
#: module holds the syntax tree of all of it at once (about 1 GB for 10,000 rules).
CHUNK_LINES = 4000


def compile_module(source: str, filename: str) -> tuple[types.CodeType, ...]:
    """Compile generated source in chunks cut between top-level statements, keeping its line numbers."""
    lines = source.splitlines(True)
    chunks: list[types.CodeType] = []
    start = 0
    for index in range(CHUNK_LINES, len(lines)):
        # A cut goes after a blank line and before a line at column 0: between two statements.
        if index - start >= CHUNK_LINES and lines[index - 1] == "\n" and lines[index][:1] not in (" ", "\n", ")"):
            with PYTHON_AST:
                chunks.append(compile("\n" * start + "".join(lines[start:index]), filename, "exec"))
            start = index
    with PYTHON_AST:
        chunks.append(compile("\n" * start + "".join(lines[start:]), filename, "exec"))
    return tuple(chunks)


#: How many live modules were made from each generated source (they share its linecache entry).
_LIVE: dict[str, int] = {}


_LIVE_LOCK = threading.Lock()


def _release(filename: str) -> None:
    with _LIVE_LOCK:
        _LIVE[filename] -= 1
        if not _LIVE[filename]:
            del _LIVE[filename]
            linecache.cache.pop(filename, None)


def module_filename(source: str, name: str = "mtus_compiled") -> str:
    """The readable, unique name generated code is compiled and registered under."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"<mtus-compiled {name} {digest}>"


def load_module(
    source: str, name: str = "mtus_compiled", code: tuple[types.CodeType, ...] | None = None
) -> types.ModuleType:
    """Execute generated source as a module registered in linecache under a readable name.

    Tracebacks, pdb and `inspect.getsource` then show the generated code.
    """
    filename = module_filename(source, name)
    module = types.ModuleType(name)
    module.__file__ = filename
    # The source stays readable for as long as a module made from it lives, and no longer:
    # a process that compiles many schedules does not keep every one.
    with _LIVE_LOCK:
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        _LIVE[filename] = _LIVE.get(filename, 0) + 1
    weakref.finalize(module, _release, filename)
    for chunk in code if code is not None else compile_module(source, filename):
        exec(chunk, module.__dict__)
    return module
