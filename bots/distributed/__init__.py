"""Past one process: rooms spread over workers through Redis Streams (docs/scaling.md)."""
