"""Fuzzing the compiler: whatever the input, only diagnostics; whatever it accepts, safe Python that agrees.

Three sources of programs: Hypothesis's `from_lark` over the project's own grammar (syntax
the parser must survive), a generator of valid programs (random rules over the case
format, to compare compiled code with the interpreter), and mutations of the real corpus
(deleted, duplicated, swapped tokens; random text; payload strings; identifiers renamed
to Python keywords; deep nesting; very long lines; extreme literals; hostile file names).
For every program: compiling returns diagnostics and never raises; an accepted program
generates Python that `compile()` accepts, that never runs a canary planted in its
strings and names, and that decides generated cases exactly as the interpreter does
(failing only with RuleError, the same way). Totals are printed at the end of the module.

Regression tests for what the fuzzing found follow the fuzzers.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib.resources
import re
import time
from pathlib import Path

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

import mtus_dsl
from mtus_dsl.compiler import compile_sources, parser
from mtus_dsl.diagnostics import Diagnostic
from mtus_dsl.schedule import Schedule
from mtus_dsl.testing import case_data
from mtus_dsl.testing.properties import attempt

from .conftest import ROOT

#: Deterministic and bounded, so the whole module runs in about a minute on CI.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

# Planted in strings, names and file names: if generated code ever runs it, the flag is set.
CANARY = "__import__('builtins').setattr(__import__('builtins'), 'MTUS_PWNED', 1)"
CANARY_DQ = CANARY.replace("'", '"')
PAYLOADS = ['"""', "'''", "\\n" + CANARY, CANARY_DQ, "{}", "{{", "}}", "{requested}", "{__import__}", "{0}", "%s",
            "\\\\", '\\"', "\\x4", "\\N{NOPE}", "\\u12", "\\q", "\\0", "#", "\\n", "\r", "\\", "é", "\u2028"]
PY_NAMES = ["class", "import", "def", "lambda", "return", "none_", "__init__", "__import__", "__builtins__", "_t1",
            "_U", "f", "n", "u", "v", "m", "q", "d", "case", "decide", "_rt", "_dt", "self", "exec", "eval", "os"]

STATS = {"programs": 0, "accepted": 0, "cases": 0, "seconds": 0.0}


@pytest.fixture(scope="module", autouse=True)
def report(request):
    """Print how many programs and cases the fuzzers tried, and how long it took."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and STATS["programs"]:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nfuzz: {STATS['programs']} programs ({STATS['accepted']} accepted), "
                f"{STATS['cases']} cases decided by both backends, {STATS['seconds']:.1f}s"
            )


def check_compiler(sources: dict[str, str], data: st.DataObject | None, cases: int = 3) -> None:
    """The compiler contract, for one set of sources."""
    started = time.monotonic()
    STATS["programs"] += 1
    try:
        compilation = compile_sources(sources)
        assert all(isinstance(d, Diagnostic) for d in compilation.diagnostics)
        if compilation.program is None:
            assert any(d.is_error for d in compilation.diagnostics)
            return
        STATS["accepted"] += 1
        schedule = Schedule(compilation)  # compile()s and loads the generated module
        assert_safe(schedule.python_source)
        for _ in range(cases if data is not None else 0):
            assert data is not None
            case = data.draw(case_data(schedule))
            STATS["cases"] += 1
            compiled, interpreted = attempt(schedule.decide, case), attempt(schedule.interpret, case)
            assert compiled == interpreted, (case, compiled, interpreted)
            if isinstance(compiled, str):
                assert compiled.startswith(("RuleError", "ConflictError")), (case, compiled)
        assert not hasattr(builtins, "MTUS_PWNED")
    finally:
        STATS["seconds"] += time.monotonic() - started


FORBIDDEN = {"__import__", "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals",
             "vars", "breakpoint", "input", "print", "exit", "quit", "os", "sys", "subprocess", "builtins"}


def _imports(tree: ast.AST) -> set[str]:
    return {ast.unparse(node) for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))}


# What every generated module imports, whatever its guidelines say.
BASELINE_IMPORTS = _imports(ast.parse(Schedule(compile_sources({})).python_source))


def assert_safe(source: str) -> None:
    """Generated code names nothing dangerous and imports only what every module does: strings stay strings."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Name:
            assert node.id not in FORBIDDEN and "MTUS_PWNED" not in node.id, node.id  # type: ignore[attr-defined]
        elif kind is ast.Attribute:
            attr = node.attr  # type: ignore[attr-defined]
            assert not (attr.startswith("__") and attr != "__class__"), attr
        elif kind is ast.Import or kind is ast.ImportFrom:
            assert ast.unparse(node) in BASELINE_IMPORTS, ast.unparse(node)
    docstring = ast.get_docstring(tree)
    assert docstring is not None and docstring.startswith("Decision functions compiled by mtus-dsl")


# --- 1. from_lark over the project's own grammar ---------------------------------------------------

GRAMMAR = importlib.resources.files("mtus_dsl.compiler").joinpath("grammar.lark").read_text(encoding="utf-8")
LARK = lark.Lark(GRAMMAR, parser="lalr", lexer="contextual", start="start")
# The Indenter makes _INDENT and _DEDENT out of line starts; from_lark cannot, so they are
# drawn as markers and turned into indentation afterwards (`_layout`).
INDENT, DEDENT = "\x01", "\x02"


def _string_literal() -> st.SearchStrategy[str]:
    body = st.lists(st.sampled_from([*PAYLOADS, "x", " ", "text"]), max_size=4).map("".join)
    return body.map(lambda b: '"' + re.sub(r'(?<!\\)"', r'\\"', b.replace("\n", " ")) + '"')


def _terminals() -> dict[str, st.SearchStrategy[str]]:
    explicit: dict[str, st.SearchStrategy[str]] = {}
    for terminal in LARK.terminals:
        if terminal.pattern.type == "str":
            explicit[terminal.name] = st.just(terminal.pattern.value + " ")
    words = {
        "CODE_SYSTEM": ["icd9", "icd10"],
        "CODE": ["729.1", "M79.1*", "V57.1", "G90.5*", "1", "A1B.2C*"],
        "MAX_UNITS": ["max_visits", "max_days"],
        "OUTCOME": ["certify", "modify", "non_certify", "not_addressed", "needs_information"],
        "COMPARE": ["<=", ">=", "!=", "<", ">", "="],
        "ROUNDING": ["down", "up"],
        "QUANTIFIER": ["any", "all", "latest", "count"],
        "BOOL": ["true", "false"],
        "DATE": ["2015-09-23", "2009-07-18", "0001-01-01", "9999-12-31", "2015-02-30", "0000-00-00"],
        "DURATION_UNIT": ["day", "weeks", "month", "years"],
        "NAME": ["a", "b", "service", "body_region", "quantity", "prior_visits", "physical_therapy", "knee",
                 "surgeries", "s", *PY_NAMES],
    }
    for name, options in words.items():
        explicit[name] = st.sampled_from(options).map(lambda w: w + " ")
    explicit["INT"] = st.sampled_from(["0", "1", "12", "30", "99999999999999999999999", "00012"]).map(lambda w: w + " ")
    explicit["STRING"] = _string_literal()
    explicit["_NL"] = st.just("\n")
    explicit["_INDENT"] = st.just(INDENT)
    explicit["_DEDENT"] = st.just(DEDENT)
    for ignored in LARK.ignore_tokens:
        explicit[ignored] = st.just(" ")
    return explicit


def _layout(text: str) -> str:
    """Indent each line by the blocks the markers open and close before it."""
    depth, lines = 0, []
    for line in text.split("\n"):
        start = 0
        while start < len(line) and line[start] in INDENT + DEDENT + " ":
            depth += {INDENT: 1, DEDENT: -1}.get(line[start], 0)
            depth = max(depth, 0)
            start += 1
        lines.append("    " * depth + line[start:].replace(INDENT, "").replace(DEDENT, ""))
    return "\n".join(lines)


@settings(FUZZ, max_examples=400)
@given(text=from_lark(LARK, explicit=_terminals()).map(_layout))
def test_grammar_fuzz(text):
    """Programs the grammar generates (most of them nonsense to the checker) give diagnostics, never a crash."""
    check_compiler({"fuzz.mtus": text}, None)


# --- 2. valid programs: random rules over the case format ----------------------------------------

INTS = ["quantity", "prior_visits", "prior_visits_all_regions"]
REGIONS = ["lumbar_spine", "knee", "shoulder"]
SERVICES = ["physical_therapy", "occupational_therapy", "chiropractic"]
SURGERY_CONDITIONS = ["s.body_region = body_region", "s.date <= request_date", 's.procedure = "meniscectomy"',
                      "s.date + 6 months >= request_date", "s.body_region in {knee, shoulder}", "true"]


# Two tables whose `or none` columns hold `none` cells (E113 allows none only there), and
# facts that read them: every use the checker accepts, guarded (`exists`, `= true`) and now
# and then not (ordering a none is a RuleError, which both backends must raise alike).
TABLE_FACTS = [
    "fact lv: integer or none = lim[body_region].visits",
    "fact lp: duration or none = lim[body_region].period",
    "fact lf: boolean or none = lim[body_region].flag",
    "fact ls: date or none = lim[body_region].since",
    "fact lc: integer = lim[body_region].cap",
    "fact cv: integer or none = course[recent.procedure, recent.body_region].visits",
    "fact cp: duration or none = course[recent.procedure, recent.body_region].period",
]
TABLE_CONDITIONS = ["lv exists", "lv = none", "(lv exists and lv >= {n})", "lf = true", "lf != false", "lf = none",
                    "(lp exists and request_date <= injury_date + lp)", "(ls exists and request_date >= ls)",
                    "(recent exists and cv exists)", "(recent exists and cv exists and cv > quantity)",
                    "(recent exists and cp exists and request_date <= recent.date + cp)", "lim[knee].flag = true",
                    'course["meniscectomy", knee].visits exists', "lc > {n}", "lv >= {n}"]
PROCEDURES = ["meniscectomy", "acl_repair", "spinal_fusion"]


def _none_or(draw: st.DrawFn, value: st.SearchStrategy[str]) -> str:
    """A cell of an `or none` column: none one time in three."""
    return "none" if draw(st.integers(0, 2)) == 0 else draw(value)


@st.composite
def none_tables(draw: st.DrawFn) -> list[str]:
    """The tables `lim` (by body region) and `course` (by surgery), `none` drawn only in `or none` columns."""
    visits, weeks = st.integers(0, 30).map(str), st.integers(1, 26).map(lambda w: f"{w} weeks")
    flag, since = st.sampled_from(["true", "false"]), st.sampled_from(["2009-07-18", "2015-01-01", "2016-02-29"])
    lines = ["table lim:", "    key region: body_region",
             "    value visits: integer or none, period: duration or none, flag: boolean or none, "
             "since: date or none, cap: integer"]
    for region in draw(st.lists(st.sampled_from(REGIONS), max_size=3, unique=True)):
        cells = [_none_or(draw, visits), _none_or(draw, weeks), _none_or(draw, flag), _none_or(draw, since)]
        lines.append(f"    {region} -> {', '.join(cells)}, {draw(visits)}")
    lines.append(f"    otherwise -> {_none_or(draw, visits)}, {_none_or(draw, weeks)}, {_none_or(draw, flag)}, "
                 f"{_none_or(draw, since)}, {draw(visits)}")
    lines += ["table course:", "    key procedure: text, body_region: body_region",
              "    value visits: integer or none, period: duration or none"]
    keys = draw(st.lists(st.tuples(st.sampled_from(PROCEDURES), st.sampled_from(REGIONS)), max_size=4, unique=True))
    for procedure, region in keys:
        lines.append(f"    {procedure}, {region} -> {_none_or(draw, visits)}, {_none_or(draw, weeks)}")
    lines.append(f"    otherwise -> {_none_or(draw, visits)}, {_none_or(draw, weeks)}")
    return lines + TABLE_FACTS


@st.composite
def int_expr(draw: st.DrawFn, depth: int = 0) -> str:
    """An integer expression: numbers, inputs, arithmetic, rounding division, min/max, counts, time between dates."""
    kind = draw(st.integers(0, 6 if depth < 2 else 1))
    if kind == 0:
        return str(draw(st.integers(0, 30)))
    if kind == 1:
        return draw(st.sampled_from(INTS))
    if kind == 2:
        return f"({draw(int_expr(depth + 1))} {draw(st.sampled_from('+-*'))} {draw(int_expr(depth + 1))})"
    if kind == 3:
        rounding = draw(st.sampled_from(["up", "down"]))
        return f"({draw(int_expr(depth + 1))} / {draw(st.integers(1, 4))} rounded {rounding})"
    if kind == 4:
        return f"{draw(st.sampled_from(['min', 'max']))}({draw(int_expr(depth + 1))}, {draw(int_expr(depth + 1))})"
    if kind == 5:
        unit = draw(st.sampled_from(["days", "weeks", "months", "years"]))
        dates = draw(st.permutations(["injury_date", "request_date", "2015-01-31"]))
        return f"{unit}_between({dates[0]}, {dates[1]})"
    return f"count s in surgeries where ({draw(st.sampled_from(SURGERY_CONDITIONS))})"


@st.composite
def bool_expr(draw: st.DrawFn, depth: int = 0) -> str:
    """A condition: comparisons, dates, booleans, enumerations, sets, quantifiers, facts, and/or/not."""
    kind = draw(st.integers(0, 10 if depth < 3 else 5))
    if kind == 10:
        return draw(st.sampled_from(TABLE_CONDITIONS)).format(n=draw(st.integers(0, 30)))
    if kind == 0:
        op = draw(st.sampled_from(["<", "<=", "=", "!=", ">", ">="]))
        return f"{draw(int_expr())} {op} {draw(int_expr())}"
    if kind == 1:
        other = draw(st.sampled_from(["2009-07-18", "2015-01-01", "request_date - 3 months", "injury_date + 2 weeks"]))
        return f"{draw(st.sampled_from(['request_date', 'injury_date']))} {draw(st.sampled_from(['<', '>=']))} {other}"
    if kind == 2:
        return draw(st.sampled_from(["functional_improvement", "not functional_improvement", "true", "false"]))
    if kind == 3:
        return f"body_region {draw(st.sampled_from(['=', '!=']))} {draw(st.sampled_from(REGIONS))}"
    if kind == 4:
        services = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2, unique=True))
        return f"service in {{{', '.join(services)}}}"
    if kind == 5:
        return draw(st.sampled_from(["f1", "recent exists", "myalgia in conditions", "crps not in conditions",
                                     "condition = myalgia", "condition is not crps"]))
    if kind == 6:
        quantifier = draw(st.sampled_from(["any", "all"]))
        return f"({quantifier} s in surgeries where ({draw(st.sampled_from(SURGERY_CONDITIONS))}))"
    if kind == 7:
        return f"not ({draw(bool_expr(depth + 1))})"
    op = draw(st.sampled_from(["and", "or"]))
    return f"({draw(bool_expr(depth + 1))} {op} {draw(bool_expr(depth + 1))})"


@st.composite
def action(draw: st.DrawFn) -> str:
    """A limit (with period and counting), a trial, certify or non_certify."""
    kind = draw(st.integers(0, 4))
    if kind == 4:
        # A limit read from a column that may hold none: the checker requires the guard.
        return draw(st.sampled_from(["max_visits lv\n        when lv exists", "max_visits lc",
                                     "max_visits cv\n        when recent exists and cv exists"]))
    if kind == 0:
        text = f"max_visits {draw(int_expr())}"
        if draw(st.booleans()):
            text += f" over {draw(st.integers(1, 12))} weeks"
        if draw(st.booleans()):
            text += f" counting {draw(st.sampled_from(INTS))}"
        return text
    if kind == 1:
        return (f"trial {draw(st.integers(0, 8))} over 2 weeks, up to {draw(int_expr())} over 8 weeks "
                f"with {draw(bool_expr(1))}")
    return "certify" if kind == 2 else "non_certify"


@st.composite
def valid_program(draw: st.DrawFn) -> str:
    """A guideline with facts, code sets, tables with none cells, one to four rules (each overriding those
    before, by `overrides` or `otherwise`), maybe section-level clauses, maybe a cap, maybe a second section
    that overrides the first."""
    services = ", ".join(draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3, unique=True)))
    lines = [
        f'guideline g "G \\"{{requested}}\\" {draw(st.sampled_from(PAYLOADS)).replace(chr(34), "")}" edition "1":',
        f"    in force from {draw(st.sampled_from(['2004-01-01', '2009-07-18']))}",
        'condition myalgia "myalgia":', "    icd9 729.1", "    icd10 M79.1*",
        'condition crps "crps":', "    icd9 337.2*",
        f"fact f1: boolean = {draw(bool_expr(1)).replace('f1', 'true')}",
        "fact recent: surgery or none = latest s in surgeries where (s.body_region = body_region)",
        *draw(none_tables()),
        f'section s "S" pages {draw(st.integers(1, 300))}:',
        f"    services {services}",
        "    unit visits",
    ]
    for _ in range(draw(st.integers(0, 1))):
        lines.append(f"    {draw(st.sampled_from(['when', 'unless']))} {draw(bool_expr(1))}")
    in_order = draw(st.booleans())  # 'otherwise' instead of 'overrides': the same order
    for i in range(draw(st.integers(1, 4))):
        lines.append(f"    {'otherwise ' if i and in_order else ''}r{i}: {draw(action())}")
        for _ in range(draw(st.integers(0, 2))):
            lines.append(f"        {draw(st.sampled_from(['when', 'unless']))} {draw(bool_expr())}")
        if i and not in_order:
            lines.append(f"        overrides {', '.join(f'r{j}' for j in range(i))}")
        if draw(st.booleans()):
            lines.append('        rationale "{requested} asked, {allowed} left; {f1}; \\"{limit}\\" {{x}}"')
    if draw(st.booleans()):
        lines += [f"    cap c: max_visits {draw(st.integers(0, 30))} counting prior_visits_all_regions",
                  f"        when {draw(bool_expr(1))}", '        subsection "(c)"']
    if draw(st.booleans()):
        lines += ['section t "T" pages 2:', f"    services {services}", "    regions knee", "    overrides s",
                  f"    t0: {draw(action())}", f"        when {draw(bool_expr(1))}"]
    return "\n".join(lines) + "\n"


@settings(FUZZ, max_examples=250)
@given(text=valid_program(), data=st.data())
def test_valid_programs_agree_with_the_interpreter(text, data):
    """Random rules compile to Python that decides every case exactly as the interpreter does."""
    check_compiler({"fuzz.mtus": text}, data, cases=4)


@settings(FUZZ, max_examples=40)
@given(tables=none_tables(), data=st.data())
def test_none_cells_decide_as_the_interpreter_does(tables, data):
    """Every guarded use of a column that may hold none, over tables drawn with none cells, reads the same in
    both backends: the rule's rationale shows each use's value."""
    guarded = [c.format(n=7) for c in TABLE_CONDITIONS if not c.startswith(("lv >=", "lc >"))]
    lines = [
        'guideline g "G" edition "1":', "    in force from 2009-07-18",
        "fact recent: surgery or none = latest s in surgeries where (s.body_region = body_region)",
        *tables,
        *(f"fact t{i}: boolean = {condition}" for i, condition in enumerate(guarded)),
        'section s "S" pages 1:', "    services physical_therapy", "    unit visits",
        "    r: max_visits lv", "        when lv exists",
        '        rationale "' + " ".join(f"{{t{i}}}" for i in range(len(guarded))) + ' {lv} {lc}"',
    ]
    compilation = compile_sources({"none.mtus": "\n".join(lines) + "\n"})
    assert compilation.program is not None, [str(d) for d in compilation.diagnostics]
    schedule = Schedule(compilation)
    for _ in range(6):
        case = data.draw(case_data(schedule, rules=["r"]))
        STATS["cases"] += 1
        compiled, interpreted = attempt(schedule.decide, case), attempt(schedule.interpret, case)
        assert compiled == interpreted, (case, compiled, interpreted)
        assert not isinstance(compiled, str), (case, compiled)


def test_a_none_cell_where_the_column_does_not_allow_it_is_e113():
    """The generator puts none only in `or none` columns, because anywhere else it is E113."""
    header = "table lim:\n    key region: body_region\n" \
        "    value visits: integer or none, period: duration or none, flag: boolean or none, since: date or none, " \
        "cap: integer\n"
    assert _codes(header + "    otherwise -> none, none, none, none, 3\n") == []
    assert _codes(header + "    otherwise -> none, none, none, none, none\n") == ["E113"]


# --- 3. mutations of the real corpus --------------------------------------------------------------

CORPUS = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in sorted((ROOT / "guidelines").rglob("*.mtus"))}
TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[ \t]+|\n|[A-Za-z_][A-Za-z0-9_]*|\d{4}-\d\d-\d\d|\d+|.')
POOL = ["when", "unless", "section", "guideline", "property", "(", ")", ":", "\n", "\n    ", "    ", "\t", "{", "}", "[",
        "]", ",", "-", "0", "-1", "99999999999999999999999", "0001-01-01", "9999-12-31", "2015-02-30", '"', "\\", "#",
        "max_visits", "trial", "over", "counting", "exists", "latest", "any", "rounded", "/", "*", "+", "..", "->",
        "otherwise", "none", "unknown", "\x00", "\r", "\u2028", "é", *PY_NAMES]
HOSTILE_NAMES = ['x"""\n' + CANARY + '\n"""', 'x"""+' + CANARY_DQ + '+"""', "a\\", "{}{0}", "b\n# c", "c'd"]


class Mutant:
    """A mutated corpus; its repr names the file and the mutations, not 80 kB of text."""

    def __init__(self, sources: dict[str, str], name: str, ops: list[int]):
        self.sources, self.name, self.ops = sources, name, ops

    def __repr__(self) -> str:
        return f"Mutant({self.name!r}, ops={self.ops})"


@st.composite
def mutated_corpus(draw: st.DrawFn) -> Mutant:
    """The corpus with one file mutated one to three times (and maybe renamed to something hostile)."""
    name = draw(st.sampled_from(sorted(CORPUS)))
    tokens = TOKEN.findall(CORPUS[name])
    ops = draw(st.lists(st.integers(0, 9), min_size=1, max_size=3))
    for op in ops:
        i = draw(st.integers(0, len(tokens) - 1))
        if op == 0:
            del tokens[i]
        elif op == 1:
            tokens.insert(i, tokens[i])
        elif op == 2:
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == 3:
            tokens[i] = draw(st.sampled_from(POOL))
        elif op == 4:
            tokens.insert(i, draw(st.text(max_size=8)))
        elif op == 5:
            strings = [k for k, t in enumerate(tokens) if t.startswith('"')]
            if strings:
                body = "".join(draw(st.lists(st.sampled_from(PAYLOADS), min_size=1, max_size=4)))
                tokens[draw(st.sampled_from(strings))] = '"' + re.sub(r'(?<!\\)"', r'\\"', body.replace("\n", "")) + '"'
        elif op == 6:
            names = sorted({t for t in tokens if re.fullmatch(r"[a-z_][a-z0-9_]*", t)})
            old, new = draw(st.sampled_from(names)), draw(st.sampled_from([*PY_NAMES, "x" * 300]))
            tokens = [new if t == old else t for t in tokens]
        elif op == 7:
            depth, kind = draw(st.integers(10, 400)), draw(st.sampled_from(["(", "not ", "x and ("]))
            tokens[i] = kind * depth + tokens[i] + (")" * depth if "(" in kind else "")
        elif op == 8:
            tokens.insert(i, draw(st.sampled_from(["x" * 100000, " or x" * 20000, "a, " * 20000, '"' + "y" * 100000 + '"'])))
        else:
            literals = [k for k, t in enumerate(tokens) if re.fullmatch(r"\d+|\d{4}-\d\d-\d\d", t)]
            if literals:
                tokens[draw(st.sampled_from(literals))] = draw(
                    st.sampled_from(["0", "99999999999999999999", "0001-01-01", "9999-12-31", "2016-02-29", "2015-02-29"])
                )
    sources = dict(CORPUS)
    sources[name] = "".join(tokens)
    if draw(st.integers(0, 9)) == 0:
        sources[draw(st.sampled_from(HOSTILE_NAMES))] = sources.pop(name)
    return Mutant(sources, name, ops)


_parse_module = parser.parse_module


@functools.lru_cache(maxsize=64)
def _parse_unchanged(text: str, path: str) -> tuple[object, tuple[Diagnostic, ...]]:
    module, diagnostics = _parse_module(text, path)
    return module, tuple(diagnostics)


def _parse_cached(text: str, path: str) -> tuple[object, list[Diagnostic]]:
    """Parse a file; the corpus files left as they are are parsed once (the AST is immutable)."""
    if CORPUS.get(path) != text:
        return _parse_module(text, path)
    module, diagnostics = _parse_unchanged(text, path)
    return module, list(diagnostics)


@settings(FUZZ, max_examples=200)
@given(mutant=mutated_corpus(), data=st.data())
def test_mutated_corpus(mutant, data, monkeypatch):
    """The corpus, damaged or made hostile, gives diagnostics or safe code that agrees with the interpreter."""
    monkeypatch.setattr(parser, "parse_module", _parse_cached)
    check_compiler(mutant.sources, data, cases=2)


# --- regressions: what the fuzzing found ---------------------------------------------------------

HEADER = 'guideline g "G" edition "1":\n    in force from 2000-01-01\n\nsection s "S" pages 7:\n    services physical_therapy\n'
CASE = {"request_date": "2015-01-01", "service": "physical_therapy", "body_region": "knee", "quantity": 3,
        "prior_visits": 0, "surgeries": []}


def _codes(text: str, name: str = "x.mtus") -> list[str]:
    return [d.code for d in compile_sources({name: text}).diagnostics if d.is_error]


@pytest.mark.parametrize("escape", [r"\x4", r"\N{NOPE}", r"\u12"])
def test_a_bad_escape_in_a_string_is_e003(escape):
    """Found by fuzzing: a string such as "\\x4" crashed the parser (VisitError); now E003 at the string."""
    assert _codes(f'guideline g "{escape}" edition "1":\n    in force from 2000-01-01\n') == ["E003"]
    assert _codes(HEADER + f'    r: max_visits 10\n        rationale "{{"{escape}"}}"\n') == ["E003"]


def test_deep_nesting_is_a_diagnostic_not_a_crash():
    """Found by fuzzing: 150 nested `and`s made Python reject the generated code; 3000 `or`s overflowed the stack."""
    right = "quantity > 1 and (" * 150 + "quantity > 2" + ")" * 150
    assert _codes(HEADER + f"    r: max_visits 10 when {right}\n") == ["E001"]
    flat = " or ".join(["quantity > 1"] * 3000)
    assert _codes(HEADER + f"    r: max_visits 10 when {flat}\n") == ["E001"]
    loops = "any s in surgeries where (" * 30 + "true" + ")" * 30
    assert _codes(HEADER + f"    r: max_visits 10 when {loops}\n") == ["E001"]
    # Just inside the limits, it compiles and agrees.
    deep = "quantity > 1 and (" * 90 + "quantity > 2" + ")" * 90
    schedule = mtus_dsl.loads({"x.mtus": HEADER + f"    r: max_visits 10 when {deep}\n"})
    assert schedule.decide(CASE) == schedule.interpret(CASE)


def test_a_file_name_cannot_close_the_module_docstring():
    """Found by fuzzing: a file named x\"\"\"+CODE+\"\"\" ran CODE when the compiled module loaded."""
    name = 'x"""+' + CANARY_DQ + '+"""'
    schedule = Schedule(compile_sources({name: HEADER + "    r: max_visits 10\n"}))
    assert not hasattr(builtins, "MTUS_PWNED")
    assert name in (schedule.module.__doc__ or "")
    assert_safe(schedule.python_source)


def test_a_backward_integer_range_is_e104():
    """Found by fuzzing: `integer 1..0` was accepted, though no case could give a value."""
    assert _codes("input a: integer 1..0\n") == ["E104"]


def test_dates_at_the_ends_of_the_calendar():
    """Found by fuzzing: an edition from 0001-01-01 crashed the conflict search, and date arithmetic past
    9999-12-31 raised OverflowError while deciding; now the search skips such days, a case's dates end at
    2199-12-31 (a later one is a CaseError), and a period that still leaves the calendar is a RuleError."""
    text = HEADER.replace("2000-01-01", "0001-01-01") + "    r: max_visits 10 when request_date + 1 day > 2015-01-01\n"
    schedule = mtus_dsl.loads({"x.mtus": text})
    late = {**CASE, "request_date": "9999-12-31"}
    with pytest.raises(mtus_dsl.CaseError, match="request_date: '9999-12-31' is out of range; expected a date from"):
        schedule.decide(late)
    assert attempt(schedule.decide, late) == attempt(schedule.interpret, late)
    last = {**CASE, "request_date": "2199-12-31"}
    assert schedule.decide(last).outcome.value == "certify"
    assert schedule.decide(last) == schedule.interpret(last)
    # Only a program's own periods can still leave the calendar: both backends fail alike.
    # (A period longer than the 300 years cases span is E122: only a sum of periods can.)
    far = mtus_dsl.loads({"x.mtus": HEADER + "    r: max_visits 10 when request_date" + " + 300 years" * 27
                          + " > 2015-01-01\n"})
    with pytest.raises(mtus_dsl.runtime.RuleError, match="9999-12-31 \\+ 300 years is not a date"):
        far.decide(last)
    assert attempt(far.decide, last) == attempt(far.interpret, last)


def test_fuzz_corpus_is_the_real_one():
    """The mutation fuzzer starts from the shipped corpus, which compiles as is."""
    assert len(CORPUS) >= 3 and compile_sources(CORPUS).ok
    assert Path(ROOT / "guidelines").is_dir()
