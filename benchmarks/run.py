"""Benchmark bufferkit over loopback HTTP and print a Markdown report.

    python -m benchmarks.run            # full run, about a minute and a half
    python -m benchmarks.run --quick    # fewer repetitions, under a minute

The benchmark process is the client. It starts, each as a process of its own on a free
loopback port, a trivial Tornado handler (the baseline), ``bufferkit serve`` and, when
the extension is importable, ``jupyter server`` with the bufferkit extension and a
token. Every request goes over a keep-alive ``http.client`` connection. Latencies are
measured in blocks that alternate with blocks of baseline round trips, so each ratio
compares numbers taken under the same load on this shared machine.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata

import orjson
import polars as pl
import psutil

from benchmarks.client import Connection
from benchmarks.hosts import (
    Host,
    extension_available,
    start_baseline,
    start_jupyter,
    start_standalone,
)

COLUMNS = ("cpu", "memory", "disk_io", "network")
WINDOWS = [10, 50, 200]
LAGS = [1, 5, 10]
FULL_SIZE = 10_000
#: Different bodies of each size, sent in turn.
BODY_VARIANTS = 4


ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: Rows of the buffer the feature history rows read.
HISTORY_SIZE = 100_000


def _untargeted(p50: float, rate: float, ratio: float) -> bool:
    return True


@dataclass(frozen=True)
class Operation:
    """One measured request kind, its target and its reference figure.

    ``request`` is the request's method and path under the buffer; ``body`` names
    its pool of bodies (``"rows"``, ``"columns"`` or ``"arrow"``) for appends;
    ``repetitions`` is the key of its count in ``Settings.iterations``. Operations
    with ``history`` set read the full ``HISTORY_SIZE``-row buffer.
    """

    label: str
    rows: int  # rows appended or read per request; 0 for features
    target: str
    #: The figure an earlier document of the API gave for this request, or "-".
    reference: str
    check: Callable[[float, float, float], bool]  # (p50 s, rows/s, ratio) -> met
    request: tuple[str, str]
    repetitions: str
    body: str = "rows"
    history: bool = False

    @property
    def targeted(self) -> bool:
        return self.check is not _untargeted


def _append(
    label: str,
    rows: int,
    target: str,
    reference: str,
    check: Callable[[float, float, float], bool],
) -> Operation:
    return Operation(
        label, rows, target, reference, check, ("POST", "/append"), f"append {rows}"
    )


OPERATIONS = (
    _append(
        "append 1 row",
        1,
        "p50 <= 1.5x baseline",
        "< 1 ms, ~1K rows/s",
        lambda p50, rate, ratio: ratio <= 1.5,
    ),
    _append(
        "append 100 rows",
        100,
        ">= 150K rows/s",
        "< 2 ms, ~50K rows/s",
        lambda p50, rate, ratio: rate >= 150_000,
    ),
    _append(
        "append 1,000 rows",
        1_000,
        ">= 1M rows/s",
        "< 5 ms, ~200K rows/s",
        lambda p50, rate, ratio: rate >= 1_000_000,
    ),
    _append(
        "append 10,000 rows",
        10_000,
        ">= 1.5M rows/s",
        "< 20 ms, ~500K rows/s",
        lambda p50, rate, ratio: rate >= 1_500_000,
    ),
    Operation(
        "GET /features",
        0,
        "p50 < 1 ms",
        "1-10 ms",
        lambda p50, rate, ratio: p50 < 0.001,
        ("GET", "/features"),
        "features",
    ),
    Operation(
        "GET /data?last=10000",
        10_000,
        "p50 < 6 ms",
        "1-5 ms",
        lambda p50, rate, ratio: p50 < 0.006,
        ("GET", "/data?last=10000"),
        "data",
    ),
    # Bulk paths, without a target.
    Operation(
        "append 10,000 rows, Arrow IPC stream",
        10_000,
        "-",
        "-",
        _untargeted,
        ("POST", "/append"),
        "append 10000",
        body="arrow",
    ),
    Operation(
        "append 10,000 rows, columnar JSON",
        10_000,
        "-",
        "-",
        _untargeted,
        ("POST", "/append"),
        "append 10000",
        body="columns",
    ),
    Operation(
        "GET /data?last=10000&format=arrow",
        10_000,
        "-",
        "-",
        _untargeted,
        ("GET", "/data?last=10000&format=arrow"),
        "data",
    ),
    Operation(
        "GET /features/history?last=10000 (100,000-row buffer)",
        10_000,
        "-",
        "-",
        _untargeted,
        ("GET", "/features/history?last=10000"),
        "history last",
        history=True,
    ),
    Operation(
        "GET /features/history?format=arrow (100,000-row buffer)",
        HISTORY_SIZE,
        "-",
        "-",
        _untargeted,
        ("GET", "/features/history?format=arrow"),
        "history",
        history=True,
    ),
)


@dataclass(frozen=True)
class Settings:
    """Repetitions of each measurement."""

    #: Requests of each ``Operation.repetitions`` key.
    iterations: dict[str, int]
    block: int
    scaling_sizes: tuple[int, ...]
    scaling_rounds: int
    scaling_block: dict[str, int]


FULL = Settings(
    iterations={
        "append 1": 6000,
        "append 100": 4000,
        "append 1000": 1500,
        "append 10000": 300,
        "features": 4000,
        "data": 600,
        "history last": 40,
        "history": 8,
    },
    block=50,
    scaling_sizes=(1_000, 10_000, 100_000, 1_000_000),
    scaling_rounds=10,
    scaling_block={"append 1 row": 100, "append 1,000 rows": 30, "GET /features": 100},
)
QUICK = Settings(
    iterations={
        "append 1": 1000,
        "append 100": 600,
        "append 1000": 300,
        "append 10000": 60,
        "features": 600,
        "data": 100,
        "history last": 8,
        "history": 2,
    },
    block=20,
    scaling_sizes=(1_000, 10_000, 100_000, 1_000_000),
    scaling_rounds=4,
    scaling_block={"append 1 row": 50, "append 1,000 rows": 10, "GET /features": 50},
)


def log(message: str) -> None:
    """Report progress on standard error, keeping standard output for the report."""
    print(message, file=sys.stderr, flush=True)


# --- request bodies ------------------------------------------------------------


def append_bodies(rows: int, columns: Sequence[str], seed: int) -> list[bytes]:
    """Row-object append bodies of ``rows`` rows, values like real metrics."""
    rng = random.Random(seed)
    return [
        orjson.dumps(
            {
                "data": [
                    {column: round(rng.uniform(0.0, 100.0), 2) for column in columns}
                    for _ in range(rows)
                ]
            }
        )
        for _ in range(BODY_VARIANTS)
    ]


def columns_bodies(row_bodies: Sequence[bytes]) -> list[bytes]:
    """Rewrite the rows of ``row_bodies`` as ``{"columns": {name: [values]}}``."""
    bodies = []
    for body in row_bodies:
        rows = orjson.loads(body)["data"]
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        bodies.append(orjson.dumps({"columns": columns}))
    return bodies


def arrow_bodies(row_bodies: Sequence[bytes]) -> list[bytes]:
    """Rewrite the rows of ``row_bodies`` as Arrow IPC streams written by Polars."""
    bodies = []
    for body in row_bodies:
        sink = io.BytesIO()
        pl.DataFrame(orjson.loads(body)["data"]).write_ipc_stream(sink)
        bodies.append(sink.getvalue())
    return bodies


def create_body(name: str, columns: Sequence[str], max_size: int) -> bytes:
    return orjson.dumps(
        {
            "name": name,
            "columns": list(columns),
            "max_size": max_size,
            "rolling_windows": WINDOWS,
            "lag_periods": LAGS,
        }
    )


def create_full_buffer(
    connection: Connection,
    host: Host,
    name: str,
    columns: Sequence[str],
    max_size: int,
    fill: list[bytes],
) -> str:
    """Create a buffer, fill it to ``max_size`` rows and return its path."""
    connection.timed(
        "POST", host.buffers_path, create_body(name, columns, max_size), expect=201
    )
    path = f"{host.buffers_path}/{name}"
    batch = orjson.loads(fill[0])["data"].__len__()
    for index in range(math.ceil(max_size / batch)):
        connection.timed("POST", f"{path}/append", fill[index % len(fill)])
    return path


# --- statistics ----------------------------------------------------------------


def p50(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass
class Measured:
    """Latency samples of one operation and of the baseline taken beside it."""

    samples: list[float]
    baseline: list[float]


def interleaved(
    run: Callable[[], float],
    baseline: Callable[[], float],
    iterations: int,
    block: int,
    warmup: int,
) -> Measured:
    """Time ``run`` ``iterations`` times, alternating blocks with ``baseline``."""
    for _ in range(warmup):
        run()
        baseline()
    samples: list[float] = []
    base: list[float] = []
    while len(samples) < iterations:
        count = min(block, iterations - len(samples))
        base.extend(baseline() for _ in range(count))
        samples.extend(run() for _ in range(count))
    return Measured(samples, base)


# --- latency -------------------------------------------------------------------


@dataclass
class Row:
    operation: Operation
    measured: Measured

    @property
    def p50(self) -> float:
        return p50(self.measured.samples)

    @property
    def rate(self) -> float:
        return self.operation.rows / self.p50 if self.operation.rows else math.nan

    @property
    def ratio(self) -> float:
        return self.p50 / p50(self.measured.baseline)

    @property
    def met(self) -> bool:
        return self.operation.check(self.p50, self.rate, self.ratio)


def cycling(
    connection: Connection,
    method: str,
    target: str,
    pool: Sequence[bytes | None],
    content_type: str | None = None,
) -> Callable[[], float]:
    """Return a function timing one request, sending the bodies of ``pool`` in turn."""
    counter = iter(range(10**12))

    def run() -> float:
        body = pool[next(counter) % len(pool)]
        return connection.timed(method, target, body, content_type=content_type)

    return run


def latency_rows(host: Host, baseline: Host, settings: Settings) -> list[Row]:
    """Measure every operation on a full 10,000-row, 4-column buffer of ``host``,
    and the feature history on a full ``HISTORY_SIZE``-row one."""
    rows_bodies = {rows: append_bodies(rows, COLUMNS, rows) for rows in (1, 100, 1_000)}
    rows_bodies[10_000] = append_bodies(10_000, COLUMNS, 10_000)
    pools = {
        "rows": rows_bodies,
        "columns": {10_000: columns_bodies(rows_bodies[10_000])},
        "arrow": {10_000: arrow_bodies(rows_bodies[10_000])},
    }
    content_types = {"arrow": ARROW_STREAM}

    rows: list[Row] = []
    # The host's own trivial handler where it has one (behind the same
    # authentication), else the separate trivial Tornado server.
    reference = host if host.trivial_path else baseline
    trivial = host.trivial_path or "/trivial"
    with host.connect() as connection, reference.connect() as base:
        path = create_full_buffer(
            connection, host, "bench-latency", COLUMNS, FULL_SIZE, rows_bodies[10_000]
        )
        history_path = create_full_buffer(
            connection,
            host,
            "bench-history",
            COLUMNS,
            HISTORY_SIZE,
            rows_bodies[10_000],
        )

        for operation in OPERATIONS:
            log(f"  {host.label}: {operation.label}")
            method, suffix = operation.request
            target = (history_path if operation.history else path) + suffix
            if method == "POST":
                pool: Sequence[bytes | None] = pools[operation.body][operation.rows]
                ping = cycling(base, "POST", trivial, rows_bodies[1])
            else:
                pool = [None]
                ping = cycling(base, "GET", trivial, [None])
            run = cycling(
                connection, method, target, pool, content_types.get(operation.body)
            )
            iterations = settings.iterations[operation.repetitions]
            block = max(1, min(settings.block, iterations // 10))
            warmup = min(10, max(1, iterations // 4))
            measured = interleaved(run, ping, iterations, block, warmup=warmup)
            rows.append(Row(operation, measured))
        connection.timed("DELETE", path)
        connection.timed("DELETE", history_path)
    return rows


# --- memory --------------------------------------------------------------------


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark of ``pid``, returning False if not permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc status")


@dataclass
class MemoryRow:
    rows: int
    columns: int
    buffers: int
    memory_bytes: int
    rss_per_buffer: float
    freed_per_buffer: float
    append_peak: float | None


#: Total size of the values of the buffers created per shape, well above RSS noise.
_MEMORY_TOTAL = 16 * 1024 * 1024


def memory_rows() -> list[MemoryRow]:
    """Measure RSS per buffer, each shape in a fresh, warmed-up ``bufferkit serve``."""
    shapes = [(10_000, 4), (10_000, 20), (100_000, 4), (100_000, 20)]
    return [memory_row(rows, width) for rows, width in shapes]


def memory_row(rows: int, width: int) -> MemoryRow:
    """Create and fill buffers of ``rows`` x ``width`` and read the server's RSS."""
    columns = [f"c{index}" for index in range(width)]
    fill = append_bodies(10_000, columns, width)
    memory_bytes = rows * width * 8
    count = max(1, min(50, _MEMORY_TOTAL // memory_bytes))
    noun = "buffer" if count == 1 else "buffers"
    log(f"  memory: {count} {noun} of {rows:,} x {width}")
    host = start_standalone("memory")
    try:
        with host.connect() as connection:
            # Warm up: load every code path once, then drop what it made.
            path = create_full_buffer(connection, host, "warm", columns, 10_000, fill)
            connection.timed("GET", f"{path}/data?last=10000")
            connection.timed("GET", f"{path}/features")
            connection.timed("DELETE", path)
            before = rss(host.pid)
            paths = [
                create_full_buffer(
                    connection, host, f"m{rows}x{width}-{i}", columns, rows, fill
                )
                for i in range(count)
            ]
            after = rss(host.pid)
            _, body = connection.request("GET", paths[0])
            reported = orjson.loads(body)["memory_bytes"]
            if reported != memory_bytes:
                msg = f"memory_bytes is {reported}, expected {memory_bytes}"
                raise RuntimeError(msg)
            # One append first: a buffer that just filled up may still grow its
            # spare room once, which is not the steady state measured here.
            connection.timed("POST", f"{paths[0]}/append", fill[2])
            peak: float | None = None
            if reset_peak(host.pid):
                start = rss(host.pid)
                connection.timed("POST", f"{paths[0]}/append", fill[1])
                peak = peak_rss(host.pid) - start
            settled = rss(host.pid)
            for path in paths:
                connection.timed("DELETE", path)
            freed = settled - rss(host.pid)
    finally:
        host.stop()
    return MemoryRow(
        rows, width, count, memory_bytes, (after - before) / count, freed / count, peak
    )


# --- scaling -------------------------------------------------------------------


def scaling(host: Host, settings: Settings) -> dict[str, dict[int, list[float]]]:
    """Time append-1, append-1000 and features on full buffers of growing size."""
    fill = append_bodies(10_000, COLUMNS, 11)
    one = append_bodies(1, COLUMNS, 12)
    thousand = append_bodies(1_000, COLUMNS, 13)
    samples: dict[str, dict[int, list[float]]] = {
        label: {size: [] for size in settings.scaling_sizes}
        for label in settings.scaling_block
    }
    with host.connect() as connection:
        paths = {}
        for size in settings.scaling_sizes:
            log(f"  scaling: filling {size:,} rows")
            paths[size] = create_full_buffer(
                connection, host, f"scale-{size}", COLUMNS, size, fill
            )
        for round_index in range(settings.scaling_rounds):
            for size in settings.scaling_sizes:
                path = paths[size]
                requests = {
                    "append 1 row": ("POST", f"{path}/append", one),
                    "append 1,000 rows": ("POST", f"{path}/append", thousand),
                    "GET /features": ("GET", f"{path}/features", None),
                }
                for label, count in settings.scaling_block.items():
                    method, target, pool = requests[label]
                    for index in range(count):
                        body = pool[index % len(pool)] if pool else None
                        elapsed = connection.timed(method, target, body)
                        if round_index > 0 or index >= 3:  # skip the first warm-ups
                            samples[label][size].append(elapsed)
        for path in paths.values():
            connection.timed("DELETE", path)
    return samples


# --- report --------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def rate_text(rate: float) -> str:
    if math.isnan(rate):
        return "-"
    if rate >= 1_000_000:
        return f"{rate / 1_000_000:.2f}M"
    return f"{rate / 1000:.1f}K"


def mib(value: float) -> str:
    return f"{value / 2**20:.2f}"


def latency_table(host: Host, rows: list[Row]) -> list[str]:
    baseline = [sample for row in rows for sample in row.measured.baseline]
    reference = (
        "trivial jupyter-server APIHandler, same token auth (baseline)"
        if host.trivial_path
        else "trivial Tornado handler (baseline)"
    )
    lines = [
        f"### {host.label}",
        "",
        "| operation | p50 ms | p99 ms | rows/s | x baseline | target | met |"
        " reference figures (earlier API document) |",
        "|---|---:|---:|---:|---:|---|---|---|",
        f"| {reference} | {ms(p50(baseline))} |"
        f" {ms(p99(baseline))} | - | 1.00 | - | - | - |",
    ]
    for row in rows:
        operation = row.operation
        met = "-"
        if operation.targeted:
            met = "yes" if row.met else "NO"
        lines.append(
            f"| {operation.label} | {ms(row.p50)} | {ms(p99(row.measured.samples))} |"
            f" {rate_text(row.rate)} | {row.ratio:.2f} | {operation.target} |"
            f" {met} | {operation.reference} |"
        )
    return [*lines, ""]


def memory_table(rows: list[MemoryRow]) -> list[str]:
    lines = [
        "### Memory of the server process",
        "",
        "| buffer | buffers measured | memory_bytes MiB | RSS per buffer MiB |"
        " RSS / memory_bytes | RSS freed on delete MiB |"
        " peak extra RSS during a 10,000-row append MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        peak = "n/a" if row.append_peak is None else mib(row.append_peak)
        lines.append(
            f"| {row.rows:,} rows x {row.columns} columns | {row.buffers} |"
            f" {mib(row.memory_bytes)} | {mib(row.rss_per_buffer)} |"
            f" {row.rss_per_buffer / row.memory_bytes:.2f} |"
            f" {mib(row.freed_per_buffer)} | {peak} |"
        )
    return [*lines, ""]


def scaling_table(samples: dict[str, dict[int, list[float]]]) -> list[str]:
    sizes = list(next(iter(samples.values())))
    header = " | ".join(f"{size:,} rows" for size in sizes)
    lines = [
        "### Scaling with max_size (full buffers, p50 ms; in brackets, x the "
        f"{sizes[0]:,}-row buffer)",
        "",
        f"| operation | {header} |",
        "|---|" + "---:|" * len(sizes),
    ]
    for label, by_size in samples.items():
        first = p50(by_size[sizes[0]])
        cells = " | ".join(
            f"{ms(p50(by_size[size]))} ({p50(by_size[size]) / first:.2f})"
            for size in sizes
        )
        lines.append(f"| {label} | {cells} |")
    return [*lines, ""]


def machine_lines(command: str, hosts: Sequence[str]) -> list[str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    packages = ["bufferkit", "tornado", "numpy", "polars", "orjson", "msgspec"]
    if "jupyter" in hosts:
        packages.append("jupyter_server")
    versions = ", ".join(f"{name} {_version(name)}" for name in packages)
    return [
        f"Command: `{command}`",
        "",
        f"- Machine: {os.cpu_count()} CPUs (`nproc` {len(os.sched_getaffinity(0))}),"
        f" {model}, {psutil.virtual_memory().total / 2**30:.1f} GiB memory,"
        f" {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; {versions}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
    ]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


@contextmanager
def running(starter: Callable[[], Host]) -> Iterator[Host]:
    host = starter()
    try:
        yield host
    finally:
        host.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions (under a minute)"
    )
    parser.add_argument(
        "--hosts",
        default="auto",
        help="comma-separated hosts to measure: standalone, jupyter; 'auto' adds "
        "jupyter when the bufferkit extension is importable (default: auto)",
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated sections to skip: memory, scaling"
    )
    parser.add_argument("--output", help="also write the report to this file")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    skip = {part for part in args.skip.split(",") if part}
    if args.hosts == "auto":
        hosts = ["standalone", *(["jupyter"] if extension_available() else [])]
    else:
        hosts = [part for part in args.hosts.split(",") if part]
    command = "python -m benchmarks.run " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    starters = {"standalone": start_standalone, "jupyter": start_jupyter}

    started = time.monotonic()
    report = [
        "## Latency (full 10,000-row, 4-column buffer, windows [10, 50, 200],"
        " lags [1, 5, 10])",
        "",
    ]
    with running(start_baseline) as baseline:
        for name in hosts:
            log(f"{name}: latency")
            with running(starters[name]) as host:
                report += latency_table(host, latency_rows(host, baseline, settings))
                if name == "standalone" and "scaling" not in skip:
                    log("standalone: scaling")
                    scaled = scaling(host, settings)
    if "memory" not in skip:
        log("memory")
        report += memory_table(memory_rows())
    if "scaling" not in skip and "standalone" in hosts:
        report += scaling_table(scaled)
    text = "\n".join(
        ["# bufferkit benchmark", "", *machine_lines(command.strip(), hosts), *report]
    )
    print(text)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
