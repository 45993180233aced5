"""HTML pieces of the views: number formats, tables and messages.

Every text that comes from the server, such as column and buffer names, is escaped,
since column names may contain any character.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from bufferkit.widgets._svg import FONT, GRID_COLOR, MUTED_COLOR, TEXT_COLOR

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


#: Significant digits a value is rounded to; integer digits always show in full.
_SIGNIFICANT_DIGITS = 6
#: Magnitudes from ``_MIN_POSITIONAL`` up to, but not including, ``_MAX_POSITIONAL``
#: show in positional notation, others in exponent notation.
_MIN_POSITIONAL = 1e-6
_MAX_POSITIONAL = 1e15


def format_value(value: float | None) -> str:
    """Format a value for a table cell, a chart label or a caption.

    Every value shows the same way: rounded to 6 significant digits, with digits
    grouped by thousands and no trailing zeros. Integer digits always show in full,
    so large byte counts and rates keep every digit. Magnitudes under 1e-6 or from
    1e15 up show in exponent notation, and ``None`` shows as ``null``.

    Examples
    --------
    >>> format_value(45.2), format_value(1840.123), format_value(25856.3)
    ('45.2', '1,840.12', '25,856.3')
    >>> format_value(1368811.0), format_value(-1234.5), format_value(0.0)
    ('1,368,811', '-1,234.5', '0')
    >>> format_value(1e-6), format_value(0.000123456789), format_value(1e12)
    ('0.000001', '0.000123457', '1,000,000,000,000')
    >>> format_value(1e-7), format_value(2.5e20), format_value(None)
    ('1e-07', '2.5e+20', 'null')
    """
    if value is None:
        return "null"
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if not math.isfinite(value):
        return f"{value:g}"
    if not _MIN_POSITIONAL <= magnitude < _MAX_POSITIONAL:
        return f"{value:.{_SIGNIFICANT_DIGITS}g}"
    # The exponent after rounding to the significant digits: 999999.7 has 6.
    exponent = int(f"{magnitude:.{_SIGNIFICANT_DIGITS - 1}e}".split("e")[1])
    decimals = max(_SIGNIFICANT_DIGITS - 1 - exponent, 0)
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_bytes(size: int) -> str:
    """Format a byte count in binary units with one decimal.

    Examples
    --------
    >>> format_bytes(512), format_bytes(273_344), format_bytes(3 * 2**30)
    ('512 B', '266.9 KiB', '3.0 GiB')
    """
    value = float(size)
    for unit in _UNITS[:-1]:
        if abs(value) < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Build an HTML table of already formatted cells, numbers aligned right."""
    cell = f"padding: 1px 8px; border-bottom: 1px solid {GRID_COLOR}"
    head = "".join(
        f'<th style="{cell}; text-align: right">{escape(name)}</th>' for name in columns
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{cell}; text-align: right">{escape(value)}</td>'
            for value in row
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<table style="border-collapse: collapse; {FONT}; color: {TEXT_COLOR}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def message(text: str, *, error: bool = False) -> str:
    """Build a one-line notice, red for errors."""
    color = "var(--jp-error-color1, #d32f2f)" if error else MUTED_COLOR
    return f'<div style="color: {color}; margin: 2px 0">{escape(text)}</div>'


def page(body: str) -> str:
    """Wrap a view's body in a block with the theme's font and colour."""
    return (
        f'<div class="bufferkit-view" style="{FONT}; color: {TEXT_COLOR}; '
        f'line-height: 1.4">{body}</div>'
    )
