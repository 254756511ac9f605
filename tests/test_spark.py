"""Spark runs the compiled spark-dialect query and decides every example as the Python engine does.

One local SparkSession for the whole test session (it is slow to start). CI
installs pyspark (the test extra) and a Java runtime (.ci/run).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pyspark = pytest.importorskip("pyspark", reason="the Spark test needs pyspark (the 'spark' or 'test' extra)")
if shutil.which("java") is None:
    pytest.skip("the Spark test needs a Java runtime ('java' is not on PATH; .ci/run installs one)",
                allow_module_level=True)

from pyspark.sql import SparkSession  # noqa: E402

from mtus_dsl.case import CaseError  # noqa: E402
from mtus_dsl.cli import EXIT_BAD_INPUT, EXIT_OK  # noqa: E402
from mtus_dsl.compiler import sql  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.test_audit import _check, _csv, _rows, _run, _table  # noqa: E402
from tests.test_audit import cases as cases  # noqa: E402  (the example cases, a fixture)
from tests.test_sql import example_cases, mismatches  # noqa: E402


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local SparkSession, one core, no UI: shared by every Spark test of the session."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers need this environment's packages
    session = (SparkSession.builder.master("local[1]").appName("mtus-dsl-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_decides_every_example_as_the_engine_does(corpus, spark):
    cases = example_cases(corpus)
    ddl = ", ".join(["`id` STRING", *(f"`{name}` {t}" for name, t in sql.column_types(corpus.schema,
                                                                                    "spark").items())])
    frame = spark.createDataFrame(sql.rows(corpus.schema, cases), schema=ddl)
    result = sql.decide_spark(corpus, spark, frame)
    assert tuple(result.columns) == sql.OUTPUT_COLUMNS
    by_id = {row["id"]: tuple(row) for row in result.collect()}
    decided = [by_id[case.id] for case in cases]
    assert mismatches(corpus, cases, decided) == []


def _dataset(path: Path, fmt: str) -> list[dict[str, Any]]:
    """A Spark dataset (a directory of part files) read back as the DuckDB engine's output is read."""
    return _rows(path / f"*.{fmt}")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_spark_audit_gives_decides_decisions(fmt, spark, corpus, cases, tmp_path):
    """`mtus audit --engine spark`: every example case gets exactly `mtus decide`'s decision, in input order."""
    source = _table(fmt, corpus, cases, tmp_path)
    output = tmp_path / "decisions.parquet"
    result = _run("audit", str(source), "-o", str(output), "--engine", "spark", "-g", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_OK, result.output
    assert f"{len(cases)} rows: {len(cases)} decided, 0 rejected" in result.output
    assert output.is_dir()
    _check(_dataset(output, "parquet"), corpus, cases)


def test_spark_audit_sends_bad_rows_to_the_errors_dataset(spark, corpus, cases, tmp_path):
    """Rows in = rows out + rows rejected, on Spark too: each bad row with its number and Case.from_dict's messages."""
    good = cases[:3]
    bad = [
        {"id": "bad-quantity", **{k: v for k, v in good[0].items() if k != "id"}, "quantity": 0},
        {"id": "bad-service", **{k: v for k, v in good[0].items() if k != "id"}, "service": "massages"},
    ]
    rows = [good[0], bad[0], good[1], bad[1], good[2]]
    source = _csv(tmp_path / "mixed.csv", corpus.schema, rows)
    result = _run("audit", str(source), "-o", str(tmp_path / "out.csv"), "--engine", "spark",
                  "-g", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "5 rows: 3 decided, 2 rejected" in result.output
    decided = _dataset(tmp_path / "out.csv", "csv")
    assert [r["row"] for r in decided] == [1, 3, 5]
    _check([{**r, "row": i} for i, r in enumerate(decided, 1)], corpus, good)
    errors = _dataset(tmp_path / "out.errors.csv", "csv")
    assert [(e["row"], e["id"]) for e in errors] == [(2, "bad-quantity"), (4, "bad-service")]
    for error, case in zip(errors, bad):
        with pytest.raises(CaseError) as caught:
            corpus.case(case)
        problem = caught.value.errors[0]
        assert (error["field"], error["message"]) == (problem.field, problem.message)


def test_spark_audit_refuses_a_file_where_its_dataset_goes(spark, corpus, cases, tmp_path):
    """A Spark output is a directory: a file in its place is refused before any work, with what to do."""
    source = _table("jsonl", corpus, cases[:2], tmp_path)
    (tmp_path / "out.parquet").write_text("not a dataset")
    result = _run("audit", str(source), "-o", str(tmp_path / "out.parquet"), "--engine", "spark",
                  "-g", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "out.parquet: error: the Spark engine writes its output as a directory" in result.output


@pytest.mark.parametrize(("name", "content", "message"), [
    ("ragged.csv", "id,request_date,service,body_region,quantity\n1,2015-01-01,physical_therapy,knee,3\n"
                   '2,"2015-01-01,physical_therapy,knee,3\n', "ragged.csv: error: the Spark audit failed: "
                                                              "[MALFORMED_CSV_RECORD] Malformed CSV record: 2,"),
])
def test_spark_audit_locates_an_unreadable_table(name, content, message, spark, tmp_path, monkeypatch):
    """A table Spark cannot read stops the audit with one located message: the record or line, no stack trace."""
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(content)
    result = _run("audit", name, "-o", "out.parquet", "--engine", "spark", "-g", str(ROOT / "guidelines"))
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in result.output
    assert "at org.apache" not in result.output


def test_spark_rejects_jsonl_lines_that_are_not_cases_one_by_one_as_duckdb_does(spark, cases, tmp_path):
    """Not JSON, not an object, a key twice: one rejected row each, with the DuckDB engine's (decide's) message."""
    good = json.dumps(cases[0])
    lines = [good, "[1]", good[:-1] + ', "quantity": 3}', "{not json", '"text"', "", good]
    source = tmp_path / "odd.jsonl"
    source.write_text("\n".join(lines) + "\n")
    said = {}
    for engine, output in (("duckdb", "duck.jsonl"), ("spark", "spark.jsonl")):
        result = _run("audit", str(source), "-o", str(tmp_path / output), "--engine", engine,
                      "-g", str(ROOT / "guidelines"))
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        errors = tmp_path / output.replace(".jsonl", ".errors.jsonl")
        parts = sorted(errors.glob("part-*")) if errors.is_dir() else [errors]
        said[engine] = [json.loads(line) for part in parts for line in part.read_text().splitlines()]
    assert [e["row"] for e in said["spark"]] == [2, 3, 4, 5]
    assert said["spark"] == said["duckdb"]
