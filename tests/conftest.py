"""Shared fixtures: the shipped corpus, loaded once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mtus_dsl

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Compilations made by the tests are cached in a folder of their own, never the user's."""
    import os

    saved = os.environ.get("MTUS_DSL_CACHE")
    os.environ["MTUS_DSL_CACHE"] = str(tmp_path_factory.mktemp("mtus-cache"))
    yield
    if saved is None:
        del os.environ["MTUS_DSL_CACHE"]
    else:
        os.environ["MTUS_DSL_CACHE"] = saved


@pytest.fixture(scope="session")
def corpus() -> mtus_dsl.Schedule:
    """The shipped guideline corpus, compiled."""
    return mtus_dsl.load([ROOT / "guidelines"])


@pytest.fixture(scope="session")
def seed_case() -> dict:
    """The seed IMR case from examples/."""
    return json.loads((ROOT / "examples" / "seed_imr.json").read_text())
