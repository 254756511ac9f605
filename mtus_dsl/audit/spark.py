"""`mtus audit --engine spark`: the same audit on Apache Spark (local mode, or any cluster through spark-submit).

Spark reads the input and writes the outputs. Each partition is mapped to the case
format by the mapping's own DuckDB SQL (mapping.py, run on the executor over the
partition's Arrow batches), so the column mapping lives once. The typed rows are
decided by the SQL backend's spark-dialect query; rows it cannot be sure of, and
needs_information rows, are decided by the Python engine on the executors, as the
DuckDB engine does. Needs the `spark` extra (pyspark, pyarrow) and a Java runtime.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mtus_dsl.audit.mapping import (
    RAW,
    AuditError,
    Mapping,
    case_json,
    jsonl_rows,
    plan_sources,
    raw_line,
    typed_relation,
)
from mtus_dsl.compiler import PRELUDE_NAME
from mtus_dsl.schedule import Schedule, loads

if TYPE_CHECKING:
    from mtus_dsl.audit import Summary

#: A row's problems as the Python engine returns them.
_PROBLEMS = "ARRAY<STRUCT<field: STRING, message: STRING>>"
#: Bits of monotonically_increasing_id() below the partition's index.
_PARTITION_SHIFT = 33
#: The schedules the executors compiled, by their guideline texts (one compile per worker process).
_WORKER_SCHEDULES: dict[str, Schedule] = {}


def remote(path: str) -> bool:
    """Whether a path names a file system Spark reads (`hdfs://`, `s3a://`, ...), not a local file."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path) is not None and not path.startswith("file://")


def session() -> Any:
    """The active SparkSession (spark-submit's), or a local one using every core."""
    try:
        from pyspark.sql import SparkSession
        # pyspark's Arrow maps (mapInArrow) need pyarrow and pandas: refused here, not on an executor.
        if importlib.util.find_spec("pyarrow") is None or importlib.util.find_spec("pandas") is None:
            raise ImportError("pyarrow")
    except ImportError:
        raise AuditError("error: --engine spark needs pyspark and pyarrow: pip install 'mtus-dsl[spark]' "
                         "(and a Java runtime)") from None
    # pyspark logs a failed query's context as JSON before raising it: the audit reports the failure once.
    logging.getLogger("DataFrameQueryContextLogger").setLevel(logging.CRITICAL)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # A local Spark's Python workers run this interpreter (which has mtus-dsl), not whatever `python3` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        spark = SparkSession.builder.appName("mtus audit").config("spark.ui.showConsoleProgress", "false") \
            .getOrCreate()
    except Exception as error:  # no Java, or a cluster that cannot be reached
        raise AuditError(f"error: cannot start Spark: {str(error).strip().splitlines()[0]}") from None
    spark.sparkContext.setLogLevel("FATAL")  # failures are reported as AuditError, located
    return spark


def _spark_type(duckdb_type: str) -> str:
    """A DuckDB column type in Spark's DDL."""
    from sqlglot import exp

    return str(exp.DataType.build(duckdb_type, dialect="duckdb").sql(dialect="spark"))


def _schedule_for(texts: dict[str, str]) -> Schedule:
    """The schedule of these guideline texts, compiled once per worker process (a Schedule does not pickle)."""
    key = json.dumps(texts, sort_keys=True)
    found = _WORKER_SCHEDULES.get(key)
    if found is None:
        found = _WORKER_SCHEDULES[key] = loads(texts)
    return found


def _read(spark: Any, fmt: str, path: str, name: str) -> tuple[Any, dict[str, str], str, dict[str, str]]:
    """(the input as a DataFrame, its columns {name: DuckDB type} as the mapping sees them, the SQL over a batch,
    the name DuckDB gives each column the mapping sees in a batch when it is not that)."""
    import duckdb
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StringType, StructField, StructType

    if fmt == "csv":
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
        reader = spark.read.option("header", True).option("sep", delimiter).option("quote", '"') \
            .option("escape", '"').option("mode", "FAILFAST").option("multiLine", True)
        if not remote(path):
            # The header is read here, as the DuckDB engine reads it: blank or repeated names are refused,
            # and the names given to Spark exactly (a byte-order mark is not part of the first name).
            with open(path, encoding="utf-8-sig", newline="") as stream:
                header = next(csv.reader(stream, delimiter=delimiter), [])
            if len(set(header)) != len(header) or not all(header):
                raise AuditError(f"{name}: error: the header row must name every column once (a column is blank "
                                 "or named twice)")
            reader = reader.schema(StructType([StructField(h, StringType()) for h in header]))
        frame = reader.csv(path)
        return frame, {column: "VARCHAR" for column in frame.columns}, "SELECT * FROM batch", {}
    if fmt == "parquet":
        frame = spark.read.parquet(path)
        con = duckdb.connect()
        con.register("empty", to_arrow_schema(frame.schema).empty_table())
        described = con.execute("DESCRIBE SELECT * FROM empty").fetchall()
        con.close()
        # The mapping names the file's own columns: DuckDB renames some in a batch (`""` to `v3`).
        names = [str(n) for n in frame.schema.names]
        if len(names) != len(described) or len(set(names)) != len(names):
            names = [str(row[0]) for row in described]
        return frame, {n: str(row[1]) for n, row in zip(names, described)}, "SELECT * FROM batch", \
            {n: str(row[0]) for n, row in zip(names, described) if n != row[0]}
    # JSON lines, read as the DuckDB engine reads them (jsonl_rows): every field as JSON, the keys those of every
    # object line, a line that is not a clean object kept whole (RAW) for the Python engine to reject.
    frame = spark.read.text(path).where(F.trim("value") != "")
    keys = sorted(str(row[0]) for row in frame.select(F.explode(F.json_object_keys("value"))).distinct().collect())
    # The empty key names no DuckDB column: the table has it (plan_sources refuses it unless it is ignored, and an
    # ignored key is never read), the mapped rows leave it out.
    return frame, {key: "JSON" for key in keys}, jsonl_rows([key for key in keys if key], "batch", "value",
                                                            keep=("__mid",)), {}


def audit_spark(schedule: Schedule, path: str, name: str, in_format: str, output: str, out_format: str,
                errors: str, errors_format: str, mapping: Mapping, on_record: bool, rationale: bool, trace: bool,
                backend: Any, redecide: bool) -> Summary:
    """Decide every row of `path` on Spark into `output` (a Spark dataset: a directory); bad rows into `errors`."""
    from pyspark.sql import functions as F

    from mtus_dsl.audit import DECISION_FIELDS, OUTPUT_COLUMNS, Summary, _reading

    spark = session()
    # Spark resolves a relative path against its own start directory, not this process's current one.
    given = (output, errors)
    path, output, errors = (p if remote(p) else os.path.abspath(p) for p in (path, output, errors))
    try:
        frame, table, unpack, renamed = _read(spark, in_format, path, name)
    except AuditError:
        raise
    except Exception as error:  # Spark's AnalysisException and the like: the file is not what it says
        raise AuditError(f"{name}: error: cannot read it as {in_format}: {_first_line(error)}") from None
    sources = plan_sources(schedule.schema, table, mapping, name)
    raw = raw_line(in_format, sources, mapping)
    sources = [_reading(source, {c: renamed.get(c, c) for c in table}) for source in sources]
    schema = schedule.schema
    fields = [spec.name for spec in schema.inputs]
    identity, ok, columns = typed_relation(sources, mapping, schema, backend.column_types(schema))
    spark_types = backend.column_types(schema, "spark")
    mapped_sql = (f"SELECT __mid, {identity} AS __id, {ok} AS __ok, "
                  f"CAST({case_json(sources, mapping, schema)} AS VARCHAR) AS __case, {raw} AS {RAW}, {columns} "
                  f"FROM ({unpack}) AS batch")
    mapped_ddl = ", ".join(["__mid BIGINT", "__id STRING", "__ok BOOLEAN", "__case STRING", f"{RAW} STRING",
                            *(f"`__t_{f}` {spark_types[f]}" for f in fields)])

    def map_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import duckdb
        import pyarrow

        con = duckdb.connect(config={"threads": 1})
        for batch in batches:
            con.register("batch", pyarrow.Table.from_batches([batch]))
            relation = con.sql(mapped_sql)
            # DuckDB 2 names it to_arrow_table; 1.x, arrow.
            table = relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
            yield from table.to_batches()
            con.unregister("batch")
        con.close()

    numbered = frame.withColumn("__mid", F.monotonically_increasing_id())
    mapped = numbered.mapInArrow(map_partition, mapped_ddl).persist()
    try:
        # Row numbers as the input's order gives them: each partition's count, then its offset (no global window).
        counts = sorted((int(p), int(n)) for p, n in mapped.groupBy(
            F.shiftright("__mid", _PARTITION_SHIFT).alias("p")).count().collect())
        offsets: list[Any] = []
        total = 0
        for partition, count in counts:
            offsets += [F.lit(partition), F.lit(total)]
            total += count
        offset = F.element_at(F.create_map(*offsets), F.shiftright("__mid", _PARTITION_SHIFT)) if offsets \
            else F.lit(0)
        rows = mapped.withColumn("__row", F.col("__mid") - F.shiftleft(F.shiftright("__mid", _PARTITION_SHIFT),
                                                                     _PARTITION_SHIFT) + offset + 1)
        summary = _decide(spark, schedule, rows, fields, output, out_format, errors, errors_format, on_record,
                          rationale, trace, backend, redecide, DECISION_FIELDS, OUTPUT_COLUMNS)
    except AuditError:
        raise
    except Exception as error:  # a row Spark could not read (FAILFAST CSV), a cluster failure
        raise AuditError(f"{name}: error: the Spark audit failed: {_first_line(error)}") from None
    finally:
        mapped.unpersist()
    rows_in, decided, rejected, failed, outcomes, missing = summary
    if rows_in != decided + rejected:  # every row is decided or rejected: anything else is a bug
        raise AuditError(f"error: internal error (a bug in mtus-dsl, please report it): {rows_in} rows read, "
                         f"{decided} decided and {rejected} rejected")
    return Summary(decided + rejected, decided, rejected, failed, "spark", outcomes, missing, *given)


def _decide(spark: Any, schedule: Schedule, rows: Any, fields: list[str], output: str, out_format: str,
            errors: str, errors_format: str, on_record: bool, rationale: bool, trace: bool, backend: Any,
            redecide: bool, decision_fields: tuple[tuple[str, str], ...],
            output_columns: tuple[str, ...]) -> tuple[int, int, int, int, Any, Any]:
    """Decide the numbered, mapped rows; write the outputs; return the summary's figures."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from mtus_dsl.audit import citation_columns

    cases = rows.where("__ok").select(F.col("__row").alias("id"), *(F.col(f"__t_{f}").alias(f) for f in fields))
    # Checkpointed: the query's plan is large, and Spark would plan it again inside every later step.
    answers = backend.decide_spark(schedule, spark, cases).localCheckpoint()
    answers = answers.select(*(F.col(c).alias(f"__s_{c}") for c in answers.columns))
    joined = rows.join(answers, F.col("__s_id") == F.col("__row"), "left")
    python = F.col("__s_id").isNull() | F.col("__s_error").isNotNull()
    if redecide:
        python = python | (F.col("__s_outcome") == "needs_information")
    if rationale or trace or on_record:
        python = F.lit(True)  # the query neither explains nor decides on the record
    texts = {name: text for name, text in schedule.sources.items() if name != PRELUDE_NAME}

    def decide_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow

        from mtus_dsl.audit import _Rows, _text
        from mtus_dsl.audit import deciding as decider

        worker = _schedule_for(texts)
        decide = decider(worker, on_record, three_valued=not redecide)
        deciding = _Rows(worker, decide, io.StringIO(), rationale, trace, None)
        for batch in batches:
            out: dict[str, list[Any]] = {"__row": [], "__answer": [], "__rid": [], "__problems": [], "__failed": []}
            for row, text, raw in zip(batch.column("__row").to_pylist(), batch.column("__case").to_pylist(),
                                      batch.column(RAW).to_pylist()):
                answer, case_id, problems, failed = deciding.answer(text, raw)
                out["__row"].append(row)
                out["__rid"].append(case_id if isinstance(case_id, str) else None)
                out["__answer"].append(answer)
                out["__problems"].append(json.dumps([{"field": _text(f), "message": _text(m)} for f, m in problems]))
                out["__failed"].append(failed)
            yield pyarrow.RecordBatch.from_pydict(out)

    struct = ", ".join(f"`{n}`: {_spark_type(t)}" for n, t in decision_fields)
    by_python = joined.where(python).select("__row", "__case", RAW, "__id").mapInArrow(
        decide_partition, "__row BIGINT, __answer STRING, __rid STRING, __problems STRING, __failed BOOLEAN")
    python_rows = by_python.select("__row", F.from_json("__answer", f"STRUCT<{struct}>").alias("d"), "__rid",
                                   F.from_json("__problems", _PROBLEMS).alias("__problems"), "__failed")
    citations = {rule.name: rule.citation for rule in schedule.engine.plan.rules}
    cite = spark.createDataFrame(
        [(n, *citation_columns(c).values()) for n, c in citations.items()],
        "__c_rule STRING, __c_document STRING, __c_edition STRING, __c_section STRING, __c_pages STRING, "
        "__c_text STRING")
    text_of = F.create_map(*(x for n, c in citations.items() for x in (F.lit(n), F.lit(str(c))))) \
        if citations else F.create_map()
    rules = F.col("__s_rules")
    first_rule = F.col("__c_rule") == F.try_element_at(rules, F.lit(1))
    sql_rows = joined.where(~python).join(F.broadcast(cite), first_rule, "left") \
        .select("__row", F.struct(
            F.col("__id").alias("id"), F.col("__t_service").alias("service"),
            F.col("__t_body_region").alias("body_region"), F.col("__s_outcome").alias("outcome"),
            F.col("__s_requested").alias("requested"), F.col("__s_approved").alias("approved"),
            F.col("__s_unit").alias("unit"), rules.alias("rules"), F.col("__c_document").alias("document"),
            F.col("__c_edition").alias("edition"), F.col("__c_section").alias("section"),
            F.col("__c_pages").alias("pages"),
            # Each rule's citation once, in order, as the engine cites them.
            F.when(F.size(rules) > 0, F.array_join(F.array_distinct(F.transform(
                rules, lambda r: F.element_at(text_of, r))), "; ")).alias("citations"),
            F.col("__s_missing").alias("missing"), F.array().cast("ARRAY<STRING>").alias("assumed"),
            F.lit(None).cast("STRING").alias("rationale"), F.lit(None).cast("STRING").alias("trace"),
            F.lit(False).alias("rejected")).alias("d"), F.lit(None).cast("STRING").alias("__rid"),
            F.lit(None).cast(_PROBLEMS).alias("__problems"), F.lit(False).alias("__failed"))
    decided = python_rows.unionByName(sql_rows).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        kept = [c for c in output_columns if (c != "rationale" or rationale) and (c != "trace" or trace)]
        good = decided.where(~F.col("d.rejected")).select(
            F.col("__row").alias("row"), *(F.col(f"d.{c}").alias(c) for c in kept if c != "row"))
        _write(good.orderBy("row"), output, out_format, kept)
        bad = decided.where(F.size("__problems") > 0).select(
            F.col("__row").alias("row"), F.col("__rid").alias("id"), F.explode("__problems").alias("p")) \
            .select("row", "id", F.col("p.field").alias("field"), F.col("p.message").alias("message"))
        _write(bad.orderBy("row"), errors, errors_format, ["row", "id", "field", "message"])
        outcomes = good.groupBy("service", "body_region", "outcome").count() \
            .orderBy("service", "body_region", "outcome").collect()
        missing = good.select(F.explode("missing").alias("fact")).groupBy("fact").count() \
            .orderBy(F.desc("count"), "fact").limit(10).collect()
        rejected = decided.where(F.col("d.rejected")).count()
        failed = decided.where("__failed").count()
        rows_in = rows.count()
    finally:
        decided.unpersist()
    decided_rows = sum(int(r["count"]) for r in outcomes)
    return (rows_in, decided_rows, rejected, failed,
            tuple((str(r["service"]), str(r["body_region"]), str(r["outcome"]), int(r["count"])) for r in outcomes),
            tuple((str(r["fact"]), int(r["count"])) for r in missing))


def _write(frame: Any, path: str, fmt: str, columns: list[str]) -> None:
    """Write a DataFrame as a Spark dataset at `path` (a directory of part files), replacing what is there."""
    from pyspark.sql import functions as F

    if fmt == "csv":
        frame = frame.select(*(F.array_join(c, ";").alias(c) if c in ("rules", "missing", "assumed") else F.col(c)
                               for c in columns))
        frame.write.mode("overwrite").option("header", True).option("emptyValue", "").csv(path)
    elif fmt == "jsonl":
        others = [c for c in columns if c != "trace"]
        line = F.to_json(F.struct(*others), {"ignoreNullFields": "false"})
        if "trace" in columns:
            # The trace is JSON already: spliced in as it is, not quoted as a string.
            line = F.concat(F.expr("substring(__line, 1, length(__line) - 1)"), F.lit(', "trace": '),
                            F.coalesce(F.col("trace"), F.lit("null")), F.lit("}"))
            frame = frame.withColumn("__line", F.to_json(F.struct(*others), {"ignoreNullFields": "false"}))
        frame.select(line.alias("value")).write.mode("overwrite").text(path)
    else:
        frame.select(*columns).write.mode("overwrite").parquet(path)


def _first_line(error: Exception) -> str:
    """An error's first line, without Spark's and Java's stack traces."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    lines = text.splitlines()
    if "Python worker" in lines[0]:
        # The worker's own error is the last `Name: message` line of its traceback.
        raised = [line for line in lines if re.match(r"^[A-Za-z_.]+(Error|Exception): ", line)]
        if raised:
            return raised[-1]
    # A Java failure: the deepest cause says what was wrong (a malformed CSV record, with the record).
    causes = [m.group(1) for line in lines
              if (m := re.match(r"^(?::\s*|Caused by:\s*)?[\w.$]+(?:Exception|Error): (.+)$", line.strip()))]
    return causes[-1] if causes else lines[0]
