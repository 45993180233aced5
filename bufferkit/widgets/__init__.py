"""Live views of buffers for Jupyter notebooks, built on ipywidgets.

``BufferView`` shows one buffer: its newest rows, a line chart per column, its fill
level and the rows appended per second. ``MemoryView`` shows the memory every buffer
uses. Both refresh on a background thread and send at most one update per interval.

The charts are inline SVG that Python renders into the value of one
``ipywidgets.HTML`` widget. That needs no JavaScript of its own and no frontend build,
so the views render in JupyterLab, Notebook 7, VS Code and in saved outputs alike, and
tests can check the exact markup. Long windows are downsampled to the minimum and
maximum of each pixel column, so a chart of a million rows is a few kilobytes, the
same as a chart of a thousand. A whole view changes in a single ``value`` assignment,
so each update is one widget message.
"""

from bufferkit.widgets.buffer_view import BufferView
from bufferkit.widgets.memory_view import MemoryView

__all__ = ["BufferView", "MemoryView"]
