"""The CSV form of an export (flattened columns, CRLF line ends as Excel writes them) gives the
same posts as its JSON form: the same ids, counts, dates and content types, and no post is
rejected in one form that the other keeps."""

from __future__ import annotations

import csv
import json

import pytest

from postpulse.ingest import PostRecord, Rejected, iter_file

from .conftest import data
from .test_more_formats import FACEBOOK, YOUTUBE, YTDLP_TIKTOK, YTDLP_YOUTUBE


def flatten(obj, prefix: str = "", out: dict | None = None) -> dict:
    """``{"a": {"b": [1]}}`` -> ``{"a/b/0": 1}``, as Apify's CSV export writes the columns."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}/{k}" if prefix else k, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}/{i}", out)
    elif isinstance(obj, bool):
        out[prefix] = "true" if obj else "false"
    else:
        out[prefix] = "" if obj is None else obj
    return out


def write_csv(path, records: list[dict]) -> None:
    rows = [flatten(r) for r in records]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, keys, lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)


def summary(path) -> tuple[dict, int]:
    posts, rejected = {}, 0
    for r in iter_file(path):
        if type(r) is PostRecord:
            posts[r.platform_post_id] = (r.format, r.counts.as_dict(), r.posted_at, r.content_type)
        elif type(r) is Rejected:
            rejected += 1
    return posts, rejected


def _records(name: str) -> list[dict]:
    text = data(name).read_text(encoding="utf-8")
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:
        loaded = [json.loads(line) for line in text.splitlines() if line.strip()]
    return loaded if isinstance(loaded, list) else [loaded]


CASES = {
    "linkedin_profile_posts": lambda: _records("dataset_linkedin-profile-posts_2025-12-06_11-28-56-790.json"),
    "linkedin_company_posts": lambda: _records("dataset_linkedin-company-posts_2025-09-04_13-39-39-919.json"),
    "linkedin_post_search": lambda: _records(
        "dataset_linkedin-post-search-scraper_2025-11-15_14-09-43-945.json"
    ),
    "instagram_scraper": lambda: _records("dataset_instagram-scraper_2025-09-04_13-39-02-289.json"),
    "tiktok_scraper": lambda: _records("dataset_tiktok-scraper_2025-09-21_13-33-25-969.jsonl"),
    "x_tweets": lambda: _records("global_agriculture_tweets.json"),
    "threads": lambda: _records("threads_posts.json"),
    "youtube_scraper": lambda: [YOUTUBE, {**YOUTUBE, "id": "Zz9dEfGh1Jk", "likes": None}],
    "facebook_posts": lambda: [FACEBOOK, {**FACEBOOK, "postId": "1220007700156056", "media": []}],
    "ytdlp": lambda: [YTDLP_YOUTUBE, YTDLP_TIKTOK],
    "instagram_hidden_counts": lambda: [
        {**r, "likesCount": -1} for r in _records("dataset_instagram-scraper_2025-09-04_13-39-02-289.json")
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_csv_form_gives_the_json_posts(tmp_path, case):
    records = CASES[case]()
    j = tmp_path / "export.json"
    j.write_text(json.dumps(records), encoding="utf-8")
    c = tmp_path / "export.csv"
    write_csv(c, records)
    from_json, rejected_json = summary(j)
    from_csv, rejected_csv = summary(c)
    assert from_json, "the JSON form loads posts"
    assert from_csv == from_json
    assert rejected_csv == rejected_json
