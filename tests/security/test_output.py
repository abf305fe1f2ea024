"""Output injection: imported text cannot drive the terminal, become a spreadsheet formula, or
turn into a javascript: link in the HTML report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pandas as pd
import psycopg
from typer.testing import CliRunner

from postpulse.analytics import html_report, report_format, synthetic
from postpulse.analytics.duck import open_analytics
from postpulse.cli import app
from postpulse.safe_text import for_display, for_spreadsheet, safe_link
from postpulse.store.urls import libpq_url

HOSTILE = [
    "\x1b[2J\x1b[Hcleared",  # clear screen, cursor home
    "\x1b]0;owned title\x07title",  # window title (OSC)
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # terminal hyperlink
    "bell\x07 backspace\x08 del\x7f c1\x9b31m",
    "abc\u202edcba",  # right-to-left override
    "[/x] [bold]not markup[/bold]",
]


def test_display_text_has_no_control_characters():
    for s in HOSTILE:
        out = for_display(s)
        assert out.isprintable(), repr(out)
    assert for_display(HOSTILE[0]) == "cleared"
    assert for_display(HOSTILE[1]) == "title"
    assert for_display(HOSTILE[2]) == "click"
    assert for_display("line\nbreak\ttab") == "line break tab"
    assert for_display("plain [text] ok") == "plain [text] ok"


def test_cli_lines_show_control_characters_escaped():
    from postpulse.cli.common import plain

    for s in HOSTILE:
        out = plain(s)
        assert out.isprintable(), repr(out)
    assert plain(HOSTILE[3]) == "bell\\x07 backspace\\x08 del\\x7f c1\\x9b31m"
    assert plain(HOSTILE[4]) == "abc\\u202edcba"
    assert plain("name\nnext\tcolumn") == "name\\x0anext\tcolumn"


def test_csv_cells_are_not_formulas():
    df = pd.DataFrame(
        {
            "text": [
                "=cmd|' /C calc'!A0",
                '=HYPERLINK("http://evil.example","x")',
                "+1+2",
                "-2+3",
                "@SUM(A1)",
                "\tx",
                "\rx",
                "fine",
            ],
            "n": [-1, 2, -3, 4, 5, 6, 7, 8],
        }
    )
    rows = list(csv.reader(io.StringIO(report_format.write(df, "csv", None), newline="")))
    texts = [r[0] for r in rows[1:]]
    assert texts[:7] == [
        "'=cmd|' /C calc'!A0",
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1+2",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
    ]
    assert texts[7] == "fine"
    assert [r[1] for r in rows[1:]] == ["-1", "2", "-3", "4", "5", "6", "7", "8"]  # numbers untouched
    assert for_spreadsheet(-5) == -5


def _posts(db_url: str) -> list[str]:
    dim = synthetic.add_dimension(db_url, workspace="acme", platform="instagram")
    now = datetime(2025, 1, 10, 12, tzinfo=UTC)
    ids = synthetic.add_posts(
        db_url,
        [
            {
                "platform": "instagram",
                "posted_at": now,
                "account_id": dim["account"],
                "text_content": HOSTILE[0],
            },
            {
                "platform": "instagram",
                "posted_at": now,
                "account_id": dim["account"],
                "text_content": HOSTILE[5],
            },
        ],
    )
    synthetic.add_snapshots(
        db_url,
        [
            {"post_id": i, "downloaded_at": now, "like_count": 5 * (n + 1), "view_count": 10}
            for n, i in enumerate(ids)
        ],
    )
    with psycopg.connect(libpq_url(db_url)) as conn:
        conn.execute("UPDATE posts SET url = 'javascript:alert(document.cookie)' WHERE id = %s", (ids[0],))
        conn.execute("UPDATE posts SET url = 'https://www.instagram.com/p/abc/' WHERE id = %s", (ids[1],))
    return ids


def test_query_table_output_is_plain_text(store_env):
    _posts(store_env)
    r = CliRunner().invoke(app, ["query", "SELECT text_content FROM posts ORDER BY text_content"])
    assert r.exit_code == 0, r.output
    assert "\x1b" not in r.output and "cleared" in r.output
    assert "[/x] [bold]not markup[/bold]" in r.output  # shown as written, not read as markup
    r = CliRunner().invoke(app, ["query", "SELECT '=HYPERLINK(\"http://x\")' AS f", "--format", "csv"])
    assert r.exit_code == 0 and "'=HYPERLINK" in r.output


def test_html_report_links_only_http_urls(db_url):
    ids = _posts(db_url)
    with psycopg.connect(libpq_url(db_url)) as conn:
        conn.execute("UPDATE posts SET text_content = 'first post' WHERE id = %s", (ids[0],))
        conn.execute("UPDATE posts SET text_content = 'second post' WHERE id = %s", (ids[1],))
    with open_analytics(db_url) as a:
        html = html_report.render(a, "acme")
    assert "javascript:" not in html
    assert "<td>first post</td>" in html  # listed, as plain text
    assert (
        '<a href="https://www.instagram.com/p/abc/" rel="noopener noreferrer nofollow">second post</a>'
        in html
    )


def test_safe_link():
    assert safe_link("https://x.example/p/1") == "https://x.example/p/1"
    assert safe_link("HTTP://x.example") == "HTTP://x.example"
    for bad in [
        "javascript:alert(1)",
        " javascript:alert(1)",
        "JaVaScRiPt:x",
        "data:text/html,x",
        "//x.example",
        "/p/1",
        "https:///nohost",
        "https://x.example/\x00",
        None,
        5,
    ]:
        assert safe_link(bad) is None, bad
