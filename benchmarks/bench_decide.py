"""Targets 1 and 2: a compiled decision against the hand-written baseline and against the interpreter.

Every benchmark case is first decided by all three (compiled code, interpreter,
hand-written function), from a validated Case and from the dict, and the
decisions are asserted equal: rationale, citations and trace included. Then
`engine.decide(case)` is timed on the validated Case for compiled code and
interpreter, and the hand-written `decide(case)` on the same Case; validation
is timed separately and in the end-to-end figures (from the dict).
"""

from __future__ import annotations

from typing import Any

import handwritten
from cases import CASES, SEED
from synthetic import CORPUS
from timing import Row, compare, kib, memory, us, verdict

import mtus_dsl

TARGET_HANDWRITTEN = 1.5  # compiled time / hand-written time, at most
TARGET_INTERPRETER = 20.0  # interpreter time / compiled time, at least


def load_schedule() -> mtus_dsl.Schedule:
    """The benchmark corpus, compiled; the hand-written baseline told where its files are."""
    schedule = mtus_dsl.load([CORPUS])
    handwritten.use_sources(schedule.sources)
    return schedule


def verify(schedule: mtus_dsl.Schedule) -> list[tuple[str, dict[str, Any], mtus_dsl.Case]]:
    """Assert that the three deciders agree on every benchmark case; return the validated cases."""
    checked = []
    for label, data in CASES:
        case = schedule.case(data)
        compiled = schedule.engine.decide(case)
        assert compiled == schedule.interpreter.decide(case), f"{label}: compiled and interpreter differ"
        assert compiled == handwritten.decide(case), f"{label}: compiled and hand-written differ"
        assert schedule.decide(data) == handwritten.decide_dict(data, schedule.schema) == compiled, label
        checked.append((label, data, case))
    return checked


def run(rounds: int | None = None) -> tuple[list[Row], list[str]]:
    """Time the deciders; return the summary rows and a per-case table."""
    schedule = load_schedule()
    cases = verify(schedule)
    compiled_engine, interpreter, hand = schedule.engine, schedule.interpreter, handwritten.decide

    lines = [
        f"{'case':38s} {'hand-written':>13s} {'compiled':>10s} {'interpreter':>12s} "
        f"{'comp/hand':>10s} {'interp/comp':>12s}"
    ]
    totals = {"hand": 0.0, "compiled": 0.0, "interpreter": 0.0}
    seed: dict[str, float] = {}
    for label, _data, case in cases:
        t = compare(
            {
                "hand": lambda c=case: hand(c),
                "compiled": lambda c=case: compiled_engine.decide(c),
                "interpreter": lambda c=case: interpreter.decide(c),
            },
            rounds,
        )
        for name in totals:
            totals[name] += t[name].best
        if not seed:
            seed = {name: t[name].best for name in t}
        lines.append(
            f"{label:38s} {us(t['hand'].best):>13s} {us(t['compiled'].best):>10s} {us(t['interpreter'].best):>12s} "
            f"{t['compiled'].best / t['hand'].best:>9.2f}x {t['interpreter'].best / t['compiled'].best:>11.2f}x"
        )
    lines.append(
        f"{'all cases (sum)':38s} {us(totals['hand']):>13s} {us(totals['compiled']):>10s} "
        f"{us(totals['interpreter']):>12s} {totals['compiled'] / totals['hand']:>9.2f}x "
        f"{totals['interpreter'] / totals['compiled']:>11.2f}x"
    )

    rows = []
    for what, per in (("seed case", seed), (f"all {len(cases)} cases", totals)):
        ratio = per["compiled"] / per["hand"]
        rows.append(Row(f"[1] compiled vs hand-written, {what}", us(per["compiled"]), us(per["hand"]) + " hand-written",
                        f"{ratio:.2f}x", f"<= {TARGET_HANDWRITTEN}x", verdict(ratio <= TARGET_HANDWRITTEN)))
    for what, per in (("seed case", seed), (f"all {len(cases)} cases", totals)):
        ratio = per["interpreter"] / per["compiled"]
        rows.append(Row(f"[2] interpreter vs compiled, {what}", us(per["compiled"]),
                        us(per["interpreter"]) + " interp.", f"{ratio:.1f}x faster",
                        f">= {TARGET_INTERPRETER:.0f}x", verdict(ratio >= TARGET_INTERPRETER)))

    # End to end from the dict: validation (Case.from_dict) included, for all three.
    schema = schedule.schema
    e2e = compare(
        {
            "validate": lambda: mtus_dsl.Case.from_dict(SEED, schema),
            "hand": lambda: handwritten.decide_dict(SEED, schema),
            "compiled": lambda: schedule.decide(SEED),
            "interpreter": lambda: schedule.interpret(SEED),
        },
        rounds,
    )
    rows.append(Row("    seed from a dict: compiled (validation incl.)", us(e2e["compiled"].best),
                    us(e2e["hand"].best) + " hand-written", f"{e2e['compiled'].best / e2e['hand'].best:.2f}x"))
    rows.append(Row("    seed from a dict: interpreter", us(e2e["interpreter"].best), us(e2e["compiled"].best)
                    + " compiled", f"{e2e['interpreter'].best / e2e['compiled'].best:.2f}x"))
    rows.append(Row("    of which validation (Case.from_dict)", us(e2e["validate"].best)))

    seed_case = cases[0][2]
    for name, fn in (
        ("hand-written", lambda: hand(seed_case)),
        ("compiled", lambda: compiled_engine.decide(seed_case)),
        ("interpreter", lambda: interpreter.decide(seed_case)),
        ("compiled, from the dict", lambda: schedule.decide(SEED)),
    ):
        peak, held = memory(fn)
        rows.append(Row(f"    memory per decision, {name}", f"peak {kib(peak)}", f"held after {kib(held)}"))
    return rows, lines
