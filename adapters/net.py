"""Small facts about network addresses that the HTTP endpoints (the feed, the dashboard) share."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """Whether a listen address only this machine can reach ("localhost", 127.0.0.0/8, ::1).

    A hostname other than localhost counts as reachable from elsewhere: serving
    on it is what the endpoints warn about.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
