"""Large files stream with bounded memory."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tracemalloc

import pytest

from postpulse.ingest import iter_file

N = 200_000


def _record(i: int) -> bytes:
    return (
        json.dumps(
            {
                "id": str(7_000_000_000_000_000_000 + i),
                "text": f"post {i} #fyp #tag{i % 50}",
                "createTimeISO": "2025-01-02T03:04:05.000Z",
                "authorMeta": {"id": str(i % 1000), "name": f"user{i % 1000}", "fans": 1000 + i},
                "diggCount": i,
                "shareCount": 3,
                "playCount": 10 * i,
                "commentCount": 5,
                "collectCount": 2,
                "webVideoUrl": f"https://www.tiktok.com/@user{i % 1000}/video/{7 * 10**18 + i}",
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "dataset_tiktok-scraper_2025-01-02_03-04-05-000.jsonl"
    with open(path, "wb") as f:
        for i in range(N):
            f.write(_record(i))
    return path


_RSS_SCRIPT = """
import resource, sys
from postpulse.ingest import iter_file, load_mappings
load_mappings()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = 0
for rec in iter_file(sys.argv[1], dedupe=sys.argv[2] == "1"):
    n += 1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(n, (peak - base) * 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize("dedupe, limit_mb", [(False, 20), (True, 50)])
def test_200k_jsonl_streams_in_bounded_memory(big_jsonl, dedupe, limit_mb):
    """Peak RSS growth while iterating 200k records (~95 MB of JSONL), in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(big_jsonl), "1" if dedupe else "0"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    n, growth = map(int, out.stdout.split())
    assert n == N
    assert growth < limit_mb * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB"


def test_peak_python_memory_does_not_grow_with_file_size(tmp_path):
    """tracemalloc peak for 2k and 16k records: the same order, far below the data size."""
    peaks = []
    for n in (2_000, 16_000):
        path = tmp_path / f"f{n}.jsonl"
        with open(path, "wb") as f:
            for i in range(n):
                f.write(_record(i))
        tracemalloc.start()
        try:
            count = sum(1 for _ in iter_file(path, dedupe=False))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert count == n
    assert peaks[1] < 5 * 1024 * 1024, f"peak {peaks[1] / 1e6:.1f} MB"
    assert peaks[1] < peaks[0] * 2 + 512 * 1024  # 8x the records, not 8x the memory


def test_large_gzipped_json_array_streams(tmp_path):
    path = tmp_path / "big.json.gz"
    n = 10_000
    with gzip.open(path, "wb") as f:
        f.write(b"[")
        for i in range(n):
            if i:
                f.write(b",")
            f.write(_record(i).rstrip())
        f.write(b"]")
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_file(path, dedupe=False))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
