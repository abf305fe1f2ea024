"""``postpulse content ...`` through the real CLI app: the lifecycle, 80-column tables, the
calendar and its .ics, bulk CSV scheduling (all or nothing), one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from sqlalchemy import text
from typer.testing import CliRunner

from postpulse.cli import app

from .conftest import add_account, make_image

runner = CliRunner(env={"COLUMNS": "80"})


def cli(*args: str, code: int = 0) -> str:
    r = runner.invoke(app, ["content", *args])
    assert r.exit_code == code, r.output
    return r.output


def test_content_lifecycle_calendar_and_ics(store_env, engine, tmp_path):
    add_account(engine, "cli_x")
    add_account(engine, "cli_threads", platform="threads")
    img = make_image(tmp_path / "photo.jpg", "JPEG")
    out = cli(
        "add",
        "--account",
        "cli_x",
        "--account",
        "cli_threads",
        "--text",
        "Spring sale starts now",
        "--media",
        str(img),
        "--alt",
        "a red square",
        "--tag",
        "sale",
        "--title",
        "Spring sale",
    )
    item = out.split()[1]
    assert item.startswith("cnt-")
    err = cli("schedule", item, "--at", "+1h", code=1)
    assert "is draft; it cannot become scheduled" in err and "submit it for review" in err
    cli("submit", item)
    cli("approve", item)
    cli("edit", item, "--account", "cli_x", "--variant-text", "Spring sale on X")
    assert "in_review" in cli("show", item)  # edited after approval
    cli("approve", item)
    assert "2 publications" in cli("schedule", item, "--at", "+1h")
    listing = cli("list")
    assert item in listing and "scheduled" in listing and "Spring sale" in listing
    show = cli("show", item)
    assert "image/jpeg 64x48" in show and "Spring sale on X" in show and "edited after approval" in show
    ics = tmp_path / "plan.ics"
    cal = cli("calendar", "--ics", str(ics))
    assert cal.count(item) == 2 and "@cli_x" in cal and "wrote 2 events" in cal
    for output in (listing, show, cal):
        assert max(len(line) for line in output.splitlines()) <= 80
    events = Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
    assert sorted(str(e["summary"]) for e in events) == [
        "threads @cli_threads: Spring sale",
        "x @cli_x: Spring sale",
    ]
    assert {str(e["uid"]).split("@")[0][:4] for e in events} == {"pub-"}
    assert "nothing planned" in cli("calendar", "--from", "2020-01-01", "--to", "2020-02-01")
    cli("cancel", item)
    with engine.connect() as conn:
        assert set(conn.execute(text("SELECT status FROM publications")).scalars()) == {"cancelled"}


def test_text_over_the_limit_is_one_line_and_item_stays_approved(store_env, engine):
    add_account(engine, "cli_long")
    item = cli("add", "-a", "cli_long", "--text", "word " * 80).split()[1]
    cli("submit", item)
    cli("approve", item)
    err = cli("schedule", item, "--at", "+1h", code=1)
    assert "(x @cli_long): the text is 400 weighted characters; x allows 280" in err
    assert "Traceback" not in err
    assert "approved" in cli("show", item)


def test_bulk_csv_all_or_nothing(store_env, engine, tmp_path):
    add_account(engine, "bulk_x")
    add_account(engine, "bulk_th", platform="threads")
    make_image(tmp_path / "media" / "one.png")
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    good = tmp_path / "plan.csv"
    good.write_text(
        "accounts,time,text,media,alt\n"
        f"bulk_x;bulk_th,{when},First post,media/one.png,a red box\n"
        f"bulk_x,{when},Second post,,\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(f"accounts,time,text,media,alt\nbulk_x,{when},Fine row,,\nbulk_x,tomorrow,Bad time,,\n")
    err = cli("import", str(bad), code=1)
    assert "bad.csv line 3, column time: 'tomorrow' is not an ISO 8601 date-time" in err
    missing = tmp_path / "missing.csv"
    missing.write_text(f"accounts,time,text,media\nbulk_x,{when},Pic,media/nope.png\n")
    assert "missing.csv line 2, column media: media/nope.png does not exist" in cli(
        "import", str(missing), code=1
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM content_items")).scalar() == 0  # nothing at all
    assert "scheduled 2 items" in cli("import", str(good))
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM publications WHERE status = 'scheduled'")).scalar() == 3
        )
