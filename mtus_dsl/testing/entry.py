"""The pytest11 entry point: the plugin's hooks when the authoring extra (lark, Hypothesis) is installed.

A service that installs only the runtime (`pip install mtus-dsl`) and runs its own
tests with pytest must not fail at pytest's start-up: without lark or Hypothesis
this module registers no hook.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("hypothesis") is not None and importlib.util.find_spec("lark") is not None:
    from mtus_dsl.testing.plugin import *  # noqa: F403  (pytest finds the hooks by name)
