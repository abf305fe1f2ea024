"""The media library: files stored once under ``$POSTPULSE_HOME/media``, named by their SHA-256.

Type, size and dimensions are read from the file's content (Pillow for images, the container's
signature for videos), never from its name. A file that Pillow cannot decode completely
(truncated, corrupt, not an image) is refused with its path named.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import text
from sqlalchemy.engine import Connection

from postpulse import config
from postpulse.ids import insert_with_new_id

from .errors import MediaError

#: unused media younger than this are kept (an item may be being written)
UNUSED_GRACE = timedelta(days=1)

# ISO base media (MP4/MOV): "ftyp" at offset 4; Matroska/WebM: the EBML magic
_VIDEO_SIGNATURES = (
    (4, b"ftypqt", "video/quicktime"),
    (4, b"ftyp", "video/mp4"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
)


def media_dir() -> Path:
    return config.data_dir() / "media"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def inspect_file(path: Path) -> dict:
    """``media_type``, ``mime_type``, ``file_size``, ``width``, ``height`` read from the content."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(16)
    for offset, magic, mime in _VIDEO_SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return {
                "media_type": "video",
                "mime_type": mime,
                "file_size": size,
                "width": None,
                "height": None,
            }
    try:
        with Image.open(path) as im:
            fmt = im.format
            im.load()  # decodes every byte: a truncated file fails here
            width, height = im.size
    except UnidentifiedImageError:
        raise MediaError(
            f"{path}: not an image or video postpulse can read", fix="use a JPEG, PNG, WebP, GIF or MP4 file"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(
            f"{path}: the image is damaged or incomplete ({exc})", fix="export the image again"
        ) from None
    mime = Image.MIME.get(fmt or "", f"image/{(fmt or 'unknown').lower()}")
    return {"media_type": "image", "mime_type": mime, "file_size": size, "width": width, "height": height}


def store_media(conn: Connection, source: str | Path) -> dict:
    """Add a file to the library (or find it there): the ``media_assets`` row."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise MediaError(f"media file {path} does not exist", fix="check the path")
    digest = sha256_of(path)
    row = conn.execute(text("SELECT * FROM media_assets WHERE sha256 = :s"), {"s": digest}).mappings().first()
    info = inspect_file(path)
    target = media_dir() / digest[:2] / digest
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    if row is not None:
        return dict(row)
    values = {"sha256": digest, **info, "original_name": path.name[:200], "stored_path": str(target)}
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('postpulse:media:' || :s, 0))"), {"s": digest}
    )
    row = conn.execute(text("SELECT * FROM media_assets WHERE sha256 = :s"), {"s": digest}).mappings().first()
    if row is not None:
        return dict(row)
    inserted = insert_with_new_id(conn, "media_assets", values, returning=("*",))
    return dict(inserted)


_UNUSED = """
FROM media_assets m
WHERE m.created_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM content_item_media c WHERE c.media_id = m.id)
  AND NOT EXISTS (SELECT 1 FROM content_variants v
                  WHERE v.media_override @> jsonb_build_array(jsonb_build_object('media_id', m.id)))
  AND NOT EXISTS (SELECT 1 FROM publications p
                  WHERE p.status IN ('scheduled', 'publishing')
                    AND p.media @> jsonb_build_array(jsonb_build_object('media_id', m.id)))
"""


def remove_unused_media(conn: Connection, now: datetime, *, dry_run: bool = False) -> int:
    """Delete media no content item, variant or pending publication uses (files and rows)."""
    cutoff = now - UNUSED_GRACE
    if dry_run:
        return int(conn.execute(text("SELECT count(*) " + _UNUSED), {"cutoff": cutoff}).scalar_one())
    paths = (
        conn.execute(
            text("DELETE FROM media_assets WHERE id IN (SELECT m.id " + _UNUSED + ") RETURNING stored_path"),
            {"cutoff": cutoff},
        )
        .scalars()
        .all()
    )
    for p in paths:
        Path(p).unlink(missing_ok=True)
    return len(paths)
