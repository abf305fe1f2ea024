"""Keep typed text (DM bodies, comments) out of error messages before they reach attempts and audit.

A browser error can echo what was typed: verbatim, escaped the way JSON or ``repr`` escapes it,
or cut short by a length limit. Every such form is replaced by ``[text withheld]``.
"""

from __future__ import annotations

import json

WITHHELD = "[text withheld]"
MIN_TEXT = 3  # shorter texts ("ok") are too common to scrub without mangling the message
MIN_TRUNCATED = 16  # a cut-off echo is recognised from this many leading characters on


def withhold_text(message: str | None, typed: str | None) -> str | None:
    if not message or not typed or len(typed) < MIN_TEXT:
        return message
    forms = sorted(
        {typed, json.dumps(typed)[1:-1], json.dumps(typed, ensure_ascii=False)[1:-1], repr(typed)[1:-1]},
        key=len,
        reverse=True,
    )
    for form in forms:
        message = message.replace(form, WITHHELD)
    for form in forms:
        for k in range(min(len(form) - 1, len(message)), MIN_TRUNCATED - 1, -1):
            if form[:k] in message:
                message = message.replace(form[:k], WITHHELD)
                break
    return message
