"""Downloaded exports written where the import reads them: JSON Lines, complete or not at all
(written to ``.part`` beside the file, then renamed into place)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import orjson


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    """Write ``rows`` to ``path`` (its folder created); returns the number of rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    n = 0
    with tmp.open("wb") as f:
        for row in rows:
            f.write(orjson.dumps(row))
            f.write(b"\n")
            n += 1
    os.replace(tmp, path)
    return n
