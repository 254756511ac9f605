"""`mtus audit`: tables of cases give exactly `mtus decide`'s decisions; no row is lost; bad input is located."""

from __future__ import annotations

import csv
import json
import re
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtus_dsl.case import CaseError
from mtus_dsl.cli import EXIT_BAD_INPUT, EXIT_OK, main

from .conftest import ROOT

duckdb = pytest.importorskip("duckdb")
audit_module = pytest.importorskip("mtus_dsl.audit")


def _run(*args: str, input: bytes | None = None):
    result = CliRunner().invoke(main, list(args), input=input)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture(scope="module")
def cases(corpus) -> list[dict[str, Any]]:
    """The example cases (examples/cases) and the guidelines' own examples, each with an id."""
    found = [json.loads(p.read_text()) for p in sorted((ROOT / "examples" / "cases").glob("*.json"))]
    for number, example in enumerate(corpus.program.examples):
        found.append({"id": f"example-{number}", **{k: v for k, v in example.case.items() if k != "id"}})
    return found


def _expected(corpus, case: dict[str, Any]) -> dict[str, Any]:
    decision = corpus.decide(case)
    return {"id": decision.id, "outcome": decision.outcome.value, "requested": decision.requested,
            "approved": decision.approved, "unit": decision.unit, "rules": list(decision.rules),
            "missing": list(decision.missing),
            "citations": "; ".join(str(c) for c in decision.citations) or None}


def _jsonl(path: Path, cases: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


def _csv(path: Path, schema, cases: list[dict[str, Any]]) -> Path:
    """The cases as a flat table: code lists split by ';' ('[]' when empty), surgeries as a JSON array in a cell."""
    header = ["id", *(spec.name for spec in schema.inputs)]
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, header)
        writer.writeheader()
        for case in cases:
            row: dict[str, Any] = {}
            for key, value in case.items():
                if value is None:
                    continue
                if key == "surgeries":
                    row[key] = json.dumps(value)
                elif isinstance(value, list):
                    row[key] = ";".join(value) if value else "[]"
                elif isinstance(value, bool):
                    row[key] = "true" if value else "false"
                else:
                    row[key] = value
            writer.writerow(row)
    return path


_SQL_TYPES = {"boolean": "BOOLEAN", "integer": "BIGINT", "date": "DATE", "enum": "VARCHAR", "code": "VARCHAR",
              "text": "VARCHAR"}


def _parquet(path: Path, schema, cases: list[dict[str, Any]], tmp_path: Path) -> Path:
    """The cases as a typed Parquet file, as a data engineer's table would be (lists and structs)."""
    columns = {"id": "VARCHAR"}
    for spec in schema.inputs:
        kind = spec.type.kind
        if kind == "list" and spec.type.of.kind == "record":
            columns[spec.name] = "STRUCT(procedure VARCHAR, body_region VARCHAR, date DATE)[]"
        elif kind == "list":
            columns[spec.name] = "VARCHAR[]"
        else:
            columns[spec.name] = _SQL_TYPES[kind]
    source = _jsonl(tmp_path / "for-parquet.jsonl", cases)
    spec = ", ".join(f"'{k}': '{v}'" for k, v in columns.items())
    duckdb.sql(f"COPY (SELECT * FROM read_json('{source}', format='newline_delimited', columns={{{spec}}})) "
               f"TO '{path}' (FORMAT parquet)")
    return path


def _rows(path: Path) -> list[dict[str, Any]]:
    """Read an output table back as dicts (lists as lists, whatever the format)."""
    relation = duckdb.sql(f"SELECT * FROM '{path}'")
    rows = [dict(zip(relation.columns, values)) for values in relation.fetchall()]
    if path.suffix == ".csv":
        for row in rows:
            for key in ("rules", "missing", "assumed") if "rules" in row else ():
                row[key] = row[key].split(";") if row[key] else []
    return rows


def _check(rows: list[dict[str, Any]], corpus, cases: list[dict[str, Any]]) -> None:
    assert [r["row"] for r in rows] == list(range(1, len(cases) + 1))
    for row, case in zip(rows, cases):
        got = {k: row[k] for k in ("id", "outcome", "requested", "approved", "unit", "rules", "missing",
                                   "citations")}
        assert got == _expected(corpus, case), case["id"]


def _table(fmt: str, corpus, cases: list[dict[str, Any]], tmp_path: Path) -> Path:
    """The cases as a table in `fmt` (jsonl, csv or parquet)."""
    if fmt == "jsonl":
        return _jsonl(tmp_path / "cases.jsonl", cases)
    if fmt == "csv":
        return _csv(tmp_path / "cases.csv", corpus.schema, cases)
    return _parquet(tmp_path / "cases.parquet", corpus.schema, cases, tmp_path)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("out", ["parquet", "csv", "jsonl"])
def test_audit_gives_decides_decisions(fmt, out, corpus, cases, tmp_path):
    """Every example case, from each input format to each output format, gets exactly `mtus decide`'s decision."""
    source = _table(fmt, corpus, cases, tmp_path)
    output = tmp_path / f"decisions.{out}"
    result = _run("audit", str(source), "-o", str(output), "--engine", "python", "-g", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_OK, result.output
    assert f"{len(cases)} rows: {len(cases)} decided, 0 rejected" in result.output
    _check(_rows(output), corpus, cases)
    assert _rows(tmp_path / f"decisions.errors.{out}") == []


def test_bad_rows_go_to_the_errors_file(corpus, cases, tmp_path):
    """Rows in = rows out + rows rejected; each bad row is listed with its row number and Case.from_dict's messages."""
    good = cases[:3]
    bad = [
        {"id": "bad-quantity", **{k: v for k, v in good[0].items() if k != "id"}, "quantity": 0},
        {"id": "bad-service", **{k: v for k, v in good[0].items() if k != "id"}, "service": "massages"},
        {"id": "bad-date", **{k: v for k, v in good[0].items() if k != "id"}, "request_date": "2015-02-30"},
    ]
    rows = [good[0], bad[0], good[1], bad[1], bad[2], good[2]]
    source = _csv(tmp_path / "mixed.csv", corpus.schema, rows)
    result = _run("audit", str(source), "-o", str(tmp_path / "out.csv"), "--engine", "python",
                  "-g", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "6 rows: 3 decided, 3 rejected" in result.output
    decided = _rows(tmp_path / "out.csv")
    assert [r["row"] for r in decided] == [1, 3, 6]
    errors = _rows(tmp_path / "out.errors.csv")
    assert [(e["row"], e["id"]) for e in errors] == [(2, "bad-quantity"), (4, "bad-service"), (5, "bad-date")]
    for error, case in zip(errors, bad):
        with pytest.raises(CaseError) as caught:
            corpus.case(case)
        problem = caught.value.errors[0]
        assert (error["field"], error["message"]) == (problem.field, problem.message)


def test_text_cells_are_read_by_the_fields_type(corpus, tmp_path):
    """A CSV's cells: yes/no booleans, blank = unknown, '[]' = none, a JSON array, codes split on ';'."""
    source = tmp_path / "cells.csv"
    source.write_text(
        "id,request_date,service,body_region,quantity,diagnoses,surgeries,functional_improvement,prior_visits\n"
        "a,2015-09-23,physical_therapy,lumbar_spine,12,722.10; M54.16,[],,0\n"
        'b,2015-09-23,physical_therapy,lumbar_spine,12,"[""729.1""]",[],yes,\n'
        "c,2015-09-23,physical_therapy,lumbar_spine,12,[],,NO,3\n",
        encoding="utf-8",
    )
    output = tmp_path / "out.jsonl"
    result = _run("audit", str(source), "-o", str(output), "--engine", "python", "-g", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_OK, result.output
    expected = [
        {"id": "a", "request_date": "2015-09-23", "service": "physical_therapy", "body_region": "lumbar_spine",
         "quantity": 12, "diagnoses": ["722.10", "M54.16"], "surgeries": [], "prior_visits": 0},
        {"id": "b", "request_date": "2015-09-23", "service": "physical_therapy", "body_region": "lumbar_spine",
         "quantity": 12, "diagnoses": ["729.1"], "surgeries": [], "functional_improvement": True},
        {"id": "c", "request_date": "2015-09-23", "service": "physical_therapy", "body_region": "lumbar_spine",
         "quantity": 12, "diagnoses": [], "functional_improvement": False, "prior_visits": 3},
    ]
    _check(_rows(output), corpus, expected)


def test_mapping_file_renames_columns_groups_and_ignores(corpus, tmp_path):
    """A mapping file names the table's own columns, its surgery groups, a delimiter and columns to leave out."""
    source = tmp_path / "claims.csv"
    source.write_text(
        "claim,date,svc,region,units,icd,surg1_proc,surg1_region,surg1_day,notes\n"
        "A1,2015-09-23,physical_therapy,knee,12,729.1|M79.1,meniscectomy,knee,2015-07-16,first\n"
        "A2,2015-09-23,physical_therapy,lumbar_spine,8,729.2,,,,second\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        'delimiter = "|"\nignore = ["notes"]\nempty_is_none = ["surgeries"]\n\n[columns]\nid = "claim"\n'
        'request_date = "date"\nservice = "svc"\nbody_region = "region"\nquantity = "units"\n'
        'diagnoses = "icd"\nsurgeries = "surg{n}_{field}"\n', encoding="utf-8")
    # The group's columns are named after the record's fields, so the pattern needs them as they are.
    source.write_text(source.read_text().replace("surg1_proc,surg1_region,surg1_day",
                                                 "surg1_procedure,surg1_body_region,surg1_date"))
    output = tmp_path / "out.parquet"
    result = _run("audit", str(source), "-o", str(output), "--mapping", str(mapping), "--engine", "python",
                  "-g", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_OK, result.output
    expected = [
        {"id": "A1", "request_date": "2015-09-23", "service": "physical_therapy", "body_region": "knee",
         "quantity": 12, "diagnoses": ["729.1", "M79.1"],
         "surgeries": [{"procedure": "meniscectomy", "body_region": "knee", "date": "2015-07-16"}]},
        {"id": "A2", "request_date": "2015-09-23", "service": "physical_therapy", "body_region": "lumbar_spine",
         "quantity": 8, "diagnoses": ["729.2"], "surgeries": []},
    ]
    _check(_rows(output), corpus, expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[columns\n", "mapping.toml:1:9: error: not valid TOML"),
        ("colums = {}\n", "mapping.toml:1: error: unknown key 'colums'; did you mean 'columns'?"),
        ('[columns]\nquantiy = "units"\n', "mapping.toml:2: error: 'quantiy' is not a case field; did you mean "
                                            "'quantity'?"),
        ('[columns]\nquantity = "unit"\n', "mapping.toml:2: error: the table has no column 'unit' for 'quantity'"),
        ('delimiter = ", "\n', "mapping.toml:1: error: 'delimiter' must be one character"),
        ('empty_is_none = ["quantity"]\n', "mapping.toml:1: error: 'quantity' is not a list field"),
        # A column both ignored and read: mapped to a field, or the field of its name.
        ('ignore = ["notes", "units"]\n\n[columns]\nquantity = "units"\n',
         "mapping.toml:1: error: column 'units' is both ignored and mapped to 'quantity' (mapping.toml:4); remove "
         'one of them: "units" from ignore, or quantity = "units" from [columns]'),
        ('ignore = ["service"]\n[columns]\nquantity = "units"\n',
         "mapping.toml:1: error: column 'service' is both ignored and read as the field 'service', whose name it "
         "has; remove it from ignore, or map 'service' to another column under [columns]"),
        # A column read as two fields: mapped to both (told at the second's line), or mapped to one and named as
        # the other.
        ('[columns]\nquantity = "units"\nprior_visits = "units"\n',
         "mapping.toml:3: error: column 'units' is already mapped to 'quantity' (mapping.toml:2); a column is read "
         'as one field: map \'prior_visits\' to another column, or remove prior_visits = "units" from [columns]'),
        ('[columns]\nquantity = "units"\ncondition = "service"\n',
         "mapping.toml:3: error: column 'service' is mapped to 'condition', and also read as the field 'service', "
         "whose name it has; a column is read as one field: map 'condition' to another column, or map 'service' "
         "to another column under [columns]"),
    ],
)
def test_mapping_file_errors_are_located(text, message, tmp_path, monkeypatch):
    """A mapping file with a mistake stops the audit with its path and line, exit status 2."""
    monkeypatch.chdir(tmp_path)
    Path("t.csv").write_text("request_date,service,body_region,units\n2015-09-23,massage,knee,4\n")
    Path("mapping.toml").write_text(text)
    result = _run("audit", "t.csv", "-o", "out.csv", "--mapping", "mapping.toml", "--engine", "python")
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in result.output


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        ("t.txt", "x", [], "t.txt: error: cannot tell the format from '.txt'"),
        ("t.csv", "request_date,service,body_region,quantity,notes\n2015-09-23,massage,knee,4,x\n", [],
         "t.csv: error: column 'notes' is not a case field"),
        ("t.csv", "request_date,service,body_region\n2015-09-23,massage,knee\n", [],
         "t.csv: error: no column for the required field 'quantity'"),
        ("t.csv", "request_date,service,body_region,quantity\n2015-09-23,massage,knee,4\n", ["-o", "out.txt"],
         "out.txt: error: cannot tell the output format from '.txt'"),
        ("t.parquet", "not parquet", [], "t.parquet: error: cannot read it as parquet"),
        ("missing.csv", None, [], "missing.csv: error: no such file"),
        ("t.csv", "request_date,service,body_region,quantity\n2015-09-23,massage,knee,4\n",
         ["-o", "o.csv", "--errors", "o.csv"], "o.csv: error: the errors file cannot be the output too"),
        ("t.csv", "request_date,service,body_region,quantity\n2015-09-23,massage,knee,4\n", ["-o", "t.csv"],
         "t.csv: error: the input cannot be overwritten by the audit"),
        # The default group pattern is the table's: its file is named, not a mapping file there is not.
        ("t.csv", "request_date,service,body_region,quantity,surgeries_1_procedure,surgeries_1_body_region\n"
         "2015-08-27,physical_therapy,knee,12,meniscectomy,knee\n", [],
         "t.csv: error: group 1 of 'surgeries' lacks the column(s) surgeries_1_date"),
    ],
)
def test_bad_inputs_are_located(name, content, args, message, tmp_path, monkeypatch):
    """An unknown format, an unreadable file, a stray or missing column: one clear message, exit status 2."""
    monkeypatch.chdir(tmp_path)
    if content is not None:
        Path(name).write_text(content)
    result = _run("audit", name, *(args or ["-o", "out.csv"]), "--engine", "python")
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert message in result.output


def test_stdin(corpus, cases, tmp_path):
    """`-` reads standard input (JSONL unless --format says otherwise)."""
    data = "".join(json.dumps(c) + "\n" for c in cases[:5]).encode()
    output = tmp_path / "out.jsonl"
    result = _run("audit", "-", "-o", str(output), "--engine", "python", "-g", str(ROOT / "guidelines"), input=data)
    assert result.exit_code == EXIT_OK, result.output
    _check(_rows(output), corpus, cases[:5])
    source = _csv(tmp_path / "c.csv", corpus.schema, cases[:5])
    result = _run("audit", "-", "--format", "csv", "-o", str(output), "--engine", "python",
                  "-g", str(ROOT / "guidelines"), input=source.read_bytes())
    assert result.exit_code == EXIT_OK, result.output
    _check(_rows(output), corpus, cases[:5])


def test_rationale_and_trace_only_when_asked(corpus, cases, tmp_path):
    """The rationale and trace columns are written only with --rationale and --trace."""
    source = _jsonl(tmp_path / "c.jsonl", cases[:2])
    guidelines = str(ROOT / "guidelines")
    _run("audit", str(source), "-o", str(tmp_path / "plain.jsonl"), "--engine", "python", "-g", guidelines)
    assert "rationale" not in _rows(tmp_path / "plain.jsonl")[0]
    _run("audit", str(source), "-o", str(tmp_path / "full.jsonl"), "--engine", "python", "--rationale", "--trace",
         "-g", guidelines)
    row = json.loads((tmp_path / "full.jsonl").read_text().split("\n")[0])
    decision = corpus.decide(cases[0])
    assert row["rationale"] == decision.rationale
    assert row["trace"] == [t.to_dict() for t in decision.trace]


def test_on_record_decides_every_row_and_lists_what_it_assumed(cases, tmp_path, corpus):
    """--on-record decides as Schedule.decide(on_record=True), and lists what it read on the record."""
    source = _jsonl(tmp_path / "c.jsonl", cases)
    out = tmp_path / "o.jsonl"
    result = _run("audit", str(source), "-o", str(out), "--engine", "python", "--on-record")
    assert result.exit_code == EXIT_OK, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(cases)
    for row, case in zip(rows, cases):
        decision = corpus.decide(case, on_record=True)
        assert (row["outcome"], row["approved"]) == (decision.outcome.value, decision.approved)
        assert row["missing"] == list(decision.missing)
        assert row["assumed"] == [f"{a.field} = {json.dumps(a.to_dict()['value'])}" for a in decision.assumed]
    assert any(row["assumed"] for row in rows)


# --- the DuckDB engine: the seam with the SQL backend ----------------------------------


def _stand_in_backend(corpus) -> types.SimpleNamespace:
    """A stand-in for mtus_dsl.compiler.sql keeping its contract: it decides each typed row with Python.

    It rebuilds the case from the typed columns only, so it fails if the mapping's typed relation is wrong.
    """
    def decide_duckdb(schedule, con, source="cases", keep=()):
        def one(text: str) -> dict[str, Any] | None:
            data = {k: v for k, v in json.loads(text).items() if v is not None and k != "id" and k not in keep}
            try:
                decision = schedule.decide(data)
            except CaseError:  # a row the audit blanked (not certainly valid): its answer is not read
                return None
            return {"outcome": decision.outcome.value, "requested": decision.requested,
                    "approved": decision.approved, "unit": decision.unit, "rules": list(decision.rules),
                    "missing": list(decision.missing)}

        struct = duckdb.struct_type({"outcome": "VARCHAR", "requested": "BIGINT", "approved": "BIGINT",
                                     "unit": "VARCHAR", "rules": "VARCHAR[]", "missing": "VARCHAR[]"})
        con.create_function("stand_in", one, ["VARCHAR"], struct)

        kept = "".join(f", {name}" for name in keep)  # the caller's columns, passed through untouched
        return con.sql(f"SELECT id, d.outcome, d.requested, d.approved, d.unit, d.rules, d.missing, "
                       f"NULL::VARCHAR AS error{kept} FROM (SELECT id, stand_in(CAST(to_json(c) AS VARCHAR)) AS d"
                       f"{kept} FROM {source} c)")

    # The input contract's column types are the backend's: the audit types a NULL for a column the table lacks.
    sql = pytest.importorskip("mtus_dsl.compiler.sql")
    return types.SimpleNamespace(decide_duckdb=decide_duckdb, column_types=sql.column_types)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_duckdb_engine_seam(fmt, corpus, cases, tmp_path, monkeypatch):
    """Through the SQL backend's contract (a stand-in here), every row gets `mtus decide`'s decision."""
    monkeypatch.setattr(audit_module, "sql_backend", lambda: _stand_in_backend(corpus))
    source = _table(fmt, corpus, cases, tmp_path)
    output = tmp_path / "out.parquet"
    summary = audit_module.audit(corpus, str(source), str(output), engine="duckdb")
    assert (summary.rows, summary.decided, summary.rejected, summary.engine) == (len(cases), len(cases), 0, "duckdb")
    _check(_rows(output), corpus, cases)


def test_duckdb_engine_with_the_sql_backend(corpus, cases, tmp_path):
    """With the real SQL backend, the audit's decisions are `mtus decide`'s."""
    pytest.importorskip("mtus_dsl.compiler.sql")
    source = _parquet(tmp_path / "cases.parquet", corpus.schema, cases, tmp_path)
    output = tmp_path / "out.parquet"
    summary = audit_module.audit(corpus, str(source), str(output), engine="duckdb")
    assert summary.rows == summary.decided + summary.rejected == len(cases)
    _check(_rows(output), corpus, cases)
    # Column for column (types included: its ENUM columns are written as text), the Python engine's table.
    reference = tmp_path / "python.parquet"
    audit_module.audit(corpus, str(source), str(reference), engine="python")
    describe = "DESCRIBE SELECT * FROM read_parquet('{}')"
    assert duckdb.sql(describe.format(output)).fetchall() == duckdb.sql(describe.format(reference)).fetchall()
    assert _rows(output) == _rows(reference)


# --- mtus decide: stdin, .ndjson, --no-trace; Schedule.decide_many -------------------------


def test_decide_reads_stdin_and_ndjson(cases, tmp_path):
    """`mtus decide -` and a .ndjson file are batches, one case per line, like .jsonl."""
    lines = "".join(json.dumps(c) + "\n" for c in cases[:3])
    (tmp_path / "c.jsonl").write_text(lines)
    (tmp_path / "c.ndjson").write_text(lines)
    expected = _run("decide", str(tmp_path / "c.jsonl"), "--json").output.replace(str(tmp_path / "c.jsonl"), "F")
    got = _run("decide", str(tmp_path / "c.ndjson"), "--json").output.replace(str(tmp_path / "c.ndjson"), "F")
    assert got == expected
    result = _run("decide", "-", "--json", input=lines.encode())
    assert result.exit_code == EXIT_OK
    assert result.output.replace("<stdin>", "F") == expected


def test_decide_no_trace(cases, tmp_path):
    """--no-trace leaves the trace out of the JSON output and nothing else."""
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases[:3]))
    full = _run("decide", str(tmp_path / "c.jsonl"), "--json").output.splitlines()
    lean = _run("decide", str(tmp_path / "c.jsonl"), "--json", "--no-trace").output.splitlines()
    for a, b in zip(full[:3], lean[:3]):
        a, b = json.loads(a), json.loads(b)
        assert "trace" not in b and a.pop("trace")
        assert a == b
    assert _run("decide", str(tmp_path / "c.jsonl"), "--trace", "--no-trace").exit_code == EXIT_BAD_INPUT


def test_decide_many(corpus, cases):
    """Schedule.decide_many decides any iterable lazily, in order, as decide would."""
    decisions = corpus.decide_many(c for c in cases)
    assert next(decisions) == corpus.decide(cases[0])
    assert list(decisions) == [corpus.decide(c) for c in cases[1:]]


def test_example_table_and_the_docs_run(corpus, tmp_path, monkeypatch):
    """examples/requests.csv gets exactly the decisions of examples/cases; docs/audit.md shows that very run."""
    import re
    import shutil

    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "requests.csv", tmp_path / "examples" / "requests.csv")
    result = _run("audit", "examples/requests.csv", "-o", "decisions.parquet")
    assert result.exit_code == EXIT_OK, result.output
    cases = [json.loads(p.read_text()) for p in sorted((ROOT / "examples" / "cases").glob("*.json"))]
    _check(_rows(tmp_path / "decisions.parquet"), corpus, cases)
    text = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    shown = text.split("$ mtus audit examples/requests.csv -o decisions.parquet\n", 1)[1].split("```", 1)[0]
    def plain(output: str) -> list[str]:
        return [re.sub(r"\((\w+) engine\)", "(ENGINE engine)", line.rstrip()) for line in output.strip().split("\n")]
    assert plain(result.output) == plain(shown)


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_jsonl_lines_that_are_not_cases_are_rejected_one_by_one_as_decide_rejects_them(engine, cases, tmp_path):
    """Not JSON, not an object, a key twice: each such line is one rejected row with decide's message; the file's
    other lines are still decided (a blank line is skipped by both, and a row's number is its line's)."""
    if engine == "duckdb":
        pytest.importorskip("mtus_dsl.compiler.sql")
    good = json.dumps(cases[0])
    twice = good[:-1] + ', "quantity": 3}'
    lines = [good, "[1]", twice, "{not json", '"text"', "", good]
    source = tmp_path / "odd.jsonl"
    source.write_text("\n".join(lines) + "\n")
    decided = _run("decide", str(source), "--json", "--no-trace")
    said = [json.loads(line) for line in decided.output.splitlines() if line.startswith("{")]
    expected = [s["error"] for s in said if "error" in s]
    assert len(expected) == 4 and "is given twice" in expected[1]
    result = _run("audit", str(source), "-o", str(tmp_path / "out.jsonl"), "--engine", engine)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert [json.loads(line)["row"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [1, 7]
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [(e["row"], e["field"], e["message"]) for e in errors] == [
        (row, "", message) for row, message in zip([2, 3, 4, 5], expected)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.csv", "request_date,service,body_region,quantity\n2015-09-23,massage,knee,4\n2015-09-23,massage,knee,4,x\n",
         "t.csv: error: cannot read a row: line 3: expected number of columns: 4 found: 5: 2015-09-23,massage,knee,4,x"),
        ("t.csv", "", "t.csv: error: the file is empty; a CSV file needs its header row"),
        ("t.csv", "request_date,service,,quantity\n", "t.csv: error: the header row must name every column once"),
        ("t.csv", b"request_date,servic\xff\n", "t.csv: error: not valid UTF-8: byte 0xff at byte 20"),
        ("t.jsonl", b'{"request_date": "2015-09-23"}\n{"service": "mass\xffage"}\n',
         "t.jsonl: error: cannot read it as jsonl: line 2: invalid unicode"),
        # A bad byte in a data row near the top is that row's, not the header's.
        ("t.csv", b"request_date,service,body_region,quantity,id\n2015-01-01,physical_therapy,knee,12,caf\xe9\n",
         "t.csv: error: cannot read a row: line 2: invalid unicode"),
        # An unterminated quote: DuckDB's cause, and the row where it starts.
        ("t.csv", 'request_date,service,body_region,quantity,id\n2015-01-01,physical_therapy,knee,12,"abc\n'
         "2015-01-01,physical_therapy,knee,12,x\n",
         't.csv: error: cannot read a row: line 2: value with unterminated quote found: '
         '2015-01-01,physical_therapy,knee,12,"abc'),
    ],
)
def test_unreadable_tables_stop_with_the_line(name, content, message, tmp_path, monkeypatch):
    """A table that cannot be read as its format stops the audit with where (exit 2), leaving no output behind."""
    monkeypatch.chdir(tmp_path)
    if isinstance(content, bytes):
        Path(name).write_bytes(content)
    else:
        Path(name).write_text(content)
    result = _run("audit", name, "-o", "out.parquet", "--engine", "python")
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert message in result.output
    assert not Path("out.parquet").exists() and not Path("out.parquet.partial").exists()


def test_a_jsonl_key_first_seen_late_is_read(cases, corpus, tmp_path):
    """A JSONL key that only a late line has is seen (not left out because an early sample lacked it), at its line."""
    late = {**cases[0], "prior_visit": 3}
    source = _jsonl(tmp_path / "c.jsonl", [cases[0]] * 30_000 + [late])
    with pytest.raises(audit_module.AuditError, match=r"c.jsonl:30001: error: column 'prior_visit' \(a key on line "
                                                      r"30001\) is not a case field; did you mean"):
        audit_module.audit(corpus, str(source), str(tmp_path / "out.parquet"), engine="python")


def test_needs_information_is_redecided_by_python_unless_told(corpus, cases, tmp_path, monkeypatch):
    """The SQL backend's needs_information rows get the Python engine's answer; redecide=False keeps the SQL's."""
    def decide_duckdb(schedule, con, source="cases", keep=()):
        return con.sql(f"SELECT id, 'needs_information' AS outcome, quantity AS requested, 0 AS approved, "
                       f"'visits' AS unit, []::VARCHAR[] AS rules, ['from_sql'] AS missing, NULL::VARCHAR AS error"
                       f"{''.join(', ' + name for name in keep)} FROM {source}")

    monkeypatch.setattr(audit_module, "sql_backend", lambda: types.SimpleNamespace(
        decide_duckdb=decide_duckdb, column_types=pytest.importorskip("mtus_dsl.compiler.sql").column_types))
    source = _jsonl(tmp_path / "c.jsonl", cases[:5])
    audit_module.audit(corpus, str(source), str(tmp_path / "python.parquet"), engine="duckdb")
    _check(_rows(tmp_path / "python.parquet"), corpus, cases[:5])
    audit_module.audit(corpus, str(source), str(tmp_path / "sql.parquet"), engine="duckdb", redecide=False)
    assert {tuple(r["missing"]) for r in _rows(tmp_path / "sql.parquet")} == {("from_sql",)}


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_three_valued_gives_the_three_valued_decisions(engine, corpus, cases, tmp_path):
    """`--three-valued`: every row as Engine.three_valued decides it (the SQL's needs_information kept, the Python
    engine's rows not searched either), on each engine; some example really differs from the searched answer."""
    if engine == "duckdb":
        pytest.importorskip("mtus_dsl.compiler.sql")
    source = _jsonl(tmp_path / "c.jsonl", cases)
    output = tmp_path / "out.parquet"
    result = _run("audit", str(source), "-o", str(output), "--engine", engine, "--three-valued",
                  "-g", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_OK, result.output
    rows = _rows(output)
    assert len(rows) == len(cases)
    differ = 0
    for row, case in zip(rows, cases):
        three = corpus.engine.three_valued(case)
        got = (row["id"], row["outcome"], row["approved"], row["rules"], row["missing"])
        assert got == (three.id, three.outcome.value, three.approved, list(three.rules), list(three.missing)), case
        differ += corpus.decide(case).missing != three.missing or corpus.decide(case).outcome != three.outcome
    assert differ > 0  # the flag is no stand-in for the default: the search answers some rows otherwise
    refused = _run("audit", str(source), "-o", str(tmp_path / "r.parquet"), "--three-valued", "--on-record")
    assert refused.exit_code == 2
    assert "--three-valued and --on-record cannot go together" in refused.output


def test_the_sql_backend_reads_a_table_without_the_optional_columns(corpus, cases, tmp_path):
    """A table lacking optional fields (pain_onset, dates the guidelines add durations to) decides as decide does."""
    pytest.importorskip("mtus_dsl.compiler.sql")
    kept = ("id", "request_date", "service", "body_region", "quantity", "diagnoses", "condition")
    few = [{k: v for k, v in case.items() if k in kept} for case in cases]
    source = _jsonl(tmp_path / "few.jsonl", few)
    output = tmp_path / "out.parquet"
    summary = audit_module.audit(corpus, str(source), str(output), engine="duckdb")
    assert summary.rows == summary.decided + summary.rejected == len(few)
    _check(_rows(output), corpus, few)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("redecide", [True, False])
def test_rows_the_sql_backend_must_not_decide_are_rejected_as_decide_rejects_them(fmt, redecide, corpus, cases,
                                                                                  tmp_path):
    """A relation broken, a date outside the case format's range, an integer far out of range, a required field left
    blank: bad for every engine."""
    pytest.importorskip("mtus_dsl.compiler.sql")
    good = [c for c in cases if c.get("prior_visits") is not None][:2]
    bad = [
        {**good[0], "id": "more-here-than-everywhere", "prior_visits": 9, "prior_visits_all_regions": 3},
        {**good[0], "id": "injured-in-1899", "injury_date": "1899-12-31"},
        {**good[0], "id": "requested-in-2200", "request_date": "2200-01-01"},
        # Through the query's arithmetic it would overflow: a row not certainly valid reaches the query blank.
        {**good[0], "id": "overflowing", "prior_visits": -(2**63) + 1},
        {**good[0], "id": "no-quantity", "quantity": None},
    ]
    if fmt == "jsonl":
        # A key a line leaves out is null for DuckDB as for a CSV's blank cell; decide reads it as not given.
        bad[-1] = {k: v for k, v in bad[-1].items() if k != "quantity"}
    problems = []
    for row in bad:
        with pytest.raises(CaseError) as caught:
            corpus.case(row)
        problems.append(caught.value.errors[0])
    source = _table(fmt, corpus, [good[0], *bad, good[1]], tmp_path)
    output = tmp_path / "out.parquet"
    summary = audit_module.audit(corpus, str(source), str(output), engine="duckdb", redecide=redecide)
    assert (summary.rows, summary.decided, summary.rejected) == (7, 2, 5)
    assert [r["row"] for r in _rows(output)] == [1, 7]
    errors = _rows(tmp_path / "out.errors.parquet")
    assert [(e["row"], e["id"], e["field"]) for e in errors] == [
        (i + 2, row["id"], problem.field) for i, (row, problem) in enumerate(zip(bad, problems))]
    for error, problem in zip(errors[:3], problems):
        assert error["message"] == problem.message


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_a_large_table_comes_out_in_input_order_on_every_thread(corpus, cases, tmp_path, fmt):
    """Many row groups (or a long text file) read on two threads: the output keeps the input's order with no sort,
    rows decided by SQL and by Python interleaved in order."""
    pytest.importorskip("mtus_dsl.compiler.sql")
    small = _parquet(tmp_path / "small.parquet", corpus.schema, cases, tmp_path)
    big = tmp_path / f"big.{fmt}"
    # CSV has no lists: those columns are left out (their rows are decided or rejected all the same).
    lists = [name for name, type_, *_ in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{small}')").fetchall()
             if fmt == "csv" and (type_.endswith("[]") or type_.startswith("STRUCT"))]
    exclude = ", ".join(["n", *lists])
    options = {"parquet": "FORMAT parquet, ROW_GROUP_SIZE 2048", "jsonl": "FORMAT json", "csv": "FORMAT csv"}[fmt]
    duckdb.sql(f"COPY (SELECT * EXCLUDE ({exclude}) REPLACE (id || '-' || n AS id) FROM read_parquet('{small}'), "
               f"range(2000) r(n) ORDER BY n, id) TO '{big}' ({options})")
    summary = audit_module.audit(corpus, str(big), str(tmp_path / "out.parquet"), engine="duckdb", threads=2,
                                 redecide=False)
    assert summary.rows == 2000 * len(cases) == summary.decided + summary.rejected
    rows = [r[0] for r in duckdb.sql(f"SELECT row FROM read_parquet('{tmp_path / 'out.parquet'}')").fetchall()]
    assert rows == sorted(rows) and len(rows) == summary.decided


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_a_jsonl_of_the_cases_own_fields_is_read_as_decide_reads_it(engine, cases, tmp_path):
    """With no mapping, a JSONL line goes to the Python engine as it is: an explicit null, an integer of 31 digits
    get decide's own messages."""
    if engine == "duckdb":
        pytest.importorskip("mtus_dsl.compiler.sql")
    lines = [json.dumps({**cases[0], "quantity": None}), json.dumps(cases[0])[:-1] + ', "prior_visits": ' + "1" * 31 + "}"]
    source = tmp_path / "c.jsonl"
    source.write_text("\n".join(lines) + "\n")
    said = [json.loads(line) for line in _run("decide", str(source), "--json", "--no-trace").output.splitlines()
            if line.startswith("{")]
    assert "cannot be null" in said[0]["error"] and "31 digits" in said[1]["error"]
    _run("audit", str(source), "-o", str(tmp_path / "out.jsonl"), "--engine", engine)
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [(e["field"] + ": " if e["field"] else "") + e["message"] for e in errors] == [s["error"] for s in said]


_V = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 12}
_CSV_V = "request_date,service,body_region,quantity"


@pytest.mark.parametrize("how", ["symlink", "hardlink", "mapping", "mapping-errors"])
def test_no_input_is_overwritten_through_another_name(how, tmp_path, monkeypatch):
    """The input and the mapping file are compared with the outputs as files, not as names: a link to one is it."""
    monkeypatch.chdir(tmp_path)
    original = f"{_CSV_V}\n2015-01-01,physical_therapy,knee,12\n"
    Path("in.csv").write_text(original)
    Path("map.jsonl").write_text("[columns]\n")
    if how == "symlink":
        Path("alias.csv").symlink_to("in.csv")
        args, blamed, kept = ["alias.csv", "-o", "in.csv"], "alias.csv: error: the input cannot be overwritten", "in.csv"
    elif how == "hardlink":
        Path("copy.csv").hardlink_to("in.csv")
        args, blamed, kept = ["in.csv", "-o", "out.csv", "--errors", "copy.csv"], "the input cannot be overwritten", \
            "in.csv"
    elif how == "mapping":
        args, blamed, kept = ["in.csv", "--mapping", "map.jsonl", "-o", "map.jsonl"], \
            "map.jsonl: error: the mapping file cannot be overwritten by the audit", "map.jsonl"
    else:
        Path("link.jsonl").symlink_to("map.jsonl")
        args, blamed, kept = ["in.csv", "--mapping", "map.jsonl", "-o", "o.jsonl", "--errors", "link.jsonl"], \
            "map.jsonl: error: the mapping file cannot be overwritten by the audit", "map.jsonl"
    before = Path(kept).read_text()
    result = _run("audit", *args, "--engine", "python")
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert blamed in result.output
    assert Path(kept).read_text() == before


def _decide_lines(source: Path) -> tuple[list[int], list[tuple[int, str]]]:
    """`mtus decide`'s answer for a JSONL file: (the lines it decided, (line, message) for those it rejected)."""
    said = [json.loads(line) for line in _run("decide", str(source), "--json", "--no-trace").output.splitlines()
            if line.startswith("{")]
    rejected = [(s["line"], s["error"]) for s in said if "error" in s]
    return [number for number in range(1, len(source.read_bytes().split(b"\n")) + 1)
            if number not in dict(rejected) and source.read_bytes().split(b"\n")[number - 1].strip()], rejected


def _audit_lines(source: Path, tmp_path: Path, *args: str) -> tuple[list[int], list[tuple[int, str]], Any]:
    """`mtus audit`'s answer for a JSONL file, as _decide_lines gives decide's, and the command's result."""
    output = tmp_path / "out.jsonl"
    result = _run("audit", str(source), "-o", str(output), *args)
    decided = [json.loads(line)["row"] for line in output.read_text().splitlines()]
    said: dict[int, list[str]] = {}
    for line in (tmp_path / "out.errors.jsonl").read_text().splitlines():
        error = json.loads(line)
        said.setdefault(error["row"], []).append((error["field"] + ": " if error["field"] else "") + error["message"])
    return decided, [(row, "; ".join(problems)) for row, problems in said.items()], result


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_every_jsonl_line_decide_reads_is_one_row_with_decides_answer(engine, tmp_path):
    """Lines split on line feeds only, as decide splits them: a raw carriage return (JSON whitespace between tokens,
    a bad character in a string) or a raw \\x01 stays in its line, a lone surrogate escape is read as decide reads
    it, and each row's number is its line's (blank lines first). Rows in = rows out + rows rejected."""
    if engine == "duckdb":
        pytest.importorskip("mtus_dsl.compiler.sql")
    good = json.dumps(_V)
    lines = ["", "  ", good, '{"id": "a\\ud800", ' + good[1:], '{"id": "b",\r' + good[1:],
             '{"id": "c\rd", ' + good[1:], '{"id": "e\x01f", ' + good[1:], "", good]
    source = tmp_path / "odd.jsonl"
    source.write_bytes("\n".join(lines).encode() + b"\n")
    decided, rejected = _decide_lines(source)
    assert decided == [3, 4, 5, 9] and [line for line, _ in rejected] == [6, 7]
    got, errors, result = _audit_lines(source, tmp_path, "--engine", engine)
    assert (got, errors) == (decided, rejected), result.output
    assert "6 rows: 4 decided, 2 rejected" in result.output


@pytest.mark.parametrize("text", ["hello\n[1]\n", json.dumps(_V, indent=2) + "\n", "\n{}\n"])
def test_a_jsonl_file_with_no_case_line_is_rows_rejected_as_decide_rejects_them(text, tmp_path):
    """No line is an object with keys (text, a list, a pretty-printed JSON file): each line is still one row,
    rejected with decide's message, not a table missing its columns."""
    source = tmp_path / "none.jsonl"
    source.write_text(text)
    decided, rejected = _decide_lines(source)
    got, errors, result = _audit_lines(source, tmp_path)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    # Decide reads a line with its line feed: an error at its end is placed in column 1 of the next line.
    def unplaced(said: list[tuple[int, str]]) -> list[tuple[int, str]]:
        return [(line, re.sub(r" \(column \d+\)$", "", message)) for line, message in said]
    assert (got, unplaced(errors)) == (decided, unplaced(rejected)) and got == []
    assert len({line for line, _ in rejected}) == sum(1 for line in text.split("\n") if line.strip())


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_column_names_are_the_tables_whatever_their_case_or_spelling(engine, corpus, tmp_path, monkeypatch):
    """Names differing only in case are different columns, a name like the audit's own (`__ok`) or an empty key
    is the table's, and a stray key's advice is a mapping file that works."""
    if engine == "duckdb":
        pytest.importorskip("mtus_dsl.compiler.sql")
    monkeypatch.chdir(tmp_path)
    Path("cc.csv").write_text(f"{_CSV_V},Quantity,__ok,__t_service,__row,__c1\n"
                              "2015-01-01,physical_therapy,knee,12,5,zz,massage,x,y\n")
    Path("cc.toml").write_text('ignore = ["Quantity", "__ok", "__t_service", "__row", "__c1"]\n')
    result = _run("audit", "cc.csv", "--mapping", "cc.toml", "-o", "cc.jsonl", "--engine", engine)
    assert result.exit_code == EXIT_OK, result.output
    [row] = [json.loads(line) for line in Path("cc.jsonl").read_text().splitlines()]
    expected = _expected(corpus, _V)
    assert {k: row[k] for k in ("outcome", "requested", "approved")} == \
        {k: expected[k] for k in ("outcome", "requested", "approved")}
    good = json.dumps(_V)
    Path("ck.jsonl").write_text(f"{good}\n{good[:-1]}, \"Quantity\": 3}}\n")
    result = _run("audit", "ck.jsonl", "-o", "ck.out.jsonl", "--engine", engine)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "ck.jsonl:2: error: column 'Quantity' (a key on line 2) is not a case field; did you mean 'quantity'?" \
        in result.output
    for key in ['a"b\\', ""]:
        Path("k.jsonl").write_text(f"{good[:-1]}, {json.dumps(key)}: 3}}\n")
        result = _run("audit", "k.jsonl", "-o", "k.out.jsonl", "--engine", engine)
        assert result.exit_code == EXIT_BAD_INPUT
        advice = result.output.split("leave it out (", 1)[1].split(") in a mapping file", 1)[0]
        Path("k.toml").write_text(advice + "\n")
        result = _run("audit", "k.jsonl", "--mapping", "k.toml", "-o", "k.out.jsonl", "--engine", engine)
        assert result.exit_code == EXIT_OK, (key, advice, result.output)


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_an_empty_jsonl_key_is_placed_at_its_lines_and_only_left_out(engine, corpus, tmp_path, monkeypatch):
    """A key "" (even with a null value) is a column no field has and none can be mapped from: the audit stops at
    its first line, counting its lines, with the one fix a mapping file has (no impossible `[columns] FIELD = ""`);
    `ignore = [""]` then decides every line, the key left out."""
    if engine == "duckdb":
        pytest.importorskip("mtus_dsl.compiler.sql")
    monkeypatch.chdir(tmp_path)
    good = json.dumps(_V)
    Path("e.jsonl").write_text(f'{good}\n\n{{"": 1, {good[1:]}\n{{"": null, {good[1:]}\n')
    result = _run("audit", "e.jsonl", "-o", "e.out.jsonl", "--engine", engine)
    assert result.exit_code == EXIT_BAD_INPUT
    assert ('e.jsonl:3: error: column "" (a key with an empty name, on 2 lines, the first line 3) is not a case '
            'field and cannot be mapped to one; leave it out (ignore = [""]) in a mapping file (--mapping), or '
            "remove it from the lines") in result.output
    assert "FIELD" not in result.output and not Path("e.out.jsonl").exists()
    Path("one.jsonl").write_text(f'{good}\n{{"": {{"a": [1]}}, {good[1:]}\n')
    result = _run("audit", "one.jsonl", "-o", "one.out.jsonl", "--engine", engine)
    assert 'one.jsonl:2: error: column "" (a key with an empty name, on line 2) is not a case field' in result.output
    assert "or remove it from the line\n" in result.output
    Path("e.toml").write_text('ignore = [""]\n')
    result = _run("audit", "e.jsonl", "--mapping", "e.toml", "-o", "e.out.jsonl", "--engine", engine)
    assert result.exit_code == EXIT_OK, result.output
    rows = _rows(Path("e.out.jsonl"))
    assert [r["row"] for r in rows] == [1, 3, 4]
    assert all(r["outcome"] == _expected(corpus, _V)["outcome"] for r in rows)


def test_a_column_a_group_reads_cannot_be_ignored_too(corpus, tmp_path, monkeypatch):
    """An ignored column that a group of columns reads (by the default pattern or the mapping's), or that a Mapping
    made in Python maps, is the mapping's mistake, at its `ignore` line: nothing is read."""
    monkeypatch.chdir(tmp_path)
    groups = "surgeries_1_procedure,surgeries_1_body_region,surgeries_1_date"
    Path("g.csv").write_text(f"{_CSV_V},{groups}\n2015-01-01,physical_therapy,knee,12,,,\n")
    Path("g.toml").write_text('# leave out the dates\nignore = ["surgeries_1_date"]\n')
    result = _run("audit", "g.csv", "--mapping", "g.toml", "-o", "g.out.csv", "--engine", "python")
    assert result.exit_code == EXIT_BAD_INPUT
    assert ("g.toml:2: error: column 'surgeries_1_date' is both ignored and read as 'date' of group 1 of "
            "'surgeries' (the default pattern 'surgeries_{n}_{field}'); remove it from ignore: a group needs a "
            "column for each field of its record") in result.output
    Path("g.toml").write_text('ignore = ["surgeries_1_date"]\n[columns]\nsurgeries = "surgeries_{n}_{field}"\n')
    result = _run("audit", "g.csv", "--mapping", "g.toml", "-o", "g.out.csv", "--engine", "python")
    assert "read as 'date' of group 1 of 'surgeries' (the pattern 'surgeries_{n}_{field}')" in result.output
    mapping = audit_module.Mapping(columns={"quantity": "units"}, ignore=("units",))
    Path("u.csv").write_text("request_date,service,body_region,units\n2015-01-01,physical_therapy,knee,12\n")
    with pytest.raises(audit_module.AuditError, match=r"^the mapping: error: column 'units' is both ignored and "
                                                      r"mapped to 'quantity'; remove one of them"):
        audit_module.audit(corpus, "u.csv", "u.out.csv", mapping=mapping, engine="python")
    assert not Path("g.out.csv").exists() and not Path("u.out.csv").exists()


def test_a_column_is_read_as_one_field_only(corpus, tmp_path, monkeypatch):
    """A column that two fields would read (a mapping file's two lines, a mapping line and a field's own name or a
    group's column, a Mapping made in Python) is the mapping's mistake, at the line that maps it: nothing is read."""
    monkeypatch.chdir(tmp_path)
    groups = "surgeries_1_procedure,surgeries_1_body_region,surgeries_1_date"
    Path("g.csv").write_text(f"{_CSV_V},units,{groups}\n2015-01-01,physical_therapy,knee,12,3,,,\n")
    Path("g.toml").write_text('[columns]\nid = "units"\n"prior_visits" = "units"\n')
    result = _run("audit", "g.csv", "--mapping", "g.toml", "-o", "g.out.csv", "--engine", "python")
    assert result.exit_code == EXIT_BAD_INPUT
    assert ("g.toml:3: error: column 'units' is already mapped to 'id' (g.toml:2); a column is read as one "
            "field: map 'prior_visits' to another column, or remove prior_visits = \"units\" from [columns]") \
        in result.output
    Path("g.toml").write_text('ignore = ["units"]\n[columns]\ninjury_date = "surgeries_1_date"\n')
    result = _run("audit", "g.csv", "--mapping", "g.toml", "-o", "g.out.csv", "--engine", "python")
    assert result.exit_code == EXIT_BAD_INPUT
    assert ("g.toml:3: error: column 'surgeries_1_date' is mapped to 'injury_date', and also read as 'date' of "
            "group 1 of 'surgeries' (the default pattern 'surgeries_{n}_{field}'); a column is read as one field: "
            "map 'injury_date' to another column, or give 'surgeries' another pattern under [columns]") \
        in result.output
    Path("g.toml").write_text('ignore = ["units"]\n[columns]\nid = "quantity"\n')
    result = _run("audit", "g.csv", "--mapping", "g.toml", "-o", "g.out.csv", "--engine", "python")
    assert ("g.toml:3: error: column 'quantity' is mapped to 'id', and also read as the field 'quantity', whose "
            "name it has; a column is read as one field: map 'id' to another column, or map 'quantity' to another "
            "column under [columns]") in result.output
    mapping = audit_module.Mapping(columns={"quantity": "units", "prior_visits": "units"})
    Path("u.csv").write_text("request_date,service,body_region,units\n2015-01-01,physical_therapy,knee,12\n")
    with pytest.raises(audit_module.AuditError, match=r"^the mapping: error: column 'units' is mapped to "
                                                      r"'prior_visits', and also mapped to 'quantity'; a column is "
                                                      r"read as one field"):
        audit_module.audit(corpus, "u.csv", "u.out.csv", mapping=mapping, engine="python")
    assert not Path("g.out.csv").exists() and not Path("u.out.csv").exists()


def _awkward_parquet(path: Path, cased: bool = True) -> Path:
    """A Parquet file whose column names DuckDB renames: "" (to C4), QUANTITY beside quantity (to QUANTITY_1; not
    when not `cased`: Spark refuses it), and FILE_ROW_NUMBER (DuckDB's own row numbers, whatever the case)."""
    import datetime

    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"request_date": [datetime.date(2015, 1, 1)] * 2, "service": ["physical_therapy"] * 2,
                             "body_region": ["knee"] * 2, "quantity": [12, 6], "": [5, None],
                             **({"QUANTITY": [1, 2]} if cased else {}), "FILE_ROW_NUMBER": [7, 8]}), path)
    return path


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_parquet_columns_are_named_as_the_file_names_them(engine, corpus, tmp_path, monkeypatch):
    """The messages and the mapping file name a Parquet file's columns as the file does, not as DuckDB renames
    them: the empty name is `""` (which `ignore = [""]` leaves out), never a `C4` the file does not have."""
    if engine == "duckdb":
        pytest.importorskip("mtus_dsl.compiler.sql")
    monkeypatch.chdir(tmp_path)
    _awkward_parquet(tmp_path / "a.parquet")
    result = _run("audit", "a.parquet", "-o", "a.out.jsonl", "--engine", engine)
    assert result.exit_code == EXIT_BAD_INPUT
    assert ('a.parquet: error: column "" (an empty name) is not a case field and cannot be mapped to one; leave it '
            'out (ignore = [""]) in a mapping file (--mapping)') in result.output
    assert "C4" not in result.output
    Path("a.toml").write_text('ignore = [""]\n')
    result = _run("audit", "a.parquet", "--mapping", "a.toml", "-o", "a.out.jsonl", "--engine", engine)
    assert "a.parquet: error: column 'QUANTITY' is not a case field; map it to one" in result.output
    Path("a.toml").write_text('ignore = ["", "QUANTITY", "FILE_ROW_NUMBER"]\n')
    result = _run("audit", "a.parquet", "--mapping", "a.toml", "-o", "a.out.jsonl", "--engine", engine)
    assert result.exit_code == EXIT_OK, result.output
    rows = _rows(Path("a.out.jsonl"))
    assert [(r["row"], r["requested"]) for r in rows] == [(1, 12), (2, 6)]
    assert [r["outcome"] for r in rows] == [_expected(corpus, {**_V, "quantity": q})["outcome"] for q in (12, 6)]
    pa = pytest.importorskip("pyarrow")
    pytest.importorskip("pyarrow.parquet").write_table(
        pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["units", "units"]), "twice.parquet")
    result = _run("audit", "twice.parquet", "-o", "t.out.jsonl", "--engine", engine)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "twice.parquet: error: the file must name every column once: it names the column 'units' 2 times" \
        in result.output


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_json_in_a_csv_cell_is_read_as_decide_reads_json(engine, tmp_path):
    """Too deep, a number too long, a key given twice, an object where a list belongs: one rejected row each, with
    decide's message for the same case; the other rows are decided."""
    if engine == "duckdb":
        pytest.importorskip("mtus_dsl.compiler.sql")
    surgery = '{"procedure": "meniscectomy", "body_region": "knee", "date": "2015-07-16"}'
    cells = {"diagnoses": ["[" * 1000 + "]" * 1000, "[" + "9" * 5000 + "]"],
             "surgeries": ["[" + surgery[:-1] + ', "body_region": "knee"}]', surgery]}
    rows, expected = [], []
    for field, values in cells.items():
        for value in values:
            rows.append((field, value))
            case = tmp_path / "case.json"
            case.write_text(json.dumps(_V)[:-1] + f', "{field}": {value}}}')
            said = _run("decide", str(case), "--json", "--no-trace").output
            expected.append(said.split(": error: ", 1)[1].strip())
    source = tmp_path / "cells.csv"
    source.write_text(f"{_CSV_V},diagnoses,surgeries\n" + "".join(
        "2015-01-01,physical_therapy,knee,12," + ('"' + value.replace('"', '""') + '",' if field == "diagnoses"
                                                 else ',"' + value.replace('"', '""') + '"') + "\n"
        for field, value in rows) + "2015-01-01,physical_therapy,knee,12,724.4,\n")
    result = _run("audit", str(source), "-o", str(tmp_path / "out.jsonl"), "--engine", engine)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "5 rows: 1 decided, 4 rejected" in result.output
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [e["row"] for e in errors] == [1, 2, 3, 4]
    for error, said in zip(errors, expected):
        # The JSON's column is not given: the case's JSON is the audit's, made of the cells.
        assert said.startswith((error["field"] + ": " if error["field"] else "") + error["message"]), (error, said)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_read_as_decide_reads_it(tmp_path):
    """A FIFO holds its table once: it is read (copied first, as standard input is), not told it does not exist."""
    import os
    import threading

    fifo = tmp_path / "cases.jsonl"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(json.dumps(_V) + "\n"))
    writer.start()
    result = _run("audit", str(fifo), "-o", str(tmp_path / "out.jsonl"), "--engine", "python")
    writer.join()
    assert result.exit_code == EXIT_OK, result.output
    assert "1 rows: 1 decided, 0 rejected" in result.output


def test_an_ignored_empty_jsonl_key_is_left_out_on_spark_too(tmp_path, monkeypatch):
    """The empty key names no DuckDB column: on Spark, an ignored one is left out as on DuckDB, not a failed audit."""
    pytest.importorskip("pyspark", reason="the Spark engine needs pyspark (the 'spark' or 'test' extra)")
    import shutil

    if shutil.which("java") is None:
        pytest.skip("the Spark engine needs a Java runtime")
    pytest.importorskip("mtus_dsl.compiler.sql")
    monkeypatch.chdir(tmp_path)
    good = json.dumps(_V)
    Path("e.jsonl").write_text(f'{good}\n{{"": 1, {good[1:]}\n')
    Path("e.toml").write_text('ignore = [""]\n')
    result = _run("audit", "e.jsonl", "--mapping", "e.toml", "-o", "e.out.jsonl", "--engine", "spark")
    assert result.exit_code == EXIT_OK, result.output
    assert "2 rows: 2 decided, 0 rejected" in result.output


def test_an_ignored_empty_parquet_column_is_left_out_on_spark_too(tmp_path, monkeypatch):
    """On Spark as on DuckDB, a Parquet file's columns are named as the file names them: "" is told as "" and
    `ignore = [""]` leaves it out (DuckDB names it `v4` in an Arrow batch)."""
    pytest.importorskip("pyspark", reason="the Spark engine needs pyspark (the 'spark' or 'test' extra)")
    import shutil

    if shutil.which("java") is None:
        pytest.skip("the Spark engine needs a Java runtime")
    pytest.importorskip("mtus_dsl.compiler.sql")
    monkeypatch.chdir(tmp_path)
    _awkward_parquet(tmp_path / "a.parquet", cased=False)
    result = _run("audit", "a.parquet", "-o", "a.out.jsonl", "--engine", "spark")
    assert result.exit_code == EXIT_BAD_INPUT
    assert 'a.parquet: error: column "" (an empty name) is not a case field' in result.output
    Path("a.toml").write_text('ignore = ["", "FILE_ROW_NUMBER"]\n')
    result = _run("audit", "a.parquet", "--mapping", "a.toml", "-o", "a.out.jsonl", "--engine", "spark")
    assert result.exit_code == EXIT_OK, result.output
    assert "2 rows: 2 decided, 0 rejected" in result.output
