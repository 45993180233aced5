"""Sliding-window storage of float64 columns.

The rows a buffer holds live in one column-major numpy array, ``(columns, capacity)``,
where they always occupy one contiguous slice ``[start, end)``. Appending writes after
``end``; when the array is full it either grows (while the buffer is below
``max_size``) or moves the newest ``max_size - 1`` rows back to the front. The array
has room for half a window of spare rows past ``max_size``, so that move happens at
most once per ``max_size / 2`` appended rows: each row is copied a bounded number of
times, which makes appends amortised O(1) per row whatever ``max_size`` is, and every
read or feature is a view of contiguous memory.

Memory follows the data, not ``max_size``: the array starts small and grows by half
each time, and once full it holds at most 1.5 times the rows it keeps.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Rows allocated at first; small buffers stay small.
_INITIAL_CAPACITY = 16


class WindowStorage:
    """Keep the newest ``max_size`` rows of ``width`` float64 columns.

    Parameters
    ----------
    width
        Number of columns.
    max_size
        Number of rows kept; older rows are evicted first.

    Examples
    --------
    >>> import numpy as np
    >>> storage = WindowStorage(width=2, max_size=3)
    >>> storage.append(np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]))
    1
    >>> storage.view().tolist()
    [[2.0, 3.0, 4.0], [6.0, 7.0, 8.0]]
    >>> storage.appended_total, storage.size
    (4, 3)
    """

    def __init__(self, width: int, max_size: int) -> None:
        self.width = width
        self.max_size = max_size
        self._max_capacity = max_size + max(1, max_size // 2)
        self._array: FloatArray = np.empty(
            (width, min(_INITIAL_CAPACITY, self._max_capacity)), dtype=np.float64
        )
        self._start = 0
        self._end = 0
        #: Rows ever appended; the sequence number of the next row.
        self.appended_total = 0

    @property
    def size(self) -> int:
        """Number of rows held."""
        return self._end - self._start

    @property
    def first_sequence(self) -> int:
        """Sequence number of the oldest row held (rows appended before it)."""
        return self.appended_total - self.size

    @property
    def nbytes(self) -> int:
        """Bytes allocated for the values, spare capacity included."""
        return self._array.nbytes

    def release(self) -> int:
        """Free the array and return its size in bytes; ``size`` stays as it was.

        Only for a storage that is never used again: a view taken afterwards is
        empty.
        """
        freed = self._array.nbytes
        self._array = np.empty((self.width, 0), dtype=np.float64)
        return freed

    def view(self) -> FloatArray:
        """Return a read-only view of the rows held, ``(width, size)``, oldest first.

        The view is invalidated by the next append; copy it to keep it.
        """
        view = self._array[:, self._start : self._end]
        view.flags.writeable = False
        return view

    def append(self, block: FloatArray) -> int:
        """Append the columns ``block`` (``(width, n)``) and return rows evicted.

        A block longer than ``max_size`` keeps only its last ``max_size`` rows.
        """
        count = int(block.shape[1])
        if count > self.max_size:
            block = block[:, count - self.max_size :]
        size_before = self.size
        self._make_room(block.shape[1])
        self._array[:, self._end : self._end + block.shape[1]] = block
        self._end += block.shape[1]
        self.appended_total += count
        if self.size > self.max_size:
            self._start = self._end - self.max_size
        return size_before + count - self.size

    def append_row(self, row: tuple[float, ...]) -> int:
        """Append one row of ``width`` values and return rows evicted (0 or 1)."""
        size_before = self.size
        # Making room may move the rows and evict the oldest one already.
        self._make_room(1)
        self._array[:, self._end] = row
        self._end += 1
        self.appended_total += 1
        if self.size > self.max_size:
            self._start += 1
        return size_before + 1 - self.size

    def _make_room(self, count: int) -> None:
        """Ensure ``count`` free slots after ``end``, by growing or compacting."""
        capacity = self._array.shape[1]
        if self._end + count <= capacity:
            return
        # Rows that survive the append: at most max_size - count of the old ones.
        keep = min(self.size, self.max_size - count)
        needed = keep + count
        # Grow up to the spare room past max_size before moving any rows: a full
        # buffer without that room would move nearly all its rows on every append.
        if needed > capacity or capacity < self._max_capacity:
            new_capacity = min(
                self._max_capacity, max(needed, capacity + capacity // 2)
            )
            new_array: FloatArray = np.empty(
                (self.width, new_capacity), dtype=np.float64
            )
            new_array[:, :keep] = self._array[:, self._end - keep : self._end]
            self._array = new_array
        else:
            self._array[:, :keep] = self._array[:, self._end - keep : self._end]
        self._start = 0
        self._end = keep
