"""``BufferView``: a live table, line charts and fill level of one buffer."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any, Protocol

import numpy as np
import polars as pl

from bufferkit.errors import BufferkitError, BufferNotFoundError
from bufferkit.widgets import _html, _svg
from bufferkit.widgets._live import LiveView
from bufferkit.widgets._rate import Appended, RowArray, rows_appended
from bufferkit.widgets._refresh import Clock

#: Rows read for the charts by default: the whole of a buffer of the default size.
DEFAULT_CHART_ROWS = 10_000


class BufferHandleLike(Protocol):
    """The part of ``bufferkit.BufferHandle`` that ``BufferView`` uses."""

    @property
    def name(self) -> str:
        """The buffer's name."""

    def info(self) -> Mapping[str, Any]:
        """Return the buffer model."""

    def data(self, *, last: int | None = None) -> pl.DataFrame:
        """Return the newest ``last`` rows."""


@dataclass(frozen=True)
class _Reading:
    """One read of the buffer: its model, its newest rows and the time of the read."""

    model: Mapping[str, Any]
    frame: pl.DataFrame
    values: RowArray
    time: float


class BufferView(LiveView):
    """Show a buffer's newest rows, a chart per column, its fill level and rate.

    The view reads the buffer every ``interval`` seconds on a background thread and
    sends the browser one message per change, never more than one per ``interval``.
    It keeps going while other cells run. Call ``stop()`` or ``close()`` to end it.
    A deleted buffer ends it too, with a notice in the view. While the server cannot
    be reached, the view shows the error and keeps retrying.

    Parameters
    ----------
    handle
        The buffer to show, from ``Client.create`` or ``Client.buffer``.
    rows
        Number of newest rows in the table.
    interval
        Seconds between refreshes.
    chart_rows
        Newest rows drawn in the charts. ``None`` draws the whole window, which means
        reading all of it every ``interval``. Each chart is downsampled to at most
        two points per pixel column, whatever the number of rows.
    start
        Start refreshing at once; with ``False``, call ``refresh()`` or ``start()``.
    clock
        Monotonic time in seconds, for rates and the rate limit; tests pass a fake.
    """

    def __init__(
        self,
        handle: BufferHandleLike,
        *,
        rows: int = 20,
        interval: float = 1.0,
        chart_rows: int | None = DEFAULT_CHART_ROWS,
        start: bool = True,
        clock: Clock = time.monotonic,
    ) -> None:
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        if chart_rows is not None and chart_rows < 2:
            raise ValueError(f"chart_rows must be at least 2 or None, got {chart_rows}")
        super().__init__(interval=interval, clock=clock, name="BufferView")
        self.handle = handle
        self.rows = rows
        self.chart_rows = chart_rows
        self._previous: _Reading | None = None
        self._rate: float | None = None
        self._rate_exact = True
        if start:
            self.start()

    def __repr__(self) -> str:
        name = self.handle.name
        return f"BufferView({name!r}, rows={self.rows}, interval={self.interval:g})"

    def refresh(self) -> bool:
        """Read the buffer once and send the view if it changed and the rate allows.

        Returns whether an update was sent.
        """
        if not self._publisher.due():
            return False  # nothing could be sent yet, so spare the server a read
        try:
            reading = self._read()
        except BufferNotFoundError as error:
            self.stop()
            notice = f"{error.message}, so this view stopped refreshing."
            return self._publisher.offer(_html.page(_html.message(notice)))
        except (BufferkitError, OSError) as error:
            return self.offer_unreachable(error)
        self._update_rate(reading)
        return self._publisher.offer(self._render(reading))

    def _read(self) -> _Reading:
        model = dict(self.handle.info())
        wanted = int(model["max_size"]) if self.chart_rows is None else self.chart_rows
        last = max(self.rows, wanted)
        frame = self.handle.data(last=last)
        # Rows appended between the two requests: a short read is the exact size.
        size = int(model["current_size"])
        model["current_size"] = len(frame) if len(frame) < last else max(size, last)
        values = frame.to_numpy().astype(np.float64, copy=False)
        values = values.reshape(len(frame), frame.width)
        return _Reading(model, frame, values, self._publisher.clock())

    def _update_rate(self, reading: _Reading) -> None:
        previous, self._previous = self._previous, reading
        if previous is None or reading.time <= previous.time:
            return
        appended: Appended = rows_appended(
            previous.values,
            int(previous.model["current_size"]),
            reading.values,
            int(reading.model["current_size"]),
            int(reading.model["max_size"]),
        )
        self._rate = appended.rows / (reading.time - previous.time)
        self._rate_exact = appended.exact

    def _render(self, reading: _Reading) -> str:
        model, frame = reading.model, reading.frame
        size, max_size = int(model["current_size"]), int(model["max_size"])
        columns = [str(name) for name in model["columns"]]
        header = (
            f"<div><b>{escape(str(model['name']))}</b> · {len(columns)} "
            f"columns · {_html.format_bytes(int(model['memory_bytes']))}</div>"
        )
        fill = (
            f"<div>{size:,} / {max_size:,} rows ({size / max_size:.1%}) · "
            f"{self._rate_text()}</div>" + _svg.horizontal_bar(size / max_size)
        )
        drawn = f"newest {len(frame):,} of {size:,} rows" if len(frame) < size else ""
        charts = "".join(
            _chart(name, reading.values[:, index]) for index, name in enumerate(columns)
        )
        return _html.page(
            header
            + fill
            + (_html.message(f"Charts: {drawn}.") if drawn else "")
            + f'<div style="margin: 6px 0">{charts}</div>'
            + _table(frame.tail(self.rows), size)
        )

    def _rate_text(self) -> str:
        if self._rate is None:
            return "rows/s: measuring"
        prefix = "" if self._rate_exact else "≥ "
        return f"{prefix}{self._rate:,.0f} rows/s"


def _chart(name: str, values: RowArray) -> str:
    if len(values) == 0:
        return _svg.line_chart(name, values, caption="no rows yet")
    return _svg.line_chart(
        name,
        np.ascontiguousarray(values),
        caption=f"newest {_html.format_value(float(values[-1]))}",
        top_label=_html.format_value(float(values.max())),
        bottom_label=_html.format_value(float(values.min())),
    )


def _table(tail: pl.DataFrame, size: int) -> str:
    first = size - len(tail)
    rows = [
        [f"{first + index:,}", *(_html.format_value(value) for value in row)]
        for index, row in enumerate(tail.iter_rows())
    ]
    return _html.table(["row", *tail.columns], rows)
