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

import zlib
from dataclasses import dataclass

__all__ = ["StreamLayout", "partition_of", "WORKER_GROUP", "INGRESS_GROUP"]

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

    @property
    def dead(self) -> str:
        return f"{self.prefix}:dead"
