"""The mtus command: documented exit statuses, located messages, never a traceback."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mtus_dsl.cli import EXIT_BAD_INPUT, EXIT_GUIDELINE_ERRORS, EXIT_OK, EXIT_OUTPUT_CLOSED, main

from .conftest import ROOT

GOOD = {"request_date": "2015-09-23", "service": "physical_therapy", "body_region": "knee", "quantity": 5,
        "diagnoses": ["729.1"], "prior_visits": 0, "prior_visits_all_regions": 0, "surgeries": [],
        "injury_date": "2014-11-10"}


def _run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_check_corpus_is_clean():
    """`mtus check guidelines/` reports no errors and exits 0."""
    result = _run("check", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_OK, result.output
    assert result.output.startswith("ok:")


def test_check_reports_located_errors(tmp_path):
    """A bad file gets path:line:col: error[E…] lines and exit status 1."""
    bad = tmp_path / "bad.mtus"
    bad.write_text('guideline g "G" edition "1":\n    in force from 2009-01-01\nsection s "S" pages 1:\n'
                   "    services physical_therapy\n    r: max_visit 10\n")
    result = _run("check", str(bad))
    assert result.exit_code == EXIT_GUIDELINE_ERRORS
    # Given by its absolute path, the file is named from its root: no machine path in any output.
    assert "bad.mtus:5:8: error[E002]: unknown keyword 'max_visit'; did you mean 'max_visits'?" in result.output
    assert str(tmp_path) not in result.output


def test_check_missing_path():
    """A path that does not exist is an error with its name, not a crash."""
    result = _run("check", "no/such/dir")
    assert result.exit_code == EXIT_GUIDELINE_ERRORS
    assert "no such file or directory: 'no/such/dir'" in result.output


def test_decide_bad_case_exits_2(tmp_path):
    """A case with a bad field names it and exits 2."""
    case = tmp_path / "case.json"
    case.write_text(json.dumps({**GOOD, "service": "physio"}))
    result = _run("decide", str(case))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "service: 'physio' is not a known service" in result.output


def test_decide_invalid_json_is_located(tmp_path):
    """Invalid JSON is reported with line and column and exits 2."""
    case = tmp_path / "case.json"
    case.write_text('{"service": \n oops}')
    result = _run("decide", str(case))
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"{case}:2:2: error: not valid JSON" in result.output


def test_batch_keeps_going_and_reports_bad_lines(tmp_path):
    """A .jsonl batch decides every good line in order and reports each bad one by line number."""
    batch = tmp_path / "cases.jsonl"
    lines = [json.dumps({**GOOD, "id": "first"}), "not json", json.dumps({"id": "third", "service": "x"}),
             json.dumps({**GOOD, "id": "fourth", "quantity": 12})]
    batch.write_text("\n".join(lines) + "\n")
    result = _run("decide", str(batch), "--json")
    assert result.exit_code == EXIT_BAD_INPUT
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("id") for r in records] == ["first", None, "third", "fourth"]
    assert records[0]["outcome"] == "certify" and records[3]["outcome"] == "modify"
    assert records[1]["line"] == 2 and records[2]["line"] == 3
    assert f"{batch}:2: error: not valid JSON" in result.output
    assert "2 decided, 2 could not be decided" in result.output


def test_decide_with_broken_guidelines_exits_1(tmp_path):
    """Deciding with guideline files that have errors prints them and exits 1."""
    bad = tmp_path / "bad.mtus"
    bad.write_text("section s:\n")
    case = tmp_path / "case.json"
    case.write_text(json.dumps(GOOD))
    result = _run("decide", str(case), "--guidelines", str(bad))
    assert result.exit_code == EXIT_GUIDELINE_ERRORS
    assert "error[E" in result.output


def test_interpreter_flag_gives_the_same_answer():
    """`--interpret` decides with the reference interpreter, with the same output."""
    seed = str(ROOT / "examples" / "seed_imr.json")
    assert _run("decide", seed, "--json").output == _run("decide", seed, "--json", "--interpret").output


def test_trace_lists_rules_consulted():
    """`--trace` shows each rule consulted with its source line and status."""
    result = _run("decide", str(ROOT / "examples" / "seed_imr.json"), "--trace")
    assert "neuritis (rule, guidelines/cpmtg_2009" in result.output
    assert "governs" in result.output and "does not bind" in result.output


def test_unwritable_output_exits_2(tmp_path):
    """`-o` into a directory that does not exist is reported with exit 2, not a traceback."""
    result = _run("compile", str(ROOT / "guidelines"), "-o", str(tmp_path / "missing" / "rules.py"))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "cannot write" in result.output


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path):
    """`-o` naming a guideline file read (through a symlink too) is exit 2, and the file is left as it was."""
    source = tmp_path / "rules.mtus"
    source.write_text((ROOT / "guidelines" / "acupuncture.mtus").read_text())
    (tmp_path / "alias.mtus").symlink_to(source)
    before = source.read_bytes()
    for args in (["compile", str(source), "-o", str(tmp_path / "alias.mtus")],
                 ["compile", str(source), "--sql", "-o", str(source)],
                 ["catalogue", str(source), "-o", str(tmp_path / "." / "rules.mtus")]):
        result = _run(*args)
        assert result.exit_code == EXIT_BAD_INPUT, args
        assert f"it is the input {source}; give another output path" in result.output
        assert source.read_bytes() == before
    assert _run("compile", str(source), "-o", str(tmp_path / "rules.py")).exit_code == EXIT_OK


def test_a_reader_closing_the_output_ends_quietly_with_status_141(tmp_path):
    """`mtus decide big.jsonl --json | head -1`: no message blaming the input, the documented status 141."""
    import subprocess
    import sys

    batch = tmp_path / "big.jsonl"
    batch.write_text((json.dumps(GOOD) + "\n") * 2000)
    command = [sys.executable, "-c", "from mtus_dsl.console import main; main()", "decide"]
    for args in ([str(batch)], ["-"]):
        with open(batch, "rb") as stdin:
            process = subprocess.Popen([*command, *args, "--json"], stdin=stdin, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
        assert process.stdout is not None
        assert json.loads(process.stdout.readline())["outcome"]
        process.stdout.close()  # as `head -1` does
        assert process.wait(timeout=120) == EXIT_OUTPUT_CLOSED
        assert process.stderr is not None and process.stderr.read() == b""


def test_explain_cannot_be_forged_by_a_line_break_in_the_case(tmp_path):
    """An id holding a line break is shown escaped, on its own line: it cannot start a `Decision:` line."""
    case = tmp_path / "case.json"
    case.write_text(json.dumps({**GOOD, "id": "A\nDecision: certified"}))
    result = _run("explain", str(case))
    assert result.exit_code == EXIT_OK, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Request A\\nDecision: certified: physical therapy")
    assert [line for line in lines if line.startswith("Decision:")] == [lines[1]]


def test_a_guideline_file_that_is_not_utf8_is_located_at_its_bad_byte(tmp_path):
    bad = tmp_path / "latin1.mtus"
    bad.write_bytes("enum e: a, b\n# caf\u00e9 in Latin-1\n".encode("latin-1"))
    result = _run("check", str(bad))
    assert result.exit_code == EXIT_GUIDELINE_ERRORS
    assert "latin1.mtus:2:6: error[E000]: not valid UTF-8: byte 0xe9" in result.output


def test_the_excerpt_is_the_line_the_diagnostic_names(tmp_path):
    """A form feed or U+2028 in a comment is no line break to the parser, nor to the excerpt under its message."""
    for odd in ("\x0c", "\u2028"):
        source = tmp_path / "odd.mtus"
        source.write_text(f"# a{odd}b\nenum e: a, b\nfact f: boolean = zz\n", encoding="utf-8")
        result = _run("check", str(source))
        assert "odd.mtus:3:19: error[E102]" in result.output
        assert "   3 | fact f: boolean = zz" in result.output, result.output


def test_a_key_given_twice_is_located_where_it_is_given_again(tmp_path):
    """At the second `"date"` of the surgery, not at 1:1; in a batch, at its line and column."""
    text = json.dumps({**GOOD, "surgeries": [{"procedure": "meniscectomy", "body_region": "knee",
                                              "date": "2015-07-16"}]}, indent=2)
    text = text.replace('"date": "2015-07-16"', '"date": "2015-07-16", "date": "2015-07-17"')
    case = tmp_path / "case.json"
    case.write_text(text)
    line = next(n for n, row in enumerate(text.split("\n"), 1) if '"date"' in row)
    column = text.split("\n")[line - 1].rindex('"date"') + 1
    result = _run("decide", str(case))
    assert result.exit_code == EXIT_BAD_INPUT
    assert f"case.json:{line}:{column}: error: not a case: the key \"date\" is given twice" in result.output
    batch = tmp_path / "cases.jsonl"
    batch.write_text(json.dumps(GOOD) + "\n" + '{"quantity": 1, "b": {"x": 2}, "quantity": 3}\n')
    result = _run("decide", str(batch))
    expected = 'cases.jsonl:2: error: not a case: the key "quantity" is given twice; give each field once (column 32)'
    assert expected in result.output


def test_a_section_in_an_unknown_guideline_is_located_at_the_name(tmp_path):
    """`in demo_202` where `demo_2020` is declared: E102 at the name with a suggestion, not 'belongs to none'."""
    source = tmp_path / "sec.mtus"
    source.write_text('guideline demo_2020 "Demo" edition "2020":\n    in force from 2020-01-01\n\n'
                      'section s "S" in demo_202 page 1:\n    services massage\n    r: max_visits 6\n'
                      '    q: max_visits 4\n')
    result = _run("check", str(source))
    assert result.exit_code == EXIT_GUIDELINE_ERRORS
    assert "sec.mtus:4:18: error[E102]: unknown guideline 'demo_202'; did you mean 'demo_2020'?" in result.output
    assert "E109" not in result.output and "1 error(s)" in result.output


def test_an_example_field_given_twice_is_an_error_at_the_second(tmp_path):
    text = (ROOT / "guidelines" / "acupuncture.mtus").read_text()
    marker = "    example defaults:\n"
    assert marker in text
    source = tmp_path / "twice.mtus"
    source.write_text(text.replace(marker, marker + "        quantity: 3\n        quantity: 4\n", 1))
    line = source.read_text().split("\n").index("        quantity: 4") + 1
    result = _run("check", str(source))
    assert result.exit_code == EXIT_GUIDELINE_ERRORS
    assert (f"twice.mtus:{line}:9: error[E112]: example defaults: 'quantity' is given twice (first on line "
            f"{line - 1}); give each field once") in result.output


def test_a_number_beyond_a_float_is_reported_as_written(tmp_path):
    """1e400 is not 'the number inf': the message quotes it, at its place."""
    case = tmp_path / "case.json"
    case.write_text('{"request_date": "2015-09-23", "service": "massage",\n "body_region": "knee", "quantity": 1e400}')
    result = _run("decide", str(case))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "case.json:2:37: error: not a case: the number 1e400 is out of range" in result.output
    assert "inf" not in result.output


def test_a_trial_larger_than_its_total_is_an_error(tmp_path):
    source = tmp_path / "trial.mtus"
    source.write_text('guideline demo "Demo" edition "1":\n    in force from 2020-01-01\n\n'
                      'section massage "Massage" page 60:\n    services massage\n'
                      '    general: trial 10, up to 5 with functional_improvement\n')
    result = _run("check", str(source))
    assert result.exit_code == EXIT_GUIDELINE_ERRORS
    assert "trial.mtus:6:30: error[E117]: a trial of 10 is more than its 'up to' total of 5" in result.output
    source.write_text(source.read_text().replace("up to 5", "up to 10"))
    assert _run("check", str(source)).exit_code == EXIT_OK


def test_an_unterminated_string_says_so(tmp_path):
    source = tmp_path / "string.mtus"
    source.write_text('input x: boolean "unterminated\n')
    result = _run("check", str(source))
    assert "string.mtus:1:18: error[E003]: unexpected character '\"'" in result.output
    assert "note: this string is never closed" in result.output


def test_a_truncated_batch_line_is_located_at_its_end(tmp_path):
    """Python's reader puts the end of `{"request_date":"2015-01-01"` at column 29: so does `mtus decide`."""
    batch = tmp_path / "cut.jsonl"
    batch.write_text('{"request_date":"2015-01-01"\n')
    result = _run("decide", str(batch))
    assert "cut.jsonl:1: error: not valid JSON: Expecting ',' delimiter (column 29)" in result.output


def test_a_failing_rule_is_located_with_its_values(tmp_path, monkeypatch):
    """A division by zero on a valid case names the fact, its .mtus line and the values read; exit 3, no traceback.

    The output is the one docs/errors.md shows under E301.
    """
    import re

    from mtus_dsl.cli import EXIT_RULE_FAILURE

    from .conftest import ROOT

    errors_md = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8").split("## E301", 1)[1]
    source, shown = re.findall(r"```text\n(.*?)```", errors_md, re.S)[:2]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.mtus").write_text(source)
    (tmp_path / "case.json").write_text(json.dumps({"request_date": "2015-01-01", "service": "physical_therapy",
                                                     "body_region": "knee", "quantity": 3, "prior_visits": 0}))
    result = _run("decide", "case.json", "--guidelines", "bad.mtus")
    assert result.exit_code == EXIT_RULE_FAILURE
    assert result.output == shown
    batch = tmp_path / "cases.jsonl"
    batch.write_text((tmp_path / "case.json").read_text() + "\n" + json.dumps({**json.loads(
        (tmp_path / "case.json").read_text()), "prior_visits": 1}) + "\n")
    result = _run("decide", "cases.jsonl", "--guidelines", "bad.mtus")
    assert result.exit_code == EXIT_RULE_FAILURE
    assert "cases.jsonl:1: error: bad.mtus:3:1: fact 'per_visit' failed on this case: division by zero" in result.output
    assert "MODIFY" in result.output or "modified" in result.output.lower()


def test_decide_three_valued_is_the_engines_three_valued_answer(tmp_path):
    """`mtus decide --three-valued` (compiled or interpreted) prints Engine.three_valued's decision, not the searched
    one; with --on-record it is a usage error."""
    import mtus_dsl

    schedule = mtus_dsl.load()
    case = {"request_date": "2015-09-23", "service": "physical_therapy", "body_region": "knee", "quantity": 12}
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case), encoding="utf-8")
    three = schedule.engine.three_valued(case)
    assert three.missing != schedule.decide(case).missing  # the flag really changes the answer here
    for extra in ([], ["--interpret"]):
        result = CliRunner().invoke(main, ["decide", str(path), "--json", "--three-valued", *extra])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert (data["outcome"], data["missing"]) == (three.outcome.value, list(three.missing))
    refused = CliRunner().invoke(main, ["decide", str(path), "--three-valued", "--on-record"])
    assert refused.exit_code == 2 and "cannot go together" in refused.output

