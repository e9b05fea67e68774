"""The moderators' web dashboard (queue, log, viewers, unanswered, FAQ) and the bot's /healthz and /metrics.

`create_app` builds the Starlette app from the running bot's parts
(`DashboardDeps`); `DashboardServer` serves it on uvicorn in the bot's own
event loop. See docs/dashboard.md. Names are imported on first use, so
reading the settings (`bots.dashboard.auth`) never loads the web stack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DashboardDeps", "DashboardServer", "create_app", "DashboardSettings", "DashboardConfigError",
           "hash_password", "verify_password"]

_FROM_APP = {"DashboardDeps", "DashboardServer", "create_app"}


def __getattr__(name: str) -> Any:
    if name in _FROM_APP:
        from bots.dashboard import app

        return getattr(app, name)
    if name in __all__:
        from bots.dashboard import auth

        return getattr(auth, name)
    raise AttributeError(f"module 'bots.dashboard' has no attribute {name!r}")
