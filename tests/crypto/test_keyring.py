import base64
import json
import os
import stat
import subprocess
import sys

import pytest

from postpulse.crypto import Keyring, KeyringError, MissingKeyError, Vault, default_key_file
from postpulse.crypto.keyring import derived_kid

AAD = b"accounts:acc-1a2b3c4d:session_state"


def b64key():
    return base64.b64encode(os.urandom(32)).decode()


def test_env_single_key():
    value = b64key()
    ring = Keyring.from_env({"POSTPULSE_SECRET_KEY": value})
    assert ring.primary_kid == derived_kid(base64.b64decode(value)) and ring.primary_kid.startswith("env-")
    assert value not in repr(ring)
    assert Keyring.from_env({}) is None


def test_env_several_keys_first_is_primary():
    old, new = b64key(), b64key()
    v_old = Vault(Keyring.parse_env_value(f"old:{old}"))
    env = v_old.encrypt("x", AAD)
    ring = Keyring.from_env({"POSTPULSE_SECRET_KEY": f" new:{new} , old:{old}"})
    assert ring.primary_kid == "new" and ring.kids == ("new", "old")
    v = Vault(ring)
    assert v.decrypt_text(env, AAD) == "x" and v.needs_rotation(env)
    with pytest.raises(KeyringError, match="POSTPULSE_SECRET_KEY"):
        ring.rotate()


def test_urlsafe_base64_accepted():
    raw = os.urandom(32)
    ring = Keyring.parse_env_value("k:" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert ring.material("k") == raw


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("", "set but empty"),
        ("not base64!!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
        ("a:{k},a:{k}", "appears twice"),
        ("bad kid!:{k}", "key id"),
        ("{k},{k}", "entry 1: with several keys"),
        ("a:{k},", "entry 2 is empty"),
        ("a:{k},b:nope", "entry 2 (key id 'b')"),
    ],
)
def test_env_parse_errors_are_clear_and_never_show_the_key(value, fragment):
    k = b64key()
    with pytest.raises(KeyringError) as info:
        Keyring.parse_env_value(value.replace("{k}", k))
    msg = str(info.value)
    assert fragment in msg and "POSTPULSE_SECRET_KEY" in msg
    assert k not in msg


def test_key_file_created_with_safe_permissions(tmp_path):
    data_dir = tmp_path / "data"
    ring = Keyring.load(data_dir=data_dir, environ={})
    path = default_key_file(data_dir)
    assert path == data_dir / "keys" / "keyring.json" and ring.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    again = Keyring.load(data_dir=data_dir, environ={})
    assert again.primary_kid == ring.primary_kid
    env = Vault(ring).encrypt("hello", AAD)
    assert Vault(again).decrypt_text(env, AAD) == "hello"
    data = json.loads(path.read_text())
    assert data["primary"] == ring.primary_kid and len(data["keys"]) == 1


def test_env_var_wins_over_key_file(tmp_path):
    Keyring.load(data_dir=tmp_path, environ={})
    ring = Keyring.load(data_dir=tmp_path, environ={"POSTPULSE_SECRET_KEY": "e:" + b64key()})
    assert ring.primary_kid == "e" and ring.path is None


def test_data_dir_from_env(tmp_path):
    assert default_key_file(environ={"POSTPULSE_HOME": str(tmp_path)}) == tmp_path / "keys" / "keyring.json"


def test_missing_key(tmp_path):
    with pytest.raises(MissingKeyError) as info:
        Keyring.load(data_dir=tmp_path, environ={}, create=False)
    assert "POSTPULSE_SECRET_KEY" in str(info.value) and "keyring.json" in str(info.value)


def test_refuses_group_or_world_readable_key_file(tmp_path):
    Keyring.load(data_dir=tmp_path, environ={})
    path = default_key_file(tmp_path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyringError) as info:
        Keyring.load(data_dir=tmp_path, environ={})
    assert "0644" in str(info.value) and f"chmod 600 {path}" in str(info.value)
    os.chmod(path, 0o640)
    with pytest.raises(KeyringError):
        Keyring.from_file(path)
    os.chmod(path, 0o600)
    Keyring.from_file(path)


def test_corrupt_key_file(tmp_path):
    path = tmp_path / "keyring.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"{oops")
    os.close(fd)
    with pytest.raises(KeyringError, match="not valid JSON"):
        Keyring.from_file(path)


def test_rotation_persists_and_old_envelopes_decrypt_until_reencrypted(tmp_path):
    ring = Keyring.load(data_dir=tmp_path, environ={})
    first = ring.primary_kid
    v = Vault(ring)
    old = v.encrypt("dm text", AAD)
    new = ring.rotate()
    assert new != first and ring.primary_kid == new
    path = default_key_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reloaded = Keyring.from_file(path)
    assert reloaded.primary_kid == new and set(reloaded.kids) == {first, new}
    v2 = Vault(reloaded)
    assert v2.needs_rotation(old) and v2.decrypt_text(old, AAD) == "dm text"
    rotated = v2.reencrypt(old, AAD)
    assert not v2.needs_rotation(rotated) and v2.decrypt_text(rotated, AAD) == "dm text"
    reloaded.remove(first)
    assert Keyring.from_file(path).kids == (new,)
    with pytest.raises(MissingKeyError, match=first):
        Vault(Keyring.from_file(path)).decrypt(old, AAD)


def test_other_process_rotation_is_picked_up(tmp_path):
    ring = Keyring.load(data_dir=tmp_path, environ={})
    code = (
        "import sys; from postpulse.crypto import Keyring, Vault, envelope_to_text;"
        "r = Keyring.from_file(sys.argv[1]); r.rotate();"
        "print(envelope_to_text(Vault(r).encrypt('from B', b'row:1')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ring.path)], capture_output=True, text=True, check=True
    )
    from postpulse.crypto import envelope_from_text

    env = envelope_from_text(out.stdout.strip())
    assert Vault(ring).decrypt_text(env, b"row:1") == "from B"  # unknown kid -> re-read the file


def test_concurrent_creation_yields_one_key(tmp_path):
    code = (
        "import sys; from postpulse.crypto import Keyring; print(Keyring.load(data_dir=sys.argv[1], "
        "environ={}).primary_kid)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    kids = {p.communicate()[0].strip() for p in procs}
    assert len(kids) == 1 and all(p.returncode == 0 for p in procs)
