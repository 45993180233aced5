"""``MemoryView``: a live bar chart of the memory each buffer uses."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Protocol

from bufferkit.errors import BufferkitError
from bufferkit.widgets import _html, _svg
from bufferkit.widgets._live import LiveView
from bufferkit.widgets._refresh import Clock


class ClientLike(Protocol):
    """The part of ``bufferkit.Client`` that ``MemoryView`` uses."""

    def buffers(self) -> Sequence[Mapping[str, Any]]:
        """Return the model of every buffer."""


class MemoryView(LiveView):
    """Show one bar per buffer with its ``memory_bytes``, largest first, and the total.

    ``memory_bytes`` counts the values a buffer holds: rows times columns times
    8 bytes. The view reads the list of buffers every ``interval`` seconds on a
    background thread and sends the browser one message per change, never more than
    one per ``interval``. Call ``stop()`` or ``close()`` to end it. While the server
    cannot be reached, the view shows the error and keeps retrying.

    Parameters
    ----------
    client
        The ``bufferkit.Client`` whose server to watch.
    interval
        Seconds between refreshes.
    start
        Start refreshing at once; with ``False``, call ``refresh()`` or ``start()``.
    clock
        Monotonic time in seconds, for the rate limit; tests pass a fake.
    """

    def __init__(
        self,
        client: ClientLike,
        *,
        interval: float = 2.0,
        start: bool = True,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(interval=interval, clock=clock, name="MemoryView")
        self.client = client
        if start:
            self.start()

    def __repr__(self) -> str:
        return f"MemoryView(interval={self.interval:g})"

    def refresh(self) -> bool:
        """Read the list of buffers once and send the view if it changed.

        Returns whether an update was sent.
        """
        if not self._publisher.due():
            return False  # nothing could be sent yet, so spare the server a read
        try:
            models = list(self.client.buffers())
        except (BufferkitError, OSError) as error:
            return self.offer_unreachable(error)
        return self._publisher.offer(render_memory(models))


def render_memory(models: Sequence[Mapping[str, Any]], *, bar_width: int = 300) -> str:
    """Render the bars of ``models``, largest ``memory_bytes`` first, and the total.

    Buffers of equal size keep the server's order, which is creation order.
    """
    ordered = sorted(models, key=lambda model: -int(model["memory_bytes"]))
    total = sum(int(model["memory_bytes"]) for model in ordered)
    largest = max((int(model["memory_bytes"]) for model in ordered), default=0)
    noun = "buffer" if len(ordered) == 1 else "buffers"
    summary = (
        f"<div><b>{len(ordered)} {noun}</b> · {total:,} bytes in total "
        f"({_html.format_bytes(total)})</div>"
    )
    if not ordered:
        return _html.page(summary)
    cell = "padding: 1px 8px 1px 0; white-space: nowrap"
    rows = "".join(
        "<tr>"
        f'<td style="{cell}">{escape(str(model["name"]))}</td>'
        f'<td style="{cell}">'
        f"{_svg.horizontal_bar(_share(model, largest), width=bar_width)}</td>"
        f'<td style="{cell}; text-align: right">{int(model["memory_bytes"]):,} B</td>'
        f'<td style="{cell}; text-align: right">'
        f"{int(model['current_size']):,} / {int(model['max_size']):,} rows</td>"
        "</tr>"
        for model in ordered
    )
    return _html.page(
        summary
        + f'<table style="border-collapse: collapse; {_svg.FONT}">{rows}</table>'
    )


def _share(model: Mapping[str, Any], largest: int) -> float:
    return int(model["memory_bytes"]) / largest if largest else 0.0
