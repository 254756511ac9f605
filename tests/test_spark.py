"""Spark runs the compiled spark-dialect query and decides every example as the Python engine does.

One local SparkSession for the whole test session (it is slow to start). CI
installs pyspark (the test extra) and a Java runtime (.ci/run).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

pyspark = pytest.importorskip("pyspark", reason="the Spark test needs pyspark (the 'spark' or 'test' extra)")
if shutil.which("java") is None:
    pytest.skip("the Spark test needs a Java runtime ('java' is not on PATH; .ci/run installs one)",
                allow_module_level=True)

from pyspark.sql import SparkSession  # noqa: E402

from mtus_dsl.compiler import sql  # noqa: E402
from tests.test_sql import example_cases, mismatches  # noqa: E402


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local SparkSession, one core, no UI: shared by every Spark test of the session."""
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
