"""``WindowStorage``: the newest rows in order, sequence numbers and memory use."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bufferkit.storage import WindowStorage

#: Rows a storage may allocate beyond twice the rows it contains: its first array.
SMALL_CONSTANT_ROWS = 16


def block_of(rows: list[list[float]]) -> np.ndarray:
    """Return rows (each a list of column values) as a ``(width, n)`` block."""
    return np.array(rows, dtype=np.float64).T


def held_rows(storage: WindowStorage) -> list[list[float]]:
    """Return the rows a storage contains, oldest first, as lists of values."""
    return storage.view().T.tolist()


def numbered_rows(start: int, count: int) -> list[list[float]]:
    """Return ``count`` two-column rows numbered from ``start``."""
    return [[float(number), -float(number)] for number in range(start, start + count)]


# Examples.


def test_new_storage_is_empty() -> None:
    storage = WindowStorage(width=2, max_size=5)

    assert storage.size == 0
    assert storage.appended_total == 0
    assert storage.first_sequence == 0
    assert storage.view().shape == (2, 0)


def test_append_below_max_keeps_all() -> None:
    storage = WindowStorage(width=2, max_size=5)

    dropped = storage.append(block_of(numbered_rows(0, 3)))

    assert dropped == 0
    assert held_rows(storage) == numbered_rows(0, 3)


def test_append_past_max_drops_oldest() -> None:
    storage = WindowStorage(width=2, max_size=5)
    storage.append(block_of(numbered_rows(0, 5)))

    dropped = storage.append(block_of(numbered_rows(5, 2)))

    assert dropped == 2
    assert held_rows(storage) == numbered_rows(2, 5)


def test_block_over_max_keeps_tail() -> None:
    storage = WindowStorage(width=2, max_size=3)
    storage.append(block_of(numbered_rows(0, 2)))

    dropped = storage.append(block_of(numbered_rows(2, 10)))

    assert dropped == 9
    assert held_rows(storage) == numbered_rows(9, 3)


def test_block_over_max_counts_sequence() -> None:
    storage = WindowStorage(width=2, max_size=3)

    storage.append(block_of(numbered_rows(0, 10)))

    assert storage.appended_total == 10
    assert storage.first_sequence == 7


def test_append_row_drops_one() -> None:
    storage = WindowStorage(width=2, max_size=2)
    storage.append_row((0.0, 0.0))
    storage.append_row((1.0, -1.0))

    dropped = storage.append_row((2.0, -2.0))

    assert dropped == 1
    assert held_rows(storage) == numbered_rows(1, 2)


def test_max_size_one_keeps_newest() -> None:
    storage = WindowStorage(width=1, max_size=1)

    for value in range(5):
        storage.append_row((float(value),))

    assert held_rows(storage) == [[4.0]]
    assert storage.first_sequence == 4


def test_view_is_read_only() -> None:
    storage = WindowStorage(width=1, max_size=3)
    storage.append_row((1.0,))

    view = storage.view()

    with pytest.raises(ValueError, match="read-only"):
        view[0, 0] = 2.0


def test_initial_allocation_is_small() -> None:
    storage = WindowStorage(width=4, max_size=1_000_000)

    assert storage.nbytes == 4 * 8 * SMALL_CONSTANT_ROWS


def test_full_capacity_bounded() -> None:
    storage = WindowStorage(width=1, max_size=1000)

    for value in range(5000):
        storage.append_row((float(value),))

    assert storage.nbytes <= 1.5 * 1000 * 8


def test_large_block_capacity_bounded() -> None:
    storage = WindowStorage(width=3, max_size=100_000)

    storage.append(np.zeros((3, 250_000)))

    assert storage.nbytes <= 1.5 * 100_000 * 3 * 8


# Rows moved by appends, counted by wrapping ``_make_room``.


class CountingStorage(WindowStorage):
    """A storage that counts the rows it moves when it grows or compacts."""

    rows_moved = 0

    def _make_room(self, count: int) -> None:
        array, start, end = self._array, self._start, self._end
        super()._make_room(count)
        if self._array is not array or (self._start, self._end) != (start, end):
            self.rows_moved += self.size


def test_single_rows_copied_few_times() -> None:
    storage = CountingStorage(width=1, max_size=10_000)
    appended = 100_000

    for value in range(appended):
        storage.append_row((float(value),))

    assert storage.rows_moved <= 4 * appended


def test_small_blocks_copied_few_times() -> None:
    storage = CountingStorage(width=2, max_size=5_000)
    appended = 0

    for size in [7, 1, 300, 2, 64] * 200:
        storage.append(np.ones((2, size)))
        appended += size

    assert storage.rows_moved <= 4 * appended


# Properties against a plain list model.


appends = st.lists(
    st.one_of(
        st.integers(min_value=1, max_value=60).map(lambda count: ("block", count)),
        st.just(("row", 1)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(max_size=st.integers(min_value=1, max_value=50), steps=appends)
def test_storage_matches_list_model(
    max_size: int, steps: list[tuple[str, int]]
) -> None:
    storage = WindowStorage(width=2, max_size=max_size)
    model: list[list[float]] = []
    total = 0

    for kind, count in steps:
        rows = numbered_rows(total, count)
        size_before = len(model)
        if kind == "row":
            dropped = storage.append_row(tuple(rows[0]))
        else:
            dropped = storage.append(block_of(rows))
        model = (model + rows)[-max_size:]
        total += count

        assert dropped == size_before + count - len(model)
        assert held_rows(storage) == model
        assert storage.size == min(max_size, size_before + count)
        assert storage.appended_total == total
        assert storage.first_sequence == total - len(model)


@settings(max_examples=200, deadline=None)
@given(max_size=st.integers(min_value=1, max_value=3000), steps=appends)
def test_memory_follows_data(max_size: int, steps: list[tuple[str, int]]) -> None:
    width = 3
    storage = WindowStorage(width=width, max_size=max_size)
    row = np.ones((width, 1))

    for kind, count in steps:
        if kind == "row":
            storage.append_row((1.0,) * width)
        else:
            storage.append(np.repeat(row, count, axis=1))
        held_bytes = storage.size * width * 8

        assert storage.nbytes <= 2 * held_bytes + SMALL_CONSTANT_ROWS * width * 8
        assert storage.nbytes <= 1.5 * max_size * width * 8 + width * 8


@settings(max_examples=200, deadline=None)
@given(max_size=st.integers(min_value=1, max_value=400), steps=appends)
def test_rows_moved_amortised(max_size: int, steps: list[tuple[str, int]]) -> None:
    storage = CountingStorage(width=1, max_size=max_size)
    appended = 0

    for _ in range(20):
        for _kind, count in steps:
            storage.append(np.ones((1, count)))
            appended += count

    assert storage.rows_moved <= 4 * appended + 2 * max_size
