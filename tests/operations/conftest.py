"""Real local receivers for alert tests: an SMTP server (aiosmtpd) with STARTTLS and login on
127.0.0.1, and an HTTP server on 127.0.0.1 that records what is posted to it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_USER = "alerts"
SMTP_PASSWORD = "s3cret-smtp-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "smtp-cert.pem", tmp / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class SmtpServer:
    host: str
    port: int
    ca_file: Path
    messages: list = field(default_factory=list)
    logins: list = field(default_factory=list)


@pytest.fixture
def smtp_server(tmp_path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = SmtpServer("127.0.0.1", _free_port(), cert)

    class Handler:
        async def handle_DATA(self, srv, session, envelope):
            server.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    def authenticator(srv, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        server.logins.append(ok)
        return AuthResult(success=ok, handled=False)

    ctl = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=server.port,
        tls_context=tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    ctl.start()
    yield server
    ctl.stop()


@dataclass
class HttpReceiver:
    url: str
    posts: list = field(default_factory=list)
    status: int = 200


@pytest.fixture
def http_receiver():
    rec = HttpReceiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec.posts.append({"path": self.path, "json": json.loads(body), "status": rec.status})
            self.send_response(rec.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{srv.server_address[1]}/hook/T0K3N"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield rec
    srv.shutdown()
    srv.server_close()


def write_alerts_config(path: Path, smtp: SmtpServer | None, hooks: list[tuple[str, str]]) -> Path:
    lines = ['dagster_url = "http://127.0.0.1:3000"', "checkbacks_overdue_hours = 6", "digest_hour = 0"]
    for url, fmt in hooks:
        lines += ["[[webhook]]", f'url = "{url}"', f'format = "{fmt}"']
    if smtp is not None:
        lines += [
            "[email]",
            f'host = "{smtp.host}"',
            f"port = {smtp.port}",
            'sender = "postpulse@127.0.0.1"',
            'to = ["me@127.0.0.1"]',
            f'username = "{SMTP_USER}"',
            'password_env = "TEST_SMTP_PASSWORD"',
            f'ca_file = "{smtp.ca_file}"',
            "timeout = 5",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path
