"""The set of named buffers one server process holds."""

from __future__ import annotations

import logging
import threading
from typing import Any

from bufferkit.buffer import BYTES_PER_VALUE, Buffer
from bufferkit.config import BufferConfig
from bufferkit.errors import (
    BufferExistsError,
    BufferNotFoundError,
    LimitExceededError,
)
from bufferkit.memory import release_memory

log = logging.getLogger("bufferkit")


class Registry:
    """Named buffers in creation order, safe to use from several threads.

    Parameters
    ----------
    max_buffers
        Maximum number of buffers held at once; ``None`` for no limit.
    max_total_memory
        Maximum bytes of values all buffers may hold together, ``None`` for no
        limit. Each buffer reserves the most it can hold, ``max_size * columns * 8``
        bytes, when it is created and frees it when deleted, so a create that would
        take the reserved total past the limit is rejected and an append never is.

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

    >>> small = Registry(max_total_memory=1000)
    >>> small.create(BufferConfig("wide", ("x", "y"), max_size=100))
    Traceback (most recent call last):
    ...
    bufferkit.errors.LimitExceededError: Cannot create buffer 'wide': it reserves \
1600 bytes (max_size 100 x 2 columns x 8) and the buffers already reserve 0 of \
the server's maximum total memory of 1000 bytes; delete a buffer or lower max_size
    """

    def __init__(
        self, *, max_buffers: int | None = None, max_total_memory: int | None = None
    ) -> None:
        self.max_buffers = max_buffers
        self.max_total_memory = max_total_memory
        self._buffers: dict[str, Buffer] = {}
        self._reserved_bytes = 0
        self._lock = threading.Lock()

    @property
    def reserved_bytes(self) -> int:
        """Bytes reserved by every buffer: the sum of ``max_size * columns * 8``."""
        return self._reserved_bytes

    def create(self, config: BufferConfig) -> Buffer:
        """Create and return a buffer; raise if the name is taken or at the limit."""
        with self._lock:
            if config.name in self._buffers:
                raise BufferExistsError.named(config.name)
            if self.max_buffers is not None and len(self._buffers) >= self.max_buffers:
                noun = "buffer" if self.max_buffers == 1 else "buffers"
                msg = (
                    f"Cannot create buffer {config.name!r}: the server holds its "
                    f"maximum of {self.max_buffers} {noun}; delete one first"
                )
                raise LimitExceededError(msg)
            reserved = reserved_bytes(config)
            limit = self.max_total_memory
            if limit is not None and self._reserved_bytes + reserved > limit:
                msg = (
                    f"Cannot create buffer {config.name!r}: it reserves {reserved} "
                    f"bytes (max_size {config.max_size} x {len(config.columns)} "
                    f"columns x {BYTES_PER_VALUE}) and the buffers already reserve "
                    f"{self._reserved_bytes} of the server's maximum total memory "
                    f"of {limit} bytes; delete a buffer or lower max_size"
                )
                raise LimitExceededError(msg)
            buffer = Buffer(config)
            self._buffers[config.name] = buffer
            self._reserved_bytes += reserved
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
            self._reserved_bytes -= reserved_bytes(buffer.config)
            # Appends and reads still in flight on this buffer now fail as not
            # found, and its values are freed.
            freed = buffer.close()
        release_memory(freed)
        log.debug("Deleted buffer %r", name)
        return buffer

    def list_model(self) -> dict[str, Any]:
        """Return the JSON-ready list of buffers with their memory and the limit.

        ``total_memory_bytes`` sums the bytes held, ``reserved_memory_bytes`` the
        bytes reserved, which is what ``max_total_memory`` (``None`` for no limit)
        bounds.

        Examples
        --------
        >>> registry = Registry(max_total_memory=1000)
        >>> _ = registry.create(BufferConfig("a", ("x",), max_size=10))
        >>> summary = registry.list_model()
        >>> del summary["buffers"]
        >>> summary
        {'total_buffers': 1, 'total_memory_bytes': 0, 'reserved_memory_bytes': 80, \
'max_total_memory': 1000}
        """
        with self._lock:
            buffers = list(self._buffers.values())
            reserved = self._reserved_bytes
        models = [buffer.model() for buffer in buffers]
        return {
            "buffers": models,
            "total_buffers": len(models),
            "total_memory_bytes": sum(model["memory_bytes"] for model in models),
            "reserved_memory_bytes": reserved,
            "max_total_memory": self.max_total_memory,
        }

    def buffers(self) -> list[Buffer]:
        """Return every buffer in creation order."""
        with self._lock:
            return list(self._buffers.values())

    def __len__(self) -> int:
        return len(self._buffers)


def reserved_bytes(config: BufferConfig) -> int:
    """Return the bytes of values a buffer of ``config`` holds when full."""
    return config.max_size * len(config.columns) * BYTES_PER_VALUE
