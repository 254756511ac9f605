"""Hypothesis's entry point: make `st.from_type(mtus_dsl.Case)` draw cases for the default guidelines.

Hypothesis calls `_hypothesis_setup_hook` when it is imported (entry point group
`hypothesis` in pyproject.toml). The guidelines are compiled only when a test
first asks for a Case: the shipped corpus, or those named by
`mtus_dsl.testing.use_guidelines(...)` or $MTUS_GUIDELINES. It lives outside
`mtus_dsl.testing`, whose package imports the compiler: importing Hypothesis in a
service that installs only the runtime must work.
"""

from __future__ import annotations

from typing import Any


def _hypothesis_setup_hook() -> None:
    """Register the strategy for mtus_dsl.Case."""
    from hypothesis import strategies as st

    from mtus_dsl.case import Case

    st.register_type_strategy(Case, _cases)


def _cases(_type: type) -> Any:
    from mtus_dsl.testing import cases

    return cases()
