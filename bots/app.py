"""Wiring: config + data directory → store, commands, router, adapters, one asyncio loop.

`Runtime` owns what lives for the whole process (the store, the registry, the
router). `Runtime.serve` runs a set of adapters in one loop until they end or
the process is asked to stop (SIGINT/SIGTERM), then shuts down in order:
adapters first, then the store, which commits what is queued.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from adapters.base import Adapter
from adapters.console import ConsoleAdapter
from bots.features.answering import Answering
from bots.features.audience import LiveAudience
from bots.features.moderation import LiveModeration
from bots.features.products import LiveProducts
from bots.features.reports import LiveReports
from bots.features.scheduler import ScheduleService
from bots.features.traffic import LiveTraffic
from bots.runtime.adapter_stop import stop_adapters
from bots.runtime.brain_worker import BrainWorker
from bots.runtime.builtin_commands import register_builtin
from bots.runtime.config import Config
from bots.runtime.metrics import Metrics
from bots.runtime.registry import CommandRegistry
from bots.runtime.router import Router
from brain.store.event_store import Store
from brain.text.plural import plural

if TYPE_CHECKING:  # pragma: no cover
    from bots.dashboard import DashboardServer

__all__ = ["Runtime", "database_url", "configured_adapters", "discord_name", "NoAdapterError"]

log = logging.getLogger(__name__)

#: Seconds answers in flight may take after a stop signal, the adapters stopped (an LLM answer).
STOP_ANSWERING_GRACE = 30.0
#: Seconds a second stop signal waits for the store to commit what it queued before the process exits.
SECOND_SIGNAL_FLUSH = 5.0


class NoAdapterError(RuntimeError):
    """The configuration enables no adapter, so there is no room to serve."""


def database_url(config: Config, data_dir: Path) -> str:
    """The configured URL, or a SQLite file inside the data directory."""
    if config.database.url:
        return config.database.url
    return f"sqlite:///{(data_dir / 'liveroom.db').resolve()}"


def discord_name(shard_ids: "Sequence[int] | None") -> str:
    """The Discord adapter's name: ``discord``, or with the shards it runs when the shards are split over
    ingress processes (``discord-shards-0-1``). The name routes replies (``{prefix}:out:{name}``), so
    each ingress posts the replies to the servers of its own shards: only the process that got a slash
    command can answer it. Keep ``shard_ids`` stable: a reply to an event of a name no process runs any
    more waits in its stream."""
    return "discord" if shard_ids is None else "discord-shards-" + "-".join(str(i) for i in sorted(shard_ids))


def configured_adapters(config: Config) -> list[Adapter]:
    """The adapters ``config.yaml`` enables, in a stable order."""
    adapters: list[Adapter] = []
    console = config.adapters.console
    if console.enabled:
        adapters.append(ConsoleAdapter(room=console.room, user=console.user,
                                       bot_name=config.bot.name, prompt=console.prompt))
    discord = config.adapters.discord
    if discord.enabled:
        from adapters.discord import DiscordAdapter  # imported only when used: discord.py is heavy

        adapters.append(DiscordAdapter(discord.token, name=discord_name(discord.shard_ids), guild_ids=discord.guild_ids,
                                       host_roles=discord.roles.host, mod_roles=discord.roles.mod,
                                       channel_budget=discord.channel_budget, api_base=discord.api_base,
                                       gateway_url=discord.gateway_url, bot_name=config.bot.name,
                                       shard_count=discord.shard_count, shard_ids=discord.shard_ids))
    telegram = config.adapters.telegram
    if telegram.enabled:
        from adapters.telegram import TelegramAdapter  # imported only when used

        adapters.append(TelegramAdapter(
            telegram.token, name="telegram", base_url=telegram.base_url, mode=telegram.mode,
            webhook_url=telegram.webhook_url, webhook_listen=telegram.webhook_listen,
            webhook_port=telegram.webhook_port, webhook_secret=telegram.webhook_secret,
            admin_cache_seconds=telegram.admin_cache_seconds,
            group_messages_per_minute=telegram.group_messages_per_minute))
    if not adapters:
        if config.dashboard.enabled:
            return adapters  # the dashboard alone, over the recorded rooms (`Runtime.serve` keeps it up)
        also = (" (adapters.feed only feeds the rooms of the other adapters)"
                if config.adapters.feed.enabled else "")
        raise NoAdapterError("no adapter is enabled: set adapters.console.enabled: true "
                             f"in the config file (or enable a platform adapter){also}; "
                             "`liveroom dashboard` serves the recorded rooms without one")
    feed = config.adapters.feed
    if feed.enabled:
        from adapters.feed import FeedAdapter  # imported only when used (aiohttp)

        # Posted events join the rooms of the adapters above: platform → the adapter serving it.
        routes = {a.platform: a.name for a in adapters}
        adapters.append(FeedAdapter(feed.token, routes=routes, host=feed.host, port=feed.port,
                                    name="feed", host_name=feed.host_name,
                                    max_body_bytes=feed.max_body_bytes,
                                    known_rooms={a.platform: {a.room.id} for a in adapters
                                                 if isinstance(a, ConsoleAdapter)},
                                    header_timeout=feed.header_timeout, body_timeout=feed.body_timeout,
                                    max_connections=feed.max_connections,
                                    window=config.limits.time_window()))
    return adapters


@dataclass
class Runtime:
    """The long-lived parts of a running bot."""

    config: Config
    data_dir: Path
    store: Store
    registry: CommandRegistry
    router: Router
    brain: BrainWorker
    answering: Answering | None
    products: LiveProducts | None = None
    schedule: ScheduleService | None = None
    audience: LiveAudience | None = None
    traffic: LiveTraffic | None = None
    moderation: LiveModeration | None = None
    metrics: Metrics | None = None
    dashboard: "DashboardServer | None" = None
    #: the audience graph's figures at the end of `serve` (people, ties, communities)
    audience_summary: dict[str, int] | None = None
    #: adapters `serve` had to abandon (their platform did not let them stop): their tasks may never end
    abandoned: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, config: Config, data_dir: Path) -> "Runtime":
        data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(database_url(config, data_dir), flush_interval=config.database.flush_interval,
                      batch_size=config.database.batch_size)
        registry = CommandRegistry()
        register_builtin(registry)
        router = Router(store=store, registry=registry, roles=config.roles,
                        max_message_chars=config.limits.max_message_chars, bot_name=config.bot.name)
        brain = BrainWorker(config, data_dir)
        answering = None
        if config.answers.enabled:
            answering = Answering(brain, store, config.answers, bot_name=config.bot.name)
            answering.attach(router, registry)
        products = None
        if config.products.enabled:
            products = LiveProducts(brain, store, config.products)
            products.attach(router, registry, answering)
        schedule = None
        if config.schedule.enabled:
            schedule = ScheduleService(store.engine, config.schedule)
            schedule.attach(router, registry)
        audience = None
        if config.audience.enabled:
            audience = LiveAudience(store, config.audience, bot_name=config.bot.name)
            audience.attach(router, registry)
        traffic = None
        if config.traffic.enabled:
            traffic = LiveTraffic(store, config.traffic, config.schedule, schedule)
            traffic.attach(router, registry)
        moderation = None
        if config.moderation.enabled:
            moderation = LiveModeration(store, config.moderation, brain=brain)
            moderation.attach(router, registry, answering)
        if moderation is not None and audience is not None:
            moderation.on_forget(audience.forget)
        metrics = Metrics(router=router, answering=answering, moderation=moderation)
        router.metrics = metrics
        if answering is not None:
            answering.metrics = metrics
        dashboard = None
        if config.dashboard.enabled and moderation is not None:
            from bots.dashboard import DashboardDeps, DashboardServer  # the web stack, only when used

            dashboard = DashboardServer.for_deps(DashboardDeps(store=store, moderation=moderation,
                                                               settings=config.dashboard, metrics=metrics,
                                                               reports_dir=data_dir / "reports"))
        reports = LiveReports(store, config, data_dir / "reports",
                              link=(lambda name: f"{dashboard.url}/reports/{name}") if dashboard else None,
                              answering=answering)
        reports.attach(router, registry)
        return cls(config, data_dir, store, registry, router, brain, answering, products, schedule, audience,
                   traffic, moderation, metrics, dashboard)

    async def serve(self, adapters: Sequence[Adapter], *, handle_signals: bool = True,
                    on_second_signal: "Callable[[int], None] | None" = None) -> None:
        """Run ``adapters`` until all end or a stop signal arrives; errors propagate after cleanup.

        The signal handlers are installed before the first await, so a signal while
        the room starts up is a graceful stop too; it never waits for the embedding
        model (`BrainWorker.abandon`): that load takes seconds and cannot be cut short.
        Each adapter gets `STOP_DEADLINE` seconds to stop, then is abandoned (named in
        ``self.abandoned``; the caller must not wait for its task). A second signal stops
        waiting: the store is flushed and ``on_second_signal(128 + signal)`` is called (the
        command line exits there); without it, adapters are abandoned at once and answers
        in flight are not waited for.
        """
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[Any]] = []  # the adapters' runs (and the dashboard's wait), once started
        stop_requested, hurry = asyncio.Event(), asyncio.Event()

        def request_stop(signum: int = 0) -> None:
            if stop_requested.is_set():  # a second signal: stop waiting for a graceful end
                hurry.set()
                if on_second_signal is not None and signum:
                    # Blocks the loop on purpose: nothing else is to run, the process ends next.
                    kept = self.store.flush(timeout=SECOND_SIGNAL_FLUSH)
                    log.warning("second stop signal: exiting now%s", "" if kept else
                                " (the store did not confirm its last writes in time)")
                    on_second_signal(128 + signum)
                return
            stop_requested.set()
            log.info("stop requested; shutting down adapters")
            self.brain.abandon()  # waiters give up now, not when the model has loaded (seconds)

        installed: list[int] = []
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, request_stop, sig)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError):  # not the main thread, or no support
                    pass

        for adapter in adapters:
            self.router.attach(adapter)
        specs = self.registry.specs()
        for adapter in adapters:
            await adapter.register_commands(specs)

        if not stop_requested.is_set() and (self.answering is not None or self.products is not None):
            self.brain.start()  # load the knowledge base while the room warms up
        if self.schedule is not None:
            await self.schedule.start()
        if self.moderation is not None:
            await self.moderation.start()
        retention = asyncio.create_task(self._retention_loop(), name="retention")
        if self.dashboard is not None:
            await self.dashboard.start()
            log.warning("dashboard at %s", self.dashboard.url)  # shown on the console: where to log in
        if not stop_requested.is_set():  # a signal during start-up: straight to the shutdown below
            tasks.extend(asyncio.create_task(a.run(), name=f"adapter:{a.name}") for a in adapters)
            if self.dashboard is not None:  # the dashboard serves until a stop signal, rooms or not
                tasks.append(asyncio.create_task(stop_requested.wait(), name="dashboard"))
        try:
            await self._serve_until_done(dict(zip(tasks, adapters)), tasks, stop_requested, hurry)
        finally:
            try:
                await self._shut_down(stopped=stop_requested.is_set(), hurried=hurry.is_set(), retention=retention)
            finally:  # only now: a second signal while the rest drains must still end the process at once
                for sig in installed:
                    loop.remove_signal_handler(sig)

    async def _shut_down(self, *, stopped: bool, hurried: bool, retention: "asyncio.Task[None]") -> None:
        """Drain every feature in order once the adapters have stopped, then flush the store."""
        if self.dashboard is not None:
            await self.dashboard.stop()  # first: no decision may arrive while the rest drains
        retention.cancel()
        if self.schedule is not None:
            await self.schedule.shutdown()
        if self.traffic is not None:
            await self.traffic.drain()
        if self.products is not None:
            await self.products.drain()  # first: a recommendation may hand a question to answering
        if self.answering is not None:
            await self.answering.drain(timeout=self._answering_grace(stopped, hurried))
        if self.moderation is not None:
            await self.moderation.drain()  # pending reviews stay queued for the next start
        if self.audience is not None:
            self.audience_summary = await self.audience.drain()
        await self.brain.aclose()
        await asyncio.to_thread(self.store.flush)

    def _answering_grace(self, stopped: bool, hurried: bool) -> float | None:
        """How long answers in flight may take once the rooms are closed.

        A finished source (a replay) is answered completely; after a stop signal answers get a
        bounded grace; none when a second signal came or an adapter had to be abandoned (its
        platform does not answer: their replies could not be posted anyway).
        """
        if not stopped:
            return None
        return 0.0 if hurried or self.abandoned else STOP_ANSWERING_GRACE

    async def _serve_until_done(self, by_task: "dict[asyncio.Task[Any], Adapter]", tasks: list[asyncio.Task[Any]],
                                stop_requested: asyncio.Event, hurry: asyncio.Event) -> None:
        """Wait for the rooms to end or a stop signal; raise the first adapter failure (after stopping the rest).

        Rooms end on their own: a replayed file runs out, the console's input ends or its user
        types ``/quit``. What serves other rooms or people (the feed endpoint, the dashboard: the
        tasks past the adapters' and the ``auxiliary`` adapters) then keeps serving until a stop
        signal, unless a room's user asked to quit: a bot run as a service must not die because
        its console saw the end of its input, and ``/quit`` at the terminal still ends it all.
        """
        rooms = {t for t, a in by_task.items() if not a.auxiliary}
        pending = set(tasks)
        signalled = asyncio.ensure_future(stop_requested.wait())
        try:
            while pending and not stop_requested.is_set():
                done, pending = await asyncio.wait(pending | {signalled}, return_when=asyncio.FIRST_COMPLETED)
                pending.discard(signalled)
                failed = [t for t in done if t is not signalled and not t.cancelled() and t.exception() is not None]
                if failed:
                    stop_requested.set()  # the rest stops as after a signal: bounded grace for answers
                    await self._stop_all(by_task, pending, hurry)
                    raise failed[0].exception()  # type: ignore[misc]
                if stop_requested.is_set() or not done & rooms or pending & rooms:
                    continue
                quit_by = [a.name for t, a in by_task.items() if t in done and a.quit_requested]
                if quit_by or not pending:
                    break  # what served the rooms ends with them
                closed = ", ".join(a.name for t, a in by_task.items() if t in rooms)
                serving = sorted(by_task[t].name if t in by_task else t.get_name() for t in pending)
                log.warning("%s: the room is closed (its input ended); the %s %s serving until Ctrl-C or SIGTERM",
                            closed, " and the ".join(serving), plural(len(serving), "keeps", "keep"))
            await self._stop_all(by_task, pending, hurry)
        finally:
            signalled.cancel()
        for task, adapter in by_task.items():  # failures while stopping: reported, the stop goes on
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning("%s: %s (while stopping)", adapter.name, task.exception())

    async def _stop_all(self, by_task: "dict[asyncio.Task[Any], Adapter]", pending: "set[asyncio.Task[Any]]",
                        hurry: asyncio.Event) -> None:
        """Stop the adapters still running, each within its deadline; end the other tasks (the dashboard's wait)."""
        for task in pending - by_task.keys():
            task.cancel()
        running = {by_task[t]: t for t in pending if t in by_task}
        if running:
            self.abandoned.extend(await stop_adapters(running, hurry=hurry))

    async def _retention_loop(self) -> None:
        """Apply ``retention`` now and every ``interval_hours`` (off the loop; a failure waits for the next)."""
        from brain.store.retention import RetentionPolicy, apply_retention

        policy = RetentionPolicy.of(self.config.retention)
        if policy.keeps_everything:
            return
        while True:
            try:
                deleted = await asyncio.to_thread(apply_retention, self.store.engine, policy)
                if any(deleted.values()):
                    log.info("retention: deleted %s", ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
            except Exception:  # noqa: BLE001 - retention must never stop the bot
                log.exception("retention: could not apply the policy; will retry")
            await asyncio.sleep(self.config.retention.interval_hours * 3600)

    def close(self) -> None:
        if self.audience is not None:
            self.audience.close()
        self.brain.shutdown()
        self.store.close()
