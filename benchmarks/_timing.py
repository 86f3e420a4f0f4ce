"""Timing shared by the benchmarks: the median of repeated calls after warm-up calls."""

import statistics
import time


def median_seconds(fn, repeats, warmup=2):
    """Median wall time of `fn()` over `repeats` calls, after `warmup` untimed calls (tracing, compiling)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
