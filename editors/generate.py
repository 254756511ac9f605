"""Write editors/mtus.tmLanguage.json, the TextMate grammar, from the compiler's keywords.

Run it after adding a keyword to the grammar (mtus_dsl/compiler/grammar.lark):

    python editors/generate.py

tests/test_editors.py fails while the file is not what this script writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mtus_dsl.compiler.syntax import KEYWORDS
from mtus_dsl.highlight import CONSTANTS, DECLARATIONS

GRAMMAR = Path(__file__).resolve().parent / "mtus.tmLanguage.json"


def _words(words: list[str]) -> str:
    return r"\b(?:" + "|".join(re.escape(word) for word in sorted(words)) + r")\b"


def grammar() -> dict[str, object]:
    """The TextMate grammar: comments, strings with placeholders, codes, dates, numbers, keywords, names."""
    keywords = [word for word in KEYWORDS if word not in CONSTANTS and word not in DECLARATIONS]
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "MTUS",
        "scopeName": "source.mtus",
        "fileTypes": ["mtus"],
        "patterns": [
            {"include": "#comment"},
            {"include": "#string"},
            {"include": "#codes"},
            {"include": "#declaration"},
            {"include": "#date"},
            {"include": "#number"},
            {"include": "#constant"},
            {"include": "#keyword"},
            {"include": "#operator"},
        ],
        "repository": {
            "comment": {"name": "comment.line.number-sign.mtus", "match": "#.*$"},
            "string": {
                "name": "string.quoted.double.mtus",
                "begin": '"',
                "end": '"|$',
                "patterns": [
                    {"name": "constant.character.escape.mtus", "match": r"\\.|\{\{|\}\}"},
                    {"name": "variable.other.placeholder.mtus", "match": r"\{[^{}\"]*\}"},
                ],
            },
            "codes": {
                "begin": r"\b(icd9|icd10)\b",
                "beginCaptures": {"1": {"name": "keyword.other.mtus"}},
                "end": "$",
                "patterns": [
                    {"include": "#comment"},
                    {"name": "constant.other.code.mtus", "match": r"[A-Z]?[0-9][0-9A-Z]*(\.[0-9A-Z]*)?\*?"},
                ],
            },
            "declaration": {
                "match": _words(list(DECLARATIONS)) + r"\s+([a-z_][a-z0-9_]*)",
                "captures": {"0": {"name": "keyword.declaration.mtus"}, "1": {"name": "entity.name.mtus"}},
            },
            "date": {"name": "constant.numeric.date.mtus", "match": r"\b\d{4}-\d{2}-\d{2}\b"},
            "number": {"name": "constant.numeric.integer.mtus", "match": r"\b\d+\b"},
            "constant": {"name": "constant.language.mtus", "match": _words(list(CONSTANTS))},
            "keyword": {"name": "keyword.other.mtus", "match": _words(keywords)},
            "operator": {"name": "keyword.operator.mtus", "match": r"->|<=|>=|!=|\.\.|[=<>+\-*/]"},
        },
    }


def text() -> str:
    """The grammar file's text."""
    return json.dumps(grammar(), indent=2) + "\n"


if __name__ == "__main__":
    GRAMMAR.write_text(text(), encoding="utf-8")
    print(f"wrote {GRAMMAR}")
