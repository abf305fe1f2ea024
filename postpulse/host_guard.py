"""Allowed Host names for postpulse's local web servers, and a host-checking reverse proxy.

A web page on any site can make the browser talk to ``127.0.0.1`` by pointing a DNS name of its
own at it ("DNS rebinding"); the requests then carry that foreign name in the ``Host`` header.
Servers that answer only the names they are meant to be reached by are immune. Every local
server of postpulse (the sandbox platform, the Dagster UI) accepts only ``allowed_hosts()``:
``localhost``, ``127.0.0.1``, ``::1``, the address it listens on, and the names in
``POSTPULSE_ALLOWED_HOSTS`` (comma-separated, e.g. ``metrics.example.org`` when it is served
behind a reverse proxy under that name).

The Dagster UI is Dagster's own web server, which has no such check; ``postpulse up`` therefore
runs it on an internal port and serves it through ``python -m postpulse.host_guard``: Starlette's
``TrustedHostMiddleware`` in front of a small proxy (HTTP streamed with httpx, WebSockets
relayed for the UI's live updates).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Sequence

ENV_VAR = "POSTPULSE_ALLOWED_HOSTS"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
}


def allowed_hosts(bind_host: str | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """The Host names a local server answers to (see the module doc)."""
    env = os.environ if environ is None else environ
    hosts = list(LOOPBACK)
    if bind_host and bind_host not in ("0.0.0.0", "::", ""):
        hosts.append(bind_host.strip("[]"))
    hosts += [h.strip().lower() for h in env.get(ENV_VAR, "").split(",") if h.strip()]
    return list(dict.fromkeys(hosts))


def guarded(app, hosts: Sequence[str]):  # type: ignore[no-untyped-def]
    """``app`` behind Starlette's ``TrustedHostMiddleware`` (400 for any other Host)."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    return TrustedHostMiddleware(app, allowed_hosts=list(hosts), www_redirect=False)


def proxy_app(upstream: str):  # type: ignore[no-untyped-def]
    """An ASGI app relaying every HTTP request and WebSocket to ``upstream`` (http://host:port)."""
    import httpx
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    upstream = upstream.rstrip("/")
    client = httpx.AsyncClient(base_url=upstream, timeout=httpx.Timeout(60.0, connect=10.0))

    def _target(path: str, query: str) -> str:
        return "/" + path + (f"?{query}" if query else "")

    async def http(request: Request) -> StreamingResponse:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        req = client.build_request(
            request.method,
            _target(request.path_params["path"], request.url.query),
            headers=headers,
            content=request.stream(),
        )
        resp = await client.send(req, stream=True)
        out = StreamingResponse(
            resp.aiter_raw(), status_code=resp.status_code, background=BackgroundTask(resp.aclose)
        )
        out.raw_headers = [
            (k.lower(), v) for k, v in resp.headers.raw if k.decode("latin-1").lower() not in _HOP_BY_HOP
        ]
        return out

    async def websocket(ws: WebSocket) -> None:
        from websockets.asyncio.client import connect

        url = upstream.replace("http", "ws", 1) + _target(ws.path_params["path"], ws.url.query)
        protocols = ws.scope.get("subprotocols") or None
        async with connect(url, subprotocols=protocols, max_size=None) as up:
            await ws.accept(subprotocol=up.subprotocol)

            async def to_upstream() -> None:
                try:
                    while True:
                        msg = await ws.receive()
                        if msg["type"] == "websocket.disconnect":
                            return
                        await up.send(msg["text"] if msg.get("text") is not None else msg["bytes"])
                except WebSocketDisconnect:
                    return

            async def to_client() -> None:
                async for msg in up:
                    if isinstance(msg, str):
                        await ws.send_text(msg)
                    else:
                        await ws.send_bytes(msg)

            tasks = [asyncio.ensure_future(to_upstream()), asyncio.ensure_future(to_client())]
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close()  # unless the client already went

    @contextlib.asynccontextmanager
    async def lifespan(_app):  # type: ignore[no-untyped-def]
        yield
        await client.aclose()

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(
        routes=[Route("/{path:path}", http, methods=methods), WebSocketRoute("/{path:path}", websocket)],
        lifespan=lifespan,
    )


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        description="Serve UPSTREAM on HOST:PORT for the allowed Host names only."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT")
    args = parser.parse_args(argv)
    app = guarded(proxy_app(args.upstream), allowed_hosts(args.host))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
