"""HTML pieces of the views: number formats, tables and messages.

Every text that comes from the server, such as column and buffer names, is escaped,
since column names may contain any character.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from bufferkit.widgets._svg import FONT, GRID_COLOR, MUTED_COLOR, TEXT_COLOR

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_value(value: float | None) -> str:
    """Format a value for a table cell or a chart label; ``None`` shows as ``null``.

    Values from a million up to 1e15 show every integer digit, grouped by thousands,
    since byte counts and rates read better that way than in exponent notation. Other
    values show up to 6 significant digits.

    Examples
    --------
    >>> format_value(45.2), format_value(1840.123), format_value(1e-7)
    ('45.2', '1840.12', '1e-07')
    >>> format_value(23978812.4), format_value(2.5e20), format_value(None)
    ('23,978,812', '2.5e+20', 'null')
    """
    if value is None:
        return "null"
    if 1e6 <= abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:.6g}"


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
