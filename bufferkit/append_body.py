"""Choice of the decoder of an append body, by content type and shape.

- ``Content-Type: application/vnd.apache.arrow.stream``: an Arrow IPC stream.
- Otherwise JSON: ``{"columns": {column: [value, ...]}}`` when the object's first
  key is ``"columns"``, else ``{"data": [row, ...]}``.
"""

from __future__ import annotations

from bufferkit.ingest import decode_append, decode_append_row
from bufferkit.ingest_arrow import ARROW_STREAM_TYPE, decode_arrow
from bufferkit.ingest_columns import decode_columns, is_columns_body
from bufferkit.storage import FloatArray


def decode_append_body(
    body: bytes, content_type: str | None, columns: tuple[str, ...]
) -> FloatArray:
    """Decode an append body of any accepted format into ``(columns, rows)``.

    Examples
    --------
    >>> decode_append_body(b'{"columns": {"x": [1, 2]}}', None, ("x",)).tolist()
    [[1.0, 2.0]]
    >>> decode_append_body(b'{"data": [{"x": 3}]}', "application/json", ("x",))
    array([[3.]])
    """
    if _media_type(content_type) == ARROW_STREAM_TYPE:
        return decode_arrow(body, columns)
    if is_columns_body(body):
        return decode_columns(body, columns)
    return decode_append(body, columns)


def decode_single_row(
    body: bytes, content_type: str | None, columns: tuple[str, ...]
) -> tuple[float, ...] | None:
    """Return the values of a JSON body of exactly one row object, else ``None``.

    The single-row path of an append: a tuple appends without building an array.
    Every other body, valid or not, gives ``None`` and goes to
    ``decode_append_body``.

    Examples
    --------
    >>> decode_single_row(b'{"data": [{"x": 3}]}', "application/json", ("x",))
    (3.0,)
    >>> decode_single_row(b'{"columns": {"x": [3]}}', None, ("x",)) is None
    True
    """
    if _media_type(content_type) == ARROW_STREAM_TYPE:
        return None
    return decode_append_row(body, columns)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()
