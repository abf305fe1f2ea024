"""A sparkline small enough to show inline in Dagster's UI.

Dagster renders a Markdown metadata value in place only when it is shorter than 1,000
characters; longer ones (every matplotlib plot as a data URI) hide behind "[Show Markdown]".
A two-colour 160x36 PNG of one line compresses to a few hundred bytes, so its data-URI
Markdown fits: the trend shows at a glance, the full plot stays one click away.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

WIDTH, HEIGHT, MARGIN = 160, 36, 3
#: Dagster shows Markdown inline below this many characters
INLINE_LIMIT = 1000


def sparkline_png(values: Sequence[float | None]) -> bytes:
    """One line through ``values`` (None skipped), scaled to the box; a flat line when constant."""
    pts = [(i, float(v)) for i, v in enumerate(values) if v is not None]
    img = Image.new("P", (WIDTH, HEIGHT), 0)
    img.putpalette([255, 255, 255, 37, 99, 235] + [0, 0, 0] * 254)
    draw = ImageDraw.Draw(img)
    if pts:
        lo, hi = min(v for _, v in pts), max(v for _, v in pts)
        span_x = max(len(values) - 1, 1)
        span_y = (hi - lo) or 1.0

        def xy(i: int, v: float) -> tuple[float, float]:
            x = MARGIN + (WIDTH - 2 * MARGIN) * i / span_x
            y = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * ((v - lo) / span_y if hi > lo else 0.5)
            return x, y

        coords = [xy(i, v) for i, v in pts]
        if len(coords) == 1:
            x, y = coords[0]
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=1)
        else:
            draw.line(coords, fill=1, width=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True, bits=1)
    return buf.getvalue()


def sparkline_md(values: Sequence[float | None], alt: str = "trend") -> str | None:
    """Markdown with the sparkline inlined, or None if it would not fit inline."""
    md = f"![{alt}](data:image/png;base64,{base64.b64encode(sparkline_png(values)).decode()})"
    return md if len(md) < INLINE_LIMIT else None
