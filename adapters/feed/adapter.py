"""The feed adapter: a local HTTP endpoint that speech-to-text tools, caption
exporters and OBS plugins post the stream's content to.

    POST /rooms/{room}/transcript   {"text": "...", "ts"?: ISO 8601, "speaker"?: "..."}
                                    or a text/plain body (one line of speech per line)
    POST /rooms/{room}/viewers      {"count": 123, "ts"?: ISO 8601}
    GET  /health                    no token needed

``{room}`` is a room key ``platform:room_id`` (URL-encoded: ``console%3Ademo``,
``telegram%3A-100123``). The adapter is given which adapter serves each
platform (``routes``) and sets each event's ``source`` to it, so the event
belongs to the real room and replies go there; on a platform whose rooms are
fixed (``known_rooms``: the console serves one room) any other room is a 404.
Every POST needs ``Authorization: Bearer <token>``, compared in constant time;
the token is never logged. Events are delivered one at a time in arrival order
(a FIFO lock), and a request is answered once its events were handed to the
runtime, with ``"repaired": n`` when n posted events held characters no database
can store (``Adapter.emit`` replaces them).

Slow and idle clients cannot hold the endpoint: a connection must send each
request's headers within ``header_timeout`` seconds (or it is closed) and its
body within ``body_timeout`` (or it is answered 408), and connections beyond
``max_connections`` are answered 503 and closed at once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from datetime import datetime
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from aiohttp import web

from adapters.base import Adapter, AdapterError, SinkUnavailable
from adapters.model import (Event, Reply, Role, Room, TimeWindow, TranscriptEvent, User, ViewerCountEvent,
                            utcnow)
from adapters.net import is_loopback_host

__all__ = ["FeedAdapter", "PLATFORM", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_HEADER_TIMEOUT",
           "DEFAULT_BODY_TIMEOUT", "DEFAULT_MAX_CONNECTIONS"]

log = logging.getLogger(__name__)

PLATFORM = "feed"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds to send a request line and headers
DEFAULT_BODY_TIMEOUT = 10.0  # seconds to send a whole body
DEFAULT_MAX_CONNECTIONS = 100
_MAX_SPEAKER_CHARS = 64
_MAX_COUNT = 10**9

N = TypeVar("N", int, float)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def _positive(name: str, value: N) -> N:
    """``value``, refused when it is not positive: a zero timeout or cap would refuse every client."""
    if not value > 0:
        raise ValueError(f"the feed adapter's {name} must be positive, got {value!r}")
    return value


class _Gate:
    """The endpoint's open connections: at most ``max_connections``, each sending headers in time.

    aiohttp's server bounds neither: its only timer on a connection that never completes a
    request is the keep-alive one (an hour by default, and armed at connect only in recent
    versions), and it accepts every connection. So each connection passes through a
    `_Connection` in front of aiohttp's own protocol, and the app's `middleware` tells the gate
    when a request's headers are in (aiohttp runs middlewares once it has parsed them).
    """

    def __init__(self, *, header_timeout: float, max_connections: int) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.open: dict[asyncio.BaseTransport, _Connection] = {}
        self.refused = 0  # connections answered 503 because the others filled the cap

    def protocols(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """The protocol factory for ``loop.create_server``: aiohttp's ``inner``, behind the gate."""
        return lambda: _Connection(self, inner)

    @web.middleware
    async def middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """No header deadline while a request is handled (the body has its own); re-armed after,
        so a kept-alive connection must send its next request's headers in time as well."""
        transport = request.transport
        connection = self.open.get(transport) if transport is not None else None
        if connection is None:
            return await handler(request)
        connection.disarm()
        try:
            return await handler(request)
        finally:
            connection.arm()


_BUSY = json.dumps({"error": "the feed endpoint has too many open connections; retry shortly"}).encode()
_BUSY_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s"
                  % (len(_BUSY), _BUSY))


class _Connection(asyncio.Protocol):
    """One client connection: refused over the cap, closed when a request's headers are late.

    It forwards every protocol callback to aiohttp's protocol unchanged (parsing and flow
    control stay aiohttp's); a refused connection never reaches aiohttp at all.
    """

    def __init__(self, gate: _Gate, inner: Callable[[], asyncio.Protocol]) -> None:
        self._gate = gate
        self._make_inner = inner
        self._inner: asyncio.Protocol | None = None  # None: refused (or not yet connected)
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if len(self._gate.open) >= self._gate.max_connections:
            self._gate.refused += 1
            transport.write(_BUSY_RESPONSE)
            transport.close()
            return
        self._transport = transport
        self._gate.open[transport] = self
        self.arm()
        self._inner = self._make_inner()
        self._inner.connection_made(transport)

    def arm(self) -> None:
        """Start the header deadline: the next request's headers must arrive within the timeout."""
        self.disarm()
        if self._transport is not None and not self._transport.is_closing():
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._gate.header_timeout, self._transport.close)

    def disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        if self._transport is not None:
            self._gate.open.pop(self._transport, None)
            self._transport = None
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class FeedAdapter(Adapter):
    """Serves the feed endpoint until ``stop()``. ``port`` is the bound port once ``ready`` is set."""

    platform = PLATFORM
    #: It only feeds the rooms of other adapters: the runtime stops it once they have all ended.
    auxiliary = True

    def __init__(
        self,
        token: str,
        *,
        routes: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 8765,
        name: str | None = None,
        host_name: str = "host",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        known_rooms: Mapping[str, set[str]] | None = None,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        window: TimeWindow | None = None,
    ) -> None:
        """``known_rooms``: platform → the room ids it serves, for platforms whose rooms are fixed
        (the console's one room); a platform not in it (Discord, Telegram) takes any room id."""
        super().__init__(name)
        if not token:
            raise AdapterError("the feed adapter needs a token (adapters.feed.token: ${LIVEROOM_FEED_TOKEN})")
        self._token = token.encode("utf-8")
        self.routes = dict(routes)
        self.known_rooms = {platform: set(rooms) for platform, rooms in (known_rooms or {}).items()}
        self.host = host
        self.port = port
        self.host_name = host_name
        self.max_body_bytes = max_body_bytes
        self.window = window or TimeWindow()
        self.header_timeout = _positive("header_timeout", header_timeout)
        self.body_timeout = _positive("body_timeout", body_timeout)
        self.max_connections = _positive("max_connections", max_connections)
        self._gate = _Gate(header_timeout=self.header_timeout, max_connections=self.max_connections)
        self.ready = asyncio.Event()
        self.received = 0  # events handed to the runtime
        self.rejected = 0  # requests answered with a 4xx
        self._stopped = asyncio.Event()
        self._order = asyncio.Lock()  # FIFO: events reach the runtime in arrival order

    def __repr__(self) -> str:  # never show the token
        return f"FeedAdapter(name={self.name!r}, host={self.host!r}, port={self.port})"

    @property
    def connections(self) -> int:
        """Client connections open now (refused ones never count)."""
        return len(self._gate.open)

    @property
    def refused_connections(self) -> int:
        """Connections answered 503 because ``max_connections`` others were open."""
        return self._gate.refused

    # ---- lifecycle -------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[self._gate.middleware])
        app.router.add_get("/health", self._health)
        # `.+`: a room id may itself contain a slash (a Telegram forum topic, telegram:-100123/7).
        app.router.add_post(r"/rooms/{room:.+}/transcript", self._transcript)
        app.router.add_post(r"/rooms/{room:.+}/viewers", self._viewers)
        return app

    async def run(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        listener: asyncio.Server | None = None
        try:
            listener = await self._listen(runner)
            self.port = listener.sockets[0].getsockname()[1]
            if not is_loopback_host(self.host):
                log.warning("the feed endpoint listens on %s, beyond this machine: the bearer token "
                            "travels in plain HTTP unless a TLS proxy is in front", self.host)
            log.info("feed endpoint on http://%s:%d (platforms: %s)", self.host, self.port,
                     ", ".join(sorted(self.routes)) or "none")
            self.ready.set()
            await self._stopped.wait()
        finally:
            if listener is not None:
                listener.close()  # no new connections; runner.cleanup() closes the open ones
            await runner.cleanup()

    async def _listen(self, runner: web.AppRunner) -> asyncio.Server:
        """Listen with aiohttp's protocol behind the connection gate.

        The socket is opened here rather than by ``web.TCPSite``, whose protocol factory is
        aiohttp's alone: the gate must see each connection first (see `_Gate`).
        """
        assert runner.server is not None, "runner.setup() first"
        loop = asyncio.get_running_loop()
        try:
            return await loop.create_server(self._gate.protocols(runner.server), self.host, self.port)
        except OSError as exc:
            raise AdapterError(f"the feed endpoint cannot listen on {self.host}:{self.port}: "
                               f"{exc.strerror or exc} (adapters.feed.host / adapters.feed.port)") from None

    async def stop(self) -> None:
        self._stopped.set()

    async def send(self, reply: Reply) -> str | None:
        # Feed events carry the serving adapter's name as source, so replies never come here.
        log.warning("the feed adapter cannot post replies (room %s); reply dropped", reply.room.key)
        return None

    # ---- handlers --------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "platforms": sorted(self.routes)})

    async def _transcript(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._transcript_events)

    async def _viewers(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._viewer_events)

    async def _handle(self, request: web.Request, build: Any) -> web.Response:
        if not self._authorised(request):
            self.rejected += 1
            return _error(401, "missing or wrong token: send 'Authorization: Bearer <token>'",
                          **{"WWW-Authenticate": 'Bearer realm="liveroom-feed"'})
        try:
            room, source = self._room(request.match_info["room"])
            body = await self._body_in_time(request)
            events = build(request, body, room, source)
        except _BadRequest as exc:
            self.rejected += 1
            response = _error(exc.status, exc.message)
            if exc.status == 408:
                response.force_close()  # the rest of a late body is not worth waiting for
            return response
        async with self._order:  # one request at a time: the counter's difference is this request's
            repaired_before = self.repaired
            try:
                for event in events:
                    await self.emit(event)
                    self.received += 1
            except SinkUnavailable as exc:  # say so; a 200 would tell the sender its events are kept
                log.error("feed: %s", exc)
                return _error(503, f"the bot cannot record events now ({exc}); retry later",
                              **{"Retry-After": "30"})
        answer: dict[str, Any] = {"accepted": len(events), "room": room.key,
                                  "ids": [e.event_id for e in events]}
        if self.repaired > repaired_before:
            answer["repaired"] = self.repaired - repaired_before
        return web.json_response(answer)

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode("utf-8"), self._token)

    def _room(self, key: str) -> tuple[Room, str]:
        platform, sep, room_id = key.partition(":")
        if not sep or not platform or not room_id:
            raise _BadRequest(400, f"room {key[:80]!r} must be a room key 'platform:room_id', "
                                   "e.g. console:demo or telegram:-100123 (URL-encoded)")
        source = self.routes.get(platform)
        if source is None:
            known = ", ".join(sorted(self.routes)) or "none"
            raise _BadRequest(404, f"no adapter serves platform {platform[:40]!r} (configured: {known})")
        rooms = self.known_rooms.get(platform)
        if rooms is not None and room_id not in rooms:
            known = ", ".join(sorted(f"{platform}:{r}" for r in rooms)) or "none"
            raise _BadRequest(404, f"no room {key[:80]!r}: platform {platform!r} serves only {known}")
        return Room(platform, room_id, name=room_id), source

    async def _body_in_time(self, request: web.Request) -> bytes:
        """The body, or 408 when the client takes over ``body_timeout`` to send it: a client
        trickling a byte a second would otherwise hold its connection and handler indefinitely."""
        try:
            async with asyncio.timeout(self.body_timeout):
                return await self._body(request)
        except TimeoutError:
            raise _BadRequest(408, f"the body took over {self.body_timeout:g} s to arrive") from None

    async def _body(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self.max_body_bytes:
            raise _BadRequest(413, f"body is {length} bytes, over the {self.max_body_bytes}-byte limit")
        chunks: list[bytes] = []
        size = 0
        while True:  # bounded: a chunked body without a length is cut off at the limit
            chunk = await request.content.read(self.max_body_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BadRequest(413, f"body is over the {self.max_body_bytes}-byte limit")
        return b"".join(chunks)

    # ---- payloads --------------------------------------------------------------------

    def _json(self, body: bytes) -> dict[str, Any]:
        try:
            value = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _BadRequest(400, f"body is not valid UTF-8 (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise _BadRequest(400, f"body is not valid JSON: {exc.msg} at line {exc.lineno} "
                                   f"column {exc.colno}") from None
        if not isinstance(value, dict):
            raise _BadRequest(400, "body must be a JSON object")
        return value

    def _ts(self, record: Mapping[str, Any]) -> datetime:
        if record.get("ts") is None:
            return utcnow()
        value = record["ts"]
        if not isinstance(value, str):
            raise _BadRequest(400, "field 'ts' must be an ISO 8601 string, e.g. 2026-11-20T20:01:03+08:00")
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            raise _BadRequest(400, f"field 'ts' is not ISO 8601: {value[:40]!r}") from None
        if ts.tzinfo is None:
            raise _BadRequest(400, "field 'ts' has no UTC offset (add +08:00, Z, ...)")
        problem = self.window.problem(ts)
        if problem is not None:
            raise _BadRequest(400, f"field 'ts': {problem}")
        return ts

    def _speaker(self, platform: str, record: Mapping[str, Any]) -> User:
        name = record.get("speaker")
        if name is None:
            name = self.host_name
        elif not isinstance(name, str) or not name.strip():
            raise _BadRequest(400, "field 'speaker' must be a non-empty string")
        name = name.strip()[:_MAX_SPEAKER_CHARS]
        return User(platform, name, name, Role.HOST)

    @staticmethod
    def _kind(request: web.Request) -> str:
        ctype = request.content_type  # lower-case, without parameters
        if ctype == "application/json" or ctype.endswith("+json"):
            return "json"
        if ctype == "text/plain":
            return "text"
        raise _BadRequest(415, f"Content-Type {ctype or '(none)'!r} is not supported: send "
                               "application/json or text/plain")

    def _transcript_events(self, request: web.Request, body: bytes, room: Room,
                           source: str) -> list[Event]:
        if self._kind(request) == "text":
            try:
                text = body.decode(request.charset or "utf-8")
            except (UnicodeDecodeError, LookupError):
                raise _BadRequest(400, "text/plain body is not valid text in its charset "
                                       "(default UTF-8)") from None
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if not lines:
                raise _BadRequest(400, "text/plain body is empty: send one line of speech per line")
            ts, author = utcnow(), self._speaker(room.platform, {})
            return [self._line(room, source, author, ts, line) for line in lines]
        record = self._json(body)
        text = record.get("text")
        if text is None:
            raise _BadRequest(400, "field 'text' is missing")
        if not isinstance(text, str) or not text.strip():
            raise _BadRequest(400, "field 'text' must be a non-empty string")
        return [self._line(room, source, self._speaker(room.platform, record), self._ts(record),
                           text.strip())]

    def _line(self, room: Room, source: str, author: User, ts: datetime, text: str) -> Event:
        return TranscriptEvent(event_id=self.next_id("t"), room=room, author=author, ts=ts,
                               text=text, source=source)

    def _viewer_events(self, request: web.Request, body: bytes, room: Room,
                       source: str) -> list[Event]:
        if self._kind(request) != "json":
            raise _BadRequest(415, "viewer counts are JSON: {\"count\": 123}")
        record = self._json(body)
        if "count" not in record:
            raise _BadRequest(400, "field 'count' is missing")
        count = record["count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= _MAX_COUNT:
            raise _BadRequest(400, "field 'count' must be a whole number >= 0")
        author = User(room.platform, self.host_name, self.host_name, Role.HOST)
        return [ViewerCountEvent(event_id=self.next_id("v"), room=room, author=author,
                                 ts=self._ts(record), count=count, source=source)]

