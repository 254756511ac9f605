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
    for one in (str(file), file, str(tmp_path)):
        assert [r.name for r in mtus_dsl.load(one).program.rules] == ["general"]


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
