"""The set of named buffers one server process holds."""

from __future__ import annotations

import logging
import threading

from bufferkit.buffer import Buffer
from bufferkit.config import BufferConfig
from bufferkit.errors import (
    BufferExistsError,
    BufferNotFoundError,
    LimitExceededError,
)

log = logging.getLogger("bufferkit")


class Registry:
    """Named buffers in creation order, safe to use from several threads.

    Parameters
    ----------
    max_buffers
        Maximum number of buffers held at once; ``None`` for no limit.

    Examples
    --------
    >>> registry = Registry()
    >>> buffer = registry.create(BufferConfig("metrics", ("cpu", "memory")))
    >>> [b.name for b in registry.buffers()]
    ['metrics']
    >>> registry.get("missing")
    Traceback (most recent call last):
    ...
    bufferkit.errors.BufferNotFoundError: Buffer 'missing' not found
    """

    def __init__(self, *, max_buffers: int | None = None) -> None:
        self.max_buffers = max_buffers
        self._buffers: dict[str, Buffer] = {}
        self._lock = threading.Lock()

    def create(self, config: BufferConfig) -> Buffer:
        """Create and return a buffer; raise if the name is taken or at the limit."""
        with self._lock:
            if config.name in self._buffers:
                raise BufferExistsError.named(config.name)
            if self.max_buffers is not None and len(self._buffers) >= self.max_buffers:
                msg = (
                    f"Cannot create buffer {config.name!r}: the server holds its "
                    f"maximum of {self.max_buffers} buffers; delete one first"
                )
                raise LimitExceededError(msg)
            buffer = Buffer(config)
            self._buffers[config.name] = buffer
        log.debug("Created buffer %r", config.name)
        return buffer

    def get(self, name: str) -> Buffer:
        """Return the buffer called ``name``."""
        try:
            return self._buffers[name]
        except KeyError:
            raise BufferNotFoundError.named(name) from None

    def delete(self, name: str) -> Buffer:
        """Remove the buffer called ``name`` and return it."""
        with self._lock:
            try:
                buffer = self._buffers.pop(name)
            except KeyError:
                raise BufferNotFoundError.named(name) from None
        log.debug("Deleted buffer %r", name)
        return buffer

    def buffers(self) -> list[Buffer]:
        """Return every buffer in creation order."""
        with self._lock:
            return list(self._buffers.values())

    def __len__(self) -> int:
        return len(self._buffers)
