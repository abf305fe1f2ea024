"""Accounts: health, session state, freezes and why, limits and quiet hours (admins edit them).
An account that cannot act says why and what to do."""

from __future__ import annotations

from starlette.routing import Route

from postpulse.console import queries
from postpulse.console.web import Forbidden, NotFound, current_user, endpoint, flash, redirect, render
from postpulse.engagement import repository as repo
from postpulse.policy import ACTION_TYPES


@endpoint("view_accounts")
def accounts(request, form):
    user = current_user(request)
    with request.app.state.engine.connect() as conn:
        rows = queries.accounts_in_scope(conn, user.workspaces_for("view_accounts"))
    for r in rows:
        r.update(queries.describe_account(r))
    return render(request, "accounts.html", title="Accounts", rows=rows)


@endpoint("view_accounts")
def account(request, form):
    user = current_user(request)
    with request.app.state.engine.connect() as conn:
        rows = [
            r
            for r in queries.accounts_in_scope(conn, user.workspaces_for("view_accounts"))
            if r["id"] == request.path_params["account_id"]
        ]
    if not rows:
        raise NotFound()
    a = rows[0]
    a.update(queries.describe_account(a))
    return render(
        request,
        "account.html",
        title=f"@{a['username']}",
        a=a,
        action_types=ACTION_TYPES,
        may_edit=user.may("edit_accounts", a["workspace_id"]),
    )


def _int(form, key: str) -> int | None:
    raw = str(form.get(key, "")).strip()
    return int(raw) if raw.isdigit() else None


@endpoint("view_accounts")
def edit_account(request, form):
    user = current_user(request)
    account_id = request.path_params["account_id"]
    with request.app.state.engine.begin() as conn:
        acc = queries.account_in_scope(conn, account_id, user.workspaces_for("view_accounts"))
        if acc is None:
            raise NotFound()
        if not user.may("edit_accounts", acc["workspace_id"]):
            raise Forbidden("edit_accounts", {"account_id": account_id})
        what = str(form.get("what", ""))
        if what == "lift_freeze":
            repo.set_account_flags(conn, account_id, frozen_until=None, frozen_reason=None)
            flash(request, "Freeze lifted.")
        elif what in ("pause", "resume"):
            repo.set_account_flags(conn, account_id, is_active=what == "resume")
            flash(request, f"Account {'resumed' if what == 'resume' else 'paused'}.")
        elif what == "settings":
            limits = {}
            for t in ACTION_TYPES:
                hour, day = _int(form, f"{t}_per_hour"), _int(form, f"{t}_per_day")
                if hour is not None and day is not None:
                    limits[t] = {"per_hour": hour, "per_day": day}
            quiet = None
            if form.get("quiet_enabled"):
                quiet = {
                    "enabled": True,
                    "start_hour": _int(form, "quiet_start") or 0,
                    "end_hour": _int(form, "quiet_end") or 0,
                }
            try:
                with conn.begin_nested():
                    repo.update_settings(conn, account_id, {"rate_limits": limits, "quiet_hours": quiet})
            except repo.InvalidAction as exc:
                flash(request, f"Not saved: {exc}")
                return redirect(f"/accounts/{account_id}")
            flash(request, "Limits and quiet hours saved.")
    return redirect(f"/accounts/{account_id}")


routes = [
    Route("/accounts", accounts, methods=["GET"]),
    Route("/accounts/{account_id}", account, methods=["GET"]),
    Route("/accounts/{account_id}", edit_account, methods=["POST"]),
]
