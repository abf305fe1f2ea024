import base64
import os

import pytest

from postpulse.crypto import (
    DecryptionError,
    Keyring,
    MissingKeyError,
    Vault,
    VaultError,
    envelope_from_text,
    envelope_to_text,
    parse_envelope,
)

AAD = b"dm_messages:dmm-1a2b3c4d:content"
SECRET = "meet me at 7, the code is 4711"


@pytest.fixture
def vault():
    return Vault(Keyring([("k1", os.urandom(32))]))


def test_round_trip_bytes_and_text(vault):
    env = vault.encrypt(SECRET, AAD)
    assert vault.decrypt(env, AAD) == SECRET.encode()
    assert vault.decrypt_text(env, AAD) == SECRET
    assert vault.decrypt(vault.encrypt(b"\x00\xff", AAD), AAD) == b"\x00\xff"
    assert vault.decrypt_text(vault.encrypt("", AAD), AAD) == ""
    assert SECRET.encode() not in env


def test_envelope_format(vault):
    env = vault.encrypt(b"hello", AAD)
    assert env[0] == 1 and env[1] == 2 and env[2:4] == b"k1"
    version, kid, header, nonce, ct = parse_envelope(env)
    assert (version, kid, header, len(nonce), len(ct)) == (1, "k1", b"\x01\x02k1", 12, 5 + 16)
    assert Vault.key_id(env) == "k1"


def test_fresh_nonce_each_time(vault):
    a, b = vault.encrypt(SECRET, AAD), vault.encrypt(SECRET, AAD)
    assert a != b
    assert parse_envelope(a)[3] != parse_envelope(b)[3]
    nonces = {parse_envelope(vault.encrypt(b"x", AAD))[3] for _ in range(200)}
    assert len(nonces) == 200


# offsets for kid "k1": 0 version, 1 kid length, 2-3 kid, 4-15 nonce, 16.. ciphertext, last 16 tag
@pytest.mark.parametrize("where", ["version", "kid_len", "kid", "nonce", "ciphertext", "tag"])
def test_tampering_any_part_is_detected(vault, where):
    env = bytearray(vault.encrypt(SECRET, AAD))
    pos = {"version": 0, "kid_len": 1, "kid": 3, "nonce": 8, "ciphertext": 18, "tag": len(env) - 3}[where]
    env[pos] ^= 0x01
    with pytest.raises(VaultError) as info:
        vault.decrypt(bytes(env), AAD)
    assert SECRET not in str(info.value)


def test_tampered_kid_to_another_known_key_fails_authentication():
    ring = Keyring([("k1", os.urandom(32)), ("k2", os.urandom(32))])
    v = Vault(ring)
    env = bytearray(v.encrypt(SECRET, AAD))
    env[3] = ord("2")
    with pytest.raises(DecryptionError):
        v.decrypt(bytes(env), AAD)


def test_truncated_and_garbage(vault):
    env = vault.encrypt(SECRET, AAD)
    for bad in (b"", env[:10], env[:-1], b"\x01\x02k1" + b"\x00" * 5, b"plain text"):
        with pytest.raises(DecryptionError):
            vault.decrypt(bad, AAD)
    with pytest.raises(DecryptionError):
        vault.decrypt("not bytes", AAD)  # type: ignore[arg-type]


def test_wrong_associated_data(vault):
    env = vault.encrypt(SECRET, AAD)
    with pytest.raises(DecryptionError, match="dm_messages:dmm-ffffffff:content"):
        vault.decrypt(env, b"dm_messages:dmm-ffffffff:content")
    with pytest.raises(ValueError, match="associated data is required"):
        vault.encrypt(SECRET, b"")


def test_wrong_key_same_kid():
    env = Vault(Keyring([("k1", os.urandom(32))])).encrypt(SECRET, AAD)
    other = Vault(Keyring([("k1", os.urandom(32))]))
    with pytest.raises(DecryptionError) as info:
        other.decrypt(env, AAD)
    assert "'k1'" in str(info.value)


def test_unknown_kid_names_it_and_says_how_to_supply(vault):
    env = vault.encrypt(SECRET, AAD)
    other = Vault(Keyring([("k9", os.urandom(32))]))
    with pytest.raises(MissingKeyError) as info:
        other.decrypt(env, AAD)
    msg = str(info.value)
    assert info.value.kid == "k1" and "'k1'" in msg and "POSTPULSE_SECRET_KEY" in msg


def test_rotation_in_memory():
    ring = Keyring([("k1", os.urandom(32))])
    v = Vault(ring)
    old = v.encrypt(SECRET, AAD)
    new_kid = ring.rotate()
    assert ring.primary_kid == new_kid and set(ring.kids) == {"k1", new_kid}
    assert v.needs_rotation(old)
    assert v.decrypt_text(old, AAD) == SECRET  # old envelopes still decrypt
    fresh = v.reencrypt(old, AAD)
    assert Vault.key_id(fresh) == new_kid and not v.needs_rotation(fresh)
    assert v.decrypt_text(fresh, AAD) == SECRET
    assert v.reencrypt(fresh, AAD) == fresh
    ring.remove("k1")
    with pytest.raises(MissingKeyError):
        v.decrypt(old, AAD)
    with pytest.raises(DecryptionError):
        v.reencrypt(fresh[:-1] + bytes([fresh[-1] ^ 1]), AAD)


def test_text_form(vault):
    env = vault.encrypt(SECRET, AAD)
    text = envelope_to_text(env)
    assert text.startswith("pp1:") and envelope_from_text(text) == env
    for bad in ("[REDACTED]", "pp1:***"):
        with pytest.raises(DecryptionError):
            envelope_from_text(bad)


def test_no_key_material_or_plaintext_in_repr_or_errors():
    material = os.urandom(32)
    ring = Keyring([("k1", material)])
    v = Vault(ring)
    env = v.encrypt(SECRET, AAD)
    forms = (material.hex(), base64.b64encode(material).decode(), repr(material))
    texts = [repr(ring), repr(v), str(ring.__dict__ if hasattr(ring, "__dict__") else "")]
    for bad_env, aad in ((env[:-1] + b"\x00", AAD), (env, b"other")):
        try:
            v.decrypt(bad_env, aad)
        except VaultError as exc:
            texts.append(str(exc) + repr(exc))
    blob = "\n".join(texts)
    for f in forms:
        assert f not in blob
    assert SECRET not in blob
