"""The JSON Schemas `mtus schema` prints hold for what the commands really read and write."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest
from click.testing import CliRunner

from mtus_dsl.case import FIRST_CASE_DATE, LAST_CASE_DATE
from mtus_dsl.cli import main
from mtus_dsl.json_schema import date_pattern

from .conftest import ROOT

EXAMPLES = [ROOT / "examples" / "seed_imr.json", *sorted((ROOT / "examples" / "cases").glob("*.json"))]
DAY = datetime.timedelta(days=1)


def _mtus(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def _schema(*args: str) -> dict[str, Any]:
    result = _mtus("schema", *args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _validator(schema: dict[str, Any]) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _undocumented(data: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The fields of a decision (and of its trace entries) that the schema does not name."""
    names = set(data) - set(schema["properties"])
    entry = schema["properties"]["trace"]["items"]["properties"]
    return names | {f"trace[].{name}" for item in data.get("trace", ()) for name in set(item) - set(entry)}


# --- the decision: every `mtus decide --json` output -------------------------------------------


@pytest.mark.parametrize("trace", [[], ["--no-trace"]], ids=["with trace", "no trace"])
def test_every_decide_json_output_validates_against_the_decision_schema(trace):
    """`mtus decide FILE --json` (and `--no-trace`, and `--on-record`) of each example: valid, every field named."""
    schema = _schema("--decision")
    decisions = _validator(schema)
    assert len(EXAMPLES) >= 27
    for path in EXAMPLES:
        for on_record in ([], ["--on-record"]):
            result = _mtus("decide", str(path), "--json", *trace, *on_record)
            assert result.exit_code == 0, result.output
            data = json.loads(result.stdout)
            assert ("trace" in data) is not bool(trace), path.name
            assert [e.message for e in decisions.iter_errors(data)] == [], (path.name, trace, on_record)
            assert not _undocumented(data, schema), path.name


def test_every_decision_of_a_batch_validates_against_the_decision_schema(tmp_path):
    """A batch of the examples with each optional field left out, in turn: every outcome, every line valid."""
    schema = _schema("--decision")
    decisions = _validator(schema)
    required = set(_schema()["required"])
    cases = []
    for path in EXAMPLES:
        case = json.loads(path.read_text(encoding="utf-8"))
        cases.append(case)
        cases += [{k: v for k, v in case.items() if k != name} for name in case if name not in required]
    batch = tmp_path / "cases.jsonl"
    batch.write_text("".join(json.dumps(case) + "\n" for case in cases), encoding="utf-8")
    outcomes = set()
    for flags in ([], ["--no-trace"], ["--on-record"], ["--on-record", "--no-trace"]):
        result = _mtus("decide", str(batch), "--json", *flags)
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(lines) == len(cases)
        for data in lines:
            assert [e.message for e in decisions.iter_errors(data)] == [], (flags, data["id"])
            assert not _undocumented(data, schema), flags
            outcomes.add(data["outcome"])
    assert outcomes == {"certify", "modify", "non_certify", "not_addressed", "needs_information"}


def test_every_line_of_a_batch_validates_against_the_batch_line_schema(tmp_path):
    """A decision is a decision and a bad line an error line, each under one branch of the schema only."""
    lines_schema = _schema("--batch-line")
    lines = _validator(lines_schema)
    decision, error = (_validator({"$schema": lines_schema["$schema"], **part}) for part in lines_schema["oneOf"])
    good = json.loads(EXAMPLES[0].read_text(encoding="utf-8"))
    batch = tmp_path / "cases.jsonl"
    batch.write_text("\n".join([json.dumps(good), '{"id": "x", "servic": 1}', "[1]", '{"id": ', json.dumps(good)])
                     + "\n", encoding="utf-8")
    for flags in ([], ["--no-trace"]):
        result = _mtus("decide", str(batch), "--json", *flags)
        assert result.exit_code == 2, result.output
        written = [json.loads(line) for line in result.stdout.splitlines()]
        assert [("error" in data) for data in written] == [False, True, True, True, False]
        for data in written:
            assert [e.message for e in lines.iter_errors(data)] == [], data
            assert decision.is_valid(data) is ("error" not in data)
            assert error.is_valid(data) is ("error" in data)
    assert [d["line"] for d in written if "error" in d] == [2, 3, 4]
    assert not lines.is_valid({"line": 0, "id": None, "error": "x"})
    assert not lines.is_valid({"line": 2, "id": None, "error": "x", "more": 1})


def test_the_decision_schema_requires_what_every_decision_has():
    """Only the trace may be absent (`--no-trace`); a decision without its outcome or provenance is refused."""
    decisions = _validator(_schema("--decision"))
    result = _mtus("decide", str(EXAMPLES[0]), "--json")
    data = json.loads(result.stdout)
    for name in data:
        cut = {k: v for k, v in data.items() if k != name}
        assert bool(list(decisions.iter_errors(cut))) is (name != "trace"), name


# --- the case: the date bounds validation enforces ---------------------------------------------


@pytest.mark.parametrize(
    "day, valid",
    [(FIRST_CASE_DATE - DAY, False), (FIRST_CASE_DATE, True), (LAST_CASE_DATE, True), (LAST_CASE_DATE + DAY, False)],
    ids=["before the first", "the first", "the last", "after the last"],
)
def test_the_case_schema_has_the_date_bounds_validation_enforces(tmp_path, seed_case, day, valid):
    """A date just outside each bound is refused by the schema and by `mtus decide`; each bound is accepted by both."""
    cases = _validator(_schema())
    surgery = seed_case["surgeries"][0]
    for case in ({**seed_case, "request_date": day.isoformat()},
                 {**seed_case, "surgeries": [{**surgery, "date": day.isoformat()}]}):
        errors = list(cases.iter_errors(case))
        assert not errors if valid else errors, (case, [e.message for e in errors])
        path = tmp_path / "case.json"
        path.write_text(json.dumps(case), encoding="utf-8")
        result = _mtus("decide", str(path), "--json")
        assert result.exit_code == (0 if valid else 2), result.output
        if not valid:
            assert "out of range" in result.output


def test_date_pattern_matches_exactly_the_days_between_its_bounds():
    """The pattern of any bounds (whole years or not, within one year or across many) matches just their days."""
    start = datetime.date(1998, 1, 1)
    for first, last in [
        (datetime.date(1999, 1, 1), datetime.date(2001, 12, 31)),
        (datetime.date(1999, 3, 15), datetime.date(2001, 10, 5)),
        (datetime.date(1999, 12, 31), datetime.date(2000, 1, 1)),
        (datetime.date(2000, 2, 29), datetime.date(2000, 11, 30)),
        (datetime.date(2000, 6, 6), datetime.date(2000, 6, 6)),
    ]:
        pattern = re.compile(date_pattern(first, last))
        for offset in range(365 * 5):
            day = start + datetime.timedelta(days=offset)
            assert bool(pattern.search(day.isoformat())) is (first <= day <= last), (first, last, day)
