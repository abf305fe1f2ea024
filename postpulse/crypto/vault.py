"""AES-256-GCM encryption of secrets at rest (DM content, browser session state, API tokens).

Envelope (bytes)::

    +---------+---------+------------------+----------------+-------------------------+
    | version | kid len | kid (ASCII)      | nonce          | ciphertext || GCM tag   |
    | 1 byte  | 1 byte  | 1..32 bytes      | 12 bytes       | len(plaintext) + 16     |
    +---------+---------+------------------+----------------+-------------------------+

- version is 0x01;
- the key id names the key in the keyring (rotation: old envelopes keep their key id);
- the nonce is fresh from the OS CSPRNG for every encryption (never reused, never fixed);
- the GCM associated data is the header (version, kid len, kid) followed by the caller's
  associated data, so the header cannot be altered and a ciphertext cannot be moved to another
  row: callers pass e.g. ``b"dm_messages:dmm-1a2b3c4d:content"``.

For TEXT columns, ``envelope_to_text`` / ``envelope_from_text`` give ``pp1:<base64>``.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptionError, MissingKeyError
from .keyring import KID_RE, Keyring

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
TEXT_PREFIX = "pp1:"


def _aad_bytes(aad: bytes | str) -> bytes:
    if isinstance(aad, str):
        aad = aad.encode("utf-8")
    if not isinstance(aad, (bytes, bytearray, memoryview)) or not bytes(aad):
        raise ValueError(
            "associated data is required: pass what the ciphertext belongs to, "
            "e.g. b'dm_messages:dmm-1a2b3c4d:content'"
        )
    return bytes(aad)


def _label(aad: bytes) -> str:
    text = aad.decode("utf-8", "replace")
    return text if len(text) <= 80 else text[:77] + "..."


def parse_envelope(envelope: bytes) -> tuple[int, str, bytes, bytes, bytes]:
    """``(version, kid, header, nonce, ciphertext_and_tag)``; DecryptionError if malformed."""
    if not isinstance(envelope, (bytes, bytearray, memoryview)):
        raise DecryptionError(f"expected an encrypted envelope (bytes), got {type(envelope).__name__}")
    env = bytes(envelope)
    if len(env) < 2:
        raise DecryptionError("not a postpulse envelope: too short")
    version, kid_len = env[0], env[1]
    if version != VERSION:
        raise DecryptionError(
            f"unsupported envelope version {version} (this postpulse reads version {VERSION}); "
            "the data is corrupt or from a newer postpulse"
        )
    header_len = 2 + kid_len
    if kid_len == 0 or len(env) < header_len + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("not a postpulse envelope: truncated or malformed")
    try:
        kid = env[2:header_len].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError("not a postpulse envelope: the key id is not ASCII (corrupt data)") from None
    if not KID_RE.fullmatch(kid):
        raise DecryptionError("not a postpulse envelope: malformed key id (corrupt data)")
    nonce = env[header_len : header_len + NONCE_BYTES]
    return version, kid, env[:header_len], nonce, env[header_len + NONCE_BYTES :]


def envelope_to_text(envelope: bytes) -> str:
    return TEXT_PREFIX + base64.b64encode(envelope).decode("ascii")


def envelope_from_text(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith(TEXT_PREFIX):
        raise DecryptionError(
            f"not an encrypted value (expected the prefix {TEXT_PREFIX!r}); was it redacted?"
        )
    try:
        return base64.b64decode(text[len(TEXT_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("encrypted value is not valid base64 (corrupt data)") from None


class Vault:
    """Encrypt and decrypt with the keyring's keys; always encrypts with the primary key."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._ciphers: dict[tuple[str, bytes], AESGCM] = {}

    def __repr__(self) -> str:
        return f"Vault(primary={self.keyring.primary_kid!r})"

    def _cipher(self, kid: str) -> AESGCM:
        material = self.keyring.material(kid)  # MissingKeyError names the kid
        key = (kid, material)
        c = self._ciphers.get(key)
        if c is None:
            c = self._ciphers[key] = AESGCM(material)
        return c

    def encrypt(self, plaintext: bytes | str, aad: bytes) -> bytes:
        if isinstance(plaintext, str):
            plaintext = plaintext.encode("utf-8")
        if not isinstance(plaintext, (bytes, bytearray, memoryview)):
            raise TypeError(f"plaintext must be bytes or str, got {type(plaintext).__name__}")
        ad = _aad_bytes(aad)
        kid = self.keyring.primary_kid
        kid_b = kid.encode("ascii")
        header = bytes((VERSION, len(kid_b))) + kid_b
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + self._cipher(kid).encrypt(nonce, bytes(plaintext), header + ad)

    def decrypt(self, envelope: bytes, aad: bytes) -> bytes:
        ad = _aad_bytes(aad)
        _, kid, header, nonce, ct = parse_envelope(envelope)
        cipher = self._cipher(kid)
        try:
            return cipher.decrypt(nonce, ct, header + ad)
        except InvalidTag:
            raise DecryptionError(
                f"cannot decrypt the value for {_label(ad)!r} with key {kid!r}: the ciphertext was "
                "altered, belongs to another record (associated data differs), or key "
                f"{kid!r} is not the key it was encrypted with (a different key under the same id)"
            ) from None

    def decrypt_text(self, envelope: bytes, aad: bytes) -> str:
        data = self.decrypt(envelope, aad)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError(f"the value for {_label(_aad_bytes(aad))!r} is not UTF-8 text") from None

    @staticmethod
    def key_id(envelope: bytes) -> str:
        return parse_envelope(envelope)[1]

    def needs_rotation(self, envelope: bytes) -> bool:
        """True if the envelope is not encrypted with the current primary key."""
        return parse_envelope(envelope)[1] != self.keyring.primary_kid

    def reencrypt(self, envelope: bytes, aad: bytes) -> bytes:
        """Decrypt (with whatever key it names) and encrypt again with the primary key.

        Returns the envelope unchanged if it already uses the primary key."""
        if not self.needs_rotation(envelope):
            self.decrypt(envelope, aad)  # still verify it
            return bytes(envelope)
        return self.encrypt(self.decrypt(envelope, aad), aad)


__all__ = ["Vault", "envelope_from_text", "envelope_to_text", "parse_envelope", "MissingKeyError"]
