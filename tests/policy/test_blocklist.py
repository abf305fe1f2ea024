import random
import string
import time
from datetime import UTC, datetime, timedelta

import pytest
import re2

from postpulse.policy import blocklist as bl
from postpulse.policy.actions import ActionRequest
from postpulse.policy.blocklist import Blocklist, BlocklistEntry, BlocklistError, validate_entry
from postpulse.policy.decision import ReasonCode

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def E(entry_type, value, match_type="exact", platform=None, **kw):
    return BlocklistEntry(entry_type=entry_type, value=value, match_type=match_type, platform=platform, **kw)


def test_user_exact_case_insensitive_and_at_sign():
    b = Blocklist([E("user", "@SpamBot", id="blk-1")])
    assert b.match_user("instagram", "spambot").id == "blk-1"
    assert b.match_user("tiktok", "@SPAMBOT").id == "blk-1"  # platform None = all
    assert b.match_user("tiktok", "spambot2") is None
    assert b.match_user("tiktok", None) is None


def test_platform_specific_entries():
    b = Blocklist([E("user", "alice", platform="Instagram")])
    assert b.match_user("instagram", "alice") is not None
    assert b.match_user("INSTAGRAM", "alice") is not None
    assert b.match_user("tiktok", "alice") is None


def test_user_contains_and_regex():
    b = Blocklist([E("user", "crypto", "contains", id="c"), E("user", r"^bot\d+$", "regex", id="r")])
    assert b.match_user("x", "BestCryptoDeals").id == "c"
    assert b.match_user("x", "BOT123").id == "r"
    assert b.match_user("x", "bot123x") is None
    assert b.match_user("x", "robot") is None


def test_contains_escapes_regex_metacharacters():
    b = Blocklist([E("keyword", "c++ (free)", "contains")])
    assert b.match_keyword("x", "get C++ (FREE) now") is not None
    assert b.match_keyword("x", "cc (free)") is None


def test_post_exact_is_case_sensitive():
    b = Blocklist([E("post", "CxYz123", id="p")])
    assert b.match_post("instagram", ["CxYz123"]).id == "p"
    assert b.match_post("instagram", ["cxyz123"]) is None


def test_keyword_exact_is_whole_word_or_phrase():
    b = Blocklist(
        [
            E("keyword", "ad", id="ad"),
            E("keyword", "Buy  Followers", id="bf"),
            E("keyword", "#sponsored", id="hs"),
        ]
    )
    assert b.match_keyword("x", "this is an AD!").id == "ad"
    assert b.match_keyword("x", "#ad").id == "ad"
    assert b.match_keyword("x", "adult content, bad adverts") is None
    assert b.match_keyword("x", "want to buy\nfollowers?").id == "bf"
    assert b.match_keyword("x", "buy followersnow") is None
    assert b.match_keyword("x", "so #Sponsored").id == "hs"
    assert b.match_keyword("x", "#sponsoredpost") is None


def test_keyword_exact_unicode():
    b = Blocklist([E("keyword", "Café Crème")])
    assert b.match_keyword("x", "au café crème!") is not None
    assert b.match_keyword("x", "au café crèmes") is None


@pytest.mark.parametrize(
    "url, text, hit",
    [
        ("https://spam.com/p/1", None, True),
        ("https://WWW.Spam.COM/p/1", None, True),
        ("https://a.b.spam.com", None, True),
        ("spam.com/x", None, True),
        ("https://notspam.com/", None, False),
        ("https://spam.community/", None, False),
        (None, "check out https://shop.spam.com/deal now", True),
        (None, "visit Spam.com today", True),
        (None, "mail me: me@spam.com", True),
        (None, "spam dot com", False),
        (None, "link:spam.com", True),
        (None, "(see https://spam.com/x).", True),
        (None, "at Spam.com:8080/path", True),
        (None, "e.g. 3.14 and hello.world", False),
        (None, "émoji 🔥 shop.spam.com🔥 ok", True),
        (None, "émoji 🔥 shop.spam.com ok", True),
        (None, "nothing here", False),
    ],
)
def test_domain_exact_matches_subdomains_and_urls_in_text(url, text, hit):
    b = Blocklist([E("domain", "https://www.spam.com/", id="d")])
    assert b.entries[0].value == "spam.com"
    assert (b.match_domain("x", url, text) is not None) is hit


def test_domain_contains_and_regex():
    b = Blocklist([E("domain", "casino", "contains", id="c"), E("domain", r"^bit\.ly$", "regex", id="r")])
    assert b.match_domain("x", "https://best-casino.net/x", None).id == "c"
    assert b.match_domain("x", None, "short link bit.ly/abc").id == "r"
    assert b.match_domain("x", None, "xbit.ly/abc") is None


def test_expired_entries_are_skipped_and_next_expiry():
    b = Blocklist(
        [
            E("user", "old", expires_at=NOW - timedelta(minutes=1)),
            E("user", "soon", expires_at=NOW + timedelta(hours=1)),
            E("keyword", "temp", "contains", expires_at=NOW - timedelta(days=1)),
        ]
    )
    assert b.match_user("x", "old", NOW) is None
    assert b.match_user("x", "soon", NOW) is not None
    assert b.match_user("x", "soon", NOW + timedelta(hours=2)) is None
    assert b.match_keyword("x", "temporary", NOW) is None
    assert b.next_expiry(NOW) == NOW + timedelta(hours=1)
    assert b.next_expiry(NOW + timedelta(hours=1)) is None


def test_opt_out_entry_wins_and_maps_to_opted_out():
    b = Blocklist([E("user", "bob", reason="rude"), E("user", "bob", added_by="opt_out", id="o")])
    r = ActionRequest("act-1", "acc-1", "instagram", "dm_send", "user", "u1", "Bob")
    m = b.match_request(r, NOW)
    assert m.entry.id == "o" and m.reason_code == ReasonCode.OPTED_OUT
    m2 = Blocklist([E("user", "bob")]).match_request(r, NOW)
    assert m2.reason_code == ReasonCode.BLOCKLISTED_USER


def test_match_request_fields():
    b = Blocklist(
        [E("post", "P123", id="p"), E("keyword", "giveaway", id="k"), E("domain", "evil.org", id="d")]
    )
    base = dict(action_id="act-1", account_id="acc-1", platform="instagram", action_type="like")
    assert (
        b.match_request(ActionRequest(**base, target_type="post", target_id="P123")).reason_code
        == ReasonCode.BLOCKLISTED_POST
    )
    assert (
        b.match_request(
            ActionRequest(**base, target_type="comment", target_id="c1", params={"platform_post_id": "P123"})
        ).entry.id
        == "p"
    )
    assert (
        b.match_request(
            ActionRequest(**base, target_type="post", target_id="P9", target_text="Big GIVEAWAY!")
        ).reason_code
        == ReasonCode.BLOCKLISTED_KEYWORD
    )
    assert (
        b.match_request(
            ActionRequest(**base, target_type="post", target_id="P9", target_url="https://m.evil.org/p")
        ).reason_code
        == ReasonCode.BLOCKLISTED_DOMAIN
    )
    assert (
        b.match_request(ActionRequest(**base, target_type="post", target_id="P9", target_text="hello"))
        is None
    )


@pytest.mark.parametrize(
    "pattern, what",
    [(r"(a)\1", "Backreferences"), (r"(?=a)b", "lookaround"), (r"(?<!a)b", "lookaround"), ("[", "missing ]")],
)
def test_unsupported_regex_is_refused_naming_the_entry(pattern, what):
    entry = E("keyword", pattern, "regex", id="blk-bad1")
    with pytest.raises(BlocklistError) as info:
        Blocklist([E("keyword", "fine", "regex"), entry])
    msg = str(info.value)
    assert "blk-bad1" in msg and "RE2" in msg and what in msg
    assert info.value.entry.id == "blk-bad1"


@pytest.mark.parametrize(
    "entry, problem",
    [
        (E("keyword", "x" * 513, "contains"), "limit is 512"),
        (E("keyword", "   "), "empty"),
        (E("hashtag", "x"), "entry_type"),
        (E("user", "x", "glob"), "match_type"),
        (E("user", "x", added_by="robot"), "added_by"),
        (E("user", "x", expires_at=datetime(2026, 1, 1)), "aware"),
    ],
)
def test_invalid_entries(entry, problem):
    with pytest.raises(BlocklistError, match=problem):
        validate_entry(entry)


def test_regex_bomb_compiles_and_runs_in_linear_time():
    # Python's re would backtrack exponentially on (a+)+$ against "aaaa...ab" (2^n steps: do
    # not try it). RE2 builds an automaton and scans the input once.
    b = Blocklist(
        [
            E("keyword", r"(a+)+$", "regex", id="bomb"),
            E("keyword", r"(x+x+)+y", "regex"),
            E("keyword", "zzz", "contains"),
        ]
    )
    text = "a" * 100_000 + "b"
    t0 = time.perf_counter()
    assert b.match_keyword("x", text) is None
    assert b.match_keyword("x", "x" * 100_000) is None
    assert b.match_keyword("x", "a" * 100_000).id == "bomb"
    assert time.perf_counter() - t0 < 1.0


def test_ten_thousand_entries_match_fast_and_correctly():
    rng = random.Random(7)

    def word(n=8):
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))

    entries = []
    for i in range(10_000):
        et = ("user", "keyword", "domain", "post")[i % 4]
        mt = rng.choice(["exact", "exact", "contains", "regex"]) if et != "post" else "exact"
        if et == "domain" and mt == "exact":
            value = word() + ".com"
        elif mt == "regex":
            value = word(4) + r"\d{2,4}" + word(3)
        else:
            value = word()
        entries.append(
            E(et, value, mt, platform=rng.choice([None, "instagram", "tiktok"]), id=f"blk-{i:08x}")
        )
    t0 = time.perf_counter()
    b = Blocklist(entries)
    build = time.perf_counter() - t0
    assert len(b) == 10_000 and build < 10
    probe = next(e for e in entries if e.entry_type == "keyword" and e.match_type == "regex")
    sample = re2.compile(probe.value)
    text = "lorem " + probe.value.replace(r"\d{2,4}", "123") + " ipsum"
    assert sample.search(text)
    assert b.match_keyword(probe.platform or "instagram", text).id == probe.id
    t0 = time.perf_counter()
    for _ in range(2000):
        b.match(
            platform="instagram",
            username="someone",
            post_ids=["P1"],
            url="https://ok.example/x",
            text="a perfectly ordinary caption #sunset",
        )
    assert time.perf_counter() - t0 < 2.0


def test_set_failure_falls_back_to_single_regexes_not_fail_open():
    b = Blocklist([E("keyword", r"spam\d+", "regex", id="r"), E("keyword", "scam", "contains", id="c")])
    chunk = b._index[("keyword", None)].chunks[0]

    class GaveUp:  # what RE2::Set::Match reports when its DFA runs out of memory
        def Match(self, text):
            return None

    chunk._set = GaveUp()
    assert b.match_keyword("x", "spam42 here").id == "r"
    assert b.match_keyword("x", "a scam").id == "c"
    assert b.match_keyword("x", "fine") is None


def test_oversized_set_is_split(monkeypatch):
    monkeypatch.setattr(bl, "SET_CHUNK_SIZE", 3)
    b = Blocklist([E("keyword", f"w{i}x", "contains", id=str(i)) for i in range(10)])
    assert len(b._index[("keyword", None)].chunks) == 4
    assert b.match_keyword("x", "aw7xb").id == "7"
