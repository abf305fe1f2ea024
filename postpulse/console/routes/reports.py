"""Client reports: the workspace's HTML report (postpulse.analytics.html_report, plots inlined)
as a page, and as a download. A workspace outside the user's roles is "not found"."""

from __future__ import annotations

import re
import threading
import time

from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from postpulse.analytics.errors import AnalyticsError
from postpulse.console import queries
from postpulse.console.web import NotFound, current_user, endpoint, render

#: a rendered report is reused this long (it reads aggregates, never private text)
CACHE_SECONDS = 300
#: the report document may show its inline styles and data: images, nothing else
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"

_cache: dict[tuple[str, str], tuple[float, str]] = {}
_lock = threading.Lock()


def _workspace(request) -> dict:
    user = current_user(request)
    with request.app.state.engine.connect() as conn:
        rows = [
            w
            for w in queries.workspaces(conn, user.workspaces_for("view_reports"))
            if w["id"] == request.path_params["workspace_id"]
        ]
    if not rows:
        raise NotFound()
    return rows[0]


def report_html(request, workspace_id: str) -> str:
    from postpulse.analytics import html_report
    from postpulse.analytics.duck import open_analytics

    engine = request.app.state.engine
    key = (str(engine.url), workspace_id)
    with _lock:
        hit = _cache.get(key)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
    with open_analytics(engine.url.render_as_string(hide_password=False)) as a:
        html = html_report.render(a, workspace_id)
    with _lock:
        _cache[key] = (time.monotonic(), html)
    return html


@endpoint("view_reports")
def reports(request, form):
    user = current_user(request)
    with request.app.state.engine.connect() as conn:
        rows = queries.workspaces(conn, user.workspaces_for("view_reports"))
    return render(request, "reports.html", title="Reports", workspaces=rows)


@endpoint("view_reports")
def report_page(request, form):
    ws = _workspace(request)
    return render(request, "report.html", title=f"Report: {ws['name']}", ws=ws)


def _report_response(request, *, download: bool) -> Response:
    ws = _workspace(request)
    try:
        html = report_html(request, ws["id"])
    except AnalyticsError as exc:
        return render(request, "error.html", status_code=503, title="No report yet", message=str(exc))
    headers = {"content-security-policy": REPORT_CSP}
    if download:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", ws["name"]) or ws["id"]
        headers["content-disposition"] = f'attachment; filename="report-{name}.html"'
    return HTMLResponse(html, headers=headers)


@endpoint("view_reports")
def report_view(request, form):
    return _report_response(request, download=False)


@endpoint("view_reports")
def report_download(request, form):
    return _report_response(request, download=True)


routes = [
    Route("/reports", reports, methods=["GET"]),
    Route("/reports/{workspace_id}", report_page, methods=["GET"]),
    Route("/reports/{workspace_id}/view", report_view, methods=["GET"]),
    Route("/reports/{workspace_id}/download", report_download, methods=["GET"]),
]
