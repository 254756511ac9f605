"""Hypothesis settings profiles: a fast, deterministic one for CI and a thorough one for releases."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.configuration import set_hypothesis_home_dir

#: Deterministic (derandomized) and quick: every run tries the same cases; for CI and everyday `mtus test`.
CI = "mtus-ci"
#: Ten times the cases, random each run: before a release (`mtus test --thorough`).
THOROUGH = "mtus-thorough"

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": False,
    "report_multiple_bugs": False,
    "verbosity": Verbosity.quiet,
    # Cases are built from a whole program's declarations; some are slow or large by design.
    "suppress_health_check": list(HealthCheck),
    # No explain phase: it traces every line run while shrinking, which made one failing
    # property shrink for many minutes; the report names the failing rule itself.
    "phases": (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
}

settings.register_profile(CI, max_examples=100, derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile(THOROUGH, max_examples=1000, derandomize=False, **_COMMON)  # type: ignore[arg-type]


def profile(thorough: bool = False) -> settings:
    """Return the settings of the CI profile, or of the thorough one."""
    return settings.get_profile(THOROUGH if thorough else CI)


_home: Path | None = None


def hypothesis_home() -> Path:
    """Point Hypothesis's own files (its example database, caches) at the user cache, never `.hypothesis/` here.

    The folder is `hypothesis/` in mtus-dsl's cache (MTUS_DSL_CACHE, else $XDG_CACHE_HOME/mtus-dsl
    or ~/.cache/mtus-dsl); when caching is off, a temporary folder removed at exit.
    """
    global _home
    if _home is None:
        from mtus_dsl.compiler import cache  # the compile cache's folder and its off values

        folder = cache.directory()
        if folder is not None:
            _home = folder / "hypothesis"
            try:
                _home.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError:
                _home = None
        if _home is None:
            _home = Path(tempfile.mkdtemp(prefix="mtus-dsl-hypothesis-"))
            atexit.register(shutil.rmtree, _home, ignore_errors=True)
        set_hypothesis_home_dir(_home)
    return _home
