"""The moderators' dashboard, in-process: a real runtime (SQLite store, knowledge base, answering, moderation)
in a console room, and the Starlette app driven through httpx's ASGI transport.

The client talks to ``https://dash.test`` so the Secure session cookie is kept and sent, as a browser does
over TLS, and sends the Origin header a browser sends with every POST.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import ROOT, ConsoleRoom, close_runtime, make_config  # noqa: E402

from bots.app import Runtime  # noqa: E402
from bots.dashboard import DashboardDeps, DashboardServer, create_app  # noqa: E402
from bots.dashboard.auth import (  # noqa: E402
    Authenticator,
    DashboardConfigError,
    DashboardSettings,
    LoginLimiter,
    SessionStore,
    hash_password,
    same_origin,
    verify_password,
)
from bots.runtime.metrics import Metrics  # noqa: E402
from brain.store.event_store import Store  # noqa: E402
from brain.store.schema import questions  # noqa: E402

BASE = "https://dash.test"
PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD)
REFUND = "can I get a full refund for the course?"  # an answer about money: it waits in review-risky mode
SHIPPING = "is shipping free?"


# ---- the harness ---------------------------------------------------------------------------------

class Bot:
    """A runtime with a console room whose sent messages are recorded, and its dashboard app."""

    def __init__(self, runtime: Runtime, room: ConsoleRoom, app: Any) -> None:
        self.runtime = runtime
        self.room = room
        self.app = app
        self.sent: list[str] = []
        original = room.adapter.send

        async def send(reply):  # what the adapter posted, in order
            self.sent.append(reply.text)
            return await original(reply)

        room.adapter.send = send  # type: ignore[method-assign]

    @property
    def moderation(self):
        return self.runtime.moderation

    async def ask(self, text: str, user: str = "viewer1"):
        """A viewer asks; returns the review the answer waits in."""
        await self.room.as_user(user)
        before = {r.id for r in self.moderation.queue.pending()}
        await self.room.say(text, settle=True)
        new = [r for r in self.moderation.queue.pending() if r.id not in before]
        assert len(new) == 1, (text, self.room.out.getvalue()[-500:])
        return new[0]

    def client(self, *, ip: str = "127.0.0.1", origin: str | None = BASE) -> httpx.AsyncClient:
        headers = {"Origin": origin} if origin else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app, client=(ip, 40000)), base_url=BASE,
                                 headers=headers)


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    shutil.copytree(ROOT / "knowledge", folder, ignore=shutil.ignore_patterns("samples"))
    return folder


def settings(**overrides: Any) -> DashboardSettings:
    return DashboardSettings(**{"enabled": True, "password_hash": HASH, "login_attempts": 3, **overrides})


@pytest.fixture
async def make_bot(data_dir: Path, knowledge: Path, database_url: str):
    """The dashboard over a live bot, its queries on SQLite and on a real PostgreSQL."""
    built: list[Runtime] = []

    def factory(**dashboard: Any) -> Bot:
        runtime = Runtime.build(make_config(knowledge={"path": str(knowledge)}, moderation={"mode": "review-risky"},
                                            database={"url": database_url}), data_dir)
        built.append(runtime)
        assert runtime.moderation is not None
        room = ConsoleRoom(runtime)
        metrics = Metrics(router=runtime.router, answering=runtime.answering, moderation=runtime.moderation)
        app = create_app(DashboardDeps(store=runtime.store, moderation=runtime.moderation,
                                       settings=settings(**dashboard), metrics=metrics,
                                       reports_dir=data_dir / "reports"))
        return Bot(runtime, room, app)

    yield factory
    for runtime in built:
        await close_runtime(runtime)


@pytest.fixture
def bot(make_bot) -> Bot:
    return make_bot()


def hidden(html: str, name: str = "csrf") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, html[:2000]
    return found.group(1)


def page_csrf(html: str) -> str:
    found = re.search(r'data-csrf="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash [a-z]+" role="status">([^<]*)</p>', html)


async def login(client: httpx.AsyncClient, password: str = PASSWORD, name: str = "mo",
                next_: str = "/") -> httpx.Response:
    form = await client.get("/login")
    return await client.post("/login", data={"csrf": hidden(form.text), "name": name, "password": password,
                                             "next": next_})


async def logged_in(client: httpx.AsyncClient, name: str = "mo") -> str:
    """Log in; returns the session's CSRF token."""
    response = await login(client, name=name)
    assert response.status_code == 303, response.text
    return page_csrf((await client.get("/")).text)


# ---- settings, hashing, sessions -----------------------------------------------------------------

def test_password_hash_round_trip_and_format():
    encoded = hash_password("s3cret")
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1") and salt and digest
    assert verify_password("s3cret", encoded)
    assert not verify_password("s3cret ", encoded) and not verify_password("", encoded)
    assert hash_password("s3cret") != encoded  # a new salt every time
    for broken in ("", "scrypt$1$8$1$AA==$AA==", "bcrypt$x", encoded.replace("$8$", "$x$"), "scrypt$3$8$1$QUE=$QUE="):
        assert not verify_password("s3cret", broken)


def test_settings_need_a_password_when_enabled_and_never_show_it():
    with pytest.raises(ValidationError, match="LIVEROOM_DASHBOARD_PASSWORD"):
        DashboardSettings(enabled=True)
    with pytest.raises(ValidationError, match="hash-password"):
        DashboardSettings(password_hash="plain-text-by-mistake")
    s = DashboardSettings(enabled=True, password="hunter2", metrics_token="tok")
    assert "hunter2" not in repr(s) and "tok" not in repr(s)
    auth = Authenticator(s)
    assert auth.check_password("hunter2") and not auth.check_password("hunter3")
    assert "hunter2" not in repr(auth) and "scrypt" not in repr(auth)
    with pytest.raises(DashboardConfigError):
        Authenticator(DashboardSettings())


def test_sessions_expire_and_the_limiter_forgets_old_failures():
    now = [1000.0]
    store = SessionStore(60, clock=lambda: now[0])
    token, session = store.create("mo")
    assert store.get(token) is session and store.get(token + "x") is None and store.get(None) is None
    now[0] += 61
    assert store.get(token) is None and len(store) == 0

    clock = [0.0]
    limiter = LoginLimiter(2, 10, clock=lambda: clock[0])
    limiter.failed("a")
    assert limiter.retry_after("a") == 0
    limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(10) and limiter.retry_after("b") == 0
    clock[0] = 10.5
    assert limiter.retry_after("a") == 0


def test_same_origin_compares_the_host_not_the_scheme():
    assert same_origin("dash.test", "https://dash.test", None)
    assert same_origin("127.0.0.1:8700", None, "http://127.0.0.1:8700/log?x=1")
    assert not same_origin("dash.test", "https://evil.test", None)
    assert not same_origin("dash.test", "null", None)
    assert not same_origin("dash.test", None, None)
    assert not same_origin(None, "https://dash.test", None)


# ---- access control ----------------------------------------------------------------------------

async def test_every_page_needs_a_login_but_health_and_static_do_not(bot):
    async with bot.client() as client:
        for path in ("/", "/log?room=x", "/viewers/console:viewer1", "/unanswered", "/faq",
                     "/viewer/delete?user_key=console:viewer1"):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next="), path
        for path in ("/reviews/1/approve", "/reviews/1/reject", "/viewer/flag", "/viewer/export", "/viewer/delete",
                     "/logout"):
            response = await client.post(path, data={"csrf": "x"})
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
        assert (await client.get("/events")).status_code == 401
        assert (await client.get("/no-such-page")).status_code == 404
        assert (await client.get("/metrics")).status_code == 401
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        css = await client.get("/static/dashboard.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        assert (await client.get("/static/dashboard.js")).status_code == 200
        assert (await client.get("/login")).status_code == 200


async def test_wrong_passwords_get_401_then_429_with_retry_after(bot):
    async with bot.client(ip="10.1.1.1") as client:
        for _ in range(3):
            response = await login(client, password="guess")
            assert response.status_code == 401
            assert "Login failed" in response.text
            assert "exist" not in response.text.lower() and "not set" not in response.text.lower()
        blocked = await login(client)  # even the right password waits now
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 301
        assert "__Host-liveroom_session" not in blocked.headers.get("set-cookie", "")
    async with bot.client(ip="10.2.2.2") as other:  # the limit is per client address
        assert (await login(other)).status_code == 303


async def test_login_sets_a_strict_http_only_secure_cookie_and_logout_ends_the_session(bot):
    async with bot.client() as client:
        response = await login(client, next_="/faq")
        assert response.status_code == 303 and response.headers["location"] == "/faq"
        cookie = [c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-liveroom_session=")][0]
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert len(cookie.split(";")[0].split("=", 1)[1]) >= 43  # 32 random bytes, base64url
        page = await client.get("/")
        assert page.status_code == 200 and "mo" in page.text
        out = await client.post("/logout", data={"csrf": page_csrf(page.text)})
        assert out.status_code == 303
        client.cookies.clear()
        client.cookies.set("__Host-liveroom_session", cookie.split(";")[0].split("=", 1)[1], domain="dash.test")
        assert (await client.get("/")).status_code == 303  # the old token is gone on the server


async def test_login_refuses_foreign_redirects_forms_without_token_and_other_origins(bot):
    async with bot.client() as client:
        response = await login(client, next_="//evil.test/x")
        assert response.headers["location"] == "/"
    async with bot.client() as client:
        await client.get("/login")
        response = await client.post("/login", data={"csrf": "forged", "name": "mo", "password": PASSWORD})
        assert response.status_code == 403 and "__Host-liveroom_session" not in response.headers.get("set-cookie", "")
    async with bot.client(origin="https://evil.test") as client:
        assert (await login(client)).status_code == 403


async def test_posts_need_the_sessions_csrf_token_and_our_origin(bot):
    item = await bot.ask(REFUND)
    async with bot.client() as client:
        csrf = await logged_in(client)
        url = f"/reviews/{item.id}/approve"
        assert (await client.post(url, data={})).status_code == 403
        assert (await client.post(url, data={"csrf": csrf[:-1] + "x"})).status_code == 403
        assert (await client.post(url, data={"csrf": csrf}, headers={"Origin": "https://evil.test"})).status_code == 403
        no_origin = httpx.AsyncClient(transport=client._transport, base_url=BASE, cookies=client.cookies)
        async with no_origin:
            assert (await no_origin.post(url, data={"csrf": csrf})).status_code == 403
            referer = await no_origin.post(url, data={"csrf": "bad"}, headers={"Referer": f"{BASE}/"})
            assert referer.status_code == 403  # a same-origin Referer passes the origin check, not the token's
        too_big = await client.post(url, content=b"csrf=" + b"x" * 70_000,
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert too_big.status_code == 413
    assert bot.moderation.queue.get(item.id).pending
    assert not any("full refund" in text for text in bot.sent)


# ---- deciding ------------------------------------------------------------------------------------

async def test_a_moderator_logs_in_and_approves_and_the_room_gets_the_answer(bot):
    item = await bot.ask(REFUND)
    assert "money" in item.reasons
    async with bot.client() as client:
        csrf = await logged_in(client)
        queue = await client.get("/")
        assert f'id="review-{item.id}"' in queue.text and REFUND in queue.text and "money" in queue.text
        assert "course.md" in queue.text and "left" in queue.text
        response = await client.post(f"/reviews/{item.id}/approve", data={"csrf": csrf})
        assert response.status_code == 303 and response.headers["location"] == "/"
        after = await client.get("/")
        assert f"#{item.id} approved and posted." in flashes(after.text)
        assert f'id="review-{item.id}"' not in after.text
    answers = [text for text in bot.sent if "full refund" in text]
    assert len(answers) == 1
    decided = bot.moderation.queue.get(item.id)
    assert decided.status == "approved" and decided.decided_by == "dashboard:mo" and decided.decided_by_name == "mo"


async def test_two_approvals_at_once_post_once(bot):
    item = await bot.ask(REFUND)
    async with bot.client() as first, bot.client() as second:
        csrf_a, csrf_b = await logged_in(first, "ana"), await logged_in(second, "bo")
        url = f"/reviews/{item.id}/approve"
        a, b = await asyncio.gather(first.post(url, data={"csrf": csrf_a}), second.post(url, data={"csrf": csrf_b}))
        assert a.status_code == b.status_code == 303
        messages = flashes((await first.get("/")).text) + flashes((await second.get("/")).text)
    assert len([text for text in bot.sent if "full refund" in text]) == 1
    assert sum("approved and posted" in m for m in messages) == 1
    assert sum("was already approved by" in m for m in messages) == 1
    assert bot.moderation.stats.dup_decisions == 1


async def test_reject_with_a_reason_and_edit_which_becomes_a_curated_faq_entry(bot):
    refund, shipping = await bot.ask(REFUND), await bot.ask(SHIPPING, user="ana")
    async with bot.client() as client:
        csrf = await logged_in(client)
        await client.post(f"/reviews/{refund.id}/reject", data={"csrf": csrf, "reason": "policy changed"})
        rejected = bot.moderation.queue.get(refund.id)
        assert rejected.status == "rejected" and rejected.note == "policy changed"
        assert any("pass it to the host" in text for text in bot.sent)

        edited = "Shipping is free on orders over 99 CNY; the <b>Mini</b> ships in 2 days."
        await client.post(f"/reviews/{shipping.id}/edit", data={"csrf": csrf, "text": edited})
        assert edited in bot.sent[-1]
        page = await client.get("/")
        assert any("edited and posted" in m and "curated answer #1" in m for m in flashes(page.text))
        assert "policy changed" in page.text  # the "just handled" list
        faq = await client.get("/faq")
        assert SHIPPING in faq.text and "approved by <strong>mo</strong>" in faq.text
        assert "the &lt;b&gt;Mini&lt;/b&gt; ships" in faq.text and "<b>Mini" not in faq.text
        empty_edit = await client.post(f"/reviews/{refund.id}/edit", data={"csrf": csrf, "text": " "})
        assert empty_edit.status_code == 303
        unknown = await client.post("/reviews/999/approve", data={"csrf": csrf})
        assert unknown.status_code == 303
        assert any("no review #999" in m for m in flashes((await client.get("/")).text))


async def test_viewer_and_knowledge_strings_are_escaped_everywhere(bot):
    attack = f"{REFUND} <script>alert(1)</script>"
    item = await bot.ask(attack, user="<img src=x onerror=alert(2)>")
    async with bot.client() as client:
        csrf = await logged_in(client, name="<i>mo</i>")
        pages = [await client.get("/")]
        await client.post(f"/reviews/{item.id}/approve", data={"csrf": csrf})
        await asyncio.to_thread(bot.runtime.store.flush)
        pages += [await client.get(p) for p in ("/", "/log", f"/viewers/{item.user_key}", "/unanswered")]
        for page in pages:
            assert page.status_code == 200
            assert "<script>alert" not in page.text and "<img src=x" not in page.text and "<i>mo</i>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[2].text  # the log
        assert "&lt;i&gt;mo&lt;/i&gt;" in pages[0].text
        for header, value in (("content-security-policy", "default-src 'self'; script-src 'self'"),
                              ("x-content-type-options", "nosniff"), ("referrer-policy", "same-origin"),
                              ("x-frame-options", "DENY")):
            assert pages[0].headers[header].startswith(value)
            assert (await client.get("/static/dashboard.js")).headers[header].startswith(value)
        assert pages[0].headers["cache-control"] == "no-store"
        assert "<script>" not in pages[0].text.replace('<script src="/static/dashboard.js" defer></script>', "")


# ---- the live feed -------------------------------------------------------------------------------

async def _sse_events(app, cookie: str, until: int, action) -> list[tuple[str, Any]]:
    """Drive GET /events as raw ASGI (httpx's transport buffers whole bodies); return the first events."""
    received: list[tuple[str, Any]] = []
    buffer = ""
    done = asyncio.Event()
    disconnect = asyncio.Event()

    async def receive():
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal buffer
        if message["type"] == "http.response.start":
            assert message["status"] == 200
            assert dict(message["headers"])[b"content-type"].startswith(b"text/event-stream")
        elif message["type"] == "http.response.body":
            buffer += message.get("body", b"").decode()
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                kind = next((line[7:] for line in block.splitlines() if line.startswith("event: ")), None)
                data = next((line[6:] for line in block.splitlines() if line.startswith("data: ")), None)
                if kind:
                    received.append((kind, json.loads(data)))
                    if len(received) == 1:
                        asyncio.get_running_loop().create_task(action())
                    if len(received) >= until:
                        done.set()

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "GET", "scheme": "https", "path": "/events", "raw_path": b"/events", "query_string": b"",
             "root_path": "", "headers": [(b"host", b"dash.test"), (b"cookie", cookie.encode())],
             "client": ("127.0.0.1", 1), "server": ("dash.test", 443)}
    task = asyncio.create_task(app(scope, receive, send))
    try:
        await asyncio.wait_for(done.wait(), 15)
    finally:
        disconnect.set()
        await asyncio.wait_for(task, 5)
    return received


async def test_the_live_feed_sends_a_snapshot_then_additions_and_decisions(bot):
    first = await bot.ask(REFUND)
    async with bot.client() as client:
        csrf = await logged_in(client)
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())

        async def act() -> None:
            await bot.ask(SHIPPING, user="ana")
            await client.post(f"/reviews/{first.id}/approve", data={"csrf": csrf})

        events = await _sse_events(bot.app, cookie, 3, act)
    kinds = [k for k, _ in events]
    assert kinds == ["snapshot", "added", "decided"]
    assert [r["id"] for r in events[0][1]["reviews"]] == [first.id]
    added = events[1][1]["review"]
    assert added["question"] == SHIPPING and added["user_name"] == "ana" and "money" in added["reasons"]
    assert events[2][1]["review"]["id"] == first.id and events[2][1]["review"]["status"] == "approved"
    assert not bot.moderation._subscribers  # the feed unsubscribed when the page went away


# ---- the log, viewers, unanswered ------------------------------------------------------------------

def _fill_log(bot: Bot, n: int) -> None:
    base = 1_800_000_000.0
    rows = [{"room": "console:test" if i % 2 else "discord:other", "event_id": f"e{i}",
             "user_key": f"console:v{i % 7}", "user_name": f"v{i % 7}",
             "text": f"question number {i}" + (" about mangoes" if i % 10 == 0 else ""), "lang": "en",
             "status": "abstained" if i % 3 == 0 else "answered", "answer": f"answer {i}", "sources": "[]",
             "confidence": 0.7, "latency_ms": 5.0, "model": "extractive", "merged_into": None, "reply_id": None,
             "ts": base + i, "answered_at": base + i + 1} for i in range(n)]
    with bot.runtime.store.engine.begin() as conn:
        conn.execute(questions.insert(), rows)


async def test_the_log_filters_and_pages_older_by_keyset(bot):
    _fill_log(bot, 130)
    async with bot.client() as client:
        await logged_in(client)
        first = await client.get("/log")
        assert first.text.count("<tr class=") == 50 and "question number 129" in first.text
        older = re.search(r'class="older" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
        second = await client.get(older)
        assert second.text.count("<tr class=") == 50
        assert "question number 79<" in second.text and "question number 80<" not in second.text
        third = await client.get(re.search(r'class="older" href="([^"]+)"', second.text).group(1).replace("&amp;", "&"))
        assert third.text.count("<tr class=") == 30 and 'class="older"' not in third.text

        mangoes = await client.get("/log", params={"text": "mango", "room": "discord:other"})
        assert mangoes.text.count("<tr class=") == 13  # 0, 10, ..., 120: all even, so all discord:other
        filtered = await client.get("/log", params={"viewer": "console:v3", "status": "abstained",
                                                    "since": "2027-01-15T08:00", "text": "mango"})
        assert "value=\"console:v3\"" in filtered.text  # the filters stay in the form
        paged = await client.get("/log", params={"status": "answered"})
        link = re.search(r'class="older" href="([^"]+)"', paged.text)
        assert link is not None and "status=answered" in link.group(1)
        bad = await client.get("/log", params={"since": "yesterday-ish", "status": "nonsense"})
        assert bad.status_code == 200 and 'role="alert"' in bad.text


async def test_a_viewers_page_flags_exports_and_offers_deletion(bot):
    item = await bot.ask(REFUND, user="ravi")
    async with bot.client() as client:
        csrf = await logged_in(client)
        await client.post(f"/reviews/{item.id}/approve", data={"csrf": csrf})
        await asyncio.to_thread(bot.runtime.store.flush)
        page = await client.get(f"/viewers/{item.user_key}")
        assert page.status_code == 200 and REFUND in page.text and "approve" in page.text
        flagged = await client.post("/viewer/flag", data={"csrf": csrf, "user_key": item.user_key, "user_name": "ravi",
                                                          "reason": "spam links"}, follow_redirects=True)
        assert item.user_key in bot.moderation.flags
        assert "flagged" in flagged.text and "spam links" in flagged.text
        export = await client.post("/viewer/export", data={"csrf": csrf, "user_key": item.user_key})
        assert export.status_code == 200 and export.headers["content-type"].startswith("application/json")
        assert export.headers["content-disposition"] == 'attachment; filename="liveroom-console_ravi.json"'
        data = export.json()
        assert REFUND in json.dumps(data, ensure_ascii=False)
        confirm = await client.get("/viewer/delete", params={"user_key": item.user_key})
        assert confirm.status_code == 200 and item.user_key in confirm.text
        unflag = await client.post("/viewer/flag", data={"csrf": csrf, "user_key": item.user_key, "unflag": "1"})
        assert unflag.status_code == 303 and item.user_key not in bot.moderation.flags


async def test_deleting_a_viewers_data_needs_the_key_typed_again(bot):
    item = await bot.ask(REFUND, user="ravi")
    async with bot.client() as client:
        csrf = await logged_in(client)
        await client.post(f"/reviews/{item.id}/approve", data={"csrf": csrf})
        await asyncio.to_thread(bot.runtime.store.flush)
        wrong = await client.post("/viewer/delete", data={"csrf": csrf, "user_key": item.user_key, "confirm": "yes"})
        assert wrong.status_code == 303 and "/viewer/delete?" in wrong.headers["location"]
        assert bot.runtime.store.iter_questions(user_key=item.user_key)
        done = await client.post("/viewer/delete", data={"csrf": csrf, "user_key": item.user_key,
                                                         "confirm": item.user_key}, follow_redirects=True)
        assert "Deleted the data of console:ravi" in done.text
        assert not bot.runtime.store.iter_questions(user_key=item.user_key)


async def test_unanswered_questions_are_grouped_by_topic(bot):
    for user in ("ana", "bo"):
        await bot.room.as_user(user)
        await bot.room.say("who won the match yesterday?", settle=True)
    await asyncio.to_thread(bot.runtime.store.flush)
    async with bot.client() as client:
        await logged_in(client)
        page = await client.get("/unanswered")
        assert "who won the match yesterday?" in page.text and "2×" in page.text and "ana, bo" in page.text
        other_room = await client.get("/unanswered", params={"room": "discord:nowhere", "days": "all"})
        assert "Nothing unanswered" in other_room.text


# ---- health and metrics ----------------------------------------------------------------------------

async def test_metrics_need_a_session_or_the_bearer_token(make_bot):
    bot = make_bot(metrics_token="scrape-me")
    await bot.ask(REFUND)
    async with bot.client() as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        scraped = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        for name in ("liveroom_messages_in_total", "liveroom_messages_out_total", "liveroom_answer_latency_seconds",
                     "liveroom_review_queue_depth", "liveroom_abstentions_total", "liveroom_llm_errors_total",
                     "liveroom_llm_fallbacks_total", "liveroom_reviews_total", "liveroom_feedback_total"):
            assert name in scraped.text, name
        assert 'liveroom_review_queue_depth{room="console:test"} 1.0' in scraped.text
        assert 'liveroom_reviews_total{decision="queued"} 1.0' in scraped.text
        await logged_in(client)
        assert (await client.get("/metrics")).status_code == 200


async def test_without_a_metrics_token_only_a_session_reads_metrics(bot):
    async with bot.client() as client:
        assert (await client.get("/metrics", headers={"Authorization": "Bearer "})).status_code == 401
        assert "www-authenticate" not in (await client.get("/metrics")).headers
        await logged_in(client)
        assert (await client.get("/metrics")).status_code == 200


async def test_health_reports_an_unreachable_database(bot, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'gone.db'}")
    try:
        store.engine = sa.create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
        broken = create_app(DashboardDeps(store=store, moderation=bot.moderation, settings=settings()))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=broken), base_url=BASE) as client:
            response = await client.get("/healthz")
        assert response.status_code == 503 and response.json()["status"] == "error"
        assert any("unreachable" in p for p in response.json()["problems"])
    finally:
        store.close()


async def test_health_fails_when_the_database_file_is_deleted_under_the_bot(bot, tmp_path):
    """Fault 6: SQLite keeps writing an unlinked file; /healthz must notice the file on disk is gone."""
    db = tmp_path / "live.db"
    store = Store(f"sqlite:///{db}")
    try:
        app = create_app(DashboardDeps(store=store, moderation=bot.moderation, settings=settings()))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            assert (await client.get("/healthz")).status_code == 200
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            response = await client.get("/healthz")
        assert response.status_code == 503
        assert any("is gone" in p for p in response.json()["problems"])
    finally:
        store.close()


async def _forged_logins(app, trusted: tuple[str, ...]) -> list[int]:
    """Seven wrong passwords to a real server, each with a different forged X-Forwarded-For."""
    server = DashboardServer(app, host="127.0.0.1", port=0, trusted_proxies=trusted)
    await server.start()
    try:
        codes = []
        async with httpx.AsyncClient(base_url=server.url) as client:
            for i in range(7):
                form = await client.get("/login")
                response = await client.post(
                    "/login", headers={"X-Forwarded-For": f"203.0.113.{i}", "Origin": server.url},
                    data={"csrf": hidden(form.text), "name": "mo", "password": "guess", "next": "/"})
                codes.append(response.status_code)
        return codes
    finally:
        await server.stop()


async def test_a_forged_forwarded_header_neither_resets_the_login_limit_nor_reaches_the_log(bot, caplog):
    """Fault 4: with no trusted proxy the socket's peer is the client, whatever X-Forwarded-For says."""
    plain = create_app(DashboardDeps(store=bot.runtime.store, moderation=bot.moderation,
                                     settings=settings(secure_cookies=False)))
    with caplog.at_level("WARNING", logger="bots.dashboard"):
        codes = await _forged_logins(plain, ())
    assert codes[:3] == [401, 401, 401] and set(codes[3:]) == {429}
    assert "203.0.113" not in caplog.text and "failed login from 127.0.0.1" in caplog.text


async def test_a_named_proxy_is_believed(bot, caplog):
    plain = create_app(DashboardDeps(store=bot.runtime.store, moderation=bot.moderation,
                                     settings=settings(secure_cookies=False)))
    with caplog.at_level("WARNING", logger="bots.dashboard"):
        codes = await _forged_logins(plain, ("127.0.0.1",))
    assert set(codes) == {401}  # each forwarded address is its own client behind the trusted proxy
    assert "failed login from 203.0.113.6" in caplog.text
    with pytest.raises(ValidationError, match="must be an IP address or network"):
        settings(trusted_proxies=("proxy.example",))


# ---- the server ----------------------------------------------------------------------------------

async def test_the_server_runs_in_this_loop_on_a_free_port_and_stops_with_a_live_feed_open(bot):
    server = DashboardServer(bot.app, host="127.0.0.1", port=0)
    await server.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url) and not server.url.endswith(":0")
        async with httpx.AsyncClient(base_url=server.url) as client:
            health = await client.get("/healthz")
            assert health.status_code == 200 and health.headers["x-frame-options"] == "DENY"
            assert "server" not in health.headers
    finally:
        await server.stop()

    # httpx keeps no Secure cookie over plain http (browsers do, for 127.0.0.1): a second app without them.
    plain = create_app(DashboardDeps(store=bot.runtime.store, moderation=bot.moderation,
                                     settings=settings(secure_cookies=False)))
    second = DashboardServer(plain, port=0)
    await second.start()
    async with httpx.AsyncClient(base_url=second.url, headers={"Origin": second.url}) as client:
        assert (await login(client)).status_code == 303
        async with client.stream("GET", "/events") as stream:
            first = await stream.aiter_lines().__anext__()
            assert first.startswith("retry:")
            started = time.monotonic()
            await second.stop()  # ends the open feed instead of waiting for it
            assert time.monotonic() - started < 5

    busy = DashboardServer(bot.app, port=0)
    await busy.start()
    try:
        clash = DashboardServer(bot.app, port=int(busy.url.rsplit(":", 1)[1]))
        with pytest.raises(OSError):  # a busy port is an error for the caller, not uvicorn's sys.exit
            await clash.start()
    finally:
        await busy.stop()


async def test_reports_written_by_the_report_command_are_served_to_moderators_only(bot):
    await bot.room.as_user("lin", "host")
    await bot.room.say("/live start")
    await bot.room.as_user("tom")
    await bot.room.say("<b>hello</b> can I use frozen fruit?", settle=True)
    await bot.room.as_user("lin", "host")
    out = await bot.room.say("/report")
    name = Path(out.rsplit("Full report: ", 1)[1].strip()).name
    async with bot.client() as client:
        assert (await client.get(f"/reports/{name}")).status_code == 303  # the login first
        await logged_in(client)
        response = await client.get(f"/reports/{name}")
        assert response.status_code == 200 and "Stream report: console:test" in response.text
        assert "&lt;b&gt;hello&lt;/b&gt;" in response.text
        csp = response.headers["content-security-policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp and "img-src data:" in csp
        for bad in ("../liveroom.db", "..%2Fliveroom.db", "nope.html", "x.txt"):
            assert (await client.get(f"/reports/{bad}")).status_code == 404, bad
