"""Which gateway shards a process runs: the checks the config and the Discord adapter share.

Kept apart from `adapters.discord` so that validating a config does not import discord.py.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["shard_count_problem", "shard_ids_problem"]


def shard_count_problem(value: Any) -> str | None:
    """What is wrong with a shard count (None, "auto" or a number of shards), or None."""
    if value is None or value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return (f"must be auto (as many shards as Discord recommends), a number of shards (1 or more), "
                f"or null for one connection (got {value!r})")
    return None


def shard_ids_problem(count: Any, ids: Sequence[int]) -> str | None:
    """What is wrong with the shards a process runs out of ``count``, or None."""
    if not isinstance(count, int) or isinstance(count, bool):
        return "needs a number in shard_count (the shards of all processes together), not auto or null"
    if not ids:
        return "is empty: list the shards this process runs, or leave it out for all of them"
    for shard in ids:
        if not 0 <= shard < count:
            return f"{shard} is not one of the {count} shards (ids run from 0 to {count - 1})"
    twice = sorted({shard for shard in ids if list(ids).count(shard) > 1})
    if twice:
        return f"lists shard {twice[0]} more than once"
    return None
