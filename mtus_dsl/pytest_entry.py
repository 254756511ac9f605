"""The pytest11 entry point: the plugin's hooks when the authoring extra (lark, Hypothesis) is installed.

A service that installs only the runtime (`pip install mtus-dsl`) and runs its own
tests with pytest must not fail at pytest's start-up: without lark or Hypothesis
this module registers no hook. It lives outside `mtus_dsl.testing`, whose package
imports both.
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401  (only whether it is installed)
    import lark  # noqa: F401
except ModuleNotFoundError:
    AUTHORING = False
else:
    AUTHORING = True

if AUTHORING:
    from mtus_dsl.testing.plugin import *  # noqa: F403  (pytest finds the hooks by name)
