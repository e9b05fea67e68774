"""The moderators' web dashboard: a Starlette app served by uvicorn inside the bot's own event loop.

Why in the bot's loop: an approval must post through the live adapter at
once, and the queue, the flags and the live-update feed are objects of the
running bot. The price is that nothing here may block the loop, so every
database read and the password hash run in worker threads
(``asyncio.to_thread``), one hand-off per request.

Pages are rendered on the server (Jinja2, autoescape on: every string a
viewer or the knowledge base wrote is escaped) and work without JavaScript;
``static/dashboard.js`` only adds live updates of the queue from ``/events``
(server-sent events, JSON, inserted with ``textContent``). The
Content-Security-Policy allows scripts from this origin only, so an escaped
string that slipped through could still not run.

`create_app` builds the app from `DashboardDeps`; `DashboardServer` runs it
on uvicorn in the current loop (``start``/``stop``, port 0 for a free port).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.net import is_loopback_host
from bots.dashboard.auth import Authenticator, DashboardSettings, Session, same_origin
from brain.insights import interaction_log as interactions
from brain.insights.interaction_log import Cursor, LogFilter
from brain.store import retention
from brain.text.plural import counted

if TYPE_CHECKING:  # pragma: no cover
    from bots.features.moderation import LiveModeration
    from bots.runtime.metrics import Metrics
    from brain.store.event_store import Store

__all__ = ["DashboardDeps", "create_app", "DashboardServer", "SECURITY_HEADERS"]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
#: Sent with every response, static files included.
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": ("default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
#: A form body larger than this is refused (413) while it is read: an edited answer is a few hundred bytes.
MAX_FORM_BYTES = 64 * 1024
_MAX_FORM_FIELDS = 20
#: Queue items a page (and the live feed's snapshot) shows.
QUEUE_LIMIT = 100
LOG_PAGE = 50
#: Seconds between keep-alive comments on the live feed (and re-checks of its session).
SSE_KEEPALIVE = 15.0
_LOGIN_COOKIE_S = 900
#: Changes a slow page may fall behind by; then moderation drops updates for it (it reconciles on reconnect).
_STREAM_BACKLOG = 256
#: Review ids beyond this are unknown without asking the database (SQLite integers are 64-bit).
_MAX_ID = 2 ** 62


@dataclass
class DashboardDeps:
    """What the dashboard reads and acts on: parts of the running bot."""

    store: "Store"
    moderation: "LiveModeration"
    settings: DashboardSettings
    metrics: "Metrics | None" = None
    clock: Callable[[], float] = time.time
    #: Where ``/report`` writes post-stream reports (served at /reports/<file>); None: not served.
    reports_dir: Path | None = None


# ---- formatting helpers (Jinja filters) -------------------------------------------------------

def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _left(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m {seconds % 60:02d}s"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=_when, left=_left, percent=_percent,
                       path=lambda s: quote(str(s), safe=":@"))
    return env


def _parse_time(text: str | None) -> float | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` (what date and datetime-local inputs send), read as UTC."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date or time (use 2026-11-20 or 2026-11-20T20:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _local_path(target: str | None) -> str:
    """Only a path of this site may follow a login: never ``//evil.example`` or a scheme."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _review_json(review: Any) -> dict[str, Any]:
    from bots.features.moderation import review_json  # one JSON shape for the live feed and the page's snapshot

    return review_json(review)


def _sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


#: A post-stream report is one self-contained file: its own inline CSS and data: charts, never a script.
REPORT_HEADERS = {**SECURITY_HEADERS, "content-security-policy":
                  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"}
_REPORT_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.html$")


# ---- the ASGI middleware -------------------------------------------------------------------------

class _SecurityHeaders:
    """Adds `SECURITY_HEADERS` (and ``no-store`` on everything but static files) to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")
        wanted = REPORT_HEADERS if scope.get("path", "").startswith("/reports/") else SECURITY_HEADERS

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in wanted]
                headers += [(k.encode(), v.encode()) for k, v in wanted.items()]
                if not static and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# ---- the app --------------------------------------------------------------------------------------

class _FormError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Handler = Callable[..., Awaitable[Response]]


class _Dashboard:
    """The routes, bound to one bot's parts."""

    def __init__(self, deps: DashboardDeps) -> None:
        self.deps = deps
        self.engine: sa.Engine = deps.store.engine
        self.auth = Authenticator(deps.settings, clock=deps.clock)
        self.templates = _templates()
        secure = deps.settings.secure_cookies
        # The __Host- prefix pins the cookie to this host and path "/" (browsers allow it with Secure only).
        self.cookie = "__Host-liveroom_session" if secure else "liveroom_session"
        self.login_cookie = "__Host-liveroom_login" if secure else "liveroom_login"
        self.streams: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.closing = False

    # ---- plumbing --------------------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        return self.auth.sessions.get(request.cookies.get(self.cookie))

    def render(self, request: Request, template: str, status: int = 200, *, session: Session | None = None,
               headers: Mapping[str, str] | None = None, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            session=session, flashes=session.take_flashes() if session is not None else [],
            now=self.deps.clock(), path=request.url.path, **context)
        return HTMLResponse(html, status_code=status, headers=headers)

    def to_login(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    def page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A GET page for logged-in moderators; others go to the login."""
        async def endpoint(request: Request) -> Response:
            session = self.session(request)
            if session is None:
                return self.to_login(request)
            return await handler(request, session)
        return endpoint

    def action(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A POST for logged-in moderators: same origin, a bounded form, and the session's CSRF token."""
        async def endpoint(request: Request) -> Response:
            session = self.session(request)
            if session is None:
                return self.to_login(request)
            form = await self.posted_form(request)
            if isinstance(form, Response):
                return form
            if not self.auth.check_csrf(session, form.get("csrf")):
                return PlainTextResponse("missing or wrong CSRF token: reload the page and try again",
                                         status_code=403)
            return await handler(request, session, form)
        return endpoint

    async def posted_form(self, request: Request) -> dict[str, str] | Response:
        """The POSTed form when it comes from this site and fits the size cap; else the refusal to send."""
        if not self.from_here(request):
            return PlainTextResponse("cross-origin request refused", status_code=403)
        try:
            return await _read_form(request)
        except _FormError as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)

    @staticmethod
    def from_here(request: Request) -> bool:
        return same_origin(request.headers.get("host"), request.headers.get("origin"),
                           request.headers.get("referer"))

    def set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=self.deps.settings.secure_cookies,
                            httponly=True, samesite="strict")

    # ---- login --------------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        if self.session(request) is not None:
            return RedirectResponse(_local_path(request.query_params.get("next")), status_code=303)
        return self.login_form(request, 200, "")

    def login_form(self, request: Request, status: int, error: str, *, name: str = "", next_: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
        # One token per browser while it logs in: a second GET (another tab, the favicon's 404) must not
        # invalidate the form already on screen.
        token = request.cookies.get(self.login_cookie) or ""
        if not (32 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()):
            token = secrets.token_urlsafe(32)
        response = self.render(request, "login.html", status, error=error, name=name, login_token=token,
                               next=_local_path(next_ or request.query_params.get("next")), headers=headers)
        self.set_cookie(response, self.login_cookie, token, _LOGIN_COOKIE_S)
        return response

    async def login_submit(self, request: Request) -> Response:
        client = request.client.host if request.client is not None else "unknown"
        wait = self.auth.limiter.retry_after(client)
        if wait > 0:
            retry = int(wait) + 1
            return self.login_form(request, 429, f"Too many failed logins. Try again in {counted(retry, 'second')}.",
                                   headers={"Retry-After": str(retry)})
        form = await self.posted_form(request)
        if isinstance(form, Response):
            return form
        if not self.auth.tokens_match(request.cookies.get(self.login_cookie), form.get("csrf")):
            return self.login_form(request, 403, "The login form expired. Please try again.",
                                   next_=form.get("next"))
        name = " ".join("".join(c for c in form.get("name", "") if c.isprintable()).split())[:64]
        password = form.get("password", "")
        ok = bool(password) and await asyncio.to_thread(self.auth.check_password, password)
        if not ok or not name:
            if not ok:
                self.auth.limiter.failed(client)
                log.warning("dashboard: failed login from %s", client)
            message = "Login failed: check the password and try again." if not ok else "Please enter your name."
            return self.login_form(request, 401, message, name=name, next_=form.get("next"))
        self.auth.limiter.succeeded(client)
        token, session = self.auth.sessions.create(name)
        log.info("dashboard: %s logged in from %s", name, client)
        target = _local_path(form.get("next"))
        response = RedirectResponse(target, status_code=303)
        self.set_cookie(response, self.cookie, token, int(self.auth.sessions.lifetime_s))
        response.delete_cookie(self.login_cookie, path="/", secure=self.deps.settings.secure_cookies,
                               httponly=True, samesite="strict")
        return response

    async def logout(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        self.auth.sessions.delete(request.cookies.get(self.cookie))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(self.cookie, path="/", secure=self.deps.settings.secure_cookies, httponly=True,
                               samesite="strict")
        return response

    # ---- the queue ---------------------------------------------------------------------------

    async def queue_page(self, request: Request, session: Session) -> Response:
        queue = self.deps.moderation.queue
        pending, recent = await asyncio.to_thread(
            lambda: (queue.pending(limit=QUEUE_LIMIT), queue.recent(limit=20)))
        return self.render(request, "queue.html", session=session, pending=pending, recent=recent,
                           mode=self.deps.moderation.settings.mode)

    async def decide(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        moderation = self.deps.moderation
        review_id = int(request.path_params["review_id"])
        action = request.path_params["action"]
        if review_id > _MAX_ID:
            session.flash(f"no review #{review_id}", "error")
            return RedirectResponse("/", status_code=303)
        who = {"actor_key": session.actor_key, "actor_name": session.name}
        if action == "approve":
            outcome = await moderation.approve(review_id, **who)
        elif action == "edit":
            outcome = await moderation.edit(review_id, form.get("text", ""), **who)
        elif action == "reject":
            outcome = await moderation.reject(review_id, form.get("reason", "").strip() or None, **who)
        else:
            return PlainTextResponse("unknown action", status_code=404)
        session.flash(outcome.message, "ok" if outcome.ok else "error")
        return RedirectResponse("/", status_code=303)

    async def events(self, request: Request) -> Response:
        """Server-sent events: a snapshot of the queue, then every change (added, decided, expired)."""
        token = request.cookies.get(self.cookie)
        if self.auth.sessions.get(token) is None:
            return PlainTextResponse("log in first", status_code=401)
        moderation = self.deps.moderation
        changes = moderation.subscribe()
        outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=_STREAM_BACKLOG)
        self.streams.add(outbox)

        async def forward() -> None:  # moderation's queue → this stream's, which `close_streams` can end
            while True:
                await outbox.put(await changes.get())

        async def stream() -> AsyncIterator[str]:
            pump = asyncio.create_task(forward())
            try:
                snapshot = await asyncio.to_thread(moderation.queue.pending, limit=QUEUE_LIMIT)
                yield "retry: 3000\n" + _sse("snapshot", {"reviews": [_review_json(r) for r in snapshot]})
                while not self.closing:
                    try:
                        message = await asyncio.wait_for(outbox.get(), SSE_KEEPALIVE)
                    except TimeoutError:
                        if self.auth.sessions.get(token) is None:
                            return  # logged out or expired: the page reconnects, gets a 401 and stops
                        yield ": keep-alive\n\n"
                        continue
                    if message is None:
                        return
                    yield _sse(str(message.get("type", "change")), message)
            finally:
                pump.cancel()
                moderation.unsubscribe(changes)
                self.streams.discard(outbox)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def close_streams(self) -> None:
        """End every live feed (the server is stopping: uvicorn waits for open responses)."""
        self.closing = True
        for outbox in list(self.streams):
            if outbox.full():  # a stalled page: its backlog no longer matters
                outbox.get_nowait()
            outbox.put_nowait(None)

    # ---- the interaction log ---------------------------------------------------------------------

    async def log_page(self, request: Request, session: Session) -> Response:
        params = request.query_params
        values = {k: (params.get(k) or "").strip() for k in ("room", "viewer", "status", "since", "until",
                                                            "text", "model")}
        error = ""
        rows: list[Any] = []
        next_cursor: Cursor | None = None
        try:
            flt = LogFilter(room=values["room"] or None, viewer=values["viewer"] or None,
                            status=values["status"] or None, since=_parse_time(values["since"]),
                            until=_parse_time(values["until"]), text=values["text"] or None,
                            model=values["model"] or None)
            before = Cursor.parse(params["before"]) if params.get("before") else None
            page = await asyncio.to_thread(interactions.search, self.engine, flt, limit=LOG_PAGE, before=before)
            rows, next_cursor = page.rows, page.next
        except ValueError as exc:
            error = str(exc)
        older = None
        if next_cursor is not None:
            older = "/log?" + urlencode({**{k: v for k, v in values.items() if v}, "before": str(next_cursor)})
        return self.render(request, "log.html", session=session, rows=rows, filters=values, error=error,
                           older=older, statuses=interactions.QUESTION_STATUSES + interactions.REVIEW_STATUSES,
                           first_page=not params.get("before"))

    # ---- viewers ------------------------------------------------------------------------------

    async def viewer_page(self, request: Request, session: Session) -> Response:
        user_key = request.path_params["user_key"]
        history = await asyncio.to_thread(interactions.viewer_history, self.engine, user_key, 50)
        name = next((q.user_name for q in history.questions), None) or \
            (history.flag or {}).get("user_name") or user_key
        flagged = user_key in self.deps.moderation.flags or history.flag is not None
        return self.render(request, "viewer.html", session=session, user_key=user_key, name=name,
                           history=history, flagged=flagged)

    async def viewer_flag(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        user_key = form.get("user_key", "")
        name = form.get("user_name", "") or user_key
        moderation = self.deps.moderation
        if not user_key:
            return PlainTextResponse("which viewer?", status_code=400)
        if form.get("unflag"):
            done = await moderation.unflag(user_key, actor_key=session.actor_key, actor_name=session.name)
            session.flash(f"Unflagged {name}." if done else f"{name} was not flagged.", "ok" if done else "info")
        else:
            done = await moderation.flag(user_key, name, actor_key=session.actor_key, actor_name=session.name,
                                         reason=form.get("reason", "").strip() or None)
            session.flash(f"Flagged {name}: every answer to them now waits for a moderator." if done
                          else f"{name} is already flagged.", "ok" if done else "info")
        return RedirectResponse(f"/viewers/{quote(user_key, safe=':@')}", status_code=303)

    async def viewer_export(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        user_key = form.get("user_key", "")
        if not user_key:
            return PlainTextResponse("which viewer?", status_code=400)
        data = await asyncio.to_thread(retention.export_viewer, self.engine, user_key)
        log.info("dashboard: %s exported the data of %s", session.name, user_key)
        body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        filename = "liveroom-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in user_key) + ".json"
        return Response(body, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    async def viewer_delete_page(self, request: Request, session: Session) -> Response:
        user_key = request.query_params.get("user_key", "")
        return self.render(request, "viewer_delete.html", session=session, user_key=user_key)

    async def viewer_delete(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        user_key = form.get("user_key", "")
        if form.get("confirm") != user_key or not user_key:
            session.flash("Type the viewer's key exactly to confirm the deletion.", "error")
            return RedirectResponse(f"/viewer/delete?{urlencode({'user_key': user_key})}", status_code=303)
        # Through moderation: the store, and the running bot's memory of them (flags, the audience graph).
        counts = await self.deps.moderation.forget_viewer(user_key, actor_key=session.actor_key,
                                                          actor_name=session.name)
        summary = ", ".join(counted(v, k.removesuffix("s"), k)  # rows per table: "1 event", "3 pins"
                            for k, v in counts.items() if isinstance(v, int)) or "nothing"
        session.flash(f"Deleted the data of {user_key}: {summary}.", "ok")
        return RedirectResponse(f"/viewers/{quote(user_key, safe=':@')}", status_code=303)

    # ---- unanswered and the FAQ ----------------------------------------------------------------

    async def unanswered_page(self, request: Request, session: Session) -> Response:
        room = (request.query_params.get("room") or "").strip() or None
        days = request.query_params.get("days") or "7"
        since = None if days == "all" else self.deps.clock() - 86400 * max(0.0, _float(days, 7.0))
        topics = await asyncio.to_thread(interactions.unanswered_topics, self.engine, room, since, 50)
        return self.render(request, "unanswered.html", session=session, topics=topics, room=room or "",
                           days=days)

    async def report_file(self, request: Request, session: Session) -> Response:
        """A post-stream report ``/report`` wrote (the link it posts in the room)."""
        name = request.path_params["name"]
        folder = self.deps.reports_dir
        path = folder / name if folder is not None and _REPORT_NAME.match(name) and ".." not in name else None
        if path is None or not path.is_file():
            return PlainTextResponse("no such report", status_code=404)
        return HTMLResponse(await asyncio.to_thread(path.read_text, encoding="utf-8"))

    async def faq_page(self, request: Request, session: Session) -> Response:
        entries = sorted(self.deps.moderation.curated_entries(), key=lambda e: e.id, reverse=True)
        return self.render(request, "faq.html", session=session, entries=entries)

    # ---- machine endpoints -------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        """200 when the bot records what it receives; 503 naming every problem otherwise.

        Not only "the database answers": a stopped writer or a database file
        deleted under the running bot also fail it (`Store.problems`).
        """
        problems = await asyncio.to_thread(self.deps.store.problems)
        if problems:
            log.warning("dashboard: health check failed: %s", "; ".join(problems))
            return JSONResponse({"status": "error", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics(self, request: Request) -> Response:
        if not (self.auth.check_metrics_token(request.headers.get("authorization"))
                or self.session(request) is not None):
            headers = {"WWW-Authenticate": "Bearer"} if self.deps.settings.metrics_token else None
            return PlainTextResponse("log in, or send Authorization: Bearer <metrics_token>", status_code=401,
                                     headers=headers)
        if self.deps.metrics is None:
            return PlainTextResponse("metrics are not enabled", status_code=404)
        body, content_type = await asyncio.to_thread(self.deps.metrics.render)
        return Response(body, media_type=content_type)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        session = self.session(request)
        if session is None:
            return PlainTextResponse("not found", status_code=404)
        return self.render(request, "error.html", 404, session=session, message="There is no such page.")


def _float(text: str, default: float) -> float:
    try:
        return float(text)
    except ValueError:
        return default


async def _read_form(request: Request) -> dict[str, str]:
    """The URL-encoded form, read up to `MAX_FORM_BYTES` (413 beyond, also without a Content-Length)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise _FormError(413, "form too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise _FormError(413, "form too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS,
                          strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise _FormError(400, "the form could not be read") from None
    return dict(pairs)


def create_app(deps: DashboardDeps) -> Starlette:
    """The dashboard as an ASGI app. Raises `DashboardConfigError` when no password is configured."""
    board = _Dashboard(deps)
    routes = [
        Route("/login", board.login_page, methods=["GET"]),
        Route("/login", board.login_submit, methods=["POST"]),
        Route("/logout", board.action(board.logout), methods=["POST"]),
        Route("/", board.page(board.queue_page), methods=["GET"]),
        Route("/reviews/{review_id:int}/{action}", board.action(board.decide), methods=["POST"]),
        Route("/events", board.events, methods=["GET"]),
        Route("/log", board.page(board.log_page), methods=["GET"]),
        Route("/viewers/{user_key:path}", board.page(board.viewer_page), methods=["GET"]),
        Route("/viewer/flag", board.action(board.viewer_flag), methods=["POST"]),
        Route("/viewer/export", board.action(board.viewer_export), methods=["POST"]),
        Route("/viewer/delete", board.page(board.viewer_delete_page), methods=["GET"]),
        Route("/viewer/delete", board.action(board.viewer_delete), methods=["POST"]),
        Route("/unanswered", board.page(board.unanswered_page), methods=["GET"]),
        Route("/faq", board.page(board.faq_page), methods=["GET"]),
        Route("/reports/{name}", board.page(board.report_file), methods=["GET"]),
        Route("/healthz", board.healthz, methods=["GET"]),
        Route("/metrics", board.metrics, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: board.not_found})
    app.add_middleware(_SecurityHeaders)
    app.state.dashboard = board
    return app


# ---- the server ----------------------------------------------------------------------------------

class _LoopServer(uvicorn.Server):
    """uvicorn in someone else's loop: the bot owns SIGINT/SIGTERM, so uvicorn must not take them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is an OSError for the caller, not uvicorn's exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock



@dataclass
class DashboardServer:
    """Serves the dashboard app on uvicorn in the running event loop."""

    app: Starlette
    host: str = "127.0.0.1"
    port: int = 8700
    #: Addresses of reverse proxies whose X-Forwarded-For / -Proto are believed (uvicorn's
    #: ``forwarded_allow_ips``). Empty: the socket's peer is the client, whatever headers say, so a
    #: forged header cannot reset the login limit or fake the address in the log.
    trusted_proxies: tuple[str, ...] = ()
    _server: _LoopServer | None = field(default=None, init=False, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _socket: socket.socket | None = field(default=None, init=False, repr=False)
    _url: str | None = field(default=None, init=False, repr=False)

    @classmethod
    def for_deps(cls, deps: DashboardDeps) -> "DashboardServer":
        """The app for ``deps`` on the configured host and port."""
        return cls(create_app(deps), host=deps.settings.host, port=deps.settings.port,
                   trusted_proxies=deps.settings.trusted_proxies)

    @property
    def url(self) -> str:
        """``http://host:port`` once started (the real port when 0 was asked for)."""
        if self._url is None:
            raise RuntimeError("the dashboard server is not started")
        return self._url

    async def start(self) -> None:
        """Bind and serve in the background; returns once the server accepts connections."""
        if self._task is not None:
            raise RuntimeError("the dashboard server is already started")
        if not is_loopback_host(self.host):
            log.warning("dashboard: listening on %s, not loopback; put it behind a TLS reverse proxy "
                        "(docs/dashboard.md)", self.host)
        self._socket = _bind(self.host, self.port)
        host, port = self._socket.getsockname()[:2]
        self._url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        config = uvicorn.Config(self.app, lifespan="off", log_config=None, access_log=False,
                                proxy_headers=bool(self.trusted_proxies),
                                forwarded_allow_ips=list(self.trusted_proxies) or None,
                                server_header=False, date_header=False, ws="none", timeout_graceful_shutdown=3,
                                timeout_keep_alive=5)
        self._server = _LoopServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="dashboard")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the dashboard server stopped during start-up")
            await asyncio.sleep(0.01)
        log.info("dashboard at %s", self.url)

    async def stop(self) -> None:
        """End live feeds, stop accepting, wait for requests in flight (a few seconds at most)."""
        if self._task is None or self._server is None:
            return
        board = getattr(self.app.state, "dashboard", None)
        if board is not None:
            board.close_streams()
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        except TimeoutError:
            self._server.force_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
        finally:
            self._task = None
            if self._socket is not None:
                self._socket.close()
