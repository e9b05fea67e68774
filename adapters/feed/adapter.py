"""The feed adapter: a local HTTP endpoint that speech-to-text tools, caption
exporters and OBS plugins post the stream's content to.

    POST /rooms/{room}/transcript   {"text": "...", "ts"?: ISO 8601, "speaker"?: "..."}
                                    or a text/plain body (one line of speech per line)
    POST /rooms/{room}/viewers      {"count": 123, "ts"?: ISO 8601}
    GET  /health                    no token needed

``{room}`` is a room key ``platform:room_id`` (URL-encoded: ``console%3Ademo``,
``telegram%3A-100123``). The adapter is given which adapter serves each
platform (``routes``) and sets each event's ``source`` to it, so the event
belongs to the real room and replies go there. Every POST needs
``Authorization: Bearer <token>``, compared in constant time; the token is
never logged. Events are delivered one at a time in arrival order (a FIFO
lock), and a request is answered once its events were handed to the runtime.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from datetime import datetime
from typing import Any, Mapping

from aiohttp import web

from adapters.base import Adapter, AdapterError
from adapters.model import Event, Reply, Role, Room, TranscriptEvent, User, ViewerCountEvent, utcnow
from adapters.net import is_loopback_host

__all__ = ["FeedAdapter", "PLATFORM", "DEFAULT_MAX_BODY_BYTES"]

log = logging.getLogger(__name__)

PLATFORM = "feed"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
_MAX_SPEAKER_CHARS = 64
_MAX_COUNT = 10**9


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


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
    ) -> None:
        super().__init__(name)
        if not token:
            raise AdapterError("the feed adapter needs a token (adapters.feed.token: ${LIVEROOM_FEED_TOKEN})")
        self._token = token.encode("utf-8")
        self.routes = dict(routes)
        self.host = host
        self.port = port
        self.host_name = host_name
        self.max_body_bytes = max_body_bytes
        self.ready = asyncio.Event()
        self.received = 0  # events handed to the runtime
        self.rejected = 0  # requests answered with a 4xx
        self._stopped = asyncio.Event()
        self._order = asyncio.Lock()  # FIFO: events reach the runtime in arrival order

    def __repr__(self) -> str:  # never show the token
        return f"FeedAdapter(name={self.name!r}, host={self.host!r}, port={self.port})"

    # ---- lifecycle -------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        app.router.add_get("/health", self._health)
        # `.+`: a room id may itself contain a slash (a Telegram forum topic, telegram:-100123/7).
        app.router.add_post(r"/rooms/{room:.+}/transcript", self._transcript)
        app.router.add_post(r"/rooms/{room:.+}/viewers", self._viewers)
        return app

    async def run(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except OSError as exc:
                raise AdapterError(f"the feed endpoint cannot listen on {self.host}:{self.port}: "
                                   f"{exc.strerror or exc} (adapters.feed.host / adapters.feed.port)") from None
            self.port = runner.addresses[0][1]
            if not is_loopback_host(self.host):
                log.warning("the feed endpoint listens on %s, beyond this machine: the bearer token "
                            "travels in plain HTTP unless a TLS proxy is in front", self.host)
            log.info("feed endpoint on http://%s:%d (platforms: %s)", self.host, self.port,
                     ", ".join(sorted(self.routes)) or "none")
            self.ready.set()
            await self._stopped.wait()
        finally:
            await runner.cleanup()

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
            body = await self._body(request)
            events = build(request, body, room, source)
        except _BadRequest as exc:
            self.rejected += 1
            return _error(exc.status, exc.message)
        async with self._order:
            for event in events:
                await self.emit(event)
                self.received += 1
        return web.json_response({"accepted": len(events), "room": room.key,
                                  "ids": [e.event_id for e in events]})

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
        return Room(platform, room_id, name=room_id), source

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

    @staticmethod
    def _ts(record: Mapping[str, Any]) -> datetime:
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

