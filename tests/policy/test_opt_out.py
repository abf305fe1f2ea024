import pytest

from postpulse.policy.blocklist import Blocklist
from postpulse.policy.opt_out import entry_for, is_opt_out

OPT_OUTS = [
    "STOP",
    "stop",
    "Stop.",
    "stop!!!",
    "STOP STOP STOP",
    "Please stop",
    "stop please 🙏",
    "Stop now",
    "unsubscribe",
    "UNSUBSCRIBE ME",
    "How do I unsubscribe?",
    "opt out",
    "Opt-out",
    "optout please",
    "don't message me",
    "Don’t DM me again",
    "do not contact me",
    "Never text me again.",
    "stop messaging me",
    "Please stop sending me these",
    "Stop texting. I mean it",
    "leave me alone",
    "remove me from your list",
    "take me off your list",
    "no more messages",
    "I hate this. Stop",
    "end",
    "CANCEL",
    "Stopp",
    "stopp bitte",
    "Hör auf mir zu schreiben",
    "keine Nachrichten mehr",
    "abmelden",
    "arrêter",
    "Arrete",
    "arrêtez svp",
    "ne m'écrivez plus",
    "arrête de m'écrire",
    "désabonner",
    "baja",
    "BAJA",
    "darme de baja por favor",
    "no me escribas más",
    "deja de escribirme",
]

NOT_OPT_OUTS = [
    "",
    "   ",
    "don't stop believing",
    "Don't stop me now 🎶",
    "bus stop photo",
    "The bus stop at dawn",
    "I can't stop laughing",
    "can't stop texting him lol",
    "stop by the shop tomorrow",
    "Won't stop. Can't stop.",
    "nonstop fun",
    "new stopwatch",
    "I unsubscribed from that newsletter",
    "baja california trip",
    "the tide is low, la marea está baja",
    "end of the day vibes",
    "I'll cancel my plans for this",
    "take me to the beach",
    "love this post, keep going!",
    "where do you stop for coffee?",
    "don't stop messaging me, I love it",
]


@pytest.mark.parametrize("text", OPT_OUTS)
def test_opt_out_recognised(text):
    assert is_opt_out(text) is True


@pytest.mark.parametrize("text", NOT_OPT_OUTS)
def test_not_an_opt_out(text):
    assert is_opt_out(text) is False


def test_none_and_long_text():
    assert is_opt_out(None) is False
    assert is_opt_out("a" * 200_000 + " please stop messaging me") is True


def test_entry_for_blocks_the_sender():
    e = entry_for("Instagram", "@Fan_01")
    assert (e.entry_type, e.match_type, e.added_by, e.platform, e.value) == (
        "user",
        "exact",
        "opt_out",
        "instagram",
        "fan_01",
    )
    assert "fan_01" in e.reason and e.expires_at is None
    b = Blocklist([e])
    assert b.match_user("instagram", "FAN_01") is not None
    assert b.match_user("tiktok", "fan_01") is None
    with pytest.raises(ValueError):
        entry_for("instagram", "@")
