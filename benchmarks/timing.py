"""Timing helpers: interleaved rounds of CPU time, per-call minimum and median, tracemalloc peaks.

The machine is shared and noisy, so every figure is a ratio against a baseline
measured in the same run, and the functions being compared are timed in
interleaved rounds (A, B, C, A, B, C, ...): a burst of load elsewhere hits all
of them alike instead of one of them. Times are CPU time of this process
(`time.process_time`, every thread included: a native engine's worker threads
count too), so time spent waiting for the CPU while other processes run is not
counted. Ratios use the per-call minimum over the rounds (the least disturbed
run); the median is shown next to it.
"""

from __future__ import annotations

import gc
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping
from typing import Any

import attrs

#: Each timed round runs a function for at least this long (seconds).
ROUND_SECONDS = 0.02
#: Rounds per function (set lower by run.py --quick).
ROUNDS = 9
#: The clock every comparison uses: CPU time of this process (all threads), in seconds.
clock = time.process_time


@attrs.frozen
class Timing:
    """Seconds per call: the minimum and the median over the rounds."""

    best: float
    median: float

    @property
    def us(self) -> float:
        """Best time per call in microseconds."""
        return self.best * 1e6


def _calls_per_round(fn: Callable[[], Any]) -> int:
    number = 1
    while True:
        start = clock()
        for _ in range(number):
            fn()
        elapsed = clock() - start
        if elapsed >= ROUND_SECONDS / 4 or number >= 1 << 20:
            return max(1, round(number * ROUND_SECONDS / max(elapsed, 1e-9)))
        number *= 4


def compare(fns: Mapping[str, Callable[[], Any]], rounds: int | None = None) -> dict[str, Timing]:
    """Time each function in interleaved rounds; return CPU seconds per call for each."""
    rounds = rounds or ROUNDS
    numbers = {name: _calls_per_round(fn) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: collections would land on whichever function is running
    try:
        for _ in range(rounds):
            for name, fn in fns.items():
                number = numbers[name]
                start = clock()
                for _ in range(number):
                    fn()
                samples[name].append((clock() - start) / number)
            gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Timing(min(s), statistics.median(s)) for name, s in samples.items()}


def once(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run `fn` once; return its result and the CPU seconds it took."""
    start = clock()
    result = fn()
    return result, clock() - start


def memory(fn: Callable[[], Any]) -> tuple[int, int]:
    """Run `fn` once under tracemalloc (warm it up first): (peak bytes allocated, bytes still held after)."""
    fn()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak - before, current - before


@attrs.frozen
class Row:
    """One line of the results table."""

    figure: str
    measured: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    status: str = ""  # PASS, FAIL or "" (for information)


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def us(seconds: float) -> str:
    """Format seconds as microseconds."""
    return f"{seconds * 1e6:.2f} us"


def ms(seconds: float) -> str:
    """Format seconds as milliseconds."""
    return f"{seconds * 1e3:.1f} ms"


def kib(n: int) -> str:
    """Format a byte count."""
    return f"{n / 1024:.1f} KiB" if abs(n) >= 1024 else f"{n} B"


def peak_rss() -> int:
    """This process's own peak RSS in bytes: VmHWM on Linux (getrusage's maxrss keeps the forking parent's peak
    across exec, so a child started by a large parent reports the parent's), else getrusage's."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux

