"""The base of the runtime's counter sets (answering, products, audience, traffic, scheduler)."""

from __future__ import annotations

from dataclasses import fields

__all__ = ["Counters"]


class Counters:
    """A dataclass of integer counters that replays, ``/status`` and health checks report as a dict."""

    __slots__ = ()

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
