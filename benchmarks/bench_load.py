"""Target [4]: `mtus_dsl.load()` of the shipped corpus, cold under 150 ms and warm under 20 ms of CPU.

Every figure comes from fresh Python processes (this file run with --child),
each reporting JSON: the CPU time of the imports (`import mtus_dsl` and
`mtus_dsl.schedule`; for a cold load also the compiler's stages and Lark, which
the passes import when they first run), then of `mtus_dsl.load()`, and whether
that load parsed and analysed. The target applies to `load()` after the imports (a cold load builds Lark's
parser: that is part of it).

  cold   MTUS_DSL_CACHE points to an empty directory: read, parse (Lark's parser
         built from Lark's own on-disk cache of its tables), check, generate,
         exec, analyse, and write the cache entry.
  warm   MTUS_DSL_CACHE points to a directory a cold load filled: the cache hit
         must neither parse nor analyse.

Cold and warm processes alternate. For information: the first run on a machine
(TMPDIR empty too, so Lark analyses its grammar again), a second load in the
same process, the compiler's passes one by one (cold) and the cache hit's
steps (warm), the largest own import times, and the peak RSS of each kind of
process.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from timing import Row, ms, peak_rss, verdict

TARGET_COLD = 0.150  # CPU seconds of load() in a fresh process with an empty cache, at most
TARGET_WARM = 0.020  # CPU seconds of load() in a fresh process with a filled cache, at most
HERE = Path(__file__).resolve().parent


def _cpu() -> float:
    return time.process_time()


def _instrument() -> dict[str, int]:
    """Count the parses and analyses a load makes (the compiler calls both through their modules)."""
    from mtus_dsl.compiler import analysis, parser

    counts = {"parses": 0, "analyses": 0}
    parse, analyse = parser.parse_module, analysis.analyse

    def counted_parse(*args: Any, **kwargs: Any) -> Any:
        counts["parses"] += 1
        return parse(*args, **kwargs)

    def counted_analyse(*args: Any, **kwargs: Any) -> Any:
        counts["analyses"] += 1
        return analyse(*args, **kwargs)

    parser.parse_module = counted_parse  # type: ignore[assignment]
    analysis.analyse = counted_analyse  # type: ignore[assignment]
    return counts


def _corpus_sources() -> dict[str, str]:
    """The shipped corpus as compile_sources receives it from load(): the prelude, then guidelines/... texts."""
    from mtus_dsl import compiler
    from mtus_dsl.schedule import default_guidelines

    corpus = default_guidelines()
    files, _ = compiler.expand([corpus])
    return {compiler.PRELUDE_NAME: compiler.prelude_text(),
            **{(Path("guidelines") / f.relative_to(corpus)).as_posix(): f.read_text(encoding="utf-8") for f in files}}


def _passes() -> dict[str, float]:
    """Compile the shipped corpus pass by pass, as compile_sources does without a cache: CPU seconds each."""
    from mtus_dsl import compiler

    times: dict[str, float] = {}
    t0 = _cpu()
    sources = _corpus_sources()
    times["read"] = _cpu() - t0
    from mtus_dsl.compiler import syntax

    build = getattr(syntax, "_lark", None)  # Lark's parser, built once per thread on first parse
    if build is not None:
        t1 = _cpu()
        build()
        times["Lark parser (its cache)"] = _cpu() - t1
    unit = compiler._Unit(sources)
    for run in compiler.PASSES:
        start = _cpu()
        ok = run(unit)
        times[run.__name__.lstrip("_")] = _cpu() - start
        assert ok, unit.diagnostics
    return times


def _hit_steps() -> dict[str, float]:
    """The steps of a cache hit, as compile_sources takes them (internal API: best effort)."""
    import marshal

    from mtus_dsl.compiler import cache
    from mtus_dsl.schedule import Schedule

    times: dict[str, float] = {}
    t0 = _cpu()
    sources = _corpus_sources()
    t1 = _cpu()
    entry = cache.key("compilation", sources) + ".compilation"
    t2 = _cpu()
    payload = cache.read(entry)
    t3 = _cpu()
    import pickle

    compilation, code = pickle.loads(payload)  # type: ignore[arg-type]
    t4 = _cpu()
    module = cache.load_module(compilation.python_source, code=marshal.loads(code))
    t5 = _cpu()
    import attrs

    Schedule(attrs.evolve(compilation, module=module))
    t6 = _cpu()
    times.update({"read sources": t1 - t0, "cache key (hash)": t2 - t1, "read + verify entry": t3 - t2,
                  "unpickle": t4 - t3, "exec module": t5 - t4, "Schedule": t6 - t5})
    return times


#: The compiler's stages, which the passes import when they first run (a cache hit needs none of them).
STAGES = ("mtus_dsl.compiler.parser", "mtus_dsl.compiler.checker", "mtus_dsl.compiler.codegen",
          "mtus_dsl.compiler.analysis")


def _child(mode: str) -> None:
    """Run in a fresh process: time the imports and one load (or the passes); print JSON.

    "cold" imports the compiler's stages (and Lark) before timing load(): they are
    imports, not loading. "warm" imports only what `mtus_dsl.load` needs to be
    called, and reports which stages the load itself imported (none, if it
    neither parses nor analyses).
    """
    import importlib

    c0, w0 = _cpu(), time.perf_counter()
    import mtus_dsl
    import mtus_dsl.schedule

    if mode in ("cold", "passes"):
        for name in STAGES:
            importlib.import_module(name)
    c1, w1 = _cpu(), time.perf_counter()
    result: dict[str, Any] = {"imports": c1 - c0, "imports_wall": w1 - w0}
    if mode in ("cold", "warm"):
        before = set(sys.modules)
        counts = _instrument() if mode == "cold" else {}
        c1, w1 = _cpu(), time.perf_counter()
        schedule = mtus_dsl.load()
        c2, w2 = _cpu(), time.perf_counter()
        result.update(load=c2 - c1, load_wall=w2 - w1, **counts)
        if mode == "warm":
            imported = set(sys.modules) - before
            result["parses"] = int("mtus_dsl.compiler.parser" in imported)  # it cannot parse without it
            result["analyses"] = int("mtus_dsl.compiler.analysis" in imported)
            result["imported"] = sorted(name for name in imported if name.startswith(("mtus_dsl", "lark")))
        c3 = _cpu()
        mtus_dsl.load()
        result["again"] = _cpu() - c3
        result["rules"] = len(schedule.program.rules)
        result["files"] = len(schedule.sources)
        result["lines"] = sum(text.count("\n") for text in schedule.sources.values())
        result["generated_lines"] = len(schedule.python_source.splitlines())
    elif mode == "passes":
        result["passes"] = _passes()
    else:
        result["steps"] = _hit_steps()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["process_cpu"] = usage.ru_utime + usage.ru_stime
    result["maxrss"] = peak_rss()
    print(json.dumps(result))


def _spawn(mode: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode],
        capture_output=True, text=True, env=env, cwd=HERE,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load child ({mode}) failed:\n{out.stderr}")
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def _import_self_times(top: int = 6) -> list[tuple[str, float]]:
    """The modules whose own import time is largest (python -X importtime; wall time, microseconds)."""
    code = "; ".join(f"import {name}" for name in ("mtus_dsl.schedule", *STAGES))
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                         capture_output=True, text=True, check=True, cwd=HERE)
    found = []
    for line in out.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            found.append((parts[2].strip(), int(parts[0]) / 1e6))
    return sorted(found, key=lambda item: -item[1])[:top]


def _python_startup() -> float:
    out = subprocess.run([sys.executable, "-c", "import resource; u = resource.getrusage(resource.RUSAGE_SELF); "
                          "print(u.ru_utime + u.ru_stime)"], capture_output=True, text=True, check=True)
    return float(out.stdout)


def run(processes: int = 7) -> tuple[list[Row], list[str]]:
    """Measure cold and warm loads in fresh processes; return rows and detail lines."""
    startup = min(_python_startup() for _ in range(3))
    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        filled = os.path.join(tmp, "filled")
        base = dict(os.environ)
        _spawn("cold", dict(base, MTUS_DSL_CACHE=filled))  # fill the warm cache (and Lark's, and __pycache__)
        for i in range(processes):  # cold and warm alternate, like the in-process rounds
            cold.append(_spawn("cold", dict(base, MTUS_DSL_CACHE=os.path.join(tmp, f"empty{i}"))))
            warm.append(_spawn("warm", dict(base, MTUS_DSL_CACHE=filled)))
        passes = [_spawn("passes", dict(base, MTUS_DSL_CACHE="off")) for _ in range(max(2, processes // 2))]
        steps = [_spawn("steps", dict(base, MTUS_DSL_CACHE=filled)) for _ in range(max(2, processes // 2))]
        first = []
        for i in range(2):
            empty = os.path.join(tmp, f"first{i}")
            os.makedirs(empty)
            first.append(_spawn("cold", dict(base, TMPDIR=empty, TEMP=empty, TMP=empty,
                                             MTUS_DSL_CACHE=os.path.join(empty, "mtus-dsl"))))

    def best(runs: list[dict[str, Any]], key: str) -> float:
        return float(min(r[key] for r in runs))

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    cold_load, warm_load = best(cold, "load"), best(warm, "load")
    warm_parsed = max(r["parses"] for r in warm)
    warm_analysed = max(r["analyses"] for r in warm)
    cold_ok = all(r["parses"] > 0 and r["analyses"] == 1 for r in cold)
    rows = [
        Row("[4] load() cold: empty cache, fresh process, CPU", ms(cold_load),
            f"median {ms(med(cold, 'load'))}", "", f"< {ms(TARGET_COLD)}", verdict(cold_load < TARGET_COLD)),
        Row("[4] load() warm: filled cache, fresh process, CPU", ms(warm_load),
            f"median {ms(med(warm, 'load'))}", "", f"< {ms(TARGET_WARM)}", verdict(warm_load < TARGET_WARM)),
        Row("[4] warm load neither parses nor analyses", f"{warm_parsed} parses", f"{warm_analysed} analyses", "",
            "0 and 0", verdict(warm_parsed == 0 and warm_analysed == 0)),
        Row("    imports before a cold load (mtus_dsl, stages, Lark), CPU", ms(best(cold, "imports")),
            f"python startup {ms(startup)}"),
        Row("    imports before a warm load (mtus_dsl, schedule), CPU", ms(best(warm, "imports")),
            "imported by the load: " + (", ".join(warm[0]["imported"]) or "nothing")),
        Row("    cold load() + imports, CPU", ms(min(r["imports"] + r["load"] for r in cold)),
            f"warm {ms(min(r['imports'] + r['load'] for r in warm))}"),
        Row("    whole process CPU, cold / warm", ms(best(cold, "process_cpu")),
            f"warm {ms(best(warm, 'process_cpu'))}"),
        Row("    first run on a machine (no Lark cache either), CPU", ms(best(first, "load"))),
        Row("    a second load() in the same process, CPU", ms(best(warm, "again"))),
        Row("    peak RSS of a process, cold / warm", f"{best(cold, 'maxrss') / 2**20:.1f} MiB",
            f"warm {best(warm, 'maxrss') / 2**20:.1f} MiB"),
    ]
    if not cold_ok:
        rows.append(Row("    (a cold load did not parse and analyse: is the cache really empty?)", "", "", "", "",
                        "FAIL"))
    info = cold[0]
    lines = [
        f"corpus: {info['files']} files (prelude included), {info['lines']} lines, {info['rules']} rules and caps; "
        f"generated module {info['generated_lines']} lines",
        f"best of {processes} fresh processes each (cold and warm alternating); CPU time (process_time)",
        f"cold load(): {', '.join(ms(r['load']) for r in cold)}  (wall {ms(best(cold, 'load_wall'))})",
        f"warm load(): {', '.join(ms(r['load']) for r in warm)}  (wall {ms(best(warm, 'load_wall'))})",
        "largest own import times (wall, -X importtime): "
        + ", ".join(f"{name} {ms(t)}" for name, t in _import_self_times()),
        "",
        f"{'cold: compiler pass':28s} {'CPU':>9s}      {'warm: cache hit step':28s} {'CPU':>9s}",
    ]
    pass_names = list(passes[0]["passes"])
    step_names = list(steps[0]["steps"])
    for i in range(max(len(pass_names), len(step_names))):
        left = right = " " * 38
        if i < len(pass_names):
            name = pass_names[i]
            left = f"{name:28s} {ms(min(p['passes'][name] for p in passes)):>9s}"
        if i < len(step_names):
            name = step_names[i]
            right = f"{name:28s} {ms(min(s['steps'][name] for s in steps)):>9s}"
        lines.append(f"{left}      {right}")
    lines.append(
        f"{'total':28s} {ms(min(sum(p['passes'].values()) for p in passes)):>9s}      "
        f"{'total':28s} {ms(min(sum(s['steps'].values()) for s in steps)):>9s}"
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
