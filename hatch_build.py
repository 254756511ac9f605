"""Build hook: compile the shipped corpus into the wheel, so a fresh install decides without parsing.

The wheel then carries `mtus_dsl/precompiled/<key>.compilation`: the cache entry
`mtus_dsl.load()` would otherwise make on its first run (see
mtus_dsl/compiler/cache.py). It is keyed, like every cache entry, by the corpus
texts, the compiler's own code and the Python version: an installation where
any of them differs simply compiles again.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CorpusBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Compile guidelines/ with the compiler being packaged and include the result."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        root = Path(self.root)
        folder = Path(tempfile.mkdtemp(prefix="mtus-precompiled-"))
        saved = os.environ.get("MTUS_DSL_CACHE")
        os.environ["MTUS_DSL_CACHE"] = str(folder)
        sys.path.insert(0, str(root))
        try:
            from mtus_dsl.compiler import compile_paths

            corpus = root / "guidelines"
            compilation = compile_paths([corpus], label=(corpus, "guidelines"))
            if compilation.program is None:
                raise RuntimeError("the shipped corpus does not compile")
            for entry in folder.glob("*.compilation"):
                build_data["force_include"][str(entry)] = f"mtus_dsl/precompiled/{entry.name}"
        except Exception as error:  # the wheel still works: its first load compiles
            self.app.display_warning(f"mtus-dsl: the corpus was not precompiled ({error})")
        finally:
            sys.path.remove(str(root))
            for name in [m for m in sys.modules if m == "mtus_dsl" or m.startswith("mtus_dsl.")]:
                del sys.modules[name]
            if saved is None:
                os.environ.pop("MTUS_DSL_CACHE", None)
            else:
                os.environ["MTUS_DSL_CACHE"] = saved
