"""The executor core: claim -> policy -> execute -> verify -> record (plain Python).

**Claim + policy (one transaction).** ``SELECT ... FROM action_queue ... FOR UPDATE OF q SKIP
LOCKED`` picks due approved actions no other executor holds. For each account in the batch (in
account-id order, so executors never deadlock) the executor takes ``pg_advisory_xact_lock`` on the
account, reads its last 24 h of counted attempts on the same connection (one query, after the lock),
asks the ``PolicyEngine``, and for an allowed action inserts its ``action_attempts`` row
``in_progress`` and marks the action ``in_progress`` -- all before the commit that releases the
lock. So "count + insert in-progress attempt" is atomic per account across processes and machines
(two executors cannot both take the last slot), and the unique index ``idx_attempt_action_running``
makes a second running attempt of the same action impossible. Denied actions are never dropped:
deferred ones stay ``approved`` with ``scheduled_for = retry_at`` and ``last_reason_code``; rejected
ones become ``rejected``; both are audited (``policy_block`` / ``rate_limit_hit`` with the reason
code).

**Execute.** Per account one browser context with the decrypted session; transient faults (429,
5xx, timeouts) are retried with exponential backoff (tenacity); a block notice, three 429s in a
row or a like that is gone after reload freeze the account (``frozen_until``, audit
``block_signal``) and defer its actions; a redirect to the login page sets ``needs_relogin``;
a missing selector is ``markup_changed``. A screenshot is kept on failure (not for DMs: they
would put message text on disk).

**Verify + record.** ``reload_verify`` (fresh page load) and ``dom_state_check`` rows in
``verification_results``; the attempt becomes ``success`` (the unique indexes allow one live
success per target) or ``failed``; unlike/unfollow supersede the earlier like/follow; a
comment or reply becomes our row in ``comments`` (``comments.py``). Drivers are opened through
``drivers/registry.py`` (which driver acts for an account's platform).
"""

from __future__ import annotations

import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from postpulse.crypto import Vault, VaultError, envelope_from_text
from postpulse.policy import (
    AccountSettings,
    PolicyEngine,
    SettingsError,
    classify_failure,
    freeze_message,
    freeze_until,
)

from . import audit
from .drivers.base import (
    ActionTask,
    DriverError,
    ExecResult,
    TargetRefused,
    TransientError,
    Verification,
)
from .policy_store import DbIdempotency, PreloadedIdempotency, PreloadedUsage, blocklist_cache
from .repository import is_globally_paused, utcnow
from .retention import screenshot_dir
from .secrets import queued_text_aad
from .targets import SELECT_ROWS, policy_inputs
from .withhold import withhold_text

TRANSIENT_CODES = frozenset({"rate_limited", "server_error", "timeout", "network_error"})
RELOGIN_CODES = frozenset({"session_expired", "no_session"})
#: refusals of the target found while executing (its author read from the page): rejected, audited
#: as ``policy_block``, never retried
POLICY_CODES = frozenset(
    {
        "opted_out",
        "blocklisted_user",
        "blocklisted_post",
        "blocklisted_domain",
        "blocklisted_keyword",
        "not_allowlisted",
        "author_unknown",
    }
)


@dataclass
class ExecutorConfig:
    worker_id: str = field(default_factory=lambda: f"wrk-{secrets.token_hex(3)}")
    batch_size: int = 20
    max_tries: int = 3  # tries per execution (transient faults), then defer
    backoff_base: float = 0.5  # seconds; doubled per retry
    backoff_max: float = 4.0
    recheck_minutes: int = 15  # deferral when the policy gives no retry time (relogin, inactive)
    transient_defer_minutes: int = 5
    stale_after_minutes: int = 30
    timeout_ms: int = 15000
    screenshot_dir: str | None = None
    base_url: str | None = None  # the sandbox
    action_types: tuple[str, ...] | None = None  # claim only these types (the publishing runner)

    def screenshots(self) -> Path:
        return (
            Path(self.screenshot_dir) if self.screenshot_dir else screenshot_dir()
        )  # where retention cleans


@dataclass
class ClaimReport:
    tasks: list[ActionTask] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)  # denials (no secrets)
    paused: bool = False
    released_stale: int = 0


_CLAIM = text(
    SELECT_ROWS
    + """WHERE q.status = 'approved' AND (q.scheduled_for IS NULL OR q.scheduled_for <= :now)
  AND (CAST(:types AS text[]) IS NULL OR q.action_type = ANY(CAST(:types AS text[])))
ORDER BY q.priority DESC, q.scheduled_for NULLS FIRST, q.created_at
LIMIT :n
FOR UPDATE OF q SKIP LOCKED
"""
)
#: one action's row as the claim reads it (the check of an author read from the page)
_ONE_ROW = text(SELECT_ROWS + "WHERE q.id = :id")

_INSERT_ATTEMPT = text(
    "WITH claimed AS (UPDATE action_queue SET status = 'in_progress', claimed_by = :w, claimed_at = :now, "
    "attempts = attempts + 1, last_reason_code = NULL WHERE id = :act AND status = 'approved') "
    "INSERT INTO action_attempts (id, run_id, action_id, platform, action_type, account_id, target_type, "
    "target_id, input, text_hash, status, attempted_at) VALUES (:id, :run, :act, :pf, :type, :acc, :tt, "
    ":tid, CAST(:input AS jsonb), :th, 'in_progress', :now) ON CONFLICT (id) DO NOTHING RETURNING id"
)
_INSERT_VERIFICATION = text(
    "INSERT INTO verification_results (id, action_attempt_id, verified, confidence, method, details, "
    "verified_at, duration_ms) VALUES (:id, :att, :v, :c, :m, CAST(:d AS jsonb), :now, :ms) "
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('postpulse:account:' || :a, 0))")

_SUPERSEDE = text(
    "UPDATE action_attempts SET superseded_at = :now WHERE account_id = :a AND platform = :p "
    "AND target_id = :t "
    "AND action_type = ANY(CAST(:types AS text[])) AND status = 'success' AND superseded_at IS NULL"
)
_COMPLETE_ACTION = text(
    "UPDATE action_queue SET status = 'completed', completed_at = :now, executed_at = :now, "
    "last_error = NULL, last_reason_code = NULL, system_notes = left(concat_ws(E'\\n', CAST(:note AS text), "
    "system_notes), 4000) WHERE id = :act"
)
_SUCCEED = text(
    "WITH sup AS (" + _SUPERSEDE.text + "), q AS (" + _COMPLETE_ACTION.text + ") UPDATE action_attempts "
    "SET status = 'success', completed_at = :now, duration_ms = :ms, result = CAST(:r AS jsonb), "
    "verification_id = :v WHERE id = :id"
)


class Executor:
    """One executor (one worker). Thread-confined: give each thread its own Executor and browser."""

    def __init__(
        self,
        engine: Engine,
        vault: Vault | None = None,
        *,
        browser: Any = None,
        config: ExecutorConfig | None = None,
        now_fn: Callable[[], datetime] = utcnow,
        run_id: str | None = None,
        driver_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.engine = engine
        self.vault = vault
        self.browser = browser
        self.config = config or ExecutorConfig()
        self.now = now_fn
        self.run_id = run_id or f"exec-{secrets.token_hex(4)}"
        self.driver_factory = driver_factory or self._open_driver
        self.blocklists = blocklist_cache(engine)

    # ------------------------------------------------------------------------------- claim
    def release_stale(self, conn: Connection, now: datetime) -> int:
        """Actions stuck ``in_progress`` (an executor died) go back to ``approved``; their attempt
        becomes ``failed``/``abandoned``. Re-running is safe: drivers check the state first."""
        cutoff = now - timedelta(minutes=self.config.stale_after_minutes)
        rows = (
            conn.execute(
                text(
                    "UPDATE action_queue SET status = 'approved', claimed_by = NULL, "
                    "last_reason_code = 'abandoned', "
                    "system_notes = concat_ws(E'\\n', system_notes, 'released: "
                    "its executor stopped before recording') "
                    "WHERE status = 'in_progress' AND claimed_at < :c RETURNING id"
                ),
                {"c": cutoff},
            )
            .scalars()
            .all()
        )
        if rows:
            conn.execute(
                text(
                    "UPDATE action_attempts SET status = 'failed', error_code = 'abandoned', "
                    "completed_at = :now "
                    "WHERE action_id = ANY(:ids) AND status IN ('in_progress', 'pending')"
                ),
                {"ids": list(rows), "now": now},
            )
        return len(rows)

    def claim(self, limit: int | None = None) -> ClaimReport:
        limit = limit or self.config.batch_size
        now = self.now()
        report = ClaimReport()
        with self.engine.begin() as conn:
            report.released_stale = self.release_stale(conn, now)
            if is_globally_paused(conn):
                report.paused = True
                return report
            types = list(self.config.action_types) if self.config.action_types else None
            rows = [
                dict(r) for r in conn.execute(_CLAIM, {"now": now, "n": limit, "types": types}).mappings()
            ]
            if not rows:
                return report
            by_account: dict[str, list[dict]] = defaultdict(list)
            for r in rows:
                by_account[r["account_id"]].append(r)
            first = True
            for account_id in sorted(by_account):
                conn.execute(_LOCK, {"a": account_id})
                blocklist = self.blocklists.get(conn, account_id, check=first)
                first = False
                # Counts read once per account, AFTER its advisory lock: only a lock holder inserts
                # in-progress attempts, so the preloaded times stay exact for this transaction (a
                # concurrent record can only turn in-progress into failed: an upper bound); each
                # allowed action is added by ``_gate`` (usage.record).
                usage = PreloadedUsage(
                    conn, [(account_id, r["action_type"]) for r in by_account[account_id]], now
                )
                engine = PolicyEngine(blocklist, usage=usage, idempotency=DbIdempotency(conn))
                for r in by_account[account_id]:
                    self._gate(conn, engine, r, now, report, usage=usage)
        return report

    def _text_of(self, r: dict) -> str | None:
        params = r["action_params"] or {}
        if "text_encrypted" in params:
            if self.vault is None:
                raise VaultError("no vault configured: cannot read the encrypted DM text")
            return self.vault.decrypt_text(
                envelope_from_text(params["text_encrypted"]), queued_text_aad(r["id"])
            )
        return params.get("text")

    def _gate(
        self,
        conn: Connection,
        engine: PolicyEngine,
        r: dict,
        now: datetime,
        report: ClaimReport,
        usage: PreloadedUsage | None = None,
    ) -> None:
        params = dict(r["action_params"] or {})
        # request problems the policy engine does not know about
        if r["target_type"] == "dm_thread" and r["thread_row"] is None:
            self._deny(
                conn,
                r,
                now,
                report,
                "reject",
                "unknown_thread",
                f"DM thread {r['target_id']} is unknown for account {r['account_id']} (deleted, or never "
                "synced); queue the DM to the user instead.",
                None,
            )
            return
        try:
            text_value = self._text_of(r)
        except VaultError as exc:
            # a key problem (missing / wrong key), not the action's fault: it waits until the key is supplied
            self._deny(
                conn,
                r,
                now,
                report,
                "defer",
                "decryption_failed",
                f"cannot read the action's text: {exc}",
                None,
            )
            return
        try:
            settings = AccountSettings.parse(
                r["settings"] or {}, source=f"accounts.settings of {r['account_id']}"
            )
        except SettingsError as exc:
            self._deny(
                conn,
                r,
                now,
                report,
                "defer",
                "invalid_settings",
                f"{exc}. Fix the account settings; the action waits.",
                None,
            )
            return
        request, account = policy_inputs(r, text_value, settings)
        target_username = request.target_username
        d = engine.decide(request, account, now)
        if d.outcome != "allow":
            self._deny(
                conn,
                r,
                now,
                report,
                d.outcome,
                str(d.reason_code),
                d.message,
                d.retry_at,
                event=d.audit_event,
                details=d.details,
            )
            return
        from .drivers.registry import resolve

        try:
            driver_name, site = resolve(r["platform"], r["metadata"])
        except DriverError as exc:
            self._deny(conn, r, now, report, "fail", "unsupported_platform", str(exc), None)
            return
        input_doc = {
            "text_hash": r["text_hash"],
            "target_username": target_username,
            "template_id": params.get("template_id"),
            "worker": self.config.worker_id,
        }
        if r["action_type"] not in ("dm_send",) and text_value is not None:
            input_doc["text_length"] = len(text_value)
        att_id = audit.insert_fresh(
            conn,
            "action_attempts",
            _INSERT_ATTEMPT,
            {
                "run": self.run_id,
                "act": r["id"],
                "pf": r["platform"],
                "type": r["action_type"],
                "acc": r["account_id"],
                "tt": r["target_type"],
                "tid": r["target_id"],
                "input": json.dumps(input_doc),
                "th": r["text_hash"],
                "now": now,
                "w": self.config.worker_id,
            },
        )
        if usage is not None:
            usage.record(r["account_id"], r["action_type"], now)
        audit.record(
            conn,
            run_id=self.run_id,
            step_id="claim",
            event_type="action_attempt",
            outcome="pending",
            platform=r["platform"],
            account_id=r["account_id"],
            action_id=r["id"],
            target_type=r["target_type"],
            target_id=r["target_id"],
            at=now,
            details={
                "attempt_id": att_id,
                "action_type": r["action_type"],
                "worker": self.config.worker_id,
                "policy": "allowed",
            },
        )
        report.tasks.append(
            ActionTask(
                action_id=r["id"],
                attempt_id=att_id,
                run_id=self.run_id,
                account_id=r["account_id"],
                platform=r["platform"],
                site=site,
                username=r["username"],
                action_type=r["action_type"],
                target_type=r["target_type"],
                target_id=r["target_id"],
                target_username=target_username,
                target_url=r["target_url"],
                check_author=request.author_pending
                and (engine.blocklist.has_user_entries(r["platform"]) or settings.allowlist.enabled),
                post_ref=params.get("post_id") or r["post_platform_id"],
                text=text_value if "text_encrypted" not in params else None,
                text_encrypted=params.get("text_encrypted"),
                text_hash=r["text_hash"],
                params={
                    **{
                        k: v
                        for k, v in params.items()
                        if k in ("media", "post_id", "template_id", "client_ref", "intent_at")
                    },
                    **({"platform_thread_id": r["platform_thread_id"]} if r["platform_thread_id"] else {}),
                },
                attempts=r["attempts"] + 1,
                max_attempts=r["max_attempts"],
                db_post_id=r["db_post_id"],
                driver=driver_name,
            )
        )

    def _deny(
        self,
        conn: Connection,
        r: dict,
        now: datetime,
        report: ClaimReport,
        outcome: str,
        code: str,
        message: str,
        retry_at: datetime | None,
        *,
        event: str | None = None,
        details: dict | None = None,
    ) -> None:
        if outcome == "defer":
            when = retry_at or now + timedelta(minutes=self.config.recheck_minutes)
            conn.execute(
                text(
                    "UPDATE action_queue SET scheduled_for = :w, last_reason_code = :c, last_error = :m, "
                    "system_notes = left(concat_ws(E'\\n', CAST(:note AS text), system_notes), 4000) "
                    "WHERE id = :id"
                ),
                {
                    "w": when,
                    "c": code,
                    "m": message,
                    "id": r["id"],
                    "note": f"{now:%Y-%m-%d %H:%M} UTC deferred to {when:%Y-%m-%d %H:%M} UTC: {code}",
                },
            )
        else:
            status = "rejected" if outcome == "reject" else "failed"
            conn.execute(
                text(
                    "UPDATE action_queue SET status = :s, last_reason_code = :c, last_error = :m, "
                    "completed_at = :now, system_notes = left(concat_ws(E'\\n', CAST(:note AS text), "
                    "system_notes), 4000) WHERE id = :id"
                ),
                {
                    "s": status,
                    "c": code,
                    "m": message,
                    "now": now,
                    "id": r["id"],
                    "note": f"{now:%Y-%m-%d %H:%M} UTC {status}: {code}",
                },
            )
            retry_at = None
        audit.record(
            conn,
            run_id=self.run_id,
            step_id="policy",
            event_type=event or "policy_block",
            outcome="skipped" if outcome == "defer" else "failure",
            platform=r["platform"],
            account_id=r["account_id"],
            action_id=r["id"],
            target_type=r["target_type"],
            target_id=r["target_id"],
            at=now,
            details={
                "reason_code": code,
                "outcome": outcome,
                "message": message,
                "retry_at": (
                    retry_at or (now + timedelta(minutes=self.config.recheck_minutes))
                    if outcome == "defer"
                    else None
                ),
                **{
                    k: v
                    for k, v in (details or {}).items()
                    if k
                    in ("window", "count", "limit", "entry_id", "entry_type", "match_type", "quiet_hours")
                },
            },
        )
        report.decisions.append(
            {
                "action_id": r["id"],
                "account_id": r["account_id"],
                "action_type": r["action_type"],
                "outcome": outcome,
                "reason_code": code,
                "message": message,
            }
        )

    # ------------------------------------------------------------------------------- preview (dry run)
    def preview(self, limit: int = 100) -> list[dict[str, Any]]:
        """What a run would do now, read-only: the policy decision for each due approved action
        (batch preload: two queries for the whole batch). Nothing is claimed or written."""
        now = self.now()
        out = []
        with self.engine.connect() as conn:
            paused = is_globally_paused(conn)
            rows = [
                dict(r)
                for r in conn.execute(
                    text(str(_CLAIM.text).replace("FOR UPDATE OF q SKIP LOCKED", "")),
                    {"now": now, "n": limit, "types": list(self.config.action_types or []) or None},
                ).mappings()
            ]
            usage = PreloadedUsage(conn, [(r["account_id"], r["action_type"]) for r in rows], now)
            idem = PreloadedIdempotency(
                conn, [(r["account_id"], r["action_type"], r["target_id"]) for r in rows]
            )
            first = True
            for r in rows:
                try:
                    settings = AccountSettings.parse(r["settings"] or {})
                except SettingsError as exc:
                    out.append(
                        {
                            "action_id": r["id"],
                            "outcome": "defer",
                            "reason_code": "invalid_settings",
                            "message": str(exc),
                        }
                    )
                    continue
                try:
                    text_value = self._text_of(r)
                except VaultError:
                    text_value = None
                # the blocklist's freshness is checked once per preview, as claim() does per batch
                blocklist = self.blocklists.get(conn, r["account_id"], check=first)
                first = False
                engine = PolicyEngine(blocklist, usage=usage, idempotency=idem, global_paused=paused)
                d = engine.decide(*policy_inputs(r, text_value, settings), now)
                if d.allowed:
                    usage.record(r["account_id"], r["action_type"], now)
                out.append(
                    {
                        "action_id": r["id"],
                        "account": r["username"],
                        "action_type": r["action_type"],
                        "target_id": r["target_id"],
                        "outcome": d.outcome,
                        "reason_code": str(d.reason_code),
                        "message": d.message,
                    }
                )
        return out

    # ------------------------------------------------------------------------------- execute
    def _open_driver(self, task: ActionTask, storage_state: dict | None):
        from .drivers.registry import needs_browser, open_driver
        from .sessions import store_session

        if self.browser is None and needs_browser(task.driver):
            raise DriverError("no browser: the executor needs a Playwright browser for real runs")
        base = self.config.base_url or "http://127.0.0.1:8765"

        def save_session(state: dict) -> None:  # an API driver's refreshed tokens, stored at once
            if self.vault is not None:
                with self.engine.begin() as conn:
                    store_session(conn, self.vault, task.account_id, state)

        return open_driver(
            task.driver,
            self.browser,
            base_url=base,
            site=task.site,
            username=task.username,
            storage_state=storage_state,
            timeout_ms=self.config.timeout_ms,
            on_session_change=save_session,
        )

    def _session(self, account_id: str) -> dict | None:
        from .sessions import load_session

        if self.vault is None:
            raise VaultError("no vault configured: cannot read the account's session")
        with self.engine.connect() as conn:
            return load_session(conn, self.vault, account_id)

    def task_text(self, task: ActionTask) -> str | None:
        if task.text_encrypted:
            if self.vault is None:
                raise VaultError("no vault configured: cannot read the encrypted DM text")
            return self.vault.decrypt_text(
                envelope_from_text(task.text_encrypted), queued_text_aad(task.action_id)
            )
        return task.text

    def _wait(self, state) -> float:
        exc = state.outcome.exception() if state.outcome else None
        base = min(self.config.backoff_max, self.config.backoff_base * (2 ** (state.attempt_number - 1)))
        ra = getattr(exc, "retry_after", None)
        if ra:
            base = max(base, min(float(ra), self.config.backoff_max))
        return base

    def execute(self, tasks: list[ActionTask], *, verify: bool = True) -> list[ExecResult]:
        """Run the tasks through the drivers (per account one browser context). With ``verify``,
        each action is verified right after it ran (fresh page load) in the same context."""
        results: list[ExecResult] = []
        by_account: dict[str, list[ActionTask]] = defaultdict(list)
        for t in tasks:
            by_account[t.account_id].append(t)
        for acc_tasks in by_account.values():
            results.extend(self._execute_account(acc_tasks, verify=verify))
        return results

    def _execute_account(self, tasks: list[ActionTask], *, verify: bool) -> list[ExecResult]:
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        out: list[ExecResult] = []
        try:
            state = self._session(tasks[0].account_id)
        except VaultError as exc:
            return [
                ExecResult(t, False, error_code="decryption_failed", error_message=f"session: {exc}")
                for t in tasks
            ]
        if state is None:
            return [
                ExecResult(
                    t,
                    False,
                    error_code="no_session",
                    error_message=f"@{t.username} has no stored session: run `postpulse accounts login "
                    f"{t.username}`",
                )
                for t in tasks
            ]
        try:
            driver = self.driver_factory(tasks[0], state)
        except DriverError as exc:
            return [ExecResult(t, False, error_code=exc.code, error_message=exc.message) for t in tasks]
        stop_reason: str | None = None
        try:
            for task in tasks:
                if stop_reason is not None:
                    out.append(
                        ExecResult(
                            task,
                            False,
                            error_code=stop_reason,
                            skipped=True,
                            error_message="not run: the account was flagged earlier in this batch "
                            f"({stop_reason})",
                        )
                    )
                    continue
                t0 = time.perf_counter()
                codes: list[int] = []
                res = ExecResult(task, False)
                text_value: str | None = None
                try:
                    text_value = self.task_text(task)

                    def attempt(task=task, text_value=text_value, codes=codes, res=res):
                        try:
                            if task.check_author:
                                self.check_author(driver, task)
                            return driver.perform(task, text_value)
                        except TransientError as e:
                            codes.append(e.status or 0)
                            res.retry_after = e.retry_after
                            raise

                    retrying = Retrying(
                        retry=retry_if_exception_type(TransientError),
                        stop=stop_after_attempt(self.config.max_tries),
                        wait=self._wait,
                        reraise=True,
                    )
                    result, dom = retrying(attempt)
                    res.ok, res.result = True, dict(result)
                    if dom is not None:
                        res.checks.append(dom)
                    if verify:
                        res.verification = self._verify_one(driver, task, res.result, text_value)
                except VaultError as exc:
                    res.error_code, res.error_message = "decryption_failed", str(exc)
                except DriverError as exc:
                    res.error_code, res.error_message = exc.code, exc.message
                    res.notice = getattr(exc, "notice", None)
                    if exc.details.get("selector"):
                        res.result["selector"] = exc.details["selector"]
                except Exception as exc:  # a bug or an unexpected browser failure: recorded, not raised
                    res.error_code, res.error_message = (
                        "driver_error",
                        f"{type(exc).__name__}: {withhold_text(str(exc), text_value)[:300]}",
                    )
                res.error_message = withhold_text(res.error_message, text_value)
                res.status_codes = codes
                res.tries = len(codes) + (1 if res.ok or res.error_code not in TRANSIENT_CODES else 0)
                res.duration_ms = int((time.perf_counter() - t0) * 1000)
                if not res.ok and task.action_type != "dm_send" and res.error_code not in POLICY_CODES:
                    res.screenshot_path = self._screenshot(driver, task)
                if not res.ok:
                    if res.error_code in RELOGIN_CODES:
                        stop_reason = "needs_relogin"
                    elif (
                        res.error_code == "action_blocked" or classify_failure(status_codes=codes) is not None
                    ):
                        stop_reason = "account_frozen"
                elif res.verification is not None and self._not_persisted(res):
                    stop_reason = "account_frozen"
                out.append(res)
        finally:
            driver.close()
        return out

    def check_author(self, driver, task: ActionTask) -> None:
        """Read the target's author from the page, remember it in the store, and ask the policy
        again (blocklist, opt-outs, allowlist) before acting; raises ``TargetRefused``."""
        read = getattr(driver, "read_author", None)
        if read is None:
            raise TargetRefused(
                f"the author of {task.target_id} is unknown and the {task.driver} driver cannot read it; "
                "the account's user entries or allowlist cannot be checked, so postpulse does not act",
                code="author_unknown",
            )
        author = (read(task) or "").strip().lstrip("@")
        if not author:
            raise TargetRefused(
                f"could not read the author of {task.target_id} from the platform (deleted or not visible?)",
                code="author_unknown",
            )
        task.check_author = False  # once per task, also across transient retries
        now = self.now()
        with self.engine.begin() as conn:
            if task.target_type == "post" and task.db_post_id:
                conn.execute(
                    text("UPDATE posts SET author_username = :u WHERE id = :p AND author_username IS NULL"),
                    {"u": author, "p": task.db_post_id},
                )
            elif task.target_type == "comment" and task.db_post_id:
                conn.execute(
                    text(
                        "UPDATE comments SET author_username = :u WHERE post_id = :p "
                        "AND platform_comment_id = :c AND author_username IS NULL"
                    ),
                    {"u": author, "p": task.db_post_id, "c": task.target_id},
                )
            r = dict(conn.execute(_ONE_ROW, {"id": task.action_id}).mappings().one())
            settings = AccountSettings.parse(r["settings"] or {})
            request, account = policy_inputs(r, None, settings)
            request = replace(
                request,
                target_authors=tuple(dict.fromkeys((*request.target_authors, author))),
                author_pending=False,
            )
            blocklist = self.blocklists.get(conn, task.account_id)
            engine = PolicyEngine(
                blocklist, usage=PreloadedUsage(conn, [], now), idempotency=DbIdempotency(conn)
            )
            d = engine.check_target(request, account, now)
        if d is not None:
            raise TargetRefused(d.message, code=str(d.reason_code), author=author)

    @staticmethod
    def _not_persisted(res: ExecResult) -> bool:
        v = res.verification
        return v is not None and not v.verified and v.confidence >= 0.9 and not v.details.get("inconclusive")

    def _verify_one(self, driver, task: ActionTask, result: dict, text_value: str | None) -> Verification:
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        t0 = time.perf_counter()
        try:
            r = Retrying(
                retry=retry_if_exception_type(TransientError),
                stop=stop_after_attempt(self.config.max_tries),
                wait=self._wait,
                reraise=True,
            )
            return r(lambda: driver.verify(task, result, text_value))
        except DriverError as exc:
            return Verification(
                "reload_verify",
                False,
                0.0,
                {"inconclusive": True, "error_code": exc.code, "message": exc.message[:200]},
                int((time.perf_counter() - t0) * 1000),
            )

    def verify(self, results: list[ExecResult]) -> list[ExecResult]:
        """Verify executed actions in fresh browser contexts (the Dagster ``verify_actions`` op)."""
        by_account: dict[str, list[ExecResult]] = defaultdict(list)
        for r in results:
            if r.ok and r.verification is None:
                by_account[r.task.account_id].append(r)
        for account_id, rs in by_account.items():
            try:
                state = self._session(account_id)
                driver = self.driver_factory(rs[0].task, state)
            except Exception as exc:
                for r in rs:
                    r.verification = Verification(
                        "reload_verify", False, 0.0, {"inconclusive": True, "message": str(exc)[:200]}
                    )
                continue
            try:
                for r in rs:
                    r.verification = self._verify_one(driver, r.task, r.result, self.task_text(r.task))
            finally:
                driver.close()
        return results

    def _screenshot(self, driver, task: ActionTask) -> str | None:
        try:
            d = self.config.screenshots()
            d.mkdir(parents=True, exist_ok=True)
            path = d / f"{task.attempt_id}.png"
            return str(path) if driver.screenshot(str(path)) else None
        except Exception:
            return None

    # ------------------------------------------------------------------------------- record
    def record(self, results: list[ExecResult]) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        from .comments import lock_posts

        with self.engine.begin() as conn:  # one transaction per batch (results are independent rows)
            lock_posts(conn, results)  # posts rows in id order first: no deadlock between two recorders
            # account order, like the claim: two executors recording at once never deadlock on accounts rows
            for res in sorted(results, key=lambda r: (r.task.account_id, r.skipped, r.task.action_id)):
                counts[self._record_one(conn, res, self.now())] += 1
            used = sorted({r.task.account_id for r in results if r.ok})
            if used:
                conn.execute(
                    text("UPDATE accounts SET last_used_at = :now WHERE id = ANY(:a)"),
                    {"now": self.now(), "a": used},
                )
        return dict(counts)

    def _insert_verification(self, conn: Connection, attempt_id: str, v: Verification, now: datetime) -> str:
        return audit.insert_fresh(
            conn,
            "verification_results",
            _INSERT_VERIFICATION,
            {
                "att": attempt_id,
                "v": bool(v.verified),
                "c": float(max(0.0, min(1.0, v.confidence))),
                "m": v.method,
                "d": json.dumps(v.details, default=str),
                "now": now,
                "ms": max(0, int(v.duration_ms)),
            },
        )

    def _insert_verifications(
        self, conn: Connection, attempt_id: str, vs: list[Verification], now: datetime
    ) -> str | None:
        """All verification rows of an attempt in one statement (fresh ids; a rare id collision is
        retried row by row). Returns the id of the last one (the attempt's verification_id)."""
        if not vs:
            return None
        if len(vs) == 1:
            return self._insert_verification(conn, attempt_id, vs[0], now)
        from postpulse.ids import PREFIXES, new_id

        ids = [new_id(PREFIXES["verification_results"]) for _ in vs]
        params: dict[str, Any] = {"att": attempt_id, "now": now}
        rows = []
        for i, (vid, v) in enumerate(zip(ids, vs, strict=True)):
            rows.append(f"(:id{i}, :att, :v{i}, :c{i}, :m{i}, CAST(:d{i} AS jsonb), :now, :ms{i})")
            params.update(
                {
                    f"id{i}": vid,
                    f"v{i}": bool(v.verified),
                    f"c{i}": float(max(0.0, min(1.0, v.confidence))),
                    f"m{i}": v.method,
                    f"d{i}": json.dumps(v.details, default=str),
                    f"ms{i}": max(0, int(v.duration_ms)),
                }
            )
        done = set(
            conn.execute(
                text(
                    "INSERT INTO verification_results (id, action_attempt_id, verified, confidence, method, "
                    "details, verified_at, duration_ms) VALUES "
                    + ", ".join(rows)
                    + " ON CONFLICT (id) DO NOTHING RETURNING id"
                ),
                params,
            ).scalars()
        )
        for i, (vid, v) in enumerate(zip(ids, vs, strict=True)):
            if vid not in done:  # id collision with an existing row: insert this one under another id
                ids[i] = self._insert_verification(conn, attempt_id, v, now)
        return ids[-1]

    def _record_one(self, conn: Connection, res: ExecResult, now: datetime) -> str:
        t = res.task
        base = dict(
            run_id=self.run_id,
            platform=t.platform,
            account_id=t.account_id,
            action_id=t.action_id,
            target_type=t.target_type,
            target_id=t.target_id,
            at=now,
        )
        # dom_state_check(s) right after acting, then reload_verify: one statement
        ver_id = self._insert_verifications(
            conn,
            t.attempt_id,
            list(res.checks) + ([res.verification] if res.verification is not None else []),
            now,
        )
        if res.ok and self._not_persisted(res):
            sig = classify_failure(action_type=t.action_type, verified_after_reload=False)
            return self._fail(
                conn,
                res,
                now,
                "not_persisted",
                sig.reason if sig else "not visible after reload",
                ver_id,
                signal=sig,
            )
        if res.ok:
            return self._succeed(conn, res, now, ver_id, base)
        code = res.error_code or "driver_error"
        signal = None
        if code == "action_blocked":
            signal = classify_failure(page_text=res.notice or "action blocked")
        elif code == "rate_limited":
            signal = classify_failure(status_codes=res.status_codes, retry_after_seconds=res.retry_after)
        return self._fail(conn, res, now, code, res.error_message or code, ver_id, signal=signal)

    def _succeed(
        self, conn: Connection, res: ExecResult, now: datetime, ver_id: str | None, base: dict
    ) -> str:
        t = res.task
        opposite = {
            "unlike": ["like"],
            "like": ["unlike"],
            "unfollow": ["follow"],
            "follow": ["unfollow"],
        }.get(t.action_type)
        verified = (
            res.verification.verified
            if res.verification
            else (res.checks[-1].verified if res.checks else False)
        )
        note = (
            "done"
            + ("" if verified else " (verification inconclusive)")
            + (" (was already in place)" if res.result.get("already") else "")
        )
        p = {
            "now": now,
            "ms": res.duration_ms,
            "r": json.dumps(res.result, default=str),
            "v": ver_id,
            "id": t.attempt_id,
            "a": t.account_id,
            "p": t.platform,
            "t": t.target_id,
            "types": opposite or [],
            "act": t.action_id,
            "note": f"{now:%Y-%m-%d %H:%M} UTC {note}",
        }
        # one round trip on the usual path: supersede the opposite action, mark the attempt a success
        # (the unique indexes allow one live success per target) and complete the queued action
        sp = conn.begin_nested()
        try:
            conn.execute(_SUCCEED, p)
            sp.commit()
        except IntegrityError:  # another attempt already succeeded on this target: ours is a no-op
            sp.rollback()
            if opposite:
                conn.execute(_SUPERSEDE, p)
            conn.execute(
                text(
                    "UPDATE action_attempts SET status = 'skipped', error_code = 'already_done', "
                    "completed_at = :now, "
                    "duration_ms = :ms, result = CAST(:r AS jsonb), verification_id = :v WHERE id = :id"
                ),
                p,
            )
            conn.execute(_COMPLETE_ACTION, p)
        self._side_effects(conn, res, now)
        audit.record(
            conn,
            step_id="record",
            event_type="action_complete",
            outcome="success",
            duration_ms=res.duration_ms,
            details={
                "attempt_id": t.attempt_id,
                "action_type": t.action_type,
                "verified": verified,
                "verification": _ver_summary(res),
                "verification_id": ver_id,
                "tries": res.tries,
                **{k: v for k, v in res.result.items() if k != "url"},
            },
            **base,
        )
        return "completed"

    def _side_effects(self, conn: Connection, res: ExecResult, now: datetime) -> None:
        t = res.task
        if t.action_type in ("comment", "reply") and res.result.get("platform_comment_id"):
            from .comments import record_our_comment

            record_our_comment(conn, t, str(res.result["platform_comment_id"]), t.text, now)
        elif t.action_type == "delete_comment":
            from .comments import forget_our_comment

            forget_our_comment(conn, t)
        if t.action_type in ("like", "unlike", "comment"):
            conn.execute(
                text(
                    "UPDATE posts SET engagement_status = CASE "
                    " WHEN :a = 'like' THEN CASE WHEN engagement_status IN ('commented', "
                    "'liked_and_commented') THEN 'liked_and_commented' ELSE 'liked' END "
                    " WHEN :a = 'comment' THEN CASE WHEN engagement_status IN ('liked', "
                    "'liked_and_commented') THEN 'liked_and_commented' ELSE 'commented' END "
                    " ELSE CASE WHEN engagement_status IN ('commented', 'liked_and_commented') "
                    "THEN 'commented' ELSE 'not_engaged' END END "
                    "WHERE id = :pid OR (platform = :pf AND platform_post_id = :tid)"
                ),
                {"a": t.action_type, "pid": t.db_post_id, "pf": t.platform, "tid": t.target_id},
            )
        if t.action_type == "publish" and t.target_type == "publication" and t.target_id.startswith("pub-"):
            conn.execute(
                text(
                    "UPDATE publications SET status = 'published', published_at = :now, "
                    "platform_post_id = :pp, platform_post_url = :url WHERE id = :id"
                ),
                {
                    "now": now,
                    "pp": res.result.get("platform_post_id"),
                    "url": res.result.get("url"),
                    "id": t.target_id,
                },
            )
        if t.action_type == "dm_send" and self.vault is not None and res.result.get("platform_thread_id"):
            from .dm_sync import store_outbound_dm

            store_outbound_dm(conn, self.vault, t, res.result, self.task_text(t), now)

    def _fail(
        self,
        conn: Connection,
        res: ExecResult,
        now: datetime,
        code: str,
        message: str,
        ver_id: str | None,
        *,
        signal=None,
    ) -> str:
        t = res.task
        base = dict(
            run_id=self.run_id,
            platform=t.platform,
            account_id=t.account_id,
            action_id=t.action_id,
            target_type=t.target_type,
            target_id=t.target_id,
            at=now,
        )
        attempt_status = "skipped" if res.skipped or code in POLICY_CODES else "failed"
        conn.execute(
            text(
                "UPDATE action_attempts SET status = :s, error_code = :c, error = CAST(:e AS jsonb), "
                "screenshot_path = :shot, completed_at = :now, duration_ms = :ms, verification_id = :v, "
                "result = CAST(:r AS jsonb) WHERE id = :id"
            ),
            {
                "s": attempt_status,
                "c": code,
                "e": json.dumps({"code": code, "message": message[:500], "status_codes": res.status_codes}),
                "shot": res.screenshot_path,
                "now": now,
                "ms": res.duration_ms,
                "v": ver_id,
                "r": json.dumps(res.result, default=str),
                "id": t.attempt_id,
            },
        )
        settings_raw = (
            conn.execute(
                text("SELECT settings, frozen_until FROM accounts WHERE id = :a"), {"a": t.account_id}
            )
            .mappings()
            .one()
        )
        retry_at: datetime | None = None
        final = False
        attempts_delta = 0
        if res.skipped:
            attempts_delta = -1  # not the action's fault: does not use up its attempts
            retry_at = (
                settings_raw["frozen_until"]
                if code == "account_frozen" and settings_raw["frozen_until"]
                else now + timedelta(minutes=self.config.recheck_minutes)
            )
        elif signal is not None:
            try:
                settings = AccountSettings.parse(settings_raw["settings"] or {})
            except SettingsError:
                settings = AccountSettings()
            until = freeze_until(now, settings, signal)
            conn.execute(
                text(
                    "UPDATE accounts SET frozen_until = greatest(coalesce(frozen_until, :u), :u), "
                    "frozen_reason = :r, "
                    "health = 'degraded', last_error_message = :r, last_error_at = :now WHERE id = :a"
                ),
                {"u": until, "r": signal.reason[:300], "now": now, "a": t.account_id},
            )
            audit.record(
                conn,
                step_id="record",
                event_type="block_signal",
                outcome="failure",
                details={
                    "signal": str(signal.kind),
                    "reason_code": code,
                    "frozen_until": until,
                    "message": freeze_message(signal, until),
                    "attempt_id": t.attempt_id,
                    "status_codes": res.status_codes,
                },
                **base,
            )
            retry_at = until
            attempts_delta = -1
        elif code == "decryption_failed":  # the key is missing or wrong: fix the key, the action waits
            retry_at = now + timedelta(minutes=self.config.recheck_minutes)
            attempts_delta = -1
        elif code in RELOGIN_CODES:
            from .sessions import mark_needs_relogin

            mark_needs_relogin(
                conn,
                t.account_id,
                run_id=self.run_id,
                reason=message[:300],
                platform=t.platform,
                action_id=t.action_id,
            )
            retry_at = now + timedelta(minutes=self.config.recheck_minutes)
            attempts_delta = -1
        elif code in POLICY_CODES:
            conn.execute(
                text(
                    "UPDATE action_queue SET status = 'rejected', completed_at = :now, "
                    "last_reason_code = :c, last_error = :m, "
                    "system_notes = left(concat_ws(E'\\n', CAST(:note AS text), system_notes), 4000) "
                    "WHERE id = :id"
                ),
                {
                    "now": now,
                    "c": code,
                    "m": message[:1000],
                    "id": t.action_id,
                    "note": f"{now:%Y-%m-%d %H:%M} UTC rejected before acting: {code}",
                },
            )
            audit.record(
                conn,
                step_id="policy",
                event_type="policy_block",
                outcome="failure",
                details={
                    "reason_code": code,
                    "outcome": "reject",
                    "message": message[:300],
                    "when": "execute",
                },
                **base,
            )
            return "rejected"
        elif code in TRANSIENT_CODES or code in ("driver_error", "login_failed"):
            if t.attempts >= t.max_attempts:
                final = True
            else:
                wait = timedelta(minutes=self.config.transient_defer_minutes * t.attempts)
                if res.retry_after:
                    wait = max(wait, timedelta(seconds=res.retry_after))
                retry_at = now + wait
        else:
            final = True
        if not res.skipped:
            audit.record(
                conn,
                step_id="execute",
                event_type="error",
                outcome="failure",
                details={
                    "attempt_id": t.attempt_id,
                    "error_code": code,
                    "message": message[:300],
                    "tries": res.tries,
                    "status_codes": res.status_codes,
                    "screenshot": bool(res.screenshot_path),
                    "selector": res.result.get("selector"),
                    "verification": _ver_summary(res),
                },
                **base,
            )
        if final:
            conn.execute(
                text(
                    "UPDATE action_queue SET status = 'failed', completed_at = :now, last_reason_code = :c, "
                    "last_error = :m, system_notes = left(concat_ws(E'\\n', CAST(:note AS text), "
                    "system_notes), 4000) WHERE id = :id"
                ),
                {
                    "now": now,
                    "c": code,
                    "m": message[:1000],
                    "id": t.action_id,
                    "note": f"{now:%Y-%m-%d %H:%M} UTC failed: {code}",
                },
            )
            return "failed"
        conn.execute(
            text(
                "UPDATE action_queue SET status = 'approved', claimed_by = NULL, scheduled_for = :w, "
                "last_reason_code = :c, last_error = :m, attempts = greatest(attempts + :d, 0), "
                "system_notes = left(concat_ws(E'\\n', CAST(:note AS text), system_notes), 4000) "
                "WHERE id = :id"
            ),
            {
                "w": retry_at,
                "c": code,
                "m": message[:1000],
                "d": attempts_delta,
                "id": t.action_id,
                "note": f"{now:%Y-%m-%d %H:%M} UTC deferred to {retry_at:%Y-%m-%d %H:%M} UTC: {code}",
            },
        )
        return "deferred"

    # ------------------------------------------------------------------------------- one batch
    def run_batch(self, limit: int | None = None) -> dict[str, Any]:
        claim = self.claim(limit)
        results = self.execute(claim.tasks, verify=True) if claim.tasks else []
        counts = self.record(results) if results else {}
        return {
            "claimed": len(claim.tasks),
            "denied": len(claim.decisions),
            "paused": claim.paused,
            "released_stale": claim.released_stale,
            **counts,
            "decisions": claim.decisions,
        }

    def run_until_idle(self, *, max_batches: int = 1000) -> dict[str, int]:
        total: dict[str, int] = defaultdict(int)
        for _ in range(max_batches):
            rep = self.run_batch()
            for k, v in rep.items():
                if isinstance(v, int) and not isinstance(v, bool):
                    total[k] += v
            if rep["claimed"] == 0 and rep["denied"] == 0:
                break
        return dict(total)


def _ver_summary(res: ExecResult) -> dict | None:
    v = res.verification
    if v is None:
        return None
    return {
        "method": v.method,
        "verified": v.verified,
        "confidence": v.confidence,
        **{k: x for k, x in v.details.items() if k != "message"},
    }


def result_summary(res: ExecResult) -> dict[str, Any]:
    """A JSON-friendly summary of a result (no text): for Dagster metadata."""
    d = {
        "action_id": res.task.action_id,
        "action_type": res.task.action_type,
        "ok": res.ok,
        "error_code": res.error_code,
        "verified": res.verification.verified if res.verification else None,
    }
    return d


__all__ = ["Executor", "ExecutorConfig", "ClaimReport", "result_summary"]
