"""Where the engagement area gets its vault, and the associated data of every envelope.

Every ciphertext is bound to its row and column (AES-GCM associated data), so a ciphertext
copied into another row or column does not decrypt:

================================== ==============================================
column                             associated data
================================== ==============================================
dm_messages.content_encrypted      ``dm_messages:<id>:content``
dm_threads.last_message_preview_.. ``dm_threads:<id>:last_message_preview``
accounts.session_encrypted         ``accounts:<id>:session``
accounts.access_token_encrypted    ``accounts:<id>:access_token``
accounts.refresh_token_encrypted   ``accounts:<id>:refresh_token``
action_queue.action_params.text_.. ``action_queue:<id>:text`` (outbound DM text, base64 text form)
vault_secrets.value_encrypted      ``vault_secrets:<id>:value`` (e.g. the DM text hash key)
================================== ==============================================

Keys: ``POSTPULSE_SECRET_KEY`` if set, else the key file ``<data dir>/keys/keyring.json`` (data
dir: ``POSTPULSE_HOME``, else the per-user data directory). A key file is created only while the
store holds no envelope (``load_vault(engine=...)``): otherwise the old key is missing and must be
restored, since a new one could not decrypt anything.
"""

from __future__ import annotations

import os

from sqlalchemy.engine import Engine

from postpulse import config
from postpulse.crypto import Keyring, MissingKeyError, Vault, default_key_file

from .envelopes import (  # the associated data of every envelope (re-exported: imported from here)
    dm_content_aad,
    dm_preview_aad,
    queued_text_aad,
    refuse_new_key_over_envelopes,
    session_aad,
    token_aad,
    vault_secret_aad,
)

__all__ = [
    "dm_content_aad",
    "dm_preview_aad",
    "load_vault",
    "queued_text_aad",
    "session_aad",
    "token_aad",
    "vault_secret_aad",
]


def load_vault(
    *,
    create: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    engine: Engine | None = None,
) -> Vault:
    """The vault: ``POSTPULSE_SECRET_KEY`` or the key file.

    A missing key file is created only with ``create`` AND an ``engine`` whose store holds no
    envelope; otherwise a missing key is a clear ``MissingKeyError`` (saying, when the store
    holds envelopes, that the key file must be restored) instead of a fresh key that cannot
    decrypt anything.
    """
    base = data_dir or config.data_dir()
    try:
        return Vault(Keyring.load(data_dir=base, create=False))
    except MissingKeyError:
        key_file = default_key_file(base)
        if not create or engine is None or key_file.exists():
            raise
    refuse_new_key_over_envelopes(engine, str(key_file))
    return Vault(Keyring.load(data_dir=base, create=True))
