"""A corpus of hostile files, generated here (nothing big is committed): each gives one clear
error naming the problem, or a rejected record with its reason while the rest loads; nothing
hangs, nothing grows without bound.

The heavy ones run in a child process with a time limit, and the child's peak memory is read
back (``ru_maxrss``), so a regression that explodes shows up as a failed test, not a dead CI."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from postpulse.ingest import FileReadError, PostRecord, Rejected, iter_file
from postpulse.ingest.readers import MAX_DEPTH, MAX_RECORD_BYTES, ensure_regular_file

ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT_KB = 512 * 1024
TIME_LIMIT_S = 30

TWEET = {"id": "1", "createdAt": "Sat Jun 21 18:05:00 +0000 2025", "likeCount": 3, "text": "hi"}


def tweets(n: int) -> list[dict]:
    return [{**TWEET, "id": str(i), "likeCount": i} for i in range(1, n + 1)]


_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from postpulse.errors import PostpulseError
    from postpulse.ingest import Rejected, iter_file
    try:
        out = [["rejected", r.reason] if isinstance(r, Rejected) else ["ok", type(r).__name__]
               for r in iter_file(sys.argv[1])]
        result = {"records": out}
    except PostpulseError as exc:
        result = {"error": str(exc)}
    try:  # this process's own peak (ru_maxrss would include the parent's, from before exec)
        with open("/proc/self/status") as fh:
            peak = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["maxrss_kb"] = peak
    print(json.dumps(result))
    """
)


def parse_in_child(path: Path) -> dict:
    """``iter_file`` over ``path`` in a fresh interpreter: its result (records or the error line),
    and its peak memory. Fails the test on a traceback, a hang or memory over the limit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["maxrss_kb"] < MEMORY_LIMIT_KB, result["maxrss_kb"]
    return result


def one_line_error(result: dict, *words: str) -> str:
    assert "error" in result, result
    msg = result["error"]
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


@pytest.mark.parametrize(
    "name, content",
    [
        ("deep_array.json", "[" * 100_000 + "]" * 100_000),
        ("deep_object.json", '{"a":' * 100_000 + "1" + "}" * 100_000),
        ("deep_in_record.json", '[{"id":"1","x":' + "[" * 100_000 + "]" * 100_000 + "}]"),
        ("deep_wrapped.json", '{"videos":[{"id":"1","x":' + "[" * 100_000 + "]" * 100_000 + "}]}"),
        ("deep_jsonl_first_line.jsonl", '{"id":"1","x":' + "[" * 100_000 + "]" * 100_000 + "}\n"),
    ],
)
def test_deep_nesting_is_refused_in_one_line_fast_and_small(tmp_path, name, content):
    f = tmp_path / name
    f.write_text(content)
    msg = one_line_error(parse_in_child(f), name, f"deeper than {MAX_DEPTH}")
    assert "refused" in msg


def test_deep_nesting_in_one_jsonl_line_rejects_that_record_only(tmp_path):
    f = tmp_path / "tweets.jsonl"
    lines = [json.dumps(t) for t in tweets(3)]
    lines.insert(1, '{"id":"9","x":' + "[" * 100_000 + "]" * 100_000 + "}")
    f.write_text("\n".join(lines) + "\n")
    result = parse_in_child(f)
    kinds = [r[0] for r in result["records"]]
    assert kinds == ["ok", "rejected", "ok", "ok"]
    assert "line 2" in result["records"][1][1]


def test_a_record_larger_than_the_limit_inside_an_array_is_refused_without_holding_it(tmp_path):
    f = tmp_path / "huge.json"
    with f.open("w") as fh:  # one record of 40 MB in nested lists: not the fast path
        fh.write('[{"id":"1","x":[[')
        chunk = json.dumps(["y" * 1000] * 1000)[1:-1]
        for i in range(40):
            fh.write(("," if i else "") + chunk)
        fh.write("]]}]")
    msg = one_line_error(parse_in_child(f), "huge.json", f"larger than {MAX_RECORD_BYTES:,} bytes")
    assert "refused" in msg


def test_jsonl_whose_first_line_is_over_the_limit_loads_the_rest(tmp_path):
    f = tmp_path / "big_first.jsonl"
    big = {**TWEET, "text": "x" * (17 * 1024 * 1024)}
    f.write_text("\n".join(json.dumps(t) for t in [big, *tweets(3)[1:]]) + "\n")
    result = parse_in_child(f)
    kinds = [r[0] for r in result["records"]]
    assert kinds == ["rejected", "ok", "ok"], result
    assert "line 1" in result["records"][0][1] and f"{MAX_RECORD_BYTES:,}" in result["records"][0][1]


def test_one_line_json_object_longer_than_the_sample_is_still_one_document(tmp_path):
    f = tmp_path / "one_line.json"
    f.write_text(json.dumps(tweets(3000)))  # ~250 KB on one line, no newline at all
    recs = list(iter_file(f))
    assert len(recs) == 3000 and all(type(r) is PostRecord for r in recs)


def test_json_array_with_a_utf8_bom(tmp_path):
    f = tmp_path / "bom.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(tweets(2)).encode())
    recs = list(iter_file(f))
    assert [r.platform_post_id for r in recs] == ["1", "2"]
    g = tmp_path / "bom_pretty.json"  # the streaming (non-fast) reader too
    g.write_bytes(b"\xef\xbb\xbf" + json.dumps([[1]] + tweets(1)).encode())
    recs = list(iter_file(g, format="apify_x_tweets"))
    assert [type(r) for r in recs] == [Rejected, PostRecord]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_fifo_is_refused_without_blocking(tmp_path):
    f = tmp_path / "pipe.json"
    os.mkfifo(f)
    one_line_error(parse_in_child(f), "pipe.json", "named pipe (FIFO)", "not a regular file")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_dev_zero_is_refused_without_reading_it():
    one_line_error(parse_in_child(Path("/dev/zero")), "/dev/zero", "a device")


def test_directory_missing_file_and_symlink_loop_each_say_what_they_are(tmp_path):
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    cases = [
        (tmp_path, "is a directory"),
        (tmp_path / "nope.json", "file not found"),
        (loop, "symbolic link loop"),
    ]
    for path, problem in cases:
        with pytest.raises(FileReadError) as exc:
            list(iter_file(path))
        assert problem in str(exc.value) and "\n" not in str(exc.value)
        with pytest.raises(FileReadError, match=problem):
            ensure_regular_file(path)
    assert "file not found" not in str(FileReadError(loop, "x"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path):
    f = tmp_path / "secret.json"
    f.write_text(json.dumps(tweets(1)))
    f.chmod(0)
    with pytest.raises(FileReadError, match="permission denied"):
        list(iter_file(f))


def test_crlf_csv_is_recognised(tmp_path):
    f = tmp_path / "excel.csv"
    rows = ["id,createdAt,likeCount,text"] + [
        f"{i},2025-06-0{i}T10:00:00Z,{i * 10},post {i}" for i in (1, 2, 3)
    ]
    f.write_bytes(("\r\n".join(rows) + "\r\n").encode())
    recs = list(iter_file(f))
    assert [(r.platform_post_id, r.counts.likes, r.text) for r in recs] == [
        ("1", 10, "post 1"),
        ("2", 20, "post 2"),
        ("3", 30, "post 3"),
    ]


def test_crlf_csv_with_a_header_longer_than_the_sample(tmp_path):
    f = tmp_path / "wide.csv"
    cols = ["id", "createdAt", "likeCount"] + [f"extra{i}" for i in range(8000)]
    f.write_bytes((",".join(cols) + "\r\n" + "1,2025-06-01T10:00:00Z,5" + "," * 8000 + "\r\n").encode())
    (rec,) = list(iter_file(f))
    assert rec.counts.likes == 5


@pytest.mark.parametrize("eol", ["\r\n", "\n"])
def test_bare_cr_inside_a_field_is_kept_and_nothing_else_is_lost(tmp_path, eol):
    f = tmp_path / "cr.csv"
    rows = [
        "id,createdAt,likeCount,text",
        "1,2025-06-01T10:00:00Z,10,first",
        "2,2025-06-02T10:00:00Z,20,broken\rline",
        '3,2025-06-03T10:00:00Z,30,"quoted\rreturn"',
        "4,2025-06-04T10:00:00Z,40,last",
    ]
    f.write_bytes((eol.join(rows) + eol).encode())
    recs = list(iter_file(f))
    assert all(type(r) is PostRecord for r in recs), recs
    assert [(r.platform_post_id, r.counts.likes, r.text) for r in recs] == [
        ("1", 10, "first"),
        ("2", 20, "broken\rline"),
        ("3", 30, "quoted\rreturn"),
        ("4", 40, "last"),
    ]


def test_csv_row_over_the_limit_is_rejected_and_the_rest_loads(tmp_path):
    f = tmp_path / "long_row.csv"
    with f.open("w") as fh:
        fh.write("id,createdAt,likeCount,text\n1,2025-06-01T10:00:00Z,1,a\n")
        fh.write("2,2025-06-01T10:00:00Z,2," + "x" * (MAX_RECORD_BYTES + 10) + "\n")
        fh.write("3,2025-06-01T10:00:00Z,3,c\n")
    recs = list(iter_file(f))
    assert [type(r) for r in recs] == [PostRecord, Rejected, PostRecord]
    assert "row 3" in recs[1].reason and "limit" in recs[1].reason


def test_the_child_process_check_can_fail(tmp_path):
    """The corpus helper itself: a file that parses is reported as records, not as an error."""
    f = tmp_path / "fine.json"
    f.write_text(json.dumps(tweets(2)))
    result = parse_in_child(f)
    assert result["records"] == [["ok", "PostRecord"], ["ok", "PostRecord"]]
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss > 0


def test_detection_holds_one_big_record_at_a_time(tmp_path):
    """Twenty 4 MB records of an unknown shape (each some 60 MB as Python objects): detection
    looks at them one by one, not all twenty at once."""
    f = tmp_path / "big_records.jsonl"
    line = '{"k": [' + ", ".join(f'{{"v": {i}}}' for i in range(250_000)) + "]}\n"
    with f.open("w") as fh:
        for _ in range(20):
            fh.write(line)
    one_line_error(parse_in_child(f), "big_records.jsonl", "unknown format")


def test_a_long_array_of_non_records_is_refused_without_reading_it_all(tmp_path):
    f = tmp_path / "numbers.json"
    with f.open("w") as fh:
        fh.write("[1" + ",1" * 3_000_000 + ',{"id": 1}]')  # the one object comes after 3 M numbers
    one_line_error(parse_in_child(f), "numbers.json", "unknown format")
