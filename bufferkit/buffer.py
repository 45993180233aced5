"""A named sliding-window buffer: schema, storage, eviction, memory and features."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import polars as pl

from bufferkit.config import BufferConfig
from bufferkit.errors import BufferNotFoundError, InvalidRequestError
from bufferkit.features import Features, latest_features
from bufferkit.history import FeatureHistory, history_frame
from bufferkit.storage import FloatArray, WindowStorage

BYTES_PER_VALUE = 8


@dataclass(frozen=True)
class AppendResult:
    """Outcome of one append: ``rows_dropped`` counts rows evicted by it."""

    rows_appended: int
    current_size: int
    rows_dropped: int


@dataclass(frozen=True)
class LatestFeatures:
    """Features of the newest row and the number of rows they were computed from."""

    row_count: int
    values: Features


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of a range of rows, taken under the buffer's lock.

    ``values`` is ``(columns, rows)``; ``offset`` is the position of its first row
    among the rows held, and ``first_sequence`` that row's sequence number.
    """

    columns: tuple[str, ...]
    values: FloatArray
    current_size: int
    offset: int
    first_sequence: int

    def to_polars(self) -> pl.DataFrame:
        """Return the rows as a DataFrame of float64 columns."""
        return pl.DataFrame(
            {name: self.values[index] for index, name in enumerate(self.columns)},
            schema=dict.fromkeys(self.columns, pl.Float64),
        )


class Buffer:
    """A fixed-capacity window of float64 columns that drops its oldest rows.

    All methods are safe to call from several threads: appends are atomic, and
    readers see every append either whole or not at all.

    Parameters
    ----------
    config
        The validated name, columns, ``max_size``, windows and lags.

    Examples
    --------
    >>> buffer = Buffer(BufferConfig("demo", ("x",), max_size=3, lag_periods=(1,)))
    >>> buffer.append_columns(np.array([[1.0, 2.0, 3.0, 4.0]]))
    AppendResult(rows_appended=4, current_size=3, rows_dropped=1)
    >>> buffer.read().values.tolist()
    [[2.0, 3.0, 4.0]]
    >>> buffer.features().values
    {'x_lag_1': 3.0, 'x_delta_1': 1.0}
    """

    def __init__(self, config: BufferConfig) -> None:
        self.config = config
        self.created_at = datetime.now(timezone.utc).replace(microsecond=0)
        self._storage = WindowStorage(len(config.columns), config.max_size)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def name(self) -> str:
        """The buffer's name."""
        return self.config.name

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names in schema order."""
        return self.config.columns

    @property
    def current_size(self) -> int:
        """Number of rows held."""
        return self._storage.size

    @property
    def memory_bytes(self) -> int:
        """Size of the values held: ``current_size * columns * 8``."""
        return self._storage.size * len(self.config.columns) * BYTES_PER_VALUE

    @property
    def allocated_bytes(self) -> int:
        """Bytes allocated for the values, spare capacity included."""
        return self._storage.nbytes

    @property
    def appended_total(self) -> int:
        """Rows ever appended; also the sequence number of the next row."""
        return self._storage.appended_total

    def model(self) -> dict[str, Any]:
        """Return the JSON-ready description of the buffer."""
        config = self.config
        return {
            "name": config.name,
            "max_size": config.max_size,
            "current_size": self.current_size,
            "columns": list(config.columns),
            "rolling_windows": list(config.rolling_windows),
            "lag_periods": list(config.lag_periods),
            "memory_bytes": self.memory_bytes,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def append_columns(self, block: FloatArray) -> AppendResult:
        """Append ``block``, one row of values per column, ``(columns, rows)``.

        The values must be finite; the whole block is checked before any is stored.
        """
        width = len(self.config.columns)
        if block.ndim != 2 or block.shape[0] != width or block.shape[1] == 0:
            msg = f"Expected a block of {width} columns and at least one row"
            raise InvalidRequestError(msg)
        if not np.isfinite(block).all():
            raise InvalidRequestError("Values must be finite numbers")
        with self._lock:
            self._check_open()
            dropped = self._storage.append(block)
            size = self._storage.size
        return AppendResult(block.shape[1], size, dropped)

    def append_row(self, row: tuple[float, ...]) -> AppendResult:
        """Append one row of finite values in schema order."""
        if len(row) != len(self.config.columns):
            msg = f"Expected {len(self.config.columns)} values, got {len(row)}"
            raise InvalidRequestError(msg)
        if not all(math.isfinite(value) for value in row):
            raise InvalidRequestError("Values must be finite numbers")
        with self._lock:
            self._check_open()
            dropped = self._storage.append_row(row)
            size = self._storage.size
        return AppendResult(1, size, dropped)

    def close(self) -> int:
        """Reject every later call, because the registry has deleted the buffer.

        An append or read that started before the delete either completes before
        this returns, and an append counts in the memory the delete reports, or
        fails as not found. The values are freed; ``current_size`` and
        ``memory_bytes`` keep describing what the buffer held. Returns the bytes
        freed.
        """
        with self._lock:
            self._closed = True
            return self._storage.release()

    def _check_open(self) -> None:
        if self._closed:
            raise BufferNotFoundError.named(self.config.name)

    def read(
        self, *, offset: int = 0, limit: int | None = None, last: int | None = None
    ) -> Snapshot:
        """Copy rows from ``offset`` (oldest first), or the newest ``last`` rows."""
        with self._lock:
            self._check_open()
            view = self._storage.view()
            size = view.shape[1]
            offset, start, stop = page_bounds(size, offset, limit, last)
            values = view[:, start:stop].copy()
            first_sequence = self._storage.first_sequence + start
        return Snapshot(self.config.columns, values, size, offset, first_sequence)

    def feature_history(
        self, *, offset: int = 0, limit: int | None = None, last: int | None = None
    ) -> FeatureHistory:
        """Compute the features of each row of a page, selected as ``read`` does.

        Each row's features are computed from that row's point of view over the rows
        held now, so the newest row's equal ``features()``; a window or lag reaching
        back before the oldest row held is null, even where ``features()`` had a
        value when that row was the newest, before older rows were evicted.
        """
        config = self.config
        with self._lock:
            self._check_open()
            view = self._storage.view()
            size = view.shape[1]
            offset, start, stop = page_bounds(size, offset, limit, last)
            context = max(0, start - config.feature_depth + 1)
            values = view[:, context:stop].copy()
        frame = history_frame(
            values,
            config.columns,
            config.rolling_windows,
            config.lag_periods,
            start=start - context,
            buffer_name=config.name,
        )
        return FeatureHistory(size, offset, stop - start, frame)

    def features(self) -> LatestFeatures:
        """Compute the features of the newest row (rolling, lag and delta)."""
        config = self.config
        with self._lock:
            self._check_open()
            view = self._storage.view()
            recent = view[:, max(0, view.shape[1] - config.feature_depth) :].copy()
            row_count = view.shape[1]
        values = latest_features(
            recent,
            config.columns,
            config.rolling_windows,
            config.lag_periods,
            buffer_name=config.name,
        )
        return LatestFeatures(row_count, values)


def page_bounds(
    size: int, offset: int, limit: int | None, last: int | None
) -> tuple[int, int, int]:
    """Return ``(offset, start, stop)`` of a page of a buffer of ``size`` rows.

    ``last`` selects the newest rows and sets ``offset``; otherwise the page starts
    at ``offset``, which may be past the end, and takes ``limit`` rows at most.
    """
    if last is not None:
        offset = max(0, size - last)
    start = min(offset, size)
    stop = size if limit is None else min(size, start + limit)
    return offset, start, stop
