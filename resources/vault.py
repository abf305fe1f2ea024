"""The secret vault as a Dagster resource (AES-256-GCM envelopes, ``postpulse.crypto``)."""

import dagster as dg
from sqlalchemy.engine import Engine

from postpulse.crypto import Vault
from postpulse.engagement.secrets import load_vault


class VaultResource(dg.ConfigurableResource):
    """Keys from ``POSTPULSE_SECRET_KEY`` or the key file ``<data dir>/keys/keyring.json``
    (data dir: ``data_dir`` here, else ``POSTPULSE_HOME``, else the per-user data directory).
    The key is read when a run needs it, never at import; it never appears in metadata."""

    data_dir: str | None = None
    create_key_file: bool = True

    def vault(self, engine: Engine | None = None) -> Vault:
        """The vault; a missing key file is created only when ``engine``'s store holds no
        encrypted data (otherwise the old key must be restored, see ``load_vault``)."""
        return load_vault(create=self.create_key_file, data_dir=self.data_dir or None, engine=engine)
