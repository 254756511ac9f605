"""A hostile but realistic embedder: the public Python API given what applications really pass it.

Every bad argument gets a documented exception (CaseError, CompileError, or a TypeError /
ValueError saying what would be right), never an internal traceback, never a silent wrong answer.
"""

from __future__ import annotations

import datetime
import enum
import json
import os
import pickle
import re

import pytest

import mtus_dsl
from mtus_dsl import Case, CaseError, CompileError, Decision
from mtus_dsl.compiler import cache
from mtus_dsl.decision import Assumption

from .conftest import ROOT


# --- load() and loads() ---------------------------------------------------------------------


def test_load_of_an_empty_string_is_an_error_not_the_current_directory(tmp_path, monkeypatch):
    # An unset setting read as "" once loaded every .mtus file under the working directory.
    (tmp_path / "stray.mtus").write_text((ROOT / "guidelines" / "acupuncture.mtus").read_text())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CompileError) as caught:
        mtus_dsl.load("")
    assert [d.code for d in caught.value.diagnostics] == ["E000"]
    assert "empty" in str(caught.value)
    with pytest.raises(CompileError, match="empty"):
        mtus_dsl.load([ROOT / "guidelines", ""])


def test_load_of_something_not_a_path_is_a_compile_error():
    for wrong in (5, 3.5, object()):
        with pytest.raises(CompileError) as caught:
            mtus_dsl.load(wrong)  # type: ignore[arg-type]
        assert [d.code for d in caught.value.diagnostics] == ["E000"]
        assert type(wrong).__name__ in str(caught.value)


def test_load_of_texts_by_name_points_to_loads():
    with pytest.raises(CompileError, match=r"loads\(\)"):
        mtus_dsl.load({"a.mtus": "fact x: boolean = true\n"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sources", "says"),
    [
        (None, "NoneType"),
        ("fact x: boolean = true\n", "str"),
        (["a.mtus"], "list"),
        ({"a.mtus": None}, "'a.mtus'"),
        ({"a.mtus": b"fact x: boolean = true\n"}, "bytes"),
        ({1: "fact x: boolean = true\n"}, "int"),
    ],
)
def test_loads_of_something_not_texts_by_name_is_a_compile_error(sources, says):
    with pytest.raises(CompileError) as caught:
        mtus_dsl.loads(sources)
    assert [d.code for d in caught.value.diagnostics] == ["E000"]
    assert says in str(caught.value)


def test_loads_of_nothing_is_an_error_as_load_of_nothing_is():
    with pytest.raises(CompileError) as caught:
        mtus_dsl.loads({})
    assert [d.code for d in caught.value.diagnostics] == ["E000"]


# --- the cache folder -----------------------------------------------------------------------


def test_a_cache_folder_written_with_a_tilde_is_in_the_home_folder(monkeypatch, tmp_path):
    # Set without a shell (a systemd unit, a Dockerfile's ENV), "~" is not expanded for us.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MTUS_DSL_CACHE", "~/mtus-cache")
    assert cache.directory() == tmp_path / "home" / "mtus-cache"


def test_a_cache_setting_of_spaces_is_the_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("MTUS_DSL_CACHE", "   ")
    assert cache.directory() == tmp_path / "mtus-dsl"


# --- decide_many ----------------------------------------------------------------------------


def test_decide_many_of_one_case_says_to_call_decide(corpus, seed_case):
    # Iterating a dict gives its keys: each once came back as "a case must be a JSON object, not the string 'id'".
    with pytest.raises(TypeError, match=r"decide\(case\)"):
        corpus.decide_many(seed_case)
    with pytest.raises(TypeError, match=r"decide\(case\)"):
        corpus.decide_many(corpus.case(seed_case))


def test_decide_many_of_something_not_iterable_says_so_at_once(corpus):
    for wrong in (None, 5, "cases.jsonl"):
        with pytest.raises(TypeError, match="iterable of cases"):
            corpus.decide_many(wrong)  # type: ignore[arg-type]


def test_decide_many_passes_on_the_error_of_its_source(corpus, seed_case):
    def source():
        yield seed_case
        raise OSError("the queue went away")

    decisions = corpus.decide_many(source())
    assert next(decisions).approved == 10
    with pytest.raises(OSError, match="the queue went away"):
        next(decisions)


# --- cases ----------------------------------------------------------------------------------


def test_case_from_dict_with_something_not_a_schema_says_what_to_pass(corpus, seed_case):
    for wrong in (None, corpus, {}):
        with pytest.raises(TypeError, match=r"CaseSchema.*schedule\.schema"):
            Case.from_dict(seed_case, wrong)  # type: ignore[arg-type]


def test_a_case_is_hashable_as_it_is_immutable(corpus, seed_case):
    case = corpus.case(seed_case)
    again = corpus.case(dict(seed_case))
    assert case == again and hash(case) == hash(again)
    assert {case: 1}[again] == 1
    assert hash(case) != hash(corpus.case({**seed_case, "quantity": 11}))


def test_a_case_built_directly_may_hold_plain_dicts_and_lists_of_dates(corpus):
    surgery = {"procedure": "meniscectomy", "body_region": "knee", "date": datetime.date(2015, 7, 16)}
    values = {"request_date": datetime.date(2015, 9, 23), "service": "physical_therapy", "body_region": "knee",
              "quantity": 12, "diagnoses": ["836.0"], "prior_visits": 0, "surgeries": [surgery],
              "prior_visit_dates": [datetime.date(2015, 8, 1)]}
    direct = corpus.decide(Case("X", values))
    as_json = corpus.decide({**values, "id": "X", "request_date": "2015-09-23",
                             "surgeries": [{**surgery, "date": "2015-07-16"}], "prior_visit_dates": ["2015-08-01"]})
    assert direct == as_json


def test_an_integer_subclass_is_read_as_the_integer(corpus, seed_case):
    class Quantity(enum.IntEnum):
        TWELVE = 12

    decision = corpus.decide({**seed_case, "quantity": Quantity.TWELVE})
    assert decision.requested.__class__ is int
    assert corpus.case({**seed_case, "quantity": Quantity.TWELVE}).values["quantity"].__class__ is int
    assert decision == corpus.decide(seed_case)


def test_a_date_given_as_a_date_object_says_to_write_it_as_text(corpus, seed_case):
    for value in (datetime.date(2015, 9, 23), datetime.datetime(2015, 9, 23, 8, 0)):
        with pytest.raises(CaseError) as caught:
            corpus.decide({**seed_case, "request_date": value})
        (problem,) = caught.value.errors
        assert problem.type == "wrong_type"
        assert "'2015-09-23'" in problem.message, problem.message


def test_a_huge_string_is_not_echoed_whole(corpus, seed_case):
    # A 422 answer (and a log line) once repeated a megabyte the client sent.
    huge = "p" * 1_000_000
    for case in ({**seed_case, "service": huge}, {**seed_case, "request_date": huge},
                 {**seed_case, "diagnoses": [huge]}, {**seed_case, "quantity": huge}, {**seed_case, huge: 1}):
        with pytest.raises(CaseError) as caught:
            corpus.decide(case)
        assert len(str(caught.value)) < 2_000
        # Only an unknown field's loc and field name it whole: they say which key of the case it is.
        assert all(len(problem["msg"]) < 2_000 for problem in caught.value.to_dicts())


def test_control_characters_in_a_value_are_shown_escaped(corpus, seed_case):
    with pytest.raises(CaseError) as caught:
        corpus.decide({**seed_case, "request_date": "2015-09-23\n"})
    assert "\n" not in str(caught.value) and "\\n" in str(caught.value)


# --- decisions ------------------------------------------------------------------------------


def test_a_decision_on_the_record_reads_back_equal_and_hashable(corpus, seed_case):
    case = {k: v for k, v in seed_case.items() if k not in ("diagnoses", "surgeries")}
    decision = corpus.decide(case, on_record=True)
    assert any(a.value == () for a in decision.assumed)
    back = Decision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert back == decision
    assert hash(back) == hash(decision)
    assert pickle.loads(pickle.dumps(back)) == decision


def test_an_assumption_compares_by_its_json_form():
    assert Assumption("d", (), "r") == Assumption("d", [], "r")
    assert Assumption("d", datetime.date(2015, 1, 1), "r") == Assumption("d", "2015-01-01", "r")
    assert hash(Assumption("d", frozenset({"a", "b"}), "r")) == hash(Assumption("d", ["a", "b"], "r"))
    assert Assumption("d", (), "r") != Assumption("d", False, "r")


def test_a_set_in_an_assumption_writes_in_one_order():
    assert Assumption("s", frozenset({"b", "c", "a"}), "r").to_dict()["value"] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"outcome": "yes"}, "outcome"),
        ({"requested": "twelve"}, "requested"),
        ({"requested": 12.7}, "requested"),
        ({"approved": True}, "approved"),
        ({"missing": "prior_visits"}, "missing"),
        ({"rules": "neuritis"}, "rules"),
        ({"citations": None}, "citations"),
        ({"citations": [{"document": "x"}]}, "citations[0]"),
        ({"trace": [5]}, "trace[0]"),
        ({"assumed": [{}]}, "assumed[0]"),
        ({"provenance": "sha256:x"}, "provenance"),
        ({"id": 5}, "id"),
    ],
)
def test_a_decision_read_from_bad_json_names_the_field(corpus, seed_case, change, field):
    data = {**corpus.decide(seed_case).to_dict(), **change}
    with pytest.raises(ValueError) as caught:
        Decision.from_dict(data)
    assert re.match(rf"{re.escape(field)}[.:]", str(caught.value)), str(caught.value)


def test_a_decision_read_from_json_that_is_not_an_object():
    for wrong in (None, [], "modify"):
        with pytest.raises(ValueError, match="JSON object"):
            Decision.from_dict(wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^outcome: is required"):
        Decision.from_dict({})


# --- exceptions across processes --------------------------------------------------------------


def test_a_case_error_pickles_and_copies_as_itself(corpus, seed_case):
    # A CaseError raised in a worker process reaches its parent pickled: its message once came back
    # as the letters of the old message joined by "; ".
    import copy

    with pytest.raises(CaseError) as caught:
        corpus.decide({**seed_case, "service": "physio", "quantity": 0})
    error = caught.value
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(again) is CaseError
        assert str(again) == str(error)
        assert again.errors == error.errors
        assert again.to_dicts() == error.to_dicts()


def test_a_case_built_directly_with_an_int_subclass_says_so():
    class Quantity(enum.IntEnum):
        TWELVE = 12

    values = {"request_date": datetime.date(2015, 9, 23), "service": "physical_therapy", "body_region": "knee",
              "quantity": Quantity.TWELVE}
    with pytest.raises(CaseError, match=r"not a Quantity \(an int subclass: give int\(quantity\)\)"):
        Case(None, values)
    with pytest.raises(CaseError, match=r"expected a datetime\.date, not a datetime \(its \.date\(\) is the day\)"):
        Case(None, {**values, "quantity": 12, "request_date": datetime.datetime(2015, 9, 23, 8, 0)})


def _compile_error_in_a_worker(text: str) -> None:
    mtus_dsl.loads({"bad.mtus": text})


def test_a_compile_error_pickles_and_copies_as_itself():
    # A CompileError raised in a worker process reaches its parent pickled: it once failed to unpickle
    # (`__init__() missing 1 required positional argument: 'sources'`), which broke the pool.
    import concurrent.futures
    import copy
    import multiprocessing

    with pytest.raises(CompileError) as caught:
        mtus_dsl.loads({"bad.mtus": "fact x: boolean = maybe\n"})
    with pytest.raises(CompileError) as usage:
        mtus_dsl.load([])
    for error in (caught.value, usage.value):
        error.add_note("while loading the tenant's guidelines")
        for again in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
            assert type(again) is CompileError
            assert str(again) == str(error) and again.args == error.args
            assert again.diagnostics == error.diagnostics
            assert again.sources == error.sources
            assert again.__notes__ == ["while loading the tenant's guidelines"]
    if "fork" not in multiprocessing.get_all_start_methods():
        return
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        with pytest.raises(CompileError) as from_worker:
            pool.submit(_compile_error_in_a_worker, "fact x: boolean = maybe\n").result(timeout=120)
    assert [d.code for d in from_worker.value.diagnostics] == ["E102"]
    assert str(from_worker.value) == str(caught.value)


# --- what load() is given: special files, a file given twice --------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/null"), reason="needs POSIX files")
def test_load_of_a_device_or_a_pipe_says_what_it_is(tmp_path):
    # Both exist: "no such file or directory" was wrong. A pipe would make reading it wait for a writer.
    pipe = tmp_path / "rules.mtus"
    os.mkfifo(pipe)
    for given, kind in (("/dev/null", "a character device"), (str(pipe), "a named pipe")):
        with pytest.raises(CompileError) as caught:
            mtus_dsl.load(given)
        assert [d.code for d in caught.value.diagnostics] == ["E000"]
        assert caught.value.diagnostics[0].message == (
            f"'{given}' is {kind}, not a regular file: give a .mtus file or a directory of them")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_named_mtus_in_a_directory_is_reported_not_read(tmp_path):
    import threading

    (tmp_path / "a.mtus").write_text((ROOT / "guidelines" / "acupuncture.mtus").read_text(encoding="utf-8"))
    pipe = tmp_path / "b.mtus"
    os.mkfifo(pipe)
    (tmp_path / "c.mtus").mkdir()  # a directory named so is searched, not read
    # Should the loader read the pipe (it once did), a writer lets it go on rather than wait forever.
    writer = threading.Thread(target=lambda: open(pipe, "w").close(), daemon=True)
    writer.start()
    try:
        with pytest.raises(CompileError) as caught:
            mtus_dsl.load(tmp_path)
    finally:
        os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))  # the writer's open returns
        writer.join(10)
    assert [d.message for d in caught.value.diagnostics] == [
        f"'{pipe}' is a named pipe, not a regular file: a guideline file is a regular .mtus file (remove or rename it)"]


def test_load_of_a_dangling_link_says_where_it_points(tmp_path):
    link = tmp_path / "rules.mtus"
    link.symlink_to(tmp_path / "gone.mtus")
    with pytest.raises(CompileError) as caught:
        mtus_dsl.load(link)
    assert caught.value.diagnostics[0].message == (
        f"no such file or directory: '{link}' is a symbolic link to '{tmp_path / 'gone.mtus'}', which does not exist")


def test_a_file_given_twice_is_read_once_under_the_first_name(corpus):
    # Read twice, every declaration in it was "declared twice" (E101), its note naming the file another way.
    guidelines = ROOT / "guidelines"
    expected = set(corpus.sources)
    for paths in ([guidelines, guidelines], [guidelines, guidelines / "acupuncture.mtus"],
                  [guidelines, str(guidelines) + "/./acupuncture.mtus"]):
        assert set(mtus_dsl.load(paths).sources) == expected, paths
    first = mtus_dsl.load([guidelines / "acupuncture.mtus", guidelines])
    assert set(first.sources) == expected - {"guidelines/acupuncture.mtus"} | {"acupuncture.mtus"}


def test_a_file_given_again_through_a_link_is_read_once(tmp_path, monkeypatch):
    (tmp_path / "rules").mkdir()
    original = tmp_path / "rules" / "acupuncture.mtus"
    original.write_text((ROOT / "guidelines" / "acupuncture.mtus").read_text(encoding="utf-8"))
    (tmp_path / "link.mtus").symlink_to(original)
    monkeypatch.chdir(tmp_path)
    schedule = mtus_dsl.load(["rules", tmp_path / "rules", "link.mtus", tmp_path / "rules" / "acupuncture.mtus"])
    assert set(schedule.sources) == {"<prelude>", "rules/acupuncture.mtus"}


def test_mtus_check_of_a_directory_and_a_file_in_it_declares_nothing_twice(monkeypatch):
    from click.testing import CliRunner

    from mtus_dsl.cli import main

    monkeypatch.chdir(ROOT)
    for also in ("guidelines/acupuncture.mtus", str(ROOT / "guidelines" / "acupuncture.mtus")):
        result = CliRunner().invoke(main, ["check", "guidelines", also])
        assert result.exit_code == 0 and "E101" not in result.output, result.output


# --- a compiled module, type-checked --------------------------------------------------------


ON_RECORD = '''
import mtus_rules
from mtus_dsl import Case, Decision, Outcome

data: dict[str, object] = {"request_date": "2015-09-23", "service": "acupuncture", "body_region": "lumbar_spine",
                           "quantity": 6}
decision: Decision = mtus_rules.decide(data, on_record=True)
again: Decision = mtus_rules.decide(Case.from_dict(data, mtus_rules.schema), True)
pair: tuple[Outcome, int] = mtus_rules.outcome(data, on_record=True)
named: Decision = mtus_rules.decide(case=data)
print(decision.outcome, again.outcome, pair, named.outcome)
'''


def test_a_compiled_modules_decide_takes_on_record_under_mypy_strict(tmp_path):
    # decide and outcome were annotated Callable[[Mapping | Case], ...]: on_record=True ran but failed mypy.
    pytest.importorskip("mypy")
    import subprocess
    import sys

    from click.testing import CliRunner

    from mtus_dsl.cli import main

    result = CliRunner().invoke(main, ["compile", str(ROOT / "guidelines"), "-o", str(tmp_path / "mtus_rules.py")])
    assert result.exit_code == 0, result.output
    (tmp_path / "app.py").write_text(ON_RECORD, encoding="utf-8")
    (tmp_path / "wrong.py").write_text("import mtus_rules\nmtus_rules.decide({}, on_recrd=True)\n", encoding="utf-8")

    def mypy(app: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"),
             app, "mtus_rules.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)

    checked = mypy("app.py")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ran = subprocess.run([sys.executable, "app.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    wrong = mypy("wrong.py")
    assert wrong.returncode == 1 and 'Unexpected keyword argument "on_recrd"' in wrong.stdout, wrong.stdout
