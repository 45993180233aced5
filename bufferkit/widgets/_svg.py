"""Inline SVG charts rendered in Python: line charts and horizontal bars.

Every function returns a string of SVG markup that goes into an ``ipywidgets.HTML``
value. Coordinates are rounded to one decimal place so that the same data always
produces the same text, which keeps change detection and tests exact.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

#: Colours from JupyterLab's theme variables, with fallbacks for other frontends.
TEXT_COLOR = "var(--jp-ui-font-color1, #1f1f1f)"
MUTED_COLOR = "var(--jp-ui-font-color2, #616161)"
GRID_COLOR = "var(--jp-border-color2, #e0e0e0)"
LINE_COLOR = "var(--jp-brand-color1, #1976d2)"
BAR_COLOR = "var(--jp-brand-color2, #64b5f6)"
FONT = "font-family: var(--jp-ui-font-family, sans-serif); font-size: 11px"


def downsample(values: FloatArray, buckets: int) -> tuple[IndexArray, FloatArray]:
    """Keep the minimum and the maximum of each of ``buckets`` runs of ``values``.

    Returns the positions and values of the points kept, in their original order,
    at most ``2 * buckets`` of them. A line through them has the same vertical extent
    in every pixel column as a line through all the values, so spikes stay visible.
    Series of at most ``2 * buckets`` values come back whole.

    Examples
    --------
    >>> positions, kept = downsample(np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0]), 1)
    >>> positions.tolist(), kept.tolist()
    ([1, 5], [1.0, 9.0])
    """
    count = len(values)
    if count <= 2 * buckets:
        return np.arange(count), values
    size = math.ceil(count / buckets)
    rows = math.ceil(count / size)
    # Padding with +inf and -inf keeps the padded cells out of argmin and argmax.
    padded = np.full(rows * size, np.inf)
    padded[:count] = values
    low = padded.reshape(rows, size).argmin(axis=1)
    padded[count:] = -np.inf
    high = padded.reshape(rows, size).argmax(axis=1)
    starts = np.arange(rows) * size
    positions = np.unique(np.concatenate([starts + low, starts + high]))
    return positions, values[positions]


def polyline_points(
    positions: IndexArray,
    values: FloatArray,
    *,
    count: int,
    low: float,
    high: float,
    width: float,
    height: float,
) -> str:
    """Map points to SVG ``x,y`` pairs in a ``width`` by ``height`` box.

    ``positions`` run from 0 to ``count - 1``, left to right. ``low`` is drawn at the
    bottom and ``high`` at the top. A flat series runs through the middle.

    Examples
    --------
    >>> polyline_points(
    ...     np.array([0, 1, 2]), np.array([0.0, 5.0, 10.0]),
    ...     count=3, low=0.0, high=10.0, width=100.0, height=50.0,
    ... )
    '0.0,50.0 50.0,25.0 100.0,0.0'
    """
    x_scale = width / (count - 1) if count > 1 else 0.0
    xs = positions * x_scale if count > 1 else np.full(len(positions), width)
    if high > low:
        ys = height - (values - low) / (high - low) * height
    else:
        ys = np.full(len(values), height / 2)
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))


def line_chart(
    title: str,
    values: FloatArray,
    *,
    width: int = 600,
    height: int = 48,
    caption: str = "",
    top_label: str = "",
    bottom_label: str = "",
) -> str:
    """Draw ``values`` as a polyline from left to right, downsampled per pixel column.

    The chart is ``width`` pixels wide, with ``title`` and ``caption`` above the plot
    and ``top_label`` and ``bottom_label`` to the right of its top and bottom edges,
    usually the maximum and the minimum.
    """
    plot_width = width - 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height + 18}" viewBox="0 0 {width} {height + 18}" '
        f'style="display: block; {FONT}">',
        f'<text x="0" y="11" fill="{TEXT_COLOR}"><tspan font-weight="bold">'
        f"{escape(title)}</tspan> {escape(caption)}</text>",
        '<g transform="translate(0,16)">',
        f'<rect x="0" y="0" width="{plot_width}" height="{height}" fill="none" '
        f'stroke="{GRID_COLOR}"/>',
    ]
    if len(values):
        positions, kept = downsample(values, plot_width)
        points = polyline_points(
            positions,
            kept,
            count=len(values),
            low=float(kept.min()),
            high=float(kept.max()),
            width=plot_width,
            height=height,
        )
        parts.append(
            f'<polyline fill="none" stroke="{LINE_COLOR}" stroke-width="1.2" '
            f'points="{points}"/>'
        )
    parts += [
        f'<text x="{plot_width + 6}" y="10" fill="{MUTED_COLOR}">'
        f"{escape(top_label)}</text>",
        f'<text x="{plot_width + 6}" y="{height}" fill="{MUTED_COLOR}">'
        f"{escape(bottom_label)}</text>",
        "</g></svg>",
    ]
    return "".join(parts)


def horizontal_bar(fraction: float, *, width: int = 300, height: int = 12) -> str:
    """Draw a bar of ``width`` pixels filled to ``fraction``, clipped to 0..1.

    Examples
    --------
    >>> 'width="150.0"' in horizontal_bar(0.5, width=300)
    True
    """
    filled = min(max(fraction, 0.0), 1.0) * width
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="display: block">'
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" '
        f'fill="none" stroke="{GRID_COLOR}"/>'
        f'<rect x="0" y="0" width="{filled:.1f}" height="{height}" '
        f'fill="{BAR_COLOR}"/></svg>'
    )
