"""The drop folder (``POSTPULSE_DROP_DIR`` or ``<POSTPULSE_HOME>/drop``): files put there are
imported one run each; afterwards they move to ``archive/`` or, with the error written beside
them (``<name>.error.txt``), to ``failed/``."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from postpulse import config

IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".error.txt", ".note.txt")
SETTLE_SECONDS = 2.0


def drop_dir() -> Path:
    return config.drop_dir()


def ensure_dirs(root: Path | None = None) -> Path:
    root = root or drop_dir()
    for sub in ("", "archive", "failed"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class DropFile:
    path: Path
    size: int
    mtime_ns: int

    @property
    def stamp(self) -> str:
        return f"{self.path.name}|{self.size}|{self.mtime_ns}"


def pending_files(root: Path | None = None, *, settle: float = SETTLE_SECONDS) -> list[DropFile]:
    """Regular files at the top of the drop folder that are not being written right now."""
    root = root or drop_dir()
    if not root.is_dir():
        return []
    now = time.time()
    out = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False) or entry.name.startswith("."):
            continue
        if entry.name.endswith(IGNORED_SUFFIXES):
            continue
        st = entry.stat()
        if now - st.st_mtime < settle:
            continue
        out.append(DropFile(Path(entry.path), st.st_size, st.st_mtime_ns))
    return out


def _target(folder: Path, name: str) -> Path:
    target = folder / name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{stamp}_{name}"
    return target


def _move(path: str | os.PathLike, sub: str, note: str | None, note_suffix: str) -> Path | None:
    src = Path(path)
    if not src.exists():
        return None
    folder = src.parent / sub
    folder.mkdir(parents=True, exist_ok=True)
    target = _target(folder, src.name)
    shutil.move(str(src), str(target))
    if note:
        target.with_name(target.name + note_suffix).write_text(note.rstrip() + "\n", encoding="utf-8")
    return target


def move_done(path: str | os.PathLike, note: str | None = None) -> Path | None:
    return _move(path, "archive", note, ".note.txt")


def move_failed(path: str | os.PathLike, error: str) -> Path | None:
    return _move(path, "failed", error, ".error.txt")
