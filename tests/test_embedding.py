"""Embedding: typed for consumers, provenance on every decision, errors an HTTP service can map, a lean runtime."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import mtus_dsl
from mtus_dsl.cli import main
from mtus_dsl.provenance import PLAN_FORMAT, IncompatibleRuntime, source_hash, version

from .conftest import ROOT

SEED = ROOT / "examples" / "seed_imr.json"


def _compiled(tmp_path: Path, name: str = "mtus_rules") -> Path:
    """Compile the shipped corpus into tmp_path/<name>.py with `mtus compile`, given an absolute path."""
    out = tmp_path / f"{name}.py"
    result = CliRunner().invoke(main, ["compile", str(ROOT / "guidelines"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


# --- provenance ---------------------------------------------------------------------------


def test_decide_json_carries_provenance(corpus):
    """`mtus decide --json` names the mtus-dsl version, the hash of the guideline sources and the editions used."""
    result = CliRunner().invoke(main, ["decide", str(SEED), "--json"])
    assert result.exit_code == 0, result.output
    provenance = json.loads(result.output)["provenance"]
    assert provenance["version"] == version() != ""
    assert provenance["sources"] == corpus.program.source_hash
    assert provenance["sources"] == source_hash(corpus.sources)
    # The seed is a physical therapy request of 2015: the 2009 editions in force then, not 2016's.
    assert "cpmtg_2009" in provenance["editions"] and "cpmtg_2016" not in provenance["editions"]


def test_the_source_hash_changes_with_any_source_and_only_then():
    """The hash covers names and texts: one character anywhere changes it; nothing else does."""
    text = "fact x: boolean = true\n"
    assert source_hash({"a.mtus": text}) == source_hash({"a.mtus": text})
    assert source_hash({"a.mtus": text}) != source_hash({"a.mtus": text + " "})
    assert source_hash({"a.mtus": text}) != source_hash({"b.mtus": text})
    assert source_hash({"ab": "c"}) != source_hash({"a": "bc"})


def test_both_backends_and_a_compiled_module_record_the_same_provenance(corpus, seed_case, tmp_path):
    """Compiled code, the interpreter and a module written by `mtus compile` name the same sources."""
    compiled = corpus.decide(seed_case).provenance
    assert compiled == corpus.interpret(seed_case).provenance
    assert compiled is not None and compiled.sources.startswith("sha256:")
    result = _python(f"""
        import json, mtus_rules
        print(json.dumps(mtus_rules.decide(json.load(open({str(SEED)!r}))).to_dict()["provenance"]))
    """, _compiled(tmp_path).parent)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == compiled.to_dict()


def test_a_compiled_module_refuses_an_incompatible_runtime(tmp_path):
    """A module written for another plan format fails at import, saying what wrote it and what to do."""
    module = _compiled(tmp_path)
    source = module.read_text(encoding="utf-8")
    assert f"_require({PLAN_FORMAT}, {version()!r})" in source
    module.write_text(source.replace(f"_require({PLAN_FORMAT},", f"_require({PLAN_FORMAT + 1},"), encoding="utf-8")
    result = _python("import mtus_rules", tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mtus_dsl.provenance.IncompatibleRuntime: this module was compiled by mtus-dsl")
    assert f"plan format {PLAN_FORMAT + 1}" in last and "compile the guidelines again" in last
    with pytest.raises(IncompatibleRuntime):
        from mtus_dsl.provenance import require

        require(PLAN_FORMAT + 1, "9.9")


def test_no_machine_path_in_traces_or_compiled_modules(corpus, seed_case, tmp_path):
    """Compiled from an absolute path, sources are named from their guideline root (`guidelines/...`)."""
    assert all(entry.source.startswith("guidelines/") for entry in corpus.decide(seed_case).trace)
    source = _compiled(tmp_path).read_text(encoding="utf-8")
    assert str(ROOT) not in source and "guidelines/cpmtg_2009.mtus:" in source
    (tmp_path / "one.mtus").write_text("fact x: boolean = true\n", encoding="utf-8")
    assert list(mtus_dsl.load(tmp_path / "one.mtus").sources) == ["<prelude>", "one.mtus"]


def test_a_decision_reads_back_from_its_json(corpus, seed_case):
    """`Decision.from_dict(d.to_dict())` is the same decision, with its provenance."""
    decision = corpus.decide(seed_case)
    again = mtus_dsl.Decision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert again == decision
    assert again.provenance == decision.provenance
    assert again.to_dict() == decision.to_dict()


def test_a_case_writes_back_as_its_json(corpus, seed_case):
    """`Case.to_dict` gives the JSON object the case was read from; validating it again gives the same case."""
    case = corpus.case(seed_case)
    assert corpus.case(case.to_dict()) == case
    assert case.to_dict()["request_date"] == seed_case["request_date"]


# --- errors an HTTP service can map ----------------------------------------------------------


def test_field_errors_give_paths_and_types(corpus, seed_case):
    """Every problem has `loc` as a path (as a 422 answer's `loc`) and a machine-readable `type`."""
    bad = {**seed_case, "service": "physio", "quantity": 0, "colour": "red",
           "surgeries": [{"date": "2015-13-01", "procedure": "knee_arthroscopy", "body_region": "kne"}]}
    bad.pop("request_date")
    with pytest.raises(mtus_dsl.CaseError) as raised:
        corpus.decide(bad)
    assert isinstance(raised.value, ValueError)
    found = {(e.loc, e.type) for e in raised.value.errors}
    assert found == {
        (("colour",), "unknown_field"),
        (("request_date",), "missing"),
        (("service",), "not_a_member"),
        (("quantity",), "out_of_range"),
        (("surgeries", 0, "date"), "not_a_date"),
        (("surgeries", 0, "body_region"), "not_a_member"),
    }
    for error in raised.value.errors:
        assert error.field == mtus_dsl.case.field_name(error.loc)
    assert {"loc": ["surgeries", 0, "date"], "type": "not_a_date", "field": "surgeries[0].date",
            "msg": "'2015-13-01' is not a date; write YYYY-MM-DD, for example 2015-09-23"} in raised.value.to_dicts()
    with pytest.raises(mtus_dsl.CaseError) as raised:
        corpus.decide([1, 2])
    assert [(e.loc, e.type) for e in raised.value.errors] == [((), "not_an_object")]


def test_public_types_are_exported():
    """What an application names is importable from `mtus_dsl` itself."""
    for name in ("Case", "Decision", "Outcome", "Citation", "CaseError", "FieldError", "RuleError", "CompileError",
                 "Schedule", "Provenance", "TraceEntry", "load", "loads"):
        assert name in mtus_dsl.__all__ and getattr(mtus_dsl, name) is not None


# --- typed for consumers -----------------------------------------------------------------------

CONSUMER = '''
"""An application deciding with a Schedule and with a compiled module, checked by mypy --strict."""
import json

import mtus_dsl
import mtus_rules
from mtus_dsl import CaseError, Decision, FieldError, Outcome, Provenance, RuleError


def answer(data: dict[str, object]) -> tuple[int, dict[str, object]]:
    schedule = mtus_dsl.load()
    try:
        decision: Decision = schedule.decide(data)
        again: Decision = mtus_rules.decide(data)
    except CaseError as error:
        problems: list[FieldError] = list(error.errors)
        return 422, {"detail": [{"loc": list(p.loc), "type": p.type, "msg": p.message} for p in problems]}
    except RuleError as error:
        return 500, {"detail": str(error)}
    outcome: Outcome = decision.outcome
    approved: int = again.approved
    provenance: Provenance | None = decision.provenance
    pair: tuple[Outcome, int] = mtus_rules.outcome(data)
    version: str = mtus_rules.provenance.version
    return 200, {"outcome": str(outcome), "approved": approved, "pair": str(pair), "version": version,
                 "hash": provenance.sources if provenance else None}


print(answer(json.loads("{}")))
'''


def test_a_consumer_type_checks_under_mypy_strict(tmp_path):
    """An application using `mtus_dsl.load().decide` and a compiled module passes `mypy --strict`."""
    pytest.importorskip("mypy")
    _compiled(tmp_path)
    (tmp_path / "consumer.py").write_text(CONSUMER, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"),
         "consumer.py", "mtus_rules.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # And a mistake is reported: decide returns a Decision, not a string.
    (tmp_path / "wrong.py").write_text("import mtus_rules\nx: str = mtus_rules.decide({})\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"),
         "wrong.py", "mtus_rules.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1 and 'Incompatible types in assignment (expression has type "Decision"' in (
        result.stdout), result.stdout


# --- the lean runtime ----------------------------------------------------------------------------

#: Refuses to import the authoring extra's packages, as a base install (`pip install mtus-dsl`) lacks them.
_WITHOUT_AUTHORING = """
import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("lark", "hypothesis", "click", "rich"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
"""


def test_a_compiled_module_runs_without_the_authoring_extra(tmp_path):
    """Importing a compiled module and deciding loads no lark, Hypothesis or click."""
    _compiled(tmp_path)
    result = _python(_WITHOUT_AUTHORING + f"""
import json, mtus_rules
decision = mtus_rules.decide(json.load(open({str(SEED)!r})))
print(decision.outcome, decision.approved, len(decision.to_dict()["trace"]))
print(sorted(m for m in sys.modules if m.split(".")[0] in ("lark", "hypothesis", "click", "mtus_dsl")))
""", tmp_path)
    assert result.returncode == 0, result.stderr
    outcome, modules = result.stdout.splitlines()
    assert outcome.startswith("modify 10")
    assert "lark" not in modules and "hypothesis" not in modules and "click" not in modules
    assert "mtus_dsl.compiler" not in modules


def test_mtus_without_the_authoring_extra_says_what_to_install(tmp_path):
    """The `mtus` entry point without click: a clear message and exit status 2, no traceback."""
    result = _python(_WITHOUT_AUTHORING + """
from mtus_dsl.console import main
main()
""", tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "pip install 'mtus-dsl[authoring]'" in result.stderr


@pytest.mark.parametrize("absent", [("lark", "hypothesis"), ("lark",)], ids=["runtime only", "with hypothesis"])
def test_pytest_and_hypothesis_start_beside_the_runtime_only(tmp_path, absent):
    """The entry points pytest and Hypothesis load at start-up import neither the compiler nor the testing package."""
    block = f"""
import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
"""
    result = _python(block + """
import importlib.metadata as metadata
for group in ("pytest11", "hypothesis"):
    (point,) = [p for p in metadata.entry_points(group=group) if p.name == "mtus"]
    loaded = point.load()
    if group == "hypothesis" and "hypothesis" not in sys.modules:
        continue  # Hypothesis is absent: it would never call its hook
    if callable(loaded):
        loaded()
import mtus_dsl.pytest_entry as entry
print(entry.AUTHORING, sorted(m for m in sys.modules if m.startswith(("mtus_dsl.testing", "mtus_dsl.compiler"))))
""", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False []"


# --- the JSON Schema, and the example service ----------------------------------------------------

EXAMPLES = [ROOT / "examples" / "seed_imr.json", *sorted((ROOT / "examples" / "cases").glob("*.json"))]


def _schema(*args: str) -> dict:
    result = CliRunner().invoke(main, ["schema", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_mtus_schema_validates_every_example_case_and_its_decision(corpus):
    """`mtus schema` accepts every example case; `mtus schema --decision` accepts each decision made of it."""
    jsonschema = pytest.importorskip("jsonschema")
    cases = jsonschema.Draft202012Validator(_schema(), format_checker=jsonschema.FormatChecker())
    decisions = jsonschema.Draft202012Validator(_schema("--decision"))
    jsonschema.Draft202012Validator.check_schema(cases.schema)
    jsonschema.Draft202012Validator.check_schema(decisions.schema)
    assert len(EXAMPLES) >= 27
    for path in EXAMPLES:
        case = json.loads(path.read_text(encoding="utf-8"))
        assert not list(cases.iter_errors(case)), path.name
        assert not list(decisions.iter_errors(corpus.decide(case).to_dict())), path.name


def test_mtus_schema_refuses_what_validation_refuses(corpus, seed_case):
    """Each kind of bad case is refused by the schema and by validation alike."""
    jsonschema = pytest.importorskip("jsonschema")
    cases = jsonschema.Draft202012Validator(_schema(), format_checker=jsonschema.FormatChecker())
    surgery = {"date": "2015-01-02", "procedure": "knee_arthroscopy", "body_region": "knee"}
    bad = [
        {**seed_case, "service": "physio"},
        {**seed_case, "quantity": 0},
        {**seed_case, "quantity": "12"},
        {**seed_case, "colour": "red"},
        {k: v for k, v in seed_case.items() if k != "request_date"},
        {**seed_case, "request_date": "23/09/2015"},
        {**seed_case, "diagnoses": ["not a code"]},
        {**seed_case, "surgeries": [{**surgery, "body_region": "kne"}]},
        {**seed_case, "surgeries": [{**surgery, "extra": 1}]},
        {**seed_case, "id": 7},
        {**seed_case, "functional_improvement": "yes"},
    ]
    for case in bad:
        assert list(cases.iter_errors(case)), case
        with pytest.raises(mtus_dsl.CaseError):
            corpus.case(case)
    assert not list(cases.iter_errors({**seed_case, "functional_improvement": None, "diagnoses": [" m51.26 "]}))


def test_mtus_schema_of_other_guidelines_has_their_inputs(tmp_path):
    """`mtus schema -g FILES` describes the inputs those files add."""
    (tmp_path / "extra.mtus").write_text('input pain_score: integer 0..10 "pain on a scale of 0 to 10"\n',
                                         encoding="utf-8")
    schema = _schema("-g", str(tmp_path / "extra.mtus"))
    assert schema["properties"]["pain_score"]["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 10}


def _doc_block(doc: str, title: str) -> str:
    """The body of the fenced block of docs/<doc> whose info string ends with `title=<title>`."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    start = text.index(f"title={title}\n")
    body = text[start:].split("\n", 1)[1]
    return body.split("\n```\n", 1)[0] + "\n"


def test_the_example_service_answers_a_bad_case_with_422_and_loc_paths(tmp_path, monkeypatch, seed_case):
    """The service in docs/embedding.md: a decision is 200, a bad case 422 with each problem's loc path."""
    import io
    import wsgiref.util

    _compiled(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mtus_rules", raising=False)
    service: dict = {"__name__": "service"}
    exec(compile(_doc_block("embedding.md", "service.py"), "service.py", "exec"), service)

    def post(path: str, body: bytes) -> tuple[str, object]:
        environ: dict = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
                         "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(body)}
        wsgiref.util.setup_testing_defaults(environ)
        answer: dict = {}
        chunks = service["app"](environ, lambda status, headers: answer.update(status=status, headers=headers))
        assert ("Content-Type", "application/json") in answer["headers"]
        return answer["status"], json.loads(b"".join(chunks))

    status, decision = post("/decide", json.dumps(seed_case).encode())
    assert status == "200 OK" and decision["outcome"] == "modify" and decision["provenance"]["sources"]
    bad = {**seed_case, "service": "physio", "surgeries": [{"date": "2015-02-30", "procedure": "knee_arthroscopy",
                                                            "body_region": "knee"}]}
    status, body = post("/decide", json.dumps(bad).encode())
    assert status == "422 Unprocessable Entity"
    assert [(p["loc"], p["type"]) for p in body["detail"]] == [
        (["service"], "not_a_member"), (["surgeries", 0, "date"], "not_a_date")]
    assert post("/decide", b"{not json")[0] == "400 Bad Request"
    assert post("/decide", b"[]")[1]["detail"] == [
        {"loc": [], "type": "not_an_object", "msg": "a case must be a JSON object, not a list", "field": ""}]
    assert post("/elsewhere", b"{}")[0] == "404 Not Found"


# --- mtus explain --------------------------------------------------------------------------------


def test_explain_shows_the_clause_that_decided_and_the_values(corpus):
    """`mtus explain` on the seed: the governing rule and its values, the rules ruled out and why, the arithmetic."""
    result = CliRunner().invoke(main, ["explain", str(SEED)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "Decision: modify, 10 of 12 visits"
    governs = next(i for i, line in enumerate(lines) if "✔ neuritis (rule, guidelines/cpmtg_2009.mtus:" in line)
    assert "governs" in lines[governs]
    assert "neuritis_type = true" in lines[governs + 1] and "prior_visits = 0" in lines[governs + 1]
    assert any("✘ myalgia" in line and "its condition 'myalgia in conditions' does not hold" in line
               for line in lines)
    assert any("not_in_force" in line and "(2016) is not in force on 2015-09-23" in line for line in lines)
    assert "neuritis: 10 visits over 4 weeks - 0 already given = 10 more" in result.output
    assert "approved = min(12 requested, 10 by neuritis) = 10" in result.output
    assert "editions: cpmtg_2009, postsurgical_2009, lc_4604_5" in result.output


def test_explain_json_agrees_with_the_decision(corpus):
    """`mtus explain --json` for every example: the decision's numbers, its trace, caps that bind in the arithmetic."""
    for path in EXAMPLES:
        result = CliRunner().invoke(main, ["explain", str(path), "--json"])
        assert result.exit_code == 0, (path.name, result.output)
        tree = json.loads(result.output)
        decision = corpus.decide(json.loads(path.read_text(encoding="utf-8")))
        assert (tree["outcome"], tree["approved"], tree["requested"]) == (
            decision.outcome.value, decision.approved, decision.requested), path.name
        assert [(n["rule"], n["status"], n["detail"]) for n in tree["rules"] + tree["caps"]] == [
            (e.rule, e.status, e.detail) for e in decision.trace], path.name
        if tree["arithmetic"] is not None:
            limits = tree["arithmetic"]["limits"]
            assert min([decision.requested, *(item["allowed"] for item in limits)]) == decision.approved, path.name
            assert {item["rule"] for item in limits[1:] if item["binds"]} == set(decision.rules[1:]), path.name
        else:
            assert decision.approved == 0, path.name


def test_explain_reports_a_bad_case_as_decide_does(tmp_path):
    """A case that does not follow the case format: located problems and exit status 2."""
    case = tmp_path / "bad.json"
    case.write_text(json.dumps({**json.loads(SEED.read_text()), "service": "physio"}), encoding="utf-8")
    result = CliRunner().invoke(main, ["explain", str(case)])
    assert result.exit_code == 2
    assert "bad.json: error: service: 'physio' is not a known service" in result.output


def test_explain_renders_clauses_when_the_trace_has_them():
    """Sub-conditions of the clause-level trace (text, value, reads, matched) appear under their rule."""
    from mtus_dsl.explain import render

    clause = {"text": "neuritis_type", "value": "true", "read": [{"name": "diagnoses", "value": "[722.10]"}],
              "matched": "722.10"}
    node = {"rule": "neuritis", "kind": "rule", "status": "governs", "detail": "applies to this request",
            "source": "g.mtus:3", "citation": "", "read": [], "clauses": [clause]}
    tree = {"id": None, "request": {"service": "physical_therapy", "body_region": "knee",
                                    "request_date": "2015-01-01", "quantity": 3},
            "outcome": "certify", "requested": 3, "approved": 3, "unit": "visits", "rules": [node], "caps": [],
            "arithmetic": None, "missing": [], "citations": [], "rationale": "", "provenance": None}
    assert "│     └─ neuritis_type: true (read diagnoses = [722.10]) (matched 722.10)" in render(tree)


def test_explain_for_a_terminal_is_the_same_tree_in_rich(corpus, seed_case):
    """`render_rich` lays out the plain tree's lines as a rich Tree: the same text, branch for branch."""
    pytest.importorskip("rich")
    from rich.console import Console

    from mtus_dsl.explain import explain, render, render_rich

    tree = explain(corpus.engine, seed_case)
    console = Console(record=True, width=400, color_system=None)
    console.print(render_rich(tree))
    shown = console.export_text()
    plain = render(tree).splitlines()
    assert [line.rstrip() for line in shown.splitlines()][:2] == plain[:2]
    for line in plain[2:]:
        assert line.lstrip("│├└─ ") in shown


def test_compiling_without_the_authoring_extra_says_what_to_install(tmp_path):
    """Compiling .mtus text on a base install: one clear ModuleNotFoundError naming the extra."""
    result = _python(_WITHOUT_AUTHORING + """
import mtus_dsl
try:
    mtus_dsl.loads({"x.mtus": "fact never_compiled_before: boolean = true\\n"})
except ModuleNotFoundError as error:
    print(error.name, "|", error)
""", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("lark | compiling .mtus files needs lark")
    assert "mtus-dsl[authoring]" in result.stdout
