"""Hypothesis settings profiles: a fast, deterministic one for CI and a thorough one for releases."""

from __future__ import annotations

from hypothesis import HealthCheck, Verbosity, settings

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
}

settings.register_profile(CI, max_examples=100, derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile(THOROUGH, max_examples=1000, derandomize=False, **_COMMON)  # type: ignore[arg-type]


def profile(thorough: bool = False) -> settings:
    """Return the settings of the CI profile, or of the thorough one."""
    return settings.get_profile(THOROUGH if thorough else CI)
