"""Target 4: decision time stays flat as the corpus grows (dispatch on service and body region).

Synthetic corpora of 1x, 10x and 100x the benchmark corpus's rules are written
to a temporary directory (see synthetic.py) and loaded in this process. The
seed case is decided by each, and the decisions are asserted equal (trace
sources aside: the files live in different directories). Then the seed
decision is timed on all of them in interleaved rounds, so the ratios against
1x compare like with like.
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import attrs
from cases import SEED
from synthetic import base_rule_count, write_corpus
from timing import Row, compare, kib, memory, ms, us, verdict

import mtus_dsl

SCALES = (1, 10, 100)
#: Flat means: at most this much slower than at 1x (timing noise on a shared machine is a few percent).
TOLERANCE = 1.25


def _normalised(decision: mtus_dsl.Decision) -> mtus_dsl.Decision:
    trace = tuple(attrs.evolve(t, source=Path(t.source.rsplit(":", 1)[0]).name) for t in decision.trace)
    return attrs.evolve(decision, trace=trace)


def run(rounds: int | None = None) -> tuple[list[Row], list[str]]:
    """Load the synthetic corpora, check the seed decision, time it; return rows and detail lines."""
    assert base_rule_count() == 5, "synthetic.write_corpus assumes the benchmark corpus has 5 rules and caps"
    schedules: dict[int, mtus_dsl.Schedule] = {}
    lines = [
        f"{'corpus':8s} {'rules':>6s} {'guidelines':>10s} {'conditions':>10s} {'inputs':>6s} {'buckets':>8s} "
        f"{'seed bucket':>11s} {'load':>9s} {'load peak mem':>14s}"
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for scale in SCALES:
            directory = Path(tmp) / f"x{scale}"
            write_corpus(directory, scale)
            mtus_dsl.load([directory])  # warm up: imports and Lark's parser are not what grows
            start = time.perf_counter()
            schedule = mtus_dsl.load([directory])
            load_time = time.perf_counter() - start
            tracemalloc.start()
            mtus_dsl.load([directory])
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            schedules[scale] = schedule
            program = schedule.program
            bucket = schedule.engine.buckets[(SEED["service"], SEED["body_region"])]
            lines.append(
                f"{scale:>3d}x     {len(program.rules):>6d} {len(program.guidelines):>10d} "
                f"{len(program.codesets):>10d} "
                f"{len(program.schema.inputs):>6d} {len(schedule.engine.buckets):>8d} "
                f"{len(bucket.rules) + len(bucket.caps):>11d} {ms(load_time):>9s} {kib(peak):>14s}"
            )
    reference = _normalised(schedules[1].decide(SEED))
    cases = {}
    for scale, schedule in schedules.items():
        case = schedule.case(SEED)
        cases[scale] = case
        assert _normalised(schedule.decide(case)) == reference, f"the seed decision changes at {scale}x"
        assert _normalised(schedule.interpret(case)) == reference, f"the interpreter's seed decision at {scale}x"

    fns: dict[str, Callable[[], object]] = {}
    for scale, schedule in schedules.items():
        engine, interpreter, case = schedule.engine, schedule.interpreter, cases[scale]
        fns[f"compiled {scale}x"] = lambda e=engine, c=case: e.decide(c)
        fns[f"dict {scale}x"] = lambda s=schedule: s.decide(SEED)
        fns[f"interpreter {scale}x"] = lambda i=interpreter, c=case: i.decide(c)
    t = compare(fns, rounds)

    rows = []
    for scale in SCALES[1:]:
        ratio = t[f"compiled {scale}x"].best / t["compiled 1x"].best
        rows.append(Row(f"[4] seed decision, compiled, {scale}x rules", us(t[f"compiled {scale}x"].best),
                        us(t["compiled 1x"].best) + " at 1x", f"{ratio:.2f}x", f"<= {TOLERANCE}x",
                        verdict(ratio <= TOLERANCE)))
    for scale in SCALES[1:]:
        ratio = t[f"dict {scale}x"].best / t["dict 1x"].best
        rows.append(Row(f"[4] seed from a dict (validation incl.), {scale}x", us(t[f"dict {scale}x"].best),
                        us(t["dict 1x"].best) + " at 1x", f"{ratio:.2f}x", f"<= {TOLERANCE}x",
                        verdict(ratio <= TOLERANCE)))
    for scale in SCALES[1:]:
        ratio = t[f"interpreter {scale}x"].best / t["interpreter 1x"].best
        rows.append(Row(f"    seed decision, interpreter, {scale}x rules", us(t[f"interpreter {scale}x"].best),
                        us(t["interpreter 1x"].best) + " at 1x", f"{ratio:.2f}x"))
    for scale in (SCALES[0], SCALES[-1]):
        case = cases[scale]
        engine = schedules[scale].engine
        peak, _held = memory(lambda e=engine, c=case: e.decide(c))
        rows.append(Row(f"    memory per decision, compiled, {scale}x", f"peak {kib(peak)}"))
    return rows, lines
