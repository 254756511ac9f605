"""Every example written next to the rules gets its stated decision, under both backends."""

from __future__ import annotations

import pytest

import mtus_dsl
from mtus_dsl.examples import check_example

from .conftest import ROOT

_CORPUS = mtus_dsl.load([ROOT / "guidelines"])


@pytest.mark.parametrize("example", _CORPUS.program.examples, ids=lambda e: f"{e.origin}:{e.title}")
@pytest.mark.parametrize("backend", ["compiled", "interpreter"])
def test_example(example, backend):
    """The example's case gets the outcome, approved units and deciding rules it states."""
    decide = _CORPUS.decide if backend == "compiled" else _CORPUS.interpret
    result = check_example(example, decide, backend)
    assert result.passed, result.failure


@pytest.mark.parametrize("example", _CORPUS.program.examples, ids=lambda e: f"{e.origin}:{e.title}")
def test_backends_agree_on_example(example):
    """Compiled code and the interpreter give identical decisions, rationale and trace included."""
    assert _CORPUS.decide(example.case) == _CORPUS.interpret(example.case)


def test_corpus_has_examples():
    """The corpus carries examples (they are the specification next to the rules)."""
    assert len(_CORPUS.program.examples) >= 10
