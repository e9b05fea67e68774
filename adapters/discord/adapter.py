"""The Discord adapter: discord.py for the connection, `translate` for the meaning.

discord.py owns the gateway (heartbeats, resume, reconnect), the REST rate-limit
buckets and 429 retries, and the guild cache. We read every gateway dispatch
raw (``enable_debug_events``) and translate the documented JSON with the pure
functions in `adapters.discord.translate`, asking discord.py's cache only for
what a payload lacks (role names and permissions, channel types).

Developer portal setup (see also `DiscordAdapter`):

- Bot → Privileged Gateway Intents: **Message Content** (required: without it
  Discord sends empty text for messages that do not mention the bot, and the
  gateway refuses the connection with 4014 because we ask for it) and **Server
  Members** (optional: join/leave events; without it we reconnect without
  member events and log a warning).
- OAuth2 → URL Generator: scopes ``bot`` and ``applications.commands``;
  permissions View Channels, Send Messages, Send Messages in Threads, Read
  Message History, Add Reactions.

Replies: ordinary replies go through an `Outbox` per channel (``channel_budget``
messages per 5 s; queued replies merge, stale low-priority ones drop), one
Discord message per outbox slot. Replies to slash commands answer the
interaction itself (see `_InteractionTicket`) and bypass the outbox: they are
not channel posts, and merging them into another reply would leave the
interaction unanswered.

Sharding (``shard_count``, ``shard_ids``): the client is discord.py's
`discord.AutoShardedClient`, one gateway connection per shard, and everything
above works the same for every shard (REST is not tied to a shard). A process
may run a subset of the shards (``shard_ids``), so a big bot's guilds can be
split over several ingress processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Coroutine, Generic, Iterator, Literal, Sequence, TypeVar

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.base import REPLY_FLUSH_GRACE, Adapter, AdapterError
from adapters.commands import CommandSpec
from adapters.discord import translate
from adapters.discord.translate import ChannelInfo, Context, Ignored, RoleInfo, RolePolicy
from adapters.library_logs import cause, one_line_retries
from adapters.model import CommandEvent, FeedbackEvent, Reply, Role, User
from adapters.outbox import Budget, Outbox
from adapters.shards import shard_count_problem, shard_ids_problem
from adapters.text import split_message

__all__ = ["DiscordAdapter", "MAX_CHARS"]

log = logging.getLogger(__name__)
# discord.py logs each failed reconnect with its traceback: while the gateway is away, a line each.
one_line_retries("discord.client", {"Attempting a reconnect in": "discord: no gateway connection; retrying in %.1f s"})
one_line_retries("discord.shard", {
    "Attempting a reconnect for shard": "discord: shard %s has no gateway connection; retrying in %.1f s",
    "Failed to connect for shard_id": "discord: shard %s could not connect; retrying"})


def _tolerant_json(text: str | bytes) -> Any:
    """discord.py's JSON decoder, forgiving: orjson when it can, the standard library when it cannot.

    With orjson installed (chromadb brings it), discord.py decodes every gateway
    frame with it, and orjson refuses a lone surrogate (valid JSON: ``"\\ud800"``):
    one such message in a channel raised in the gateway's reader and took the
    bot's connection down. The standard decoder accepts it, and the adapter's
    edge (`Adapter.emit`) repairs the text before anything stores it.
    """
    try:
        return _fast_json(text)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return json.loads(text)


_fast_json = discord.utils._from_json
discord.utils._from_json = _tolerant_json  # used by the gateway and the HTTP client alike

MAX_CHARS = 2000  # Discord's message content limit
_BUDGET_WINDOW = 5.0  # seconds; channel_budget counts messages in any such window
_INTERACTION_TTL = 14 * 60.0  # interaction tokens live 15 minutes; keep a margin
_INTERACTION_WAIT = 5.0  # how long a reply waits for discord.py's Interaction object
#: Failures of a background call that mean the platform could not be reached or did not answer.
_NETWORK_ERRORS = (OSError, asyncio.TimeoutError, aiohttp.ClientError, discord.DiscordServerError)
_CLOSE_GRACE = 0.5  # seconds the gateway connection gets to end once the client is closed
_REMEMBERED = 10_000  # how many of our message ids we remember for feedback
_IDENTIFY_WINDOW = 5.0  # seconds; Discord allows max_concurrency IDENTIFYs per window, one per bucket

K = TypeVar("K")
V = TypeVar("V")


class _Recent(Generic[K, V]):
    """A mapping that forgets its oldest entries beyond ``size``: per-message state must not grow forever."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, key: K, default: V | None = None) -> V | None:
        return self._items.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._items


# ---- endpoint override --------------------------------------------------------------------


class _Endpoints:
    """Point discord.py at another REST base and gateway while a client runs.

    discord.py keeps both on classes (``Route.BASE``, used by REST and by
    interaction webhooks alike, and ``DiscordWebSocket.DEFAULT_GATEWAY``), so an
    override is process-wide: it is applied for the duration of ``run()`` and
    restored afterwards. Adapters sharing the same override may run together;
    two different overrides at once are refused rather than silently crossed.
    """

    _active: tuple[str, yarl.URL] | None = None
    _saved: tuple[str, yarl.URL] | None = None
    _users = 0

    def __init__(self, api_base: str | None, gateway_url: str | None) -> None:
        self.api_base = api_base.rstrip("/") if api_base else None
        self.gateway = yarl.URL(gateway_url) if gateway_url else None

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        if self.api_base is None and self.gateway is None:
            yield
            return
        cls = type(self)
        wanted = (self.api_base or Route.BASE, self.gateway or DiscordWebSocket.DEFAULT_GATEWAY)
        if cls._active is not None and cls._active != wanted:
            raise AdapterError("discord: another Discord adapter in this process uses different "
                               "api_base/gateway_url overrides; run them in separate processes")
        if cls._users == 0:
            cls._saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = wanted
            cls._active = wanted
        cls._users += 1
        log.info("discord: using REST %s and gateway %s", wanted[0], wanted[1])
        try:
            yield
        finally:
            cls._users -= 1
            if cls._users == 0 and cls._saved is not None:
                Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = cls._saved
                cls._active = cls._saved = None


# ---- discord.py's cache as a translation directory -----------------------------------------


class _CacheDirectory:
    """`translate.Directory` answered from discord.py's guild cache."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def _guild(self, guild_id: str) -> discord.Guild | None:
        return self._client.get_guild(int(guild_id)) if guild_id.isdigit() else None

    def role(self, guild_id: str, role_id: str) -> RoleInfo | None:
        guild = self._guild(guild_id)
        role = guild.get_role(int(role_id)) if guild and role_id.isdigit() else None
        return RoleInfo(str(role.id), role.name, role.permissions.value) if role else None

    def channel(self, channel_id: str) -> ChannelInfo | None:
        if not channel_id.isdigit():
            return None
        channel = self._client.get_channel(int(channel_id))
        if channel is None:
            return None
        return ChannelInfo(str(channel.id), getattr(channel, "name", None) or "", channel.type.value)

    def guild_owner(self, guild_id: str) -> str | None:
        guild = self._guild(guild_id)
        return str(guild.owner_id) if guild and guild.owner_id else None

    def system_channel(self, guild_id: str) -> str | None:
        guild = self._guild(guild_id)
        return str(guild.system_channel.id) if guild and guild.system_channel else None


# ---- interactions -------------------------------------------------------------------------


@dataclass(eq=False)
class _InteractionTicket:
    """One slash command waiting for its answer.

    Discord wants an interaction answered within 3 seconds, else it shows "the
    application did not respond". A fast reply (``/help``) is sent as the
    interaction response itself, ephemeral or not, exactly as asked. If the
    runtime is still thinking after ``defer_after`` seconds, the ticket defers
    (Discord shows "thinking...") with the visibility the command will most
    likely use (ephemeral for mod and host commands, like the router's
    default); the reply then arrives as a followup. Should the reply's
    visibility differ from the deferral's, the thinking message is deleted
    first so the followup gets its own visibility. Later replies to the same
    command are followups.
    """

    event: CommandEvent
    predicted_ephemeral: bool
    interaction: asyncio.Future[discord.Interaction]
    opened: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    state: str = "open"  # open | deferred | answered
    deferred_ephemeral: bool = False
    timer: asyncio.Task[None] | None = None

    def usable(self) -> bool:
        return time.monotonic() - self.opened < _INTERACTION_TTL

    async def _object(self) -> discord.Interaction:
        try:
            return await asyncio.wait_for(asyncio.shield(self.interaction), _INTERACTION_WAIT)
        except asyncio.TimeoutError:
            raise AdapterError(f"discord: interaction {self.event.event_id} never reached the client") from None

    async def defer_after(self, delay: float) -> None:
        """Acknowledge the command if no reply came within ``delay`` seconds."""
        await asyncio.sleep(delay)
        interaction = await self._object()
        async with self.lock:
            if self.state != "open":
                return
            await interaction.response.defer(ephemeral=self.predicted_ephemeral, thinking=True)
            self.state, self.deferred_ephemeral = "deferred", self.predicted_ephemeral
            log.debug("discord: deferred /%s (%s)", self.event.command, self.event.event_id)

    async def respond(self, parts: Sequence[str], *, ephemeral: bool,
                      allowed: discord.AllowedMentions) -> list[str]:
        """Send ``parts`` as this interaction's response and followups; their message ids."""
        interaction = await self._object()
        async with self.lock:
            if self.timer is not None:
                self.timer.cancel()
            return [await self._respond_one(interaction, part, ephemeral, allowed) for part in parts]

    async def _respond_one(self, interaction: discord.Interaction, text: str, ephemeral: bool,
                           allowed: discord.AllowedMentions) -> str:
        if self.state == "open":
            self.state = "answered"
            callback = await interaction.response.send_message(text, ephemeral=ephemeral, allowed_mentions=allowed)
            if callback is not None and callback.message_id is not None:
                return str(callback.message_id)
            return str((await interaction.original_response()).id)
        if self.state == "deferred":
            self.state = "answered"
            if ephemeral != self.deferred_ephemeral:
                await interaction.delete_original_response()
        message = await interaction.followup.send(text, ephemeral=ephemeral, allowed_mentions=allowed, wait=True)
        return str(message.id)


# ---- the client ---------------------------------------------------------------------------


class _AdapterHooks:
    """What both clients share: our options, raw dispatches and Interaction objects handed to the adapter.

    Mixed in before `discord.Client` or `discord.AutoShardedClient`; discord.py
    finds the ``on_*`` handlers on the instance, whatever class defines them.
    """

    def __init__(self, adapter: "DiscordAdapter", intents: discord.Intents, **options: Any) -> None:
        super().__init__(  # type: ignore[call-arg]
            intents=intents,
            enable_debug_events=True,  # on_socket_raw_receive: we translate the documented JSON
            chunk_guilds_at_startup=False,  # roles come with each payload; no member lists needed
            member_cache_flags=discord.MemberCacheFlags.none(),
            max_messages=None,  # no message cache: edits and deletes are ignored anyway
            allowed_mentions=discord.AllowedMentions.none(),  # nothing pings unless a send says so
            **options,
        )
        self._adapter = adapter

    async def on_socket_raw_receive(self, msg: str) -> None:
        await self._adapter._on_gateway_frame(msg)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self._adapter._on_interaction_object(interaction)


class _Client(_AdapterHooks, discord.Client):
    """One gateway connection (no sharding configured)."""


class _IdentifyPacing:
    """Space IDENTIFYs as Discord allows: ``max_concurrency`` per 5 s, one per bucket ``shard_id % max_concurrency``.

    discord.py's default waits 5 s before every IDENTIFY but the first, so a
    big bot (max_concurrency 16 and more) would start its shards one by one,
    many times slower than Discord allows.
    """

    def __init__(self, max_concurrency: int = 1, window: float = _IDENTIFY_WINDOW) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.window = window
        self._last: dict[int, float] = {}  # bucket → when its last IDENTIFY went out

    async def wait(self, shard_id: int) -> None:
        bucket = shard_id % self.max_concurrency
        while (delay := self._last.get(bucket, -self.window) + self.window - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        self._last[bucket] = time.monotonic()


class _ShardedClient(_AdapterHooks, discord.AutoShardedClient):
    """One gateway connection per shard: ``shard_count`` of them (None: as many as Discord says), or ``shard_ids``.

    ``gateway`` is the adapter's ``gateway_url`` override. discord.py connects
    shards to the url ``GET /gateway/bot`` gives when it asks for the shard
    count, else to ``DiscordWebSocket.DEFAULT_GATEWAY`` (which `_Endpoints`
    overrides); the override wins in both cases.
    """

    def __init__(self, adapter: "DiscordAdapter", intents: discord.Intents, *, shard_count: int | None,
                 shard_ids: Sequence[int] | None, gateway: yarl.URL | None) -> None:
        super().__init__(adapter, intents, shard_count=shard_count,
                         shard_ids=list(shard_ids) if shard_ids is not None else None)
        self._gateway_override = gateway
        self._pacing = _IdentifyPacing()
        self._launching: set[asyncio.Future[None]] = set()

    async def setup_hook(self) -> None:
        """After login: how many IDENTIFYs Discord allows at once (``GET /gateway/bot``), for the pacing."""
        try:
            limits = await self.fetch_session_start_limits()
        except (discord.HTTPException, discord.GatewayNotFound) as exc:
            log.warning("discord: cannot read the session start limits (%s); identifying one shard per %.0f s",
                        exc, _IDENTIFY_WINDOW)
            return
        self._pacing.max_concurrency = max(1, limits.max_concurrency)
        starts = len(self.shard_ids) if self.shard_ids else self.shard_count or 1  # "auto": at least one
        if limits.remaining < starts:
            log.warning("discord: only %d session starts left today for %d shards (resets in %.0f s)",
                        limits.remaining, starts, limits.reset_after / 1000)

    async def launch_shard(self, gateway: yarl.URL, shard_id: int, *, initial: bool = False) -> None:
        if self.is_closed():  # stopped while shards were starting: discord.py would go on (and retry) for ever
            return
        if initial:  # the shard count is known now (asked of Discord if it was "auto")
            log.info("discord: this process runs shards %s of %d (%d IDENTIFYs per %.0f s)",
                     _ranges(self._connection.shard_ids), self.shard_count, self._pacing.max_concurrency,
                     _IDENTIFY_WINDOW)
        # A task close() can cancel: a shard half-way through connecting (or waiting its turn to
        # IDENTIFY) is not among the shards discord.py closes, and would go on once the client closed.
        launch = asyncio.ensure_future(super().launch_shard(self._gateway_override or gateway, shard_id,
                                                            initial=initial))
        self._launching.add(launch)
        try:
            await asyncio.wait({launch})
        except asyncio.CancelledError:
            launch.cancel()
            raise
        finally:
            self._launching.discard(launch)
        if not launch.cancelled():
            launch.result()

    async def close(self) -> None:
        for launch in list(self._launching):
            launch.cancel()
        await super().close()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self._pacing.wait(shard_id or 0)

    async def on_shard_ready(self, shard_id: int) -> None:
        log.debug("discord: shard %d ready", shard_id)


def _ranges(ids: Sequence[int]) -> str:
    """``0-3, 7`` for [0, 1, 2, 3, 7]: a thousand shard ids in one log line."""
    out: list[str] = []
    for _, run in itertools.groupby(enumerate(sorted(ids)), lambda p: p[1] - p[0]):
        values = [v for _, v in run]
        out.append(f"{values[0]}-{values[-1]}" if len(values) > 1 else str(values[0]))
    return ", ".join(out)


def _shard_problem(shard_count: object, shard_ids: Sequence[int] | None) -> str | None:
    """What is wrong with a sharding setup, or None (the config checks the same, naming its keys)."""
    problem = shard_count_problem(shard_count)
    if problem is not None:
        return f"shard_count {problem}"
    problem = shard_ids_problem(shard_count, shard_ids) if shard_ids is not None else None
    return f"shard_ids {problem}" if problem is not None else None


def _intents(*, members: bool) -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = True
    intents.guild_reactions = True
    intents.dm_reactions = True
    intents.members = members
    return intents


_BAD_TOKEN = ("discord: Discord rejected the bot token (HTTP 401). Copy the token from the developer portal "
              "(Applications > your app > Bot > Reset Token) into the environment variable the config "
              "names (DISCORD_TOKEN); the token is not the application id or the client secret.")
_NO_MESSAGE_CONTENT = ("discord: Discord refused the gateway connection (4014, disallowed intents). Enable "
                       "'Message Content Intent' under Applications > your app > Bot > Privileged Gateway "
                       "Intents; the bot cannot read chat without it.")
_SHARDING = {
    4010: ("discord: Discord refused a shard (4010, invalid shard): check adapters.discord.shard_count and "
           "shard_ids (ids run from 0 to shard_count - 1)"),
    4011: ("discord: Discord requires sharding for this bot (4011, it is in too many servers for one "
           "connection): set adapters.discord.shard_count: auto"),
}


class DiscordAdapter(Adapter):
    """A Discord bot: guild channels, threads and DMs, slash commands, 👍/👎 feedback.

    ``token`` is the bot token (from the environment, never a config file).
    ``guild_ids`` syncs slash commands to those guilds (instant; for development)
    instead of globally (may take up to an hour to appear). ``host_roles`` and
    ``mod_roles`` are Discord role names (case-insensitive) that make a host or a
    mod; Administrator / Manage Messages / Manage Server permissions do too.
    ``channel_budget`` caps our messages per channel per 5 seconds.
    ``api_base`` (e.g. ``http://127.0.0.1:8080/api/v10``) and ``gateway_url``
    (``ws://...``) point discord.py elsewhere (loopback fakes, proxies); the
    override is process-wide while ``run()`` runs. ``bot_name`` lets text
    commands be addressed as ``/name@bot_name``. ``member_events`` asks for the
    Server Members intent (join/leave events); if the portal does not grant it,
    the adapter reconnects without it. ``defer_after`` is how long a slash
    command may wait for its reply before it is deferred (Discord allows 3 s).
    ``shard_count`` shards the gateway connection (`discord.AutoShardedClient`):
    None is one connection, ``"auto"`` as many shards as Discord recommends
    (``GET /gateway/bot``), a number that many. ``shard_ids`` runs only those
    shards of ``shard_count`` (a number then) in this process, so a big bot's
    shards can be split over several processes; None runs them all.

    The Message Content intent must be enabled in the developer portal: it is
    privileged, and without it Discord refuses the connection (4014), which
    ``run()`` reports as an `AdapterError` saying where to switch it on.
    """

    platform = translate.PLATFORM

    def __init__(
        self,
        token: str,
        *,
        name: str = "discord",
        guild_ids: Sequence[int] = (),
        host_roles: Sequence[str] = ("Host", "Streamer", "Owner"),
        mod_roles: Sequence[str] = ("Moderator", "Mod"),
        channel_budget: int = 5,
        api_base: str | None = None,
        gateway_url: str | None = None,
        bot_name: str | None = None,
        member_events: bool = True,
        defer_after: float = 1.0,
        shard_count: int | Literal["auto"] | None = None,
        shard_ids: Sequence[int] | None = None,
    ) -> None:
        super().__init__(name)
        if not token or not token.strip():
            raise AdapterError("discord: the bot token is empty; set DISCORD_TOKEN to the token from the "
                               "developer portal (Bot > Reset Token)")
        if channel_budget < 1:
            raise ValueError("channel_budget must be at least 1")
        problem = _shard_problem(shard_count, shard_ids)
        if problem is not None:
            raise ValueError(problem)
        self._token = token.strip()
        self.guild_ids = tuple(int(g) for g in guild_ids)
        self.policy = RolePolicy.from_names(host_roles, mod_roles)
        self.bot_name = bot_name
        self.member_events = member_events
        self.defer_after = max(0.0, defer_after)
        self.shard_count = shard_count
        self.shard_ids = tuple(shard_ids) if shard_ids is not None else None
        self._endpoints = _Endpoints(api_base, gateway_url)
        self._outbox = Outbox(self._deliver, per_room=[Budget(channel_budget, _BUDGET_WINDOW)], max_chars=MAX_CHARS)
        self._specs: tuple[CommandSpec, ...] | None = None
        self._client: discord.Client | None = None
        self._ctx: Context | None = None
        self._stopping = False
        self._tickets: _Recent[str, _InteractionTicket] = _Recent(1000)
        self._interaction_objects: _Recent[str, asyncio.Future[discord.Interaction]] = _Recent(1000)
        self._own: _Recent[str, str] = _Recent(_REMEMBERED)  # our message id → the id send() returned
        self._background: set[asyncio.Task[Any]] = set()
        self._connecting: asyncio.Future[None] | None = None  # the gateway connection, reconnects included
        self._warned_content = False

    def __repr__(self) -> str:  # never the token
        return f"<DiscordAdapter name={self.name!r} guilds={list(self.guild_ids)}>"

    # ---- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Log in, sync slash commands, and hold the gateway connection until ``stop()``.

        One run per adapter: a ``stop()`` that arrives before ``run()`` starts still counts.
        """
        members = self.member_events
        with self._endpoints.applied():
            while not self._stopping:
                client = self._client = self._new_client(_intents(members=members))
                try:
                    await self._serve(client)
                    return
                except discord.PrivilegedIntentsRequired:
                    if not members:
                        raise AdapterError(_NO_MESSAGE_CONTENT) from None
                    log.warning("discord: the Server Members intent is not enabled in the developer portal; "
                                "reconnecting without join/leave events")
                    members = False
                finally:
                    await self._close_client(client)

    def _new_client(self, intents: discord.Intents) -> discord.Client:
        if self.shard_count is None:
            return _Client(self, intents)
        return _ShardedClient(self, intents, shard_count=None if self.shard_count == "auto" else self.shard_count,
                              shard_ids=self.shard_ids, gateway=self._endpoints.gateway)

    async def _serve(self, client: discord.Client) -> None:
        try:
            await client.login(self._token)
        except discord.LoginFailure:
            raise AdapterError(_BAD_TOKEN) from None
        assert client.user is not None
        self._ctx = Context(source=self.name, bot_id=str(client.user.id), directory=_CacheDirectory(client),
                            policy=self.policy, bot_name=self.bot_name)
        log.info("discord: logged in as %s (%s)", client.user.name, client.user.id)
        await self._sync_commands()
        if self._stopping:
            return
        self._connecting = asyncio.ensure_future(client.connect(reconnect=True))
        try:
            await self._connecting
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # the run itself is cancelled
                raise
            return  # stop() cut the reconnect back-off short
        except discord.ConnectionClosed as exc:
            if exc.code == 4004:
                raise AdapterError(_BAD_TOKEN) from None
            if exc.code in (4010, 4011):
                raise AdapterError(_SHARDING[exc.code]) from None
            raise AdapterError(f"discord: the gateway closed the connection with code {exc.code} "
                               f"({exc.reason or 'no reason given'})") from None

    async def stop(self) -> None:
        """Let queued replies go out (briefly), then close the connection; idempotent."""
        self._stopping = True
        if self._outbox.pending():
            await asyncio.wait({asyncio.ensure_future(self._outbox.close())}, timeout=REPLY_FLUSH_GRACE)
        if self._client is not None:
            await self._close_client(self._client)
        connecting = self._connecting
        if connecting is not None and not connecting.done():
            # discord.py leaves its reconnect loop when closed, but not while asleep in its back-off
            # (up to minutes while the gateway is unreachable): cut that sleep short.
            await asyncio.wait({connecting}, timeout=_CLOSE_GRACE)
            connecting.cancel()

    async def _close_client(self, client: discord.Client) -> None:
        for task in list(self._background):
            task.cancel()
        if not client.is_closed():
            await client.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A background task we keep a reference to, whose failure is logged, not lost."""
        task = asyncio.create_task(coro, name=f"discord:{name}")
        self._background.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        if isinstance(error, _NETWORK_ERRORS):  # the platform is away: expected, said in one line
            log.warning("discord: %s failed (%s)", task.get_name(), cause(error))
        else:
            log.error("discord: %s failed: %s", task.get_name(), error, exc_info=error)

    # ---- slash commands --------------------------------------------------------------------

    async def register_commands(self, specs: Sequence[CommandSpec]) -> None:
        """Remember the specs; they are synced as slash commands at login (or now, if logged in)."""
        self._specs = tuple(specs)
        if self._ctx is not None and self._client is not None and not self._client.is_closed():
            await self._sync_commands()

    async def _sync_commands(self) -> None:
        """Bulk-overwrite our application commands per guild (``guild_ids``) or globally.

        The JSON comes from `translate.command_payloads`: a CommandSpec maps
        one-to-one onto Discord's documented command structure, which is
        simpler and more testable than generating typed Python callbacks for
        ``app_commands.Command``. A failure is logged, not fatal: text commands
        still work.
        """
        client = self._client
        if self._specs is None or client is None or client.application_id is None:
            return
        payload = translate.command_payloads(self._specs)
        targets = [f"guild {g}" for g in self.guild_ids] or ["global"]
        try:
            if self.guild_ids:
                for guild_id in self.guild_ids:
                    await client.http.bulk_upsert_guild_commands(client.application_id, guild_id, payload)
            else:
                await client.http.bulk_upsert_global_commands(client.application_id, payload)
        except discord.Forbidden:
            log.error("discord: not allowed to register slash commands (%s): invite the bot with the "
                      "applications.commands scope; /commands typed as text still work", ", ".join(targets))
        except discord.HTTPException as exc:
            log.error("discord: registering slash commands failed (%s): %s", ", ".join(targets), exc)
        else:
            log.info("discord: registered %d slash commands (%s)", len(payload), ", ".join(targets))

    def _predicted_ephemeral(self, command: str) -> bool:
        """Mirror of the router's default: mod and host command responses are ephemeral."""
        spec = next((s for s in self._specs or () if command in (s.name, *s.aliases)), None)
        return spec is not None and spec.role > Role.VIEWER

    # ---- input --------------------------------------------------------------------------

    async def _on_gateway_frame(self, msg: str) -> None:
        """Translate one raw gateway frame; discord.py has already updated its cache for it."""
        try:
            frame = json.loads(msg)
        except ValueError:
            log.debug("discord: undecodable gateway frame ignored")
            return
        if frame.get("op") != 0 or self._ctx is None:
            return
        t, d = frame.get("t"), frame.get("d")
        if not isinstance(d, dict) or not t:
            return
        try:
            await self._on_dispatch(t, d, self._ctx)
        except Exception:  # noqa: BLE001 - one bad event must not take the connection down
            log.exception("discord: handling %s failed", t)

    async def _on_dispatch(self, t: str, d: dict[str, Any], ctx: Context) -> None:
        if t == "MESSAGE_REACTION_ADD":
            result = translate.reaction_event(d, ctx, known_own=str(d.get("message_id")) in self._own)
        else:
            result = translate.to_event(t, d, ctx)
        if result is None:
            return
        if isinstance(result, Ignored):
            self._log_ignored(t, result)
            return
        if isinstance(result, FeedbackEvent):
            result = replace(result, target=self._own.get(result.target) or result.target)
        if t == "INTERACTION_CREATE" and isinstance(result, CommandEvent):
            self._open_ticket(result)
        await self.emit(result)

    def _log_ignored(self, t: str, ignored: Ignored) -> None:
        if ignored.warn and not self._warned_content:
            self._warned_content = True
            log.warning("discord: %s", ignored.reason)
        else:
            log.debug("discord: ignored %s: %s", t, ignored.reason)

    def _interaction_future(self, interaction_id: str) -> asyncio.Future[discord.Interaction]:
        future = self._interaction_objects.get(interaction_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._interaction_objects[interaction_id] = future
        return future

    def _on_interaction_object(self, interaction: discord.Interaction) -> None:
        """discord.py built the Interaction for a payload we translated: the ticket answers through it."""
        future = self._interaction_future(str(interaction.id))
        if not future.done():
            future.set_result(interaction)

    def _open_ticket(self, event: CommandEvent) -> None:
        ticket = _InteractionTicket(event, self._predicted_ephemeral(event.command),
                                    self._interaction_future(event.event_id))
        self._tickets[event.event_id] = ticket
        ticket.timer = self._spawn(ticket.defer_after(self.defer_after), f"defer:{event.event_id}")

    # ---- output -------------------------------------------------------------------------

    async def send(self, reply: Reply) -> str | None:  # type: ignore[override]
        """Post ``reply``; the id of its first message, or None if the outbox dropped it as stale."""
        text, _ = translate.render_outgoing_mentions(reply.text, reply.mentions)
        parts = split_message(text, MAX_CHARS)
        if not parts:
            log.warning("discord: not sending an empty reply to %s", reply.room.key)
            return None
        ticket = self._tickets.get(reply.reply_to) if reply.reply_to else None
        if ticket is not None and ticket.usable():
            ids = await ticket.respond(parts, ephemeral=reply.ephemeral, allowed=_allowed_mentions(reply.mentions))
            reactable = not reply.ephemeral
        else:
            ids = await self._post(reply, parts)
            reactable = True
        sent = [i for i in ids if i is not None]
        if not sent:
            return None
        for message_id in sent:
            self._own[message_id] = sent[0]
        if reply.feedback and reactable:
            self._spawn(self._offer_feedback(reply.room.id, sent[-1]), f"feedback:{sent[-1]}")
        return sent[0]

    async def _post(self, reply: Reply, parts: list[str]) -> list[str | None]:
        """Queue one outbox item per Discord message, so each budget slot is exactly one post.

        Only the first part replies to the original message. Items are queued in
        order before any is awaited, so the parts arrive in order.
        """
        reply_to = reply.reply_to if reply.reply_to and reply.reply_to not in self._tickets else None
        items = [replace(reply, text=part, reply_to=reply_to if i == 0 else None, feedback=False)
                 for i, part in enumerate(parts)]
        return list(await asyncio.gather(*(self._outbox.send(item) for item in items)))

    async def _deliver(self, reply: Reply) -> str:
        """Post one message (the outbox calls this within the channel budget)."""
        channel = self._require_client().get_partial_messageable(int(reply.room.id))
        reference = None
        if reply.reply_to and reply.reply_to.isdigit():
            reference = discord.MessageReference(message_id=int(reply.reply_to), channel_id=int(reply.room.id),
                                                 fail_if_not_exists=False)
        message = await channel.send(reply.text, reference=reference,  # type: ignore[arg-type]
                                     allowed_mentions=_allowed_mentions(reply.mentions))
        return str(message.id)

    async def _offer_feedback(self, channel_id: str, message_id: str) -> None:
        """Add 👍 and 👎 under an answer so viewers only have to click."""
        message = self._require_client().get_partial_messageable(int(channel_id)).get_partial_message(int(message_id))
        for emoji in translate.FEEDBACK_EMOJI:
            await message.add_reaction(emoji)

    def _require_client(self) -> discord.Client:
        if self._client is None or self._client.is_closed():
            raise AdapterError(f"discord adapter {self.name!r} is not connected")
        return self._client


def _allowed_mentions(users: Sequence[User]) -> discord.AllowedMentions:
    """Notify exactly the mentioned Discord users: never @everyone, roles or the replied-to author."""
    ids = [int(u.id) for u in users if u.platform == translate.PLATFORM and u.id.isdigit()]
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(id=i) for i in ids],
                                   replied_user=False)
