"""Secrets at rest: AES-256-GCM envelopes with key ids, associated data and key rotation.

from postpulse.crypto import Keyring, Vault
vault = Vault(Keyring.load(data_dir=...))          # POSTPULSE_SECRET_KEY or the key file
blob = vault.encrypt("hello", b"dm_messages:dmm-1a2b3c4d:content")
vault.decrypt_text(blob, b"dm_messages:dmm-1a2b3c4d:content")  # -> "hello"
"""

from .errors import DecryptionError, KeyringError, MissingKeyError, VaultError
from .keyring import DATA_DIR_ENV_VAR, ENV_VAR, Keyring, default_key_file
from .vault import Vault, envelope_from_text, envelope_to_text, parse_envelope

__all__ = [
    "DecryptionError",
    "KeyringError",
    "MissingKeyError",
    "VaultError",
    "DATA_DIR_ENV_VAR",
    "ENV_VAR",
    "Keyring",
    "default_key_file",
    "Vault",
    "envelope_from_text",
    "envelope_to_text",
    "parse_envelope",
]
