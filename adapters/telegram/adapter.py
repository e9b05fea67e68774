"""The Telegram adapter: python-telegram-bot 22 inside our asyncio loop.

``run()`` opens the `telegram.ext.Application` (``async with app:``), receives
updates by long polling or a webhook until ``stop()``, and hands every update
to `adapters.telegram.translate` (pure) and the events to the runtime. Every
message goes through translation rather than PTB's ``CommandHandler``: a
command with wrong arguments must still reach the runtime, which answers
with its usage.

Outgoing replies are queued in an `adapters.outbox.Outbox` (per room: 1 a
second and ``group_messages_per_minute`` a minute; the bot: 30 a second;
queued replies merge while they fit 4,096 characters). Telegram counts its
limits per *chat*, while the outbox counts per *room* and per *reply*: a forum
topic is a room of its own and a long reply is several messages. A
`_ChatPacer` therefore spaces the actual ``sendMessage`` calls per chat too,
and a 429 (``RetryAfter``) is honoured once.

Feedback buttons reference the id ``send()`` returns (the first part of the
reply, the id the runtime records): that id exists only after sending, so a
one-part reply gets its keyboard with ``editMessageReplyMarkup`` right after it
is sent; a longer reply carries it on its last part, sent when the first id is
known.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import replace
from typing import Any, Awaitable, Callable, Literal, Mapping, Sequence, TypeVar
from urllib.parse import urlparse

from telegram import (BotCommand, BotCommandScopeAllChatAdministrators, BotCommandScopeDefault,
                      InlineKeyboardMarkup, Message, MessageEntity, ReplyParameters, Update)
from telegram import User as TgUser
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from adapters.base import REPLY_FLUSH_GRACE, Adapter, AdapterError
from adapters.commands import CommandSpec
from adapters.library_logs import one_line_retries
from adapters.model import Event, Reply, Role
from adapters.outbox import Budget, Outbox
from adapters.telegram.translate import (MAX_MESSAGE_CHARS, PLATFORM, Destination, OutgoingMessage,
                                         TranslateContext, bot_commands, callback_query_id, destination_of,
                                         dm_destination, feedback_markup, plan_messages, roles_from_admins,
                                         to_events)

__all__ = ["TelegramAdapter"]

log = logging.getLogger(__name__)
# PTB's last getUpdates at shutdown fails while the server is away: a line, not a traceback.
one_line_retries("telegram.ext.Updater", {"Error while calling `get_updates` one more time": (
    "telegram: could not confirm the last updates to the Bot API server while stopping; "
    "it may deliver them again at the next start")})

T = TypeVar("T")

#: The update kinds translation handles; Telegram does not send the others at all.
ALLOWED_UPDATES = ("message", "callback_query")
#: Start-up calls (deleteWebhook) retried before a network problem fails ``run()``.
BOOTSTRAP_RETRIES = 3
#: Seconds ``run()`` lets queued replies go out after ``stop()`` before dropping them.
SHUTDOWN_GRACE = REPLY_FLUSH_GRACE
#: Seconds a getUpdates may take past its long-poll timeout, and to connect: also the bound on the
#: last getUpdates PTB sends while stopping, so a server that stopped answering cannot hold the stop.
GET_UPDATES_TIMEOUT = 2.0
#: Seconds the updater gets to end its polling at stop; a poll is cancelled at once, a back-off sleep is not.
POLLING_STOP_GRACE = 1.0
#: Seconds before retrying a private message to someone who has not started the bot.
DM_RETRY_SECONDS = 600.0
#: Seconds a failed ``getChatAdministrators`` is remembered (everyone a viewer meanwhile).
ADMIN_FAILURE_SECONDS = 60.0
PER_CHAT = Budget(1, 1.0)
OVERALL = Budget(30, 1.0)


class _ChatPacer:
    """Sliding-window budgets per Telegram chat, applied to each ``sendMessage`` call.

    Why, besides the outbox: Telegram limits a chat, but the outbox budgets a
    room (each forum topic is one) and a reply (a long one is several messages).
    """

    def __init__(self, group: Sequence[Budget], private: Sequence[Budget],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._group, self._private = tuple(group), tuple(private)
        self._clock = clock
        self._sent: dict[int, deque[float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def wait_turn(self, destination: Destination) -> None:
        """Wait until one more message to this chat fits every budget, then claim it (FIFO per chat)."""
        chat = destination.chat_id
        budgets = self._private if destination.is_private else self._group
        sent = self._sent.setdefault(chat, deque())
        async with self._locks.setdefault(chat, asyncio.Lock()):
            while (delay := self._delay(sent, budgets, self._clock())) > 0:
                await asyncio.sleep(delay)
            sent.append(self._clock())

    @staticmethod
    def _delay(sent: deque[float], budgets: Sequence[Budget], now: float) -> float:
        horizon = max((b.per_seconds for b in budgets), default=0.0)
        while sent and now - sent[0] >= horizon:
            sent.popleft()
        delay = 0.0
        for budget in budgets:
            recent = [t for t in sent if now - t < budget.per_seconds]
            if len(recent) >= budget.count:
                delay = max(delay, recent[-budget.count] + budget.per_seconds - now)
        return delay


class _AdminRoles:
    """Roles in group chats from ``getChatAdministrators``, cached per chat.

    One fetch per chat at a time (concurrent updates share it); a failed fetch
    makes everyone a viewer for a short while rather than failing the update.
    """

    def __init__(self, fetch: Callable[[int], Awaitable[Mapping[str, Role]]], ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[int, tuple[float, Mapping[str, Role]]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def role_of(self, chat_id: int, user_id: str) -> Role:
        return (await self._roles(chat_id)).get(user_id, Role.VIEWER)

    async def _roles(self, chat_id: int) -> Mapping[str, Role]:
        async with self._locks.setdefault(chat_id, asyncio.Lock()):
            cached = self._cache.get(chat_id)
            if cached is not None and cached[0] > self._clock():
                return cached[1]
            try:
                roles, ttl = await self._fetch(chat_id), self._ttl
            except Exception as exc:  # noqa: BLE001 - no role lookup may take an update down
                log.warning("telegram: could not fetch the administrators of chat %s (%s); "
                            "treating everyone there as a viewer for %.0f s", chat_id, exc, ADMIN_FAILURE_SECONDS)
                roles, ttl = {}, min(self._ttl, ADMIN_FAILURE_SECONDS)
            self._cache[chat_id] = (self._clock() + ttl, roles)
            return roles


async def _honouring_retry_after(call: Callable[[], Awaitable[T]]) -> T:
    """Run a Bot API call; on 429 wait the time Telegram asks for and try once more."""
    try:
        return await call()
    except RetryAfter as exc:
        delay = exc.retry_after if isinstance(exc.retry_after, (int, float)) else exc.retry_after.total_seconds()
        log.warning("telegram: rate limited by the server; retrying in %.1f s", delay)
        await asyncio.sleep(delay)
        return await call()


class TelegramAdapter(Adapter):
    """A Telegram bot serving groups, forum topics and private chats."""

    platform = PLATFORM

    def __init__(
        self,
        token: str,
        *,
        name: str = "telegram",
        base_url: str = "https://api.telegram.org/bot",
        base_file_url: str | None = None,
        bot_name: str | None = None,
        mode: Literal["polling", "webhook"] = "polling",
        webhook_url: str | None = None,
        webhook_listen: str = "127.0.0.1",
        webhook_port: int = 8443,
        webhook_secret: str = "",
        admin_cache_seconds: float = 300.0,
        group_messages_per_minute: int = 20,
        poll_timeout: int = 10,
    ) -> None:
        super().__init__(name)
        if not token:
            raise AdapterError("telegram: the bot token is empty; get one from @BotFather")
        if mode not in ("polling", "webhook"):
            raise AdapterError(f"telegram: mode must be 'polling' or 'webhook', not {mode!r}")
        if mode == "webhook" and not webhook_url:
            raise AdapterError("telegram: webhook mode needs webhook_url (the public HTTPS URL Telegram calls)")
        self.bot_name = bot_name.lstrip("@") if bot_name else None
        self.mode = mode
        self.base_url = base_url
        self._webhook = (webhook_url or "", webhook_listen, webhook_port, webhook_secret)
        self._poll_timeout = poll_timeout
        self._app = self._build_application(token, base_url, base_file_url)
        self._roles = _AdminRoles(self._fetch_admin_roles, admin_cache_seconds)
        per_minute = Budget(group_messages_per_minute, 60.0)
        self._outbox = Outbox(self._deliver, per_room=(PER_CHAT, per_minute), overall=(OVERALL,),
                              max_chars=MAX_MESSAGE_CHARS)
        self._pacer = _ChatPacer(group=(PER_CHAT, per_minute), private=(PER_CHAT,))
        self._specs: tuple[CommandSpec, ...] | None = None
        self._no_dm_until: dict[int, float] = {}
        self._running = False
        self._stop_requested = asyncio.Event()
        self._closed = asyncio.Event()

    # ---- set-up ------------------------------------------------------------------------

    def _build_application(self, token: str, base_url: str, base_file_url: str | None) -> Application:
        """PTB's Application without a job queue; updates are handled concurrently so a
        reply waiting for its rate-limit turn never holds up the next update."""
        app = (Application.builder().token(token).base_url(base_url)
               .base_file_url(base_file_url or _file_url_for(base_url))
               .get_updates_read_timeout(GET_UPDATES_TIMEOUT).get_updates_connect_timeout(GET_UPDATES_TIMEOUT)
               .concurrent_updates(True).job_queue(None).build())
        app.add_handler(TypeHandler(Update, self._on_update))
        app.add_error_handler(self._on_handler_error)
        return app

    async def register_commands(self, specs: Sequence[CommandSpec]) -> None:
        """Publish the command menu: viewers' commands for everyone, all commands for admins.

        The runtime may call this before ``run()``; the menu is then sent once
        the bot is connected.
        """
        self._specs = tuple(specs)
        if self._running:
            await self._publish_commands()

    async def _publish_commands(self) -> None:
        if self._specs is None:
            return
        bot = self._app.bot
        menus = ((BotCommandScopeDefault(), Role.VIEWER), (BotCommandScopeAllChatAdministrators(), Role.HOST))
        try:
            for scope, role in menus:
                commands = [BotCommand(n, d) for n, d in bot_commands(self._specs, max_role=role)]
                await bot.set_my_commands(commands, scope=scope)
        except TelegramError as exc:
            log.warning("telegram: could not publish the command menu (%s); commands still work when typed", exc)

    # ---- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, receive updates until ``stop()``, then send what is queued and disconnect."""
        try:
            async with self._app:
                self.bot_name = self.bot_name or self._app.bot.username
                log.info("telegram: connected as @%s (%s)", self._app.bot.username, self.mode)
                await self._app.start()
                try:
                    self._running = True
                    await self._publish_commands()
                    await self._start_receiving()
                    await self._stop_requested.wait()
                finally:
                    await self._shut_down()
        except InvalidToken:
            raise AdapterError(f"telegram: the Bot API server at {self.base_url} rejected the bot token "
                               "(401 Unauthorized): check adapters.telegram.token (TELEGRAM_TOKEN); "
                               "@BotFather shows the current token") from None
        except NetworkError as exc:
            raise AdapterError(f"telegram: cannot reach the Bot API server at {self.base_url}: {exc}") from None

    async def _start_receiving(self) -> None:
        updater = self._app.updater
        assert updater is not None  # the builder always makes one
        if self.mode == "polling":
            await updater.start_polling(timeout=self._poll_timeout, allowed_updates=list(ALLOWED_UPDATES),
                                        bootstrap_retries=BOOTSTRAP_RETRIES,
                                        error_callback=_log_polling_error)
            return
        url, listen, port, secret = self._webhook
        try:
            await updater.start_webhook(listen=listen, port=port, url_path=urlparse(url).path.lstrip("/"),
                                        webhook_url=url, secret_token=secret or None,
                                        allowed_updates=list(ALLOWED_UPDATES))
        except RuntimeError as exc:  # PTB without its webhook extra (tornado)
            raise AdapterError(f"telegram: webhook mode is not available: {exc}") from None

    async def _shut_down(self) -> None:
        """Stop receiving while queued replies get their grace period, release callers of send(), close.

        The application is stopped even if this is cancelled half-way (the runtime's stop deadline):
        otherwise leaving ``async with`` fails with "This Application is still running!".
        """
        self._running = False
        try:
            await asyncio.gather(self._stop_receiving(), self._flush_outbox())
        finally:
            self._closed.set()
            if self._app.running:
                await self._app.stop()

    async def _stop_receiving(self) -> None:
        """Stop polling; cut PTB short if it is asleep in its retry back-off (up to 30 s while the
        server is away: that sleep does not watch the stop request)."""
        updater = self._app.updater
        if updater is None or not updater.running:
            return
        try:
            await asyncio.wait_for(updater.stop(), POLLING_STOP_GRACE)
        except asyncio.TimeoutError:
            log.info("telegram: polling did not end within %g s of the stop (retrying an unreachable server?); "
                     "cut short", POLLING_STOP_GRACE)

    async def _flush_outbox(self) -> None:
        try:
            await asyncio.wait_for(self._outbox.close(), SHUTDOWN_GRACE)
        except asyncio.TimeoutError:
            log.warning("telegram: %d queued replies were not sent before shutdown", self._outbox.pending())

    async def stop(self) -> None:
        self._stop_requested.set()

    # ---- inbound -----------------------------------------------------------------------

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        raw: dict[str, Any] = json.loads(update.to_json())
        query_id = callback_query_id(raw)
        if query_id is not None:
            await self._answer_callback(query_id)
        for event in to_events(raw, TranslateContext(self.name, self.bot_name)):
            await self.emit(await self._with_role(event))

    async def _answer_callback(self, query_id: str) -> None:
        """Acknowledge a button press so the client stops its spinner."""
        try:
            await self._app.bot.answer_callback_query(query_id)
        except TelegramError as exc:
            log.info("telegram: could not answer callback query %s: %s", query_id, exc)

    async def _with_role(self, event: Event) -> Event:
        """The event with its author's role in a group chat (private chats: as translated)."""
        if event.room.kind == "dm":
            return event
        role = await self._roles.role_of(destination_of(event.room).chat_id, event.author.id)
        if role <= event.author.role:
            return event
        return replace(event, author=replace(event.author, role=role))

    async def _fetch_admin_roles(self, chat_id: int) -> Mapping[str, Role]:
        members = await self._app.bot.get_chat_administrators(chat_id)
        return roles_from_admins(member.to_dict() for member in members)

    async def _on_handler_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else "?"
        log.error("telegram: handling update %s failed", update_id, exc_info=context.error)

    # ---- outbound ----------------------------------------------------------------------

    async def send(self, reply: Reply) -> str | None:
        """Queue ``reply`` within the rate limits; the id of its first message, or None if
        it was dropped (stale, empty, or still queued when the adapter stopped)."""
        if not reply.text.strip():
            log.info("telegram: not sending an empty reply to %s", reply.room.key)
            return None
        if self._closed.is_set():
            log.warning("telegram: adapter stopped; reply to %s not sent", reply.room.key)
            return None
        sending = asyncio.ensure_future(self._outbox.send(reply))
        closed = asyncio.ensure_future(self._closed.wait())
        await asyncio.wait({sending, closed}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if sending.done():
            return sending.result()
        sending.cancel()
        log.warning("telegram: adapter stopped before the reply to %s went out", reply.room.key)
        return None

    async def _deliver(self, reply: Reply) -> str:
        """The outbox's delivery: a private message for an ephemeral reply in a group when
        the person has started the bot, otherwise the room itself."""
        room = destination_of(reply.room)
        private = dm_destination(reply.to_user) if reply.ephemeral and not room.is_private else None
        if private is not None and self._may_message(private.chat_id):
            try:
                return await self._post_reply(reply, private, quote=False)
            except (Forbidden, BadRequest) as exc:
                log.info("telegram: cannot message user %s privately (%s); replying in %s",
                         private.chat_id, exc, reply.room.key)
                self._no_dm_until[private.chat_id] = time.monotonic() + DM_RETRY_SECONDS
        return await self._post_reply(reply, room, quote=True)

    def _may_message(self, user_id: int) -> bool:
        """False for a while after Telegram refused a private message to this person."""
        return self._no_dm_until.get(user_id, 0.0) <= time.monotonic()

    async def _post_reply(self, reply: Reply, destination: Destination, *, quote: bool) -> str:
        """Send every part of a reply; the first part's id (what feedback buttons reference)."""
        messages = plan_messages(reply, destination, quote=quote)
        first_id: str | None = None
        for index, outgoing in enumerate(messages):
            last = index == len(messages) - 1
            markup = feedback_markup(first_id) if reply.feedback and last and first_id else None
            sent = await self._post(outgoing, destination, markup)
            first_id = first_id or str(sent.message_id)
        assert first_id is not None  # send() refuses empty text, so there is at least one part
        if reply.feedback and len(messages) == 1:
            await self._attach_feedback(destination.chat_id, first_id)
        return first_id

    async def _post(self, outgoing: OutgoingMessage, destination: Destination,
                    markup: Mapping[str, Any] | None) -> Message:
        await self._pacer.wait_turn(destination)
        bot = self._app.bot
        reply_parameters = (ReplyParameters(outgoing.reply_to, allow_sending_without_reply=True)
                            if outgoing.reply_to is not None else None)
        entities = [MessageEntity(MessageEntity.TEXT_MENTION, m.offset, m.length,
                                  user=TgUser(m.user_id, m.name, is_bot=False)) for m in outgoing.mentions]
        return await _honouring_retry_after(lambda: bot.send_message(
            outgoing.chat_id, outgoing.text, message_thread_id=outgoing.thread_id,
            reply_parameters=reply_parameters, entities=entities or None,
            reply_markup=InlineKeyboardMarkup.de_json(dict(markup), bot) if markup else None))

    async def _attach_feedback(self, chat_id: int, message_id: str) -> None:
        """Add 👍/👎 to a sent message; the message stays even if this fails."""
        bot = self._app.bot
        markup = InlineKeyboardMarkup.de_json(feedback_markup(message_id), bot)
        try:
            await _honouring_retry_after(lambda: bot.edit_message_reply_markup(
                chat_id, int(message_id), reply_markup=markup))
        except TelegramError as exc:
            log.warning("telegram: could not add feedback buttons to message %s in %s: %s",
                        message_id, chat_id, exc)


def _file_url_for(base_url: str) -> str:
    """The file URL matching a Bot API URL (``.../bot`` → ``.../file/bot``)."""
    root = base_url[:-len("/bot")] if base_url.endswith("/bot") else base_url.rstrip("/")
    return f"{root}/file/bot"


def _log_polling_error(exc: TelegramError) -> None:
    """Polling errors are retried by PTB; one warning line each, no traceback."""
    log.warning("telegram: polling failed (%s); retrying", exc)

