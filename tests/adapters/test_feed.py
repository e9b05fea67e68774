"""The feed endpoint over real HTTP on loopback: auth, limits, errors, routing, a flood in order."""

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from adapters.base import AdapterError
from adapters.feed import FeedAdapter
from adapters.model import Role, TranscriptEvent, ViewerCountEvent
from bots.app import configured_adapters
from bots.runtime.config import ConfigError, parse_config

TOKEN = "feed-test-token-5f2c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUTES = {"console": "console", "telegram": "tg-main"}


class Feed:
    def __init__(self, adapter: FeedAdapter, session: aiohttp.ClientSession) -> None:
        self.adapter = adapter
        self.session = session
        self.events: list = []
        self.base = f"http://127.0.0.1:{adapter.port}"

    async def post(self, path: str, *, headers: dict | None = None, auth: bool = True, **kw):
        h = {**(AUTH if auth else {}), **(headers or {})}
        async with self.session.post(self.base + path, headers=h, **kw) as resp:
            return resp.status, await resp.json()


@asynccontextmanager
async def serving(**kwargs):
    """A feed endpoint on a free loopback port, its events collected, with ``kwargs`` for the adapter."""
    adapter = FeedAdapter(TOKEN, **{"routes": ROUTES, "port": 0, "host_name": "chef_lin",
                                    "max_body_bytes": 64 * 1024, **kwargs})
    events: list = []

    async def sink(event):
        events.append(event)

    adapter.bind(sink)
    task = asyncio.create_task(adapter.run())
    await asyncio.wait_for(adapter.ready.wait(), 5)
    assert adapter.port > 0
    try:
        async with aiohttp.ClientSession() as session:
            f = Feed(adapter, session)
            f.events = events
            yield f
    finally:
        await adapter.stop()
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def feed():
    async with serving() as f:
        yield f


async def test_health_needs_no_token(feed):
    async with feed.session.get(feed.base + "/health") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "platforms": ["console", "telegram"]}


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
])
async def test_missing_or_wrong_token_is_401_and_nothing_is_delivered(feed, headers, caplog):
    caplog.set_level(logging.DEBUG)
    status, body = await feed.post("/rooms/console%3Ademo/transcript", auth=False, headers=headers,
                                   json={"text": "hello"})
    assert status == 401 and "Bearer" in body["error"]
    status, body = await feed.post("/rooms/console%3Ademo/viewers", auth=False, headers=headers,
                                   json={"count": 3})
    assert status == 401
    assert feed.events == []
    assert TOKEN not in caplog.text and TOKEN not in repr(feed.adapter)


async def test_transcript_json_becomes_a_host_transcript_in_the_real_room(feed):
    status, body = await feed.post("/rooms/console%3Ademo/transcript",
                                   json={"text": "  Today: mango smoothies  ", "ts": "2026-11-20T20:01:03+08:00",
                                         "speaker": "Chef Lin"})
    assert status == 200 and body["accepted"] == 1 and body["room"] == "console:demo"
    [event] = feed.events
    assert type(event) is TranscriptEvent and event.kind == "transcript"
    assert event.text == "Today: mango smoothies" and event.room.key == "console:demo"
    assert event.source == "console"  # replies go to the console room, not to the feed
    assert event.author.name == "Chef Lin" and event.author.role is Role.HOST
    assert event.ts == datetime(2026, 11, 20, 20, 1, 3, tzinfo=timezone(timedelta(hours=8)))
    assert body["ids"] == [event.event_id]


async def test_room_keys_are_url_decoded_and_may_hold_a_slash(feed):
    status, body = await feed.post("/rooms/telegram%3A-100123%2F7/transcript", json={"text": "topic 7"})
    assert status == 200 and body["room"] == "telegram:-100123/7"
    [event] = feed.events
    assert event.room.platform == "telegram" and event.room.id == "-100123/7" and event.source == "tg-main"
    assert event.author.name == "chef_lin"  # the configured host name when no speaker is given
    assert abs((event.ts - datetime.now(timezone.utc)).total_seconds()) < 5  # no ts: now


async def test_plain_text_body_one_event_per_line_in_order(feed):
    status, body = await feed.post("/rooms/console:demo/transcript", data="first line\n\n  second line \r\nthird\n",
                                   headers={"Content-Type": "text/plain; charset=utf-8"})
    assert status == 200 and body["accepted"] == 3
    assert [e.text for e in feed.events] == ["first line", "second line", "third"]
    assert len({e.event_id for e in feed.events}) == 3


async def test_text_over_the_runtime_limit_is_accepted_whole(feed):
    long = "blend " * 2000  # 12,000 chars: the router truncates and flags, the feed does not
    status, _ = await feed.post("/rooms/console%3Ademo/transcript", json={"text": long})
    assert status == 200 and feed.events[0].text == long.strip()


async def test_unknown_platform_is_404_naming_it(feed):
    status, body = await feed.post("/rooms/discord%3A123/transcript", json={"text": "hi"})
    assert status == 404
    assert body["error"] == "no adapter serves platform 'discord' (configured: console, telegram)"
    assert feed.events == []


@pytest.mark.parametrize("room", ["demo", "console%3A", "%3Ademo"])
async def test_a_room_that_is_not_a_room_key_is_400(feed, room):
    status, body = await feed.post(f"/rooms/{room}/transcript", json={"text": "hi"})
    assert status == 400 and "platform:room_id" in body["error"]


async def test_body_over_the_limit_is_413(feed):
    status, body = await feed.post("/rooms/console%3Ademo/transcript", data=b"x" * (64 * 1024 + 1),
                                   headers={"Content-Type": "text/plain"})
    assert status == 413 and "65536-byte limit" in body["error"]

    async def chunked():  # no Content-Length: cut off while reading
        for _ in range(20):
            yield b"y" * 8192

    status, body = await feed.post("/rooms/console%3Ademo/transcript", data=chunked(),
                                   headers={"Content-Type": "text/plain"})
    assert status == 413 and "limit" in body["error"]
    assert feed.events == []


@pytest.mark.parametrize("kwargs, message", [
    ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, "body is not valid JSON"),
    ({"json": ["a list"]}, "body must be a JSON object"),
    ({"json": {"speaker": "x"}}, "field 'text' is missing"),
    ({"json": {"text": 42}}, "field 'text' must be a non-empty string"),
    ({"json": {"text": "   "}}, "field 'text' must be a non-empty string"),
    ({"json": {"text": "hi", "ts": "yesterday"}}, "field 'ts' is not ISO 8601: 'yesterday'"),
    ({"json": {"text": "hi", "ts": "2026-11-20T20:00:00"}}, "field 'ts' has no UTC offset"),
    ({"json": {"text": "hi", "ts": 1732104000}}, "field 'ts' must be an ISO 8601 string"),
    ({"json": {"text": "hi", "speaker": ""}}, "field 'speaker' must be a non-empty string"),
    ({"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, "body is not valid UTF-8"),
    ({"data": b" \n \n", "headers": {"Content-Type": "text/plain"}}, "text/plain body is empty"),
    # fault 2: a typo'd year once became a series of billions of minutes
    ({"json": {"text": "hi", "ts": "0001-01-01T00:00:00+00:00"}}, "field 'ts': timestamp 0001-01-01"),
    ({"json": {"text": "hi", "ts": "9999-12-31T23:59:59+14:00"}}, "field 'ts': timestamp 9999-12-31"),
    ({"json": {"text": "hi", "ts": "2126-11-20T20:00:00+08:00"}}, "field 'ts': timestamp 2126-11-20"),
])
async def test_bad_transcript_requests_are_400_naming_the_field(feed, kwargs, message):
    status, body = await feed.post("/rooms/console%3Ademo/transcript", **kwargs)
    assert status == 400 and body["error"].startswith(message), body
    assert feed.events == []


async def test_an_unsupported_content_type_is_415(feed):
    status, body = await feed.post("/rooms/console%3Ademo/transcript", data={"text": "hi"})  # a form
    assert status == 415 and "application/json or text/plain" in body["error"]


async def test_viewer_counts(feed):
    status, body = await feed.post("/rooms/console%3Ademo/viewers",
                                   json={"count": 1234, "ts": "2026-11-20T12:00:00Z"})
    assert status == 200 and body["accepted"] == 1
    [event] = feed.events
    assert type(event) is ViewerCountEvent and event.kind == "viewers" and event.count == 1234
    assert event.room.key == "console:demo" and event.source == "console"
    assert event.ts == datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("payload, message", [
    ({}, "field 'count' is missing"),
    ({"count": "12"}, "field 'count' must be a whole number"),
    ({"count": 12.5}, "field 'count' must be a whole number"),
    ({"count": True}, "field 'count' must be a whole number"),
    ({"count": -1}, "field 'count' must be a whole number"),
    ({"count": 3, "ts": "soon"}, "field 'ts' is not ISO 8601"),
    ({"count": 3, "ts": "0001-01-01T00:00:00+00:00"}, "field 'ts': timestamp 0001-01-01"),
])
async def test_bad_viewer_counts_are_400(feed, payload, message):
    status, body = await feed.post("/rooms/console%3Ademo/viewers", json=payload)
    assert status == 400 and body["error"].startswith(message), body
    assert feed.events == []


async def test_a_flood_of_100_lines_a_second_is_delivered_in_order(feed):
    started = time.perf_counter()
    statuses = []
    for i in range(100):
        statuses.append((await feed.post("/rooms/console%3Ademo/transcript", json={"text": f"line {i}"}))[0])
        delay = started + (i + 1) * 0.01 - time.perf_counter()  # 100 lines in ~1 s
        if delay > 0:
            await asyncio.sleep(delay)
    elapsed = time.perf_counter() - started
    assert statuses == [200] * 100
    assert [e.text for e in feed.events] == [f"line {i}" for i in range(100)]
    assert feed.adapter.received == 100 and elapsed < 5


async def test_concurrent_requests_lose_nothing(feed):
    async def one(i):
        return await feed.post("/rooms/telegram%3A-1/transcript", json={"text": f"c{i}"})

    results = await asyncio.gather(*(one(i) for i in range(100)))
    assert [status for status, _ in results] == [200] * 100
    assert sorted(e.text for e in feed.events) == sorted(f"c{i}" for i in range(100))
    # each request's events reach the runtime in the order the ids were handed out
    assert [e.event_id for e in feed.events] == sorted((e.event_id for e in feed.events),
                                                      key=lambda x: int(x.rsplit("t", 1)[1]))


# ---- slow and idle clients (raw sockets: aiohttp's client cannot send slowly) -------------

SLOW = {"header_timeout": 0.5, "body_timeout": 0.5}
REQUEST_HEAD = (b"POST /rooms/console%3Ademo/transcript HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Type: application/json\r\n")
BODY = b'{"text": "slowly, one byte at a time"}'


async def connect(feed) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", feed.adapter.port)


async def trickle(writer: asyncio.StreamWriter, data: bytes, interval: float = 0.05) -> None:
    """Send ``data`` a byte at a time, as a slow or malicious client does, until done or cut off."""
    try:
        for i in range(len(data)):
            writer.write(data[i:i + 1])
            await writer.drain()
            await asyncio.sleep(interval)
    except (ConnectionError, OSError):
        pass  # the server closed the connection: what these tests want


async def answer(reader: asyncio.StreamReader, within: float) -> int | None:
    """The status of the server's whole answer, or None if it closed the connection without one.

    Fails (TimeoutError) when it does neither within ``within`` seconds: the connection was held.
    """
    async def read() -> int | None:
        status_line = await reader.readline()
        if not status_line:
            return None
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)  # the body: the next answer starts after it
        return int(status_line.split()[1])

    try:
        return await asyncio.wait_for(read(), within)
    except (ConnectionError, asyncio.IncompleteReadError):
        return None


async def closed(reader: asyncio.StreamReader, within: float) -> None:
    """Wait until the server closes the connection; fails when it holds it beyond ``within`` seconds."""
    try:
        while await asyncio.wait_for(reader.read(4096), within):
            pass
    except ConnectionError:
        pass


async def test_a_trickled_body_is_408_and_its_event_is_not_delivered():
    async with serving(**SLOW) as feed:
        reader, writer = await connect(feed)
        writer.write(REQUEST_HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode())
        sender = asyncio.create_task(trickle(writer, BODY))  # ~2 s for the whole body
        started = time.perf_counter()
        try:
            status = await answer(reader, 1.5)
            assert status in (408, None) and time.perf_counter() - started < 1.5
            await closed(reader, 1.5)
        finally:
            sender.cancel()
            writer.close()
        assert feed.events == [] and feed.adapter.received == 0


@pytest.mark.parametrize("sent", [b"", REQUEST_HEAD], ids=["nothing", "headers-a-byte-at-a-time"])
async def test_a_connection_whose_headers_are_late_is_closed(sent):
    async with serving(**SLOW) as feed:
        reader, writer = await connect(feed)
        sender = asyncio.create_task(trickle(writer, sent))
        started = time.perf_counter()
        try:
            assert await answer(reader, 1.5) in (408, None)
            assert time.perf_counter() - started < 1.5
        finally:
            sender.cancel()
            writer.close()
        # a prompt client is still served
        assert (await feed.post("/rooms/console%3Ademo/transcript", json={"text": "hi"}))[0] == 200


async def test_a_keep_alive_connection_is_served_again_then_closed_when_idle():
    async with serving(**SLOW) as feed:
        reader, writer = await connect(feed)
        request = REQUEST_HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY
        for _ in range(2):  # each request gets its own header deadline
            writer.write(request)
            assert await answer(reader, 1) == 200
            await asyncio.sleep(0.3)
        await closed(reader, 1.5)
        writer.close()
        assert len(feed.events) == 2


async def until(condition, within: float = 2.0) -> None:
    deadline = time.perf_counter() + within
    while not condition():
        assert time.perf_counter() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_connections_over_the_cap_are_refused_without_starving_the_open_ones():
    async with serving(header_timeout=1.0, body_timeout=1.0, max_connections=3) as feed:
        good = await connect(feed)
        idle = [await connect(feed) for _ in range(2)]
        await until(lambda: feed.adapter.connections == 3)
        reader, writer = await connect(feed)
        started = time.perf_counter()
        assert await answer(reader, 0.8) in (503, None)  # refused, well before the header timeout
        assert time.perf_counter() - started < 0.5 and feed.adapter.refused_connections == 1
        writer.close()
        # the connection that was open before the flood is still served
        good[1].write(REQUEST_HEAD + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
        assert await answer(good[0], 1) == 200
        good[1].close()
        for r, w in idle:  # the idle ones time out, which frees their places
            await closed(r, 2)
            w.close()
        await until(lambda: feed.adapter.connections == 0)
        assert (await feed.post("/rooms/console%3Ademo/transcript", json={"text": "after"}))[0] == 200
        assert [e.text for e in feed.events] == ["slowly, one byte at a time", "after"]


@pytest.mark.parametrize("kwargs", [{"header_timeout": 0}, {"body_timeout": -1}, {"max_connections": 0}])
def test_limits_must_be_positive(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        FeedAdapter(TOKEN, routes=ROUTES, **kwargs)


# ---- rooms and text --------------------------------------------------------------------

async def test_a_room_the_console_does_not_serve_is_404_listing_the_known_ones():
    async with serving(known_rooms={"console": {"demo"}}) as feed:
        status, body = await feed.post("/rooms/console%3Anope/transcript", json={"text": "hi"})
        assert status == 404
        assert body["error"] == "no room 'console:nope': platform 'console' serves only console:demo"
        status, _ = await feed.post("/rooms/console%3Anope/viewers", json={"count": 3})
        assert status == 404 and feed.events == []
        assert (await feed.post("/rooms/console%3Ademo/transcript", json={"text": "hi"}))[0] == 200
        # a platform whose rooms are open-ended takes any room id
        assert (await feed.post("/rooms/telegram%3A-100999/transcript", json={"text": "hi"}))[0] == 200
        assert [e.room.key for e in feed.events] == ["console:demo", "telegram:-100999"]


async def test_lone_surrogates_are_repaired_and_counted(feed):
    status, body = await feed.post("/rooms/console%3Ademo/transcript", data=b'{"text": "\\ud800 hi"}',
                                   headers={"Content-Type": "application/json"})
    assert status == 200 and body["repaired"] == 1
    [event] = feed.events
    assert event.text == "\ufffd hi" and "repaired" in event.flags  # replaced by Adapter.emit
    status, body = await feed.post("/rooms/console%3Ademo/transcript", json={"text": "clean"})
    assert status == 200 and "repaired" not in body


def test_the_config_sets_the_limits_and_the_console_room():
    text = ("adapters:\n  console:\n    room: studio\n  feed:\n    enabled: true\n    port: 0\n"
            "    token: t\n    header_timeout: 2.5\n    body_timeout: 4\n    max_connections: 7\n")
    feed = configured_adapters(parse_config(text))[-1]
    assert (feed.header_timeout, feed.body_timeout, feed.max_connections) == (2.5, 4, 7)
    assert feed.known_rooms == {"console": {"studio"}}
    defaults = configured_adapters(parse_config("adapters:\n  feed:\n    enabled: true\n    token: t\n"))[-1]
    assert (defaults.header_timeout, defaults.body_timeout, defaults.max_connections) == (10, 10, 100)
    assert defaults.known_rooms == {"console": {"demo"}}


@pytest.mark.parametrize("key, value", [("header_timeout", 0), ("body_timeout", -1), ("max_connections", 0)])
def test_the_config_refuses_limits_that_are_not_positive(key, value):
    text = f"adapters:\n  feed:\n    enabled: true\n    token: t\n    {key}: {value}\n"
    with pytest.raises(ConfigError, match=f"config.yaml:5: adapters.feed.{key}: Input should be greater"):
        parse_config(text)


async def test_a_busy_port_is_a_clear_error():
    first = FeedAdapter(TOKEN, routes=ROUTES, port=0)
    first.bind(lambda e: asyncio.sleep(0))
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(first.ready.wait(), 5)
    second = FeedAdapter(TOKEN, routes=ROUTES, port=first.port)
    with pytest.raises(AdapterError, match=f"cannot listen on 127.0.0.1:{first.port}"):
        await second.run()
    await first.stop()
    await asyncio.wait_for(task, 5)


def test_a_token_is_required():
    with pytest.raises(AdapterError, match="LIVEROOM_FEED_TOKEN"):
        FeedAdapter("", routes=ROUTES)


async def test_through_a_real_runtime_the_store_records_transcripts_and_viewer_counts(runtime, room):
    """The router truncates and flags a long line; the store keeps the viewer count."""
    # ``room``: the console adapter, named "console", serving room console:test
    adapter = FeedAdapter(TOKEN, routes={"console": "console"}, port=0)
    runtime.router.attach(adapter)
    task = asyncio.create_task(adapter.run())
    await asyncio.wait_for(adapter.ready.wait(), 5)
    base = f"http://127.0.0.1:{adapter.port}/rooms/console%3Atest"
    try:
        async with aiohttp.ClientSession(headers=AUTH) as session:
            async with session.post(base + "/transcript", json={"text": "x" * 5000}) as resp:
                assert resp.status == 200
            async with session.post(base + "/viewers", json={"count": 42}) as resp:
                assert resp.status == 200
    finally:
        await adapter.stop()
        await asyncio.wait_for(task, 5)
    await asyncio.to_thread(runtime.store.flush)
    rows = list(runtime.store.iter_events(room="console:test"))
    by_kind = {row.kind: row for row in rows}
    assert set(by_kind) == {"transcript", "viewers"}
    assert by_kind["transcript"].text == "x" * runtime.config.limits.max_message_chars
    assert "truncated" in by_kind["transcript"].flags and by_kind["transcript"].role == "host"
    assert by_kind["viewers"].text == "42" and by_kind["viewers"].platform == "console"


async def test_when_the_store_cannot_record_the_feed_says_503_instead_of_accepting(runtime, room):
    """Issue 17: with the store's writer dead, a 200 {"accepted": 1} would be a lie."""
    runtime.store._queue.put(object())  # what a bug in the writer would meet: it stops
    runtime.store._writer.join(5)
    adapter = FeedAdapter(TOKEN, routes={"console": "console"}, port=0)
    runtime.router.attach(adapter)
    task = asyncio.create_task(adapter.run())
    await asyncio.wait_for(adapter.ready.wait(), 5)
    try:
        async with aiohttp.ClientSession(headers=AUTH) as session:
            async with session.post(f"http://127.0.0.1:{adapter.port}/rooms/console%3Atest/transcript",
                                    json={"text": "new blender"}) as resp:
                body = await resp.json()
                assert resp.status == 503 and "writer has stopped" in body["error"]
                assert resp.headers["Retry-After"] == "30"
    finally:
        await adapter.stop()
        await asyncio.wait_for(task, 5)
    assert runtime.router.stats.refused == 1 and runtime.router.stats.events == 0


async def test_the_runtime_stops_the_feed_when_the_console_user_quits(runtime):
    import io

    from adapters.console import ConsoleAdapter

    console = ConsoleAdapter(room="test", user="viewer1", stdin=io.StringIO("hello\n/quit\n"),
                             stdout=io.StringIO(), prompt=False)
    feed = FeedAdapter(TOKEN, routes={"console": "console"}, port=0)
    await asyncio.wait_for(runtime.serve([console, feed], handle_signals=False), 20)
    assert feed.ready.is_set()  # it did start, and then stopped with the console room


async def test_the_feed_keeps_serving_when_the_console_input_ends(runtime, caplog):
    """Issue 18: a bot run as a service (stdin at /dev/null) must not stop because its console saw EOF."""
    import io

    from adapters.console import ConsoleAdapter

    console = ConsoleAdapter(room="test", user="viewer1", stdin=io.StringIO("hello\n"),
                             stdout=io.StringIO(), prompt=False)  # its input ends after one line
    feed = FeedAdapter(TOKEN, routes={"console": "console"}, port=0)
    serving = asyncio.create_task(runtime.serve([console, feed], handle_signals=False))
    try:
        await asyncio.wait_for(feed.ready.wait(), 10)
        while "the room is closed" not in caplog.text:
            assert not serving.done()
            await asyncio.sleep(0.05)
        async with aiohttp.ClientSession(headers=AUTH) as session:
            async with session.post(f"http://127.0.0.1:{feed.port}/rooms/console%3Atest/transcript",
                                    json={"text": "the blender is on sale"}) as resp:
                assert resp.status == 200
        assert not serving.done()
    finally:
        await feed.stop()  # what a stop signal does
        await asyncio.wait_for(serving, 20)
    await asyncio.to_thread(runtime.store.flush)
    assert {row.kind for row in runtime.store.iter_events(room="console:test")} == {"chat", "transcript"}
