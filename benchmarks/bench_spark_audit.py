"""`mtus audit --engine spark` against the DuckDB engine on the same table: wall time, and equal decisions.

    python benchmarks/bench_spark_audit.py [--rows 200000] [--redecide]

The table is bench_audit.py's (realistic requests, written to Parquet by DuckDB). Both
engines audit it Parquet to Parquet with `redecide=False` unless --redecide (the SQL's
needs_information answers kept: the pipelines and queries are what is compared). Spark
runs in local mode on every core, its session started before the clock (JVM start is
not the audit's cost). Wall time, not CPU: Spark's work is in a JVM and Python workers.
The two outputs are compared row by row (row, outcome, approved, rules, missing).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import duckdb  # noqa: E402
from bench_audit import write_table  # noqa: E402

import mtus_dsl  # noqa: E402
from mtus_dsl import audit  # noqa: E402
from mtus_dsl.audit import spark  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--redecide", action="store_true", help="re-decide needs_information rows in Python")
    args = parser.parse_args(argv)
    schedule = mtus_dsl.load()
    spark.session()
    with tempfile.TemporaryDirectory(prefix="mtus-bench-spark-") as work:
        source = os.path.join(work, "requests.parquet")
        write_table(source, args.rows)
        walls = {}
        for engine in ("duckdb", "spark"):
            output = os.path.join(work, f"{engine}.parquet")
            start = time.perf_counter()
            summary = audit.audit(schedule, source, output, engine=engine, redecide=args.redecide)
            walls[engine] = time.perf_counter() - start
            assert summary.rows == args.rows == summary.decided + summary.rejected, summary
        columns = "row, outcome, approved, rules, missing"
        differ = duckdb.sql(f"SELECT count(*) FROM (SELECT {columns} FROM '{work}/duckdb.parquet' EXCEPT "
                            f"SELECT {columns} FROM '{work}/spark.parquet/*.parquet')").fetchall()[0][0]
    print(f"{args.rows:,} rows, redecide={args.redecide}: DuckDB {walls['duckdb']:.1f} s wall, "
          f"Spark (local, warm session) {walls['spark']:.1f} s wall ({walls['spark'] / walls['duckdb']:.1f}x); "
          f"rows whose decisions differ: {differ}")
    return 0 if differ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
