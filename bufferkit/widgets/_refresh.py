"""Rate-limited publishing of a view's HTML and the thread that refreshes it.

An ``ipywidgets.HTML`` widget sends one comm message for every assignment to
``value``, with no rate limit of its own. ``Publisher`` therefore sends a new value
only when it differs from the last one sent and at least ``interval`` seconds after
the previous send, inside ``hold_sync()`` so that each update is one message.
``Refresher`` runs a view's ``refresh`` on a daemon thread, so the view keeps updating
while the kernel is idle or busy with other cells.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import ipywidgets

log = logging.getLogger("bufferkit")

Clock = Callable[[], float]


class Publisher:
    """Send HTML to one widget when it changed, at most once per ``interval``.

    Parameters
    ----------
    widget
        The widget whose ``value`` carries the whole view.
    interval
        Minimum number of seconds between two sends, measured with ``clock``.
    clock
        Monotonic time in seconds; tests pass a fake one.

    Examples
    --------
    >>> now = [0.0]
    >>> publisher = Publisher(ipywidgets.HTML(), 1.0, clock=lambda: now[0])
    >>> publisher.offer("a"), publisher.offer("a"), publisher.offer("b")
    (True, False, False)
    >>> now[0] = 1.0
    >>> publisher.offer("b"), publisher.sends
    (True, 2)
    """

    def __init__(
        self, widget: ipywidgets.HTML, interval: float, *, clock: Clock = time.monotonic
    ) -> None:
        self.widget = widget
        self.interval = interval
        self.clock = clock
        #: Number of values sent so far.
        self.sends = 0
        self._last_value: str | None = None
        self._last_send: float | None = None
        self._lock = threading.Lock()

    @property
    def next_send(self) -> float:
        """Earliest ``clock`` time at which another value may be sent."""
        if self._last_send is None:
            return float("-inf")
        return self._last_send + self.interval

    def due(self) -> bool:
        """Return whether the interval since the last send has passed."""
        return self.clock() >= self.next_send

    def offer(self, value: str) -> bool:
        """Send ``value`` if it is new and the interval allows; return whether sent.

        A value held back by the interval is not queued: the next refresh renders
        a newer one.
        """
        with self._lock:
            if value == self._last_value:
                return False
            now = self.clock()
            if now < self.next_send:
                return False
            with self.widget.hold_sync():
                self.widget.value = value
            self._last_value = value
            self._last_send = now
            self.sends += 1
            return True


class Refresher:
    """Call ``refresh`` every ``interval`` seconds on a daemon thread until stopped.

    Each pass starts at least ``interval`` seconds after the previous one and no
    earlier than ``publisher.next_send``. An exception in ``refresh`` is logged and
    the loop goes on; ``refresh`` handles the errors it expects itself.
    """

    def __init__(
        self,
        refresh: Callable[[], object],
        publisher: Publisher,
        *,
        name: str,
    ) -> None:
        self._refresh = refresh
        self._publisher = publisher
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def running(self) -> bool:
        """Whether the thread is alive and was not asked to stop."""
        return self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for it.

        A call from the refresh thread itself, such as a view stopping after its
        buffer was deleted, returns at once and the loop ends after that pass.
        """
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        clock = self._publisher.clock
        interval = self._publisher.interval
        while not self._stop.is_set():
            started = clock()
            try:
                self._refresh()
            except Exception:
                log.exception("Live view refresh failed; retrying in %s s", interval)
            due = max(started + interval, self._publisher.next_send)
            self._stop.wait(max(due - clock(), 0.0))
