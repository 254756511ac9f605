"""Three guideline texts a policy author wrote, loaded beside the shipped corpus without workarounds.

tests/authors/ holds an ACOEM-style low-back rule (section-level `unless`, rules in
'otherwise' order, a phase as weeks since the injury), an ODG-style knee guideline
in two editions that takes precedence over the corpus's Chronic Pain guidelines
without naming a rule, and a neck rule by phase since the injury and by age. They
must compile cleanly with the corpus, and their examples must get their decisions
under both backends.
"""

from __future__ import annotations

import pytest

import mtus_dsl
from mtus_dsl.diagnostics import render_all
from mtus_dsl.examples import check_example

from .conftest import ROOT

AUTHORS = ROOT / "tests" / "authors"
_SCHEDULE = mtus_dsl.load([ROOT / "guidelines", AUTHORS])
# A directory given absolute is named from its own name: `authors/low_back.mtus`.
_EXAMPLES = [e for e in _SCHEDULE.program.examples if e.origin.path.startswith("authors/")]


def test_the_texts_check_clean_beside_the_corpus():
    """No error and no warning: no rule of the corpus is named, no clash is left unordered."""
    assert not _SCHEDULE.diagnostics, render_all(_SCHEDULE.diagnostics, _SCHEDULE.sources)
    assert {p.rsplit("/", 1)[-1] for p in {e.origin.path for e in _EXAMPLES}} == {
        "low_back.mtus", "knee_odg.mtus", "neck.mtus"}


def test_no_text_names_a_corpus_rule():
    """Precedence over the corpus is declared per guideline, not pair by pair."""
    corpus_rules = {r.name for r in mtus_dsl.load([ROOT / "guidelines"]).program.rules}
    for path in AUTHORS.glob("*.mtus"):
        text = path.read_text(encoding="utf-8")
        named = {word for word in corpus_rules if f"overrides {word}" in text or f", {word}" in text}
        assert not named, f"{path.name} names corpus rules {named}"


@pytest.mark.parametrize("example", _EXAMPLES, ids=lambda e: f"{e.origin}:{e.title}")
@pytest.mark.parametrize("backend", ["compiled", "interpreter"])
def test_example(example, backend):
    """Each example of the three texts gets its stated decision."""
    decide = _SCHEDULE.decide if backend == "compiled" else _SCHEDULE.interpret
    result = check_example(example, decide, backend)
    assert result.passed, result.failure
