"""Give freed buffer memory back to the operating system on glibc Linux.

glibc's ``free`` keeps memory in the heap for reuse: a deleted buffer's arrays
stay in the process's resident memory until ``malloc_trim`` returns the free
pages. Arrays above glibc's mmap threshold are mapped on their own and unmapped
at once, but glibc raises that threshold (up to 32 MiB on 64-bit systems, as
mallopt(3) documents) each time it frees a mapped array, so the arrays of a
growing buffer mostly end up on the heap.

:func:`release_memory` counts the bytes freed and, once they reach
:data:`TRIM_THRESHOLD_BYTES`, asks a background thread to call ``malloc_trim(0)``,
so a delete never waits for it; several requests made while a trim runs lead to
one more trim. Without a ``libc.so.6`` that has ``malloc_trim`` (macOS, Windows,
musl-based Linux) it does nothing.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable

#: Bytes to free, in one delete or several, before a trim is worth its cost.
TRIM_THRESHOLD_BYTES = 1024 * 1024


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    function: Callable[[int], int] = trim
    return function


_malloc_trim = _load_malloc_trim()


class _Trimmer:
    """Count freed bytes and run ``malloc_trim(0)`` on a daemon thread."""

    def __init__(self, trim: Callable[[int], int]) -> None:
        self._trim = trim
        self._wake = threading.Condition()
        self._pending = False
        self._freed = 0
        self._thread: threading.Thread | None = None

    def freed(self, freed_bytes: int) -> None:
        with self._wake:
            self._freed += freed_bytes
            if self._freed < TRIM_THRESHOLD_BYTES:
                return
            self._freed = 0
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="bufferkit-trim", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending)
                self._pending = False
            self._trim(0)


_trimmer = _Trimmer(_malloc_trim) if _malloc_trim is not None else None


def can_trim() -> bool:
    """Return whether this process's C library has ``malloc_trim``."""
    return _trimmer is not None


def release_memory(freed_bytes: int) -> None:
    """Count ``freed_bytes`` and have the freed memory returned to the OS.

    Returns at once; the trim runs on a daemon thread once the bytes freed since
    the last one reach :data:`TRIM_THRESHOLD_BYTES`.
    """
    if _trimmer is not None:
        _trimmer.freed(freed_bytes)
