"""Start-up guard: liveroom's top-level packages must not be shared with another distribution.

The card names the packages ``adapters``, ``brain`` and ``bots``. Those names
are generic, and another distribution can install a package of the same name
(AdapterHub's ``adapters`` does), in which case one silently overwrites the
other's files. This check runs before anything else imports them and says
which distribution to remove. Standard library only, so it can run first.
"""

from __future__ import annotations

import importlib.metadata as md
import re

__all__ = ["TOP_LEVEL", "DISTRIBUTION", "conflicts", "ensure_no_conflicts", "PackageConflict"]

TOP_LEVEL = ("adapters", "brain", "bots")
DISTRIBUTION = "liveroom"


class PackageConflict(RuntimeError):
    """Another installed distribution provides one of liveroom's top-level packages."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def conflicts(mapping: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Top-level name → other distributions that also provide it."""
    mapping = md.packages_distributions() if mapping is None else mapping
    found: dict[str, list[str]] = {}
    for name in TOP_LEVEL:
        others = sorted({d for d in mapping.get(name, []) if _canonical(d) != DISTRIBUTION})
        if others:
            found[name] = others
    return found


def ensure_no_conflicts(mapping: dict[str, list[str]] | None = None) -> None:
    """Raise `PackageConflict` with a fix if any top-level name is provided twice."""
    found = conflicts(mapping)
    if not found:
        return
    lines = [f"  '{name}' is also installed by: {', '.join(dists)}" for name, dists in found.items()]
    removals = " ".join(sorted({d for dists in found.values() for d in dists}))
    raise PackageConflict(
        "liveroom cannot run: another installed distribution provides one of its packages.\n"
        + "\n".join(lines)
        + f"\nUse a separate virtual environment for liveroom, or remove them: pip uninstall {removals}"
    )
