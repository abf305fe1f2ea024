"""Typed text never reaches an error message: verbatim, escaped, or cut short."""

import json

import pytest

from postpulse.engagement.withhold import WITHHELD, withhold_text

DM = 'Hi "Ana", the private offer: 40% off — code ZEBRA-7781\nreply soon'


@pytest.mark.parametrize(
    "echo",
    [
        DM,
        json.dumps(DM)[1:-1],
        json.dumps(DM, ensure_ascii=False)[1:-1],
        repr(DM)[1:-1],
    ],
)
def test_every_echoed_form_is_withheld(echo):
    msg = withhold_text(f"TimeoutError: locator.fill({echo!s}) exceeded 30000ms", DM)
    assert WITHHELD in msg
    assert "ZEBRA-7781" not in msg and "private offer" not in msg
    assert msg.startswith("TimeoutError: locator.fill(") and msg.endswith("exceeded 30000ms")


def test_a_truncated_echo_is_withheld():
    long_text = "confidential: " + "the quarterly numbers are " * 20
    cut = ("Error: typing " + long_text)[:120]
    msg = withhold_text(cut, long_text)
    assert "quarterly" not in msg and "confidential" not in msg
    assert msg == "Error: typing " + WITHHELD


def test_messages_without_the_text_are_unchanged():
    assert withhold_text("HTTP 429 Too Many Requests", DM) == "HTTP 429 Too Many Requests"
    assert withhold_text(None, DM) is None
    assert withhold_text("markup changed: button[name=Send]", None) == "markup changed: button[name=Send]"


def test_very_short_texts_are_not_scrubbed_out_of_ordinary_words():
    assert withhold_text("element is not visible", "is") == "element is not visible"
