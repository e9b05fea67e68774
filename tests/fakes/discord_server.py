"""A loopback Discord for tests: the REST API and the gateway WebSocket, over real HTTP/WebSocket.

discord.py talks to it unchanged once pointed at it (`DiscordAdapter(api_base=fake.api_base,
gateway_url=fake.gateway_url)`). It plays a guild with a text channel, a thread,
roles and members (`GUILD`), optionally a second one on another shard (`OTHER_GUILD`),
and a single valid token.

- REST: ``GET /users/@me`` (401 for any other token), ``GET /oauth2/applications/@me``,
  ``GET /gateway[/bot]`` (its ``shards``, ``max_concurrency`` and url: the attributes of
  those names, the url ``bot_gateway_url``), bulk overwrite of global and guild commands
  (recorded in ``commands``), ``POST /channels/{id}/messages`` (returns a message object),
  reactions, interaction callbacks, webhook followups and ``@original`` edits/deletes.
  Every request is recorded in ``requests`` with its arrival time (``time.monotonic``).
  Responses carry ``Content-Type: application/json`` exactly: discord.py decodes JSON
  only on that exact header.
- Gateway: HELLO, heartbeat ACKs, IDENTIFY → READY + GUILD_CREATE, RESUME → RESUMED,
  `push_event` dispatches any event to the connected client, `drop` cuts the socket.
  Frames are plain JSON text (discord.py only decompresses binary frames).
- Sharding: an IDENTIFY with ``shard: [id, count]`` gets a READY carrying ``shard`` and
  only the guilds (of ``guilds``) that shard owns (`shard_of`, Discord's rule), and
  `push_event` sends an event for a guild only to its shard's connection (events without
  a guild, DMs, to shard 0). A shard id outside ``range(count)`` is closed with 4010.
  Connections that identified without a shard get every event, as before.
- ``allowed_intents``: IDENTIFY asking for more privileged intents than these is
  closed with 4014, as Discord does when the portal switches are off.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import unquote

from aiohttp import WSMsgType, web

__all__ = ["FakeDiscord", "Recorded", "GUILD", "GUILD_ID", "CHANNEL_ID", "THREAD_ID", "BOT_ID", "APP_ID",
           "TOKEN", "HOST_ID", "MOD_ID", "VIEWER_ID", "HOST_ROLE_ID", "MOD_ROLE_ID",
           "SYSTEM_CHANNEL_ID", "OTHER_GUILD", "OTHER_GUILD_ID", "OTHER_CHANNEL_ID", "shard_of", "user_payload"]

TOKEN = "fake-bot-token"
BOT_ID = "900000000000000001"
APP_ID = "900000000000000001"
GUILD_ID = "800000000000000001"
CHANNEL_ID = "800000000000000010"
THREAD_ID = "800000000000000011"
SYSTEM_CHANNEL_ID = "800000000000000012"
HOST_ROLE_ID = "800000000000000100"
MOD_ROLE_ID = "800000000000000101"
HOST_ID = "700000000000000001"
MOD_ID = "700000000000000002"
VIEWER_ID = "700000000000000003"
# With two shards, GUILD_ID falls on shard 1 and OTHER_GUILD_ID on shard 0 (see `shard_of`).
OTHER_GUILD_ID = "810000000000000001"
OTHER_CHANNEL_ID = "810000000000000010"
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content


def shard_of(guild_id: str | int, shard_count: int) -> int:
    """The shard that owns a guild: Discord's ``(guild_id >> 22) % shard_count``."""
    return (int(guild_id) >> 22) % shard_count


_client_ids = itertools.count(1)


def snowflake() -> str:
    """A fresh id for something a test makes on Discord's side (a message, an interaction): unique in the run."""
    return str(1240000000000000000 + next(_client_ids))


def user_payload(uid: str, username: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": uid, "username": username, "global_name": username.title(), "discriminator": "0",
            "avatar": None, "bot": bot}


def message_payload(content: str, *, author: str = MOD_ID, name: str = "moritz",
                    roles: Sequence[str] = (MOD_ROLE_ID,),
                    channel: str = CHANNEL_ID, guild: str = GUILD_ID) -> dict[str, Any]:
    """A chat line by ``author`` (holding ``roles``) in ``channel`` of ``guild``, as MESSAGE_CREATE carries it."""
    return {"id": snowflake(), "channel_id": channel, "guild_id": guild, "type": 0, "content": content,
            "author": user_payload(author, name),
            "member": {"roles": list(roles), "nick": None},
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "tts": False,
            "mention_everyone": False, "timestamp": "2024-05-01T12:00:00+00:00", "edited_timestamp": None}


def interaction_payload(name: str, options: Sequence[dict[str, Any]] = (), *, guild: str = GUILD_ID,
                        channel: str = CHANNEL_ID) -> dict[str, Any]:
    """A viewer running the slash command ``name`` in ``channel`` of ``guild`` (INTERACTION_CREATE)."""
    return {"id": snowflake(), "application_id": APP_ID, "type": 2, "token": f"itoken-{snowflake()}", "version": 1,
            "guild_id": guild, "channel_id": channel, "locale": "en-US", "entitlements": [],
            "attachment_size_limit": 10485760, "app_permissions": "0", "context": 0,
            "channel": {"id": channel, "type": 0, "name": "live-chat", "guild_id": guild},
            "member": {"user": user_payload(VIEWER_ID, "vic"), "roles": [], "nick": None, "permissions": "3072",
                       "joined_at": "2024-01-01T00:00:00+00:00", "deaf": False, "mute": False, "flags": 0},
            "data": {"id": snowflake(), "name": name, "type": 1, "options": list(options)}}


GUILD: dict[str, Any] = {
    "id": GUILD_ID, "name": "Live Shop", "owner_id": HOST_ID, "unavailable": False, "large": False,
    "member_count": 4, "system_channel_id": SYSTEM_CHANNEL_ID, "features": [], "emojis": [], "stickers": [],
    "presences": [], "voice_states": [], "stage_instances": [], "guild_scheduled_events": [],
    "soundboard_sounds": [], "icon": None, "preferred_locale": "en-US", "verification_level": 0,
    "explicit_content_filter": 0, "default_message_notifications": 0, "mfa_level": 0, "nsfw_level": 0,
    "premium_tier": 0, "joined_at": "2024-01-01T00:00:00+00:00",
    "roles": [
        {"id": GUILD_ID, "name": "@everyone", "permissions": str(1 << 10 | 1 << 11), "position": 0,
         "color": 0, "hoist": False, "managed": False, "mentionable": False},
        {"id": HOST_ROLE_ID, "name": "streamer", "permissions": "0", "position": 2,
         "color": 0, "hoist": False, "managed": False, "mentionable": False},
        {"id": MOD_ROLE_ID, "name": "Mod", "permissions": "0", "position": 1,
         "color": 0, "hoist": False, "managed": False, "mentionable": False},
    ],
    "channels": [
        {"id": CHANNEL_ID, "type": 0, "name": "live-chat", "position": 0, "guild_id": GUILD_ID,
         "permission_overwrites": [], "nsfw": False, "parent_id": None},
        {"id": SYSTEM_CHANNEL_ID, "type": 0, "name": "welcome", "position": 1, "guild_id": GUILD_ID,
         "permission_overwrites": [], "nsfw": False, "parent_id": None},
    ],
    "threads": [
        {"id": THREAD_ID, "type": 11, "name": "product questions", "guild_id": GUILD_ID, "parent_id": CHANNEL_ID,
         "owner_id": HOST_ID, "message_count": 0, "member_count": 1, "rate_limit_per_user": 0,
         "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "locked": False,
                             "archive_timestamp": "2024-01-01T00:00:00+00:00"}},
    ],
    "members": [
        {"user": user_payload(BOT_ID, "liveroom", bot=True), "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
         "deaf": False, "mute": False, "flags": 0},
        {"user": user_payload(HOST_ID, "hana"), "roles": [HOST_ROLE_ID], "joined_at": "2024-01-01T00:00:00+00:00",
         "deaf": False, "mute": False, "flags": 0},
        {"user": user_payload(MOD_ID, "moritz"), "roles": [MOD_ROLE_ID], "joined_at": "2024-01-01T00:00:00+00:00",
         "deaf": False, "mute": False, "flags": 0},
        {"user": user_payload(VIEWER_ID, "vic"), "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
         "deaf": False, "mute": False, "flags": 0},
    ],
}

# A second, plainer guild: one text channel, the bot and a viewer, owned by the host.
OTHER_GUILD: dict[str, Any] = {
    **GUILD, "id": OTHER_GUILD_ID, "name": "Night Market", "member_count": 2, "system_channel_id": None,
    "roles": [{**GUILD["roles"][0], "id": OTHER_GUILD_ID}],
    "channels": [{"id": OTHER_CHANNEL_ID, "type": 0, "name": "stalls", "position": 0, "guild_id": OTHER_GUILD_ID,
                  "permission_overwrites": [], "nsfw": False, "parent_id": None}],
    "threads": [],
    "members": [GUILD["members"][0], GUILD["members"][3]],
}


@dataclass(frozen=True, slots=True)
class Recorded:
    """One REST request as the fake saw it."""

    method: str
    path: str  # without the /api/v10 prefix, percent-decoded
    json: Any
    at: float  # time.monotonic() on arrival
    query: dict[str, str] = field(default_factory=dict)


class FakeDiscord:
    """``async with FakeDiscord() as fake:``; point the adapter at ``fake.api_base`` and ``fake.gateway_url``."""

    def __init__(self, *, token: str = TOKEN, allowed_intents: int = PRIVILEGED_INTENTS,
                 heartbeat_interval_ms: int = 41250, guilds: Sequence[dict[str, Any]] = (GUILD,),
                 shards: int = 1, max_concurrency: int = 1) -> None:
        self.token = token
        self.allowed_intents = allowed_intents
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.guilds = list(guilds)
        self.shards = shards  # what GET /gateway/bot recommends
        self.max_concurrency = max_concurrency  # IDENTIFYs allowed per 5 s, as GET /gateway/bot says
        self.bot_gateway_url: str | None = None  # the url GET /gateway/bot gives; None: this fake's gateway
        self.requests: list[Recorded] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id → last bulk overwrite
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._seq = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._connections: dict[web.WebSocketResponse, Any] = {}  # socket → its transport, for `kill`
        self._shard: dict[web.WebSocketResponse, tuple[int, int]] = {}  # socket → (shard id, count)
        self._session_shard: dict[str, tuple[int, int]] = {}  # session id → (shard id, count), for RESUME
        self._sessions = 0  # READY or RESUMED sent
        self._session_change = asyncio.Condition()
        self._hanging = asyncio.Event()
        self._released = asyncio.Event()  # set at close: stalled requests end instead of waiting for ever
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ---- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> "FakeDiscord":
        app = web.Application()
        self._routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def kill(self) -> None:
        """The server process dies: the listener closes and every gateway connection is reset, no close frame."""
        self._released.set()
        for transport in list(self._connections.values()):
            transport.abort()
        await self.__aexit__(None, None, None)

    async def __aexit__(self, *exc: Any) -> None:
        self._released.set()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway-ws"

    # ---- test controls -------------------------------------------------------------------

    async def wait_sessions(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` sessions were established (READY or RESUMED) in total."""
        async with self._session_change:
            await asyncio.wait_for(self._session_change.wait_for(lambda: self._sessions >= count), timeout)

    async def push_event(self, t: str, d: dict[str, Any]) -> None:
        """Dispatch one gateway event (op 0) to every connected client; of sharded ones, to its guild's shard."""
        guild_id = d.get("guild_id") or (d.get("id") if t in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE")
                                         else None)
        for ws in list(self._sockets):
            shard = self._shard.get(ws)
            if shard is None or shard[0] == (shard_of(guild_id, shard[1]) if guild_id else 0):
                await self._dispatch(ws, t, d)

    async def drop(self, code: int = 4000) -> None:
        """Cut every gateway connection, as Discord does when it asks a client to resume."""
        for ws in list(self._sockets):
            await ws.close(code=code)

    def hang(self) -> None:
        """From now on nothing is answered: REST requests wait for ever, the gateway stops reading (no
        heartbeat ACK, no reply to a close frame) yet keeps its connections open: a stalled server."""
        self._hanging.set()

    async def _stalled(self) -> bool:
        """After `hang`: wait until the server closes, then True (the caller gives up on the request)."""
        if not self._hanging.is_set():
            return False
        await self._released.wait()
        return True

    def posted(self, path_prefix: str = "/channels/") -> list[Recorded]:
        """Recorded POSTs under ``path_prefix`` (default: channel messages)."""
        return [r for r in self.requests if r.method == "POST" and r.path.startswith(path_prefix)]

    def next_id(self) -> str:
        return str(950000000000000000 + next(self._ids))

    # ---- REST ----------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        api = "/api/v10"
        app.router.add_get("/gateway-ws", self._gateway)
        app.router.add_get(api + "/gateway", self._get_gateway)
        app.router.add_get(api + "/gateway/bot", self._get_gateway)
        app.router.add_get(api + "/users/@me", self._get_me)
        app.router.add_get(api + "/oauth2/applications/@me", self._get_application)
        app.router.add_put(api + "/applications/{app}/commands", self._put_commands)
        app.router.add_put(api + "/applications/{app}/guilds/{guild}/commands", self._put_commands)
        app.router.add_post(api + "/channels/{channel}/messages", self._post_message)
        app.router.add_put(api + "/channels/{channel}/messages/{message}/reactions/{emoji}/@me", self._empty)
        app.router.add_post(api + "/interactions/{id}/{token}/callback", self._callback)
        app.router.add_post(api + "/webhooks/{app}/{token}", self._followup)
        app.router.add_patch(api + "/webhooks/{app}/{token}/messages/@original", self._edit_original)
        app.router.add_delete(api + "/webhooks/{app}/{token}/messages/@original", self._empty)

    @staticmethod
    def _json(payload: Any, status: int = 200) -> web.Response:
        return web.Response(status=status, body=json.dumps(payload).encode(),
                            headers={"Content-Type": "application/json"})

    async def _record(self, request: web.Request) -> Recorded:
        if await self._stalled():
            raise web.HTTPBadGateway()
        body = await request.read()
        path = unquote(request.path.removeprefix("/api/v10"))
        rec = Recorded(request.method, path, json.loads(body) if body else None, time.monotonic(),
                       dict(request.query))
        self.requests.append(rec)
        return rec

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _get_gateway(self, request: web.Request) -> web.Response:
        await self._record(request)
        return self._json({"url": self.bot_gateway_url or self.gateway_url, "shards": self.shards,
                           "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                                   "max_concurrency": self.max_concurrency}})

    async def _get_me(self, request: web.Request) -> web.Response:
        await self._record(request)
        if not self._authorized(request):
            return self._json({"message": "401: Unauthorized", "code": 0}, 401)
        return self._json(user_payload(BOT_ID, "liveroom", bot=True))

    async def _get_application(self, request: web.Request) -> web.Response:
        await self._record(request)
        return self._json({"id": APP_ID, "name": "liveroom", "icon": None, "description": "", "bot_public": True,
                           "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": 0,
                           "owner": user_payload(HOST_ID, "hana"), "team": None, "summary": ""})

    async def _put_commands(self, request: web.Request) -> web.Response:
        rec = await self._record(request)
        scope = request.match_info.get("guild", "global")
        self.commands[scope] = rec.json
        return self._json([{**c, "id": self.next_id(), "application_id": APP_ID, "version": "1",
                            "default_member_permissions": None, "dm_permission": True, "nsfw": False,
                            **({"guild_id": scope} if scope != "global" else {})} for c in rec.json])

    async def _post_message(self, request: web.Request) -> web.Response:
        rec = await self._record(request)
        return self._json(self._message(request.match_info["channel"], rec.json))

    async def _empty(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(status=204)

    async def _callback(self, request: web.Request) -> web.Response:
        rec = await self._record(request)
        kind = rec.json.get("type")
        data = rec.json.get("data") or {}
        message = self._message(CHANNEL_ID, data)
        return self._json({
            "interaction": {"id": request.match_info["id"], "type": 2, "response_message_id": message["id"],
                            "response_message_loading": kind == 5,
                            "response_message_ephemeral": bool(int(data.get("flags", 0)) & 64)},
            "resource": {"type": kind, "message": message},
        })

    async def _followup(self, request: web.Request) -> web.Response:
        rec = await self._record(request)
        return self._json(self._message(CHANNEL_ID, rec.json, webhook_id=request.match_info["app"]))

    async def _edit_original(self, request: web.Request) -> web.Response:
        rec = await self._record(request)
        return self._json(self._message(CHANNEL_ID, rec.json, webhook_id=request.match_info["app"]))

    def _message(self, channel_id: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        message = {
            "id": self.next_id(), "channel_id": channel_id, "author": user_payload(BOT_ID, "liveroom", bot=True),
            "content": body.get("content", ""), "timestamp": "2024-01-01T00:00:00+00:00", "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": [], "pinned": False, "type": 19 if body.get("message_reference") else 0,
            "flags": int(body.get("flags", 0) or 0), **extra,
        }
        if body.get("message_reference"):
            message["message_reference"] = body["message_reference"]
        return message

    # ---- gateway -------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self._connections[ws] = request.transport
        try:
            await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                                          "s": None, "t": None}))
            async for msg in ws:
                if await self._stalled():  # a client's close frame included
                    break
                if msg.type is not WSMsgType.TEXT:
                    break
                await self._on_client_frame(ws, json.loads(msg.data))
        finally:
            self._sockets.remove(ws)
            self._connections.pop(ws, None)
            self._shard.pop(ws, None)
        return ws

    async def _on_client_frame(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == 1:  # heartbeat
            await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
        elif op == 2:
            await self._identify(ws, d)
        elif op == 6:
            self.resumes.append(d)
            shard = self._session_shard.get(d.get("session_id"))
            if shard is not None:
                self._shard[ws] = shard
            await self._dispatch(ws, "RESUMED", {})
            await self._session_started()

    async def _identify(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        self.identifies.append(d)
        if d.get("token") != self.token:
            await ws.close(code=4004)
            return
        asked = int(d.get("intents", 0)) & PRIVILEGED_INTENTS
        if asked & ~self.allowed_intents:
            await ws.close(code=4014)
            return
        shard = (int(d["shard"][0]), int(d["shard"][1])) if d.get("shard") is not None else None
        if shard is not None and not 0 <= shard[0] < shard[1]:
            await ws.close(code=4010)  # invalid shard
            return
        guilds = [g for g in self.guilds if shard is None or shard_of(g["id"], shard[1]) == shard[0]]
        session_id = f"session-{len(self.identifies)}"
        if shard is not None:
            self._shard[ws] = self._session_shard[session_id] = shard
        await self._dispatch(ws, "READY", {
            "v": 10, "user": user_payload(BOT_ID, "liveroom", bot=True),
            "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
            "session_id": session_id, "resume_gateway_url": self.gateway_url,
            "application": {"id": APP_ID, "flags": 0}, "private_channels": [], "relationships": [],
            **({"shard": list(shard)} if shard is not None else {}),
        })
        for guild in guilds:
            await self._dispatch(ws, "GUILD_CREATE", guild)
        await self._session_started()

    async def _session_started(self) -> None:
        async with self._session_change:
            self._sessions += 1
            self._session_change.notify_all()

    async def _dispatch(self, ws: web.WebSocketResponse, t: str, d: dict[str, Any]) -> None:
        self._seq += 1
        await ws.send_str(json.dumps({"op": 0, "s": self._seq, "t": t, "d": d}))
