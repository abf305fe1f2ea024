"""``python -m postpulse.sandbox [serve options]``: serve the sandbox (same options as
``postpulse sandbox serve``)."""

from postpulse.cli.sandbox import main

if __name__ == "__main__":
    main()
