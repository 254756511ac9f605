"""The SQL backend decides as the engine does: every example, generated cases, small programs aimed at each step."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

duckdb = pytest.importorskip("duckdb", reason="the SQL backend's tests need duckdb (the 'sql' or 'test' extra)")
sqlglot = pytest.importorskip("sqlglot", reason="the SQL backend needs sqlglot (the 'sql' or 'test' extra)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import mtus_dsl  # noqa: E402
from mtus_dsl.case import Case  # noqa: E402
from mtus_dsl.compiler import sql  # noqa: E402
from mtus_dsl.decision import Outcome  # noqa: E402
from mtus_dsl.runtime import RuleError  # noqa: E402
from mtus_dsl.testing.strategies import builder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def example_cases(schedule: mtus_dsl.Schedule) -> list[Case]:
    """Every example of the guidelines and every case of examples/cases, validated, each with an id."""
    cases = [schedule.case({**example.case, "id": f"example {i}: {example.title}"})
             for i, example in enumerate(schedule.program.examples)]
    for path in sorted((ROOT / "examples" / "cases").glob("*.json")):
        cases.append(schedule.case({**json.loads(path.read_text()), "id": path.name}))
    return cases


def expected(schedule: mtus_dsl.Schedule, case: Case) -> tuple[Any, ...]:
    """What the engine decides by three-valued logic (as the query does: `mtus audit` searches its
    needs_information rows with the engine), as the query's columns: outcome, requested, approved, unit, rules,
    missing, error."""
    try:
        decision = schedule.engine.three_valued(case)
    except RuleError as error:
        return (None, case.values["quantity"], None, None, None, None, error.where)
    return (decision.outcome.value, decision.requested, decision.approved, decision.unit, list(decision.rules),
            list(decision.missing), None)


def got(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A result row without its id; an error row keeps only what audit reads (outcome, requested, error)."""
    outcome, requested, approved, unit, rules, missing, error = row[1:]
    if error is not None:
        return (outcome, requested, None, None, None, None, error)
    return (outcome, requested, approved, unit, list(rules), list(missing), None)


def mismatches(schedule: mtus_dsl.Schedule, cases: Iterable[Case], decided: list[tuple[Any, ...]]
               ) -> list[tuple[Any, ...]]:
    """Cases on which the query and the engine disagree: (id, query's answer, engine's answer)."""
    cases = list(cases)
    assert [row[0] for row in decided] == [case.id for case in cases]
    found = []
    for case, row in zip(cases, decided):
        want = expected(schedule, case)
        if want[-1] is not None:
            # A RuleError: the engine names the innermost rule or fact ("rule 'r'"); the query names the rule.
            want = (*want[:-1], row[-1]) if row[-1] is not None and row[-1] in want[-1] else want
        if got(row) != want:
            found.append((case.id, got(row), want))
    return found


_QUERIES: dict[int, tuple[mtus_dsl.Schedule, str]] = {}


def decide_all(schedule: mtus_dsl.Schedule, cases: list[Case]) -> list[tuple[Any, ...]]:
    """Decide cases with the query on a fresh in-memory DuckDB, in the cases' order."""
    con = duckdb.connect()
    sql.load_duckdb(schedule, con, cases)
    if id(schedule) not in _QUERIES:  # compiled once per schedule: the tests run it many times
        _QUERIES[id(schedule)] = (schedule, sql.compile_sql(schedule))
    relation = con.sql(_QUERIES[id(schedule)][1])
    assert tuple(relation.columns) == sql.OUTPUT_COLUMNS
    by_id = {row[0]: row for row in relation.fetchall()}
    return [by_id[case.id] for case in cases]


def test_every_example_decided_as_the_engine_does(corpus):
    cases = example_cases(corpus)
    assert len(cases) > 100
    assert mismatches(corpus, cases, decide_all(corpus, cases)) == []


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_cases_decided_as_the_engine_does(corpus, data):
    strategy = builder(corpus).case_data()
    drawn = data.draw(st.lists(strategy, min_size=1, max_size=150), label="cases")
    cases = [corpus.case({**case, "id": str(i)}) for i, case in enumerate(drawn)]
    assert mismatches(corpus, cases, decide_all(corpus, cases)) == []


def test_needs_over_several_words_decided_as_the_engine_does(corpus, monkeypatch):
    """More optional inputs than one word of bits holds: with 4 bits a word, the corpus's inputs span words."""
    monkeypatch.setattr(sql, "WORD", 4)
    assert len(sql._Compiler(corpus.program).words) > 5
    _QUERIES.pop(id(corpus), None)
    try:
        cases = example_cases(corpus)
        assert mismatches(corpus, cases, decide_all(corpus, cases)) == []
    finally:
        _QUERIES.pop(id(corpus), None)  # the next test compiles with the real word size


HEADER = '''
guideline old "Old Guideline" edition "1":
    in force 2009-01-01 to 2012-12-31
guideline g "Test Guideline" edition "2":
    in force from 2013-01-01
'''

PROGRAMS = {
    "caps": '''
section s "S" in g pages 7:
    services physical_therapy
    rule_ten: max_visits 10
    cap cap_a: max_visits 8
    cap cap_b: max_visits 8 when functional_improvement
    cap cap_loose: max_visits 30
    cap cap_counting: max_visits 12 counting prior_visits_all_regions
''',
    "trial": '''
section s "S" in g pages 58:
    services chiropractic
    manipulation: trial 6 over 2 weeks, up to 18 over 8 weeks with functional_improvement
''',
    "exceptions and editions": '''
section old_s "Old" in old pages 1:
    services physical_therapy
    old_rule: max_visits 20
section s "S" in g pages 1:
    services physical_therapy
    general: max_visits 10 unless knee_only
    knee_only: max_visits 4 when functional_improvement
        for regions knee
    none_here: non_certify when prior_visits > 50
        overrides general, knee_only
''',
    "rule errors": '''
section s "S" in g pages 1:
    services physical_therapy
    halves: max_visits 12 / prior_visits rounded down when functional_improvement
    thirds: max_visits (prior_visits_all_regions + 2) / 3 rounded up unless functional_improvement
''',
    "scoped facts": '''
fact long_course: boolean = prior_visits > 20 "a long course so far"
fact elsewhere: boolean = prior_visits_all_regions > prior_visits + 10 "treated more elsewhere"
fact mostly_elsewhere: boolean = elsewhere and long_course "a long course, mostly elsewhere"
section s "S" in g pages 1:
    services physical_therapy
    long_pt: max_visits 4 when long_course
section t "T" in g pages 2:
    services chiropractic
    chiro: max_visits 6 unless mostly_elsewhere
''',
}

BASE = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 12}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_small_programs_decided_as_the_engine_does(name, data):
    schedule = _program(name)
    strategy = builder(schedule).case_data()
    drawn = data.draw(st.lists(strategy, min_size=1, max_size=40), label="cases")
    cases = [schedule.case({**case, "id": str(i)}) for i, case in enumerate(drawn)]
    assert mismatches(schedule, cases, decide_all(schedule, cases)) == []


_PROGRAMS: dict[str, mtus_dsl.Schedule] = {}


def _program(name: str) -> mtus_dsl.Schedule:
    if name not in _PROGRAMS:
        _PROGRAMS[name] = mtus_dsl.loads({f"{name}.mtus": HEADER + PROGRAMS[name]})
    return _PROGRAMS[name]


def test_a_rule_error_gives_no_outcome_and_names_the_rule():
    """A division by zero is a RuleError in Python; in SQL the row has no outcome and `error` names the rule."""
    schedule = _program("rule errors")
    cases = [schedule.case({**BASE, "id": "zero", "prior_visits": 0, "functional_improvement": True}),
             schedule.case({**BASE, "id": "two", "prior_visits": 2, "functional_improvement": True})]
    with pytest.raises(RuleError):
        schedule.decide(cases[0])
    zero, two = decide_all(schedule, cases)
    assert zero[1] is None and zero[-1] == "halves"
    assert (two[1], two[3], two[-1]) == (Outcome.MODIFY.value, 4, None)  # 12 / 2 visits, less the 2 given
    assert mismatches(schedule, cases, [zero, two]) == []


def test_caps_bind_and_are_cited():
    schedule = _program("caps")
    case = schedule.case({**BASE, "id": "c", "functional_improvement": True, "prior_visits": 0,
                          "prior_visits_all_regions": 0})
    row = decide_all(schedule, [case])[0]
    assert (row[1], row[3], list(row[5])) == ("modify", 8, ["rule_ten", "cap_a", "cap_b"])
    unknown = schedule.case({**BASE, "id": "u", "prior_visits": 0})
    row = decide_all(schedule, [unknown])[0]
    assert row[1] == "needs_information" and list(row[6]) == ["prior_visits_all_regions"]


def test_a_fact_is_computed_only_where_a_rule_reads_it():
    """A fact read only by chiropractic rules (directly or through another fact) is computed in chiropractic's
    bucket alone; one read by both services is computed everywhere; a fact nothing reads is not a column."""
    schedule = _program("scoped facts")
    tree = sql.query(schedule)
    columns = {alias: value for cte in tree.args["with_"].expressions for value in cte.this.expressions
               if (alias := value.alias)}
    bucket = columns["bucket"].sql("duckdb")
    chiro = bucket[bucket.index("'chiropractic'"):].split(" THEN ")[1].split()[0]
    for fact in ("fact:elsewhere", "fact:mostly_elsewhere"):
        assert columns[fact].sql("duckdb").startswith(f'CASE WHEN "bucket" IN ({chiro}) THEN '), fact
    assert not columns["fact:long_course"].sql("duckdb").startswith('CASE WHEN "bucket"')
    tens = sql.query(mtus_dsl.load())
    read = {value.alias for cte in tens.args["with_"].expressions for value in cte.this.expressions}
    assert "fact:conditions:has:phantom_limb" in read and "fact:conditions" not in read


@pytest.mark.parametrize("dialect", ["duckdb", "spark", "postgres", "snowflake", "bigquery", "trino"])
def test_renderings_parse_back(corpus, dialect):
    """The query renders in each dialect, and sqlglot reads each rendering back as one SELECT."""
    text = sql.compile_sql(corpus, dialect=dialect)
    tree = sqlglot.parse_one(text, read=dialect)
    assert isinstance(tree, sqlglot.exp.Select)
    assert [e.alias_or_name for e in tree.expressions] == list(sql.OUTPUT_COLUMNS)


def test_the_query_is_deterministic_and_reads_source(corpus):
    first = sql.compile_sql(corpus, source="my_cases")
    assert first == sql.compile_sql(corpus, source="my_cases")
    assert "my_cases" in first and " cases" not in first


def test_an_unknown_dialect_is_named_with_the_known_ones(corpus):
    with pytest.raises(sql.SqlBackendError, match=r"unknown SQL dialect 'nosuch'.*duckdb.*spark"):
        sql.compile_sql(corpus, dialect="nosuch")


def test_import_mtus_dsl_does_not_import_sqlglot():
    import subprocess
    import sys

    code = "import sys, mtus_dsl; mtus_dsl.load(); sys.exit(int('sqlglot' in sys.modules or 'duckdb' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_mtus_compile_sql_writes_the_query_and_names_dialects(tmp_path):
    from click.testing import CliRunner

    from mtus_dsl.cli import main

    out = tmp_path / "decide.sql"
    result = CliRunner().invoke(main, ["compile", str(ROOT / "guidelines"), "--sql", "--dialect", "spark", "-o",
                                       str(out)])
    assert result.exit_code == 0, result.output
    assert sqlglot.parse_one(out.read_text(), read="spark").alias_or_name is not None
    bad = CliRunner().invoke(main, ["compile", str(ROOT / "guidelines"), "--sql", "--dialect", "nosuch"])
    assert bad.exit_code == 2 and "unknown SQL dialect 'nosuch'" in bad.output and "postgres" in bad.output
    missing = CliRunner().invoke(main, ["compile", str(ROOT / "guidelines")])
    assert missing.exit_code == 2 and "--output" in missing.output


@pytest.mark.parametrize("source", ["", ".", "warehouse.", '"', "'"])
def test_a_source_that_is_not_a_table_name_is_a_usage_error(corpus, source):
    from click.testing import CliRunner

    from mtus_dsl.cli import main

    result = CliRunner().invoke(main, ["compile", str(ROOT / "guidelines"), "--sql", "--source", source])
    assert result.exit_code == 2 and f"Invalid value for '--source': '{source}' is not a table name" in result.output
    with pytest.raises(sql.SqlBackendError, match="is not a table name"):
        sql.compile_sql(corpus, source=source)
    assert "FROM warehouse.claims" in sql.compile_sql(corpus, source="warehouse.claims")


def test_the_rendered_query_is_cached_as_compilations_are(corpus, monkeypatch, tmp_path):
    """A second rendering is read from the cache, equal to one rendered afresh; another source is another entry."""
    monkeypatch.setenv("MTUS_DSL_CACHE", str(tmp_path))
    first = sql.compile_sql(corpus, source="my_cases")
    assert list(tmp_path.glob("*.sql"))
    assert sql.compile_sql(corpus, source="my_cases") == first
    monkeypatch.setenv("MTUS_DSL_CACHE", "off")
    assert sql.compile_sql(corpus, source="my_cases") == first
    assert "other_cases" in sql.compile_sql(corpus, source="other_cases")
