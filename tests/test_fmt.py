"""`mtus fmt`: the layout, comments kept, idempotence, and parse(fmt(x)) == parse(x) on every program we have.

The round trip is checked on the shipped corpus, the benchmark corpus, every ```mtus block
of the docs, and the programs the fuzzers generate that the parser accepts; AST equality
ignores spans (fmt.without_spans, the one comparison). The corpus is kept formatted: the
test that runs `mtus fmt --check guidelines/` is what CI runs.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis.extra.lark import from_lark

from mtus_dsl import fmt
from mtus_dsl.cli import main
from mtus_dsl.compiler import parser

from .conftest import ROOT
from .test_docs import _blocks
from .test_fuzz import FUZZ, LARK, _layout, _terminals, valid_program

CORPUS = sorted((ROOT / "guidelines").rglob("*.mtus")) + sorted((ROOT / "benchmarks" / "corpus").rglob("*.mtus"))


def _parses(text: str) -> bool:
    module, diagnostics = parser.parse_module(text, "x.mtus")
    return module is not None and not any(d.is_error for d in diagnostics)


def _same_meaning(text: str) -> None:
    """Formatting keeps the AST (spans aside) and is idempotent."""
    before, _ = parser.parse_module(text, "x.mtus")
    formatted = fmt.format_source(text, "x.mtus")
    after, _ = parser.parse_module(formatted, "x.mtus")
    assert after is not None
    assert fmt.without_spans(after) == fmt.without_spans(before)
    assert fmt.format_source(formatted, "x.mtus") == formatted


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_corpus_round_trips(path):
    """Every corpus file formats to the same meaning, and formatting twice changes nothing."""
    _same_meaning(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", CORPUS[:6], ids=lambda p: str(p.relative_to(ROOT)))
def test_a_comment_after_every_line_is_kept(path):
    """A comment at the end of every line (inside brackets too) stays after its code, idempotently."""
    lines = path.read_text(encoding="utf-8").split("\n")
    text = "\n".join(f"{line}  # c{i}" if line.strip() and not line.endswith("\\") else line
                     for i, line in enumerate(lines))
    _same_meaning(text)
    formatted = fmt.format_source(text)
    for i, line in enumerate(lines):
        if line.strip() and not line.endswith("\\"):
            assert f"  # c{i}\n" in formatted


def _doc_blocks() -> list[tuple[str, str]]:
    out = []
    for doc in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        for line, info, body in _blocks(doc):
            if info.split()[:1] in (["mtus"], ["mtus-fragment"], ["mtus-error"]):
                if _parses(body):
                    out.append((f"{doc.name}:{line}", body))
    return out


@pytest.mark.parametrize(("where", "body"), _doc_blocks(), ids=lambda v: v if ":" in v else "")
def test_doc_examples_round_trip(where, body):
    """Every example in the docs that parses formats to the same meaning."""
    _same_meaning(body)


@settings(FUZZ, max_examples=80)
@given(text=valid_program())
def test_generated_programs_round_trip(text):
    """The valid-program fuzzer's programs (those the parser accepts) format to the same meaning."""
    if _parses(text):
        _same_meaning(text)


@settings(FUZZ, max_examples=200)
@given(text=from_lark(LARK, explicit=_terminals()).map(_layout))
def test_grammar_fuzz_round_trips(text):
    """Whatever the grammar fuzzer generates that parses, formats to the same meaning."""
    if _parses(text):
        _same_meaning(text)


# --- the layout -----------------------------------------------------------------------------------

MESSY = """\


# The demo guideline.
guideline   demo "Demo" edition "2020" :
  regulation "8 CCR 0000.0"   # its regulation
  in force from 2020-01-01
input flare_up : boolean "a documented acute flare-up"
input visits_given: integer 0 .. 100 "visits given"



section massage "Massage" pages 60 - 61,70:

    services massage,physical_therapy
    unit visits
    # the general rule
    general: max_visits 6 over 2 weeks unless flare_up
        rationale "{requested} requested"   # said to the worker
        page 60
        when service in {massage , physical_therapy} and min( visits_given,3 )>=0
    example "a list":
        surgeries: [ {procedure: meniscectomy, body_region: knee, date: 2015-02-02} ]
        quantity: -3
        expect needs_information
# trailing
"""

TIDY = """\
# The demo guideline.
guideline demo "Demo" edition "2020":
    regulation "8 CCR 0000.0"  # its regulation
    in force from 2020-01-01
input flare_up: boolean "a documented acute flare-up"
input visits_given: integer 0..100 "visits given"

section massage "Massage" pages 60-61, 70:
    services massage, physical_therapy
    unit visits
    # the general rule
    general: max_visits 6 over 2 weeks unless flare_up
        when service in {massage, physical_therapy} and min(visits_given, 3) >= 0
        page 60
        rationale "{requested} requested"  # said to the worker
    example "a list":
        surgeries: [{procedure: meniscectomy, body_region: knee, date: 2015-02-02}]
        quantity: -3
        expect needs_information
# trailing
"""


def test_layout_golden():
    """Indentation, spacing, blank lines, the order of a rule's clauses and comments, on a messy file."""
    assert fmt.format_source(MESSY, "x.mtus") == TIDY
    assert fmt.format_source(TIDY, "x.mtus") == TIDY


LONG = (
    'fact admission: boolean = below_job_demands and therapy_plateau and not surgical_candidate'
    ' and can_attend_4_hours and return_to_work_goal and request_date <= injury_date + 2 years'
    ' "the admission criteria for work conditioning or work hardening are met"\n'
)


def test_long_lines_break_before_operators_and_descriptions():
    """A line longer than LINE_LENGTH breaks before and/or and before its description, continued with a backslash."""
    assert fmt.format_source(LONG) == (
        "fact admission: boolean = below_job_demands and therapy_plateau and not surgical_candidate"
        " and can_attend_4_hours \\\n"
        "        and return_to_work_goal and request_date <= injury_date + 2 years \\\n"
        '        "the admission criteria for work conditioning or work hardening are met"\n'
    )
    joined = "fact short: boolean = a \\\n    and b\n"
    assert fmt.format_source(joined) == "fact short: boolean = a and b\n"


def test_long_list_breaks_between_items():
    """A long list of records in an example breaks between its items, inside the brackets."""
    item = "{procedure: meniscectomy, body_region: knee, date: 2015-02-02}"
    text = f'example "x":\n    surgeries: [{item}, {item}]\n    expect certify\n'
    assert fmt.format_source(text) == (
        f'example "x":\n    surgeries: [{item},\n            {item}]\n    expect certify\n'
    )


def test_comments_inside_brackets_are_kept():
    """Comments inside brackets (where line ends do not count) stay above or after their token."""
    text = "fact f: boolean = service in {\n    # the first\n    massage,  # trailing\n    physical_therapy\n}\n"
    assert fmt.format_source(text) == (
        "fact f: boolean = service in {\n"
        "        # the first\n"
        "        massage,  # trailing\n"
        "        physical_therapy}\n"
    )


def test_a_rule_body_with_an_unknown_clause_keeps_its_order(monkeypatch):
    """Clauses fmt does not know (added to the grammar later) keep their place: order may matter to them."""
    monkeypatch.setattr(fmt, "CLAUSE_ORDER", ("when", "unless"))
    text = 'section s "S":\n    services massage\n    r: certify\n        page 3\n        when true\n'
    assert fmt.format_source(text) == text


def test_syntax_errors_are_reported_not_formatted():
    """A file with syntax errors is refused with its located diagnostics."""
    with pytest.raises(fmt.FormatError) as error:
        fmt.format_source("fact x boolean = true\n", "bad.mtus")
    assert error.value.diagnostics[0].span.line == 1


# --- the command ----------------------------------------------------------------------------------


def test_the_shipped_corpus_is_formatted():
    """CI: `mtus fmt --check guidelines/ benchmarks/corpus/` passes."""
    result = CliRunner().invoke(main, ["fmt", "--check", str(ROOT / "guidelines"), str(ROOT / "benchmarks/corpus")])
    assert result.exit_code == 0, result.output


def test_check_lists_unformatted_files_and_changes_nothing(tmp_path):
    """--check exits 1 naming each file it would change, and writes nothing."""
    messy, tidy = tmp_path / "messy.mtus", tmp_path / "tidy.mtus"
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    result = CliRunner().invoke(main, ["fmt", "--check", str(tmp_path)])
    assert result.exit_code == 1
    assert f"would reformat {messy}" in result.output
    assert str(tidy) not in result.output
    assert messy.read_text() == MESSY


def test_diff_prints_a_unified_diff(tmp_path):
    """--diff prints what would change as a unified diff and exits 1."""
    messy = tmp_path / "messy.mtus"
    messy.write_text(MESSY)
    result = CliRunner().invoke(main, ["fmt", "--diff", str(messy)])
    assert result.exit_code == 1
    assert f"--- a/{messy}" in result.output and "+    regulation \"8 CCR 0000.0\"  # its regulation" in result.output
    assert messy.read_text() == MESSY


def test_fmt_writes_in_place_and_then_is_quiet(tmp_path):
    """Without options the files are rewritten; a second run finds nothing to do."""
    messy = tmp_path / "messy.mtus"
    messy.write_text(MESSY)
    assert CliRunner().invoke(main, ["fmt", str(messy)]).exit_code == 0
    assert messy.read_text() == TIDY
    result = CliRunner().invoke(main, ["fmt", str(messy)])
    assert result.exit_code == 0 and "1 file(s) already formatted" in result.output


def test_fmt_reads_standard_input():
    """`mtus fmt -` formats standard input to standard output."""
    result = CliRunner().invoke(main, ["fmt", "-"], input=MESSY)
    assert result.exit_code == 0 and result.output == TIDY


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"fact x boolean = true\n", "error[E001]"),
        (b"\xff\xfe", "not valid UTF-8: byte 0xff"),
    ],
)
def test_bad_files_are_reported_with_status_1(tmp_path, content, expected):
    """A file with syntax errors or not UTF-8 is reported, located, exit status 1, and left alone."""
    bad = tmp_path / "bad.mtus"
    bad.write_bytes(content)
    result = CliRunner().invoke(main, ["fmt", str(bad)])
    assert result.exit_code == 1
    assert expected in result.output and "Traceback" not in result.output
    assert bad.read_bytes() == content


def test_a_missing_path_is_reported(tmp_path):
    """A path that does not exist is E000, status 1."""
    result = CliRunner().invoke(main, ["fmt", str(tmp_path / "nope.mtus")])
    assert result.exit_code == 1 and "error[E000]: no such file or directory" in result.output


def test_brackets_nested_deeper_than_the_recursion_limit_format():
    """Brackets leave no node in the AST, so check accepts any depth of them; fmt walks the tree without recursion."""
    text = f'fact f: boolean = {"(" * 3000}true{")" * 3000}\n'
    assert _parses(text)
    assert fmt.format_source(text) == text
    _same_meaning(text.replace("true", "true and\n    false"))


def test_a_byte_order_mark_is_accepted_and_dropped(tmp_path):
    """A file that starts with a BOM formats as check reads it; the canonical file has none, so --check lists it."""
    assert fmt.format_source("\ufeff# c\nenum e:  a, b\n") == "# c\nenum e: a, b\n"
    marked = tmp_path / "marked.mtus"
    marked.write_bytes(b"\xef\xbb\xbf# c\nenum e: a, b\n")
    result = CliRunner().invoke(main, ["fmt", "--check", str(marked)])
    assert result.exit_code == 1 and f"would reformat {marked} (its byte order mark is dropped)" in result.output
    result = CliRunner().invoke(main, ["fmt", str(marked)])
    assert result.exit_code == 0 and marked.read_bytes() == b"# c\nenum e: a, b\n"
    result = CliRunner().invoke(main, ["fmt", "-"], input=b"\xef\xbb\xbfenum e: a, b\n")
    assert result.exit_code == 0 and result.output == "enum e: a, b\n"


@pytest.mark.parametrize("paths", [["-", "FILE"], ["FILE", "-"], ["-", "-"]])
def test_standard_input_must_be_the_only_path(tmp_path, paths):
    """`-` with other paths is a usage error (status 2), not a file named `-` that does not exist."""
    base = tmp_path / "base.mtus"
    base.write_text(TIDY)
    result = CliRunner().invoke(main, ["fmt", *(str(base) if path == "FILE" else path for path in paths)], input=TIDY)
    assert result.exit_code == 2, result.output
    assert "'-' (standard input) must be the only PATH" in result.output and "E000" not in result.output


def test_a_file_that_is_not_utf8_is_reported_at_its_first_bad_byte(tmp_path):
    """The line and column (in characters, after a BOM) of the first byte that is not UTF-8, the file left alone."""
    latin = tmp_path / "lat.mtus"
    latin.write_bytes(b"enum e: a, b\n# caf\xe9 cr\xe8me\n")
    result = CliRunner().invoke(main, ["fmt", str(latin)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{latin}:2:6: error[E000]: not valid UTF-8: byte 0xe9; a guideline file must be UTF-8" in result.output
    assert latin.read_bytes() == b"enum e: a, b\n# caf\xe9 cr\xe8me\n"
    with pytest.raises(fmt.FormatError) as error:
        fmt.decode_source("\ufeffenum é: a\n".encode() + b"\xff", "x.mtus")
    assert str(error.value.diagnostics[0].span) == "x.mtus:2:1"
    with pytest.raises(fmt.FormatError) as error:
        fmt.decode_source(b"\xef\xbb\xbf# \xc3\xa9\xff", "x.mtus")
    assert str(error.value.diagnostics[0].span) == "x.mtus:1:4"


@pytest.mark.parametrize(
    "stdin",
    [
        lambda: b"\xff\xfe".decode("utf-8", "surrogateescape"),  # a stream under a C locale
        lambda: b"\xff\xfe".decode("utf-8"),  # a strict stream: read() raises
        lambda: b"\xff\xfe",  # the bytes themselves
    ],
    ids=["surrogateescape", "strict", "bytes"],
)
def test_standard_input_that_is_not_utf8_is_reported_located(stdin):
    """Standard input that is not UTF-8 is said to be so at 1:1, not an unexpected character U+DCFF."""
    errors: list[str] = []
    status = fmt.run_command(("-",), check=False, show_diff=False, out=errors.append, err=errors.append, stdin=stdin)
    assert status == 1
    assert errors[0].startswith("<stdin>:1:1: error[E000]: not valid UTF-8: byte 0xff; a guideline file must be UTF-8")


def test_a_format_error_pickles_and_copies_as_itself():
    """Once rebuilt from its message (its diagnostics were the message's characters): a worker's error reads true."""
    import copy
    import pickle

    with pytest.raises(fmt.FormatError) as raised:
        fmt.format_source("guideline x\n", "a.mtus")
    error = raised.value
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(again) is fmt.FormatError
        assert str(again) == str(error) == "1 syntax error(s)"
        assert again.diagnostics == error.diagnostics
