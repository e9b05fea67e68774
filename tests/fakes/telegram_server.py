"""A loopback Telegram Bot API server for tests: real HTTP, real long polling.

It speaks the methods python-telegram-bot calls to start, poll and reply
(``getMe``, ``deleteWebhook``, ``getUpdates``, ``sendMessage``,
``editMessageReplyMarkup``, ``answerCallbackQuery``, ``getChatAdministrators``,
``setMyCommands``, ...), so the real library is exercised end to end.
Unknown methods are logged and answered ``ok: false`` with 404, so a test sees
what it is missing.

- ``push_update(dict)`` queues an update (``update_id`` is filled in); a pending
  ``getUpdates`` long poll returns at once. ``offset`` confirms updates exactly
  as Telegram does: updates below it are forgotten.
- ``requests`` records every call (method, params, monotonic time);
  ``calls(method)`` filters them.
- A token other than ``token`` gets 401 Unauthorized.
- ``fail_get_updates(n, mode)`` makes the next ``n`` getUpdates calls answer 502
  (``mode="502"``) or drop the connection (``mode="drop"``) *after* their batch
  was taken, as when a response is lost in flight, to test reconnects.
- ``admins[chat_id]`` lists ``ChatMember`` objects; ``private_blocked`` holds user
  ids that never started the bot (a private message to them is 403 Forbidden).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

__all__ = ["FakeTelegram", "RecordedRequest", "user", "group", "private_chat", "message_update", "admin"]

log = logging.getLogger(__name__)

BOT = {"id": 999, "is_bot": True, "first_name": "Liveroom", "username": "liveroom_bot",
       "can_join_groups": True, "can_read_all_group_messages": True, "supports_inline_queries": False}


# ---- payload builders (Bot API shapes) ------------------------------------------------


def user(uid: int, first: str, last: str | None = None, username: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": first}
    if last:
        data["last_name"] = last
    if username:
        data["username"] = username
    return data


def group(chat_id: int = -1001, title: str = "Live room", *, forum: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"id": chat_id, "type": "supergroup", "title": title}
    if forum:
        data["is_forum"] = True
    return data


def private_chat(person: dict[str, Any]) -> dict[str, Any]:
    return {"id": person["id"], "type": "private", "first_name": person["first_name"]}


def message_update(chat: dict[str, Any], sender: dict[str, Any], text: str, *, message_id: int = 1,
                   **extra: Any) -> dict[str, Any]:
    """An update with one text message; a leading /command gets its ``bot_command`` entity."""
    message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": chat,
                               "from": sender, "text": text, **extra}
    if text.startswith("/"):
        token = text.split(None, 1)[0]
        message.setdefault("entities", []).insert(0, {"type": "bot_command", "offset": 0,
                                                      "length": len(token.encode("utf-16-le")) // 2})
    return {"message": message}


# ---- the server ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when the request arrived


def _decode(value: str) -> Any:
    """PTB sends form fields with JSON-encoded values; plain strings stay strings."""
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeTelegram:
    """Start with ``async with FakeTelegram() as fake:``; point PTB at ``fake.base_url``."""

    def __init__(self, token: str = "123456:TEST-TOKEN") -> None:
        self.token = token
        self.requests: list[RecordedRequest] = []
        self.admins: dict[int, list[dict[str, Any]]] = {}
        self.private_blocked: set[int] = set()
        self.sent: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._arrived = asyncio.Event()
        self._failures: list[str] = []
        self._closing = False
        self._hanging = asyncio.Event()
        self._in_flight: set[Any] = set()  # transports of requests being handled, for `kill`
        self._released = asyncio.Event()  # set at close: stalled requests end (with 502) instead of for ever
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._methods: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "getMe": self._get_me, "getUpdates": self._get_updates, "sendMessage": self._send_message,
            "editMessageReplyMarkup": self._edit_reply_markup, "answerCallbackQuery": self._true,
            "getChatAdministrators": self._get_chat_administrators, "setMyCommands": self._true,
            "deleteMyCommands": self._true, "deleteWebhook": self._true, "setWebhook": self._true,
            "getWebhookInfo": self._get_webhook_info,
        }

    # ---- test controls -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/file/bot"

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; returns it with its ``update_id``."""
        update = {**update, "update_id": update.get("update_id") or next(self._update_ids)}
        self._updates.append(update)
        self._arrived.set()
        return update

    def fail_get_updates(self, count: int, mode: str = "502") -> None:
        """The next ``count`` getUpdates calls fail: ``"502"`` Bad Gateway or ``"drop"`` (connection reset)."""
        self._failures.extend([mode] * count)

    def hang(self) -> None:
        """From now on the server accepts requests and never answers them (long polls in flight too):
        a Bot API server that stalled, or a network path that drops everything past the handshake."""
        self._hanging.set()
        self._arrived.set()

    def calls(self, method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method]

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    # ---- HTTP ------------------------------------------------------------------------

    async def __aenter__(self) -> "FakeTelegram":
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def kill(self) -> None:
        """The server process dies: the listener closes and requests in flight (long polls) are reset."""
        self._released.set()
        for transport in list(self._in_flight):
            transport.abort()
        await self.__aexit__(None, None, None)

    async def __aexit__(self, *exc: Any) -> None:
        self._closing = True
        self._released.set()
        self._arrived.set()  # pending long polls answer now, so the server closes at once
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode(v) for k, v in request.query.items()}
        if request.content_type == "application/json":
            body = await request.json()
            params.update(body if isinstance(body, dict) else {})
        elif request.can_read_body:
            form = await request.post()
            params.update({k: _decode(v) for k, v in form.items() if isinstance(v, str)})
        return params

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self._in_flight.add(request.transport)
        try:
            return await self._answer(request)
        finally:
            self._in_flight.discard(request.transport)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await self._params(request)
        self.requests.append(RecordedRequest(method, params, time.monotonic()))
        if self._hanging.is_set():
            await self._released.wait()  # never answered while the server runs
            return _error(502, "Bad Gateway")
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        handler = self._methods.get(method)
        if handler is None:
            log.warning("fake telegram: unknown method %s(%s)", method, params)
            return _error(404, f"Not Found: method {method} is not implemented by the fake")
        try:
            result = await handler(params)
        except _ApiError as exc:
            return _error(exc.code, exc.description)
        if method == "getUpdates" and self._failures:
            # The batch was computed and is lost in flight: only the client's offset can save it.
            return self._fail(request, self._failures.pop(0))
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _fail(request: web.Request, mode: str) -> web.StreamResponse:
        if mode == "drop" and request.transport is not None:
            request.transport.abort()  # the client sees its connection reset
            return web.Response()
        return _error(502, "Bad Gateway")

    # ---- methods -----------------------------------------------------------------------

    async def _true(self, _params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, _params: dict[str, Any]) -> dict[str, Any]:
        return BOT

    async def _get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Confirm updates below ``offset``, then return the rest, holding the request up to
        ``timeout`` seconds while there are none (long polling)."""
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while (not self._updates and not self._closing and not self._hanging.is_set()
               and (remaining := deadline - time.monotonic()) > 0):
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                break
        if self._hanging.is_set():
            await self._released.wait()  # a long poll in flight when the server stalled never ends either
            raise _ApiError(502, "Bad Gateway")
        limit = int(params.get("limit") or 100)
        return self._updates[:limit]

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        if chat_id in self.private_blocked:
            raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        text = str(params.get("text", ""))
        if not text or len(text) > 4096:
            raise _ApiError(400, "Bad Request: message text is empty" if not text else
                            "Bad Request: message is too long")
        counter = self._message_ids.setdefault(chat_id, itertools.count(1000))
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        message: dict[str, Any] = {"message_id": next(counter), "date": int(time.time()), "chat": chat,
                                   "from": BOT, "text": text}
        for key in ("message_thread_id", "reply_markup", "entities"):
            if params.get(key) is not None:
                message[key] = params[key]
        self.sent.append(message)
        return message

    async def _edit_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        for message in self.sent:
            if message["chat"]["id"] == chat_id and message["message_id"] == message_id:
                message["reply_markup"] = params.get("reply_markup")
                return message
        raise _ApiError(400, "Bad Request: message to edit not found")

    async def _get_chat_administrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat_id = int(params["chat_id"])
        if chat_id not in self.admins:
            raise _ApiError(400, "Bad Request: chat not found")
        return self.admins[chat_id]


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def _error(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)


def admin(person: dict[str, Any], *, creator: bool = False) -> dict[str, Any]:
    """A ``ChatMember`` as getChatAdministrators lists it."""
    if creator:
        return {"status": "creator", "user": person, "is_anonymous": False}
    return {"status": "administrator", "user": person, "can_be_edited": False, "is_anonymous": False,
            "can_manage_chat": True, "can_delete_messages": True, "can_manage_video_chats": True,
            "can_restrict_members": True, "can_promote_members": False, "can_change_info": True,
            "can_invite_users": True, "can_post_stories": False, "can_edit_stories": False,
            "can_delete_stories": False}
