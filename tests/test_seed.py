"""The seed IMR determination: modify to 10 visits under CPMTG 2009 Physical Medicine p. 99."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import mtus_dsl

from mtus_dsl.cli import main
from mtus_dsl.decision import Outcome

from .conftest import ROOT


def _assert_seed(decision) -> None:
    assert decision.outcome is Outcome.MODIFY
    assert (decision.requested, decision.approved) == (12, 10)
    assert decision.rules == ("neuritis",)
    [citation] = decision.citations
    assert citation.document == "Chronic Pain Medical Treatment Guidelines"
    assert citation.edition == "2009"
    assert citation.section == "Physical Medicine"
    assert citation.pages == "99"
    assert "not post-surgical" in decision.rationale
    assert "knee" in decision.rationale


def test_compiled_decides_the_seed(corpus, seed_case):
    """The in-memory compiled code modifies the request to 10 visits, citing p. 99."""
    _assert_seed(corpus.decide(seed_case))


def test_interpreter_decides_the_seed(corpus, seed_case):
    """The reference interpreter gives exactly the same decision as the compiled code."""
    _assert_seed(corpus.interpret(seed_case))
    assert corpus.interpret(seed_case) == corpus.decide(seed_case)


def test_compiled_module_file_decides_the_seed(tmp_path, seed_case, corpus):
    """`mtus compile -o FILE` writes a standalone module whose decide() agrees."""
    out = tmp_path / "rules.py"
    result = CliRunner().invoke(main, ["compile", str(ROOT / "guidelines"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    spec = importlib.util.spec_from_file_location("rules", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    decision = module.decide(seed_case)
    _assert_seed(decision)
    assert decision == corpus.decide(seed_case)
    source = out.read_text()
    assert "import lark" not in source and "mtus_dsl.compiler" not in source


def test_cli_letter_for_the_seed():
    """`mtus decide` prints an IMR-style decision paragraph with the citation."""
    result = CliRunner().invoke(main, ["decide", str(ROOT / "examples" / "seed_imr.json")])
    assert result.exit_code == 0, result.output
    assert "NOT MEDICALLY NECESSARY AS REQUESTED: modified to 10 of 12 visits" in result.output
    assert "Physical Medicine, p. 99" in result.output
    assert "not post-surgical" in result.output


def test_cli_json_for_the_seed():
    """`mtus decide --json` prints the documented decision fields."""
    result = CliRunner().invoke(main, ["decide", str(ROOT / "examples" / "seed_imr.json"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["outcome"] == "modify" and data["approved"] == 10 and data["requested"] == 12
    assert data["id"] == "IMR-d0634289b152a677"
    assert data["citations"][0]["pages"] == "99"
    assert {"id", "outcome", "requested", "approved", "citations", "rationale", "missing", "trace"} <= set(data)


def test_installed_command_runs_without_traceback():
    """The console script entry point works as a subprocess (python -m form)."""
    proc = subprocess.run([sys.executable, "-m", "mtus_dsl.cli", "decide", str(ROOT / "examples" / "seed_imr.json")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "modified to 10 of 12 visits" in proc.stdout


def test_compiled_module_does_not_load_the_compiler(tmp_path):
    """A module written by `mtus compile` runs on the small runtime alone: Lark and the compiler stay unloaded."""
    out = tmp_path / "rules.py"
    assert CliRunner().invoke(main, ["compile", str(ROOT / "guidelines"), "-o", str(out)]).exit_code == 0
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('rules', {str(out)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"decision = module.decide(json.load(open({str(ROOT / 'examples' / 'seed_imr.json')!r})))\n"
        "print(decision.outcome.value, decision.approved,"
        " 'lark' in sys.modules, 'mtus_dsl.compiler' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["modify", "10", "False", "False"]


def test_an_installed_wheel_decides_without_parsing(tmp_path):
    """A wheel carries the corpus compiled: the first load on a new machine neither parses nor loads Lark."""
    script = (
        "import sys, json, mtus_dsl, mtus_dsl.compiler.cache as c\n"
        "print(json.dumps({'file': mtus_dsl.__file__, 'packaged': c.packaged().is_dir()}))\n"
        "s = mtus_dsl.load()\n"
        "print(json.dumps({'lark': 'lark' in sys.modules, 'rules': len(s.program.rules)}))\n"
    )
    env = {**os.environ, "MTUS_DSL_CACHE": str(tmp_path / "empty-cache")}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    where, loaded = (json.loads(line) for line in run.stdout.splitlines())
    if not where["packaged"]:
        pytest.skip(f"mtus_dsl is not installed from a wheel here ({where['file']})")
    assert loaded == {"lark": False, "rules": len(mtus_dsl.load().program.rules)}
