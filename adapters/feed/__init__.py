"""A local HTTP endpoint for the stream's content: the host's speech and viewer counts."""

from adapters.feed.adapter import DEFAULT_MAX_BODY_BYTES, FeedAdapter

__all__ = ["FeedAdapter", "DEFAULT_MAX_BODY_BYTES"]
