"""Questions still being answered: what reports on a room's questions wait for, and say.

``/unanswered`` (answering) and ``/report`` (reports) read the store, while questions
asked a moment before are still queued, held for their burst or being answered
(piped into the console, all at once). Features never import each other, so the
answering feature offers its wait through this Protocol and the reports feature
takes whatever implements it.
"""

from __future__ import annotations

from typing import Protocol

from brain.text.plural import counted, plural

__all__ = ["QuestionsInFlight", "still_answering"]


class QuestionsInFlight(Protocol):
    async def settle(self, room: str, timeout: float | None = None) -> int:
        """Wait (bounded) for the questions ``room`` has in flight now; returns how many still are."""
        ...


def still_answering(count: int) -> str:
    """What a report on questions adds when ``count`` of them were still being answered as it was made."""
    return (f"({counted(count, 'question')} {plural(count, 'is', 'are')} still being answered: "
            "ask again in a moment for the complete picture.)")
