"""Keys for the vault: from ``POSTPULSE_SECRET_KEY`` or from a generated key file.

``POSTPULSE_SECRET_KEY`` holds either one base64-encoded 32-byte key (its key id is derived
from it: ``env-<8 hex>``), or several ``kid:base64`` pairs separated by commas, the first being
the primary (used to encrypt) and the others kept to decrypt older data::

    POSTPULSE_SECRET_KEY="k2026b:8f3V...=,k2026a:Qm9v...="

Generate a key with ``python -c "import base64,os; print(base64.b64encode(os.urandom(32)).decode())"``.

Without the variable, keys live in a JSON key file, by default ``<data dir>/keys/keyring.json``
(data dir: the ``data_dir`` argument, else ``POSTPULSE_HOME``, else the platform's user data
directory). It is created on first use with mode 0600 in a directory with mode 0700, and
refused if group or others can read it. ``rotate()`` adds a new primary key and keeps the old
ones for decrypting (under a file lock, re-reading the file first, so concurrent rotations do
not lose keys); ``remove(kid)`` drops a retired key once nothing uses it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from .errors import KeyringError, MissingKeyError

ENV_VAR = "POSTPULSE_SECRET_KEY"
DATA_DIR_ENV_VAR = "POSTPULSE_HOME"  # the one data-directory variable (postpulse.config)
KEY_FILE_NAME = "keyring.json"
KEY_BYTES = 32
KID_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
_FILE_FORMAT = "postpulse-keyring"

HOW_TO_SUPPLY = (
    f"Set {ENV_VAR} to a base64-encoded 32-byte key (several as 'kid:base64,kid:base64', the "
    "first one primary), or keep the key file in the data directory "
    f"(<data dir>/keys/{KEY_FILE_NAME})."
)


class _Key:
    __slots__ = ("kid", "material", "created_at")

    def __init__(self, kid: str, material: bytes, created_at: str | None = None) -> None:
        self.kid = kid
        self.material = material
        self.created_at = created_at

    def __repr__(self) -> str:
        return f"<key {self.kid} (redacted)>"


def new_kid() -> str:
    return f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def derived_kid(material: bytes) -> str:
    """Key id for a key given without one: a short fingerprint (not reversible)."""
    return "env-" + hashlib.sha256(b"postpulse-kid\0" + material).hexdigest()[:8]


def _decode_key(text: str, where: str) -> bytes:
    t = text.strip()
    try:
        if "-" in t or "_" in t:
            raw = base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
        else:
            raw = base64.b64decode(t + "=" * (-len(t) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{where}: the key is not valid base64. {HOW_TO_SUPPLY}") from None
    if len(raw) != KEY_BYTES:
        raise KeyringError(
            f"{where}: the key decodes to {len(raw)} bytes; AES-256 needs exactly {KEY_BYTES}. "
            f"{HOW_TO_SUPPLY}"
        )
    return raw


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(DATA_DIR_ENV_VAR):
        return Path(env[DATA_DIR_ENV_VAR])
    import platformdirs

    return Path(platformdirs.user_data_dir("postpulse"))


def default_key_file(
    data_dir: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    base = Path(data_dir) if data_dir is not None else default_data_dir(environ)
    return base / "keys" / KEY_FILE_NAME


class Keyring:
    """Named AES-256 keys, one of them primary. Never shows key material."""

    def __init__(
        self,
        keys: Iterable[tuple[str, bytes]],
        primary: str | None = None,
        *,
        path: Path | None = None,
        source: str = "memory",
    ) -> None:
        self._keys: dict[str, _Key] = {}
        for kid, material in keys:
            self._add(kid, material, None, where=source)
        if not self._keys:
            raise MissingKeyError(f"No encryption key configured ({source} holds none). {HOW_TO_SUPPLY}")
        self._primary = primary or next(iter(self._keys))
        if self._primary not in self._keys:
            raise KeyringError(f"{source}: primary key id {self._primary!r} is not among the keys")
        self._path = path
        self._source = source

    def _add(self, kid: str, material: bytes, created_at: str | None, *, where: str) -> None:
        if not isinstance(kid, str) or not KID_RE.fullmatch(kid):
            raise KeyringError(
                f"{where}: key id {kid!r} is invalid; use 1-32 characters from A-Z a-z 0-9 . _ -"
            )
        if kid in self._keys:
            raise KeyringError(f"{where}: key id {kid!r} appears twice")
        if not isinstance(material, bytes) or len(material) != KEY_BYTES:
            raise KeyringError(f"{where}: key {kid!r} must be exactly {KEY_BYTES} bytes")
        self._keys[kid] = _Key(kid, material, created_at)

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def generate(cls, kid: str | None = None) -> Keyring:
        """An in-memory keyring with one fresh random key (tests, throw-away use)."""
        return cls([(kid or new_kid(), secrets.token_bytes(KEY_BYTES))])

    @classmethod
    def parse_env_value(cls, value: str, *, var: str = ENV_VAR) -> Keyring:
        if not value or not value.strip():
            raise KeyringError(f"{var} is set but empty; unset it to use the key file. {HOW_TO_SUPPLY}")
        items = [part.strip() for part in value.split(",")]
        keys: list[tuple[str, bytes]] = []
        for n, item in enumerate(items, 1):
            where = f"{var} entry {n}" if len(items) > 1 else var
            if not item:
                raise KeyringError(f"{where} is empty (stray comma?)")
            if ":" in item:
                kid, _, b64 = item.partition(":")
                kid = kid.strip()
                if not KID_RE.fullmatch(kid):
                    raise KeyringError(
                        f"{where}: key id {kid!r} is invalid; use 1-32 characters from A-Z a-z 0-9 . _ -"
                    )
                keys.append((kid, _decode_key(b64, f"{where} (key id {kid!r})")))
            else:
                if len(items) > 1:
                    raise KeyringError(f"{where}: with several keys, write each as 'kid:base64'")
                material = _decode_key(item, where)
                keys.append((derived_kid(material), material))
        return cls(keys, source=f"environment variable {var}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, var: str = ENV_VAR) -> Keyring | None:
        """The keyring in ``var``, or None if the variable is not set."""
        env = os.environ if environ is None else environ
        if var not in env:
            return None
        return cls.parse_env_value(env[var], var=var)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, create: bool = False) -> Keyring:
        """Load the key file (refusing unsafe permissions); create it first if ``create``."""
        p = Path(path)
        if not p.exists():
            if not create:
                raise MissingKeyError(
                    f"No encryption key configured: key file {p} does not exist. {HOW_TO_SUPPLY}"
                )
            _create_key_file(p)
        return cls._read_file(p)

    @classmethod
    def load(
        cls,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        create: bool = True,
    ) -> Keyring:
        """``POSTPULSE_SECRET_KEY`` if set, else the key file (created if missing and ``create``)."""
        ring = cls.from_env(environ)
        if ring is not None:
            return ring
        path = Path(key_file) if key_file is not None else default_key_file(data_dir, environ)
        return cls.from_file(path, create=create)

    @classmethod
    def _read_file(cls, p: Path) -> Keyring:
        _check_permissions(p)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeyringError(
                f"key file {p} is unreadable or not valid JSON ({type(exc).__name__}); "
                "restore it from a backup"
            ) from None
        if (
            not isinstance(data, dict)
            or data.get("format") != _FILE_FORMAT
            or not isinstance(data.get("keys"), list)
        ):
            raise KeyringError(f"key file {p} is not a postpulse keyring (expected format {_FILE_FORMAT!r})")
        ring = cls.__new__(cls)
        ring._keys = {}
        for n, item in enumerate(data["keys"], 1):
            if not isinstance(item, dict):
                raise KeyringError(f"key file {p}: key {n} is not an object")
            kid = item.get("kid")
            ring._add(
                kid,
                _decode_key(str(item.get("key", "")), f"key file {p}, key id {kid!r}"),
                item.get("created_at"),
                where=f"key file {p}",
            )
        if not ring._keys:
            raise MissingKeyError(f"key file {p} holds no keys. {HOW_TO_SUPPLY}")
        primary = data.get("primary")
        if primary not in ring._keys:
            raise KeyringError(f"key file {p}: primary key id {primary!r} is not among its keys")
        ring._primary = primary
        ring._path = p
        ring._source = f"key file {p}"
        return ring

    # -- properties ----------------------------------------------------------------------------

    @property
    def primary_kid(self) -> str:
        return self._primary

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def source(self) -> str:
        return self._source

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __repr__(self) -> str:
        return f"Keyring(primary={self._primary!r}, kids={list(self._keys)!r}, source={self._source!r})"

    def material(self, kid: str) -> bytes:
        """The key bytes for ``kid``; a file-backed keyring re-reads its file once if unknown
        (another process may have rotated)."""
        key = self._keys.get(kid)
        if key is None and self._path is not None:
            self.refresh()
            key = self._keys.get(kid)
        if key is None:
            raise MissingKeyError(
                f"The data was encrypted with key id {kid!r}, which is not in the keyring "
                f"({self._source}; known: {', '.join(self._keys)}). Supply that key: add "
                f"'{kid}:<base64 key>' to {ENV_VAR} (after the primary), or restore the key file "
                "that contains it.",
                kid=kid,
            )
        return key.material

    def refresh(self) -> None:
        if self._path is None:
            return
        fresh = type(self)._read_file(self._path)
        self._keys, self._primary = fresh._keys, fresh._primary

    # -- rotation ----------------------------------------------------------------------------

    def _require_file(self, what: str) -> Path:
        if self._path is None:
            if self._source.startswith("environment"):
                raise KeyringError(
                    f"Cannot {what} a keyring from {ENV_VAR}: put the new key first in the variable "
                    "('newkid:base64,oldkid:base64'), restart, then re-encrypt."
                )
            return Path()  # in-memory
        return self._path

    def rotate(self) -> str:
        """Add a new primary key (old ones kept for decrypting), persist it; returns its id."""
        path = self._require_file("rotate")
        if self._path is None:
            kid = new_kid()
            self._add(kid, secrets.token_bytes(KEY_BYTES), datetime.now(UTC).isoformat(), where=self._source)
            self._primary = kid
            return kid
        with _lock(path):
            self.refresh()
            kid = new_kid()
            while kid in self._keys:
                kid = new_kid()
            self._add(kid, secrets.token_bytes(KEY_BYTES), datetime.now(UTC).isoformat(), where=self._source)
            self._primary = kid
            _write_key_file(path, self._to_json(), replace=True)
        return kid

    def staged_rotation(self) -> Keyring:
        """An in-memory copy of this keyring with a fresh primary key added; nothing is persisted.

        Re-encrypt with it, then ``adopt(staged)`` writes its new key to the key file: rotation
        never leaves a persisted primary key that the stored data does not use yet."""
        self._require_file("rotate")
        if self._path is not None:
            self.refresh()
        kid = new_kid()
        while kid in self._keys:
            kid = new_kid()
        staged = Keyring(
            [(k.kid, k.material) for k in self._keys.values()], self._primary, source="staged rotation"
        )
        staged._add(kid, secrets.token_bytes(KEY_BYTES), datetime.now(UTC).isoformat(), where=self._source)
        staged._primary = kid
        return staged

    def adopt(self, staged: Keyring) -> str:
        """Add ``staged``'s primary key (from ``staged_rotation``) and make it primary; persist it."""
        key = staged._keys[staged.primary_kid]
        path = self._require_file("rotate")
        if self._path is None:
            self._add(key.kid, key.material, key.created_at, where=self._source)
            self._primary = key.kid
            return key.kid
        with _lock(path):
            self.refresh()
            if key.kid not in self._keys:
                self._add(key.kid, key.material, key.created_at, where=self._source)
            self._primary = key.kid
            _write_key_file(path, self._to_json(), replace=True)
        return key.kid

    def remove(self, kid: str) -> None:
        """Drop a retired key (not the primary). Data still encrypted with it becomes unreadable."""
        path = self._require_file("remove a key from")
        if kid == self._primary:
            raise KeyringError(f"key id {kid!r} is the primary key; rotate first")
        if self._path is None:
            self._keys.pop(kid, None)
            return
        with _lock(path):
            self.refresh()
            if kid == self._primary:
                raise KeyringError(f"key id {kid!r} is the primary key; rotate first")
            self._keys.pop(kid, None)
            _write_key_file(path, self._to_json(), replace=True)

    def _to_json(self) -> str:
        return json.dumps(
            {
                "format": _FILE_FORMAT,
                "version": 1,
                "primary": self._primary,
                "keys": [
                    {
                        "kid": k.kid,
                        "key": base64.b64encode(k.material).decode("ascii"),
                        "created_at": k.created_at,
                    }
                    for k in self._keys.values()
                ],
            },
            indent=2,
        )


# -- key file helpers ------------------------------------------------------------------------


def _check_permissions(p: Path) -> None:
    try:
        st = p.stat()
    except OSError as exc:
        raise KeyringError(f"key file {p} cannot be read ({exc.strerror})") from None
    if os.name == "posix" and st.st_mode & 0o077:
        raise KeyringError(
            f"key file {p} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"refusing to use it. Run: chmod 600 {p}"
        )


def _lock(path: Path):  # type: ignore[no-untyped-def]
    from filelock import FileLock

    return FileLock(str(path.with_name(path.name + ".lock")), timeout=30)


def _ensure_dir(d: Path) -> None:
    if not d.exists():
        d.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)


def _write_key_file(path: Path, content: str, *, replace: bool) -> bool:
    """Write atomically with mode 0600. With ``replace=False`` never overwrite an existing file
    (returns False if one appeared meanwhile: another process created it first)."""
    _ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic create-if-absent
            return True
        except FileExistsError:
            return False
    finally:
        if tmp.exists():
            tmp.unlink()


def _create_key_file(path: Path) -> None:
    kid = new_kid()
    ring = Keyring([(kid, secrets.token_bytes(KEY_BYTES))])
    ring._keys[kid].created_at = datetime.now(UTC).isoformat()
    _write_key_file(path, ring._to_json(), replace=False)
