"""The Redis layout shared by ingress and worker processes, and the room → partition → lease rule.

Keys, all under one prefix (``distributed.prefix``, default ``liveroom``):

- ``{prefix}:in:{n}`` — platform events of the rooms in partition ``n`` (a stream; consumer group
  ``workers``). A room always lands in the same partition: ``crc32(room key) % partitions``.
- ``{prefix}:lease:{n}`` — the worker that owns partition ``n`` now (a key with a time to live, renewed
  by its holder). Only the owner reads the partition, so a room's state (product window, bursts,
  audience graph, traffic minutes) lives in one process at a time.
- ``{prefix}:workers`` — live workers and their last heartbeat (a sorted set): each takes its fair
  share of the partitions, so a second worker gets half of them.
- ``{prefix}:out:{source}`` — replies for the ingress holding adapter ``source`` (a stream).
- ``{prefix}:sent:{reply id}`` — a reply already posted (expires after a day): posting is idempotent.
- ``{prefix}:dead`` — entries no worker can read, with the reason (a stream).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["StreamLayout", "partition_of", "append", "WORKER_GROUP", "INGRESS_GROUP"]

log = logging.getLogger(__name__)

WORKER_GROUP = "workers"
INGRESS_GROUP = "ingress"


def partition_of(room_key: str, partitions: int) -> int:
    """The partition of a room: stable across processes and restarts (not Python's salted ``hash``)."""
    return zlib.crc32(room_key.encode("utf-8")) % partitions


@dataclass(frozen=True, slots=True)
class StreamLayout:
    """Key names for one deployment."""

    prefix: str = "liveroom"
    partitions: int = 16

    def inbound(self, partition: int) -> str:
        return f"{self.prefix}:in:{partition}"

    def inbound_of(self, room_key: str) -> str:
        return self.inbound(partition_of(room_key, self.partitions))

    def lease(self, partition: int) -> str:
        return f"{self.prefix}:lease:{partition}"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    def outbound(self, source: str) -> str:
        return f"{self.prefix}:out:{source}"

    def sent(self, reply_id: str) -> str:
        return f"{self.prefix}:sent:{reply_id}"

    def posted(self, source: str, message_id: str) -> str:
        """The reply id a platform message of adapter ``source`` carries (what 👍/👎 on it refer to)."""
        return f"{self.prefix}:posted:{source}:{message_id}"

    @property
    def dead(self) -> str:
        return f"{self.prefix}:dead"


async def append(redis: Any, stream: str, entry: Mapping[str, str], *, maxlen: int, patience: float) -> None:
    """XADD ``entry``; while Redis is away (restarting), wait and retry for up to ``patience`` seconds,
    then raise the last error. Holding back is better than dropping: the ingress's adapter, or the
    worker's answer, waits for Redis instead of losing what it was about to write."""
    waited = 0.0
    while True:
        try:
            await redis.xadd(stream, dict(entry), maxlen=maxlen, approximate=True)
            return
        except Exception as exc:  # noqa: BLE001 - connection refused while Redis restarts
            if waited >= patience:
                raise
            if waited == 0.0:
                log.warning("Redis is not taking entries for %s (%s); holding them", stream, exc)
            await asyncio.sleep(0.5)
            waited += 0.5
