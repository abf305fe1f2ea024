"""The inline sparkline: short enough for Dagster to show Markdown in place, and a real PNG."""

import base64
import io

from PIL import Image

from postpulse.analytics.sparkline import HEIGHT, INLINE_LIMIT, WIDTH, sparkline_md, sparkline_png


def _pixels(values):
    img = Image.open(io.BytesIO(sparkline_png(values)))
    assert img.size == (WIDTH, HEIGHT)
    return img.convert("L")


def test_fits_inline_and_decodes():
    values = [((i * 37) % 11) * 1000.0 for i in range(60)]
    md = sparkline_md(values, "new engagement")
    assert md is not None and len(md) < INLINE_LIMIT
    png = base64.b64decode(md.split("base64,", 1)[1].rstrip(")"))
    assert png.startswith(b"\x89PNG")


def _dark(img, left: bool, top: bool) -> bool:
    """Any drawn pixel in the 10x10 corner."""
    x0 = 0 if left else WIDTH - 10
    y0 = 0 if top else HEIGHT - 10
    return img.crop((x0, y0, x0 + 10, y0 + 10)).getextrema()[0] < 128


def test_the_line_follows_the_values():
    rising = _pixels([0, 1, 2, 3, 4])
    falling = _pixels([4, 3, 2, 1, 0])
    # a rising line is drawn at the bottom left and the top right, not the other corners
    assert _dark(rising, True, False) and _dark(rising, False, True)
    assert not _dark(rising, True, True) and not _dark(rising, False, False)
    assert _dark(falling, True, True) and _dark(falling, False, False)
    blank = _pixels([None, None])
    assert blank.getextrema() == (255, 255)  # nothing to draw: an empty box, no crash
