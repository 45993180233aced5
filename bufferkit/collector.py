"""Stream this machine's live metrics into a buffer, one row per interval.

Each row contains the CPU use in percent over the interval, the memory in use in
percent, and the disk and network throughput in bytes per second over the interval
(reads plus writes, received plus sent), sampled with psutil.

The network rate sums the counters of every interface except loopback ones, which
are named ``lo`` or start with ``lo``, such as macOS's ``lo0``. Traffic between
processes of this machine, such as these appends to a local server, is therefore
not counted. The disk rate uses psutil's totals, which on Linux count whole disks and
leave out their partitions, so no byte is counted twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from bufferkit.errors import (
    BufferExistsError,
    BufferNotFoundError,
    InvalidRequestError,
)
from bufferkit.transport import Transport, buffer_path

log = logging.getLogger("bufferkit")

METRIC_COLUMNS = ("cpu", "memory", "disk_io", "network")
DEFAULT_BUFFER = "server_metrics"
DEFAULT_WINDOWS = (10, 50, 200)
DEFAULT_LAGS = (1, 5, 10)


def _disk_bytes() -> float:
    counters = psutil.disk_io_counters()
    # NOTE: psutil returns None on machines that expose no disk statistics.
    return (
        0.0 if counters is None else float(counters.read_bytes + counters.write_bytes)
    )


def is_loopback_interface(name: str) -> bool:
    """Return whether the network interface ``name`` is a loopback interface.

    Examples
    --------
    >>> is_loopback_interface("lo"), is_loopback_interface("lo0")
    (True, True)
    >>> is_loopback_interface("eth0"), is_loopback_interface("en0")
    (False, False)
    """
    return name.lower().startswith("lo")


def _network_bytes() -> float:
    counters = psutil.net_io_counters(pernic=True)
    return float(
        sum(
            nic.bytes_sent + nic.bytes_recv
            for name, nic in counters.items()
            if not is_loopback_interface(name)
        )
    )


@dataclass
class MetricsSampler:
    """Turn psutil's cumulative counters into per-interval rates.

    The first call to ``sample`` measures from the sampler's creation.
    """

    clock: Callable[[], float] = time.monotonic
    _last_time: float = field(init=False)
    _last_disk: float = field(init=False)
    _last_network: float = field(init=False)

    def __post_init__(self) -> None:
        psutil.cpu_percent(interval=None)  # starts psutil's CPU interval
        self._last_time = self.clock()
        self._last_disk = _disk_bytes()
        self._last_network = _network_bytes()

    def sample(self) -> dict[str, float]:
        """Return one row: ``cpu`` and ``memory`` in percent, rates in bytes/s."""
        now = self.clock()
        disk = _disk_bytes()
        network = _network_bytes()
        elapsed = max(now - self._last_time, 1e-6)
        row = {
            "cpu": float(psutil.cpu_percent(interval=None)),
            "memory": float(psutil.virtual_memory().percent),
            "disk_io": max(disk - self._last_disk, 0.0) / elapsed,
            "network": max(network - self._last_network, 0.0) / elapsed,
        }
        self._last_time, self._last_disk, self._last_network = now, disk, network
        return row


def ensure_metrics_buffer(transport: Transport, name: str, max_size: int) -> None:
    """Create the metrics buffer ``name`` unless it exists with the right columns.

    Reads the buffer first, so that appending to an existing one sends no create
    request that the server would log as a 409 conflict.
    """
    path = buffer_path(name)
    try:
        model = transport.request("GET", path)
    except BufferNotFoundError:
        try:
            transport.request(
                "POST",
                "v1/ml/buffers",
                {
                    "name": name,
                    "columns": list(METRIC_COLUMNS),
                    "max_size": max_size,
                    "rolling_windows": list(DEFAULT_WINDOWS),
                    "lag_periods": list(DEFAULT_LAGS),
                },
            )
        except BufferExistsError:
            # Another client created it between the read and the create.
            model = transport.request("GET", path)
        else:
            log.info("Created buffer %r", name)
            return
    if tuple(model["columns"]) != METRIC_COLUMNS:
        msg = (
            f"Buffer {name!r} exists with columns {model['columns']}, not "
            f"{list(METRIC_COLUMNS)}: pick another name with --buffer"
        )
        raise InvalidRequestError(msg)
    log.info("Appending to existing buffer %r", name)


def collect(
    transport: Transport,
    *,
    name: str = DEFAULT_BUFFER,
    interval: float = 1.0,
    count: int | None = None,
    max_size: int = 10_000,
    stop: threading.Event | None = None,
    on_row: Callable[[dict[str, float], int], None] | None = None,
) -> int:
    """Append one metrics row every ``interval`` seconds and return rows sent.

    Runs until ``count`` rows are sent or ``stop`` is set. ``on_row`` receives each
    row and the buffer's size after it.
    """
    ensure_metrics_buffer(transport, name, max_size)
    stop = stop or threading.Event()
    sampler = MetricsSampler()
    sent = 0
    deadline = time.monotonic() + interval
    while count is None or sent < count:
        if stop.wait(max(deadline - time.monotonic(), 0.0)):
            break
        # After a stall, resume the cadence from now instead of sending a burst.
        deadline = max(deadline + interval, time.monotonic())
        row = sampler.sample()
        reply = transport.request(
            "POST", f"{buffer_path(name)}/append", {"data": [row]}
        )
        sent += 1
        if on_row is not None:
            on_row(row, int(reply["current_size"]))
    return sent
