"""Where a compiled decision's time goes: a stage breakdown, the explanation's pieces, and cProfile.

Run by run.py when a decision target ([1] or [2]) is missed (or always with
--profile); run alone with `/tmp/venv/bin/python benchmarks/profile_decide.py`.

The breakdown times growing prefixes of one decision of the seed case, in CPU
time and interleaved rounds: making the Facts; computing every derived fact;
checking every rule and cap of the case's bucket (more than `settle` does: it
stops at the governing rule); `Engine.settle` alone (the whole procedure);
`Engine.outcome`; `Engine.decide` (a Decision with its explanation deferred);
and `decide` with the rationale, citations and trace read. The explanation's
pieces (trace, rationale templates, fact explanations, sentences) are then
timed one by one. cProfile's own overhead inflates small calls, so its tables
are for ranking, and the breakdown for the microseconds.
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
from mtus_dsl import engine as en
from mtus_dsl import text


def _read(decision: mtus_dsl.Decision) -> mtus_dsl.Decision:
    decision.rationale
    decision.citations
    decision.trace
    return decision


def _prefixes(engine: en.Engine, case: mtus_dsl.Case) -> dict[str, Callable[[], Any]]:
    values = case.values
    bucket = engine.buckets[(values["service"], values["body_region"])]
    handles = bucket.rules + bucket.caps
    derived_names = tuple(engine.facts_plan)
    quantity = values["quantity"]

    def facts() -> Any:
        return engine.facts(case)

    def derived() -> Any:
        f = engine.facts(case)
        for name in derived_names:
            f[name]
        return f

    def checks() -> Any:
        f = derived()
        for handle in handles:
            engine.check(handle, f)
        return f

    return {
        "facts": facts,
        "derived": derived,
        "checks": checks,
        "settle": lambda: engine.settle(engine.facts(case), bucket, quantity),
        "outcome": lambda: engine.outcome(case),
        "decide": lambda: engine.decide(case),
        "read": lambda: _read(engine.decide(case)),
    }


def breakdown(rounds: int | None = None) -> list[str]:
    """Stage times of the seed decision, compiled and interpreted, and the explanation's pieces."""
    schedule = load_schedule()
    case = schedule.case(SEED)
    results = {}
    for name, engine in (("compiled", schedule.engine), ("interpreter", schedule.interpreter)):
        fns = _prefixes(engine, case)
        t = compare(fns, rounds)
        results[name] = {k: v.best for k, v in t.items()}
    c, i = results["compiled"], results["interpreter"]
    rows = [
        ("make the Facts (Engine.facts)", c["facts"], i["facts"]),
        ("  + every derived fact (conditions, ...)", c["derived"] - c["facts"], i["derived"] - i["facts"]),
        ("  + check every rule and cap of the bucket", c["checks"] - c["derived"], i["checks"] - i["derived"]),
        ("Engine.settle (facts + the procedure)", c["settle"], i["settle"]),
        ("Engine.outcome (settle + dispatch, wrapper)", c["outcome"], i["outcome"]),
        ("Engine.decide, explanation deferred", c["decide"], i["decide"]),
        ("  of which beyond outcome (Decision, Explanation)", c["decide"] - c["outcome"],
         i["decide"] - i["outcome"]),
        ("decide + rationale, citations, trace read", c["read"], i["read"]),
        ("  of which rendering the explanation", c["read"] - c["decide"], i["read"] - i["decide"]),
    ]
    lines = [f"{'seed decision, stage (CPU time)':52s} {'compiled':>10s} {'interpreter':>12s} {'ratio':>7s}"]
    for label, a, b in rows:
        lines.append(f"{label:52s} {us(a):>10s} {us(b):>12s} {b / a if a > 0 else float('nan'):>6.1f}x")
    lines.append("")
    lines += _explanation_pieces(schedule, case, rounds)
    return lines


def _explanation_pieces(schedule: mtus_dsl.Schedule, case: mtus_dsl.Case, rounds: int | None) -> list[str]:
    """Time the pieces of the seed decision's explanation one by one (internal API: best effort)."""
    engine = schedule.engine
    values = case.values
    try:
        bucket = engine.buckets[(values["service"], values["body_region"])]
        facts = engine.facts(case)
        settled = engine.settle(facts, bucket, values["quantity"])
        rule, allowance = settled.rule, settled.allowance
        numbers = {
            "requested": values["quantity"], "approved": settled.approved, "limit": allowance.limit,
            "prior": allowance.prior, "allowed": allowance.allowed, "period": allowance.period, "unit": rule.unit,
        }
        explanation = text.Explanation(engine, values, facts, bucket, settled)
        explanation()  # every fact the explanation reads is now computed
        decision = _read(engine.decide(case))
        calls: dict[str, Callable[[], Any]] = {
            "Explanation() (citations, rationale and trace)": explanation,
            "  Explanation.trace() (one entry per rule and cap)": explanation.trace,
            f"  the rationale of '{rule.name}' (template + show())": lambda: text._rationale(rule, facts, numbers),
            "  sentence() (per rationale sentence)": lambda: text.sentence(decision.rationale),
            "  TraceEntry(...) (one per entry)": lambda: text._entry(rule, "governs", "applies to this request"),
            "Decision.deferred(...) (decide's record)": lambda: mtus_dsl.Decision.deferred(
                decision.id, decision.outcome, decision.requested, decision.approved, decision.missing,
                decision.rules, decision.unit, explanation),
            "Engine.allowance (the governing rule)": lambda: engine.allowance(rule, facts, values["quantity"]),
        }
        for name in rule.explained:
            explain = engine.facts_plan[name].explain
            if explain is not None:
                calls[f"  explain fact '{name}' (template + show())"] = lambda e=explain, n=name: e(facts, facts[n])
        if "surgeries" in values:
            calls["  show(surgeries)"] = lambda: text.show(values["surgeries"])
    except (AttributeError, KeyError, IndexError, TypeError) as error:  # the kernel changed shape
        return [f"(explanation pieces not timed: {error!r})"]
    t = compare(calls, rounds)
    lines = [f"{'piece of the seed decision (compiled, CPU time)':52s} {'each':>10s}"]
    lines += [f"{label:52s} {us(v.best):>10s}" for label, v in t.items()]
    return lines


def cprofile(top: int = 14, decisions: int = 20000) -> list[str]:
    """cProfile of compiled seed decisions: outcome(), then decide() with the explanation read."""
    schedule = load_schedule()
    case = schedule.case(SEED)
    engine = schedule.engine
    lines: list[str] = []
    for what, fn in (("outcome()", lambda: engine.outcome(case)),
                     ("decide() with the explanation read", lambda: _read(engine.decide(case)))):
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(decisions):
            fn()
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        total = stats.total_tt  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(top)
        keep = []
        started = False
        for line in out.getvalue().splitlines():
            if line.strip().startswith("ncalls"):
                started = True
                line = line + "   (% of own time)"
            elif started and line.strip():
                try:
                    share = float(line.split()[1]) / total * 100
                    line = f"{line}   {share:4.1f}%"
                except (ValueError, IndexError):
                    pass
            if started and line.strip():
                keep.append(line.replace(str(mtus_dsl.__file__).rsplit("/", 1)[0] + "/", "mtus_dsl/"))
        lines += [f"cProfile, {decisions} compiled seed {what} (per-call figures inflated by the profiler):", *keep, ""]
    return lines


if __name__ == "__main__":
    print("\n".join(breakdown()))
    print()
    print("\n".join(cprofile()))
