"""The one exception loaders raise to refuse a file.

A knowledge folder is edited by hand by a streamer, so a bad file is normal,
not exceptional: loaders raise `SkipFile` with a human-readable reason and the
ingest pipeline reports it and moves on. Anything else a loader raises is a bug
or a hostile file; the pipeline catches that too, but reports it as a failure.
"""

from __future__ import annotations

__all__ = ["SkipFile"]


class SkipFile(Exception):
    """This file cannot be used as knowledge; ``reason`` says why, for the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
