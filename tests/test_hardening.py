"""Hostile input (issue 14): batches, case files, guideline files and API calls that once crashed or misled."""

from __future__ import annotations

import io
import json
import os
import sys
import tracemalloc

from click.testing import CliRunner

from mtus_dsl import cli
from mtus_dsl.cli import EXIT_BAD_INPUT, EXIT_OK, main

from .conftest import ROOT

GOOD = {"request_date": "2015-09-23", "service": "physical_therapy", "body_region": "knee", "quantity": 5,
        "diagnoses": ["729.1"], "prior_visits": 0, "prior_visits_all_regions": 0, "surgeries": [],
        "injury_date": "2014-11-10"}


def _case(case_id: str, **changes) -> bytes:
    return json.dumps({**GOOD, "id": case_id, **changes}).encode()


def _run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _decided_ids(output: str) -> list[str]:
    return [json.loads(line)["id"] for line in output.splitlines() if line.startswith('{"id"')]


# --- batches ------------------------------------------------------------------------------


def test_batch_hostile_lines_are_each_located_and_the_others_decided(tmp_path):
    """Deep nesting, a 5,000-digit quantity, a bad byte, U+2028, a lone surrogate: one error each, no traceback."""
    lines = [
        b"\xef\xbb\xbf" + _case("bom"),  # 1: a BOM on the first line is accepted
        b"[" * 100_000 + b"]" * 100_000,  # 2: nested 100,000 deep
        _case("after-deep"),  # 3
        _case("q").replace(b'"quantity": 5', b'"quantity": ' + b"9" * 5000),  # 4: a 5,000-digit quantity
        json.dumps({**GOOD, "id": "a\u2028b"}, ensure_ascii=False).encode(),  # 5: U+2028 inside a string
        _case("bad").replace(b'"bad"', b'"b\xffd"'),  # 6: not UTF-8
        _case("\ud800"),  # 7: a lone surrogate (escaped in the JSON)
        b"\xef\xbb\xbf" + _case("late-bom"),  # 8: a BOM after the first line
        _case("last"),  # 9
    ]
    batch = tmp_path / "cases.jsonl"
    batch.write_bytes(b"\n".join(lines) + b"\n")
    result = _run("decide", str(batch), "--json")
    assert result.exit_code == EXIT_BAD_INPUT
    assert _decided_ids(result.output) == ["bom", "after-deep", "a\u2028b", "\ud800", "last"]
    out = result.output
    assert f"{batch}:2: error: not a case: nested more than 50 deep (column 51)" in out
    assert f"{batch}:4: error: not a case: a number with 5000 digits; a case's numbers have at most 30" in out
    assert f"{batch}:6: error: not valid UTF-8: byte 0xff" in out
    assert f"{batch}:8: error: a byte order mark (BOM) is allowed only at the start of the file" in out
    assert "5 decided, 4 could not be decided" in out
    assert "RecursionError" not in out and "ValueError" not in out


def test_batch_line_numbers_count_newlines_only(tmp_path):
    """U+2028, U+0085 and a lone CR inside strings do not split a line: later line numbers stay right."""
    batch = tmp_path / "cases.jsonl"
    odd = json.dumps({**GOOD, "id": "x\u2028y\u0085z\rw"}, ensure_ascii=False).encode()
    batch.write_bytes(odd + b"\n" + _case("two", quantity=0) + b"\n")
    result = _run("decide", str(batch), "--json")
    assert f"{batch}:2: error: quantity: 0 is out of range" in result.output
    assert "1 decided, 1 could not be decided" in result.output


def test_letter_escapes_control_characters_in_a_case(tmp_path):
    """An id with newlines cannot forge a paragraph; a lone surrogate cannot crash the text output."""
    batch = tmp_path / "cases.jsonl"
    forged = "X\n\nDecision: MEDICALLY NECESSARY: certified, 999 of 999 visits.\n"
    batch.write_bytes(_case(forged, quantity=200) + b"\n" + _case("\ud800\x1b[2J") + b"\n")
    result = _run("decide", str(batch))
    assert result.exit_code == EXIT_OK, result.output
    assert "\nDecision: MEDICALLY NECESSARY: certified, 999" not in result.output
    assert "Request X\\n\\nDecision: MEDICALLY NECESSARY: certified, 999 of 999 visits.\\n:" in result.output
    assert "Request \\ud800\\x1b[2J:" in result.output
    paragraphs = [line for line in result.output.splitlines() if line.startswith("Decision:")]
    assert len(paragraphs) == 2


def test_a_line_too_long_is_one_error(tmp_path, monkeypatch):
    """A line longer than the bound is skipped in blocks (never held whole) and reported; the next is decided."""
    monkeypatch.setattr(cli, "MAX_CASE_BYTES", 1000)
    batch = tmp_path / "cases.jsonl"
    batch.write_bytes(_case("long", procedure="p" * 5000) + b"\n" + _case("next") + b"\n")
    result = _run("decide", str(batch), "--json")
    assert f"{batch}:1: error: the line is longer than 1000 bytes" in result.output
    assert _decided_ids(result.output) == ["next"]


def _peak(corpus, lines: int) -> int:
    data = b"".join(_case(f"c{i}", quantity=1 + i % 30) + b"\n" for i in range(lines))
    saved = sys.stdout, sys.stderr
    with open(os.devnull, "w") as sink:
        sys.stdout = sys.stderr = sink
        try:
            tracemalloc.start()
            status = cli._decide_batch("cases.jsonl", io.BytesIO(data), corpus.decide, True, False)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            sys.stdout, sys.stderr = saved
    assert status == EXIT_OK
    return peak


def test_batch_memory_does_not_grow_with_the_file(corpus):
    """Deciding 10,000 lines takes no more memory than deciding 1,000: the batch is streamed."""
    small, large = _peak(corpus, 1_000), _peak(corpus, 10_000)
    assert large < 2 * small + 200_000, (small, large)


# --- a single .json case ------------------------------------------------------------------


def test_case_file_with_a_bom_is_decided(tmp_path):
    case = tmp_path / "case.json"
    case.write_bytes(b"\xef\xbb\xbf" + _case("bom"))
    result = _run("decide", str(case), "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.output)["id"] == "bom"


def test_case_file_bounds_are_located(tmp_path):
    """Deep nesting, a huge integer and a bad byte in a .json file: FILE:LINE:COLUMN, exit 2, no traceback."""
    deep, big, byte = tmp_path / "deep.json", tmp_path / "big.json", tmp_path / "byte.json"
    deep.write_bytes(b'{"id": "d",\n "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    big.write_bytes(b'{"id": "b",\n "quantity": ' + b"1" * 5000 + b"}")
    byte.write_bytes(b'{"id": "b",\n "service": "mas\xc3sage"}')
    for path, expected in [
        (deep, f"{deep}:2:56: error: not a case: nested more than 50 deep"),
        (big, f"{big}:2:14: error: not a case: a number with 5000 digits"),
        (byte, f"{byte}:2:17: error: not valid UTF-8: byte 0xc3"),
    ]:
        result = _run("decide", str(path))
        assert result.exit_code == EXIT_BAD_INPUT
        assert expected in result.output, result.output


def test_case_errors_are_capped(tmp_path):
    """A case with 20,000 unknown fields prints a few errors and "... and N more", not megabytes."""
    case = tmp_path / "case.json"
    case.write_text(json.dumps({**GOOD, **{f"field{i}": 1 for i in range(20_000)}}))
    result = _run("decide", str(case))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "... and 19980 more" in result.output
    assert len(result.output) < 20_000
    batch = tmp_path / "cases.jsonl"
    batch.write_text(case.read_text() + "\n")
    result = _run("decide", str(batch))
    assert "... and 19980 more" in result.output
    assert len(result.output) < 20_000


# --- hostile guideline files --------------------------------------------------------------

HEAD = ('guideline demo "Demo Guidelines" edition "1":\n    in force from 2020-01-01\n\n'
        'section massage "Massage" page 60:\n    services massage\n')


def _diagnostics(text: str) -> list[str]:
    """Compile through the public API: a CompileError (never another exception) carrying located diagnostics."""
    import pytest

    import mtus_dsl

    with pytest.raises(mtus_dsl.CompileError) as raised:
        mtus_dsl.loads({"x.mtus": text})
    return [f"{d.span}: {d.code}: {d.message}" for d in raised.value.diagnostics]


def test_an_integer_of_5000_digits_is_located():
    """Once a lark VisitError traceback (Python converts at most 4,300 digits); now E011 at the number."""
    assert _diagnostics(HEAD + "    general: max_visits " + "9" * 5000 + "\n") == [
        "x.mtus:6:25: E011: this number has 5000 digits; a number in a .mtus file has at most 9"
    ]
    product = "4" * 4000 + " * " + "4" * 4000
    assert _diagnostics(HEAD + f"    general: max_visits 6\n        rationale \"{{requested * {product}}}\"\n") == [
        "x.mtus:7:33: E011: this number has 4000 digits; a number in a .mtus file has at most 9"
    ]
    assert _diagnostics(HEAD + "    general: max_visits 1000000000\n")[0].startswith("x.mtus:6:25: E011:")
    import mtus_dsl

    assert mtus_dsl.loads({"x.mtus": HEAD + "    general: max_visits 999999999\n"}).program.rules


def test_a_chain_of_squares_is_refused_at_check_time():
    """Once a hang in `mtus check` (each fact squares the last); now E120 at each fact past 100 digits."""
    facts = "fact f0: integer = quantity * 999999999\n" + "".join(
        f"fact f{i}: integer = f{i - 1} * f{i - 1}\n" for i in range(1, 41))
    text = HEAD.replace("section", facts + "\nsection", 1) + "    general: max_visits 6 when f40 > 0\n"
    found = _diagnostics(text)
    assert found[0].startswith("x.mtus:7:1: E120: fact 'f3' can compute a number of up to 104 digits")
    assert all(": E120: " in line for line in found)


def test_a_product_in_a_rationale_too_large_to_print_is_refused():
    """Once a ValueError traceback when the rationale was read (over 4,300 digits); now E120 at the rule."""
    product = " * ".join(["999999999"] * 12)
    found = _diagnostics(HEAD + f"    general: max_visits 6\n        rationale \"{{requested * {product}}}\"\n")
    assert found == ["x.mtus:6:5: E120: rule 'general' can compute a number of up to 138 digits; "
                     "a computation in a guideline stays within 100"]


def test_small_products_still_check():
    """A limit computed from a ranged input and a table stays well inside the bound."""
    import mtus_dsl

    text = HEAD + "    general: max_visits quantity * 2 + prior_visits * 3\n"
    assert mtus_dsl.loads({"x.mtus": text}).program.rules


def test_a_case_integer_too_long_is_a_field_error():
    """Through the API (the CLI refuses it while parsing JSON): an integer of over 30 digits is out of range."""
    import pytest

    import mtus_dsl
    from mtus_dsl import CaseError

    with pytest.raises(CaseError) as raised:
        mtus_dsl.load().decide({"service": "physical_therapy", "body_region": "knee", "quantity": 10 ** 5000,
                                "request_date": "2015-01-01"})
    assert [(e.loc, e.type) for e in raised.value.errors] == [(("quantity",), "out_of_range")]


def test_an_integer_of_5000_digits_in_check_is_no_traceback(tmp_path):
    bad = tmp_path / "big.mtus"
    bad.write_text(HEAD + "    general: max_visits " + "9" * 5000 + "\n")
    result = _run("check", str(bad))
    assert result.exit_code == 1
    assert "error[E011]: this number has 5000 digits" in result.output


def test_an_unclosed_brace_in_a_rationale_is_located():
    assert _diagnostics(HEAD + '    general: max_visits 6\n        rationale "{{ok}} and {requested visits"\n') == [
        "x.mtus:7:31: E006: this '{' is never closed"
    ]
    import mtus_dsl

    text = HEAD + '    general: max_visits 6\n        rationale "{{literal}} {requested} of }} visits"\n'
    assert mtus_dsl.loads({"x.mtus": text}).program.rules


def test_a_brace_that_closes_no_placeholder_is_located():
    assert _diagnostics(HEAD + '    general: max_visits 6\n        rationale "{requested} of } visits"\n') == [
        "x.mtus:7:35: E006: this '}' closes no placeholder"
    ]


def test_an_unknown_escape_is_located_and_the_known_ones_are_read():
    """A backslash means one thing: an escape the docs list, or E003 at the backslash (Python keeps \\q as written)."""
    assert _diagnostics(HEAD + '    general: max_visits 6\n        rationale "six \\q visits"\n') == [
        "x.mtus:7:24: E003: unknown escape '\\q' in this string"
    ]
    assert _diagnostics(HEAD.replace('"Massage"', '"Mass\\age"') + "    general: max_visits 6\n")[0].endswith(
        "E003: unknown escape '\\a' in this string")
    import mtus_dsl

    text = HEAD + '    general: max_visits 6\n' + r'''        rationale "\" \\ \' \t \x41 \u00e9 \N{BULLET} {requested}"''' + '\n'
    schedule = mtus_dsl.loads({"x.mtus": text})
    decision = schedule.decide({"request_date": "2021-01-01", "service": "massage", "body_region": "knee", "prior_visits": 0,
                                "quantity": 4})
    assert decision.rationale.startswith("\" \\ ' \t A \u00e9 \u2022 4")


def test_a_line_indented_too_deep_is_blamed_alone():
    """Once E001 at the end of the line above, and a false E004 (the section left empty by recovery)."""
    assert _diagnostics(HEAD + "        general: max_visits 6\n") == [
        "x.mtus:6:1: E005: this line is indented deeper than the line above it, which opens no block"
    ]
    assert _diagnostics(HEAD + "\n   # note\n        general: max_visits 6\n    unit visits\n") == [
        "x.mtus:8:1: E005: this line is indented deeper than the line above it, which opens no block"
    ]


def test_nesting_too_deep_is_located_where_it_is_too_deep():
    """Once at the section's header, whatever line of it nested."""
    found = _diagnostics(HEAD + "    unit visits\n    general: max_visits 6\n        when " + "not " * 150 + "true\n")
    assert len(found) == 1 and found[0].startswith("x.mtus:8:") and "nests more than 100 levels deep" in found[0]


def test_a_period_longer_than_any_case_is_an_error():
    """Once accepted, then E301 on every case that reached it."""
    assert _diagnostics(HEAD + "    general: max_visits 6 over 301 years\n") == [
        "x.mtus:6:32: E122: a period of 301 years is longer than the span of the dates a case can give "
        "(1900-01-01 to 2199-12-31)"
    ]
    import mtus_dsl

    assert mtus_dsl.loads({"x.mtus": HEAD + "    general: max_visits 6 over 300 years\n"}).program.rules
    table = HEAD.split("section")[0] + ("table t:\n    key body_region: body_region\n    value period: duration\n"
                                        "    knee -> 400 years\n    otherwise -> 4 weeks\n")
    assert _diagnostics(table)[0].startswith("x.mtus:7:13: E122: a period of 400 years is longer")


def test_a_lone_carriage_return_ends_a_line_in_every_reader(tmp_path):
    """Once a comment ran on past a lone \\r through loads() and the editor, hiding the code after it; a file read
    from disk (universal newlines) already broke the line there. Now a line ends at \\n, \\r\\n or \\r everywhere."""
    from mtus_dsl import fmt

    text = HEAD + "    general: max_visits 6\n# a note\rfact f: boolean = flaringg\n"
    expected = ["x.mtus:8:19: E102: unknown fact 'flaringg'"]
    assert _diagnostics(text) == expected
    (tmp_path / "x.mtus").write_bytes(text.encode())
    result = _run("check", str(tmp_path / "x.mtus"))
    assert "x.mtus:8:19: error[E102]: unknown fact 'flaringg'" in result.output
    good = HEAD + "    general: max_visits 6\n# a note\rfact f: boolean = true\r\n"
    assert fmt.format_source(good) == fmt.format_source(good.replace("\r\n", "\n").replace("\r", "\n"))


def test_a_nul_in_a_string_is_named():
    assert _diagnostics(HEAD + '    general: max_visits 6\n        rationale "six \x00 visits"\n') == [
        "x.mtus:7:24: E003: unexpected character '\\x00' (a NUL) in this string"
    ]


def test_a_bom_at_the_start_of_a_guideline_file_is_accepted(tmp_path):
    import mtus_dsl

    text = HEAD + "    general: max_visits 6\n"
    (tmp_path / "bom.mtus").write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = _run("check", str(tmp_path / "bom.mtus"))
    assert result.exit_code == EXIT_OK, result.output
    assert mtus_dsl.loads({"x.mtus": "\ufeff" + text}).program.rules
    assert mtus_dsl.load([tmp_path / "bom.mtus"]).sources["bom.mtus"] == text  # named relative to its root


# --- the API ------------------------------------------------------------------------------


def test_load_takes_one_path_as_a_str_or_a_path(tmp_path):
    """Once one E000 per character of the string; now one path."""
    import mtus_dsl

    file = tmp_path / "massage.mtus"
    file.write_text(HEAD + "    general: max_visits 6\n")
    for one in (str(file), file, str(tmp_path), bytes(file)):
        assert [r.name for r in mtus_dsl.load(one).program.rules] == ["general"]


def test_load_names_a_path_that_is_not_one():
    """An iterable of something other than paths is one E000 naming it, not a TypeError."""
    import pytest

    import mtus_dsl
    from mtus_dsl import CompileError

    with pytest.raises(CompileError) as raised:
        mtus_dsl.load([1])  # type: ignore[list-item]
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.code == "E000" and "not int" in diagnostic.message


def test_load_of_an_empty_list_is_an_error():
    """Once an empty schedule, silently; now a CompileError with one E000."""
    import pytest

    import mtus_dsl

    with pytest.raises(mtus_dsl.CompileError) as raised:
        mtus_dsl.load([])
    assert [(d.code, d.message) for d in raised.value.diagnostics] == [
        ("E000", "no guideline files given (load() with no argument loads the shipped corpus)")
    ]


def test_a_case_built_directly_is_validated(corpus, seed_case):
    """Case(None, {"quantity": "12", ...}) was decided with requested '12'; now it cannot be built."""
    import pytest

    from mtus_dsl import Case, CaseError

    good = dict(corpus.case(seed_case).values)
    with pytest.raises(CaseError, match="quantity: expected a whole number from 1 to 1000, not the string '12'"):
        Case(None, {**good, "quantity": "12"})
    with pytest.raises(CaseError, match=r"request_date: expected a datetime\.date, not the string '2015-09-23'"):
        Case(None, {**good, "request_date": "2015-09-23"})
    # What only the case format knows is checked when a schedule is given the case.
    odd = Case("x", {**good, "radicular_findings": "yes"})
    for use in (corpus.decide, corpus.outcome, corpus.interpret, corpus.case):
        with pytest.raises(CaseError, match="radicular_findings: expected true or false, not the string 'yes'"):
            use(odd)
    # A good case built directly decides as its dict does.
    direct = Case(seed_case.get("id"), good)
    assert corpus.decide(direct) == corpus.decide(seed_case)
    assert corpus.case(direct) == corpus.case(seed_case)


def test_a_case_cannot_be_changed(corpus, seed_case):
    import copy
    import pickle

    import pytest

    case = corpus.case(seed_case)
    for change in (lambda v: v.__setitem__("quantity", 99), lambda v: v.update(quantity=99), lambda v: v.clear(),
                   lambda v: v.pop("quantity"), lambda v: v.setdefault("x", 1), lambda v: v.__delitem__("quantity")):
        with pytest.raises(TypeError, match="a case's values cannot be changed"):
            change(case.values)
    mine = dict(case.values)
    built = type(case)(None, mine)
    mine["quantity"] = 99  # the case holds its own copy
    assert built.values["quantity"] == case.values["quantity"]
    assert pickle.loads(pickle.dumps(case)) == case
    assert copy.deepcopy(case) == case
    assert corpus.decide(case) == corpus.decide(seed_case)


def test_case_error_message_is_capped(corpus):
    import pytest

    from mtus_dsl import CaseError

    with pytest.raises(CaseError) as raised:
        corpus.case({**GOOD, **{f"field{i}": 1 for i in range(20_000)}})
    assert len(raised.value.errors) == 20_000
    assert str(raised.value).endswith("; ... and 19980 more")
    assert len(str(raised.value)) < 10_000


# --- calendar edges -----------------------------------------------------------------------

LATE_KNEE = {**GOOD, "request_date": "9999-12-31", "injury_date": "9999-01-01",
             "surgeries": [{"procedure": "meniscectomy", "body_region": "knee", "date": "9999-11-01"}]}
OUT_OF_RANGE = "is out of range; expected a date from 1900-01-01 to 2199-12-31"


def test_a_date_past_the_case_range_is_a_located_case_error(corpus, tmp_path):
    """Once exit 3, "9999-11-01 + 6 months is not a date" (E301); now a CaseError naming each date, exit 2."""
    import pytest

    from mtus_dsl import Case, CaseError

    with pytest.raises(CaseError) as raised:
        corpus.decide(LATE_KNEE)
    assert [str(e) for e in raised.value.errors] == [
        f"request_date: '9999-12-31' {OUT_OF_RANGE}",
        f"surgeries[0].date: '9999-11-01' {OUT_OF_RANGE}",
        f"injury_date: '9999-01-01' {OUT_OF_RANGE}",
    ]
    case = tmp_path / "late.json"
    case.write_text(json.dumps(LATE_KNEE))
    result = _run("decide", str(case))
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"{case}: error: request_date: '9999-12-31' {OUT_OF_RANGE}" in result.output
    assert f"{case}: error: surgeries[0].date: '9999-11-01' {OUT_OF_RANGE}" in result.output
    assert "E301" not in result.output
    # Both ends, one day outside, and both validators: the generated one words them as Case.from_dict does.
    fast = corpus.module.__dict__["_validate"]
    for bad in ({**GOOD, "request_date": "2200-01-01"}, {**GOOD, "injury_date": "1899-12-31"},
                {**GOOD, "surgeries": [{"procedure": "x", "body_region": "knee", "date": "0001-01-01"}]}, LATE_KNEE):
        with pytest.raises(CaseError) as fast_error:
            fast(bad)
        with pytest.raises(CaseError) as general_error:
            Case.from_dict(bad, corpus.schema)
        assert fast_error.value.errors == general_error.value.errors
        assert all(OUT_OF_RANGE in e.message for e in fast_error.value.errors)
    for good in ({**GOOD, "request_date": "2199-12-31"}, {**GOOD, "injury_date": "1900-01-01"}):
        assert fast(good) == Case.from_dict(good, corpus.schema)


def test_a_case_at_the_end_of_the_range_decides(corpus, tmp_path):
    """The last day a case may name, a knee surgery two months before: decided (post-surgical), both backends."""
    last = {**LATE_KNEE, "request_date": "2199-12-31", "injury_date": "2199-01-01", "postsurgical_visits": 0,
            "surgeries": [{"procedure": "meniscectomy", "body_region": "knee", "date": "2199-11-01"}]}
    decision = corpus.decide(last)
    assert (decision.outcome.value, decision.rules) == ("certify", ("postsurgical",))
    assert corpus.interpret(last) == decision
    case = tmp_path / "last.json"
    case.write_text(json.dumps(last))
    result = _run("decide", str(case), "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.output)["outcome"] == "certify"


def test_the_corpus_periods_keep_every_case_date_in_the_calendar(corpus):
    """Totality's premise: every period the corpus states, added to or taken from any case date, is a date."""
    from mtus_dsl.case import FIRST_CASE_DATE, LAST_CASE_DATE
    from mtus_dsl.runtime import add_duration
    from mtus_dsl.testing.strategies import boundaries

    periods = boundaries(corpus.program).periods
    assert periods, "the corpus states periods (postsurgical, 'over' clauses)"
    for period in periods:
        for sign in (1, -1):
            # The longest period, twice over, either way from either end (a surgery date + its period, then more).
            add_duration(add_duration(LAST_CASE_DATE, period, sign), period, sign)
            add_duration(add_duration(FIRST_CASE_DATE, period, sign), period, sign)


def test_totality_at_the_ends_of_the_case_range(corpus):
    """No RuleError from date arithmetic on the corpus for cases dated at either end of the range."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mtus_dsl.testing import case_data

    ends = st.sampled_from(["1900-01-01", "1900-01-02", "1900-07-01", "2199-06-30", "2199-12-30", "2199-12-31"])
    rules = [rule.name for rule in corpus.program.rules]

    @settings(max_examples=150, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(data=case_data(corpus, rules=rules, request_date=ends, injury_date=ends))
    def decided(data):
        decision = corpus.decide(data)  # a RuleError fails the test
        assert decision.requested == data["quantity"]

    decided()


# --- a case is trusted only by the case format that validated it -------------------------

LOOSE = HEAD + '    general: max_visits 6\ninput flare: integer 0..100 "flare-ups this year"\n'
STRICT = HEAD + '    general: max_visits 6 unless flare\ninput flare: boolean "a flare-up"\n'
MASSAGE = {"request_date": "2021-03-01", "service": "massage", "body_region": "knee", "quantity": 4}
FLARE = "flare: expected true or false, not the number 7"


def _compiled_module(tmp_path, guidelines):
    """`mtus compile GUIDELINES -o rules.py`, imported as a standalone module."""
    import importlib.util

    out = tmp_path / "rules.py"
    result = _run("compile", str(guidelines), "-o", str(out))
    assert result.exit_code == EXIT_OK, result.output
    spec = importlib.util.spec_from_file_location("strict_rules", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_case_validated_for_other_guidelines_is_checked_again(tmp_path):
    """Once decided as it was (flare = 7 read as true): every entry point now checks it against its own format."""
    import pytest

    import mtus_dsl
    from mtus_dsl import CaseError
    from mtus_dsl.compiler.interpreter import Interpreter
    from mtus_dsl.engine import Engine

    (tmp_path / "strict.mtus").write_text(STRICT)
    loose, strict = mtus_dsl.loads({"loose.mtus": LOOSE}), mtus_dsl.load(tmp_path / "strict.mtus")
    other = loose.case({**MASSAGE, "flare": 7})
    module = _compiled_module(tmp_path, tmp_path / "strict.mtus")
    bare = Engine(strict.engine.plan)
    deciders = [strict.decide, strict.outcome, strict.interpret, strict.case, strict.engine.decide,
                strict.engine.outcome, bare.decide, bare.case, Interpreter(strict.program).engine().decide,
                module.decide, module.outcome, module._ENGINE.case]
    for decide in deciders:
        with pytest.raises(CaseError, match=FLARE):
            decide(other)
    # A case that is good for both is decided as its dict is, by each (flare unknown: needs information).
    both = loose.case(MASSAGE)
    assert module.decide(both) == strict.decide(MASSAGE) == bare.decide(both) == strict.interpret(both)
    assert module.outcome(both) == strict.outcome(MASSAGE) == ("needs_information", 0)
    assert strict.decide(strict.case({**MASSAGE, "flare": False, "prior_visits": 0})).outcome.value == "certify"


def test_a_case_built_by_hand_is_never_decided_unvalidated(corpus, seed_case, tmp_path):
    """Case(...) checks the core; whatever else it holds is checked by every engine, compiled module included."""
    import attrs
    import pytest

    import mtus_dsl
    from mtus_dsl import Case, CaseError
    from mtus_dsl.engine import Engine

    good = dict(corpus.case(seed_case).values)
    with pytest.raises(CaseError, match="quantity: expected a whole number from 1 to 1000, not the string '12'"):
        Case(None, {**good, "quantity": "12"})
    odd = Case("x", {**good, "radicular_findings": "yes", "prior_visits": -3})
    module = _compiled_module(tmp_path, ROOT / "guidelines")
    for decide in (corpus.decide, corpus.engine.decide, Engine(corpus.engine.plan).decide, corpus.engine.outcome,
                   module.decide, module.outcome):
        with pytest.raises(CaseError) as raised:
            decide(odd)
        assert [e.field for e in raised.value.errors] == ["prior_visits", "radicular_findings"]
    # Changing a validated case makes a case built by hand: checked again.
    validated = corpus.case(seed_case)
    with pytest.raises(CaseError, match="prior_visits: -3 is out of range"):
        corpus.engine.decide(attrs.evolve(validated, values={**good, "prior_visits": -3}))
    assert corpus.engine.decide(attrs.evolve(validated, values=good)) == corpus.decide(seed_case)
    # What validation made is taken as it is, and so is a case of an equal format (the corpus loaded again).
    assert corpus.case(validated) is validated
    assert corpus.interpreter.case(validated) is validated
    own = Case.from_dict(seed_case, corpus.schema)
    assert corpus.engine.case(own) is own and corpus.interpreter.case(own) is own
    assert mtus_dsl.load().case(validated) is validated


def test_a_record_in_a_case_cannot_be_changed(corpus, seed_case):
    """A surgery's values are as frozen as the case's: a validated date cannot become 9999-11-01 afterwards."""
    import datetime

    import pytest

    case = corpus.case(seed_case)
    surgery = case.values["surgeries"][0]
    with pytest.raises(TypeError, match="a case's values cannot be changed"):
        surgery.values["date"] = datetime.date(9999, 11, 1)
    fast = corpus.module.__dict__["_validate"](seed_case)
    with pytest.raises(TypeError, match="a case's values cannot be changed"):
        fast.values["surgeries"][0].values.update(date=datetime.date(9999, 11, 1))


def test_the_cli_says_a_cache_warning_in_one_line(tmp_path):
    """A cache folder others can write is refused with one `warning:` line, not Python's file:line and source."""
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    import subprocess
    from pathlib import Path

    # A process of its own: pytest catches warnings before the CLI could print them.
    mtus = Path(sys.executable).parent / "mtus"
    result = subprocess.run([str(mtus), "decide", str(ROOT / "examples" / "seed_imr.json")], capture_output=True,
                            text=True, env={**os.environ, "MTUS_DSL_CACHE": str(folder)}, timeout=120)
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: mtus-dsl: not using the cache folder {folder}: another user owns it or can write to it "
        "(make it yours with mode 0700, or set MTUS_DSL_CACHE)"]
