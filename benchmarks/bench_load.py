"""Target 3: load the whole shipped corpus (parse, check, analyse, generate, exec) in under 150 ms.

Cold figures come from fresh Python processes (this file run with --child),
each reporting JSON: the imports (lark, then the rest of mtus_dsl), building
Lark's parser, then `mtus_dsl.load()`. "Cold" keeps Lark's on-disk cache of
the parser tables (the normal case after the first run on a machine); "first
run" points TMPDIR at an empty directory so Lark must analyse the grammar
again. Warm figures are further loads in the same process. The stage
breakdown calls the compiler's stages one by one, as `load()` does.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from timing import Row, kib, ms, verdict

TARGET_SECONDS = 0.150
HERE = Path(__file__).resolve().parent


def stages(paths: list[Path] | None = None) -> dict[str, float]:
    """Compile the corpus stage by stage, as mtus_dsl.load() does; return seconds per stage."""
    from mtus_dsl.compiler import PRELUDE_NAME, analysis, expand, parser, prelude_text
    from mtus_dsl.compiler.checker import Checker
    from mtus_dsl.compiler.codegen import generate, load_module
    from mtus_dsl.schedule import default_guidelines

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    files, _ = expand(paths or [default_guidelines()])
    sources = {PRELUDE_NAME: prelude_text(), **{str(f): f.read_text(encoding="utf-8") for f in files}}
    t1 = time.perf_counter()
    modules = []
    for name, text in sources.items():
        module, diagnostics = parser.parse_module(text, name)
        assert module is not None and not any(d.is_error for d in diagnostics), diagnostics
        modules.append(module)
    t2 = time.perf_counter()
    checker = Checker(modules, sources)
    program = checker.check()
    assert program is not None, checker.diagnostics
    t3 = time.perf_counter()
    source = generate(program)
    t4 = time.perf_counter()
    module = load_module(source)
    t5 = time.perf_counter()
    # As load() does: the conflict search runs on the compiled engine just built.
    analysis.analyse(program, module.__dict__["_ENGINE"])
    t6 = time.perf_counter()
    times.update(read=t1 - t0, parse=t2 - t1, check=t3 - t2, codegen=t4 - t3, exec=t5 - t4, analysis=t6 - t5)
    return times


def _child(mode: str) -> None:
    """Run in a fresh process: time the imports and the first load; print JSON."""
    t0 = time.perf_counter()
    import lark  # noqa: F401

    t1 = time.perf_counter()
    import mtus_dsl
    import mtus_dsl.schedule  # the compiler, which `import mtus_dsl` alone no longer loads
    from mtus_dsl.compiler import parser

    t2 = time.perf_counter()
    build = getattr(parser, "_lark", None)  # the cached Lark parser, if the parser module still has one
    if build is not None:
        build()
    t3 = time.perf_counter()
    result: dict[str, Any] = {"import_lark": t1 - t0, "import_mtus_dsl": t2 - t1, "lark_parser": t3 - t2}
    if mode == "load":
        schedule = mtus_dsl.load()
        t4 = time.perf_counter()
        result["load"] = t4 - t3
        result["rules"] = len(schedule.program.rules)
        result["files"] = len(schedule.sources)
        result["lines"] = sum(text.count("\n") for text in schedule.sources.values())
        result["generated_lines"] = schedule.python_source.count("\n")
    else:
        result.update(stages())
    print(json.dumps(result))


def _spawn(mode: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode],
        capture_output=True, text=True, check=True, env=env, cwd=HERE,
    )
    data: dict[str, Any] = json.loads(out.stdout)
    data["process"] = time.perf_counter() - start
    return data


def _import_self_times(top: int = 6) -> list[tuple[str, float]]:
    """The modules whose own import time is largest (python -X importtime -c 'import mtus_dsl')."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mtus_dsl"], capture_output=True,
                         text=True, check=True, cwd=HERE)
    found = []
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            found.append((parts[2].strip(), int(parts[0]) / 1e6))
    return sorted(found, key=lambda item: -item[1])[:top]


def _python_startup() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def run(processes: int = 5, warm_rounds: int = 15) -> tuple[list[Row], list[str]]:
    """Measure cold, first-run and warm loads and the stage breakdown; return rows and detail lines."""
    import tracemalloc

    import mtus_dsl

    startup = min(_python_startup() for _ in range(processes))
    cold: list[dict[str, Any]] = []
    cold_stages: list[dict[str, Any]] = []
    for _ in range(processes):  # interleaved, like the in-process rounds
        cold.append(_spawn("load"))
        cold_stages.append(_spawn("stages"))
    first = []
    for _ in range(max(2, processes // 2)):
        with tempfile.TemporaryDirectory() as empty:
            first.append(_spawn("load", dict(os.environ, TMPDIR=empty, TEMP=empty, TMP=empty,
                                             MTUS_DSL_CACHE=os.path.join(empty, "mtus-dsl"))))

    def best(runs: list[dict[str, Any]], key: str) -> float:
        return float(min(r[key] for r in runs))

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    # Warm: the same process loads again (each round from a freshly collected heap).
    mtus_dsl.load()
    warm = []
    warm_stages = []
    for _ in range(warm_rounds):
        gc.collect()
        start = time.perf_counter()
        mtus_dsl.load()
        warm.append(time.perf_counter() - start)
        gc.collect()
        warm_stages.append(stages())
    tracemalloc.start()
    mtus_dsl.load()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    info = cold[0]
    imports = best(cold, "import_lark") + best(cold, "import_mtus_dsl")
    cold_load = best(cold, "load")
    cold_total = min(r["import_lark"] + r["import_mtus_dsl"] + r["lark_parser"] + r["load"] for r in cold)
    warm_best = min(warm)
    rows = [
        Row("[3] load() cold: fresh process, after imports", ms(cold_load), f"median {ms(med(cold, 'load'))}", "",
            f"< {ms(TARGET_SECONDS)}", verdict(cold_load < TARGET_SECONDS)),
        Row("[3] load() cold, imports + Lark parser included", ms(cold_total),
            f"imports {ms(imports)}", "", f"< {ms(TARGET_SECONDS)}", verdict(cold_total < TARGET_SECONDS)),
        Row("[3] load() warm: a second load in the process", ms(warm_best), f"median {ms(statistics.median(warm))}",
            "", f"< {ms(TARGET_SECONDS)}", verdict(warm_best < TARGET_SECONDS)),
        Row("    load() first run on a machine (no Lark or bytecode cache)", ms(best(first, "load") + best(first, "lark_parser")),
            f"Lark parser {ms(best(first, 'lark_parser'))}"),
        Row("    memory: tracemalloc peak of a warm load()", kib(peak)),
    ]
    lines = [
        f"corpus: {info['files']} files (prelude included), {info['lines']} lines, {info['rules']} rules and caps; "
        f"generated module {info['generated_lines']} lines",
        f"python -c pass: {ms(startup)}; whole cold process (python -c 'mtus_dsl.load()'): "
        f"{ms(min(r['process'] for r in cold))}",
        f"imports: lark {ms(best(cold, 'import_lark'))}, mtus_dsl (without lark) {ms(best(cold, 'import_mtus_dsl'))}; "
        f"Lark parser from its cache {ms(best(cold, 'lark_parser'))}",
        "largest own import times: " + ", ".join(f"{name} {ms(t)}" for name, t in _import_self_times()),
        "",
        f"{'stage':10s} {'cold (fresh process)':>21s} {'warm':>10s}   best of {processes} processes / "
        f"{warm_rounds} warm rounds",
    ]
    names = ["read", "parse", "check", "codegen", "exec", "analysis"]
    for name in names:
        lines.append(f"{name:10s} {ms(best(cold_stages, name)):>21s} {ms(min(s[name] for s in warm_stages)):>10s}")
    lines.append(
        f"{'total':10s} {ms(min(sum(r[n] for n in names) for r in cold_stages)):>21s} "
        f"{ms(min(sum(s[n] for n in names) for s in warm_stages)):>10s}"
    )
    return rows, lines


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2])
    else:
        rows, lines = run()
        print("\n".join(lines))
        for row in rows:
            print(row)
