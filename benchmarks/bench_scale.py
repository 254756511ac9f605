"""Target [5]: a table of 10,000 rules loads, and decides, as it should.

Band tables of 100, 1,000 and 10,000 rules (synthetic.write_bands: one
section per service and body region, each a general rule and rules over
disjoint bands of an integer input that override it) are written to a
temporary directory. Each is loaded cold (MTUS_DSL_CACHE an empty directory)
in a fresh process (this file run with --child), which reports the CPU time of
`mtus_dsl.load()` after the imports, the time of each compiler pass, the
process's peak RSS (getrusage maxrss) and the generated module's size. Then
this process loads the three tables from the caches those children filled and
times decisions in section 0, which has the same 100 rules at every size, in
interleaved rounds of CPU time: a request in the first band, the middle band,
the last band, past every band (the general rule governs) and without the
score (every band unknown: needs information).

In the full run the older realistic-shaped corpora (the benchmark corpus
grown 1x, 10x, 100x with code sets, caps and inputs; synthetic.write_corpus)
are timed too, for information.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cases import SEED
from synthetic import BAND_WIDTH, REFERENCE_RULES, band_case, base_rule_count, write_bands, write_corpus
from timing import Row, compare, ms, peak_rss, us, verdict

import mtus_dsl
from mtus_dsl import TraceEntry

SIZES = (100, 1000, 10000)
TARGET_LOAD_CPU = 15.0  # CPU seconds to load 10,000 rules cold, at most
TARGET_RSS = 1 << 30  # peak RSS of that process, at most
TARGET_LINES = 1.1  # generated lines per rule: largest / smallest over the sizes, at most ("constant")
TARGET_FLAT = 1.2  # decision time at 10,000 rules / at 100 rules, at most
#: Section 0's requests: (label, pain score). Section 0 has REFERENCE_RULES - 1 bands at every size.
BAND_CASES = (
    ("first band", 50),
    ("middle band", (REFERENCE_RULES // 2) * BAND_WIDTH + 50),
    ("last band", (REFERENCE_RULES - 2) * BAND_WIDTH + 50),
    ("past every band (general)", REFERENCE_RULES * BAND_WIDTH + 50),
    ("no score (needs information)", None),
)


def _child(directory: str) -> None:
    """Run in a fresh process: load `directory` cold, timing each compiler pass; print JSON."""
    import mtus_dsl.schedule  # noqa: F401  (the imports are not what is measured)
    from mtus_dsl import compiler

    passes: dict[str, float] = {}
    peaks: dict[str, int] = {}  # the process's peak RSS after each pass

    def timed(run: Callable[[Any], bool]) -> Callable[[Any], bool]:
        def wrapper(unit: Any) -> bool:
            start = time.process_time()
            try:
                return run(unit)
            finally:
                name = run.__name__.lstrip("_")
                passes[name] = time.process_time() - start
                peaks[name] = peak_rss()

        return wrapper

    compiler.PASSES = tuple(timed(run) for run in compiler.PASSES)
    peaks["imports"] = peak_rss()
    start = time.process_time()
    schedule = mtus_dsl.load([directory])
    load = time.process_time() - start
    print(json.dumps({
        "load": load,
        "passes": passes,
        "peaks": peaks,
        "maxrss": peak_rss(),
        "rules": len(schedule.program.rules),
        "generated_lines": len(schedule.python_source.splitlines()),
        "errors": [str(d) for d in schedule.diagnostics if d.is_error],
        "warnings": len(schedule.diagnostics),
    }))


def _cold(directory: Path, cache: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(directory)],
                         capture_output=True, text=True, env=dict(os.environ, MTUS_DSL_CACHE=str(cache)))
    if out.returncode != 0:
        raise RuntimeError(f"loading {directory} failed:\n{out.stderr[-4000:]}")
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


@contextmanager
def _cache(directory: Path) -> Iterator[None]:
    old = os.environ.get("MTUS_DSL_CACHE")
    os.environ["MTUS_DSL_CACHE"] = str(directory)
    try:
        yield
    finally:
        if old is None:
            del os.environ["MTUS_DSL_CACHE"]
        else:
            os.environ["MTUS_DSL_CACHE"] = old


def _normalised(decision: mtus_dsl.Decision) -> tuple[Any, ...]:
    trace = tuple(TraceEntry(t.rule, t.kind, t.status, t.detail, Path(t.source.rsplit(":", 1)[0]).name)
                  for t in decision.trace)
    return (decision.outcome, decision.approved, decision.rules, decision.rationale, decision.citations,
            decision.missing, trace)


def _read(decision: mtus_dsl.Decision) -> mtus_dsl.Decision:
    decision.rationale
    decision.citations
    decision.trace
    return decision


def run(rounds: int | None = None, quick: bool = False) -> tuple[list[Row], list[str]]:
    """Load the band tables cold in children, then time section 0's decisions; return rows and detail lines."""
    rows: list[Row] = []
    lines = [
        f"{'rules':>6s} {'sections':>8s} {'cold load CPU':>13s} {'peak RSS':>9s} {'gen. lines':>10s} "
        f"{'lines/rule':>10s} {'warm load CPU':>13s}   cold passes (CPU)"
    ]
    schedules: dict[int, mtus_dsl.Schedule] = {}
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            directory = Path(tmp) / f"bands{size}"
            sections = write_bands(directory, size)
            cache = Path(tmp) / f"cache{size}"
            result = _cold(directory, cache)
            assert not result["errors"], result["errors"][:3]
            assert result["rules"] == size, (result["rules"], size)
            results[size] = result
            with _cache(cache):
                start = time.process_time()
                schedules[size] = mtus_dsl.load([directory])
                warm = time.process_time() - start
            passes = ", ".join(f"{name} {ms(t)}" for name, t in result["passes"].items())
            lines.append(
                f"{size:>6d} {sections:>8d} {ms(result['load']):>13s} {result['maxrss'] / 2**20:>5.0f} MiB "
                f"{result['generated_lines']:>10d} {result['generated_lines'] / size:>10.2f} {ms(warm):>13s}   "
                f"{passes}"
            )
    big = results[SIZES[-1]]
    rows.append(Row(f"[5] cold load of {SIZES[-1]:,} rules, fresh process, CPU", ms(big["load"]),
                    f"{ms(results[SIZES[0]]['load'])} at {SIZES[0]}", f"{big['load'] / results[SIZES[0]]['load']:.0f}x",
                    f"<= {TARGET_LOAD_CPU:.0f} s", verdict(big["load"] <= TARGET_LOAD_CPU)))
    rows.append(Row(f"[5] peak RSS of that process", f"{big['maxrss'] / 2**20:.0f} MiB",
                    f"{results[SIZES[0]]['maxrss'] / 2**20:.0f} MiB at {SIZES[0]}", "",
                    "<= 1024 MiB", verdict(big["maxrss"] <= TARGET_RSS)))
    per_rule = {size: results[size]["generated_lines"] / size for size in SIZES}
    spread = max(per_rule.values()) / min(per_rule.values())
    rows.append(Row("[5] generated lines per rule, 100 / 1,000 / 10,000",
                    " / ".join(f"{per_rule[s]:.1f}" for s in SIZES), "max/min", f"{spread:.2f}x",
                    f"<= {TARGET_LINES}x", verdict(spread <= TARGET_LINES)))
    marginal = (results[SIZES[-1]]["generated_lines"] - results[SIZES[0]]["generated_lines"]) / (SIZES[-1] - SIZES[0])
    rows.append(Row("    generated lines per added rule, 100 -> 10,000", f"{marginal:.1f}"))
    peaks = big.get("peaks", {})
    if peaks:
        lines.append(f"peak RSS of the {SIZES[-1]:,}-rule load after each pass: "
                     + ", ".join(f"{name} {value / 2**20:.0f} MiB" for name, value in peaks.items())
                     + f"; at the end {big['maxrss'] / 2**20:.0f} MiB (cache entry written)")

    # The same decisions at every size (trace sources aside: the files live in different directories).
    cases = {}
    for label, score in BAND_CASES:
        data = band_case(score)
        reference = _normalised(schedules[SIZES[0]].decide(data))
        for size in SIZES:
            assert _normalised(schedules[size].decide(data)) == reference, f"{label}: differs at {size} rules"
        cases[label] = {size: schedules[size].case(data) for size in SIZES}
    fns: dict[str, Callable[[], object]] = {}
    for label, _score in BAND_CASES:
        for size in SIZES:
            schedule, case = schedules[size], cases[label][size]
            fns[f"decide {label} {size}"] = lambda s=schedule, c=case: s.decide(c)
            fns[f"outcome {label} {size}"] = lambda s=schedule, c=case: s.outcome(c)
    t = {name: v.best for name, v in compare(fns, rounds).items()}
    lines += ["", f"section 0 ({REFERENCE_RULES} rules at every size): CPU time per call",
              f"{'request':30s} " + " ".join(f"{'decide ' + str(s):>13s}" for s in SIZES)
              + " " + " ".join(f"{'outcome ' + str(s):>14s}" for s in SIZES)]
    totals = {(fn, size): 0.0 for fn in ("decide", "outcome") for size in SIZES}
    for label, _score in BAND_CASES:
        cells = []
        for fn in ("decide", "outcome"):
            for size in SIZES:
                value = t[f"{fn} {label} {size}"]
                totals[fn, size] += value
                cells.append(f"{us(value):>{13 if fn == 'decide' else 14}s}")
        lines.append(f"{label:30s} " + " ".join(cells))
    first, last = SIZES[0], SIZES[-1]
    for fn, target in (("decide", True), ("outcome", False)):
        for size in SIZES[1:]:
            ratio = totals[fn, size] / totals[fn, first]
            figure = f"[5] {fn}() at {size:,} rules vs {first} (sum of {len(BAND_CASES)})" if target and size == last \
                else f"    {fn}() at {size:,} rules vs {first} (sum of {len(BAND_CASES)})"
            rows.append(Row(figure, us(totals[fn, size]), f"{us(totals[fn, first])} at {first}", f"{ratio:.2f}x",
                            f"<= {TARGET_FLAT}x" if figure.startswith("[5]") else "",
                            verdict(ratio <= TARGET_FLAT) if figure.startswith("[5]") else ""))
    worst = max(BAND_CASES, key=lambda case: t[f"decide {case[0]} {last}"] / t[f"decide {case[0]} {first}"])[0]
    ratio = t[f"decide {worst} {last}"] / t[f"decide {worst} {first}"]
    rows.append(Row(f"    decide() at {last:,} vs {first}, worst request: {worst}", us(t[f"decide {worst} {last}"]),
                    f"{us(t[f'decide {worst} {first}'])} at {first}", f"{ratio:.2f}x"))
    cost = t[f"outcome last band {first}"] - t[f"outcome first band {first}"]
    rows.append(Row("    each band rule checked before the match (outcome)", us(cost / (REFERENCE_RULES - 2)),
                    f"first band {us(t[f'outcome first band {first}'])}", "", "", ""))
    if not quick:
        found, more = _realistic(rounds)
        rows += found
        lines += ["", *more]
    return rows, lines


def _realistic(rounds: int | None) -> tuple[list[Row], list[str]]:
    """The older realistic-shaped corpora (1x, 10x, 100x the benchmark corpus): the seed decision, for information."""
    assert base_rule_count() == 5, "synthetic.write_corpus assumes the benchmark corpus has 5 rules and caps"
    schedules = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (1, 10, 100):
            directory = Path(tmp) / f"x{scale}"
            write_corpus(directory, scale)
            schedules[scale] = mtus_dsl.load([directory])
    reference = _normalised(schedules[1].decide(SEED))
    fns: dict[str, Callable[[], object]] = {}
    for scale, schedule in schedules.items():
        assert _normalised(schedule.decide(SEED)) == reference, f"the seed decision changes at {scale}x"
        case = schedule.case(SEED)
        fns[f"decide {scale}"] = lambda s=schedule, c=case: s.decide(c)
    t = compare(fns, rounds)
    rows = []
    for scale in (10, 100):
        ratio = t[f"decide {scale}"].best / t["decide 1"].best
        rows.append(Row(f"    realistic corpus {scale}x ({len(schedules[scale].program.rules)} rules): seed decide",
                        us(t[f"decide {scale}"].best), f"{us(t['decide 1'].best)} at 1x", f"{ratio:.2f}x"))
    lines = ["realistic corpora (benchmark corpus + code sets, caps, inputs): "
             + ", ".join(f"{scale}x {len(s.program.rules)} rules" for scale, s in schedules.items())]
    return rows, lines


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2])
    else:
        rows, lines = run()
        print("\n".join(lines))
        for row in rows:
            print(row)
