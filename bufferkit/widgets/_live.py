"""``LiveView``: the refresh lifecycle that ``BufferView`` and ``MemoryView`` share."""

from __future__ import annotations

import ipywidgets

from bufferkit.errors import BufferkitError
from bufferkit.widgets import _html
from bufferkit.widgets._refresh import Clock, Publisher, Refresher


class LiveView(ipywidgets.VBox):  # type: ignore[misc]
    """One ``HTML`` widget whose value a background thread refreshes.

    Subclasses implement ``refresh()``: read the server once and offer the new page
    to ``self._publisher``, which sends it only if it changed and the rate allows.
    """

    def __init__(self, *, interval: float, clock: Clock, name: str) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be a positive number, got {interval}")
        self.html = ipywidgets.HTML(_html.page(_html.message("Loading…")))
        super().__init__([self.html])
        self.interval = interval
        self._publisher = Publisher(self.html, interval, clock=clock)
        self._refresher = Refresher(self.refresh, self._publisher, name=name)

    @property
    def updates(self) -> int:
        """Number of updates sent to the browser so far."""
        return self._publisher.sends

    @property
    def running(self) -> bool:
        """Whether the background refresh is running."""
        return self._refresher.running

    def start(self) -> None:
        """Start refreshing on a background thread."""
        self._refresher.start()

    def stop(self) -> None:
        """Stop refreshing; the view keeps showing its last state."""
        # Absent when __init__ raised: ipywidgets still calls close() on deletion.
        refresher: Refresher | None = getattr(self, "_refresher", None)
        if refresher is not None:
            refresher.stop()

    def close(self) -> None:
        """Stop refreshing and remove the view from the notebook."""
        self.stop()
        html: ipywidgets.HTML | None = getattr(self, "html", None)
        if html is not None:
            html.close()
        super().close()

    def refresh(self) -> bool:
        """Read the server once and send the view if it changed and the rate allows.

        Returns whether an update was sent.
        """
        raise NotImplementedError

    def offer_unreachable(self, error: BufferkitError | OSError) -> bool:
        """Show that the server could not be reached and that the view retries."""
        text = error.message if isinstance(error, BufferkitError) else str(error)
        described = f"{type(error).__name__}: {text}" if text else type(error).__name__
        notice = (
            f"Server not reachable ({described}); retrying every {self.interval:g} s."
        )
        return self._publisher.offer(_html.page(_html.message(notice, error=True)))
