"""The team: console users and their roles (admins of every workspace only). A new user's
one-time password is shown once, in the response page, never in a cookie or a URL."""

from __future__ import annotations

from starlette.routing import Route

from postpulse.console import queries, users
from postpulse.console.web import Forbidden, NotFound, current_user, endpoint, flash, redirect, render


def _admin(request) -> users.User:
    user = current_user(request)
    if not user.is_global_admin:
        raise Forbidden("manage_users")
    return user


def _user_id(conn, request) -> str:
    try:
        return users.get_user_id(conn, request.path_params["user_id"])
    except users.UserError:
        raise NotFound() from None


def _page(request, status_code: int = 200, **extra):
    with request.app.state.engine.connect() as conn:
        rows = users.list_users(conn)
        spaces = queries.workspaces(conn, None)
    return render(
        request,
        "team.html",
        status_code=status_code,
        title="Team",
        rows=rows,
        workspaces=spaces,
        roles=users.ROLES,
        **extra,
    )


@endpoint("manage_users")
def team(request, form):
    _admin(request)
    return _page(request)


@endpoint("manage_users")
def add(request, form):
    _admin(request)
    username = str(form.get("username", "")).strip()
    role = str(form.get("role", ""))
    workspace = str(form.get("workspace", "")) or None
    try:
        with request.app.state.engine.begin() as conn:
            _, password = users.add_user(conn, username, role, workspace=workspace)
    except users.UserError as exc:
        return _page(request, status_code=400, error=str(exc))
    return _page(request, created={"username": username, "password": password})


@endpoint("manage_users")
def disable(request, form):
    admin = _admin(request)
    with request.app.state.engine.begin() as conn:
        uid = _user_id(conn, request)
        if uid == admin.id:
            flash(request, "You cannot disable yourself.")
            return redirect("/team")
        users.disable_user(conn, uid)
    flash(request, "User disabled; their sessions ended.")
    return redirect("/team")


@endpoint("manage_users")
def reset(request, form):
    _admin(request)
    with request.app.state.engine.begin() as conn:
        uid = _user_id(conn, request)
        password = users.reset_password(conn, uid)
        name = next(r["username"] for r in users.list_users(conn) if r["id"] == uid)
    return _page(request, created={"username": name, "password": password})


routes = [
    Route("/team", team, methods=["GET"]),
    Route("/team", add, methods=["POST"]),
    Route("/team/{user_id}/disable", disable, methods=["POST"]),
    Route("/team/{user_id}/reset", reset, methods=["POST"]),
]
