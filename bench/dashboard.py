"""Dashboard latency on a million-question store: every page, and an approval's round trip to the room.

Setup: ``bench/_interactions_data.fill_synthetic`` writes N handled questions
(default 1,000,000, with their 👍/👎 events and moderator reviews) into a
fresh SQLite store in a temporary data directory, with SQLAlchemy Core
``executemany`` in chunks. A lean runtime (store, router, moderation; no
knowledge base) is built on it with an in-process console room, and the
dashboard app is driven through ``httpx.ASGITransport``, logged in, in the
same event loop, as the bot runs it.

* Pages: ~50 GET requests per page and filter, after one warm-up request,
  p50/p95 in ms (target p95 ≤ 200 ms).
* Approvals: 50 items are queued, then approved one by one through
  ``POST /reviews/{id}/approve``; the round trip is from sending the POST to
  the console adapter's ``send`` of the answer (target p95 ≤ 300 ms). The
  whole POST (until the redirect arrives) is reported too.

``python bench/dashboard.py [N] [--runs 50]`` prints a Markdown table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._common import machine_line, percentile, table  # noqa: E402

PAGE_TARGET_MS = 200.0
APPROVE_TARGET_MS = 300.0
PASSWORD = "bench-password"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 50), percentile(samples, 95)


def _fill(db_path: Path, n: int) -> tuple[dict[str, int], float]:
    import sqlalchemy as sa

    from bench._interactions_data import fill_synthetic

    engine = sa.create_engine(f"sqlite:///{db_path}")
    started = time.perf_counter()
    written = fill_synthetic(engine, n)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return written, elapsed


def _runtime(data_dir: Path):
    from bots.app import Runtime
    from bots.runtime.config import Config

    config = Config.model_validate({
        "knowledge": {"path": str(REPO / "knowledge")}, "retrieval": {"embedder": "hashing"},
        "answers": {"enabled": False}, "products": {"enabled": False}, "audience": {"enabled": False},
        "traffic": {"enabled": False}, "schedule": {"enabled": False},
        "moderation": {"mode": "review-risky", "timeout": 3600},
        "logging": {"file": None},
    })
    return Runtime.build(config, data_dir)


async def _login(client: Any) -> str:
    form = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    response = await client.post("/login", data={"csrf": token, "name": "bench", "password": PASSWORD})
    assert response.status_code == 303, response.text
    page = await client.get("/")
    return re.search(r'data-csrf="([^"]+)"', page.text).group(1)


async def _pages(client: Any, engine: Any, runs: int) -> list[tuple[str, float, float]]:
    import sqlalchemy as sa

    from brain.insights.interaction_log import LogFilter, search
    from brain.store.schema import questions

    with engine.connect() as conn:
        heavy = conn.execute(sa.select(questions.c.user_key, sa.func.count()).group_by(questions.c.user_key)
                             .order_by(sa.func.count().desc()).limit(1)).one()[0]
        top = conn.execute(sa.select(sa.func.max(questions.c.id))).scalar_one()
        one_off = conn.execute(sa.select(questions.c.user_key).where(questions.c.id == top // 3)).scalar_one()
    middle = search(engine, LogFilter(), limit=1, before=None)
    deep = None
    with engine.connect() as conn:
        row = conn.execute(sa.select(questions.c.ts, questions.c.id).where(questions.c.id == top // 2)).one()
        deep = f"{row.ts!r}:{row.id}"
    day = datetime.fromtimestamp(row.ts, timezone.utc).date()
    assert middle.rows
    pages = [
        ("/ (queue)", "/"),
        ("/log", "/log"),
        ("/log?room=", "/log?room=discord%3Aroom1"),
        ("/log?viewer= (heaviest)", f"/log?viewer={heavy}"),
        ("/log?viewer= (one-off)", f"/log?viewer={one_off}"),
        ("/log?status=abstained", "/log?status=abstained"),
        ("/log?status=rejected (review)", "/log?status=rejected"),
        ("/log?since=&until= (a day)", f"/log?since={day}&until={day + timedelta(days=1)}"),
        ("/log?text=price (common)", "/log?text=price"),
        ("/log?text=优惠券 (rare)", "/log?text=%E4%BC%98%E6%83%A0%E5%88%B8"),
        ("/log?before= (page at 500k)", f"/log?before={deep}"),
        ("/viewers/… (heaviest)", f"/viewers/{heavy}"),
        ("/unanswered (7 days)", "/unanswered"),
        ("/unanswered?days=all", "/unanswered?days=all"),
        ("/faq", "/faq"),
        ("/metrics", "/metrics"),
        ("/healthz", "/healthz"),
    ]
    rows = []
    for label, url in pages:
        warm = await client.get(url)
        assert warm.status_code == 200, (url, warm.status_code, warm.text[:300])
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            response = await client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        p50, p95 = _percentiles(samples)
        rows.append((label, p50, p95))
    return rows


async def _approvals(client: Any, runtime: Any, csrf: str, runs: int) -> tuple[list[float], list[float]]:
    from adapters.console import ConsoleAdapter
    from brain.moderation.review import Asker

    adapter = ConsoleAdapter(room="bench", user="viewer", stdin=io.StringIO(""), stdout=io.StringIO(), prompt=False)
    runtime.router.attach(adapter)
    sent_at: dict[str, float] = {}
    original = adapter.send

    async def send(reply):
        sent_at[reply.reply_to] = time.perf_counter()
        return await original(reply)

    adapter.send = send  # type: ignore[method-assign]
    queue = runtime.moderation.queue
    ids = []
    for i in range(runs):
        review = await asyncio.to_thread(
            queue.add, room="console:bench", platform="console", room_id="bench", room_kind="console",
            room_name="bench", source=adapter.name, event_id=f"bench-{i}", asker=Asker("console", f"v{i}", f"v{i}"),
            others=[], question=f"how much is the blender? ({i})", lang="en", draft="BlendGo Pro, 259 CNY.",
            sources=[{"chunk_id": "products.yaml#1", "source": "products.yaml", "title": "BlendGo Pro"}],
            confidence=0.8, model="extractive", reasons=["money"], timeout=3600)
        ids.append((review.id, review.event_id))
    round_trips, posts = [], []
    rng = random.Random(0)
    rng.shuffle(ids)
    for review_id, event_id in ids:
        started = time.perf_counter()
        response = await client.post(f"/reviews/{review_id}/approve", data={"csrf": csrf})
        done = time.perf_counter()
        assert response.status_code == 303
        assert event_id in sent_at, "the adapter did not send the approved answer"
        round_trips.append((sent_at[event_id] - started) * 1000)
        posts.append((done - started) * 1000)
    return round_trips, posts


async def _bench(data_dir: Path, runs: int) -> dict[str, Any]:
    import httpx

    from bots.dashboard import DashboardDeps, create_app
    from bots.dashboard.auth import DashboardSettings, hash_password
    from bots.runtime.metrics import Metrics

    runtime = _runtime(data_dir)
    try:
        settings = DashboardSettings(enabled=True, password_hash=hash_password(PASSWORD))
        metrics = Metrics(router=runtime.router, answering=runtime.answering, moderation=runtime.moderation)
        app = create_app(DashboardDeps(runtime.store, runtime.moderation, settings, metrics))
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://bench.local",
                                     headers={"Origin": "https://bench.local"}) as client:
            csrf = await _login(client)
            pages = await _pages(client, runtime.store.engine, runs)
            round_trips, posts = await _approvals(client, runtime, csrf, runs)
        await runtime.moderation.drain()
    finally:
        await runtime.brain.aclose()
        runtime.close()
    return {"pages": pages, "round_trips": round_trips, "posts": posts}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000, help="questions in the store")
    parser.add_argument("--runs", type=int, default=50, help="requests per page, and approvals")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="liveroom-dashboard-bench-") as tmp:
        data_dir = Path(tmp)
        written, fill_s = _fill(data_dir / "liveroom.db", args.n)
        result = asyncio.run(_bench(data_dir, args.runs))
    rt50, rt95 = _percentiles(result["round_trips"])
    post50, post95 = _percentiles(result["posts"])
    print(f"# Dashboard latency, {args.n:,} questions ({written['events']:,} feedback events, "
          f"{written['reviews']:,} reviews; filled in {fill_s:.0f} s), {args.runs} requests each")
    print(machine_line())
    rows = [(label, f"{p50:.1f}", f"{p95:.1f}", "ok" if p95 <= PAGE_TARGET_MS else "SLOW")
            for label, p50, p95 in result["pages"]]
    rows.append(("approve: POST → adapter send", f"{rt50:.1f}", f"{rt95:.1f}",
                 "ok" if rt95 <= APPROVE_TARGET_MS else "SLOW"))
    rows.append(("approve: whole POST (→ 303)", f"{post50:.1f}", f"{post95:.1f}", ""))
    print(table(("request", "p50 ms", "p95 ms", f"target (pages ≤ {PAGE_TARGET_MS:.0f}, approve ≤ "
                 f"{APPROVE_TARGET_MS:.0f})"), rows))
    worst = max(p95 for _, _, p95 in result["pages"])
    print(json.dumps({"questions": args.n, "runs": args.runs, "fill_s": round(fill_s, 1),
                      "pages_p95_ms": {label: round(p95, 1) for label, _, p95 in result["pages"]},
                      "worst_page_p95_ms": round(worst, 1), "approve_p50_ms": round(rt50, 1),
                      "approve_p95_ms": round(rt95, 1), "pages_ok": worst <= PAGE_TARGET_MS,
                      "approve_ok": rt95 <= APPROVE_TARGET_MS}, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
