"""Shared helpers for the parser tests.

Synthetic fixtures live in ``tests/parsers/data`` (invented content, same shapes as the real
exports). The real exports are read from ``../shared/fixtures/real`` (or
``$POSTPULSE_REAL_FIXTURES``) and the tests that need them skip when the folder is absent.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REAL = Path(
    os.environ.get("POSTPULSE_REAL_FIXTURES")
    or Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"
)
EXAMPLES = Path(__file__).resolve().parents[2] / "postpulse" / "ingest" / "mappings" / "examples"


def real_file(folder: str, pattern: str = "*") -> Path:
    """Path of one real export, or skip the test when the real fixtures are not here."""
    if not REAL.is_dir():
        pytest.skip(f"real fixtures folder {REAL} is absent (set POSTPULSE_REAL_FIXTURES)")
    matches = sorted(glob.glob(str(REAL / folder / pattern)))
    if not matches:
        pytest.skip(f"real fixture {folder}/{pattern} is absent")
    return Path(matches[0])


def data(name: str) -> Path:
    return DATA / name
