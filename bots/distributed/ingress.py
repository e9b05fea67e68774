"""The ingress: holds the platform connections, appends their events to Redis, posts the workers' replies.

Replies come back through the ingress (an outbound stream per adapter) rather than each worker posting
to the platform's HTTP API itself, for three reasons: the platform's rate limits (Discord's per-channel
budget, Telegram's 20 messages a minute in a group) are kept by the adapter's outbox in one process
instead of being exceeded by several workers each keeping its own; an interaction (a Discord slash
command) can only be answered by the connection that received it; and posting is made idempotent in
one place (``{prefix}:sent:{reply id}``, set before posting), so nothing is posted twice across a
worker's failover. The cost is one more hop through Redis, well under a millisecond on a LAN.

The workers know a reply by its reply id (it is what the store records); the platform knows it by its
message id. The ingress remembers which is which when it posts (``{prefix}:posted:…``, a day), and a
viewer's 👍/👎 on the message reaches the workers naming the reply id, as in one process it names the
id the store recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from adapters.base import Adapter, SinkUnavailable
from adapters.model import Event, FeedbackEvent
from bots.distributed.streams import INGRESS_GROUP, StreamLayout, append
from bots.distributed.wire import WireError, decode_reply, encode_event

if TYPE_CHECKING:  # pragma: no cover
    from redis.asyncio import Redis

__all__ = ["IngressSink", "ReplyPump", "IngressStats"]

log = logging.getLogger(__name__)

#: How long posting an already-posted reply is remembered (a failover replays minutes, not days).
SENT_TTL_SECONDS = 86_400


@dataclass
class IngressStats:
    events: int = 0
    replies: int = 0
    duplicate_replies: int = 0
    bad_replies: int = 0
    send_errors: int = 0
    #: adapters that did not stop within their deadline (`bots.runtime.adapter_stop`): their tasks may never end
    abandoned: list[str] = field(default_factory=list)


class IngressSink:
    """Where the ingress's adapters deliver: each event appended to its room's partition.

    While Redis is away (restarting), the sink waits and retries for up to ``patience`` seconds,
    holding the adapter back rather than dropping what it received; past that it raises
    `SinkUnavailable`, as the store does when it cannot record.
    """

    def __init__(self, redis: "Redis", layout: StreamLayout, *, patience: float = 60.0,
                 maxlen: int = 5_000_000, stats: IngressStats | None = None) -> None:
        self.redis = redis
        self.layout = layout
        self.patience = patience
        self.maxlen = maxlen
        self.stats = stats or IngressStats()

    async def __call__(self, event: Event) -> None:
        if isinstance(event, FeedbackEvent):
            event = await self._naming_the_reply(event)
        try:
            await append(self.redis, self.layout.inbound_of(event.room.key), {"e": encode_event(event)},
                         maxlen=self.maxlen, patience=self.patience)
        except Exception as exc:  # noqa: BLE001 - Redis away for longer than our patience
            raise SinkUnavailable(f"Redis has not taken events for {self.patience:.0f} s: {exc}") from exc
        self.stats.events += 1

    async def _naming_the_reply(self, event: FeedbackEvent) -> FeedbackEvent:
        """A reaction names the platform's message; the workers know the reply by the id they gave it."""
        try:
            reply_id = await self.redis.get(self.layout.posted(event.source, event.target))
        except Exception:  # noqa: BLE001 - Redis away: the append below waits for it; the rating is kept as is
            return event
        if reply_id is None:
            return event  # not a reply this ingress posted in the last day
        return dataclasses.replace(event, target=reply_id.decode() if isinstance(reply_id, bytes) else reply_id)


class ReplyPump:
    """Post the replies the workers wrote for this ingress's adapters, each reply id once."""

    def __init__(self, redis: "Redis", layout: StreamLayout, adapters: Mapping[str, Adapter], *,
                 consumer: str = "ingress", stats: IngressStats | None = None) -> None:
        self.redis = redis
        self.layout = layout
        self.adapters = dict(adapters)
        self.consumer = consumer
        self.stats = stats or IngressStats()

    async def run(self) -> None:
        streams = {self.layout.outbound(name): name for name in self.adapters}
        while True:
            try:
                await self._prepare(streams)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.warning("ingress: reply streams not ready (%s); retrying", exc)
                await asyncio.sleep(0.5)
        while True:
            try:
                batch = await self.redis.xreadgroup(INGRESS_GROUP, self.consumer, {s: ">" for s in streams},
                                                    count=100, block=250)
                for stream, entries in batch or ():
                    name = streams[stream.decode() if isinstance(stream, bytes) else stream]
                    for entry_id, fields in entries:
                        await self._post(name, fields)
                        await self.redis.xack(stream, INGRESS_GROUP, entry_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis restarting: the replies stay in their stream
                log.warning("ingress: cannot read replies (%s); retrying", exc)
                await asyncio.sleep(0.5)

    async def _prepare(self, streams: Mapping[str, str]) -> None:
        """Create the groups, then post what a previous ingress read and never acknowledged."""
        from redis.exceptions import ResponseError

        for stream, name in streams.items():
            try:
                await self.redis.xgroup_create(stream, INGRESS_GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            start = "0-0"
            while True:
                start, entries, *_ = await self.redis.xautoclaim(stream, INGRESS_GROUP, self.consumer,
                                                                 min_idle_time=0, start_id=start, count=100)
                for entry_id, fields in entries:
                    if fields:
                        await self._post(name, fields)
                    await self.redis.xack(stream, INGRESS_GROUP, entry_id)
                if start in ("0-0", b"0-0"):
                    break

    async def _post(self, name: str, fields: Mapping[bytes | str, bytes | str]) -> None:
        raw = fields.get(b"e", fields.get("e"))  # type: ignore[call-overload]
        try:
            if raw is None:
                raise WireError("the entry has no field 'e'")
            reply_id, _, reply = decode_reply(raw)
        except WireError as exc:
            self.stats.bad_replies += 1
            log.error("ingress: a reply for %s cannot be read (%s); moved to %s", name, exc, self.layout.dead)
            await self.redis.xadd(self.layout.dead, {"stream": self.layout.outbound(name), "error": str(exc),
                                                     "e": raw if raw is not None else ""})
            return
        if not await self.redis.set(self.layout.sent(reply_id), 1, nx=True, ex=SENT_TTL_SECONDS):
            self.stats.duplicate_replies += 1  # posted before (a worker's successor answered it again)
            return
        try:
            message_id = await self.adapters[name].send(reply)
            self.stats.replies += 1
        except Exception:  # noqa: BLE001 - a platform hiccup loses one reply, not the ingress
            self.stats.send_errors += 1
            log.exception("ingress: adapter %s could not post reply %s", name, reply_id)
            return
        if message_id is not None and message_id != reply_id:
            await self.redis.set(self.layout.posted(name, message_id), reply_id, ex=SENT_TTL_SECONDS)
