"""Feed a recorded chat log (JSON Lines) through the bot, paced or as fast as possible."""

from adapters.replay.adapter import ReplayAdapter, ReplayStats, ReplyCollector
from adapters.replay.reader import BadLine, read_log

__all__ = ["ReplayAdapter", "ReplayStats", "ReplyCollector", "BadLine", "read_log"]
