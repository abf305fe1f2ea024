"""Content items: lifecycle and its history, edits after approval, validation, the media library."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from postpulse.publishing import items, media, schedule
from postpulse.publishing.errors import InvalidTransition, MediaError, ValidationFailed
from postpulse.publishing.items import ItemInput, MediaSpec
from postpulse.publishing.rules import graphemes, x_weighted
from postpulse.publishing.validation import VariantDraft, check_variant

from .conftest import add_account, make_image

LATER = datetime.now(UTC) + timedelta(hours=2)


def new_item(engine, accounts, text_value="hello world", **kw) -> str:
    with engine.begin() as conn:
        return items.create_item(conn, ItemInput(text=text_value, accounts=accounts, **kw))


def test_lifecycle_history_and_edit_after_approval(engine, home):
    acc = add_account(engine, "pub_x")
    item = new_item(engine, ["pub_x"], tags=["Launch", "launch"], links=["https://example.org/a"])
    with engine.begin() as conn:
        with pytest.raises(InvalidTransition, match="submit it for review"):
            items.approve(conn, item)
    with engine.begin() as conn:
        items.submit(conn, item)
        items.approve(conn, item, actor="ana")
        pubs = schedule.schedule_item(conn, item, LATER)
    with engine.begin() as conn:
        row = items.get_item_row(conn, item)
        assert row["status"] == "scheduled" and row["tags"] == ["launch"] and row["approved_by"] == "ana"
        pub = conn.execute(text("SELECT * FROM publications WHERE id = :i"), {"i": pubs[0]}).mappings().one()
        assert pub["account_id"] == acc and pub["status"] == "scheduled" and pub["content"] == "hello world"
        # an edit after approval sends it back to review and cancels the pending publication
        items.edit_item(conn, item, ItemInput(text="hello again"))
        assert items.get_item_row(conn, item)["status"] == "in_review"
        assert (
            conn.execute(text("SELECT status FROM publications WHERE id = :i"), {"i": pubs[0]}).scalar()
            == "cancelled"
        )
        hist = items.history(conn, item)
    assert [(h["from_state"], h["to_state"]) for h in hist] == [
        (None, "draft"),
        ("draft", "in_review"),
        ("in_review", "approved"),
        ("approved", "scheduled"),
        ("scheduled", "in_review"),
    ]
    assert hist[-1]["transition_reason"] == "edited after approval"
    assert hist[2]["triggered_by"] == "ana"


def test_variant_override_and_validation_names_variant_and_rule(engine, home):
    add_account(engine, "pub_long")
    add_account(engine, "pub_short", platform="threads")
    item = new_item(engine, ["pub_long", "pub_short"], text_value="x" * 400)
    with engine.begin() as conn:
        items.submit(conn, item)
        items.approve(conn, item)
        vs = items.variants(conn, item)
    short = next(v for v in vs if v["username"] == "pub_short")
    long_ = next(v for v in vs if v["username"] == "pub_long")
    with engine.begin() as conn, pytest.raises(ValidationFailed) as exc:
        schedule.schedule_item(conn, item, LATER)
    assert f"variant {long_['id']} (x @pub_long): the text is 400 weighted characters; x allows 280" in str(
        exc.value
    )
    assert short["id"] not in str(exc.value)  # threads allows 500
    with engine.begin() as conn:
        items.edit_variant(conn, item, "pub_long", text_override="short for X")
        assert items.get_item_row(conn, item)["status"] == "in_review"  # an approved item goes back
        items.approve(conn, item)
        drafts = {d.username: d.text for d in items.variant_drafts(conn, items.get_item_row(conn, item))}
        assert drafts == {"pub_long": "short for X", "pub_short": "x" * 400}
        assert len(schedule.schedule_item(conn, item, LATER)) == 2


def test_account_without_session_is_refused_and_item_stays_approved(engine, home):
    add_account(engine, "pub_nosess", session=False)
    item = new_item(engine, ["pub_nosess"])
    with engine.begin() as conn:
        items.submit(conn, item)
        items.approve(conn, item)
    with (
        engine.begin() as conn,
        pytest.raises(ValidationFailed, match="no stored session; run `postpulse accounts login pub_nosess`"),
    ):
        schedule.schedule_item(conn, item, LATER)
    with engine.connect() as conn:
        assert items.get_item_row(conn, item)["status"] == "approved"
        assert conn.execute(text("SELECT count(*) FROM publications")).scalar() == 0


def test_counting_the_platforms_way():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, 5 code points
    assert graphemes(family * 300) == 300
    assert graphemes("e\u0301") == 1
    assert x_weighted("see https://example.org/" + "a" * 100) == 4 + 23
    assert x_weighted("日本") == 4
    ok = VariantDraft("cvr-1", "bluesky", "me.bsky.social", family * 300)
    assert check_variant(ok) == []
    over = VariantDraft("cvr-1", "bluesky", "me.bsky.social", family * 301)
    assert check_variant(over) == [
        "variant cvr-1 (bluesky @me.bsky.social): the text is 301 graphemes; bluesky allows 300"
    ]
    bad = VariantDraft("cvr-2", "bluesky", "me", "hi @alice and http://localhost", links=["ftp://x.org"])
    problems = check_variant(bad)
    assert any("mention @alice is not a valid bluesky handle" in p for p in problems)
    assert any("'ftp://x.org' is not a full http(s) address" in p for p in problems)
    assert any("'http://localhost' is not a full" in p for p in problems)


def test_media_library_stores_once_and_reads_type_from_content(engine, home, tmp_path):
    png = make_image(tmp_path / "a.png")
    disguised = tmp_path / "b.jpg"
    disguised.write_bytes(png.read_bytes())  # a PNG named .jpg
    with engine.begin() as conn:
        one = media.store_media(conn, png)
        two = media.store_media(conn, disguised)
    assert one["id"] == two["id"] and one["mime_type"] == "image/png"
    assert (one["width"], one["height"]) == (64, 48)
    stored = list((home / "media").rglob("*"))
    assert [p for p in stored if p.is_file()] == [home / "media" / one["sha256"][:2] / one["sha256"]]
    # unused media is removed by retention (after the grace period), used media stays
    add_account(engine, "pub_m")
    gif = make_image(tmp_path / "c.gif", "GIF")
    new_item(engine, ["pub_m"], media=[MediaSpec(str(gif), "a red box")])
    with engine.begin() as conn:
        assert media.remove_unused_media(conn, datetime.now(UTC) + timedelta(days=2)) == 1
        left = conn.execute(text("SELECT mime_type FROM media_assets")).scalars().all()
    assert left == ["image/gif"]
    assert not (home / "media" / one["sha256"][:2] / one["sha256"]).exists()


def test_bad_media_files(engine, home, tmp_path):
    full = make_image(tmp_path / "full.jpg", "JPEG", size=(400, 300))
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(full.read_bytes()[:600])
    text_file = tmp_path / "notes.png"
    text_file.write_text("not an image")
    with engine.begin() as conn:
        with pytest.raises(MediaError, match="cut.jpg: the image is damaged or incomplete"):
            media.store_media(conn, truncated)
        with pytest.raises(MediaError, match="notes.png: not an image or video"):
            media.store_media(conn, text_file)
        with pytest.raises(MediaError, match="missing.png does not exist"):
            media.store_media(conn, tmp_path / "missing.png")


def test_wrong_image_type_and_missing_alt_text(engine, home, tmp_path):
    add_account(engine, "pub_img")
    bmp = make_image(tmp_path / "pic.bmp", "BMP")
    item = new_item(engine, ["pub_img"], media=[MediaSpec(str(bmp))])
    with engine.begin() as conn:
        items.submit(conn, item)
        items.approve(conn, item)
    with engine.begin() as conn, pytest.raises(ValidationFailed) as exc:
        schedule.schedule_item(conn, item, LATER)
    probs = exc.value.problems
    assert any("image/bmp is not accepted by x (use gif, jpeg, png, webp)" in p for p in probs)
    assert any("the image has no alt text" in p for p in probs)


def test_media_file_gone_before_publishing_fails_clearly_and_can_be_rescheduled(engine, home, tmp_path):
    from postpulse.publishing.runner import run_publishing

    add_account(engine, "pub_gone")
    img = make_image(tmp_path / "gone.png")
    item = new_item(engine, ["pub_gone"], media=[MediaSpec(str(img), "a red box")])
    with engine.begin() as conn:
        items.submit(conn, item)
        items.approve(conn, item)
        schedule.schedule_item(conn, item, datetime.now(UTC) - timedelta(seconds=1))
        stored = items.item_media(conn, item)[0]["stored_path"]
    Path(stored).unlink()
    run = run_publishing(engine, make_executor=None)
    assert len(run.refused) == 1 and f"media file {stored} is missing" in run.refused[0]
    with engine.begin() as conn:
        assert items.get_item_row(conn, item)["status"] == "failed"
        assert conn.execute(text("SELECT count(*) FROM action_queue")).scalar() == 0  # nothing sent
        with pytest.raises(ValidationFailed, match="the stored file is missing"):
            schedule.schedule_item(conn, item, LATER)
    with engine.begin() as conn:
        items.edit_item(conn, item, ItemInput(media=[MediaSpec(str(img), "a red box")]))  # add it again
        items.approve(conn, item)
        assert len(schedule.schedule_item(conn, item, LATER)) == 1


def test_quiet_hours_defer_publishing_like_any_action(engine, home):
    from postpulse.publishing.runner import executor_factory, run_publishing

    now = datetime.now(UTC)
    quiet = {"quiet_hours": {"start_hour": now.hour, "end_hour": (now.hour + 2) % 24, "timezone": "UTC"}}
    add_account(engine, "pub_quiet", settings=quiet)
    item = new_item(engine, ["pub_quiet"], text_value="not at night")
    with engine.begin() as conn:
        items.submit(conn, item)
        items.approve(conn, item)
        schedule.schedule_item(conn, item, now - timedelta(seconds=1))
    # no browser: the policy defers before any driver would be opened
    make = executor_factory(engine, None, None, base_url="http://127.0.0.1:9")
    run = run_publishing(engine, make_executor=make, now_fn=lambda: now)
    assert run.published == [] and len(run.waiting) == 1 and "quiet_hours" in run.waiting[0], run
    with engine.connect() as conn:
        act = conn.execute(text("SELECT status, scheduled_for, approved_by FROM action_queue")).one()
        assert items.get_item_row(conn, item)["status"] == "publishing"
    assert act.status == "approved" and act.scheduled_for > now
    assert act.approved_by.startswith("content approval by")
