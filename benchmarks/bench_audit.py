"""`mtus audit` at scale: Parquet to Parquet against a hand-written DuckDB CASE WHEN; memory; decide --no-trace.

    python benchmarks/bench_audit.py [--rows 1000000] [--memory-rows 10000000] [--decide-rows 1000000] [--quick]

1. A table of realistic requests (the shapes of cases.random_cases: services, regions,
   codes, surgeries, a quarter of the optional fields missing) is written to Parquet
   by DuckDB. A hand-written DuckDB query deciding the CPMTG physical-medicine table
   with CASE WHEN reads it and writes Parquet (the baseline); `mtus_dsl.audit.audit`
   reads it, maps and validates every row, decides, renders citations, writes
   Parquet and summarises. Both are timed in interleaved rounds of CPU time (every
   DuckDB thread counted).

   When the SQL backend (mtus_dsl.compiler.sql) is installed, the audit uses it.
   Otherwise the audit runs with a stand-in backend whose query *is* the baseline's
   CASE WHEN (in the backend's contract: id, outcome, requested, approved, unit,
   rules, missing, error): the figure is then the audit pipeline's own cost (reading,
   mapping, validation, joining, citations, writing, summary) over the bare query,
   and says so.
2. Streaming memory: the same pipeline over --memory-rows rows in a fresh process;
   peak RSS (getrusage maxrss).
3. `mtus decide big.jsonl --json --no-trace` over --decide-rows cases in a fresh
   process: CPU, wall time and peak RSS, for information (the Python engine, one
   case at a time), and the Python-engine audit's CPU per row.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import duckdb  # noqa: E402
from timing import Row, peak_rss, verdict  # noqa: E402

import mtus_dsl  # noqa: E402
from mtus_dsl import audit  # noqa: E402

TARGET_RATIO = 3.0  # audit / hand-written CASE WHEN, CPU, at most
TARGET_CPU = 5.0  # CPU seconds for 1,000,000 rows end to end, at most
TARGET_RSS = 1 << 30  # peak RSS auditing 10,000,000 rows, at most

#: The request table, generated in SQL from the row number (deterministic; hash() picks the choices).
TABLE = """
SELECT
    'r' || i AS id,
    ['2015-09-23', '2016-02-29', '2018-01-02', '2009-07-18', '2015-01-16'][1 + h(i, 1, 5)]::DATE AS request_date,
    ['physical_therapy', 'occupational_therapy', 'chiropractic', 'acupuncture'][1 + h(i, 2, 4)] AS service,
    ['lumbar_spine', 'knee', 'cervical_spine', 'shoulder'][1 + h(i, 3, 4)] AS body_region,
    1 + h(i, 4, 30) AS quantity,
    CASE WHEN h(i, 5, 4) = 0 THEN NULL
         ELSE list_slice(['729.1', 'M54.16', '722.10', '337.21', 'M79.18', '847.2'][1 + h(i, 6, 6):], 1, h(i, 7, 3))
    END AS diagnoses,
    CASE WHEN h(i, 8, 4) = 0 THEN NULL
         ELSE ['myalgia', 'neuritis', 'crps', 'lumbar_disc_displacement'][1 + h(i, 9, 4)] END AS condition,
    CASE WHEN h(i, 10, 4) = 0 THEN NULL ELSE h(i, 11, 2) = 0 END AS radicular_findings,
    CASE WHEN h(i, 12, 4) = 0 THEN NULL ELSE h(i, 13, 27) END AS prior_visits,
    -- Visits for all regions include this region's (a prelude relation): a row breaking it is rejected.
    CASE WHEN h(i, 14, 4) = 0 THEN NULL ELSE h(i, 13, 27) + h(i, 15, 5) END AS prior_visits_all_regions,
    CASE WHEN h(i, 16, 4) = 0 THEN NULL
         WHEN h(i, 17, 3) = 0 THEN [{'procedure': 'meniscectomy', 'body_region': 'knee', 'date': DATE '2015-07-16'}]
         ELSE []::STRUCT(procedure VARCHAR, body_region VARCHAR, date DATE)[] END AS surgeries,
    CASE WHEN h(i, 18, 4) = 0 THEN NULL ELSE DATE '2014-11-10' END AS injury_date
FROM range(1, ROWS + 1) t(i)
"""
#: h(i, k, n): the k-th pseudo-random choice of row i among n (0 to n - 1).
CHOICE = "CREATE MACRO h(i, k, n) AS (hash(i, k) % n)::BIGINT"

#: The hand-written decision of the CPMTG 2009 physical-medicine table (no post-surgical or cap logic:
#: the simpler query a data engineer writes by hand), over a table named {source}.
DECIDE = """
SELECT id, outcome, quantity AS requested, approved, 'visits' AS unit,
       CASE WHEN outcome IN ('certify', 'modify', 'non_certify') THEN [rule] ELSE [] END AS rules,
       CASE WHEN outcome = 'needs_information' THEN ['prior_visits'] ELSE [] END AS missing,
       NULL::VARCHAR AS error
FROM (
    SELECT id, quantity, rule,
           CASE WHEN rule IS NULL THEN 'not_addressed'
                WHEN prior_visits IS NULL THEN 'needs_information'
                WHEN least(quantity, greatest(allowance - prior_visits, 0)) = quantity THEN 'certify'
                WHEN greatest(allowance - prior_visits, 0) = 0 THEN 'non_certify'
                ELSE 'modify' END AS outcome,
           CASE WHEN rule IS NULL OR prior_visits IS NULL THEN 0
                ELSE least(quantity, greatest(allowance - prior_visits, 0)) END AS approved
    FROM (
        SELECT *,
               CASE WHEN service NOT IN ('physical_therapy', 'occupational_therapy')
                         OR request_date < DATE '2009-07-18' OR request_date >= DATE '2016-01-01' THEN NULL
                    WHEN condition = 'crps' THEN 'crps'
                    WHEN condition = 'neuritis' THEN 'neuritis'
                    WHEN condition = 'myalgia' THEN 'myalgia'
                    ELSE 'physical_medicine' END AS rule,
               CASE WHEN condition = 'crps' THEN 24 ELSE 10 END AS allowance
        FROM {source}
    )
)
"""


def write_table(path: str, rows: int) -> None:
    """Write `rows` realistic requests to a Parquet file."""
    con = duckdb.connect()
    con.execute(CHOICE)
    con.execute(f"COPY ({TABLE.replace('ROWS', str(rows))}) TO '{path}' (FORMAT parquet)")
    con.close()


def handwritten(source: str, output: str) -> None:
    """The baseline: the hand-written CASE WHEN, Parquet to Parquet."""
    con = duckdb.connect()
    query = DECIDE.format(source=f"read_parquet('{source}')")
    con.execute(f"COPY ({query}) TO '{output}' (FORMAT parquet)")
    con.close()


def stand_in() -> types.SimpleNamespace:
    """A SQL backend keeping mtus_dsl.compiler.sql's contract whose query is the baseline's CASE WHEN."""
    def decide_duckdb(schedule: Any, con: Any, source: str = "cases", keep: tuple[str, ...] = ()) -> Any:
        kept = "".join(f", {name}" for name in keep)  # the audit's own columns, passed through
        return con.sql(f"SELECT *{kept} FROM ({DECIDE.format(source=source)}) JOIN (SELECT id{kept} FROM {source}) "
                       "USING (id)")

    from mtus_dsl.compiler.sql import column_types  # the input contract's types (sqlglot only)

    return types.SimpleNamespace(decide_duckdb=decide_duckdb, column_types=column_types)


def no_decision() -> types.SimpleNamespace:
    """A SQL backend keeping the contract that decides nothing (every row certified as requested): the audit around
    it is the floor of what any query costs inside `mtus audit` (reading, mapping and checking, writing, summary)."""
    def decide_duckdb(schedule: Any, con: Any, source: str = "cases", keep: tuple[str, ...] = ()) -> Any:
        kept = "".join(f", {name}" for name in keep)
        return con.sql("SELECT id, 'certify' AS outcome, quantity AS requested, quantity AS approved, "
                       "'visits' AS unit, ['physical_medicine'] AS rules, CAST([] AS VARCHAR[]) AS missing, "
                       f"CAST(NULL AS VARCHAR) AS error{kept} FROM {source}")

    from mtus_dsl.compiler.sql import column_types

    return types.SimpleNamespace(decide_duckdb=decide_duckdb, column_types=column_types)


def backend() -> tuple[Any, str]:
    """The SQL backend to audit with, and how to describe it."""
    real = audit.sql_backend()
    if real is not None:
        return real, "the SQL backend (mtus_dsl.compiler.sql)"
    return stand_in(), "a stand-in backend running the baseline's own CASE WHEN (no SQL backend installed)"


def run_audit(schedule: mtus_dsl.Schedule, source: str, output: str, engine: str = "duckdb",
              redecide: bool = True, sql: Any = None) -> audit.Summary:
    """The audit, with the chosen backend (`sql`: this one)."""
    sql = sql or backend()[0]
    saved = audit.sql_backend
    audit.sql_backend = lambda: sql  # type: ignore[assignment]
    try:
        return audit.audit(schedule, source, output, engine=engine, redecide=redecide)
    finally:
        audit.sql_backend = saved  # type: ignore[assignment]


def _say(lines: list[str], line: str) -> None:
    """Keep a detail line for the report, and show it at once on stderr (the whole run takes minutes)."""
    lines.append(line)
    print(line, file=sys.stderr, flush=True)


def _cpu(fn: Any) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def _child_stats(args: list[str]) -> dict[str, float]:
    """Run a child that prints its own peak RSS as JSON last; return its CPU, wall time and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, check=False, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # The child's own figure: getrusage of the children reports the largest child so far.
    report = json.loads(done.stdout.strip().split("\n")[-1])
    return {"cpu": cpu, "wall": wall, "rss": report["rss"]}


def _memory_child(source: str, output: str, redecide: str = "yes") -> None:
    """In a fresh process: audit `source` with the DuckDB engine; print the summary's counts and peak RSS."""
    schedule = mtus_dsl.load()
    summary = run_audit(schedule, source, output, redecide=redecide == "yes")
    print(json.dumps({"rows": summary.rows, "decided": summary.decided, "rss": peak_rss()}))


def _decide_child(jsonl: str, three_valued: str = "no") -> None:
    """In a fresh process: `mtus decide JSONL --json --no-trace` (and --three-valued), its output thrown away; print
    CPU and peak RSS."""
    from mtus_dsl.cli import main as cli

    sys.stdout = open(os.devnull, "w")  # the decisions are not what is measured
    sys.stderr = open(os.devnull, "w")
    try:
        cli(["decide", jsonl, "--json", "--no-trace", *(["--three-valued"] if three_valued == "yes" else [])],
            standalone_mode=False)
    except SystemExit:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime, "rss": peak_rss()}), file=sys.__stdout__)


def run(rows: int, memory_rows: int, decide_rows: int, rounds: int,
        redecide: bool = True) -> tuple[list[Row], list[str]]:
    """Measure; return the summary rows and the detail lines (`redecide=False`: the audit keeps the SQL's
    needs_information answers, in every figure)."""
    lines: list[str] = []
    out: list[Row] = []
    schedule = mtus_dsl.load()
    _, described = backend()
    with tempfile.TemporaryDirectory(prefix="mtus-bench-audit-") as work:
        source = os.path.join(work, "requests.parquet")
        write_table(source, rows)
        _say(lines, f"{rows:,} requests in {source} ({os.path.getsize(source) / 1e6:.1f} MB Parquet); "
                     f"audit with {described}")
        base_out, audit_out = os.path.join(work, "base.parquet"), os.path.join(work, "audit.parquet")
        summary = run_audit(schedule, source, audit_out, redecide=redecide)
        assert summary.rows == rows == summary.decided + summary.rejected, summary
        times: dict[str, list[float]] = {"handwritten": [], "audit": [], "sql only": [], "floor": []}
        floor = no_decision() if audit.sql_backend() is not None else None
        floor_out = os.path.join(work, "floor.parquet")
        for _ in range(rounds):  # interleaved: a burst of load elsewhere hits them all
            times["handwritten"].append(_cpu(lambda: handwritten(source, base_out)))
            times["audit"].append(_cpu(lambda: run_audit(schedule, source, audit_out, redecide=redecide)))
            if redecide:
                times["sql only"].append(_cpu(lambda: run_audit(schedule, source, audit_out, redecide=False)))
            if floor is not None:
                times["floor"].append(_cpu(lambda: run_audit(schedule, source, floor_out, redecide=False, sql=floor)))
        base, mine = min(times["handwritten"]), min(times["audit"])
        asked = int(duckdb.sql(f"SELECT count(*) FROM read_parquet('{audit_out}') "
                               "WHERE outcome = 'needs_information'").fetchall()[0][0])
        _say(lines, f"hand-written CASE WHEN: {base:.2f} s CPU; audit: {mine:.2f} s CPU "
                     f"(rounds: {', '.join(f'{t:.2f}' for t in times['audit'])}); "
                     f"{asked:,} needs_information rows" + (" (re-decided by the Python engine)" if redecide else ""))
        label = "" if redecide else ", redecide=False"
        out.append(Row(f"[A1] audit {rows:,} rows Parquet->Parquet (DuckDB{label})", f"{mine:.2f} s",
                       f"hand-written {base:.2f} s", f"{mine / base:.2f}x", f"<= {TARGET_RATIO}x",
                       verdict(mine / base <= TARGET_RATIO)))
        if redecide:
            lean = min(times["sql only"])
            _say(lines, f"audit with redecide=False (the SQL's needs_information kept, nothing decided in Python): "
                        f"{lean:.2f} s CPU")
            out.append(Row("[A1] ... redecide=False", f"{lean:.2f} s", f"hand-written {base:.2f} s",
                           f"{lean / base:.2f}x"))
        if times["floor"]:
            least = min(times["floor"])
            _say(lines, f"audit around a backend that decides nothing (reading, mapping and checking every field, "
                        f"writing, the summary): {least:.2f} s CPU")
            out.append(Row("[A1] ... the floor: a backend deciding nothing", f"{least:.2f} s",
                           f"hand-written {base:.2f} s", f"{least / base:.2f}x"))
        scaled = mine * 1_000_000 / rows
        out.append(Row("[A2] audit CPU for 1,000,000 rows end to end", f"{scaled:.2f} s",
                       f"measured on {rows:,}", "", f"<= {TARGET_CPU} s", verdict(scaled <= TARGET_CPU)))

        small = os.path.join(work, "small.parquet")
        python_sample = min(rows, 20_000)
        write_table(small, python_sample)
        cpu = _cpu(lambda: run_audit(schedule, small, os.path.join(work, "py.parquet"), engine="python"))
        _say(lines, f"Python engine audit: {python_sample:,} rows in {cpu:.2f} s CPU "
                     f"({cpu / python_sample * 1e6:.0f} us a row; 1,000,000 rows ~ {cpu / python_sample * 1e6:.0f} s)")
        out.append(Row("[A4] audit --engine python, CPU a row", f"{cpu / python_sample * 1e6:.0f} us",
                       f"{python_sample:,} rows"))

        if memory_rows:
            big = os.path.join(work, "big.parquet")
            write_table(big, memory_rows)
            stats = _child_stats([sys.executable, __file__, "--child", big, os.path.join(work, "big-out.parquet"),
                                  "yes" if redecide else "no"])
            _say(lines, f"{memory_rows:,} rows audited in a fresh process: {stats['cpu']:.1f} s CPU, "
                         f"{stats['wall']:.1f} s wall, peak RSS {stats['rss'] / 2**20:.0f} MiB")
            out.append(Row(f"[A3] audit {memory_rows:,} rows{label}: peak RSS", f"{stats['rss'] / 2**20:.0f} MiB",
                           f"{stats['cpu']:.0f} s CPU", "", "< 1 GiB", verdict(stats["rss"] < TARGET_RSS)))
            os.unlink(big)

        if decide_rows:
            jsonl = os.path.join(work, "big.jsonl")
            write_table(os.path.join(work, "decide.parquet"), decide_rows)
            duckdb.sql(f"COPY (SELECT * FROM read_parquet('{os.path.join(work, 'decide.parquet')}')) "
                       f"TO '{jsonl}' (FORMAT json)")
            # Its own peak RSS (getrusage of the children would report the largest child so far).
            for three_valued in ("no", "yes"):
                stats = _child_stats([sys.executable, __file__, "--decide-child", jsonl, three_valued])
                flags = "--json --no-trace" + (" --three-valued" if three_valued == "yes" else "")
                _say(lines, f"mtus decide big.jsonl {flags}, {decide_rows:,} cases: {stats['cpu']:.1f} s CPU, "
                             f"{stats['wall']:.1f} s wall, peak RSS {stats['rss'] / 2**20:.0f} MiB")
                out.append(Row(f"[A5] mtus decide {flags}, {decide_rows:,} cases", f"{stats['cpu']:.1f} s",
                               f"{stats['wall']:.1f} s wall"))
    return out, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=10_000_000)
    parser.add_argument("--decide-rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, no 10M run, 20,000 cases decided")
    parser.add_argument("--three-valued", action="store_true",
                        help="audit with redecide=False: the SQL's needs_information kept, none re-decided in Python")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--decide-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _memory_child(*args.child)
        return 0
    if args.decide_child:
        _decide_child(*args.decide_child)
        return 0
    if args.quick:
        args.rows, args.memory_rows, args.decide_rows, args.rounds = 100_000, 0, 20_000, 2
    rows, lines = run(args.rows, args.memory_rows, args.decide_rows, args.rounds, not args.three_valued)
    print("\n".join(lines))
    for row in rows:
        print(f"{row.figure:<56} {row.measured:>10}  {row.baseline:<26} {row.ratio:>7} {row.target:>8} {row.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
