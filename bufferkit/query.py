"""Query parameters: those of the row reads, ``offset``, ``limit``, ``last`` and
``format``, the check that no route gets one it does not take, and the size limit
of a feature history page.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from bufferkit.errors import InvalidRequestError

#: Response formats of the row reads, the default first.
FORMATS = ("json", "columns", "csv", "parquet", "arrow")
PAGE_PARAMETERS = ("offset", "limit", "last", "format")
_INTEGER = re.compile(r"[0-9]+")
#: Largest integer parameter accepted: more rows than any buffer holds.
MAX_QUERY_INTEGER = 10**18 - 1
#: Maximum values (rows x features) one feature history request may return.
MAX_HISTORY_VALUES = 10_000_000
#: Response header of every feature history page: the maximum rows one request of
#: that buffer's history may select, ``MAX_HISTORY_VALUES // features``.
MAX_HISTORY_ROWS_HEADER = "X-Bufferkit-Max-History-Rows"


@dataclass(frozen=True)
class PageQuery:
    """A page of rows and the format to send it in.

    ``offset`` and ``limit`` page from the oldest row held; ``last`` selects the
    newest rows instead. ``limit`` and ``last`` are ``None`` when not given.
    """

    offset: int = 0
    limit: int | None = None
    last: int | None = None
    format: str = "json"


def parse_page_query(
    arguments: Mapping[str, list[bytes]], *, ignored: Collection[str] = ()
) -> PageQuery:
    """Validate query ``arguments`` (as Tornado parses them) into a ``PageQuery``.

    Arguments named in ``ignored`` belong to the host, such as Jupyter's ``token``.

    Raises
    ------
    InvalidRequestError
        For an unknown or repeated parameter, an integer parameter that is not a
        non-negative integer or is over ``MAX_QUERY_INTEGER``, ``last`` combined
        with ``offset`` or ``limit``, or an unknown format.

    Examples
    --------
    >>> parse_page_query({"last": [b"10"], "format": [b"csv"]})
    PageQuery(offset=0, limit=None, last=10, format='csv')
    >>> parse_page_query({"format": [b"xml"]})
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Unknown format 'xml': valid formats are \
'json', 'columns', 'csv', 'parquet', 'arrow'
    """
    check_query_names(arguments, PAGE_PARAMETERS, ignored=ignored)
    values: dict[str, str] = {}
    for key, raw in arguments.items():
        if key in ignored:
            continue
        if len(raw) > 1:
            msg = f"Query parameter {key!r} is given more than once"
            raise InvalidRequestError(msg)
        values[key] = raw[0].decode("utf-8", "replace")
    integers = {
        key: _integer(key, text) for key, text in values.items() if key != "format"
    }
    last = integers.get("last")
    if last is not None and ("offset" in integers or "limit" in integers):
        raise InvalidRequestError(
            "Use either 'last' or 'offset'/'limit', not both: 'last' already "
            "selects the newest rows"
        )
    response_format = values.get("format", FORMATS[0])
    if response_format not in FORMATS:
        msg = f"Unknown format {response_format!r}: valid formats are " + ", ".join(
            repr(name) for name in FORMATS
        )
        raise InvalidRequestError(msg)
    return PageQuery(
        offset=integers.get("offset", 0),
        limit=integers.get("limit"),
        last=last,
        format=response_format,
    )


def check_query_names(
    arguments: Collection[str],
    parameters: Collection[str],
    *,
    ignored: Collection[str] = (),
) -> None:
    """Reject a query argument that is neither in ``parameters`` nor ``ignored``.

    Examples
    --------
    >>> check_query_names({"token": [b"t"]}, (), ignored=("token",))
    >>> check_query_names({"force": [b"1"]}, ())
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Unknown query parameter 'force': this \
route takes no query parameters
    """
    for key in arguments:
        if key in ignored or key in parameters:
            continue
        if not parameters:
            msg = f"Unknown query parameter {key!r}: this route takes no query "
            msg += "parameters"
        else:
            msg = f"Unknown query parameter {key!r}: valid parameters are " + ", ".join(
                repr(name) for name in parameters
            )
        raise InvalidRequestError(msg)


def max_history_rows(feature_count: int) -> int:
    """Return the maximum rows one feature history request may select.

    A request returns at most ``MAX_HISTORY_VALUES`` values, and a row of
    ``feature_count`` features counts as one value at least.

    Examples
    --------
    >>> max_history_rows(72), max_history_rows(0)
    (138888, 10000000)
    """
    return MAX_HISTORY_VALUES // max(1, feature_count)


def _integer(key: str, text: str) -> int:
    if not _INTEGER.fullmatch(text):
        msg = f"Query parameter {key!r} must be a non-negative integer, got {text!r}"
        raise InvalidRequestError(msg)
    digits = text.lstrip("0")
    if len(digits) > len(str(MAX_QUERY_INTEGER)):
        shown = text if len(text) <= 40 else f"{text[:37]}..."
        msg = (
            f"Query parameter {key!r} is too large, got {shown!r}: "
            f"use at most {MAX_QUERY_INTEGER}"
        )
        raise InvalidRequestError(msg)
    return int(text)
