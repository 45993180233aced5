"""Large JSON reads encoded in parts, so the server sends them while staying live.

Encoding a million rows as one JSON document holds the interpreter for a large
fraction of a second even on a worker thread, which stalls every other request of
the event loop. ``encode_in_parts`` yields the same bytes as the one-piece
encoders of ``bufferkit.formats`` a bounded number of values at a time; the
handler encodes each part on a worker thread and sends it before asking for the
next.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from bufferkit.buffer import Snapshot
from bufferkit.codec import rows_json
from bufferkit.formats import data_prefix

#: Formats that ``encode_in_parts`` can send in parts.
STREAMED_FORMATS = ("json", "columns")
#: Values encoded per part: a few milliseconds of work.
PART_VALUES = 200_000


def encode_in_parts(
    head: dict[str, Any],
    snapshot: Snapshot,
    response_format: str,
    *,
    part_values: int = PART_VALUES,
) -> Iterator[bytes]:
    """Yield ``{...head, "data": ...}`` for ``snapshot`` in parts.

    ``response_format`` is ``json`` (row objects) or ``columns`` (an array per
    column); the joined parts equal the one-piece encoding.

    Examples
    --------
    >>> import numpy as np
    >>> snapshot = Snapshot(("x", "y"), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
    ...                     3, 0, 0)
    >>> b"".join(encode_in_parts({"n": 3}, snapshot, "json", part_values=2))
    b'{"n":3,"data":[{"x":1.0,"y":4.0},{"x":2.0,"y":5.0},{"x":3.0,"y":6.0}]}'
    >>> b"".join(encode_in_parts({"n": 3}, snapshot, "columns", part_values=2))
    b'{"n":3,"data":{"x":[1.0,2.0,3.0],"y":[4.0,5.0,6.0]}}'
    """
    yield data_prefix(head)
    if response_format == "json":
        yield from _rows_in_parts(
            snapshot, max(1, part_values // len(snapshot.columns))
        )
    else:
        yield from _columns_in_parts(snapshot, max(1, part_values))
    yield b"}"


def _rows_in_parts(snapshot: Snapshot, rows_per_part: int) -> Iterator[bytes]:
    total = snapshot.values.shape[1]
    yield b"["
    for start in range(0, total, rows_per_part):
        part = Snapshot(
            snapshot.columns,
            snapshot.values[:, start : start + rows_per_part],
            snapshot.current_size,
            snapshot.offset + start,
            snapshot.first_sequence + start,
        )
        # Each part is a JSON array: keep its elements.
        yield (b"," if start else b"") + rows_json(part)[1:-1]
    yield b"]"


def _columns_in_parts(snapshot: Snapshot, values_per_part: int) -> Iterator[bytes]:
    total = snapshot.values.shape[1]
    yield b"{"
    for index, column in enumerate(snapshot.columns):
        yield (b"," if index else b"") + orjson.dumps(column) + b":["
        for start in range(0, total, values_per_part):
            values = snapshot.values[index, start : start + values_per_part]
            encoded = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
            yield (b"," if start else b"") + encoded[1:-1]
        yield b"]"
    yield b"}"
