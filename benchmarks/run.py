"""Run every benchmark and print one table of figures, ratios and PASS/FAIL against the targets.

    /tmp/venv/bin/python benchmarks/run.py            # everything (about a minute)
    /tmp/venv/bin/python benchmarks/run.py --quick    # fewer rounds and processes: a rough look
    /tmp/venv/bin/python benchmarks/run.py --only decide,scale --profile

Targets (from the issue):
  [1] a compiled decision within 1.5x of a hand-written Python function making the same decision
  [2] compiled code at least 20x faster than the interpreter
  [3] loading the whole corpus (parse, check, compile) under 150 ms
  [4] decision time flat as the corpus grows (1x, 10x, 100x the rules)
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import timing  # noqa: E402
from timing import Row  # noqa: E402

SECTIONS = ("decide", "load", "scale")


def _header() -> list[str]:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                                check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    return [
        f"mtus-dsl benchmarks, {datetime.datetime.now().isoformat(timespec='seconds')}, "
        f"commit {commit or '?'}{' (working tree modified)' if dirty else ''}",
        f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.machine()}, "
        f"{platform.system()}; times are per call, best of {timing.ROUNDS} interleaved rounds",
    ]


def _table(rows: list[Row]) -> list[str]:
    widths = [52, 12, 26, 12, 10, 6]
    head = ("figure", "measured", "baseline / detail", "ratio", "target", "")
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(), "-" * (sum(widths) + 2 * 5)]
    for r in rows:
        cells = (r.figure, r.measured, r.baseline, r.ratio, r.target, r.status)
        out.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and processes (noisier)")
    parser.add_argument("--profile", action="store_true", help="always print the profile of a compiled decision")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    if args.quick:
        timing.ROUNDS, timing.ROUND_SECONDS = 3, 0.005

    for line in _header():
        print(line)
    rows: list[Row] = []
    if "decide" in only:
        import bench_decide

        print("\n== [1] [2] one decision: hand-written, compiled, interpreter (validated Case; decisions asserted "
              "equal) ==")
        found, lines = bench_decide.run()
        print("\n".join(lines))
        rows += found
    if "load" in only:
        import bench_load

        print("\n== [3] loading the shipped corpus: mtus_dsl.load() ==")
        found, lines = bench_load.run(processes=3 if args.quick else 7, warm_rounds=5 if args.quick else 15)
        print("\n".join(lines))
        rows += found
    if "scale" in only:
        import bench_scale

        print("\n== [4] the seed decision as the corpus grows (synthetic corpora) ==")
        found, lines = bench_scale.run()
        print("\n".join(lines))
        rows += found
    missed_handwritten = any(r.figure.startswith("[1]") and r.status == "FAIL" for r in rows)
    if args.profile or missed_handwritten:
        import profile_decide

        print("\n== where a compiled decision's time goes (printed because "
              f"{'--profile was given' if args.profile else 'target [1] is missed'}) ==")
        print("\n".join(profile_decide.breakdown()))
        print()
        print("\n".join(profile_decide.cprofile()))

    print("\n== summary ==")
    print("\n".join(_table(rows)))
    failed = [r for r in rows if r.status == "FAIL"]
    passed = [r for r in rows if r.status == "PASS"]
    print(f"\n{len(passed)} PASS, {len(failed)} FAIL")
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
