"""Text from imported data made safe to show or export.

- ``for_display(s)``: for the terminal (and any plain-text view). Terminal escape sequences (CSI,
  OSC such as window titles, single-character escapes) are removed whole, other C0/C1 control
  characters and DEL are dropped, line breaks and tabs become spaces, and bidirectional override
  characters (which can make text read differently from what it is) are removed.
- ``for_terminal(text)``: the same for multi-line output (line breaks kept).
- ``display_cell(v)``: ``for_display`` as a rich ``Text``, so that square brackets in imported
  text are shown as they are instead of being read as rich markup.
- ``for_spreadsheet(s)``: a CSV cell that a spreadsheet will not evaluate: cells starting with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading single quote (OWASP's
  advice against CSV injection).
- ``safe_link(url)``: the URL if it is an absolute http(s) URL, else None: anything else
  (``javascript:``, ``data:``, relative paths) is never rendered as a link.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from rich.text import Text

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI (colours, cursor, clear screen)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (window title, hyperlinks)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]"  # two-character escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_SPACES = re.compile(r"[\t\n\r\v\f]")
#: C0 controls other than tab and line breaks, DEL, C1 controls (the 8-bit CSI among them) and
#: the bidirectional overrides and isolates
CONTROL_CODEPOINTS = (
    *range(0x00, 0x09),
    *range(0x0E, 0x20),
    *range(0x7F, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)
_CONTROLS = re.compile("[" + "".join(re.escape(chr(c)) for c in CONTROL_CODEPOINTS) + "]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def for_display(value: str) -> str:
    if not isinstance(value, str):
        value = str(value)
    if value.isprintable():
        return value
    return _CONTROLS.sub("", _SPACES.sub(" ", _ESCAPES.sub("", value)))


def for_terminal(text: str) -> str:
    """Multi-line output (CSV to a terminal): escapes and controls removed, lines kept."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text).replace("\r", ""))


def display_cell(value: object) -> Text:
    return Text("" if value is None else for_display(str(value)))


def for_spreadsheet(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_link(url: object) -> str | None:
    if not isinstance(url, str):
        return None
    u = url.strip()
    try:
        parts = urlsplit(u)
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc and u == url and u.isprintable():
        return u
    return None
