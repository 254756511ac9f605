"""Where a compiled decision's time goes: a stage breakdown, the runtime calls it makes, and cProfile.

Run by run.py when the compiled code misses its target against the
hand-written baseline (or always with --profile); run alone with
`/tmp/venv/bin/python benchmarks/profile_decide.py`.

The breakdown times growing prefixes of one decision of the seed case:
making the Facts, then computing the derived facts, then checking the rules
of the case's service and region; the rest of `Engine._decide` (allowances,
caps, trace, rationale, explanation, the Decision) is the full decision minus
those. cProfile's own overhead inflates small calls, so its table is for
ranking, and the breakdown for the microseconds.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from typing import Any

from bench_decide import load_schedule
from cases import SEED
from timing import compare, us

import mtus_dsl
from mtus_dsl import runtime as rt


def _prefixes(engine: rt.Engine, case: mtus_dsl.Case) -> dict[str, Callable[[], Any]]:
    bucket = engine.buckets[(case.values["service"], case.values["body_region"])]
    handles = bucket.rules + bucket.caps

    def facts() -> Any:
        return engine.facts(case)

    def derived() -> Any:
        f = engine.facts(case)
        for name in engine.derive:
            f[name]
        return f

    def checks() -> Any:
        f = derived()
        for handle in handles:
            engine.applies(handle, f)
        return f

    def full() -> Any:
        return engine.decide(case)

    return {"facts": facts, "derived": derived, "checks": checks, "full": full}


def breakdown(rounds: int | None = None) -> list[str]:
    """Stage times of the seed decision, compiled and interpreted, and the hot runtime calls."""
    schedule = load_schedule()
    case = schedule.case(SEED)
    lines = []
    results = {}
    for name, engine in (("compiled", schedule.engine), ("interpreter", schedule.interpreter)):
        t = compare(_prefixes(engine, case), rounds)
        results[name] = {k: v.best for k, v in t.items()}
    c, i = results["compiled"], results["interpreter"]
    rows = [
        ("make the Facts (inputs, unknowns)", c["facts"], i["facts"]),
        ("derived facts (conditions, post_surgical, ...)", c["derived"] - c["facts"], i["derived"] - i["facts"]),
        ("rule and cap checks (Engine.applies)", c["checks"] - c["derived"], i["checks"] - i["derived"]),
        ("the rest of Engine._decide (shared code)", c["full"] - c["checks"], i["full"] - i["checks"]),
        ("whole decision", c["full"], i["full"]),
    ]
    lines.append(f"{'seed decision, stage':48s} {'compiled':>10s} {'interpreter':>12s} {'ratio':>7s}")
    for label, a, b in rows:
        lines.append(f"{label:48s} {us(a):>10s} {us(b):>12s} {b / a:>6.1f}x")
    evaluation_c = c["checks"] - c["facts"]
    evaluation_i = i["checks"] - i["facts"]
    lines.append(
        f"{'rule evaluation only (derived facts + checks)':48s} {us(evaluation_c):>10s} {us(evaluation_i):>12s} "
        f"{evaluation_i / evaluation_c:>6.1f}x"
    )
    lines.append("")
    lines += _runtime_calls(schedule, case, rounds)
    return lines


def _runtime_calls(schedule: mtus_dsl.Schedule, case: mtus_dsl.Case, rounds: int | None) -> list[str]:
    """Time the runtime calls the shared tail makes for the seed case, one by one (private API: best effort)."""
    engine = schedule.engine
    decision = engine.decide(case)
    try:
        facts = engine.facts(case)
        rule = engine.rules[decision.rules[0]]
        allowance = engine.allowance(rule, facts, decision.requested)
        numbers = {
            "requested": decision.requested, "approved": decision.approved, "limit": allowance.limit,
            "prior": allowance.prior, "allowed": allowance.allowed, "period": allowance.period,
            "unit": rule.meta.unit,
        }
        explained = rule.meta.explained[0] if rule.meta.explained else None
        if explained is not None:
            facts[explained]
        calls: dict[str, Callable[[], Any]] = {
            "Engine.allowance (per governing rule and cap)": lambda: engine.allowance(rule, facts,
                                                                                        decision.requested),
            "Engine._rationale (template + show())": lambda: engine._rationale(rule, facts, numbers),
            "TraceEntry(...) (one per case-dependent line)": lambda: rt._entry(rule, "applies", "allows 20 more"),
            "Decision(...)": lambda: mtus_dsl.Decision(
                decision.id, decision.outcome, decision.requested, decision.approved, decision.citations,
                decision.rationale, decision.missing, decision.trace, decision.rules, decision.unit),
            "sentence() (per rationale sentence)": lambda: rt.sentence(decision.rationale),
        }
        if explained is not None:
            calls[f"explain {explained} (template + show())"] = lambda: engine.explain[explained](
                facts, facts[explained])
        if "surgeries" in case.values:
            calls["  of which show(surgeries)"] = lambda: rt.show(case.values["surgeries"])
    except (AttributeError, KeyError, IndexError, TypeError) as error:  # the runtime changed shape
        return [f"(runtime calls not timed: {error!r})"]
    t = compare(calls, rounds)
    lines = [f"{'runtime call in the shared tail (seed case)':48s} {'each':>10s}"]
    lines += [f"{label:48s} {us(v.best):>10s}" for label, v in t.items()]
    return lines


def cprofile(top: int = 14, decisions: int = 20000) -> list[str]:
    """cProfile of compiled seed decisions: the functions with the most own time."""
    schedule = load_schedule()
    case = schedule.case(SEED)
    engine = schedule.engine
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(decisions):
        engine.decide(case)
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    keep = []
    started = False
    for line in text.splitlines():
        if line.strip().startswith("ncalls"):
            started = True
        if started and line.strip():
            keep.append(line.replace(str(mtus_dsl.__file__).rsplit("/", 1)[0] + "/", "mtus_dsl/"))
    return [f"cProfile, {decisions} compiled seed decisions (per-call figures inflated by the profiler):", *keep]


if __name__ == "__main__":
    print("\n".join(breakdown()))
    print()
    print("\n".join(cprofile()))
