"""A Pygments lexer for .mtus files: `pygmentize -l mtus`, and ```mtus blocks in Markdown renderers.

Registered as the `pygments.lexers` entry point `mtus`; its keywords are the grammar's
(syntax.KEYWORDS), so a keyword added to the grammar is highlighted without a change here.
Pygments is an optional extra: `pip install 'mtus-dsl[highlight]'`.
"""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, default, include, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from mtus_dsl.compiler.syntax import KEYWORDS

#: Keywords that are values rather than structure.
CONSTANTS = ("true", "false", "none", "unknown")
#: Keywords that declare a name (the name after them is highlighted as declared).
DECLARATIONS = ("guideline", "section", "enum", "input", "record", "fact", "condition", "table", "property", "cap")


class MtusLexer(RegexLexer):
    """Highlight .mtus guideline files: keywords, declared names, strings with {placeholders}, codes, dates."""

    name = "MTUS"
    aliases: ClassVar[list[str]] = ["mtus"]
    filenames: ClassVar[list[str]] = ["*.mtus"]
    mimetypes: ClassVar[list[str]] = ["text/x-mtus"]
    url = "https://github.com/mtus-dsl/mtus-dsl"

    tokens: ClassVar[dict[str, list[object]]] = {
        "root": [
            (r"[ \t\f]+", Whitespace),
            (r"\r?\n", Whitespace),
            (r"\\[ \t\f]*\r?\n", Text),  # a line continued on the next
            (r"#.*?$", Comment.Single),
            (r"\b(icd9|icd10)\b", Keyword, "codes"),
            (words(DECLARATIONS, suffix=r"\b"), Keyword.Declaration, "declared"),
            include("expression"),
        ],
        "expression": [
            (r'"', String.Double, "string"),
            (r"\d{4}-\d{2}-\d{2}\b", Number.Other),  # a date
            (r"\d+", Number.Integer),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(tuple(w for w in KEYWORDS if w not in CONSTANTS), suffix=r"\b"), Keyword),
            (r"[a-z_][a-z0-9_]*", Name),
            (r"->|<=|>=|!=|\.\.|[=<>+\-*/]", Operator),
            (r"[.,:()\[\]{}]", Punctuation),
        ],
        "declared": [
            (r"[ \t]+", Whitespace),
            (r"[a-z_][a-z0-9_]*", Name.Class, "#pop"),
            default("#pop"),
        ],
        "string": [
            (r'\\.', String.Escape),
            (r"\{\{|\}\}", String.Escape),
            (r"\{[^{}\"\n]*\}", String.Interpol),
            (r'[^"\\{}\n]+', String.Double),
            (r"[{}]", String.Double),
            (r'"', String.Double, "#pop"),
            (r"\n", Whitespace, "#pop"),  # an unclosed string ends at the line's end (the compiler says E001)
        ],
        "codes": [
            (r"[ \t\f]+", Whitespace),
            (r"[A-Z]?[0-9][0-9A-Z]*(\.[0-9A-Z]*)?\*?", Name.Constant),
            (r",", Punctuation),
            (r"#.*?$", Comment.Single),
            (r"\r?\n", Whitespace, "#pop"),
        ],
    }
