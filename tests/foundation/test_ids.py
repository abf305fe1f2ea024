"""Identifiers: format, CSPRNG, and collision safety under a shrunken id space."""

import threading

import pytest
from sqlalchemy import text

from postpulse import ids


def test_new_id_format_and_randomness():
    values = {ids.new_id("p") for _ in range(2000)}
    assert len(values) == 2000
    assert all(ids.is_valid_id(v) and len(v) == len("p-") + 8 for v in values)
    assert ids.new_id("run").startswith("run-")


def test_every_row_lands_when_collisions_are_certain(engine, monkeypatch):
    # 256 possible ids, 200 rows: by the birthday bound, random draws collide with certainty.
    monkeypatch.setattr(ids, "HEX_DIGITS", 2)
    draws = [ids.new_id("tag") for _ in range(200)]
    assert len(set(draws)) < 200, "the shrunken space must make raw draws collide"
    with engine.begin() as conn:
        for i in range(200):
            ids.insert_with_new_id(conn, "tags", {"name": f"tag{i}"})
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, name FROM tags")).all()
    assert len(rows) == 200
    assert len({r.id for r in rows}) == 200
    assert {r.name for r in rows} == {f"tag{i}" for i in range(200)}, "no row merged or lost"


@pytest.mark.parametrize("allocator", ["ids", "import"])
def test_bulk_allocation_avoids_existing_and_itself(engine, monkeypatch, allocator):
    """Also the import's allocation, which in a space too small for runs draws random ids."""
    from postpulse.ingest import merge

    allocate = ids.allocate_ids if allocator == "ids" else merge.allocate_ids
    monkeypatch.setattr(ids, "HEX_DIGITS", 2)
    with engine.begin() as conn:
        for i in range(100):
            ids.insert_with_new_id(conn, "tags", {"name": f"t{i}"})
        existing = set(conn.execute(text("SELECT id FROM tags")).scalars())
        fresh = allocate(conn, "tags", 150)
    assert len(set(fresh)) == 150
    assert not (set(fresh) & existing)


def test_exhausted_space_fails_clearly(engine, monkeypatch):
    monkeypatch.setattr(ids, "HEX_DIGITS", 1)
    with engine.begin() as conn:
        for i in range(16):
            ids.insert_with_new_id(conn, "tags", {"name": f"x{i}"})
        with pytest.raises(ids.IdSpaceExhausted, match="tags"):
            ids.insert_with_new_id(conn, "tags", {"name": "one too many"})


def test_concurrent_writers_never_merge_rows(engine, monkeypatch):
    """Two writers racing for the same tiny id space: primary-key losses are retried."""
    monkeypatch.setattr(ids, "HEX_DIGITS", 2)
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for i in range(90):
                with engine.begin() as conn:
                    ids.insert_with_new_id(conn, "tags", {"name": f"{tag}{i}"})
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), count(DISTINCT id) FROM tags")).one() == (180, 180)


def test_import_allocation_takes_a_run_and_skips_ids_already_taken(engine, monkeypatch):
    """The import's bulk allocation draws consecutive ids from a random start and checks the
    run with one range query: ids of the run already in the table are skipped, none repeated."""
    from postpulse.ingest import merge

    with engine.begin() as conn:
        for i in range(0x100, 0x110):  # 16 ids inside the run about to be drawn
            conn.execute(
                text("INSERT INTO tags (id, name) VALUES (:id, :name)"),
                {"id": f"tag-{i:08x}", "name": f"pre{i}"},
            )
        starts = iter([0xF8, 0x1000])  # the first run (49 ids) has 16 taken: a second run for the rest
        monkeypatch.setattr(merge.os, "urandom", lambda k: next(starts).to_bytes(k, "big"))
        fresh = merge.allocate_ids(conn, "tags", 40)
    taken = {f"tag-{i:08x}" for i in range(0x100, 0x110)}
    assert len(fresh) == len(set(fresh)) == 40
    assert not set(fresh) & taken
    assert fresh == [
        f"tag-{i:08x}" for i in [*range(0xF8, 0x100), *range(0x110, 0x129), *range(0x1000, 0x1007)]
    ]
