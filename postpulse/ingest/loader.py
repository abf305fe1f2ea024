"""Load normalized records into the store: one download run, one transaction, set-based SQL.

This module is the entry point (``import_file``, ``import_file_as_pull``, ``load_records``);
the parts live beside it: :mod:`postpulse.ingest.runs` (run rows, results, the SHA-256 rule),
:mod:`postpulse.ingest.staging` (records -> staging rows, COPY on a background thread),
:mod:`postpulse.ingest.merge` (the set-based merge SQL) and :mod:`postpulse.ingest.store_values`
(values PostgreSQL accepts).

How an import works (``import_file`` / ``load_records``):

1. The source file's SHA-256 is computed first. A completed (or running) run with the same hash
   means the file was imported already: nothing is written, the result says
   ``already imported as run-…`` (the unique partial index on ``download_runs.source_sha256``
   makes this safe between concurrent importers too).
2. One transaction: the run row is inserted (status ``running``), the parser's record stream is
   COPYed in chunks into temporary staging tables (bounded memory: at most ``CHUNK_RECORDS``
   records or ``CHUNK_BYTES`` of rows are held in Python at a time). A background thread
   COPYs chunk *k* and inserts what is new in it (profiles, posts, snapshots:
   :func:`postpulse.ingest.merge.merge_chunk`) while this thread parses chunk *k+1*; rows that
   existed before the run are only touched by the whole-file merge (3), which also gives the
   posts/profiles created per chunk the values a whole-file insert would have given, so the
   result does not depend on the chunking. A file that turns out unreadable half-way raises and
   the transaction rolls back, so nothing from it is stored (not even the run).
3. Set-based merge, never row by row: profiles (natural key ``platform`` + ``profile_key``),
   posts (``platform`` + ``platform_post_id``), snapshots in ``data_downloads`` (``post_id`` +
   ``downloaded_at``), media (``post_id`` + ``media_url``), comments (``platform`` +
   ``platform_comment_id``, replies' parents resolved after all comments are in), rejected
   records; ``UPDATE ... FROM staging`` for existing rows and ``INSERT ... SELECT ... ON CONFLICT``
   for new ones, whose ids are allocated in bulk (:func:`postpulse.ingest.merge.allocate_ids`) and
   retried with fresh ids on a primary-key collision (:func:`postpulse.ids.retry_on_id_collision`).
4. The run is completed with its counts; commit. A crash (even ``kill -9``) before the commit
   leaves the store as if the import never started.

Decisions:

* **Capture time** of a snapshot: the record's own (``captured_at`` in the data) → the
  timestamp in the file name (Apify export names) → the caller's ``captured_at``
  (``--captured-at``) → the import time. The run records which one it used
  (``captured_at_source``: ``record`` only when every snapshot carried its own).
* **Duplicates inside one file**: one snapshot per (post, capture time); the *first* record in
  file order wins (the parser already reports later ones as ``Rejected(kind="duplicate")``;
  the loader applies the same rule if it sees any). Later duplicates are kept aside in
  ``rejected_records`` with the index of the record that was kept.
* **Posts**: ``first_seen_at`` = the earliest capture time seen (kept on later imports),
  ``last_extracted_at`` = the latest (advanced). Content and the denormalized latest counts are
  replaced only by a snapshot at least as new as ``last_extracted_at`` (an older file fills
  gaps but never overwrites newer values); absent counts never erase known ones.
* **Snapshots** are append-only: a snapshot that exists for (post, downloaded_at) is never
  changed (first import wins). Unchanged re-captures at a new time are new snapshots.
* Comments whose post is not in the file nor the store get a stub post (platform + id only,
  no snapshot), so no comment is lost.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from postpulse.agency.import_hook import after_import
from postpulse.errors import first_line
from postpulse.ingest import import_sessions
from postpulse.ingest.merge import (
    PREVIEW_FROM_KEPT,
    PREVIEW_KEPT_COUNT,
    PREVIEW_SQL,
    PREVIEW_TOP_DDL,
    ChunkCounts,
    merge_chunk,
    merge_staged,
)
from postpulse.ingest.runs import (
    COMPLETE_RUN_SQL,
    COUNT_BEFORE_POST_SQL,
    FAIL_RUN_SQL,
    PREVIEW_ROWS,
    AlreadyImported,
    ImportFailed,
    ImportResult,
    RunSource,
    already_imported_result,
    create_run,
    existing_run_for_hash,
    preview_markdown,
    sha256_file,
    system_info,
)
from postpulse.ingest.staging import STAGING_DDL, CopyWriter, Stager
from postpulse.ingest.store_values import run_sql
from postpulse.store.database import Store
from postpulse.timeutil import as_utc

log = logging.getLogger(__name__)

SIDE_STAGING = True
"""COPY each chunk's post and profile rows on a second connection (``side_staging``)."""

ProgressFn = Callable[[int, int], None]
"""``progress(records_parsed, bytes_read)``; called after each chunk (and at the end)."""


def load_records(
    engine: Engine,
    records: Iterable[Any],
    source: RunSource,
    *,
    progress: ProgressFn | None = None,
    bytes_read: Callable[[], int] | None = None,
    now: datetime | None = None,
    after_merge: Callable[[Connection, str], str | None] | None = None,
) -> ImportResult:
    """Load a stream of parser records as one download run, all or nothing.

    Raises :class:`ImportFailed` (or the parser's own error) and stores nothing when the stream
    fails; returns ``status="already_imported"`` when ``source.source_sha256`` was loaded before.
    ``after_merge(conn, run_id)`` runs inside the same transaction after the merge (check-backs
    advance their schedules there); a string it returns becomes the run's ``error_message``.
    """
    try:
        return _load_records(engine, records, source, progress, bytes_read, now, after_merge)
    except Exception as exc:
        if _connection_lost(exc):
            raise _lost_connection_error(source, exc) from None
        raise


def _load_records(
    engine: Engine,
    records: Iterable[Any],
    source: RunSource,
    progress: ProgressFn | None,
    bytes_read: Callable[[], int] | None,
    now: datetime | None,
    after_merge: Callable[[Connection, str], str | None] | None,
) -> ImportResult:
    t0 = time.perf_counter()
    now = as_utc(now) or datetime.now(UTC)
    with engine.connect() as conn:
        if source.source_sha256:
            prev = existing_run_for_hash(conn, source.source_sha256)
            conn.rollback()
            if prev:
                return already_imported_result(prev, source)
        side = open_side_staging(engine)
        try:
            with conn.begin():
                _guard_session(conn, source)
                try:
                    run_id = create_run(conn, source, now)
                except IntegrityError as exc:
                    # a concurrent import of the same file committed first
                    if "idx_runs_source_sha256" in str(exc.orig) and source.source_sha256:
                        raise AlreadyImported() from None
                    raise
                raw_conn = conn.connection.driver_connection
                run_sql(conn, "SET LOCAL work_mem = '64MB'")
                with raw_conn.cursor() as cur:
                    cur.execute(STAGING_DDL)
                    cur.execute(PREVIEW_TOP_DDL)
                chunks = ChunkCounts()
                writer = CopyWriter(
                    raw_conn,
                    on_chunk=functools.partial(
                        merge_chunk, conn, raw_conn, run_id, source, now, chunks, chunk_views=side is not None
                    ),
                    side=side,
                )
                stager = Stager(raw_conn, source, now, writer)
                try:
                    for rec in records:
                        stager.add(rec)
                        if progress is not None and stager.buffered_records == 0:
                            progress(stager.records, bytes_read() if bytes_read else 0)
                    stager.flush()
                except BaseException:
                    writer.close(abort=True)
                    raise
                writer.close()
                _refuse_wrong_format(source, stager)
                chunks.complete = True  # every chunk was COPYed and merged by the writer thread
                if progress is not None:
                    progress(stager.records, bytes_read() if bytes_read else 0)
                res = merge_staged(conn, raw_conn, run_id, source, stager, now, chunks)
                after_import(conn, run_id)  # accounts, tag rules, profile snapshots (postpulse.agency)
                failure = _every_record_rejected(source, stager)
                run_error = after_merge(conn, run_id) if after_merge is not None and not failure else None
                if stager.with_own_time and not stager.without_own_time:
                    cap_src, cap_at = "record", stager.record_times[0]
                else:
                    cap_src, cap_at = source.captured_at_source, as_utc(source.captured_at) or now
                fmt = source.format or (
                    max(stager.formats, key=stager.formats.get) if stager.formats else None
                )
                plat = source.platform or (
                    max(stager.platforms, key=stager.platforms.get) if stager.platforms else None
                )
                if failure:
                    # the run and the reasons stay (status failed); nothing else was stored
                    run_sql(
                        conn,
                        FAIL_RUN_SQL,
                        {
                            "id": run_id,
                            "platform": plat,
                            "format": fmt,
                            "rejected": res.records_rejected,
                            "error": failure,
                        },
                    )
                else:
                    res.snapshots_captured_before_post = run_sql(
                        conn, COUNT_BEFORE_POST_SQL, {"id": run_id}
                    ).scalar()
                    run_sql(
                        conn,
                        COMPLETE_RUN_SQL,
                        {
                            "id": run_id,
                            "platform": plat,
                            "format": fmt,
                            "captured_at": cap_at,
                            "captured_at_source": cap_src,
                            "fetched": res.posts_fetched,
                            "new": res.posts_new,
                            "updated": res.posts_updated,
                            "snaps": res.snapshots_new,
                            "comments": res.comments_upserted,
                            "rejected": res.records_rejected,
                            "error": run_error,
                            "before_post": res.snapshots_captured_before_post,
                        },
                    )
                    res.preview = preview_rows(conn, run_id, res.snapshots_new)
        except AlreadyImported:
            with engine.connect() as c2:
                prev = existing_run_for_hash(c2, source.source_sha256 or "")
            return already_imported_result(prev or "an earlier run", source)
        finally:
            if side is not None:
                side.close()  # after the transaction: it holds locks on the side tables it read
    if failure:
        raise ImportFailed(
            f"{failure}; run {run_id} marked failed, the reasons are in rejected_records",
            fix="check that the file is the export you meant (see the reasons), "
            "or pass the right --format/--mapping",
        )
    res.source_path, res.source_sha256, res.source_bytes = (
        source.source_path,
        source.source_sha256,
        source.source_bytes,
    )
    res.format, res.platform, res.captured_at, res.captured_at_source = fmt, plat, cap_at, cap_src
    res.records_parsed = stager.records
    res.seconds = time.perf_counter() - t0
    res.message = res.summary()
    return res


def _guard_session(conn: Connection, source: RunSource) -> None:
    """The import transaction's guards and name (:mod:`postpulse.ingest.import_sessions`), for this
    transaction only: the connection goes back to a shared pool. Another import of the same file
    that is running is named: this one waits for it (then finds the file imported)."""
    name = import_sessions.application_name(source.source_sha256)
    run_sql(conn, "SELECT set_config('application_name', %(name)s, true)", {"name": name})
    for statement in import_sessions.guard_statements():
        run_sql(conn, statement.replace("SET ", "SET LOCAL ", 1))
    if source.source_sha256:
        others = run_sql(conn, import_sessions.SAME_FILE_SQL, {"name": name}).all()
        if others:
            log.warning(
                "%s: another import of this file is running (%s); waiting for it to finish",
                source.source_path,
                ", ".join(f"process {pid} on {host}" for host, pid in others),
            )


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _lost_connection_error(source: RunSource, exc: BaseException) -> ImportFailed:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return ImportFailed(
        f"{source.source_path or 'import'}: the import lost its database connection "
        f"({first_line(cause)}); the run was not completed",
        fix="check that PostgreSQL runs (`postpulse db status`) and import the file again "
        "(an import that did complete is recognised as already imported)",
    )


def open_side_staging(engine: Engine):
    """The second connection for the staging COPY, or None (then the import's own connection
    COPYs, as it always did): a store without migration 0008, or no connection to spare."""
    from postpulse.ingest.side_staging import SideStaging, SideStagingUnavailable

    if not SIDE_STAGING:
        return None
    try:
        return SideStaging(Store.of(engine))
    except SideStagingUnavailable as exc:
        log.info("staging on the import's own connection: %s", exc)
        return None


def preview_rows(conn: Connection, run_id: str, snapshots_new: int) -> list[dict]:
    """The run's top snapshots: from the top rows each chunk kept while loading (a few dozen
    rows and primary-key lookups, whatever the store's size or statistics); from the run's
    snapshots only when snapshots were inserted otherwise (the whole-file merge)."""
    params = {"run_id": run_id, "n": PREVIEW_ROWS}
    kept = run_sql(conn, PREVIEW_KEPT_COUNT).scalar() or 0
    if kept >= min(PREVIEW_ROWS, snapshots_new):
        return [dict(r) for r in run_sql(conn, PREVIEW_FROM_KEPT, params).mappings()]
    return [dict(r) for r in run_sql(conn, PREVIEW_SQL, params).mappings()]


def _refuse_mismatched_format(path: Path, forced, mset) -> None:
    """A forced format whose detection rules do not fit the records while another format's do is a
    mistake (an X export read as Instagram posts would store wrong posts): refused up front."""
    from postpulse.ingest.detect import UnknownFormatError, detect_mapping
    from postpulse.ingest.mapping import MappingSet
    from postpulse.ingest.readers import FileReadError

    try:
        detected, _ = detect_mapping(path, mset)
    except (UnknownFormatError, FileReadError):
        return  # nothing recognises the records: that is what --format is for (read errors come later)
    if detected is forced:
        return
    try:
        detect_mapping(path, MappingSet([forced]))
        return  # the forced format fits as well (overlapping scrapers): the user's choice stands
    except (UnknownFormatError, FileReadError):
        pass
    raise ImportFailed(
        f"{path}: --format {forced.format_name!r} does not fit its records, which look like "
        f"{detected.format_name!r}; nothing stored",
        fix=f"use --format {detected.format_name}, or leave --format out to detect it",
    )


def _all_rejected(stager: Stager) -> str | None:
    """``record i, field f: reason`` of the first rejection when the data had records and every
    one was rejected, else None."""
    if not stager.records or stager.rejected < stager.records:
        return None
    index, fld, reason = stager.first_rejected or (0, None, "rejected")
    return f"record {index}" + (f", field {fld!r}" if fld else "") + f": {reason}"


def _every_record_rejected(source: RunSource, stager: Stager) -> str | None:
    """The failure message when the file had records and every one was rejected (an empty
    "completed" run would hide that nothing was imported), else None. Only for files a user
    imports: a check-back or a pull records what the platform answered, whatever it was."""
    first = _all_rejected(stager) if source.source_kind == "file" else None
    if first is None:
        return None
    return (
        f"{source.source_path or 'the data'}: every one of its {stager.records:,} records was rejected "
        f"(first: {first})"
    )


def _refuse_wrong_format(source: RunSource, stager: Stager) -> None:
    """A forced format that rejects every record is the wrong format: the run fails and the file is
    not marked imported, so the right format can still be applied to it."""
    first = _all_rejected(stager) if source.format else None
    if first is None:
        return
    raise ImportFailed(
        f"{source.source_path}: --format {source.format!r} rejected every one of its {stager.records:,} "
        f"records (first: {first}); nothing stored",
        fix="leave --format out to detect the format, or force the right one (`postpulse import --help` "
        "lists them)",
    )


# ----------------------------------------------------------------------------- files


def _proc_rchar() -> Callable[[], int] | None:
    """Bytes read by this process so far (Linux), for a progress bar without touching the parser."""
    try:
        with open("/proc/self/io", "rb") as f:
            f.read()
    except OSError:
        return None

    def read() -> int:
        with open("/proc/self/io", "rb") as f:
            for line in f:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
        return 0

    return read


def resolve_capture_time(
    path: str | os.PathLike, cli_time: datetime | None, now: datetime
) -> tuple[datetime, str]:
    """Fallback capture time for records without their own: file name → ``--captured-at`` →
    import time."""
    from postpulse.ingest.timeparse import capture_time_from_filename

    ft = capture_time_from_filename(os.fspath(path))
    if ft is not None:
        return as_utc(ft), "filename"
    if cli_time is not None:
        return as_utc(cli_time), "cli"
    return now, "import_time"


def import_file(
    engine: Engine,
    path: str | os.PathLike,
    *,
    format: str | None = None,
    captured_at: datetime | None = None,
    mapping_paths: Iterable[str | os.PathLike] = (),
    source_kind: str = "file",
    track: bool = False,
    dagster_run_id: str | None = None,
    progress: ProgressFn | None = None,
    now: datetime | None = None,
    records_filter: Callable[[Iterator[Any]], Iterator[Any]] | None = None,
) -> ImportResult:
    """Import one file as one download run (see the module docstring)."""
    from postpulse.ingest import iter_file
    from postpulse.ingest.readers import FileReadError, ensure_regular_file, read_sample, sniff_container

    path = Path(path)
    ensure_regular_file(path)  # before anything opens it: a FIFO blocks, a device never ends
    sniff_container(path, read_sample(path))  # junk (binary, empty, not JSON/CSV) before hashing it all
    now = as_utc(now) or datetime.now(UTC)
    mapping_paths = tuple(mapping_paths)
    mset = None
    if format:
        # before the "already imported" shortcut: a wrong --format must never pass silently
        from postpulse.ingest import load_mappings

        mset = load_mappings(mapping_paths)
        forced = mset.get(format)
        if forced is None:
            raise ImportFailed(
                f"{path}: --format {format!r} is not a known format; known formats: "
                f"{', '.join(mset.names())}",
                fix="leave --format out to detect the format, or pass your mapping file with --mapping",
            )
        _refuse_mismatched_format(path, forced, mset)
    try:
        sha, size = sha256_file(path)
    except OSError as exc:
        raise FileReadError(path, f"cannot read: {exc.strerror or exc}") from None
    fallback, fallback_src = resolve_capture_time(path, captured_at, now)
    source = RunSource(
        source_kind=source_kind,
        source_path=str(path.resolve()),
        source_sha256=sha,
        source_bytes=size,
        format=format,
        captured_at=fallback,
        captured_at_source=fallback_src,
        script_name="postpulse import",
        dagster_run_id=dagster_run_id,
        track=track,
    )
    rchar = _proc_rchar() if progress is not None else None
    base = rchar() if rchar else 0

    def bytes_read() -> int:
        return min(size, rchar() - base) if rchar else 0

    # the reference time for relative posted times: the capture time we will use
    records = iter_file(path, format, mapping_paths=mapping_paths, mappings=mset, captured_at=fallback)
    if records_filter is not None:
        records = records_filter(records)
    return load_records(engine, records, source, progress=progress, bytes_read=bytes_read, now=now)


def import_file_as_pull(
    engine: Engine,
    path: str | os.PathLike,
    *,
    source_kind: str,
    platform: str | None,
    apify_run_id: str | None = None,
    actor_id: str | None = None,
    track: bool = False,
    dagster_run_id: str | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Import a dataset this process just downloaded (Apify / sandbox pull).

    Unlike a user's file, a pull is never "already imported": two pulls may return the same
    bytes (nothing changed on the platform) and the second is still a new capture, i.e. new
    snapshots. The file's SHA-256 is kept in ``system_info.file_sha256``; ``source_sha256`` (the
    file-dedup key) stays empty.
    """
    from postpulse.ingest import iter_file

    path = Path(path)
    now = as_utc(now) or datetime.now(UTC)
    sha, size = sha256_file(path)
    fallback, fallback_src = resolve_capture_time(path, None, now)
    source = RunSource(
        source_kind=source_kind,
        source_path=str(path.resolve()),
        source_sha256=None,
        source_bytes=size,
        platform=platform,
        captured_at=fallback,
        captured_at_source=fallback_src,
        script_name=f"postpulse {source_kind} pull",
        dagster_run_id=dagster_run_id,
        track=track,
        extra_info={"file_sha256": sha, "apify_run_id": apify_run_id, "actor_id": actor_id},
    )
    return load_records(engine, iter_file(path, captured_at=fallback), source, now=now)


__all__ = [
    "ImportFailed",
    "ImportResult",
    "RunSource",
    "existing_run_for_hash",
    "import_file",
    "import_file_as_pull",
    "load_records",
    "preview_markdown",
    "resolve_capture_time",
    "sha256_file",
    "system_info",
]
