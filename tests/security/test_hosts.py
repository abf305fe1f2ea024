"""DNS rebinding: the local web servers answer only allowed Host names, checked with a real HTTP
client sending a foreign Host header."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from postpulse.host_guard import allowed_hosts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _echo(request):
    body = await request.body()
    return JSONResponse(
        {
            "path": request.url.path,
            "query": request.url.query,
            "body": body.decode(),
            "host": request.headers["host"],
        },
        headers={"set-cookie": "a=1"},
    )


async def _ws_echo(ws):
    await ws.accept(subprotocol="graphql-ws" if "graphql-ws" in ws.scope.get("subprotocols", []) else None)
    msg = await ws.receive_text()
    await ws.send_text("echo:" + msg)
    await ws.close()


@pytest.fixture(scope="module")
def upstream():
    port = _free_port()
    app = Starlette(
        routes=[Route("/{p:path}", _echo, methods=["GET", "POST"]), WebSocketRoute("/ws", _ws_echo)]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    t.join(5)


@pytest.fixture(scope="module")
def guard(upstream):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "postpulse.host_guard", "--port", str(port), "--upstream", upstream]
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/ready", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(10)


def test_allowed_hosts(monkeypatch):
    assert allowed_hosts("127.0.0.1", {}) == ["localhost", "127.0.0.1", "::1"]
    assert allowed_hosts("0.0.0.0", {"POSTPULSE_ALLOWED_HOSTS": "Metrics.example.org, x.test"})[-2:] == [
        "metrics.example.org",
        "x.test",
    ]


def test_guard_refuses_foreign_host_and_relays_the_rest(guard):
    r = httpx.get(guard + "/graphql?q=1", headers={"Host": "attacker.example"})
    assert r.status_code == 400 and "path" not in r.text
    r = httpx.get(guard + "/graphql?q=1", headers={"Host": "attacker.example:3000"})
    assert r.status_code == 400
    r = httpx.post(guard + "/graphql?q=1", content=b"hello")
    assert r.status_code == 200 and r.json()["path"] == "/graphql" and r.json()["query"] == "q=1"
    assert r.json()["body"] == "hello" and r.headers["set-cookie"] == "a=1"
    r = httpx.get(guard.replace("127.0.0.1", "localhost") + "/x")
    assert r.status_code == 200


def test_guard_relays_websockets_for_allowed_hosts_only(guard):
    from websockets.asyncio.client import connect

    ws_url = guard.replace("http", "ws") + "/ws"

    async def talk() -> str:
        async with connect(ws_url, subprotocols=["graphql-ws"]) as ws:
            assert ws.subprotocol == "graphql-ws"
            await ws.send("hi")
            return await ws.recv()

    assert asyncio.run(talk()) == "echo:hi"
    # a raw upgrade request with a foreign Host (what a rebinding page's browser sends)
    port = int(guard.rsplit(":", 1)[1])
    for host, ok in (("attacker.example", False), (f"127.0.0.1:{port}", True)):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(
                (
                    f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            status = s.recv(200).split(b"\r\n", 1)[0]
        assert (b" 101 " in status) is ok, (host, status)


def test_sandbox_answers_only_its_own_host_names():
    from postpulse.sandbox.server import SandboxServer

    with SandboxServer(seed=7) as server:
        ok = httpx.get(server.base_url + "/healthz")
        assert ok.status_code == 200
        bad = httpx.get(server.base_url + "/healthz", headers={"Host": "rebind.attacker.example"})
        assert bad.status_code == 400 and "ok" not in bad.text
        r = httpx.get(server.base_url.replace("127.0.0.1", "localhost") + "/healthz")
        assert r.status_code == 200


def test_served_sandbox_admin_needs_the_token_from_up(tmp_path):
    port = _free_port()
    token = "t-" + "x" * 30
    env = {**os.environ, "SANDBOX_ADMIN_TOKEN": token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "postpulse.sandbox", "serve", "--port", str(port), "--profiles", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(base + "/_admin/state").status_code == 403
        assert httpx.get(base + "/_admin/state", headers={"X-Sandbox-Admin": "wrong"}).status_code == 403
        assert httpx.get(base + "/_admin/state", headers={"X-Sandbox-Admin": token}).status_code == 200
        assert (
            httpx.get(
                base + "/_admin/state", headers={"X-Sandbox-Admin": token, "Host": "evil.test"}
            ).status_code
            == 400
        )
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert token not in out


def test_sandbox_wrong_token_error_names_no_token():
    from postpulse.sandbox.server import SandboxServer

    with SandboxServer(seed=7, apify_token="sandbox-token") as server:
        for headers, params in (({}, {"token": "guess"}), ({"Authorization": "Bearer guess"}, {})):
            r = httpx.get(server.base_url + "/v2/acts/any~actor", params=params, headers=headers)
            assert r.status_code == 401 and "not valid" in r.text
            assert "sandbox-token" not in r.text
