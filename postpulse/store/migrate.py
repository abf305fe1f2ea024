"""Alembic, driven from Python: ``postpulse db upgrade|downgrade|reset|status`` and tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from postpulse.errors import PostpulseError
from postpulse.store.database import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "migrations"


class MigrationFailed(PostpulseError):
    pass


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str
    pending: list[str]

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def status(url: str) -> SchemaStatus:
    script = ScriptDirectory.from_config(alembic_config(url))
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    head = script.get_current_head()
    pending = [
        rev.revision
        for rev in reversed(list(script.walk_revisions("base", "heads")))
        if current is None
        or rev.revision not in {r.revision for r in script.iterate_revisions(current, "base")}
    ]
    return SchemaStatus(current=current, head=head, pending=pending)


def _run(action, url: str, revision: str) -> None:
    try:
        action(alembic_config(url), revision)
    except PostpulseError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MigrationFailed(
            f"migration to {revision} failed and was rolled back, nothing changed: {first}",
            fix="run `postpulse db status`; if the schema was changed by hand, "
            "restore it or reset a scratch database",
        ) from None


def upgrade(url: str, revision: str = "head") -> None:
    _run(command.upgrade, url, revision)


def downgrade(url: str, revision: str = "-1") -> None:
    _run(command.downgrade, url, revision)


def reset(url: str) -> None:
    """Drop everything postpulse created and upgrade again (data is lost)."""
    downgrade(url, "base")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        engine.dispose()
    upgrade(url, "head")
