"""Choice of the decoder of an append body, by content type and shape.

- ``Content-Type: application/vnd.apache.arrow.stream`` or
  ``application/vnd.apache.arrow.file``: Arrow IPC, a stream or a file.
- A JSON type (see ``bufferkit.media``): ``{"columns": {column: [value, ...]}}``
  when the object's first key is ``"columns"``, else ``{"data": [row, ...]}``.
- Any other type: 415 ``unsupported_media_type``.
"""

from __future__ import annotations

from bufferkit.ingest import decode_append, decode_append_row
from bufferkit.ingest_arrow import decode_arrow
from bufferkit.ingest_columns import decode_columns, is_columns_body
from bufferkit.media import body_kind
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
    if body_kind(content_type, arrow=True) == "arrow":
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
    ``decode_append_body``. A content type that is neither JSON nor Arrow raises
    ``UnsupportedMediaTypeError``.

    Examples
    --------
    >>> decode_single_row(b'{"data": [{"x": 3}]}', "application/json", ("x",))
    (3.0,)
    >>> decode_single_row(b'{"columns": {"x": [3]}}', None, ("x",)) is None
    True
    """
    if body_kind(content_type, arrow=True) == "arrow":
        return None
    return decode_append_row(body, columns)
