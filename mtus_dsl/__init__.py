"""mtus-dsl: California MTUS treatment guidelines as a language, compiled to Python decision functions."""

from mtus_dsl.case import Case, CaseError
from mtus_dsl.decision import Citation, Decision, Outcome, TraceEntry
from mtus_dsl.diagnostics import CompileError, Diagnostic
from mtus_dsl.schedule import Schedule, load, loads

__all__ = [
    "Case",
    "CaseError",
    "Citation",
    "CompileError",
    "Decision",
    "Diagnostic",
    "Outcome",
    "Schedule",
    "TraceEntry",
    "load",
    "loads",
]
