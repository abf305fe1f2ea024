"""``python -m postpulse.console serve --port N [--host H]``: the console as a child process of
``postpulse up`` (the store URL comes from DATABASE_URL)."""

from __future__ import annotations

import argparse

from postpulse.console.app import DEFAULT_PORT
from postpulse.console.server import make_server, settings_from_env
from postpulse.store.database import connect_store


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m postpulse.console")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    store = connect_store()
    make_server(store.engine, settings_from_env(args.host), args.host, args.port).run()


if __name__ == "__main__":
    main()
