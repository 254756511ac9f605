"""`mtus explain`, `mtus compile` and `mtus catalogue` used as a hostile but realistic user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import mtus_dsl
from mtus_dsl import explain
from mtus_dsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
GUIDELINES = str(ROOT / "guidelines")
SEED = json.loads((ROOT / "examples" / "seed_imr.json").read_text())


@pytest.fixture(scope="module")
def corpus() -> mtus_dsl.Schedule:
    return mtus_dsl.load()


def _run(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def _without(*names: str) -> dict[str, object]:
    return {k: v for k, v in SEED.items() if k not in names}


# --- explain: the tree is the decision decide makes ------------------------------------------


def _trace(tree: dict[str, object]) -> list[tuple[str, str, str]]:
    return [(n["rule"], n["status"], n["detail"]) for n in [*tree["rules"], *tree["caps"]]]  # type: ignore[misc]


@pytest.mark.parametrize("missing", [(), ("radicular_findings",), ("prior_visits", "prior_visits_all_regions"),
                                     ("prior_visits_all_regions",)])
@pytest.mark.parametrize("on_record", [False, True])
def test_explain_shows_the_trace_decide_gives(corpus, missing, on_record):
    case = _without(*missing)
    decision = corpus.decide(case, on_record=on_record)
    tree = explain.explain(corpus.engine, corpus.case(case), on_record=on_record)
    assert (tree["outcome"], tree["approved"], tree["missing"]) == (
        decision.outcome.value, decision.approved, list(decision.missing))
    assert _trace(tree) == [(t.rule, t.status, t.detail) for t in decision.trace]
    assert tree["rationale"] == decision.rationale
    assert tree["assumed"] == [a.to_dict() for a in decision.assumed]


def test_explain_gives_the_arithmetic_of_a_case_decided_whatever_its_unknown_input(corpus):
    """Without radicular_findings the seed is still modify 10: both ways to it are shown, not none."""
    tree = explain.explain(corpus.engine, corpus.case(_without("radicular_findings")))
    assert (tree["outcome"], tree["approved"]) == ("modify", 10)
    arithmetic = tree["arithmetic"]
    assert arithmetic is not None and arithmetic["approved"] == 10
    assert {tuple(w["when"].items()) for w in arithmetic["ways"]} == {(("radicular_findings", "true"),),
                                                                     (("radicular_findings", "false"),)}
    assert all(w["approved"] == 10 for w in arithmetic["ways"])
    text = explain.render(tree)
    assert "if radicular_findings = true" in text and "approved = 10 whatever radicular_findings is" in text


def test_explain_never_states_a_minimum_it_does_not_know(corpus):
    """A cap that may bind (its inputs not given): no 'min(12, 10) = 0', which is false arithmetic."""
    tree = explain.explain(corpus.engine, corpus.case(_without("prior_visits_all_regions")))
    assert tree["outcome"] == "needs_information"
    arithmetic = tree["arithmetic"]
    assert arithmetic["approved"] is None
    assert arithmetic["text"] == ("approved = min(12 requested, 10 by neuritis, ? by visit_cap): not known without "
                                  "employer_authorized_more, prior_visits_all_regions")


def test_mtus_explain_on_record_explains_the_decision_decide_on_record_makes(tmp_path):
    case = tmp_path / "case.json"
    case.write_text((ROOT / "examples" / "cases" / "22_chiro_after_trial_improvement_not_stated.json").read_text())
    decided = json.loads(_run("decide", str(case), "--json", "--on-record").output)
    result = _run("explain", str(case), "--json", "--on-record")
    assert result.exit_code == 0, result.output
    tree = json.loads(result.output)
    assert (tree["outcome"], tree["approved"]) == (decided["outcome"], decided["approved"]) == ("non_certify", 0)
    assert tree["assumed"] == decided["assumed"] and tree["assumed"][0]["field"] == "functional_improvement"
    text = _run("explain", str(case), "--on-record").output
    assert "read on the record (the case does not give them)" in text and "functional_improvement = false" in text
    plain = json.loads(_run("explain", str(case), "--json").output)
    assert plain["outcome"] == "needs_information" and plain["assumed"] == []


# --- compile and catalogue: -o - is standard output ------------------------------------------


@pytest.mark.parametrize("args", [["compile", GUIDELINES, "-o", "-"], ["compile", GUIDELINES, "--sql", "-o", "-"],
                                  ["catalogue", GUIDELINES, "-o", "-"]])
def test_output_dash_is_standard_output_not_a_file_named_dash(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "-").exists()
    assert "wrote" not in result.output
    assert result.output.startswith(('"""Decision functions', "WITH ", "# Guideline catalogue"))


# --- compile --sql: every dialect either gives a query that reads back, or is refused --------


def test_a_dialect_sqlglot_cannot_write_the_query_in_is_a_usage_error_not_a_wrong_query():
    for dialect in ("sqlite", "tsql", "mysql", "teradata"):
        result = _run("compile", GUIDELINES, "--sql", "--dialect", dialect)
        assert result.exit_code == 2, (dialect, result.output)
        assert f"Invalid value for '--dialect': sqlglot cannot write the query in {dialect}" in result.output
        assert "duckdb, spark" in result.output and "WITH layer0" not in result.output
        assert result.output.count("Cannot add non literal") <= 1  # sqlglot's warnings are not echoed, one per use


def test_every_dialect_sqlglot_lists_reads_back_or_is_refused(corpus):
    import sqlglot

    from mtus_dsl.compiler import sql

    refused = []
    for dialect in sql.dialects():
        try:
            text = sql.compile_sql(corpus, dialect=dialect)
        except sql.DialectError:
            refused.append(dialect)
            continue
        assert isinstance(sqlglot.parse_one(text, read=dialect), sqlglot.exp.Select), dialect
    assert "duckdb" not in refused and "spark" not in refused and "postgres" not in refused


def test_the_postgres_query_subscripts_parenthesized_arrays(corpus):
    """Postgres reads `(ARRAY(SELECT ...))[1]`; `ARRAY(SELECT ...)[1]` is a syntax error there."""
    import re

    from mtus_dsl.compiler import sql

    text = sql.compile_sql(corpus, dialect="postgres")
    assert not re.search(r"ARRAY\((?:[^()]|\([^()]*\))*\)\[", text)
    assert re.search(r"\)\)\[1\]", text)
    # the duckdb and spark renderings are sqlglot's own, without these parentheses
    for dialect in ("duckdb", "spark"):
        assert sql.compile_sql(corpus, dialect=dialect) == sql.query(corpus).sql(dialect=dialect)


def test_a_non_run_dialect_is_written_with_a_note_saying_so():
    result = CliRunner().invoke(main, ["compile", GUIDELINES, "--sql", "--dialect", "postgres"])
    assert result.exit_code == 0
    assert "note: the postgres query is sqlglot's translation, read back but never run" in result.output
    quiet = CliRunner().invoke(main, ["compile", GUIDELINES, "--sql", "--dialect", "spark"])
    assert "note:" not in quiet.output


@pytest.mark.parametrize("source", ["a..b", "a.b.c.d", "cases -- x"])
def test_a_source_of_more_than_three_parts_an_empty_part_or_a_comment_is_refused(source):
    result = _run("compile", GUIDELINES, "--sql", "--source", source)
    assert result.exit_code == 2
    assert f"Invalid value for '--source': '{source}' is not a table name" in result.output


@pytest.mark.parametrize("dialect", ["postgres", "spark", "duckdb", "snowflake"])
def test_a_source_that_is_a_reserved_word_is_quoted(corpus, dialect):
    import sqlglot

    from mtus_dsl.compiler import sql

    text = sql.compile_sql(corpus, dialect=dialect, source="warehouse.order")
    quote = "`" if dialect == "spark" else '"'
    assert f"FROM warehouse.{quote}order{quote}" in text
    sqlglot.parse_one(text, read=dialect)
    assert "FROM warehouse.claims" in sql.compile_sql(corpus, dialect=dialect, source="warehouse.claims")


def test_a_source_named_order_runs_in_duckdb(corpus):
    import duckdb

    from mtus_dsl.compiler import sql

    con = duckdb.connect()
    sql.load_duckdb(corpus, con, [corpus.case(SEED)], name="order")
    rows = sql.decide_duckdb(corpus, con, source="order").fetchall()
    assert [(r[1], r[3]) for r in rows] == [("modify", 10)]
