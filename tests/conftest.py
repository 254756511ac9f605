"""Shared fixtures: the shipped corpus, loaded once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mtus_dsl

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def corpus() -> mtus_dsl.Schedule:
    """The shipped guideline corpus, compiled."""
    return mtus_dsl.load([ROOT / "guidelines"])


@pytest.fixture(scope="session")
def seed_case() -> dict:
    """The seed IMR case from examples/."""
    return json.loads((ROOT / "examples" / "seed_imr.json").read_text())
