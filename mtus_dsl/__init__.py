"""mtus-dsl: California MTUS treatment guidelines as a language, compiled to Python decision functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtus_dsl.case import Case, CaseError, CaseSchema, FieldError
from mtus_dsl.decision import Citation, Decision, Outcome, TraceEntry
from mtus_dsl.diagnostics import CompileError, Diagnostic
from mtus_dsl.provenance import Provenance
from mtus_dsl.runtime import RuleError

if TYPE_CHECKING:
    from mtus_dsl.schedule import Schedule, load, loads

__all__ = [
    "Case",
    "CaseError",
    "CaseSchema",
    "Citation",
    "CompileError",
    "Decision",
    "Diagnostic",
    "FieldError",
    "Outcome",
    "Provenance",
    "RuleError",
    "Schedule",
    "TraceEntry",
    "load",
    "loads",
]

# The compiler (and Lark) load only when they are used: a module written by
# `mtus compile` imports mtus_dsl.runtime and needs none of them.
_COMPILER_NAMES = {"Schedule", "load", "loads"}


def __getattr__(name: str) -> Any:
    if name in _COMPILER_NAMES:
        from mtus_dsl import schedule

        return getattr(schedule, name)
    raise AttributeError(f"module 'mtus_dsl' has no attribute {name!r}")
