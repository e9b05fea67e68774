"""The dashboard as a moderator uses it: a real bot, a real uvicorn server on 127.0.0.1, headless Chromium.

Everything runs in the test's event loop, as in the bot (the dashboard shares
the bot's loop): the runtime with its console room, the dashboard server on a
free port, and Playwright's async driver. With ``LIVEROOM_SCREENSHOTS=1`` the
test also saves the queue, log, viewer and FAQ pages to docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
from conftest import ROOT, ConsoleRoom, close_runtime, make_config  # noqa: E402

from bots.app import Runtime  # noqa: E402
from bots.dashboard import DashboardDeps, DashboardServer, create_app  # noqa: E402
from bots.dashboard.auth import DashboardSettings, hash_password  # noqa: E402
from bots.runtime.metrics import Metrics  # noqa: E402

pytestmark = pytest.mark.browser

PASSWORD = "mods-only-2026"
SHOTS = ROOT / "docs" / "screenshots"
REFUND = "can I get a full refund for the course?"  # an answer about money: it waits in review-risky mode
SHIPPING = "is shipping free?"
COURSE = "how much is the course?"


@pytest.fixture
async def live_bot(data_dir: Path, tmp_path: Path):
    knowledge = tmp_path / "kb"
    shutil.copytree(ROOT / "knowledge", knowledge, ignore=shutil.ignore_patterns("samples"))
    runtime = Runtime.build(make_config(knowledge={"path": str(knowledge)}, moderation={"mode": "review-risky"}),
                            data_dir)
    room = ConsoleRoom(runtime)
    sent: list[str] = []
    original = room.adapter.send

    async def send(reply):
        sent.append(reply.text)
        return await original(reply)

    room.adapter.send = send  # type: ignore[method-assign]
    metrics = Metrics(router=runtime.router, answering=runtime.answering, moderation=runtime.moderation)
    settings = DashboardSettings(enabled=True, password_hash=hash_password(PASSWORD), port=0)  # Secure cookies on
    server = DashboardServer(create_app(DashboardDeps(runtime.store, runtime.moderation, settings, metrics)),
                             host="127.0.0.1", port=0)
    await server.start()
    try:
        yield runtime, room, sent, server
    finally:
        await server.stop()
        await close_runtime(runtime)


async def _ask(runtime: Runtime, room: ConsoleRoom, text: str, user: str) -> int:
    await room.as_user(user)
    before = {r.id for r in runtime.moderation.queue.pending()}
    await room.say(text, settle=True)
    [review] = [r for r in runtime.moderation.queue.pending() if r.id not in before]
    return review.id


async def _shoot(page, name: str) -> None:
    if os.environ.get("LIVEROOM_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_a_moderator_approves_and_edits_in_chromium(chromium, live_bot):
    started = time.monotonic()
    runtime, room, sent, server = live_bot
    refund = await _ask(runtime, room, REFUND, "viewer1")
    shipping = await _ask(runtime, room, SHIPPING, "ana")

    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    # Console errors (a script error, a CSP violation), except the 401 of the wrong password tried on purpose.
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "status of 401" not in m.text
            else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    # Every page starts at the login.
    await page.goto(f"{server.url}/log")
    assert page.url.startswith(f"{server.url}/login?next=")
    await page.fill("input[name=name]", "mo")
    await page.fill("input[name=password]", "wrong")
    await page.click("button[type=submit]")
    assert "Login failed" in await page.inner_text(".flash.error")
    await page.fill("input[name=name]", "mo")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.url}/log")

    # Chromium keeps a Secure, HttpOnly, SameSite=Strict cookie from http://127.0.0.1 (a trustworthy origin).
    [cookie] = [c for c in await context.cookies() if c["name"] == "__Host-liveroom_session"]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert await page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it

    # The queue shows the risky questions with their drafts; the live feed connects.
    await page.goto(f"{server.url}/")
    await page.wait_for_selector("body[data-live='1']")
    card = page.locator(f"#review-{refund}")
    assert REFUND in await card.locator(".question").inner_text()
    assert "full refund" in await card.locator(".draft").inner_text()
    assert "money" in await card.locator(".reasons").inner_text()
    assert "left" in await card.locator("[data-left]").inner_text()

    # A question asked while the page is open appears without a reload (server-sent events).
    course = await _ask(runtime, room, COURSE, "ravi")
    await page.wait_for_selector(f"#review-{course}")
    assert COURSE in await page.locator(f"#review-{course} .question").inner_text()
    assert await page.inner_text("#pending-count") == "3"
    await _shoot(page, "queue")

    # Approve: the room gets the answer through the adapter.
    await card.locator("button.approve").click()
    await page.wait_for_selector(".flash.ok")
    assert f"#{refund} approved and posted." in await page.inner_text(".flash.ok")
    assert await page.locator(f"#review-{refund}").count() == 0
    assert len([t for t in sent if "full refund" in t]) == 1

    # Edit another: it posts the correction and becomes a curated FAQ answer.
    edited = "Shipping is free in mainland China on orders over 99 CNY."
    item = page.locator(f"#review-{shipping}")
    await item.locator("details.edit summary").click()
    await item.locator("textarea[name=text]").fill(edited)
    await item.locator("details.edit button[type=submit]").click()
    await page.wait_for_selector(".flash.ok")
    assert "edited and posted" in await page.inner_text(".flash.ok")
    assert edited in sent[-1]

    # A decision made elsewhere (a moderator in the room) disappears from the open page by itself.
    await room.as_user("lin", "mod")
    await room.say(f"/reject {course} not today")
    await page.wait_for_selector(f"#review-{course}", state="detached")
    assert await page.inner_text("#pending-count") == "0"
    assert f"#{course} {COURSE}" in await page.inner_text("#recent")  # added live to "just handled"

    await page.goto(f"{server.url}/faq")
    entry = page.locator(".faq li.entry").first
    assert SHIPPING in await entry.locator(".variants").inner_text()
    assert edited in await entry.locator(".answer").inner_text()
    assert "approved by mo" in await entry.locator(".provenance").inner_text()
    await _shoot(page, "faq")

    await asyncio.to_thread(runtime.store.flush)
    await page.goto(f"{server.url}/log")
    assert REFUND in await page.inner_text("table.log")
    await _shoot(page, "log")

    await page.click("table.log a:text('viewer1')")
    await page.wait_for_url(f"{server.url}/viewers/console:viewer1")
    assert REFUND in await page.inner_text("table.log")
    await _shoot(page, "viewer")

    assert not problems, problems  # no script errors, no Content-Security-Policy violations
    await context.close()
    assert time.monotonic() - started < 60
