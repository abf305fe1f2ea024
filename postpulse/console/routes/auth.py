"""Logging in and out, choosing a new password, and the start page."""

from __future__ import annotations

import time

from starlette.routing import Route

from postpulse.console import users
from postpulse.console.web import client_address, current_user, endpoint, redirect, render

#: seconds a failed login costs on top of the password check (slows guessing further)
FAILED_LOGIN_DELAY = 0.5


def home_for(user: users.User) -> str:
    if user.may("view_queue"):
        return "/approvals"
    return "/reports"


@endpoint()
def login_page(request, form):
    if getattr(request.state, "user", None) is not None:
        return redirect(home_for(current_user(request)))
    return render(request, "login.html", title="Log in")


@endpoint()
def login(request, form):
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))[:1024]
    address = client_address(request)
    engine = request.app.state.engine
    with engine.begin() as conn:
        refused = users.login_refused(conn, username, address)
        user = None if refused else users.authenticate(conn, username, password, address)
    if refused:
        return render(
            request,
            "login.html",
            status_code=429,
            title="Log in",
            error="Too many failed logins: wait 15 minutes, or ask an admin to reset your password.",
        )
    if user is None:
        time.sleep(FAILED_LOGIN_DELAY)
        return render(
            request, "login.html", status_code=401, title="Log in", error="Wrong user name or password."
        )
    request.session.clear()
    request.session["uid"] = user.id
    request.session["epoch"] = user.session_epoch
    return redirect("/password" if user.must_change_password else home_for(user))


@endpoint()
def logout(request, form):
    request.session.clear()
    return redirect("/login")


@endpoint()
def home(request, form):
    return redirect(home_for(current_user(request)))


@endpoint()
def password_page(request, form):
    return render(request, "password.html", title="Choose a password")


@endpoint()
def change_password(request, form):
    user = current_user(request)
    new, again = str(form.get("password", "")), str(form.get("password2", ""))
    if new != again:
        return render(
            request,
            "password.html",
            status_code=400,
            title="Choose a password",
            error="The two passwords differ.",
        )
    try:
        with request.app.state.engine.begin() as conn:
            epoch = users.change_own_password(conn, user.id, new)
    except users.UserError as exc:
        return render(request, "password.html", status_code=400, title="Choose a password", error=str(exc))
    request.session["epoch"] = epoch
    return redirect(home_for(user))


routes = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/password", password_page, methods=["GET"]),
    Route("/password", change_password, methods=["POST"]),
]
