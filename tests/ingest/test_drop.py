"""The drop folder's scan, without Dagster: one request per content, the cursor remembers what
was hashed and submitted, known content is archived, a submission that never ran is failed."""

import json
import os
import time
from datetime import UTC, datetime, timedelta

from postpulse.ingest import drop
from postpulse.ingest.runs import sha256_file


def _put(folder, name: str, content: str):
    path = folder / name
    path.write_text(content)
    old = time.time() - 60  # settled: not being written any more
    os.utime(path, (old, old))
    return path


def test_one_request_per_content_and_the_cursor_remembers(tmp_path):
    a = _put(tmp_path, "a.json", "[1]")
    _put(tmp_path, "b.json", "[1]")  # the same content under another name
    c = _put(tmp_path, "c.json", "[2]")
    now = datetime(2025, 3, 1, tzinfo=UTC)
    first = drop.scan(None, lambda sha: None, now=now, root=tmp_path)
    assert [(r.path.name, r.sha256) for r in first.requests] == [
        ("a.json", sha256_file(a)[0]),
        ("c.json", sha256_file(c)[0]),
    ]
    state = json.loads(first.cursor)
    assert set(state["requested"]) == {sha256_file(a)[0], sha256_file(c)[0]}
    assert len(state["hashes"]) == 3
    again = drop.scan(first.cursor, lambda sha: None, now=now + timedelta(minutes=1), root=tmp_path)
    assert again.requests == [] and again.notes == []  # submitted, still in flight


def test_known_content_is_archived_and_a_stale_submission_failed(tmp_path):
    known = _put(tmp_path, "known.json", "[3]")
    waiting = _put(tmp_path, "waiting.json", "[4]")
    now = datetime(2025, 3, 1, tzinfo=UTC)
    imported = {sha256_file(known)[0]: "run-00000001"}
    first = drop.scan(None, imported.get, now=now, root=tmp_path)
    assert [r.path.name for r in first.requests] == ["waiting.json"]
    assert (tmp_path / "archive" / "known.json").exists() and not known.exists()
    assert "run-00000001" in (tmp_path / "archive" / "known.json.note.txt").read_text()
    late = drop.scan(
        first.cursor, imported.get, now=now + drop.INFLIGHT + timedelta(minutes=1), root=tmp_path
    )
    assert late.requests == [] and not waiting.exists()
    assert "already submitted" in (tmp_path / "failed" / "waiting.json.error.txt").read_text()
    assert late.notes == ["waiting.json: stale duplicate moved to failed/"]


def test_submitted_hashes_are_forgotten_after_a_day(tmp_path):
    _put(tmp_path, "a.json", "[5]")
    now = datetime(2025, 3, 1, tzinfo=UTC)
    first = drop.scan(None, lambda sha: None, now=now, root=tmp_path)
    (tmp_path / "a.json").unlink()
    later = drop.scan(
        first.cursor, lambda sha: None, now=now + drop.REMEMBER + timedelta(hours=1), root=tmp_path
    )
    assert json.loads(later.cursor) == {"hashes": {}, "requested": {}}
