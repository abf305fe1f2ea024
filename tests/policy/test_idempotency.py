import hashlib

from postpulse.policy.idempotency import (
    IdempotencyChecker,
    InMemoryIdempotency,
    idempotency_key,
    normalize_text,
    text_hash,
)


def test_text_hash_normalises_case_and_whitespace():
    assert text_hash("Great  post!") == text_hash("great post!") == text_hash("  GREAT\n\tPOST! ")
    assert text_hash("great post") != text_hash("great post!")
    assert text_hash("Straße") == text_hash("STRASSE")
    assert text_hash("x") == hashlib.sha256(b"x").hexdigest()
    assert normalize_text(" A \u00a0 B ") == "a b"


def test_keys():
    assert idempotency_key("like", "p1", None) == ("p1", None)
    assert idempotency_key("follow", "u1", "ignored") == ("u1", None)
    assert idempotency_key("comment", "p1", "Nice!") == ("p1", text_hash("nice!"))
    assert idempotency_key("unlike", "p1", None) is None
    assert idempotency_key("like", None, None) is None


def test_in_memory_checker():
    c = InMemoryIdempotency()
    assert isinstance(c, IdempotencyChecker)
    c.record_success("a", "comment", "p1", text_hash("hi"))
    assert c.already_succeeded("a", "comment", "p1", text_hash("HI"))
    assert not c.already_succeeded("a", "comment", "p1", text_hash("hello"))
    assert not c.already_succeeded("b", "comment", "p1", text_hash("hi"))
