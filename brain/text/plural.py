"""Counts in English text for people: "1 person", "3 people", "1 message", "0 messages".

Replies, whispers and reports render counts in many places; a fixed plural there
reads "Audience: 1 people" in exactly the small rooms a new host starts with. One
helper keeps the rule in one place: the singular for 1, the plural for anything
else (0 included, as English says "0 messages"). Chinese has no plural, so
Chinese text needs none of this.
"""

from __future__ import annotations

__all__ = ["plural", "counted"]


def plural(n: float, one: str, many: str | None = None) -> str:
    """The word for ``n`` of a thing: ``one`` for exactly 1, else ``many`` (default ``one`` + "s").

    Also for verbs that agree with a count: ``plural(n, "stands", "stand")``.
    """
    if n == 1:
        return one
    return many if many is not None else one + "s"


def counted(n: float, one: str, many: str | None = None, *, grouped: bool = False) -> str:
    """``n`` and its word: "1 person", "3 people"; ``grouped`` writes thousands as "12,400".

    A float is rounded to a whole number first (the word follows the number the
    reader sees: 1.4 people reads "1 person").
    """
    whole = round(n)
    number = f"{whole:,}" if grouped else str(whole)
    return f"{number} {plural(whole, one, many)}"
