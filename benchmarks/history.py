"""Time ``Buffer.feature_history`` in process, without HTTP.

    python -m benchmarks.history            # 7 repetitions
    python -m benchmarks.history --repeat 3 --profile

A full buffer of 100,000 rows and 4 columns (values in [0, 100] with two decimals),
windows [10, 50, 200] and lags [1, 5, 10], the shape of the history rows of
``benchmarks.run``. Prints the median and every time in seconds; ``--profile`` also
prints the 15 functions with the most time of their own under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np

from bufferkit.buffer import Buffer
from bufferkit.config import BufferConfig

ROWS = 100_000
COLUMNS = ("cpu", "memory", "disk_io", "network")


def full_buffer(rows: int = ROWS) -> Buffer:
    """Return a full buffer of ``rows`` rows of metric-like values."""
    buffer = Buffer(
        BufferConfig(
            "history",
            COLUMNS,
            max_size=rows,
            rolling_windows=(10, 50, 200),
            lag_periods=(1, 5, 10),
        )
    )
    values = np.round(np.random.default_rng(0).uniform(0, 100, (4, rows)), 2)
    buffer.append_columns(values)
    return buffer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.history", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    buffer = full_buffer()
    buffer.feature_history()  # warm-up
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        buffer.feature_history()
        times.append(time.perf_counter() - start)
    listed = ", ".join(f"{value:.3f}" for value in times)
    print(f"median {statistics.median(times):.3f} s of {args.repeat}: {listed}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(buffer.feature_history)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
