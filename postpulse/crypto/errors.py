"""Vault errors. Messages name the key id, file or variable and say what to do; they never
contain key material or plaintext. They are user errors: the command line prints them as one
line and exits non-zero."""

from postpulse.errors import PostpulseError


class VaultError(PostpulseError):
    """Base class of every crypto error."""


class KeyringError(VaultError):
    """The key configuration is unusable (bad env var value, unsafe or corrupt key file)."""


class MissingKeyError(VaultError):
    """No key is configured, or the envelope's key id is not in the keyring."""

    def __init__(self, message: str, *, kid: str | None = None) -> None:
        self.kid = kid
        super().__init__(message)


class DecryptionError(VaultError):
    """Tampered or malformed ciphertext, wrong key, or wrong associated data."""
