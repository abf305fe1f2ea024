"""The drop folder (``POSTPULSE_DROP_DIR`` or ``<POSTPULSE_HOME>/drop``): files put there are
imported one run each; afterwards they move to ``archive/`` or, with the error written beside
them (``<name>.error.txt``), to ``failed/``.

:func:`scan` is what the drop-folder sensor asks each tick: which files to import (one run per
content hash), given the state it kept from the last tick (the cursor). Files whose content was
already imported go to ``archive/`` at once; a file whose content was submitted more than
``INFLIGHT`` ago without being imported goes to ``failed/``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from postpulse import config
from postpulse.ingest.runs import sha256_file

IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".error.txt", ".note.txt")
SETTLE_SECONDS = 2.0
# a file whose content was submitted this long ago and is still in the folder: its run never ran
INFLIGHT = timedelta(hours=1)
# how long a submitted hash is remembered in the cursor
REMEMBER = timedelta(days=1)


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


@dataclass(frozen=True)
class DropRequest:
    """One file to import: its content hash is the run's key."""

    path: Path
    sha256: str


@dataclass
class DropScan:
    root: Path
    requests: list[DropRequest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was moved instead, one line per file
    cursor: str = ""  # the state for the next scan


def scan(
    cursor: str | None,
    already_imported: Callable[[str], str | None],
    *,
    now: datetime | None = None,
    root: Path | None = None,
) -> DropScan:
    """The files of the drop folder to import now. ``cursor`` is the previous scan's (``None`` the
    first time); ``already_imported(sha256)`` is the run that imported that content, if any.

    The cursor keeps each present file's hash (by name, size and mtime, so a file is hashed once)
    and the hashes submitted in the last day (so a tick never submits the same content twice)."""
    root = ensure_dirs(root)
    now = now or datetime.now(UTC)
    state = json.loads(cursor) if cursor else {}
    hashes: dict[str, str] = state.get("hashes", {})  # "name|size|mtime" -> sha256 (files still present)
    requested: dict[str, str] = state.get("requested", {})  # sha256 -> ISO time first requested
    files = pending_files(root)
    present = {f.stamp for f in files}
    hashes = {k: v for k, v in hashes.items() if k in present}
    out = DropScan(root)
    for f in files:
        sha = hashes.get(f.stamp)
        if sha is None:
            try:
                sha, _ = sha256_file(f.path)
            except OSError:
                continue
            hashes[f.stamp] = sha
        when = requested.get(sha)
        if when is not None:
            if now - datetime.fromisoformat(when) > INFLIGHT:
                move_failed(
                    f.path,
                    f"not imported: the same content (SHA-256 {sha}) was already submitted "
                    f"as a run at {when}; change the file or use `postpulse import`",
                )
                out.notes.append(f"{f.path.name}: stale duplicate moved to failed/")
            continue
        prev = already_imported(sha)
        if prev:
            move_done(f.path, f"already imported as {prev} (same SHA-256); nothing changed")
            out.notes.append(f"{f.path.name}: already imported as {prev}")
            continue
        requested[sha] = now.isoformat()
        out.requests.append(DropRequest(f.path, sha))
    cutoff = now - REMEMBER
    requested = {k: v for k, v in requested.items() if datetime.fromisoformat(v) > cutoff}
    out.cursor = json.dumps({"hashes": hashes, "requested": requested})
    return out


def platform_guess(path: str | os.PathLike) -> str:
    """The platform of a file's detected format, for the run's tag; ``file`` when unknown."""
    try:
        from postpulse.ingest import detect_format, load_mappings

        m = load_mappings().get(detect_format(path))
        return m.platform if m is not None else "file"
    except Exception:
        return "file"
